//! The Socket.IO compatibility gateway: re-emits the log as the documented
//! JSON events (names, rooms and shapes of `EVENTS.md`), and answers the
//! documented client events. It holds no state of its own.

pub mod catalog;
mod chat;
pub mod client;
mod fanout;
mod lists;
pub mod recovery;
mod sockets;

pub use client::{
    Ack, Client, GreetingKind, JoinerInbox, Joiners, Joining, SeedFilter, Services, Socket, joiners,
};
pub use fanout::run_fanout;
pub use sockets::{Gateway, Io};

use prost_reflect::ReflectMessage;
use serde_json::Value as Json;

use crate::proto::v1::{self as pb, event::Payload};
use crate::socket_json::{self, masked};
use crate::socketio::engine::Framed;
use crate::socketio::server::{event_message, event_message_at};
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
            if let Some(name) = source_status_event(m) {
                emit(name, m, staff);
            }
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

/// The Socket.IO event of a source's status (`ami:connected`, …), for the
/// sources the seeds report on.
pub fn source_status_event(status: &pb::SourceStatus) -> Option<&'static str> {
    match (status.source(), status.state()) {
        (pb::SourceKind::Ami, pb::SourceState::Connected) => Some("ami:connected"),
        (pb::SourceKind::Ami, pb::SourceState::Disconnected) => Some("ami:disconnected"),
        (pb::SourceKind::Ami, pb::SourceState::Error) => Some("ami:error"),
        _ => None,
    }
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

/// One emission as sent: framed once, kept for replay.
#[derive(Clone)]
struct Sent {
    pub(super) name: &'static str,
    pub(super) room: String,
    pub(super) seed: &'static str,
    /// The Engine.IO message that carries it, the same for every socket.
    pub(super) framed: Framed,
}

/// The emissions of one event, each framed once.
fn emissions(event: &pb::Event) -> Vec<Sent> {
    emissions_with(event, false)
}

/// The emissions of one event, each framed once; with `offsets`, each
/// carries its recovery offset (see [`recovery`]), whole lists excepted.
fn emissions_with(event: &pb::Event, offsets: bool) -> Vec<Sent> {
    let offsets = offsets && !lists::ListRounds::<()>::is_list(event);
    route(event)
        .into_iter()
        .enumerate()
        .filter_map(
            |(index, emission)| match serde_json::to_string(&emission.payload) {
                Ok(payload) => Some(Sent {
                    name: emission.name,
                    framed: if offsets {
                        let offset = recovery::Offset::emission(event.sequence, index);
                        event_message_at(emission.name, &payload, &offset)
                    } else {
                        event_message(emission.name, &payload)
                    },
                    room: emission.room,
                    seed: emission.seed,
                }),
                Err(error) => {
                    tracing::error!(event = emission.name, %error, "payload not serializable");
                    None
                }
            },
        )
        .collect()
}
