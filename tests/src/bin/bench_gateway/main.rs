//! Gateway benchmark: end-to-end latency of the tutorial's `/` (embed "orange cloud" + query
//! topK 1) beside the embedder's and the index's own latency for the same work, measured in the
//! same rounds (alternating, ≥ 3, medians), so the gateway's overhead shows as a share of the
//! end-to-end p50; then throughput under a bounded load from a second process (wrk, loopback).
//!
//! Run: ./strato bench gateway   [env BENCH_REQUESTS (default 400), BENCH_ROUNDS (default 3)]
//!
//! `./strato bench gateway --multipart` (or `target/release/bench_gateway --multipart`) times
//! only the gateway's multipart parser on 4 MB bodies, normal and hostile (issue 13): no services.
//!
//! `./strato bench gateway --otel` measures what exporting traces costs (`otel.rs`).
mod otel;

use std::process::Command;
use std::time::{Duration, Instant};

use strato_proto::embedder::v1::{EmbedRequest, embedder_client::EmbedderClient};
use strato_proto::index::v1::{QueryRequest, vector_index_client::VectorIndexClient};
use strato_tests::bench::{fmt_us, median, percentile};
use strato_tests::process::{start_embedder, start_gateway, start_index};
use strato_tests::{QUERY, TEST_MODEL};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--multipart") {
        bench_multipart();
        return Ok(());
    }
    if std::env::args().any(|a| a == "--otel") {
        return otel::bench().await;
    }
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(3);
    let embedder = start_embedder(&[])?;
    let index = start_index(&[])?;
    let gateway = start_gateway(&embedder.url(), &index.url(), &["--create-index"])?;
    let base = format!("http://{}", gateway.addr);
    let http = reqwest::Client::new();
    anyhow::ensure!(http.get(format!("{base}/insert")).send().await?.status().is_success(), "insert failed");
    let mut e = EmbedderClient::connect(embedder.url()).await?;
    let mut ix = VectorIndexClient::connect(index.url()).await?;
    let qv = e.embed(EmbedRequest { model: TEST_MODEL.into(), texts: vec![QUERY.into()], pooling: 0, ..Default::default() }).await?.into_inner().data.remove(0).values;
    println!("{n} sequential requests per contender per round, {rounds} rounds (loopback, 2-core host)");

    let (mut e2e, mut emb, mut idx, mut share) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per request: end-to-end minus the time the gateway spent waiting on the two services
    // (its Server-Timing header) = what the gateway itself adds, free of inference jitter.
    let mut own: Vec<Duration> = Vec::new();
    let (mut seen_embed, mut seen_query): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let mut own_share: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let mut order = [0, 1, 2];
        if round % 2 == 1 {
            order.reverse();
        }
        let mut lat: [Vec<Duration>; 3] = Default::default();
        for c in order {
            for _ in 0..n {
                if c == 2 {
                    // In the pipeline the index sits idle while the embedder works; wake it from
                    // the same idle (back-to-back queries run ~0.1 ms faster on warm workers).
                    tokio::time::sleep(Duration::from_micros(2500)).await;
                }
                let t = Instant::now();
                match c {
                    0 => {
                        let r = http.get(format!("{base}/")).send().await?;
                        anyhow::ensure!(r.status().is_success());
                        let parts: Vec<f64> = r
                            .headers()
                            .get("server-timing")
                            .and_then(|v| v.to_str().ok())
                            .map(|v| v.split(',').filter_map(|p| p.split("dur=").nth(1)?.trim().parse::<f64>().ok()).collect())
                            .unwrap_or_default();
                        let upstream_ms: f64 = parts.iter().sum();
                        if let [e, q] = parts[..] {
                            seen_embed.push(Duration::from_secs_f64(e / 1e3));
                            seen_query.push(Duration::from_secs_f64(q / 1e3));
                        }
                        r.bytes().await?;
                        let total = t.elapsed();
                        own.push(total.saturating_sub(Duration::from_secs_f64(upstream_ms / 1e3)));
                        own_share.push(1.0 - upstream_ms / 1e3 / total.as_secs_f64());
                    }
                    1 => {
                        e.embed(EmbedRequest { model: TEST_MODEL.into(), texts: vec![QUERY.into()], pooling: 0, ..Default::default() }).await?;
                    }
                    _ => {
                        ix.query(QueryRequest { index: "embeddings-index".into(), vector: qv.clone(), top_k: 1, ..Default::default() }).await?;
                    }
                }
                lat[c].push(t.elapsed());
            }
        }
        let p = |l: &Vec<Duration>| percentile(l, 0.5).as_secs_f64();
        let overhead = p(&lat[0]) - p(&lat[1]) - p(&lat[2]);
        println!(
            "round {round}: / p50 {}  embed p50 {}  query p50 {}  → gateway overhead {} ({:.1}% of end-to-end)",
            fmt_us(percentile(&lat[0], 0.5)),
            fmt_us(percentile(&lat[1], 0.5)),
            fmt_us(percentile(&lat[2], 0.5)),
            fmt_us(Duration::from_secs_f64(overhead.max(0.0))),
            100.0 * overhead / p(&lat[0])
        );
        share.push(overhead / p(&lat[0]));
        e2e.push(lat[0].clone());
        emb.push(lat[1].clone());
        idx.push(lat[2].clone());
    }
    let med = |v: &Vec<Vec<Duration>>, q: f64| Duration::from_secs_f64(median(v.iter().map(|l| percentile(l, q).as_secs_f64()).collect()));
    println!("\n== gateway ==");
    println!("end-to-end GET /      p50 {}  p99 {}", fmt_us(med(&e2e, 0.5)), fmt_us(med(&e2e, 0.99)));
    println!("embedder Embed alone  p50 {}  p99 {}", fmt_us(med(&emb, 0.5)), fmt_us(med(&emb, 0.99)));
    println!("index Query alone     p50 {}  p99 {}  (after 2.5 ms idle, as in the pipeline)", fmt_us(med(&idx, 0.5)), fmt_us(med(&idx, 0.99)));
    println!("gateway overhead = end-to-end − Embed − Query: {:.1}% of the end-to-end p50 (median of per-round shares; target ≤ 10%)", 100.0 * median(share));
    println!(
        "gateway overhead, per request (end-to-end minus its Server-Timing wait on the services): p50 {} = {:.1}% of the end-to-end p50 (median share {:.1}%)",
        fmt_us(percentile(&own, 0.5)),
        100.0 * percentile(&own, 0.5).as_secs_f64() / med(&e2e, 0.5).as_secs_f64(),
        100.0 * median(own_share.clone())
    );

    // The HTTP hop's floor: a route that calls no service.
    let mut floor = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        http.get(format!("{base}/favicon.ico")).send().await?.bytes().await?;
        floor.push(t.elapsed());
    }
    let mut idle_q = Vec::new();
    for _ in 0..n.min(200) {
        let t = Instant::now();
        ix.query(QueryRequest { index: "embeddings-index".into(), vector: qv.clone(), top_k: 1, ..Default::default() }).await?;
        idle_q.push(t.elapsed());
    }
    println!("index Query back-to-back (warm workers, for comparison): p50 {}", fmt_us(percentile(&idle_q, 0.5)));
    println!(
        "as the gateway sees its calls (Server-Timing): embed p50 {}, query p50 {}",
        fmt_us(percentile(&seen_embed, 0.5)),
        fmt_us(percentile(&seen_query, 0.5))
    );
    println!("HTTP floor (GET /favicon.ico, no service call): p50 {}", fmt_us(percentile(&floor, 0.5)));

    match Command::new("wrk").args(["-t1", "-c8", "-d10s", "--latency", &format!("{base}/")]).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            println!("\nwrk -t1 -c8 -d10s (second process, 8 connections, bounded to 10 s):");
            for l in text.lines().filter(|l| l.contains("Requests/sec") || l.trim_start().starts_with("50%") || l.trim_start().starts_with("99%") || l.contains("Non-2xx")) {
                println!("  {}", l.trim());
            }
        }
        _ => println!("\nwrk not found: `apt-get install wrk` (./strato bench installs it) for the throughput figure"),
    }
    Ok(())
}

