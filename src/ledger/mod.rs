//! The ledger: the live picture of calls, agents, queues and system mode as a
//! pure, synchronous state machine. `apply(input, now)` returns the events the
//! change causes. No I/O and no clock reads, so a recorded capture replays to
//! the same events every time.

mod agent_bridge;
mod agents;
mod calls;
pub mod model;
mod queues;
mod spying;
mod system;
pub mod views;
pub mod voice;

pub use agent_bridge::{finish, priority_rank};

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;

pub use model::{AgentRecord, CallRecord, Input, LedgerFigures, QueueRecord};
use model::{Availability, CallIds, EndReason, QueueDay, SourceLink, WaitingCaller};

use crate::proto::v1::{self as pb, event::Payload};
use crate::time::{Instant, to_timestamp};

/// An event the ledger produced, before the log numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// What happened.
    pub payload: Payload,
    /// The tenant it belongs to, empty for the house.
    pub tenant: String,
}

impl Emitted {
    fn house(payload: Payload) -> Self {
        Emitted {
            payload,
            tenant: String::new(),
        }
    }
}

/// The live state. Create with [`Ledger::new`], change with [`Ledger::apply`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    /// Calls in progress, by call id.
    pub calls: BTreeMap<String, CallRecord>,
    /// Agents, by extension.
    pub agents: BTreeMap<String, AgentRecord>,
    /// Queues, by name.
    pub queues: BTreeMap<String, QueueRecord>,
    /// The system mode.
    pub system_mode: String,
    /// Supervisors' spy sessions in progress, by supervisor extension.
    pub spy_sessions: BTreeMap<String, model::SpySession>,
    /// Voice-AI calls (seed 003).
    pub voice: voice::VoiceCalls,
    /// Each source's link, with the status it last reported.
    #[serde(with = "source_statuses")]
    sources: HashMap<model::Source, (SourceLink, pb::SourceStatus)>,
    day: Option<NaiveDate>,
    recent_starts: VecDeque<(Instant, String)>,
    today: HashMap<Option<String>, DayCounters>,
    stale: StaleLists,
    /// Identifiers linked to calls not started yet ([`Input::CallLinked`]
    /// may come before the other source starts the call), oldest first.
    pending_links: VecDeque<PendingLink>,
}

/// The sources' statuses in a saved ledger: each status as its protobuf bytes.
mod source_statuses {
    use std::collections::HashMap;

    use prost::Message;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::model::{Source, SourceLink};
    use crate::proto::v1 as pb;

    type Statuses = HashMap<Source, (SourceLink, pb::SourceStatus)>;

    pub fn serialize<S: Serializer>(statuses: &Statuses, out: S) -> Result<S::Ok, S::Error> {
        let saved: Vec<(Source, SourceLink, Vec<u8>)> = statuses
            .iter()
            .map(|(source, (link, status))| (*source, *link, status.encode_to_vec()))
            .collect();
        saved.serialize(out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Statuses, D::Error> {
        let saved = Vec::<(Source, SourceLink, Vec<u8>)>::deserialize(input)?;
        saved
            .into_iter()
            .map(|(source, link, bytes)| {
                let status =
                    pb::SourceStatus::decode(&bytes[..]).map_err(serde::de::Error::custom)?;
                Ok((source, (link, status)))
            })
            .collect()
    }
}

/// A link to a call not started yet: its identifiers, and the start of the
/// call it goes on from, if any ([`Input::CallLinked`]).
type PendingLink = (String, CallIds, Option<Instant>);

/// How many links to calls not started yet are kept.
const PENDING_LINKS: usize = 256;

/// What an answer emits: `call:answered` the first time, and the call's
/// `call_updated` (ANSWERED) every time.
fn answered_events(call: &CallRecord, first_answer: bool, now: Instant) -> Vec<Emitted> {
    let mut out = Vec::new();
    if first_answer {
        out.push(Emitted {
            payload: Payload::CallAnswered(views::active_call(call, now, None)),
            tenant: call.tenant.clone(),
        });
    }
    out.push(Emitted {
        payload: Payload::CallUpdated(views::call_updated(call, pb::CallChange::Answered, now)),
        tenant: call.tenant.clone(),
    });
    out
}

/// The shortest ledger time between two emissions of one whole list while it
/// keeps changing. A list that changes after a quiet spell goes out with the
/// change; further changes within this time are held and go out together,
/// from the next apply or [`Ledger::flush_lists`] once the time is up. The
/// single events (`call:new`, `agent:login`, ...) still carry every change;
/// the lists are what a dashboard redraws from, and rebuilding one clones
/// every call or agent.
pub const LIST_EVERY: chrono::TimeDelta = chrono::TimeDelta::milliseconds(100);

/// Which whole-list events (`calls:active`, `agents:status`, `queues:stats`)
/// changed since they were last emitted, and when each last went out. Lists
/// are emitted at the end of an apply, however many inputs of a batch touched
/// them, and at most once per [`LIST_EVERY`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct StaleLists {
    calls_active: ListPacing,
    agents_status: ListPacing,
    queues_stats: ListPacing,
}

/// One whole list's pacing: changed since it last went out, and when that was.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct ListPacing {
    changed: bool,
    emitted_at: Option<Instant>,
}

