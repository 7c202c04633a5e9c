//! The 30 cacofonisk v2 captures (real Asterisk 13 calls) and their expected
//! outcomes, read in place from `../shared/fixtures/ami/cacofonisk-v2/`.
//!
//! A capture is a JSON list of events with sorted keys; [`wire_bytes`] puts
//! them back into AMI wire framing (`Event:` first, CRLF lines, a blank line
//! after each). The expected file lists cacofonisk's reporter callbacks;
//! [`Outcomes::expected`] reduces them to what switchboard reports as
//! `call_updated`: phones rung, dial outcomes, answers, transfers, hang-ups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use switchboard::proto::v1::{CallChange, CallEndReason, CallUpdated, DialOutcome, TransferKind};

/// Every capture, with its expected file.
pub fn captures() -> Vec<(String, PathBuf, PathBuf)> {
    let root = crate::helpers::fixtures_root().join("ami/cacofonisk-v2");
    let mut out = Vec::new();
    for group in std::fs::read_dir(&root).expect("cacofonisk-v2 fixtures") {
        let group = group.unwrap().path();
        if !group.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&group).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".expected.json") {
                let capture = group.join(format!("{stem}.json"));
                out.push((stem.to_owned(), capture, path));
            }
        }
    }
    out.sort();
    out
}

/// The events of a capture, each as ordered `(key, value)` pairs in wire
/// order: `Event` first, the recording's `content` artefact left out.
pub fn events(capture: &Path) -> Vec<Vec<(String, String)>> {
    let list: Vec<BTreeMap<String, Value>> =
        serde_json::from_slice(&std::fs::read(capture).unwrap()).unwrap();
    list.into_iter()
        .map(|event| {
            let mut pairs = Vec::new();
            if let Some(Value::String(name)) = event.get("Event") {
                pairs.push(("Event".to_owned(), name.clone()));
            }
            for (key, value) in event {
                if key == "Event" || key == "content" {
                    continue;
                }
                let value = match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                pairs.push((key, value));
            }
            pairs
        })
        .collect()
}

