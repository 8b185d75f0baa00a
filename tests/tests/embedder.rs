//! embedder-svc through its real gRPC socket, on the packaged all-MiniLM-L6-v2 model.
//! One embedder process serves every test of this binary.
use std::sync::OnceLock;
use std::time::Duration;

use strato_proto::embedder::v1::{self as pb, embedder_client::EmbedderClient};
use strato_tests::process::{Service, start_embedder};
use strato_tests::{QUERY, STORIES, TEST_MODEL, dot};
use tonic::Code;
use tonic::transport::Channel;

#[path = "embedder/families.rs"]
mod families;

fn embedder() -> &'static Service {
    static SVC: OnceLock<Service> = OnceLock::new();
    SVC.get_or_init(|| start_embedder(&[]).expect("start embedder-svc"))
}

async fn client(svc: &Service) -> EmbedderClient<Channel> {
    EmbedderClient::connect(svc.url()).await.expect("connect").max_decoding_message_size(64 << 20)
}

fn req(texts: &[&str]) -> pb::EmbedRequest {
    pb::EmbedRequest { model: TEST_MODEL.into(), texts: texts.iter().map(|t| t.to_string()).collect(), pooling: 0, ..Default::default() }
}

async fn embed(c: &mut EmbedderClient<Channel>, r: pb::EmbedRequest) -> Result<pb::EmbedResponse, tonic::Status> {
    c.embed(r).await.map(|r| r.into_inner())
}

