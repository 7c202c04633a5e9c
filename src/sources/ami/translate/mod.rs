//! From AMI events to ledger inputs.
//!
//! Asterisk reports channels; switchboard reports calls. The [`Translator`]
//! follows every channel by `Uniqueid`, groups them into calls by `Linkedid`,
//! sees through `Local/` channel pairs, and follows transfers so that a
//! transferred call stays one call. It is a pure state machine: no I/O, no
//! clock, so a recorded capture always translates the same way.
//!
//! What each event does (Asterisk 13 to 22 names):
//!
//! | event | effect |
//! |---|---|
//! | `Newchannel` | a channel is tracked and joins the call of its `Linkedid` (a new call when the `Linkedid` is new). The call is announced later, once its caller-id settled. |
//! | `Newstate` | the channel's state. A dialled leg that is a party reaching `Ringing` → [`Input::CallDialing`] (a real phone, or a `Local/` pair ringing on its own; a pair that dials on is a way through, and the leg it dials rings instead); the caller's channel reaching `Up` announces its call. |
//! | `NewCallerid`, `NewConnectedLine`, `NewAccountCode` | the channel's caller-id (and its `Tenantid`, as every channel event) is kept current; no input. |
//! | `DialBegin` | a `Local/` pair counted as the party that answered which now dials on was a way through (a forward's greeting, an acceptance prompt): [`Input::CallAnswerWithdrawn`]. Remembers who dialled whom (to see through `Local/` pairs; a `Local/` half that dials makes its pair a way through); the call is announced. With no dialling channel, Asterisk itself rings the requester's leg of an `Originate`: nothing is announced until that leg answers. |
//! | `DialEnd` | for a dialled leg that is a party: [`Input::CallDialEnded`] with the outcome; on `ANSWER` also [`Input::CallAnswered`] by that party. With no dialling channel (an `Originate`'s requester leg): answered, the call is placed, the requester its calling party; not answered, no call was placed. |
//! | `Newexten` | `Pickup`/`PickupChan`: the channel dialling a pickup code is no call of its own (merged into the call it picks up, or gone unannounced). `Stasis` of the agent bridge's application: the call is the bridge's (see `Translator::handing_stasis_calls_to`). Any other step changes nothing. |
//! | `OriginateResponse` | the extension an originated channel went to is the call's destination (the call is announced by what it does there first); when it went to an application, the originated leg was the call: it is announced, and a party it reached through a dial answered it. |
//! | `Pickup` | the picker's own call is merged into the call it picked up, and the picker stands in for the phone it took it from: the `DialEnd` (`ANSWER`) Asterisk then sends names the picker, who answered. |
//! | `BridgeCreate`, `BridgeDestroy` | bridges are tracked. |
//! | `BridgeEnter`, `BridgeLeave` | membership. When the caller is joined (through bridges and `Local/` pairs) to another real phone that has not answered yet, that phone answered: [`Input::CallAnswered`] (pickups, queue members behind `Local/` channels, originated calls). |
//! | `LocalBridge` | pairs the two halves of a `Local/` channel. |
//! | `Hangup` | the channel leaves its call; when the call's last channel is gone, [`Input::CallEnded`] with a reason (see `end_reason`). |
//! | `DialBegin` by the caller of an answered call that left its bridge | it was sent on without a transfer event (AMI `Redirect`): [`Input::CallTransferred`] (blind) by whoever had it, to what it dials now. |
//! | `BlindTransfer` | [`Input::CallTransferred`] (blind) on the transferee's call; when the transferer was the caller, the transferee becomes the calling party. The next answer is the target's. |
//! | `AttendedTransfer` | the consultation call is merged into the transferee's call: [`Input::CallEnded`] (reason `Transferred`) for the consultation, [`Input::CallTransferred`] (attended, or blonde when the target still rang) for the call that goes on. |
//! | `Hold`, `Unhold` | [`Input::CallHeld`]. |
//! | `QueueCallerJoin`, `QueueEntry` (QueueStatus) | [`Input::QueueCallerJoined`]. |
//! | `QueueCallerLeave` | [`Input::QueueCallerLeft`]. |
//! | `QueueCallerAbandon` | [`Input::QueueCallerAbandoned`]; the call will end as abandoned. |
//! | `AgentCalled` | none: the member's phone rings, which `DialBegin`/`Newstate` report. |
//! | `AgentConnect` | [`Input::QueueCallAnswered`] with `HoldTime` as the wait, and [`Input::CallAnswered`] by the member's extension. |
//! | `AgentComplete` | [`Input::QueueCallCompleted`] with `TalkTime`. |
//! | `AgentRingNoAnswer` | none: the `DialEnd` with `NOANSWER` reports it. |
//! | `QueueMemberAdded` | [`Input::QueueMemberSet`], and the member's extension logs in ([`Input::AgentLoggedIn`]). |
//! | `QueueMemberStatus`, `QueueMemberPause`, `QueueMember` (QueueStatus) | [`Input::QueueMemberSet`]. |
//! | `QueueMemberRemoved` | [`Input::QueueMemberRemoved`]; the extension logs out when it left its last queue. |
//! | `QueueParams` (QueueStatus) | [`Input::QueueConfigured`] with `ServiceLevel`. |
//! | `AgentLogin`, `AgentLogoff` | [`Input::AgentLoggedIn`], [`Input::AgentLoggedOut`] (`app_agent_pool` agents). |
//! | `Agents` (the `Agents` action's list) | logged in unless `Status: AGENT_LOGGEDOFF`. |
//! | `FullyBooted` | none: the resync after every login rebuilds the picture. |
//! | `ChanSpyStart`, an originated channel sent to a `spy-*` context (`OriginateResponse`), a channel created in one | a supervisor listening in: its channels are a spy session, never a call. |
//! | `ChanSpyStop`, and `Hangup` of a spy channel | [`Input::SpyEnded`] for that supervisor's phone. |
//!
//! Anything else is ignored.
//!
//! Together these make the rules of `docs/counting.md` ("How switchboard counts
//! calls"): a `Local/` pair is one leg, and a way through once its `;2` dials
//! on (`Channel::endpoint`); only dials made for the caller count
//! (`Translator::for_the_caller`); an `Originate` is no call until the
//! requester's leg answers (`Originated`); a pickup, a ring group and a
//! transfer stay one call; a supervisor's spy leg is none; a call handed to
//! the agent bridge is the bridge's. Each is checked on a real Asterisk in
//! `tests/api/real_pbx.rs`.

