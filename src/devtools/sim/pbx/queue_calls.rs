//! The simulated PBX's queue calls, step by step as Asterisk 22 reports
//! them: a caller arrives and joins a queue, a free member's phone rings
//! (through its `Local/` channel), answers, talks, sometimes transfers
//! blindly, and the call completes and hangs up.

use super::*;

impl SimPbx {
    pub(super) fn caller_arrives(&mut self, out: &mut Vec<AmiMessage>) {
        let id = self.next_call;
        self.next_call += 1;
        let queue_index = self.rng.random_range(0..self.queues.len());
        let queue = self.queues[queue_index].clone();
        let mut caller = self.new_channel("trunk", None);
        caller.number = format!("+1555{:07}", self.rng.random_range(0..10_000_000));
        caller.context = "from-external".into();
        caller.exten = format!("{}", 8000 + queue_index);
        caller.state = DOWN;
        out.push(event("Newchannel", with_channel(&caller, &[])));
        caller.state = RING;
        out.push(event("Newstate", with_channel(&caller, &[])));
        out.push(device_state(&caller, "RINGING"));
        out.push(dialplan_step(&caller, "Answer", ""));
        caller.state = UP;
        out.push(event("Newstate", with_channel(&caller, &[])));
        out.push(device_state(&caller, "INUSE"));
        out.push(dialplan_step(&caller, "Queue", &queue));
        let waiting = self.calls.values().filter(|c| c.queue == queue).count() + 1;
        let position = waiting.to_string();
        out.push(variable_set(&caller, "QUEUEPOSITION", &position));
        out.push(event(
            "QueueCallerJoin",
            with_channel(
                &caller,
                &[
                    ("Queue", &queue),
                    ("Position", &position),
                    ("Count", &position),
                ],
            ),
        ));
        let patience = self.clock + self.rng.random_range(25.0..120.0);
        self.calls.insert(
            id,
            SimCall {
                caller,
                queue,
                joined_at: self.clock,
                answered_at: 0.0,
                held_seconds: 0.0,
                on_hold: false,
                phase: Phase::Waiting { patience },
            },
        );
    }

