//! The Socket.IO compatibility gateway: re-emits the log as the documented
//! JSON events (names, rooms and shapes of `EVENTS.md`), and answers the
//! documented client events. It holds no state of its own.

pub mod catalog;
mod chat;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prost_reflect::ReflectMessage;
use serde_json::Value as Json;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Event as EventName, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{SendError, SocketError};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::app::Core;
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::events::kind_of;
use crate::ledger::model::SpyMode;
use crate::ledger::views;
use crate::proto::v1::{self as pb, EventKind, event::Payload};
use crate::socket_json::{self, masked};
use crate::supervisor::SpyOrder;
use catalog::{Direction, SocketEvent, lookup};

/// Room of every socket that is not held to one tenant.
pub const STAFF_ROOM: &str = "staff";
/// Room of admins who asked for voice-AI call events (`join:admin`).
pub const ADMIN_ROOM: &str = "admin";
/// Room of the chat agent dashboards (`join-agent-dashboard`).
pub const AGENTS_ROOM: &str = "agents";

/// The room of one tenant's sockets.
pub fn client_room(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// One Socket.IO emission: event name, room, JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Emission {
    /// The event name.
    pub name: &'static str,
    /// The room it goes to.
    pub room: String,
    /// The payload.
    pub payload: Json,
}

/// The JSON payload of `message` shaped as `entry` says.
pub fn shape_payload(entry: &SocketEvent, message: &impl ReflectMessage) -> Json {
    let json = socket_json::to_json(message);
    match entry.shape {
        catalog::Shape::Message => json,
        catalog::Shape::BareString | catalog::Shape::Nothing => Json::Null,
        catalog::Shape::ArrayOf(field) => {
            let json_name = message
                .descriptor()
                .get_field_by_name(field)
                .map(|f| f.json_name().to_owned())
                .unwrap_or_default();
            json.get(&json_name)
                .cloned()
                .unwrap_or(Json::Array(Vec::new()))
        }
        catalog::Shape::MessageWithout(fields) => {
            let mut json = json;
            if let Json::Object(object) = &mut json {
                for field in fields {
                    object.remove(*field);
                }
            }
            json
        }
    }
}

fn emissions_of<M: ReflectMessage + Default>(
    name: &str,
    message: &M,
    room: &str,
    tenant: &str,
    out: &mut Vec<Emission>,
) {
    for entry in lookup(name, Direction::ServerToClient) {
        if entry.message != message.descriptor().full_name() {
            continue;
        }
        out.push(Emission {
            name: entry.name,
            room: room.to_owned(),
            payload: shape_payload(entry, message),
        });
        if !tenant.is_empty() && room == STAFF_ROOM {
            out.push(Emission {
                name: entry.name,
                room: client_room(tenant),
                payload: shape_payload(entry, &masked(message)),
            });
        }
    }
}

