//! Resizes under fire: two index-svc pods grow to three, then shrink back to two, while writers
//! keep writing through a gateway that knows both pod lists, and the mover (`strato-vectorize
//! rebalance --apply`) and each pod are killed (`kill -9`) at random points (bounded rounds,
//! printed seed, env `STRATO_RESIZE_SEED`). Afterwards every index is on exactly its new owner and agrees with an
//! oracle of what was acknowledged; indexes nobody wrote to meanwhile answer every read
//! (plain, filtered — vectors written before their metadata index stay unfilterable —,
//! namespaced, getByIds, list, info) exactly as before the resize.
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use strato_proto::index::v1::{ListIndexesRequest, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, free_port, scratch_dir, start_gateway};

use crate::{call, http};

const ACCOUNT: &str = "resize";
const DIMS: usize = 32;
const STATIC: usize = 6;
const LIVE: usize = 6;
const ROUNDS: usize = 6;
/// Vectors an index holds before the resize (enough that moving them takes a while to kill).
const PER: usize = 1500;

fn values(i: usize, version: usize) -> Vec<f32> {
    (0..DIMS).map(|d| ((i * 31 + d * 7 + version * 13) % 97) as f32 / 97.0 - 0.5 + if d == i % DIMS { 1.0 } else { 0.0 }).collect()
}

struct Pod {
    listen: String,
    data: std::path::PathBuf,
    svc: Option<Service>,
}

impl Pod {
    fn start(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        self.svc = Some(Service::start_on("index-svc", &self.listen, &["--data-dir", data.as_str()], Duration::from_secs(120)).expect("index-svc"));
    }

    fn url(&self) -> String {
        format!("http://{}", self.listen)
    }
}

/// What a writer was told: per (index, id), the last acknowledged version (None: deleted), and
/// versions of calls that failed after it (they may or may not have landed).
#[derive(Default)]
struct Oracle {
    acked: HashMap<(String, String), Option<usize>>,
    maybe: HashMap<(String, String), Vec<Option<usize>>>,
}

async fn upsert(base: &str, index: &str, lines: &[Value]) -> bool {
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let r = http().post(format!("{base}/{index}/upsert")).header("authorization", "Bearer local").header("content-type", "application/x-ndjson").body(body.join("\n")).send().await;
    r.is_ok_and(|r| r.status() == 200)
}

