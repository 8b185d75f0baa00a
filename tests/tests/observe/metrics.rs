//! Prometheus metrics: every family exists from start-up, promtool accepts every endpoint, and a
//! real Prometheus server scrapes all three services.
use std::time::{Duration, Instant};

use serde_json::Value;
use strato_tests::bench::sample;
use strato_tests::process::{Service, Stack};

use crate::http;

async fn scrape(svc: &Service) -> String {
    let r = http().get(format!("{}/metrics", svc.admin_url())).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.expect("body")
}

/// `promtool check metrics` (format and naming lint) on one exposition.
fn promtool(text: &str, who: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(strato_tests::prometheus_bin("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(out.status.success(), "promtool on {who}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_family_exists_from_start_up_and_passes_promtool() {
    let _one = crate::serial();
    let stack = Stack::start(&[]).expect("stack");
    let (g, e, i) = (scrape(&stack.gateway).await, scrape(&stack.embedder).await, scrape(&stack.index).await);
    let model = strato_tests::TEST_MODEL;
    // Zero before the first request, not absent.
    for (text, series) in [
        (&e, format!("strato_embedder_tokens_total{{model=\"{model}\"}}")),
        (&e, format!("strato_embedder_queue_depth{{model=\"{model}\"}}")),
        (&e, format!("strato_embedder_batch_size_count{{model=\"{model}\"}}")),
        (&e, format!("strato_embedder_batch_padded_tokens_count{{model=\"{model}\"}}")),
        (&e, "strato_grpc_server_requests_total{code=\"OK\",method=\"strato.embedder.v1.Embedder/Embed\"}".to_owned()),
        (&i, "strato_grpc_server_requests_total{code=\"OK\",method=\"strato.index.v1.VectorIndex/Query\"}".to_owned()),
        (&i, "strato_index_fsync_duration_seconds_count".to_owned()),
        (&i, "strato_index_seal_duration_seconds_count".to_owned()),
        (&i, "strato_index_compaction_duration_seconds_count".to_owned()),
        (&i, "strato_vectors".to_owned()),
        (&i, "strato_segments".to_owned()),
        (&g, "strato_http_requests_total{method=\"GET\",route=\"/\",status=\"200\"}".to_owned()),
        (&g, "strato_http_requests_total{method=\"POST\",route=\"/client/v4/accounts/{account_id}/vectorize/v2/indexes/{index_name}/query\",status=\"200\"}".to_owned()),
    ] {
        assert_eq!(sample(text, &series), Some(0.0), "{series} should read 0 at start-up");
    }
    for (text, who) in [(&g, "gateway"), (&e, "embedder"), (&i, "index")] {
        assert!(sample(text, "process_resident_memory_bytes").is_some_and(|v| v > 1e6), "{who}: process memory");
        promtool(text, who);
    }
    // Probes: ready while serving.
    for svc in [&stack.gateway, &stack.embedder, &stack.index] {
        let r = http().get(format!("{}/readyz", svc.admin_url())).send().await.expect("readyz");
        assert_eq!(r.status(), 200, "{}", svc.name);
    }
}

/// Prometheus's HTTP API: the result vector of an instant query (empty while it starts).
async fn query(prom: &str, q: &str) -> Vec<Value> {
    let Ok(r) = http().get(format!("{prom}/api/v1/query")).query(&[("query", q)]).send().await else { return Vec::new() };
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "success", "{q}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}


#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_all_three() {
    let _one = crate::serial();
    let stack = Stack::start(&["--create-index", "--binding-account", "prom"]).expect("stack");
    let base = stack.base();
    assert_eq!(http().get(format!("{base}/insert")).send().await.expect("insert").status(), 200);
    assert_eq!(http().get(&base).send().await.expect("query").status(), 200);

    let dir = strato_tests::process::scratch_dir("prometheus");
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs: [{{targets: ['{}']}}]\n  - job_name: embedder\n    static_configs: [{{targets: ['{}']}}]\n  - job_name: index\n    static_configs: [{{targets: ['{}']}}]\n",
        stack.gateway.admin, stack.embedder.admin, stack.index.admin
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let listen = format!("127.0.0.1:{}", strato_tests::process::free_port());
    let log = std::fs::File::create(dir.join("log")).expect("log");
    let mut server = std::process::Command::new(strato_tests::prometheus_bin("prometheus"))
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("prometheus");
    let prom = format!("http://{listen}");
    // One series from each service, and a README query (rates need two scrapes).
    let wanted = [
        ("up{job=\"gateway\"} == 1", "gateway up"),
        ("up{job=\"embedder\"} == 1", "embedder up"),
        ("up{job=\"index\"} == 1", "index up"),
        ("strato_http_requests_total{job=\"gateway\",route=\"/insert\",status=\"200\"} == 1", "gateway requests"),
        ("strato_embedder_tokens_total{job=\"embedder\"} > 0", "embedder tokens"),
        ("strato_index_vectors{job=\"index\",account=\"prom\",index=\"embeddings-index\"} == 3", "index vectors"),
        ("strato_index_fsync_duration_seconds_count{job=\"index\"} > 0", "index fsyncs"),
        ("process_resident_memory_bytes{job=\"index\"} > 0", "index memory"),
        ("sum by (job) (rate(strato_grpc_server_requests_total[1m])) >= 0", "gRPC request rate"),
    ];
    let start = Instant::now();
    let mut missing: Vec<&str> = wanted.iter().map(|w| w.1).collect();
    while !missing.is_empty() {
        let mut still = Vec::new();
        for (q, what) in wanted.iter().filter(|w| missing.contains(&w.1)) {
            if query(&prom, q).await.is_empty() {
                still.push(*what);
            }
        }
        missing = still;
        if start.elapsed() > Duration::from_secs(60) {
            let _ = server.kill();
            panic!("after 60 s Prometheus still has no {missing:?}: {}", std::fs::read_to_string(dir.join("log")).unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The README's queries are valid PromQL.
    for q in readme_queries() {
        query(&prom, &q).await;
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// The PromQL of the README's Observe section (its `promql` block, comments left out).
fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(strato_tests::repo_root().join("README.md")).expect("README");
    let block = readme.split("```promql\n").nth(1).and_then(|b| b.split("```").next()).expect("a promql block in the README");
    let queries: Vec<String> = block.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    assert!(queries.len() >= 3, "{queries:?}");
    queries
}
