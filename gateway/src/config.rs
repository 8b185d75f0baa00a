//! The gateway's one configuration struct, shaped like the tutorial's wrangler file: a VECTORIZE
//! binding (index name) and an AI binding (model). Every flag also reads an env var.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "gateway", version, about = "Strato HTTP gateway: Vectorize tutorial, Cloudflare REST API, embeddings")]
pub struct Config {
    /// HTTP listen address (wrangler dev's port by default).
    #[arg(long, env = "STRATO_GATEWAY_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// embedder-svc endpoints; several (comma separated) are load-balanced; `dns://host:port`
    /// balances over every address the name resolves to (re-resolved every 5 s).
    #[arg(long = "embedder", env = "STRATO_EMBEDDER_URLS", value_delimiter = ',', default_value = "http://127.0.0.1:50051")]
    pub embedder_urls: Vec<String>,

    /// index-svc endpoints. Several (comma separated) are the pods indexes are spread over: each
    /// (account, index) lives on the one its rendezvous hash picks (`partition.rs`), so name every
    /// pod by a stable name (a StatefulSet's `index-0.index:50052`, …), in any order.
    #[arg(long = "index", env = "STRATO_INDEX_URL", value_delimiter = ',', default_value = "http://127.0.0.1:50052")]
    pub index_urls: Vec<String>,

    /// During a resize: the pod list before it. An index its `--index` owner does not have is
    /// looked for at its owner under this list (deploy/README.md, "Resizing").
    #[arg(long = "index-previous", env = "STRATO_INDEX_PREVIOUS_URL", value_delimiter = ',')]
    pub index_previous_urls: Vec<String>,

    /// The VECTORIZE binding's index_name.
    #[arg(long, env = "STRATO_BINDING_INDEX", default_value = "embeddings-index")]
    pub binding_index: String,

    /// The account the bindings use (REST routes take the account from the path).
    #[arg(long, env = "STRATO_BINDING_ACCOUNT", default_value = "")]
    pub binding_account: String,

    /// The AI binding's model.
    #[arg(long, env = "STRATO_AI_MODEL", default_value = "@cf/baai/bge-base-en-v1.5")]
    pub ai_model: String,

    /// Served instead of --ai-model when that model is not loaded (said in the log and at /__strato/status).
    #[arg(long, env = "STRATO_FALLBACK_MODEL", default_value = "@strato/all-minilm-l6-v2")]
    pub fallback_model: String,

    /// Create the binding's index (serving model's dimensions, cosine) at start if it is missing.
    #[arg(long, env = "STRATO_CREATE_INDEX")]
    pub create_index: bool,

    /// Deadline of each gRPC call, in milliseconds.
    #[arg(long, env = "STRATO_RPC_TIMEOUT_MS", default_value_t = 10_000)]
    pub rpc_timeout_ms: u64,

    /// Attempts of an idempotent call that got UNAVAILABLE (exponential backoff from 25 ms).
    #[arg(long, env = "STRATO_RPC_ATTEMPTS", default_value_t = 3)]
    pub rpc_attempts: u32,

    /// API tokens accepted as `Authorization: Bearer …` on the Cloudflare and OpenAI routes
    /// (comma separated). With none configured the API is open and the gateway refuses to listen
    /// beyond loopback.
    #[arg(long = "api-token", env = "STRATO_API_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub api_tokens: Vec<String>,

    /// File of API tokens, one per line; `TOKEN accounts=a,b` limits a token to accounts.
    #[arg(long, env = "STRATO_API_TOKENS_FILE")]
    pub api_tokens_file: Option<PathBuf>,

    /// With API tokens configured, leave the tutorial's routes (`/`, `/insert`, any other path)
    /// and `/__strato/status` open to callers without a token, as a deployed Worker is public.
    /// Status then shows internal addresses only to a valid token. Logged at start.
    #[arg(long, env = "STRATO_PUBLIC_TUTORIAL")]
    pub public_tutorial: bool,

    /// Requests served at once; beyond it a request is answered at once with 503 (code 1503,
    /// `Retry-After: 1`), never queued.
    #[arg(long, env = "STRATO_MAX_CONCURRENT_REQUESTS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// A request body that sends nothing for this long is abandoned (its request answers an
    /// error and frees its place under --max-concurrent-requests), so idle half-sent bodies
    /// cannot hold every place.
    #[arg(long, env = "STRATO_BODY_IDLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_idle_timeout_ms: u64,

    /// The memory requests may hold at once, in MiB (`budget.rs`): a request is charged its body
    /// (3 bytes a byte) and its response; what does not fit is answered 503 at once. Default:
    /// the cgroup's memory limit minus 96 MiB (half the machine's memory without a limit).
    #[arg(long, env = "STRATO_MEMORY_BUDGET_MIB")]
    pub memory_budget_mib: Option<u64>,

