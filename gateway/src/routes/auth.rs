//! API-token auth, as axum middlewares. Clients send what they send to Cloudflare (spec §4.1,
//! §6.2): `Authorization: Bearer <token>` (wrangler with `CLOUDFLARE_API_TOKEN`, both SDKs,
//! OpenAI clients), or `X-Auth-Key: <key>` (wrangler's global-key mode; `X-Auth-Email` is ignored).
//!
//! Tokens come from a file (one per line, `TOKEN [accounts=acc1,acc2]`, `#` comments) and/or an
//! env var value (comma separated, every account). With no token configured every request passes:
//! the gateway then binds to loopback only (and `edge::local_only` guards it).
//!
//! What each surface checks, with tokens configured:
//! - the Cloudflare and OpenAI routes ([`protect`]): the account is the route's own
//!   `{account_id}`, percent-decoded as the handlers' `Path` decodes it (and `edge` refuses
//!   encoded or empty ones before routing), so a token limited to accounts reaches only those;
//!   routes without an account (`/v1/embeddings`) take any valid token;
//! - the tutorial's routes and the fallback ([`protect_tutorial`]) act on the binding's account
//!   (`--binding-account`): a token must be allowed for it;
//! - `/__strato/status` ([`mark_caller`]): any valid token. With `--public-tutorial` the last two
//!   are open, and status shows its internals only to a valid token.
//!
//! Tokens are kept as SHA-256 digests and a presented token is compared by digest in constant
//! time, against every entry: the timing shows neither its length nor how much of it matched.
//!
//! Failures (status and code chosen; real Cloudflare answers 400 code 9106 for a missing header,
//! spec §4.1 lists no auth codes): no credentials → 401 code 10000 `Authentication error`;
//! unknown token, or a token not allowed for the account → 403 code 10000. Each surface answers
//! in its own shape (`edge::Shape`).
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::cf::{AUTH_ERROR, BAD_REQUEST, CfError};
use super::edge::{self, Shape};
use crate::limits::{self, Caller};
use crate::state::AppState;

