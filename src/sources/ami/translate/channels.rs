//! The translator's channels: a channel is tracked from `Newchannel` to
//! `Hangup`, its state and caller-id kept current, the two halves of a
//! `Local/` pair joined; a call is announced once its caller-id settled, and
//! ends when its last channel is gone. A channel in a `spy-*` context is a
//! supervisor's, never a call.

use super::*;

impl Translator {
    pub(super) fn new_channel(&mut self, event: &AmiMessage) {
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
            tenant,
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
            "Tenantid",
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
            tenant: clean(tenant),
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
    pub(super) fn refresh_channel<'e>(&mut self, event: &'e AmiMessage) -> Option<&'e str> {
        let [uniqueid, num, name, state, desc, exten, context, tenant] = event.get_many([
            "Uniqueid",
            "CallerIDNum",
            "CallerIDName",
            "ChannelState",
            "ChannelStateDesc",
            "Exten",
            "Context",
            "Tenantid",
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
        if let Some(tenant) = tenant {
            refresh(&mut channel.tenant, tenant);
        }
        uniqueid
    }

    pub(super) fn new_state(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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

    pub(super) fn local_bridge(&mut self, event: &AmiMessage) {
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

    pub(super) fn hangup(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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

    /// Sends `CallStarted` for a call the first time it does something. The
    /// call's tenant is its caller's `Tenantid` at that moment: a tenant set
    /// on the trunk's endpoint, or in the dialplan before the call dials or
    /// answers.
    pub(super) fn announce(&mut self, call_id: &str, out: &mut Vec<Input>) {
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
            tenant: caller.tenant.clone(),
        });
    }

    /// The channel `uniqueid` turned out to be a supervisor listening in
    /// (`ChanSpy`): its call, unless it was already announced, is no call but
    /// a spy session, and its channels are followed as such from now on.
    pub(super) fn becomes_spy(&mut self, uniqueid: &str) {
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
}
