//! The index service's typed errors and their one mapping to gRPC status. The messages follow
//! Vectorize's wording where it has one (spec §4.7) so the gateway can pass them through.
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("vectorize.index.not_found - Index name \"{0}\"")]
    IndexNotFound(String),
    #[error("vectorize.index.duplicate_name - Index name \"{0}\"")]
    DuplicateIndex(String),
    #[error("{0}")]
    NotFound(String),
    #[error("storage: {0}")]
    Storage(String),
    /// Retryable: storage has failed and the service is restarting (fail-stop).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl IndexError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidArgument(msg.into())
    }
}

impl From<IndexError> for Status {
    fn from(e: IndexError) -> Status {
        let code = match &e {
            IndexError::InvalidArgument(_) => Code::InvalidArgument,
            IndexError::IndexNotFound(_) | IndexError::NotFound(_) => Code::NotFound,
            IndexError::DuplicateIndex(_) => Code::AlreadyExists,
            IndexError::Unavailable(_) => Code::Unavailable,
            IndexError::Storage(_) | IndexError::Internal(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
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
