//! Voice-AI calls (seed 003): `call:started` and `call:ended` per tenant.
//! Webhooks may come twice or out of order: a call's start is announced
//! once, its end once, and a start that arrives after its end is not
//! announced at all (the dashboard would show a call that is over).

use std::collections::{HashMap, VecDeque};

use super::model::{Direction, EndReason, Input};
use super::{Emitted, Ledger, views};
use crate::proto::v1::{self as pb, event::Payload};
use crate::time::{Instant, to_timestamp};

/// How many ended voice calls are remembered (to drop late starts and repeats).
const REMEMBERED_ENDS: usize = 10_000;

/// What the ledger knows of voice-AI calls.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VoiceCalls {
    /// Calls started and not ended: (tenant, call id) key → tenant.
    live: HashMap<String, String>,
    /// Calls ended (voice-AI (tenant, call id) keys and Twilio Call SIDs),
    /// oldest first, bounded.
    ended: VecDeque<String>,
    /// The newest `SequenceNumber` applied per Twilio call in progress.
    twilio_sequences: HashMap<String, i64>,
}

impl VoiceCalls {
    /// Calls in progress for `tenant` (every tenant with `None`).
    pub fn live_count(&self, tenant: Option<&str>) -> usize {
        self.live
            .values()
            .filter(|t| tenant.is_none_or(|wanted| wanted == t.as_str()))
            .count()
    }
}

/// A voice-AI call's key in [`VoiceCalls`]: its tenant and its provider's id
/// (two tenants' calls may share a call id).
fn voice_key(client_id: &str, call_id: &str) -> String {
    format!("{client_id}\u{1f}{call_id}")
}

