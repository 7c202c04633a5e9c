//! Twilio's callbacks: the request URL (first line), the signature header
//! (second line) and the body (the rest), checked as a form and as JSON.

use switchboard::sources::webhooks::twilio;
use switchboard_fuzz::split_once_newline;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (url, rest) = split_once_newline(data);
        let (header, body) = split_once_newline(rest);
        let (url, header) = (
            String::from_utf8_lossy(url),
            String::from_utf8_lossy(header),
        );
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let _ = twilio::verify_form("fuzz-token", &url, &params, &header);
        let _ = twilio::verify_json("fuzz-token", &url, body, &header);
    });
}