mod bridges;
mod channels;
mod dials;
mod queues;
mod transfers;

use std::collections::{BTreeSet, HashMap};

use super::codec::AmiMessage;
use crate::ledger::model::{
    CallIds, DialOutcome, Direction, EndReason, Input, QueueMember, Transfer, TransferKind,
};
use crate::time::Instant;

/// Dialplan contexts of supervisors' spy calls (`spy-monitor`, `spy-whisper`, `spy-barge`).
pub const SPY_CONTEXT_PREFIX: &str = "spy-";

/// The prefix of call ids made from AMI ids.
pub const CALL_ID_PREFIX: &str = "ami-";

/// The prefix of the agent bridge's call ids (`ari-` and the customer's
/// channel id, which is its AMI `Uniqueid`).
const ARI_CALL_ID_PREFIX: &str = crate::sources::ari::bridge::CALL_ID_PREFIX;

/// Asterisk channel state `Ringing`.
const STATE_RINGING: u8 = 5;
/// Asterisk channel state `Up`.
const STATE_UP: u8 = 6;
/// Q.850 cause 21, `Call Rejected`: the person declined.
const CAUSE_CALL_REJECTED: u32 = 21;

/// One channel as the translator knows it.
#[derive(Debug, Clone)]
struct Channel {
    name: String,
    linkedid: String,
    caller_num: String,
    caller_name: String,
    exten: String,
    context: String,
    state: u8,
    state_desc: String,
    /// Asterisk's multi-tenant identifier (`Tenantid`, Asterisk 20.4 and
    /// later: the endpoint's `tenantid`, or `CHANNEL(tenantid)` set in the
    /// dialplan); empty when none is set.
    tenant: String,
    is_local: bool,
    /// The call it belongs to now (changes when a transfer merges calls).
    call_id: String,
    /// The `Local/` half it is paired with.
    local_partner: Option<String>,
    /// The channel that dialled it.
    dialled_by: Option<String>,
    /// A leg some channel of the call dialled: a real phone, or the `;1`
    /// half of a `Local/` pair (see [`Channel::endpoint`]).
    dial_target: bool,
    /// For a `Local/` half: its partner dialled on (the leg goes on through
    /// that dial, so this half is not the party at the end of it).
    dials_onward: bool,
    /// `CallDialing` was sent for it.
    ring_reported: bool,
    /// The bridge it is in.
    bridge: Option<String>,
}

