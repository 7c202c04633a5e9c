//! The simulated PBX's calls beside its queue calls: click-to-dial (an
//! `Originate` that rings the agent's own phone first), a call to an agent
//! that a colleague picks up (`Pickup`), and a call to an agent's forward,
//! a `Local/` channel that answers at once with a greeting and then rings
//! the agent's mobile. Each is written out whole when it starts, as the
//! events a real Asterisk 22 sends for it and when (the order of the
//! real-PBX scenarios of `tests/api/real_pbx.rs`, with phones as `PJSIP/`
//! channels and the outside world as a `PJSIP/trunk`), and played out by
//! [`SimPbx::tick`].

use super::*;

/// One step of a scripted flow: its events, at a time on the PBX's clock.
#[derive(Debug, Clone)]
pub(super) struct Scripted {
    /// When the events are due.
    pub at: f64,
    /// The events.
    pub events: Vec<AmiMessage>,
    /// Agents free again after this step.
    pub frees: Vec<usize>,
}

/// A flow being written: its steps, relative to its start.
struct Script {
    start: f64,
    steps: Vec<Scripted>,
}

impl Script {
    fn new(start: f64) -> Self {
        Script {
            start,
            steps: Vec::new(),
        }
    }

    /// Events due `after` seconds into the flow.
    fn at(&mut self, after: f64, events: Vec<AmiMessage>) {
        self.steps.push(Scripted {
            at: self.start + after,
            events,
            frees: Vec::new(),
        });
    }

    /// The last step, after which `agents` are free.
    fn end(&mut self, after: f64, events: Vec<AmiMessage>, agents: Vec<usize>) {
        self.steps.push(Scripted {
            at: self.start + after,
            events,
            frees: agents,
        });
    }
}

/// The live channels of the flows, by `Uniqueid`, with the application each
/// runs, as `message` changes them.
fn follow(channels: &mut BTreeMap<String, (SimChannel, String)>, message: &AmiMessage) {
    let field = |key: &str| message.get(key).unwrap_or_default().to_owned();
    let uniqueid = field("Uniqueid");
    match message.event() {
        Some("Newchannel") => {
            let channel = SimChannel {
                name: field("Channel"),
                uniqueid: uniqueid.clone(),
                linkedid: field("Linkedid"),
                number: field("CallerIDNum"),
                caller_name: field("CallerIDName"),
                connected: field("ConnectedLineNum").replace("<unknown>", ""),
                context: field("Context"),
                exten: field("Exten"),
                state: state_of(message.get("ChannelState")),
                bridge: None,
            };
            channels.insert(uniqueid, (channel, "AppDial".to_owned()));
        }
        Some("Newstate") => {
            if let Some((channel, _)) = channels.get_mut(&uniqueid) {
                channel.state = state_of(message.get("ChannelState"));
            }
        }
        Some("Newexten") => {
            if let Some((channel, application)) = channels.get_mut(&uniqueid) {
                *application = field("Application");
                channel.context = field("Context");
                channel.exten = field("Exten");
            }
        }
        Some("BridgeEnter") => {
            if let Some((channel, _)) = channels.get_mut(&uniqueid) {
                channel.bridge = Some(field("BridgeUniqueid"));
            }
        }
        Some("BridgeLeave") => {
            if let Some((channel, _)) = channels.get_mut(&uniqueid) {
                channel.bridge = None;
            }
        }
        Some("Hangup") => {
            channels.remove(&uniqueid);
        }
        _ => {}
    }
}

/// The channel state constant of an AMI `ChannelState` code.
fn state_of(code: Option<&str>) -> (&'static str, &'static str) {
    match code {
        Some("4") => RING,
        Some("5") => RINGING,
        Some("6") => UP,
        _ => DOWN,
    }
}

/// `DialBegin` / `DialEnd` by `caller` (none: Asterisk itself, an
/// `Originate`) of `dest`, with `extra` fields.
fn dial(
    name: &str,
    caller: Option<&SimChannel>,
    dest: &SimChannel,
    extra: &[(&str, &str)],
) -> AmiMessage {
    let mut all = Vec::new();
    if let Some(caller) = caller {
        channel_fields("", caller, &mut all);
    }
    channel_fields("Dest", dest, &mut all);
    all.extend(fields(extra));
    event(name, all)
}

