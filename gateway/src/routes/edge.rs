//! The gateway's HTTP edge: layers every request passes before its route, outermost first (the
//! router in `lib.rs` stacks them), and the error shape each path answers in.
//!
//! 0. Admission (`budget.rs`): a place among `--max-concurrent-requests` and a share of the
//!    memory budget, or 503 code 1503 and `Retry-After: 1` at once, never queued.
//! 1. [`sane_request_id`]: a client's `x-request-id` over 128 bytes or not visible ASCII is
//!    replaced by a new one.
//! 2. [`local_only`], only in the open mode (no API token, loopback listener), so that no web page
//!    the user visits can use the gateway through their browser:
//!    - the `Host` must be a loopback name: `localhost`, `*.localhost`, `127.0.0.0/8` or `[::1]`,
//!      any port. Anything else (a DNS-rebinding page's own name) is 403 code 10000;
//!    - a request that changes state — any method but GET, HEAD and OPTIONS — needs an
//!      `Authorization` header (any value: there is no token to check) or a `Content-Type` other
//!      than the CORS-safelisted `application/x-www-form-urlencoded`, `multipart/form-data` and
//!      `text/plain` (and not absent). Either one makes a browser ask a CORS preflight first,
//!      which a foreign page does not pass (unless `--cors-origin` lets it). Else 403 code 10000;
//!    - `GET /insert` (and HEAD, which runs it) writes the tutorial's stories, so a browser's
//!      cross-site GET of it (an `<img src>`) is refused: `Sec-Fetch-Site` other than
//!      `same-origin` or `none`, or an `Origin` or `Referer` naming another host than `Host`, is
//!      403 code 10000 unless an `Authorization` header is sent. curl and scripts send none of these headers, and a URL
//!      typed into the browser is `Sec-Fetch-Site: none`: both keep working.
//! 3. [`account_segment`]: under `/client/v4/accounts` and `/accounts`, the account id must be
//!    1 to 64 of `A-Z a-z 0-9 _ -`, as written (no percent-encoding, not empty, not missing),
//!    so the account the token check sees is byte for byte the one the route acts on. Else 400
//!    code 7003 (Cloudflare's `Could not route to …, perhaps your object identifier is invalid?`).
//! 4. [`rejections_in_shape`]: axum's own plain-text rejections (413 body too large, 400 bad
//!    query string or path) are re-said in the path's shape, code 40003.
use std::net::{Ipv4Addr, Ipv6Addr};

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ai::OpenAiError;
use super::cf::{self, CfError};

/// `Could not route to …, perhaps your object identifier is invalid?` (Cloudflare's code).
pub const INVALID_IDENTIFIER: u32 = 7003;
/// Longest account id accepted (Cloudflare's are 32 hex digits).
pub const MAX_ACCOUNT_CHARS: usize = 64;
/// How much of a plain-text rejection body is read back to re-say it.
const REJECTION_TEXT_BYTES: usize = 16 * 1024;

/// The error shape of a path: Cloudflare's envelope, OpenAI's `{"error": {…}}`, or the
/// tutorial's `{"error": "…"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Cloudflare,
    OpenAi,
    Tutorial,
}

impl Shape {
    /// OpenAI's shape for `/v1/…` and `{prefix}/accounts/{id}/ai/v1/…` only (not for an `ai/run`
    /// model path that happens to contain `/ai/v1/`).
    pub fn of(path: &str) -> Shape {
        let rest = path.strip_prefix("/client/v4").unwrap_or(path);
        let under_account = rest.strip_prefix("/accounts/").and_then(|r| r.split_once('/')).map(|(_, tail)| tail);
        if path.starts_with("/v1/") || under_account.is_some_and(|t| t.starts_with("ai/v1/")) {
            Shape::OpenAi
        } else if under(path, "/client/v4") || under(path, "/accounts") {
            Shape::Cloudflare
        } else {
            Shape::Tutorial
        }
    }

    /// `e` in this shape, with its `Retry-After` if it has one.
    pub fn error(self, e: CfError) -> Response {
        match self {
            Shape::Cloudflare => e.into_response(),
            Shape::OpenAi => OpenAiError::from(e).into_response(),
            Shape::Tutorial => CfError::with_retry_after(e.retry_after, (e.status, Json(serde_json::json!({ "error": e.message }))).into_response()),
        }
    }
}

/// `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

// ------------------------------------------------------------------------------------------------
// 1. Request ids
// ------------------------------------------------------------------------------------------------

