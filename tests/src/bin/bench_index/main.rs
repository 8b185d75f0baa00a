//! Index benchmark on real-text embeddings (all-MiniLM vectors of Debian package synopses, 45k
//! indexed, 1000 held-out queries): in-process graph search over an ef sweep against hnswlib
//! (M=16, ef_construction=200) and exact brute force, alternating, ≥ 3 rounds, medians of
//! per-round ratios; then the service over gRPC: ingest throughput, background HNSW build,
//! memory per vector, query latency and the overhead gRPC adds; and start-up time at 100k.
//!
//! Run: ./strato bench index   [env BENCH_ROUNDS (default 3)]
//! This build against another index-svc binary (e.g. one built from an earlier commit),
//! alternating, medians of per-round ratios (`versus.rs`): writes only, start-up at 100k and
//! 1M vectors (`BENCH_STARTUP_SIZES`, a comma list), or a backup under load:
//!      BENCH_WRITES_BASELINE=/path/to/index-svc ./strato bench index
//!      BENCH_STARTUP_BASELINE=/path/to/index-svc ./strato bench index
//!      BENCH_BACKUP_BASELINE=/path/to/index-svc ./strato bench index   (a backup under load)
//! What each ef_construction buys (build time and CPU beside recall and QPS per ef), nothing else:
//!      BENCH_BUILD_SWEEP=100,200,400 ./strato bench index
mod versus;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use index_svc::segment::{self, Sealed};
use index_svc::types::Metric;
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::bench::{fmt_us, median, percentile};
use strato_tests::embeddings::{DIMS, synopsis_embeddings};
use strato_tests::process::{scratch_dir, start_index_on, status_kib};

/// The engine in this process runs on the service's allocator (huge pages for big arenas).
#[global_allocator]
static ALLOC: index_svc::memory::HugePageAlloc = index_svc::memory::HugePageAlloc;

const N: usize = 45_000;
const Q: usize = 1_000;
const K: usize = 10;
const SWEEP: &[usize] = &[10, 12, 16, 20, 24, 32, 40, 48, 56, 64, 80, 96, 128, 160, 200];

#[derive(Default)]
struct Point {
    ef: usize,
    qps: f64,
    recall: f64,
    p50: Duration,
    /// Ours only: the depth the planner rescores (`recall` is at it), and recall had it rescored
    /// every one of the ef candidates.
    recall_all: f64,
    depth: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(3);
    if let Ok(baseline) = std::env::var("BENCH_BACKUP_BASELINE") {
        return versus::backup(&baseline, rounds).await;
    }
    if let Ok(baseline) = std::env::var("BENCH_STARTUP_BASELINE") {
        let sizes = std::env::var("BENCH_STARTUP_SIZES").unwrap_or_else(|_| "100000,1000000".into());
        let sizes: Vec<usize> = sizes.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        return versus::startup(&baseline, &sizes, rounds).await;
    }
    let data = synopsis_embeddings(N + Q).await?;
    let (base, queries) = data.vectors.split_at(N);
    println!("{N} base vectors × {DIMS} dims (all-MiniLM of Debian synopses), {Q} held-out queries, top-{K}, {rounds} rounds");
    if let Ok(baseline) = std::env::var("BENCH_WRITES_BASELINE") {
        return versus::writes(&baseline, base, rounds).await;
    }