/// `Newstate` of `channel` in `state`.
fn new_state(channel: &mut SimChannel, state: (&'static str, &'static str)) -> AmiMessage {
    channel.state = state;
    event("Newstate", with_channel(channel, &[]))
}

/// `a` and `b` join a new bridge `bridge`.
fn bridged(bridge: &str, a: &mut SimChannel, b: &mut SimChannel) -> Vec<AmiMessage> {
    let mut out = vec![event("BridgeCreate", bridge_fields(bridge, 0))];
    for (count, joining) in [(1, a), (2, b)] {
        joining.bridge = Some(bridge.to_owned());
        out.push(bridge_channel_event("BridgeEnter", bridge, count, joining));
    }
    out
}

/// `first` then `second` leave the bridge and hang up; the bridge goes.
fn torn_down(first: &SimChannel, second: &SimChannel, out: &mut Vec<AmiMessage>) {
    let bridge = first.bridge.clone().unwrap_or_default();
    out.push(bridge_channel_event("BridgeLeave", &bridge, 1, first));
    hang_up_with(first, "16", out);
    out.push(bridge_channel_event("BridgeLeave", &bridge, 0, second));
    out.push(event("BridgeDestroy", bridge_fields(&bridge, 0)));
    hang_up_with(second, "16", out);
}

impl SimPbx {
    /// Starts one of the flows, when enough agents are free: its steps join
    /// the script [`SimPbx::tick`] plays out.
    pub(super) fn start_flow(&mut self) {
        let free: Vec<usize> = (0..self.agents.len())
            .filter(|i| self.agents[*i].logged_in && self.agents[*i].busy_with.is_none())
            .collect();
        let id = self.next_call;
        let pick = self.rng.random_range(0..10);
        let script = match (pick, free.len()) {
            (0..4, 1..) => self.click_to_dial(free[0]),
            (4..7, 2..) => self.picked_up(free[0], free[1]),
            (7.., 1..) => self.forwarded(free[0]),
            _ => return,
        };
        self.next_call += 1;
        for step in &script.steps {
            for agent in &step.frees {
                self.agents[*agent].busy_with = Some(id);
            }
        }
        self.scripted.extend(script.steps);
        self.scripted.sort_by(|a, b| a.at.total_cmp(&b.at));
    }

    /// The steps of the script due by now, in order. The channels they
    /// create live on in [`SimPbx::show_channels`] until they hang up.
    pub(super) fn due_script(&mut self, out: &mut Vec<AmiMessage>) {
        let due = self.scripted.partition_point(|s| s.at <= self.clock);
        for step in self.scripted.drain(..due).collect::<Vec<_>>() {
            for message in &step.events {
                follow(&mut self.flow_channels, message);
            }
            out.extend(step.events);
            for agent in step.frees {
                self.agents[agent].busy_with = None;
            }
        }
    }

    /// A phone of the agent at `agent` (`PJSIP/1001-…`), in `linkedid`'s call.
    fn agent_phone(&mut self, agent: usize, linkedid: Option<&str>) -> SimChannel {
        let extension = self.agents[agent].extension.clone();
        let mut phone = self.new_channel(&extension, linkedid);
        phone.number = extension.clone();
        phone.caller_name = self.agents[agent].name.clone();
        phone.exten = extension;
        phone
    }

    /// A customer calling in from `number` to `exten`, whose dialplan dials
    /// `dials`: the trunk channel, and the events so far.
    fn incoming(
        &mut self,
        number: &str,
        exten: &str,
        dials: &str,
    ) -> (SimChannel, Vec<AmiMessage>) {
        let mut customer = self.trunk(number, None);
        customer.context = "from-external".into();
        customer.exten = exten.to_owned();
        let mut events = vec![event("Newchannel", with_channel(&customer, &[]))];
        events.push(new_state(&mut customer, RING));
        events.push(dialplan_step(&customer, "Dial", dials));
        (customer, events)
    }