/// Every Socket.IO emission one log event causes.
pub fn route(event: &pb::Event) -> Vec<Emission> {
    let mut out = Vec::new();
    let Some(payload) = &event.payload else {
        return out;
    };
    let staff = STAFF_ROOM;
    let agents = AGENTS_ROOM;
    let tenant = event.tenant.as_str();
    let mut emit = |name: &str, message: &dyn ErasedMessage, room: &str| {
        message.emissions(name, room, tenant, &mut out)
    };
    match payload {
        Payload::CallIncoming(m) => {
            emit("call_incoming", m, staff);
            emit("incoming_call_for_agent", m, staff);
        }
        Payload::CallBridged(m) => {
            emit("call_bridged_successfully", m, staff);
            emit("call_answered", m, staff);
        }
        Payload::CustomerLeftBridge(m) => emit("customer_left_bridge", m, staff),
        Payload::CallEndedNormally(m) => emit("call_ended_normally", m, staff),
        Payload::AgentRejectedCall(m) => emit("agent_rejected_call", m, staff),
        Payload::CallStateChanged(m) => emit("call_state_changed", m, staff),
        Payload::StasisCallEnded(m) => emit("call_ended", m, staff),
        Payload::AgentStatusUpdated(m) => emit("agent_status_updated", m, staff),
        Payload::SystemStats(m) if tenant.is_empty() => emit("system_stats", m, staff),
        Payload::SystemStats(m) => emit("system_stats", m, &client_room(tenant)),
        Payload::IncomingQueueCall(m) => emit("incoming_queue_call", m, staff),
        Payload::SourceStatus(m) => {
            let name = match (m.source(), m.state()) {
                (pb::SourceKind::Ami, pb::SourceState::Connected) => "ami:connected",
                (pb::SourceKind::Ami, pb::SourceState::Disconnected) => "ami:disconnected",
                (pb::SourceKind::Ami, pb::SourceState::Error) => "ami:error",
                _ => return out,
            };
            emit(name, m, staff);
        }
        Payload::CallNew(m) => emit("call:new", m, staff),
        Payload::CallAnswered(m) => emit("call:answered", m, staff),
        Payload::CallHangup(m) => emit("call:ended", m, staff),
        Payload::CallsActive(m) => emit("calls:active", m, staff),
        Payload::AgentLogin(m) => emit("agent:login", m, staff),
        Payload::AgentLogout(m) => emit("agent:logout", m, staff),
        Payload::AgentsStatus(m) => emit("agents:status", m, staff),
        Payload::QueueCallerJoined(m) => emit("queue:caller_joined", m, staff),
        Payload::QueuesStats(m) => emit("queues:stats", m, staff),
        Payload::SupervisorAction(m) => emit("supervisor:action", m, staff),
        Payload::SpySession(m) => emit("supervisor:session", m, staff),
        Payload::NewConversation(m) => emit("new-conversation", m, agents),
        Payload::NewMessage(m) => {
            emit("new-message", m, agents);
            if m.sender_type() == pb::SenderType::Agent {
                emit("agent-message", m, &m.conversation_id);
            }
        }
        Payload::ConnectedAgentsUpdate(m) => emit("connected-agents-update", m, agents),
        Payload::SystemModeUpdate(m) => emit("system-mode-update", m, agents),
        Payload::TicketsReassigned(m) => emit("tickets-reassigned", m, agents),
        Payload::CustomerTypingStatus(m) => emit("customer-typing-status", m, agents),
        Payload::AgentTypingStatus(m) => emit("agent-typing-status", m, &m.conversation_id),
        Payload::VoiceCallStarted(m) => {
            emit("call:started", m, ADMIN_ROOM);
            emit("call:started", m, &client_room(&m.client_id));
        }
        Payload::VoiceCallEnded(m) => {
            emit("call:ended", m, ADMIN_ROOM);
            emit("call:ended", m, &client_room(&m.client_id));
        }
        Payload::TransferUpdate(m) => emit("transfer:update", m, staff),
        Payload::CallUpdated(_)
        | Payload::AgentSession(_)
        | Payload::Resync(_)
        | Payload::EventsDropped(_) => {}
    }
    out
}

/// Object-safe access to [`emissions_of`] for every generated message type.
trait ErasedMessage {
    fn emissions(&self, name: &str, room: &str, tenant: &str, out: &mut Vec<Emission>);
}

impl<M: ReflectMessage + Default> ErasedMessage for M {
    fn emissions(&self, name: &str, room: &str, tenant: &str, out: &mut Vec<Emission>) {
        emissions_of(name, self, room, tenant, out);
    }
}

/// Events a socket lost because its buffer was full, not yet reported to it.
#[derive(Clone, Default)]
struct LostEvents(Arc<AtomicU64>);

/// Sends one emission to one socket. A socket whose buffer is full loses the
/// event (nobody else waits for it); the loss is counted, and reported to the
/// socket as `events-dropped` before the next event it can take.
/// Emits one emission's payload, serialized once beforehand, to one socket.
fn deliver(
    core: &Core,
    socket: &SocketRef,
    emission: &Emission,
    payload: &RawValue,
    sequence: u64,
) {
    let lost = report_losses(socket, sequence);
    match socket.emit(emission.name, payload) {
        Ok(()) => {}
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            lost.0.fetch_add(1, Ordering::Relaxed);
            core.metrics.dropped("socketio", 1);
        }
        Err(error) => {
            tracing::debug!(socket = %socket.id, event = emission.name, %error, "emit to socket failed");
        }
    }
}

/// Sends `events-dropped` to `socket` when it has unreported losses and room for
/// the report; `next_sequence` is the first event it will get after the gap.
fn report_losses(socket: &SocketRef, next_sequence: u64) -> LostEvents {
    let lost = socket.extensions.get::<LostEvents>().unwrap_or_default();
    let unreported = lost.0.load(Ordering::Relaxed);
    if unreported > 0 {
        let report = socket_json::to_json(&pb::EventsDropped {
            count: unreported,
            resumed_at: next_sequence,
        });
        if socket.emit("events-dropped", &report).is_ok() {
            lost.0.fetch_sub(unreported, Ordering::Relaxed);
        }
    }
    lost
}

