//! Prometheus metrics: the one registry of a process, what every Strato service exports the same
//! way (gRPC requests by method and code, process memory and CPU), and the text a scrape gets.
//!
//! Every family exists from start-up: labelled families are touched for every method a service
//! serves (code `OK`) before the first request, so dashboards and alerts see zeros, not absence.
//! Gauges that are cheaper to read than to keep (memory, vector counts) are filled by the hooks
//! registered with [`on_scrape`], run at each scrape.
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{Encoder as _, HistogramOpts, Opts, Registry};
pub use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use tonic::codegen::http;

/// Latency buckets from 100 µs to ~52 s (doubling): a cached query and a 100-text embedding on
/// CPU both land inside.
pub fn latency_buckets() -> Vec<f64> {
    (0..20).map(|i| 0.0001 * f64::from(1u32 << i)).collect()
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
type Hook = Box<dyn Fn() + Send + Sync>;
static HOOKS: LazyLock<Mutex<Vec<Hook>>> = LazyLock::new(|| Mutex::new(vec![Box::new(process_metrics)]));

/// Registers a collector in the process's registry. Names are fixed at compile time, so a clash
/// is a programming error: it panics at start-up, never later.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    #[allow(clippy::expect_used)]
    REGISTRY.register(Box::new(c.clone())).expect("metric registered twice");
    c
}

pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    #[allow(clippy::expect_used)]
    register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
}

pub fn counter(name: &str, help: &str) -> IntCounter {
    #[allow(clippy::expect_used)]
    register(IntCounter::new(name, help).expect("valid metric"))
}

pub fn gauge(name: &str, help: &str) -> IntGauge {
    #[allow(clippy::expect_used)]
    register(IntGauge::new(name, help).expect("valid metric"))
}

pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    #[allow(clippy::expect_used)]
    register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
}

pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    #[allow(clippy::expect_used)]
    register(HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric"))
}

pub fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    #[allow(clippy::expect_used)]
    register(Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric"))
}

/// Runs `hook` before each scrape (to set gauges read from state).
pub fn on_scrape(hook: impl Fn() + Send + Sync + 'static) {
    if let Ok(mut h) = HOOKS.lock() {
        h.push(Box::new(hook));
    }
}

/// The Prometheus text exposition (format 0.0.4) of everything registered.
pub fn render() -> String {
    if let Ok(hooks) = HOOKS.lock() {
        for h in hooks.iter() {
            h();
        }
    }
    let mut out = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&REGISTRY.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The standard `process_*` families (the names client libraries use, so stock dashboards work),
/// read from /proc at scrape time.
fn process_metrics() {
    struct P {
        rss: IntGauge,
        vsize: IntGauge,
        fds: IntGauge,
        cpu_ms: std::sync::atomic::AtomicU64,
        cpu: prometheus::Counter,
        start: prometheus::Gauge,
    }
    #[allow(clippy::expect_used)]
    static P: LazyLock<P> = LazyLock::new(|| P {
        rss: gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
        vsize: gauge("process_virtual_memory_bytes", "Virtual memory size in bytes."),
        fds: gauge("process_open_fds", "Number of open file descriptors."),
        cpu_ms: std::sync::atomic::AtomicU64::new(0),
        cpu: register(prometheus::Counter::new("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.").expect("valid")),
        start: register(prometheus::Gauge::new("process_start_time_seconds", "Start time of the process since unix epoch in seconds.").expect("valid")),
    });
    let p = &*P;
    let page = 4096;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut f = statm.split_whitespace().map(|v| v.parse::<i64>().unwrap_or(0));
        p.vsize.set(f.next().unwrap_or(0) * page);
        p.rss.set(f.next().unwrap_or(0) * page);
    }
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        p.fds.set(d.count() as i64);
    }
    // /proc/self/stat: fields after the command's closing parenthesis; utime and stime are the
    // 12th and 13th of those, starttime the 20th, in clock ticks (100 Hz on Linux).
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        let ms = ticks * 10;
        let seen = p.cpu_ms.fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
        if ms > seen {
            p.cpu.inc_by((ms - seen) as f64 / 1000.0);
        }
        if p.start.get() == 0.0
            && let Some(boot) = boot_time()
        {
            p.start.set(boot + f.get(19).copied().unwrap_or(0) as f64 / 100.0);
        }
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// gRPC requests by method and status code: a tower layer for `tonic::transport::Server`.
#[derive(Clone)]
pub struct GrpcMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    known: std::sync::Arc<std::collections::HashSet<String>>,
}

