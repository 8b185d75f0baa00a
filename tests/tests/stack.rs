//! The tutorial over the whole stack: three real processes over real sockets.
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strato_tests::process::{Stack, start_embedder, start_gateway};
use strato_tests::{QUERY, STORIES, dot};

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start(&["--create-index"]).expect("stack"))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Reference embeddings (Python onnxruntime on the same files), as the embedder's conformance test uses.
fn reference(texts: &[&str]) -> Vec<Vec<f32>> {
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/reference_embed.py"))
        .arg(strato_tests::test_model_dir())
        .arg("mean")
        .args(texts)
        .output()
        .expect("reference");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["data"].as_array().expect("data").iter().map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tutorial_insert_then_query() {
    let s = stack();
    let base = format!("http://{}", s.gateway.addr);
    let r = http().get(format!("{base}/insert")).send().await.expect("insert");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"), "every response has a request id");
    let body: Value = r.json().await.expect("json");
    let mutation = body["mutationId"].as_str().expect("mutationId");
    assert_eq!(mutation.len(), 36, "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "the V2 upsert result has one key: {body}");

    let r = http().get(format!("{base}/")).send().await.expect("query");
    assert_eq!(r.status(), 200);
    // The route's own timings first (the gateway benchmark reads them), the gateway's total after.
    let timing: Vec<&str> = r.headers().get_all("server-timing").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(timing.len() == 2 && timing[0].starts_with("embed;dur=") && timing[0].contains(", query;dur=") && timing[1].starts_with("gateway;dur="), "{timing:?}");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["matches"]["count"], 1, "{body}");
    let m = &body["matches"]["matches"][0];
    assert_eq!(m["id"], "1");
    assert_eq!(m.as_object().map(|o| o.len()), Some(2), "only id and score, as the tutorial shows: {m}");
    let score = m["score"].as_f64().expect("score");
    let mut texts = STORIES.to_vec();
    texts.push(QUERY);
    let refv = reference(&texts);
    let want = dot(&refv[0], &refv[3]) as f64;
    assert!((score - want).abs() < 1e-4, "score {score} vs reference cosine {want}");

    // Any other path is the query too; favicon is a 404 with an empty body.
    let r = http().get(format!("{base}/some/page")).send().await.expect("other");
    assert_eq!(r.json::<Value>().await.expect("json")["matches"]["matches"][0]["id"], "1");
    let r = http().get(format!("{base}/favicon.ico")).send().await.expect("favicon");
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.expect("body").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_query_top_k_and_post_insert() {
    let s = stack();
    let base = format!("http://{}", s.gateway.addr);
    let r = http().get(format!("{base}/insert")).send().await.expect("insert");
    assert_eq!(r.status(), 200);
    let body: Value = http().get(format!("{base}/?text=a%20llama&topK=3")).send().await.expect("q").json().await.expect("json");
    assert_eq!(body["matches"]["count"], 3, "{body}");
    assert_eq!(body["matches"]["matches"][0]["id"], "2", "llama story first: {body}");
    let scores: Vec<f64> = body["matches"]["matches"].as_array().expect("arr").iter().map(|m| m["score"].as_f64().unwrap_or(0.0)).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "cosine scores descend: {scores:?}");

    let r = http()
        .post(format!("{base}/insert"))
        .json(&json!({"texts": ["A recipe for sourdough bread", "Notes on Rust's borrow checker"], "ids": ["bread", "rust"]}))
        .send()
        .await
        .expect("post insert");
    assert_eq!(r.status(), 200);
    let body: Value = http().get(format!("{base}/?text=baking%20bread")).send().await.expect("q").json().await.expect("json");
    assert_eq!(body["matches"]["matches"][0]["id"], "bread", "{body}");

    for bad in ["not json", "{\"texts\": []}", "{\"texts\": [\"a\"], \"ids\": [\"1\", \"2\"]}", "{\"text\": \"a\"}"] {
        let r = http().post(format!("{base}/insert")).header("content-type", "application/json").body(bad).send().await.expect("bad");
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.json::<Value>().await.expect("json error")["error"].is_string());
    }
    let r = http().get(format!("{base}/?topK=many")).send().await.expect("bad topK");
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_says_which_model_serves() {
    let s = stack();
    let body: Value = http().get(format!("http://{}/__strato/status", s.gateway.addr)).send().await.expect("status").json().await.expect("json");
    assert_eq!(body["ai"]["requested"], "@cf/baai/bge-base-en-v1.5");
    assert_eq!(body["ai"]["serving"], strato_tests::TEST_MODEL);
    assert_eq!(body["ai"]["fallback"], true);
    assert!(body["ai"]["reason"].as_str().is_some_and(|r| r.contains("not loaded")), "{body}");
    assert_eq!(body["ai"]["dimensions"], 384);
    assert!(s.gateway.logs().contains("INSTEAD OF"), "the fallback is said in the log");
    // Each service's health, as the console's Health page shows it.
    let services = body["services"].as_array().expect("services");
    assert_eq!(services.iter().map(|x| (x["service"].as_str(), x["serving"].as_bool())).collect::<Vec<_>>(), [(Some("embedder"), Some(true)), (Some("index"), Some(true))], "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_index_is_a_json_404() {
    let s = stack();
    let gw = start_gateway(&s.embedder.url(), &s.index.url(), &["--binding-index", "no-such-index"]).expect("gateway");
    let r = http().get(format!("http://{}/", gw.addr)).send().await.expect("query");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("no-such-index")), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn embedder_down_is_a_quick_503() {
    let s = stack();
    let mut embedder = start_embedder(&[]).expect("second embedder");
    let gw = start_gateway(&embedder.url(), &s.index.url(), &[]).expect("gateway");
    let base = format!("http://{}", gw.addr);
    assert_eq!(http().get(format!("{base}/insert")).send().await.expect("warm").status(), 200);
    embedder.kill();
    let t = Instant::now();
    let r = http().get(format!("{base}/")).send().await.expect("query");
    let took = t.elapsed();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("embedder")), "{body}");
    assert!(took < Duration::from_secs(3), "503 must come within the deadline, took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn embedder_replicas_balanced_by_list_and_dns() {
    let s = stack();
    let mut second = start_embedder(&[]).expect("second embedder");
    let list = format!("{},{}", s.embedder.url(), second.url());
    let gw = start_gateway(&list, &s.index.url(), &[]).expect("gateway over two replicas");
    let base = format!("http://{}", gw.addr);
    for _ in 0..10 {
        assert_eq!(http().get(format!("{base}/insert")).send().await.expect("insert").status(), 200);
    }
    // One replica dies: UNAVAILABLE is retried and the other answers.
    second.kill();
    for _ in 0..10 {
        let r = http().get(format!("{base}/?text=llama")).send().await.expect("query");
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    // DNS discovery: every address of the name is an endpoint.
    let port = s.embedder.addr.rsplit(':').next().expect("port");
    let dns = format!("dns://localhost:{port}");
    let gw = start_gateway(&dns, &s.index.url(), &[]).expect("gateway over DNS");
    let r = http().get(format!("http://{}/", gw.addr)).send().await.expect("query");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// With a service token, index-svc and embedder-svc answer only callers that send it (health
/// and reflection stay open for probes); the gateway sends it and the tutorial works end to end.
/// Without a token, a service refuses to listen beyond loopback.
#[tokio::test(flavor = "multi_thread")]
async fn services_require_the_shared_token() {
    use strato_proto::index::v1::{ListIndexesRequest, vector_index_client::VectorIndexClient};
    use strato_tests::process::start_index;
    let token = ["--service-token", "s3rvice-t0ken"];
    let embedder = start_embedder(&token).expect("embedder");
    let index = start_index(&token).expect("index");

    let mut c = VectorIndexClient::connect(index.url()).await.expect("connect");
    let denied = c.list_indexes(ListIndexesRequest::default()).await.expect_err("no token");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated, "{denied:?}");
    let mut req = tonic::Request::new(ListIndexesRequest::default());
    req.metadata_mut().insert("authorization", "Bearer wrong".parse().expect("ascii"));
    assert_eq!(c.list_indexes(req).await.expect_err("wrong token").code(), tonic::Code::PermissionDenied);
    for svc in [&index, &embedder] {
        let channel = tonic::transport::Channel::from_shared(svc.url()).expect("url").connect().await.expect("connect");
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.expect("health needs no token");
        assert_eq!(status.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        assert!(!strato_tests::reflected_services(&svc.url()).await.expect("reflection needs no token").is_empty());
    }

    let gw = start_gateway(&embedder.url(), &index.url(), &["--create-index", "--service-token", "s3rvice-t0ken"]).expect("gateway");
    let base = format!("http://{}", gw.addr);
    let r = http().get(format!("{base}/insert")).send().await.expect("insert");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = http().get(format!("{base}/?text=orange")).send().await.expect("query");
    assert_eq!(r.status(), 200);

    let wrong = start_gateway(&embedder.url(), &index.url(), &["--service-token", "nope"]).expect("gateway");
    let r = http().get(format!("http://{}/?text=orange", wrong.addr)).send().await.expect("query");
    assert_eq!(r.status(), 500, "a gateway with the wrong token is refused (its operator's error)");
    let body = r.text().await.expect("body");
    assert!(body.contains("misconfigured"), "{body}");

    let data = strato_tests::process::scratch_dir("open-index");
    let out = std::process::Command::new(strato_tests::bin_path("index-svc"))
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&data)
        .env_remove("STRATO_SERVICE_TOKEN")
        .output()
        .expect("run index-svc");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to listen"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every crate reads top-down: no two of its modules import each other (a newcomer reads one
/// request path file by file; issues 22 and 23 untangled gateway and index-svc).
#[test]
fn no_two_modules_import_each_other() {
    for krate in ["gateway", "index-svc", "embedder-svc", "proto"] {
        let graph = strato_tests::layering::graph(&strato_tests::repo_root().join(krate).join("src"));
        assert!(graph.len() > 3, "{krate}: no modules read");
        assert!(strato_tests::layering::two_way_imports(&graph).is_empty(), "{krate}: modules that import each other: {:?}", strato_tests::layering::two_way_imports(&graph));
    }
    let gateway = strato_tests::layering::graph(&strato_tests::repo_root().join("gateway/src"));
    assert!(gateway["routes::tutorial"].contains("bindings"), "the reader sees imports: {gateway:?}");
    let index = strato_tests::layering::graph(&strato_tests::repo_root().join("index-svc/src"));
    assert!(index["tail"].contains("topk") && index["engine"].contains("planner"), "{index:?}");
}
