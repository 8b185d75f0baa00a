//! What every handler shares: the clients, the bindings' configuration, the serving model, the
//! rate limits.
use std::sync::Arc;

use crate::clients::Clients;
use crate::config::Config;
use crate::limits::TokenLimits;
use crate::model::ModelChoice;

/// Cheap to clone: axum clones the state for every request (each route's service and each `State`
/// extractor), so the fields live behind one `Arc` (issue #27: the clones of the clients were ~3 %
/// of the gateway's CPU a query).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub clients: Clients,
    pub cfg: Arc<Config>,
    pub model: ModelChoice,
    /// Per-token rate limits (`limits.rs`).
    pub limits: Arc<TokenLimits>,
}

impl AppState {
    /// The state `cfg` describes (channels connect lazily: nothing is called yet).
    pub fn new(cfg: Config) -> anyhow::Result<Self> {
        let limits = TokenLimits::new(cfg.ai_requests_per_minute, cfg.mutations_per_minute, cfg.embed_tokens_per_second);
        Ok(Self(Arc::new(Shared {
            clients: Clients::new(&cfg)?,
            model: ModelChoice::new(&cfg.ai_model, &cfg.fallback_model),
            limits: Arc::new(limits),
            cfg: Arc::new(cfg),
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
