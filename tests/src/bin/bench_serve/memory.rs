//! Resident memory per vector at scale, Strato alone. N synthetic unit vectors (memory does not
//! depend on what they mean; recall is judged on the real embeddings above) are ingested through
//! the REST API and left to settle, then 1000 queries touch what queries touch, then index-svc's
//! memory is read from /proc: all of it (VmRSS), and split into the heap (RssAnon: what the
//! process needs) and mapped segment files (RssFile: rows read for rescoring, clean pages the
//! kernel drops under pressure and reads back from disk).
//!
//! `BENCH_MEMORY` lists the sizes (default 100000). Above 250k vectors index-svc builds with
//! ef_construction 40 so the run takes minutes, not hours: a graph's memory does not depend on
//! it (instant-distance allocates every node's full link array), only its recall does.
use std::time::{Duration, Instant};

use strato_proto::index::v1::{IndexRef, vector_index_client::VectorIndexClient};

use crate::strato::{ACCOUNT, Strato};
use crate::{BATCH, Server};

pub async fn run(sizes: &[usize]) -> anyhow::Result<()> {
    println!("\nmemory at scale (synthetic 384-d unit vectors, REST ingest, settled, after 1000 queries):");
    for &n in sizes {
        let args: &[&str] = if n > 250_000 { &["--ef-construction", "40"] } else { &[] };
        let mut s = Strato::start_with(args, &[])?;
        s.reset().await?;
        let started = Instant::now();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        for from in (0..n).step_by(BATCH) {
            let batch: Vec<Vec<f32>> = (from..(from + BATCH).min(n)).map(|_| rng.unit(384)).collect();
            s.ingest(from, &batch).await?;
        }
        let ingest = started.elapsed();
        let segments = settle(&s).await?;
        let queries: Vec<Vec<f32>> = (0..1000).map(|_| rng.unit(384)).collect();
        let truth = vec![Vec::new(); queries.len()];
        crate::run_queries(&s, &queries, &truth, 10, 1).await?;
        let m = Memory::of(s.index_pid());
        let per = |b: u64| b as f64 / n as f64;
        println!(
            "  {n:>8} vectors: {:.0} B/vector resident (heap {:.0}, mapped rows {:.0}) = {} MiB; {segments} segment(s); ingest {:.0}/s, settled after {:.0} s",
            per(m.rss),
            per(m.anon),
            per(m.file),
            m.rss >> 20,
            n as f64 / ingest.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Waits until nothing is pending and the segment count has held for 30 s (merges done);
/// returns the segment count.
async fn settle(s: &Strato) -> anyhow::Result<u32> {
    let mut c = VectorIndexClient::connect(s.index_url()).await?;
    let at = IndexRef { account: ACCOUNT.into(), name: s.index_name().into() };
    let (mut last, mut since) = (u32::MAX, Instant::now());
    let started = Instant::now();
    loop {
        let d = c.describe_index(at.clone()).await?.into_inner();
        if d.sealed_segments != last {
            (last, since) = (d.sealed_segments, Instant::now());
        }
        if d.pending_vector_count == 0 && (last == 1 || since.elapsed() > Duration::from_secs(30)) {
            return Ok(last);
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(7200), "not settled: {d:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
}

impl Memory {
    fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()).unwrap_or(0) * 1024;
        Self { rss: kb("VmRSS:"), anon: kb("RssAnon:"), file: kb("RssFile:") }
    }
}

/// Deterministic unit vectors (xorshift; sums of uniforms, roughly Gaussian per coordinate).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn unit(&mut self, dims: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dims).map(|_| self.next() + self.next() + self.next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        v.into_iter().map(|x| x / norm).collect()
    }
}
