//! What clients send as JSON and the server turns into what it acts on: a
//! Socket.IO handshake's `auth` (the seed filter), and a widget's body
//! starting a conversation (decoded into the rpc's request as the HTTP API
//! and the Socket.IO events decode every payload, then checked field by
//! field).

use switchboard::commands::chat::{StartRequest, check_start};
use switchboard::gateway::SeedFilter;
use switchboard::proto::v1::StartConversationRequest;
use switchboard::socket_json::from_json;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        let _ = SeedFilter::from_auth(&value);
        if let Ok(request) = from_json::<StartConversationRequest>(&value) {
            let _ = check_start(&StartRequest::of(request, None, None));
        }
    });
}