    // Ground truth and the exact brute-force contender (same kernel, one thread).
    let stored: Vec<Vec<f32>> = base.iter().map(|v| segment::stored_form(Metric::Cosine, v)).collect();
    let t = Instant::now();
    let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact(&stored, q)).collect();
    let exact_qps = Q as f64 / t.elapsed().as_secs_f64();

    let dir = scratch_dir("bench-index");
    let write = |name: &str, f: &dyn Fn(&mut Vec<u8>)| -> anyhow::Result<std::path::PathBuf> {
        let mut b = Vec::new();
        f(&mut b);
        let p = dir.join(name);
        std::fs::write(&p, b)?;
        Ok(p)
    };
    let base_f = write("base.f32", &|b| base.iter().flatten().for_each(|x| b.extend_from_slice(&x.to_le_bytes())))?;
    let q_f = write("q.f32", &|b| queries.iter().flatten().for_each(|x| b.extend_from_slice(&x.to_le_bytes())))?;
    let t_f = write("truth.u32", &|b| truth.iter().flatten().for_each(|x| b.extend_from_slice(&x.to_le_bytes())))?;

    if let Ok(list) = std::env::var("BENCH_BUILD_SWEEP") {
        let settings: Vec<usize> = list.split(',').filter_map(|v| v.trim().parse().ok()).collect();
        return build_sweep(&stored, queries, &truth, &settings);
    }

    // In-process: one sealed segment of all 45k, searched at each swept ef.
    let t = Instant::now();
    let efc: usize = std::env::var("BENCH_EF_CONSTRUCTION").ok().and_then(|v| v.parse().ok()).unwrap_or(index_svc::EngineConfig::default().ef_construction);
    let seg = Sealed::build(1, Metric::Cosine, DIMS, stored.iter().flatten().copied().collect(), (0..N as u64).collect(), SWEEP, efc)?;
    let build_s = t.elapsed().as_secs_f64();
    let graph_bytes = seg.graph().heap_bytes();
    let arena_bytes = seg.rows.len() * 4 + seg.seqs.len() * 8;

    let mut py = Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/bench_hnswlib.py"))
        .args([&base_f, &q_f, &t_f])
        .arg(DIMS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut py_in = py.stdin.take().ok_or_else(|| anyhow::anyhow!("stdin"))?;
    let mut py_out = BufReader::new(py.stdout.take().ok_or_else(|| anyhow::anyhow!("stdout"))?);
    let mut line = String::new();
    py_out.read_line(&mut line)?;
    let hnswlib_build: f64 = serde_json::from_str::<serde_json::Value>(&line)?["build_s"].as_f64().unwrap_or(f64::NAN);
    println!("build: instant-distance (M=32, ef_construction={efc}, 2 threads) {build_s:.1} s; hnswlib (M=16, ef_construction=200, 2 threads) {hnswlib_build:.1} s");

    if std::env::var_os("BENCH_ONLY_GRPC").is_some() {
        drop(py_in);
        let _ = py.wait();
        return grpc_section(base, queries, &truth, &seg, rounds).await;
    }
    let sweep_line = SWEEP.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let run_ours = || sweep_in_process(&seg, SWEEP, queries, &truth);
        let mut run_theirs = || -> anyhow::Result<Vec<Point>> {
            writeln!(py_in, "{sweep_line}")?;
            let mut l = String::new();
            py_out.read_line(&mut l)?;
            let v: serde_json::Value = serde_json::from_str(&l)?;
            Ok(v["results"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| Point {
                            ef: r["ef"].as_u64().unwrap_or(0) as usize,
                            qps: r["qps"].as_f64().unwrap_or(0.0),
                            recall: r["recall"].as_f64().unwrap_or(0.0),
                            p50: Duration::from_secs_f64(r["p50_us"].as_f64().unwrap_or(0.0) / 1e6),
                            ..Default::default()
                        })
                        .collect()
                })
                .unwrap_or_default())
        };
        if round % 2 == 0 {
            ours.push(run_ours());
            theirs.push(run_theirs()?);
        } else {
            theirs.push(run_theirs()?);
            ours.push(run_ours());
        }
    }
    drop(py_in);
    let _ = py.wait();

    println!("\n== in-process search, one thread: QPS / recall@10 per ef (round medians) ==");
    println!(
        "{:>5} {:>6} {:>12} {:>10} {:>10} {:>10} | {:>12} {:>10} {:>10}",
        "ef", "depth", "ours QPS", "recall", "@ef", "p50", "hnswlib QPS", "recall", "p50"
    );
    for (i, ef) in SWEEP.iter().enumerate() {
        let m = |rs: &Vec<Vec<Point>>, f: &dyn Fn(&Point) -> f64| median(rs.iter().map(|r| f(&r[i])).collect());
        println!(
            "{ef:>5} {:>6} {:>12.0} {:>10.4} {:>10.4} {:>10} | {:>12.0} {:>10.4} {:>10}",
            ours[0][i].depth.min(*ef),
            m(&ours, &|p| p.qps),
            m(&ours, &|p| p.recall),
            m(&ours, &|p| p.recall_all),
            fmt_us(Duration::from_secs_f64(m(&ours, &|p| p.p50.as_secs_f64()))),
            m(&theirs, &|p| p.qps),
            m(&theirs, &|p| p.recall),
            fmt_us(Duration::from_secs_f64(m(&theirs, &|p| p.p50.as_secs_f64()))),
        );
    }
    println!("exact brute force (same kernel): {exact_qps:.0} QPS, recall 1.0");
    for target in [0.95, 0.99] {
        let ratios: Vec<f64> = ours.iter().zip(&theirs).filter_map(|(o, t)| Some(at_recall(o, target)?.qps / at_recall(t, target)?.qps)).collect();
        let (o_ef, t_ef) = (ours.last().and_then(|r| at_recall(r, target)).map(|p| p.ef), theirs.last().and_then(|r| at_recall(r, target)).map(|p| p.ef));
        println!(
            "QPS at recall@10 ≥ {target}: ours / hnswlib = {:.3}x (median of {} rounds; ef ours {:?}, hnswlib {:?}; target ≥ 1.0)",
            median(ratios.clone()),
            ratios.len(),
            o_ef,
            t_ef
        );
    }
    println!(
        "sealed segment ≈ {:.0} bytes/vector: graph {:.0} (8-bit points inline + links), f32 arena {:.0}",
        (graph_bytes + arena_bytes) as f64 / N as f64,
        graph_bytes as f64 / N as f64,
        arena_bytes as f64 / N as f64
    );

    if std::env::var_os("BENCH_SKIP_GRPC").is_some() {
        return Ok(());
    }
    grpc_section(base, queries, &truth, &seg, rounds).await
}

