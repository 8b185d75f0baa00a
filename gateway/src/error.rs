//! The gateway's errors from calling a service. A service's error arrives with its reason
//! (`strato.errors.v1`); its HTTP status and message come from the one Cloudflare table in
//! `routes/cf.rs` (OpenAI routes: `routes/ai.rs`, keyed on the same reasons), so a service that
//! is down is a quick 503, never a hang, and an internal error's text never leaves the gateway's
//! log. This module depends on no route: the routes depend on it.
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
}