/// Longest `x-request-id` taken from a client; it travels to every log line, span and gRPC call.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// A client's `x-request-id` that is too long or not plain visible ASCII is dropped (and a new
/// one made by the next layer): nothing a client sends is copied everywhere unbounded.
pub async fn sane_request_id(mut req: Request, next: Next) -> Response {
    let bad = req
        .headers()
        .get("x-request-id")
        .is_some_and(|v| v.len() > MAX_REQUEST_ID_BYTES || !v.as_bytes().iter().all(|b| b.is_ascii_graphic()));
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

// ------------------------------------------------------------------------------------------------
// 2. Open mode: loopback names only, no cross-site writes
// ------------------------------------------------------------------------------------------------

/// The open mode's rules (module doc, 2).
pub async fn local_only(req: Request, next: Next) -> Response {
    match open_mode_refusal(req.method(), req.uri().path(), req.headers()) {
        Some(why) => Shape::of(req.uri().path()).error(CfError::new(StatusCode::FORBIDDEN, cf::AUTH_ERROR, why)),
        None => next.run(req).await,
    }
}

/// Why the open mode refuses this request, if it does.
fn open_mode_refusal(method: &Method, path: &str, headers: &HeaderMap) -> Option<String> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST).unwrap_or_default();
    if !loopback_host(host) {
        return Some(format!(
            "Host {host:?} is not a loopback name: without an API token this gateway serves localhost only (configure --api-token to serve other names)"
        ));
    }
    // A page cannot send either header cross-site without a CORS preflight, which the gateway
    // grants only to `--cors-origin`s. `MF-Binding` is what miniflare's remote bindings send
    // (routes/worker.rs), with the binding's own Content-Type wrapped as `MF-Header-…`.
    if headers.contains_key(header::AUTHORIZATION) || headers.contains_key("mf-binding") {
        return None;
    }
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if reads && path == "/insert" && cross_site(headers, host) {
        return Some("a cross-site request cannot write the tutorial's stories: open /insert directly, or send an Authorization header".into());
    }
    if !reads && form_content_type(text(header::CONTENT_TYPE)) {
        return Some(
            "without an API token, a request that writes needs a Content-Type other than a form's (e.g. application/json, application/x-ndjson) or an Authorization header (any value): a web page could send it otherwise".into(),
        );
    }
    None
}

/// `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`, with any port.
pub fn loopback_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, port)) = rest.split_once(']') else { return false };
        return port_ok(port.strip_prefix(':').unwrap_or(port)) && ip.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let (name, port) = host.split_once(':').unwrap_or((&host, ""));
    let name = name.strip_suffix('.').unwrap_or(name);
    port_ok(port) && (name == "localhost" || name.ends_with(".localhost") || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()))
}

fn port_ok(port: &str) -> bool {
    port.bytes().all(|b| b.is_ascii_digit())
}

/// What a browser says of a request made by another site's page.
fn cross_site(headers: &HeaderMap, host: &str) -> bool {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    ["origin", "referer"].iter().filter_map(|h| text(h)).any(|url| !authority(url).eq_ignore_ascii_case(host))
}

/// `host[:port]` of an absolute URL (empty for `null` or anything unparsable).
fn authority(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else { return "" };
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// A content type a page can send cross-site without a preflight (or none).
fn form_content_type(content_type: Option<&str>) -> bool {
    let essence = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.as_str(), "" | "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain")
}

// ------------------------------------------------------------------------------------------------
// 3. Account ids
// ------------------------------------------------------------------------------------------------

