//! The ledger's calls: started, dialling, answered, transferred, held, ended, linked across sources.

use super::*;

impl Ledger {
    /// Applies an input about calls;
    /// an input of another concern changes nothing here.
    pub(super) fn apply_call(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::CallStarted {
                call_id,
                mut ids,
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
                let mut continued_from = None;
                let mut taken_over = Vec::new();
                // The AMI call of the same channel, announced before it entered
                // the agent bridge (whose source was quicker than AMI's link).
                if !ids.ari_channel_id.is_empty()
                    && let Some(previous) = self
                        .calls
                        .values()
                        .find(|c| c.call_id != call_id && c.ids.ami_uniqueid == ids.ari_channel_id)
                        .map(|c| c.call_id.clone())
                        .and_then(|id| self.calls.remove(&id))
                {
                    continued_from = Some(previous.started_at);
                    ids.fill_from(previous.ids.clone());
                    taken_over = self.continued(previous, now);
                }
                if let Some(at) = self
                    .pending_links
                    .iter()
                    .position(|(id, _, _)| id == &call_id)
                    && let Some((_, linked, since)) = self.pending_links.remove(at)
                {
                    ids.fill_from(linked);
                    continued_from = since;
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
                    started_at: continued_from.unwrap_or(now),
                    answered_at: None,
                    answered_by: String::new(),
                    held_since: None,
                    held_ms: 0,
                    transfers: Vec::new(),
                    merged_call_ids: Vec::new(),
                    offered_to: None,
                    bridged_at: None,
                    priority: "normal".to_owned(),
                    finish: None,
                };
                let call_new = views::active_call(&record, now, None);
                let started = views::call_updated(&record, pb::CallChange::Started, now);
                self.calls.insert(call_id, record);
                if continued_from.is_some() {
                    // The wallboard has had this call's `call:new` (as the
                    // call it goes on from).
                    self.stale.calls_active.mark();
                    taken_over.push(Emitted {
                        payload: Payload::CallUpdated(started),
                        tenant,
                    });
                    return taken_over;
                }
                self.recent_starts.push_back((now, tenant.clone()));
                // Every call counts for the whole; a tenant's calls also for the tenant
                // (counted only then: the house's calls are the many).
                let everyone = self.calls.len() as u32;
                let counters = self.today.entry(None).or_default();
                counters.peak_concurrent = counters.peak_concurrent.max(everyone);
                if !tenant.is_empty() {
                    let concurrent = self.calls_in(Some(&tenant)).count() as u32;
                    let counters = self.today.entry(Some(tenant.clone())).or_default();
                    counters.peak_concurrent = counters.peak_concurrent.max(concurrent);
                }
                self.stale.calls_active.mark();
                vec![
                    Emitted {
                        payload: Payload::CallNew(call_new),
                        tenant: tenant.clone(),
                    },
                    Emitted {
                        payload: Payload::CallUpdated(started),
                        tenant,
                    },
                ]
            }
            Input::CallDialing { call_id, target } => {
                let Some(call) = self.calls.get(&call_id) else {
                    return Vec::new();
                };
                let mut update = views::call_updated(call, pb::CallChange::Dialing, now);
                update.target = target;
                vec![Emitted {
                    payload: Payload::CallUpdated(update),
                    tenant: call.tenant.clone(),
                }]
            }
            Input::CallDialEnded {
                call_id,
                target,
                outcome,
            } => {
                let Some(call) = self.calls.get(&call_id) else {
                    return Vec::new();
                };
                let mut update = views::call_updated(call, pb::CallChange::DialEnded, now);
                update.target = target;
                update.dial_outcome = views::dial_outcome(outcome) as i32;
                vec![Emitted {
                    payload: Payload::CallUpdated(update),
                    tenant: call.tenant.clone(),
                }]
            }
            Input::CallAnswered {
                call_id,
                agent_extension,
                answered_by,
            } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                let first_answer = call.answered_at.is_none();
                if !first_answer && answered_by == call.answered_by {
                    return Vec::new();
                }
                if first_answer {
                    call.answered_at = Some(now);
                }
                call.channel_state = "Up".to_owned();
                call.answered_by = answered_by;
                let previous_agent = match &agent_extension {
                    Some(extension) if call.agent_extension.as_ref() != Some(extension) => {
                        call.agent_extension.replace(extension.clone())
                    }
                    _ => None,
                };
                let mut out = answered_events(call, first_answer, now);
                out.extend(self.hand_over(&call_id, previous_agent, agent_extension, now));
                self.stale.calls_active.mark();
                out
            }
            Input::CallAnswerWithdrawn { call_id } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                if call.answered_at.take().is_none() {
                    return Vec::new();
                }
                call.answered_by.clear();
                call.channel_state = "Ringing".to_owned();
                let previous_agent = call.agent_extension.take();
                let mut out = vec![Emitted {
                    payload: Payload::CallUpdated(views::call_updated(
                        call,
                        pb::CallChange::AnswerWithdrawn,
                        now,
                    )),
                    tenant: call.tenant.clone(),
                }];
                if let Some(extension) = previous_agent {
                    // Nobody at that extension took it after all.
                    out.extend(self.change_agent(&extension, now, |agent| {
                        agent.call_ids.retain(|id| id != &call_id);
                        agent.calls_today = agent.calls_today.saturating_sub(1);
                    }));
                }
                self.stale.calls_active.mark();
                out
            }
            Input::CallTransferred {
                call_id,
                mut transfer,
                customer_number,
                agent_extension,
                agent_released,
                answered_by,
            } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                transfer.at = now;
                if let Some(number) = customer_number {
                    call.customer_number = number;
                }
                if let Some(number) = answered_by {
                    call.answered_by = number;
                }
                if let Some(merged) = &transfer.merged_call_id {
                    call.merged_call_ids.push(merged.clone());
                }
                call.transfers.push(transfer);
                let previous_agent = match &agent_extension {
                    Some(extension) if call.agent_extension.as_ref() != Some(extension) => {
                        call.agent_extension.replace(extension.clone())
                    }
                    None if agent_released => call.agent_extension.take(),
                    _ => None,
                };
                let mut update = views::call_updated(call, pb::CallChange::Transferred, now);
                update.transfer = update
                    .call
                    .as_ref()
                    .and_then(|c| c.transfers.last().cloned());
                let mut out = vec![Emitted {
                    payload: Payload::CallUpdated(update),
                    tenant: call.tenant.clone(),
                }];
                out.extend(self.hand_over(&call_id, previous_agent, agent_extension, now));
                self.stale.calls_active.mark();
                out
            }
            Input::CallHeld { call_id, held } => {
                let Some(call) = self.calls.get_mut(&call_id) else {
                    return Vec::new();
                };
                let change = match (held, call.held_since) {
                    (true, None) => {
                        call.held_since = Some(now);
                        pb::CallChange::Held
                    }
                    (false, Some(since)) => {
                        call.held_ms += crate::time::millis_between(since, now);
                        call.held_since = None;
                        pb::CallChange::Resumed
                    }
                    _ => return Vec::new(),
                };
                vec![Emitted {
                    payload: Payload::CallUpdated(views::call_updated(call, change, now)),
                    tenant: call.tenant.clone(),
                }]
            }
            Input::CallEnded { call_id, reason } => {
                let Some(mut call) = self.calls.remove(&call_id) else {
                    return Vec::new();
                };
                if let Some(since) = call.held_since.take() {
                    call.held_ms += crate::time::millis_between(since, now);
                }
                for scope in [None, Some(call.tenant.clone())] {
                    let counters = self.today.entry(scope).or_default();
                    counters.ended += 1;
                    if call.answered_at.is_some() {
                        counters.answered_ended += 1;
                    }
                }
                let mut out = vec![
                    Emitted {
                        payload: Payload::CallHangup(views::active_call(&call, now, Some(reason))),
                        tenant: call.tenant.clone(),
                    },
                    Emitted {
                        payload: Payload::CallUpdated(views::call_ended(&call, reason, now)),
                        tenant: call.tenant.clone(),
                    },
                ];
                out.extend(self.stasis_call_ended(&call, reason, now));
                out.extend(self.release(&call, now));
                out
            }
            Input::CallLinked {
                call_id,
                mut ids,
                continues,
            } => {
                let mut out = Vec::new();
                let mut since = None;
                if let Some(previous) = continues.and_then(|id| self.calls.remove(&id)) {
                    since = Some(previous.started_at);
                    ids.fill_from(previous.ids.clone());
                    out = self.continued(previous, now);
                }
                match self.calls.get_mut(&call_id) {
                    Some(call) => {
                        call.ids.fill_from(ids);
                        self.stale.calls_active.mark();
                    }
                    None => {
                        if self.pending_links.len() == PENDING_LINKS {
                            self.pending_links.pop_front();
                        }
                        self.pending_links.push_back((call_id, ids, since));
                    }
                }
                out
            }
            // Another concern's input.
            _ => Vec::new(),
        }
    }

    /// Moves `call_id` from the `previous` agent (if any) to `next` (if any),
    /// counting it once more among `next`'s calls of the day.
    /// `previous`, taken out of the calls, goes on as another source's call
    /// of the same channel: it ends as merged (`TRANSFERRED`, no record) on
    /// the gRPC stream only, and leaves its queue and agent; the wallboard's
    /// row (its `uniqueid`) goes on as the other call.
    pub(super) fn continued(&mut self, previous: CallRecord, now: Instant) -> Vec<Emitted> {
        let mut out = vec![Emitted {
            payload: Payload::CallUpdated(views::call_ended(
                &previous,
                EndReason::Transferred,
                now,
            )),
            tenant: previous.tenant.clone(),
        }];
        out.extend(self.release(&previous, now));
        out
    }

    /// What a call that is gone from the calls held: its place in a queue,
    /// the agent it was offered to, the agent who had it.
    pub(super) fn release(&mut self, call: &CallRecord, now: Instant) -> Vec<Emitted> {
        let mut out = Vec::new();
        let call_id = &call.call_id;
        if let Some(queue) = &call.queue
            && self.leave_queue(queue, call_id)
        {
            self.stale.queues_stats.mark();
        }
        if let Some(extension) = &call.offered_to {
            out.extend(self.change_agent(extension, now, |agent| {
                agent.ringing.retain(|id| id != call_id);
            }));
        }
        if let Some(extension) = &call.agent_extension {
            out.extend(self.change_agent(extension, now, |agent| {
                agent.call_ids.retain(|id| id != call_id);
            }));
        }
        self.stale.calls_active.mark();
        out
    }

    pub(super) fn hand_over(
        &mut self,
        call_id: &str,
        previous: Option<String>,
        next: Option<String>,
        now: Instant,
    ) -> Vec<Emitted> {
        let mut out = Vec::new();
        if let Some(previous) = previous {
            out.extend(self.change_agent(&previous, now, |agent| {
                agent.call_ids.retain(|id| id != call_id);
            }));
        }
        if let Some(extension) = next {
            out.extend(self.change_agent(&extension, now, |agent| {
                if !agent.call_ids.iter().any(|id| id == call_id) {
                    agent.call_ids.push(call_id.to_owned());
                    agent.calls_today += 1;
                }
            }));
        }
        out
    }

    pub(super) fn change_agent(
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
        self.stale.agents_status.mark();
        vec![Emitted::house(Payload::AgentStatusUpdated(
            views::agent_status_updated(self, &agent, previous),
        ))]
    }

    pub(super) fn calls_active(&self, now: Instant) -> Emitted {
        Emitted::house(Payload::CallsActive(pb::ActiveCallList {
            calls: self
                .calls
                .values()
                .map(|c| views::active_call(c, now, None))
                .collect(),
        }))
    }
}
