//! Each part of a rested query beside its floor, measured in the same run on the same servers
//! (issue #27, point 1). Per query, seven probes run back to back in a rotating order, so all see
//! the same cache and scheduler state:
//! - the query through the REST API (what a user measures);
//! - a fixed-body route of the same gateway, on the same keep-alive connection (the gateway's
//!   floor: HTTP in and out, the same middleware, no work);
//! - the same query straight to index-svc over gRPC (so REST − gRPC is the gateway's part);
//! - the same Query on an index of one vector (the hop with the query's payload, no search);
//! - grpc.health.v1 Check on the same channel (an empty call: the hop's floor);
//! - the first two again through a second gateway on the same index-svc, run with one worker
//!   thread (`--worker-threads 1`), which shows what tokio's cross-thread wake-ups cost; or,
//!   with `BENCH_FLOORS_BASELINE=<gateway binary>`, that binary on its defaults: an earlier
//!   gateway against this one in the same run, on the same index-svc and probes.
//!
//! Then each probe alone, with each process's CPU clock read around it: latency minus CPU is
//! waiting. The search itself is compared with hnswlib by `./strato bench index`.
use std::time::{Duration, Instant};

use serde_json::json;
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::bench::{cpu_ns, fmt_us, median, percentile};
use strato_tests::process::start_gateway_bin;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::strato::{ACCOUNT, Strato};
use crate::{BATCH, Server};

const PROBES: [&str; N] = ["REST query", "gateway fixed body", "gRPC Query", "gRPC Query, 1-vector index", "gRPC empty call", "REST query, second gateway", "fixed body, second gateway"];
const N: usize = 7;
type Row<'a> = (&'a str, &'a dyn Fn(&[f64; N]) -> f64, &'a dyn Fn(&[f64; N]) -> f64);

