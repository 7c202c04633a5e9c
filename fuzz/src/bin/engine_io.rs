//! Engine.IO polling bodies and the packets in them, as the server reads
//! what a client POSTs (text only: a body that is not UTF-8 is refused first).

use switchboard::socketio::engine_packet::{EnginePacket, split_payload};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(body) = std::str::from_utf8(data) else {
            return;
        };
        for text in split_payload(body) {
            if let Ok(packet) = EnginePacket::decode(text) {
                let _ = format!("{packet:?}");
            }
        }
    });
}
