//! Twilio's request signature (`X-Twilio-Signature`): base64 of
//! HMAC-SHA1(key = the account's auth token, message = the full URL Twilio
//! requested, then for form bodies every parameter name (sorted) followed by
//! its values (sorted, each once)). JSON bodies are signed through the URL's
//! `bodySHA256` query parameter, which must be the hex SHA-256 of the raw
//! body. Because a proxy may add or drop the port, the URL is also tried
//! without its port and with the scheme's default port, as Twilio's SDKs do.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The signature of a request to `url` with form `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        values.dedup();
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` as given, without its port, and with the scheme's default port.
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return forms;
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, Some(port)),
        _ => (authority, None),
    };
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    match port {
        Some(_) => forms.push(format!("{scheme}://{host}{path}")),
        None => forms.push(format!("{scheme}://{host}:{default}{path}")),
    }
    forms
}

/// Constant-time comparison of two signatures.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// Checks a form-encoded request: `header` against `url` (and its port forms) and `params`.
pub fn verify_form(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    !header.is_empty()
        && url_forms(url)
            .iter()
            .any(|form| same(&signature(auth_token, form, params), header))
}

/// Checks a JSON request: its `bodySHA256` query parameter matches `raw_body`,
/// and `header` signs the URL (no parameters).
pub fn verify_json(auth_token: &str, url: &str, raw_body: &[u8], header: &str) -> bool {
    let Some(query) = url.split_once('?').map(|(_, q)| q) else {
        return false;
    };
    let Some(claimed) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("bodySHA256="))
    else {
        return false;
    };
    let actual = hex::encode(Sha256::digest(raw_body));
    same(&actual, &claimed.to_ascii_lowercase()) && verify_form(auth_token, url, &[], header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_forms_are_the_given_the_portless_and_the_default() {
        assert_eq!(
            url_forms("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_forms("http://a.example:1234/x"),
            ["http://a.example:1234/x", "http://a.example/x"]
        );
    }
}
