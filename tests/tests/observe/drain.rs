//! SIGTERM under load: readiness goes first, requests already accepted finish, acknowledged
//! writes survive, and the process exits 0.
//!
//! index-svc runs with a 500 ms fsync delay (its fault directory), so writes are always in flight.
//! A request is *surely accepted* when it was sent at least 250 ms before the signal and had not
//! been answered at it (loopback takes microseconds, so the service was holding it, even on a
//! loaded machine): each of those must end 200. Any request may be refused (connection refused, or 503 once index-svc is gone),
//! but none may see its response cut, and every acknowledged write must be on disk.
use std::sync::{Arc, Mutex, RwLock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use strato_proto::embedder::v1::{EmbedRequest, embedder_client::EmbedderClient};
use strato_proto::index::v1::{IdsRequest, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, scratch_dir, start_embedder, start_gateway, start_index_on};

const ACCOUNT: &str = "drain";
const INDEX: &str = "embeddings-index";

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    /// No response at all: the request was not taken (connection refused or closed unread).
    NoResponse(String),
    Status(u16),
    /// A response head, then the body cut: what must never happen.
    Cut(String),
}

#[derive(Debug, Clone)]
struct Call {
    start: Instant,
    end: Instant,
    what: &'static str,
    ids: Vec<String>,
    outcome: Outcome,
}

struct Load {
    base: Arc<RwLock<String>>,
    stop: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn vector(seed: usize) -> Vec<f32> {
    (0..384).map(|d| (((seed * 31 + d * 7) % 97) as f32 - 48.0) / 48.0).collect()
}

async fn one(client: &reqwest::Client, base: &str, task: usize, n: usize) -> (&'static str, Vec<String>, Outcome) {
    let id = format!("c{task}-{n}");
    let (what, ids, req) = match n % 3 {
        0 => {
            let line = json!({"id": id, "values": vector(task * 1000 + n)}).to_string();
            let url = format!("{base}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/{INDEX}/upsert");
            ("upsert", vec![id], client.post(url).header("content-type", "application/x-ndjson").body(line))
        }
        1 => ("insert", vec![id.clone()], client.post(format!("{base}/insert")).json(&json!({"texts": [format!("story {id}")], "ids": [id]}))),
        _ => {
            let url = format!("{base}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/{INDEX}/query");
            ("query", vec![], client.post(url).json(&json!({"vector": vector(n), "topK": 3})))
        }
    };
    let outcome = match req.send().await {
        Err(e) => Outcome::NoResponse(e.to_string()),
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Err(e) => Outcome::Cut(e.to_string()),
                Ok(_) if status == 200 => Outcome::Ok,
                Ok(_) => Outcome::Status(status),
            }
        }
    };
    (what, ids, outcome)
}