pub async fn run(base: &[Vec<f32>], queries: &[Vec<f32>], rest: Duration, rounds: usize) -> anyhow::Result<()> {
    let mut s = Strato::start()?;
    s.reset().await?;
    for (b, chunk) in base.chunks(BATCH).enumerate() {
        s.ingest(b * BATCH, chunk).await?;
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
    let tiny = "floor-tiny";
    let r = http.post(s.base()).json(&json!({"name": tiny, "config": {"dimensions": 384, "metric": "cosine"}})).send().await?;
    anyhow::ensure!(r.status().is_success(), "create {tiny}: {}", r.text().await?);
    let one = json!({"id": "0", "values": base[0]}).to_string();
    let r = http.post(format!("{}/{tiny}/upsert", s.base())).header("content-type", "application/x-ndjson").body(one).send().await?;
    anyhow::ensure!(r.status().is_success(), "upsert {tiny}: {}", r.text().await?);
    tokio::time::sleep(rest).await;
    // Rested means settled: no seal or merge still running beside the probes.
    let at = |name: &str| pb::IndexRef { account: ACCOUNT.into(), name: name.into() };
    let segments = strato_tests::bench::settle(&s.index_url(), at(s.index_name()), s.index_pid()).await?;
    println!("  settled: {segments} sealed segment(s)");

    let baseline = std::env::var("BENCH_FLOORS_BASELINE").ok().filter(|b| !b.is_empty());
    let (bin, extra, second_is) = match &baseline {
        Some(bin) => (bin.as_str(), &["--max-concurrent-requests", "4096"][..], format!("the baseline gateway ({bin})")),
        None => ("gateway", &["--max-concurrent-requests", "4096", "--worker-threads", "1"][..], "a gateway on 1 worker thread".to_owned()),
    };
    let second = start_gateway_bin(bin, "http://127.0.0.1:9", &s.index_url(), extra, &[])?;
    println!("  second gateway: {second_is}");
    let channel = tonic::transport::Endpoint::from_shared(s.index_url())?.connect().await?;
    let root = |url: String| url.split("/client/v4").next().unwrap_or_default().to_owned();
    let gateways = [root(s.base()), second.url()];
    let mut probes = Probes { http, index: VectorIndexClient::new(channel.clone()), health: HealthClient::new(channel), gateways, name: s.index_name().to_owned(), tiny: tiny.to_owned() };

    // The REST bodies are encoded before timing: encoding JSON is the client's cost, and the
    // gRPC probe it is subtracted from does not pay it either.
    let bodies: Vec<String> = queries.iter().map(|q| json!({"vector": q, "topK": 10}).to_string()).collect();
    let queries: Vec<(&[f32], &str)> = queries.iter().map(Vec::as_slice).zip(bodies.iter().map(String::as_str)).collect();

    // p50 of each probe, per round.
    let mut p50s: Vec<[f64; N]> = Vec::new();
    for round in 0..rounds {
        let mut lat: [Vec<Duration>; N] = Default::default();
        for (i, &q) in queries.iter().enumerate() {
            for step in 0..PROBES.len() {
                let probe = (i + round + step) % PROBES.len();
                let t = Instant::now();
                probes.run(probe, q).await?;
                lat[probe].push(t.elapsed());
            }
        }
        let p = lat.map(|l| percentile(&l, 0.5).as_secs_f64());
        println!("  round {}: {}", round + 1, PROBES.iter().zip(p).map(|(n, v)| format!("{n} {}", fmt_us(Duration::from_secs_f64(v)))).collect::<Vec<_>>().join(", "));
        p50s.push(p);
    }
    // CPU a probe costs each process: a run of one probe at a time, so each process's CPU clock
    // (all threads, ns) divides by the requests. Latency minus CPU is waiting: wake-ups, the wire.
    println!("\nCPU a request, each probe run alone ({} requests × {rounds}; µs of CPU in each process, median of rounds):", queries.len());
    println!("  {:<28} {:>9} {:>9} {:>9}", "probe", "gateway", "index-svc", "client");
    let me = std::process::id();
    for (probe, label) in PROBES.iter().enumerate() {
        let epoch = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let from = epoch();
        let mut per = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            let gateway = if probe >= 5 { second.pid() } else { s.gateway_pid() };
            let before = [gateway, s.index_pid(), me].map(cpu_ns);
            for &q in &queries {
                probes.run(probe, q).await?;
            }
            let after = [gateway, s.index_pid(), me].map(cpu_ns);
            for p in 0..3 {
                per[p].push((after[p] - before[p]) as f64 / queries.len() as f64 / 1000.0);
            }
        }
        if std::env::var_os("BENCH_FLOORS_WINDOWS").is_some() {
            // For tracing a probe's syscalls from outside (strace -ttt): its window in epoch seconds.
            println!("  window {label}: {from:.6} {:.6}", epoch());
        }
        let [g, i, c] = per.map(median);
        println!("  {label:<28} {g:>9.1} {i:>9.1} {c:>9.1}");
    }
    let med = |f: &dyn Fn(&[f64; N]) -> f64| median(p50s.iter().map(f).collect());
    let us = |v: f64| fmt_us(Duration::from_secs_f64(v.max(0.0)));
    println!("\nfloors of a rested query, one client (p50s per round, medians over {rounds} rounds; ratio = part ÷ floor, goal ≤ 1.3):");
    println!("  {:<58} {:>9} {:>9} {:>7}", "part (how it is measured)", "part", "floor", "ratio");
    let rows: [Row; 4] = [
        ("gateway: REST − gRPC Query  vs  fixed-body route", &|p| p[0] - p[2], &|p| p[1]),
        ("the same, second gateway", &|p| p[5] - p[2], &|p| p[6]),
        ("gRPC hop: Query on a 1-vector index  vs  empty call", &|p| p[3], &|p| p[4]),
        ("index-svc's search: Query − Query on 1 vector", &|p| p[2] - p[3], &|_| f64::NAN),
    ];
    for (label, part, floor) in rows {
        let ratio = median(p50s.iter().map(|p| part(p) / floor(p)).collect());
        let floor_txt = if med(floor).is_nan() { "bench index".to_owned() } else { us(med(floor)) };
        println!("  {label:<58} {:>9} {floor_txt:>9} {:>7}", us(med(part)), if ratio.is_nan() { "—".to_owned() } else { format!("{ratio:.2}×") });
    }
    println!("  {:<58} {:>9}", "end to end (REST query)", us(med(&|p| p[0])));
    Ok(())
}

/// The five probes' clients: one HTTP keep-alive connection, one gRPC channel.
struct Probes {
    http: reqwest::Client,
    index: VectorIndexClient<tonic::transport::Channel>,
    health: HealthClient<tonic::transport::Channel>,
    /// The gateway's root URL, and the one-worker gateway's.
    gateways: [String; 2],
    name: String,
    tiny: String,
}

impl Probes {
    async fn run(&mut self, probe: usize, (q, body): (&[f32], &str)) -> anyhow::Result<()> {
        let query = |name: &str| pb::QueryRequest { account: ACCOUNT.into(), index: name.into(), vector: q.to_vec(), top_k: 10, ..Default::default() };
        let gateway = &self.gateways[usize::from(probe >= 5)];
        match probe {
            0 | 5 => {
                let url = format!("{gateway}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/{}/query", self.name);
                let r = self.http.post(url).header("content-type", "application/json").body(body.to_owned()).send().await?;
                anyhow::ensure!(r.status().is_success(), "REST query: {}", r.status());
                r.bytes().await?;
            }
            1 | 6 => {
                let r = self.http.get(format!("{gateway}/console/icon.svg")).send().await?;
                anyhow::ensure!(r.status().is_success(), "fixed body: {}", r.status());
                r.bytes().await?;
            }
            2 => anyhow::ensure!(!self.index.query(query(&self.name)).await?.into_inner().matches.is_empty(), "no matches"),
            3 => anyhow::ensure!(self.index.query(query(&self.tiny)).await?.into_inner().matches.len() == 1, "tiny index"),
            _ => drop(self.health.check(HealthCheckRequest { service: String::new() }).await?),
        }
        Ok(())
    }
}
