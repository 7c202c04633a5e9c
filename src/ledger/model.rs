//! The ledger's domain types: what it knows about calls, agents and queues,
//! and the source-neutral inputs that change it. No wire types here.

mod input;

pub use input::Input;

use crate::time::Instant;

/// Which way a call travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Ended while the source was unreachable; the true reason is unknown.
    Lost,
}

/// Every identifier the sources use for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

impl CallIds {
    /// Fills each empty identifier with `other`'s.
    pub fn fill_from(&mut self, other: CallIds) {
        let fill = |mine: &mut String, theirs: String| {
            if mine.is_empty() {
                *mine = theirs;
            }
        };
        fill(&mut self.ami_uniqueid, other.ami_uniqueid);
        fill(&mut self.ami_linkedid, other.ami_linkedid);
        fill(&mut self.channel, other.channel);
        fill(&mut self.ari_channel_id, other.ari_channel_id);
        fill(&mut self.ari_bridge_id, other.ari_bridge_id);
        fill(&mut self.twilio_call_sid, other.twilio_call_sid);
        fill(&mut self.voice_ai_call_id, other.voice_ai_call_id);
        fill(&mut self.webrtc_call_id, other.webrtc_call_id);
    }
}

/// One call the ledger tracks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// The number of the party that answered last.
    pub answered_by: String,
    /// Since when it is on hold, while it is.
    pub held_since: Option<Instant>,
    /// Milliseconds on hold before `held_since`.
    pub held_ms: u64,
    /// Transfers, oldest first.
    pub transfers: Vec<Transfer>,
    /// Calls merged into this one by attended or blonde transfers.
    pub merged_call_ids: Vec<String>,
    /// The agent whose phone rings with this call, while it rings (ARI agent bridge).
    pub offered_to: Option<String>,
    /// When the customer and the agent were first bridged (ARI agent bridge).
    pub bridged_at: Option<Instant>,
    /// The call's priority for the agent bridge: `normal`, `high` or `low`.
    pub priority: String,
    /// How an agent-bridge call finished (`customer_hangup`, `agent_hangup`, …), once known.
    pub finish: Option<String>,
}

impl CallRecord {
    /// The id a seed-002 wallboard keys the call by (`uniqueid` in its events,
    /// `currentCall` of its agent, `queue:caller_joined`): the PBX's id of the
    /// caller's channel — AMI's Uniqueid, or for a call only the agent bridge
    /// reports its ARI channel id (the same id) — else the id of the source
    /// that reported the call, else switchboard's own. Unique and stable for
    /// the call's life.
    pub fn uniqueid(&self) -> &str {
        [
            &self.ids.ami_uniqueid,
            &self.ids.ari_channel_id,
            &self.ids.twilio_call_sid,
            &self.ids.voice_ai_call_id,
            &self.ids.webrtc_call_id,
        ]
        .into_iter()
        .find(|id| !id.is_empty())
        .unwrap_or(&self.call_id)
    }

    /// Milliseconds on hold up to `now`.
    pub fn hold_ms(&self, now: Instant) -> u64 {
        self.held_ms
            + self
                .held_since
                .map_or(0, |since| crate::time::millis_between(since, now))
    }
}

/// How a transfer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TransferKind {
    /// Sent to a number; the transferer left at once.
    Blind,
    /// The transferer talked to the target, then joined both.
    Attended,
    /// Joined while the target still rang.
    Blonde,
}

/// One transfer in a call's chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    /// Blind, attended or blonde.
    pub kind: TransferKind,
    /// The number of the party who transferred.
    pub transferer: String,
    /// The number or extension the call went to.
    pub target: String,
    /// The consultation call merged into this one (attended, blonde).
    pub merged_call_id: Option<String>,
    /// When (the ledger stamps it as it applies the transfer).
    pub at: Instant,
}

/// How one dial attempt ended (AMI `DialStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DialOutcome {
    /// `ANSWER`.
    Answer,
    /// `BUSY`: busy or rejected.
    Busy,
    /// `NOANSWER`.
    NoAnswer,
    /// `CANCEL`: called off.
    Cancel,
    /// `CONGESTION`.
    Congestion,
    /// `CHANUNAVAIL` and anything else that means unreachable.
    Unavailable,
}

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Calls ringing on the agent's phone, not yet answered, by call id.
    pub ringing: Vec<String>,
    /// Set from the agent directory (file or admin rpc): a PBX login does not
    /// replace the id, name and capacity configured here.
    pub configured: bool,
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
            (true, 0) if !self.ringing.is_empty() => Availability::Ringing,
            (true, 0) => Availability::Available,
            (true, 1) => Availability::OnCall,
            (true, _) => Availability::MultiCall,
        }
    }

    /// Whether one more call may be offered: calls held and ringing stay under the maximum.
    pub fn can_take_call(&self) -> bool {
        self.logged_in && ((self.call_ids.len() + self.ringing.len()) as u32) < self.max_calls
    }

    /// The 1-based index of `call_id` among the agent's calls, held then ringing; 0 when not one of them.
    pub fn call_index(&self, call_id: &str) -> u32 {
        self.call_ids
            .iter()
            .chain(&self.ringing)
            .position(|id| id == call_id)
            .map_or(0, |i| i as u32 + 1)
    }
}

