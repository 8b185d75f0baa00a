//! What every handler shares: the clients, the bindings' configuration, the serving model.
use std::sync::Arc;

use crate::clients::Clients;
use crate::config::Config;
use crate::model::ModelChoice;

#[derive(Clone)]
pub struct AppState {
    pub clients: Clients,
    pub cfg: Arc<Config>,
    pub model: ModelChoice,
}
