//! The gateway's sockets on our Socket.IO server (`crate::socketio`): who a
//! client is (its token, checked at connect), what the gateway keeps of each
//! socket, and the client events the seeds document, each answered with its
//! acknowledgement or a documented `error-event`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::fanout::{GreetingKind, LostEvents};
use super::{ADMIN_ROOM, catalog, chat, client_room};
use crate::app::Core;
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::ledger::model::SpyMode;
use crate::presence::PresenceGuard;
use crate::proto::v1 as pb;
use crate::socket_json;
use crate::socketio::engine::{CloseReason, OpeningRequest};
use crate::socketio::packet::EventCall;
use crate::socketio::server::{self, DisconnectReason, SocketHandler, SocketServer};
use crate::supervisor::SpyOrder;
use catalog::Direction;

/// The gateway's Socket.IO server.
pub type Io = SocketServer<Gateway>;

/// A connected socket of the gateway.
pub type Socket = Arc<server::Socket<Client>>;

/// The acknowledgement of an event that asked for one.
pub type Ack = server::Ack;

/// What the gateway keeps of one connected client.
pub struct Client {
    /// Who the client is.
    pub principal: Principal,
    /// The seeds whose events it asked for; `None`: all.
    pub seeds: Option<SeedFilter>,
    /// Events it lost to a full buffer, not yet reported to it.
    pub(super) lost: LostEvents,
    /// The log head of its greeting while events at or below it may still
    /// come to its room (0: none); the fan-out skips those.
    pub(super) greeted_through: AtomicU64,
    /// Its tenant's presence, while connected.
    presence: Mutex<Option<PresenceGuard>>,
    /// The chat agent it joined the agent dashboard as.
    pub(super) dashboard_agent: Mutex<Option<String>>,
    /// The events refused to it, to bound what a flood of bad events costs.
    refusals: Mutex<Refusals>,
    /// The seed whose rooms it joined by that seed's own client events
    /// (`join:admin` / `join:client` of the voice-AI dashboard, 003): of an
    /// event name several seeds emit, it gets that seed's shape only.
    pub(super) dashboard_of: OnceLock<&'static str>,
}

impl Client {
    /// Whether the client gets event `name` as `seed` emits it.
    pub(super) fn wants(&self, seed: &str, name: &str) -> bool {
        SeedFilter::admits(self.seeds.as_ref(), seed)
            && self
                .dashboard_of
                .get()
                .is_none_or(|own| *own == seed || !catalog::name_is_shared(name))
    }

    /// Whether the client gets every event of its rooms, so that a run of
    /// them can go to it whole.
    pub(super) fn wants_all(&self) -> bool {
        self.seeds.is_none() && self.dashboard_of.get().is_none()
    }
}

/// Refused events a socket may send within [`REFUSAL_WINDOW`]; past them
/// the socket is disconnected.
const REFUSALS_PER_WINDOW: u32 = 20;

/// The window [`REFUSALS_PER_WINDOW`] counts over.
const REFUSAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// A socket's refused events: in the current window, and in all.
#[derive(Default)]
struct Refusals {
    window_start: Option<std::time::Instant>,
    in_window: u32,
    total: u64,
}

/// What one more refusal means for a socket.
#[derive(Debug, PartialEq, Eq)]
enum RefusalVerdict {
    /// Answer it; the first of the socket's refusals is logged.
    Answer { first: bool },
    /// Over the bound just now: close the socket.
    Close,
    /// Over the bound already (the rest of a batch): drop it silently.
    Drop,
}

impl Refusals {
    fn count(&mut self, now: std::time::Instant) -> RefusalVerdict {
        self.total += 1;
        if self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= REFUSAL_WINDOW)
        {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        self.in_window += 1;
        match self.in_window {
            n if n <= REFUSALS_PER_WINDOW => RefusalVerdict::Answer {
                first: self.total == 1,
            },
            n if n == REFUSALS_PER_WINDOW + 1 => RefusalVerdict::Close,
            _ => RefusalVerdict::Drop,
        }
    }
}