impl Channel {
    /// A dialled leg that is itself the party at its end: a real phone, or a
    /// `Local/` pair whose other half answers or rings on its own (an
    /// application, or a person the test PBX plays) instead of dialling on.
    /// A pair that dials on is a way through: the leg it dials is the party.
    fn endpoint(&self) -> bool {
        self.dial_target && !(self.is_local && self.dials_onward)
    }

    /// The number of the party on this channel: a phone's caller id; for a
    /// `Local/` channel, the extension it was dialled at (its caller id is
    /// whoever is connected to it, often the customer).
    fn number(&self) -> String {
        if self.is_local || self.caller_num.is_empty() {
            extension_of(&self.name).unwrap_or_else(|| self.caller_num.clone())
        } else {
            self.caller_num.clone()
        }
    }
}

/// One call as the translator knows it.
#[derive(Debug, Clone, Default)]
struct CallTrack {
    /// The channel of the calling party.
    caller: String,
    /// Live channels of the call.
    members: BTreeSet<String>,
    /// `CallStarted` was sent.
    announced: bool,
    /// The channel that answered last (since the last blind transfer).
    answered_by: Option<String>,
    /// Answered by a party since the call began or was last blind-transferred.
    answered: bool,
    /// The outcome of the last dial of a real phone.
    last_dial: Option<DialOutcome>,
    /// A phone rang for it.
    rang: bool,
    /// The last phone dialled declined it: hung up ringing with cause 21
    /// (`Call Rejected`; a `Local/` leg's dial reports that as `NOANSWER`).
    declined: bool,
    /// The caller hung up while waiting in a queue.
    abandoned_in_queue: bool,
    /// The caller's channel was answered (by the dialplan, an IVR, a queue).
    caller_up: bool,
    /// The `Linkedid`s whose channels join this call (more than one after a
    /// pickup merged calls): what to forget when it ends.
    linkedids: Vec<String>,
    /// The call began with an AMI `Originate` (see [`Originated`]).
    originated: Option<Originated>,
    /// The call entered the agent bridge's Stasis application: the bridge's
    /// call id, under which the bridge reports it.
    handed_to: Option<String>,
    /// The caller is dialling a pickup code: no call of its own (it is
    /// merged into the call it picks up, or ends unannounced).
    picking: bool,
    /// The caller channel sent on without a transfer event, taken for a
    /// blind transfer ([`Translator::sent_on`]): its `BlindTransfer`, which
    /// Asterisk may send only after the caller dials on, confirms that
    /// transfer instead of making another.
    unconfirmed_blind: Option<String>,
}

impl CallTrack {
    /// An `Originate` whose first leg has not answered yet: no call is placed
    /// yet, so nothing of it is announced.
    fn requesting(&self) -> bool {
        self.originated.as_ref().is_some_and(|o| !o.placed)
    }
}

/// A call Asterisk places itself (AMI `Originate`, call files): it rings the
/// requester's leg first (`DialBegin` with no dialling channel) and, once that
/// leg answers, connects it to an extension (which dials the destination) or
/// to an application.
#[derive(Debug, Clone)]
struct Originated {
    /// The channel Asterisk rang first (the requester's leg).
    channel: String,
    /// That leg answered: the call is placed.
    placed: bool,
    /// The requester's number (the phone at the far end of the leg), the
    /// calling party's when the originated channel carries no caller id.
    number: String,
    /// The channels of the requester's leg when it answered: the requester's
    /// own phone, which never counts as answering the call.
    leg: BTreeSet<String>,
}

