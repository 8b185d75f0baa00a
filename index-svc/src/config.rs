//! The index service's one configuration struct: every flag also reads an env var.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "index-svc", version, about = "Vectorize-compatible vector indexes over gRPC")]
pub struct Config {
    /// Address to serve gRPC on (port 0 picks a free port; see --addr-file).
    #[arg(long, env = "STRATO_INDEX_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,

    /// Data directory: the redb database and the persisted HNSW segments.
    #[arg(long, env = "STRATO_INDEX_DATA", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub engine: EngineConfig,

    /// Async worker threads; 0 = one per core. Queries run on them (searches are short), so
    /// fewer threads trade concurrent throughput for fewer cross-thread wake-ups per call.
    #[arg(long, env = "STRATO_INDEX_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Shared service token: callers must send `authorization: Bearer <token>` (health and
    /// reflection stay open). Without one the service refuses to listen beyond loopback.
    #[arg(long, env = "STRATO_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,

    /// Write the bound address to this file once serving (lets tests and scripts use port 0).
    #[arg(long, env = "STRATO_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,

    /// Admin port: Prometheus `/metrics`, `/readyz`, `/livez` (no token; expose it to the
    /// cluster only).
    #[arg(long, env = "STRATO_INDEX_ADMIN_LISTEN", default_value = "127.0.0.1:9452")]
    pub admin_listen: SocketAddr,

    /// Write the admin port's bound address to this file (tests use port 0).
    #[arg(long, env = "STRATO_ADMIN_ADDR_FILE")]
    pub admin_addr_file: Option<PathBuf>,

    /// On SIGTERM: readiness goes NOT_SERVING, no new connections are taken, and requests in
    /// flight get this long to finish before they are cut. Keep it under the orchestrator's
    /// grace period (Kubernetes: 30 s) minus the flush that follows.
    #[arg(long, env = "STRATO_DRAIN_TIMEOUT_MS", default_value_t = 20_000)]
    pub drain_timeout_ms: u64,
    /// Indexes that get series of their own in `/metrics` (the largest by vectors); every index
    /// counts in the totals. Bounds the series a many-tenant deployment exports.
    #[arg(long, env = "STRATO_METRICS_TOP_INDEXES", default_value_t = 20)]
    pub metrics_top_indexes: usize,

    /// After a storage failure (a failed fsync or commit), how long to keep answering — reads
    /// normally, writes UNAVAILABLE, health NOT_SERVING — before exiting non-zero so the
    /// orchestrator restarts the process on what is really on disk.
    #[arg(long, env = "STRATO_INDEX_FAIL_STOP_GRACE_MS", default_value_t = 2000)]
    pub fail_stop_grace_ms: u64,

    /// On a stop, how long to wait for the graph build in hand (a merge can take minutes):
    /// past it the build is left unfinished (redone at the next start, the store reopened after
    /// a repair), so the process exits inside Kubernetes' grace period (35 s in deploy/:
    /// preStop 5 s + drain ≤ 20 s + this).
    #[arg(long, env = "STRATO_BACKGROUND_STOP_MS", default_value_t = 5000)]
    pub background_stop_ms: u64,

    /// Test-only fault injection: while `<dir>/fsync` exists every durable commit fails; while
    /// `<dir>/segment` exists writing a segment file fails (as on a full disk).
    #[arg(long, hide = true)]
    pub fault_dir: Option<PathBuf>,

    /// Exit when standard input closes: ties the process to a supervising parent (tests, dev script).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
}

