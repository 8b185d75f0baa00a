//! The Worker bindings the tutorial uses, on the two services: `env.AI.run(model, {text})` and
//! `env.VECTORIZE.upsert / query`. Handlers stay as short as the tutorial's Worker.
use serde::Serialize;
use strato_proto::embedder::v1 as epb;
use strato_proto::index::v1 as ipb;

use crate::error::ApiError;
use crate::state::AppState;
use crate::trace::TraceContext;

/// `{id, score}` plus optional fields, with Vectorize's key names.
#[derive(Debug, Serialize)]
pub struct Match {
    pub id: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Matches {
    pub count: usize,
    pub matches: Vec<Match>,
}

/// `env.AI.run(<serving model>, {text})` → one vector per text.
#[tracing::instrument(skip_all, fields(texts = texts.len()))]
pub async fn embed(st: &AppState, ctx: &TraceContext, texts: Vec<String>) -> Result<Vec<Vec<f32>>, ApiError> {
    let model = st.model.get(&st.clients, ctx).await?;
    let resp = st
        .clients
        .call("embedder", true, |d| {
            let mut c = st.clients.embedder.clone();
            let r = st.clients.request(ctx, epb::EmbedRequest { model: model.serving.clone(), texts: texts.clone(), pooling: 0 }, d);
            async move { c.embed(r).await }
        })
        .await?;
    Ok(resp.data.into_iter().map(|v| v.values).collect())
}

/// `env.VECTORIZE.upsert(vectors)` → mutation id.
#[tracing::instrument(skip_all, fields(vectors = vectors.len()))]
pub async fn upsert(st: &AppState, ctx: &TraceContext, vectors: Vec<ipb::Vector>) -> Result<String, ApiError> {
    let req = ipb::WriteRequest { account: st.cfg.binding_account.clone(), index: st.cfg.binding_index.clone(), vectors };
    // Upsert is idempotent (same ids, same values): safe to retry.
    let r = st
        .clients
        .call("index", true, |d| {
            let mut c = st.clients.index.clone();
            let r = st.clients.request(ctx, req.clone(), d);
            async move { c.upsert(r).await }
        })
        .await?;
    Ok(r.mutation_id)
}

/// `env.VECTORIZE.query(vector, {topK})` with the binding's defaults (no values, no metadata).
#[tracing::instrument(skip_all, fields(top_k))]
pub async fn query(st: &AppState, ctx: &TraceContext, vector: Vec<f32>, top_k: u32) -> Result<Matches, ApiError> {
    let req = ipb::QueryRequest { account: st.cfg.binding_account.clone(), index: st.cfg.binding_index.clone(), vector, top_k, ..Default::default() };
    let r = st
        .clients
        .call("index", true, |d| {
            let mut c = st.clients.index.clone();
            let r = st.clients.request(ctx, req.clone(), d);
            async move { c.query(r).await }
        })
        .await?;
    Ok(Matches {
        count: r.matches.len(),
        matches: r
            .matches
            .into_iter()
            .map(|m| Match { id: m.id, score: m.score, values: None, metadata: None, namespace: Some(m.namespace).filter(|n| !n.is_empty()) })
            .collect(),
    })
}