/// AMI events in, ledger inputs out. See the module documentation for what
/// each event does.
#[derive(Debug, Default)]
pub struct Translator {
    channels: FastMap<String, Channel>,
    calls: FastMap<String, CallTrack>,
    call_of_linkedid: FastMap<String, String>,
    bridges: FastMap<String, BTreeSet<String>>,
    queue_memberships: FastMap<String, BTreeSet<String>>,
    /// Supervisors' spy channels (context `spy-*`): Uniqueid → supervisor's extension.
    spy_channels: FastMap<String, String>,
    /// The ARI application of switchboard's agent bridge on the same PBX:
    /// calls handed to it (`Stasis`) are the bridge's to report.
    stasis_app: Option<String>,
    /// The agents this translator signed in (and has not signed out): the
    /// only ones a rebuild from AMI may sign out. An agent-bridge agent,
    /// signed in by its phone's endpoint over ARI, is not AMI's to judge.
    signed_in: BTreeSet<String>,
}

/// The translator's tables, looked up several times per AMI event: hashed
/// with foldhash (seeded per table) instead of SipHash, whose cost showed in
/// the ingest profile. Their keys are the PBX's own channel and call ids.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

impl Translator {
    /// A translator that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ids of the calls in progress, announced or not.
    pub fn call_ids(&self) -> impl Iterator<Item = &str> {
        self.calls.keys().map(String::as_str)
    }

    /// Whether it holds nothing: no channel, call, `Linkedid` or bridge. True
    /// again once every call the PBX reported has ended and its bridges are
    /// gone; anything left then is state that would grow without bound.
    pub fn is_idle(&self) -> bool {
        self.channels.is_empty()
            && self.calls.is_empty()
            && self.call_of_linkedid.is_empty()
            && self.bridges.is_empty()
    }

    /// Hands the calls that enter `app` (`Stasis(app,…)`) to switchboard's
    /// ARI agent bridge, which reports them: their AMI identifiers are linked
    /// to the bridge's call ([`Input::CallLinked`]) and nothing else of them
    /// is announced, so that one PBX watched over both interfaces gives one
    /// call. `None` (no agent bridge): Stasis calls are calls like any other.
    pub fn handing_stasis_calls_to(mut self, app: Option<String>) -> Self {
        self.stasis_app = app;
        self
    }

    /// Forgets everything: the next events start a new picture.
    pub fn clear(&mut self) {
        let stasis_app = self.stasis_app.take();
        // Who it signed in outlives the picture: a rebuild signs out those
        // the PBX no longer names.
        let signed_in = std::mem::take(&mut self.signed_in);
        *self = Self::default();
        self.stasis_app = stasis_app;
        self.signed_in = signed_in;
    }

