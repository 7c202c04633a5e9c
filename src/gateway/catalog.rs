//! The table of every documented Socket.IO event: its name, which way it
//! travels, the protobuf message its payload is the JSON form of, and the
//! rooms it goes to. The gateway routes with it; `switchboard-codegen` turns
//! it into the AsyncAPI document and the JSON Schemas in `gen/`.

/// Which way an event travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Emitted by switchboard.
    ServerToClient,
    /// Sent by a client.
    ClientToServer,
}

/// How the payload relates to its protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The message's JSON object.
    Message,
    /// The named repeated field of the message, as a bare JSON array.
    ArrayOf(&'static str),
    /// The message's JSON object without these fields.
    MessageWithout(&'static [&'static str]),
    /// A bare JSON string (an id or a choice); `message` is empty.
    BareString,
    /// No payload at all; `message` is empty.
    Nothing,
}

/// One documented Socket.IO event.
#[derive(Debug, Clone, Copy)]
pub struct SocketEvent {
    /// The event name on the wire.
    pub name: &'static str,
    /// Which way it travels.
    pub direction: Direction,
    /// The protobuf message (full name) the payload is the JSON form of; empty for bare strings and no payload.
    pub message: &'static str,
    /// How the payload is shaped from the message.
    pub shape: Shape,
    /// Where it goes (server→client) or what it does (client→server), for the AsyncAPI document.
    pub rooms: &'static str,
    /// The seed that documents it.
    pub seed: &'static str,
    /// One line on when it happens.
    pub summary: &'static str,
}

const fn out(
    name: &'static str,
    message: &'static str,
    shape: Shape,
    rooms: &'static str,
    seed: &'static str,
    summary: &'static str,
) -> SocketEvent {
    SocketEvent {
        name,
        direction: Direction::ServerToClient,
        message,
        shape,
        rooms,
        seed,
        summary,
    }
}

const fn inbound(
    name: &'static str,
    message: &'static str,
    shape: Shape,
    effect: &'static str,
    seed: &'static str,
    summary: &'static str,
) -> SocketEvent {
    SocketEvent {
        name,
        direction: Direction::ClientToServer,
        message,
        shape,
        rooms: effect,
        seed,
        summary,
    }
}

use Shape::{ArrayOf, BareString, Message, MessageWithout};

const EVERYONE: &str =
    "every staff socket (all roles but client); tenant events also masked to client:{clientId}";

