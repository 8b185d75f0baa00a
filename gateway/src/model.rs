//! Which model the AI binding serves. The configured one (BGE by default) when the embedder has
//! it loaded; otherwise the packaged fallback — said plainly in the log and at /__strato/status,
//! never silently. Resolved at start and again whenever unresolved (embedder not yet up).
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::RwLock;
use tracing::{info, warn};

use crate::clients::Clients;
use crate::error::ApiError;
use crate::trace::TraceContext;

#[derive(Debug, Clone, Serialize)]
pub struct Serving {
    pub requested: String,
    pub serving: String,
    pub dimensions: u32,
    pub fallback: bool,
    /// Why the fallback is served.
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct ModelChoice {
    requested: String,
    fallback: String,
    resolved: Arc<RwLock<Option<Serving>>>,
}

impl ModelChoice {
    pub fn new(requested: &str, fallback: &str) -> Self {
        Self { requested: requested.to_owned(), fallback: fallback.to_owned(), resolved: Default::default() }
    }

    pub async fn current(&self) -> Option<Serving> {
        self.resolved.read().await.clone()
    }

    /// The serving model, asking the embedder if not yet known.
    pub async fn get(&self, clients: &Clients, ctx: &TraceContext) -> Result<Serving, ApiError> {
        if let Some(s) = self.current().await {
            return Ok(s);
        }
        let models = clients.list_models(ctx).await?;
        let find = |name: &str| models.iter().find(|m| m.name == name);
        let serving = match find(&self.requested) {
            Some(m) if m.loaded => Serving { requested: self.requested.clone(), serving: m.name.clone(), dimensions: m.dimensions, fallback: false, reason: None },
            other => {
                let why = match other {
                    Some(m) => format!("{} is not loaded: {}", self.requested, m.source),
                    None => format!("{} is not in the embedder's catalogue", self.requested),
                };
                let fb = find(&self.fallback).filter(|m| m.loaded).ok_or_else(|| {
                    ApiError::BadRequest(format!("{why}; the fallback {} is not loaded either", self.fallback))
                })?;
                warn!("AI binding: serving {} INSTEAD OF {} ({why})", fb.name, self.requested);
                Serving { requested: self.requested.clone(), serving: fb.name.clone(), dimensions: fb.dimensions, fallback: true, reason: Some(why) }
            }
        };
        info!(model = %serving.serving, dims = serving.dimensions, fallback = serving.fallback, "AI binding resolved");
        *self.resolved.write().await = Some(serving.clone());
        Ok(serving)
    }

    /// Resolves in the background until the embedder answers.
    pub fn resolve_in_background(&self, clients: Clients) {
        let this = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                let ctx = TraceContext { request_id: "startup".into() };
                match this.get(&clients, &ctx).await {
                    Ok(_) => return,
                    Err(e) if started.elapsed().as_secs() > 600 => {
                        warn!("AI binding unresolved after 10 minutes: {e}");
                        return;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
                }
            }
        });
    }
}
