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

use strato_proto::index::v1::{IndexRef, vector_index_client::VectorIndexClient};

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
        let segments = settle(&s).await?;
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

/// Waits until nothing is pending and index-svc has gone idle (under 2 % of a core over 10 s:
/// seals and merges done); returns the segment count.
async fn settle(s: &Strato) -> anyhow::Result<u32> {
    let mut c = VectorIndexClient::connect(s.index_url()).await?;
    let at = IndexRef { account: ACCOUNT.into(), name: s.index_name().into() };
    let started = Instant::now();
    let mut cpu = vec![(Instant::now(), cpu_seconds(s.index_pid()))];
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cpu.push((Instant::now(), cpu_seconds(s.index_pid())));
        let d = c.describe_index(at.clone()).await?.into_inner();
        let window = cpu.iter().rev().find(|(t, _)| t.elapsed() >= Duration::from_secs(10));
        if let (Some((t0, c0)), Some((_, c1))) = (window, cpu.last())
            && d.pending_vector_count == 0
            && (c1 - c0) / t0.elapsed().as_secs_f64() < 0.02
        {
            return Ok(d.sealed_segments);
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(7200), "not settled: {d:?}");
    }
}

/// CPU time (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name: state is field 3; utime, stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
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