    /// Connections served at once; beyond, new ones wait in the kernel's accept queue. Each holds
    /// at most a 64 KiB buffer outside the memory budget (its request head, 10 s to arrive).
    #[arg(long, env = "STRATO_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// A connection that cannot send for this long (its client stopped reading) is closed, and
    /// what its response held is given back.
    #[arg(long, env = "STRATO_SEND_STALL_TIMEOUT_MS", default_value_t = 30_000)]
    pub send_stall_timeout_ms: u64,

    /// With API tokens configured: requests without a valid token served at once, in a pool of
    /// their own apart from --max-concurrent-requests (the public tutorial, 401s), so they
    /// never take a tokened caller's place; beyond it, 503 code 1503 at once.
    #[arg(long, env = "STRATO_TOKENLESS_MAX_CONCURRENT", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub tokenless_max_concurrent: u32,

    /// With --public-tutorial: requests without a token per minute from one client address
    /// (bursts of up to 20); beyond it, 429.
    #[arg(long, env = "STRATO_PUBLIC_REQUESTS_PER_MINUTE", default_value_t = 60)]
    pub public_requests_per_minute: u32,

    /// With --public-tutorial: a request without a token must be answered within this long,
    /// body included (a deadline on the whole request, not only an idle one).
    #[arg(long, env = "STRATO_PUBLIC_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub public_request_timeout_ms: u64,

    /// Per API token: Workers AI requests per minute to each model (bge-large: half), as
    /// Workers AI limits them; 0 = no limit. Limits apply only with tokens configured.
    #[arg(long, env = "STRATO_AI_REQUESTS_PER_MINUTE", default_value_t = 3000)]
    pub ai_requests_per_minute: u32,

    /// Per API token: mutations (writes, deletes, index changes) per minute; beyond, 429 code
    /// 40041 `Too Many Requests`. 0 = no limit.
    #[arg(long, env = "STRATO_MUTATIONS_PER_MINUTE", default_value_t = 1200)]
    pub mutations_per_minute: u32,

    /// Per API token: embedder tokens per second (bursts of 10 s; a text costs at least 16), so
    /// one tenant cannot take the embedder from the others (a 2-core CPU embedder does about
    /// 3,000). Raise it with the embedder's capacity (GPUs, replicas). 0 = no limit.
    #[arg(long, env = "STRATO_EMBED_TOKENS_PER_SECOND", default_value_t = 1024)]
    pub embed_tokens_per_second: u32,

    /// Browser origins allowed to call the gateway (CORS); repeat or comma separate; `*` = any.
    /// None: no CORS headers. Without API tokens only loopback origins (`http://localhost:3000`)
    /// are accepted: the gateway refuses to start otherwise.
    #[arg(long = "cors-origin", env = "STRATO_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Token sent to index-svc and embedder-svc (their --service-token).
    #[arg(long, env = "STRATO_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,

    /// Admin port: Prometheus `/metrics`, `/readyz`, `/livez` (no token; expose it to the
    /// cluster only).
    #[arg(long, env = "STRATO_GATEWAY_ADMIN_LISTEN", default_value = "127.0.0.1:9450")]
    pub admin_listen: SocketAddr,

    /// Write the admin port's bound address to this file (tests use port 0).
    #[arg(long, env = "STRATO_ADMIN_ADDR_FILE")]
    pub admin_addr_file: Option<PathBuf>,

    /// On SIGTERM: readiness goes NOT_SERVING, no new connections are taken, and requests in
    /// flight get this long to finish before they are cut. Keep it under the orchestrator's
    /// grace period (Kubernetes: 30 s) minus the flush that follows.
    #[arg(long, env = "STRATO_DRAIN_TIMEOUT_MS", default_value_t = 20_000)]
    pub drain_timeout_ms: u64,

    /// Write the bound address to this file once serving (tests use port 0).
    #[arg(long, env = "STRATO_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,

    /// Async worker threads; 0 = one per core. A request hops between tasks (its connection,
    /// the gRPC connection), so fewer threads trade concurrent throughput for fewer cross-thread
    /// wake-ups per request.
    #[arg(long, env = "STRATO_GATEWAY_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Exit when standard input closes (tests, dev script).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
}

impl Config {
    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    pub fn public_request_timeout(&self) -> Duration {
        Duration::from_millis(self.public_request_timeout_ms)
    }

    pub fn memory_budget_bytes(&self) -> u64 {
        self.memory_budget_mib.map_or_else(crate::budget::default_budget_bytes, |m| m << 20)
    }
}
