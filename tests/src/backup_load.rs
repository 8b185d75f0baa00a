//! A backup under load, shared by the backup test and `bench index` (`BENCH_BACKUP_BASELINE`):
//! a ~100 MB store (records made large by their metadata, so the graphs stay cheap), then a
//! backup read slowly while index-svc's memory is sampled and, optionally, an index is deleted
//! and vectors written and deleted, each timed.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use tonic::transport::Channel;

use crate::process::{Service, status_kib};

const DIMS: usize = 32;

fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..DIMS).map(|d| ((seed * 7919 + n * 31 + d * 17) % 1000) as f32 / 1000.0 - 0.5).collect()
}

/// Index "big" (12,000 vectors with 8 KiB of metadata each, ~100 MB) and "doomed" (300 small
/// ones), both settled into segments.
pub async fn fill(c: &VectorIndexClient<Channel>, svc: &Service) -> anyhow::Result<()> {
    fill_n(c, svc, 12_000).await
}

/// As `fill`, with `n` vectors in "big" (a multiple of 500; ~8.6 KB each in the store).
pub async fn fill_n(c: &VectorIndexClient<Channel>, svc: &Service, n: usize) -> anyhow::Result<()> {
    let mut c = c.clone();
    for name in ["big", "doomed"] {
        let req = pb::CreateIndexRequest { account: String::new(), name: name.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() };
        c.create_index(req).await?;
    }
    let meta = crate::json::to_struct(&serde_json::json!({ "pad": "m".repeat(8 << 10) }));
    for from in (0..n).step_by(500) {
        let vectors = (from..from + 500).map(|i| pb::Vector { id: format!("b{i}"), values: values(1, i), namespace: String::new(), metadata: Some(meta.clone()) }).collect();
        c.upsert(pb::WriteRequest { account: String::new(), index: "big".into(), vectors }).await?;
    }
    let vectors = (0..300).map(|i| pb::Vector { id: format!("d{i}"), values: values(2, i), namespace: String::new(), metadata: None }).collect();
    c.upsert(pb::WriteRequest { account: String::new(), index: "doomed".into(), vectors }).await?;
    for name in ["big", "doomed"] {
        crate::bench::settle(&svc.url(), pb::IndexRef { account: String::new(), name: name.into() }, svc.pid()).await?;
    }
    Ok(())
}

pub struct SlowBackup {
    pub bytes: usize,
    pub copy: Duration,
    pub before_kib: u64,
    pub peak_kib: u64,
    pub took: Vec<(&'static str, Duration)>,
}

impl SlowBackup {
    pub fn rise_kib(&self) -> u64 {
        self.peak_kib.saturating_sub(self.before_kib)
    }

    /// The slowest of the timed calls.
    pub fn worst(&self) -> Duration {
        self.took.iter().map(|t| t.1).max().unwrap_or_default()
    }
}

impl std::fmt::Display for SlowBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backup: {:.0} MB in {:.1} s; RSS {} → peak {} MiB", self.bytes as f64 / 1e6, self.copy.as_secs_f64(), self.before_kib / 1024, self.peak_kib / 1024)?;
        if !self.took.is_empty() {
            write!(f, "; slowest call beside it {:?}", self.worst())?;
        }
        Ok(())
    }
}

/// One backup read at ~100 chunks a second, index-svc's memory sampled all along; with `ops`,
/// index "doomed" deleted and vectors of "big" written and deleted while it streams, each timed.
pub async fn slow_backup(c: &VectorIndexClient<Channel>, pid: u32, ops: bool) -> anyhow::Result<SlowBackup> {
    let rss = move || status_kib(pid, "VmRSS:");
    let before_kib = rss();
    let started = Instant::now();
    let mut stream = c.clone().backup(pb::BackupRequest {}).await?.into_inner();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let ops = {
        let mut c = c.clone();
        tokio::spawn(async move {
            let mut took = Vec::new();
            if !ops {
                return anyhow::Ok(took);
            }
            let t = Instant::now();
            c.delete_index(pb::IndexRef { account: String::new(), name: "doomed".into() }).await?;
            took.push(("delete an index", t.elapsed()));
            for round in 0..10 {
                let t = Instant::now();
                let v = pb::Vector { id: format!("new{round}"), values: values(3, round), namespace: String::new(), metadata: None };
                c.upsert(pb::WriteRequest { account: String::new(), index: "big".into(), vectors: vec![v] }).await?;
                took.push(("write", t.elapsed()));
                let t = Instant::now();
                c.delete_by_ids(pb::IdsRequest { account: String::new(), index: "big".into(), ids: (0..100).map(|i| format!("b{}", round * 100 + i)).collect() }).await?;
                took.push(("delete vectors", t.elapsed()));
            }
            Ok(took)
        })
    };
    let (mut bytes, mut manifest) = (0usize, None);
    while let Some(chunk) = stream.message().await? {
        bytes += chunk.data.len();
        if !chunk.manifest.is_empty() {
            manifest = Some(chunk.manifest);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copy = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let peak_kib = sampler.join().map_err(|_| anyhow::anyhow!("sampler panicked"))?;
    let took = ops.await??;
    anyhow::ensure!(manifest.is_some(), "the backup ended without its manifest");
    Ok(SlowBackup { bytes, copy, before_kib, peak_kib, took })
}
