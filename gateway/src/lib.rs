//! gateway: HTTP in front of embedder-svc and index-svc.
//!
//! Request path: `routes/*.rs` (one file per API surface) → `bindings.rs` (the Worker bindings on
//! gRPC) → `clients.rs` (deadlines, retries, balancing, trace context) → the services.
//! `model.rs` decides which model the AI binding serves; `error.rs` maps failures to HTTP.
pub mod bindings;
pub mod cli;
pub mod clients;
pub mod config;
pub mod error;
pub mod model;
pub mod routes;
pub mod shapes;
pub mod state;
pub mod trace;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::Config;
use state::AppState;

pub fn router(st: AppState, tokens: routes::auth::Tokens) -> Router {
    // CORS outermost: preflights are answered before authentication.
    let cors = routes::cors::layer(&st.cfg.cors_origins);
    let router = Router::new()
        .merge(routes::cf::api_routes(Arc::new(tokens)))
        .route("/insert", get(routes::tutorial::insert_stories).post(routes::tutorial::insert_custom))
        .route("/__strato/status", get(routes::status::status))
        .route("/openapi.json", get(routes::openapi::openapi))
        .fallback(routes::tutorial::query_or_favicon)
        .with_state(st)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    match cors {
        Some(l) => router.layer(l),
        None => router,
    }
}

pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let clients = clients::Clients::new(&cfg)?;
    let model = model::ModelChoice::new(&cfg.ai_model, &cfg.fallback_model);
    model.resolve_in_background(clients.clone());
    let st = AppState { clients, cfg: Arc::new(cfg.clone()), model };
    if cfg.create_index {
        ensure_index(&st).await?;
    }
    let joined = cfg.api_tokens.join(",");
    let tokens = routes::auth::Tokens::load(cfg.api_tokens_file.as_deref(), Some(joined.as_str()))?;
    if tokens.is_empty() {
        anyhow::ensure!(
            cfg.listen.ip().is_loopback(),
            "no API token configured (--api-token / --api-tokens-file): refusing to serve the API on {} beyond loopback",
            cfg.listen
        );
        tracing::warn!("no API token configured: the Cloudflare and OpenAI routes are open; serving on loopback only");
    }
    // Replies are small: no Nagle delay on accepted sockets.
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("bind {}", cfg.listen))?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let addr = listener.local_addr().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = &cfg.addr_file {
        std::fs::write(p, addr.to_string())?;
    }
    tracing::info!(%addr, index = %cfg.binding_index, model = %cfg.ai_model, "gateway serving on http://{addr}");
    axum::serve(listener, router(st, tokens)).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// Creates the binding's index with the serving model's dimensions (cosine) when missing.
async fn ensure_index(st: &AppState) -> anyhow::Result<()> {
    use strato_proto::index::v1 as ipb;
    let ctx = trace::TraceContext { request_id: "startup".into(), traceparent: String::new() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let model = loop {
        match st.model.get(&st.clients, &ctx).await {
            Ok(m) => break m,
            Err(e) if std::time::Instant::now() > deadline => anyhow::bail!("embedder not ready: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    };
    let mut c = st.clients.index.clone();
    let r = ipb::CreateIndexRequest {
        account: st.cfg.binding_account.clone(),
        name: st.cfg.binding_index.clone(),
        dimensions: model.dimensions,
        metric: ipb::Metric::Cosine as i32,
        description: format!("created by the gateway for {}", model.serving),
    };
    loop {
        match c.create_index(r.clone()).await {
            Ok(_) => {
                tracing::info!(index = %r.name, dims = r.dimensions, "created the binding's index");
                return Ok(());
            }
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                let info = c.get_index(ipb::IndexRef { account: r.account.clone(), name: r.name.clone() }).await?.into_inner();
                if info.dimensions != model.dimensions {
                    tracing::warn!(index = %r.name, "index has {} dimensions but {} gives {}: queries will fail", info.dimensions, model.serving, model.dimensions);
                }
                return Ok(());
            }
            Err(s) if s.code() == tonic::Code::Unavailable && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(s) => anyhow::bail!("cannot create index {}: {}", r.name, s.message()),
        }
    }
}
