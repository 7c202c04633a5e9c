//! The console: the web pages of `clients/web/console/`, built by `make gen`
//! into `gen/console/`, embedded in the binary and served at `/` so that a
//! user with only the binary has them. The pages speak the public contracts
//! (grpc-web, Socket.IO, `/api/customer/data`) on this same origin; these
//! routes only hand out the files.

use std::sync::LazyLock;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// One embedded file: its bytes, its media type and its entity tag.
struct Asset {
    bytes: &'static [u8],
    media_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(bytes: &'static [u8], media_type: &'static str) -> Asset {
        let digest = Sha256::digest(bytes);
        let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            bytes,
            media_type,
            etag: HeaderValue::from_str(&format!("\"{tag}\"")).expect("hex is a valid header"),
        }
    }

    /// The file, or `304 Not Modified` when the browser's copy is this one.
    /// Browsers revalidate on every load (`no-cache`), so a new binary's
    /// console is picked up at once and an unchanged one costs a 304.
    fn serve(&self, request: &HeaderMap) -> Response {
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|tags| tags.as_bytes() == self.etag.as_bytes());
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.media_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, self.etag.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        if fresh {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            (headers, self.bytes).into_response()
        }
    }
}

/// The pages load only their own files and talk only to this origin
/// (grpc-web, Socket.IO's polling and WebSocket), and may not be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

static INDEX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../gen/console/index.html"),
        "text/html; charset=utf-8",
    )
});
static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../gen/console/console.js"),
        "text/javascript; charset=utf-8",
    )
});
static STYLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../gen/console/console.css"),
        "text/css; charset=utf-8",
    )
});

/// `GET /` (and `/index.html`), `/console.js`, `/console.css`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { INDEX.serve(&h) }))
        .route(
            "/index.html",
            get(|h: HeaderMap| async move { INDEX.serve(&h) }),
        )
        .route(
            "/console.js",
            get(|h: HeaderMap| async move { SCRIPT.serve(&h) }),
        )
        .route(
            "/console.css",
            get(|h: HeaderMap| async move { STYLE.serve(&h) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_file_is_not_sent_again() {
        let first = SCRIPT.serve(&HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(SCRIPT.serve(&again).status(), StatusCode::NOT_MODIFIED);
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert_eq!(SCRIPT.serve(&other).status(), StatusCode::OK);
    }

    #[test]
    fn the_page_loads_the_files_served_beside_it() {
        let page = std::str::from_utf8(INDEX.bytes).unwrap();
        assert!(page.contains("src=\"console.js\""), "{page}");
        assert!(page.contains("href=\"console.css\""), "{page}");
    }
}