impl Load {
    fn start(base: &str, tasks: usize) -> Self {
        let base = Arc::new(RwLock::new(base.to_owned()));
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..tasks)
            .map(|task| {
                let (base, stop, calls) = (base.clone(), stop.clone(), calls.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
                    let mut n = task; // tasks start on different kinds of call
                    while !stop.load(Ordering::SeqCst) {
                        let url = base.read().map(|b| b.clone()).unwrap_or_default();
                        let start = Instant::now();
                        let (what, ids, outcome) = one(&client, &url, task, n).await;
                        let refused = matches!(outcome, Outcome::NoResponse(_) | Outcome::Status(503));
                        calls.lock().expect("calls").push(Call { start, end: Instant::now(), what, ids, outcome });
                        n += 1;
                        if refused {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Self { base, stop, calls, tasks }
    }

    async fn finish(self) -> Vec<Call> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("load task");
        }
        self.calls.lock().expect("calls").clone()
    }
}

/// Checks the calls around a SIGTERM at `signal`; returns the ids acknowledged.
fn check(calls: &[Call], signal: Instant, who: &str) -> Vec<String> {
    let surely_accepted: Vec<&Call> = calls.iter().filter(|c| c.start + Duration::from_millis(250) <= signal && c.end > signal).collect();
    assert!(!surely_accepted.is_empty(), "{who}: no request was in flight at the signal; the test proved nothing");
    for c in &surely_accepted {
        assert_eq!(c.outcome, Outcome::Ok, "{who}: a {} accepted {:?} before the signal ended {:?}", c.what, signal - c.start, c.outcome);
    }
    for c in calls {
        assert!(!matches!(c.outcome, Outcome::Cut(_)), "{who}: a response was cut: {c:?}");
    }
    println!(
        "{who}: {} calls, {} in flight at the signal (all answered 200), {} refused after it",
        calls.len(),
        surely_accepted.len(),
        calls.iter().filter(|c| c.outcome != Outcome::Ok).count()
    );
    calls.iter().filter(|c| c.outcome == Outcome::Ok).flat_map(|c| c.ids.clone()).collect()
}

fn stop(svc: &mut Service, within: Duration) {
    let t = Instant::now();
    let status = svc.wait_exit(within).unwrap_or_else(|| panic!("{} still running {within:?} after SIGTERM: {}", svc.name, svc.logs()));
    assert!(status.success(), "{} exited {status} after SIGTERM: {}", svc.name, svc.logs());
    println!("{} exited 0, {:?} after SIGTERM", svc.name, t.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_loses_nothing_acknowledged() {
    let _one = crate::serial();
    let data = scratch_dir("drain-data");
    let faults = scratch_dir("drain-faults");
    std::fs::write(faults.join("fsync-delay-ms"), "500").expect("fault");
    let fault_arg = faults.to_string_lossy().into_owned();
    let index_args = ["--fault-dir", fault_arg.as_str(), "--drain-timeout-ms", "10000"];
    let gateway_args = ["--create-index", "--binding-account", ACCOUNT, "--drain-timeout-ms", "10000"];
    let mut embedder = start_embedder(&["--drain-timeout-ms", "10000"]).expect("embedder");
    let mut index = start_index_on(&data, &index_args).expect("index");
    let mut gateway = start_gateway(&embedder.url(), &index.url(), &gateway_args).expect("gateway");

    // 1. The gateway, under load.
    let load = Load::start(&gateway.url(), 6);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signal = Instant::now();
    gateway.terminate();
    let ready = reqwest::get(format!("{}/readyz", gateway.admin_url())).await;
    stop(&mut gateway, Duration::from_secs(15));
    // Readiness said so while draining (or the drain was already over).
    assert!(ready.map(|r| r.status() == 503).unwrap_or(true), "readiness during the drain");
    let base = load.base.clone();
    // A new gateway takes the traffic, as a rolling update would.
    let gateway = start_gateway(&embedder.url(), &index.url(), &gateway_args).expect("gateway again");
    *base.write().expect("base") = gateway.url();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = load.finish().await;
    let mut acked = check(&calls.iter().filter(|c| c.start < signal + Duration::from_secs(1)).cloned().collect::<Vec<_>>(), signal, "gateway");
    acked.extend(calls.iter().filter(|c| c.start >= signal + Duration::from_secs(1) && c.outcome == Outcome::Ok).flat_map(|c| c.ids.clone()));

    // 2. index-svc, under load through the new gateway.
    let load = Load::start(&gateway.url(), 6);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signal = Instant::now();
    index.terminate();
    stop(&mut index, Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = load.finish().await;
    acked.extend(check(&calls, signal, "index-svc"));
    assert!(!index.logs().contains("drain bound passed"), "index-svc cut requests: {}", index.logs());

    // Every acknowledged write is there after a restart on the same directory.
    std::fs::remove_file(faults.join("fsync-delay-ms")).expect("fault off");
    let index = start_index_on(&data, &index_args).expect("restart");
    assert!(!index.logs().contains("not closed cleanly"), "SIGTERM left the store to repair: {}", index.logs());
    let mut c = VectorIndexClient::connect(index.url()).await.expect("connect");
    acked.sort();
    acked.dedup();
    for ids in acked.chunks(20) {
        let got = c.get_by_ids(IdsRequest { account: ACCOUNT.into(), index: INDEX.into(), ids: ids.to_vec() }).await.expect("get").into_inner();
        let found: Vec<&str> = got.vectors.iter().map(|v| v.id.as_str()).collect();
        for id in ids {
            assert!(found.contains(&id.as_str()), "acknowledged {id} lost across the SIGTERM");
        }
    }
    println!("{} acknowledged writes, all present after the restart", acked.len());

    // 3. The embedder finishes the embeddings queued when SIGTERM comes.
    let before = queued_or_started(&embedder).await;
    let long: Vec<String> = (0..100).map(|i| format!("text {i}: {}", "the quick brown fox jumps over the lazy dog ".repeat(12))).collect();
    let mut calls = Vec::new();
    for _ in 0..4 {
        let mut e = EmbedderClient::connect(embedder.url()).await.expect("connect");
        let req = EmbedRequest { model: strato_tests::TEST_MODEL.into(), texts: long.clone(), ..Default::default() };
        calls.push(tokio::spawn(async move { (e.embed(req).await, Instant::now()) }));
    }
    // Every text queued (so every request accepted) before the signal: queued + started grew by 400.
    let started = Instant::now();
    loop {
        if queued_or_started(&embedder).await >= before + 400.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the embeddings never all queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signal = Instant::now();
    embedder.terminate();
    let mut after = 0;
    for call in calls {
        let (r, done) = call.await.expect("task");
        let r = r.expect("an embedding in flight at SIGTERM completes");
        assert_eq!(r.into_inner().data.len(), 100);
        after += usize::from(done > signal);
    }
    assert!(after > 0, "every embedding finished before the signal; the test proved nothing");
    stop(&mut embedder, Duration::from_secs(15));
}

/// Texts the embedder has queued so far (waiting, or started in a batch), from its metrics.
async fn queued_or_started(embedder: &Service) -> f64 {
    let text = reqwest::get(format!("{}/metrics", embedder.admin_url())).await.expect("metrics").text().await.expect("text");
    let value = |name: &str| text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    value("strato_embedder_queue_depth{") + value("strato_embedder_queue_wait_seconds_count{")
}
