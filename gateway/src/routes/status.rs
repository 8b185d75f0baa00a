//! `/__strato/status`: which model the AI binding serves (and why, if it is the fallback), and
//! whether the services answer. Under a prefix no tutorial path would use.
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::trace::TraceContext;

pub async fn status(State(st): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let ctx = TraceContext::from_headers(&headers);
    let model = match st.model.get(&st.clients, &ctx).await {
        Ok(m) => json!(m),
        Err(e) => json!({ "requested": st.cfg.ai_model, "error": e.to_string() }),
    };
    Json(json!({
        "ai": model,
        "vectorize": { "index_name": st.cfg.binding_index, "account": st.cfg.binding_account },
        "embedder": st.cfg.embedder_urls,
        "index": st.cfg.index_url,
    }))
}
