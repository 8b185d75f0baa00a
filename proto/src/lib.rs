//! Strato's gRPC contract. One module per versioned package, the descriptor set that every
//! service hands to gRPC reflection, the JSON ↔ Struct conversion every crate shares, and the
//! serving plumbing common to every binary (stop and drain, traces, metrics, the admin port).
pub mod admin;
pub mod auth;
pub mod client;
pub mod errors;
pub mod json;
pub mod metrics;
pub mod serve;
pub mod telemetry;

pub mod embedder {
    pub mod v1 {
        tonic::include_proto!("strato.embedder.v1");
    }
}

mod errors_v1 {
    tonic::include_proto!("strato.errors.v1");
}

pub mod index {
    pub mod v1 {
        tonic::include_proto!("strato.index.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Strato package, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("strato_descriptor");
