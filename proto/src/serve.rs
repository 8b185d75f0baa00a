//! What every Strato binary does the same way: the stop signal and the drain after it, and the
//! gRPC server with health, reflection, per-request spans and metrics. (Logs and traces:
//! `telemetry.rs`; metrics and the admin port: `metrics.rs`, `admin.rs`.)
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tower::layer::util::{Identity, Stack};

/// A service binary's `main`: a multi-thread runtime (`worker_threads` 0 = one per core),
/// logs and traces (`telemetry::init`), `run` to its end, the last spans flushed, and an exit that
/// does not wait for blocking threads that never end (tokio's stdin reader, when the process
/// stops for another reason than stdin closing). `run` has closed what needs closing.
pub fn main<F, T>(service: &str, default_filter: &str, worker_threads: usize, run: impl FnOnce() -> F) -> std::io::Result<T>
where
    F: Future<Output = T>,
{
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if worker_threads > 0 {
        rt.worker_threads(worker_threads);
    }
    let rt = rt.enable_all().build()?;
    let out = rt.block_on(async {
        let telemetry = crate::telemetry::init(service, default_filter);
        let out = run().await;
        telemetry.shutdown().await;
        out
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(out)
}

/// Ctrl-C, SIGTERM, or (when asked) standard input closing because the supervising parent died
/// (tests and the dev script tie services to themselves this way).
pub fn shutdown_signal(stdin_eof: bool) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        let eof = async {
            if !stdin_eof {
                return std::future::pending().await;
            }
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {}, _ = eof => {} }
    }
}

/// Binds `listen` and writes the bound address to `addr_file` (tests and scripts use port 0).
/// Accepted sockets get TCP_NODELAY: with Nagle and delayed ACK every small reply waited ~40 ms
/// (measured: sockets handed to `serve_with_incoming` never see `Server::tcp_nodelay`).
pub async fn bind(
    listen: std::net::SocketAddr,
    addr_file: Option<&std::path::Path>,
) -> std::io::Result<(tonic::transport::server::TcpIncoming, std::net::SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = addr_file {
        std::fs::write(path, addr.to_string())?;
    }
    Ok((tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)), addr))
}

/// A gRPC server with what every Strato service serves besides its own API: per-request spans
/// continuing the caller's trace, request metrics by method and code (`services` are the full
/// names of the API services, e.g. `strato.index.v1.VectorIndex`), grpc.health.v1 and reflection.
pub fn grpc_server<H: tonic_health::pb::health_server::Health>(
    health: tonic_health::pb::health_server::HealthServer<H>,
    services: &[&str],
) -> Result<tonic::transport::server::Router<Stack<crate::metrics::GrpcMetrics, Identity>>, tonic_reflection::server::Error> {
    let (v1, v1alpha) = reflection()?;
    Ok(tonic::transport::Server::builder()
        .trace_fn(request_span)
        .layer(crate::metrics::GrpcMetrics::new(services))
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha))
}

/// Runs a server until `stop`, then drains it: `serve` gets the future that tells the server to
/// stop accepting (it must finish the requests in flight, as tonic's and axum's graceful shutdown
/// do); they get `bound` to finish, and whatever still runs then is cut. True when everything in
/// flight finished. Readiness should already say NOT_SERVING when `stop` resolves.
pub async fn serve_and_drain<S, E>(
    serve: impl FnOnce(Pin<Box<dyn Future<Output = ()> + Send>>) -> S,
    stop: impl Future<Output = ()> + Send + 'static,
    bound: Duration,
) -> Result<bool, E>
where
    S: Future<Output = Result<(), E>>,
{
    let (stopped_tx, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = serve(Box::pin(async move {
        stop.await;
        let _ = stopped_tx.send(());
    }));
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => return r.map(|()| true),
        _ = stopped => {}
    }
    tracing::info!(bound_ms = bound.as_millis() as u64, "draining: no new connections; requests in flight may finish");
    match tokio::time::timeout(bound, server).await {
        Ok(r) => r.map(|()| true),
        Err(_) => {
            tracing::warn!(bound_ms = bound.as_millis() as u64, "drain bound passed: requests still in flight are cut");
            Ok(false)
        }
    }
}

/// gRPC reflection, v1 and v1alpha (clients still ask for either), over Strato's packages and
/// grpc.health.v1.
pub fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<impl tonic_reflection::server::v1alpha::ServerReflection>,
    ),
    tonic_reflection::server::Error,
> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok((v1, v1alpha))
}

/// The span every gRPC request runs in: a child of the caller's span (W3C `traceparent`), named
/// after the method as OpenTelemetry's RPC conventions ask, with the caller's request id, so one
/// request is one trace and its log lines line up across the three services.
pub fn request_span(req: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    let method = req.uri().path().trim_start_matches('/');
    let span = tracing::info_span!(
        "grpc",
        otel.name = %method,
        otel.kind = "server",
        rpc.system = "grpc",
        request_id = %request_id,
    );
    crate::telemetry::continue_trace(&span, req.headers());
    span
}