/// The shortest time between two sendings of one whole list (`calls:active`,
/// `agents:status`, `queues:stats`). A change after a quiet spell goes out at
/// once; changes that come faster are coalesced, and the latest list goes out
/// when the interval is up. Each list is a full picture, so nothing is lost
/// by skipping the intermediate ones, and a busy PBX cannot multiply a
/// list's size by its change rate by the number of sockets.
pub const LIST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Holds back whole-list events that come faster than [`LIST_INTERVAL`].
#[derive(Default)]
struct ListThrottle {
    last_sent: HashMap<(EventKind, String), tokio::time::Instant>,
    held: HashMap<(EventKind, String), Arc<pb::Event>>,
}

impl ListThrottle {
    /// Whether `event` is a whole list; such events go through [`ListThrottle::offer`].
    fn is_list(event: &pb::Event) -> bool {
        matches!(
            event.payload,
            Some(Payload::CallsActive(_) | Payload::AgentsStatus(_) | Payload::QueuesStats(_))
        )
    }

    /// `event` if it may go out now; otherwise it is held (replacing an older one).
    fn offer(
        &mut self,
        event: Arc<pb::Event>,
        now: tokio::time::Instant,
    ) -> Option<Arc<pb::Event>> {
        let Some(payload) = &event.payload else {
            return Some(event);
        };
        let key = (kind_of(payload), event.tenant.clone());
        match self.last_sent.get(&key) {
            Some(last) if now.duration_since(*last) < LIST_INTERVAL => {
                self.held.insert(key, event);
                None
            }
            _ => {
                self.last_sent.insert(key, now);
                Some(event)
            }
        }
    }

    /// The held lists whose interval is up.
    fn due(&mut self, now: tokio::time::Instant) -> Vec<Arc<pb::Event>> {
        let ready: Vec<_> = self
            .held
            .keys()
            .filter(|key| {
                self.last_sent
                    .get(*key)
                    .is_none_or(|last| now.duration_since(*last) >= LIST_INTERVAL)
            })
            .cloned()
            .collect();
        ready
            .into_iter()
            .filter_map(|key| {
                let event = self.held.remove(&key)?;
                self.last_sent.insert(key, now);
                Some(event)
            })
            .collect()
    }
}

/// How often losses are reported to sockets that get no further event.
const LOSS_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Emits every log event to the sockets, until `shutdown`. When the gateway
/// itself falls behind the log, it catches up from the replay window, so no
/// socket loses an event to the gateway's lag while the window holds it.
pub async fn run_fanout(
    io: SocketIo,
    core: Arc<Core>,
    mut feed: broadcast::Receiver<Arc<pb::Event>>,
    shutdown: CancellationToken,
) {
    let mut last_sequence = 0;
    let mut loss_reports = tokio::time::interval(LOSS_REPORT_INTERVAL);
    let mut lists = ListThrottle::default();
    let mut held_lists = tokio::time::interval(LIST_INTERVAL / 5);
    held_lists.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            received = feed.recv() => received,
            now = held_lists.tick() => {
                for event in lists.due(now) {
                    fan_out(&io, &core, &event).await;
                }
                continue;
            }
            _ = loss_reports.tick() => {
                let next_sequence = core.log.head() + 1;
                for socket in io.sockets() {
                    report_losses(&socket, next_sequence);
                }
                continue;
            }
            () = shutdown.cancelled() => return,
        };
        match received {
            Ok(event) => {
                last_sequence = event.sequence;
                if ListThrottle::is_list(&event) {
                    if let Some(event) = lists.offer(event, tokio::time::Instant::now()) {
                        fan_out(&io, &core, &event).await;
                    }
                } else {
                    fan_out(&io, &core, &event).await;
                }
            }
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                tracing::warn!(
                    lost,
                    after = last_sequence,
                    "socket.io gateway fell behind the log; catching up from the replay window"
                );
                let catch_up = core.log.catch_up(last_sequence, chrono::Utc::now());
                feed = catch_up.live;
                for event in catch_up.backlog {
                    if let Some(Payload::Resync(resync)) = &event.payload {
                        // The window no longer holds what was missed: every socket is told.
                        let missed = event.sequence.saturating_sub(resync.requested_after);
                        core.metrics.dropped("socketio", missed);
                        for socket in io.sockets() {
                            let lost = socket.extensions.get::<LostEvents>().unwrap_or_default();
                            lost.0.fetch_add(missed, Ordering::Relaxed);
                        }
                    } else {
                        fan_out(&io, &core, &event).await;
                    }
                    last_sequence = event.sequence;
                }
                last_sequence = last_sequence.max(catch_up.live_after);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn fan_out(io: &SocketIo, core: &Core, event: &pb::Event) {
    let whole_list = ListThrottle::is_list(event);
    for emission in route(event) {
        let sockets = io.to(emission.room.clone()).sockets();
        if sockets.is_empty() {
            continue;
        }
        // Serialized once.
        let payload = match serde_json::value::to_raw_value(&emission.payload) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(event = emission.name, %error, "payload not serializable");
                continue;
            }
        };
        if whole_list {
            // A whole list is large and replaces the last one, so it is
            // broadcast as one packet shared by every socket; a socket too
            // full to take it simply gets the next one.
            if let Err(error) = io
                .to(emission.room.clone())
                .emit(emission.name, &*payload)
                .await
            {
                let full = match &error {
                    socketioxide::BroadcastError::Socket(errors) => errors.len() as u64,
                    _ => 0,
                };
                core.metrics.dropped("socketio", full);
                tracing::debug!(event = emission.name, %error, "whole list not sent to every socket");
            }
            continue;
        }
        for socket in sockets {
            deliver(core, &socket, &emission, &payload, event.sequence);
        }
    }
    if let Some(payload) = &event.payload {
        core.metrics
            .delivered("socketio", kind_of(payload).as_str_name());
    }
}

