//! gateway: HTTP in front of embedder-svc and index-svc.
//!
//! Request path: `routes/*.rs` (one file per API surface) → `bindings.rs` (the Worker bindings on
//! gRPC) → `clients.rs` (deadlines, retries, balancing, trace context) → the services.
//! `model.rs` decides which model the AI binding serves; `error.rs` maps failures to HTTP.
pub mod bindings;
pub mod body;
pub mod budget;
pub mod cli;
pub mod clients;
pub mod config;
pub mod conn;
pub mod error;
pub mod floats;
pub mod limits;
pub mod model;
pub mod ndjson;
pub mod observe;
pub mod partition;
pub mod routes;
pub mod shapes;
pub mod state;
pub mod summary;
pub mod trace;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use config::Config;
use state::AppState;

/// The whole HTTP surface. Layers, outermost first: CORS (preflights answered before anything
/// else), request id (a sane one), the request's span and metrics (`observe.rs`), a refusal's
/// read of a small unread body (`body.rs`), admission
/// against the places and the memory budget (`budget.rs`), then the edge (`routes/edge.rs`):
/// the open mode's loopback-and-no-cross-site rules (only without tokens), account-id syntax,
/// and axum's rejections re-said in each surface's error shape. Auth sits with the routes
/// (`routes/auth.rs`; the public tutorial's rules in `routes/public.rs`).
pub fn router(st: AppState, tokens: routes::auth::Tokens) -> Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    use axum::routing::any;
    use routes::{auth, edge, public};
    let tokens = Arc::new(tokens);
    let open = tokens.is_empty();
    let cors = routes::cors::layer(&st.cfg.cors_origins);
    let admission = budget::Admission::new(st.cfg.max_concurrent_requests, st.cfg.memory_budget_bytes()).tokenless_apart(tokens.clone(), st.cfg.tokenless_max_concurrent);
    let body_idle_ms = st.cfg.body_idle_timeout_ms;
    let mut tutorial = Router::new()
        .route("/insert", get(routes::tutorial::insert_stories).post(routes::tutorial::insert_custom))
        .fallback(routes::tutorial::query_or_favicon);
    tutorial = if st.cfg.public_tutorial && !open {
        let c = &st.cfg;
        let rules = public::Public::new(tokens.clone(), &c.binding_account, c.public_requests_per_minute, c.public_request_timeout());
        public::open(tutorial, Arc::new(rules))
    } else {
        auth::protect_tutorial(tutorial, tokens.clone(), &st.cfg.binding_account)
    };
    // The Worker bindings' protocols act for the binding's account, as the tutorial does.
    let worker = auth::protect_tutorial(routes::worker::routes(), tokens.clone(), &st.cfg.binding_account);
    let status = auth::mark_caller(Router::new().route("/__strato/status", get(routes::status::status)), tokens.clone(), st.cfg.public_tutorial);
    // The Cloudflare-API surface: Vectorize REST, Workers AI and OpenAI embeddings, and envelope
    // 404s for unknown paths under the API prefixes (a typo in an SDK base URL should read as
    // such, not fall through to the tutorial's query), all behind the token check.
    let api = routes::vectorize::routes()
        .merge(routes::ai::routes())
        .route("/client/v4/{*rest}", any(routes::cf::no_route))
        .route("/client/v4/accounts/{account_id}/{*rest}", any(routes::cf::no_route))
        .route("/accounts/{account_id}/{*rest}", any(routes::cf::no_route));
    // One stack for every route, listed outermost first. A single `layer` call, not one per
    // middleware: axum boxes each `Router::layer` around every route and every from_fn clones
    // what is inside it per request, so ten separate calls cost ~50 boxed clones a request (issue
    // #27); as one stack the clones are plain copies but the innermost route's.
    let stack = tower::ServiceBuilder::new()
        .layer(from_fn(edge::sane_request_id))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(from_fn(observe::request))
        .layer(from_fn(body::drain_unread))
        .layer(from_fn_with_state(admission, budget::admit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(std::time::Duration::from_millis(body_idle_ms)))
        .map_request(|r: axum::extract::Request<tower_http::timeout::TimeoutBody<axum::body::Body>>| r.map(axum::body::Body::new))
        .option_layer(open.then(|| from_fn(edge::local_only)))
        .layer(from_fn(edge::account_segment))
        .layer(from_fn(edge::rejections_in_shape));
    let router = Router::new()
        .merge(auth::protect(api, tokens.clone()))
        .route("/openapi.json", get(routes::openapi::openapi))
        .merge(status)
        .merge(routes::console::routes(tokens.clone()))
        .merge(worker)
        .merge(tutorial)
        .with_state(st)
        .layer(stack);
    match cors {
        Some(l) => router.layer(l),
        None => router,
    }
}