/// `[A-Za-z0-9_-]{1,64}`.
pub fn valid_account(account: &str) -> bool {
    (1..=MAX_ACCOUNT_CHARS).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The raw account segment of a path under `/client/v4/accounts` or `/accounts` ("" when empty
/// or missing); None for other paths.
pub fn account_segment_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/client/v4").filter(|r| r.starts_with('/')).unwrap_or(path);
    let after = rest.strip_prefix("/accounts")?;
    match after.strip_prefix('/') {
        Some(seg) => Some(seg.split('/').next().unwrap_or_default()),
        // `/client/v4/accounts` alone is Cloudflare's list of the token's accounts (the console
        // signs in with it); `/accounts` at the root has no such route and names no account.
        None if after.is_empty() && rest.len() == path.len() => Some(""),
        None => None,
    }
}

pub fn invalid_account(path: &str) -> CfError {
    CfError::bad_request(
        INVALID_IDENTIFIER,
        format!("Could not route to {path}, perhaps your object identifier is invalid? (account ids are 1 to {MAX_ACCOUNT_CHARS} of A-Z a-z 0-9 _ -)"),
    )
}

/// Refuses a path whose account segment is not a plain account id (module doc, 3).
pub async fn account_segment(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    match account_segment_of(path) {
        Some(seg) if !valid_account(seg) => Shape::of(path).error(invalid_account(path)),
        _ => next.run(req).await,
    }
}

// ------------------------------------------------------------------------------------------------
// 4. axum's rejections in the route's shape
// ------------------------------------------------------------------------------------------------

/// A 400 or 413 in `text/plain` comes from axum's extractors (the routes answer JSON): it is
/// re-said in the path's shape with code 40003; the text is kept as the message.
pub async fn rejections_in_shape(req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !plain || !matches!(status, StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE) {
        return resp;
    }
    let text = axum::body::to_bytes(resp.into_body(), REJECTION_TEXT_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("Request body too large for this route ({text})")
    } else {
        text.into_owned()
    };
    shape.error(CfError::new(status, cf::BAD_REQUEST, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for ok in ["localhost", "localhost:8787", "LOCALHOST.", "app.localhost:1", "127.0.0.1", "127.1.2.3:80", "[::1]", "[::1]:8787"] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in ["", "example.com", "localhost.example.com", "127.0.0.1.nip.io", "10.0.0.1:8787", "[::2]", "[::1", "localhost:80x", "0.0.0.0"] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn open_mode_rules() {
        let host = ("host", "localhost:8787");
        let refused = |m: Method, path: &str, extra: &[(&'static str, &str)]| {
            let mut all = vec![host];
            all.extend_from_slice(extra);
            open_mode_refusal(&m, path, &headers(&all)).is_some()
        };
        assert!(open_mode_refusal(&Method::GET, "/", &headers(&[("host", "evil.test")])).is_some(), "DNS rebinding");
        assert!(open_mode_refusal(&Method::GET, "/", &HeaderMap::new()).is_some(), "no Host");
        // curl: no browser headers.
        assert!(!refused(Method::GET, "/insert", &[]));
        assert!(!refused(Method::GET, "/insert", &[("sec-fetch-site", "none")]), "typed into the address bar");
        assert!(!refused(Method::GET, "/insert", &[("sec-fetch-site", "same-origin"), ("referer", "http://localhost:8787/")]));
        assert!(refused(Method::GET, "/insert", &[("sec-fetch-site", "cross-site")]), "<img src>");
        assert!(refused(Method::HEAD, "/insert", &[("sec-fetch-site", "same-site")]));
        assert!(refused(Method::GET, "/insert", &[("referer", "http://evil.test/page")]), "a browser without Sec-Fetch-*");
        assert!(refused(Method::GET, "/insert", &[("origin", "null")]));
        assert!(!refused(Method::GET, "/insert", &[("sec-fetch-site", "cross-site"), ("authorization", "Bearer x")]));
        assert!(!refused(Method::GET, "/", &[("sec-fetch-site", "cross-site")]), "reads are not refused");
        // Writes: form content types need an Authorization header.
        for ct in ["multipart/form-data; boundary=x", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"] {
            assert!(refused(Method::POST, "/accounts/a/vectorize/v2/indexes/i/upsert", &[("content-type", ct)]), "{ct}");
            assert!(!refused(Method::POST, "/accounts/a/vectorize/v2/indexes/i/upsert", &[("content-type", ct), ("authorization", "x")]), "{ct}");
        }
        assert!(refused(Method::DELETE, "/accounts/a/vectorize/v2/indexes/i", &[]), "no content type");
        assert!(!refused(Method::POST, "/insert", &[("content-type", "application/json")]));
        assert!(!refused(Method::POST, "/accounts/a/vectorize/v2/indexes/i/upsert", &[("content-type", "application/x-ndjson")]));
    }

    #[test]
    fn account_segments() {
        assert_eq!(account_segment_of("/client/v4/accounts/abc/vectorize/v2/indexes"), Some("abc"));
        assert_eq!(account_segment_of("/accounts/abc/ai/run/@cf/x"), Some("abc"));
        assert_eq!(account_segment_of("/client/v4/accounts//vectorize"), Some(""));
        assert_eq!(account_segment_of("/accounts"), Some(""));
        assert_eq!(account_segment_of("/client/v4/accounts"), None);
        assert_eq!(account_segment_of("/accounts/"), Some(""));
        assert_eq!(account_segment_of("/accounts/%61cc/x"), Some("%61cc"));
        assert_eq!(account_segment_of("/accountsx/a"), None);
        assert_eq!(account_segment_of("/v1/embeddings"), None);
        assert_eq!(account_segment_of("/client/v4x/accounts/a"), None);
        assert!(valid_account("acc-A_9") && valid_account(&"a".repeat(64)));
        for bad in ["", "%61cc", "a.b", "a b", "ä", &"a".repeat(65)] {
            assert!(!valid_account(bad), "{bad}");
        }
    }

    #[test]
    fn shapes_by_path() {
        assert_eq!(Shape::of("/v1/embeddings"), Shape::OpenAi);
        assert_eq!(Shape::of("/client/v4/accounts/a/ai/v1/embeddings"), Shape::OpenAi);
        assert_eq!(Shape::of("/accounts/a/ai/run/x/ai/v1/y"), Shape::Cloudflare, "a model path, not the OpenAI route");
        assert_eq!(Shape::of("/client/v4/accounts/a/vectorize/v2/indexes"), Shape::Cloudflare);
        assert_eq!(Shape::of("/accounts"), Shape::Cloudflare);
        assert_eq!(Shape::of("/insert"), Shape::Tutorial);
        assert_eq!(Shape::of("/accountsx"), Shape::Tutorial);
    }
}

#[cfg(test)]
#[path = "edge_tests.rs"]
mod router_tests;

#[cfg(test)]
#[path = "edge_fuzz.rs"]
mod fuzz;
