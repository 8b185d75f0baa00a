//! The admin port every service serves beside its API: `/metrics` (Prometheus text), `/readyz`
//! (503 from the stop signal on, so a Kubernetes httpGet readiness probe takes the pod out of the
//! Service before it stops accepting) and `/livez`. Separate from the API port so that scraping
//! and probes need no API token and can be exposed to the cluster alone.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;

/// Whether the service takes new work; the readiness probe and gRPC health follow it.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Binds `listen` (writing the bound address to `addr_file`) and serves until the process ends:
/// metrics stay scrapeable through the drain.
pub async fn serve(listen: SocketAddr, addr_file: Option<&std::path::Path>, ready: Readiness) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if let Some(p) = addr_file {
        std::fs::write(p, addr.to_string())?;
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(move || {
            let ready = ready.get();
            async move { if ready { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "draining\n") } }
        }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("admin server stopped: {e}");
        }
    });
    tracing::info!(%addr, "admin (metrics, probes) on http://{addr}");
    Ok(addr)
}

async fn metrics() -> impl axum::response::IntoResponse {
    let body = tokio::task::spawn_blocking(crate::metrics::render).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
