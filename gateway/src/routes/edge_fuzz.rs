//! Property-based fuzzing of the account in a path (issue 13, point 7): the edge's extraction
//! (`account_segment_of`, `valid_account`) against a reference written from the rule, and the
//! whole router (edge, routing, `auth::require_token`) with a token limited to one account.
//! Bounded case counts; `STRATO_FUZZ_CASES=<n>` runs every property with `n` cases instead. No
//! regression files are written.
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use clap::Parser;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::routes::auth::Tokens;
use crate::state::AppState;

/// `default` cases, or `STRATO_FUZZ_CASES`; never a persistence file.
fn config(default: u32) -> Config {
    let cases = std::env::var("STRATO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ------------------------------------------------------------------------------------------------
// The reference
// ------------------------------------------------------------------------------------------------

/// The literal segment after `/accounts/` or `/client/v4/accounts/` at the start of `path` (""
/// when empty or missing); None for paths outside those prefixes.
fn reference_account(path: &str) -> Option<&str> {
    let segs: Vec<&str> = path.split('/').collect();
    if segs.first() != Some(&"") {
        return None;
    }
    let at = if segs == ["", "client", "v4", "accounts"] {
        // Cloudflare's list of the token's accounts: names none.
        return None;
    } else if segs.get(1..4) == Some(&["client", "v4", "accounts"][..]) {
        4
    } else if segs.get(1) == Some(&"accounts") {
        2
    } else {
        return None;
    };
    Some(segs.get(at).copied().unwrap_or(""))
}

/// `[A-Za-z0-9_-]{1,64}`, char by char.
fn reference_valid(account: &str) -> bool {
    let chars: Vec<char> = account.chars().collect();
    (1..=64).contains(&chars.len()) && chars.iter().all(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
}

// ------------------------------------------------------------------------------------------------
// Paths
// ------------------------------------------------------------------------------------------------

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => account_like(),
        6 => prop::sample::select(vec![
            "acc-a", "acc-b", "", "ACC-A", "acc_a", "acc-a.", "acc-a-", "..", ".", "%61cc-a", "acc%2Da", "acc-a%00", "%2F",
            "acc-a%2Facc-b", "äcc", "acc a", "acc+a", "acc-a;x", "%", "%zz", "~", "@cf", "vectorize", "v2", "indexes", "i",
            "query", "upsert", "insert", "delete_by_ids", "get_by_ids", "info", "list", "metadata_index", "create", "ai",
            "run", "v1", "embeddings", "accounts", "client", "v4", "__strato", "status", "openapi.json",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![63usize, 64, 65, 200]).prop_map(|n| "a".repeat(n)),
        2 => "[A-Za-z0-9_.~%-]{0,12}",
        1 => any::<String>(),
    ]
}

const PREFIXES: [&str; 14] = [
    "/accounts/",
    "/client/v4/accounts/",
    "/client/v4/",
    "/",
    "//accounts/",
    "/client//v4/accounts/",
    "/client/v4//accounts/",
    "/accounts",
    "/client/v4/accounts",
    "accounts/",
    "/ACCOUNTS/",
    "/Client/v4/accounts/",
    "/v1/",
    "",
];

const SUFFIXES: [&str; 16] = [
    "",
    "/",
    "/vectorize/v2/indexes",
    "/vectorize/v2/indexes/",
    "/vectorize/v2/indexes/i",
    "/vectorize/v2/indexes/i/info",
    "/vectorize/v2/indexes/i/query",
    "/vectorize/v2/indexes/i/upsert",
    "/vectorize/v2/indexes/i/delete_by_ids",
    "/vectorize/v2/indexes/i/metadata_index/list",
    "/vectorize/v2//indexes",
    "/vectorize/v2/indexes/%2e%2e",
    "/ai/run/@cf/baai/bge-base-en-v1.5",
    "/ai/v1/embeddings",
    "/../acc-a/vectorize/v2/indexes",
    "/anything/else",
];

/// Paths: mostly a prefix, an account-like segment and a real route's rest; also random segment
/// lists (empty, `..`, `//`, escapes, unicode) and very long ones.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(PREFIXES.to_vec()), segment(), prop::sample::select(SUFFIXES.to_vec()))
            .prop_map(|(p, a, s)| format!("{p}{a}{s}")),
        2 => (prop::sample::select(PREFIXES.to_vec()), vec(segment(), 0..8), prop::sample::select(vec!["", "/", "//"]))
            .prop_map(|(p, segs, end)| format!("{p}{}{end}", segs.join("/"))),
        1 => (prop::sample::select(PREFIXES.to_vec()), vec(segment(), 50..300)).prop_map(|(p, segs)| format!("{p}{}", segs.join("/"))),
        1 => prop::sample::select(vec!["/v1/embeddings", "/openapi.json", "/__strato/status", "/insert", "/v1/embeddings/"]).prop_map(str::to_owned),
    ]
}