/// A capture's events in AMI wire framing.
pub fn wire_bytes(capture: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for event in events(capture) {
        for (key, value) in event {
            bytes.extend_from_slice(format!("{key}: {value}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// What happened to the calls of one capture, as multisets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// (calling number, number rung).
    pub rung: BTreeMap<(String, String), u32>,
    /// Final dial outcomes: answer, busy, cancel, …
    pub dial_ends: BTreeMap<String, u32>,
    /// (calling number, answering number).
    pub answers: BTreeMap<(String, String), u32>,
    /// Transfer kinds: blind, attended, blonde.
    pub transfers: BTreeMap<String, u32>,
    /// (calling number, hang-up reason).
    pub hangups: BTreeMap<(String, String), u32>,
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u32>, key: K) {
    *map.entry(key).or_default() += 1;
}

/// Takes one pair out of the multiset; false when there was none.
fn unbump_pair(map: &mut BTreeMap<(String, String), u32>, key: &(String, String)) -> bool {
    match map.get_mut(key) {
        Some(count) if *count > 0 => {
            *count -= 1;
            if *count == 0 {
                map.remove(key);
            }
            true
        }
        _ => false,
    }
}

/// Takes one `key` out of the multiset; false when there was none.
fn unbump(map: &mut BTreeMap<String, u32>, key: &str) -> bool {
    match map.get_mut(key) {
        Some(count) if *count > 0 => {
            *count -= 1;
            true
        }
        _ => false,
    }
}

fn num(party: &Value) -> String {
    party["caller_id"]["num"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

impl Outcomes {
    /// cacofonisk's callbacks, reduced. Its reasons map onto switchboard's:
    /// completed → completed, busy → busy, no-answer → no_answer, cancelled → abandoned.
    pub fn expected(expected: &Path) -> Outcomes {
        let callbacks: Vec<Value> =
            serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
        let mut out = Outcomes::default();
        for callback in callbacks {
            let caller = num(&callback["caller"]);
            match callback["callback"].as_str().unwrap() {
                "on_b_dial" => {
                    for target in callback["targets"].as_array().unwrap() {
                        bump(&mut out.rung, (caller.clone(), num(target)));
                    }
                }
                "on_b_dial_end" if callback["reason"] == "cancel" => {}
                "on_b_dial_end" => {
                    bump(
                        &mut out.dial_ends,
                        callback["reason"].as_str().unwrap().to_owned(),
                    );
                }
                "on_up" => bump(&mut out.answers, (caller, num(&callback["target"]))),
                "on_blind_transfer" => {
                    // cacofonisk names the blind transfer's targets here, not in on_b_dial.
                    for target in callback["targets"].as_array().unwrap() {
                        bump(&mut out.rung, (caller.clone(), num(target)));
                    }
                    bump(&mut out.transfers, "blind".to_owned())
                }
                "on_attended_transfer" => bump(&mut out.transfers, "attended".to_owned()),
                "on_blonde_transfer" => bump(&mut out.transfers, "blonde".to_owned()),
                "on_hangup" => {
                    let reason = match callback["reason"].as_str().unwrap() {
                        "completed" => "completed",
                        "busy" => "busy",
                        "no-answer" => "no_answer",
                        "cancelled" => "abandoned",
                        other => panic!("unknown reason {other}"),
                    };
                    bump(&mut out.hangups, (caller, reason.to_owned()));
                }
                _ => {}
            }
        }
        out
    }

    /// Where switchboard knowingly differs from cacofonisk, the expected
    /// outcomes are adjusted here, each with its reason:
    ///
    /// - `queue_a_cancel`: the caller hung up waiting in the queue
    ///   (`QueueCallerAbandon`). cacofonisk says completed because the queue
    ///   application had answered the caller's channel; for a contact center
    ///   that is an abandoned call, and switchboard says so.
    /// - `xfer_blind_a_no_answer`, `xfer_blind_b_no_answer`: a blind transfer
    ///   to a phone that never rang (busy at once). cacofonisk reports neither
    ///   the transfer nor its failure and calls the call completed;
    ///   switchboard reports the blind transfer (the `BlindTransfer` event is
    ///   there) and ends the call with the failed leg's reason, no answer
    ///   (the transferee's own `DialEnd` says `NOANSWER`). In `a_no_answer`
    ///   the transferer was the caller, so the transferee (202) becomes the
    ///   calling party.
    /// - `xfer_blind_reject`: the transfer target (203) declines: its phone
    ///   hangs up ringing with cause 21, `Call Rejected`. cacofonisk takes the
    ///   caller's last hang-up cause (19, no answer); switchboard's rule is
    ///   that a call whose last dialled phone declined it ends `rejected`
    ///   (the `Local/` leg in front of the phone reports the decline as
    ///   `NOANSWER`, so the phone's own cause is what tells).
    pub fn known_differences(name: &str, mut expected: Outcomes) -> Outcomes {
        let mut rehang = |from: (&str, &str), to: (&str, &str)| {
            let key = (from.0.to_owned(), from.1.to_owned());
            assert!(unbump_pair(&mut expected.hangups, &key), "{name}: {key:?}");
            bump(&mut expected.hangups, (to.0.to_owned(), to.1.to_owned()));
        };
        match name {
            "queue_a_cancel" => {
                rehang(("+31150010001", "completed"), ("+31150010001", "abandoned"))
            }
            "xfer_blind_a_no_answer" => {
                rehang(("201", "completed"), ("202", "no_answer"));
                bump(&mut expected.transfers, "blind".to_owned());
            }
            "xfer_blind_b_no_answer" => {
                rehang(("201", "completed"), ("201", "no_answer"));
                bump(&mut expected.transfers, "blind".to_owned());
            }
            "xfer_blind_reject" => rehang(("201", "no_answer"), ("201", "rejected")),
            _ => {}
        }
        expected
    }

    /// What switchboard reported, from its `call_updated` events in order.
    ///
    /// cacofonisk reports the end of a dial only for a phone that rang, and a
    /// cancelled one only when another phone picked the call up; switchboard
    /// reports every one. So only dial ends of phones that rang count here,
    /// and cancels not at all (on either side).
    pub fn reported<'a>(updates: impl IntoIterator<Item = &'a CallUpdated>) -> Outcomes {
        let mut out = Outcomes::default();
        let mut ringing = BTreeMap::new();
        for update in updates {
            let call = update.call.as_ref().expect("call_updated carries the call");
            let caller = call.customer_number.clone();
            match update.change() {
                CallChange::Dialing => {
                    bump(&mut ringing, update.target.clone());
                    bump(&mut out.rung, (caller, update.target.clone()))
                }
                CallChange::DialEnded
                    if update.dial_outcome() == DialOutcome::Cancel
                        || !unbump(&mut ringing, &update.target) => {}
                CallChange::DialEnded => {
                    let outcome = match update.dial_outcome() {
                        DialOutcome::Answer => "answer",
                        DialOutcome::Busy => "busy",
                        DialOutcome::Cancel => "cancel",
                        DialOutcome::NoAnswer => "no_answer",
                        DialOutcome::Congestion => "congestion",
                        DialOutcome::Unavailable => "unavailable",
                        DialOutcome::Unspecified => "unspecified",
                    };
                    bump(&mut out.dial_ends, outcome.to_owned());
                }
                CallChange::Answered => bump(&mut out.answers, (caller, call.answered_by.clone())),
                CallChange::Transferred => {
                    let kind = match update.transfer.as_ref().map(|t| t.kind()) {
                        Some(TransferKind::Blind) => "blind",
                        Some(TransferKind::Attended) => "attended",
                        Some(TransferKind::Blonde) => "blonde",
                        _ => "unknown",
                    };
                    bump(&mut out.transfers, kind.to_owned());
                }
                CallChange::Ended if call.end_reason() == CallEndReason::Transferred => {}
                CallChange::Ended => {
                    let reason = call
                        .end_reason()
                        .as_str_name()
                        .trim_start_matches("CALL_END_REASON_")
                        .to_lowercase();
                    bump(&mut out.hangups, (caller, reason));
                }
                _ => {}
            }
        }
        out
    }
}

/// Replays a capture through the translator and the ledger in-process (the
/// fast check; `ami_replay` does the same over TCP through the real server).
#[test]
fn every_capture_translates_to_its_expected_outcomes_in_process() {
    use switchboard::ledger::Ledger;
    use switchboard::proto::v1::event::Payload;
    use switchboard::sources::ami::AmiMessage;
    use switchboard::sources::ami::translate::Translator;

    let mut failures = Vec::new();
    let all = captures();
    assert_eq!(all.len(), 30, "the 30 cacofonisk v2 captures");
    for (name, capture, expected) in all {
        let mut translator = Translator::new();
        let mut ledger = Ledger::new("human");
        let now = chrono::Utc::now();
        let mut updates = Vec::new();
        let mut inputs = Vec::new();
        for pairs in events(&capture) {
            let message =
                AmiMessage::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            inputs.clear();
            translator.translate(&message, &mut inputs);
            for input in inputs.drain(..) {
                for emitted in ledger.apply(input, now) {
                    if let Payload::CallUpdated(update) = emitted.payload {
                        updates.push(update);
                    }
                }
            }
        }
        let reported = Outcomes::reported(&updates);
        let wanted = Outcomes::known_differences(&name, Outcomes::expected(&expected));
        if reported != wanted {
            failures.push(format!(
                "{name}:\n  expected {wanted:?}\n  reported {reported:?}"
            ));
        }
        assert!(ledger.calls.is_empty(), "{name}: every call ended");
        assert!(translator.is_idle(), "{name}: the translator forgot them");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
