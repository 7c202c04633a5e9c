//! The gateway's sockets on our Socket.IO server (`crate::socketio`): who a
//! client is (its token, checked at connect), what the gateway keeps of each
//! socket, and the client events the seeds document, each answered with its
//! acknowledgement or a documented `error-event`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::client::{
    Ack, Client, Joining, LostEvents, Received, Refusals, SeedFilter, Services, Socket, share_rooms,
};
use super::{ADMIN_ROOM, catalog, chat, client_room};
use crate::auth::Role;
use crate::commands::calls::CallRequest;
use crate::commands::supervision::SpyOrder;
use crate::error::Error;
use crate::ledger::model::SpyMode;
use crate::proto::v1 as pb;
use crate::socket_json;
use crate::socketio::engine::{CloseReason, OpeningRequest};
use crate::socketio::packet::EventCall;
use crate::socketio::server::{Admitted, DisconnectReason, SocketHandler, SocketIds, SocketServer};
use catalog::Direction;

/// The gateway's Socket.IO server.
pub type Io = SocketServer<Gateway>;

/// The gateway as the Socket.IO server's handler.
pub struct Gateway {
    services: Arc<Services>,
}

impl Gateway {
    /// The handler of the gateway's sockets, handing client events to `services`.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }
}

impl Gateway {
    /// Whether sockets may recover their connection state (events then
    /// carry offsets).
    pub fn recovers(&self) -> bool {
        self.services.recovery.is_some()
    }