/// Segments that name, or almost name, an account: percent-encoded (once or twice) spellings of
/// `acc-a`, case and punctuation variants, empty, too long.
fn account_like() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec!["acc-a", "acc-b", "", "ACC-A", "acc_a", "acc-a.", "acc-a%00", "acc-a%2F..", "äcc-a", "acc-a;b", "acc-a%3Bb"])
            .prop_map(str::to_owned),
        3 => vec(0u8..3, 5).prop_map(|how| {
            "acc-a".bytes().zip(how).map(|(b, h)| match h {
                0 => (b as char).to_string(),
                1 => format!("%{b:02X}"),
                _ => format!("%25{b:02X}"),
            }).collect()
        }),
        1 => prop::sample::select(vec![64usize, 65]).prop_map(|n| "a".repeat(n)),
        1 => "[A-Za-z0-9_%.-]{0,8}",
    ]
}

/// Real routes, with a method each accepts.
const ROUTES: [(&str, &str); 12] = [
    ("GET", "/vectorize/v2/indexes"),
    ("POST", "/vectorize/v2/indexes"),
    ("GET", "/vectorize/v2/indexes/i"),
    ("DELETE", "/vectorize/v2/indexes/i"),
    ("GET", "/vectorize/v2/indexes/i/info"),
    ("POST", "/vectorize/v2/indexes/i/query"),
    ("POST", "/vectorize/v2/indexes/i/upsert"),
    ("POST", "/vectorize/v2/indexes/i/delete_by_ids"),
    ("GET", "/vectorize/v2/indexes/i/metadata_index/list"),
    ("POST", "/ai/run/@cf/baai/bge-base-en-v1.5"),
    ("POST", "/ai/v1/embeddings"),
    ("GET", "/vectorize/v2/indexes/i/list"),
];

/// A request: mostly a real route under an account-like segment, else any path and method.
fn request() -> impl Strategy<Value = (String, Method)> {
    let method = |m: &str| Method::from_bytes(m.as_bytes()).expect("method");
    prop_oneof![
        3 => (prop::sample::select(vec!["/accounts/", "/client/v4/accounts/", "//accounts/", "/client/v4//accounts/"]), account_like(), prop::sample::select(ROUTES.to_vec()))
            .prop_map(move |(p, a, (m, r))| (format!("{p}{a}{r}"), method(m))),
        2 => (path(), prop::sample::select(vec![Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH])),
    ]
}

proptest! {
    #![proptest_config(config(4096))]

    /// The edge's account is the reference's, for any path: so whatever it lets through with an
    /// account names a valid id that is literally the segment after `accounts/`.
    #[test]
    fn the_edge_reads_the_literal_account_segment(p in prop_oneof![path(), any::<String>()]) {
        prop_assert_eq!(account_segment_of(&p), reference_account(&p));
        if let Some(seg) = account_segment_of(&p) {
            prop_assert_eq!(valid_account(seg), reference_valid(seg), "{:?}", seg);
            if valid_account(seg) {
                let literal = p.starts_with(&format!("/accounts/{seg}")) || p.starts_with(&format!("/client/v4/accounts/{seg}"));
                prop_assert!(literal, "{:?} in {:?}", seg, p);
            }
        }
    }

    #[test]
    fn account_ids_are_1_to_64_of_the_allowed_characters(s in prop_oneof![segment(), "[A-Za-z0-9_-]{0,70}", any::<String>()]) {
        prop_assert_eq!(valid_account(&s), reference_valid(&s), "{:?}", s);
    }
}

// ------------------------------------------------------------------------------------------------
// The whole router
// ------------------------------------------------------------------------------------------------

const ADMIN: &str = "admin-token";
const LIMITED: &str = "limited-token";