/// The seeds whose events a socket asked for in its handshake
/// (`auth: { seeds: ["002"] }`): a wallboard that only shows the AMI watcher's
/// events need not read the agent desktops' too. Without it a socket gets
/// every event of its rooms, as the seeds document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeedFilter(Vec<&'static str>);

impl SeedFilter {
    /// The filter of a handshake's `auth` object: `None` when it names no
    /// seeds; a refusal when `seeds` is not a list of known seeds.
    pub fn from_auth(auth: &Json) -> Result<Option<SeedFilter>, String> {
        let Some(seeds) = auth.get("seeds") else {
            return Ok(None);
        };
        let known: std::collections::BTreeSet<&'static str> =
            catalog::CATALOG.iter().map(|entry| entry.seed).collect();
        let invalid = || {
            format!(
                "auth.seeds must be a list of seeds among {}",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
        };
        let mut wanted = Vec::new();
        for seed in seeds.as_array().ok_or_else(invalid)? {
            let seed = seed.as_str().ok_or_else(invalid)?;
            wanted.push(*known.get(seed).ok_or_else(invalid)?);
        }
        wanted.sort_unstable();
        wanted.dedup();
        Ok((!wanted.is_empty()).then_some(SeedFilter(wanted)))
    }

    /// Whether a socket with `filter` (`None`: it named no seeds) gets events of `seed`.
    pub fn admits(filter: Option<&SeedFilter>, seed: &str) -> bool {
        filter.is_none_or(|filter| filter.0.contains(&seed))
    }
}

/// The gateway as the Socket.IO server's handler.
pub struct Gateway {
    core: Arc<Core>,
}

impl Gateway {
    /// The handler of the gateway's sockets.
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl SocketHandler for Gateway {
    type State = Client;

    /// Checks the handshake credentials: `auth.token`, or an `Authorization`
    /// header; `auth.seeds` narrows the events.
    fn authenticate(
        &self,
        auth: Option<&RawValue>,
        request: &OpeningRequest,
    ) -> Result<Client, String> {
        let core = &self.core;
        let auth: Option<Json> = auth.and_then(|raw| serde_json::from_str(raw.get()).ok());
        let seeds = match auth.as_ref().map(SeedFilter::from_auth).transpose() {
            Ok(seeds) => seeds.flatten(),
            Err(refusal) => {
                core.metrics.refuse("socketio", "invalid_argument");
                return Err(refusal);
            }
        };
        let token = auth
            .as_ref()
            .and_then(|auth| auth.get("token")?.as_str())
            .or_else(|| {
                let header = request.headers.get(http::header::AUTHORIZATION)?;
                header.to_str().ok()
            });
        match core.auth.authenticate(token) {
            Ok(principal) => Ok(Client {
                principal,
                seeds,
                lost: LostEvents::default(),
                greeted_through: AtomicU64::new(0),
                presence: Mutex::new(None),
                dashboard_agent: Mutex::new(None),
                dashboard_of: OnceLock::new(),
                refusals: Mutex::new(Refusals::default()),
            }),
            Err(error) => {
                core.metrics.refuse("socketio", error.code_name());
                tracing::info!(%error, "socket.io connection refused");
                Err(error.to_string())
            }
        }
    }

    /// A chat customer joins their conversation's room; everyone else is
    /// queued for the fan-out's greeting, which then adds them to their room.
    fn on_connect(&self, socket: &Socket) {
        let core = &self.core;
        let principal = &socket.state.principal;
        match (principal.customer_conversation(), principal.forced_tenant()) {
            // A chat customer hears their own conversation and nothing else.
            (Some(conversation), _) => socket.join(conversation),
            (None, tenant) => {
                let kind = GreetingKind {
                    tenant: tenant.map(str::to_owned),
                    masked: principal.masks_phone_numbers(),
                    seeds: socket.state.seeds.clone(),
                };
                *socket.state.presence.lock() =
                    tenant.map(|client_id| core.presence.enter(client_id));
                core.gateway_joiners.enqueue(Arc::clone(socket), kind);
            }
        }
        core.metrics.connections("socketio").inc();
        tracing::debug!(socket = %socket.id, role = principal.role().as_str(), "socket.io connected");
    }

    /// Serves the event on its own task (handlers may wait on the PBX or the
    /// store), as the client sent it.
    fn on_event(&self, socket: &Socket, call: EventCall<'_>, ack: Option<Ack>) {
        let data = call
            .args
            .first()
            .and_then(|raw| serde_json::from_str::<Json>(raw.get()).ok());
        let core = Arc::clone(&self.core);
        let socket = Arc::clone(socket);
        let name = call.name;
        tokio::spawn(async move {
            let event = Received {
                core: &core,
                socket: &socket,
                name: &name,
                data,
                ack,
            };
            serve_event(event).await;
        });
    }

    /// A refused Engine.IO request is bad input: counted by its reason.
    fn on_refused_request(&self, reason: &'static str) {
        self.core.metrics.bad_input("socketio", reason);
        tracing::info!(reason, "socket.io request refused");
    }

    fn on_disconnect(&self, socket: &Socket, reason: DisconnectReason) {
        let core = Arc::clone(&self.core);
        core.metrics.connections("socketio").dec();
        drop(socket.state.presence.lock().take());
        let name = reason.name();
        core.metrics.disconnected("socketio", name);
        match reason {
            DisconnectReason::Transport(CloseReason::ProtocolError | CloseReason::TooLarge) => {
                core.metrics
                    .bad_input("socketio", "malformed_or_oversized_packet");
                tracing::warn!(socket = %socket.id, reason = name, "socket.io client sent a malformed or oversized packet; closed that connection only");
            }
            _ => tracing::debug!(socket = %socket.id, reason = name, "socket.io disconnected"),
        }
        let refused = socket.state.refusals.lock().total;
        if refused > 1 {
            tracing::info!(socket = %socket.id, refused, "socket.io client's refused events, in all");
        }
        let id = socket.id.clone();
        tokio::spawn(async move { crate::chat::socket_left(&core, &id).await });
    }
}

/// One event a socket sent, with what serving it needs.
pub(super) struct Received<'a> {
    pub(super) core: &'a Core,
    pub(super) socket: &'a Socket,
    pub(super) name: &'a str,
    /// Its first argument; `None` when absent or not JSON.
    pub(super) data: Option<Json>,
    pub(super) ack: Option<Ack>,
}

impl<'a> Received<'a> {
    /// Who sent it.
    pub(super) fn principal(&self) -> &'a Principal {
        &self.socket.state.principal
    }

