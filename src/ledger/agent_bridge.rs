//! The ledger's side of the ARI agent bridge (seed 000): configured agents,
//! offers that ring an agent, bridges, and how a Stasis call ends. The
//! controller in `crate::sources::ari::bridge` decides what happens on the PBX; these
//! inputs record what did happen and emit the seed's events.

use std::collections::BTreeMap;

use super::model::{Availability, Input, LeaveReason};
use super::{AgentRecord, CallRecord, Emitted, Ledger, views};
use crate::proto::v1::{self as pb, event::Payload};
use crate::time::{Instant, to_timestamp, whole_seconds_between};

/// How an agent-bridge call finished, as `call_ended` and the stored record say it.
pub mod finish {
    /// The customer hung up (or was lost).
    pub const CUSTOMER_HANGUP: &str = "customer_hangup";
    /// The agent ended it.
    pub const AGENT_HANGUP: &str = "agent_hangup";
    /// The agent rejected it.
    pub const REJECTED: &str = "rejected";
    /// The agent's phone did not answer in time.
    pub const NO_ANSWER: &str = "no_answer";
    /// A supervisor hung it up.
    pub const SUPERVISOR_HANGUP: &str = "supervisor_hangup";
    /// It was transferred out of the application.
    pub const TRANSFERRED: &str = "transferred";

    /// How an agent-bridge call finished: one of the constants here (a
    /// name of its own, so that serde reads it back as the constant rather
    /// than borrowing it from the input).
    pub type Finish = &'static str;

    /// Every finish.
    const ALL: [&str; 6] = [
        CUSTOMER_HANGUP,
        AGENT_HANGUP,
        REJECTED,
        NO_ANSWER,
        SUPERVISOR_HANGUP,
        TRANSFERRED,
    ];

    /// Reads a finish back (from the log's journal) as its constant.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        input: D,
    ) -> Result<&'static str, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(input)?;
        ALL.into_iter()
            .find(|finish| *finish == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown finish {name:?}")))
    }
}

/// The rank of a priority in a queue: high first, then normal, then low.
pub fn priority_rank(priority: &str) -> u8 {
    match priority {
        "high" => 0,
        "low" => 2,
        _ => 1,
    }
}

/// The rank a waiting call is ordered by: its priority's, normal for a call
/// the ledger does not know.
pub(super) fn waiting_rank(calls: &BTreeMap<String, CallRecord>, call_id: &str) -> u8 {
    calls
        .get(call_id)
        .map_or(1, |call| priority_rank(&call.priority))
}