struct Entry {
    digest: [u8; 32],
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
        self.entries.push(Entry { digest: digest(token), accounts });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Checks an `Authorization` header value (`Bearer <token>`) for `account` (None for routes
    /// without an account, e.g. `/v1/embeddings`, which any valid token may use). The caller,
    /// for rate limits; None when no token is configured.
    pub fn check(&self, header: Option<&str>, account: Option<&str>) -> Result<Option<Caller>, CfError> {
        if self.is_empty() {
            return Ok(None);
        }
        let Some(header) = header else {
            return Err(unauthenticated());
        };
        let token = bearer(header).ok_or_else(forbidden)?;
        self.check_token(token, account)
    }

    /// Checks a bare token (the `X-Auth-Key` header): its digest against every entry's, each in
    /// constant time.
    pub fn check_token(&self, token: &str, account: Option<&str>) -> Result<Option<Caller>, CfError> {
        if self.is_empty() {
            return Ok(None);
        }
        let presented = digest(token);
        let mut known = false;
        let mut allowed = false;
        let mut all_accounts = false;
        for e in &self.entries {
            if ct_eq(&e.digest, &presented) {
                known = true;
                allowed |= match (&e.accounts, account) {
                    (Some(list), Some(a)) => list.contains(a),
                    _ => true,
                };
                all_accounts |= e.accounts.is_none();
            }
        }
        if allowed {
            // Rate limits key on a digest prefix: never the token, and the same for every gateway.
            let id = presented[..8].iter().map(|b| format!("{b:02x}")).collect();
            Ok(Some(Caller { id, all_accounts }))
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

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal digests, in time independent of where they differ.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Puts `router`'s routes (only those: `route_layer`, after routing) behind the token check.
pub fn protect(router: Router<AppState>, tokens: Arc<Tokens>) -> Router<AppState> {
    router.route_layer(middleware::from_fn_with_state(tokens, require_token))
}

/// The API middleware: checks `Authorization`, else `X-Auth-Key`, against the route's account.
pub async fn require_token(State(tokens): State<Arc<Tokens>>, req: Request, next: Next) -> Response {
    if tokens.is_empty() {
        return next.run(req).await;
    }
    let shape = Shape::of(req.uri().path());
    let (mut parts, body) = req.into_parts();
    // Fail closed: a route whose parameters do not decode has no account to check against
    // (the handler's `Path` would refuse it the same way: 400 code 40003).
    let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await else {
        return shape.error(CfError::bad_request(BAD_REQUEST, "Invalid URL: a path parameter is not UTF-8 once percent-decoded"));
    };
    let account = params.iter().find(|(k, _)| *k == "account_id").map(|(_, v)| v);
    if account.is_some_and(|a| !edge::valid_account(a)) {
        return shape.error(edge::invalid_account(parts.uri.path()));
    }
    match check_request(&tokens, &parts.headers, account) {
        Ok(caller) => limits::as_caller_opt(caller, next.run(Request::from_parts(parts, body))).await,
        Err(e) => shape.error(e),
    }
}

/// Puts the tutorial's routes, fallback included (`layer`, not `route_layer`), behind a token
/// allowed for the binding's `account`.
pub fn protect_tutorial(router: Router<AppState>, tokens: Arc<Tokens>, account: &str) -> Router<AppState> {
    router.layer(middleware::from_fn_with_state((tokens, Arc::<str>::from(account)), require_binding_token))
}

async fn require_binding_token(State((tokens, account)): State<(Arc<Tokens>, Arc<str>)>, req: Request, next: Next) -> Response {
    match check_request(&tokens, req.headers(), Some(&account)) {
        Ok(caller) => limits::as_caller_opt(caller, next.run(req)).await,
        Err(e) => Shape::Tutorial.error(e),
    }
}

/// Whether the caller may see the gateway's internals (`/__strato/status`): it sent a valid
/// token for every account (a token limited to accounts must not learn the cluster's
/// addresses), or no token is configured (loopback only).
#[derive(Clone, Copy, Debug)]
pub struct Authorised(pub bool);

/// Marks each request to `router` with [`Authorised`]; unless `public`, an unauthorised one is
/// refused instead.
pub fn mark_caller(router: Router<AppState>, tokens: Arc<Tokens>, public: bool) -> Router<AppState> {
    router.layer(middleware::from_fn_with_state((tokens, public), caller))
}

async fn caller(State((tokens, public)): State<(Arc<Tokens>, bool)>, mut req: Request, next: Next) -> Response {
    let checked = check_request(&tokens, req.headers(), None);
    match checked {
        Err(e) if !public => Shape::Tutorial.error(e),
        _ => {
            let all = matches!(&checked, Ok(None) | Ok(Some(Caller { all_accounts: true, .. })));
            req.extensions_mut().insert(Authorised(all));
            next.run(req).await
        }
    }
}

/// Whether the request carries credentials (valid or not).
pub fn presents_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-auth-key")
}

/// The accounts the request's token may use, sorted; None when it may use every account (or no
/// token is configured). Called behind [`protect`], so the token is a valid one.
pub fn accounts_of(tokens: &Tokens, headers: &HeaderMap) -> Option<Vec<String>> {
    if tokens.is_empty() {
        return None; // the open mode: a stale header from a client changes nothing
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = match (text(header::AUTHORIZATION.as_str()), text("x-auth-key")) {
        (Some(auth), _) => bearer(auth)?,
        (None, Some(key)) => key,
        (None, None) => return None,
    };
    let presented = digest(token);
    let mut accounts = std::collections::BTreeSet::new();
    for e in tokens.entries.iter().filter(|e| ct_eq(&e.digest, &presented)) {
        accounts.extend(e.accounts.as_ref()?.iter().cloned());
    }
    Some(accounts.into_iter().collect())
}

/// A header that is present but not valid text counts as a wrong credential, not a missing one.
pub fn check_request(tokens: &Tokens, headers: &HeaderMap, account: Option<&str>) -> Result<Option<Caller>, CfError> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    match (text(header::AUTHORIZATION.as_str()), text("x-auth-key")) {
        (Some(auth), _) => tokens.check(Some(auth), account),
        (None, Some(key)) => tokens.check_token(key, account),
        (None, None) => tokens.check(None, account),
    }
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
    fn a_token_lists_only_its_own_accounts() {
        let t = tokens("open\nlimited accounts=acc-b,acc-a\nboth accounts=acc-c\nboth accounts=acc-a\n", "");
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().expect("header"));
            h
        };
        assert_eq!(accounts_of(&t, &with("Bearer limited")), Some(vec!["acc-a".to_owned(), "acc-b".to_owned()]));
        assert_eq!(accounts_of(&t, &with("Bearer both")), Some(vec!["acc-a".to_owned(), "acc-c".to_owned()]));
        assert_eq!(accounts_of(&t, &with("Bearer open")), None, "a token for every account lists none in particular");
        let mut key = HeaderMap::new();
        key.insert("x-auth-key", "limited".parse().expect("header"));
        assert_eq!(accounts_of(&t, &key), Some(vec!["acc-a".to_owned(), "acc-b".to_owned()]));
    }

    #[test]
    fn no_tokens_lets_everything_through() {
        let t = Tokens::load(None, None).expect("load");
        assert!(t.is_empty() && t.check(None, Some("a")).is_ok());
    }

    #[test]
    fn tokens_of_other_lengths_and_prefixes_fail() {
        let t = tokens("s3cret-token\n", "");
        for wrong in ["s3cret", "s3cret-token-and-more", "", "S3CRET-TOKEN"] {
            assert!(t.check_token(wrong, None).is_err(), "{wrong:?}");
        }
        assert!(t.check_token("s3cret-token", None).is_ok());
    }
}

#[cfg(test)]
#[path = "auth_fuzz.rs"]
mod fuzz;
