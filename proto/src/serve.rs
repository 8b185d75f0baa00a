//! What every Strato binary does the same way: log setup, the shutdown signal, and the gRPC
//! health + reflection services.
use std::future::Future;

/// `tracing` to stderr, filtered by `RUST_LOG` (default `default_filter`).
pub fn init_tracing(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
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

/// A gRPC server with what every Strato service serves besides its own API: per-request spans,
/// grpc.health.v1 and reflection.
pub fn grpc_server<H: tonic_health::pb::health_server::Health>(
    health: tonic_health::pb::health_server::HealthServer<H>,
) -> Result<tonic::transport::server::Router, tonic_reflection::server::Error> {
    let (v1, v1alpha) = reflection()?;
    Ok(tonic::transport::Server::builder().trace_fn(request_span).add_service(health).add_service(v1).add_service(v1alpha))
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

/// The span every gRPC request runs in: its method, and the caller's request id and W3C trace
/// context (the gateway sends both), so one request's lines line up across the three services.
pub fn request_span(req: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    tracing::info_span!(
        "grpc",
        method = %req.uri().path(),
        request_id = %header("x-request-id"),
        traceparent = %header("traceparent"),
    )
}
