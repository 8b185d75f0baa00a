//! API-token auth for the Cloudflare API routes (`/client/v4/…`, `/accounts/…`, `/v1/…`), as an
//! axum middleware. Clients send what they send to Cloudflare (spec §4.1, §6.2):
//! `Authorization: Bearer <token>` (wrangler with `CLOUDFLARE_API_TOKEN`, both SDKs, OpenAI
//! clients), or `X-Auth-Key: <key>` (wrangler's global-key mode; `X-Auth-Email` is ignored).
//!
//! Tokens come from a file (one per line, `TOKEN [accounts=acc1,acc2]`, `#` comments) and/or an
//! env var value (comma separated, every account). With no token configured every request passes:
//! the gateway then binds to loopback only.
//!
//! Failures (status and code chosen by the brief; real Cloudflare answers 400 code 9106 for a
//! missing header, spec §4.1 lists no auth codes): no credentials → 401 code 10000
//! `Authentication error`; unknown token, or a token not allowed for the path's account → 403
//! code 10000. On the OpenAI routes the same errors come in OpenAI's error shape.
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::ai::OpenAiError;
use super::cf::{AUTH_ERROR, CfError};
use crate::state::AppState;

struct Entry {
    token: String,
    /// None = every account.
    accounts: Option<HashSet<String>>,
}

/// The configured API tokens.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// Tokens from `file` (one per line, optional `accounts=acc1,acc2`) and from `env`, the
    /// *value* of an env var such as `STRATO_API_TOKENS` (comma separated, every account).
    pub fn load(file: Option<&Path>, env: Option<&str>) -> anyhow::Result<Tokens> {
        let mut t = Tokens::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read API tokens file {}", path.display()))?;
            for (i, line) in text.lines().enumerate() {
                t.add_line(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
            }
        }
        for token in env.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()) {
            t.add(token, None);
        }
        Ok(t)
    }

    /// `TOKEN` or `TOKEN accounts=acc1,acc2`; blank lines and `#` comments are skipped.
    fn add_line(&mut self, line: &str) -> anyhow::Result<()> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let Some(token) = parts.next() else { return Ok(()) };
        let mut accounts = None;
        for p in parts {
            match p.split_once('=') {
                Some(("accounts", list)) => {
                    accounts = Some(list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect());
                }
                _ => anyhow::bail!("unexpected {p:?}: lines are `TOKEN` or `TOKEN accounts=acc1,acc2`"),
            }
        }
        self.add(token, accounts);
        Ok(())
    }

    /// Adds a token; `accounts` None allows every account (e.g. tokens given on the command line).
    pub fn add(&mut self, token: &str, accounts: Option<HashSet<String>>) {
        self.entries.push(Entry { token: token.to_owned(), accounts });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Checks an `Authorization` header value (`Bearer <token>`) for `account` (None for routes
    /// without an account, e.g. `/v1/embeddings`, which any valid token may use).
    pub fn check(&self, header: Option<&str>, account: Option<&str>) -> Result<(), CfError> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(header) = header else {
            return Err(unauthenticated());
        };
        let token = bearer(header).ok_or_else(forbidden)?;
        self.check_token(token, account)
    }

    /// Checks a bare token (the `X-Auth-Key` header). Every entry is compared in constant time
    /// so the answer's timing does not reveal how much of a token matched.
    pub fn check_token(&self, token: &str, account: Option<&str>) -> Result<(), CfError> {
        if self.is_empty() {
            return Ok(());
        }
        let mut known = false;
        let mut allowed = false;
        for e in &self.entries {
            if ct_eq(e.token.as_bytes(), token.as_bytes()) {
                known = true;
                allowed |= match (&e.accounts, account) {
                    (Some(list), Some(a)) => list.contains(a),
                    _ => true,
                };
            }
        }
        if allowed {
            Ok(())
        } else if known {
            Err(CfError::new(StatusCode::FORBIDDEN, AUTH_ERROR, "Authentication error"))
        } else {
            Err(forbidden())
        }
    }
}