/// Reference vectors from Python onnxruntime + tokenizers on the same files (scripts/reference_embed.py).
fn reference(pooling: &str, texts: &[&str]) -> Vec<Vec<f32>> {
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/reference_embed.py"))
        .arg(strato_tests::test_model_dir())
        .arg(pooling)
        .args(texts)
        .output()
        .expect("run reference_embed.py");
    assert!(out.status.success(), "reference failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference json");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|row| row.as_array().expect("row").iter().map(|x| x.as_f64().expect("f64") as f32).collect())
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: dimensions");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4, "{what}: max component difference {worst} > 1e-4");
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_with_python_reference() {
    let mut c = client(embedder()).await;
    let mut texts: Vec<&str> = STORIES.to_vec();
    texts.push(QUERY);
    for (pooling, proto) in [("mean", pb::Pooling::Mean), ("cls", pb::Pooling::Cls)] {
        let mut r = req(&texts);
        r.pooling = proto as i32;
        let got = embed(&mut c, r).await.expect("embed");
        assert_eq!(got.shape, vec![4, 384]);
        assert_eq!(got.pooling, proto as i32);
        assert_eq!(got.tokens_per_text.len(), 4);
        assert_eq!(got.token_count, got.tokens_per_text.iter().map(|t| u64::from(*t)).sum::<u64>());
        let want = reference(pooling, &texts);
        for (i, (g, w)) in got.data.iter().zip(&want).enumerate() {
            assert_close(&g.values, w, &format!("{pooling} text {i}"));
            let norm = dot(&g.values, &g.values).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "not L2-normalised: {norm}");
        }
        if pooling == "mean" {
            let q = &got.data[3].values;
            let scores: Vec<f32> = got.data[..3].iter().map(|v| dot(&v.values, q)).collect();
            assert!(scores[0] > scores[1] && scores[0] > scores[2], "story 1 must be nearest the query: {scores:?}");
        }
    }
    // Default pooling is mean, as Workers AI's.
    let got = embed(&mut c, req(&[QUERY])).await.expect("embed");
    assert_eq!(got.pooling, pb::Pooling::Mean as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn long_input_is_truncated_not_refused() {
    let mut c = client(embedder()).await;
    let long = "word ".repeat(2000);
    let got = embed(&mut c, req(&[&long])).await.expect("embed long");
    assert_eq!(got.tokens_per_text, vec![512]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_get_what_they_get_alone() {
    concurrent_as_alone(embedder()).await;
}

/// Two sessions, each fed by its own worker: a round's batches are shared between them, and
/// every text still gets what it gets alone.
#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_answer_as_one_does() {
    let svc = start_embedder(&["--sessions", "2", "--intra-threads", "1"]).expect("two-session embedder");
    concurrent_as_alone(&svc).await;
}

async fn concurrent_as_alone(svc: &Service) {
    let mut c = client(svc).await;
    let texts: Vec<String> = (0..64)
        .map(|i| format!("request {i}: {}", "the orange cloud drifts over the llama ".repeat(1 + (i * 7) % 23)))
        .collect();
    let mut alone = Vec::new();
    for t in &texts {
        alone.push(embed(&mut c, req(&[t])).await.expect("alone").data.remove(0).values);
    }
    let handles: Vec<_> = texts
        .iter()
        .map(|t| {
            let mut c = c.clone();
            let r = req(&[t]);
            tokio::spawn(async move { embed(&mut c, r).await })
        })
        .collect();
    let mut batched_sizes = 0;
    for (i, h) in handles.into_iter().enumerate() {
        let got = h.await.expect("join").expect("embed");
        assert_eq!(got.data[0].values, alone[i], "request {i} differs when batched");
        batched_sizes += usize::from(got.timings.is_some_and(|t| t.queue_us > 0));
    }
    assert!(batched_sizes > 0, "no request ever queued: batching was not exercised");
    // Also several texts per request, mixed with others.
    let multi: Vec<&str> = texts.iter().take(10).map(String::as_str).collect();
    let got = embed(&mut c, req(&multi)).await.expect("multi");
    for (i, v) in got.data.iter().enumerate() {
        assert_eq!(v.values, alone[i], "text {i} of a multi-text request differs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_status() {
    let mut c = client(embedder()).await;
    let cases: Vec<(&str, pb::EmbedRequest, Code)> = vec![
        ("no texts", req(&[]), Code::InvalidArgument),
        ("empty text", req(&["fine", ""]), Code::InvalidArgument),
        ("101 texts", req(&vec!["x"; 101]), Code::InvalidArgument),
        ("no model", pb::EmbedRequest { model: String::new(), ..req(&["x"]) }, Code::InvalidArgument),
        ("unknown model", pb::EmbedRequest { model: "@cf/nope/nothing".into(), ..req(&["x"]) }, Code::NotFound),
        ("unknown pooling", pb::EmbedRequest { pooling: 7, ..req(&["x"]) }, Code::InvalidArgument),
        (
            "known model without files",
            pb::EmbedRequest { model: "@cf/baai/bge-large-en-v1.5".into(), ..req(&["x"]) },
            Code::FailedPrecondition,
        ),
    ];
    for (what, r, code) in cases {
        let err = embed(&mut c, r).await.expect_err(what);
        assert_eq!(err.code(), code, "{what}: {}", err.message());
        assert!(!err.message().is_empty(), "{what}: empty message");
    }
    // 100 texts is the limit, not over it.
    embed(&mut c, req(&vec!["x"; 100])).await.expect("100 texts are allowed");
    // Text with odd bytes does not panic anything.
    embed(&mut c, req(&["\u{0}\u{feff}🦙\u{202e}"])).await.expect("odd unicode");
    let err = c.get_model(pb::GetModelRequest { name: "nope".into() }).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn catalogue_health_and_reflection() {
    let svc = embedder();
    let mut c = client(svc).await;
    let models = c.list_models(pb::ListModelsRequest {}).await.expect("list").into_inner().models;
    let test = models.iter().find(|m| m.name == TEST_MODEL).expect("test model listed");
    assert!(test.loaded);
    assert_eq!((test.dimensions, test.max_input_tokens, test.max_texts_per_request), (384, 512, 100));
    for name in ["@cf/baai/bge-small-en-v1.5", "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-large-en-v1.5"] {
        let m = models.iter().find(|m| m.name == name).expect("BGE listed");
        assert!(!m.loaded, "{name} is not provisioned in tests");
    }
    let base = c.get_model(pb::GetModelRequest { name: "@cf/baai/bge-base-en-v1.5".into() }).await.expect("get").into_inner();
    assert_eq!(base.dimensions, 768);

    let channel = Channel::from_shared(svc.url()).expect("url").connect().await.expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = |s: &str| tonic_health::pb::HealthCheckRequest { service: s.into() };
    use tonic_health::pb::health_check_response::ServingStatus;
    for (service, want) in [
        ("strato.embedder.v1.Embedder", ServingStatus::Serving),
        (TEST_MODEL, ServingStatus::Serving),
        ("@cf/baai/bge-base-en-v1.5", ServingStatus::NotServing),
    ] {
        let got = health.check(status(service)).await.expect("health").into_inner().status;
        assert_eq!(got, want as i32, "health of {service}");
    }
    let services = strato_tests::reflected_services(&svc.url()).await.expect("reflection");
    for s in ["strato.embedder.v1.Embedder", "grpc.health.v1.Health"] {
        assert!(services.iter().any(|x| x == s), "reflection lists {s}: {services:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_deadline_is_not_computed() {
    let svc = embedder();
    let mut c = client(svc).await;
    // Keep the worker busy, then send a request whose deadline passes while it waits.
    // 100 texts of 512 tokens: seconds of work, so the late request surely waits behind it.
    let busy: Vec<String> = (0..100).map(|i| format!("{i} {}", "busy text ".repeat(300))).collect();
    let mut bc = c.clone();
    let busy_req = pb::EmbedRequest { model: TEST_MODEL.into(), texts: busy, pooling: 0, ..Default::default() };
    let busy_task = tokio::spawn(async move { bc.embed(busy_req).await });
    // Long enough for the busy request to be tokenized and queued, far shorter than its inference.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut r = tonic::Request::new(req(&["late"]));
    r.set_timeout(Duration::from_millis(5));
    let err = c.embed(r).await.expect_err("deadline");
    assert!(matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled), "{:?}", err);
    busy_task.await.expect("join").expect("busy request still succeeds");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_queue_answers_resource_exhausted() {
    let svc = start_embedder(&["--max-queued-texts", "100"]).expect("second embedder");
    let mut c = client(&svc).await;
    let texts: Vec<String> = (0..100).map(|i| format!("{i} {}", "a rather long text ".repeat(100))).collect();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut c = c.clone();
            let r = pb::EmbedRequest { model: TEST_MODEL.into(), texts: texts.clone(), pooling: 0, ..Default::default() };
            tokio::spawn(async move { c.embed(r).await })
        })
        .collect();
    let mut exhausted = 0;
    let mut ok = 0;
    for h in handles {
        match h.await.expect("join") {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::ResourceExhausted => exhausted += 1,
            Err(s) => panic!("unexpected status {s:?}"),
        }
    }
    assert!(ok >= 1 && exhausted >= 1, "ok={ok} exhausted={exhausted}");
    // And once drained, it serves again.
    embed(&mut c, req(&["after"])).await.expect("serves after overload");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_grpcio_client_through_the_socket() {
    let svc = embedder();
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("tests/python/embed_client.py"))
        .arg(&svc.addr)
        .arg(TEST_MODEL)
        .output()
        .expect("run python client");
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from python");
    let mut c = client(svc).await;
    let ours = embed(&mut c, req(&STORIES)).await.expect("embed");
    let theirs = v["data"].as_array().expect("data");
    assert_eq!(theirs.len(), 3);
    for (o, t) in ours.data.iter().zip(theirs) {
        let t: Vec<f32> = t.as_array().expect("row").iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect();
        assert_eq!(o.values, t, "the Python client must see the same vectors");
    }
    assert_eq!(v["not_found_code"], "NOT_FOUND");
}

/// A text far beyond what the model reads costs what its first 512 tokens cost: it is cut before
/// tokenizing, and embeds exactly as the same text cut short does (both truncate at 512 tokens).
/// Admission counts bytes too: a request whose bytes exceed `--max-queued-bytes` is refused with
/// RESOURCE_EXHAUSTED, however few texts it has.
#[tokio::test(flavor = "multi_thread")]
async fn huge_texts_are_capped_and_admitted_by_bytes() {
    let svc = start_embedder(&["--max-queued-bytes", "300000"]).expect("embedder");
    let mut c = client(&svc).await;
    let huge = "orange cloud over a quiet hill ".repeat(200_000); // 6.2 MB
    let short = "orange cloud over a quiet hill ".repeat(200);
    let started = std::time::Instant::now();
    let got = embed(&mut c, req(&[huge.as_str(), short.as_str()])).await.expect("huge text embeds");
    let took = started.elapsed();
    assert_eq!(got.data[0].values, got.data[1].values, "both read the same first 512 tokens");
    assert_eq!(got.tokens_per_text, [512, 512]);
    eprintln!("6.2 MB text embedded in {took:?}");
    let many: Vec<String> = (0..3).map(|i| format!("{i} {}", "x".repeat(150_000))).collect();
    let refused = c.embed(pb::EmbedRequest { model: TEST_MODEL.into(), texts: many, pooling: 0, ..Default::default() }).await.expect_err("over the byte budget");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("bytes"), "{refused:?}");
}
