//! Workers AI embeddings over embedder-svc:
//! - `POST /client/v4/accounts/{account_id}/ai/run/{model}` (and `/accounts/…`), spec §5.2/§5.4:
//!   `{text, pooling?}` → `{shape, data, pooling}` in the Cloudflare envelope;
//! - the OpenAI-compatible `POST …/ai/v1/embeddings` and plain `POST /v1/embeddings`, spec §5.6:
//!   OpenAI's request and response shapes, no envelope, OpenAI-shaped errors.
//!
//! Model names pass through unchanged (`@cf/baai/bge-base-en-v1.5`, `@strato/all-minilm-l6-v2`);
//! the embedder decides which it serves. Guessed behaviour is marked "guess" with its section.
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use strato_proto::embedder::v1 as epb;

use super::ai_input::{self, MAX_TEXTS};
use super::cf::{self, CfError};
use crate::body::Body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::TraceContext;


pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/client/v4/accounts/{account_id}/ai/run/{*model}", post(run))
        .route("/accounts/{account_id}/ai/run/{*model}", post(run))
        .route("/client/v4/accounts/{account_id}/ai/v1/embeddings", post(openai_embeddings))
        .route("/accounts/{account_id}/ai/v1/embeddings", post(openai_embeddings))
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/client/v4/accounts/{account_id}/ai/models/search", axum::routing::get(models))
        .route("/accounts/{account_id}/ai/models/search", axum::routing::get(models))
        // 2048 inputs (OpenAI's array limit) of long texts outgrow axum's 2 MiB default.
        .layer(axum::extract::DefaultBodyLimit::max(AI_BODY_LIMIT))
}

/// Largest embeddings request body: 2048 texts of ~8 KiB each, with JSON framing.
const AI_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Largest vector a served model returns (bge-large); what a response is charged per text
/// before the embedder says (`budget.rs`; the response's real size replaces it).
const MAX_DIMS: u64 = 1024;
/// Bytes a vector's number costs while it is answered: the f32, its JSON text, slack.
const BYTES_PER_NUMBER: u64 = 24;

/// embedder-svc `Embed` (`Clients::embed`: encoded once, retried on UNAVAILABLE), charging its
/// answer to the request's memory share. `failed` words the embedder's errors in the route's
/// shape. The caller charges the request, whole, to its token's embedder budget (`limits.rs`).
async fn embed<E: From<CfError>>(st: &AppState, ctx: &TraceContext, req: epb::EmbedRequest, failed: impl Fn(ApiError) -> E) -> Result<epb::EmbedResponse, E> {
    crate::budget::charge(req.texts.len() as u64 * MAX_DIMS * BYTES_PER_NUMBER)?;
    st.clients.embed(ctx, req).await.map_err(failed)
}

