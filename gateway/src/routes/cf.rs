//! The Cloudflare API envelope (spec §4.1) and the one mapping from the services' errors to
//! Cloudflare's error codes, so every REST route answers the way SDKs and wrangler expect. It
//! imports no route module (the router is assembled in `lib.rs`), so every route module can use it.
//!
//! Success: `{"result": …, "success": true, "errors": [], "messages": []}` (HTTP 200).
//! Failure: `{"result": null, "success": false, "errors": [{"code", "message"}], "messages": []}`.
//!
//! Cloudflare publishes no table of Vectorize codes; spec §4.7 lists the observed ones. Where the
//! spec gives no number, the choice below is ours (marked "chosen"):
//!
//! The services put a reason (`strato.errors.v1.ErrorReason`) in every error status; the table
//! keys on it (a status without one, e.g. a transport error, gets the reason of its code):
//!
//! | index-svc reason | HTTP | code | source |
//! |---|---|---|---|
//! | INDEX_NOT_FOUND | 404 | 3000 | spec §4.7 (reports show 400 and 404; 404 chosen) |
//! | METADATA_INDEX_NOT_FOUND | 404 | 40005 | spec §4.7 |
//! | VECTOR_NOT_FOUND (queryById of an unknown id) | 404 | 40004 | chosen |
//! | INDEX_ALREADY_EXISTS | 400 | 3002 | spec §4.7 |
//! | INVALID_QUERY_VECTOR | 400 | 40006 | spec §4.7 |
//! | ID_TOO_LONG | 400 | 40008 | spec §4.7 |
//! | INVALID_VECTOR | 400 | 40012 | spec §4.7 |
//! | TOP_K_TOO_LARGE | 400 | 40025 | spec §4.7 (plain topK > 100: chosen) |
//! | INVALID_INDEX_CONFIG, INVALID_INDEX_NAME | 400 | 3001 | chosen (spec gives the text, no number) |
//! | INVALID_REQUEST | 400 | 40003 | chosen: generic bad request |
//! | OVERLOADED | 429 | 40041 | spec §4.7 (`Too Many Requests`) |
//! | STORAGE_FAILED, SERVICE_UNAVAILABLE, DEADLINE_PASSED | 503 | 1503 | chosen |
//! | MISSING/WRONG_SERVICE_TOKEN | 500 | 1000 | chosen: the gateway's own misconfiguration |
//! | INTERNAL (message replaced by the request id, logged) | 500 | 1000 | chosen |
//!
//! Codes the gateway itself produces (vectorize.rs): 40023 bad NDJSON, 40026 bad JSON body or
//! content type, 3001 invalid config (spec §4.3/§4.7); unknown API path → 404 code 7000 (chosen,
//! after Cloudflare's "No route for that URI").
//!
//! Workers AI (embedder-svc) errors, spec §5.4:
//!
//! | embedder reason | HTTP | code | message |
//! |---|---|---|---|
//! | INVALID_REQUEST | 400 | 5006 | `AiError: Bad input: <message>` |
//! | MODEL_NOT_FOUND | 400 | 5007 | `No such model <name>` |
//! | MODEL_NOT_LOADED (known, files missing) | 400 | 5007 | `No such model <name>: <message>` |
//! | OVERLOADED | 429 | 3040 | `Capacity temporarily exceeded, please try again.` + detail |
//! | SERVICE_UNAVAILABLE, DEADLINE_PASSED | 503 | 1503 | the message (chosen) |
//! | anything else | 500 | 1000 | as for index-svc |
use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use strato_proto::errors::ErrorReason;
use tonic::Code;

use crate::error::ApiError;

