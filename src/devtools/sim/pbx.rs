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
mod queue_calls;
mod status;

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
