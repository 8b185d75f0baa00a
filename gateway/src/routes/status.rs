//! `/__strato/status`: which model the AI binding serves (and why, if it is the fallback), and
//! whether the services answer. Under a prefix no tutorial path would use.
//!
//! Each service's gRPC health (`services`), the services' addresses, the binding and the
//! fallback's reason (which names model files) are shown only to an authorised caller
//! (`auth::Authorised`: a valid token, or the open loopback mode); anyone else
//! (`--public-tutorial`) sees the model names and whether it is healthy.
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::auth::Authorised;
use crate::state::AppState;
use crate::trace::TraceContext;

pub async fn status(State(st): State<AppState>, caller: Option<Extension<Authorised>>, headers: HeaderMap) -> Json<Value> {
    let ctx = TraceContext::from_headers(&headers);
    let model = st.model.get(&st.clients, &ctx).await;
    if !caller.is_some_and(|Extension(Authorised(ok))| ok) {
        return Json(match model {
            Ok(m) => json!({
                "ai": { "requested": m.requested, "serving": m.serving, "dimensions": m.dimensions, "fallback": m.fallback },
                "healthy": true,
            }),
            Err(_) => json!({ "ai": { "requested": st.cfg.ai_model }, "healthy": false }),
        });
    }
    let healthy = model.is_ok();
    let services = st.clients.health(&ctx).await;
    let model = match model {
        Ok(m) => json!(m),
        Err(e) => json!({ "requested": st.cfg.ai_model, "error": e.to_string() }),
    };
    Json(json!({
        "ai": model,
        "healthy": healthy,
        "vectorize": { "index_name": st.cfg.binding_index, "account": st.cfg.binding_account },
        "embedder": st.cfg.embedder_urls,
        "index": st.cfg.index_urls,
        "services": services,
    }))
}
