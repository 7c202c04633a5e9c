//! The ledger: the live picture of calls, agents, queues and system mode as a
//! pure, synchronous state machine. `apply(input, now)` returns the events the
//! change causes. No I/O and no clock reads, so a recorded capture replays to
//! the same events every time.

pub mod model;
pub mod views;

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::NaiveDate;

pub use model::{AgentRecord, CallRecord, Input, LedgerFigures};
use model::{Availability, SourceLink};

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
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Calls in progress, by call id.
    pub calls: BTreeMap<String, CallRecord>,
    /// Agents, by extension.
    pub agents: BTreeMap<String, AgentRecord>,
    /// The system mode.
    pub system_mode: String,
    sources: HashMap<model::Source, SourceLink>,
    day: Option<NaiveDate>,
    recent_starts: VecDeque<(Instant, String)>,
    today: HashMap<Option<String>, DayCounters>,
}

/// Counters since midnight (UTC) for every call (`None`) or one tenant's calls.
#[derive(Debug, Clone, Copy, Default)]
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
            system_mode: system_mode.into(),
            sources: HashMap::new(),
            day: None,
            recent_starts: VecDeque::new(),
            today: HashMap::new(),
        }
    }

    /// Applies one input at `now` and returns the events it causes, in order.
    pub fn apply(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        self.roll_day(now);
        match input {
            Input::CallStarted {
                call_id,
                ids,
                direction,
                customer_number,
                caller_name,
                destination,
                context,
                channel_state,
                queue,
                tenant,
            } => {
                if self.calls.contains_key(&call_id) {
                    return Vec::new();
                }
                let record = CallRecord {
                    call_id: call_id.clone(),
                    ids,
                    direction,
                    customer_number,
                    caller_name,
                    destination,
                    context,
                    channel_state,
                    agent_extension: None,
                    queue,
                    tenant: tenant.clone(),
                    started_at: now,
                    answered_at: None,
                };
                let call_new = views::active_call(&record, now, None);
                self.calls.insert(call_id, record);
                self.recent_starts.push_back((now, tenant.clone()));
                for scope in [None, Some(tenant.clone())] {
                    let concurrent = self.calls_in(scope.as_deref()).count() as u32;
                    let counters = self.today.entry(scope).or_default();
                    counters.peak_concurrent = counters.peak_concurrent.max(concurrent);
                }
                vec![
                    Emitted {
                        payload: Payload::CallNew(call_new),
                        tenant,
                    },
                    self.calls_active(now),
                ]
            }
            Input::CallAnswered {
                call_id,
                agent_extension,
            } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                if call.answered_at.is_some() {
                    return Vec::new();
                }
                call.answered_at = Some(now);
                call.channel_state = "Up".to_owned();
                if agent_extension.is_some() {
                    call.agent_extension = agent_extension.clone();
                }
                let answered = views::active_call(call, now, None);
                let tenant = call.tenant.clone();
                let mut out = vec![Emitted {
                    payload: Payload::CallAnswered(answered),
                    tenant,
                }];
                if let Some(extension) = agent_extension {
                    out.extend(self.change_agent(&extension, now, |agent| {
                        if !agent.call_ids.contains(&call_id) {
                            agent.call_ids.push(call_id.clone());
                        }
                        agent.calls_today += 1;
                    }));
                }
                out.push(self.calls_active(now));
                out
            }
            Input::CallEnded { call_id, reason } => {
                let Some(call) = self.calls.remove(&call_id) else {
                    return Vec::new();
                };
                for scope in [None, Some(call.tenant.clone())] {
                    let counters = self.today.entry(scope).or_default();
                    counters.ended += 1;
                    if call.answered_at.is_some() {
                        counters.answered_ended += 1;
                    }
                }
                let mut out = vec![Emitted {
                    payload: Payload::CallHangup(views::active_call(&call, now, Some(reason))),
                    tenant: call.tenant.clone(),
                }];
                if let Some(extension) = &call.agent_extension {
                    out.extend(self.change_agent(extension, now, |agent| {
                        agent.call_ids.retain(|id| id != &call_id);
                    }));
                }
                out.push(self.calls_active(now));
                out
            }
            Input::AgentLoggedIn {
                extension,
                agent_id,
                name,
                max_calls,
                queues,
            } => {
                let agent = self
                    .agents
                    .entry(extension.clone())
                    .or_insert_with(|| AgentRecord {
                        agent_id: agent_id.clone(),
                        extension: extension.clone(),
                        name: name.clone(),
                        logged_in: false,
                        max_calls,
                        call_ids: Vec::new(),
                        calls_today: 0,
                        queues: queues.clone(),
                        login_time: None,
                        status_changed_at: now,
                        last_update: now,
                        tenant: String::new(),
                    });
                if agent.logged_in {
                    return Vec::new();
                }
                let previous = agent.availability();
                agent.logged_in = true;
                agent.agent_id = agent_id;
                agent.name = name;
                agent.max_calls = max_calls.max(1);
                agent.queues = queues;
                agent.login_time = Some(now);
                agent.status_changed_at = now;
                agent.last_update = now;
                let agent = agent.clone();
                vec![
                    Emitted::house(Payload::AgentLogin(views::wallboard_agent(&agent))),
                    Emitted::house(Payload::AgentStatusUpdated(views::agent_status_updated(
                        self, &agent, previous,
                    ))),
                    self.agents_status(),
                ]
            }
            Input::AgentLoggedOut { extension } => {
                let Some(agent) = self.agents.get_mut(&extension) else {
                    return Vec::new();
                };
                if !agent.logged_in {
                    return Vec::new();
                }
                let previous = agent.availability();
                agent.logged_in = false;
                agent.login_time = None;
                agent.status_changed_at = now;
                agent.last_update = now;
                let agent = agent.clone();
                vec![
                    Emitted::house(Payload::AgentLogout(views::wallboard_agent(&agent))),
                    Emitted::house(Payload::AgentStatusUpdated(views::agent_status_updated(
                        self, &agent, previous,
                    ))),
                    self.agents_status(),
                ]
            }
            Input::SystemModeSet { mode } => {
                self.system_mode.clone_from(&mode);
                vec![Emitted::house(Payload::SystemModeUpdate(
                    pb::SystemModeUpdate { mode },
                ))]
            }
            Input::SourceChanged {
                source,
                link,
                host,
                message,
                retry_in_seconds,
            } => {
                self.sources.insert(source, link);
                vec![Emitted::house(Payload::SourceStatus(pb::SourceStatus {
                    source: views::source_kind(source) as i32,
                    state: views::source_state(link) as i32,
                    host,
                    message,
                    retry_in_seconds,
                    timestamp: Some(to_timestamp(now)),
                }))]
            }
        }
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
            success_rate: (today.ended > 0).then(|| {
                (f64::from(today.answered_ended) / f64::from(today.ended) * 1000.0).round() / 10.0
            }),
            sources_healthy: self.sources.values().all(|l| *l == SourceLink::Connected),
        }
    }

    /// The whole state as a snapshot message.
    pub fn snapshot(&self) -> pb::StateSnapshot {
        pb::StateSnapshot {
            calls: self.calls.values().map(views::call).collect(),
            agents: self.agents.values().map(views::agent).collect(),
            queues: Vec::new(),
            conversations: Vec::new(),
            system_mode: self.system_mode.clone(),
        }
    }

    fn change_agent(
        &mut self,
        extension: &str,
        now: Instant,
        change: impl FnOnce(&mut AgentRecord),
    ) -> Vec<Emitted> {
        let Some(agent) = self.agents.get_mut(extension) else {
            return Vec::new();
        };
        let previous = agent.availability();
        change(agent);
        agent.last_update = now;
        if agent.availability() == previous {
            return Vec::new();
        }
        agent.status_changed_at = now;
        let agent = agent.clone();
        vec![
            Emitted::house(Payload::AgentStatusUpdated(views::agent_status_updated(
                self, &agent, previous,
            ))),
            self.agents_status(),
        ]
    }

    fn calls_active(&self, now: Instant) -> Emitted {
        Emitted::house(Payload::CallsActive(pb::ActiveCallList {
            calls: self
                .calls
                .values()
                .map(|c| views::active_call(c, now, None))
                .collect(),
        }))
    }

    fn agents_status(&self) -> Emitted {
        Emitted::house(Payload::AgentsStatus(pb::WallboardAgentList {
            agents: self.agents.values().map(views::wallboard_agent).collect(),
        }))
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
    fn call_life_emits_new_answered_ended_and_keeps_the_agent_in_step() {
        let mut ledger = Ledger::new("auto");
        assert_eq!(
            kinds(&ledger.apply(login("1001", 3), at(0))),
            [
                "EVENT_KIND_AGENT_LOGIN",
                "EVENT_KIND_AGENT_STATUS_UPDATED",
                "EVENT_KIND_AGENTS_STATUS"
            ]
        );
        assert_eq!(
            kinds(&ledger.apply(start("1.1"), at(1))),
            ["EVENT_KIND_CALL_NEW", "EVENT_KIND_CALLS_ACTIVE"]
        );
        let answered = ledger.apply(
            Input::CallAnswered {
                call_id: "1.1".to_owned(),
                agent_extension: Some("1001".to_owned()),
            },
            at(3),
        );
        assert_eq!(
            kinds(&answered),
            [
                "EVENT_KIND_CALL_ANSWERED",
                "EVENT_KIND_AGENT_STATUS_UPDATED",
                "EVENT_KIND_AGENTS_STATUS",
                "EVENT_KIND_CALLS_ACTIVE"
            ]
        );
        let Payload::AgentStatusUpdated(update) = &answered[1].payload else {
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
        assert_eq!(ledger.figures(at(0), None).success_rate, None);
        ledger.apply(login("1001", 3), at(0));
        for id in ["a", "b", "c"] {
            ledger.apply(start(id), at(1));
        }
        ledger.apply(
            Input::CallAnswered {
                call_id: "a".to_owned(),
                agent_extension: Some("1001".to_owned()),
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
        assert_eq!(figures.success_rate, Some(50.0));
        assert_eq!(figures.available_agents, 1);
        assert_eq!(
            ledger.figures(at(120), None).calls_per_minute,
            0,
            "a minute later"
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