/// Code of a message in `messages` (spec §4.1 shows only `{code, message}` objects; 1000 chosen).
pub const MESSAGE_CODE: u32 = 1000;
/// Unknown route (chosen, after Cloudflare's `7000 No route for that URI`).
pub const NO_ROUTE: u32 = 7000;
pub const INDEX_NOT_FOUND: u32 = 3000;
pub const INVALID_CONFIG: u32 = 3001;
pub const DUPLICATE_NAME: u32 = 3002;
pub const BAD_REQUEST: u32 = 40003;
pub const VECTOR_NOT_FOUND: u32 = 40004;
pub const METADATA_INDEX_NOT_FOUND: u32 = 40005;
pub const INVALID_QUERY_VECTOR: u32 = 40006;
pub const ID_TOO_LONG: u32 = 40008;
pub const INVALID_VECTOR: u32 = 40012;
pub const UNPARSABLE_VECTORS: u32 = 40023;
pub const TOP_K_TOO_LARGE: u32 = 40025;
pub const BAD_JSON: u32 = 40026;
pub const TOO_MANY_REQUESTS: u32 = 40041;
pub const UNAVAILABLE: u32 = 1503;
pub const INTERNAL: u32 = 1000;
pub const AI_BAD_INPUT: u32 = 5006;
pub const AI_NO_SUCH_MODEL: u32 = 5007;
pub const AI_OUT_OF_CAPACITY: u32 = 3040;
pub const AUTH_ERROR: u32 = 10000;

/// One `{code, message}` object of `errors` or `messages`.
#[derive(Debug, Clone, Serialize)]
pub struct CfMessage {
    pub code: u32,
    pub message: String,
}

#[derive(Serialize)]
struct Envelope<T: Serialize> {
    result: T,
    success: bool,
    errors: Vec<CfMessage>,
    messages: Vec<CfMessage>,
}

/// A failed API call, rendered as Cloudflare's failure envelope.
#[derive(Debug, Clone)]
pub struct CfError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// `Retry-After` in whole seconds (429 and 503 answers that say when to come back).
    pub retry_after: Option<u64>,
}

impl CfError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// With `Retry-After`, in whole seconds rounded up, at least 1.
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    /// Adds this error's `Retry-After` to a response made of it.
    pub fn with_retry_after(retry_after: Option<u64>, mut r: Response) -> Response {
        if let Some(s) = retry_after {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        r
    }

    /// HTTP 400 with `code`.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 40026 for a body that is not the JSON the endpoint expects (spec §4.7).
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(BAD_JSON, format!("Failed to parse the request body as JSON: {detail}"))
    }

    /// 40026 for a JSON endpoint called with another content type (spec §4.2, workers-sdk#6516).
    pub fn wrong_content_type() -> Self {
        Self::bad_request(BAD_JSON, "Expected request with Content-Type: application/json")
    }

    /// `vectorize.index.invalid_config - <detail>` (spec §4.3), code 3001 (chosen).
    pub fn invalid_config(detail: &str) -> Self {
        Self::bad_request(INVALID_CONFIG, format!("vectorize.index.invalid_config - {detail}"))
    }

    /// Workers AI schema violation (spec §5.4).
    pub fn ai_bad_input(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(AI_BAD_INPUT, format!("AiError: Bad input: {detail}"))
    }
}

impl std::fmt::Display for CfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl IntoResponse for CfError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let body = Envelope {
            result: serde_json::Value::Null,
            success: false,
            errors: vec![CfMessage { code: self.code, message: self.message }],
            messages: Vec::new(),
        };
        CfError::with_retry_after(retry_after, (self.status, Json(body)).into_response())
    }
}

/// `{"result": result, "success": true, "errors": [], "messages": []}`, HTTP 200.
pub fn ok(result: impl Serialize) -> Response {
    ok_with_messages(result, Vec::new())
}

/// As [`ok`], with informational messages (index-svc query warnings, e.g. a filter on a property
/// without a metadata index) as `[{"code": 1000, "message": …}]`.
pub fn ok_with_messages(result: impl Serialize, messages: Vec<String>) -> Response {
    let messages = messages.into_iter().map(|message| CfMessage { code: MESSAGE_CODE, message }).collect();
    let body = Envelope { result, success: true, errors: Vec::new(), messages };
    (StatusCode::OK, Json(body)).into_response()
}

/// An index-svc error (as `Clients::call` returns it) → Cloudflare error (table at the top).
pub fn index_error(e: ApiError) -> CfError {
    upstream_error(e, None)
}

/// An embedder-svc error → Workers AI error; `model` is the requested model name, for 5007's
/// `No such model <name>`.
pub fn ai_error(e: ApiError, model: &str) -> CfError {
    upstream_error(e, Some(model))
}