impl Ledger {
    /// Applies one agent-bridge input (see [`Input`]); other inputs change nothing here.
    pub(super) fn apply_agent_bridge(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::AgentConfigured {
                agent_id,
                extension,
                name,
                max_calls,
            } => self.configure_agent(agent_id, extension, name, max_calls, now),
            Input::CallOffered { call_id, extension } => self.offer(&call_id, &extension, now),
            Input::CallOfferWithdrawn {
                call_id,
                extension,
                rejected,
            } => self.withdraw_offer(&call_id, &extension, rejected, now),
            Input::CallBridged {
                call_id,
                extension,
                bridge_id,
            } => self.bridged(&call_id, &extension, bridge_id, now),
            Input::CustomerLeft { call_id, reason } => self.customer_left(&call_id, reason, now),
            Input::CallHungUp { call_id, by } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                if call.finish.is_some() {
                    return Vec::new();
                }
                call.finish = Some(by.to_owned());
                let call = &self.calls[&call_id];
                if by != finish::AGENT_HANGUP || call.bridged_at.is_none() {
                    return Vec::new();
                }
                vec![Emitted {
                    payload: Payload::CallEndedNormally(views::call_summary(
                        self,
                        call,
                        finish::AGENT_HANGUP,
                        now,
                    )),
                    tenant: call.tenant.clone(),
                }]
            }
            Input::ChannelStateChanged {
                call_id,
                channel,
                state,
                previous_state,
            } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                if channel == call.ids.channel {
                    call.channel_state.clone_from(&state);
                    self.stale.calls_active.mark();
                }
                vec![Emitted {
                    payload: Payload::CallStateChanged(pb::CallStateChanged {
                        session_id: call_id,
                        channel_id: channel,
                        state,
                        previous_state,
                        timestamp: Some(to_timestamp(now)),
                    }),
                    tenant: call.tenant.clone(),
                }]
            }
            Input::CallPrioritySet { call_id, priority } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                if call.priority == priority {
                    return Vec::new();
                }
                call.priority = priority;
                let Some(queue) = call.queue.clone() else {
                    return Vec::new();
                };
                self.order_waiting(&queue);
                self.incoming_queue_call(&queue, &call_id, now)
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn configure_agent(
        &mut self,
        agent_id: String,
        extension: String,
        name: String,
        max_calls: u32,
        now: Instant,
    ) -> Vec<Emitted> {
        let max_calls = max_calls.max(1);
        let (previous, changed) = match self.agents.get_mut(&extension) {
            Some(agent) => {
                let changed = agent.agent_id != agent_id
                    || agent.name != name
                    || agent.max_calls != max_calls
                    || !agent.configured;
                let previous = agent.availability();
                agent.agent_id = agent_id;
                agent.name = name;
                agent.max_calls = max_calls;
                agent.configured = true;
                (previous, changed)
            }
            None => {
                self.agents.insert(
                    extension.clone(),
                    AgentRecord {
                        agent_id,
                        extension: extension.clone(),
                        name,
                        logged_in: true,
                        max_calls,
                        call_ids: Vec::new(),
                        ringing: Vec::new(),
                        configured: true,
                        calls_today: 0,
                        queues: Vec::new(),
                        login_time: Some(now),
                        status_changed_at: now,
                        last_update: now,
                        tenant: String::new(),
                    },
                );
                (Availability::Offline, true)
            }
        };
        if !changed {
            return Vec::new();
        }
        let agent = &mut self.agents.get_mut(&extension).expect("just set");
        agent.last_update = now;
        if agent.availability() != previous {
            agent.status_changed_at = now;
        }
        self.stale.agents_status.mark();
        let agent = &self.agents[&extension];
        vec![Emitted::house(Payload::AgentStatusUpdated(
            views::agent_status_updated(self, agent, previous),
        ))]
    }

    fn offer(&mut self, call_id: &str, extension: &str, now: Instant) -> Vec<Emitted> {
        if !self.agents.contains_key(extension) {
            return Vec::new();
        }
        let Some(call) = self.calls.get_mut(call_id) else {
            return Vec::new();
        };
        if call.offered_to.as_deref() == Some(extension) {
            return Vec::new();
        }
        let previous_offer = call.offered_to.replace(extension.to_owned());
        let mut out = Vec::new();
        if let Some(previous) = previous_offer {
            out.extend(self.change_agent(&previous, now, |agent| {
                agent.ringing.retain(|id| id != call_id);
            }));
        }
        let status = self.change_agent(extension, now, |agent| {
            agent.ringing.push(call_id.to_owned());
        });
        let call = &self.calls[call_id];
        let agent = &self.agents[extension];
        out.push(Emitted {
            payload: Payload::CallIncoming(views::call_incoming(self, call, agent, now)),
            tenant: call.tenant.clone(),
        });
        // The call now rings an agent (a queue call no longer waits).
        let mut dialing = views::call_updated(call, pb::CallChange::Dialing, now);
        dialing.target = extension.to_owned();
        out.push(Emitted {
            payload: Payload::CallUpdated(dialing),
            tenant: call.tenant.clone(),
        });
        out.extend(status);
        self.stale.calls_active.mark();
        out
    }

    fn withdraw_offer(
        &mut self,
        call_id: &str,
        extension: &str,
        rejected: Option<String>,
        now: Instant,
    ) -> Vec<Emitted> {
        let Some(call) = self.calls.get_mut(call_id) else {
            return Vec::new();
        };
        if call.offered_to.as_deref() != Some(extension) {
            return Vec::new();
        }
        call.offered_to = None;
        let outcome = if rejected.is_some() {
            pb::DialOutcome::Busy
        } else {
            pb::DialOutcome::NoAnswer
        };
        if rejected.is_some() {
            call.finish = Some(finish::REJECTED.to_owned());
        }
        let tenant = call.tenant.clone();
        let mut out = Vec::new();
        if let Some(reason) = rejected {
            let agent = &self.agents[extension];
            out.push(Emitted {
                payload: Payload::AgentRejectedCall(pb::AgentRejectedCall {
                    session_id: call_id.to_owned(),
                    channel_id: self.calls[call_id].ids.channel.clone(),
                    agent_id: agent.agent_id.clone(),
                    extension: extension.to_owned(),
                    reason,
                }),
                tenant,
            });
        }
        // The agent's phone stopped ringing: declined (busy), or not
        // answered in time (or called off by a transfer).
        let mut ended = views::call_updated(&self.calls[call_id], pb::CallChange::DialEnded, now);
        ended.target = extension.to_owned();
        ended.dial_outcome = outcome as i32;
        out.push(Emitted {
            payload: Payload::CallUpdated(ended),
            tenant: self.calls[call_id].tenant.clone(),
        });
        out.extend(self.change_agent(extension, now, |agent| {
            agent.ringing.retain(|id| id != call_id);
        }));
        self.stale.calls_active.mark();
        out
    }

    fn bridged(
        &mut self,
        call_id: &str,
        extension: &str,
        bridge_id: String,
        now: Instant,
    ) -> Vec<Emitted> {
        if !self.agents.contains_key(extension) {
            return Vec::new();
        }
        let Some(call) = self.calls.get_mut(call_id) else {
            return Vec::new();
        };
        if call.agent_extension.as_deref() == Some(extension) && call.ids.ari_bridge_id == bridge_id
        {
            return Vec::new();
        }
        let first_answer = call.answered_at.is_none();
        if first_answer {
            call.answered_at = Some(now);
        }
        call.bridged_at.get_or_insert(now);
        call.ids.ari_bridge_id = bridge_id;
        call.channel_state = "Up".to_owned();
        call.answered_by = extension.to_owned();
        let offered_to = call.offered_to.take();
        let previous_agent = call
            .agent_extension
            .replace(extension.to_owned())
            .filter(|previous| previous != extension);
        let queue = call.queue.clone();
        let waited = whole_seconds_between(call.started_at, now);
        let tenant = call.tenant.clone();
        let mut out = super::answered_events(call, first_answer, now);
        if let Some(ringing) = offered_to.filter(|o| o != extension) {
            out.extend(self.change_agent(&ringing, now, |agent| {
                agent.ringing.retain(|id| id != call_id);
            }));
        }
        if let Some(previous) = previous_agent {
            out.extend(self.change_agent(&previous, now, |agent| {
                agent.call_ids.retain(|id| id != call_id);
            }));
        }
        let status = self.change_agent(extension, now, |agent| {
            agent.ringing.retain(|id| id != call_id);
            if !agent.call_ids.iter().any(|id| id == call_id) {
                agent.call_ids.push(call_id.to_owned());
                agent.calls_today += 1;
            }
        });
        if first_answer && let Some(queue) = queue {
            let record = self.queue_mut(&queue);
            record.waiting.retain(|w| w.call_id != call_id);
            record.day.answered += 1;
            record.day.answered_wait_seconds += u64::from(waited);
            if waited <= record.service_level_seconds {
                record.day.answered_within_threshold += 1;
            }
            self.stale.queues_stats.mark();
        }
        let call = &self.calls[call_id];
        let agent = &self.agents[extension];
        out.push(Emitted {
            payload: Payload::CallBridged(views::call_bridged(self, call, agent, now)),
            tenant,
        });
        out.extend(status);
        self.stale.calls_active.mark();
        out
    }

    fn customer_left(&mut self, call_id: &str, reason: LeaveReason, now: Instant) -> Vec<Emitted> {
        let Some(call) = self.calls.get_mut(call_id) else {
            return Vec::new();
        };
        if call.finish.is_some() {
            return Vec::new();
        }
        call.finish = Some(finish::CUSTOMER_HANGUP.to_owned());
        let call = &self.calls[call_id];
        vec![Emitted {
            payload: Payload::CustomerLeftBridge(views::customer_left_bridge(
                self, call, reason, now,
            )),
            tenant: call.tenant.clone(),
        }]
    }

    /// Sorts `queue`'s waiting callers by priority, first come first within one.
    pub(super) fn order_waiting(&mut self, queue: &str) {
        let mut waiting = std::mem::take(&mut self.queue_mut(queue).waiting);
        waiting.sort_by_cached_key(|w| (waiting_rank(&self.calls, &w.call_id), w.since));
        self.queue_mut(queue).waiting = waiting;
        self.stale.queues_stats.mark();
    }

    /// `incoming_queue_call` for a Stasis call waiting in `queue`; none for other calls.
    pub(super) fn incoming_queue_call(
        &self,
        queue: &str,
        call_id: &str,
        now: Instant,
    ) -> Option<Emitted> {
        let call = self.calls.get(call_id)?;
        if call.ids.ari_channel_id.is_empty() {
            return None;
        }
        let record = self.queues.get(queue)?;
        Some(Emitted {
            payload: Payload::IncomingQueueCall(views::incoming_queue_call(
                self, call, record, now,
            )),
            tenant: call.tenant.clone(),
        })
    }

    /// The summary (`call_ended`) of a Stasis call that ends with `reason`.
    pub(super) fn stasis_call_ended(
        &self,
        call: &super::CallRecord,
        reason: super::model::EndReason,
        now: Instant,
    ) -> Option<Emitted> {
        if call.ids.ari_channel_id.is_empty() {
            return None;
        }
        let summary_reason = call.finish.clone().unwrap_or_else(|| {
            match reason {
                super::model::EndReason::Transferred => finish::TRANSFERRED,
                _ => finish::CUSTOMER_HANGUP,
            }
            .to_owned()
        });
        Some(Emitted {
            payload: Payload::StasisCallEnded(views::call_summary(
                self,
                call,
                &summary_reason,
                now,
            )),
            tenant: call.tenant.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::model::{CallIds, Direction, EndReason};
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Instant {
        Utc.timestamp_opt(1_705_312_200 + seconds, 0).unwrap()
    }

    fn configure(extension: &str, max_calls: u32) -> Input {
        Input::AgentConfigured {
            agent_id: format!("agent_{extension}"),
            extension: extension.to_owned(),
            name: format!("Agent {extension}"),
            max_calls,
        }
    }

    fn stasis_call(call_id: &str, queue: Option<&str>) -> Input {
        Input::CallStarted {
            call_id: call_id.to_owned(),
            ids: CallIds {
                channel: format!("PJSIP/trunk-{call_id}"),
                ari_channel_id: call_id.to_owned(),
                ..CallIds::default()
            },
            direction: Direction::Inbound,
            customer_number: "254712345678".to_owned(),
            caller_name: String::new(),
            destination: "1001".to_owned(),
            context: "from-external".to_owned(),
            channel_state: "Ring".to_owned(),
            queue: queue.map(str::to_owned),
            tenant: String::new(),
        }
    }

    fn payloads(events: Vec<Emitted>) -> Vec<Payload> {
        events.into_iter().map(|e| e.payload).collect()
    }

    fn status_of(
        events: &[Payload],
        extension: &str,
    ) -> Option<(pb::AgentStatus, pb::AgentStatus)> {
        events.iter().rev().find_map(|p| match p {
            Payload::AgentStatusUpdated(u) if u.extension == extension => {
                Some((u.previous_status(), u.status()))
            }
            _ => None,
        })
    }

    #[test]
    fn a_configured_agent_is_available_and_a_pbx_login_keeps_its_settings() {
        let mut ledger = Ledger::new("auto");
        let events = payloads(ledger.apply(configure("1001", 3), at(0)));
        assert_eq!(
            status_of(&events, "1001"),
            Some((pb::AgentStatus::Offline, pb::AgentStatus::Available))
        );
        ledger.apply(
            Input::AgentLoggedIn {
                extension: "1001".into(),
                agent_id: "1001".into(),
                name: "PJSIP/1001".into(),
                max_calls: 1,
                queues: vec!["sales".into()],
            },
            at(1),
        );
        let agent = &ledger.agents["1001"];
        assert_eq!(
            (
                agent.agent_id.as_str(),
                agent.name.as_str(),
                agent.max_calls
            ),
            ("agent_1001", "Agent 1001", 3)
        );
    }

    #[test]
    fn offered_bridged_and_left_by_the_customer() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 3), at(0));
        ledger.apply(stasis_call("c1", None), at(10));
        let offered = payloads(ledger.apply(
            Input::CallOffered {
                call_id: "c1".into(),
                extension: "1001".into(),
            },
            at(10),
        ));
        let Payload::CallIncoming(incoming) = &offered[0] else {
            panic!("{offered:?}")
        };
        assert_eq!(
            (incoming.call_index, incoming.max_calls, incoming.can_answer),
            (1, 3, true)
        );
        assert_eq!(incoming.caller_name, "Unknown Caller");
        assert_eq!(incoming.agent_id, "agent_1001");
        assert_eq!(
            status_of(&offered, "1001"),
            Some((pb::AgentStatus::Available, pb::AgentStatus::Ringing))
        );

        let bridged = payloads(ledger.apply(
            Input::CallBridged {
                call_id: "c1".into(),
                extension: "1001".into(),
                bridge_id: "b1".into(),
            },
            at(25),
        ));
        let bridge = bridged
            .iter()
            .find_map(|p| match p {
                Payload::CallBridged(b) => Some(b),
                _ => None,
            })
            .expect("call_bridged_successfully");
        assert_eq!(bridge.timer_start_time, Some(to_timestamp(at(25))));
        assert_eq!(bridge.connected_at, Some(to_timestamp(at(25))));
        assert_eq!(bridge.server_timestamp, at(25).timestamp_millis());
        assert_eq!(bridge.bridge_id, "b1");
        assert!(
            bridged
                .iter()
                .any(|p| matches!(p, Payload::CallAnswered(_)))
        );
        assert_eq!(
            status_of(&bridged, "1001"),
            Some((pb::AgentStatus::Ringing, pb::AgentStatus::OnCall))
        );

        let left = payloads(ledger.apply(
            Input::CustomerLeft {
                call_id: "c1".into(),
                reason: LeaveReason::CustomerDisconnected,
            },
            at(130),
        ));
        let Payload::CustomerLeftBridge(left) = &left[0] else {
            panic!("{left:?}")
        };
        assert_eq!((left.call_duration, left.total_duration), (105, 120));
        assert!(left.was_connected && left.was_answered && left.auto_decline);
        assert_eq!(left.bridge_id.as_deref(), Some("b1"));
        assert_eq!(left.call_index, 1);

        let ended = payloads(ledger.apply(
            Input::CallEnded {
                call_id: "c1".into(),
                reason: EndReason::Completed,
            },
            at(130),
        ));
        let summary = ended
            .iter()
            .find_map(|p| match p {
                Payload::StasisCallEnded(s) => Some(s),
                _ => None,
            })
            .expect("call_ended");
        assert_eq!(summary.reason, finish::CUSTOMER_HANGUP);
        assert_eq!(summary.extension, "1001");
        assert_eq!(
            status_of(&ended, "1001"),
            Some((pb::AgentStatus::OnCall, pb::AgentStatus::Available))
        );
    }

    #[test]
    fn a_rejected_offer_frees_the_agent_and_says_why() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 1), at(0));
        ledger.apply(stasis_call("c1", None), at(1));
        ledger.apply(
            Input::CallOffered {
                call_id: "c1".into(),
                extension: "1001".into(),
            },
            at(1),
        );
        let rejected = payloads(ledger.apply(
            Input::CallOfferWithdrawn {
                call_id: "c1".into(),
                extension: "1001".into(),
                rejected: Some("busy with paperwork".into()),
            },
            at(4),
        ));
        let Payload::AgentRejectedCall(r) = &rejected[0] else {
            panic!("{rejected:?}")
        };
        assert_eq!(r.reason, "busy with paperwork");
        assert_eq!(
            status_of(&rejected, "1001"),
            Some((pb::AgentStatus::Ringing, pb::AgentStatus::Available))
        );
        let ended = payloads(ledger.apply(
            Input::CallEnded {
                call_id: "c1".into(),
                reason: EndReason::Rejected,
            },
            at(4),
        ));
        assert!(ended.iter().any(|p| matches!(p,
            Payload::StasisCallEnded(s) if s.reason == finish::REJECTED && !s.was_connected)));
    }

    #[test]
    fn an_agent_at_capacity_is_offered_a_call_it_cannot_answer() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 1), at(0));
        ledger.apply(configure("1002", 2), at(0));
        for (call, seconds) in [("c1", 1), ("c2", 2)] {
            ledger.apply(stasis_call(call, None), at(seconds));
        }
        ledger.apply(
            Input::CallBridged {
                call_id: "c1".into(),
                extension: "1001".into(),
                bridge_id: "b1".into(),
            },
            at(3),
        );
        assert!(!ledger.agents["1001"].can_take_call());
        let offered = payloads(ledger.apply(
            Input::CallOffered {
                call_id: "c2".into(),
                extension: "1001".into(),
            },
            at(4),
        ));
        let Payload::CallIncoming(incoming) = &offered[0] else {
            panic!("{offered:?}")
        };
        assert!(!incoming.can_answer && incoming.can_reject && incoming.can_transfer);
        assert_eq!(incoming.call_index, 2);
    }

    #[test]
    fn a_multi_call_agent_goes_from_on_call_to_multi_call() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 3), at(0));
        for (call, seconds) in [("c1", 1), ("c2", 2)] {
            ledger.apply(stasis_call(call, None), at(seconds));
        }
        let mut last = None;
        for (call, seconds) in [("c1", 3), ("c2", 4)] {
            let events = payloads(ledger.apply(
                Input::CallBridged {
                    call_id: call.into(),
                    extension: "1001".into(),
                    bridge_id: format!("b-{call}"),
                },
                at(seconds),
            ));
            last = status_of(&events, "1001");
        }
        assert_eq!(
            last,
            Some((pb::AgentStatus::OnCall, pb::AgentStatus::MultiCall))
        );
        let agent = &ledger.agents["1001"];
        assert_eq!((agent.call_index("c1"), agent.call_index("c2")), (1, 2));
        assert!(agent.can_take_call());
    }

    #[test]
    fn queue_calls_wait_in_priority_order_with_a_measured_estimate() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 2), at(0));
        // A first queue call answered after 30 s gives the queue its average speed of answer.
        ledger.apply(stasis_call("q0", Some("8000")), at(0));
        ledger.apply(join("q0"), at(0));
        ledger.apply(
            Input::CallBridged {
                call_id: "q0".into(),
                extension: "1001".into(),
                bridge_id: "b0".into(),
            },
            at(30),
        );
        ledger.apply(stasis_call("q1", Some("8000")), at(40));
        let first = payloads(ledger.apply(join("q1"), at(40)));
        let incoming = first
            .iter()
            .find_map(|p| match p {
                Payload::IncomingQueueCall(q) => Some(q),
                _ => None,
            })
            .expect("incoming_queue_call");
        assert_eq!(
            (incoming.queue_position, incoming.estimated_wait_time),
            (1, 30)
        );
        assert_eq!(incoming.queue_number, "8000");
        assert_eq!(incoming.available_agents.len(), 1);
        assert_eq!(incoming.available_agents[0].current_calls, 1);

        ledger.apply(stasis_call("q2", Some("8000")), at(41));
        ledger.apply(join("q2"), at(41));
        let raised = payloads(ledger.apply(
            Input::CallPrioritySet {
                call_id: "q2".into(),
                priority: "high".into(),
            },
            at(42),
        ));
        let Payload::IncomingQueueCall(raised) = &raised[0] else {
            panic!("{raised:?}")
        };
        assert_eq!(raised.queue_position, 1);
        let order: Vec<_> = ledger.queues["8000"]
            .waiting
            .iter()
            .map(|w| w.call_id.as_str())
            .collect();
        assert_eq!(order, ["q2", "q1"]);

        // Newcomers: a high-priority one goes behind the high-priority caller
        // and before the normal one, a normal one last.
        ledger.apply(stasis_call("q3", Some("8000")), at(43));
        ledger.apply(
            Input::CallPrioritySet {
                call_id: "q3".into(),
                priority: "high".into(),
            },
            at(43),
        );
        ledger.apply(join("q3"), at(43));
        ledger.apply(stasis_call("q4", Some("8000")), at(44));
        ledger.apply(join("q4"), at(44));
        let order: Vec<_> = ledger.queues["8000"]
            .waiting
            .iter()
            .map(|w| w.call_id.as_str())
            .collect();
        assert_eq!(order, ["q2", "q3", "q1", "q4"]);
    }

    fn join(call_id: &str) -> Input {
        Input::QueueCallerJoined {
            queue: "8000".into(),
            call_id: call_id.into(),
            channel: format!("PJSIP/trunk-{call_id}"),
            caller_number: "254712345678".into(),
            caller_name: String::new(),
        }
    }

    /// The `call_updated` among `events`: its change, state, target and outcome.
    fn update_of(events: &[Payload]) -> (pb::CallChange, pb::CallState, String, pb::DialOutcome) {
        events
            .iter()
            .find_map(|p| match p {
                Payload::CallUpdated(u) => {
                    let call = u.call.as_ref().unwrap();
                    Some((u.change(), call.state(), u.target.clone(), u.dial_outcome()))
                }
                _ => None,
            })
            .expect("a call_updated")
    }

    #[test]
    fn a_queue_call_rings_while_offered_and_waits_again_when_the_offer_lapses() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 1), at(0));
        ledger.apply(stasis_call("q1", Some("8000")), at(1));
        let offer = Input::CallOffered {
            call_id: "q1".into(),
            extension: "1001".into(),
        };
        let offered = payloads(ledger.apply(offer, at(5)));
        assert_eq!(
            update_of(&offered),
            (
                pb::CallChange::Dialing,
                pb::CallState::Ringing,
                "1001".to_owned(),
                pb::DialOutcome::Unspecified
            ),
            "an offered call rings; it no longer waits in the queue"
        );
        let lapsed = payloads(ledger.apply(
            Input::CallOfferWithdrawn {
                call_id: "q1".into(),
                extension: "1001".into(),
                rejected: None,
            },
            at(20),
        ));
        assert_eq!(
            update_of(&lapsed),
            (
                pb::CallChange::DialEnded,
                pb::CallState::Queued,
                "1001".to_owned(),
                pb::DialOutcome::NoAnswer
            )
        );
    }

    #[test]
    fn an_agent_who_transfers_a_call_is_free_while_the_target_rings() {
        let mut ledger = Ledger::new("auto");
        ledger.apply(configure("1001", 1), at(0));
        ledger.apply(configure("1002", 1), at(0));
        ledger.apply(stasis_call("c1", None), at(1));
        ledger.apply(
            Input::CallBridged {
                call_id: "c1".into(),
                extension: "1001".into(),
                bridge_id: "b1".into(),
            },
            at(2),
        );
        let transferred = payloads(ledger.apply(
            Input::CallTransferred {
                call_id: "c1".into(),
                transfer: crate::ledger::model::Transfer {
                    kind: crate::ledger::model::TransferKind::Blind,
                    transferer: "1001".into(),
                    target: "1002".into(),
                    merged_call_id: None,
                    at: at(10),
                },
                customer_number: None,
                agent_extension: None,
                agent_released: true,
                answered_by: None,
            },
            at(10),
        ));
        assert_eq!(
            status_of(&transferred, "1001"),
            Some((pb::AgentStatus::OnCall, pb::AgentStatus::Available)),
            "the transferring agent's leg is gone: free for the next call"
        );
        let offered = payloads(ledger.apply(
            Input::CallOffered {
                call_id: "c1".into(),
                extension: "1002".into(),
            },
            at(11),
        ));
        let (_, state, target, _) = update_of(&offered);
        assert_eq!(
            (state, target.as_str()),
            (pb::CallState::Transferring, "1002")
        );
    }
}
