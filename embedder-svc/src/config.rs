//! The embedder's one configuration struct: every flag also reads an env var of the same name.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Padded tokens per batch on CPU. Measured on a 2-core host with all-MiniLM-L6-v2 int8 over Debian
/// descriptions (mean 92 tokens): budget 512 → 133 texts/s, 1024 → 128, 2048 → 120, 4096 → 102,
/// one text at a time → 99; big batches lose to cache misses in attention. TEI's 16384 suits GPUs.
pub const DEFAULT_MAX_BATCH_TOKENS: usize = 1024;
pub const DEFAULT_MAX_BATCH_TEXTS: usize = 32;
/// Sessions per model. Measured (`./strato bench embedder`, 400 texts, 3 rounds, texts/s at
/// concurrency 1 / 8 / 32, padding ≤ 10 %): 1 session × 2 threads 53 / 61 / 60; 2 sessions × 1
/// thread 33 / 69 / 67; 2 × 2 47 / 62 / 62. Two single-threaded sessions win under load, but a
/// lone request then runs on one core at 0.6× the speed, and each session holds its own weights;
/// one session is the default, `--sessions 2 --intra-threads 1` suits throughput-bound pods.
pub const DEFAULT_SESSIONS: usize = 1;
/// Padding share of a batch. On CPU a batch computes its padding as real work and batching
/// itself buys little (every text sorted globally: 59.6 texts/s; one at a time: 59.7), so
/// padding is pure loss: uncapped, 8 clients got 28 % padding and 0.86× one client's
/// throughput; capped at 10 %, 4 % padding and 1.10× (same bench).
pub const DEFAULT_MAX_BATCH_PADDING_PCT: u8 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Device {
    Cpu,
    /// CUDA execution provider; needs the `cuda` cargo feature and a CUDA build of ONNX Runtime.
    Cuda,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "embedder-svc", version, about = "Workers AI text-embedding models over gRPC")]
pub struct Config {
    /// Address to serve gRPC on (port 0 picks a free port; see --addr-file).
    #[arg(long, env = "STRATO_EMBEDDER_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Directory holding one sub-directory per model (model.onnx, tokenizer.json, strato-model.json).
    #[arg(long, env = "STRATO_MODELS_DIR", default_value_os_t = default_cache().join("models"))]
    pub models_dir: PathBuf,

    /// Models to load, by Workers AI name; empty loads every model found in --models-dir.
    #[arg(long = "model", env = "STRATO_MODELS", value_delimiter = ',')]
    pub models: Vec<String>,

    /// Path of ONNX Runtime's shared library (provisioned by scripts/provision.sh).
    #[arg(long, env = "STRATO_ORT_LIB", default_value_os_t = default_cache().join("lib/libonnxruntime.so.1.31.1"))]
    pub ort_lib: PathBuf,

    #[arg(long, env = "STRATO_DEVICE", value_enum, default_value_t = Device::Cpu)]
    pub device: Device,

    /// CUDA device ordinal when --device cuda.
    #[arg(long, env = "STRATO_CUDA_DEVICE_ID", default_value_t = 0)]
    pub cuda_device_id: i32,

    /// ONNX Runtime intra-op threads per model; 0 = one per CPU this process may use (the
    /// cgroup quota in a container, so a pod limited to 2 CPUs runs 2, not the node's count).
    #[arg(long, env = "STRATO_INTRA_THREADS", default_value_t = 0)]
    pub intra_threads: usize,

    /// ONNX Runtime sessions per model, each fed batches by its own worker; every session holds
    /// its own copy of the weights. See DEFAULT_SESSIONS.
    #[arg(long, env = "STRATO_SESSIONS", default_value_t = DEFAULT_SESSIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub sessions: usize,

    /// Token budget of one batch, counted padded (texts × longest text), as ORT computes padded.
    /// Small on CPU by measurement (see DEFAULT_MAX_BATCH_TOKENS); raise it on GPUs.
    #[arg(long, env = "STRATO_MAX_BATCH_TOKENS", default_value_t = DEFAULT_MAX_BATCH_TOKENS)]
    pub max_batch_tokens: usize,

    /// Most texts in one batch.
    #[arg(long, env = "STRATO_MAX_BATCH_TEXTS", default_value_t = DEFAULT_MAX_BATCH_TEXTS)]
    pub max_batch_texts: usize,

    /// Most of a batch's computed tokens that may be padding, in percent (0–100). See
    /// DEFAULT_MAX_BATCH_PADDING_PCT.
    #[arg(long, env = "STRATO_MAX_BATCH_PADDING_PCT", default_value_t = DEFAULT_MAX_BATCH_PADDING_PCT, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_batch_padding_pct: u8,

    /// Texts admitted (queued or running) at once, over all requests; beyond it → RESOURCE_EXHAUSTED.
    #[arg(long, env = "STRATO_MAX_QUEUED_TEXTS", default_value_t = 4096)]
    pub max_queued_texts: usize,

    /// Bytes of text admitted at once, over all requests (after each text is cut to what its
    /// model can read, see `model::text_byte_cap`); beyond it → RESOURCE_EXHAUSTED. Tokenizing
    /// and queueing cost grows with bytes, not with the number of texts.
    #[arg(long, env = "STRATO_MAX_QUEUED_BYTES", default_value_t = 64 << 20)]
    pub max_queued_bytes: usize,

    /// Shared service token: callers must send `authorization: Bearer <token>` (health and
    /// reflection stay open). Without one the service refuses to listen beyond loopback.
    #[arg(long, env = "STRATO_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,

    /// Admin port: Prometheus `/metrics`, `/readyz`, `/livez` (no token; expose it to the
    /// cluster only).
    #[arg(long, env = "STRATO_EMBEDDER_ADMIN_LISTEN", default_value = "127.0.0.1:9451")]
    pub admin_listen: SocketAddr,

    /// Write the admin port's bound address to this file (tests use port 0).
    #[arg(long, env = "STRATO_ADMIN_ADDR_FILE")]
    pub admin_addr_file: Option<PathBuf>,

    /// On SIGTERM: readiness goes NOT_SERVING, no new connections are taken, and requests in
    /// flight get this long to finish before they are cut. Keep it under the orchestrator's
    /// grace period (Kubernetes: 30 s) minus the flush that follows.
    #[arg(long, env = "STRATO_DRAIN_TIMEOUT_MS", default_value_t = 20_000)]
    pub drain_timeout_ms: u64,

    /// Write the bound address to this file once serving (lets tests and scripts use port 0).
    #[arg(long, env = "STRATO_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,

    /// Exit when standard input closes: ties the process to a supervising parent (tests, dev script).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
}

/// `$STRATO_CACHE`, else `~/.cache/strato`: where scripts/provision.sh installs models and ORT.
pub fn default_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRATO_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/strato")
}