impl ListPacing {
    fn mark(&mut self) {
        self.changed = true;
    }

    /// Whether the list goes out now: it changed, and it has not gone out
    /// within [`LIST_EVERY`] (a clock that went back does not hold it).
    /// Records the emission when it does.
    fn take_due(&mut self, now: Instant, force: bool) -> bool {
        let due = self.changed
            && (force
                || self.emitted_at.is_none_or(|at| {
                    let since = now - at;
                    since >= LIST_EVERY || since < chrono::TimeDelta::zero()
                }));
        if due {
            self.changed = false;
            self.emitted_at = Some(now);
        }
        due
    }
}

/// Counters since midnight (UTC) for every call (`None`) or one tenant's calls.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct DayCounters {
    peak_concurrent: u32,
    ended: u32,
    answered_ended: u32,
}

impl Ledger {
    /// An empty ledger in `system_mode`.
    pub fn new(system_mode: impl Into<String>) -> Self {
        Ledger {
            calls: BTreeMap::new(),
            agents: BTreeMap::new(),
            queues: BTreeMap::new(),
            system_mode: system_mode.into(),
            spy_sessions: BTreeMap::new(),
            voice: voice::VoiceCalls::default(),
            sources: HashMap::new(),
            day: None,
            recent_starts: VecDeque::new(),
            today: HashMap::new(),
            stale: StaleLists::default(),
            pending_links: VecDeque::new(),
        }
    }

    /// Applies one input at `now` and returns the events it causes, in order;
    /// the whole lists it changed come last.
    pub fn apply(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        let mut out = self.apply_one(input, now);
        self.emit_stale_lists(now, false, &mut out);
        out
    }

    /// Applies a batch of inputs at `now`: each input's own events in order,
    /// then each whole list the batch changed, once, as it stands after the
    /// batch (unless it went out within [`LIST_EVERY`]; then it is held).
    /// Under load this is what keeps `calls:active`, `agents:status` and
    /// `queues:stats` from being rebuilt and sent for every input.
    pub fn apply_all(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        now: Instant,
    ) -> Vec<Emitted> {
        let inputs = inputs.into_iter();
        // About two events an input, and up to three lists: sized once, as
        // growing a vector of events this large copied it over and over. No
        // inputs (an event the translator ignored): nothing allocated.
        let mut out = match inputs.size_hint().0 {
            0 => Vec::new(),
            expected => Vec::with_capacity(2 * expected + 3),
        };
        for input in inputs {
            out.extend(self.apply_one(input, now));
        }
        self.emit_stale_lists(now, false, &mut out);
        out
    }

    /// The whole lists held back by [`LIST_EVERY`] whose time is up at `now`
    /// (all of them with `force`, as after a rebuild). Called periodically so
    /// that the last change of a busy spell goes out without waiting for the
    /// next input.
    pub fn flush_lists(&mut self, now: Instant, force: bool) -> Vec<Emitted> {
        let mut out = Vec::new();
        self.emit_stale_lists(now, force, &mut out);
        out
    }

    /// Whether a whole list changed and has not gone out yet.
    pub fn lists_held(&self) -> bool {
        self.stale.calls_active.changed
            || self.stale.agents_status.changed
            || self.stale.queues_stats.changed
    }

