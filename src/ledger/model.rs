//! The ledger's domain types: what it knows about calls, agents and queues,
//! and the source-neutral inputs that change it. No wire types here.

use crate::time::Instant;

/// Which way a call travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Not known.
    #[default]
    Unknown,
    /// A customer called in.
    Inbound,
    /// The contact center called out.
    Outbound,
    /// Between internal extensions.
    Internal,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Answered, then ended.
    Completed,
    /// The caller gave up before an answer.
    Abandoned,
    /// Nobody answered.
    NoAnswer,
    /// The called side was busy.
    Busy,
    /// The agent rejected it.
    Rejected,
    /// The network or the phone system failed.
    Failed,
    /// Handed over to another leg.
    Transferred,
}

/// Every identifier the sources use for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallIds {
    /// AMI Uniqueid of the first channel.
    pub ami_uniqueid: String,
    /// AMI Linkedid.
    pub ami_linkedid: String,
    /// Asterisk channel name.
    pub channel: String,
    /// ARI channel id.
    pub ari_channel_id: String,
    /// ARI bridge id.
    pub ari_bridge_id: String,
    /// Twilio Call SID.
    pub twilio_call_sid: String,
    /// Voice-AI provider call id.
    pub voice_ai_call_id: String,
    /// WebRTC session id.
    pub webrtc_call_id: String,
}

/// One call the ledger tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// switchboard's id for the call.
    pub call_id: String,
    /// The sources' identifiers.
    pub ids: CallIds,
    /// Direction.
    pub direction: Direction,
    /// The customer's number.
    pub customer_number: String,
    /// The caller-id name.
    pub caller_name: String,
    /// What was dialled.
    pub destination: String,
    /// The dialplan context.
    pub context: String,
    /// The Asterisk channel state description (`Ring`, `Up`, …).
    pub channel_state: String,
    /// The agent's extension once known.
    pub agent_extension: Option<String>,
    /// The queue, when the call went through one.
    pub queue: Option<String>,
    /// The tenant, empty for the house.
    pub tenant: String,
    /// When it started.
    pub started_at: Instant,
    /// When it was answered.
    pub answered_at: Option<Instant>,
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Free.
    Available,
    /// A call rings.
    Ringing,
    /// On one call.
    OnCall,
    /// On several calls.
    MultiCall,
    /// Logged out.
    Offline,
}

/// One agent the ledger tracks.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// The agent's id.
    pub agent_id: String,
    /// The extension.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Logged in (false: offline whatever the calls say).
    pub logged_in: bool,
    /// The most calls the agent may hold at once.
    pub max_calls: u32,
    /// The calls the agent holds, by call id.
    pub call_ids: Vec<String>,
    /// Calls answered since midnight (UTC).
    pub calls_today: u32,
    /// The queues the agent serves.
    pub queues: Vec<String>,
    /// When the agent logged in.
    pub login_time: Option<Instant>,
    /// When the availability last changed.
    pub status_changed_at: Instant,
    /// When anything last changed.
    pub last_update: Instant,
    /// The tenant, empty for the house.
    pub tenant: String,
}

impl AgentRecord {
    /// The availability derived from login state and calls held.
    pub fn availability(&self) -> Availability {
        match (self.logged_in, self.call_ids.len()) {
            (false, _) => Availability::Offline,
            (true, 0) => Availability::Available,
            (true, 1) => Availability::OnCall,
            (true, _) => Availability::MultiCall,
        }
    }

    /// Whether one more call may be offered.
    pub fn can_take_call(&self) -> bool {
        self.logged_in && (self.call_ids.len() as u32) < self.max_calls
    }
}

/// A phone-system source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Asterisk Manager Interface.
    Ami,
    /// Asterisk REST Interface.
    Ari,
    /// Twilio webhooks.
    Twilio,
    /// Voice-AI webhooks.
    VoiceAi,
}

/// The state of a source's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceLink {
    /// Connected and logged in.
    Connected,
    /// Lost; retrying.
    Disconnected,
    /// Failed (bad login, protocol error).
    Error,
}

/// A source-neutral fact that changes the ledger. Each carries what the
/// ledger needs and nothing of the wire it came from.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "inputs are moved straight into the ledger, never stored in bulk"
)]
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
    /// A call was answered, by this agent when known.
    CallAnswered {
        /// The call.
        call_id: String,
        /// The answering agent's extension.
        agent_extension: Option<String>,
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
    /// An agent logged out.
    AgentLoggedOut {
        /// The extension.
        extension: String,
    },
    /// An admin set the system mode.
    SystemModeSet {
        /// The new mode.
        mode: String,
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

/// Figures the ledger measures for `system_stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerFigures {
    /// Calls in progress.
    pub total_sessions: u32,
    /// Agents on at least one call.
    pub active_agents: u32,
    /// Agents free to take a call.
    pub available_agents: u32,
    /// Calls in progress per agent on a call.
    pub avg_calls_per_agent: f64,
    /// Calls started in the last 60 s.
    pub calls_per_minute: u32,
    /// Most concurrent calls since midnight (UTC).
    pub peak_concurrent_calls: u32,
    /// Percentage of ended calls that were answered, since midnight; `None` before the first.
    pub success_rate: Option<f64>,
    /// Whether every source that ever reported is connected now.
    pub sources_healthy: bool,
}
