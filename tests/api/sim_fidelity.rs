//! The simulator speaks like a real Asterisk 22: every event it emits that
//! the Asterisk 22 captures in `../shared/fixtures/ami/asterisk-22/` also
//! contain carries exactly the fields a real one carries.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use switchboard::ami::{AmiCodec, AmiFrame};
use switchboard::sim::pbx::{SimPbx, Workload};
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
