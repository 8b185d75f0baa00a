//! Request identity across the hop to gRPC: every response carries `x-request-id`, and each gRPC
//! call carries it plus a W3C `traceparent` (the caller's trace id if it sent one, else a new
//! one), so the services' logs line up with the gateway's. OpenTelemetry export builds on this.
use axum::http::HeaderMap;
use tonic::metadata::MetadataValue;

#[derive(Debug, Clone)]
pub struct TraceContext {
    pub request_id: String,
    pub traceparent: String,
}

impl TraceContext {
    pub fn from_headers(h: &HeaderMap) -> Self {
        let request_id = h.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_else(new_id);
        let trace_id = h
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| {
                let parts: Vec<&str> = t.split('-').collect();
                (parts.len() == 4 && parts[1].len() == 32 && parts[1].chars().all(|c| c.is_ascii_hexdigit())).then(|| parts[1].to_owned())
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
        Self { request_id, traceparent: format!("00-{trace_id}-{span_id}-01") }
    }

    /// Copies the context into a gRPC request's metadata.
    pub fn inject<T>(&self, req: &mut tonic::Request<T>) {
        if let Ok(v) = MetadataValue::try_from(self.request_id.as_str()) {
            req.metadata_mut().insert("x-request-id", v);
        }
        if let Ok(v) = MetadataValue::try_from(self.traceparent.as_str()) {
            req.metadata_mut().insert("traceparent", v);
        }
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
