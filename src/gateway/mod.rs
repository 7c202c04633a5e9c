//! The Socket.IO compatibility gateway: re-emits the log as the documented
//! JSON events (names, rooms and shapes of `EVENTS.md`), and answers the
//! documented client events. It holds no state of its own.

mod adapter;
pub mod catalog;
mod chat;
mod fanout;
mod lists;

pub use adapter::{Ack, AdapterSlot, GatewayAdapter, Io, Socket};
use fanout::LostEvents;
pub use fanout::{GreetingKind, JoinerInbox, Joiners, joiners, run_fanout};

use std::sync::Arc;

use prost_reflect::ReflectMessage;
use serde_json::Value as Json;
use socketioxide::extract::{Data, Event as EventName, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::app::Core;
use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::ledger::model::SpyMode;
use crate::proto::v1::{self as pb, event::Payload};
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
    /// The seed that documents the event (`"002"`).
    pub seed: &'static str,
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
            seed: entry.seed,
            payload: shape_payload(entry, message),
        });
        if !tenant.is_empty() && room == STAFF_ROOM {
            out.push(Emission {
                name: entry.name,
                room: client_room(tenant),
                seed: entry.seed,
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
    socket: Socket,
    State(core): State<Arc<Core>>,
    TryData(auth): TryData<Json>,
) -> Result<(), Refusal> {
    let auth = auth.ok();
    match auth.as_ref().map(SeedFilter::from_auth).transpose() {
        Ok(Some(Some(filter))) => socket.extensions.insert(filter),
        Ok(_) => None,
        Err(refusal) => {
            core.metrics.refuse("socketio", "invalid_argument");
            return Err(refusal);
        }
    };
    let token = auth
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

/// The seeds whose events a socket asked for in its handshake
/// (`auth: { seeds: ["002"] }`): a wallboard that only shows the AMI watcher's
/// events need not read the agent desktops' too. Without it a socket gets
/// every event of its rooms, as the seeds document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeedFilter(Vec<&'static str>);

impl SeedFilter {
    /// The filter of a handshake's `auth` object: `None` when it names no
    /// seeds; a refusal when `seeds` is not a list of known seeds.
    fn from_auth(auth: &Json) -> Result<Option<SeedFilter>, Refusal> {
        let Some(seeds) = auth.get("seeds") else {
            return Ok(None);
        };
        let known: std::collections::BTreeSet<&'static str> =
            catalog::CATALOG.iter().map(|entry| entry.seed).collect();
        let invalid = || {
            Refusal(format!(
                "auth.seeds must be a list of seeds among {}",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ))
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

/// A string field of a JSON payload (numbers accepted, as dashboards send extensions either way).
fn text_field(data: &Json, key: &str) -> String {
    match data.get(key) {
        Some(Json::String(text)) => text.clone(),
        Some(Json::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn principal_of(socket: &Socket) -> Principal {
    socket
        .extensions
        .get::<Principal>()
        .unwrap_or_else(Principal::anonymous_admin)
}

fn send_json(socket: &Socket, name: &str, payload: &Json) {
    if let Err(error) = socket.emit(name, payload) {
        tracing::debug!(socket = %socket.id, event = name, %error, "emit to socket failed");
    }
}

/// Refuses what a socket sent: `error-event` to it, and the acknowledgement when asked for.
fn refuse(socket: &Socket, core: &Core, ack: Option<Ack>, event: &str, error: &Error) {
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

async fn on_connect(socket: Socket, State(core): State<Arc<Core>>) {
    let principal = principal_of(&socket);
    socket.extensions.insert(LostEvents::default());
    let presence = match (principal.customer_conversation(), principal.forced_tenant()) {
        // A chat customer hears their own conversation and nothing else.
        (Some(conversation), _) => {
            socket.join(conversation.to_owned());
            None
        }
        // Others get their greeting, then their room, from the fan-out task.
        (None, tenant) => {
            let kind = GreetingKind {
                tenant: tenant.map(str::to_owned),
                masked: principal.masks_phone_numbers(),
                seeds: socket.extensions.get::<SeedFilter>(),
            };
            core.gateway_joiners.enqueue(socket.clone(), kind);
            tenant.map(|client_id| core.presence.enter(client_id))
        }
    };
    let presence = Arc::new(parking_lot::Mutex::new(presence));
    let connections = core.metrics.connections("socketio");
    connections.inc();
    tracing::debug!(socket = %socket.id, role = principal.role().as_str(), "socket.io connected");

    socket.on(
        "join:admin",
        async |socket: Socket, State(core): State<Arc<Core>>, ack: Ack| match principal_of(&socket)
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
        async |socket: Socket,
               State(core): State<Arc<Core>>,
               TryData(client_id): TryData<String>,
               ack: Ack| {
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
            async move |socket: Socket,
                        State(core): State<Arc<Core>>,
                        TryData(data): TryData<Json>,
                        ack: Ack| {
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
            async move |socket: Socket,
                        State(core): State<Arc<Core>>,
                        TryData(data): TryData<Json>,
                        ack: Ack| {
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
            async |socket: Socket,
                   State(core): State<Arc<Core>>,
                   EventName(name): EventName,
                   ack: Ack| {
                let error =
                    Error::Unimplemented(format!("{name} is documented but not served yet"));
                refuse(&socket, &core, Some(ack), &name, &error);
            },
        );
    }
    socket.on_fallback(
        async |socket: Socket,
               State(core): State<Arc<Core>>,
               EventName(name): EventName,
               ack: Ack,
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
        async move |socket: Socket, reason: DisconnectReason, State(core): State<Arc<Core>>| {
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
pub fn register(io: &Io) {
    io.ns("/", on_connect.with(authenticate));
}

#[cfg(test)]
mod tests {
    use super::*;

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
