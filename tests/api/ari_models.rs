//! The ARI models against a real Asterisk 22 Stasis call
//! (`../shared/fixtures/ari/asterisk-22/stasis_call.ari.jsonl`) and the
//! Swagger (`events.json`, `channels.json`, `bridges.json`).

use serde_json::Value;
use switchboard::ari::model::{AriEvent, AriMessage};

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
pub(crate) fn assert_follows_swagger(message: &switchboard::ari::model::AriMessage) {
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
