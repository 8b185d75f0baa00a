//! Backup while writes go on, restore into a fresh data directory, and every write acknowledged
//! before the backup began is there, bit for bit; a damaged backup is refused whole.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::process::{scratch_dir, start_index, start_index_on};

const INDEX: &str = "backed-up";

/// (id, writer, n, when its write was acknowledged).
type Acked = (String, usize, usize, Instant);
const DIMS: usize = 32;

/// A vector that is a pure function of (writer, n), and unlike every other one.
fn values(writer: usize, n: usize) -> Vec<f32> {
    (0..DIMS)
        .map(|d| {
            let mut x = ((writer as u64) << 40) ^ ((n as u64) << 8) ^ d as u64;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((x ^ (x >> 31)) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(strato_tests::bin_path("strato-vectorize")).args(args).output().expect("strato-vectorize")
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_writes_restores_every_acknowledged_write() {
    // A small seal threshold: segments are sealed and compacted while the backup runs.
    let svc = start_index(&["--seal-threshold", "200", "--max-segments", "3"]).expect("index-svc");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: INDEX.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");

    // Writers: batches of 20 new ids each; (id, acknowledged at).
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (mut c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<pb::Vector> = (n..n + 20).map(|i| pb::Vector { id: format!("w{w}-{i}"), values: values(w, i), namespace: String::new(), metadata: None }).collect();
                if c.upsert(pb::WriteRequest { account: String::new(), index: INDEX.into(), vectors: batch }).await.is_ok() {
                    let at = Instant::now();
                    acked.lock().expect("acked").extend((n..n + 20).map(|i| (format!("w{w}-{i}"), w, i, at)));
                }
                n += 20;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = scratch_dir("backup").join("b");
    let began = Instant::now();
    let o = cli(&["--index-url", &svc.url(), "backup", "--out", out.to_str().expect("path")]);
    assert!(o.status.success(), "backup: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    println!("{}", String::from_utf8_lossy(&o.stdout).trim());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer");
    }
    let before: Vec<(String, usize, usize)> = acked.lock().expect("acked").iter().filter(|a| a.3 <= began).map(|a| (a.0.clone(), a.1, a.2)).collect();
    let after = acked.lock().expect("acked").len() - before.len();
    assert!(before.len() >= 200 && after > 0, "writes went on around the backup: {} before, {after} after", before.len());

    // A damaged copy is refused, and nothing is written.
    let damaged = scratch_dir("backup-damaged");
    let copy = damaged.join("b");
    std::fs::create_dir_all(copy.join("segments")).expect("dir");
    for entry in walk(&out) {
        let rel = entry.strip_prefix(&out).expect("rel");
        std::fs::copy(&entry, copy.join(rel)).expect("copy");
    }
    let records = copy.join("strato-index.records");
    let mut bytes = std::fs::read(&records).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&records, bytes).expect("write");
    let refused = damaged.join("restored");
    let o = cli(&["restore", "--from", copy.to_str().expect("path"), "--to", refused.to_str().expect("path")]);
    assert!(!o.status.success(), "a damaged backup restored");
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!refused.exists(), "a refused restore wrote something");
    // Cut short: refused the same way.
    std::fs::write(&records, &std::fs::read(out.join("strato-index.records")).expect("read")[..mid]).expect("cut");
    let o = cli(&["restore", "--from", copy.to_str().expect("path"), "--to", refused.to_str().expect("path")]);
    assert!(!o.status.success() && !refused.exists(), "a cut backup restored");

    // Restore into a fresh data directory and serve it.
    let data = scratch_dir("restored").join("data");
    let o = cli(&["restore", "--from", out.to_str().expect("path"), "--to", data.to_str().expect("path")]);
    assert!(o.status.success(), "restore: {}", String::from_utf8_lossy(&o.stderr));
    let restored = start_index_on(&data, &[]).expect("index-svc on the restored data");
    let mut r = VectorIndexClient::connect(restored.url()).await.expect("connect");
    for chunk in before.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(|b| b.0.clone()).collect();
        let got = r.get_by_ids(pb::IdsRequest { account: String::new(), index: INDEX.into(), ids }).await.expect("get").into_inner().vectors;
        assert_eq!(got.len(), chunk.len(), "acknowledged writes missing from the restore");
        for (v, (id, w, i)) in got.iter().zip(chunk) {
            assert_eq!(&v.id, id);
            let want = values(*w, *i);
            assert!(v.values.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{id} changed");
        }
    }
    // Search works on what was restored (segments and recent writes alike).
    let (w, i) = (before[before.len() / 2].1, before[before.len() / 2].2);
    let q = r.query(pb::QueryRequest { account: String::new(), index: INDEX.into(), vector: values(w, i), top_k: 1, ..Default::default() }).await.expect("query").into_inner();
    assert_eq!(q.matches[0].id, format!("w{w}-{i}"));
    println!("{} writes acknowledged before the backup, all restored ({after} more after it began)", before.len());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// A backup holds the durable state only: a write whose fsync failed (its client was told
/// UNAVAILABLE) is not in it, although the store's latest state holds it until the restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_holds_only_writes_whose_clients_were_told_they_succeeded() {
    let faults = scratch_dir("backup-faults");
    let args = ["--fault-dir", faults.to_str().expect("utf-8"), "--fail-stop-grace-ms", "60000"];
    let svc = start_index(&args).expect("index-svc");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: INDEX.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");
    let v = |id: &str, n| pb::Vector { id: id.into(), values: values(0, n), namespace: String::new(), metadata: None };
    c.upsert(pb::WriteRequest { account: String::new(), index: INDEX.into(), vectors: vec![v("told-ok", 1)] }).await.expect("acknowledged");
    std::fs::write(faults.join("fsync"), b"").expect("arm");
    let err = c.upsert(pb::WriteRequest { account: String::new(), index: INDEX.into(), vectors: vec![v("told-failed", 2)] }).await.expect_err("fsync fails");
    assert_eq!(err.code(), tonic::Code::Unavailable);

    let out = scratch_dir("backup-durable").join("b");
    let o = cli(&["--index-url", &svc.url(), "backup", "--out", out.to_str().expect("path")]);
    assert!(o.status.success(), "backup during the grace period: {}", String::from_utf8_lossy(&o.stderr));
    let data = scratch_dir("backup-durable").join("data");
    let o = cli(&["restore", "--from", out.to_str().expect("path"), "--to", data.to_str().expect("path")]);
    assert!(o.status.success(), "restore: {}", String::from_utf8_lossy(&o.stderr));
    let restored = start_index_on(&data, &[]).expect("index-svc on the restored data");
    let mut r = VectorIndexClient::connect(restored.url()).await.expect("connect");
    let ids = vec!["told-ok".to_owned(), "told-failed".to_owned()];
    let got: Vec<String> = r.get_by_ids(pb::IdsRequest { account: String::new(), index: INDEX.into(), ids }).await.expect("get").into_inner().vectors.into_iter().map(|v| v.id).collect();
    assert_eq!(got, ["told-ok"], "the backup must hold exactly what was acknowledged");
}

/// A backup of a ~100 MB store read by a slow client: deletes (an index's and vectors'),
/// writes and the settling they cause each finish in a small fraction of the copy's time, and
/// index-svc's memory rises by no more than its store cache and the stream's buffers.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_backup_costs_writers_and_memory_nothing() {
    let svc = start_index(&["--settle-ms", "500"]).expect("index-svc");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    for name in ["big", "doomed"] {
        c.create_index(pb::CreateIndexRequest { account: String::new(), name: name.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
            .await
            .expect("create");
    }
    // Records made large by their metadata (8 KiB each): a big store, cheap graphs.
    let pad = "m".repeat(8 << 10);
    let meta = strato_tests::json::to_struct(&serde_json::json!({ "pad": pad }));
    for from in (0..12_000).step_by(500) {
        let vectors = (from..from + 500).map(|i| pb::Vector { id: format!("b{i}"), values: values(1, i), namespace: String::new(), metadata: Some(meta.clone()) }).collect();
        c.upsert(pb::WriteRequest { account: String::new(), index: "big".into(), vectors }).await.expect("ingest");
    }
    let vectors = (0..300).map(|i| pb::Vector { id: format!("d{i}"), values: values(2, i), namespace: String::new(), metadata: None }).collect();
    c.upsert(pb::WriteRequest { account: String::new(), index: "doomed".into(), vectors }).await.expect("ingest");
    for name in ["big", "doomed"] {
        let at = pb::IndexRef { account: String::new(), name: name.into() };
        strato_tests::bench::settle(&svc.url(), at, svc.pid()).await.expect("settled");
    }
    // First alone, for memory: what the backup itself holds.
    let alone = slow_backup(&c, svc.pid(), false).await;
    // The store's own page cache (16 MiB, filled by any full read) plus the stream's few chunks;
    // a copy of the store (as backups used to make) is 100 MB.
    assert!(alone.peak_kib.saturating_sub(alone.before_kib) < 28 << 10, "memory rose {} MiB during the backup", alone.peak_kib.saturating_sub(alone.before_kib) / 1024);
    // Then beside deletes and writes, for how long they wait.
    let beside = slow_backup(&c, svc.pid(), true).await;
    for (what, t) in &beside.took {
        assert!(*t < beside.copy / 10, "{what} took {t:?} during a backup that took {:?}", beside.copy);
    }
}

struct SlowBackup {
    copy: Duration,
    before_kib: u64,
    peak_kib: u64,
    took: Vec<(&'static str, Duration)>,
}

/// One backup read at ~100 chunks a second, index-svc's memory sampled all along; with `ops`,
/// an index deleted and vectors written and deleted while it streams, each timed.
async fn slow_backup(c: &VectorIndexClient<tonic::transport::Channel>, pid: u32, ops: bool) -> SlowBackup {
    let rss = |pid: u32| strato_tests::process::status_kib(pid, "VmRSS:");
    let before_kib = rss(pid);
    let started = Instant::now();
    let mut stream = c.clone().backup(pb::BackupRequest {}).await.expect("backup").into_inner();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(rss(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let ops = {
        let mut c = c.clone();
        tokio::spawn(async move {
            let mut took = Vec::new();
            if !ops {
                return took;
            }
            let t = Instant::now();
            c.delete_index(pb::IndexRef { account: String::new(), name: "doomed".into() }).await.expect("delete index");
            took.push(("delete an index", t.elapsed()));
            for round in 0..10 {
                let t = Instant::now();
                let v = pb::Vector { id: format!("new{round}"), values: values(3, round), namespace: String::new(), metadata: None };
                c.upsert(pb::WriteRequest { account: String::new(), index: "big".into(), vectors: vec![v] }).await.expect("write");
                took.push(("write", t.elapsed()));
                let t = Instant::now();
                c.delete_by_ids(pb::IdsRequest { account: String::new(), index: "big".into(), ids: (0..100).map(|i| format!("b{}", round * 100 + i)).collect() }).await.expect("delete");
                took.push(("delete vectors", t.elapsed()));
            }
            took
        })
    };
    let (mut bytes, mut manifest) = (0usize, None);
    while let Some(chunk) = stream.message().await.expect("stream") {
        bytes += chunk.data.len();
        if !chunk.manifest.is_empty() {
            manifest = Some(chunk.manifest);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let copy = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let peak_kib = sampler.join().expect("sampler");
    let took = ops.await.expect("ops");
    assert!(manifest.is_some(), "the backup ended without its manifest");
    println!("backup: {:.0} MB in {:.1} s; RSS {} → peak {} MiB", bytes as f64 / 1e6, copy.as_secs_f64(), before_kib / 1024, peak_kib / 1024);
    assert!(bytes > 80_000_000, "the store is big enough to matter: {bytes} bytes");
    SlowBackup { copy, before_kib, peak_kib, took }
}
