//! The translator's bridges and dialplan steps: bridge membership (a real
//! phone joined to the caller answered), the parties connected through
//! bridges and `Local/` pairs, and the calls handed to the agent bridge's
//! Stasis application.

use super::*;

impl Translator {
    pub(super) fn bridge_enter(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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

    pub(super) fn bridge_leave(&mut self, event: &AmiMessage) {
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
    pub(super) fn connected_parties(&self, start: &str) -> Vec<String> {
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

    /// `Newexten`, a dialplan step: a channel about to pick up a call
    /// (`Pickup`, `PickupChan`) is not a call of its own; a channel entering
    /// the agent bridge's Stasis application hands its call to the bridge,
    /// whose call id is `ari-` and the channel's id.
    pub(super) fn new_exten(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
    pub(super) fn runs_the_bridge(&self, application: Option<&str>, data: Option<&str>) -> bool {
        application == Some("Stasis")
            && self.stasis_app.is_some()
            && data.and_then(|d| d.split(',').next()) == self.stasis_app.as_deref()
    }

    /// The call of channel `uniqueid` entered the agent bridge: see
    /// [`Translator::handing_stasis_calls_to`].
    pub(super) fn hand_to_bridge(&mut self, uniqueid: &str, out: &mut Vec<Input>) {
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
}