/// A model name the embedder is asked about: one no longer than any catalogue name could be,
/// else 5007 `No such model` here (a 10 KiB name would not fit the error's gRPC header).
fn model_name(model: &str) -> Result<(), CfError> {
    if model.len() > ai_input::MAX_MODEL_BYTES {
        return Err(CfError::bad_request(cf::AI_NO_SUCH_MODEL, format!("No such model {}", ai_input::echo(model))));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Workers AI: /ai/run/{model}
// ------------------------------------------------------------------------------------------------

/// Only the model matters; the account id is accepted and ignored (one embedder serves all).
#[derive(Deserialize)]
struct RunPath {
    model: String,
}

#[derive(Serialize)]
struct RunResult {
    shape: [u32; 2],
    data: Vec<Vec<f32>>,
    /// `mean` or `cls`; absent for a model that pools otherwise (Qwen3's last token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pooling: Option<&'static str>,
}

/// Whether a model takes bge-m3's schema (§5.3): `contexts`, `query`, `truncate_inputs` — the
/// catalogue's `@cf/baai/bge-m3` and any variant an operator provisions under a name with it.
fn takes_bge_m3_schema(model: &str) -> bool {
    model.contains("bge-m3")
}

/// `{text: string | string[], pooling?: "mean" | "cls"}` → `{shape, data, pooling}` (spec §5.2).
/// `pooling` is always echoed, also when not requested (guess, spec §9). Values are float32 as
/// computed (shortest round-trip form), which is what an index stores.
///
/// bge-m3 (§5.3) also takes `{query?, contexts: [{text}]}`: with a query, the contexts ranked by
/// cosine similarity to it, `{response: [{id, score}]}` (best first; `id` the context's index);
/// without, their embeddings, `{response: [[…]]}`. Its `truncate_inputs` defaults to false, as on
/// Workers AI: a text over its limit is refused (5006), not cut. `prompt_name` and `dimensions`
/// reach the models that have prompts or Matryoshka lengths (the embedder refuses the rest).
async fn run(State(st): State<AppState>, Path(p): Path<RunPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    model_name(&p.model)?;
    let input = ai_input::run_input(&body).map_err(CfError::ai_bad_input)?;
    drop(body);
    let m3 = takes_bge_m3_schema(&p.model);
    if !m3 && (input.contexts || input.truncate_inputs.is_some()) {
        return Err(CfError::ai_bad_input(format!("Error: {} takes {{text}}; 'contexts', 'query' and 'truncate_inputs' are bge-m3's", ai_input::echo(&p.model))));
    }
    let dimensions = match input.dimensions.map(u32::try_from) {
        None => 0,
        Some(Ok(d)) => d,
        Some(Err(_)) => return Err(CfError::ai_bad_input(format!("Error: {} has no {}-value vectors", ai_input::echo(&p.model), input.dimensions.unwrap_or_default()))),
    };
    st.limits.ai_request(&p.model)?;
    let requested = input.pooling;
    let ctx = TraceContext::from_headers(&headers);
    let request = |texts: Vec<String>| epb::EmbedRequest {
        model: p.model.clone(),
        texts,
        pooling: input.pooling as i32,
        prompt_name: input.prompt_name.clone().unwrap_or_default(),
        dimensions,
        refuse_over_limit: m3 && !input.truncate_inputs.unwrap_or(false),
    };
    let mut all = input.texts.clone();
    all.extend(input.query.clone());
    let charge = st.limits.embed(&p.model, &all)?;
    let failed = |e| cf::ai_error(e, &p.model);
    let mut tokens = 0;
    let r = embed(&st, &ctx, request(input.texts), failed).await;
    tokens += r.as_ref().map_or(0, |r| r.token_count);
    let query = match (&r, input.query) {
        (Ok(_), Some(q)) => Some(embed(&st, &ctx, request(vec![q]), failed).await),
        _ => None,
    };
    tokens += query.as_ref().and_then(|q| q.as_ref().ok()).map_or(0, |q| q.token_count);
    charge.settle(tokens);
    let r = r?;
    let data: Vec<Vec<f32>> = r.data.into_iter().map(|v| v.values).collect();
    if input.contexts {
        return Ok(cf::ok(match query.transpose()? {
            Some(q) => serde_json::json!({ "response": rank(q.data.first().map(|v| v.values.as_slice()).unwrap_or_default(), &data) }),
            None => serde_json::json!({ "response": data }),
        }));
    }
    let dims = data.first().map_or(0, Vec::len);
    let shape = match r.shape.as_slice() {
        [n, d] => [*n, *d],
        _ => [u32::try_from(data.len()).unwrap_or(u32::MAX), u32::try_from(dims).unwrap_or(u32::MAX)],
    };
    let pooling = match epb::Pooling::try_from(r.pooling) {
        Ok(epb::Pooling::Cls) => Some("cls"),
        Ok(epb::Pooling::Mean) => Some("mean"),
        Ok(epb::Pooling::LastToken) => None,
        _ if requested == epb::Pooling::Cls => Some("cls"),
        _ => Some("mean"),
    };
    Ok(cf::ok(RunResult { shape, data, pooling }))
}

/// Contexts by cosine similarity to the query (unit vectors: the dot product), best first.
fn rank(query: &[f32], contexts: &[Vec<f32>]) -> Vec<serde_json::Value> {
    let mut scored: Vec<(usize, f64)> = contexts.iter().enumerate().map(|(i, c)| (i, c.iter().zip(query).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum())).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().map(|(id, score)| serde_json::json!({ "id": id, "score": score })).collect()
}

/// `GET …/ai/models/search` (Cloudflare's catalogue listing): the embedder's catalogue, each
/// entry in Cloudflare's shape (`name`, `task`, `properties`) plus what Cloudflare has no need
/// to say: `loaded` (answering now), `dimensions`, and in words whether it is only known.
/// Query parameters (`search`, `task`, paging) are not applied: the catalogue is a handful of
/// embedding models.
async fn models(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, CfError> {
    let ctx = TraceContext::from_headers(&headers);
    let list = st.clients.list_models(&ctx).await.map_err(|e| cf::upstream_error(e, None))?;
    let result: Vec<_> = list
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "id": m.name, "name": m.name, "source": 1,
                "description": format!("Text embeddings, {} dimensions, up to {} tokens", m.dimensions, m.max_input_tokens),
                "task": { "name": "Text Embeddings" },
                "properties": [
                    { "property_id": "max_input_tokens", "value": m.max_input_tokens.to_string() },
                    { "property_id": "dimensions", "value": m.dimensions.to_string() },
                ],
                // Not the embedder's `source`: it names directories, which a token limited to
                // one account has no business learning (status hides them the same way).
                "loaded": m.loaded, "dimensions": m.dimensions, "max_input_tokens": m.max_input_tokens,
                "source_detail": if m.loaded { "loaded on the embedder" } else { "known, not loaded: its files are not on the embedder" },
            })
        })
        .collect();
    Ok(cf::ok(result))
}