    /// A line to the outside world, calling or called at `number`.
    fn trunk(&mut self, number: &str, linkedid: Option<&str>) -> SimChannel {
        let mut trunk = self.new_channel("trunk", linkedid);
        trunk.number = number.to_owned();
        trunk.exten = number.to_owned();
        trunk
    }

    fn customer_number(&mut self) -> String {
        format!("06{:08}", self.rng.random_range(0..100_000_000))
    }

    /// Click-to-dial: Asterisk rings the agent's phone (`Originate`); when
    /// the agent answers, the customer's number; the customer answers (or
    /// not), they talk, the agent hangs up. Now and then the agent declines
    /// their own phone's ring, and no call is placed.
    fn click_to_dial(&mut self, agent: usize) -> Script {
        let mut script = Script::new(self.clock);
        let number = self.customer_number();
        // The CRM's action, whose id the response carries.
        let action_id = format!("click-to-dial-{}", self.next_call);
        let mut phone = self.agent_phone(agent, None);
        phone.number.clear();
        phone.caller_name.clear();
        phone.exten = "s".into();
        let mut ringing = vec![
            event("Newchannel", with_channel(&phone, &[])),
            dialplan_step(&phone, "AppDial2", "(Outgoing Line)"),
            dial("DialBegin", None, &phone, &[("DialString", &phone.name)]),
        ];
        ringing.push(new_state(&mut phone, RINGING));
        script.at(0.0, ringing);
        let answers_own_phone = self.rng.random_bool(0.9);
        let rings = self.rng.random_range(1.0..4.0);
        if !answers_own_phone {
            let mut declined = vec![dial("DialEnd", None, &phone, &[("DialStatus", "BUSY")])];
            declined.push(event(
                "OriginateResponse",
                fields(&[
                    ("ActionID", &action_id),
                    ("Response", "Failure"),
                    ("Channel", &phone.name),
                    ("Context", "from-internal"),
                    ("Exten", &number),
                    ("Reason", "5"),
                    ("Uniqueid", "<null>"),
                    ("CallerIDNum", "<unknown>"),
                    ("CallerIDName", "<unknown>"),
                ]),
            ));
            hang_up_with(&phone, "17", &mut declined);
            script.end(rings, declined, vec![agent]);
            return script;
        }
        let mut placed = vec![new_state(&mut phone, UP)];
        placed.push(dial("DialEnd", None, &phone, &[("DialStatus", "ANSWER")]));
        placed.push(event(
            "OriginateResponse",
            fields(&[
                ("ActionID", &action_id),
                ("Response", "Success"),
                ("Channel", &phone.name),
                ("Context", "from-internal"),
                ("Exten", &number),
                ("Reason", "4"),
                ("Uniqueid", &phone.uniqueid),
                ("CallerIDNum", "<unknown>"),
                ("CallerIDName", "<unknown>"),
            ]),
        ));
        phone.exten.clone_from(&number);
        placed.push(dialplan_step(
            &phone,
            "Dial",
            &format!("PJSIP/trunk/{number},30"),
        ));
        let mut customer = self.trunk(&number, Some(&phone.linkedid));
        customer.connected = self.agents[agent].extension.clone();
        placed.push(event("Newchannel", with_channel(&customer, &[])));
        placed.push(dial(
            "DialBegin",
            Some(&phone),
            &customer,
            &[("DialString", &format!("trunk/{number}"))],
        ));
        placed.push(new_state(&mut customer, RINGING));
        script.at(rings, placed);
        let answer_at = rings + self.rng.random_range(2.0..8.0);
        if self.rng.random_bool(0.15) {
            let mut unanswered = vec![dial(
                "DialEnd",
                Some(&phone),
                &customer,
                &[("DialStatus", "NOANSWER")],
            )];
            hang_up_with(&customer, "19", &mut unanswered);
            hang_up_with(&phone, "16", &mut unanswered);
            script.end(rings + 20.0, unanswered, vec![agent]);
            return script;
        }
        let mut answered = vec![new_state(&mut customer, UP)];
        answered.push(dial(
            "DialEnd",
            Some(&phone),
            &customer,
            &[("DialStatus", "ANSWER")],
        ));
        let bridge = format!("{:08x}-c2d-{:04x}", self.epoch, self.next_call);
        answered.extend(bridged(&bridge, &mut customer, &mut phone));
        script.at(answer_at, answered);
        let talk = self.rng.random_range(self.workload.talk_seconds.clone());
        let mut ended = Vec::new();
        torn_down(&phone, &customer, &mut ended);
        script.end(answer_at + talk, ended, vec![agent]);
        script
    }

