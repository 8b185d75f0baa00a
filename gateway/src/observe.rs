//! What the gateway tells about each request: a span that continues the caller's W3C trace (or
//! starts one), named after the route, and metrics by route, method and status. Every label
//! comes from a closed set, so nothing a client sends can grow the series: the route is the
//! matched template (`/client/v4/accounts/{account_id}/…`), never the raw path; the method is a
//! standard one or `other` (HTTP lets a client send any token as a method); the status is one
//! the gateway chose to answer (a code, not its class: operators alert on 429 apart from 503).
use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use strato_proto::metrics::{HistogramVec, IntCounterVec, IntGauge, counter_vec, gauge, histogram_vec, latency_buckets};
use tracing::Instrument as _;
use tracing::field::Empty;

struct Families {
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| Families {
    requests: counter_vec("strato_http_requests_total", "HTTP requests answered, by route template, method and status.", &["route", "method", "status"]),
    latency: histogram_vec(
        "strato_http_request_duration_seconds",
        "HTTP request latency until the response head, by route template, method and status.",
        &["route", "method", "status"],
        latency_buckets(),
    ),
    in_flight: gauge("strato_http_requests_in_flight", "HTTP requests being served."),
});

/// Registers the families with a zero series for every documented route (OpenAPI), status 200.
pub fn install() {
    let f = &*FAMILIES;
    let doc = crate::routes::openapi::document();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m.to_ascii_uppercase()) {
            if matches!(method.as_str(), "GET" | "POST" | "PUT" | "DELETE" | "PATCH") {
                f.requests.with_label_values(&[path.as_str(), method.as_str(), "200"]);
                f.latency.with_label_values(&[path.as_str(), method.as_str(), "200"]);
            }
        }
    }
}

/// The route label: the matched template; the tutorial's catch-all answers any other path, and
/// counts as `/` when it is `/`, else as `/{*path}`.
fn route(req: &Request) -> String {
    match req.extensions().get::<MatchedPath>() {
        Some(m) => m.as_str().to_owned(),
        None if req.uri().path() == "/" => "/".to_owned(),
        None => "/{*path}".to_owned(),
    }
}

/// Middleware (added with `Router::layer`, so the matched route is known): the request's span
/// and metrics.
pub async fn request(req: Request, next: Next) -> Response {
    let route = route(&req);
    let method = method_label(req.method());
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        request_id = %request_id,
    );
    strato_proto::telemetry::continue_trace(&span, req.headers());
    let f = &*FAMILIES;
    let in_flight = InFlight::enter(&f.in_flight);
    let started = Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    drop(in_flight);
    let status = res.status().as_u16();
    span.record("http.response.status_code", status);
    let status = status.to_string();
    let labels = [route.as_str(), method, status.as_str()];
    f.requests.with_label_values(&labels).inc();
    let took = started.elapsed();
    f.latency.with_label_values(&labels).observe(took.as_secs_f64());
    // The time the gateway spent until the response head: what the console shows per step
    // (embed, query), readable by any client without a tracing backend. Appended: a route's own
    // entries (the tutorial's embed and query) stay first.
    let mut res = res;
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("gateway;dur={:.1}", took.as_secs_f64() * 1e3)) {
        res.headers_mut().append("server-timing", v);
    }
    res
}

/// The request latency family, for the console's summary (`summary.rs`).
pub(crate) fn latency_family() -> &'static HistogramVec {
    &FAMILIES.latency
}

/// The method as a label: one of HTTP's standard methods, or `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts a request in flight until dropped (also when the client goes away mid-request).
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(g: &'a IntGauge) -> Self {
        g.inc();
        Self(g)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn made_up_methods_are_other() {
        let m = axum::http::Method::from_bytes("X".repeat(4096).as_bytes()).expect("a token");
        assert_eq!(super::method_label(&m), "other");
        assert_eq!(super::method_label(&axum::http::Method::DELETE), "DELETE");
    }
}
