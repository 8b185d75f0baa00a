//! The backing protocols of the Worker bindings, so that a Worker's `env.VECTORIZE` and `env.AI`
//! run against Strato (workerd, miniflare, `wrangler dev`) with no change to its code.
//!
//! workerd implements both bindings as JS clients over a fetcher (spec §1.6, §5.5); pointed at
//! these routes, they get what Cloudflare's services answer:
//! - `/__strato/binding/vectorize/{index}/{info|query|insert|upsert|getByIds|deleteByIds}`:
//!   the index `{index}` of the gateway's `--binding-account`, one prefix per bound index. The
//!   bodies are the REST API's, so each operation is the REST handler's, with its answer
//!   unwrapped: the bare result, or `{code, error}` with the error's status, which the binding
//!   turns into `VECTOR_QUERY_ERROR (code = 40006): …` as on Cloudflare.
//! - `/__strato/binding/ai/run?version=3`: `cf-consn-model-id` names the model, the body is
//!   `{inputs, options}`; the model's output comes back bare, errors in the envelope's
//!   `errors: [{code, message}]` (the binding reads `<code>: <message>`). The AI binding's model
//!   (`--ai-model`) is served as the tutorial serves it (the packaged model offline).
//! - `/__strato/binding/mf`: miniflare's remote-binding proxy (`MF-Binding`, `MF-URL`,
//!   `MF-Header-*`), which replays the call on the two routes above.
use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::json;
use serde_json::value::RawValue;

use super::cf::CfError;
use crate::body::Body;
use crate::state::AppState;
use crate::trace::TraceContext;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/__strato/binding/vectorize/{index}/{op}", any(vectorize))
        .route("/__strato/binding/ai/run", post(ai_run))
        .route("/__strato/binding/mf", any(miniflare))
        .layer(axum::extract::DefaultBodyLimit::max(super::vectorize::BINDING_BODY_LIMIT))
}

async fn vectorize(
    State(st): State<AppState>,
    Path((index, op)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    vectorize_call(st, index, op, q, method, headers, body).await
}

async fn vectorize_call(st: AppState, index: String, op: String, q: HashMap<String, String>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let want = if op == "info" { Method::GET } else { Method::POST };
    if method != want {
        return binding_error(CfError::new(StatusCode::METHOD_NOT_ALLOWED, 7001, format!("{op} takes {want}")));
    }
    let account = st.cfg.binding_account.clone();
    match super::vectorize::binding_op(st, &op, account, index, q, headers, body).await {
        None => binding_error(CfError::new(StatusCode::NOT_FOUND, 7000, format!("no such Vectorize binding operation: {op}"))),
        Some(Ok(r)) => unwrap_result(r).await,
        Some(Err(e)) => binding_error(e),
    }
}

/// `{code, error}`: what the Vectorize binding parses from a failed call.
fn binding_error(e: CfError) -> Response {
    (e.status, axum::Json(json!({ "code": e.code, "error": e.message }))).into_response()
}

/// The envelope's `result`, bare: its slice of the envelope, never a JSON tree of it (a
/// getByIds answer can be tens of MB).
async fn unwrap_result(r: Response) -> Response {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    let (parts, body) = r.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return binding_error(CfError::new(StatusCode::INTERNAL_SERVER_ERROR, 10000, "response body lost"));
    };
    let result = match serde_json::from_slice::<Envelope>(&bytes) {
        Ok(Envelope { result: Some(raw) }) => bytes.slice_ref(raw.get().as_bytes()),
        _ => Bytes::from_static(b"null"),
    };
    let mut out = (parts.status, [(header::CONTENT_TYPE, "application/json")], result).into_response();
    for (k, val) in parts.headers.iter().filter(|(k, _)| k.as_str().starts_with("x-") || k.as_str() == "server-timing") {
        out.headers_mut().insert(k.clone(), val.clone());
    }
    out
}

async fn ai_run(State(st): State<AppState>, headers: HeaderMap, Body(body): Body) -> Response {
    ai_call(st, headers, body).await
}

async fn ai_call(st: AppState, headers: HeaderMap, body: Bytes) -> Response {
    let requested = headers.get("cf-consn-model-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let ctx = TraceContext::from_headers(&headers);
    // The binding's own model is served as the tutorial serves it: the packaged model stands in
    // for BGE where BGE is not installed.
    let model = if requested == st.cfg.ai_model {
        match st.model.get(&st.clients, &ctx).await {
            Ok(m) => m.serving,
            Err(_) => requested,
        }
    } else {
        requested
    };
    // `inputs`, as its slice of the body (no copy, no JSON tree).
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        inputs: Option<&'a RawValue>,
    }
    let inputs = match serde_json::from_slice::<Call>(&body) {
        Ok(Call { inputs: Some(raw) }) => body.slice_ref(raw.get().as_bytes()),
        _ => Bytes::from_static(b"null"),
    };
    let r = match super::ai::binding_run(st, model, headers, inputs).await {
        Ok(r) => unwrap_result(r).await,
        // What the AI binding parses (`<code>: <message>` from `errors`), and `{code, error}`
        // as on the Vectorize binding's routes.
        Err(e) => (e.status, axum::Json(json!({ "code": e.code, "error": e.message, "errors": [{ "code": e.code, "message": e.message }] }))).into_response(),
    };
    let mut r = r;
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        r.headers_mut().insert("cf-ai-req-id", v);
    }
    r
}

/// miniflare's remote-binding proxy (`remote-bindings-utils.ts`, `makeFetch`): the binding's
/// request with its URL in `MF-URL`, its headers as `MF-Header-<name>`, the binding's name in
/// `MF-Binding`. The AI binding is recognised by its host, `workers-binding.ai`; a Vectorize
/// binding's index is `?<binding>=<index>` on the proxy URL (miniflare 5 has one URL for all
/// bindings), else the binding's name. The per-call WebSocket miniflare also opens is declined:
/// neither binding uses it.
async fn miniflare(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>, method: Method, headers: HeaderMap, Body(body): Body) -> Response {
    if headers.contains_key("upgrade") {
        return (StatusCode::UPGRADE_REQUIRED, "this proxy answers plain binding calls only").into_response();
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (binding, url) = (text("mf-binding"), text("mf-url"));
    let Ok(url) = url.parse::<axum::http::Uri>() else {
        return binding_error(CfError::new(StatusCode::BAD_REQUEST, 40003, "MF-URL is missing or not a URL"));
    };
    let mut inner = HeaderMap::new();
    for (k, v) in &headers {
        if let Some(name) = k.as_str().strip_prefix("mf-header-")
            && let Ok(name) = axum::http::HeaderName::try_from(name)
        {
            inner.append(name, v.clone());
        }
    }
    if let Some(id) = headers.get("x-request-id") {
        inner.insert("x-request-id", id.clone());
    }
    if url.host() == Some("workers-binding.ai") {
        return ai_call(st, inner, body).await;
    }
    let index = q.get(&binding).cloned().unwrap_or(binding);
    let op = url.path().rsplit('/').next().unwrap_or("").to_owned();
    let inner_q = url.query().map(url_query).unwrap_or_default();
    vectorize_call(st, index, op, inner_q, method, inner, body).await
}

fn url_query(s: &str) -> HashMap<String, String> {
    s.split('&').filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
}
