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
//! | `NewCallerid`, `NewConnectedLine`, `NewAccountCode` | the channel's caller-id is kept current; no input. |
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
//! Together these make the rules of the README's "How switchboard counts
//! calls": a `Local/` pair is one leg, and a way through once its `;2` dials
//! on (`Channel::endpoint`); only dials made for the caller count
//! (`Translator::for_the_caller`); an `Originate` is no call until the
//! requester's leg answers (`Originated`); a pickup, a ring group and a
//! transfer stay one call; a supervisor's spy leg is none; a call handed to
//! the agent bridge is the bridge's. Each is checked on a real Asterisk in
//! `tests/api/real_pbx.rs`.

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
        *self = Self::default();
        self.stasis_app = stasis_app;
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
                    out.push(agent_logged_in(
                        agent,
                        event.get("CallerIDName"),
                        Vec::new(),
                    ));
                }
            }
            "Agents" => {
                if let Some(agent) = event.get("Agent") {
                    out.push(if event.get("Status") == Some("AGENT_LOGGEDOFF") {
                        Input::AgentLoggedOut {
                            extension: agent.to_owned(),
                        }
                    } else {
                        agent_logged_in(agent, event.get("Name"), Vec::new())
                    });
                }
            }
            "AgentLogoff" => {
                if let Some(agent) = event.get("Agent") {
                    out.push(Input::AgentLoggedOut {
                        extension: agent.to_owned(),
                    });
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

    fn new_channel(&mut self, event: &AmiMessage) {
        let [
            uniqueid,
            name,
            context,
            linkedid,
            caller_num,
            caller_name,
            exten,
            state,
            state_desc,
        ] = event.get_many([
            "Uniqueid",
            "Channel",
            "Context",
            "Linkedid",
            "CallerIDNum",
            "CallerIDName",
            "Exten",
            "ChannelState",
            "ChannelStateDesc",
        ]);
        let (Some(uniqueid), Some(name)) = (uniqueid, name) else {
            return;
        };
        if self.channels.contains_key(uniqueid) || self.spy_channels.contains_key(uniqueid) {
            return;
        }
        if context.is_some_and(|c| c.starts_with(SPY_CONTEXT_PREFIX)) {
            // A supervisor's phone listening in: part of a spy session, not a call.
            let extension = extension_of(name).unwrap_or_default();
            self.spy_channels.insert(uniqueid.to_owned(), extension);
            return;
        }
        let linkedid = linkedid.unwrap_or(uniqueid);
        let call_id = match self.call_of_linkedid.get(linkedid) {
            Some(call_id) if self.calls.contains_key(call_id) => call_id.clone(),
            _ => {
                let call_id = format!("{CALL_ID_PREFIX}{linkedid}");
                self.call_of_linkedid
                    .insert(linkedid.to_owned(), call_id.clone());
                let track = self.calls.entry(call_id.clone()).or_default();
                if !track.linkedids.iter().any(|l| l == linkedid) {
                    track.linkedids.push(linkedid.to_owned());
                }
                call_id
            }
        };
        let channel = Channel {
            name: name.to_owned(),
            linkedid: linkedid.to_owned(),
            caller_num: clean(caller_num),
            caller_name: clean(caller_name),
            exten: clean(exten),
            context: clean(context),
            state: number(state) as u8,
            state_desc: clean(state_desc),
            is_local: is_local(name),
            call_id: call_id.clone(),
            local_partner: None,
            dialled_by: None,
            dial_target: false,
            dials_onward: false,
            ring_reported: false,
            bridge: None,
        };
        let is_real = !channel.is_local;
        self.channels.insert(uniqueid.to_owned(), channel);
        let track = self.calls.entry(call_id.clone()).or_default();
        track.members.insert(uniqueid.to_owned());
        // The caller is the first real phone; a call made of `Local/` channels
        // only (an originated test call) takes its first channel until one comes.
        let caller_is_local = self.channels.get(&track.caller).is_none_or(|c| c.is_local);
        if track.caller.is_empty()
            || (is_real && caller_is_local && !track.announced && track.originated.is_none())
        {
            track.caller = uniqueid.to_owned();
        }
    }

    /// Updates a known channel's caller, state and dialplan place from an
    /// event's channel fields; returns the event's `Uniqueid`.
    fn refresh_channel<'e>(&mut self, event: &'e AmiMessage) -> Option<&'e str> {
        let [uniqueid, num, name, state, desc, exten, context] = event.get_many([
            "Uniqueid",
            "CallerIDNum",
            "CallerIDName",
            "ChannelState",
            "ChannelStateDesc",
            "Exten",
            "Context",
        ]);
        let Some(channel) = uniqueid.and_then(|id| self.channels.get_mut(id)) else {
            return uniqueid;
        };
        if let Some(num) = num {
            refresh(&mut channel.caller_num, cleaned(num));
        }
        if let Some(name) = name {
            refresh(&mut channel.caller_name, cleaned(name));
        }
        if let Some(state) = state {
            channel.state = number(Some(state)) as u8;
        }
        if let Some(desc) = desc {
            refresh(&mut channel.state_desc, desc);
        }
        if let Some(exten) = exten {
            refresh(&mut channel.exten, cleaned(exten));
        }
        if let Some(context) = context {
            refresh(&mut channel.context, cleaned(context));
        }
        uniqueid
    }

    fn new_state(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let Some(uniqueid) = self.refresh_channel(event) else {
            return;
        };
        let Some(channel) = self.channels.get(uniqueid) else {
            return;
        };
        let call_id = channel.call_id.clone();
        if channel.state == STATE_RINGING
            && channel.endpoint()
            && !channel.ring_reported
            && self.for_the_caller(channel.dialled_by.as_deref(), &call_id)
        {
            let target = channel.number();
            if let Some(channel) = self.channels.get_mut(uniqueid) {
                channel.ring_reported = true;
            }
            self.announce(&call_id, out);
            if let Some(track) = self.calls.get_mut(&call_id) {
                track.rang = true;
            }
            out.push(Input::CallDialing { call_id, target });
        } else if channel.state == STATE_UP {
            let is_caller = self
                .calls
                .get(&call_id)
                .is_some_and(|track| track.caller == uniqueid);
            if is_caller {
                if let Some(track) = self.calls.get_mut(&call_id) {
                    track.caller_up = true;
                }
                self.announce(&call_id, out);
            }
        }
    }

    fn dial_begin(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [dialler, Some(dest)] = event.get_many(["Uniqueid", "DestUniqueid"]) else {
            return;
        };
        let Some(dialler) = dialler else {
            // No dialling channel: Asterisk itself rings `dest` (an `Originate`).
            self.originate_begin(dest);
            return;
        };
        let Some(call_id) = self.call_of(Some(dialler)) else {
            return;
        };
        // An originated channel has moved on to its extension, the call's
        // destination: its place in the dialplan is what it dials now.
        if self
            .calls
            .get(&call_id)
            .is_some_and(|t| t.originated.is_some() && !t.announced)
        {
            self.refresh_channel(event);
        }
        // A `Local/` half that dials makes its pair a way through, not a party.
        if let Some(partner) = self
            .channels
            .get(dialler)
            .filter(|c| c.is_local)
            .and_then(|c| c.local_partner.clone())
            && let Some(channel) = self.channels.get_mut(&partner)
        {
            channel.dials_onward = true;
            // It had answered by itself (a forward's greeting, an acceptance
            // prompt) and was counted as the party: it was not one.
            if let Some(track) = self.calls.get_mut(&call_id)
                && track.answered
                && track.answered_by.as_deref() == Some(partner.as_str())
            {
                track.answered = false;
                track.answered_by = None;
                track.last_dial = None;
                out.push(Input::CallAnswerWithdrawn {
                    call_id: call_id.clone(),
                });
            }
        }
        self.sent_on(&call_id, dialler, event, out);
        self.announce(&call_id, out);
        // A phone that is a call of its own being dialled into this one is a
        // pickup: the phone's call is merged into the one it picked up.
        if let Some(other) = self.call_of(Some(dest))
            && other != call_id
            && self
                .calls
                .get(&other)
                .is_some_and(|t| t.members.len() == 1 && t.members.contains(dest))
        {
            self.merge_call(&other, &call_id, out);
        }
        let Some(channel) = self.channels.get_mut(dest) else {
            return;
        };
        channel.dialled_by = Some(dialler.to_owned());
        channel.dial_target = channel.state < STATE_UP;
        let rings_now =
            channel.endpoint() && channel.state == STATE_RINGING && !channel.ring_reported;
        if let Some(track) = self.calls.get_mut(&call_id) {
            track.declined = false;
        }
        if rings_now
            && self.for_the_caller(Some(dialler), &call_id)
            && let Some(channel) = self.channels.get_mut(dest)
        {
            channel.ring_reported = true;
            let target = channel.number();
            if let Some(track) = self.calls.get_mut(&call_id) {
                track.rang = true;
            }
            out.push(Input::CallDialing { call_id, target });
        }
    }

    /// `Newexten`, a dialplan step: a channel about to pick up a call
    /// (`Pickup`, `PickupChan`) is not a call of its own; a channel entering
    /// the agent bridge's Stasis application hands its call to the bridge,
    /// whose call id is `ari-` and the channel's id.
    fn new_exten(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        // Most steps are none of these: decided on the last fields alone.
        let application = event.get_last("Application");
        if !matches!(application, Some("Pickup" | "PickupChan" | "Stasis")) {
            return;
        }
        let Some(uniqueid) = event.get("Uniqueid") else {
            return;
        };
        match application {
            Some("Pickup" | "PickupChan") => {
                if let Some(call_id) = self.call_of(Some(uniqueid))
                    && let Some(track) = self.calls.get_mut(&call_id)
                    && !track.announced
                {
                    track.picking = true;
                }
            }
            Some("Stasis") if self.runs_the_bridge(application, event.get("AppData")) => {
                self.hand_to_bridge(uniqueid, out);
            }
            _ => {}
        }
    }

    /// Whether a channel running `application` with `data` is in the agent
    /// bridge's Stasis application.
    fn runs_the_bridge(&self, application: Option<&str>, data: Option<&str>) -> bool {
        application == Some("Stasis")
            && self.stasis_app.is_some()
            && data.and_then(|d| d.split(',').next()) == self.stasis_app.as_deref()
    }

    /// The call of channel `uniqueid` entered the agent bridge: see
    /// [`Translator::handing_stasis_calls_to`].
    fn hand_to_bridge(&mut self, uniqueid: &str, out: &mut Vec<Input>) {
        let Some(channel) = self.channels.get(uniqueid) else {
            return;
        };
        let call_id = channel.call_id.clone();
        let ids = CallIds {
            ami_uniqueid: uniqueid.to_owned(),
            ami_linkedid: channel.linkedid.clone(),
            channel: channel.name.clone(),
            ..CallIds::default()
        };
        let Some(track) = self.calls.get_mut(&call_id) else {
            return;
        };
        if track.handed_to.is_some() {
            return;
        }
        let bridge_call = format!("{ARI_CALL_ID_PREFIX}{uniqueid}");
        track.handed_to = Some(bridge_call.clone());
        // What happened before (an IVR, a queue) may have been announced as
        // an AMI call: it goes on as the bridge's.
        let continues = std::mem::take(&mut track.announced).then_some(call_id);
        out.push(Input::CallLinked {
            call_id: bridge_call,
            ids,
            continues,
        });
    }

    /// The channel `uniqueid` turned out to be a supervisor listening in
    /// (`ChanSpy`): its call, unless it was already announced, is no call but
    /// a spy session, and its channels are followed as such from now on.
    fn becomes_spy(&mut self, uniqueid: &str) {
        let Some(call_id) = self.call_of(Some(uniqueid)) else {
            return;
        };
        if self.calls.get(&call_id).is_none_or(|t| t.announced) {
            return;
        }
        let supervisor = self
            .channels
            .get(uniqueid)
            .and_then(|c| extension_of(&c.name))
            .unwrap_or_default();
        let Some(track) = self.calls.remove(&call_id) else {
            return;
        };
        for linkedid in &track.linkedids {
            if self.call_of_linkedid.get(linkedid) == Some(&call_id) {
                self.call_of_linkedid.remove(linkedid);
            }
        }
        for member in &track.members {
            if let Some(channel) = self.channels.remove(member)
                && let Some(members) = channel
                    .bridge
                    .as_ref()
                    .and_then(|b| self.bridges.get_mut(b))
            {
                members.remove(member);
            }
            self.spy_channels.insert(member.clone(), supervisor.clone());
        }
    }

    /// Asterisk rings `channel` for an `Originate`: its call is the
    /// requester's leg until it answers, and is not announced before.
    fn originate_begin(&mut self, channel: &str) {
        let Some(call_id) = self.call_of(Some(channel)) else {
            return;
        };
        let Some(track) = self.calls.get_mut(&call_id) else {
            return;
        };
        if track.announced || track.originated.is_some() {
            return;
        }
        track.caller = channel.to_owned();
        track.originated = Some(Originated {
            channel: channel.to_owned(),
            placed: false,
            number: String::new(),
            leg: BTreeSet::new(),
        });
    }

    /// The requester's leg of an `Originate` ended ringing. Answered: the call
    /// is placed, with the requester as its calling party; what happened on
    /// the leg so far (its ringing, its answer) was the requester's own phone
    /// and is forgotten. Not answered: no call was placed, and none is
    /// announced.
    fn originate_end(&mut self, channel: &str, outcome: DialOutcome) {
        let Some(call_id) = self.call_of(Some(channel)) else {
            return;
        };
        let ringing = self
            .calls
            .get(&call_id)
            .and_then(|t| t.originated.as_ref())
            .is_some_and(|o| o.channel == channel && !o.placed);
        if outcome != DialOutcome::Answer || !ringing {
            return;
        }
        let requester = self.far_end(channel).0;
        let number = self
            .channels
            .get(&requester)
            .map(Channel::number)
            .unwrap_or_default();
        let Some(track) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(originated) = track.originated.as_mut() else {
            return;
        };
        originated.placed = true;
        originated.number = number;
        originated.leg = track.members.clone();
        track.rang = false;
        track.last_dial = None;
        track.answered = false;
        track.answered_by = None;
        track.caller_up = true;
    }

    /// `OriginateResponse`: where the originated channel went once answered.
    /// An extension is the call's destination. An application means the
    /// originated leg itself was the call (from the application to whoever
    /// the leg reached): a party reached through a dial on that leg answered
    /// it. A failure needs nothing: the leg's `DialEnd` told it.
    fn originate_response(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [uniqueid, response, context, exten, application] =
            event.get_many(["Uniqueid", "Response", "Context", "Exten", "Application"]);
        let Some(uniqueid) = uniqueid else {
            return;
        };
        let Some(channel) = self.channels.get_mut(uniqueid) else {
            return;
        };
        if let Some(exten) = exten.map(cleaned).filter(|e| !e.is_empty()) {
            refresh(&mut channel.exten, exten);
        }
        if let Some(context) = context.map(cleaned).filter(|c| !c.is_empty()) {
            refresh(&mut channel.context, context);
        }
        if channel.context.starts_with(SPY_CONTEXT_PREFIX) {
            // A supervisor's phone rung to listen in (`spy-*`): not a call.
            self.becomes_spy(uniqueid);
            return;
        }
        let call_id = channel.call_id.clone();
        let placed = self
            .calls
            .get(&call_id)
            .and_then(|t| t.originated.as_ref())
            .is_some_and(|o| o.placed && o.channel == uniqueid);
        if response != Some("Success") || !placed {
            return;
        }
        // An extension's call is announced by what it does first (dials, joins
        // a queue, ends), so that a pickup (`Pickup`) is merged unannounced.
        if application.is_some_and(|a| !a.is_empty()) {
            self.announce(&call_id, out);
            let (party, through_a_dial) = self.far_end(uniqueid);
            if through_a_dial {
                if let Some(originated) = self
                    .calls
                    .get_mut(&call_id)
                    .and_then(|t| t.originated.as_mut())
                {
                    originated.leg.remove(&party);
                }
                self.answered_by(&call_id, &party, out);
            }
        }
    }

    /// `Pickup`: the channel `Uniqueid` took the call ringing at
    /// `TargetUniqueid` (directed pickup, group pickup). The picker's own call
    /// is merged into the picked one, and the picker stands in for the phone
    /// it took the call from, which it answered (Asterisk's `DialEnd`
    /// `ANSWER` naming the picker comes just before or just after).
    fn pickup(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [Some(picker), Some(target)] = event.get_many(["Uniqueid", "TargetUniqueid"]) else {
            return;
        };
        let Some(target_call) = self.call_of(Some(target)) else {
            return;
        };
        let dialled_by = self.channels.get(target).and_then(|t| t.dialled_by.clone());
        self.picked_up(picker, &target_call, dialled_by, out);
    }

    /// `picker` took call `into`, which `dialled_by` was dialling: its own
    /// call is merged in, and it is the dialled party that answered.
    fn picked_up(
        &mut self,
        picker: &str,
        into: &str,
        dialled_by: Option<String>,
        out: &mut Vec<Input>,
    ) {
        let Some(picker_call) = self.call_of(Some(picker)) else {
            return;
        };
        if picker_call != into {
            self.merge_call(&picker_call, into, out);
        }
        let target_call = into;
        if let Some(channel) = self.channels.get_mut(picker) {
            channel.dial_target = true;
            channel.dials_onward = false;
            channel.ring_reported = true;
            channel.dialled_by = dialled_by;
        }
        self.announce(target_call, out);
        self.answered_by(target_call, picker, out);
    }

    /// The caller of an answered call, out of any bridge, dials again: it
    /// was sent on without a transfer event (AMI `Redirect`, a desktop's
    /// "transfer" through the dialplan): a blind transfer by whoever had the
    /// call, to the extension the caller dials from now.
    fn sent_on(&mut self, call_id: &str, dialler: &str, event: &AmiMessage, out: &mut Vec<Input>) {
        let Some(track) = self.calls.get(call_id) else {
            return;
        };
        if !(track.announced && track.answered && track.caller == dialler)
            || self
                .channels
                .get(dialler)
                .is_none_or(|c| c.bridge.is_some())
        {
            return;
        }
        let transferer = track
            .answered_by
            .as_deref()
            .and_then(|p| self.channels.get(p))
            .map(Channel::number)
            .unwrap_or_default();
        self.refresh_channel(event);
        let target = self
            .channels
            .get(dialler)
            .map(|c| c.exten.clone())
            .unwrap_or_default();
        let Some(track) = self.calls.get_mut(call_id) else {
            return;
        };
        track.answered = false;
        track.answered_by = None;
        track.last_dial = None;
        track.rang = false;
        track.unconfirmed_blind = Some(dialler.to_owned());
        out.push(Input::CallTransferred {
            call_id: call_id.to_owned(),
            transfer: Transfer {
                kind: TransferKind::Blind,
                transferer,
                target,
                merged_call_id: None,
                at: Instant::UNIX_EPOCH,
            },
            customer_number: None,
            agent_extension: None,
            answered_by: None,
        });
    }

    /// Whether a dial made by `dialler` is made for the caller of `call_id`:
    /// the dialler is the caller, or is joined to it through `Local/` pairs,
    /// bridges, and the dials that are still ringing. An agent's consultation
    /// call (an attended transfer with the feature code, in the same
    /// `Linkedid`) is joined only to the agent, who has left the caller's
    /// bridge and holds it. An unknown dialler is taken as the caller's.
    fn for_the_caller(&self, dialler: Option<&str>, call_id: &str) -> bool {
        let (Some(dialler), Some(track)) = (dialler, self.calls.get(call_id)) else {
            return true;
        };
        if dialler == track.caller {
            return true;
        }
        let mut seen = vec![dialler];
        let mut pending = vec![dialler];
        while let Some(current) = pending.pop() {
            if current == track.caller {
                return true;
            }
            let Some(channel) = self.channels.get(current) else {
                continue;
            };
            let bridged = channel
                .bridge
                .as_ref()
                .and_then(|b| self.bridges.get(b))
                .into_iter()
                .flatten()
                .map(String::as_str);
            let ringing_for = channel
                .dialled_by
                .as_deref()
                .filter(|_| channel.state < STATE_UP);
            for next in bridged
                .chain(channel.local_partner.as_deref())
                .chain(ringing_for)
            {
                if !seen.contains(&next) {
                    seen.push(next);
                    pending.push(next);
                }
            }
        }
        false
    }

    /// The party at the far end of the leg that starts at `start`: through
    /// each `Local/` pair to the answered leg its other half dialled, as far
    /// as that goes. Also says whether a dial was crossed (else the party is
    /// `start` itself, or the dialplan behind its `Local/` pair).
    fn far_end(&self, start: &str) -> (String, bool) {
        let mut current = start.to_owned();
        let mut through_a_dial = false;
        for _ in 0..16 {
            let Some(partner) = self
                .channels
                .get(&current)
                .filter(|c| c.is_local)
                .and_then(|c| c.local_partner.as_deref())
            else {
                break;
            };
            let Some((next, _)) = self
                .channels
                .iter()
                .find(|(_, c)| c.dialled_by.as_deref() == Some(partner) && c.state == STATE_UP)
            else {
                break;
            };
            current.clone_from(next);
            through_a_dial = true;
        }
        (current, through_a_dial)
    }

    /// Moves every channel of call `from` into call `into`; `from` ends as
    /// transferred (merged) when it had been announced.
    fn merge_call(&mut self, from: &str, into: &str, out: &mut Vec<Input>) {
        let Some(merged) = self.calls.remove(from) else {
            return;
        };
        for member in &merged.members {
            if let Some(channel) = self.channels.get_mut(member) {
                channel.call_id = into.to_owned();
            }
        }
        for linkedid in &merged.linkedids {
            self.call_of_linkedid
                .insert(linkedid.clone(), into.to_owned());
        }
        if let Some(track) = self.calls.get_mut(into) {
            track.members.extend(merged.members);
            track.linkedids.extend(merged.linkedids);
        }
        if merged.announced {
            out.push(Input::CallEnded {
                call_id: from.to_owned(),
                reason: EndReason::Transferred,
            });
        }
    }

    fn dial_end(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [dialler, Some(dest), status] =
            event.get_many(["Uniqueid", "DestUniqueid", "DialStatus"])
        else {
            return;
        };
        let Some(outcome) = dial_outcome(status.unwrap_or_default()) else {
            return;
        };
        let Some(dialler) = dialler else {
            self.originate_end(dest, outcome);
            return;
        };
        // Asterisk names a picker as the party a dial reached (`Pickup` comes
        // just before or just after): it took the call.
        if outcome == DialOutcome::Answer
            && let (Some(dialler_call), Some(dest_call)) =
                (self.call_of(Some(dialler)), self.call_of(Some(dest)))
            && dialler_call != dest_call
        {
            self.picked_up(dest, &dialler_call, Some(dialler.to_owned()), out);
        }
        let Some(channel) = self.channels.get(dest) else {
            return;
        };
        let call_id = channel.call_id.clone();
        let real_target = channel.endpoint();
        let target = channel.number();
        if real_target && !self.for_the_caller(Some(dialler), &call_id) {
            // A leg of the call dialling for itself (the consultation of an
            // attended transfer made with the feature code): not the caller's
            // dial. The transfer, when it completes, says who has the call.
            return;
        }
        self.announce(&call_id, out);
        if let Some(track) = self.calls.get_mut(&call_id)
            && (real_target || track.caller == dialler)
        {
            // The caller's own dial outcome comes last and wins.
            track.last_dial = Some(outcome);
        }
        if !real_target {
            return;
        }
        out.push(Input::CallDialEnded {
            call_id: call_id.clone(),
            target,
            outcome,
        });
        if outcome == DialOutcome::Answer {
            self.answered_by(&call_id, dest, out);
        }
    }

    /// Records that the channel `party` answered `call_id`.
    fn answered_by(&mut self, call_id: &str, party: &str, out: &mut Vec<Input>) {
        let Some(track) = self.calls.get_mut(call_id) else {
            return;
        };
        if track.answered_by.as_deref() == Some(party) || track.caller == party {
            return;
        }
        track.answered_by = Some(party.to_owned());
        track.answered = true;
        let Some(channel) = self.channels.get(party) else {
            return;
        };
        out.push(Input::CallAnswered {
            call_id: call_id.to_owned(),
            agent_extension: extension_of(&channel.name),
            answered_by: channel.number(),
        });
    }

    fn bridge_enter(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [Some(bridge), Some(uniqueid)] = event.get_many(["BridgeUniqueid", "Uniqueid"]) else {
            return;
        };
        self.bridges
            .entry(bridge.to_owned())
            .or_default()
            .insert(uniqueid.to_owned());
        let Some(channel) = self.channels.get_mut(uniqueid) else {
            return;
        };
        channel.bridge = Some(bridge.to_owned());
        let call_id = channel.call_id.clone();
        // A leg joining a call handed to the agent bridge (the agent's phone
        // the bridge rang) is part of that call.
        if let Some(handed) = self.bridges.get(bridge).and_then(|members| {
            members
                .iter()
                .filter_map(|m| self.channels.get(m))
                .map(|c| &c.call_id)
                .find(|c| {
                    **c != call_id && self.calls.get(*c).is_some_and(|t| t.handed_to.is_some())
                })
                .cloned()
        }) {
            self.merge_call(&call_id, &handed, out);
            return;
        }
        let Some(track) = self.calls.get(&call_id) else {
            return;
        };
        let caller = track.caller.clone();
        if caller.is_empty() {
            return;
        }
        // Which real phones the caller talks to now (never the requester's
        // own phone of an originated call).
        let requester_leg = track.originated.as_ref().map(|o| &o.leg);
        let parties = self.connected_parties(&caller);
        let Some(party) = parties.into_iter().find(|p| {
            requester_leg.is_none_or(|leg| !leg.contains(p))
                && self
                    .channels
                    .get(p)
                    .is_some_and(|c| c.call_id == call_id && c.state == STATE_UP)
        }) else {
            return;
        };
        self.announce(&call_id, out);
        self.answered_by(&call_id, &party, out);
    }

    fn bridge_leave(&mut self, event: &AmiMessage) {
        let [Some(bridge), Some(uniqueid)] = event.get_many(["BridgeUniqueid", "Uniqueid"]) else {
            return;
        };
        if let Some(members) = self.bridges.get_mut(bridge) {
            members.remove(uniqueid);
        }
        if let Some(channel) = self.channels.get_mut(uniqueid)
            && channel.bridge.as_deref() == Some(bridge)
        {
            channel.bridge = None;
        }
    }

    /// The real (non-`Local/`) channels joined to `start` through bridges and
    /// `Local/` pairs, `start` excluded.
    fn connected_parties(&self, start: &str) -> Vec<String> {
        let mut seen = BTreeSet::from([start.to_owned()]);
        let mut pending = vec![start.to_owned()];
        let mut parties = Vec::new();
        while let Some(current) = pending.pop() {
            let Some(channel) = self.channels.get(&current) else {
                continue;
            };
            let mut next: Vec<&String> = Vec::new();
            if let Some(members) = channel.bridge.as_ref().and_then(|b| self.bridges.get(b)) {
                next.extend(members.iter());
            }
            if let Some(partner) = &channel.local_partner {
                next.push(partner);
            }
            for id in next {
                if !seen.insert(id.clone()) {
                    continue;
                }
                match self.channels.get(id) {
                    Some(other) if other.is_local => pending.push(id.clone()),
                    Some(_) => parties.push(id.clone()),
                    None => {}
                }
            }
        }
        parties
    }

    fn local_bridge(&mut self, event: &AmiMessage) {
        let (Some(one), Some(two)) = (event.get("LocalOneUniqueid"), event.get("LocalTwoUniqueid"))
        else {
            return;
        };
        if let Some(channel) = self.channels.get_mut(one) {
            channel.local_partner = Some(two.to_owned());
        }
        if let Some(channel) = self.channels.get_mut(two) {
            channel.local_partner = Some(one.to_owned());
        }
    }

    fn hangup(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [Some(uniqueid), cause] = event.get_many(["Uniqueid", "Cause"]) else {
            return;
        };
        if let Some(supervisor_extension) = self.spy_channels.remove(uniqueid) {
            out.push(Input::SpyEnded {
                supervisor_extension,
            });
            return;
        }
        let Some(call_id) = self.call_of(Some(uniqueid)) else {
            return;
        };
        let last = self
            .calls
            .get(&call_id)
            .is_some_and(|t| t.members.len() == 1 && t.members.contains(uniqueid));
        if last {
            // A call that ends before anything happened still happened.
            self.announce(&call_id, out);
        }
        let Some(channel) = self.channels.remove(uniqueid) else {
            return;
        };
        if channel.endpoint()
            && channel.state < STATE_UP
            && number(cause) == CAUSE_CALL_REJECTED
            && let Some(track) = self.calls.get_mut(&call_id)
        {
            track.declined = true;
        }
        if let Some(members) = channel
            .bridge
            .as_ref()
            .and_then(|b| self.bridges.get_mut(b))
        {
            members.remove(uniqueid);
        }
        if let Some(partner) = channel
            .local_partner
            .as_ref()
            .and_then(|p| self.channels.get_mut(p))
        {
            partner.local_partner = None;
        }
        if let Some(track) = self.calls.get_mut(&call_id) {
            track.members.remove(uniqueid);
        }
        if !last {
            return;
        }
        let Some(track) = self.calls.remove(&call_id) else {
            return;
        };
        for linkedid in &track.linkedids {
            if self.call_of_linkedid.get(linkedid) == Some(&call_id) {
                self.call_of_linkedid.remove(linkedid);
            }
        }
        if track.announced {
            out.push(Input::CallEnded {
                call_id,
                reason: end_reason(&track, Some(number(cause))),
            });
        }
    }

    /// Sends `CallStarted` for a call the first time it does something.
    fn announce(&mut self, call_id: &str, out: &mut Vec<Input>) {
        let Some(track) = self.calls.get_mut(call_id) else {
            return;
        };
        if track.announced || track.requesting() || track.handed_to.is_some() || track.picking {
            return;
        }
        let Some(caller) = self.channels.get(&track.caller) else {
            return;
        };
        track.announced = true;
        let caller_num = match &track.originated {
            Some(originated) if caller.caller_num.is_empty() => &originated.number,
            _ => &caller.caller_num,
        };
        out.push(Input::CallStarted {
            call_id: call_id.to_owned(),
            ids: CallIds {
                ami_uniqueid: track.caller.clone(),
                ami_linkedid: caller.linkedid.clone(),
                channel: caller.name.clone(),
                ..CallIds::default()
            },
            direction: direction_of(caller_num, &caller.exten),
            customer_number: caller_num.clone(),
            caller_name: caller.caller_name.clone(),
            destination: caller.exten.clone(),
            context: caller.context.clone(),
            channel_state: caller.state_desc.clone(),
            queue: None,
            tenant: String::new(),
        });
    }

    fn blind_transfer(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        if event.get("Result").is_some_and(|r| r != "Success") {
            return;
        }
        let Some(transferee) = event.get("TransfereeUniqueid") else {
            return;
        };
        let Some(call_id) = self.call_of(Some(transferee)) else {
            return;
        };
        let transferer = event.get("TransfererUniqueid").unwrap_or_default();
        self.announce(&call_id, out);
        let Some(track) = self.calls.get_mut(&call_id) else {
            return;
        };
        if track.unconfirmed_blind.as_deref() == Some(transferee) {
            // The transfer already counted when its transferee dialled on.
            track.unconfirmed_blind = None;
            return;
        }
        let mut customer_number = None;
        if track.caller == transferer {
            track.caller = transferee.to_owned();
            customer_number = Some(clean(event.get("TransfereeCallerIDNum")));
        }
        track.answered = false;
        track.answered_by = None;
        track.last_dial = None;
        track.rang = false;
        out.push(Input::CallTransferred {
            call_id,
            transfer: Transfer {
                kind: TransferKind::Blind,
                transferer: clean(event.get("TransfererCallerIDNum")),
                target: clean(event.get("Extension")),
                merged_call_id: None,
                at: Instant::UNIX_EPOCH,
            },
            customer_number,
            agent_extension: None,
            answered_by: None,
        });
    }

    /// The party `transferer` talks to in its call: the answerer when it is
    /// the caller, else the caller; for a call not answered yet, the phone
    /// that rings.
    fn other_party(&self, transferer: &str) -> Option<String> {
        let track = self.calls.get(&self.call_of(Some(transferer))?)?;
        if track.caller != transferer {
            return Some(track.caller.clone()).filter(|c| !c.is_empty());
        }
        track.answered_by.clone().or_else(|| {
            track
                .members
                .iter()
                .find(|m| {
                    self.channels
                        .get(*m)
                        .is_some_and(|c| c.dial_target && c.state == STATE_RINGING)
                })
                .cloned()
        })
    }

    fn attended_transfer(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        if event.get("Result").is_some_and(|r| r != "Success") {
            return;
        }
        let Some(first_transferer) = event.get("OrigTransfererUniqueid") else {
            return;
        };
        let second_transferer = event.get("SecondTransfererUniqueid").unwrap_or_default();
        // Asterisk leaves the transferee or the target out when it merges
        // bridges (`DestType: Bridge`; Asterisk 13 both, 22 the target when
        // the transferer left the consultation first): the target is who
        // joined the transferee's bridge, else whom each transferer talked to.
        let transferee = event
            .get("TransfereeUniqueid")
            .filter(|id| self.channels.contains_key(*id))
            .map(str::to_owned)
            .or_else(|| self.other_party(first_transferer));
        let target = event
            .get("TransferTargetUniqueid")
            .filter(|id| self.channels.contains_key(*id))
            .map(str::to_owned)
            .or_else(|| {
                let transferee = transferee.as_deref()?;
                let bridge = self.channels.get(transferee)?.bridge.as_ref()?;
                self.bridges
                    .get(bridge)?
                    .iter()
                    .find(|m| {
                        ![transferee, first_transferer, second_transferer].contains(&m.as_str())
                    })
                    .cloned()
            })
            .or_else(|| {
                (second_transferer != first_transferer)
                    .then(|| self.other_party(second_transferer))
                    .flatten()
            });
        let Some(call_id) = self.call_of(Some(first_transferer)) else {
            return;
        };
        let consult_id = self
            .call_of(Some(second_transferer))
            .or_else(|| self.call_of(target.as_deref()))
            .filter(|id| id != &call_id);
        self.announce(&call_id, out);
        if let Some(consult_id) = &consult_id {
            self.merge_call(consult_id, &call_id, out);
        }
        // The party the caller is with now: the target, or, when the target
        // is a `Local/` pair that dialled on (a group, a queue, a forward),
        // whoever answered behind it; nobody yet (blonde) when none has.
        let target_channel = target.as_deref().and_then(|t| self.channels.get(t));
        let party = target_channel.and_then(|channel| {
            let id = target.as_deref()?;
            if channel.is_local && channel.dials_onward {
                let (party, through_a_dial) = self.far_end(id);
                through_a_dial.then_some(party)
            } else {
                (channel.state == STATE_UP).then(|| id.to_owned())
            }
        });
        let party_channel = party.as_deref().and_then(|p| self.channels.get(p));
        let target_up = party_channel.is_some();
        let target_number = party_channel
            .or(target_channel)
            .map(Channel::number)
            .unwrap_or_else(|| clean(event.get("TransferTargetCallerIDNum")));
        let agent_extension = party_channel.and_then(|c| extension_of(&c.name));
        let transferee_number = transferee
            .as_deref()
            .and_then(|t| self.channels.get(t))
            .map(|c| c.caller_num.clone());
        let transferer_number = self
            .channels
            .get(first_transferer)
            .map(|c| c.caller_num.clone())
            .unwrap_or_else(|| clean(event.get("OrigTransfererCallerIDNum")));
        let Some(track) = self.calls.get_mut(&call_id) else {
            return;
        };
        let mut customer_number = None;
        if track.caller == first_transferer
            && let Some(transferee) = &transferee
        {
            track.caller.clone_from(transferee);
            customer_number = transferee_number;
        }
        if target_up {
            track.answered = true;
            track.answered_by.clone_from(&party);
        } else {
            track.answered = false;
            track.answered_by = None;
            track.last_dial = None;
        }
        let answered_by = target_up.then(|| target_number.clone());
        out.push(Input::CallTransferred {
            call_id,
            transfer: Transfer {
                kind: if target_up {
                    TransferKind::Attended
                } else {
                    TransferKind::Blonde
                },
                transferer: transferer_number,
                target: target_number,
                merged_call_id: consult_id,
                at: Instant::UNIX_EPOCH,
            },
            customer_number,
            agent_extension,
            answered_by,
        });
    }

    fn queue_caller_join(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [queue, uniqueid, channel, caller_number, caller_name] = event.get_many([
            "Queue",
            "Uniqueid",
            "Channel",
            "CallerIDNum",
            "CallerIDName",
        ]);
        let (Some(queue), Some(call_id)) = (queue, self.call_of(uniqueid)) else {
            return;
        };
        if !self.for_the_caller(uniqueid, &call_id) {
            // A consultation queueing for the agent who holds the caller.
            return;
        }
        self.announce(&call_id, out);
        out.push(Input::QueueCallerJoined {
            queue: queue.to_owned(),
            call_id,
            channel: channel.unwrap_or_default().to_owned(),
            caller_number: clean(caller_number),
            caller_name: clean(caller_name),
        });
    }

    fn agent_connect(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let [
            queue,
            uniqueid,
            interface,
            member_name,
            hold_time,
            dest_number,
            dest_channel,
            caller_number,
            party,
        ] = event.get_many([
            "Queue",
            "Uniqueid",
            "Interface",
            "MemberName",
            "HoldTime",
            "DestCallerIDNum",
            "DestChannel",
            "CallerIDNum",
            "DestUniqueid",
        ]);
        let (Some(queue), Some(call_id)) = (queue, self.call_of(uniqueid)) else {
            return;
        };
        if !self.for_the_caller(uniqueid, &call_id) {
            return;
        }
        let interface = interface.or(member_name).unwrap_or_default();
        self.announce(&call_id, out);
        out.push(Input::QueueCallAnswered {
            queue: queue.to_owned(),
            call_id: call_id.clone(),
            interface: interface.to_owned(),
            wait_seconds: number(hold_time),
        });
        let agent_extension = extension_of(interface);
        // A Local member channel carries the customer's caller id, not the
        // agent's: then the agent is the member's extension.
        let dest_number = clean(dest_number);
        let through_local = dest_channel.is_some_and(|channel| channel.starts_with("Local/"));
        let answered_by = match &agent_extension {
            Some(extension)
                if through_local
                    || dest_number.is_empty()
                    || dest_number == clean(caller_number) =>
            {
                extension.clone()
            }
            _ => dest_number,
        };
        let party = party.map(str::to_owned);
        if let Some(track) = self.calls.get_mut(&call_id) {
            track.answered = true;
            track.answered_by = party;
        }
        out.push(Input::CallAnswered {
            call_id,
            agent_extension,
            answered_by,
        });
    }

    fn queue_member(&mut self, name: &str, event: &AmiMessage, out: &mut Vec<Input>) {
        let [
            queue,
            interface,
            location,
            state_interface,
            member_name,
            plain_name,
            paused,
            pause_reason,
            status,
        ] = event.get_many([
            "Queue",
            "Interface",
            "Location",
            "StateInterface",
            "MemberName",
            "Name",
            "Paused",
            "PausedReason",
            "Status",
        ]);
        let Some(queue) = queue else {
            return;
        };
        let Some(interface) = interface.or(location).or(state_interface) else {
            return;
        };
        let member_name = member_name.or(plain_name);
        out.push(Input::QueueMemberSet {
            queue: queue.to_owned(),
            member: QueueMember {
                interface: interface.to_owned(),
                name: member_name.unwrap_or(interface).to_owned(),
                extension: extension_of(interface),
                paused: paused == Some("1"),
                pause_reason: pause_reason.unwrap_or_default().to_owned(),
                // AMI device state 1 is "Not in use".
                device_free: status == Some("1"),
            },
        });
        let memberships = self
            .queue_memberships
            .entry(interface.to_owned())
            .or_default();
        let first = memberships.is_empty();
        memberships.insert(queue.to_owned());
        if (first || name == "QueueMemberAdded")
            && let Some(extension) = extension_of(interface)
        {
            let queues = memberships.iter().cloned().collect();
            out.push(agent_logged_in(&extension, member_name, queues));
        }
    }

    fn queue_member_removed(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
        let (Some(queue), Some(interface)) = (
            event.get("Queue"),
            event.get("Interface").or_else(|| event.get("Location")),
        ) else {
            return;
        };
        out.push(Input::QueueMemberRemoved {
            queue: queue.to_owned(),
            interface: interface.to_owned(),
        });
        if let Some(memberships) = self.queue_memberships.get_mut(interface) {
            memberships.remove(queue);
            if memberships.is_empty() {
                self.queue_memberships.remove(interface);
                if let Some(extension) = extension_of(interface) {
                    out.push(Input::AgentLoggedOut { extension });
                }
            }
        }
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

fn agent_logged_in(extension: &str, name: Option<&str>, queues: Vec<String>) -> Input {
    Input::AgentLoggedIn {
        extension: extension.to_owned(),
        agent_id: extension.to_owned(),
        name: name
            .filter(|n| !n.is_empty())
            .unwrap_or(extension)
            .to_owned(),
        max_calls: 1,
        queues,
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
