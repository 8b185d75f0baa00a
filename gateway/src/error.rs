//! The gateway's errors. A service's error arrives with its reason (`strato.errors.v1`); its
//! HTTP status and message come from the one Cloudflare table in `routes/cf.rs` (OpenAI routes:
//! `routes/ai.rs`, keyed on the same reasons), so a service that is down is a quick 503, never a
//! hang, and an internal error's text never leaves the gateway's log.
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use strato_proto::errors::ErrorReason;
use tonic::Code;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A service's error: its code, and the reason it put in the status details.
    #[error("{message}")]
    Upstream { code: Code, reason: ErrorReason, message: String, service: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    pub fn upstream(service: &'static str, s: tonic::Status) -> Self {
        ApiError::Upstream { code: s.code(), reason: strato_proto::errors::reason_of(&s), message: s.message().to_owned(), service }
    }

    /// The HTTP status: the Cloudflare table's (`routes::cf::upstream_error`), so every route
    /// answers a failure with the same status.
    pub fn status(&self) -> StatusCode {
        crate::routes::cf::upstream_error(self.clone(), None).status
    }
}

/// The tutorial's routes answer `{"error", "code", "service"}` with the Cloudflare table's status
/// and message (so a hidden internal error stays hidden here too).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let cf = crate::routes::cf::upstream_error(self.clone(), None);
        let status = cf.status;
        let body = match &self {
            ApiError::Upstream { code, service, .. } => json!({ "error": cf.message, "code": format!("{code:?}"), "service": service }),
            other => json!({ "error": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}
