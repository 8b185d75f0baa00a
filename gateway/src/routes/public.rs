//! `--public-tutorial`: the tutorial's routes open to callers without a token, as a deployed
//! Worker is public, and nothing more. A caller with a token allowed for the binding's account
//! gets the whole tutorial, Strato's additions included; a wrong token is refused (403).
//! A caller without one gets exactly what the tutorial's Worker serves:
//! - `GET /insert`: the three fixed stories (`POST /insert` with custom texts needs a token: 401);
//! - `GET` of any other path: the query. Strato's `?text=` is allowed up to
//!   [`PUBLIC_TEXT_MAX_BYTES`] and `?topK=` up to [`PUBLIC_MAX_TOP_K`]; beyond, a token is needed;
//! - any other method: 401 (the Worker would answer it, but nothing tokenless needs it).
//!
//! Tokenless traffic can never starve tokened traffic: it has its own small pool of places
//! (`--tokenless-max-concurrent`, `budget.rs`, held until the response is sent), a deadline on
//! the whole request here (`--public-request-timeout-ms`, not only an idle one), and a rate per
//! client address (`--public-requests-per-minute`); beyond any of them, 503 or 429 at once.
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;

use super::auth::{self, Tokens};
use super::cf::{self, CfError};
use super::edge::Shape;
use crate::conn::Peer;
use crate::limits::{self, Limiter};
use crate::state::AppState;

/// Longest `?text=` a tokenless caller may query (about 40 words).
pub const PUBLIC_TEXT_MAX_BYTES: usize = 256;
/// Largest `?topK=` a tokenless caller may ask.
pub const PUBLIC_MAX_TOP_K: u32 = 5;

pub struct Public {
    tokens: Arc<Tokens>,
    account: String,
    per_address: Limiter,
    deadline: Duration,
}

impl Public {
    pub fn new(tokens: Arc<Tokens>, account: &str, per_minute: u32, deadline: Duration) -> Self {
        Self {
            tokens,
            account: account.to_owned(),
            per_address: Limiter::new(f64::from(per_minute) / 60.0, f64::from(per_minute.clamp(1, 20))),
            deadline,
        }
    }
}

/// The tutorial's routes (fallback included: `layer`) under the public rules.
pub fn open(router: Router<AppState>, public: Arc<Public>) -> Router<AppState> {
    router.layer(middleware::from_fn_with_state(public, gate))
}

async fn gate(State(p): State<Arc<Public>>, req: Request, next: Next) -> Response {
    let presented = auth::presents_credentials(req.headers());
    if presented {
        return match auth::check_request(&p.tokens, req.headers(), Some(&p.account)) {
            Ok(caller) => limits::as_caller_opt(caller, next.run(req)).await,
            Err(e) => Shape::Tutorial.error(e),
        };
    }
    if let Err(e) = tokenless_allowed(req.method(), req.uri().path(), req.uri().query()) {
        return Shape::Tutorial.error(e);
    }
    let address = req.extensions().get::<ConnectInfo<Peer>>().map_or_else(String::new, |ConnectInfo(Peer(a))| a.ip().to_string());
    if let Err(wait) = p.per_address.take(&address, 1.0) {
        let e = CfError::new(StatusCode::TOO_MANY_REQUESTS, cf::TOO_MANY_REQUESTS, "Too Many Requests from this address without a token; please retry later").retry_after(wait);
        return Shape::Tutorial.error(e);
    }
    match tokio::time::timeout(p.deadline, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => Shape::Tutorial.error(crate::budget::overloaded_error(format!(
            "A request without a token must be answered within {} ms; please retry.",
            p.deadline.as_millis()
        ))),
    }
}

/// What a caller without a token may ask (module doc).
fn tokenless_allowed(method: &Method, path: &str, query: Option<&str>) -> Result<(), CfError> {
    let needs_token = |what: &str| Err(CfError::new(StatusCode::UNAUTHORIZED, cf::AUTH_ERROR, format!("Authentication error: {what} needs an API token")));
    if !matches!(*method, Method::GET | Method::HEAD) {
        return needs_token(&format!("{method} {path}"));
    }
    if path == "/insert" {
        return Ok(());
    }
    // Decoded as the handler's `Query` decodes it (keys too: `%74ext` is `text`).
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*key {
            "text" if value.len() > PUBLIC_TEXT_MAX_BYTES => {
                return needs_token(&format!("?text= longer than {PUBLIC_TEXT_MAX_BYTES} bytes"));
            }
            // Anything but a small whole number (what the handler would refuse anyway, or more).
            "topK" if !value.is_empty() && value.parse::<u32>().ok().is_none_or(|k| k > PUBLIC_MAX_TOP_K) => {
                return needs_token(&format!("?topK= above {PUBLIC_MAX_TOP_K}"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenless_callers_get_the_tutorial_only() {
        let ok = |m: Method, path: &str, q: Option<&str>| tokenless_allowed(&m, path, q).is_ok();
        assert!(ok(Method::GET, "/insert", None));
        assert!(ok(Method::GET, "/", None));
        assert!(ok(Method::GET, "/anything", Some("text=orange%20cloud&topK=5")));
        assert!(ok(Method::HEAD, "/", None));
        assert!(!ok(Method::POST, "/insert", None), "custom inserts need a token");
        assert!(!ok(Method::DELETE, "/", None));
        assert!(!ok(Method::GET, "/", Some(&format!("text={}", "a".repeat(PUBLIC_TEXT_MAX_BYTES + 1)))));
        assert!(!ok(Method::GET, "/", Some(&format!("text={}", "%41".repeat(PUBLIC_TEXT_MAX_BYTES + 1)))));
        assert!(ok(Method::GET, "/", Some(&format!("text={}", "%41".repeat(PUBLIC_TEXT_MAX_BYTES)))));
        assert!(!ok(Method::GET, "/", Some("topK=6")));
        assert!(!ok(Method::GET, "/", Some("%74opK=50")), "an encoded key");
        assert!(!ok(Method::GET, "/", Some("topK=%2B6")), "an encoded +6");
        assert!(!ok(Method::GET, "/", Some(&format!("%74ext={}", "a".repeat(PUBLIC_TEXT_MAX_BYTES + 1)))));
        assert!(ok(Method::GET, "/", Some("topK=05")));
        let e = tokenless_allowed(&Method::POST, "/insert", None).expect_err("401");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    }
}
