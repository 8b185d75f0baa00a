//! The whole router (`crate::router`) in process, in front of services that are not there: what
//! the edge and the token checks answer before any service is called. A request that passes
//! them reaches a handler whose call fails fast: 503 code 1503 marks "let through".
use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use clap::Parser;
use serde_json::Value;
use tower::ServiceExt;

use crate::routes::auth::Tokens;
use crate::state::AppState;
use crate::Config;

const ADMIN: &str = "admin-token";
const LIMITED: &str = "limited-token";

fn app(tokens: Tokens, flags: &[&str]) -> axum::Router {
    let mut args = vec!["gateway", "--embedder", "http://127.0.0.1:9", "--index", "http://127.0.0.1:9", "--rpc-timeout-ms", "300", "--rpc-attempts", "1"];
    args.extend_from_slice(flags);
    let cfg = Config::parse_from(args);
    let st = AppState::new(cfg).expect("state");
    crate::router(st, tokens)
}

/// An admin token, and one limited to `acc-a`.
fn tokens() -> Tokens {
    let mut t = Tokens::default();
    t.add(ADMIN, None);
    t.add(LIMITED, Some(HashSet::from(["acc-a".to_owned()])));
    t
}

async fn call(app: &axum::Router, method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header("host", "localhost:8787");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app.clone().oneshot(req.body(body.into()).expect("request")).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn code(body: &Value) -> u64 {
    body["errors"][0]["code"].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn empty_missing_and_encoded_accounts_are_400_for_every_token() {
    let app = app(tokens(), &[]);
    let admin = bearer(ADMIN);
    for path in [
        "/client/v4/accounts//vectorize/v2/indexes",
        "/accounts//vectorize/v2/indexes",
        "/client/v4/accounts//vectorize/v2/indexes/embeddings-index",
        "/accounts//ai/run/@cf/baai/bge-base-en-v1.5",
        "/client/v4/accounts/%61cc-a/vectorize/v2/indexes",
        "/client/v4/accounts/acc%2Da/vectorize/v2/indexes",
        "/accounts/acc.a/vectorize/v2/indexes",
        "/accounts",
        "/client/v4/accounts/",
    ] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let (s, b) = call(&app, method.clone(), path, &[(admin.0, &admin.1), ("content-type", "application/json")], "{}").await;
            assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, 7003), "{method} {path}: {b}");
        }
    }
}

