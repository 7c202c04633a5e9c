//! The ARI models against a real Asterisk 22 Stasis call
//! (`../shared/fixtures/ari/asterisk-22/stasis_call.ari.jsonl`) and the
//! Swagger (`events.json`, `channels.json`, `bridges.json`).

use serde_json::Value;
use switchboard::sources::ari::model::{AriEvent, AriMessage};

use crate::helpers::fixtures_root;

/// The models of one Swagger file.
pub(crate) fn swagger_models(file: &str) -> serde_json::Map<String, Value> {
    let path = fixtures_root()
        .join("ari/api-docs-master/api-docs")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("swagger file");
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["models"].as_object().unwrap().clone()
}

/// The properties `model` marks required.
pub(crate) fn required(models: &serde_json::Map<String, Value>, model: &str) -> Vec<String> {
    models[model]["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["required"] == true)
        .map(|(name, _)| name.clone())
        .collect()
}

/// Asserts that `message` carries every property the Swagger requires, for
/// the event and for the channel, bridge, endpoint and peer objects in it.
pub(crate) fn assert_follows_swagger(message: &switchboard::sources::ari::model::AriMessage) {
    let events = swagger_models("events.json");
    let encoded = serde_json::to_value(message).unwrap();
    let kind = encoded["type"].as_str().unwrap().to_owned();
    for property in required(&events, &kind)
        .into_iter()
        .chain(required(&events, "Event"))
    {
        assert!(encoded.get(&property).is_some(), "{kind}.{property}");
    }
    for (object, file, model) in [
        ("channel", "channels.json", "Channel"),
        ("peer", "channels.json", "Channel"),
        ("bridge", "bridges.json", "Bridge"),
        ("endpoint", "endpoints.json", "Endpoint"),
    ] {
        if let Some(value) = encoded.get(object) {
            for property in required(&swagger_models(file), model) {
                assert!(value.get(&property).is_some(), "{kind}.{object}.{property}");
            }
        }
    }
}

#[test]
fn every_event_of_a_real_stasis_call_decodes_and_round_trips() {
    let events = swagger_models("events.json");
    let channels = swagger_models("channels.json");
    let bridges = swagger_models("bridges.json");
    let path = fixtures_root().join("ari/asterisk-22/stasis_call.ari.jsonl");
    let mut acted_on = Vec::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let original: Value = serde_json::from_str(line).unwrap();
        let kind = original["type"].as_str().unwrap().to_owned();
        let message: AriMessage =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{kind} does not decode: {e}"));
        assert_eq!(message.application, "callcenter");
        if matches!(message.event, AriEvent::Other) {
            assert!(
                events.contains_key(&kind),
                "{kind} is an ARI event the bridge need not act on"
            );
            continue;
        }
        acted_on.push(kind.clone());
        // Nothing is lost or invented: the message encodes back to what came in.
        let encoded = serde_json::to_value(&message).unwrap();
        assert_eq!(encoded, original, "{kind} round-trips");
        // And what the Swagger requires is there.
        for property in required(&events, &kind)
            .into_iter()
            .chain(required(&events, "Event"))
            .chain(required(&events, "Message"))
        {
            assert!(encoded.get(&property).is_some(), "{kind}.{property}");
        }
        if let Some(channel) = encoded.get("channel") {
            for property in required(&channels, "Channel") {
                assert!(
                    channel.get(&property).is_some(),
                    "{kind}.channel.{property}"
                );
            }
            assert_eq!(message.event.channel().unwrap().id, channel["id"]);
        }
        if let Some(bridge) = encoded.get("bridge") {
            for property in required(&bridges, "Bridge") {
                assert!(bridge.get(&property).is_some(), "{kind}.bridge.{property}");
            }
        }
    }
    for kind in [
        "StasisStart",
        "ChannelStateChange",
        "ChannelEnteredBridge",
        "ChannelHangupRequest",
        "ChannelLeftBridge",
        "StasisEnd",
        "BridgeDestroyed",
    ] {
        assert!(
            acted_on.iter().any(|k| k == kind),
            "{kind} decoded as itself"
        );
    }
}

/// A real Asterisk 22 call, reshaped as each older release sends it (the
/// properties it did not have yet left out, after the history of the ARI
/// Swagger): every event still decodes into the same event of the same
/// channel, a missing property read as empty.
#[test]
fn the_events_of_a_real_call_decode_as_asterisk_16_to_22_send_them() {
    use switchboard::devtools::sim::ari::{Release, as_sent_by, release_sends};
    let path = fixtures_root().join("ari/asterisk-22/stasis_call.ari.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let releases: [Release; 8] = [
        (16, 0, 0),
        (16, 3, 0),
        (16, 4, 0),
        (16, 27, 0),
        (18, 0, 0),
        (18, 13, 0),
        (20, 0, 0),
        (22, 0, 0),
    ];
    assert!(!release_sends((16, 0, 0), "Channel", "protocol_id"));
    assert!(!release_sends((18, 12, 0), "Channel", "protocol_id"));
    assert!(release_sends((18, 13, 0), "Channel", "protocol_id"));
    assert!(!release_sends((16, 2, 0), "Event", "timestamp"));
    for release in releases {
        let mut stripped = 0;
        for line in text.lines() {
            let original: Value = serde_json::from_str(line).unwrap();
            let mut older = original.clone();
            as_sent_by(release, &mut older);
            if older != original {
                stripped += 1;
            }
            let current: AriMessage = serde_json::from_value(original).unwrap();
            let message: AriMessage = serde_json::from_value(older.clone())
                .unwrap_or_else(|e| panic!("{release:?}: {older} does not decode: {e}"));
            assert_eq!(
                std::mem::discriminant(&message.event),
                std::mem::discriminant(&current.event),
                "{release:?}: {older}"
            );
            assert_eq!(
                message.event.channel().map(|c| &c.id),
                current.event.channel().map(|c| &c.id)
            );
            if !release_sends(release, "Event", "timestamp") {
                assert_eq!(message.at(), None, "dated on arrival");
            }
        }
        // Everything the models read is in 16.27+, 18.13+ and every 20.
        let expected_changes = release < (16, 27, 0) || (release.0 == 18 && release < (18, 13, 0));
        assert_eq!(stripped > 0, expected_changes, "{release:?}");
    }
}
