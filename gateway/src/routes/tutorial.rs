//! The Vectorize embeddings tutorial's Worker (spec §7), route for route:
//! `/favicon…` → 404 with an empty body; `/insert` → embed the three stories and upsert ids
//! "1".."3", answering the upsert result; every other path → embed the query, topK 1, answer
//! `{"matches": {count, matches}}`. Extensions the tutorial suggests: `?text=` and `?topK=` on the
//! query, and `POST /insert` with `{"texts": [...], "ids": [...]}`.
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use strato_proto::index::v1 as ipb;

use super::cf::{self, CfError};
use super::edge::Shape;
use crate::bindings;
use crate::body::Body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::TraceContext;

/// A tutorial route's failure: a service's error as `{"error", "code", "service"}` with the
/// Cloudflare table's status and message (so a hidden internal error stays hidden here too), or
/// the gateway's own refusal (a rate limit, the memory budget) as `{"error"}`.
pub enum TutorialError {
    Service(ApiError),
    Refused(CfError),
}

impl From<ApiError> for TutorialError {
    fn from(e: ApiError) -> Self {
        TutorialError::Service(e)
    }
}

impl From<CfError> for TutorialError {
    fn from(e: CfError) -> Self {
        TutorialError::Refused(e)
    }
}

impl IntoResponse for TutorialError {
    fn into_response(self) -> Response {
        let e = match self {
            TutorialError::Refused(e) => return Shape::Tutorial.error(e),
            TutorialError::Service(e) => e,
        };
        let cf = cf::upstream_error(e.clone(), None);
        let body = match &e {
            ApiError::Upstream { code, service, .. } => json!({ "error": cf.message, "code": format!("{code:?}"), "service": service }),
            other => json!({ "error": other.to_string() }),
        };
        (cf.status, Json(body)).into_response()
    }
}

pub const STORIES: [&str; 3] = [
    "This is a story about an orange cloud",
    "This is a story about a llama",
    "This is a story about a hugging emoji",
];
pub const DEFAULT_QUERY: &str = "orange cloud";

/// GET /insert: the tutorial's fixed stories.
pub async fn insert_stories(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, TutorialError> {
    let texts = STORIES.iter().map(|s| s.to_string()).collect();
    let ids = (1..=STORIES.len()).map(|i| i.to_string()).collect();
    insert(&st, &TraceContext::from_headers(&headers), texts, ids).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertBody {
    texts: Vec<String>,
    #[serde(default)]
    ids: Option<Vec<String>>,
}

/// POST /insert `{"texts": [...], "ids"?: [...]}` (ids default to "1", "2", …).
pub async fn insert_custom(State(st): State<AppState>, headers: HeaderMap, Body(body): Body) -> Result<Response, TutorialError> {
    let body: InsertBody = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body must be {{\"texts\": [...], \"ids\": [...]}}: {e}")))?;
    if body.texts.is_empty() {
        return Err(ApiError::BadRequest("texts must not be empty".into()).into());
    }
    let ids = body.ids.unwrap_or_else(|| (1..=body.texts.len()).map(|i| i.to_string()).collect());
    if ids.len() != body.texts.len() {
        return Err(ApiError::BadRequest(format!("{} ids for {} texts", ids.len(), body.texts.len())).into());
    }
    insert(&st, &TraceContext::from_headers(&headers), body.texts, ids).await
}

async fn insert(st: &AppState, ctx: &TraceContext, texts: Vec<String>, ids: Vec<String>) -> Result<Response, TutorialError> {
    st.limits.mutation()?;
    let vectors = embed(st, ctx, texts).await?;
    let vectors = ids.into_iter().zip(vectors).map(|(id, values)| ipb::Vector { id, values, namespace: String::new(), metadata: None }).collect();
    let mutation_id = bindings::upsert(st, ctx, vectors).await?;
    Ok(Json(json!({ "mutationId": mutation_id })).into_response())
}

/// The AI binding's embedding, within the caller's embedder budget (`limits.rs`: a caller's
/// when it sent a token).
async fn embed(st: &AppState, ctx: &TraceContext, texts: Vec<String>) -> Result<Vec<Vec<f32>>, TutorialError> {
    let charge = st.limits.embed(&st.cfg.ai_model, &texts)?;
    let r = bindings::embed(st, ctx, texts).await;
    charge.settle(r.as_ref().map_or(0, |(_, tokens)| *tokens));
    Ok(r?.0)
}

#[derive(Deserialize, Default)]
pub struct QueryParams {
    text: Option<String>,
    #[serde(rename = "topK")]
    top_k: Option<String>,
}

/// Every other path: the tutorial's query (favicon requests excepted).
pub async fn query_or_favicon(State(st): State<AppState>, uri: Uri, headers: HeaderMap, Query(params): Query<QueryParams>) -> Result<Response, TutorialError> {
    if uri.path().starts_with("/favicon") {
        return Ok((StatusCode::NOT_FOUND, "").into_response());
    }
    let top_k = match params.top_k.as_deref() {
        None | Some("") => 1,
        Some(k) => k.parse::<u32>().map_err(|_| ApiError::BadRequest(format!("topK must be a whole number, got {k:?}")))?,
    };
    let text = params.text.filter(|t| !t.is_empty()).unwrap_or_else(|| DEFAULT_QUERY.to_owned());
    let ctx = TraceContext::from_headers(&headers);
    let t = std::time::Instant::now();
    let vector = embed(&st, &ctx, vec![text]).await?.into_iter().next().unwrap_or_default();
    let embed_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let matches = bindings::query(&st, &ctx, vector, top_k).await?;
    let query_ms = t.elapsed().as_secs_f64() * 1e3;
    // Server-Timing: where the time went, per request (browsers' devtools show it; the gateway
    // benchmark subtracts it from the end-to-end latency of the same request).
    let timing = format!("embed;dur={embed_ms:.3}, query;dur={query_ms:.3}");
    Ok(([("server-timing", timing)], Json(json!({ "matches": matches }))).into_response())
}
