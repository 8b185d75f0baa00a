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
use serde_json::{Map, Value};
use strato_proto::embedder::v1 as epb;

use super::cf::{self, CfError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::TraceContext;

/// Workers AI's per-request limit on texts (spec §5.2); also embedder-svc's per-call limit.
const MAX_TEXTS: usize = 100;
/// OpenAI's limit on `input` items; longer arrays are embedded in chunks of [`MAX_TEXTS`].
const MAX_OPENAI_INPUTS: usize = 2048;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/client/v4/accounts/{account_id}/ai/run/{*model}", post(run))
        .route("/accounts/{account_id}/ai/run/{*model}", post(run))
        .route("/client/v4/accounts/{account_id}/ai/v1/embeddings", post(openai_embeddings))
        .route("/accounts/{account_id}/ai/v1/embeddings", post(openai_embeddings))
        .route("/v1/embeddings", post(openai_embeddings))
        // 2048 inputs (OpenAI's array limit) of long texts outgrow axum's 2 MiB default.
        .layer(axum::extract::DefaultBodyLimit::max(AI_BODY_LIMIT))
}

/// Largest embeddings request body: 2048 texts of ~8 KiB each, with JSON framing.
const AI_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// embedder-svc `Embed`, idempotent (retried on UNAVAILABLE).
async fn embed(st: &AppState, ctx: &TraceContext, model: &str, texts: Vec<String>, pooling: epb::Pooling) -> Result<epb::EmbedResponse, ApiError> {
    let req = epb::EmbedRequest { model: model.to_owned(), texts, pooling: pooling as i32 };
    st.clients
        .call("embedder", ctx, true, |d| {
            let mut c = st.clients.embedder.clone();
            let r = st.clients.request(ctx, req.clone(), d);
            async move { c.embed(r).await }
        })
        .await
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
    pooling: &'static str,
}

struct RunInput {
    texts: Vec<String>,
    pooling: epb::Pooling,
}

/// `{text: string | string[], pooling?: "mean" | "cls"}` → `{shape, data, pooling}` (spec §5.2).
/// `pooling` is always echoed, also when not requested (guess, spec §9). Values are float32 as
/// computed (shortest round-trip form), which is what an index stores.
async fn run(State(st): State<AppState>, Path(p): Path<RunPath>, headers: HeaderMap, body: Bytes) -> Result<Response, CfError> {
    let input = run_input(&body)?;
    let requested = input.pooling;
    let ctx = TraceContext::from_headers(&headers);
    let r = embed(&st, &ctx, &p.model, input.texts, input.pooling).await.map_err(|e| cf::ai_error(e, &p.model))?;
    let data: Vec<Vec<f32>> = r.data.into_iter().map(|v| v.values).collect();
    let dims = data.first().map_or(0, Vec::len);
    let shape = match r.shape.as_slice() {
        [n, d] => [*n, *d],
        _ => [u32::try_from(data.len()).unwrap_or(u32::MAX), u32::try_from(dims).unwrap_or(u32::MAX)],
    };
    let pooling = match epb::Pooling::try_from(r.pooling) {
        Ok(epb::Pooling::Cls) => "cls",
        Ok(epb::Pooling::Mean) => "mean",
        _ if requested == epb::Pooling::Cls => "cls",
        _ => "mean",
    };
    Ok(cf::ok(RunResult { shape, data, pooling }))
}

/// The AI binding's `run` (`routes/worker.rs`): this handler on the binding's `inputs`.
pub(super) async fn binding_run(st: AppState, model: String, headers: HeaderMap, inputs: Bytes) -> Result<Response, CfError> {
    run(State(st), Path(RunPath { model }), headers, inputs).await
}

/// Validates the bge-*-en-v1.5 input schema (spec §5.2). Violations are 5006
/// `AiError: Bad input: …` (spec §5.4); the detail wording is ours (guess).
fn run_input(body: &[u8]) -> Result<RunInput, CfError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| CfError::ai_bad_input(format!("Error: the body is not valid JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(CfError::ai_bad_input("Error: Type mismatch of '/', 'object' expected"));
    };
    if obj.contains_key("requests") {
        return Err(CfError::ai_bad_input(
            "Error: async batch requests ({\"requests\": [...]}) are not supported by this server; send {\"text\": ...} instead",
        ));
    }
    let texts = match obj.get("text") {
        None | Some(Value::Null) => return Err(CfError::ai_bad_input("Error: oneOf at '/' not met, required property 'text' is missing")),
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err(CfError::ai_bad_input("Error: oneOf at '/' not met, '/text' must NOT have fewer than 1 characters"));
            }
            vec![s.clone()]
        }
        Some(Value::Array(items)) => text_array(items)?,
        Some(_) => return Err(CfError::ai_bad_input("Error: oneOf at '/' not met, Type mismatch of '/text', 'string,array' expected")),
    };
    Ok(RunInput { texts, pooling: pooling(&obj)? })
}

