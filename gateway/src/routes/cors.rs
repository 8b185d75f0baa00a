//! CORS for browser clients (a web page calling the Cloudflare-style API or `/v1/embeddings`
//! directly), configured per origin (`--cors-origin`, `STRATO_CORS_ORIGINS`):
//! - no origin configured → no layer: no CORS headers at all (browsers then refuse cross-origin
//!   calls, the safe default);
//! - `*` anywhere in the list → any origin (`Access-Control-Allow-Origin: *`);
//! - otherwise exactly the listed origins (`scheme://host[:port]`, as browsers send `Origin`);
//!   a request from any other origin gets no `Access-Control-Allow-Origin`.
//!
//! Methods GET, POST, DELETE, OPTIONS. Request headers are mirrored from the preflight's
//! `Access-Control-Request-Headers`: the SDKs send `authorization`, `content-type`,
//! `x-request-id` and a family of `x-stainless-*` headers that cannot be listed in advance, and
//! tower-http takes no wildcard pattern. `x-request-id` is exposed to scripts; preflights are
//! cached for 10 minutes. No credentials mode: the API authenticates by header, not by cookie.
//!
//! The layer must be the router's outermost (`router.layer(l)` after every other layer) so a
//! preflight `OPTIONS` is answered here, before routing and the token check; tower-http answers
//! every `OPTIONS` itself (200, empty body).
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long browsers may cache a preflight answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `origins` (each entry may itself be comma separated), or None when no
/// origin is configured. Entries that are not valid header values are skipped with a warning;
/// a trailing `/` is dropped (`Origin` never has one).
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    let entries: Vec<&str> =
        origins.iter().flat_map(|o| o.split(',')).map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()).collect();
    let allow = if entries.contains(&"*") {
        AllowOrigin::any()
    } else {
        let mut list = Vec::with_capacity(entries.len());
        for o in entries {
            match HeaderValue::from_str(o) {
                Ok(v) => list.push(v),
                Err(_) => tracing::warn!(origin = %o, "ignoring CORS origin: not a valid header value"),
            }
        }
        if list.is_empty() {
            return None;
        }
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(MAX_AGE),
    )
}

/// The first configured origin that is not a loopback one (`*` included), if any: what the open
/// mode refuses to start with (`lib.rs`). Loopback: `http(s)://` + a loopback name
/// (`edge::loopback_host`: localhost, `*.localhost`, 127.0.0.0/8, `[::1]`), any port.
pub fn non_local_origin(origins: &[String]) -> Option<String> {
    origins.iter().flat_map(|o| o.split(',')).map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()).find_map(|o| {
        let lower = o.to_ascii_lowercase();
        let host = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
        let local = host.is_some_and(|h| !h.contains(['/', '@', '?', '#']) && super::edge::loopback_host(h));
        (!local).then(|| o.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_origins_are_local() {
        for ok in [&[][..], &["http://localhost:3000"], &["HTTP://LOCALHOST"], &["https://127.0.0.1:8443, http://[::1]:5173", "http://app.localhost/"]] {
            assert_eq!(non_local_origin(&owned(ok)), None, "{ok:?}");
        }
        for bad in ["*", "http://example.com", "http://localhost.evil.test", "null", "localhost:3000", "http://localhost@evil.test", "ftp://localhost"] {
            assert!(non_local_origin(&owned(&["http://localhost:3000", bad])).is_some(), "{bad}");
        }
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn empty_means_no_layer() {
        assert!(layer(&[]).is_none());
        assert!(layer(&owned(&["", " , "])).is_none());
    }

    #[test]
    fn wildcard_and_lists_build() {
        assert!(layer(&owned(&["*"])).is_some());
        assert!(layer(&owned(&["http://a.test", "*"])).is_some(), "a wildcard among origins means any, not a panic");
        assert!(layer(&owned(&["http://a.test/, https://b.test:8443"])).is_some());
    }
}