    /// Rebuilds the picture from the PBX's own answer to `CoreShowChannels`
    /// after a (re)connect. `known` holds the AMI calls the ledger has now
    /// (`true` when answered). Appends what differs: `CallStarted` (and
    /// `CallAnswered` when the caller is bridged to another phone) for calls
    /// that began during the outage, `CallEnded` with reason `Lost` for calls
    /// that ended during it.
    pub fn rebuild(
        &mut self,
        channels: &[AmiMessage],
        known: &HashMap<String, bool>,
        out: &mut Vec<Input>,
    ) {
        self.clear();
        let mut in_the_bridge = Vec::new();
        let mut requesting = Vec::new();
        for listed in channels {
            self.new_channel(listed);
            // `AppDial2` runs on a channel Asterisk rings for an `Originate`:
            // still ringing, it is a requester's leg, no call yet.
            if let Some(uniqueid) = listed.get("Uniqueid")
                && listed.get("Application") == Some("AppDial2")
                && number(listed.get("ChannelState")) < u32::from(STATE_UP)
            {
                requesting.push(uniqueid.to_owned());
            }
            if let Some(uniqueid) = listed.get("Uniqueid")
                && self.runs_the_bridge(listed.get("Application"), listed.get("ApplicationData"))
            {
                in_the_bridge.push(uniqueid.to_owned());
            }
            if let (Some(bridge), Some(uniqueid)) = (
                listed.get("BridgeId").filter(|b| !b.is_empty()),
                listed.get("Uniqueid"),
            ) {
                self.bridges
                    .entry(bridge.to_owned())
                    .or_default()
                    .insert(uniqueid.to_owned());
                if let Some(channel) = self.channels.get_mut(uniqueid) {
                    channel.bridge = Some(bridge.to_owned());
                }
            }
        }
        // `Local/x@ctx-0001;1` pairs with `Local/x@ctx-0001;2`.
        let mut halves: HashMap<String, Vec<String>> = HashMap::new();
        for (uniqueid, channel) in &self.channels {
            if let Some((base, _)) = channel.name.rsplit_once(';')
                && channel.is_local
            {
                halves
                    .entry(base.to_owned())
                    .or_default()
                    .push(uniqueid.clone());
            }
        }
        for pair in halves.values().filter(|p| p.len() == 2) {
            if let Some(channel) = self.channels.get_mut(&pair[0]) {
                channel.local_partner = Some(pair[1].clone());
            }
            if let Some(channel) = self.channels.get_mut(&pair[1]) {
                channel.local_partner = Some(pair[0].clone());
            }
        }
        for uniqueid in &in_the_bridge {
            self.hand_to_bridge(uniqueid, out);
        }
        for uniqueid in &requesting {
            self.originate_begin(uniqueid);
        }
        let mut call_ids: Vec<String> = self.calls.keys().cloned().collect();
        call_ids.sort();
        for call_id in &call_ids {
            let Some(track) = self.calls.get(call_id) else {
                continue;
            };
            let caller = track.caller.clone();
            let party = self.connected_parties(&caller).into_iter().find(|p| {
                self.channels
                    .get(p)
                    .is_some_and(|c| &c.call_id == call_id && c.state == STATE_UP)
            });
            let caller_up = self
                .channels
                .get(&caller)
                .is_some_and(|c| c.state == STATE_UP);
            let Some(track) = self.calls.get_mut(call_id) else {
                continue;
            };
            track.caller_up = caller_up;
            match known.get(call_id) {
                Some(answered) => {
                    track.announced = true;
                    track.answered = *answered;
                    track.answered_by = party.filter(|_| *answered);
                }
                None => {
                    self.announce(call_id, out);
                    if let Some(party) = party {
                        self.answered_by(call_id, &party, out);
                    }
                }
            }
        }
        let mut lost: Vec<&String> = known
            .keys()
            .filter(|id| !self.calls.contains_key(*id))
            .collect();
        lost.sort();
        for call_id in lost {
            out.push(Input::CallEnded {
                call_id: call_id.clone(),
                reason: EndReason::Lost,
            });
        }
    }

    /// Translates one event, appending the inputs it causes to `out`.
    /// Signs the agent at `extension` in, noting that AMI did.
    fn sign_in(
        &mut self,
        extension: &str,
        name: Option<&str>,
        queues: Vec<String>,
        out: &mut Vec<Input>,
    ) {
        self.signed_in.insert(extension.to_owned());
        out.push(Input::AgentLoggedIn {
            extension: extension.to_owned(),
            agent_id: extension.to_owned(),
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or(extension)
                .to_owned(),
            max_calls: 1,
            queues,
        });
    }

    /// Signs the agent at `extension` out (an event said so, or a rebuild
    /// found it gone).
    pub fn sign_out(&mut self, extension: String, out: &mut Vec<Input>) {
        self.signed_in.remove(&extension);
        out.push(Input::AgentLoggedOut { extension });
    }

    /// Whether this translator signed `extension` in (and not out since).
    pub fn signed_in(&self, extension: &str) -> bool {
        self.signed_in.contains(extension)
    }