/// Knobs of the segment engine, shared by every index.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineConfig {
    /// Vectors an appendable chunk holds before it is sealed into an HNSW segment in the background.
    /// Exact scan of a chunk this size costs about as much as an HNSW search with ef 64 (measured).
    #[arg(long, env = "STRATO_SEAL_THRESHOLD", default_value_t = 8192)]
    pub seal_threshold: usize,

    /// ef_search tiers, ascending: a query searches a sealed segment with the smallest tier
    /// ≥ its topK (ef is per query: a tier costs no memory); above the last tier it scans the
    /// segment exactly.
    #[arg(long, env = "STRATO_EF_TIERS", value_delimiter = ',', default_value = "64,200")]
    pub ef_tiers: Vec<usize>,

    /// ef_construction of HNSW builds. 400, not the usual 100–200: with instant-distance's 64
    /// layer-0 links, a graph built wider reaches recall@10 0.99 at ef 64 instead of 96–128
    /// (measured on 45k all-MiniLM vectors: build 1.3–1.5× longer, in the background; search
    /// ≈ 1.5× faster at that recall). The build cost is paid once per segment, search forever.
    #[arg(long, env = "STRATO_EF_CONSTRUCTION", default_value_t = 400)]
    pub ef_construction: usize,

    /// Sealed segments per index beyond which the two smallest are merged.
    #[arg(long, env = "STRATO_MAX_SEGMENTS", default_value_t = 8)]
    pub max_segments: usize,

    /// After this long without a write an index settles: its unsealed tail is sealed, and
    /// small segments are merged toward one graph (see --merge-target). Rested queries then search one graph instead of several plus an
    /// exact scan (served benchmark: see README). Two seconds, not less, so a client writing in
    /// bursts does not seal a tiny segment per burst. 0: never.
    #[arg(long, env = "STRATO_SETTLE_MS", default_value_t = 2000)]
    pub settle_ms: u64,

    /// Largest segment (live vectors) a settle merge builds. A graph search costs about the
    /// same on 250k as on 25k vectors, so fewer, larger graphs are faster, but instant-distance
    /// cannot insert into a built graph: a merge rebuilds, 250k in a few minutes on 2 cores.
    #[arg(long, env = "STRATO_MERGE_TARGET", default_value_t = 250_000)]
    pub merge_target: usize,

    /// Filtered queries whose estimated matches are at most this many are scored exactly over
    /// the matches instead of searching the graph (Qdrant's full-scan threshold, in vectors).
    #[arg(long, env = "STRATO_FILTER_EXACT_THRESHOLD", default_value_t = 20000)]
    pub filter_exact_threshold: usize,

    /// A sealed segment of at most this many rows is scanned exactly instead of searched: its
    /// graph search at ef 64 computes on the order of a thousand 8-bit distances (64 candidates
    /// × their links) and then rescores, so 1,024 f32 distances cost the same order (each a few
    /// times an 8-bit one) and the answer is exact. Small segments come from quiet indexes
    /// settling; this keeps their answers exact where a graph's recall (≈ 0.99) would miss now
    /// and then. Their graph is still built, so lowering this setting needs no rebuild.
    #[arg(long, env = "STRATO_EXACT_SEGMENT_ROWS", default_value_t = 1024)]
    pub exact_segment_rows: usize,

    /// Page cache of the embedded store, MiB (searches never read it; see store.rs). 16, not
    /// more: ingest runs as fast with 16 as with 64 (12k vectors/s through REST either way, as
    /// the kernel's page cache sits under it), and at 100k vectors 48 MiB is 500 B a vector.
    #[arg(long, env = "STRATO_STORAGE_CACHE_MB", default_value_t = 16)]
    pub storage_cache_mb: usize,

    /// How a search reads its candidates' exact rows from a sealed segment's file: `map`, through
    /// the memory mapping (rows read stay in the process's RSS as clean file pages), or `pread`,
    /// a syscall a row into a buffer (RSS holds only the heap; one open file per segment, so
    /// the soft open-files limit is raised to the hard one). The page cache holds the rows,
    /// charged to the pod's cgroup, either way. Measured in the README ("Memory, by what counts
    /// it"): `map` has the lower working set, `pread` the lower RSS.
    #[arg(long, env = "STRATO_RESCORE_READS", value_enum, default_value_t = RescoreReads::Map)]
    pub rescore_reads: RescoreReads,

    /// A backup whose client reads nothing for this long is abandoned: the snapshot it holds
    /// keeps every page written since from being reused (see backup.rs).
    #[arg(long, env = "STRATO_BACKUP_STALL_SECS", default_value_t = 60)]
    pub backup_stall_secs: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { seal_threshold: 8192, ef_tiers: vec![64, 200], ef_construction: 400, max_segments: 8, settle_ms: 2000, merge_target: 250_000, filter_exact_threshold: 20000, exact_segment_rows: 1024, storage_cache_mb: 16, rescore_reads: RescoreReads::Map, backup_stall_secs: 60 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RescoreReads {
    Map,
    Pread,
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("STRATO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/strato"));
    base.join("index-data")
}
