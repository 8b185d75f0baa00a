//! embedder-svc: Workers AI text-embedding models over gRPC.
//!
//! Request path, file by file: `service.rs` (gRPC ↔ domain) → `model.rs` (validate, admit,
//! tokenize) → `batcher.rs` (dynamic batching, a worker thread per session) → `backend.rs` (ONNX
//! Runtime) → `pooling.rs`. `catalogue.rs` names the models; `error.rs` maps errors to status.
pub mod backend;
pub mod batcher;
pub mod catalogue;
pub mod config;
pub mod error;
pub mod metrics;
pub mod model;
pub mod pooling;
pub mod recipe;
pub mod safetensors;
pub mod service;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use strato_proto::embedder::v1::embedder_server::EmbedderServer;
use tonic_health::ServingStatus;

pub use config::Config;

/// Largest gRPC message accepted: 100 texts of the longest inputs fit with room to spare.
/// Largest gRPC message: 100 texts of up to 256 KiB each (the gateway cuts longer ones; the
/// models read no more than 512 tokens ≤ 205 KB), with room.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Loads the models, binds, serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let runtime = backend::init_runtime(&config.ort_lib)?;
    let dirs = catalogue::discover(&config.models_dir)?;
    let backend = backend::BackendOptions {
        device: config.device,
        cuda_device_id: config.cuda_device_id,
        intra_threads: config.intra_threads,
        sessions: config.sessions,
    };
    let limits = batcher::BatchLimits {
        max_batch_tokens: config.max_batch_tokens,
        max_batch_texts: config.max_batch_texts,
        max_padding_pct: usize::from(config.max_batch_padding_pct),
    };
    let registry = tokio::task::block_in_place(|| {
        model::Registry::load(&runtime, &dirs, &config.models, backend, limits, model::Admission::new(config.max_queued_texts, config.max_queued_bytes))
    });
    let models = registry.models();
    if !models.iter().any(|m| m.loaded) {
        anyhow::bail!(
            "no model could be loaded from {} (run scripts/provision.sh; details above)",
            config.models_dir.display()
        );
    }
    let registry = Arc::new(registry);

    metrics::install();
    let ready = strato_proto::admin::Readiness::default();
    strato_proto::admin::serve(config.admin_listen, config.admin_addr_file.as_deref(), ready.clone())
        .await
        .with_context(|| format!("bind admin {}", config.admin_listen))?;
    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<EmbedderServer<service::EmbedderService>>().await;
    // Per-model readiness: the health service name is the model name.
    for m in &models {
        let status = if m.loaded { ServingStatus::Serving } else { ServingStatus::NotServing };
        health.set_service_status(&m.name, status).await;
    }

    let token = strato_proto::auth::ServiceToken::new(config.service_token.as_deref());
    token.check_listen("embedder-svc", config.listen).map_err(anyhow::Error::msg)?;
    let (incoming, addr) = strato_proto::serve::bind(config.listen, config.addr_file.as_deref())
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    tracing::info!(%addr, models = ?models.iter().filter(|m| m.loaded).map(|m| &m.name).collect::<Vec<_>>(), "embedder serving");
    ready.set(true);

    let svc = EmbedderServer::new(service::EmbedderService::new(registry.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let svc = tonic::service::interceptor::InterceptedService::new(svc, token.interceptor());
    let stop = async move {
        shutdown.await;
        ready.set(false);
        health.set_not_serving::<EmbedderServer<service::EmbedderService>>().await;
        health.set_service_status("", ServingStatus::NotServing).await;
        for m in &models {
            health.set_service_status(&m.name, ServingStatus::NotServing).await;
        }
        tracing::info!("shutting down");
    };
    let server = strato_proto::serve::grpc_server(health_svc, &["strato.embedder.v1.Embedder"]).context("reflection")?.add_service(svc);
    let bound = std::time::Duration::from_millis(config.drain_timeout_ms);
    // Requests in flight hold their texts' places in the queue: draining them finishes every
    // queued embedding. Then the batch workers are stopped and joined.
    strato_proto::serve::serve_and_drain(|signal| server.serve_with_incoming_shutdown(incoming, signal), stop, bound).await?;
    tokio::task::spawn_blocking(move || registry.stop()).await?;
    Ok(())
}
