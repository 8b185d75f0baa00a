//! Request identity across the hop to gRPC: every response carries `x-request-id` (the caller's,
//! or a new one), and each gRPC call carries it too, so the services' logs line up with the
//! gateway's. The W3C trace context travels separately: the channels are wrapped in
//! `strato_proto::telemetry::Traced`, which sends the current span's.
use axum::http::HeaderMap;
use tonic::metadata::MetadataValue;

/// A gRPC channel whose calls are client spans carrying the W3C trace context (`clients.rs`
/// and `partition.rs` both hold them; neither imports the other's).
pub type Traced = strato_proto::telemetry::Traced<strato_proto::client::Channel>;

#[derive(Debug, Clone)]
pub struct TraceContext {
    pub request_id: String,
}

impl TraceContext {
    pub fn from_headers(h: &HeaderMap) -> Self {
        let request_id = h.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_else(new_id);
        Self { request_id }
    }

    /// Copies the request id into a gRPC request's metadata.
    pub fn inject<T>(&self, req: &mut tonic::Request<T>) {
        if let Ok(v) = MetadataValue::try_from(self.request_id.as_str()) {
            req.metadata_mut().insert("x-request-id", v);
        }
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