    /// A customer calls agent `rings` directly; after a few seconds of
    /// ringing, colleague `picker` takes the call with directed pickup
    /// (`**` and the extension).
    fn picked_up(&mut self, rings: usize, picker: usize) -> Script {
        let mut script = Script::new(self.clock);
        let number = self.customer_number();
        let extension = self.agents[rings].extension.clone();
        let (mut customer, mut start) =
            self.incoming(&number, &extension, &format!("PJSIP/{extension},30"));
        let mut phone = self.agent_phone(rings, Some(&customer.linkedid));
        phone.connected.clone_from(&number);
        start.push(event("Newchannel", with_channel(&phone, &[])));
        start.push(dialplan_step(&phone, "AppDial", "(Outgoing Line)"));
        start.push(dial(
            "DialBegin",
            Some(&customer),
            &phone,
            &[("DialString", &extension)],
        ));
        start.push(new_state(&mut phone, RINGING));
        script.at(0.0, start);
        let pickup_at = self.rng.random_range(3.0..8.0);
        let code = format!("**{extension}");
        let mut taker = self.agent_phone(picker, None);
        taker.exten.clone_from(&code);
        let mut pickup = vec![event("Newchannel", with_channel(&taker, &[]))];
        pickup.push(new_state(&mut taker, RING));
        pickup.push(dialplan_step(
            &taker,
            "Pickup",
            &format!("{extension}@from-internal"),
        ));
        pickup.push(new_state(&mut taker, UP));
        let mut picked = with_channel(&taker, &[]);
        channel_fields("Target", &phone, &mut picked);
        pickup.push(event("Pickup", picked));
        pickup.push(dial(
            "DialEnd",
            Some(&customer),
            &taker,
            &[("DialStatus", "ANSWER")],
        ));
        hang_up_with(&phone, "26", &mut pickup);
        let bridge = format!("{:08x}-pick-{:04x}", self.epoch, self.next_call);
        pickup.push(new_state(&mut customer, UP));
        pickup.extend(bridged(&bridge, &mut taker, &mut customer));
        script.at(pickup_at, pickup);
        let talk = self.rng.random_range(self.workload.talk_seconds.clone());
        let mut ended = Vec::new();
        torn_down(&customer, &taker, &mut ended);
        script.end(pickup_at + talk, ended, vec![rings, picker]);
        script
    }

