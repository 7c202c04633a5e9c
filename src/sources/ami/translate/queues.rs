//! The translator's queues: callers joining, leaving and abandoning,
//! members connected and completing, and the members themselves (added,
//! paused, removed), whose extensions log in and out with them.

use super::*;

impl Translator {
    pub(super) fn queue_caller_join(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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

    pub(super) fn agent_connect(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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

    pub(super) fn queue_member(&mut self, name: &str, event: &AmiMessage, out: &mut Vec<Input>) {
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
            self.sign_in(&extension, member_name, queues, out);
        }
    }

    pub(super) fn queue_member_removed(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
                    self.sign_out(extension, out);
                }
            }
        }
    }
}