    fn emit_stale_lists(&mut self, now: Instant, force: bool, out: &mut Vec<Emitted>) {
        if self.stale.agents_status.take_due(now, force) {
            out.push(self.agents_status());
        }
        if self.stale.calls_active.take_due(now, force) {
            out.push(self.calls_active(now));
        }
        if self.stale.queues_stats.take_due(now, force) {
            out.push(self.queues_stats(now));
        }
    }

    fn apply_one(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        self.roll_day(now);
        match input {
            input @ (Input::CallStarted { .. }
            | Input::CallDialing { .. }
            | Input::CallDialEnded { .. }
            | Input::CallAnswered { .. }
            | Input::CallAnswerWithdrawn { .. }
            | Input::CallTransferred { .. }
            | Input::CallHeld { .. }
            | Input::CallEnded { .. }
            | Input::CallLinked { .. }) => self.apply_call(input, now),
            input @ (Input::AgentLoggedIn { .. } | Input::AgentLoggedOut { .. }) => {
                self.apply_agent(input, now)
            }
            input @ (Input::QueueConfigured { .. }
            | Input::QueueMemberSet { .. }
            | Input::QueueMemberRemoved { .. }
            | Input::QueueCallerJoined { .. }
            | Input::QueueCallerLeft { .. }
            | Input::QueueCallerAbandoned { .. }
            | Input::QueueCallAnswered { .. }
            | Input::QueueCallCompleted { .. }) => self.apply_queue(input, now),
            input @ (Input::SpyStarted { .. } | Input::SpyEnded { .. }) => {
                self.apply_spy(input, now)
            }
            input @ (Input::SystemModeSet { .. } | Input::SourceChanged { .. }) => {
                self.apply_system(input, now)
            }
            input @ (Input::AgentConfigured { .. }
            | Input::CallOffered { .. }
            | Input::CallOfferWithdrawn { .. }
            | Input::CallBridged { .. }
            | Input::CustomerLeft { .. }
            | Input::CallHungUp { .. }
            | Input::ChannelStateChanged { .. }
            | Input::CallPrioritySet { .. }) => self.apply_agent_bridge(input, now),
            input @ (Input::VoiceCallStarted { .. }
            | Input::VoiceCallEnded { .. }
            | Input::TwilioCallStatus { .. }) => self.apply_voice(input, now),
        }
    }

    /// The status each source last reported (none for a source that never did).
    pub fn source_statuses(&self) -> impl Iterator<Item = &pb::SourceStatus> {
        self.sources.values().map(|(_, status)| status)
    }

    /// Calls in progress, of every tenant (`None`) or of one.
    fn calls_in<'a>(&'a self, tenant: Option<&'a str>) -> impl Iterator<Item = &'a CallRecord> {
        self.calls
            .values()
            .filter(move |c| tenant.is_none_or(|t| c.tenant == t))
    }

    /// Agents, of every tenant (`None`) or of one.
    fn agents_in<'a>(&'a self, tenant: Option<&'a str>) -> impl Iterator<Item = &'a AgentRecord> {
        self.agents
            .values()
            .filter(move |a| tenant.is_none_or(|t| a.tenant == t))
    }

    /// Figures for `system_stats` as of `now`, over every tenant (`None`) or one.
    pub fn figures(&self, now: Instant, tenant: Option<&str>) -> LedgerFigures {
        let active_agents = self
            .agents_in(tenant)
            .filter(|a| a.logged_in && !a.call_ids.is_empty())
            .count() as u32;
        let calls_held: usize = self
            .agents_in(tenant)
            .filter(|a| a.logged_in)
            .map(|a| a.call_ids.len())
            .sum();
        let minute_ago = now - chrono::Duration::seconds(60);
        let today = self
            .today
            .get(&tenant.map(str::to_owned))
            .copied()
            .unwrap_or_default();
        LedgerFigures {
            total_sessions: self.calls_in(tenant).count() as u32,
            active_agents,
            available_agents: self
                .agents_in(tenant)
                .filter(|a| a.availability() == Availability::Available)
                .count() as u32,
            avg_calls_per_agent: if active_agents == 0 {
                0.0
            } else {
                (calls_held as f64 / f64::from(active_agents) * 10.0).round() / 10.0
            },
            calls_per_minute: self
                .recent_starts
                .iter()
                .filter(|(at, t)| *at > minute_ago && tenant.is_none_or(|wanted| wanted == t))
                .count() as u32,
            peak_concurrent_calls: today.peak_concurrent,
            success_rate: if today.ended == 0 {
                0.0
            } else {
                (f64::from(today.answered_ended) / f64::from(today.ended) * 1000.0).round() / 10.0
            },
            calls_ended_today: today.ended,
            sources_healthy: self
                .sources
                .values()
                .all(|(link, _)| *link == SourceLink::Connected),
        }
    }

