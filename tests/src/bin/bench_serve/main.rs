//! The served path, as users meet it: vectors ingested through the REST API, then queried through
//! it, against a Chroma server (its own HTTP server, PyPI `chromadb`) on the same machine.
//!
//! Each round, alternating which goes first, each contender gets a fresh index of N real
//! embeddings (all-MiniLM of Debian package synopses; Q held-out synopses are the queries) and:
//! - ingest through HTTP in batches of 1000 (Strato: NDJSON upsert, acknowledged durable);
//! - queries right after ingest (1 client, topK 10);
//! - after `BENCH_REST_SECS` (30) of rest, and for Strato until settled (no seal or merge still
//!   running: on a slow host 30 s did not always do): 1 and 4 clients at topK 10, 1 client at
//!   topK 100;
//! - recall@10 against exact search, p50/p99, resident memory per vector.
//!
//! Bodies are encoded in advance and each client keeps one keep-alive connection. Figures are
//! medians over ≥ 3 rounds of the per-round ratio Strato ÷ Chroma. Then each part of a rested
//! query beside its floor, measured in the same run (`floors.rs`). Then one Strato run exports
//! its traces to an in-process OTLP receiver, for where a query's time goes.
//!
//! Then memory per vector at 100k (and more) synthetic vectors, Strato alone (`memory.rs`).
//!
//! Run: ./strato bench serve   [env BENCH_N (22000), BENCH_Q (500), BENCH_ROUNDS (3),
//! BENCH_REST_SECS (30), BENCH_MEMORY (100000; comma list), BENCH_PARTS
//! (compare,floors,breakdown,memory)]
mod breakdown;
mod chroma;
mod floors;
mod memory;
mod strato;

use std::time::{Duration, Instant};

use strato_tests::bench::{fmt_us, median, percentile};
use strato_tests::embeddings::synopsis_embeddings;

pub const BATCH: usize = 1000;

/// One HTTP server holding one index: how the harness drives either contender.
pub(crate) trait Server {
    fn name(&self) -> &'static str;
    /// A fresh, empty index.
    async fn reset(&mut self) -> anyhow::Result<()>;
    /// Adds ids `from..from+len` (acknowledged when this returns).
    async fn ingest(&self, from: usize, vectors: &[Vec<f32>]) -> anyhow::Result<()>;
    /// A prepared query (body encoded once).
    fn prepare(&self, vector: &[f32], k: usize) -> reqwest::Request;
    /// The ids of an answer, best first.
    fn ids(&self, body: &[u8]) -> anyhow::Result<Vec<usize>>;
    fn rss_bytes(&self) -> u64;
    /// Waits until background index work is done (Chroma indexes as it ingests: nothing to wait).
    async fn settle(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Default, Clone, Copy)]
pub struct Figures {
    pub ingest_per_s: f64,
    pub fresh_qps: f64,
    pub qps1: f64,
    pub qps4: f64,
    pub qps100: f64,
    pub recall: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub bytes_per_vector: f64,
}

/// `clients` concurrent clients, each with its own keep-alive connection, run every query once
/// (split between them); returns (queries/s, per-query latencies, recall@k).
pub(crate) async fn run_queries<S: Server>(s: &S, queries: &[Vec<f32>], truth: &[Vec<usize>], k: usize, clients: usize) -> anyhow::Result<(f64, Vec<Duration>, f64)> {
    let prepared: Vec<reqwest::Request> = queries.iter().map(|q| s.prepare(q, k)).collect();
    let http: Vec<reqwest::Client> = (0..clients).map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client")).collect();
    // Warm each connection.
    for c in &http {
        if let Some(r) = prepared[0].try_clone() {
            c.execute(r).await?.bytes().await?;
        }
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (ci, client) in http.into_iter().enumerate() {
        let mine: Vec<(usize, reqwest::Request)> = prepared.iter().enumerate().skip(ci).step_by(clients).filter_map(|(i, r)| r.try_clone().map(|r| (i, r))).collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(mine.len());
            for (i, r) in mine {
                let t = Instant::now();
                let resp = client.execute(r).await?;
                anyhow::ensure!(resp.status().is_success(), "query answered {}", resp.status());
                let body = resp.bytes().await?;
                out.push((i, t.elapsed(), body));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut lat = Vec::with_capacity(queries.len());
    let mut hits = 0usize;
    for t in tasks {
        for (i, d, body) in t.await?? {
            lat.push(d);
            let got = s.ids(&body)?;
            let want = &truth[i][..k.min(truth[i].len())];
            hits += got.iter().take(k).filter(|id| want.contains(id)).count();
        }
    }
    let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    Ok((qps, lat, hits as f64 / (queries.len() * k) as f64))
}

/// Exact top-k by cosine (the embeddings are unit length: dot product).
fn exact(stored: &[Vec<f32>], q: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = stored.iter().enumerate().map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i)).collect();
    scored.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|s| s.1).collect()
}

