//! The index service's typed errors and their one mapping to gRPC status: a code, and the
//! reason (`strato.errors.v1.ErrorReason`) in the status details, which is what clients act on.
//! The messages follow Vectorize's wording where it has one (spec §4.7) so the gateway can pass
//! them through.
use std::collections::HashMap;

use strato_proto::errors::{self, ErrorReason};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{1}")]
    InvalidArgument(ErrorReason, String),
    #[error("vectorize.index.not_found - Index name \"{0}\"")]
    IndexNotFound(String),
    #[error("vectorize.index.duplicate_name - Index name \"{0}\"")]
    DuplicateIndex(String),
    #[error("{1}")]
    NotFound(ErrorReason, String),
    #[error("storage: {0}")]
    Storage(String),
    /// Retryable: storage has failed and the service is restarting (fail-stop).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// Retryable: the index is frozen while it moves to another pod (nothing was written).
    #[error("index \"{0}\" is moving to another pod; retry shortly")]
    Moving(String),
    /// The index lives on the pod `to` now.
    #[error("index \"{name}\" moved to {to}")]
    Moved { name: String, to: String },
}

impl IndexError {
    /// Bad input with no more specific reason.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(ErrorReason::InvalidRequest, msg.into())
    }

    pub fn invalid_as(reason: ErrorReason, msg: impl Into<String>) -> Self {
        Self::InvalidArgument(reason, msg.into())
    }

    pub fn reason(&self) -> ErrorReason {
        match self {
            IndexError::InvalidArgument(r, _) | IndexError::NotFound(r, _) => *r,
            IndexError::IndexNotFound(_) => ErrorReason::IndexNotFound,
            IndexError::DuplicateIndex(_) => ErrorReason::IndexAlreadyExists,
            IndexError::Unavailable(_) => ErrorReason::StorageFailed,
            IndexError::Storage(_) | IndexError::Internal(_) => ErrorReason::Internal,
            IndexError::Moving(_) => ErrorReason::IndexMoving,
            IndexError::Moved { .. } => ErrorReason::IndexMoved,
        }
    }
}

impl From<IndexError> for Status {
    fn from(e: IndexError) -> Status {
        let code = match &e {
            IndexError::InvalidArgument(..) => Code::InvalidArgument,
            IndexError::IndexNotFound(_) | IndexError::NotFound(..) => Code::NotFound,
            IndexError::DuplicateIndex(_) => Code::AlreadyExists,
            IndexError::Unavailable(_) => Code::Unavailable,
            IndexError::Storage(_) | IndexError::Internal(_) => Code::Internal,
            IndexError::Moving(_) => Code::Unavailable,
            IndexError::Moved { to, .. } => {
                let to = HashMap::from([("to".to_owned(), to.clone())]);
                return errors::status_with(Code::FailedPrecondition, e.reason(), e.to_string(), to);
            }
        };
        errors::status(code, e.reason(), e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for IndexError {
            fn from(e: $t) -> Self { IndexError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
    postcard::Error,
    serde_json::Error
);
