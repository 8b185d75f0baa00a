//! index-svc: Cloudflare Vectorize-compatible indexes over gRPC.
//!
//! Request path: `service.rs` (gRPC ↔ domain, `convert.rs`) → `engine.rs`. A mutation: validate
//! (`validate.rs`/`filter.rs`), then in a task no caller can cancel: decide under the index's
//! writer lock (`handle.rs`), stage in `store.rs`, wait for a shared fsync (`group_commit.rs`),
//! apply to `state.rs`. A query: `planner.rs` over exact chunks and HNSW segments
//! (`segment.rs`/`hnsw.rs`, kernels in `kernel.rs`). Background: `optimizer.rs` seals and
//! compacts; `recovery.rs` rebuilds memory at start-up.
pub mod config;
pub mod convert;
pub mod engine;
pub mod error;
pub mod filter;
pub mod group_commit;
pub mod handle;
pub mod hnsw;
pub mod kernel;
pub mod memory;
pub mod optimizer;
pub mod planner;
pub mod recovery;
pub mod segment;
pub mod service;
pub mod state;
pub mod store;
pub mod types;
pub mod validate;

use std::future::Future;

use anyhow::Context;
use strato_proto::index::v1::vector_index_server::VectorIndexServer;

pub use config::{Config, EngineConfig};

/// 5000 vectors × 1536 dims × 4 bytes plus metadata fits.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves until `shutdown`, or until storage fails (then: NOT_SERVING at once, writes already
/// answer UNAVAILABLE, exit with an error after `--fail-stop-grace-ms`, so the orchestrator
/// restarts the process on what is really on disk).
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let token = strato_proto::auth::ServiceToken::new(config.service_token.as_deref());
    token.check_listen("index-svc", config.listen).map_err(anyhow::Error::msg)?;
    let data = config.data_dir.clone();
    let engine_cfg = config.engine.clone();
    let faults = store::Faults::new(config.fault_dir.clone());
    let engine = tokio::task::spawn_blocking(move || engine::Engine::open_with_faults(&data, engine_cfg, faults))
        .await?
        .with_context(|| format!("open data dir {}", config.data_dir.display()))?;

    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<VectorIndexServer<service::IndexService>>().await;

    let (incoming, addr) = strato_proto::serve::bind(config.listen, config.addr_file.as_deref())
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    tracing::info!(%addr, data = %config.data_dir.display(), "index serving");
    let svc = VectorIndexServer::new(service::IndexService::new(engine.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let svc = tonic::service::interceptor::InterceptedService::new(svc, token.interceptor());
    let mut failed = engine.failed();
    let grace = std::time::Duration::from_millis(config.fail_stop_grace_ms);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    let drain = health.clone();
    tokio::spawn(async move {
        let why = tokio::select! {
            _ = shutdown => None,
            f = failed.wait_for(Option::is_some) => f.ok().and_then(|f| f.clone()),
        };
        drain.set_not_serving::<VectorIndexServer<service::IndexService>>().await;
        drain.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        if why.is_some() {
            tokio::time::sleep(grace).await;
        }
        let _ = stop_tx.send(why);
    });
    let (why_tx, why_rx) = tokio::sync::oneshot::channel();
    strato_proto::serve::grpc_server(health_svc)
        .context("reflection")?
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, async move {
            let why = stop_rx.await.ok().flatten();
            tracing::info!(failed = why.is_some(), "shutting down");
            let _ = why_tx.send(why);
        })
        .await?;
    let why = why_rx.await.ok().flatten();
    // Finish background work so the store closes cleanly.
    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.shutdown()).await?;
    match why {
        Some(why) => anyhow::bail!("storage failed, exiting so that a restart reloads what is on disk: {why}"),
        None => Ok(()),
    }
}