/// `text` as an array: 1..=100 non-empty strings.
fn text_array(items: &[Value]) -> Result<Vec<String>, CfError> {
    if items.is_empty() {
        return Err(CfError::ai_bad_input("Error: oneOf at '/' not met, '/text' must NOT have fewer than 1 items"));
    }
    if items.len() > MAX_TEXTS {
        return Err(CfError::ai_bad_input(format!("Error: oneOf at '/' not met, '/text' must NOT have more than {MAX_TEXTS} items")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::String(_) => Err(CfError::ai_bad_input(format!("Error: oneOf at '/' not met, '/text/{i}' must NOT have fewer than 1 characters"))),
            _ => Err(CfError::ai_bad_input(format!("Error: oneOf at '/' not met, Type mismatch of '/text/{i}', 'string' expected"))),
        })
        .collect()
}

/// `pooling`: absent → the model's default (mean for BGE, as Workers AI does).
fn pooling(obj: &Map<String, Value>) -> Result<epb::Pooling, CfError> {
    match obj.get("pooling") {
        None | Some(Value::Null) => Ok(epb::Pooling::Unspecified),
        Some(Value::String(s)) if s == "mean" => Ok(epb::Pooling::Mean),
        Some(Value::String(s)) if s == "cls" => Ok(epb::Pooling::Cls),
        Some(_) => Err(CfError::ai_bad_input("Error: '/pooling' must be equal to one of the allowed values: mean, cls")),
    }
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

struct OpenAiInput {
    model: String,
    texts: Vec<String>,
    base64: bool,
    dimensions: Option<u64>,
}

/// `{model, input: string | string[], encoding_format?, dimensions?}` (spec §5.6). Inputs longer
/// than Workers AI's 100 texts are embedded in chunks of 100 (OpenAI clients such as LangChain
/// send up to 1000 at once). `usage` is the embedder's token count.
async fn openai_embeddings(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<EmbeddingList>, OpenAiError> {
    let input = openai_input(&body)?;
    let ctx = TraceContext::from_headers(&headers);
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(input.texts.len());
    let mut tokens = 0u64;
    for chunk in input.texts.chunks(MAX_TEXTS) {
        let r = embed(&st, &ctx, &input.model, chunk.to_vec(), epb::Pooling::Unspecified)
            .await
            .map_err(|e| openai_error(e, &input.model))?;
        tokens += r.token_count;
        vectors.extend(r.data.into_iter().map(|v| v.values));
        check_dimensions(input.dimensions, &vectors)?;
    }
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

fn openai_input(body: &[u8]) -> Result<OpenAiInput, OpenAiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| OpenAiError::bad(format!("We could not parse the JSON body of your request. ({e})")))?;
    let Value::Object(obj) = v else {
        return Err(OpenAiError::bad("The request body must be a JSON object."));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(OpenAiError::bad("you must provide a model parameter")),
    };
    let texts = match obj.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_OPENAI_INPUTS => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| OpenAiError::bad("'input' must be a string or an array of strings (token arrays are not supported)."))?,
        Some(Value::Array(items)) => {
            return Err(OpenAiError::bad(format!("'input' must have between 1 and {MAX_OPENAI_INPUTS} items, got {}.", items.len())));
        }
        _ => return Err(OpenAiError::bad("'input' is a required property and must be a string or an array of strings.")),
    };
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(OpenAiError::bad(format!("'input[{i}]' must not be empty.")));
    }
    let base64 = match obj.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(other) => return Err(OpenAiError::bad(format!("Invalid value for 'encoding_format': {other}. Supported values are: 'float' and 'base64'."))),
    };
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(d) => Some(d.as_u64().filter(|d| *d > 0).ok_or_else(|| OpenAiError::bad("'dimensions' must be a positive integer."))?),
    };
    Ok(OpenAiInput { model, texts, base64, dimensions })
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
        R::ServiceUnavailable | R::DeadlinePassed | R::StorageFailed => (StatusCode::SERVICE_UNAVAILABLE, format!("{message} (please retry)")),
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

    #[test]
    fn run_input_schema() {
        assert_eq!(run_input(br#"{"text":"a"}"#).map(|i| i.texts).ok(), Some(vec!["a".to_owned()]));
        let i = run_input(br#"{"text":["a","b"],"pooling":"cls"}"#).expect("array");
        assert_eq!((i.texts.len(), i.pooling), (2, epb::Pooling::Cls));
        for bad in [r#"{"text":""}"#, r#"{"text":[]}"#, r#"{"text":["a",""]}"#, r#"{"text":1}"#, r#"{}"#, r#"{"text":"a","pooling":"max"}"#, r#"{"requests":[]}"#] {
            let e = run_input(bad.as_bytes()).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.code, cf::AI_BAD_INPUT, "{bad}");
            assert!(e.message.starts_with("AiError: Bad input: "), "{bad}");
        }
    }

    #[test]
    fn openai_input_forms() {
        let i = openai_input(br#"{"model":"m","input":["a","b"],"encoding_format":"base64"}"#).expect("ok");
        assert_eq!((i.texts.len(), i.base64), (2, true));
        for bad in [r#"{"input":"a"}"#, r#"{"model":"m","input":[1,2]}"#, r#"{"model":"m","input":[]}"#, r#"{"model":"m","input":"a","encoding_format":"hex"}"#] {
            assert!(openai_input(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