/// What each ef_construction buys (issue #27, point 6): build time and CPU beside recall and
/// QPS at a few ef. instant-distance fixes M at 32 (64 links on layer 0), so ef_construction is
/// the one build setting there is. One query thread, one pass per ef (a build takes the time).
fn build_sweep(stored: &[Vec<f32>], queries: &[Vec<f32>], truth: &[Vec<u32>], settings: &[usize]) -> anyhow::Result<()> {
    const EFS: [usize; 5] = [16, 32, 64, 96, 128];
    println!("\n== build settings (M = 32 fixed by instant-distance): build wall / CPU, then recall@10 and QPS per ef ==");
    println!("{:>6} {:>8} {:>8} | {}", "efc", "wall s", "CPU s", EFS.iter().map(|e| format!("{:>17}", format!("ef {e}"))).collect::<Vec<_>>().join(" "));
    for &efc in settings {
        let cpu0 = strato_tests::bench::cpu_seconds(std::process::id());
        let t = Instant::now();
        let seg = Sealed::build(1, Metric::Cosine, DIMS, stored.iter().flatten().copied().collect(), (0..N as u64).collect(), &EFS, efc)?;
        let (wall, cpu) = (t.elapsed().as_secs_f64(), strato_tests::bench::cpu_seconds(std::process::id()) - cpu0);
        let cells: Vec<String> = sweep_in_process(&seg, &EFS, queries, truth).iter().map(|p| format!("{:>9.4} {:>6.0}/s", p.recall, p.qps)).collect();
        println!("{efc:>6} {wall:>8.1} {cpu:>8.1} | {}", cells.join(" "));
    }
    Ok(())
}

fn exact(stored: &[Vec<f32>], q: &[f32]) -> Vec<u32> {
    let q = segment::query_form(Metric::Cosine, q);
    let mut s: Vec<(f32, u32)> = stored.iter().enumerate().map(|(i, v)| (segment::distance(Metric::Cosine, &q, v), i as u32)).collect();
    s.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0));
    s.truncate(K);
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    s.into_iter().map(|(_, i)| i).collect()
}

/// Graph search + exact rescoring of the best `depth` candidates (by the graph's 8-bit order), as
/// the planner does for one segment.
fn search(seg: &Sealed, ef: usize, q: &[f32], depth: usize) -> Vec<u32> {
    let q = segment::query_form(Metric::Cosine, q);
    let mut hits: Vec<(f32, u32)> = Vec::with_capacity(64);
    seg.search(ef, &q, depth, &mut |seq, p| hits.push((segment::distance(Metric::Cosine, &q, p), seq as u32)));
    top_k(hits)
}