/// The AI binding's `run` (`routes/worker.rs`): this handler on the binding's `inputs`.
pub(super) async fn binding_run(st: AppState, model: String, headers: HeaderMap, inputs: Bytes) -> Result<Response, CfError> {
    run(State(st), Path(RunPath { model }), headers, Body(inputs)).await
}

// ------------------------------------------------------------------------------------------------
// OpenAI-compatible: /v1/embeddings
// ------------------------------------------------------------------------------------------------

/// OpenAI's error body: `{"error": {"message", "type", "param": null, "code": null}}`.
/// `type` is `invalid_request_error` for 4xx and `server_error` for 5xx (OpenAI's usage; guess
/// for Cloudflare, spec §5.6 documents no error shape).
#[derive(Debug)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl OpenAiError {
    fn bad(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), retry_after: None }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() { "server_error" } else { "invalid_request_error" };
        let body = serde_json::json!({
            "error": { "message": self.message, "type": kind, "param": null, "code": null }
        });
        CfError::with_retry_after(self.retry_after, (self.status, Json(body)).into_response())
    }
}

/// A Cloudflare error (the auth check, a rate limit) in OpenAI's shape, for the `/v1/…` routes.
impl From<CfError> for OpenAiError {
    fn from(e: CfError) -> Self {
        Self { status: e.status, message: e.message, retry_after: e.retry_after }
    }
}

#[derive(Serialize)]
struct EmbeddingList {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: String,
    usage: Usage,
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Embedding,
}

