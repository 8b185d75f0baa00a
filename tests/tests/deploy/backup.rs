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
    // A file swapped for a symlink (to anything on this machine) is refused, not followed.
    std::fs::copy(out.join("strato-index.records"), &records).expect("restore the records");
    let segment = walk(&copy).into_iter().find(|p| p.to_string_lossy().contains("segments/")).expect("a segment file");
    let target = damaged.join("elsewhere");
    std::fs::rename(&segment, &target).expect("move");
    std::os::unix::fs::symlink(&target, &segment).expect("symlink");
    let o = cli(&["restore", "--from", copy.to_str().expect("path"), "--to", refused.to_str().expect("path")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not a regular file"), "{}", String::from_utf8_lossy(&o.stderr));
    // A target holding anything but an interrupted restore's leftovers is left alone.
    let occupied = damaged.join("occupied");
    std::fs::create_dir_all(occupied.join("segments")).expect("dir");
    std::fs::write(occupied.join("segments/keep.graph"), b"mine").expect("write");
    let o = cli(&["restore", "--from", out.to_str().expect("path"), "--to", occupied.to_str().expect("path")]);
    assert!(!o.status.success() && occupied.join("segments/keep.graph").exists(), "a restore cleared a directory it did not make");

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
/// index-svc's memory rises by no more than its store cache and the stream's buffers; restoring
/// it takes memory that does not grow with the store.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_backup_costs_writers_and_memory_nothing() {
    let svc = start_index(&["--settle-ms", "500"]).expect("index-svc");
    let c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    strato_tests::backup_load::fill(&c, &svc).await.expect("fill");
    // First alone, for memory: what the backup itself holds.
    let alone = strato_tests::backup_load::slow_backup(&c, svc.pid(), false).await.expect("backup");
    println!("{alone}");
    // The store's own page cache (16 MiB, filled by any full read) plus the stream's few chunks;
    // a copy of the store (as backups used to make) is 100 MB.
    assert!(alone.bytes > 80_000_000, "the store is big enough to matter: {} bytes", alone.bytes);
    assert!(alone.rise_kib() < 28 << 10, "memory rose {} MiB during the backup", alone.rise_kib() / 1024);
    // Then beside deletes and writes, for how long they wait.
    let beside = strato_tests::backup_load::slow_backup(&c, svc.pid(), true).await.expect("backup");
    println!("{beside}");
    for (what, t) in &beside.took {
        assert!(*t < beside.copy / 10, "{what} took {t:?} during a backup that took {:?}", beside.copy);
    }

    // Restore streams: its peak memory is a small fraction of the 100 MB store file.
    let out = scratch_dir("backup-big").join("b");
    let o = cli(&["--index-url", &svc.url(), "backup", "--out", out.to_str().expect("path")]);
    assert!(o.status.success(), "backup: {}", String::from_utf8_lossy(&o.stderr));
    let to = scratch_dir("backup-big").join("data");
    let mut cmd = std::process::Command::new(strato_tests::bin_path("strato-vectorize"));
    cmd.args(["restore", "--from", out.to_str().expect("path"), "--to", to.to_str().expect("path")]);
    let (status, peak_kib) = strato_tests::process::run_measured(&mut cmd).expect("restore");
    assert!(status.success(), "restore failed");
    println!("restore of a {:.0} MB backup: peak RSS {} MiB", alone.bytes as f64 / 1e6, peak_kib / 1024);
    assert!(peak_kib < 40 << 10, "restore held {} MiB for a {} byte backup", peak_kib / 1024, alone.bytes);
}

/// A client that stops reading loses its backup after `--backup-stall-secs` (the snapshot it
/// held no longer pins the store's pages), and index-svc says so in its log.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_nobody_reads_is_abandoned() {
    let svc = start_index(&["--backup-stall-secs", "1"]).expect("index-svc");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: INDEX.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");
    // Enough to overflow the stream's buffers: 2,000 vectors with 8 KiB of metadata.
    let meta = strato_tests::json::to_struct(&serde_json::json!({ "pad": "m".repeat(8 << 10) }));
    for from in (0..2000).step_by(500) {
        let vectors = (from..from + 500).map(|i| pb::Vector { id: format!("v{i}"), values: values(0, i), namespace: String::new(), metadata: Some(meta.clone()) }).collect();
        c.upsert(pb::WriteRequest { account: String::new(), index: INDEX.into(), vectors }).await.expect("ingest");
    }
    let mut stream = c.backup(pb::BackupRequest {}).await.expect("backup").into_inner();
    let first = stream.message().await.expect("first chunk");
    assert!(first.is_some());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut manifest = false;
    loop {
        match stream.message().await {
            Ok(Some(chunk)) => manifest |= !chunk.manifest.is_empty(),
            Ok(None) | Err(_) => break,
        }
    }
    assert!(!manifest, "a backup nobody read for 4 s still completed");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !svc.logs().contains("backup abandoned") {
        assert!(Instant::now() < deadline, "no log line: {}", svc.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