    /// A customer calls agent `agent`, who forwards to their mobile: a
    /// `Local/` channel answers at once with a greeting, then rings the
    /// mobile over the trunk, which answers (they talk) or not (the call
    /// ends unanswered).
    fn forwarded(&mut self, agent: usize) -> Script {
        let mut script = Script::new(self.clock);
        let number = self.customer_number();
        let extension = self.agents[agent].extension.clone();
        let mobile = self.customer_number();
        let (mut customer, mut start) = self.incoming(
            &number,
            &extension,
            &format!("Local/{extension}@forward/n,30"),
        );
        let base = format!("Local/{extension}@forward-{:08x}", self.next_id);
        let mut one = self.new_channel("forward", Some(&customer.linkedid));
        one.name = format!("{base};1");
        one.context = "forward".into();
        one.exten.clone_from(&extension);
        let mut two = self.new_channel("forward", Some(&customer.linkedid));
        two.name = format!("{base};2");
        two.context = "forward".into();
        two.exten.clone_from(&extension);
        two.state = RING;
        two.number.clone_from(&number);
        start.push(event("Newchannel", with_channel(&one, &[])));
        start.push(event("Newchannel", with_channel(&two, &[])));
        let mut paired = fields(&[]);
        channel_fields("LocalOne", &one, &mut paired);
        channel_fields("LocalTwo", &two, &mut paired);
        paired.extend(fields(&[
            ("Context", "forward"),
            ("Exten", &extension),
            ("LocalOptimization", "No"),
        ]));
        start.push(event("LocalBridge", paired));
        start.push(dial(
            "DialBegin",
            Some(&customer),
            &one,
            &[("DialString", &format!("{extension}@forward/n"))],
        ));
        // The forward answers at once: its greeting, nobody there yet.
        start.push(dialplan_step(&two, "Answer", ""));
        start.push(new_state(&mut two, UP));
        start.push(new_state(&mut one, UP));
        start.push(dial(
            "DialEnd",
            Some(&customer),
            &one,
            &[("DialStatus", "ANSWER")],
        ));
        start.push(new_state(&mut customer, UP));
        let bridge = format!("{:08x}-fwd-{:04x}", self.epoch, self.next_call);
        start.extend(bridged(&bridge, &mut one, &mut customer));
        start.push(dialplan_step(&two, "Playback", "forward-greeting"));
        script.at(0.0, start);
        let mut ring = vec![dialplan_step(
            &two,
            "Dial",
            &format!("PJSIP/trunk/{mobile},20"),
        )];
        let mut cell = self.trunk(&mobile, Some(&customer.linkedid));
        ring.push(event("Newchannel", with_channel(&cell, &[])));
        ring.push(dial(
            "DialBegin",
            Some(&two),
            &cell,
            &[("DialString", &format!("trunk/{mobile}"))],
        ));
        ring.push(new_state(&mut cell, RINGING));
        script.at(3.0, ring);
        let mut ended = Vec::new();
        if self.rng.random_bool(0.7) {
            let answer_at = 3.0 + self.rng.random_range(2.0..8.0);
            let mut answered = vec![new_state(&mut cell, UP)];
            answered.push(dial(
                "DialEnd",
                Some(&two),
                &cell,
                &[("DialStatus", "ANSWER")],
            ));
            let inner = format!("{bridge}-in");
            answered.extend(bridged(&inner, &mut cell, &mut two));
            script.at(answer_at, answered);
            let talk = self.rng.random_range(self.workload.talk_seconds.clone());
            torn_down(&cell, &two, &mut ended);
            torn_down(&customer, &one, &mut ended);
            script.end(answer_at + talk, ended, vec![agent]);
        } else {
            ended.push(dial(
                "DialEnd",
                Some(&two),
                &cell,
                &[("DialStatus", "NOANSWER")],
            ));
            hang_up_with(&cell, "19", &mut ended);
            hang_up_with(&two, "16", &mut ended);
            torn_down(&one, &customer, &mut ended);
            script.end(23.0, ended, vec![agent]);
        }
        script
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use crate::sources::ami::translate::Translator;

    /// A watcher that connects in the middle of the flows rebuilds them from
    /// `CoreShowChannels` and, once they are over, holds no call: every call
    /// the rebuild found ends, none is left as a ghost.
    #[test]
    fn the_flows_channels_are_listed_and_a_rebuild_leaves_no_ghost() {
        let mut pbx = SimPbx::new(Workload {
            agents: 8,
            queues: 1,
            calls_per_minute: 0.0,
            other_calls_per_minute: 30.0,
            seed: 4,
            talk_seconds: 5.0..30.0,
        });
        for _ in 0..1_200 {
            pbx.tick(0.5);
        }
        let listed = pbx.show_channels();
        assert!(
            listed.len() >= 4,
            "the flows' channels are listed: {}",
            listed.len()
        );
        let mut translator = Translator::new();
        let mut ledger = Ledger::new("human");
        let now = chrono::Utc::now();
        let mut inputs = Vec::new();
        translator.rebuild(&listed, &std::collections::HashMap::new(), &mut inputs);
        pbx.workload.other_calls_per_minute = 0.0;
        for _ in 0..400 {
            for message in pbx.tick(0.5) {
                translator.translate(&message, &mut inputs);
            }
        }
        for input in inputs.drain(..) {
            ledger.apply(input, now);
        }
        assert!(pbx.flow_channels.is_empty(), "the flows are over");
        assert!(
            ledger.calls.is_empty(),
            "ghost calls: {:?}",
            ledger.calls.keys()
        );
        assert!(translator.is_idle(), "the translator forgot them");
    }
}
