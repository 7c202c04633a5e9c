//! Socket.IO packets as the server reads them from an Engine.IO message:
//! the packet, then the event and its arguments.

use switchboard::socketio::packet::SocketPacket;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(packet) = SocketPacket::decode(text) {
            if let Ok(call) = packet.event() {
                for arg in &call.args {
                    let _ = arg.get();
                }
            }
        }
    });
}
