//! What every handler shares: the clients, the bindings' configuration, the serving model, the
//! rate limits.
use std::sync::Arc;

use crate::clients::Clients;
use crate::config::Config;
use crate::limits::TokenLimits;
use crate::model::ModelChoice;

#[derive(Clone)]
pub struct AppState {
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
        Ok(Self {
            clients: Clients::new(&cfg)?,
            model: ModelChoice::new(&cfg.ai_model, &cfg.fallback_model),
            limits: Arc::new(limits),
            cfg: Arc::new(cfg),
        })
    }
}
