//! The voice-AI webhook: its signature header (first line) against its
//! body (the rest), and the body's JSON as the handler reads it.

use switchboard::sources::webhooks::retell;
use switchboard_fuzz::split_once_newline;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (header, body) = split_once_newline(data);
        let header = String::from_utf8_lossy(header);
        let _ = retell::verify("fuzz-key", body, &header, 1_765_000_000_000);
        if let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(body) {
            let call = &parsed["call"];
            let _ = (call["call_id"].as_str(), call["start_timestamp"].as_i64());
        }
    });
}
