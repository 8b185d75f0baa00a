//! index-svc's Prometheus families (the gRPC and process ones come from `strato_proto::metrics`).
//! Per-index series are bounded: only the `--metrics-top-indexes` largest indexes get their own;
//! the totals count every index, so a tenant with 10,000 small indexes costs a few series.
//!
//! A leaf: the engine's parts write to these families, and what is read at each scrape comes in
//! through [`install`]'s closure (`lib.rs` gives it the engine's counts), so this module
//! imports none of them.
use std::sync::LazyLock;

use strato_proto::metrics::{Histogram, IntCounter, IntGauge, IntGaugeVec, counter, gauge, gauge_vec, histogram, latency_buckets};

/// One index's counts, as read at a scrape.
pub struct IndexCounts {
    pub account: String,
    pub name: String,
    pub vectors: usize,
    pub segments: usize,
}

pub struct Metrics {
    pub fsync: Histogram,
    pub commit_group: Histogram,
    pub seal: Histogram,
    pub compaction: Histogram,
    pub background_failures: IntCounter,
    /// Segment files refused at start-up (a checksum, their header, or a row that is not its vector's).
    pub segments_refused: IntCounter,
    indexes: IntGauge,
    vectors: IntGauge,
    segments: IntGauge,
    storage_failed: IntGauge,
    index_vectors: IntGaugeVec,
    index_segments: IntGaugeVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    fsync: histogram("strato_index_fsync_duration_seconds", "Duration of each group-commit fsync.", latency_buckets()),
    commit_group: histogram(
        "strato_index_fsync_mutations",
        "Mutations one fsync made durable (group commit's sharing).",
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0],
    ),
    seal: histogram("strato_index_seal_duration_seconds", "Building an HNSW segment from a full chunk.", latency_buckets()),
    compaction: histogram("strato_index_compaction_duration_seconds", "Merging segments into one.", latency_buckets()),
    background_failures: counter("strato_index_background_failures_total", "Seals and compactions that failed (each is retried with backoff)."),
    segments_refused: counter("strato_index_segments_refused_total", "Segment files refused at start-up (checksum, header, or rows not their vectors'); their vectors were re-indexed."),
    indexes: gauge("strato_indexes", "Indexes, every account."),
    vectors: gauge("strato_vectors", "Live vectors, every index."),
    segments: gauge("strato_segments", "Sealed HNSW segments, every index."),
    storage_failed: gauge("strato_index_storage_failed", "1 once storage failed (writes refused; the process exits)."),
    index_vectors: gauge_vec("strato_index_vectors", "Live vectors of the largest indexes (see --metrics-top-indexes).", &["account", "index"]),
    index_segments: gauge_vec("strato_index_segments", "Sealed segments of the largest indexes.", &["account", "index"]),
});

impl Metrics {
    /// Set at once (not at the next scrape) so the last scrape before the exit shows it.
    pub fn storage_failed_now(&self) {
        self.storage_failed.set(1);
    }
}

/// Registers every family (so they exist, at zero, before the first request) and, at each
/// scrape, reads `counts`: every index's counts and whether storage failed (None once the
/// engine is gone).
pub fn install(counts: impl Fn() -> Option<(Vec<IndexCounts>, bool)> + Send + Sync + 'static, top: usize) {
    let m = &*METRICS;
    m.storage_failed.set(0);
    strato_proto::metrics::on_scrape(move || {
        let Some((mut all, failed)) = counts() else { return };
        m.indexes.set(all.len() as i64);
        m.vectors.set(all.iter().map(|i| i.vectors as i64).sum());
        m.segments.set(all.iter().map(|i| i.segments as i64).sum());
        m.storage_failed.set(i64::from(failed));
        all.sort_by(|a, b| b.vectors.cmp(&a.vectors).then_with(|| a.name.cmp(&b.name)));
        m.index_vectors.reset();
        m.index_segments.reset();
        for i in all.iter().take(top) {
            m.index_vectors.with_label_values(&[i.account.as_str(), i.name.as_str()]).set(i.vectors as i64);
            m.index_segments.with_label_values(&[i.account.as_str(), i.name.as_str()]).set(i.segments as i64);
        }
    });
}
