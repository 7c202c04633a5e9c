//! What clients send as JSON and the server turns into what it acts on: a
//! Socket.IO handshake's `auth` (the seed filter), and a widget's body
//! starting a conversation (read, then checked field by field).

use switchboard::gateway::SeedFilter;
use switchboard::web::chat::start_request_of;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        let _ = SeedFilter::from_auth(&value);
        let request = start_request_of(&value, String::new(), None);
        let _ = switchboard::commands::chat::check_start(&request);
    });
}