    /// The whole state as a snapshot message, with time-dependent figures as of `now`.
    pub fn snapshot(&self, now: Instant) -> pb::StateSnapshot {
        pb::StateSnapshot {
            calls: self.calls.values().map(|c| views::call(c, now)).collect(),
            agents: self.agents.values().map(views::agent).collect(),
            queues: self.queues.values().map(|q| views::queue(q, now)).collect(),
            conversations: Vec::new(),
            system_mode: self.system_mode.clone(),
            spy_sessions: self
                .spy_sessions
                .values()
                .map(|s| views::spy_session(s, None))
                .collect(),
            sources: self.source_statuses().cloned().collect(),
        }
    }

    fn roll_day(&mut self, now: Instant) {
        let today = now.date_naive();
        if self.day != Some(today) {
            self.day = Some(today);
            let mut fresh: HashMap<Option<String>, DayCounters> = HashMap::new();
            for call in self.calls.values() {
                for scope in [None, Some(call.tenant.clone())] {
                    fresh.entry(scope).or_default().peak_concurrent += 1;
                }
            }
            self.today = fresh;
            for queue in self.queues.values_mut() {
                queue.day = QueueDay::default();
            }
            for agent in self.agents.values_mut() {
                agent.calls_today = 0;
            }
        }
        let minute_ago = now - chrono::Duration::seconds(60);
        while self
            .recent_starts
            .front()
            .is_some_and(|(t, _)| *t <= minute_ago)
        {
            self.recent_starts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::{CallIds, Direction, EndReason};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Instant {
        Utc.timestamp_opt(1_705_312_200 + seconds, 0).unwrap()
    }

    fn start(call_id: &str) -> Input {
        Input::CallStarted {
            call_id: call_id.to_owned(),
            ids: CallIds {
                ami_uniqueid: call_id.to_owned(),
                channel: format!("PJSIP/trunk-{call_id}"),
                ..CallIds::default()
            },
            direction: Direction::Inbound,
            customer_number: "254712345678".to_owned(),
            caller_name: "Customer".to_owned(),
            destination: "8000".to_owned(),
            context: "from-external".to_owned(),
            channel_state: "Ring".to_owned(),
            queue: None,
            tenant: String::new(),
        }
    }

    fn login(extension: &str, max_calls: u32) -> Input {
        Input::AgentLoggedIn {
            extension: extension.to_owned(),
            agent_id: format!("agent-{extension}"),
            name: "John Doe".to_owned(),
            max_calls,
            queues: vec!["sales".to_owned()],
        }
    }

    fn kinds(events: &[Emitted]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| crate::events::kind_of(&e.payload).as_str_name())
            .collect()
    }

    #[test]
    fn leaving_or_abandoning_a_queue_it_never_saw_changes_nothing() {
        let mut ledger = Ledger::new("human");
        ledger.apply(start("c1"), at(0));
        for input in [
            Input::QueueCallerLeft {
                queue: "9999".into(),
                call_id: "c1".into(),
            },
            Input::QueueCallerAbandoned {
                queue: "9999".into(),
                call_id: "c1".into(),
            },
        ] {
            assert!(ledger.apply(input, at(1)).is_empty());
        }
        assert!(ledger.queues.is_empty(), "no queue record was made up");
    }

    #[test]
    fn call_life_emits_new_answered_ended_and_keeps_the_agent_in_step() {
        let mut ledger = Ledger::new("auto");
        assert_eq!(
            kinds(&ledger.apply(login("1001", 3), at(0))),
            [
                "EVENT_KIND_AGENT_LOGIN",
                "EVENT_KIND_AGENT_STATUS_UPDATED",
                "EVENT_KIND_AGENT_SESSION",
                "EVENT_KIND_AGENTS_STATUS"
            ]
        );
        assert_eq!(
            kinds(&ledger.apply(start("1.1"), at(1))),
            [
                "EVENT_KIND_CALL_NEW",
                "EVENT_KIND_CALL_UPDATED",
                "EVENT_KIND_CALLS_ACTIVE"
            ]
        );
        let answered = ledger.apply(
            Input::CallAnswered {
                call_id: "1.1".to_owned(),
                agent_extension: Some("1001".to_owned()),
                answered_by: "1001".into(),
            },
            at(3),
        );
        assert_eq!(
            kinds(&answered),
            [
                "EVENT_KIND_CALL_ANSWERED",
                "EVENT_KIND_CALL_UPDATED",
                "EVENT_KIND_AGENT_STATUS_UPDATED",
                "EVENT_KIND_AGENTS_STATUS",
                "EVENT_KIND_CALLS_ACTIVE"
            ]
        );
        let Payload::AgentStatusUpdated(update) = &answered[2].payload else {
            panic!("expected agent_status_updated");
        };
        assert_eq!(update.status(), pb::AgentStatus::OnCall);
        assert_eq!(update.previous_status(), pb::AgentStatus::Available);
        assert_eq!(update.capacity.unwrap().current, 1);

        let ended = ledger.apply(
            Input::CallEnded {
                call_id: "1.1".to_owned(),
                reason: EndReason::Completed,
            },
            at(63),
        );
        let Payload::CallHangup(call) = &ended[0].payload else {
            panic!("expected call:ended");
        };
        assert_eq!(call.duration, 60, "seconds since answer");
        assert_eq!(call.disposition.as_deref(), Some("ANSWERED"));
        assert_eq!(
            ledger.agents["1001"].availability(),
            Availability::Available
        );
        assert_eq!(ledger.agents["1001"].calls_today, 1);
        assert!(ledger.calls.is_empty());
    }

    #[test]
    fn figures_are_measured_from_the_calls_seen() {
        let mut ledger = Ledger::new("auto");
        assert_eq!(ledger.figures(at(0), None).success_rate, 0.0);
        assert_eq!(ledger.figures(at(0), None).calls_ended_today, 0);
        ledger.apply(login("1001", 3), at(0));
        for id in ["a", "b", "c"] {
            ledger.apply(start(id), at(1));
        }
        ledger.apply(
            Input::CallAnswered {
                call_id: "a".to_owned(),
                agent_extension: Some("1001".to_owned()),
                answered_by: "1001".into(),
            },
            at(2),
        );
        ledger.apply(
            Input::CallEnded {
                call_id: "b".to_owned(),
                reason: EndReason::Abandoned,
            },
            at(5),
        );
        ledger.apply(
            Input::CallEnded {
                call_id: "a".to_owned(),
                reason: EndReason::Completed,
            },
            at(6),
        );
        let figures = ledger.figures(at(10), None);
        assert_eq!(figures.total_sessions, 1);
        assert_eq!(figures.peak_concurrent_calls, 3);
        assert_eq!(figures.calls_per_minute, 3);
        assert_eq!(figures.success_rate, 50.0);
        assert_eq!(figures.calls_ended_today, 2);
        assert_eq!(figures.available_agents, 1);
        assert_eq!(
            ledger.figures(at(120), None).calls_per_minute,
            0,
            "a minute later"
        );
    }

    fn member(interface: &str, device_free: bool) -> Input {
        Input::QueueMemberSet {
            queue: "sales".into(),
            member: model::QueueMember {
                interface: interface.into(),
                name: format!("Agent {interface}"),
                extension: None,
                paused: false,
                pause_reason: String::new(),
                device_free,
            },
        }
    }

    fn join(call_id: &str) -> Input {
        Input::QueueCallerJoined {
            queue: "sales".into(),
            call_id: call_id.into(),
            channel: format!("PJSIP/trunk-{call_id}"),
            caller_number: "254798765432".into(),
            caller_name: "Queue Customer".into(),
        }
    }

    fn answered(call_id: &str, wait_seconds: u32) -> Input {
        Input::QueueCallAnswered {
            queue: "sales".into(),
            call_id: call_id.into(),
            interface: "Local/1002@agents/n".into(),
            wait_seconds,
        }
    }

    fn last_queue_stats(events: &[Emitted]) -> pb::QueueStats {
        match events.last().map(|e| &e.payload) {
            Some(Payload::QueuesStats(list)) => list.queues[0].clone(),
            other => panic!("expected queues:stats, got {other:?}"),
        }
    }

    fn calls_active_lists(events: &[Emitted]) -> Vec<usize> {
        events
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::CallsActive(list) => Some(list.calls.len()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_busy_list_goes_out_at_most_once_per_list_every_and_the_last_change_is_flushed() {
        let mut ledger = Ledger::new("auto");
        let t0 = at(0);
        let millis = |ms: i64| t0 + chrono::TimeDelta::milliseconds(ms);
        // After a quiet spell the change goes out with its event.
        assert_eq!(calls_active_lists(&ledger.apply(start("c1"), t0)), [1]);
        // Within LIST_EVERY the next changes are held; their own events are not.
        let held = ledger.apply(start("c2"), millis(30));
        assert_eq!(
            kinds(&held),
            ["EVENT_KIND_CALL_NEW", "EVENT_KIND_CALL_UPDATED"]
        );
        assert!(calls_active_lists(&ledger.apply(start("c3"), millis(60))).is_empty());
        assert!(ledger.lists_held());
        assert!(ledger.flush_lists(millis(99), false).is_empty(), "not yet");
        // Once the time is up, one list as it stands now.
        assert_eq!(
            calls_active_lists(&ledger.flush_lists(millis(100), false)),
            [3]
        );
        assert!(!ledger.lists_held());
        assert!(
            ledger.flush_lists(millis(500), false).is_empty(),
            "nothing changed"
        );
        // An input after the time is up carries the list itself.
        ledger.apply(start("c4"), millis(150));
        assert_eq!(
            calls_active_lists(&ledger.apply(start("c5"), millis(200))),
            [5]
        );
        // Forced (a rebuild), the held list goes out at once; a clock that went
        // back does not hold a list either.
        ledger.apply(start("c6"), millis(210));
        assert_eq!(
            calls_active_lists(&ledger.flush_lists(millis(210), true)),
            [6]
        );
        assert_eq!(
            calls_active_lists(&ledger.apply(start("c7"), millis(-5000))),
            [7]
        );
    }

    #[test]
    fn queue_figures_follow_joins_answers_and_abandons() {
        let mut ledger = Ledger::new("auto");
        let members = ledger.apply_all(
            [
                member("Local/1001@agents/n", true),
                member("Local/1002@agents/n", true),
            ],
            at(0),
        );
        let stats = last_queue_stats(&members);
        assert_eq!((stats.members, stats.available, stats.waiting), (2, 2, 0));
        assert_eq!(stats.service_level, None, "nothing answered yet");

        ledger.apply(start("q1"), at(0));
        let joined = ledger.apply(join("q1"), at(0));
        let Payload::QueueCallerJoined(event) = &joined[0].payload else {
            panic!("queue:caller_joined")
        };
        assert_eq!(
            (event.queue.as_str(), event.position, event.count),
            ("sales", 1, 1)
        );
        assert_eq!(ledger.calls["q1"].queue.as_deref(), Some("sales"));
        ledger.apply(join("q2"), at(5));
        ledger.apply(join("q3"), at(6));
        assert!(
            ledger.apply(join("q3"), at(7)).is_empty(),
            "a duplicate join changes nothing"
        );
        let snapshot = ledger.snapshot(at(40));
        assert_eq!(snapshot.queues[0].waiting, 3);
        assert_eq!(snapshot.queues[0].longest_wait, 40);

        // q1 answered after 10 s (within 20 s), q2 after 30 s (outside), q3 abandons.
        ledger.apply(
            Input::QueueCallerLeft {
                queue: "sales".into(),
                call_id: "q1".into(),
            },
            at(10),
        );
        ledger.apply(answered("q1", 10), at(10));
        ledger.apply(answered("q2", 30), at(35));
        ledger.apply(
            Input::QueueCallerAbandoned {
                queue: "sales".into(),
                call_id: "q3".into(),
            },
            at(50),
        );
        let left_after_abandon = ledger.apply(
            Input::QueueCallerLeft {
                queue: "sales".into(),
                call_id: "q3".into(),
            },
            at(50),
        );
        assert!(
            left_after_abandon.is_empty(),
            "the Leave after an Abandon is not a second departure"
        );
        let done = ledger.apply(
            Input::QueueCallCompleted {
                queue: "sales".into(),
                call_id: "q1".into(),
                talk_seconds: 4,
            },
            at(54),
        );
        let stats = last_queue_stats(&done);
        assert_eq!(stats.waiting, 0);
        assert_eq!(stats.available, 1, "the answering member's device is busy");
        assert_eq!(stats.service_level, Some(50.0));
        assert_eq!(stats.average_speed_of_answer, Some(20.0));
        assert_eq!(stats.abandon_rate, Some(33.3));
        let queue = &ledger.snapshot(at(54)).queues[0];
        let service_level = queue.service_level.as_ref().unwrap();
        assert_eq!((service_level.completed, service_level.abandoned), (2, 1));
        assert_eq!(service_level.average_talk_seconds, 4.0);
    }

    #[test]
    fn a_member_pausing_and_resuming_is_an_agent_session_change() {
        let session_changes = |events: &[Emitted]| -> Vec<(pb::AgentSessionChangeKind, String)> {
            events
                .iter()
                .filter_map(|e| match &e.payload {
                    Payload::AgentSession(change) => Some((
                        change.kind(),
                        format!("{}/{}", change.extension, change.reason),
                    )),
                    _ => None,
                })
                .collect()
        };
        let paused = |paused: bool, reason: &str| {
            let Input::QueueMemberSet { queue, mut member } = member("PJSIP/1001", true) else {
                unreachable!()
            };
            member.extension = Some("1001".into());
            member.paused = paused;
            member.pause_reason = reason.into();
            Input::QueueMemberSet { queue, member }
        };
        let mut ledger = Ledger::new("auto");
        assert!(session_changes(&ledger.apply(paused(false, ""), at(0))).is_empty());
        assert_eq!(
            session_changes(&ledger.apply(paused(true, "lunch"), at(1))),
            [(pb::AgentSessionChangeKind::Paused, "1001/lunch".to_owned())]
        );
        assert!(
            session_changes(&ledger.apply(paused(true, "break"), at(2))).is_empty(),
            "a changed reason is not a second pause"
        );
        assert_eq!(
            session_changes(&ledger.apply(paused(false, ""), at(3))),
            [(pb::AgentSessionChangeKind::Resumed, "1001/".to_owned())]
        );
        // A member without an extension (an odd interface) pauses unrecorded.
        assert!(session_changes(&ledger.apply(member("Custom/x", true), at(4))).is_empty());
    }

    #[test]
    fn the_pbx_service_level_threshold_replaces_the_default() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(
            Input::QueueConfigured {
                queue: "sales".into(),
                service_level_seconds: 60,
            },
            at(0),
        );
        ledger.apply(join("q1"), at(0));
        let stats = last_queue_stats(&ledger.apply(answered("q1", 45), at(45)));
        assert_eq!(
            stats.service_level,
            Some(100.0),
            "45 s is within a 60 s threshold"
        );
        assert!(
            ledger
                .apply(
                    Input::QueueConfigured {
                        queue: "sales".into(),
                        service_level_seconds: 0
                    },
                    at(46)
                )
                .is_empty()
        );
    }

    #[test]
    fn duplicate_and_unknown_inputs_change_nothing() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(start("x"), at(0));
        assert!(ledger.apply(start("x"), at(1)).is_empty());
        assert!(
            ledger
                .apply(
                    Input::CallEnded {
                        call_id: "nope".into(),
                        reason: EndReason::Completed
                    },
                    at(1)
                )
                .is_empty()
        );
        assert!(
            ledger
                .apply(
                    Input::AgentLoggedOut {
                        extension: "9".into()
                    },
                    at(1)
                )
                .is_empty()
        );
    }

    #[test]
    fn system_state_lists_agents_by_capacity() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(login("1001", 1), at(0));
        ledger.apply(login("1002", 3), at(0));
        ledger.apply(start("c1"), at(1));
        ledger.apply(
            Input::CallAnswered {
                call_id: "c1".into(),
                agent_extension: Some("1001".into()),
                answered_by: "1001".into(),
            },
            at(2),
        );
        let state = views::system_state(&ledger, at(3), None);
        assert_eq!(
            state.extension_states["1001"].status(),
            pb::AgentStatus::OnCall
        );
        assert_eq!(state.available_agents.len(), 1);
        assert_eq!(state.available_agents[0].extension, "1002");
        let full = &state.agents_with_capacity[0];
        assert_eq!(
            (full.current_calls, full.max_calls, full.can_take_call),
            (1, 1, false)
        );
        assert_eq!(state.active_calls[0].status, "connected");
        assert_eq!(state.active_calls[0].call_index, 1);
    }
}