    /// Its first argument as a string, when it is one.
    pub(super) fn text(&self) -> Option<&str> {
        self.data.as_ref().and_then(Json::as_str)
    }

    /// Answers its acknowledgement, when asked for.
    pub(super) fn answer(self, payload: &Json) {
        if let Some(ack) = self.ack {
            let _ = ack.send(&[&payload.to_string()]);
        }
    }

    /// Refuses it: `error-event` to the socket, and the acknowledgement when
    /// asked for.
    pub(super) fn refuse(self, error: &Error) {
        self.refuse_as(error.code_name(), error);
    }

    fn refuse_as(self, code: &str, error: &Error) {
        error.log_cause("socketio");
        self.core.metrics.bad_input("socketio", code);
        let verdict = self
            .socket
            .state
            .refusals
            .lock()
            .count(std::time::Instant::now());
        match verdict {
            // The log says a socket's first refusal; the rest are counted
            // (metrics) and summed up when it disconnects.
            RefusalVerdict::Answer { first: true } => {
                tracing::info!(socket = %self.socket.id, event = self.name, %error, "socket.io input refused");
            }
            RefusalVerdict::Answer { first: false } => {
                tracing::debug!(socket = %self.socket.id, event = self.name, %error, "socket.io input refused");
            }
            RefusalVerdict::Close => {
                tracing::warn!(
                    socket = %self.socket.id,
                    "socket.io client sent over {REFUSALS_PER_WINDOW} refused events in {}s; closed that connection",
                    REFUSAL_WINDOW.as_secs()
                );
                self.core
                    .metrics
                    .bad_input("socketio", "too_many_refused_events");
                self.socket.disconnect();
                return;
            }
            RefusalVerdict::Drop => return,
        }
        let payload = socket_json::to_json(&pb::ClientError {
            error: code.into(),
            message: error.to_string(),
            event: self.name.into(),
        });
        send_json(self.socket, "error-event", &payload);
        self.answer(&payload);
    }
}

