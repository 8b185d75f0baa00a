//! Logs and traces, set up the same way in every binary.
//!
//! `tracing` spans are the one instrumentation API; `tracing-opentelemetry` turns them into
//! OpenTelemetry spans, and W3C `traceparent` carries the context across every hop (HTTP →
//! gateway → gRPC → embedder / index), so one request is one trace.
//!
//! Export is configured only by the standard variables, as every OpenTelemetry SDK is:
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns OTLP/gRPC export
//! on; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`/`_HEADERS` and `OTEL_BSP_*` do what the spec says;
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off. Unset, nothing is
//! exported and spans are not recorded, but trace ids are still made and passed on, so a caller's
//! trace continues through a Strato that exports nothing.
//!
//! Export never blocks a request: spans go to a bounded queue that a background thread sends in
//! batches (dropped when the queue is full, e.g. while the collector is down); at exit
//! [`Telemetry::shutdown`] sends what is left within [`FLUSH_BOUND`].
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use tonic::codegen::http;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How long shutdown waits for the last spans to reach the collector.
pub const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// Whether this process exports spans (set once by `init`): `Traced` makes a client span only
/// then.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans leave this process (an OTLP endpoint is configured and `init` ran).
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// `tracing::info_span!` for a span that only a trace needs (a query's plan, scans, graph
/// search, rescoring): `Span::none()` in a process that exports nothing, where each such span
/// is only cost (formatted fields and OpenTelemetry's bookkeeping, several µs a query; #27).
#[macro_export]
macro_rules! trace_span {
    ($($arg:tt)*) => {
        if $crate::telemetry::exporting() { ::tracing::info_span!($($arg)*) } else { ::tracing::Span::none() }
    };
}

/// The tracer provider; keep it alive for the process's life and call `shutdown` at exit.
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Sends the spans still queued (bounded by [`FLUSH_BOUND`]); a collector that is down costs
    /// at most that, never an error exit.
    pub async fn shutdown(self) {
        if !self.exporting {
            return;
        }
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_BOUND)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!("spans not flushed at exit: {e}");
        }
    }
}

/// `tracing` to stderr, filtered by `RUST_LOG` (default `default_filter`; spans are filtered by it
/// too), and to OpenTelemetry as `service` unless `OTEL_SERVICE_NAME` names it. Must run inside
/// the Tokio runtime (the OTLP channel lives on it).
pub fn init(service: &str, default_filter: &str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    // Colour only on a terminal, and not there under NO_COLOR (tracing-subscriber's own rule): a
    // pod's log (or a file) gets plain text, without escape codes around every span field.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let (provider, exporting, problem) = provider(service);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("strato"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false);
    tracing_subscriber::registry().with(filter).with(fmt).with(layer).init();
    if let Some(p) = problem {
        tracing::warn!("OpenTelemetry export off: {p}");
    } else if exporting {
        tracing::info!(endpoint = %otlp_endpoint().unwrap_or_default(), "exporting traces over OTLP/gRPC");
    }
    EXPORTING.store(exporting, std::sync::atomic::Ordering::Relaxed);
    Telemetry { provider, exporting }
}

fn otlp_endpoint() -> Option<String> {
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

/// The provider: exporting when the variables ask for it, else one that records nothing.
fn provider(service: &str) -> (SdkTracerProvider, bool, Option<String>) {
    let var = |k: &str| std::env::var(k).unwrap_or_default().trim().to_ascii_lowercase();
    let resource = || {
        let b = opentelemetry_sdk::Resource::builder();
        if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) { b.build() } else { b.with_service_name(service.to_owned()).build() }
    };
    let silent = || SdkTracerProvider::builder().with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))).with_resource(resource()).build();
    if otlp_endpoint().is_none() || var("OTEL_SDK_DISABLED") == "true" || var("OTEL_TRACES_EXPORTER") == "none" {
        return (silent(), false, None);
    }
    let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
        p if !p.is_empty() => p,
        _ => var("OTEL_EXPORTER_OTLP_PROTOCOL"),
    };
    if !protocol.is_empty() && protocol != "grpc" {
        return (silent(), false, Some(format!("OTLP protocol {protocol:?} is not supported; Strato speaks OTLP/gRPC (\"grpc\")")));
    }
    use opentelemetry_otlp::WithExportConfig as _;
    let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    if std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT").is_err() && std::env::var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").is_err() {
        // The spec's 10 s would let one dead collector hold the last flush at exit that long.
        builder = builder.with_timeout(Duration::from_secs(2));
    }
    match builder.build() {
        // The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        Ok(exporter) => (SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource()).build(), true, None),
        Err(e) => (silent(), false, Some(e.to_string())),
    }
}

/// The caller's trace context from HTTP or gRPC headers (empty when it sent none).
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a http::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// Makes `span` a child of the caller's span named in `headers`, if any. Call before the span is
/// first entered.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = extract(headers);
    use opentelemetry::trace::TraceContextExt as _;
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The W3C `traceparent` (and `tracestate`) naming `span`, to send on an outgoing call.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    struct Headers<'a>(&'a mut http::HeaderMap);
    impl Injector for Headers<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(key), http::HeaderValue::try_from(value)) {
                self.0.insert(k, v);
            }
        }
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut Headers(headers));
}

/// A gRPC client channel that gives each call a client span (a child of the current span, named
/// after the method) and sends that span's W3C context, so the service's spans join the
/// caller's trace; in a process that exports nothing, it sends the current span's context.
/// Wrap the channel once: `XClient::new(Traced(channel))`.
#[derive(Clone)]
pub struct Traced<S>(pub S);

impl<S, B, R> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        use tracing::Instrument as _;
        if !exporting() {
            // A span nobody exports is only cost (~10 µs of a query's gateway CPU, issue #27):
            // the call carries the caller's context, so the service's spans still join its trace.
            inject(&tracing::Span::current(), req.headers_mut());
            return Box::pin(self.0.call(req));
        }
        let method = req.uri().path().trim_start_matches('/');
        let span = tracing::info_span!("grpc_client", otel.name = %method, otel.kind = "client", rpc.system = "grpc", rpc.grpc.status_code = tracing::field::Empty);
        inject(&span, req.headers_mut());
        let fut = self.0.call(req).instrument(span.clone());
        Box::pin(async move {
            let res = fut.await;
            span.record("rpc.grpc.status_code", crate::metrics::grpc_code(&res, tonic::Code::Unavailable) as i64);
            res
        })
    }
}