/// The one mapping of a service's error to Cloudflare's (the tables at the top), by the reason
/// the service put in the status (`strato.errors.v1.ErrorReason`); by the gRPC code alone when
/// there is none (a transport error). `model`: Some for Workers AI routes. The message passes
/// through (index-svc words it as Vectorize does; `Clients::call` already replaced an internal
/// one with the request id).
pub fn upstream_error(e: ApiError, model: Option<&str>) -> CfError {
    use ErrorReason as R;
    let (code, reason, message) = match e {
        ApiError::Upstream { code, reason, message, .. } => (code, reason, message),
        ApiError::BadRequest(m) => (Code::InvalidArgument, R::InvalidRequest, m),
        ApiError::NotFound(m) if model.is_some() => (Code::NotFound, R::ModelNotFound, m),
        ApiError::NotFound(m) => (Code::NotFound, R::VectorNotFound, m),
    };
    let reason = if reason == R::Unspecified { reason_for_code(code) } else { reason };
    let not_found = |c| CfError::new(StatusCode::NOT_FOUND, c, message.clone());
    match reason {
        R::IndexNotFound => not_found(INDEX_NOT_FOUND),
        R::MetadataIndexNotFound => not_found(METADATA_INDEX_NOT_FOUND),
        R::VectorNotFound => not_found(VECTOR_NOT_FOUND),
        R::IndexAlreadyExists => CfError::bad_request(DUPLICATE_NAME, message),
        R::InvalidQueryVector => CfError::bad_request(INVALID_QUERY_VECTOR, message),
        R::IdTooLong => CfError::bad_request(ID_TOO_LONG, message),
        R::InvalidVector => CfError::bad_request(INVALID_VECTOR, message),
        R::TopKTooLarge => CfError::bad_request(TOP_K_TOO_LARGE, message),
        R::InvalidIndexConfig | R::InvalidIndexName => CfError::bad_request(INVALID_CONFIG, message),
        R::InvalidRequest if model.is_some() => CfError::ai_bad_input(message),
        R::InvalidRequest => CfError::bad_request(BAD_REQUEST, message),
        R::ModelNotFound => CfError::bad_request(AI_NO_SUCH_MODEL, format!("No such model {}", model.unwrap_or_default())),
        R::ModelNotLoaded => CfError::bad_request(AI_NO_SUCH_MODEL, format!("No such model {}: {message}", model.unwrap_or_default())),
        R::Overloaded if model.is_some() => CfError::new(
            StatusCode::TOO_MANY_REQUESTS,
            AI_OUT_OF_CAPACITY,
            format!("Capacity temporarily exceeded, please try again. ({message})"),
        ),
        R::Overloaded => CfError::new(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, format!("Too Many Requests: {message}")),
        // A move the gateway could not wait out or follow (its clients follow both): retryable.
        R::StorageFailed | R::ServiceUnavailable | R::DeadlinePassed | R::IndexMoving | R::IndexMoved => {
            unavailable(if model.is_some() { "embedder" } else { "index" }, &message)
        }
        // The gateway's own service token is wrong: the operator's problem, not the caller's.
        R::MissingServiceToken | R::WrongServiceToken => {
            tracing::error!("a service refused the gateway's service token (--service-token): {message}");
            CfError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, "Internal error: the gateway is misconfigured")
        }
        R::Internal | R::Unspecified => CfError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, if message.is_empty() { "Internal error".to_owned() } else { message }),
    }
}

/// The reason a status without details stands for (transport errors, older servers).
pub fn reason_for_code(code: Code) -> ErrorReason {
    use ErrorReason as R;
    match code {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => R::InvalidRequest,
        Code::NotFound => R::VectorNotFound,
        Code::AlreadyExists => R::IndexAlreadyExists,
        Code::ResourceExhausted => R::Overloaded,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => R::ServiceUnavailable,
        Code::Unauthenticated => R::MissingServiceToken,
        Code::PermissionDenied => R::WrongServiceToken,
        Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss | Code::Unimplemented => R::Internal,
    }
}

/// 503 for a service that is down or too slow; `Clients::call` already names the service.
fn unavailable(service: &str, message: &str) -> CfError {
    let message = if message.is_empty() { format!("{service} is unavailable, please retry") } else { format!("{message} (please retry)") };
    CfError::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, message)
}

/// Any unknown path under the API prefixes: 404 in the envelope rather than the tutorial's
/// query fallback (a typo in an SDK base URL should read as such).
pub async fn no_route(uri: Uri) -> CfError {
    CfError::new(StatusCode::NOT_FOUND, NO_ROUTE, format!("No route for that URI: {}", uri.path()))
}