fn top_k(mut hits: Vec<(f32, u32)>) -> Vec<u32> {
    hits.sort_by(|a, b| a.0.total_cmp(&b.0));
    hits.truncate(K);
    hits.into_iter().map(|(_, i)| i).collect()
}

fn sweep_in_process(seg: &Sealed, efs: &[usize], queries: &[Vec<f32>], truth: &[Vec<u32>]) -> Vec<Point> {
    efs.iter()
        .map(|&ef| {
            let depth = index_svc::planner::rescore_depth(K, ef);
            let mut lat = Vec::with_capacity(queries.len());
            let mut hits = 0;
            let start = Instant::now();
            for (q, t) in queries.iter().zip(truth) {
                let t0 = Instant::now();
                let got = search(seg, ef, q, depth);
                lat.push(t0.elapsed());
                hits += got.iter().filter(|i| t.contains(i)).count();
            }
            let secs = start.elapsed().as_secs_f64();
            // Recall with every candidate rescored, from one untimed pass.
            let all: usize = queries.iter().zip(truth).map(|(q, t)| search(seg, ef, q, usize::MAX).iter().filter(|i| t.contains(i)).count()).sum();
            let per = (queries.len() * K) as f64;
            Point { ef, qps: queries.len() as f64 / secs, recall: hits as f64 / per, p50: percentile(&lat, 0.5), recall_all: all as f64 / per, depth }
        })
        .collect()
}

/// The cheapest swept point reaching `target` recall.
fn at_recall(points: &[Point], target: f64) -> Option<&Point> {
    points.iter().find(|p| p.recall >= target)
}