fn unauthenticated() -> CfError {
    CfError::new(StatusCode::UNAUTHORIZED, AUTH_ERROR, "Authentication error")
}

fn forbidden() -> CfError {
    CfError::new(StatusCode::FORBIDDEN, AUTH_ERROR, "Authentication error")
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Puts `router`'s routes (only those: `route_layer`) behind the token check.
pub fn protect(router: Router<AppState>, tokens: Arc<Tokens>) -> Router<AppState> {
    router.route_layer(middleware::from_fn_with_state(tokens, require_token))
}

/// The middleware: checks `Authorization`, else `X-Auth-Key`, against the account in the path.
pub async fn require_token(State(tokens): State<Arc<Tokens>>, req: Request, next: Next) -> Response {
    if tokens.is_empty() {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let openai = path.starts_with("/v1/") || path.contains("/ai/v1/");
    let result = check_request(&tokens, req.headers(), account_from_path(path));
    match result {
        Ok(()) => next.run(req).await,
        Err(e) if openai => OpenAiError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A header that is present but not valid text counts as a wrong credential, not a missing one.
fn check_request(tokens: &Tokens, headers: &HeaderMap, account: Option<&str>) -> Result<(), CfError> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    match (text(header::AUTHORIZATION.as_str()), text("x-auth-key")) {
        (Some(auth), _) => tokens.check(Some(auth), account),
        (None, Some(key)) => tokens.check_token(key, account),
        (None, None) => tokens.check(None, account),
    }
}

/// The `{account_id}` of `/client/v4/accounts/{id}/…` or `/accounts/{id}/…`.
fn account_from_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/client/v4").unwrap_or(path);
    let account = rest.strip_prefix("/accounts/")?.split('/').next()?;
    (!account.is_empty()).then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(file: &str, env: &str) -> Tokens {
        let path = std::env::temp_dir().join(format!("strato-auth-test-{}-{}", std::process::id(), file.len()));
        std::fs::write(&path, file).expect("write");
        let t = Tokens::load(Some(&path), Some(env)).expect("load");
        let _ = std::fs::remove_file(&path);
        t
    }

    #[test]
    fn file_and_env_tokens() {
        let t = tokens("# comment\n\nopen\nlimited accounts=acc-a, \n", "env1, env2");
        assert_eq!(t.len(), 4);
        assert!(t.check(Some("Bearer open"), Some("anything")).is_ok());
        assert!(t.check(Some("bearer env2"), None).is_ok());
        assert!(t.check(Some("Bearer limited"), Some("acc-a")).is_ok());
        assert_eq!(t.check(Some("Bearer limited"), Some("acc-b")).map_err(|e| e.status), Err(StatusCode::FORBIDDEN));
        assert_eq!(t.check(Some("Bearer nope"), Some("acc-a")).map_err(|e| e.status), Err(StatusCode::FORBIDDEN));
        assert_eq!(t.check(Some("Basic b3Blbg=="), None).map_err(|e| e.status), Err(StatusCode::FORBIDDEN));
        assert_eq!(t.check(None, None).map_err(|e| (e.status, e.code)), Err((StatusCode::UNAUTHORIZED, AUTH_ERROR)));
        assert!(t.check_token("open", Some("x")).is_ok());
    }

    #[test]
    fn no_tokens_lets_everything_through() {
        let t = Tokens::load(None, None).expect("load");
        assert!(t.is_empty() && t.check(None, Some("a")).is_ok());
    }

    #[test]
    fn accounts_from_paths() {
        assert_eq!(account_from_path("/client/v4/accounts/abc/vectorize/v2/indexes"), Some("abc"));
        assert_eq!(account_from_path("/accounts/abc/ai/run/@cf/x"), Some("abc"));
        assert_eq!(account_from_path("/v1/embeddings"), None);
    }
}
