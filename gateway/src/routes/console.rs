//! `/console`: the web console, a page for people (`gateway/console/`, plain ES modules; why in
//! its README section). Its files are built into the binary, so it works offline and matches the
//! gateway that serves it; they hold no data and need no token. Everything the page shows comes
//! from the public REST API under the caller's token, plus two small routes here:
//! - `GET /client/v4/accounts`: the accounts the token may use (Cloudflare's route and envelope);
//! - `GET /__strato/summary`: requests per second and p50/p99 latency over the last minutes
//!   (`summary.rs`), for a token of every account (every tenant's traffic is in it).
//!
//! Each file is sent with a Content-Security-Policy that allows only the console's own scripts,
//! styles and API calls (no inline script, no other origin, no framing), and a strong ETag.
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::auth::{self, Tokens};
use crate::state::AppState;

/// The policy every console file carries: its own files only; `connect-src 'self'` keeps a
/// script that somehow ran from sending what it read anywhere else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        ($path, $mime, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)).as_slice())
    };
}

/// (path under `/console/`, content type, bytes).
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/main.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/signin.js", "text/javascript; charset=utf-8"),
    asset!("js/indexes.js", "text/javascript; charset=utf-8"),
    asset!("js/browse.js", "text/javascript; charset=utf-8"),
    asset!("js/search.js", "text/javascript; charset=utf-8"),
    asset!("js/insert.js", "text/javascript; charset=utf-8"),
    asset!("js/health.js", "text/javascript; charset=utf-8"),
];

/// Each asset's ETag: a digest of its bytes, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS.iter().map(|(_, _, b)| format!("\"{}\"", Sha256::digest(b).iter().take(12).map(|x| format!("{x:02x}")).collect::<String>())).collect()
});

/// The console's files (open) and its two API routes (behind the token check).
pub fn routes(tokens: Arc<Tokens>) -> Router<AppState> {
    let files = Router::new()
        .route("/console", get(|h: HeaderMap| async move { file("index.html", &h) }))
        .route("/console/", get(|h: HeaderMap| async move { file("index.html", &h) }))
        .route("/console/{*path}", get(|Path(p): Path<String>, h: HeaderMap| async move { file(&p, &h) }));
    let listed = tokens.clone();
    let summarised = tokens.clone();
    let api = Router::new()
        .route("/client/v4/accounts", get(move |State(st): State<AppState>, h: HeaderMap| {
            let t = listed.clone();
            async move { accounts(&t, &st, &h) }
        }))
        .route("/__strato/summary", get(move |h: HeaderMap| {
            let t = summarised.clone();
            async move { summary(&t, &h) }
        }));
    files.merge(auth::protect(api, tokens))
}

/// The gateway's traffic is every tenant's: shown to a token for every account (or the open
/// mode), as `/__strato/status` shows its internals; 403 to a token limited to some accounts.
fn summary(tokens: &Tokens, headers: &HeaderMap) -> Response {
    if auth::accounts_of(tokens, headers).is_some() {
        let e = json!({ "error": "Authentication error: the gateway's traffic is shown to tokens for every account" });
        return (StatusCode::FORBIDDEN, axum::Json(e)).into_response();
    }
    axum::Json(crate::summary::summary()).into_response()
}

/// Whether `If-None-Match` names `etag` (RFC 9110 §13.1.2: a list, `*`, weak comparison).
fn matches_etag(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(v) = header.and_then(|v| v.to_str().ok()) else { return false };
    v.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn file(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|(p, _, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such console file").into_response();
    };
    let (_, mime, bytes) = ASSETS[i];
    let etag = &ETAGS[i];
    let fresh = matches_etag(headers.get(header::IF_NONE_MATCH), etag);
    let mut res = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { ([(header::CONTENT_TYPE, mime)], bytes).into_response() };
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Revalidated each load (a 304 costs a round trip, not the bytes): an upgraded gateway's
    // console never runs beside an old cached module.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// Cloudflare's `GET /accounts`: `[{id, name, type}]` with `result_info`. A token allowed every
/// account (or an open gateway) lists the binding's account, and `result_info.any_account` says
/// others may be named.
fn accounts(tokens: &Tokens, st: &AppState, headers: &HeaderMap) -> Response {
    let (list, any) = match auth::accounts_of(tokens, headers) {
        Some(list) => (list, false),
        // The binding's account is "" unless configured (`./strato up` names one): "" has no
        // REST path, so it is not offered.
        None => (Some(st.cfg.binding_account.clone()).filter(|a| super::edge::valid_account(a)).into_iter().collect(), true),
    };
    let n = list.len();
    let result: Vec<_> = list.iter().map(|a| json!({ "id": a, "name": a, "type": "standard" })).collect();
    axum::Json(json!({
        "result": result,
        "result_info": { "page": 1, "per_page": n, "count": n, "total_count": n, "any_account": any },
        "success": true, "errors": [], "messages": [],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_takes_lists_stars_and_weak_tags() {
        let tag = "\"abc\"";
        let m = |v: &str| matches_etag(Some(&HeaderValue::from_str(v).expect("value")), tag);
        assert!(m("\"abc\"") && m("*") && m("W/\"abc\"") && m("\"x\", \"abc\""));
        assert!(!m("\"abcd\"") && !m("abc") && !matches_etag(None, tag));
    }

    #[test]
    fn the_traffic_summary_is_for_tokens_of_every_account() {
        let mut t = Tokens::default();
        t.add("all", None);
        t.add("one", Some(["acc-a".to_owned()].into_iter().collect()));
        let with = |token: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
            h
        };
        assert_eq!(summary(&t, &with("all")).status(), StatusCode::OK);
        assert_eq!(summary(&t, &with("one")).status(), StatusCode::FORBIDDEN);
        assert_eq!(summary(&Tokens::default(), &HeaderMap::new()).status(), StatusCode::OK, "the open mode");
    }

    #[test]
    fn every_asset_is_served_with_the_policy() {
        for (path, mime, bytes) in ASSETS {
            let res = file(path, &HeaderMap::new());
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_eq!(res.headers()[header::CONTENT_TYPE], *mime);
            assert_eq!(res.headers()[header::CONTENT_SECURITY_POLICY], CSP);
            assert!(!bytes.is_empty());
        }
        assert_eq!(file("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