/// Every documented event. Names listed twice are documented aliases; both are emitted.
pub static CATALOG: &[SocketEvent] = &[
    // Seed 000: ARI agent bridge.
    out(
        "call_incoming",
        "switchboard.v1.CallIncoming",
        Message,
        EVERYONE,
        "000",
        "a customer channel entered the Stasis app for an agent",
    ),
    out(
        "incoming_call_for_agent",
        "switchboard.v1.CallIncoming",
        Message,
        EVERYONE,
        "000",
        "alias of call_incoming",
    ),
    out(
        "call_bridged_successfully",
        "switchboard.v1.CallBridged",
        Message,
        EVERYONE,
        "000",
        "customer and agent are bridged; start the timer",
    ),
    out(
        "call_answered",
        "switchboard.v1.CallBridged",
        Message,
        EVERYONE,
        "000",
        "alias of call_bridged_successfully",
    ),
    out(
        "customer_left_bridge",
        "switchboard.v1.CustomerLeftBridge",
        Message,
        EVERYONE,
        "000",
        "the customer hung up or was lost",
    ),
    out(
        "call_ended_normally",
        "switchboard.v1.CallSummary",
        Message,
        EVERYONE,
        "000",
        "the agent side ended a bridged call",
    ),
    out(
        "agent_rejected_call",
        "switchboard.v1.AgentRejectedCall",
        Message,
        EVERYONE,
        "000",
        "the agent rejected a ringing call",
    ),
    out(
        "call_state_changed",
        "switchboard.v1.CallStateChanged",
        Message,
        EVERYONE,
        "000",
        "a channel changed state",
    ),
    out(
        "call_ended",
        "switchboard.v1.CallSummary",
        Message,
        EVERYONE,
        "000",
        "a channel left the Stasis app",
    ),
    out(
        "system_state",
        "switchboard.v1.SystemState",
        Message,
        "the socket that just connected",
        "000",
        "the whole live picture, on connect",
    ),
    out(
        "agent_status_updated",
        "switchboard.v1.AgentStatusUpdated",
        Message,
        EVERYONE,
        "000",
        "an agent's status changed",
    ),
    out(
        "system_stats",
        "switchboard.v1.SystemStats",
        Message,
        "staff (house-wide figures); client:{clientId} (figures over that tenant's calls and agents)",
        "000",
        "measured figures, every STATS_INTERVAL_SECONDS",
    ),
    out(
        "incoming_queue_call",
        "switchboard.v1.IncomingQueueCall",
        Message,
        EVERYONE,
        "000",
        "a caller waits in a queue for a supervisor to assign",
    ),
    // Seed 002: AMI watcher.
    out(
        "ami:connected",
        "switchboard.v1.SourceStatus",
        Message,
        EVERYONE,
        "002",
        "the AMI connection is up",
    ),
    out(
        "ami:disconnected",
        "switchboard.v1.SourceStatus",
        Message,
        EVERYONE,
        "002",
        "the AMI connection was lost",
    ),
    out(
        "ami:error",
        "switchboard.v1.SourceStatus",
        Message,
        EVERYONE,
        "002",
        "AMI login or protocol error",
    ),
    out(
        "call:new",
        "switchboard.v1.ActiveCall",
        Message,
        EVERYONE,
        "002",
        "a call started",
    ),
    out(
        "call:answered",
        "switchboard.v1.ActiveCall",
        Message,
        EVERYONE,
        "002",
        "a call was answered",
    ),
    out(
        "call:ended",
        "switchboard.v1.ActiveCall",
        Message,
        EVERYONE,
        "002",
        "a call ended (AMI); not sent to a socket that joined the 003 rooms (join:admin, join:client), which gets the 003 call:ended only",
    ),
    out(
        "calls:active",
        "switchboard.v1.ActiveCallList",
        ArrayOf("calls"),
        EVERYONE,
        "002",
        "all active calls, on connect and on every change",
    ),
    out(
        "agent:login",
        "switchboard.v1.WallboardAgent",
        Message,
        EVERYONE,
        "002",
        "an agent logged in",
    ),
    out(
        "agent:logout",
        "switchboard.v1.WallboardAgent",
        Message,
        EVERYONE,
        "002",
        "an agent logged out",
    ),
    out(
        "agents:status",
        "switchboard.v1.WallboardAgentList",
        ArrayOf("agents"),
        EVERYONE,
        "002",
        "every agent's status, on connect and on change",
    ),
    out(
        "queue:caller_joined",
        "switchboard.v1.QueueCallerJoined",
        Message,
        EVERYONE,
        "002",
        "a caller joined a queue",
    ),
    out(
        "queues:stats",
        "switchboard.v1.QueueStatsList",
        ArrayOf("queues"),
        EVERYONE,
        "002",
        "statistics of every queue",
    ),
    out(
        "supervisor:action",
        "switchboard.v1.SupervisorAction",
        Message,
        "staff sockets",
        "002",
        "a supervisor action and its outcome",
    ),
    out(
        "supervisor:session",
        "switchboard.v1.SpySession",
        Message,
        "staff sockets",
        "—",
        "a supervisor's spy session began or ended: who listens to whom, in which mode, since when",
    ),
    // Agent-bridge commands (seed 000 implies them; names follow the gRPC
    // CallControlService). Each is acknowledged with the rpc's response
    // (`{call}`) or a ClientError (`{error, message, event}`).
    inbound(
        "answer_call",
        "switchboard.v1.AnswerCallRequest",
        Message,
        "rings the agent's phone again with auto-answer, then bridges (the agent it rings, or staff)",
        "000",
        "the agent takes a ringing call from the desktop",
    ),
    inbound(
        "reject_call",
        "switchboard.v1.RejectCallRequest",
        Message,
        "withdraws the offer; agent_rejected_call; a direct call ends busy, a queue call goes back to its queue",
        "000",
        "the agent turns a ringing call down",
    ),
    inbound(
        "hangup_call",
        "switchboard.v1.HangupCallRequest",
        Message,
        "ends the call; call_ended_normally when the agent ends a bridged call",
        "000",
        "the agent (or a supervisor) ends the call",
    ),
    inbound(
        "hold_call",
        "switchboard.v1.HoldCallRequest",
        Message,
        "ARI hold on the customer's channel; the call record counts hold time",
        "000",
        "hold or resume (on: true/false)",
    ),
    inbound(
        "mute_call",
        "switchboard.v1.MuteCallRequest",
        Message,
        "ARI mute of the agent's leg towards the customer",
        "000",
        "mute or unmute (on: true/false)",
    ),
    inbound(
        "transfer_call",
        "switchboard.v1.TransferCallRequest",
        Message,
        "releases the agent; rings the target agent (call_incoming) or puts the caller in the target queue",
        "000",
        "hand the call to another agent's extension or a queue number",
    ),
    inbound(
        "assign_queue_call",
        "switchboard.v1.AssignQueueCallRequest",
        Message,
        "takes the caller out of the queue and offers the call to the agent (supervisors)",
        "000",
        "a supervisor assigns a waiting queue call",
    ),
    inbound(
        "set_call_priority",
        "switchboard.v1.SetCallPriorityRequest",
        Message,
        "reorders the queue; incoming_queue_call again with the new position (supervisors)",
        "000",
        "high, normal or low",
    ),
    inbound(
        "supervisor:monitor",
        "switchboard.v1.SpyRequest",
        Message,
        "AMI Originate of the supervisor's phone into spy-monitor (ChanSpy q)",
        "002",
        "listen to an agent's call",
    ),
    inbound(
        "supervisor:whisper",
        "switchboard.v1.SpyRequest",
        MessageWithout(&["callUniqueId"]),
        "AMI Originate into spy-whisper (ChanSpy qw)",
        "002",
        "talk to the agent only",
    ),
    inbound(
        "supervisor:barge",
        "switchboard.v1.SpyRequest",
        MessageWithout(&["callUniqueId"]),
        "AMI Originate into spy-barge (ChanSpy qB)",
        "002",
        "join the call",
    ),
    out(
        "error-event",
        "switchboard.v1.ClientError",
        Message,
        "the sender",
        "001",
        "what the socket sent was refused; also its acknowledgement when one was asked for",
    ),
    out(
        "events-dropped",
        "switchboard.v1.EventsDropped",
        Message,
        "the socket that lost events",
        "—",
        "this socket's buffer was full and it lost count events; resumedAt is the sequence of the next event sent",
    ),
    // Seed 001: chat.
    out(
        "new-conversation",
        "switchboard.v1.NewConversation",
        Message,
        "agents",
        "001",
        "a customer started a conversation",
    ),
    out(
        "new-message",
        "switchboard.v1.ChatMessage",
        Message,
        "agents",
        "001",
        "a message was stored",
    ),
    out(
        "agent-message",
        "switchboard.v1.ChatMessage",
        Message,
        "{conversationId}",
        "001",
        "an agent's message, to the customer widget",
    ),
    out(
        "connected-agents-update",
        "switchboard.v1.ConnectedAgentsUpdate",
        Message,
        "agents",
        "001",
        "the list of online agents changed",
    ),
    out(
        "system-mode-update",
        "switchboard.v1.SystemModeUpdate",
        Message,
        "agents",
        "001",
        "the system mode changed",
    ),
    out(
        "tickets-reassigned",
        "switchboard.v1.TicketsReassigned",
        Message,
        "agents",
        "001",
        "conversations moved between agents",
    ),
    out(
        "customer-typing-status",
        "switchboard.v1.CustomerTypingStatus",
        Message,
        "agents",
        "001",
        "the customer is typing",
    ),
    out(
        "agent-typing-status",
        "switchboard.v1.AgentTypingStatus",
        MessageWithout(&["conversationId"]),
        "{conversationId}",
        "001",
        "the agent is typing",
    ),
    out(
        "heartbeat-ack",
        "switchboard.v1.HeartbeatAck",
        Message,
        "the sender",
        "001",
        "answer to heartbeat",
    ),
    out(
        "current-state",
        "switchboard.v1.ConnectedAgentsUpdate",
        Message,
        "the sender",
        "001",
        "answer to request-current-state connected-agents",
    ),
    out(
        "current-state",
        "switchboard.v1.SystemModeUpdate",
        Message,
        "the sender",
        "001",
        "answer to request-current-state system-mode",
    ),
    inbound(
        "join-agent-dashboard",
        "",
        BareString,
        "joins room agents; answers system-mode-update and connected-agents-update",
        "001",
        "payload: the agentId string",
    ),
    inbound(
        "agent-typing",
        "switchboard.v1.TypingRequest",
        Message,
        "agent-typing-status to the conversation room",
        "001",
        "the agent types",
    ),
    inbound(
        "heartbeat",
        "switchboard.v1.HeartbeatRequest",
        Message,
        "heartbeat-ack; refreshes the agent's activity time",
        "001",
        "every 15 s",
    ),
    inbound(
        "request-current-state",
        "",
        BareString,
        "current-state",
        "001",
        "payload: connected-agents or system-mode",
    ),
    inbound(
        "join-conversation",
        "",
        BareString,
        "joins the conversation's room",
        "001",
        "payload: the conversationId string",
    ),
    inbound(
        "customer-typing",
        "switchboard.v1.TypingRequest",
        Message,
        "customer-typing-status to agents",
        "001",
        "the customer types",
    ),
    // Seed 003: voice-AI webhooks.
    out(
        "call:started",
        "switchboard.v1.VoiceCallStarted",
        Message,
        "admin, client:{clientId}",
        "003",
        "the voice-AI provider reported call_started",
    ),
    out(
        "call:ended",
        "switchboard.v1.VoiceCallEnded",
        Message,
        "admin, client:{clientId}",
        "003",
        "the voice-AI provider reported call_ended (same name as the AMI call:ended, another shape: a socket that joined these rooms gets this one only)",
    ),
    inbound(
        "join:admin",
        "",
        Shape::Nothing,
        "joins room admin (role admin only)",
        "003",
        "no payload",
    ),
    inbound(
        "join:client",
        "",
        BareString,
        "joins room client:{clientId} (admin, or the client itself)",
        "003",
        "payload: the clientId string",
    ),
    // Seed 004: transfer to a human agent.
    out(
        "transfer:update",
        "switchboard.v1.TransferUpdate",
        Message,
        "staff sockets",
        "004",
        "a transfer to a human agent changed state",
    ),
];