async fn grpc_section(base: &[Vec<f32>], queries: &[Vec<f32>], truth: &[Vec<u32>], seg: &Sealed, rounds: usize) -> anyhow::Result<()> {
    println!("\n== index-svc over gRPC (one process, loopback) ==");
    let data = scratch_dir("bench-index-data");
    let extra = std::env::var("BENCH_INDEX_ARGS").unwrap_or_default();
    let mut args = vec!["--seal-threshold", "45000"];
    args.extend(extra.split_whitespace());
    let mut svc = start_index_on(&data, &args)?;
    let rss0 = status_kib(svc.pid(), "VmRSS:");
    let mut c = VectorIndexClient::connect(svc.url()).await?.max_decoding_message_size(64 << 20);
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: "bench".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() }).await?;
    let t = Instant::now();
    for from in (0..N).step_by(1000) {
        let vectors = (from..(from + 1000).min(N))
            .map(|i| pb::Vector { id: i.to_string(), values: base[i].clone(), namespace: String::new(), metadata: None })
            .collect();
        c.upsert(pb::WriteRequest { account: String::new(), index: "bench".into(), vectors }).await?;
    }
    let ingest = t.elapsed().as_secs_f64();
    println!("ingest: {N} vectors in batches of 1000, durable (fsync per batch): {:.0} vectors/s", N as f64 / ingest);
    let (per_s, p50, p99) = small_writes(&c, base).await?;
    println!(
        "small writes: {SMALL_WRITERS} concurrent writers × {SMALL_EACH} one-vector upserts, each acknowledged durable: {per_s:.0} writes/s, p50 {}, p99 {}",
        fmt_us(p50),
        fmt_us(p99)
    );
    let t = Instant::now();
    loop {
        let s = c.describe_index(pb::IndexRef { account: String::new(), name: "bench".into() }).await?.into_inner();
        if s.indexed_vector_count as usize >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("background HNSW build in the service: {:.1} s after the last acknowledged write", t.elapsed().as_secs_f64());
    let rss1 = status_kib(svc.pid(), "VmRSS:");
    println!("memory: RSS {} MiB → {} MiB, {:.0} bytes per vector ({DIMS} dims = {} bytes raw)", rss0 / 1024, rss1 / 1024, (rss1.saturating_sub(rss0)) as f64 * 1024.0 / N as f64, DIMS * 4);

    // Latency through gRPC vs the same search in-process (tier ef 64, the service's first tier).
    // The same engine in this process (same code path as the service, minus gRPC), same data.
    let local_dir = scratch_dir("bench-index-local");
    let engine_cfg = index_svc::EngineConfig { seal_threshold: 45_000, ..Default::default() };
    let engine = index_svc::engine::Engine::open(&local_dir, engine_cfg)?;
    engine.create("", "bench", DIMS, Metric::Cosine, "").await?;
    for from in (0..N).step_by(1000) {
        let vectors = (from..(from + 1000).min(N))
            .map(|i| index_svc::engine::NewVector { id: i.to_string(), values: base[i].clone(), namespace: None, metadata: None })
            .collect();
        engine.write("", "bench", vectors, index_svc::engine::WriteMode::Upsert).await?;
    }
    engine.wait_idle();
    let _ = seg;
    // Each query runs both ways back to back (order alternating), so both see the same cache and
    // scheduler state; what gRPC adds is the median of the per-query differences.
    let (mut overhead, mut grpc_p50, mut grpc_p99, mut grpc_qps, mut grpc_recall) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut remote = Vec::with_capacity(queries.len());
        let mut diffs = Vec::with_capacity(queries.len());
        let mut hits = 0;
        for (i, (q, t)) in queries.iter().zip(truth).enumerate() {
            let local = || {
                let t0 = Instant::now();
                let p = index_svc::engine::QueryParams {
                    vector: Some(q.clone()),
                    vector_id: None,
                    top_k: K,
                    return_values: false,
                    return_metadata: index_svc::types::ReturnMetadata::None,
                    filter: None,
                    namespace: None,
                };
                std::hint::black_box(engine.query("", "bench", p).map(|r| r.0.len()).unwrap_or(0));
                t0.elapsed()
            };
            let in_first = (i + round) % 2 == 0;
            let before = if in_first { Some(local()) } else { None };
            let t0 = Instant::now();
            let r = c.query(pb::QueryRequest { account: String::new(), index: "bench".into(), vector: q.clone(), top_k: K as u32, ..Default::default() }).await?.into_inner();
            let rt = t0.elapsed();
            let lt = before.unwrap_or_else(local);
            remote.push(rt);
            diffs.push(rt.as_secs_f64() - lt.as_secs_f64());
            hits += r.matches.iter().filter(|m| m.id.parse::<u32>().is_ok_and(|i| t.contains(&i))).count();
        }
        grpc_qps.push(remote.len() as f64 / remote.iter().map(Duration::as_secs_f64).sum::<f64>());
        overhead.push(median(diffs));
        grpc_p50.push(percentile(&remote, 0.5).as_secs_f64());
        grpc_p99.push(percentile(&remote, 0.99).as_secs_f64());
        grpc_recall.push(hits as f64 / (queries.len() * K) as f64);
    }
    println!(
        "gRPC query top-10 (sequential client): {:.0} QPS, p50 {}, p99 {}, recall@10 {:.4}",
        median(grpc_qps),
        fmt_us(Duration::from_secs_f64(median(grpc_p50))),
        fmt_us(Duration::from_secs_f64(median(grpc_p99))),
        median(grpc_recall)
    );
    println!("gRPC adds {} per query (median of per-query differences to the same engine queried in-process; target ≤ 100 µs)", fmt_us(Duration::from_secs_f64(median(overhead).max(0.0))));
    // The transport's floor on this host: a call that does no work.
    let mut floor = Vec::new();
    for _ in 0..1000 {
        let t0 = Instant::now();
        c.describe_index(pb::IndexRef { account: String::new(), name: "bench".into() }).await?;
        floor.push(t0.elapsed());
    }
    // The same call after both processes idled as long as a query computes: on a VM an idle vCPU
    // halts, and waking it costs more than the short gaps between back-to-back calls.
    let mut idle_floor = Vec::new();
    for _ in 0..1000 {
        std::thread::sleep(Duration::from_micros(250));
        let t0 = Instant::now();
        c.describe_index(pb::IndexRef { account: String::new(), name: "bench".into() }).await?;
        idle_floor.push(t0.elapsed());
    }
    // The query's own request and response on an index of one vector: the transport with the
    // payload but without the search.
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: "tiny".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() }).await?;
    c.upsert(pb::WriteRequest { account: String::new(), index: "tiny".into(), vectors: vec![pb::Vector { id: "a".into(), values: base[0].clone(), namespace: String::new(), metadata: None }] }).await?;
    let mut tiny = Vec::new();
    for q in queries {
        let t0 = Instant::now();
        c.query(pb::QueryRequest { account: String::new(), index: "tiny".into(), vector: q.clone(), top_k: K as u32, ..Default::default() }).await?;
        tiny.push(t0.elapsed());
    }
    println!(
        "gRPC floor: DescribeIndex (no work) p50 {} back to back, {} after 250 µs idle; the same Query on a 1-vector index p50 {}; a bare TCP ping-pong between two threads p50 {}",
        fmt_us(percentile(&floor, 0.5)),
        fmt_us(percentile(&idle_floor, 0.5)),
        fmt_us(percentile(&tiny, 0.5)),
        fmt_us(tcp_ping_pong()?)
    );

    // Start-up at 100k: top up with perturbed copies of real vectors, then restart.
    let extra = 100_000 - N;
    for b in (0..extra).step_by(1000) {
        let vectors = (b..(b + 1000).min(extra))
            .map(|i| {
                let src = &base[i % N];
                let values: Vec<f32> = src.iter().enumerate().map(|(d, x)| x + 0.01 * ((i * 31 + d) as f32).sin()).collect();
                pb::Vector { id: format!("x{i}"), values, namespace: String::new(), metadata: None }
            })
            .collect();
        c.upsert(pb::WriteRequest { account: String::new(), index: "bench".into(), vectors }).await?;
    }
    loop {
        let s = c.describe_index(pb::IndexRef { account: String::new(), name: "bench".into() }).await?.into_inner();
        if s.indexed_vector_count >= 90_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    svc.kill();
    let t = Instant::now();
    let svc = start_index_on(&data, &args)?;
    let startup = t.elapsed();
    let mut c = VectorIndexClient::connect(svc.url()).await?;
    let s = c.describe_index(pb::IndexRef { account: String::new(), name: "bench".into() }).await?.into_inner();
    println!("start-up with {} vectors ({} in persisted HNSW segments): {:.2} s to serving", s.vector_count, s.indexed_vector_count, startup.as_secs_f64());
    let rss = status_kib(svc.pid(), "VmRSS:");
    println!(
        "memory after that restart (steady state, no build high-water): RSS {} MiB, {:.0} bytes per vector",
        rss / 1024,
        rss as f64 * 1024.0 / s.vector_count.max(1) as f64
    );
    Ok(())
}

