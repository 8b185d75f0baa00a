//! Resident memory per vector at scale, Strato alone. N synthetic unit vectors (memory does not
//! depend on what they mean; recall is judged on the real embeddings above) are ingested through
//! the REST API and left to settle, then 1000 queries touch what queries touch, then index-svc's
//! memory is read from /proc: all of it (VmRSS), and split into the heap (RssAnon: what the
//! process needs) and mapped segment files (RssFile: rows read for rescoring, clean pages the
//! kernel drops under pressure and reads back from disk).
//!
//! `BENCH_MEMORY` lists the sizes (default 100000); `BENCH_HOLD_SECS` keeps each index-svc
//! running that long after its figures, to inspect it (/proc/PID/smaps). index-svc builds with ef_construction 40
//! here, so 1M vectors settle in minutes, not hours: a graph's memory does not depend on it
//! (instant-distance allocates every node's full link array), only its recall and build time do.
use std::time::{Duration, Instant};

use strato_proto::index::v1::IndexRef;
use strato_tests::bench::{Rng, settle};

use crate::strato::{ACCOUNT, Strato};
use crate::{BATCH, Server};

pub async fn run(sizes: &[usize]) -> anyhow::Result<()> {
    println!("\nmemory at scale (synthetic 384-d unit vectors, REST ingest, settled, after 1000 queries):");
    for &n in sizes {
        let args = ["--ef-construction", "40"];
        let mut s = Strato::start_with(&args, &[])?;
        s.reset().await?;
        let started = Instant::now();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
        for from in (0..n).step_by(BATCH) {
            let batch: Vec<Vec<f32>> = (from..(from + BATCH).min(n)).map(|_| rng.unit(384)).collect();
            s.ingest(from, &batch).await?;
        }
        let ingest = started.elapsed();
        let segments = settle(&s.index_url(), IndexRef { account: ACCOUNT.into(), name: s.index_name().into() }, s.index_pid()).await?;
        let settled = started.elapsed();
        let queries: Vec<Vec<f32>> = (0..1000).map(|_| rng.unit(384)).collect();
        let truth = vec![Vec::new(); queries.len()];
        crate::run_queries(&s, &queries, &truth, 10, 1).await?;
        let m = Memory::of(s.index_pid());
        if let Some(secs) = std::env::var("BENCH_HOLD_SECS").ok().and_then(|v| v.parse().ok()) {
            println!("  holding index-svc (pid {}) for {secs} s", s.index_pid());
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        let per = |b: u64| b as f64 / n as f64;
        println!(
            "  {n:>8} vectors: {:.0} B/vector resident (heap {:.0}, file-backed: rows read, binary {:.0}) = {} MiB; {segments} segment(s); ingest {:.0}/s, settled {:.0} s later",
            per(m.rss),
            per(m.anon),
            per(m.file),
            m.rss >> 20,
            n as f64 / ingest.as_secs_f64(),
            (settled - ingest).as_secs_f64()
        );
    }
    Ok(())
}

/// A process's resident memory from /proc/PID/status: all of it, the heap, file-backed pages.
pub struct Memory {
    pub rss: u64,
    anon: u64,
    file: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()).unwrap_or(0) * 1024;
        Self { rss: kb("VmRSS:"), anon: kb("RssAnon:"), file: kb("RssFile:") }
    }
}