/// A string field of a JSON payload (numbers accepted, as dashboards send extensions either way).
pub(super) fn text_field(data: &Json, key: &str) -> String {
    match data.get(key) {
        Some(Json::String(text)) => text.clone(),
        Some(Json::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// Sends event `name` with `payload` to one socket.
pub(super) fn send_json(socket: &Socket, name: &str, payload: &Json) {
    if let Err(error) = socket.emit(name, &payload.to_string()) {
        tracing::debug!(socket = %socket.id, event = name, %error, "emit to socket failed");
    }
}

/// The spy modes of the supervisor events.
const SPY_EVENTS: &[(&str, SpyMode)] = &[
    ("supervisor:monitor", SpyMode::Monitor),
    ("supervisor:whisper", SpyMode::Whisper),
    ("supervisor:barge", SpyMode::Barge),
];

/// The agent-bridge commands a socket may send (see the catalog).
const CALL_COMMANDS: &[&str] = &[
    "answer_call",
    "reject_call",
    "hangup_call",
    "hold_call",
    "mute_call",
    "transfer_call",
    "assign_queue_call",
    "set_call_priority",
];

/// Serves one client event: the documented ones, a documented refusal for
/// those not served, `unknown_event` for the rest.
async fn serve_event(event: Received<'_>) {
    let name = event.name;
    if let Some((_, mode)) = SPY_EVENTS.iter().find(|(spy, _)| *spy == name) {
        return spy(event, *mode).await;
    }
    if CALL_COMMANDS.contains(&name) {
        return call_command(event).await;
    }
    if chat::EVENTS.contains(&name) {
        return chat::serve(event).await;
    }
    match name {
        "join:admin" => join_admin(event),
        "join:client" => join_client(event),
        _ if catalog::lookup(name, Direction::ClientToServer)
            .next()
            .is_some() =>
        {
            let error = Error::Unimplemented(format!("{name} is documented but not served yet"));
            event.refuse(&error);
        }
        _ => {
            let error = Error::InvalidArgument(format!("unknown event {name:?}"));
            event.refuse_as("unknown_event", &error);
        }
    }
}

/// The seed whose dashboards send `join:admin` and `join:client`.
const VOICE_AI_SEED: &str = "003";

fn join_admin(event: Received<'_>) {
    match event
        .principal()
        .require(&[Role::Admin], "join the admin room")
    {
        Ok(()) => {
            let _ = event.socket.state.dashboard_of.set(VOICE_AI_SEED);
            event.socket.join(ADMIN_ROOM);
            event.answer(&serde_json::json!({ "ok": true, "room": ADMIN_ROOM }));
        }
        Err(error) => event.refuse(&error),
    }
}

fn join_client(event: Received<'_>) {
    let principal = event.principal();
    let result = match event.text() {
        None => Err(Error::InvalidArgument(
            "join:client takes the clientId string".into(),
        )),
        Some("") => Err(Error::InvalidArgument("clientId is empty".into())),
        Some(id) => match principal.role() {
            Role::Admin | Role::Supervisor => Ok(client_room(id)),
            Role::Client if principal.forced_tenant() == Some(id) => Ok(client_room(id)),
            _ => Err(Error::PermissionDenied(format!("may not join client:{id}"))),
        },
    };
    match result {
        Ok(room) => {
            let _ = event.socket.state.dashboard_of.set(VOICE_AI_SEED);
            event.socket.join(&room);
            event.answer(&serde_json::json!({ "ok": true, "room": room }));
        }
        Err(error) => event.refuse(&error),
    }
}

async fn spy(event: Received<'_>, mode: SpyMode) {
    let Some(data) = event.data.as_ref().filter(|data| data.is_object()) else {
        let error = Error::InvalidArgument(format!(
            "{} takes {{agentExtension, callUniqueId}}",
            event.name
        ));
        return event.refuse(&error);
    };
    let order = SpyOrder {
        mode,
        agent_extension: text_field(data, "agentExtension"),
        call_unique_id: text_field(data, "callUniqueId"),
        supervisor_extension: text_field(data, "supervisorExtension"),
    };
    match crate::supervisor::spy(event.core, event.principal(), order).await {
        Ok(action) => event.answer(&socket_json::to_json(&action)),
        Err(error) => event.refuse(&error),
    }
}

async fn call_command(event: Received<'_>) {
    let outcome = match event.data.as_ref().filter(|data| data.is_object()) {
        Some(data) => run_call_command(event.core, event.principal(), event.name, data).await,
        None => Err(Error::InvalidArgument(format!(
            "{} takes a JSON object with sessionId",
            event.name
        ))),
    };
    match outcome {
        Ok(call) => event.answer(&socket_json::to_json(&pb::AnswerCallResponse { call })),
        Err(error) => event.refuse(&error),
    }
}

/// Carries out the agent-bridge command `name` with the JSON `data` (the
/// rpc request's JSON form) for `actor`; the call afterwards.
async fn run_call_command(
    core: &Core,
    actor: &Principal,
    name: &str,
    data: &Json,
) -> Result<Option<pb::Call>, Error> {
    use crate::ari::bridge::{Command, CommandError, CommandKind};
    let session = text_field(data, "sessionId");
    if session.is_empty() {
        return Err(Error::InvalidArgument(format!("{name} needs sessionId")));
    }
    let on = data.get("on").and_then(Json::as_bool).unwrap_or(false);
    let kind = match name {
        "answer_call" => CommandKind::Answer,
        "reject_call" => CommandKind::Reject {
            reason: text_field(data, "reason"),
        },
        "hangup_call" => CommandKind::Hangup,
        "hold_call" => CommandKind::Hold(on),
        "mute_call" => CommandKind::Mute(on),
        "transfer_call" => CommandKind::Transfer {
            target: text_field(data, "target"),
        },
        "assign_queue_call" => CommandKind::Assign {
            extension: text_field(data, "extension"),
        },
        "set_call_priority" => CommandKind::SetPriority {
            priority: text_field(data, "priority"),
        },
        other => return Err(Error::InvalidArgument(format!("unknown command {other}"))),
    };
    let bridge = core.agent_bridge.as_ref().ok_or(CommandError::NotRunning)?;
    Ok(bridge
        .send(Command {
            session,
            kind,
            actor: actor.clone(),
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refused_events_closes_the_socket_once_then_goes_silent() {
        let mut refusals = Refusals::default();
        let start = std::time::Instant::now();
        assert_eq!(
            refusals.count(start),
            RefusalVerdict::Answer { first: true }
        );
        for _ in 1..REFUSALS_PER_WINDOW {
            assert_eq!(
                refusals.count(start),
                RefusalVerdict::Answer { first: false }
            );
        }
        assert_eq!(refusals.count(start), RefusalVerdict::Close);
        assert_eq!(refusals.count(start), RefusalVerdict::Drop);
        // A new window starts afresh.
        let later = start + REFUSAL_WINDOW;
        assert_eq!(
            refusals.count(later),
            RefusalVerdict::Answer { first: false }
        );
    }
}