const SMALL_WRITERS: usize = 32;
const SMALL_EACH: usize = 40;

/// Many writers each upserting one vector at a time (a Worker per request): every
/// acknowledgement waits for durability, so this measures how commits share fsyncs.
async fn small_writes(c: &VectorIndexClient<tonic::transport::Channel>, base: &[Vec<f32>]) -> anyhow::Result<(f64, Duration, Duration)> {
    const WRITERS: usize = SMALL_WRITERS;
    const EACH: usize = SMALL_EACH;
    let mut c0 = c.clone();
    c0.create_index(pb::CreateIndexRequest { account: String::new(), name: "small".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() }).await?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let mut c = c.clone();
        let vs: Vec<Vec<f32>> = (0..EACH).map(|i| base[(w * EACH + i) % base.len()].clone()).collect();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(EACH);
            for (i, values) in vs.into_iter().enumerate() {
                let t0 = Instant::now();
                let v = pb::Vector { id: format!("w{w}-{i}"), values, namespace: String::new(), metadata: None };
                c.upsert(pb::WriteRequest { account: String::new(), index: "small".into(), vectors: vec![v] }).await?;
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    c0.delete_index(pb::IndexRef { account: String::new(), name: "small".into() }).await?;
    Ok(((WRITERS * EACH) as f64 / secs, percentile(&lat, 0.5), percentile(&lat, 0.99)))
}

/// What one round trip over loopback costs on this host with no protocol at all: 100 bytes
/// each way between two threads (p50 of 2000). Whatever gRPC adds sits on top of this.
fn tcp_ping_pong() -> anyhow::Result<Duration> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 100];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut buf = [7u8; 100];
    let mut lat = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t0 = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        lat.push(t0.elapsed());
    }
    drop(s);
    let _ = echo.join();
    Ok(percentile(&lat, 0.5))
}