    /// Translates one event, appending the inputs it causes to `out`.
    pub fn translate(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let Some(name) = event.event() else {
            return;
        };
        match name {
            // Half of a real stream: dialplan, variables, device states and
            // CDRs, which change no call. Named first so they leave at once.
            "VarSet" | "DeviceStateChange" | "Cdr" | "CEL" | "HangupRequest"
            | "SoftHangupRequest" | "RTCPSent" | "RTCPReceived" | "MusicOnHoldStart"
            | "MusicOnHoldStop" | "SuccessfulAuth" | "ChallengeSent" => {}
            "Newchannel" => self.new_channel(event),
            "Newexten" => self.new_exten(event, out),
            "Newstate" => self.new_state(event, out),
            "NewCallerid" | "NewConnectedLine" | "NewAccountCode" => {
                self.refresh_channel(event);
            }
            "DialBegin" => self.dial_begin(event, out),
            "DialEnd" => self.dial_end(event, out),
            "BridgeCreate" => {
                if let Some(id) = event.get("BridgeUniqueid") {
                    self.bridges.entry(id.to_owned()).or_default();
                }
            }
            "BridgeDestroy" => {
                if let Some(id) = event.get("BridgeUniqueid") {
                    self.bridges.remove(id);
                }
            }
            "BridgeEnter" => self.bridge_enter(event, out),
            "BridgeLeave" => self.bridge_leave(event),
            "LocalBridge" => self.local_bridge(event),
            "Hangup" => self.hangup(event, out),
            "OriginateResponse" => self.originate_response(event, out),
            "Pickup" => self.pickup(event, out),
            "BlindTransfer" => self.blind_transfer(event, out),
            "AttendedTransfer" => self.attended_transfer(event, out),
            "Hold" | "Unhold" => {
                if let Some(call_id) = self.call_of(event.get("Uniqueid")) {
                    self.announce(&call_id, out);
                    out.push(Input::CallHeld {
                        call_id,
                        held: name == "Hold",
                    });
                }
            }
            "QueueCallerJoin" | "QueueEntry" => self.queue_caller_join(event, out),
            "QueueCallerLeave" => {
                let [queue, uniqueid] = event.get_many(["Queue", "Uniqueid"]);
                if let (Some(queue), Some(call_id)) = (queue, self.call_of(uniqueid)) {
                    out.push(Input::QueueCallerLeft {
                        queue: queue.to_owned(),
                        call_id,
                    });
                }
            }
            "QueueCallerAbandon" => {
                let [queue, uniqueid] = event.get_many(["Queue", "Uniqueid"]);
                if let (Some(queue), Some(call_id)) = (queue, self.call_of(uniqueid))
                    && self.for_the_caller(uniqueid, &call_id)
                {
                    if let Some(track) = self.calls.get_mut(&call_id) {
                        track.abandoned_in_queue = true;
                    }
                    out.push(Input::QueueCallerAbandoned {
                        queue: queue.to_owned(),
                        call_id,
                    });
                }
            }
            "AgentConnect" => self.agent_connect(event, out),
            "AgentComplete" => {
                let [queue, uniqueid, talk_time] =
                    event.get_many(["Queue", "Uniqueid", "TalkTime"]);
                if let (Some(queue), Some(call_id)) = (queue, self.call_of(uniqueid)) {
                    out.push(Input::QueueCallCompleted {
                        queue: queue.to_owned(),
                        call_id,
                        talk_seconds: number(talk_time),
                    });
                }
            }
            "QueueMemberAdded" | "QueueMemberStatus" | "QueueMemberPause" | "QueueMember" => {
                self.queue_member(name, event, out)
            }
            "QueueMemberRemoved" => self.queue_member_removed(event, out),
            "QueueParams" => {
                if let Some(queue) = event.get("Queue") {
                    out.push(Input::QueueConfigured {
                        queue: queue.to_owned(),
                        service_level_seconds: number(event.get("ServiceLevel")),
                    });
                }
            }
            "ChanSpyStart" => {
                if let Some(spyer) = event.get("SpyerUniqueid") {
                    self.becomes_spy(spyer);
                }
            }
            "ChanSpyStop" => {
                if let Some(spyer) = event.get("SpyerUniqueid")
                    && let Some(supervisor_extension) = self.spy_channels.get(spyer)
                {
                    out.push(Input::SpyEnded {
                        supervisor_extension: supervisor_extension.clone(),
                    });
                }
            }
            "AgentLogin" => {
                if let Some(agent) = event.get("Agent") {
                    self.sign_in(agent, event.get("CallerIDName"), Vec::new(), out);
                }
            }
            "Agents" => {
                if let Some(agent) = event.get("Agent") {
                    if event.get("Status") == Some("AGENT_LOGGEDOFF") {
                        self.sign_out(agent.to_owned(), out);
                    } else {
                        self.sign_in(agent, event.get("Name"), Vec::new(), out);
                    }
                }
            }
            "AgentLogoff" => {
                if let Some(agent) = event.get("Agent") {
                    self.sign_out(agent.to_owned(), out);
                }
            }
            _ => {}
        }
    }

