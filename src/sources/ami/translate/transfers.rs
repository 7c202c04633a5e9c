//! The translator's transfers: blind (`BlindTransfer`, or a `Redirect`
//! seen as the caller dialling on), attended and blonde (`AttendedTransfer`:
//! the consultation call merged into the transferee's), so that a
//! transferred call stays one call.

use super::*;

impl Translator {
    /// The caller of an answered call, out of any bridge, dials again: it
    /// was sent on without a transfer event (AMI `Redirect`, a desktop's
    /// "transfer" through the dialplan): a blind transfer by whoever had the
    /// call, to the extension the caller dials from now.
    pub(super) fn sent_on(
        &mut self,
        call_id: &str,
        dialler: &str,
        event: &AmiMessage,
        out: &mut Vec<Input>,
    ) {
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
            agent_released: false,
            answered_by: None,
        });
    }

    pub(super) fn blind_transfer(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
            agent_released: false,
            answered_by: None,
        });
    }

    /// The party `transferer` talks to in its call: the answerer when it is
    /// the caller, else the caller; for a call not answered yet, the phone
    /// that rings.
    pub(super) fn other_party(&self, transferer: &str) -> Option<String> {
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

    pub(super) fn attended_transfer(&mut self, event: &AmiMessage, out: &mut Vec<Input>) {
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
            agent_released: false,
            answered_by,
        });
    }
}
