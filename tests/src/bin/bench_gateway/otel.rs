//! What exporting traces costs: two whole stacks side by side, one exporting every span over
//! OTLP/gRPC to a real receiver on loopback (`strato_tests::otlp`, sampling everything), one
//! with the OTEL variables unset. Each round alternates them, ≥ 3 rounds, and the figures are
//! the medians of the per-round ratios (exporting ÷ not):
//! - p50 of sequential tutorial `/` requests (embed + query) and of REST vector queries;
//! - REST queries per second from 16 concurrent clients (CPU-bound on 2 cores: where span
//!   building and export compete with the work itself).
use std::time::{Duration, Instant};

use serde_json::json;
use strato_tests::bench::{fmt_us, median, percentile};
use strato_tests::otlp::Receiver;
use strato_tests::process::{Service, start_embedder_env, start_gateway_env, start_index_env, scratch_dir};

struct Contender {
    name: &'static str,
    _services: Vec<Service>,
    base: String,
}

fn stack(name: &'static str, env: &[(&str, &str)]) -> anyhow::Result<Contender> {
    let embedder = start_embedder_env(&[], env)?;
    let index = start_index_env(&scratch_dir("bench-otel"), &[], env)?;
    let gateway = start_gateway_env(&embedder.url(), &index.url(), &["--create-index", "--binding-account", "bench"], env)?;
    let base = gateway.url();
    Ok(Contender { name, _services: vec![embedder, index, gateway], base })
}

fn query_url(base: &str) -> String {
    format!("{base}/client/v4/accounts/bench/vectorize/v2/indexes/embeddings-index/query")
}

async fn sequential(http: &reqwest::Client, url: &str, body: Option<&serde_json::Value>, n: usize) -> anyhow::Result<Duration> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = match body {
            Some(b) => http.post(url).json(b).send().await?,
            None => http.get(url).send().await?,
        };
        anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
        r.bytes().await?;
        lat.push(t.elapsed());
    }
    Ok(percentile(&lat, 0.5))
}

async fn throughput(url: &str, body: &serde_json::Value, secs: f64) -> anyhow::Result<f64> {
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (url, body) = (url.to_owned(), body.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut n = 0u64;
                while Instant::now() < stop {
                    if http.post(&url).json(&body).send().await.is_ok_and(|r| r.status().is_success()) {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total as f64 / secs)
}

pub async fn bench() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(3);
    let receiver = Receiver::start()?;
    let ep = receiver.endpoint();
    let on = stack("exporting", &[("OTEL_EXPORTER_OTLP_ENDPOINT", ep.as_str())])?;
    let off = stack("not exporting", &[])?;
    let http = reqwest::Client::new();
    for c in [&on, &off] {
        anyhow::ensure!(http.get(format!("{}/insert", c.base)).send().await?.status().is_success(), "insert");
    }
    let mut v = vec![0.0f32; 384];
    v[0] = 1.0;
    let body = json!({"vector": v, "topK": 3});
    println!("traces exported vs not: {n} sequential requests per kind, then 16 clients for 3 s; {rounds} rounds, alternating");
    let (mut tut, mut rest, mut tput) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { [&on, &off] } else { [&off, &on] };
        let mut got = Vec::new();
        for c in order {
            let t = sequential(&http, &format!("{}/", c.base), None, n).await?;
            let q = sequential(&http, &query_url(&c.base), Some(&body), n).await?;
            let qps = throughput(&query_url(&c.base), &body, 3.0).await?;
            println!("  round {}: {:>13}  / p50 {}  REST query p50 {}  {qps:.0} queries/s", round + 1, c.name, fmt_us(t), fmt_us(q));
            got.push((c.name, t, q, qps));
        }
        let (a, b) = if got[0].0 == on.name { (got[0], got[1]) } else { (got[1], got[0]) };
        tut.push(a.1.as_secs_f64() / b.1.as_secs_f64());
        rest.push(a.2.as_secs_f64() / b.2.as_secs_f64());
        tput.push(a.3 / b.3);
    }
    println!("exporting ÷ not (median of per-round ratios):");
    println!("  tutorial / p50          {:.3}×", median(tut));
    println!("  REST query p50          {:.3}×", median(rest));
    println!("  REST queries/s (16 c.)  {:.3}×", median(tput));
    println!("spans received: {}", receiver.spans().len());
    Ok(())
}
