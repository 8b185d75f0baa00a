//! Three index-svc "pods" and two embedders on loopback behind one gateway: the REST API and the
//! tutorial work, every index lives on exactly the pod its rendezvous hash names, and a dead pod
//! fails only the indexes it owns (503 in the envelope) until it is back; after growing to four
//! pods, `strato-vectorize rebalance` moves what the new pod owns and nothing is lost.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use strato_proto::index::v1::{ListIndexesRequest, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, free_port, scratch_dir, start_embedder, start_gateway};

use crate::{call, http};

const ACCOUNT: &str = "acme";

/// A 32-dimension vector (Vectorize's smallest) that points its own way for each `i`.
fn vector(i: usize) -> Vec<f32> {
    (0..32).map(|d| if d == i % 32 { 1.0 } else { 0.01 * (d + i / 32) as f32 }).collect()
}

fn start_pod(listen: &str, data: &std::path::Path) -> Service {
    let data = data.to_string_lossy().into_owned();
    Service::start_on("index-svc", listen, &["--data-dir", data.as_str()], Duration::from_secs(120)).expect("index-svc")
}

async fn names_on(pod: &Service) -> BTreeSet<String> {
    let mut c = VectorIndexClient::connect(pod.url()).await.expect("connect");
    c.list_indexes(ListIndexesRequest { account: ACCOUNT.into(), all_accounts: false, include_moved: false }).await.expect("list").into_inner().indexes.into_iter().map(|i| i.name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn indexes_spread_over_pods_survive_a_dead_pod_and_a_resize() {
    let e1 = start_embedder(&[]).expect("embedder 1");
    let e2 = start_embedder(&[]).expect("embedder 2");
    let mut listens: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let dirs: Vec<_> = (0..3).map(|_| scratch_dir("pod")).collect();
    let mut pods: Vec<Service> = listens.iter().zip(&dirs).map(|(l, d)| start_pod(l, d)).collect();
    let urls: Vec<String> = pods.iter().map(Service::url).collect();
    let embedders = format!("{},{}", e1.url(), e2.url());
    let gateway = start_gateway(&embedders, &urls.join(","), &["--create-index", "--binding-account", ACCOUNT]).expect("gateway");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", gateway.url());
    let owner = |name: &str| gateway::partition::owner(listens.iter().map(String::as_str), ACCOUNT, name);

    // The tutorial, through both embedders and the binding index's owner.
    assert_eq!(http().get(format!("{}/insert", gateway.url())).send().await.expect("insert").status(), 200);
    let (s, b) = call(Method::GET, &gateway.url(), None).await;
    assert_eq!((s, b["matches"]["count"].as_u64()), (200, Some(1)), "{b}");

    // 24 indexes over the REST API: create, write, read back, query.
    let names: Vec<String> = (0..24).map(|i| format!("idx-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let (s, b) = call(Method::POST, &base, Some(json!({"name": name, "config": {"dimensions": 32, "metric": "cosine"}}))).await;
        assert_eq!(s, 200, "create {name}: {b}");
        let line = json!({"id": format!("v{i}"), "values": vector(i), "metadata": {"n": i}}).to_string();
        let r = http().post(format!("{base}/{name}/upsert")).header("content-type", "application/x-ndjson").body(line).send().await.expect("upsert");
        assert_eq!(r.status(), 200, "upsert {name}");
    }
    // A second create of a name goes to the same owner, which refuses it.
    let (s, b) = call(Method::POST, &base, Some(json!({"name": "idx-3", "config": {"dimensions": 32, "metric": "cosine"}}))).await;
    assert_eq!((s, b["errors"][0]["code"].clone()), (400, json!(3002)), "{b}");
    for (i, name) in names.iter().enumerate() {
        let (s, b) = call(Method::POST, &format!("{base}/{name}/query"), Some(json!({"vector": vector(i), "topK": 1}))).await;
        assert_eq!((s, b["result"]["matches"][0]["id"].clone()), (200, json!(format!("v{i}"))), "query {name}: {b}");
        let (s, b) = call(Method::POST, &format!("{base}/{name}/get_by_ids"), Some(json!({"ids": [format!("v{i}")]}))).await;
        assert_eq!((s, b["result"][0]["metadata"]["n"].clone()), (200, json!(i)), "get {name}: {b}");
        let (s, b) = call(Method::GET, &format!("{base}/{name}/info"), None).await;
        assert_eq!((s, b["result"]["vectorCount"].clone()), (200, json!(1)), "info {name}: {b}");
    }
    let (s, b) = call(Method::POST, &format!("{base}/idx-5/metadata_index/create"), Some(json!({"propertyName": "n", "indexType": "number"}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(Method::GET, &format!("{base}/idx-5/metadata_index/list"), None).await;
    assert_eq!((s, b["result"]["metadataIndexes"][0]["propertyName"].clone()), (200, json!("n")), "{b}");
    let (s, b) = call(Method::GET, &format!("{base}/idx-5/list"), None).await;
    assert_eq!((s, b["result"]["count"].clone()), (200, json!(1)), "{b}");
    let (s, b) = call(Method::POST, &format!("{base}/idx-6/delete_by_ids"), Some(json!({"ids": ["v6"]}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = call(Method::DELETE, &format!("{base}/idx-7"), None).await;
    assert_eq!(s, 200);
    let live: Vec<&String> = names.iter().filter(|n| *n != "idx-7").collect();

    // Each index on exactly its owner; listing merges every pod.
    let mut seen = BTreeSet::new();
    for (p, pod) in pods.iter().enumerate() {
        let here = names_on(pod).await;
        assert!(!here.is_empty(), "pod {p} holds nothing: the spread is broken");
        for name in &here {
            assert_eq!(owner(name), p, "{name} is on pod {p}, not its owner");
            assert!(seen.insert(name.clone()), "{name} is on two pods");
        }
    }
    assert_eq!(seen.len(), live.len() + 1, "{seen:?}");
    let (s, b) = call(Method::GET, &base, None).await;
    let listed: Vec<&str> = b["result"].as_array().expect("list").iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!((s, listed.len()), (200, seen.len()), "{b}");
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "merged in name order: {listed:?}");

    // Pod 1 dies: its indexes answer 503 in the envelope, the others carry on; the list says
    // what is missing.
    pods[1].kill();
    for name in &live {
        let (s, b) = call(Method::POST, &format!("{base}/{name}/query"), Some(json!({"vector": vector(0), "topK": 1}))).await;
        if owner(name) == 1 {
            assert_eq!((s, b["success"].clone()), (503, json!(false)), "{name} (dead pod): {b}");
            assert!(b["errors"][0]["code"].is_number(), "{b}");
        } else {
            assert_eq!(s, 200, "{name} (live pod): {b}");
        }
    }
    let (s, b) = call(Method::GET, &base, None).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["messages"][0]["message"].as_str().is_some_and(|m| m.contains(&listens[1])), "the list names the missing pod: {b}");

    // Back on the same address and volume: its indexes answer again.
    pods[1] = start_pod(&listens[1], &dirs[1]);
    let start = Instant::now();
    for name in live.iter().filter(|n| owner(n) == 1) {
        loop {
            let (s, b) = call(Method::GET, &format!("{base}/{name}/info"), None).await;
            if s == 200 {
                assert_eq!(b["result"]["vectorCount"], json!(if name.as_str() == "idx-6" { 0 } else { 1 }), "{name}: {b}");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{name} never came back: {s} {b}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Grow to four pods: `rebalance` moves what the fourth now owns, and a gateway with the new
    // list finds every index, each on exactly its new owner.
    drop(gateway);
    listens.push(format!("127.0.0.1:{}", free_port()));
    let dir = scratch_dir("pod");
    pods.push(start_pod(&listens[3], &dir));
    let urls: Vec<String> = pods.iter().map(Service::url).collect();
    let cli = |extra: &[&str]| {
        let mut args = vec!["rebalance", "--pods"];
        let list = urls.join(",");
        args.push(&list);
        args.extend_from_slice(extra);
        let o = std::process::Command::new(strato_tests::bin_path("strato-vectorize")).args(&args).output().expect("strato-vectorize");
        assert!(o.status.success(), "rebalance: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let owner4 = |name: &str| gateway::partition::owner(listens.iter().map(String::as_str), ACCOUNT, name);
    let moving = live.iter().filter(|n| owner4(n) == 3).count() + usize::from(owner4("embeddings-index") == 3);
    let plan = cli(&[]);
    assert!(plan.starts_with(&format!("{moving} index(es) to move")), "{plan}");
    println!("{}", cli(&["--apply"]).trim());
    assert!(cli(&[]).starts_with("0 index(es) to move"), "a second run has nothing left to do");
    let gateway = start_gateway(&embedders, &urls.join(","), &["--binding-account", ACCOUNT]).expect("gateway on four pods");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", gateway.url());
    for (i, name) in names.iter().enumerate().filter(|(_, n)| *n != "idx-7") {
        let (s, b) = call(Method::POST, &format!("{base}/{name}/query"), Some(json!({"vector": vector(i), "topK": 1, "returnMetadata": "all"}))).await;
        assert_eq!(s, 200, "{name} after the move: {b}");
        if name != "idx-6" {
            assert_eq!((b["result"]["matches"][0]["id"].clone(), b["result"]["matches"][0]["metadata"]["n"].clone()), (json!(format!("v{i}")), json!(i)), "{name}: {b}");
        }
    }
    let (s, b) = call(Method::GET, &format!("{base}/idx-5/metadata_index/list"), None).await;
    assert_eq!((s, b["result"]["metadataIndexes"][0]["propertyName"].clone()), (200, json!("n")), "metadata indexes move too: {b}");
    let (s, b) = call(Method::GET, &gateway.url(), None).await;
    assert_eq!((s, b["matches"]["count"].as_u64()), (200, Some(1)), "the tutorial's index after the move: {b}");
    let mut seen = BTreeSet::new();
    for (p, pod) in pods.iter().enumerate() {
        for name in names_on(pod).await {
            assert_eq!(owner4(&name), p, "{name} on pod {p} after the rebalance");
            assert!(seen.insert(name));
        }
    }
    assert_eq!(seen.len(), live.len() + 1);
    // The old copies stay (moved, naming their new pod) until `--forget` deletes them.
    let forgot = cli(&["--forget"]);
    assert!(forgot.starts_with(&format!("Deleted the old copies of {moving} moved index(es)")), "{forgot}");
}