    pub(super) fn free_agent(&mut self, queue: &str) -> Option<usize> {
        let free: Vec<usize> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.logged_in
                    && !a.paused
                    && a.busy_with.is_none()
                    && a.queues.iter().any(|q| q == queue)
            })
            .map(|(i, _)| i)
            .collect();
        (!free.is_empty()).then(|| free[self.rng.random_range(0..free.len())])
    }

    /// Moves call `id` on if something is due for it. Most calls, most
    /// ticks, are talking or ringing with nothing due: those are looked at
    /// in place rather than cloned.
    pub(super) fn advance(&mut self, id: u64, out: &mut Vec<AmiMessage>) {
        if self
            .calls
            .get(&id)
            .is_some_and(|call| !call.is_idle(self.clock))
        {
            self.advance_due(id, out);
        }
    }

    pub(super) fn advance_due(&mut self, id: u64, out: &mut Vec<AmiMessage>) {
        let now = self.clock;
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        match call.phase.clone() {
            Phase::Waiting { patience } if now >= patience => {
                let hold = format!("{}", (now - call.joined_at) as u64);
                out.push(event(
                    "QueueCallerAbandon",
                    with_channel(
                        &call.caller,
                        &[
                            ("Queue", &call.queue),
                            ("Position", "1"),
                            ("OriginalPosition", "1"),
                            ("HoldTime", &hold),
                        ],
                    ),
                ));
                out.push(event(
                    "QueueCallerLeave",
                    with_channel(
                        &call.caller,
                        &[("Queue", &call.queue), ("Count", "0"), ("Position", "1")],
                    ),
                ));
                self.hang_up(&call.caller, "16", out);
                self.calls.remove(&id);
            }
            Phase::Waiting { .. } => {
                if let Some(agent) = self.free_agent(&call.queue) {
                    self.ring(id, agent, out);
                }
            }
            Phase::Ringing {
                agent,
                channel,
                until,
                answers,
            } if now >= until => {
                if answers {
                    self.answer(id, agent, channel, out);
                } else {
                    let mut caller = call.caller.clone();
                    caller.connected.clear();
                    let mut dial = with_channel(&caller, &[]);
                    channel_fields("Dest", &channel, &mut dial);
                    dial.extend(fields(&[("DialStatus", "NOANSWER")]));
                    out.push(variable_set(&call.caller, "DIALSTATUS", "NOANSWER"));
                    out.push(event("DialEnd", dial));
                    let ring_ms = format!("{}", ((until - call.joined_at) * 1000.0) as u64);
                    let ext = self.agents[agent].extension.clone();
                    let name = self.agents[agent].name.clone();
                    out.push(event(
                        "AgentRingNoAnswer",
                        with_channel(
                            &call.caller,
                            &[
                                ("Queue", &call.queue),
                                ("Interface", &format!("PJSIP/{ext}")),
                                ("MemberName", &name),
                                ("RingTime", &ring_ms),
                            ],
                        ),
                    ));
                    self.hang_up(&channel, "19", out);
                    self.agents[agent].busy_with = None;
                    let patience = now + self.rng.random_range(15.0..60.0);
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.phase = Phase::Waiting { patience };
                    }
                }
            }
            Phase::Talking {
                agent,
                channel,
                until,
                hold,
                transfer_at,
            } => {
                if let Some((start, end)) = hold {
                    if now >= start && now < end && !call.on_hold {
                        out.push(event(
                            "Hold",
                            with_channel(&call.caller, &[("MusicClass", "default")]),
                        ));
                        if let Some(call) = self.calls.get_mut(&id) {
                            call.on_hold = true;
                        }
                        return;
                    }
                    if now >= end && call.on_hold {
                        out.push(event("Unhold", with_channel(&call.caller, &[])));
                        if let Some(call) = self.calls.get_mut(&id) {
                            call.on_hold = false;
                            call.held_seconds += end - start;
                        }
                        return;
                    }
                }
                if let Some(at) = transfer_at
                    && now >= at
                    && !call.on_hold
                {
                    self.blind_transfer(id, agent, channel, out);
                    return;
                }
                if now >= until {
                    self.complete(id, agent, channel, out);
                }
            }
            Phase::Ringing { .. } => {}
        }
    }

    pub(super) fn ring(&mut self, id: u64, agent: usize, out: &mut Vec<AmiMessage>) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let extension = self.agents[agent].extension.clone();
        let name = self.agents[agent].name.clone();
        self.agents[agent].busy_with = Some(id);
        let mut channel = self.new_channel(&extension, Some(&call.caller.linkedid));
        channel.number = extension.clone();
        channel.caller_name = name.clone();
        channel.connected = call.caller.number.clone();
        channel.context = "agents".into();
        channel.exten = extension.clone();
        out.push(event("Newchannel", with_channel(&channel, &[])));
        out.push(variable_set(&channel, "DIALEDPEERNUMBER", &extension));
        out.push(dialplan_step(&channel, "AppDial", "(Outgoing Line)"));
        let interface = format!("PJSIP/{extension}");
        let mut called = with_channel(&call.caller, &[]);
        channel_fields("Dest", &channel, &mut called);
        called.extend(fields(&[
            ("Queue", &call.queue),
            ("Interface", &interface),
            ("MemberName", &name),
        ]));
        out.push(event("AgentCalled", called));
        let mut dial = with_channel(&call.caller, &[]);
        channel_fields("Dest", &channel, &mut dial);
        dial.extend(fields(&[("DialString", &extension)]));
        out.push(event("DialBegin", dial));
        channel.state = RINGING;
        out.push(event("Newstate", with_channel(&channel, &[])));
        out.push(device_state(&channel, "RINGING"));
        let agent_record = self.agents[agent].clone();
        for queue in &agent_record.queues {
            out.push(self.member_event("QueueMemberStatus", &agent_record, queue));
        }
        let until = self.clock + self.rng.random_range(2.0..8.0);
        let answers = self.rng.random_bool(0.85);
        if let Some(call) = self.calls.get_mut(&id) {
            call.phase = Phase::Ringing {
                agent,
                channel,
                until,
                answers,
            };
        }
    }

    pub(super) fn answer(
        &mut self,
        id: u64,
        agent: usize,
        mut channel: SimChannel,
        out: &mut Vec<AmiMessage>,
    ) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        channel.state = UP;
        out.push(event("Newstate", with_channel(&channel, &[])));
        out.push(device_state(&channel, "INUSE"));
        let mut dial = with_channel(&call.caller, &[]);
        channel_fields("Dest", &channel, &mut dial);
        dial.extend(fields(&[("DialStatus", "ANSWER")]));
        for (variable, value) in [
            ("DIALSTATUS", "ANSWER"),
            ("DIALEDPEERNAME", channel.name.as_str()),
        ] {
            out.push(variable_set(&call.caller, variable, value));
        }
        out.push(event("DialEnd", dial));
        out.push(event(
            "QueueCallerLeave",
            with_channel(
                &call.caller,
                &[("Queue", &call.queue), ("Count", "0"), ("Position", "1")],
            ),
        ));
        let extension = self.agents[agent].extension.clone();
        let name = self.agents[agent].name.clone();
        let hold_time = format!("{}", (self.clock - call.joined_at) as u64);
        let mut connect = with_channel(&call.caller, &[]);
        channel_fields("Dest", &channel, &mut connect);
        connect.extend(fields(&[
            ("Queue", &call.queue),
            ("Interface", &format!("PJSIP/{extension}")),
            ("MemberName", &name),
            ("HoldTime", &hold_time),
            ("RingTime", "3"),
        ]));
        out.push(event("AgentConnect", connect));
        let bridge = format!("{:08x}-sim-{id:04x}", self.epoch);
        out.push(event("BridgeCreate", bridge_fields(&bridge, 0)));
        let mut caller = call.caller.clone();
        for (count, joining) in [(1, &mut channel), (2, &mut caller)] {
            joining.bridge = Some(bridge.clone());
            out.push(bridge_channel_event("BridgeEnter", &bridge, count, joining));
        }
        out.push(variable_set(&channel, "BRIDGEPEER", &caller.name));
        out.push(variable_set(&caller, "BRIDGEPEER", &channel.name));
        self.agents[agent].calls_taken += 1;
        let talk = self.rng.random_range(self.workload.talk_seconds.clone());
        let hold = (talk > 20.0 && self.rng.random_bool(0.15)).then(|| {
            let start = self.clock + self.rng.random_range(5.0..talk / 2.0);
            (start, start + self.rng.random_range(4.0..15.0))
        });
        let transfer_at =
            (self.agents.len() > 1 && self.rng.random_bool(0.1)).then_some(self.clock + talk * 0.7);
        if let Some(call) = self.calls.get_mut(&id) {
            call.caller = caller;
            call.answered_at = self.clock;
            call.phase = Phase::Talking {
                agent,
                channel,
                until: self.clock + talk,
                hold,
                transfer_at,
            };
        }
    }

    pub(super) fn blind_transfer(
        &mut self,
        id: u64,
        agent: usize,
        channel: SimChannel,
        out: &mut Vec<AmiMessage>,
    ) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let target = (0..self.agents.len()).find(|&i| {
            i != agent && self.agents[i].logged_in && self.agents[i].busy_with.is_none()
        });
        let Some(target) = target else {
            if let Some(call) = self.calls.get_mut(&id)
                && let Phase::Talking { transfer_at, .. } = &mut call.phase
            {
                *transfer_at = None;
            }
            return;
        };
        let bridge = call.caller.bridge.clone().unwrap_or_default();
        let target_extension = self.agents[target].extension.clone();
        let mut transfer = Vec::new();
        channel_fields("Transferer", &channel, &mut transfer);
        channel_fields("Transferee", &call.caller, &mut transfer);
        transfer.extend(fields(&[
            ("Result", "Success"),
            ("BridgeUniqueid", &bridge),
            ("BridgeType", "basic"),
            ("IsExternal", "No"),
            ("Context", "agents"),
            ("Extension", &target_extension),
        ]));
        out.push(event("BlindTransfer", transfer));
        self.leave_bridge(&channel, 1, out);
        self.hang_up(&channel, "16", out);
        self.agents[agent].busy_with = None;
        self.complete_member(&call, agent, &channel, out);
        let mut caller = call.caller.clone();
        self.leave_bridge(&caller, 0, out);
        caller.bridge = None;
        out.push(event("BridgeDestroy", bridge_fields(&bridge, 0)));
        if let Some(call) = self.calls.get_mut(&id) {
            call.caller = caller;
            call.joined_at = self.clock;
            call.phase = Phase::Waiting {
                patience: self.clock + 300.0,
            };
        }
        self.agents[target].busy_with = None;
        self.ring(id, target, out);
        if let Some(call) = self.calls.get_mut(&id)
            && let Phase::Ringing { answers, .. } = &mut call.phase
        {
            *answers = true;
        }
    }

    /// `channel` leaves its bridge, leaving `remaining` channels in it.
    pub(super) fn leave_bridge(
        &self,
        channel: &SimChannel,
        remaining: usize,
        out: &mut Vec<AmiMessage>,
    ) {
        if let Some(bridge) = &channel.bridge {
            out.push(bridge_channel_event(
                "BridgeLeave",
                bridge,
                remaining,
                channel,
            ));
        }
    }

    pub(super) fn complete_member(
        &mut self,
        call: &SimCall,
        agent: usize,
        member: &SimChannel,
        out: &mut Vec<AmiMessage>,
    ) {
        let extension = self.agents[agent].extension.clone();
        let name = self.agents[agent].name.clone();
        let talk = format!(
            "{}",
            (self.clock - call.answered_at - call.held_seconds).max(0.0) as u64
        );
        let hold = format!("{}", (call.answered_at - call.joined_at).max(0.0) as u64);
        let mut complete = Vec::new();
        channel_fields("", &call.caller, &mut complete);
        channel_fields("Dest", member, &mut complete);
        complete.extend(fields(&[
            ("Queue", &call.queue),
            ("Interface", &format!("PJSIP/{extension}")),
            ("MemberName", &name),
            ("HoldTime", &hold),
            ("TalkTime", &talk),
            ("Reason", "agent"),
        ]));
        out.push(event("AgentComplete", complete));
        let entry = self.completed.entry(extension).or_default();
        entry.0 += 1;
        let agent_record = self.agents[agent].clone();
        for queue in &agent_record.queues {
            out.push(self.member_event("QueueMemberStatus", &agent_record, queue));
        }
    }

    pub(super) fn complete(
        &mut self,
        id: u64,
        agent: usize,
        channel: SimChannel,
        out: &mut Vec<AmiMessage>,
    ) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        let bridge = call.caller.bridge.clone().unwrap_or_default();
        self.leave_bridge(&channel, 1, out);
        self.hang_up(&channel, "16", out);
        self.agents[agent].busy_with = None;
        self.complete_member(&call, agent, &channel, out);
        self.leave_bridge(&call.caller, 0, out);
        out.push(event("BridgeDestroy", bridge_fields(&bridge, 0)));
        self.hang_up(&call.caller, "16", out);
        let extension = self.agents[agent].extension.clone();
        if let Some(spy) = self.spies.remove(&extension) {
            out.push(event("ChanSpyStop", {
                let mut stop = Vec::new();
                channel_fields("Spyer", &spy, &mut stop);
                channel_fields("Spyee", &channel, &mut stop);
                stop
            }));
            self.hang_up(&spy, "16", out);
        }
    }

    pub(super) fn hang_up(&self, channel: &SimChannel, cause: &str, out: &mut Vec<AmiMessage>) {
        hang_up_with(channel, cause, out);
    }
}
