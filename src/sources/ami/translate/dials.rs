//! The translator's dials: who dialled whom (seeing through `Local/`
//! pairs), which dials count (those made for the caller), their outcomes
//! and answers, `Originate`s (no call until the requester's leg answers)
//! and pickups (the picker's call merged into the one picked up).

use super::*;

impl Translator {
    pub(super) fn dial_begin(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
        // The dialplan may have named the tenant since the channel appeared.
        if let Some(tenant) = event.get("Tenantid")
            && let Some(channel) = self.channels.get_mut(dialler)
        {
            refresh(&mut channel.tenant, tenant);
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

    pub(super) fn dial_end(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
    pub(super) fn answered_by(&mut self, call_id: &str, party: &str, out: &mut Vec<Input>) {
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

    /// Whether a dial made by `dialler` is made for the caller of `call_id`:
    /// the dialler is the caller, or is joined to it through `Local/` pairs,
    /// bridges, and the dials that are still ringing. An agent's consultation
    /// call (an attended transfer with the feature code, in the same
    /// `Linkedid`) is joined only to the agent, who has left the caller's
    /// bridge and holds it. An unknown dialler is taken as the caller's.
    pub(super) fn for_the_caller(&self, dialler: Option<&str>, call_id: &str) -> bool {
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
    pub(super) fn far_end(&self, start: &str) -> (String, bool) {
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
    pub(super) fn merge_call(&mut self, from: &str, into: &str, out: &mut Vec<Input>) {
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

    /// Asterisk rings `channel` for an `Originate`: its call is the
    /// requester's leg until it answers, and is not announced before.
    pub(super) fn originate_begin(&mut self, channel: &str) {
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
    pub(super) fn originate_end(&mut self, channel: &str, outcome: DialOutcome) {
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
    pub(super) fn originate_response(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
    pub(super) fn pickup(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
    pub(super) fn picked_up(
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
}