/// Every way to name acc-b, or the empty account, is refused for a token limited to acc-a;
/// acc-a itself passes.
#[tokio::test]
async fn a_limited_token_never_reaches_another_account() {
    let app = app(tokens(), &[]);
    let limited = bearer(LIMITED);
    let key = ("x-auth-key", LIMITED.to_owned());
    let mut paths = Vec::new();
    for prefix in ["/client/v4/accounts/acc-b", "/accounts/acc-b", "/client/v4/accounts/", "/accounts/"] {
        for rest in [
            "/vectorize/v2/indexes",
            "/vectorize/v2/indexes/",
            "/vectorize/v2/indexes/embeddings-index",
            "/vectorize/v2/indexes/embeddings-index/query",
            "/vectorize/v2/indexes/embeddings-index/upsert",
            "/vectorize/v2/indexes/embeddings-index/delete_by_ids",
            "/vectorize/v2//indexes",
            "/ai/run/@cf/baai/bge-base-en-v1.5",
            "/ai/v1/embeddings",
            "/anything/else",
        ] {
            paths.push(format!("{prefix}{rest}"));
        }
    }
    for path in &paths {
        for method in [Method::GET, Method::HEAD, Method::POST, Method::DELETE, Method::PUT] {
            for header in [&limited, &key] {
                let (s, b) = call(&app, method.clone(), path, &[(header.0, &header.1), ("content-type", "application/json")], "{}").await;
                assert!(
                    matches!(s, StatusCode::FORBIDDEN | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST),
                    "{method} {path} with {}: {s} {b}",
                    header.0
                );
            }
        }
    }
    // The same token on its own account gets past the check (to the missing index-svc: 503).
    let (s, b) = call(&app, Method::GET, "/client/v4/accounts/acc-a/vectorize/v2/indexes", &[(limited.0, &limited.1)], "").await;
    assert_eq!((s, code(&b)), (StatusCode::SERVICE_UNAVAILABLE, 1503), "{b}");
    // Routes without an account take any valid token.
    let (s, _) = call(&app, Method::POST, "/v1/embeddings", &[(limited.0, &limited.1), ("content-type", "application/json")], "{}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "past the check, to the handler's own validation");
    // The tutorial's routes act on the binding's account ("" here): not the limited token's.
    for path in ["/", "/insert", "/some/page"] {
        let (s, _) = call(&app, Method::GET, path, &[(limited.0, &limited.1)], "").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn tutorial_and_status_need_a_token_unless_public() {
    let app = app(tokens(), &[]);
    let admin = bearer(ADMIN);
    for path in ["/", "/insert", "/favicon.ico", "/some/page", "/__strato/status"] {
        let (s, b) = call(&app, Method::GET, path, &[], "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}: {b}");
        assert_eq!(b["error"], "Authentication error", "{path}: the tutorial's shape");
    }
    let (s, _) = call(&app, Method::POST, "/insert", &[("content-type", "application/json")], r#"{"texts":["a"]}"#).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = call(&app, Method::GET, "/__strato/status", &[(admin.0, &admin.1)], "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["index"], serde_json::json!(["http://127.0.0.1:9"]), "a valid token sees the internals: {b}");
    assert_eq!(call(&app, Method::GET, "/openapi.json", &[], "").await.0, StatusCode::OK, "the API document stays open");

    let public = self::app(tokens(), &["--public-tutorial"]);
    let (s, b) = call(&public, Method::GET, "/__strato/status", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.get("index").is_none() && b.get("embedder").is_none() && b.get("vectorize").is_none(), "no internals without a token: {b}");
    assert_eq!(b["healthy"], false, "{b}");
    let (s, b) = call(&public, Method::GET, "/__strato/status", &[(admin.0, &admin.1)], "").await;
    assert_eq!((s, &b["index"]), (StatusCode::OK, &serde_json::json!(["http://127.0.0.1:9"])), "{b}");
    let (s, _) = call(&public, Method::GET, "/favicon.ico", &[], "").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the tutorial is open");
    let (s, b) = call(&public, Method::GET, "/client/v4/accounts/acc-a/vectorize/v2/indexes", &[], "").await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, 10000), "the API is not");
}

#[tokio::test]
async fn open_mode_refuses_foreign_hosts_and_cross_site_writes() {
    let app = app(Tokens::default(), &[]);
    let send = |method: Method, uri: &'static str, host: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let app = app.clone();
        async move {
            let mut req = Request::builder().method(method).uri(uri).header("host", host);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = app.oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let (s, b) = send(Method::GET, "/client/v4/accounts/a/vectorize/v2/indexes", "rebind.evil.test:8787", vec![]).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, 10000), "{b}");
    assert_eq!(send(Method::GET, "/favicon.ico", "localhost:8787", vec![]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(Method::GET, "/favicon.ico", "127.0.0.1:8787", vec![]).await.0, StatusCode::NOT_FOUND);
    let (s, b) = send(Method::GET, "/insert", "localhost:8787", vec![("sec-fetch-site", "cross-site")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = send(Method::POST, "/accounts/a/vectorize/v2/indexes/i/upsert", "localhost:8787", vec![("content-type", "multipart/form-data; boundary=x")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an auto-submitted form");
    let (s, _) = send(Method::POST, "/accounts/a/vectorize/v2/indexes/i/upsert", "localhost:8787", vec![("content-type", "application/x-ndjson")]).await;
    assert_ne!(s, StatusCode::FORBIDDEN, "a script's upload");
}

#[tokio::test]
async fn body_limits_and_rejections_answer_in_each_surface_shape() {
    let app = app(tokens(), &[]);
    let admin = bearer(ADMIN);
    let json = [(admin.0, admin.1.as_str()), ("content-type", "application/json")];
    // A query body past its limit (the largest legal one is about 41 KB).
    let big = format!("{{\"vector\": [{}]}}", vec!["0.5"; 70_000].join(","));
    let (s, b) = call(&app, Method::POST, "/client/v4/accounts/acc-a/vectorize/v2/indexes/i/query", &json, big.clone()).await;
    assert_eq!((s, code(&b), &b["success"]), (StatusCode::PAYLOAD_TOO_LARGE, 40003, &Value::Bool(false)), "{b}");
    let (s, b) = call(&app, Method::POST, "/accounts/acc-a/vectorize/v2/indexes/i/metadata_index/create", &json, big).await;
    assert_eq!((s, code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, 40003), "{b}");
    // The OpenAI route keeps its 32 MiB, and answers 413 in OpenAI's shape.
    let (s, b) = call(&app, Method::POST, "/v1/embeddings", &json, vec![b' '; 33 * 1024 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(b["error"]["type"], "invalid_request_error", "{b}");
    // A path parameter that does not decode (open mode: no token check first) → 400 in the envelope.
    let open = self::app(Tokens::default(), &[]);
    let (s, b) = call(&open, Method::GET, "/client/v4/accounts/acc-a/vectorize/v2/indexes/%FF", &[], "").await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, 40003), "{b}");
    let (s, b) = call(&app, Method::GET, "/client/v4/accounts/acc-a/vectorize/v2/indexes/%FF", &[(admin.0, &admin.1)], "").await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, 40003), "the same with a token: {b}");
    // The tutorial's query string, in its own shape.
    let (s, b) = call(&open, Method::GET, "/?text=a&text=b", &[], "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["error"].as_str().is_some_and(|m| m.contains("query string")), "{b}");
}
