//! The simulator speaks like a real Asterisk 22: every event it emits that
//! the Asterisk 22 captures in `../shared/fixtures/ami/asterisk-22/` also
//! contain carries exactly the fields a real one carries.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use switchboard::devtools::sim::pbx::{SimPbx, Workload};
use switchboard::sources::ami::{AmiCodec, AmiFrame};
use tokio_util::codec::Decoder;

use crate::helpers::fixtures_root;

type FieldSets = BTreeMap<String, BTreeSet<BTreeSet<String>>>;

/// Per event name, every distinct set of field names seen.
fn capture_field_sets() -> FieldSets {
    let mut sets = FieldSets::new();
    let directory = fixtures_root().join("ami/asterisk-22");
    for entry in std::fs::read_dir(&directory).expect("asterisk-22 captures") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("ami") {
            continue;
        }
        let mut buffer = BytesMut::from(&std::fs::read(&path).unwrap()[..]);
        let mut codec = AmiCodec::default();
        while let Some(frame) = codec.decode_eof(&mut buffer).unwrap() {
            if let AmiFrame::Message(message) = frame
                && let Some(name) = message.event()
            {
                let fields = message.headers().map(|(k, _)| k.to_owned()).collect();
                sets.entry(name.to_owned()).or_default().insert(fields);
            }
        }
    }
    sets
}

#[test]
fn simulated_events_carry_the_fields_of_real_asterisk_22_events() {
    let real = capture_field_sets();
    let mut pbx = SimPbx::new(Workload {
        agents: 8,
        queues: 2,
        calls_per_minute: 20.0,
        seed: 11,
        ..Workload::default()
    });
    let mut compared: BTreeSet<String> = BTreeSet::new();
    let mut differences = Vec::new();
    for _ in 0..12_000 {
        for message in pbx.tick(0.5) {
            let name = message.event().unwrap().to_owned();
            let Some(real_sets) = real.get(&name) else {
                continue;
            };
            let fields: BTreeSet<String> = message.headers().map(|(k, _)| k.to_owned()).collect();
            compared.insert(name.clone());
            if !real_sets.contains(&fields) {
                let nearest = real_sets.iter().next().unwrap();
                differences.push(format!(
                    "{name}: missing {:?}, extra {:?}",
                    nearest.difference(&fields).collect::<Vec<_>>(),
                    fields.difference(nearest).collect::<Vec<_>>()
                ));
            }
        }
    }
    differences.sort();
    differences.dedup();
    assert!(differences.is_empty(), "{differences:#?}");
    for name in [
        "Newchannel",
        "Newstate",
        "DialBegin",
        "DialEnd",
        "Hangup",
        "BridgeEnter",
        "QueueCallerJoin",
        // What a watcher reads past, as a real Asterisk sends it.
        "Newexten",
        "VarSet",
        "DeviceStateChange",
        "HangupRequest",
    ] {
        assert!(
            compared.contains(name),
            "{name} was compared; compared {compared:?}"
        );
    }
}

/// The simulator's calls beside the queue calls, through the translator and
/// the ledger: each of its click-to-dials, pickups and forwards comes out as
/// the rules of "How switchboard counts calls" say.
#[test]
fn the_simulators_click_to_dial_pickup_and_forward_flows_count_by_the_rules() {
    use switchboard::ledger::Ledger;
    use switchboard::proto::v1::{CallChange, CallEndReason, CallUpdated, event::Payload};
    use switchboard::sources::ami::translate::Translator;

    let mut pbx = SimPbx::new(Workload {
        agents: 6,
        queues: 1,
        calls_per_minute: 0.0,
        other_calls_per_minute: 20.0,
        seed: 5,
        talk_seconds: 5.0..30.0,
    });
    let extensions: BTreeSet<String> = pbx.agents.iter().map(|a| a.extension.clone()).collect();
    let mut translator = Translator::new();
    let mut ledger = Ledger::new("human");
    let now = chrono::Utc::now();
    let mut updates: BTreeMap<String, Vec<CallUpdated>> = BTreeMap::new();
    let mut inputs = Vec::new();
    let (mut originates, mut declined) = (0, 0);
    for _ in 0..14_400 {
        for message in pbx.tick(0.5) {
            if message.event() == Some("OriginateResponse") {
                originates += 1;
                declined += usize::from(message.get("Response") == Some("Failure"));
            }
            translator.translate(&message, &mut inputs);
            for input in inputs.drain(..) {
                for emitted in ledger.apply(input, now) {
                    if let Payload::CallUpdated(update) = emitted.payload {
                        let id = update.call.as_ref().unwrap().call_id.clone();
                        updates.entry(id).or_default().push(update);
                    }
                }
            }
        }
    }
    let (mut click_to_dial, mut picked_up, mut forwarded, mut placed) = (0, 0, 0, 0);
    for (id, changes) in &updates {
        let count = |change: CallChange| changes.iter().filter(|u| u.change() == change).count();
        if extensions.contains(&changes[0].call.as_ref().unwrap().customer_number) {
            placed += 1;
        }
        let Some(call) = changes
            .iter()
            .rev()
            .find(|u| u.change() == CallChange::Ended)
            .and_then(|u| u.call.clone())
        else {
            continue; // still up when the run stopped
        };
        let rang: Vec<&str> = changes
            .iter()
            .filter(|u| u.change() == CallChange::Dialing)
            .map(|u| u.target.as_str())
            .collect();
        assert_eq!(count(CallChange::Started), 1, "{id}");
        assert!(count(CallChange::Answered) <= 2, "{id}: {changes:#?}");
        if extensions.contains(&call.customer_number) {
            // Click-to-dial: the agent calls; only the customer's phone rings.
            click_to_dial += 1;
            assert_eq!(rang, [call.destination.as_str()], "{id}");
            if call.answered_at.is_some() {
                assert_eq!(call.answered_by, call.destination, "{id}");
            } else {
                assert_eq!(call.end_reason(), CallEndReason::NoAnswer, "{id}");
            }
        } else if count(CallChange::AnswerWithdrawn) == 1 {
            // A forward: its own answer withdrawn; the mobile's, or none.
            forwarded += 1;
            match call.answered_at {
                Some(_) => assert!(!extensions.contains(&call.answered_by), "{id}"),
                None => assert_eq!(call.end_reason(), CallEndReason::NoAnswer, "{id}"),
            }
        } else {
            // A pickup: rung at the agent called, answered by a colleague.
            picked_up += 1;
            assert_eq!(rang, [call.destination.as_str()], "{id}");
            assert!(extensions.contains(&call.answered_by), "{id}: {call:?}");
            assert_ne!(call.answered_by, call.destination, "{id}");
            assert_eq!(count(CallChange::Answered), 1, "{id}");
        }
    }
    assert!(
        click_to_dial >= 10 && picked_up >= 10 && forwarded >= 10,
        "{click_to_dial} click-to-dial, {picked_up} pickups, {forwarded} forwards"
    );
    assert!(declined > 0, "some requesters declined");
    assert_eq!(
        placed,
        originates - declined,
        "a click-to-dial the agent declines places no call"
    );
}
