//! The simulated PBX: agents in queues, callers arriving from a trunk,
//! waiting, ringing agents, being answered, put on hold, transferred,
//! abandoning and hanging up. Each step emits the AMI events a real
//! Asterisk 22 emits for it, with the same names, field sets and order
//! (compare `../shared/fixtures/ami/asterisk-22/`), so the AMI client cannot
//! tell the difference: the call events switchboard acts on, and also the
//! dialplan steps (`Newexten`), channel variables (`VarSet`), device states
//! and hang-up requests a watcher reads past. Seeded and driven by [`SimPbx::tick`], so a seed
//! gives the same workload every time.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sources::ami::AmiMessage;

mod flows;

/// Channel state `Ring`.
const RING: (&str, &str) = ("4", "Ring");
/// Channel state `Ringing`.
const RINGING: (&str, &str) = ("5", "Ringing");
/// Channel state `Up`.
const UP: (&str, &str) = ("6", "Up");
/// Channel state `Down`.
const DOWN: (&str, &str) = ("0", "Down");

/// The shape of the workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Agents (extensions 1001, 1002, …).
    pub agents: u32,
    /// Queues (sales, support, billing, …); each agent serves one or two.
    pub queues: u32,
    /// New callers per minute.
    pub calls_per_minute: f64,
    /// Seed of the random choices.
    pub seed: u64,
    /// How long an answered call talks, in seconds (drawn uniformly).
    pub talk_seconds: std::ops::Range<f64>,
    /// Calls per minute beside the queue calls: click-to-dial, a colleague's
    /// pickup, a forward to a mobile (see `flows`).
    pub other_calls_per_minute: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            agents: 6,
            queues: 2,
            calls_per_minute: 12.0,
            seed: 1,
            talk_seconds: 20.0..150.0,
            other_calls_per_minute: 3.0,
        }
    }
}

const QUEUE_NAMES: [&str; 6] = [
    "sales",
    "support",
    "billing",
    "retention",
    "technical",
    "vip",
];
const NAMES: [&str; 10] = [
    "Ana Silva",
    "Ben Okafor",
    "Chen Wei",
    "Dana Cohen",
    "Eli Novak",
    "Fay Morgan",
    "Gus Patel",
    "Hana Sato",
    "Ivo Berg",
    "Jo Lopez",
];

/// One channel's identity and state.
#[derive(Debug, Clone)]
pub struct SimChannel {
    /// `PJSIP/1001-0000000a`.
    pub name: String,
    /// Uniqueid.
    pub uniqueid: String,
    /// Linkedid.
    pub linkedid: String,
    /// Caller-id number.
    pub number: String,
    /// Caller-id name.
    pub caller_name: String,
    /// Connected-line number.
    pub connected: String,
    /// Dialplan context.
    pub context: String,
    /// Extension.
    pub exten: String,
    /// State code and description.
    pub state: (&'static str, &'static str),
    /// Bridge it is in.
    pub bridge: Option<String>,
}

/// An agent (queue member).
#[derive(Debug, Clone)]
pub struct SimAgent {
    /// Extension.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Queues served.
    pub queues: Vec<String>,
    /// Logged in (member of its queues).
    pub logged_in: bool,
    /// Paused.
    pub paused: bool,
    /// The call it rings for or talks on.
    pub busy_with: Option<u64>,
    /// Calls taken.
    pub calls_taken: u32,
}

#[derive(Debug, Clone)]
enum Phase {
    /// In the queue, until the caller gives up at `patience`.
    Waiting { patience: f64 },
    /// An agent's phone rings until `until`; answered or not.
    Ringing {
        agent: usize,
        channel: SimChannel,
        until: f64,
        answers: bool,
    },
    /// Talking until `until`; hold and transfer may happen on the way.
    Talking {
        agent: usize,
        channel: SimChannel,
        until: f64,
        hold: Option<(f64, f64)>,
        transfer_at: Option<f64>,
    },
}

#[derive(Debug, Clone)]
struct SimCall {
    caller: SimChannel,
    queue: String,
    joined_at: f64,
    answered_at: f64,
    held_seconds: f64,
    on_hold: bool,
    phase: Phase,
}

