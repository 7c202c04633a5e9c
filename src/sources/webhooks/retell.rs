//! The voice-AI provider's (Retell's) webhook signature: `x-retell-signature:
//! v=<unix ms>,d=<hex HMAC-SHA256(key = the tenant's API key, message = raw
//! body followed by the decimal timestamp)>`, refused when the timestamp is
//! more than five minutes from now either way. The header must be exactly
//! that shape: anything else is malformed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signed time may be from now, in milliseconds.
pub const TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or not `v=<digits>,d=<64 hex digits>`.
    #[error("x-retell-signature is missing or malformed")]
    Malformed,
    /// Signed too long ago, or too far ahead.
    #[error("x-retell-signature is stale")]
    Stale,
    /// The digest does not match the body and key.
    #[error("x-retell-signature does not match")]
    Mismatch,
}

/// Splits `v=<digits>,d=<64 hex>` into the timestamp and the digest bytes.
fn parse(header: &str) -> Option<(i64, [u8; 32])> {
    let rest = header.strip_prefix("v=")?;
    let (timestamp, digest) = rest.split_once(",d=")?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let timestamp: i64 = timestamp.parse().ok()?;
    if digest.len() != 64 {
        return None;
    }
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(digest, &mut bytes).ok()?;
    Some((timestamp, bytes))
}

/// The header value for `raw_body` signed with `api_key` at `timestamp_ms`.
pub fn sign(api_key: &str, raw_body: &[u8], timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("any key length");
    mac.update(raw_body);
    mac.update(timestamp_ms.to_string().as_bytes());
    format!(
        "v={timestamp_ms},d={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks `header` for `raw_body` with `api_key` at `now_ms`.
pub fn verify(
    api_key: &str,
    raw_body: &[u8],
    header: &str,
    now_ms: i64,
) -> Result<(), SignatureError> {
    let (timestamp, digest) = parse(header).ok_or(SignatureError::Malformed)?;
    if (now_ms - timestamp).abs() > TOLERANCE_MS {
        return Err(SignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("any key length");
    mac.update(raw_body);
    mac.update(timestamp.to_string().as_bytes());
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_matches_the_sdk_vector() {
        assert_eq!(
            sign(
                "test-api-key",
                br#"{"event":"call_ended"}"#,
                1_700_000_000_000
            ),
            "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e"
        );
    }
}
