//! The simulated PBX's answers to the status actions a watcher sends after
//! login (`CoreShowChannels`, `QueueStatus`, `QueueSummary`), its queue
//! members' events, and the supervisor's spy `Originate`.

use super::*;

impl SimPbx {
    /// `QueueMember*` event (or `QueueMember` list item) for `agent` in `queue`.
    pub fn member_event(&self, name: &str, agent: &SimAgent, queue: &str) -> AmiMessage {
        let interface = format!("PJSIP/{}", agent.extension);
        let (taken, _) = self
            .completed
            .get(&agent.extension)
            .copied()
            .unwrap_or_default();
        let status = if agent.busy_with.is_some() { "2" } else { "1" };
        let mut pairs = vec![
            ("Queue", queue.to_owned()),
            ("MemberName", agent.name.clone()),
            ("Interface", interface.clone()),
            ("StateInterface", interface.clone()),
            ("Membership", "dynamic".to_owned()),
            ("Penalty", "0".to_owned()),
            ("CallsTaken", taken.to_string()),
            ("LastCall", "0".to_owned()),
            ("LastPause", "0".to_owned()),
            ("LoginTime", self.epoch.to_string()),
            ("InCall", u8::from(agent.busy_with.is_some()).to_string()),
            ("Status", status.to_owned()),
            ("Paused", u8::from(agent.paused).to_string()),
            (
                "PausedReason",
                if agent.paused { "break" } else { "" }.to_owned(),
            ),
            ("Ringinuse", "0".to_owned()),
            ("Wrapuptime", "0".to_owned()),
        ];
        if name == "QueueMember" {
            pairs[1].0 = "Name";
            pairs[2].0 = "Location";
        }
        event(
            name,
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        )
    }

    /// `CoreShowChannel` items for every live channel.
    pub fn show_channels(&self) -> Vec<AmiMessage> {
        let mut channels = Vec::new();
        for call in self.calls.values() {
            channels.push((call.caller.clone(), "Queue"));
            match &call.phase {
                Phase::Ringing { channel, .. } | Phase::Talking { channel, .. } => {
                    channels.push((channel.clone(), "AppDial"));
                }
                Phase::Waiting { .. } => {}
            }
        }
        for spy in self.spies.values() {
            channels.push((spy.clone(), "ChanSpy"));
        }
        for (channel, application) in self.flow_channels.values() {
            channels.push((channel.clone(), application.as_str()));
        }
        channels
            .into_iter()
            .map(|(channel, application)| {
                let mut item = Vec::new();
                channel_fields("", &channel, &mut item);
                item.extend(fields(&[
                    ("BridgeId", channel.bridge.as_deref().unwrap_or("")),
                    ("Application", application),
                    ("ApplicationData", ""),
                    ("Duration", "00:00:10"),
                ]));
                event("CoreShowChannel", item)
            })
            .collect()
    }

    /// `QueueParams`, `QueueMember` and `QueueEntry` items for `QueueStatus`.
    pub fn queue_status(&self) -> Vec<AmiMessage> {
        let mut out = Vec::new();
        for queue in &self.queues {
            let waiting: Vec<&SimCall> = self
                .calls
                .values()
                .filter(|c| {
                    &c.queue == queue
                        && matches!(c.phase, Phase::Waiting { .. } | Phase::Ringing { .. })
                })
                .collect();
            let count = waiting.len().to_string();
            out.push(event(
                "QueueParams",
                fields(&[
                    ("Queue", queue),
                    ("Max", "0"),
                    ("Strategy", "ringall"),
                    ("Calls", &count),
                    ("Holdtime", "0"),
                    ("TalkTime", "0"),
                    ("Completed", "0"),
                    ("Abandoned", "0"),
                    ("ServiceLevel", "20"),
                    ("ServicelevelPerf", "0.0"),
                    ("ServicelevelPerf2", "0.0"),
                    ("Weight", "0"),
                ]),
            ));
            for agent in self
                .agents
                .iter()
                .filter(|a| a.logged_in && a.queues.contains(queue))
            {
                out.push(self.member_event("QueueMember", agent, queue));
            }
            for (position, call) in waiting.iter().enumerate() {
                let position = (position + 1).to_string();
                let wait = format!("{}", (self.clock - call.joined_at) as u64);
                out.push(event(
                    "QueueEntry",
                    fields(&[
                        ("Queue", queue),
                        ("Position", &position),
                        ("Channel", &call.caller.name),
                        ("Uniqueid", &call.caller.uniqueid),
                        ("CallerIDNum", &call.caller.number),
                        ("CallerIDName", "<unknown>"),
                        ("ConnectedLineNum", "<unknown>"),
                        ("ConnectedLineName", "<unknown>"),
                        ("Wait", &wait),
                        ("Priority", "0"),
                    ]),
                ));
            }
        }
        out
    }

    /// `QueueSummary` items.
    pub fn queue_summary(&self) -> Vec<AmiMessage> {
        self.queues
            .iter()
            .map(|queue| {
                let members: Vec<&SimAgent> = self
                    .agents
                    .iter()
                    .filter(|a| a.logged_in && a.queues.contains(queue))
                    .collect();
                let available = members
                    .iter()
                    .filter(|a| !a.paused && a.busy_with.is_none())
                    .count()
                    .to_string();
                let callers = self
                    .calls
                    .values()
                    .filter(|c| &c.queue == queue && matches!(c.phase, Phase::Waiting { .. }))
                    .count()
                    .to_string();
                event(
                    "QueueSummary",
                    fields(&[
                        ("Queue", queue),
                        ("LoggedIn", &members.len().to_string()),
                        ("Available", &available),
                        ("Callers", &callers),
                        ("HoldTime", "0"),
                        ("TalkTime", "0"),
                        ("LongestHoldTime", "0"),
                    ]),
                )
            })
            .collect()
    }

    /// `Originate` of a supervisor's phone into a spy context: the phone
    /// answers and ChanSpy starts on the agent's call. `Err` says why not.
    pub fn originate_spy(
        &mut self,
        supervisor_device: &str,
        context: &str,
        agent_extension: &str,
        out: &mut Vec<AmiMessage>,
    ) -> Result<(), String> {
        let Some(agent) = self.agents.iter().find(|a| a.extension == agent_extension) else {
            return Err(format!("Extension {agent_extension} does not exist"));
        };
        let talking = agent
            .busy_with
            .and_then(|id| self.calls.get(&id))
            .and_then(|c| match &c.phase {
                Phase::Talking { channel, .. } => Some(channel.clone()),
                _ => None,
            });
        let device = supervisor_device
            .split_once('/')
            .map_or(supervisor_device, |(_, d)| d);
        let mut spy = self.new_channel(device, None);
        spy.number = device.to_owned();
        spy.context = context.to_owned();
        spy.exten = agent_extension.to_owned();
        out.push(event("Newchannel", with_channel(&spy, &[])));
        spy.state = UP;
        out.push(event("Newstate", with_channel(&spy, &[])));
        match talking {
            Some(spyee) => {
                let mut start = Vec::new();
                channel_fields("Spyer", &spy, &mut start);
                channel_fields("Spyee", &spyee, &mut start);
                out.push(event("ChanSpyStart", start));
                self.spies.insert(agent_extension.to_owned(), spy);
            }
            None => self.hang_up(&spy, "16", out),
        }
        Ok(())
    }
}