impl SimCall {
    /// Whether nothing is due for the call at `now`: [`SimPbx::advance`]
    /// would leave it as it is.
    fn is_idle(&self, now: f64) -> bool {
        match &self.phase {
            Phase::Waiting { .. } => false,
            Phase::Ringing { until, .. } => now < *until,
            Phase::Talking {
                until,
                hold,
                transfer_at,
                ..
            } => {
                let hold_due = hold.is_some_and(|(start, end)| {
                    (now >= start && now < end && !self.on_hold) || (now >= end && self.on_hold)
                });
                let transfer_due = transfer_at.is_some_and(|at| now >= at && !self.on_hold);
                now < *until && !hold_due && !transfer_due
            }
        }
    }
}

/// The simulated PBX.
pub struct SimPbx {
    rng: StdRng,
    workload: Workload,
    /// Seconds since start.
    pub clock: f64,
    epoch: u64,
    next_id: u64,
    next_call: u64,
    /// Agents.
    pub agents: Vec<SimAgent>,
    /// Queue names.
    pub queues: Vec<String>,
    calls: BTreeMap<u64, SimCall>,
    /// Supervisors' spy channels, by agent extension listened to.
    pub spies: BTreeMap<String, SimChannel>,
    completed: BTreeMap<String, (u32, u32)>,
    /// The steps of the flows under way beside the queue calls, by time.
    scripted: Vec<flows::Scripted>,
    /// The flows' live channels, by `Uniqueid`, with the application each runs.
    flow_channels: BTreeMap<String, (SimChannel, String)>,
}

/// A channel's standard AMI fields, with `prefix` (`Dest`, `Transferee`, …).
fn channel_fields(prefix: &str, channel: &SimChannel, out: &mut Vec<(String, String)>) {
    let mut push = |key: &str, value: &str| out.push((format!("{prefix}{key}"), value.to_owned()));
    push("Channel", &channel.name);
    push("ChannelState", channel.state.0);
    push("ChannelStateDesc", channel.state.1);
    push("CallerIDNum", &channel.number);
    push("CallerIDName", &channel.caller_name);
    push(
        "ConnectedLineNum",
        if channel.connected.is_empty() {
            "<unknown>"
        } else {
            &channel.connected
        },
    );
    push("ConnectedLineName", "<unknown>");
    push("Language", "en");
    push("AccountCode", "");
    push("Context", &channel.context);
    push("Exten", &channel.exten);
    push("Priority", "1");
    push("Uniqueid", &channel.uniqueid);
    push("Linkedid", &channel.linkedid);
}

/// The fields Asterisk 22 gives every bridge event, in its order.
fn bridge_fields(bridge: &str, channels: usize) -> Vec<(String, String)> {
    fields(&[
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", &channels.to_string()),
        ("BridgeVideoSourceMode", "none"),
    ])
}

/// A bridge event about `channel` (BridgeEnter, BridgeLeave): the bridge, then the channel.
fn bridge_channel_event(
    name: &str,
    bridge: &str,
    channels: usize,
    channel: &SimChannel,
) -> AmiMessage {
    let mut all = bridge_fields(bridge, channels);
    channel_fields("", channel, &mut all);
    event(name, all)
}

/// `message` with a `Timestamp` after its `Privilege`, as Asterisk sends
/// when `timestampevents` is on (it was in the Asterisk 22 captures).
fn stamped(message: &AmiMessage, timestamp: &str) -> AmiMessage {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(message.len() + 1);
    for (key, value) in message.headers() {
        pairs.push((key, value));
        if key == "Privilege" {
            pairs.push(("Timestamp", timestamp));
        }
    }
    AmiMessage::from_pairs(pairs)
}

