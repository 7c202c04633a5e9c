//! ARI's WebSocket messages as the agent bridge decodes them.

use switchboard::sources::ari::model::AriMessage;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(message) = serde_json::from_slice::<AriMessage>(data) {
            let _ = message.at();
            let _ = message.event.channel().map(|c| c.id.len());
            // What decodes encodes back.
            let encoded = serde_json::to_vec(&message).expect("encodes");
            let again: AriMessage = serde_json::from_slice(&encoded).expect("decodes again");
            assert_eq!(again, message);
        }
    });
}