async fn measure<S: Server>(s: &mut S, base: &[Vec<f32>], queries: &[Vec<f32>], truth: &[Vec<usize>], rest: Duration) -> anyhow::Result<Figures> {
    s.reset().await?;
    let t = Instant::now();
    for (b, chunk) in base.chunks(BATCH).enumerate() {
        s.ingest(b * BATCH, chunk).await?;
    }
    let ingest_per_s = base.len() as f64 / t.elapsed().as_secs_f64();
    let (fresh_qps, ..) = run_queries(s, queries, truth, 10, 1).await?;
    tokio::time::sleep(rest).await;
    s.settle().await?;
    let (qps1, lat, recall) = run_queries(s, queries, truth, 10, 1).await?;
    let (qps4, ..) = run_queries(s, queries, truth, 10, 4).await?;
    let (qps100, ..) = run_queries(s, queries, truth, 100, 1).await?;
    let bytes_per_vector = s.rss_bytes() as f64 / base.len() as f64;
    let f = Figures { ingest_per_s, fresh_qps, qps1, qps4, qps100, recall, p50: percentile(&lat, 0.5), p99: percentile(&lat, 0.99), bytes_per_vector };
    println!(
        "  {:>6}: ingest {:>6.0}/s | fresh {:>5.0} q/s | rested {:>5.0} q/s (4 clients {:>5.0}, topK 100 {:>5.0}) p50 {} p99 {} recall@10 {:.3} | {:.0} B/vector",
        s.name(), f.ingest_per_s, f.fresh_qps, f.qps1, f.qps4, f.qps100, fmt_us(f.p50), fmt_us(f.p99), f.recall, f.bytes_per_vector
    );
    Ok(f)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (n, q) = (env("BENCH_N", 22_000), env("BENCH_Q", 500));
    let rounds = env("BENCH_ROUNDS", 3).max(3);
    let rest = Duration::from_secs(env("BENCH_REST_SECS", 30) as u64);
    let data = synopsis_embeddings(n + q).await?;
    let (base, queries) = data.vectors.split_at(n);
    let truth: Vec<Vec<usize>> = queries.iter().map(|v| exact(base, v, 100)).collect();
    println!("served path: {n} vectors (384-d MiniLM of Debian synopses), {q} held-out queries, {rounds} rounds, {}s rest", rest.as_secs());
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "compare,floors,breakdown,memory".into());
    let sizes: Vec<usize> = std::env::var("BENCH_MEMORY").unwrap_or_else(|_| "100000".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    if parts.contains("compare") {
        compare(base, queries, &truth, rounds, rest).await?;
    }
    if parts.contains("floors") {
        floors::run(base, queries, rest, rounds).await?;
    }
    if parts.contains("breakdown") {
        breakdown::run(base, queries, rest).await?;
    }
    if parts.contains("memory") {
        memory::run(&sizes).await?;
    }
    Ok(())
}

/// Both contenders, alternating, `rounds` times; prints the medians of per-round ratios.
async fn compare(base: &[Vec<f32>], queries: &[Vec<f32>], truth: &[Vec<usize>], rounds: usize, rest: Duration) -> anyhow::Result<()> {
    let mut strato = strato::Strato::start()?;
    let mut chroma = chroma::Chroma::start()?;
    let mut per_round: Vec<(Figures, Figures)> = Vec::new();
    for round in 0..rounds {
        println!("round {}", round + 1);
        let (a, b) = if round % 2 == 0 {
            let a = measure(&mut strato, base, queries, truth, rest).await?;
            (a, measure(&mut chroma, base, queries, truth, rest).await?)
        } else {
            let b = measure(&mut chroma, base, queries, truth, rest).await?;
            (measure(&mut strato, base, queries, truth, rest).await?, b)
        };
        per_round.push((a, b));
    }
    let ratio = |f: fn(&Figures) -> f64| median(per_round.iter().map(|(a, b)| f(a) / f(b)).collect());
    let med = |f: fn(&Figures) -> f64, which: usize| median(per_round.iter().map(|r| if which == 0 { f(&r.0) } else { f(&r.1) }).collect());
    println!("\nStrato ÷ Chroma (median of per-round ratios; target in brackets):");
    println!("  rested queries/s, 1 client   {:.2}×  [≥ 3×]", ratio(|f| f.qps1));
    println!("  rested queries/s, 4 clients  {:.2}×  [≥ 3×]", ratio(|f| f.qps4));
    println!("  queries/s right after ingest {:.2}×  [≥ 1.5×]", ratio(|f| f.fresh_qps));
    println!("  queries/s at topK 100        {:.2}×", ratio(|f| f.qps100));
    println!("  ingest vectors/s             {:.2}×  [≥ 2×]", ratio(|f| f.ingest_per_s));
    println!("  recall@10                    Strato {:.3}, Chroma {:.3}", med(|f| f.recall, 0), med(|f| f.recall, 1));
    println!("  resident bytes per vector    Strato {:.0}, Chroma {:.0}  [Strato ≤ 2048 at ≥ 100k]", med(|f| f.bytes_per_vector, 0), med(|f| f.bytes_per_vector, 1));
    Ok(())
}

/// Resident memory of a process (VmRSS).
pub fn rss_bytes(pid: u32) -> u64 {
    memory::Memory::of(pid).rss
}