/// The multipart parser (`gateway::routes::upload::multipart_part`) on 4 MB bodies: a wrangler-style
/// boundary and body, and hostile ones whose preamble is runs of dashes one short of the delimiter
/// (the naive search compares almost a whole boundary at every byte: time ∝ body × boundary).
/// 20 kB boundaries are refused at the HTTP edge (RFC 2046: at most 70 characters); the parser
/// is timed with them anyway to show it is linear. Median of 3 runs per case.
fn bench_multipart() {
    use gateway::routes::upload::multipart_part;
    const MB: usize = 1 << 20;
    let ndjson_line = format!("{{\"id\":\"v\",\"values\":[{}]}}\n", vec!["0.123456"; 32].join(","));
    let body = |boundary: &str, preamble: Vec<u8>, size: usize| -> Vec<u8> {
        let mut b = preamble;
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"vectors\"; filename=\"vectors.ndjson\"\r\n\r\n").as_bytes());
        while b.len() < size {
            b.extend_from_slice(ndjson_line.as_bytes());
        }
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    };
    // Runs of dashes one shorter than the delimiter `--<boundary>`, each ending in a newline.
    let hostile = |boundary_len: usize, size: usize| -> Vec<u8> {
        let mut run = vec![b'-'; boundary_len + 1];
        run.push(b'\n');
        let mut b: Vec<u8> = run.iter().copied().cycle().take(size).collect();
        b.extend_from_slice(b"\r\n");
        b
    };
    let time = |name: &str, boundary: &str, b: &[u8]| {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let part = multipart_part(b, boundary, "vectors");
            runs.push(t.elapsed().as_secs_f64());
            assert!(part.is_ok(), "{name}: the vectors part is found");
        }
        let s = strato_tests::bench::median(runs);
        println!("{name:<58} {:>7.1} MB  {:>10.3} ms  {:>8.0} MB/s", b.len() as f64 / MB as f64, s * 1e3, b.len() as f64 / MB as f64 / s);
    };
    println!("multipart parser, median of 3 runs (one core)");
    let normal = "----formdata-undici-012345678901";
    time("normal boundary (32 chars), 4 MB of NDJSON", normal, &body(normal, Vec::new(), 4 * MB));
    for (len, size) in [(70, 4 * MB), (70, 16 * MB), (2_000, 4 * MB), (20_000, MB), (20_000, 4 * MB)] {
        let boundary = "-".repeat(len);
        let name = format!("hostile: {len}-char boundary, {} MB preamble of dash runs", size / MB);
        time(&name, &boundary, &body(&boundary, hostile(len, size), size + 64));
    }
}
