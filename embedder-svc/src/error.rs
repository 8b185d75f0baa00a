//! The embedder's typed errors and their one mapping to gRPC status: a code, and the reason
//! (`strato.errors.v1.ErrorReason`) in the status details.
use strato_proto::errors::ErrorReason;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("model {0:?} is not served here; ListModels shows the models that are")]
    UnknownModel(String),
    #[error("model {0:?} is known but not loaded on this server (its files are missing)")]
    ModelNotLoaded(String),
    #[error("the embedder is overloaded: {queued} {unit} queued, limit {limit}; retry later")]
    Overloaded { queued: usize, limit: usize, unit: &'static str },
    #[error("deadline passed before the text was computed")]
    DeadlineExceeded,
    #[error("failed to load model: {0}")]
    Load(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("the model's worker stopped")]
    WorkerGone,
}

impl From<EmbedError> for Status {
    fn from(e: EmbedError) -> Status {
        let (code, reason) = match &e {
            EmbedError::InvalidArgument(_) => (Code::InvalidArgument, ErrorReason::InvalidRequest),
            EmbedError::UnknownModel(_) => (Code::NotFound, ErrorReason::ModelNotFound),
            EmbedError::ModelNotLoaded(_) => (Code::FailedPrecondition, ErrorReason::ModelNotLoaded),
            EmbedError::Overloaded { .. } => (Code::ResourceExhausted, ErrorReason::Overloaded),
            EmbedError::DeadlineExceeded => (Code::DeadlineExceeded, ErrorReason::DeadlinePassed),
            EmbedError::Load(_) | EmbedError::Inference(_) | EmbedError::Tokenizer(_) => (Code::Internal, ErrorReason::Internal),
            EmbedError::WorkerGone => (Code::Unavailable, ErrorReason::ServiceUnavailable),
        };
        strato_proto::errors::status(code, reason, e.to_string())
    }
}