    /// The call a channel (by `Uniqueid`) belongs to.
    pub fn call_id_of(&self, uniqueid: &str) -> Option<String> {
        self.call_of(Some(uniqueid))
    }

    /// The call a channel (by `Uniqueid`) belongs to.
    fn call_of(&self, uniqueid: Option<&str>) -> Option<String> {
        self.channels
            .get(uniqueid?)
            .map(|channel| channel.call_id.clone())
    }
}

/// Why a call ended, from what the translator saw:
///
/// 1. a party answered (since the last blind transfer): `Completed`;
/// 2. the caller hung up waiting in a queue: `Abandoned`;
/// 3. the last phone dialled declined it (hung up ringing, cause 21): `Rejected`;
/// 4. the last dial of a party: `BUSY` → `Busy`, `NOANSWER` → `NoAnswer`,
///    `CANCEL` → `Abandoned` (the caller gave up), `CONGESTION`/`CHANUNAVAIL` → `Failed`;
/// 5. a phone rang but no dial ended: `Abandoned`;
/// 6. the caller's channel was answered by the dialplan (IVR, voicemail): `Completed`;
/// 7. otherwise the last Hangup cause: 17 → `Busy`, 18/19 → `NoAnswer`,
///    21 → `Rejected`, 16 and 0 → `Abandoned`, anything else → `Failed`.
fn end_reason(track: &CallTrack, cause: Option<u32>) -> EndReason {
    if track.answered {
        return EndReason::Completed;
    }
    if track.abandoned_in_queue {
        return EndReason::Abandoned;
    }
    if track.declined {
        return EndReason::Rejected;
    }
    match track.last_dial {
        Some(DialOutcome::Busy) => return EndReason::Busy,
        Some(DialOutcome::NoAnswer) => return EndReason::NoAnswer,
        Some(DialOutcome::Cancel) => return EndReason::Abandoned,
        Some(DialOutcome::Congestion | DialOutcome::Unavailable) => return EndReason::Failed,
        Some(DialOutcome::Answer) => return EndReason::Completed,
        None => {}
    }
    if track.rang {
        return EndReason::Abandoned;
    }
    if track.caller_up {
        return EndReason::Completed;
    }
    match cause {
        Some(17) => EndReason::Busy,
        Some(18 | 19) => EndReason::NoAnswer,
        Some(21) => EndReason::Rejected,
        Some(0 | 16) | None => EndReason::Abandoned,
        Some(_) => EndReason::Failed,
    }
}

/// The extension behind a channel or interface name: `PJSIP/3001-00000024`,
/// `PJSIP/3001`, `SIP/3001`, `Local/3001@agents/n`, `Agent/3001` → `3001`.
pub fn extension_of(name: &str) -> Option<String> {
    let (_, rest) = name.split_once('/')?;
    let end = rest.find(['@', '-', ';', '/']).unwrap_or(rest.len());
    let extension = &rest[..end];
    (!extension.is_empty()).then(|| extension.to_owned())
}

