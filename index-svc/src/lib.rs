//! index-svc: Cloudflare Vectorize-compatible indexes over gRPC.
//!
//! Request path: `service.rs` (gRPC ↔ domain, `convert.rs`) → `engine.rs` (validate with
//! `validate.rs`/`filter.rs`, stage in `store.rs`, apply to `state.rs`, wait for a shared fsync in
//! `group_commit.rs`) → `planner.rs` (exact
//! chunks + HNSW segments from `segment.rs`/`hnsw.rs`, kernels in `kernel.rs`). Background:
//! `optimizer.rs` seals and compacts; `recovery.rs` rebuilds memory at start-up.
pub mod config;
pub mod convert;
pub mod engine;
pub mod error;
pub mod filter;
pub mod group_commit;
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

pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let data = config.data_dir.clone();
    let engine_cfg = config.engine.clone();
    let engine = tokio::task::spawn_blocking(move || engine::Engine::open(&data, engine_cfg))
        .await?
        .with_context(|| format!("open data dir {}", config.data_dir.display()))?;

    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<VectorIndexServer<service::IndexService>>().await;

    let (incoming, addr) = strato_proto::serve::bind(config.listen, config.addr_file.as_deref())
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    tracing::info!(%addr, data = %config.data_dir.display(), "index serving");
    let svc = VectorIndexServer::new(service::IndexService::new(engine))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let drain = health.clone();
    strato_proto::serve::grpc_server(health_svc)
        .context("reflection")?
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            drain.set_not_serving::<VectorIndexServer<service::IndexService>>().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}