/// The reads that must not change across a move, as the gateway answers them.
async fn answers(base: &str, index: &str, i: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let ask = [
        json!({"vector": values(i, 0), "topK": 5, "returnValues": true, "returnMetadata": "all"}),
        json!({"vector": values(i, 0), "topK": 20, "filter": {"k": {"$gte": 0}}, "returnMetadata": "indexed"}),
        json!({"vector": values(i, 0), "topK": 5, "namespace": "ns1"}),
    ];
    for q in ask {
        let (s, b) = call(Method::POST, &format!("{base}/{index}/query"), Some(q)).await;
        assert_eq!(s, 200, "{index}: {b}");
        out.push(b["result"].clone());
    }
    let (_, b) = call(Method::POST, &format!("{base}/{index}/get_by_ids"), Some(json!({"ids": ["s0", "s7", "s33", "nope"]}))).await;
    out.push(b["result"].clone());
    let (_, b) = call(Method::GET, &format!("{base}/{index}/list?count=50"), None).await;
    out.push(b["result"]["vectors"].clone());
    let (_, b) = call(Method::GET, &format!("{base}/{index}/info"), None).await;
    out.push(b["result"].clone());
    let (_, b) = call(Method::GET, &format!("{base}/{index}/metadata_index/list"), None).await;
    out.push(b["result"].clone());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resize_under_writes_and_kills_loses_nothing_and_changes_no_answer() {
    let seed: u64 = std::env::var("STRATO_RESIZE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("resize chaos seed {seed} (STRATO_RESIZE_SEED={seed} to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pods: Vec<Pod> = (0..3).map(|_| Pod { listen: format!("127.0.0.1:{}", free_port()), data: scratch_dir("resize-pod"), svc: None }).collect();
    pods[0].start();
    pods[1].start();
    let old: Vec<String> = pods[..2].iter().map(Pod::url).collect();
    let new: Vec<String> = pods.iter().map(Pod::url).collect();
    let unused = format!("http://127.0.0.1:{}", free_port());

    // Before: the indexes on two pods, through a gateway on that list.
    let g = start_gateway(&unused, &old.join(","), &[]).expect("gateway");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", g.url());
    let names: Vec<String> = (0..STATIC + LIVE).map(|i| format!("ix-{i}")).collect();
    for (n, name) in names.iter().enumerate() {
        let (s, b) = call(Method::POST, &base, Some(json!({"name": name, "config": {"dimensions": DIMS, "metric": "cosine"}}))).await;
        assert_eq!(s, 200, "{b}");
        // PER/2 vectors before the metadata index (unfilterable), PER/2 after; every fourth in ns1.
        let line = |i: usize| {
            let mut v = json!({"id": format!("s{i}"), "values": values(i + n, 0), "metadata": {"k": i, "text": format!("<b>{i}</b>")}});
            if i % 4 == 0 {
                v["namespace"] = json!("ns1");
            }
            v
        };
        assert!(upsert(&base, name, &(0..PER / 2).map(line).collect::<Vec<_>>()).await);
        let (s, b) = call(Method::POST, &format!("{base}/{name}/metadata_index/create"), Some(json!({"propertyName": "k", "indexType": "number"}))).await;
        assert_eq!(s, 200, "{b}");
        assert!(upsert(&base, name, &(PER / 2..PER).map(line).collect::<Vec<_>>()).await);
    }
    let mut before = Vec::new();
    for (n, name) in names[..STATIC].iter().enumerate() {
        before.push(answers(&base, name, n).await);
    }
    drop(g);

    // During: a gateway that knows both lists, writers on the live indexes, the third pod up.
    pods[2].start();
    let g = start_gateway(&unused, &new.join(","), &["--index-previous", &old.join(",")]).expect("gateway on both lists");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", g.url());
    let oracle = Arc::new(Mutex::new(Oracle::default()));
    let base_now = Arc::new(Mutex::new(base.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (base_now, oracle, stop, live) = (base_now.clone(), oracle.clone(), stop.clone(), names[STATIC..].to_vec());
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (w as u64 + 1));
        writers.push(tokio::spawn(async move {
            let mut version = 1;
            while !stop.load(Ordering::SeqCst) {
                let base = base_now.lock().expect("base").clone();
                let index = live[rng.random_range(0..live.len())].clone();
                let ids: Vec<String> = (0..3).map(|_| format!("w{w}-{}", rng.random_range(0..40))).collect();
                let delete = rng.random_bool(0.2);
                let ok = if delete {
                    try_call(Method::POST, &format!("{base}/{index}/delete_by_ids"), json!({"ids": ids})).await == Some(200)
                } else {
                    let lines: Vec<Value> = ids.iter().map(|id| json!({"id": id, "values": values(version, 1), "metadata": {"k": version}})).collect();
                    upsert(&base, &index, &lines).await
                };
                let state = (!delete).then_some(version);
                let mut o = oracle.lock().expect("oracle");
                for id in ids {
                    let key = (index.clone(), id);
                    if ok {
                        o.acked.insert(key.clone(), state);
                        o.maybe.remove(&key);
                    } else {
                        o.maybe.entry(key).or_default().push(state);
                    }
                }
                drop(o);
                version += 1;
            }
        }));
    }

    // Grow 2 → 3 under fire, forget the old copies, then shrink 3 → 2 (the third pod retiring)
    // under fire: the mover and the pods killed at random points until each resize completes.
    chaos(&mut rng, &mut pods, &new.join(","), "", "grow").await;
    // A gateway not yet told of the resize (the old list only) finds every index by the moved
    // pods' answers, and reads what it read before.
    let stale = start_gateway(&unused, &old.join(","), &[]).expect("gateway on the old list");
    let stale_base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", stale.url());
    for (n, name) in names[..STATIC].iter().enumerate() {
        assert_eq!(answers(&stale_base, name, n).await, before[n], "{name} through a gateway on the old list");
    }
    drop(stale);
    let forgot = mover(&new.join(","), "", &["--forget"]).wait_with_output().expect("forget");
    assert!(forgot.status.success(), "{}", String::from_utf8_lossy(&forgot.stderr));
    drop(g);
    let g = start_gateway(&unused, &old.join(","), &["--index-previous", &new.join(",")]).expect("gateway while shrinking");
    *base_now.lock().expect("base") = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", g.url());
    let retiring = pods[2].url();
    chaos(&mut rng, &mut pods, &old.join(","), &retiring, "shrink").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer");
    }

    // After: a gateway on the final list only; the old copies forgotten.
    drop(g);
    let out = mover(&old.join(","), &pods[2].url(), &["--forget"]).wait_with_output().expect("forget");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g = start_gateway(&unused, &old.join(","), &[]).expect("gateway on the final list");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", g.url());
    let owner = |name: &str| gateway::partition::owner(pods[..2].iter().map(|p| p.listen.as_str()), ACCOUNT, name);
    let mut seen = BTreeSet::new();
    for (p, pod) in pods.iter().enumerate() {
        let mut c = VectorIndexClient::connect(pod.url()).await.expect("connect");
        let listed = c.list_indexes(ListIndexesRequest { account: ACCOUNT.into(), all_accounts: false, include_moved: true }).await.expect("list").into_inner().indexes;
        for ix in listed {
            assert_eq!(owner(&ix.name), p, "{} is on pod {p}, not its owner", ix.name);
            assert!(seen.insert(ix.name));
        }
    }
    assert_eq!(seen.len(), names.len(), "{seen:?}");
    for (n, name) in names[..STATIC].iter().enumerate() {
        assert_eq!(answers(&base, name, n).await, before[n], "{name} answers differently after the move");
    }
    let o = oracle.lock().expect("oracle");
    let mut checked = 0;
    for name in &names[STATIC..] {
        let ids: Vec<String> = (0..2).flat_map(|w| (0..40).map(move |i| format!("w{w}-{i}"))).collect();
        let (s, b) = call(Method::POST, &format!("{base}/{name}/get_by_ids"), Some(json!({"ids": ids}))).await;
        assert_eq!(s, 200, "{b}");
        let got: HashMap<String, usize> = b["result"].as_array().expect("array").iter().map(|v| (v["id"].as_str().unwrap_or_default().to_owned(), v["metadata"]["k"].as_u64().unwrap_or(0) as usize)).collect();
        for id in ids {
            let key = (name.clone(), id.clone());
            let have = got.get(&id).copied();
            let mut allowed: Vec<Option<usize>> = vec![o.acked.get(&key).copied().flatten()];
            allowed.extend(o.maybe.get(&key).into_iter().flatten().copied());
            if !o.acked.contains_key(&key) {
                allowed.push(None);
            }
            assert!(allowed.contains(&have), "{name}/{id}: holds version {have:?}, the oracle allows {allowed:?}");
            checked += 1;
        }
    }
    println!("{checked} ids checked against the oracle ({} acknowledged writes)", o.acked.len());
}

/// `strato-vectorize rebalance` with the pods after the resize and the retiring ones.
fn mover(pods: &str, retiring: &str, args: &[&str]) -> std::process::Child {
    let mut cmd = std::process::Command::new(strato_tests::bin_path("strato-vectorize"));
    cmd.args(["--timeout", "10", "rebalance", "--pods", pods]);
    if !retiring.is_empty() {
        cmd.args(["--retiring", retiring]);
    }
    cmd.args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("strato-vectorize")
}

/// Runs the mover until one run completes. Each of the first ROUNDS runs is interrupted at a
/// random point: after a random number of its moves (read from its output) and a random few
/// milliseconds more, the mover or a pod is killed.
async fn chaos(rng: &mut rand::rngs::StdRng, pods: &mut [Pod], to: &str, retiring: &str, phase: &str) {
    use std::io::BufRead;
    for round in 0.. {
        let mut child = mover(to, retiring, &["--apply"]);
        let stdout = child.stdout.take().expect("stdout");
        let moved = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = moved.clone();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim_start().starts_with("moved ") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                lines.push(line);
            }
            lines
        });
        let last = round >= ROUNDS;
        if !last {
            let k = rng.random_range(0..4);
            let extra = Duration::from_millis(rng.random_range(0..40));
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while moved.load(Ordering::SeqCst) < k && child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(extra).await;
            if rng.random_range(0..3) == 0 {
                let _ = child.kill();
                println!("{phase} {round}: mover killed after {k} moves + {extra:?}");
            } else {
                let p = rng.random_range(0..pods.len());
                if let Some(mut s) = pods[p].svc.take() {
                    s.kill();
                }
                println!("{phase} {round}: pod {p} killed after {k} moves + {extra:?}");
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
                pods[p].start();
            }
        }
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        let status = child.wait().expect("mover");
        let mut lines = reader.join().expect("reader");
        lines.push(stderr);
        println!("{phase} {round}: {} ({} moved in this run) {}", if status.success() { "completed" } else { "interrupted" }, moved.load(Ordering::SeqCst), lines.last().map(|l| l.trim()).unwrap_or_default());
        if status.success() {
            break;
        }
        assert!(!last, "the last {phase} run failed: {}", lines.join("\n"));
    }
    let out = mover(to, retiring, &[]).wait_with_output().expect("mover");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("0 index(es) to move"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A write through the gateway: Some(status) when it answered (the gateway itself may be
/// restarting between phases).
async fn try_call(method: Method, url: &str, body: Value) -> Option<u16> {
    let r = http().request(method, url).header("authorization", "Bearer local").json(&body).send().await.ok()?;
    Some(r.status().as_u16())
}

/// The edges of a move, one at a time: a create while the previous owner cannot answer makes no
/// twin; an index deleted at its destination after a move is not copied back, and its old copy
/// can still be forgotten; `--abort` thaws a frozen index and deletes an incoming copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_move_makes_no_twin_resurrects_nothing_and_can_be_abandoned() {
    use strato_proto::index::v1::{self as pb, IndexRef, MoveRequest};
    let mut pods: Vec<Pod> = (0..2).map(|_| Pod { listen: format!("127.0.0.1:{}", free_port()), data: scratch_dir("edge-pod"), svc: None }).collect();
    pods[0].start();
    pods[1].start();
    let (a, both) = (pods[0].url(), format!("{},{}", pods[0].url(), pods[1].url()));
    let unused = format!("http://127.0.0.1:{}", free_port());
    let listens: Vec<String> = pods.iter().map(|p| p.listen.clone()).collect();
    let owner = |name: &str| gateway::partition::owner(listens.iter().map(String::as_str), ACCOUNT, name);
    // Names the new list gives to pod 1.
    let moving: Vec<String> = (0..200).map(|i| format!("e{i}")).filter(|n| owner(n) == 1).take(3).collect();
    let old = start_gateway(&unused, &a, &[]).expect("gateway on the old list");
    let old_base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", old.url());
    for name in &moving {
        let (s, b) = call(Method::POST, &old_base, Some(json!({"name": name, "config": {"dimensions": DIMS, "metric": "cosine"}}))).await;
        assert_eq!(s, 200, "{b}");
        assert!(upsert(&old_base, name, &[json!({"id": "a", "values": values(1, 0)})]).await);
    }
    let g = start_gateway(&unused, &both, &["--index-previous", &a]).expect("gateway on both lists");
    let base = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", g.url());

    // 1. The previous owner down: a create of a name it holds fails, and makes nothing.
    pods[0].svc.take().expect("pod 0").kill();
    let (s, b) = call(Method::POST, &base, Some(json!({"name": moving[0], "config": {"dimensions": DIMS, "metric": "cosine"}}))).await;
    assert_eq!(s, 503, "a create that cannot be checked must not go ahead: {b}");
    pods[0].start();
    let (s, b) = call(Method::GET, &format!("{base}/{}/info", moving[0]), None).await;
    assert_eq!((s, b["result"]["vectorCount"].clone()), (200, json!(1)), "no twin: {b}");

    // 2. Moved, then deleted at its destination: not copied back; the old copy forgotten.
    let run = |args: &[&str]| {
        let out = mover(&both, "", args).wait_with_output().expect("mover");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["--apply"]);
    let (s, _) = call(Method::DELETE, &format!("{base}/{}", moving[0]), None).await;
    assert_eq!(s, 200);
    assert!(run(&[]).starts_with("0 index(es) to move"), "a deleted index is not a move to redo");
    run(&["--apply"]);
    let (s, _) = call(Method::GET, &format!("{base}/{}/info", moving[0]), None).await;
    assert_eq!(s, 404, "the deleted index came back");
    assert!(run(&["--forget"]).starts_with(&format!("Deleted the old copies of {} moved index(es)", moving.len())));

    // 3. Abandoned: a frozen source thawed, an incoming copy deleted.
    let name = "abandoned";
    let (s, b) = call(Method::POST, &base, Some(json!({"name": name, "config": {"dimensions": DIMS, "metric": "cosine"}}))).await;
    assert_eq!(s, 200, "{b}");
    let home = owner(name);
    let (mut src, mut dst) = (VectorIndexClient::connect(pods[home].url()).await.expect("src"), VectorIndexClient::connect(pods[1 - home].url()).await.expect("dst"));
    let iref = IndexRef { account: ACCOUNT.into(), name: name.into() };
    src.set_move_state(MoveRequest { account: ACCOUNT.into(), name: name.into(), state: "frozen".into(), to: pods[1 - home].url() }).await.expect("freeze");
    let export: Vec<pb::IndexRecords> = {
        let mut s = src.export_index(iref.clone()).await.expect("export").into_inner();
        let mut all = Vec::new();
        while let Some(m) = s.message().await.expect("records") {
            all.push(m);
        }
        all
    };
    let d = dst.import_index(futures::stream::iter(export)).await.expect("import").into_inner();
    assert_eq!(d.state, "incoming");
    assert!(!upsert(&base, name, &[json!({"id": "x", "values": values(2, 0)})]).await, "a frozen index takes no write");
    let out = run(&["--abort"]);
    assert!(out.starts_with("Abandoned 2 unfinished move step(s)"), "{out}");
    assert_eq!(dst.get_index_digest(iref.clone()).await.expect("digest").into_inner().state, "absent");
    assert_eq!(src.get_index_digest(iref).await.expect("digest").into_inner().state, "active");
    assert!(upsert(&base, name, &[json!({"id": "x", "values": values(2, 0)})]).await, "thawed: writes work again");
}