/// `Local/…` channels are the dialplan talking to itself, not a phone.
fn is_local(name: &str) -> bool {
    name.starts_with("Local/")
}

/// A caller-id field, with Asterisk's `<unknown>` as empty.
fn clean(value: Option<&str>) -> String {
    value.map_or_else(String::new, |value| cleaned(value).to_owned())
}

/// A caller-ID style field as [`clean`] reads it, borrowed.
fn cleaned(value: &str) -> &str {
    if value == "<unknown>" { "" } else { value }
}

/// Sets `field` to `value` in place: its buffer is reused, and nothing is
/// written when the value is unchanged, as most fields of a `Newstate` or
/// `NewCallerid` are.
fn refresh(field: &mut String, value: &str) {
    if field != value {
        field.clear();
        field.push_str(value);
    }
}

/// A numeric field, 0 when absent or not a number.
fn number(value: Option<&str>) -> u32 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// `DialStatus` → outcome; `None` for the in-progress statuses (`RINGING`, `PROCEEDING`, `PROGRESS`).
fn dial_outcome(status: &str) -> Option<DialOutcome> {
    Some(match status {
        "ANSWER" => DialOutcome::Answer,
        "BUSY" => DialOutcome::Busy,
        "NOANSWER" => DialOutcome::NoAnswer,
        "CANCEL" => DialOutcome::Cancel,
        "CONGESTION" => DialOutcome::Congestion,
        "RINGING" | "PROCEEDING" | "PROGRESS" | "" => return None,
        _ => DialOutcome::Unavailable,
    })
}

/// Direction from the numbers: an internal extension is short (up to six
/// digits); a caller with a long number calling a short one is inbound, a
/// short one calling a long one is outbound.
fn direction_of(caller: &str, destination: &str) -> Direction {
    let internal = |n: &str| !n.is_empty() && n.len() <= 6 && n.chars().all(|c| c.is_ascii_digit());
    let external = |n: &str| n.trim_start_matches('+').len() > 6;
    match (internal(caller), internal(destination)) {
        (true, true) => Direction::Internal,
        (false, _) if external(caller) => Direction::Inbound,
        (true, false) if external(destination) => Direction::Outbound,
        _ => Direction::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_come_from_channel_and_interface_names() {
        assert_eq!(extension_of("PJSIP/3001-00000024").as_deref(), Some("3001"));
        assert_eq!(extension_of("PJSIP/3001").as_deref(), Some("3001"));
        assert_eq!(extension_of("Local/3001@agents/n").as_deref(), Some("3001"));
        assert_eq!(extension_of("Agent/3001").as_deref(), Some("3001"));
        assert_eq!(extension_of("nonsense"), None);
    }

    #[test]
    fn direction_follows_the_numbers() {
        assert_eq!(direction_of("201", "202"), Direction::Internal);
        assert_eq!(direction_of("+31260010001", "201"), Direction::Inbound);
        assert_eq!(direction_of("201", "0612345678"), Direction::Outbound);
    }

    #[test]
    fn end_reason_prefers_what_happened_last() {
        use DialOutcome::*;
        let track = |answered, abandoned_in_queue, last_dial, rang, caller_up| CallTrack {
            answered,
            abandoned_in_queue,
            last_dial,
            rang,
            caller_up,
            ..CallTrack::default()
        };
        let reason = |t: CallTrack, cause| end_reason(&t, Some(cause));
        assert_eq!(
            reason(track(true, false, Some(Busy), true, true), 16),
            EndReason::Completed
        );
        assert_eq!(
            reason(track(false, true, None, true, true), 16),
            EndReason::Abandoned
        );
        assert_eq!(
            reason(track(false, false, Some(Busy), true, false), 17),
            EndReason::Busy
        );
        assert_eq!(
            reason(track(false, false, Some(Cancel), true, false), 16),
            EndReason::Abandoned
        );
        assert_eq!(
            reason(track(false, false, None, false, true), 16),
            EndReason::Completed
        );
        assert_eq!(
            reason(track(false, false, None, false, false), 34),
            EndReason::Failed
        );
    }
}
