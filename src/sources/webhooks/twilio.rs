//! Twilio's request signature (`X-Twilio-Signature`): base64 of
//! HMAC-SHA1(key = the account's auth token, message = the full URL Twilio
//! requested, then for form bodies every parameter name (sorted) followed by
//! its values (sorted, each once)). JSON bodies are signed through the URL's
//! `bodySHA256` query parameter, which must be the hex SHA-256 of the raw
//! body. The URL is tried in the forms Twilio's own validators try
//! ([`signed_url_forms`]): as received and as the WHATWG URL standard
//! normalises it, each without its port and with the scheme's default port
//! (a proxy may add or drop it), so that switchboard accepts exactly what
//! Twilio's Node library accepts.

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

/// A URL split as Twilio's validators split it, without normalising it:
/// `scheme://`, user info (with its `@`), host, port (with its `:`), and
/// the rest (path, query, fragment) as written. `None` without `scheme://`.
fn split_url(url: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let scheme = &url[..scheme_end];
    let name = &scheme[..scheme_end - 3];
    let mut letters = name.chars();
    if !letters.next()?.is_ascii_alphabetic()
        || !letters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    {
        return None;
    }
    let after = &url[scheme_end..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(authority_end);
    let user_info_end = authority.rfind('@').map_or(0, |at| at + 1);
    let (user_info, host_and_port) = authority.split_at(user_info_end);
    // A colon starts the port only after an IPv6 literal's closing bracket.
    let search_from = host_and_port.rfind(']').map_or(0, |b| b + 1);
    let (host, port) = match host_and_port[search_from..].find(':') {
        Some(colon) => host_and_port.split_at(search_from + colon),
        None => (host_and_port, ""),
    };
    Some((scheme, user_info, host, port, rest))
}

/// `url` without its port.
fn without_port(url: &str) -> String {
    match split_url(url) {
        Some((scheme, user_info, host, _, rest)) => format!("{scheme}{user_info}{host}{rest}"),
        None => url.to_owned(),
    }
}

/// `url` with the scheme's default port when it names none.
fn with_port(url: &str) -> String {
    match split_url(url) {
        Some((scheme, user_info, host, "", rest)) => {
            let port = if scheme.eq_ignore_ascii_case("https://") {
                ":443"
            } else {
                ":80"
            };
            format!("{scheme}{user_info}{host}{port}{rest}")
        }
        _ => url.to_owned(),
    }
}

/// `url`'s query re-encoded as Node's legacy `querystring` module does
/// (`parse`, then `stringify`): for back ends that signed an escaped form of
/// a query value (`%27` for `'`).
fn with_legacy_querystring(url: &str) -> String {
    let Some((before, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    if query.is_empty() {
        return url.to_owned();
    }
    // `parse` gathers the values of each key; the keys come out in a
    // JavaScript object's order: array indexes ascending, then the others as
    // first seen.
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (node_unescape(key), node_unescape(value));
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => keys.push((key, vec![value])),
        }
    }
    let index = |key: &str| {
        key.parse::<u32>()
            .ok()
            .filter(|n| *n < u32::MAX && n.to_string() == key)
    };
    keys.sort_by_key(|(key, _)| index(key).map_or((1, 0), |n| (0, n)));
    let pairs: Vec<String> = keys
        .iter()
        .flat_map(|(key, values)| {
            values
                .iter()
                .map(move |value| format!("{}={}", node_escape(key), node_escape(value)))
        })
        .collect();
    format!("{before}?{}", pairs.join("&"))
}

/// `querystring.unescape`: `+` is a space, `%XX` a byte, the bytes UTF-8.
fn node_unescape(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `querystring.escape`: every byte but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`
/// percent-encoded, in upper case.
fn node_escape(text: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(text, KEPT).to_string()
}

/// Every URL a signature of a request to `url` may have been made over, in
/// the order Twilio's own validators try them: the URL as received, without
/// and with its port; then as the WHATWG URL standard normalises it (Node's
/// `new URL()`: an apostrophe becomes `%27`), without and with its port, and
/// those with the query re-encoded the legacy way.
fn signed_url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![without_port(url), with_port(url)];
    if let Ok(parsed) = url::Url::parse(url) {
        let normalised = parsed.to_string();
        let (portless, ported) = (without_port(&normalised), with_port(&normalised));
        let legacy = [
            with_legacy_querystring(&portless),
            with_legacy_querystring(&ported),
        ];
        forms.push(portless);
        forms.push(ported);
        forms.extend(legacy);
    }
    let mut unique = Vec::with_capacity(forms.len());
    for form in forms {
        if !unique.contains(&form) {
            unique.push(form);
        }
    }
    unique
}

/// Constant-time comparison of two signatures.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// Checks a form-encoded request: `header` against `url` (in each of its
/// [`signed_url_forms`]) and `params`.
pub fn verify_form(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    !header.is_empty()
        && signed_url_forms(url)
            .iter()
            .any(|form| same(&signature(auth_token, form, params), header))
}

/// Checks a JSON request: its `bodySHA256` query parameter matches `raw_body`,
/// and `header` signs the URL (no parameters).
pub fn verify_json(auth_token: &str, url: &str, raw_body: &[u8], header: &str) -> bool {
    // The first `bodySHA256` of the query, decoded, as `URLSearchParams` reads it.
    let Some(claimed) = url::Url::parse(url).ok().and_then(|parsed| {
        parsed
            .query_pairs()
            .find(|(name, _)| name == "bodySHA256")
            .map(|(_, value)| value.into_owned())
    }) else {
        return false;
    };
    let actual = hex::encode(Sha256::digest(raw_body));
    same(&actual, &claimed) && verify_form(auth_token, url, &[], header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_tried_as_received_and_as_normalised_with_and_without_its_port() {
        assert_eq!(
            signed_url_forms("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            signed_url_forms("http://a.example:1234/x"),
            ["http://a.example/x", "http://a.example:1234/x"]
        );
        assert_eq!(
            signed_url_forms("https://a.example/x?name=O'Brien&a=b+c"),
            [
                "https://a.example/x?name=O'Brien&a=b+c",
                "https://a.example:443/x?name=O'Brien&a=b+c",
                "https://a.example/x?name=O%27Brien&a=b+c",
                "https://a.example:443/x?name=O%27Brien&a=b+c",
                "https://a.example/x?name=O'Brien&a=b%20c",
                "https://a.example:443/x?name=O'Brien&a=b%20c",
            ]
        );
    }

    #[test]
    fn urls_split_as_twilios_validators_split_them() {
        assert_eq!(
            split_url("https://u:p@[::1]:8443/x?y"),
            Some(("https://", "u:p@", "[::1]", ":8443", "/x?y"))
        );
        assert_eq!(
            split_url("http://[::1]/x"),
            Some(("http://", "", "[::1]", "", "/x"))
        );
        assert_eq!(split_url("a.example/x"), None);
        assert_eq!(with_port("http://h?q"), "http://h:80?q");
    }

    #[test]
    fn the_legacy_query_keeps_a_javascript_objects_key_order() {
        assert_eq!(
            with_legacy_querystring("http://h/p?b=1&2=x&a=%zz&b=2&1=y"),
            "http://h/p?1=y&2=x&b=1&b=2&a=%25zz"
        );
    }
}