impl GrpcMetrics {
    /// Registers the families and touches every method of `services` (full names, e.g.
    /// `strato.index.v1.VectorIndex`), plus health and reflection.
    pub fn new(services: &[&str]) -> Self {
        let requests = counter_vec("strato_grpc_server_requests_total", "gRPC requests finished, by method and status code.", &["method", "code"]);
        let latency = histogram_vec(
            "strato_grpc_server_request_duration_seconds",
            "gRPC request latency until the response head (a unary call's whole work), by method and status code.",
            &["method", "code"],
            latency_buckets(),
        );
        let mut known = std::collections::HashSet::new();
        for path in methods(services) {
            requests.with_label_values(&[path.as_str(), "OK"]);
            latency.with_label_values(&[path.as_str(), "OK"]);
            known.insert(path);
        }
        Self { requests, latency, known: std::sync::Arc::new(known) }
    }

    /// The method label: known methods only, so that random paths cannot grow the series.
    fn label(&self, path: &str) -> String {
        let m = path.trim_start_matches('/');
        if self.known.contains(m) { m.to_owned() } else { "unknown".to_owned() }
    }
}

/// `package.Service/Method` of every method of `services` and of grpc.health.v1.Health.
fn methods(services: &[&str]) -> Vec<String> {
    use prost::Message as _;
    let mut out = Vec::new();
    for set in [crate::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else { continue };
        for file in set.file {
            for svc in &file.service {
                let full = format!("{}.{}", file.package(), svc.name());
                if services.contains(&full.as_str()) || full == "grpc.health.v1.Health" {
                    out.extend(svc.method.iter().map(|m| format!("{full}/{}", m.name())));
                }
            }
        }
    }
    out
}

impl<S> tower::Layer<S> for GrpcMetrics {
    type Service = GrpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, metrics: self.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: GrpcMetrics,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = self.metrics.label(req.uri().path());
        let m = self.metrics.clone();
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = format!("{:?}", tonic::Code::from(grpc_code(&res, tonic::Code::Unknown)));
            let code = code_name(&code);
            m.requests.with_label_values(&[method.as_str(), code.as_str()]).inc();
            m.latency.with_label_values(&[method.as_str(), code.as_str()]).observe(start.elapsed().as_secs_f64());
            res
        })
    }
}

/// A gRPC call's status code from its response head: an error's is there (tonic answers errors
/// trailers-only); a success's comes in the trailers, so none in the head means OK. A transport
/// failure counts as `on_error`.
pub(crate) fn grpc_code<R, E>(res: &Result<http::Response<R>, E>, on_error: tonic::Code) -> i32 {
    match res {
        Ok(r) => r.headers().get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(_) => on_error as i32,
    }
}

/// `DeadlineExceeded` → `DEADLINE_EXCEEDED`, the name gRPC's docs and other servers use.
fn code_name(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_grpc_spelling() {
        assert_eq!(code_name("Ok"), "OK");
        assert_eq!(code_name("DeadlineExceeded"), "DEADLINE_EXCEEDED");
        assert_eq!(code_name("InvalidArgument"), "INVALID_ARGUMENT");
    }

    #[test]
    fn every_method_of_a_service_is_known() {
        let m = methods(&["strato.index.v1.VectorIndex"]);
        assert!(m.iter().any(|p| p == "strato.index.v1.VectorIndex/Query"), "{m:?}");
        assert!(m.iter().any(|p| p == "grpc.health.v1.Health/Check"), "{m:?}");
        assert!(!m.iter().any(|p| p.starts_with("strato.embedder")), "{m:?}");
    }
}
