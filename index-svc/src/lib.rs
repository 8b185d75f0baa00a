//! index-svc: Cloudflare Vectorize-compatible indexes over gRPC.
//!
//! Request path: `service.rs` (gRPC ↔ domain, `convert.rs`) → `engine.rs`. A mutation: validate
//! (`validate.rs`/`filter.rs`), then in a task no caller can cancel: decide under the index's
//! writer lock (`handle.rs`), stage in `store.rs`, wait for a shared fsync (`group_commit.rs`),
//! apply to `state.rs`. A query: `planner.rs` over exact chunks (`tail.rs`) and HNSW segments
//! (`segment.rs`/`hnsw/`, kernels in `kernel.rs`, segment files mapped by `mapped.rs`).
//! Background: `optimizer.rs` seals, compacts and settles quiet indexes; `recovery.rs`
//! rebuilds memory at start-up.
pub mod backup;
pub mod config;
pub mod convert;
pub mod dump;
pub mod engine;
pub mod error;
pub mod filter;
pub mod group_commit;
pub mod handle;
pub mod hnsw;
pub mod kernel;
pub mod mapped;
pub mod memory;
pub mod metrics;
pub mod optimizer;
pub mod planner;
pub mod recovery;
pub mod segment;
pub mod service;
pub mod state;
pub mod store;
pub mod tables;
pub mod tail;
pub mod topk;
pub mod types;
pub mod validate;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use strato_proto::admin::Readiness;
use strato_proto::index::v1::vector_index_server::VectorIndexServer;

pub use config::{Config, EngineConfig, RescoreReads};

/// 5000 vectors × 1536 dims × 4 bytes plus metadata fits.
/// Largest gRPC message: a 100 MB upload (Vectorize's limit) with 10 KiB of metadata a vector
/// encodes to more than 64 MiB.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Serves until `shutdown`, then drains (see `strato_proto::serve::serve_and_drain`), waits for
/// the mutations under way, joins background work and closes the store. Or until storage fails:
/// then NOT_SERVING at once, writes already answer UNAVAILABLE, and after
/// `--fail-stop-grace-ms` the same drain and an error exit, so the orchestrator restarts the
/// process on what is really on disk.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let token = strato_proto::auth::ServiceToken::new(config.service_token.as_deref());
    token.check_listen("index-svc", config.listen).map_err(anyhow::Error::msg)?;
    let data = config.data_dir.clone();
    let engine_cfg = config.engine.clone();
    if engine_cfg.rescore_reads == RescoreReads::Pread {
        mapped::raise_open_files_limit();
    }
    let faults = store::Faults::new(config.fault_dir.clone());
    let engine = tokio::task::spawn_blocking(move || engine::Engine::open_with_faults(&data, engine_cfg, faults))
        .await?
        .with_context(|| format!("open data dir {}", config.data_dir.display()))?;

    // Weak: the hook lives in a static, and the engine must drop at exit to close the store.
    let (weak, failed) = (Arc::downgrade(&engine), engine.failed());
    metrics::install(move || weak.upgrade().map(|e| (e.overview(), failed.borrow().is_some())), config.metrics_top_indexes);
    let ready = Readiness::default();
    strato_proto::admin::serve(config.admin_listen, config.admin_addr_file.as_deref(), ready.clone())
        .await
        .with_context(|| format!("bind admin {}", config.admin_listen))?;
    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<VectorIndexServer<service::IndexService>>().await;

    let (incoming, addr) = strato_proto::serve::bind(config.listen, config.addr_file.as_deref())
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    tracing::info!(%addr, data = %config.data_dir.display(), "index serving");
    ready.set(true);
    let svc = VectorIndexServer::new(service::IndexService::new(engine.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let svc = tonic::service::interceptor::InterceptedService::new(svc, token.interceptor());
    let mut failed = engine.failed();
    let grace = std::time::Duration::from_millis(config.fail_stop_grace_ms);
    let (why_tx, why_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    let stop = async move {
        let why = tokio::select! {
            _ = shutdown => None,
            f = failed.wait_for(Option::is_some) => f.ok().and_then(|f| f.clone()),
        };
        ready.set(false);
        health.set_not_serving::<VectorIndexServer<service::IndexService>>().await;
        health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        if why.is_some() {
            tokio::time::sleep(grace).await;
        }
        tracing::info!(failed = why.is_some(), "shutting down");
        let _ = why_tx.send(why);
    };
    let server = strato_proto::serve::grpc_server(health_svc, &[SERVICE]).context("reflection")?.add_service(svc);
    let bound = std::time::Duration::from_millis(config.drain_timeout_ms);
    strato_proto::serve::serve_and_drain(|signal| server.serve_with_incoming_shutdown(incoming, signal), stop, bound).await?;
    let why = why_rx.await.ok().flatten();
    // Every mutation runs to its end (acknowledged or not, it is then on disk or not at all);
    // then background work finishes and the store closes cleanly.
    engine.quiesce().await;
    if why.is_some() {
        engine.abandon_background();
    } else {
        let (e, within) = (engine.clone(), std::time::Duration::from_millis(config.background_stop_ms));
        if !tokio::task::spawn_blocking(move || e.shutdown(within)).await? {
            tracing::warn!(waited_ms = config.background_stop_ms, "left the graph build in hand unfinished; the next start redoes it");
        }
    }
    // redb records a clean close when the last handle drops. A gRPC stream's task can still be
    // dropping its finished handler (and its engine handle) a moment after the drain: wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::sync::Arc::strong_count(&engine) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let holders = std::sync::Arc::strong_count(&engine) - 1;
    drop(engine);
    if holders > 0 {
        tracing::warn!(holders, "the store is still in use at exit: the next start repairs it");
    } else {
        tracing::info!("store closed");
    }
    match why {
        Some(why) => anyhow::bail!("storage failed, exiting so that a restart reloads what is on disk: {why}"),
        None => Ok(()),
    }
}

/// The gRPC service's full name (metrics label its methods).
const SERVICE: &str = "strato.index.v1.VectorIndex";

#[cfg(test)]
#[path = "oracle_tests.rs"]
mod oracle_tests;