impl SocketEvent {
    /// The file of this payload's JSON Schema under `gen/jsonschema/`.
    pub fn schema_file(&self) -> String {
        let direction = match self.direction {
            Direction::ServerToClient => "out",
            Direction::ClientToServer => "in",
        };
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let payload = match self.shape {
            Shape::BareString => "string",
            Shape::Nothing => "none",
            _ => self.message.rsplit('.').next().unwrap_or(self.message),
        };
        format!("{direction}.{name}.{payload}.schema.json")
    }
}

/// The catalog entries named `name` travelling `direction`.
pub fn lookup(name: &str, direction: Direction) -> impl Iterator<Item = &'static SocketEvent> {
    CATALOG
        .iter()
        .filter(move |e| e.name == name && e.direction == direction)
}

/// The catalog's own spelling of seed `name` (`"002"`), when it documents one.
pub fn seed_named(name: &str) -> Option<&'static str> {
    CATALOG
        .iter()
        .map(|entry| entry.seed)
        .find(|seed| *seed == name)
}

/// Whether several seeds emit events named `name` in different shapes (the
/// AMI watcher's and the voice-AI webhooks' `call:ended`).
pub fn name_is_shared(name: &str) -> bool {
    let mut seeds = lookup(name, Direction::ServerToClient).map(|entry| entry.seed);
    seeds
        .next()
        .is_some_and(|first| seeds.any(|seed| seed != first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::DESCRIPTOR_POOL;

    #[test]
    fn call_ended_is_the_one_name_two_seeds_share() {
        let shared: std::collections::BTreeSet<&str> = CATALOG
            .iter()
            .filter(|entry| name_is_shared(entry.name))
            .map(|entry| entry.name)
            .collect();
        assert_eq!(shared.into_iter().collect::<Vec<_>>(), ["call:ended"]);
    }

    #[test]
    fn every_entry_names_a_real_message_and_field() {
        for entry in CATALOG {
            if matches!(entry.shape, Shape::BareString | Shape::Nothing) {
                assert!(entry.message.is_empty(), "{}", entry.name);
                continue;
            }
            let message = DESCRIPTOR_POOL
                .get_message_by_name(entry.message)
                .unwrap_or_else(|| panic!("{} names {}", entry.name, entry.message));
            match entry.shape {
                Shape::ArrayOf(field) => assert!(
                    message
                        .get_field_by_name(field)
                        .is_some_and(|f| f.is_list()),
                    "{}",
                    entry.name
                ),
                Shape::MessageWithout(fields) => {
                    for json_name in fields {
                        assert!(
                            message.get_field_by_json_name(json_name).is_some(),
                            "{}",
                            entry.name
                        );
                    }
                }
                Shape::Message | Shape::BareString | Shape::Nothing => {}
            }
        }
    }

    #[test]
    fn every_events_md_name_is_in_the_catalog() {
        let documented = [
            "call_incoming",
            "incoming_call_for_agent",
            "call_bridged_successfully",
            "call_answered",
            "customer_left_bridge",
            "call_ended_normally",
            "agent_rejected_call",
            "call_state_changed",
            "call_ended",
            "system_state",
            "agent_status_updated",
            "system_stats",
            "incoming_queue_call",
            "join-agent-dashboard",
            "agent-typing",
            "heartbeat",
            "request-current-state",
            "join-conversation",
            "customer-typing",
            "new-conversation",
            "new-message",
            "agent-message",
            "connected-agents-update",
            "system-mode-update",
            "tickets-reassigned",
            "customer-typing-status",
            "agent-typing-status",
            "heartbeat-ack",
            "current-state",
            "supervisor:monitor",
            "supervisor:whisper",
            "supervisor:barge",
            "ami:connected",
            "ami:disconnected",
            "ami:error",
            "call:new",
            "call:answered",
            "call:ended",
            "calls:active",
            "agent:login",
            "agent:logout",
            "agents:status",
            "queue:caller_joined",
            "queues:stats",
            "join:admin",
            "join:client",
            "call:started",
        ];
        for name in documented {
            assert!(CATALOG.iter().any(|e| e.name == name), "{name} missing");
        }
    }
}