/// The last four characters of a number, never more.
pub fn last_four(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

impl Ledger {
    /// Applies a voice-AI input; others change nothing here.
    pub(super) fn apply_voice(&mut self, input: Input, now: Instant) -> Vec<Emitted> {
        match input {
            Input::VoiceCallStarted {
                call_id,
                client_id,
                phone,
                direction,
                agent_id,
            } => {
                let key = voice_key(&client_id, &call_id);
                if self.voice.live.contains_key(&key) || self.voice.ended.contains(&key) {
                    return Vec::new();
                }
                self.voice.live.insert(key, client_id.clone());
                vec![Emitted {
                    payload: Payload::VoiceCallStarted(pb::VoiceCallStarted {
                        call_id,
                        client_id: client_id.clone(),
                        phone: last_four(&phone),
                        direction: match direction {
                            Direction::Unknown => pb::CallDirection::Inbound,
                            other => views::direction(other),
                        } as i32,
                        agent_id,
                        timestamp: Some(to_timestamp(now)),
                    }),
                    tenant: client_id,
                }]
            }
            Input::VoiceCallEnded {
                call_id,
                client_id,
                duration_ms,
                status,
            } => {
                let key = voice_key(&client_id, &call_id);
                if self.voice.ended.contains(&key) {
                    return Vec::new();
                }
                self.voice.live.remove(&key);
                self.voice.ended.push_back(key);
                if self.voice.ended.len() > REMEMBERED_ENDS {
                    self.voice.ended.pop_front();
                }
                vec![Emitted {
                    payload: Payload::VoiceCallEnded(pb::VoiceCallEnded {
                        call_id,
                        client_id: client_id.clone(),
                        duration_ms,
                        status,
                        timestamp: Some(to_timestamp(now)),
                    }),
                    tenant: client_id,
                }]
            }
            Input::TwilioCallStatus {
                call_sid,
                sequence,
                status,
                direction,
                from,
                to,
            } => self.twilio_status(call_sid, sequence, &status, direction, from, to, now),
            _ => Vec::new(),
        }
    }

    /// A Twilio status callback: the call starts at its first callback,
    /// is answered at `in-progress`, ends at a final status; a callback
    /// older than the newest one applied (or of an ended call) changes nothing.
    #[allow(clippy::too_many_arguments)]
    fn twilio_status(
        &mut self,
        call_sid: String,
        sequence: i64,
        status: &str,
        direction: Direction,
        from: String,
        to: String,
        now: Instant,
    ) -> Vec<Emitted> {
        if self.voice.ended.contains(&call_sid)
            || self
                .voice
                .twilio_sequences
                .get(&call_sid)
                .is_some_and(|last| *last >= sequence)
        {
            return Vec::new();
        }
        self.voice
            .twilio_sequences
            .insert(call_sid.clone(), sequence);
        let call_id = format!("{TWILIO_CALL_ID_PREFIX}{call_sid}");
        let mut out = Vec::new();
        if !self.calls.contains_key(&call_id) {
            let customer = if direction == Direction::Inbound {
                &from
            } else {
                &to
            };
            out.extend(self.apply_one(
                Input::CallStarted {
                    call_id: call_id.clone(),
                    ids: super::model::CallIds {
                        twilio_call_sid: call_sid.clone(),
                        ..Default::default()
                    },
                    direction,
                    customer_number: customer.clone(),
                    caller_name: String::new(),
                    destination: to.clone(),
                    context: "twilio".into(),
                    channel_state: "Ring".into(),
                    queue: None,
                    tenant: String::new(),
                },
                now,
            ));
        }
        let end = match status {
            "in-progress" => {
                out.extend(self.apply_one(
                    Input::CallAnswered {
                        call_id,
                        agent_extension: None,
                        answered_by: if direction == Direction::Inbound {
                            to
                        } else {
                            from
                        },
                    },
                    now,
                ));
                return out;
            }
            "completed" => EndReason::Completed,
            "busy" => EndReason::Busy,
            "no-answer" => EndReason::NoAnswer,
            "failed" => EndReason::Failed,
            "canceled" => EndReason::Abandoned,
            _ => return out,
        };
        let reason = match (end, self.calls.get(&call_id)) {
            (EndReason::Completed, Some(call)) if call.answered_at.is_none() => EndReason::NoAnswer,
            (reason, _) => reason,
        };
        self.voice.twilio_sequences.remove(&call_sid);
        self.voice.ended.push_back(call_sid);
        if self.voice.ended.len() > REMEMBERED_ENDS {
            self.voice.ended.pop_front();
        }
        out.extend(self.apply_one(Input::CallEnded { call_id, reason }, now));
        out
    }
}

/// The prefix of the call ids of Twilio calls (`twilio-<CallSid>`).
pub const TWILIO_CALL_ID_PREFIX: &str = "twilio-";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn started(id: &str) -> Input {
        Input::VoiceCallStarted {
            call_id: id.into(),
            client_id: "acme".into(),
            phone: "+12137771234".into(),
            direction: Direction::Inbound,
            agent_id: "oBeD".into(),
        }
    }

    fn ended(id: &str) -> Input {
        Input::VoiceCallEnded {
            call_id: id.into(),
            client_id: "acme".into(),
            duration_ms: 15_791,
            status: "ended".into(),
        }
    }

    #[test]
    fn each_call_starts_and_ends_once_in_either_order() {
        let now = Utc.timestamp_opt(1_714_608_475, 0).unwrap();
        let mut ledger = Ledger::new("auto");
        let first = ledger.apply(started("c1"), now);
        let Payload::VoiceCallStarted(call) = &first[0].payload else {
            panic!("{first:?}")
        };
        assert_eq!(
            (call.phone.as_str(), first[0].tenant.as_str()),
            ("1234", "acme")
        );
        assert!(ledger.apply(started("c1"), now).is_empty(), "a retry");
        assert_eq!(ledger.voice.live_count(Some("acme")), 1);
        assert_eq!(ledger.apply(ended("c1"), now).len(), 1);
        assert!(ledger.apply(ended("c1"), now).is_empty(), "a retry");
        // The end comes first: the late start is not announced.
        assert_eq!(ledger.apply(ended("c2"), now).len(), 1);
        assert!(ledger.apply(started("c2"), now).is_empty());
        assert_eq!(ledger.voice.live_count(None), 0);
    }
}