/// Why a socket's connection was refused; its text is the client's `connect_error` message.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks the handshake credentials: `auth.token`, or an `Authorization` header.
async fn authenticate(
    socket: SocketRef,
    State(core): State<Arc<Core>>,
    TryData(auth): TryData<Json>,
) -> Result<(), Refusal> {
    let token = auth
        .ok()
        .and_then(|a| a.get("token").and_then(Json::as_str).map(str::to_owned))
        .or_else(|| {
            socket
                .req_parts()
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
    match core.auth.authenticate(token.as_deref()) {
        Ok(principal) => {
            socket.extensions.insert(principal);
            Ok(())
        }
        Err(error) => {
            core.metrics.refuse("socketio", error.code_name());
            tracing::info!(socket = %socket.id, %error, "socket.io connection refused");
            Err(Refusal(error.to_string()))
        }
    }
}

/// A string field of a JSON payload (numbers accepted, as dashboards send extensions either way).
fn text_field(data: &Json, key: &str) -> String {
    match data.get(key) {
        Some(Json::String(text)) => text.clone(),
        Some(Json::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn principal_of(socket: &SocketRef) -> Principal {
    socket
        .extensions
        .get::<Principal>()
        .unwrap_or_else(Principal::anonymous_admin)
}

fn send_json(socket: &SocketRef, name: &str, payload: &Json) {
    if let Err(error) = socket.emit(name, payload) {
        tracing::debug!(socket = %socket.id, event = name, %error, "emit to socket failed");
    }
}

/// Refuses what a socket sent: `error-event` to it, and the acknowledgement when asked for.
fn refuse(socket: &SocketRef, core: &Core, ack: Option<AckSender>, event: &str, error: &Error) {
    core.metrics.bad_input("socketio", error.code_name());
    tracing::info!(socket = %socket.id, event, %error, "socket.io input refused");
    let payload = socket_json::to_json(&pb::ClientError {
        error: error.code_name().into(),
        message: error.to_string(),
        event: event.into(),
    });
    send_json(socket, "error-event", &payload);
    if let Some(ack) = ack {
        let _ = ack.send(&payload);
    }
}

/// The greeting of a socket that just connected: `system_state`, then the wallboard lists.
pub fn greeting(core: &Core, principal: &Principal) -> Vec<(&'static str, Json)> {
    let now = chrono::Utc::now();
    core.log.read(|ledger, _| {
        let tenant = principal.forced_tenant();
        let mut state = views::system_state(ledger, now, tenant);
        if principal.masks_phone_numbers() {
            state = masked(&state);
        }
        let mut greeting = vec![("system_state", socket_json::to_json(&state))];
        if tenant.is_none() {
            let entry = |name| lookup(name, Direction::ServerToClient).next();
            let calls = pb::ActiveCallList {
                calls: ledger
                    .calls
                    .values()
                    .map(|c| views::active_call(c, now, None))
                    .collect(),
            };
            let agents = pb::WallboardAgentList {
                agents: ledger.agents.values().map(views::wallboard_agent).collect(),
            };
            if let (Some(calls_entry), Some(agents_entry)) =
                (entry("calls:active"), entry("agents:status"))
            {
                greeting.push(("calls:active", shape_payload(calls_entry, &calls)));
                greeting.push(("agents:status", shape_payload(agents_entry, &agents)));
            }
        }
        greeting
    })
}

async fn on_connect(socket: SocketRef, State(core): State<Arc<Core>>) {
    let principal = principal_of(&socket);
    let presence = match (principal.customer_conversation(), principal.forced_tenant()) {
        // A chat customer hears their own conversation and nothing else.
        (Some(conversation), _) => {
            socket.join(conversation.to_owned());
            None
        }
        (None, Some(client_id)) => {
            socket.join(client_room(client_id));
            Some(core.presence.enter(client_id))
        }
        (None, None) => {
            socket.join(STAFF_ROOM);
            None
        }
    };
    let presence = Arc::new(parking_lot::Mutex::new(presence));
    socket.extensions.insert(LostEvents::default());
    let connections = core.metrics.connections("socketio");
    connections.inc();
    tracing::debug!(socket = %socket.id, role = principal.role().as_str(), "socket.io connected");
    if principal.customer_conversation().is_none() {
        for (name, payload) in greeting(&core, &principal) {
            send_json(&socket, name, &payload);
        }
    }

    socket.on(
        "join:admin",
        async |socket: SocketRef, State(core): State<Arc<Core>>, ack: AckSender| match principal_of(
            &socket,
        )
        .require(&[Role::Admin], "join the admin room")
        {
            Ok(()) => {
                socket.join(ADMIN_ROOM);
                let _ = ack.send(&serde_json::json!({ "ok": true, "room": ADMIN_ROOM }));
            }
            Err(error) => refuse(&socket, &core, Some(ack), "join:admin", &error),
        },
    );
    socket.on(
        "join:client",
        async |socket: SocketRef,
               State(core): State<Arc<Core>>,
               TryData(client_id): TryData<String>,
               ack: AckSender| {
            let principal = principal_of(&socket);
            let result = match client_id {
                Err(_) => Err(Error::InvalidArgument(
                    "join:client takes the clientId string".into(),
                )),
                Ok(id) if id.is_empty() => Err(Error::InvalidArgument("clientId is empty".into())),
                Ok(id) => match principal.role() {
                    Role::Admin | Role::Supervisor => Ok(id),
                    Role::Client if principal.forced_tenant() == Some(id.as_str()) => Ok(id),
                    _ => Err(Error::PermissionDenied(format!("may not join client:{id}"))),
                },
            };
            match result {
                Ok(id) => {
                    let room = client_room(&id);
                    socket.join(room.clone());
                    let _ = ack.send(&serde_json::json!({ "ok": true, "room": room }));
                }
                Err(error) => refuse(&socket, &core, Some(ack), "join:client", &error),
            }
        },
    );
    for (name, mode) in [
        ("supervisor:monitor", SpyMode::Monitor),
        ("supervisor:whisper", SpyMode::Whisper),
        ("supervisor:barge", SpyMode::Barge),
    ] {
        socket.on(
            name,
            async move |socket: SocketRef,
                        State(core): State<Arc<Core>>,
                        TryData(data): TryData<Json>,
                        ack: AckSender| {
                let order = match data {
                    Ok(data) => SpyOrder {
                        mode,
                        agent_extension: text_field(&data, "agentExtension"),
                        call_unique_id: text_field(&data, "callUniqueId"),
                        supervisor_extension: text_field(&data, "supervisorExtension"),
                    },
                    Err(_) => {
                        let error = Error::InvalidArgument(format!(
                            "{name} takes {{agentExtension, callUniqueId}}"
                        ));
                        return refuse(&socket, &core, Some(ack), name, &error);
                    }
                };
                match crate::supervisor::spy(&core, &principal_of(&socket), order).await {
                    Ok(action) => {
                        let _ = ack.send(&socket_json::to_json(&action));
                    }
                    Err(error) => refuse(&socket, &core, Some(ack), name, &error),
                }
            },
        );
    }
    chat::register(&socket);
    for name in CALL_COMMANDS {
        socket.on(
            *name,
            async move |socket: SocketRef,
                        State(core): State<Arc<Core>>,
                        TryData(data): TryData<Json>,
                        ack: AckSender| {
                let outcome = match data {
                    Ok(data) => call_command(&core, &principal_of(&socket), name, &data).await,
                    Err(_) => Err(Error::InvalidArgument(format!(
                        "{name} takes a JSON object with sessionId"
                    ))),
                };
                match outcome {
                    Ok(call) => {
                        let answer = pb::AnswerCallResponse { call };
                        let _ = ack.send(&socket_json::to_json(&answer));
                    }
                    Err(error) => refuse(&socket, &core, Some(ack), name, &error),
                }
            },
        );
    }
    for entry in catalog::CATALOG.iter().filter(|e| {
        e.direction == Direction::ClientToServer
            && !e.name.starts_with("join:")
            && !e.name.starts_with("supervisor:")
            && !CALL_COMMANDS.contains(&e.name)
            && !chat::EVENTS.contains(&e.name)
    }) {
        socket.on(
            entry.name,
            async |socket: SocketRef,
                   State(core): State<Arc<Core>>,
                   EventName(name): EventName,
                   ack: AckSender| {
                let error =
                    Error::Unimplemented(format!("{name} is documented but not served yet"));
                refuse(&socket, &core, Some(ack), &name, &error);
            },
        );
    }
    socket.on_fallback(
        async |socket: SocketRef,
               State(core): State<Arc<Core>>,
               EventName(name): EventName,
               ack: AckSender,
               Data(_): Data<Json>| {
            let error = Error::InvalidArgument(format!("unknown event {name:?}"));
            core.metrics.bad_input("socketio", "unknown_event");
            tracing::info!(socket = %socket.id, event = %name, "unknown socket.io event");
            let payload = socket_json::to_json(&pb::ClientError {
                error: "unknown_event".into(),
                message: error.to_string(),
                event: name.clone(),
            });
            send_json(&socket, "error-event", &payload);
            let _ = ack.send(&payload);
        },
    );
    socket.on_disconnect(
        async move |socket: SocketRef, reason: DisconnectReason, State(core): State<Arc<Core>>| {
            connections.dec();
            crate::chat::socket_left(&core, &socket.id.to_string()).await;
            drop(presence.lock().take());
            let reason_name = disconnect_reason_name(reason);
            core.metrics.disconnected("socketio", reason_name);
            if reason == DisconnectReason::PacketParsingError {
                core.metrics.bad_input("socketio", "malformed_or_oversized_packet");
                tracing::warn!(socket = %socket.id, reason = reason_name, "socket.io client sent a malformed or oversized packet; closed that connection only");
            } else {
                tracing::debug!(socket = %socket.id, reason = reason_name, "socket.io disconnected");
            }
        },
    );
}

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

/// Carries out the agent-bridge command `name` with the JSON `data` (the
/// rpc request's JSON form) for `actor`; the call afterwards.
async fn call_command(
    core: &Core,
    actor: &crate::auth::Principal,
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

/// A stable snake_case name of a disconnect reason, for logs and metrics.
pub fn disconnect_reason_name(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::MultipleHttpPollingError => "multiple_http_polling",
        DisconnectReason::PacketParsingError => "packet_parsing_error",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "closing_server",
    }
}

/// Registers the default namespace on `io`.
pub fn register(io: &SocketIo) {
    io.ns("/", on_connect.with(authenticate));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lists_faster_than_the_interval_are_coalesced_to_the_latest() {
        let list = |n: u32, tenant: &str| {
            Arc::new(pb::Event {
                sequence: u64::from(n),
                tenant: tenant.into(),
                payload: Some(Payload::CallsActive(pb::ActiveCallList::default())),
                ..Default::default()
            })
        };
        let start = tokio::time::Instant::now();
        let mut throttle = ListThrottle::default();
        assert_eq!(
            throttle.offer(list(1, ""), start).unwrap().sequence,
            1,
            "after quiet, at once"
        );
        assert!(
            throttle.offer(list(2, ""), start).is_none(),
            "too soon: held"
        );
        assert!(
            throttle.offer(list(3, ""), start).is_none(),
            "replaces the held one"
        );
        assert_eq!(
            throttle.offer(list(4, "acme"), start).unwrap().sequence,
            4,
            "another tenant's list has its own interval"
        );
        assert!(throttle.due(start + LIST_INTERVAL / 2).is_empty());
        let due = throttle.due(start + LIST_INTERVAL);
        assert_eq!(due.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3]);
        assert!(
            throttle.due(start + LIST_INTERVAL * 3).is_empty(),
            "sent once"
        );
        let later = start + LIST_INTERVAL * 3;
        assert!(
            throttle.offer(list(5, ""), later).is_some(),
            "quiet again: at once"
        );
    }

    fn event(tenant: &str, payload: Payload) -> pb::Event {
        pb::Event {
            sequence: 1,
            epoch: "e".into(),
            time: None,
            tenant: tenant.into(),
            payload: Some(payload),
        }
    }

    fn rooms(emissions: &[Emission]) -> Vec<(&str, &str)> {
        emissions
            .iter()
            .map(|e| (e.name, e.room.as_str()))
            .collect()
    }

    #[test]
    fn documented_aliases_are_both_emitted() {
        let emissions = route(&event(
            "",
            Payload::CallIncoming(pb::CallIncoming::default()),
        ));
        assert_eq!(
            rooms(&emissions),
            [
                ("call_incoming", "staff"),
                ("incoming_call_for_agent", "staff")
            ]
        );
    }

    #[test]
    fn tenant_events_get_a_masked_copy_in_the_tenant_room() {
        let call = pb::ActiveCall {
            callerid: "254712345678".into(),
            ..Default::default()
        };
        let emissions = route(&event("acme", Payload::CallNew(call)));
        assert_eq!(
            rooms(&emissions),
            [("call:new", "staff"), ("call:new", "client:acme")]
        );
        assert_eq!(emissions[0].payload["callerid"], "254712345678");
        assert_eq!(emissions[1].payload["callerid"], "********5678");
    }

    #[test]
    fn chat_and_voice_ai_events_go_to_their_documented_rooms() {
        let agent_message = pb::ChatMessage {
            conversation_id: "conv-456".into(),
            sender_type: pb::SenderType::Agent as i32,
            ..Default::default()
        };
        assert_eq!(
            rooms(&route(&event("", Payload::NewMessage(agent_message)))),
            [("new-message", "agents"), ("agent-message", "conv-456")]
        );
        let customer_message = pb::ChatMessage {
            conversation_id: "conv-456".into(),
            sender_type: pb::SenderType::Customer as i32,
            ..Default::default()
        };
        assert_eq!(
            rooms(&route(&event("", Payload::NewMessage(customer_message)))),
            [("new-message", "agents")]
        );
        let typing = pb::AgentTypingStatus {
            conversation_id: "conv-456".into(),
            is_typing: true,
            timestamp: None,
        };
        let emissions = route(&event("", Payload::AgentTypingStatus(typing)));
        assert_eq!(rooms(&emissions), [("agent-typing-status", "conv-456")]);
        assert_eq!(
            emissions[0].payload,
            serde_json::json!({"isTyping": true, "timestamp": null}),
            "the documented {{isTyping, timestamp}}, without the room's id"
        );
        let started = pb::VoiceCallStarted {
            client_id: "c1".into(),
            ..Default::default()
        };
        assert_eq!(
            rooms(&route(&event("c1", Payload::VoiceCallStarted(started)))),
            [("call:started", "admin"), ("call:started", "client:c1")]
        );
    }

    #[test]
    fn list_events_are_bare_arrays_and_stream_control_never_reaches_sockets() {
        let emissions = route(&event(
            "",
            Payload::CallsActive(pb::ActiveCallList::default()),
        ));
        assert_eq!(emissions[0].payload, serde_json::json!([]));
        assert!(
            route(&event(
                "",
                Payload::EventsDropped(pb::EventsDropped::default())
            ))
            .is_empty()
        );
        let ami_up = pb::SourceStatus {
            source: pb::SourceKind::Ami as i32,
            state: pb::SourceState::Connected as i32,
            ..Default::default()
        };
        assert_eq!(
            rooms(&route(&event("", Payload::SourceStatus(ami_up)))),
            [("ami:connected", "staff")]
        );
    }
}