/// Builds an AMI event.
pub fn event(name: &str, fields: Vec<(String, String)>) -> AmiMessage {
    let mut pairs: Vec<(&str, &str)> = vec![("Event", name), ("Privilege", privilege(name))];
    pairs.extend(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    AmiMessage::from_pairs(pairs)
}

fn privilege(event: &str) -> &'static str {
    match event {
        e if e.starts_with("Queue") || e.starts_with("Agent") => "agent,all",
        "FullyBooted" => "system,all",
        "Newexten" | "VarSet" => "dialplan,all",
        _ => "call,all",
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn with_channel(channel: &SimChannel, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    channel_fields("", channel, &mut out);
    out.extend(fields(extra));
    out
}

/// `HangupRequest` and `Hangup` of `channel` with `cause`, and its phone's
/// device state.
fn hang_up_with(channel: &SimChannel, cause: &str, out: &mut Vec<AmiMessage>) {
    let text = match cause {
        "16" => "Normal Clearing",
        "17" => "User busy",
        "19" => "No answer",
        "26" => "Answered elsewhere",
        _ => "Unknown",
    };
    out.push(event(
        "HangupRequest",
        with_channel(channel, &[("Cause", cause)]),
    ));
    out.push(event(
        "Hangup",
        with_channel(channel, &[("Cause", cause), ("Cause-txt", text)]),
    ));
    out.push(device_state(channel, "NOT_INUSE"));
}

// What a real Asterisk also sends about a call and switchboard reads past:
// dialplan steps, channel variables and device states. They make a
// simulated call's stream as long and as varied as a real one.

/// `Newexten`: `channel` runs a dialplan application.
fn dialplan_step(channel: &SimChannel, application: &str, data: &str) -> AmiMessage {
    event(
        "Newexten",
        with_channel(
            channel,
            &[
                ("Extension", &channel.exten),
                ("Application", application),
                ("AppData", data),
            ],
        ),
    )
}

/// `VarSet`: a channel variable changes.
fn variable_set(channel: &SimChannel, variable: &str, value: &str) -> AmiMessage {
    event(
        "VarSet",
        with_channel(channel, &[("Variable", variable), ("Value", value)]),
    )
}

/// `DeviceStateChange` of the phone behind `channel` (`PJSIP/2001-0000002a` → `PJSIP/2001`).
fn device_state(channel: &SimChannel, state: &str) -> AmiMessage {
    let device = channel
        .name
        .rsplit_once('-')
        .map_or(channel.name.as_str(), |(device, _)| device);
    event(
        "DeviceStateChange",
        fields(&[("Device", device), ("State", state)]),
    )
}

impl SimPbx {
    /// A PBX with `workload`'s agents logged in to their queues.
    pub fn new(workload: Workload) -> Self {
        let mut rng = StdRng::seed_from_u64(workload.seed);
        let queue_count = workload.queues.clamp(1, QUEUE_NAMES.len() as u32) as usize;
        let queues: Vec<String> = QUEUE_NAMES[..queue_count]
            .iter()
            .map(|q| (*q).to_owned())
            .collect();
        let agents = (0..workload.agents.max(1))
            .map(|i| {
                let mut served = vec![queues[i as usize % queues.len()].clone()];
                if queues.len() > 1 && rng.random_bool(0.3) {
                    let other = queues[(i as usize + 1) % queues.len()].clone();
                    served.push(other);
                }
                SimAgent {
                    extension: (1001 + i).to_string(),
                    name: NAMES[i as usize % NAMES.len()].to_owned(),
                    queues: served,
                    logged_in: true,
                    paused: false,
                    busy_with: None,
                    calls_taken: 0,
                }
            })
            .collect();
        SimPbx {
            rng,
            workload,
            clock: 0.0,
            epoch: 1_795_270_000 + u64::from(rand::random::<u16>()),
            next_id: 1,
            next_call: 1,
            agents,
            queues,
            calls: BTreeMap::new(),
            spies: BTreeMap::new(),
            completed: BTreeMap::new(),
            scripted: Vec::new(),
            flow_channels: BTreeMap::new(),
        }
    }

    fn new_channel(&mut self, device: &str, linkedid: Option<&str>) -> SimChannel {
        let id = self.next_id;
        self.next_id += 1;
        let uniqueid = format!("{}.{}", self.epoch, id);
        SimChannel {
            name: format!("PJSIP/{device}-{id:08x}"),
            linkedid: linkedid.unwrap_or(&uniqueid).to_owned(),
            uniqueid,
            number: String::new(),
            caller_name: String::new(),
            connected: String::new(),
            context: "from-internal".into(),
            exten: "s".into(),
            state: DOWN,
            bridge: None,
        }
    }

    /// Advances the clock by `seconds` and returns the events of what happened.
    pub fn tick(&mut self, seconds: f64) -> Vec<AmiMessage> {
        let mut out = Vec::new();
        self.clock += seconds;
        // Whole expected arrivals come for sure, the fraction by chance.
        let arrivals = (self.workload.calls_per_minute / 60.0 * seconds).max(0.0);
        let mut count = arrivals.floor() as u64;
        if self.rng.random_bool(arrivals.fract()) {
            count += 1;
        }
        for _ in 0..count {
            self.caller_arrives(&mut out);
        }
        let others = (self.workload.other_calls_per_minute / 60.0 * seconds).max(0.0);
        let mut count = others.floor() as u64;
        if self.rng.random_bool(others.fract()) {
            count += 1;
        }
        for _ in 0..count {
            self.start_flow();
        }
        self.due_script(&mut out);
        if self.rng.random_bool((0.05 * seconds).clamp(0.0, 1.0)) {
            self.toggle_pause(&mut out);
        }
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for id in ids {
            self.advance(id, &mut out);
        }
        let timestamp = format!("{:.6}", self.epoch as f64 + self.clock);
        out.iter().map(|m| stamped(m, &timestamp)).collect()
    }

    fn caller_arrives(&mut self, out: &mut Vec<AmiMessage>) {
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

    fn toggle_pause(&mut self, out: &mut Vec<AmiMessage>) {
        let index = self.rng.random_range(0..self.agents.len());
        let switch_login = self.rng.random_bool(0.5);
        let agent = &mut self.agents[index];
        if agent.busy_with.is_some() {
            return;
        }
        if switch_login || !agent.logged_in {
            // Log out of every queue, or back in.
            agent.logged_in = !agent.logged_in;
            agent.paused = false;
            let agent = agent.clone();
            let name = if agent.logged_in {
                "QueueMemberAdded"
            } else {
                "QueueMemberRemoved"
            };
            for queue in &agent.queues {
                out.push(self.member_event(name, &agent, queue));
            }
            return;
        }
        agent.paused = !agent.paused;
        let agent = agent.clone();
        for queue in &agent.queues {
            out.push(self.member_event("QueueMemberPause", &agent, queue));
        }
    }

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

    fn free_agent(&mut self, queue: &str) -> Option<usize> {
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
    fn advance(&mut self, id: u64, out: &mut Vec<AmiMessage>) {
        if self
            .calls
            .get(&id)
            .is_some_and(|call| !call.is_idle(self.clock))
        {
            self.advance_due(id, out);
        }
    }

    fn advance_due(&mut self, id: u64, out: &mut Vec<AmiMessage>) {
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

    fn ring(&mut self, id: u64, agent: usize, out: &mut Vec<AmiMessage>) {
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

    fn answer(
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

    fn blind_transfer(
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
    fn leave_bridge(&self, channel: &SimChannel, remaining: usize, out: &mut Vec<AmiMessage>) {
        if let Some(bridge) = &channel.bridge {
            out.push(bridge_channel_event(
                "BridgeLeave",
                bridge,
                remaining,
                channel,
            ));
        }
    }

    fn complete_member(
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

    fn complete(&mut self, id: u64, agent: usize, channel: SimChannel, out: &mut Vec<AmiMessage>) {
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

    fn hang_up(&self, channel: &SimChannel, cause: &str, out: &mut Vec<AmiMessage>) {
        hang_up_with(channel, cause, out);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A call [`SimCall::is_idle`] skips is one that advancing would leave
    /// as it is, without a word on the wire.
    #[test]
    fn an_idle_call_is_one_advancing_would_not_change() {
        let mut pbx = SimPbx::new(Workload {
            agents: 12,
            queues: 2,
            calls_per_minute: 600.0,
            seed: 7,
            ..Workload::default()
        });
        let mut idle_seen = 0;
        for _ in 0..3_000 {
            pbx.clock += 0.01;
            let ids: Vec<u64> = pbx.calls.keys().copied().collect();
            for id in ids {
                let call = &pbx.calls[&id];
                if !call.is_idle(pbx.clock) {
                    continue;
                }
                idle_seen += 1;
                let before = format!("{call:?}");
                let mut out = Vec::new();
                pbx.advance_due(id, &mut out);
                assert!(out.is_empty(), "an idle call spoke: {out:?}");
                assert_eq!(format!("{:?}", pbx.calls[&id]), before);
            }
            pbx.clock -= 0.01;
            pbx.tick(0.01);
        }
        assert!(
            idle_seen > 5_000,
            "only {idle_seen} idle calls were checked"
        );
    }
}
