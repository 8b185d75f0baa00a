//! Where a served query's time goes: one Strato run exporting its traces to an in-process OTLP
//! receiver (`strato_tests::otlp`), averaged per span over the rested queries. Tracing costs a
//! little (`./strato bench gateway --otel`), so these are shares, not the headline figures.
use std::collections::HashMap;
use std::time::Duration;

use strato_tests::otlp::{Receiver, Span};

use crate::{BATCH, Server, run_queries};

pub async fn run(base: &[Vec<f32>], queries: &[Vec<f32>], rest: Duration) -> anyhow::Result<()> {
    let receiver = Receiver::start()?;
    let ep = receiver.endpoint();
    let mut s = crate::strato::Strato::start_with(&[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", ep.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "200"), ("OTEL_BSP_MAX_QUEUE_SIZE", "65536")])?;
    s.reset().await?;
    for (b, chunk) in base.chunks(BATCH).enumerate() {
        s.ingest(b * BATCH, chunk).await?;
    }
    tokio::time::sleep(rest).await;
    // Rested means settled (as in floors.rs): no seal or merge still running beside the queries.
    let at = strato_proto::index::v1::IndexRef { account: crate::strato::ACCOUNT.into(), name: s.index_name().into() };
    strato_tests::bench::settle(&s.index_url(), at, s.index_pid()).await?;
    let truth: Vec<Vec<usize>> = queries.iter().map(|_| Vec::new()).collect();
    let (_, lat, _) = run_queries(&s, queries, &truth, 10, 1).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spans = receiver.spans();
    let by_trace = group(&spans);
    let mut sums: HashMap<&str, (f64, usize)> = HashMap::new();
    let mut traces = 0usize;
    for trace in by_trace.values() {
        let Some(http) = trace.iter().find(|s| s.name.ends_with("/query") && s.name.starts_with("POST ")) else { continue };
        traces += 1;
        // µs in the spans `pick` chooses (summed: a query searches each segment in a span).
        let us = |pick: &dyn Fn(&Span) -> bool| trace.iter().filter(|s| pick(s)).map(|s| (s.end_ns - s.start_ns) as f64 / 1e3).sum::<f64>();
        let named = |name: &'static str| move |s: &Span| s.name == name;
        let http_us = us(&|s| std::ptr::eq(s, *http));
        let client = us(&|s| s.kind == 3); // the gateway's gRPC client span
        let server = us(&|s| s.kind == 2 && s.service == "strato-index");
        let (query, plan, tail, hnsw) = (us(&named("query")), us(&named("plan")), us(&named("exact_scan")), us(&named("hnsw_search")));
        let rescore = us(&named("rescore"));
        let segments = trace.iter().filter(|s| s.name == "hnsw_search").count() as f64;
        for (k, v) in [
            ("gateway: HTTP, JSON, routing (http − gRPC client)", http_us - client),
            ("gRPC hop, both ways (client − server)", client - server),
            ("index-svc handler, conversion (server − query)", server - query),
            ("planner", plan),
            ("exact scan of the unsealed tail", tail),
            ("HNSW navigation (8-bit), all segments", hnsw - rescore),
            ("rescoring the best candidates (f32 rows, mapped)", rescore),
            ("rest of query: merge, ids, records", query - plan - tail - hnsw),
            ("segments searched per query", segments),
            ("HTTP span end to end", http_us),
        ] {
            let e = sums.entry(k).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    anyhow::ensure!(traces > 0, "no query traces arrived ({} spans)", spans.len());
    println!("\nwhere a rested Strato query's time goes (mean over {traces} traced queries; client-measured p50 {}):", strato_tests::bench::fmt_us(strato_tests::bench::percentile(&lat, 0.5)));
    let order = [
        "HTTP span end to end",
        "gateway: HTTP, JSON, routing (http − gRPC client)",
        "gRPC hop, both ways (client − server)",
        "index-svc handler, conversion (server − query)",
        "planner",
        "exact scan of the unsealed tail",
        "HNSW navigation (8-bit), all segments",
        "rescoring the best candidates (f32 rows, mapped)",
        "rest of query: merge, ids, records",
    ];
    for k in order {
        let (sum, n) = sums[k];
        println!("  {k:<52} {:>7.0} µs", sum / n as f64);
    }
    let (sum, n) = sums["segments searched per query"];
    println!("  {:<52} {:>7.1}", "segments searched per query", sum / n as f64);
    Ok(())
}

fn group(spans: &[Span]) -> HashMap<&str, Vec<&Span>> {
    let mut m: HashMap<&str, Vec<&Span>> = HashMap::new();
    for s in spans {
        m.entry(s.trace_id.as_str()).or_default().push(s);
    }
    m
}
