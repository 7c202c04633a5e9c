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
    /// Ended while the source was unreachable; the true reason is unknown.
    Lost,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// Sent to a number; the transferer left at once.
    Blind,
    /// The transferer talked to the target, then joined both.
    Attended,
    /// Joined while the target still rang.
    Blonde,
}

/// One transfer in a call's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCaller {
    /// The call.
    pub call_id: String,
    /// When the caller joined.
    pub since: Instant,
}

/// A queue's counters since midnight (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq)]
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

/// Why a customer left an agent-bridge call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The customer hung up.
    CustomerDisconnected,
    /// The channel was lost (network or media failure).
    NetworkIssue,
    /// Nobody answered in time.
    Timeout,
}

/// A source-neutral fact that changes the ledger. Each carries what the
/// ledger needs and nothing of the wire it came from.
#[derive(Debug, Clone, PartialEq)]
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
        by: &'static str,
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

/// How a supervisor listens in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpyMode {
    /// Listen only.
    Monitor,
    /// Talk to the agent only.
    Whisper,
    /// Talk to both.
    Barge,
}

/// A supervisor listening to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Percentage of ended calls that were answered, since midnight; 0 before the first.
    pub success_rate: f64,
    /// Calls ended since midnight.
    pub calls_ended_today: u32,
    /// Whether every source that ever reported is connected now.
    pub sources_healthy: bool,
}
