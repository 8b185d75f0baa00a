//! The Worker bindings the tutorial uses, on the two services: `env.AI.run(model, {text})` and
//! `env.VECTORIZE.upsert / query`. Handlers stay as short as the tutorial's Worker.
use strato_proto::embedder::v1 as epb;
use strato_proto::index::v1 as ipb;

use crate::error::ApiError;
use crate::shapes::{MatchJson, QueryJson};
use crate::state::AppState;
use crate::trace::TraceContext;

/// `env.AI.run(<serving model>, {text})` → one vector per text, and the tokens the embedder
/// counted.
#[tracing::instrument(skip_all, fields(texts = texts.len()))]
pub async fn embed(st: &AppState, ctx: &TraceContext, texts: Vec<String>) -> Result<(Vec<Vec<f32>>, u64), ApiError> {
    let model = st.model.get(&st.clients, ctx).await?;
    let resp = st.clients.embed(ctx, epb::EmbedRequest { model: model.serving.clone(), texts, ..Default::default() }).await?;
    Ok((resp.data.into_iter().map(|v| v.values).collect(), resp.token_count))
}

/// `env.VECTORIZE.upsert(vectors)` → mutation id.
#[tracing::instrument(skip_all, fields(vectors = vectors.len()))]
pub async fn upsert(st: &AppState, ctx: &TraceContext, vectors: Vec<ipb::Vector>) -> Result<String, ApiError> {
    let req = ipb::WriteRequest { account: st.cfg.binding_account.clone(), index: st.cfg.binding_index.clone(), vectors };
    Ok(st.clients.write(ctx, crate::clients::Write::Upsert, req).await?.mutation_id)
}

/// `env.VECTORIZE.query(vector, {topK})` with the binding's defaults (no values, no metadata).
#[tracing::instrument(skip_all, fields(top_k))]
pub async fn query(st: &AppState, ctx: &TraceContext, vector: Vec<f32>, top_k: u32) -> Result<QueryJson, ApiError> {
    let req = ipb::QueryRequest { account: st.cfg.binding_account.clone(), index: st.cfg.binding_index.clone(), vector, top_k, ..Default::default() };
    let r = st
        .clients
        .index_call(ctx, true, &req, |pod, d| {
            let mut c = pod.client.clone();
            let r = st.clients.request(ctx, req.clone(), d);
            async move { c.query(r).await }
        })
        .await?;
    // The binding's defaults: no values, no metadata.
    let matches: Vec<MatchJson> = r.matches.into_iter().map(|m| MatchJson::new(m, false, false)).collect();
    Ok(QueryJson { count: matches.len(), matches })
}