/// Serves until `shutdown`, then drains: readiness says so first, no new connections are
/// taken, and requests in flight get `--drain-timeout-ms` to finish (their gRPC calls with them).
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    observe::install();
    let ready = strato_proto::admin::Readiness::default();
    strato_proto::admin::serve(cfg.admin_listen, cfg.admin_addr_file.as_deref(), ready.clone())
        .await
        .with_context(|| format!("bind admin {}", cfg.admin_listen))?;
    let st = AppState::new(cfg.clone())?;
    st.model.resolve_in_background(st.clients.clone());
    summary::start();
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
        // Any page the user visits could read and delete through an open gateway that lets its
        // origin in: without tokens, only local dev servers may be allowed.
        if let Some(o) = routes::cors::non_local_origin(&cfg.cors_origins) {
            anyhow::bail!(
                "no API token configured: refusing --cors-origin {o:?}, which would let other web sites use this open gateway; allow only loopback origins (e.g. http://localhost:3000) or configure --api-token"
            );
        }
        tracing::warn!(
            "no API token configured: the Cloudflare and OpenAI routes are open; serving on loopback only, to loopback Host names, and writes need a non-form Content-Type or an Authorization header"
        );
    } else if cfg.public_tutorial {
        tracing::warn!("--public-tutorial: the tutorial's routes (/, /insert, any other path) and /__strato/status are open to anyone who reaches {}; the API still needs a token", cfg.listen);
    }
    tracing::info!(
        max = cfg.max_concurrent_requests,
        budget_mib = cfg.memory_budget_bytes() >> 20,
        "requests beyond this many in flight, or beyond this memory budget, are answered 503 at once"
    );
    let tcp = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("bind {}", cfg.listen))?;
    let addr = tcp.local_addr()?;
    if let Some(p) = &cfg.addr_file {
        std::fs::write(p, addr.to_string())?;
    }
    tracing::info!(%addr, index = %cfg.binding_index, model = %cfg.ai_model, "gateway serving on http://{addr}");
    ready.set(true);
    let stop = async move {
        shutdown.await;
        ready.set(false);
        tracing::info!("shutting down");
    };
    let app = router(st, tokens);
    let bound = std::time::Duration::from_millis(cfg.drain_timeout_ms);
    let stall = std::time::Duration::from_millis(cfg.send_stall_timeout_ms);
    strato_proto::serve::serve_and_drain(|signal| conn::serve(tcp, app, cfg.max_connections, stall, signal), stop, bound).await?;
    Ok(())
}

/// Creates the binding's index with the serving model's dimensions (cosine) when missing.
async fn ensure_index(st: &AppState) -> anyhow::Result<()> {
    use strato_proto::index::v1 as ipb;
    let ctx = trace::TraceContext { request_id: "startup".into() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let model = loop {
        match st.model.get(&st.clients, &ctx).await {
            Ok(m) => break m,
            Err(e) if std::time::Instant::now() > deadline => anyhow::bail!("embedder not ready: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    };
    let r = ipb::CreateIndexRequest {
        account: st.cfg.binding_account.clone(),
        name: st.cfg.binding_index.clone(),
        dimensions: model.dimensions,
        metric: ipb::Metric::Cosine as i32,
        description: format!("created by the gateway for {}", model.serving),
    };
    let mut c = st.clients.index.route(&r).client;
    loop {
        match c.create_index(st.clients.request(&ctx, r.clone(), deadline)).await {
            Ok(_) => {
                tracing::info!(index = %r.name, dims = r.dimensions, "created the binding's index");
                return Ok(());
            }
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                let info = c.get_index(st.clients.request(&ctx, ipb::IndexRef { account: r.account.clone(), name: r.name.clone() }, deadline)).await?.into_inner();
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