/// `encoding_format: "float"` → numbers; `"base64"` → little-endian float32 bytes in base64.
#[derive(Serialize)]
#[serde(untagged)]
enum Embedding {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// `{model, input: string | string[], encoding_format?, dimensions?}` (spec §5.6). Inputs longer
/// than Workers AI's 100 texts are embedded in chunks of 100 (OpenAI clients such as LangChain
/// send up to 1000 at once). `usage` is the embedder's token count.
async fn openai_embeddings(State(st): State<AppState>, headers: HeaderMap, Body(body): Body) -> Result<Json<EmbeddingList>, OpenAiError> {
    let input = ai_input::openai_input(&body).map_err(OpenAiError::bad)?;
    drop(body);
    if input.model.len() > ai_input::MAX_MODEL_BYTES {
        return Err(OpenAiError { status: StatusCode::NOT_FOUND, message: format!("The model `{}` does not exist or you do not have access to it.", ai_input::echo(&input.model)), retry_after: None });
    }
    st.limits.ai_request(&input.model)?;
    let ctx = TraceContext::from_headers(&headers);
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(input.texts.len());
    let mut tokens = 0u64;
    // One charge for the whole request (its chunks are one request's work), settled once.
    let charge = st.limits.embed(&input.model, &input.texts)?;
    let mut failed = None;
    // A Matryoshka model cuts its vectors to `dimensions`; any other refuses a length not its own.
    let dimensions_asked = match input.dimensions.map(u32::try_from) {
        None => 0,
        Some(Ok(d)) => d,
        Some(Err(_)) => return Err(OpenAiError::bad(format!("This model does not support {} dimensions.", input.dimensions.unwrap_or_default()))),
    };
    for chunk in input.texts.chunks(MAX_TEXTS) {
        let req = epb::EmbedRequest { model: input.model.clone(), texts: chunk.to_vec(), dimensions: dimensions_asked, ..Default::default() };
        match embed(&st, &ctx, req, |e| openai_error(e, &input.model)).await {
            Ok(r) => {
                tokens += r.token_count;
                vectors.extend(r.data.into_iter().map(|v| v.values));
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    charge.settle(tokens);
    if let Some(e) = failed {
        return Err(e);
    }
    check_dimensions(input.dimensions, &vectors)?;
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: if input.base64 { Embedding::Base64(base64_f32(&v)) } else { Embedding::Float(v) },
        })
        .collect();
    Ok(Json(EmbeddingList { object: "list", data, model: input.model, usage: Usage { prompt_tokens: tokens, total_tokens: tokens } }))
}

/// `dimensions` is accepted only when it equals the model's (the served models cannot shorten
/// their vectors); OpenAI's text for models without the option.
fn check_dimensions(wanted: Option<u64>, vectors: &[Vec<f32>]) -> Result<(), OpenAiError> {
    match (wanted, vectors.first()) {
        (Some(d), Some(v)) if d != v.len() as u64 => {
            Err(OpenAiError::bad(format!("This model does not support specifying dimensions: it returns {} dimensions, not {d}.", v.len())))
        }
        _ => Ok(()),
    }
}

/// embedder error → OpenAI's shape, by the same reasons as the Cloudflare table (cf.rs): bad
/// input 400, unknown or unloaded model 404, overload 429, down 503, else 500.
fn openai_error(e: ApiError, model: &str) -> OpenAiError {
    use strato_proto::errors::ErrorReason as R;
    let (reason, message) = match e {
        ApiError::Upstream { code, reason, message, .. } => (if reason == R::Unspecified { super::cf::reason_for_code(code) } else { reason }, message),
        ApiError::BadRequest(m) => (R::InvalidRequest, m),
        ApiError::NotFound(m) => (R::ModelNotFound, m),
    };
    let (status, message) = match reason {
        R::InvalidRequest => (StatusCode::BAD_REQUEST, message),
        R::ModelNotFound => (StatusCode::NOT_FOUND, format!("The model `{model}` does not exist or you do not have access to it.")),
        R::ModelNotLoaded => (StatusCode::NOT_FOUND, format!("The model `{model}` is not available on this server: {message}")),
        R::Overloaded => (StatusCode::TOO_MANY_REQUESTS, format!("Capacity temporarily exceeded, please try again. ({message})")),
        R::ServiceUnavailable | R::DeadlinePassed | R::StorageFailed | R::IndexMoving | R::IndexMoved => (StatusCode::SERVICE_UNAVAILABLE, format!("{message} (please retry)")),
        _ => return OpenAiError::from(super::cf::ai_error(ApiError::Upstream { code: tonic::Code::Internal, reason, message, service: "embedder" }, model)),
    };
    OpenAiError { status, message, retry_after: None }
}

/// The vector as little-endian float32 bytes, base64 (what OpenAI clients decode with
/// `np.frombuffer(base64.b64decode(s), dtype="<f4")`).
fn base64_f32(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64(&bytes)
}

/// Standard base64 (RFC 4648 alphabet, `=` padding); small enough not to need a crate.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(chunk[0]) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        out.push(sextet(n, 18));
        out.push(sextet(n, 12));
        out.push(if chunk.len() > 1 { sextet(n, 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n, 0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
    }

}
