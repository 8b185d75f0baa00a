//! The gateway's errors and their one mapping to HTTP: a JSON body with the message, and the
//! status a client can act on (a service that is down is a quick 503, never a hang).
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Upstream { code: Code, message: String, service: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    pub fn upstream(service: &'static str, s: tonic::Status) -> Self {
        ApiError::Upstream { code: s.code(), message: s.message().to_owned(), service }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Upstream { code, .. } => http_status(*code),
        }
    }
}

/// gRPC code → HTTP status, for every route.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Upstream { code, message, service } => {
                let message = if status == StatusCode::SERVICE_UNAVAILABLE && message.is_empty() {
                    format!("{service} is unavailable")
                } else {
                    message.clone()
                };
                json!({ "error": message, "code": format!("{code:?}"), "service": service })
            }
            other => json!({ "error": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}