    /// Dropped sockets kept for their clients' return, when recovery is on.
    pub(super) fn recovery(&self) -> Option<&super::recovery::Recovery> {
        self.services.recovery.as_deref()
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
    ) -> Result<Admitted<Client>, String> {
        let services = &self.services;
        let auth: Option<Json> = auth.and_then(|raw| serde_json::from_str(raw.get()).ok());
        let seeds = match auth.as_ref().map(SeedFilter::from_auth).transpose() {
            Ok(seeds) => seeds.flatten(),
            Err(refusal) => {
                services.metrics.refuse("socketio", "invalid_argument");
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
        let principal = match services.auth.authenticate(token) {
            Ok(principal) => principal,
            Err(error) => {
                services.metrics.refuse("socketio", error.code_name());
                tracing::info!(%error, "socket.io connection refused");
                return Err(error.to_string());
            }
        };
        let restore = match (&services.recovery, &auth) {
            (Some(recovery), Some(auth)) => match recovery.restore(auth, &principal) {
                Ok(restore) => restore,
                Err(missed) => {
                    services.metrics.recovery(missed.name());
                    tracing::debug!(
                        reason = missed.name(),
                        "socket.io connection state not recovered"
                    );
                    None
                }
            },
            _ => None,
        };
        let client = Client {
            principal,
            seeds,
            lost: LostEvents::default(),
            greeted_through: AtomicU64::new(0),
            presence: Mutex::new(None),
            dashboard_agent: Mutex::new(None),
            dashboard_of: OnceLock::new(),
            refusals: Mutex::new(Refusals::default()),
            restores: Mutex::new(None),
        };
        let Some(restore) = restore else {
            return Ok(client.into());
        };
        if let Some(seed) = restore.dashboard_of {
            let _ = client.dashboard_of.set(seed);
        }
        client
            .dashboard_agent
            .lock()
            .clone_from(&restore.dashboard_agent);
        let ids = restore.ids.clone();
        *client.restores.lock() = Some(restore);
        Ok(Admitted {
            state: client,
            restores: Some(ids),
        })
    }

    /// A chat customer joins their conversation's room; everyone else is
    /// queued for the fan-out's greeting, which then adds them to their room.
    fn on_connect(&self, socket: &Socket) {
        let services = &self.services;
        let principal = &socket.state.principal;
        *socket.state.presence.lock() = principal
            .forced_tenant()
            .map(|client_id| services.presence.enter(client_id));
        let restore = socket.state.restores.lock().take();
        if let Some(restore) = restore {
            services.metrics.recovery("recovered");
            // Its chat agent comes back online, as a dashboard that joins again would.
            if let Some(agent) = &restore.dashboard_agent {
                services
                    .chat
                    .agent_joined(agent, &principal.claims.sub, &socket.id);
            }
            services
                .joiners
                .enqueue(Arc::clone(socket), Joining::Restored(restore));
        } else if let Some(kind) = socket.state.greeting() {
            services
                .joiners
                .enqueue(Arc::clone(socket), Joining::Greeted(kind));
        } else if let Some(conversation) = principal.customer_conversation() {
            // A chat customer hears their own conversation and nothing else.
            socket.join(conversation);
            share_rooms(services.recovery.as_deref(), socket);
        }
        services.metrics.connections("socketio").inc();
        tracing::debug!(socket = %socket.id, role = principal.role().as_str(), "socket.io connected");
    }

    /// Serves the event on its own task (handlers may wait on the PBX or the
    /// store), as the client sent it.
    fn on_event(&self, socket: &Socket, call: EventCall<'_>, ack: Option<Ack>) {
        let data = call
            .args
            .first()
            .and_then(|raw| serde_json::from_str::<Json>(raw.get()).ok());
        let services = Arc::clone(&self.services);
        let socket = Arc::clone(socket);
        let name = call.name;
        tokio::spawn(async move {
            let event = Received {
                services: &services,
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
        self.services.metrics.bad_input("socketio", reason);
        tracing::info!(reason, "socket.io request refused");
    }

    /// A socket that lost its transport is kept for its client's return
    /// (with recovery on).
    fn on_disconnect(&self, socket: &Socket, reason: DisconnectReason) {
        let services = Arc::clone(&self.services);
        if let (Some(recovery), Some(pid), true) =
            (&services.recovery, &socket.pid, reason.recoverable())
        {
            let ids = SocketIds {
                sid: socket.id.clone(),
                pid: pid.clone(),
            };
            let joined = super::recovery::Joined {
                dashboard_of: socket.state.dashboard_of.get().copied(),
                dashboard_agent: socket.state.dashboard_agent.lock().clone(),
            };
            recovery.keep(ids, &socket.state.principal.claims, socket.rooms(), joined);
        } else if let (Some(recovery), Some(pid), DisconnectReason::ClientDisconnect) =
            (&services.recovery, &socket.pid, reason)
        {
            recovery.forget(pid);
        }
        services.metrics.connections("socketio").dec();
        drop(socket.state.presence.lock().take());
        let name = reason.name();
        services.metrics.disconnected("socketio", name);
        match reason {
            DisconnectReason::Transport(CloseReason::ProtocolError | CloseReason::TooLarge) => {
                services
                    .metrics
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
        tokio::spawn(async move { services.chat.socket_left(&id).await });
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
            share_rooms(event.services.recovery.as_deref(), event.socket);
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
            share_rooms(event.services.recovery.as_deref(), event.socket);
            event.answer(&serde_json::json!({ "ok": true, "room": room }));
        }
        Err(error) => event.refuse(&error),
    }
}

async fn spy(event: Received<'_>, mode: SpyMode) {
    let request = match event
        .data
        .as_ref()
        .map(socket_json::from_json::<pb::SpyRequest>)
    {
        Some(Ok(request)) => request,
        Some(Err(reason)) => return event.refuse(&Error::InvalidArgument(reason)),
        None => {
            let error = Error::InvalidArgument(format!(
                "{} takes {{agentExtension, callUniqueId}}",
                event.name
            ));
            return event.refuse(&error);
        }
    };
    let order = SpyOrder::of(mode, request);
    match event
        .services
        .supervision
        .spy(event.principal(), order)
        .await
    {
        Ok(action) => event.answer(&socket_json::to_json(&action)),
        Err(error) => event.refuse(&error),
    }
}

/// An agent-bridge command: its payload decoded into the request the
/// catalog names for the event, then handed to call control as the gRPC
/// rpc hands it.
async fn call_command(event: Received<'_>) {
    let message = catalog::lookup(event.name, Direction::ClientToServer)
        .next()
        .map_or("", |entry| entry.message);
    let outcome = match event.data.as_ref().filter(|data| data.is_object()) {
        Some(data) => match CallRequest::from_json(message, data) {
            Ok(request) => {
                event
                    .services
                    .calls
                    .handle(event.principal().clone(), request)
                    .await
            }
            Err(error) => Err(error),
        },
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
