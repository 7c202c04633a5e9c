//! The ledger's inputs: what the sources (AMI, ARI, webhooks), the agent
//! directory and the commands tell it, source-neutral, each with what it
//! changes documented.

use super::*;

/// A source-neutral fact that changes the ledger. Each carries what the
/// ledger needs and nothing of the wire it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Input {
    /// A call began.
    CallStarted {
        /// switchboard's id for it (the first source's id, prefixed).
        call_id: String,
        /// The sources' identifiers known so far.
        ids: CallIds,
        /// Direction.
        direction: Direction,
        /// The customer's number.
        customer_number: String,
        /// Caller-id name.
        caller_name: String,
        /// What was dialled.
        destination: String,
        /// Dialplan context.
        context: String,
        /// Channel state description.
        channel_state: String,
        /// The queue, when known.
        queue: Option<String>,
        /// The tenant.
        tenant: String,
    },
    /// A target phone of a call rings.
    CallDialing {
        /// The call.
        call_id: String,
        /// The number of the phone that rings.
        target: String,
    },
    /// One dial attempt of a call ended.
    CallDialEnded {
        /// The call.
        call_id: String,
        /// The number of the phone dialled.
        target: String,
        /// How it ended.
        outcome: DialOutcome,
    },
    /// A call was answered, by this agent when known. A call answered again
    /// (by a transfer target) updates who has it.
    CallAnswered {
        /// The call.
        call_id: String,
        /// The answering agent's extension.
        agent_extension: Option<String>,
        /// The number of the answering party, when known.
        answered_by: String,
    },
    /// The party a call was counted as answered by turned out to be a way
    /// through (a `Local/` channel that answered by itself, then dialled on):
    /// the call is unanswered again until a party behind it answers.
    CallAnswerWithdrawn {
        /// The call.
        call_id: String,
    },
    /// A call was transferred.
    CallTransferred {
        /// The call that goes on.
        call_id: String,
        /// The transfer.
        transfer: Transfer,
        /// The caller's number, when the transfer changed who the calling party is.
        customer_number: Option<String>,
        /// The agent who has the call now, when the transfer changed it.
        agent_extension: Option<String>,
        /// The agent who had the call let it go with the transfer and no
        /// agent has it until the target answers (the agent bridge drops the
        /// agent's leg at once; a PBX's own transfer names the next agent).
        agent_released: bool,
        /// The number of the party who has the call now, when the transfer
        /// joined the caller to one who had answered (an attended transfer):
        /// the party that answered last.
        answered_by: Option<String>,
    },
    /// A call went on or off hold.
    CallHeld {
        /// The call.
        call_id: String,
        /// On hold (true) or back (false).
        held: bool,
    },
    /// A call ended.
    CallEnded {
        /// The call.
        call_id: String,
        /// Why.
        reason: EndReason,
    },
    /// An agent logged in (or was discovered logged in).
    AgentLoggedIn {
        /// The extension.
        extension: String,
        /// The agent's id (the extension when none is known).
        agent_id: String,
        /// Display name.
        name: String,
        /// The most concurrent calls.
        max_calls: u32,
        /// Queues served.
        queues: Vec<String>,
    },
    /// An agent from the agent directory (configuration file or admin rpc).
    /// A configured agent counts as signed in until a PBX says otherwise.
    AgentConfigured {
        /// The agent's id.
        agent_id: String,
        /// The extension.
        extension: String,
        /// Display name.
        name: String,
        /// The most concurrent calls.
        max_calls: u32,
    },
    /// A call is offered to an agent: the agent's phone rings (ARI agent bridge).
    CallOffered {
        /// The call.
        call_id: String,
        /// The agent's extension.
        extension: String,
    },
    /// A ringing offer ended without a bridge; `rejected` gives the agent's
    /// reason when the agent turned it down.
    CallOfferWithdrawn {
        /// The call.
        call_id: String,
        /// The agent's extension.
        extension: String,
        /// The agent's reason, when the agent rejected the call.
        rejected: Option<String>,
    },
    /// The customer and the agent were bridged (ARI agent bridge).
    CallBridged {
        /// The call.
        call_id: String,
        /// The agent's extension.
        extension: String,
        /// The bridge.
        bridge_id: String,
    },
    /// The customer of an agent-bridge call hung up or was lost.
    CustomerLeft {
        /// The call.
        call_id: String,
        /// Why.
        reason: LeaveReason,
    },
    /// An agent-bridge call was hung up from switchboard's side: `by` is
    /// [`crate::ledger::finish::AGENT_HANGUP`] or
    /// [`crate::ledger::finish::SUPERVISOR_HANGUP`].
    CallHungUp {
        /// The call.
        call_id: String,
        /// Who hung it up.
        #[serde(deserialize_with = "crate::ledger::agent_bridge::finish::deserialize")]
        by: crate::ledger::agent_bridge::finish::Finish,
    },
    /// A channel of a call changed state (ARI ChannelStateChange).
    ChannelStateChanged {
        /// The call.
        call_id: String,
        /// The channel (its name).
        channel: String,
        /// The new state.
        state: String,
        /// The state before.
        previous_state: String,
    },
    /// An agent-bridge call's priority changed (`normal`, `high`, `low`).
    CallPrioritySet {
        /// The call.
        call_id: String,
        /// The new priority.
        priority: String,
    },
    /// The voice-AI provider says a call started (`call_started` webhook).
    VoiceCallStarted {
        /// The provider's call id.
        call_id: String,
        /// The tenant.
        client_id: String,
        /// The caller's number (only its last four digits go out).
        phone: String,
        /// Direction.
        direction: Direction,
        /// The voice-AI agent.
        agent_id: String,
    },
    /// The voice-AI provider says a call ended (`call_ended` webhook).
    VoiceCallEnded {
        /// The provider's call id.
        call_id: String,
        /// The tenant.
        client_id: String,
        /// Its length, in milliseconds.
        duration_ms: i64,
        /// The provider's final status.
        status: String,
    },
    /// A Twilio status callback for a call (`CallStatus` at `SequenceNumber`).
    TwilioCallStatus {
        /// The Call SID.
        call_sid: String,
        /// Its `SequenceNumber`: callbacks older than the newest applied are stale.
        sequence: i64,
        /// `queued`, `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer`, `canceled`.
        status: String,
        /// Direction.
        direction: Direction,
        /// `From`.
        from: String,
        /// `To`.
        to: String,
    },
    /// An agent logged out.
    AgentLoggedOut {
        /// The extension.
        extension: String,
    },
    /// A queue's settings as the PBX reports them (QueueParams).
    QueueConfigured {
        /// The queue.
        queue: String,
        /// Its service-level threshold in seconds (0: not set, keep the default).
        service_level_seconds: u32,
    },
    /// A queue member was added or changed (QueueMemberAdded, QueueMemberStatus, QueueMemberPause, QueueMember).
    QueueMemberSet {
        /// The queue.
        queue: String,
        /// The member.
        member: QueueMember,
    },
    /// A member left a queue (QueueMemberRemoved).
    QueueMemberRemoved {
        /// The queue.
        queue: String,
        /// The member's interface.
        interface: String,
    },
    /// A caller entered a queue (QueueCallerJoin).
    QueueCallerJoined {
        /// The queue.
        queue: String,
        /// The call.
        call_id: String,
        /// The caller's channel.
        channel: String,
        /// Caller-id number.
        caller_number: String,
        /// Caller-id name.
        caller_name: String,
    },
    /// A caller left the waiting list, answered or not (QueueCallerLeave).
    QueueCallerLeft {
        /// The queue.
        queue: String,
        /// The call.
        call_id: String,
    },
    /// A caller hung up while waiting (QueueCallerAbandon).
    QueueCallerAbandoned {
        /// The queue.
        queue: String,
        /// The call.
        call_id: String,
    },
    /// A member answered a queue call (AgentConnect).
    QueueCallAnswered {
        /// The queue.
        queue: String,
        /// The call.
        call_id: String,
        /// The member's interface.
        interface: String,
        /// How long the caller waited, in seconds (AgentConnect `HoldTime`).
        wait_seconds: u32,
    },
    /// A queue call's talk ended (AgentComplete).
    QueueCallCompleted {
        /// The queue.
        queue: String,
        /// The call.
        call_id: String,
        /// Talk time, in seconds (AgentComplete `TalkTime`).
        talk_seconds: u32,
    },
    /// Another source's identifiers of a call: the AMI side of a call the
    /// ARI agent bridge reports (one PBX, both interfaces). Filled into the
    /// call's empty identifiers, now or when it starts.
    CallLinked {
        /// The call (as the source that reports it names it).
        call_id: String,
        /// The identifiers to add.
        ids: CallIds,
        /// The call it goes on from, announced by the other source before
        /// (an IVR, a queue, then the agent bridge): that one ends on the
        /// gRPC stream as merged (`TRANSFERRED`, no record), and the linked
        /// call takes over its place on the wallboard (its `uniqueid` and
        /// start), with no second `call:new`.
        continues: Option<String>,
    },
    /// An admin set the system mode.
    SystemModeSet {
        /// The new mode.
        mode: String,
    },
    /// The PBX accepted a supervisor's spy call: a session begins.
    SpyStarted {
        /// The session.
        session: SpySession,
    },
    /// A supervisor's spy call ended.
    SpyEnded {
        /// The supervisor's phone.
        supervisor_extension: String,
    },
    /// A source connected, disconnected or failed.
    SourceChanged {
        /// Which source.
        source: Source,
        /// Its link state.
        link: SourceLink,
        /// `host:port`.
        host: String,
        /// What happened.
        message: String,
        /// Seconds to the next attempt.
        retry_in_seconds: u32,
    },
}