/// The service-level threshold a queue is measured against when the PBX gives none, in seconds.
pub const DEFAULT_SERVICE_LEVEL_SECONDS: u32 = 20;

/// One member (agent interface) of a queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueMember {
    /// The member's interface (`Local/1001@agents/n`, `PJSIP/1001`).
    pub interface: String,
    /// The member's name (`Agent 1001`).
    pub name: String,
    /// The agent's extension behind the interface, when it names one.
    pub extension: Option<String>,
    /// Paused: takes no queue calls.
    pub paused: bool,
    /// Why the member paused (AMI `PausedReason`), or empty.
    pub pause_reason: String,
    /// The member's device is free (AMI device state `Not in use`).
    pub device_free: bool,
}

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaitingCaller {
    /// The call.
    pub call_id: String,
    /// When the caller joined.
    pub since: Instant,
}

/// A queue's counters since midnight (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueDay {
    /// Calls answered by a member.
    pub answered: u32,
    /// Of those, answered within the service-level threshold.
    pub answered_within_threshold: u32,
    /// Callers who hung up while waiting.
    pub abandoned: u32,
    /// Total wait of answered calls, in seconds.
    pub answered_wait_seconds: u64,
    /// Calls completed (talk ended).
    pub completed: u32,
    /// Total talk time of completed calls, in seconds.
    pub talk_seconds: u64,
}

/// One queue the ledger tracks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueRecord {
    /// The queue's name.
    pub name: String,
    /// The extension that reaches it, when known.
    pub number: String,
    /// The service-level threshold, in seconds.
    pub service_level_seconds: u32,
    /// Members by interface.
    pub members: std::collections::BTreeMap<String, QueueMember>,
    /// Callers waiting, in queue order.
    pub waiting: Vec<WaitingCaller>,
    /// Today's counters.
    pub day: QueueDay,
    /// The tenant, empty for the house.
    pub tenant: String,
}

impl QueueRecord {
    /// An empty queue named `name`.
    pub fn new(name: &str) -> Self {
        QueueRecord {
            name: name.to_owned(),
            number: String::new(),
            service_level_seconds: DEFAULT_SERVICE_LEVEL_SECONDS,
            members: std::collections::BTreeMap::new(),
            waiting: Vec::new(),
            day: QueueDay::default(),
            tenant: String::new(),
        }
    }

    /// Members free to take a call now: not paused, device free.
    pub fn available(&self) -> u32 {
        self.members
            .values()
            .filter(|m| !m.paused && m.device_free)
            .count() as u32
    }

    /// The longest current wait at `now`, in whole seconds.
    pub fn longest_wait(&self, now: Instant) -> u32 {
        self.waiting
            .iter()
            .map(|w| crate::time::whole_seconds_between(w.since, now))
            .max()
            .unwrap_or(0)
    }

    /// Percentage of answered calls answered within the threshold; `None` before the first.
    pub fn service_level(&self) -> Option<f64> {
        (self.day.answered > 0)
            .then(|| percent(self.day.answered_within_threshold, self.day.answered))
    }

    /// Mean wait before answer, in seconds; `None` before the first answer.
    pub fn average_speed_of_answer(&self) -> Option<f64> {
        (self.day.answered > 0).then(|| {
            (self.day.answered_wait_seconds as f64 / f64::from(self.day.answered) * 10.0).round()
                / 10.0
        })
    }

    /// Percentage of offered calls abandoned; `None` before the first answered or abandoned call.
    pub fn abandon_rate(&self) -> Option<f64> {
        let offered = self.day.answered + self.day.abandoned;
        (offered > 0).then(|| percent(self.day.abandoned, offered))
    }
}

/// `part` as a percentage of `whole`, one decimal.
fn percent(part: u32, whole: u32) -> f64 {
    (f64::from(part) / f64::from(whole) * 1000.0).round() / 10.0
}

/// A phone-system source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SourceLink {
    /// Connected and logged in.
    Connected,
    /// Lost; retrying.
    Disconnected,
    /// Failed (bad login, protocol error).
    Error,
}

/// Why a customer left an agent-bridge call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LeaveReason {
    /// The customer hung up.
    CustomerDisconnected,
    /// The channel was lost (network or media failure).
    NetworkIssue,
    /// Nobody answered in time.
    Timeout,
}

/// How a supervisor listens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SpyMode {
    /// Listen only.
    Monitor,
    /// Talk to the agent only.
    Whisper,
    /// Talk to both.
    Barge,
}

/// A supervisor listening to an agent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpySession {
    /// The session id (the action's id).
    pub session_id: String,
    /// The supervisor (token subject).
    pub supervisor: String,
    /// The supervisor's phone.
    pub supervisor_extension: String,
    /// The mode.
    pub mode: SpyMode,
    /// The agent listened to.
    pub agent_extension: String,
    /// The call, when known.
    pub call_id: String,
    /// Since when (the ledger stamps it).
    pub since: Instant,
}

/// Figures the ledger measures for `system_stats`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Percentage of ended calls that were answered, since midnight; 0 before the first.
    pub success_rate: f64,
    /// Calls ended since midnight.
    pub calls_ended_today: u32,
    /// Whether every source that ever reported is connected now.
    pub sources_healthy: bool,
}
