//! The ledger's queues: their settings and members, callers waiting, answered, leaving, abandoning.

use super::*;

impl Ledger {
    /// Applies an input about queues;
    /// an input of another concern changes nothing here.
    pub(super) fn apply_queue(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::QueueConfigured {
                queue,
                service_level_seconds,
            } => {
                let record = self.queue_mut(&queue);
                if service_level_seconds == 0
                    || record.service_level_seconds == service_level_seconds
                {
                    return Vec::new();
                }
                record.service_level_seconds = service_level_seconds;
                self.stale.queues_stats.mark();
                Vec::new()
            }
            Input::QueueMemberSet { queue, member } => {
                let record = self.queue_mut(&queue);
                let previous = record.members.get(&member.interface);
                if previous == Some(&member) {
                    return Vec::new();
                }
                let was_paused = previous.is_some_and(|m| m.paused);
                let pause_change = match (&member.extension, was_paused, member.paused) {
                    (Some(extension), false, true) => Some((
                        extension.clone(),
                        pb::AgentSessionChangeKind::Paused,
                        member.pause_reason.clone(),
                    )),
                    (Some(extension), true, false) => Some((
                        extension.clone(),
                        pb::AgentSessionChangeKind::Resumed,
                        String::new(),
                    )),
                    _ => None,
                };
                record.members.insert(member.interface.clone(), member);
                self.stale.queues_stats.mark();
                let mut out = Vec::new();
                if let Some((extension, kind, reason)) = pause_change {
                    out.push(self.agent_session(&extension, kind, &queue, reason, now));
                }
                out
            }
            Input::QueueMemberRemoved { queue, interface } => {
                if self.queue_mut(&queue).members.remove(&interface).is_none() {
                    return Vec::new();
                }
                self.stale.queues_stats.mark();
                Vec::new()
            }
            Input::QueueCallerJoined {
                queue,
                call_id,
                channel,
                caller_number,
                caller_name,
            } => {
                if self
                    .queues
                    .get(&queue)
                    .is_some_and(|q| q.waiting.iter().any(|w| w.call_id == call_id))
                {
                    return Vec::new();
                }
                let (tenant, uniqueid) = match self.calls.get_mut(&call_id) {
                    Some(call) => {
                        call.queue = Some(queue.clone());
                        (call.tenant.clone(), call.uniqueid().to_owned())
                    }
                    None => (String::new(), call_id.clone()),
                };
                // The waiting list is kept in order (priority, then arrival): the
                // newcomer goes behind every caller of its priority or a higher one.
                // Looked for from the back, where a newcomer of normal priority
                // belongs: a long queue costs one comparison, not one per caller.
                let calls = &self.calls;
                let rank = agent_bridge::waiting_rank(calls, &call_id);
                let record = self
                    .queues
                    .entry(queue.clone())
                    .or_insert_with(|| QueueRecord::new(&queue));
                let index = record
                    .waiting
                    .iter()
                    .rposition(|w| {
                        (agent_bridge::waiting_rank(calls, &w.call_id), w.since) <= (rank, now)
                    })
                    .map_or(0, |before| before + 1);
                record.waiting.insert(
                    index,
                    WaitingCaller {
                        call_id: call_id.clone(),
                        since: now,
                    },
                );
                let count = record.waiting.len() as u32;
                let position = index as u32 + 1;
                self.stale.queues_stats.mark();
                let supervisors = self.incoming_queue_call(&queue, &call_id, now);
                let mut out = vec![Emitted {
                    payload: Payload::QueueCallerJoined(pb::QueueCallerJoined {
                        queue,
                        uniqueid,
                        channel,
                        callerid: caller_number,
                        caller_name,
                        position,
                        count,
                        timestamp: Some(to_timestamp(now)),
                    }),
                    tenant,
                }];
                out.extend(supervisors);
                out
            }
            Input::QueueCallerLeft { queue, call_id } => {
                if !self.leave_queue(&queue, &call_id) {
                    return Vec::new();
                }
                self.stale.queues_stats.mark();
                Vec::new()
            }
            Input::QueueCallerAbandoned { queue, call_id } => {
                if !self.leave_queue(&queue, &call_id) {
                    return Vec::new();
                }
                self.queue_mut(&queue).day.abandoned += 1;
                self.stale.queues_stats.mark();
                Vec::new()
            }
            Input::QueueCallAnswered {
                queue,
                call_id,
                interface,
                wait_seconds,
            } => {
                self.leave_queue(&queue, &call_id);
                let record = self.queue_mut(&queue);
                record.day.answered += 1;
                record.day.answered_wait_seconds += u64::from(wait_seconds);
                if wait_seconds <= record.service_level_seconds {
                    record.day.answered_within_threshold += 1;
                }
                if let Some(member) = record.members.get_mut(&interface) {
                    member.device_free = false;
                }
                self.stale.queues_stats.mark();
                Vec::new()
            }
            Input::QueueCallCompleted {
                queue,
                call_id: _,
                talk_seconds,
            } => {
                let record = self.queue_mut(&queue);
                record.day.completed += 1;
                record.day.talk_seconds += u64::from(talk_seconds);
                self.stale.queues_stats.mark();
                Vec::new()
            }
            // Another concern's input.
            _ => Vec::new(),
        }
    }

    pub(super) fn queue_mut(&mut self, name: &str) -> &mut QueueRecord {
        self.queues
            .entry(name.to_owned())
            .or_insert_with(|| QueueRecord::new(name))
    }

    /// Takes `call_id` off `queue`'s waiting list; whether it was there.
    pub(super) fn leave_queue(&mut self, queue: &str, call_id: &str) -> bool {
        let Some(record) = self.queues.get_mut(queue) else {
            return false;
        };
        let before = record.waiting.len();
        record.waiting.retain(|w| w.call_id != call_id);
        record.waiting.len() != before
    }

    pub(super) fn queues_stats(&self, now: Instant) -> Emitted {
        Emitted::house(Payload::QueuesStats(pb::QueueStatsList {
            queues: self
                .queues
                .values()
                .map(|q| views::queue_stats(q, now))
                .collect(),
        }))
    }
}
