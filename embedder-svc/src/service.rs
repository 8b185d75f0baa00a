//! The gRPC face of the registry: proto ↔ domain conversion and nothing else.
use std::sync::Arc;
use std::time::{Duration, Instant};

use strato_proto::embedder::v1 as pb;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::error::EmbedError;
use crate::model::{EmbedParams, ModelInfo, Registry};
use crate::pooling::Pooling;

pub struct EmbedderService {
    registry: Arc<Registry>,
}

impl EmbedderService {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

#[tonic::async_trait]
impl pb::embedder_server::Embedder for EmbedderService {
    #[instrument(skip_all, fields(model = %req.get_ref().model, texts = req.get_ref().texts.len(), tokens))]
    async fn embed(&self, req: Request<pb::EmbedRequest>) -> Result<Response<pb::EmbedResponse>, Status> {
        let deadline = grpc_deadline(&req);
        let r = req.into_inner();
        let pooling = pooling_from_proto(r.pooling)?;
        let prompt = Some(r.prompt_name).filter(|p| !p.is_empty());
        let dimensions = Some(r.dimensions as usize).filter(|d| *d > 0);
        let out = self
            .registry
            .embed(EmbedParams { model: r.model.clone(), texts: r.texts, pooling, prompt, dimensions, refuse_over_limit: r.refuse_over_limit, deadline })
            .await?;
        let n = out.vectors.len() as u32;
        Ok(Response::new(pb::EmbedResponse {
            shape: vec![n, out.dimensions as u32],
            data: out.vectors.into_iter().map(|values| pb::Vector { values }).collect(),
            pooling: pooling_to_proto(out.pooling) as i32,
            token_count: out.tokens_per_text.iter().map(|t| u64::from(*t)).sum(),
            tokens_per_text: out.tokens_per_text,
            model: r.model,
            timings: Some(pb::Timings { tokenize_us: out.tokenize_us, queue_us: out.queue_us, inference_us: out.inference_us }),
        }))
    }

    async fn list_models(&self, _req: Request<pb::ListModelsRequest>) -> Result<Response<pb::ListModelsResponse>, Status> {
        Ok(Response::new(pb::ListModelsResponse { models: self.registry.models().into_iter().map(model_to_proto).collect() }))
    }

    async fn get_model(&self, req: Request<pb::GetModelRequest>) -> Result<Response<pb::ModelInfo>, Status> {
        let name = req.into_inner().name;
        match self.registry.model(&name) {
            Some(m) => Ok(Response::new(model_to_proto(m))),
            None => Err(EmbedError::UnknownModel(name).into()),
        }
    }
}

fn pooling_from_proto(v: i32) -> Result<Option<Pooling>, EmbedError> {
    match pb::Pooling::try_from(v) {
        Ok(pb::Pooling::Unspecified) => Ok(None),
        Ok(pb::Pooling::Mean) => Ok(Some(Pooling::Mean)),
        Ok(pb::Pooling::Cls) => Ok(Some(Pooling::Cls)),
        Ok(pb::Pooling::LastToken) => Ok(Some(Pooling::LastToken)),
        Err(_) => Err(EmbedError::InvalidArgument(format!("unknown pooling {v}; use POOLING_MEAN, POOLING_CLS or POOLING_LAST_TOKEN"))),
    }
}

fn pooling_to_proto(p: Pooling) -> pb::Pooling {
    match p {
        Pooling::Mean => pb::Pooling::Mean,
        Pooling::Cls => pb::Pooling::Cls,
        Pooling::LastToken => pb::Pooling::LastToken,
    }
}

fn model_to_proto(m: ModelInfo) -> pb::ModelInfo {
    pb::ModelInfo {
        name: m.name,
        dimensions: m.dimensions as u32,
        max_input_tokens: m.max_tokens as u32,
        default_pooling: pooling_to_proto(m.default_pooling) as i32,
        loaded: m.loaded,
        max_texts_per_request: crate::catalogue::MAX_TEXTS_PER_REQUEST as u32,
        source: m.source,
        prompts: m.prompts,
        matryoshka_dims: m.matryoshka.iter().map(|d| *d as u32).collect(),
    }
}

/// The caller's deadline from the `grpc-timeout` header, so queued work past it is never computed.
fn grpc_deadline<T>(req: &Request<T>) -> Option<Instant> {
    let raw = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Instant::now().checked_add(d)
}