/// Tokens as the gateway loads them: a file with an admin token and one limited to `acc-a`.
fn tokens() -> Tokens {
    let path = std::env::temp_dir().join(format!("strato-edge-fuzz-{}", std::process::id()));
    std::fs::write(&path, format!("{ADMIN}\n{LIMITED} accounts=acc-a\n")).expect("write tokens file");
    let t = Tokens::load(Some(&path), None).expect("load tokens");
    let _ = std::fs::remove_file(&path);
    t
}

/// The gateway's router in front of services that are not there (a call fails fast: 503 1503).
fn app() -> axum::Router {
    let args = ["gateway", "--embedder", "http://127.0.0.1:9", "--index", "http://127.0.0.1:9", "--rpc-timeout-ms", "300", "--rpc-attempts", "1"];
    let cfg = crate::Config::parse_from(args);
    let st = AppState::new(cfg).expect("state");
    crate::router(st, tokens())
}

/// `path` as a request target: bytes a URI cannot carry raw are percent-encoded (`%` itself is
/// kept, so escapes and broken escapes reach the router as written).
fn request_target(path: &str) -> String {
    let mut out = String::new();
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// No handler acted: refused by the token check (401, 403), the edge (400 7003) or the path
/// decoding (400 `Invalid URL`), or never routed to an account (404 code 7000, 405). Read in
/// each surface's shape (Cloudflare's envelope, OpenAI's and the tutorial's `error`).
fn refused(status: StatusCode, body: &Value) -> bool {
    let message = [&body["errors"][0]["message"], &body["error"]["message"], &body["error"]].into_iter().find_map(Value::as_str).unwrap_or_default();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED => true,
        StatusCode::NOT_FOUND => message.starts_with("No route for that URI"),
        StatusCode::BAD_REQUEST => message.starts_with("Could not route to") || message.starts_with("Invalid URL"),
        _ => false,
    }
}

/// Routes that act on no account: any valid token may use them.
fn accountless(path: &str) -> bool {
    // `/client/v4/accounts` lists the token's own accounts (checked in auth's tests).
    matches!(path, "/v1/embeddings" | "/openapi.json" | "/__strato/status" | "/__strato/summary" | "/client/v4/accounts") || path.starts_with("/console")
}

/// For any path, method and credential form, a token limited to `acc-a` gets past the token
/// check only where the path's literal account segment is `acc-a` (or on a route without an
/// account). The admin token, on the same paths, shows the generator reaches real handlers.
#[test]
fn a_limited_token_acts_only_on_its_account_whatever_the_path() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _in_runtime = rt.enter();
    let app = app();
    let admin_reached_another_account = AtomicUsize::new(0);
    let call = |method: Method, target: &str, credential: (&str, String)| {
        let req = Request::builder()
            .method(method)
            .uri(target)
            .header("host", "localhost:8787")
            .header("content-type", "application/json")
            .header(credential.0, credential.1)
            .body(Body::from("{}"));
        let app = app.clone();
        rt.block_on(async move {
            let resp = app.oneshot(req.expect("request")).await.expect("infallible");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        })
    };
    let strategy = (request(), any::<bool>());
    let mut runner = TestRunner::new(config(1024));
    let result = runner.run(&strategy, |((p, method), bearer)| {
        let target = request_target(&p);
        // What hyper would refuse never reaches the router.
        let Ok(uri) = target.parse::<axum::http::Uri>() else { return Ok(()) };
        let path = uri.path().to_owned();
        let credential = |token: &str| if bearer { ("authorization", format!("Bearer {token}")) } else { ("x-auth-key", token.to_owned()) };
        let (status, body) = call(method.clone(), &target, credential(LIMITED));
        if !refused(status, &body) {
            prop_assert!(
                reference_account(&path) == Some("acc-a") || accountless(&path),
                "{} {} with the acc-a token: {} {}",
                method,
                target,
                status,
                body
            );
        }
        if reference_account(&path).is_some_and(|a| a != "acc-a" && reference_valid(a)) {
            let (status, body) = call(method, &target, credential(ADMIN));
            if !refused(status, &body) {
                admin_reached_another_account.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(admin_reached_another_account.load(Ordering::Relaxed) > 0, "the paths never reached a handler: the property was vacuous");
}
