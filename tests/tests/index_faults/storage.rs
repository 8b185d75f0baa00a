//! Deterministic faults, one at a time: storage that fails (through index-svc's test-only
//! `--fault-dir`), and a delete racing writes followed by a crash.
use std::time::Duration;

use serde_json::json;
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::json::to_struct;
use strato_tests::process::{Service, scratch_dir, start_index_on};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

const DIMS: usize = 32;

fn vector(id: &str, x: f32) -> pb::Vector {
    pb::Vector { id: id.into(), values: (0..DIMS).map(|d| x + d as f32 * 0.01).collect(), namespace: String::new(), metadata: Some(to_struct(&json!({"x": x}))) }
}

fn upsert(index: &str, vectors: Vec<pb::Vector>) -> pb::WriteRequest {
    pb::WriteRequest { account: String::new(), index: index.into(), vectors }
}

fn iref(name: &str) -> pb::IndexRef {
    pb::IndexRef { account: String::new(), name: name.into() }
}

async fn client(svc: &Service) -> VectorIndexClient<Channel> {
    VectorIndexClient::connect(svc.url()).await.expect("connect")
}

async fn create(c: &mut VectorIndexClient<Channel>, name: &str) {
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: name.into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");
}

async fn ids(c: &mut VectorIndexClient<Channel>, index: &str, ids: &[&str]) -> Vec<String> {
    let req = pb::IdsRequest { account: String::new(), index: index.into(), ids: ids.iter().map(|s| s.to_string()).collect() };
    c.get_by_ids(req).await.expect("get").into_inner().vectors.into_iter().map(|v| v.id).collect()
}

async fn health(svc: &Service) -> Option<ServingStatus> {
    let channel = Channel::from_shared(svc.url()).ok()?.connect().await.ok()?;
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.ok()?;
    ServingStatus::try_from(r.into_inner().status).ok()
}

/// A failed fsync: the write answers UNAVAILABLE (retryable), is not visible to readers, health
/// goes NOT_SERVING, the process exits non-zero; after a restart every acknowledged write is
/// there and the failed one is there whole or not at all.
#[tokio::test(flavor = "multi_thread")]
async fn failed_fsync_is_fail_stop() {
    let (data, faults) = (scratch_dir("failstop-data"), scratch_dir("failstop-faults"));
    let args = ["--fault-dir", faults.to_str().expect("utf-8"), "--fail-stop-grace-ms", "3000"];
    let mut svc = start_index_on(&data, &args).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "fs").await;
    c.upsert(upsert("fs", vec![vector("a", 0.1), vector("b", 0.2)])).await.expect("acknowledged write");
    assert_eq!(health(&svc).await, Some(ServingStatus::Serving));

    std::fs::write(faults.join("fsync"), b"").expect("arm fault");
    let err = c.upsert(upsert("fs", vec![vector("c", 0.3), vector("d", 0.4)])).await.expect_err("write during a failed fsync");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    // Never durable, so never visible; reads still work during the grace period.
    assert_eq!(ids(&mut c, "fs", &["a", "b", "c", "d"]).await, ["a", "b"]);
    let q = c
        .query(pb::QueryRequest { account: String::new(), index: "fs".into(), vector: vector("q", 0.35).values, top_k: 10, ..Default::default() })
        .await
        .expect("query")
        .into_inner();
    let mut seen: Vec<String> = q.matches.into_iter().map(|m| m.id).collect();
    seen.sort();
    assert_eq!(seen, ["a", "b"], "a query must not see a write that never became durable");
    let again = c.upsert(upsert("fs", vec![vector("e", 0.5)])).await.expect_err("writes after the failure");
    assert_eq!(again.code(), Code::Unavailable);
    assert_eq!(health(&svc).await, Some(ServingStatus::NotServing));
    let status = svc.wait_exit(Duration::from_secs(20)).expect("index-svc exits after a storage failure");
    assert!(!status.success(), "exit status {status}");

    std::fs::remove_file(faults.join("fsync")).expect("disarm");
    let svc = start_index_on(&data, &args).expect("restart");
    let mut c = client(&svc).await;
    let found = ids(&mut c, "fs", &["a", "b", "c", "d", "e"]).await;
    assert!(found == ["a", "b"] || found == ["a", "b", "c", "d"], "after restart: {found:?}");
    c.upsert(upsert("fs", vec![vector("f", 0.6)])).await.expect("writes work again after the restart");
}

/// index-svc with index `name` whose first seal sits in a graph build made a minute long (the
/// `build-delay-ms` fault point): (service, data dir, fault dir, its arguments).
async fn in_a_slow_build(name: &str, extra: &[&str]) -> (Service, std::path::PathBuf, std::path::PathBuf, Vec<String>) {
    let (data, faults) = (scratch_dir("slow-build-data"), scratch_dir("slow-build-faults"));
    std::fs::write(faults.join("build-delay-ms"), b"60000").expect("slow builds");
    let mut args = vec!["--fault-dir".to_owned(), faults.to_string_lossy().into_owned(), "--seal-threshold".into(), "16".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let svc = start_index_on(&data, &args.iter().map(String::as_str).collect::<Vec<_>>()).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, name).await;
    // A full chunk: its seal starts and sits in the build.
    c.upsert(upsert(name, (0..20).map(|i| vector(&format!("v{i}"), i as f32)).collect())).await.expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await;
    (svc, data, faults, args)
}

/// After `in_a_slow_build`'s process is gone: with builds fast again, a restart holds the 20
/// acknowledged vectors (the abandoned build is redone).
async fn all_twenty_after_a_restart(name: &str, data: &std::path::Path, faults: &std::path::Path, args: &[String]) {
    std::fs::remove_file(faults.join("build-delay-ms")).expect("fast builds");
    let svc = start_index_on(data, &args.iter().map(String::as_str).collect::<Vec<_>>()).expect("restart");
    let mut c = client(&svc).await;
    let mut want: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    let mut got = ids(&mut c, name, &want.iter().map(String::as_str).collect::<Vec<_>>()).await;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// Fail-stop does not wait for background work: a failed fsync while a graph build is under way
/// exits within the grace period.
#[tokio::test(flavor = "multi_thread")]
async fn fail_stop_does_not_wait_for_a_graph_build() {
    let (mut svc, data, faults, args) = in_a_slow_build("fb", &["--fail-stop-grace-ms", "500"]).await;
    let mut c = client(&svc).await;
    std::fs::write(faults.join("fsync"), b"").expect("arm fault");
    let failed_at = std::time::Instant::now();
    let err = c.upsert(upsert("fb", vec![vector("late", 0.5)])).await.expect_err("write during a failed fsync");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let status = svc.wait_exit(Duration::from_secs(30)).expect("index-svc exits well before the build ends");
    assert!(!status.success(), "exit status {status}");
    let took = failed_at.elapsed();
    assert!(took < Duration::from_secs(10), "fail-stop took {took:?} (grace 0.5 s)");
    std::fs::remove_file(faults.join("fsync")).expect("disarm");
    all_twenty_after_a_restart("fb", &data, &faults, &args).await;
}

/// A stop does not wait for a long graph build past `--background-stop-ms`: SIGTERM during a
/// build made a minute long exits cleanly in seconds, and the build is redone at the next start.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_does_not_wait_for_a_long_graph_build() {
    let (mut svc, data, faults, args) = in_a_slow_build("sb", &["--background-stop-ms", "1000"]).await;
    let stopped_at = std::time::Instant::now();
    svc.terminate();
    let status = svc.wait_exit(Duration::from_secs(30)).expect("index-svc exits well before the build ends");
    assert!(status.success(), "a stop is not a failure: {status}");
    assert!(stopped_at.elapsed() < Duration::from_secs(10), "stop took {:?}", stopped_at.elapsed());
    assert!(svc.logs().contains("left the graph build in hand unfinished"), "{}", svc.logs());
    all_twenty_after_a_restart("sb", &data, &faults, &args).await;
}

/// A seal that fails (the segment file can't be written, as on a full disk) keeps the vectors
/// searchable exactly, says so in describe, and is retried until it succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn failed_seal_is_reported_and_retried() {
    let (data, faults) = (scratch_dir("seal-data"), scratch_dir("seal-faults"));
    std::fs::write(faults.join("segment"), b"").expect("arm fault");
    let args = ["--fault-dir", faults.to_str().expect("utf-8"), "--seal-threshold", "16"];
    let svc = start_index_on(&data, &args).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "seal").await;
    let vectors: Vec<pb::Vector> = (0..40).map(|i| vector(&format!("v{i}"), i as f32 * 0.1)).collect();
    c.upsert(upsert("seal", vectors)).await.expect("write");
    let describe = |mut c: VectorIndexClient<Channel>| async move { c.describe_index(iref("seal")).await.expect("describe").into_inner() };
    let mut stats = describe(c.clone()).await;
    for _ in 0..100 {
        if !stats.background_error.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = describe(c.clone()).await;
    }
    assert!(stats.background_error.contains("injected fault"), "describe reports the failing seal: {stats:?}");
    assert_eq!((stats.vector_count, stats.indexed_vector_count), (40, 0), "{stats:?}");
    let q = pb::QueryRequest { account: String::new(), index: "seal".into(), vector: vector("q", 1.0).values, top_k: 40, ..Default::default() };
    assert_eq!(c.query(q.clone()).await.expect("query").into_inner().matches.len(), 40, "unsealed vectors are searched exactly");

    std::fs::remove_file(faults.join("segment")).expect("disarm");
    for _ in 0..300 {
        stats = describe(c.clone()).await;
        if stats.background_error.is_empty() && stats.indexed_vector_count == 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stats.background_error.is_empty() && stats.indexed_vector_count == 32, "the retry seals both full chunks: {stats:?}");
    assert_eq!(c.query(q).await.expect("query").into_inner().matches.len(), 40);
}

/// DELETE index racing concurrent upserts, then kill -9 and restart: the index stays deleted,
/// and the same name created again starts empty. (It used to come back, holding the batch that
/// staged after the delete.)
#[tokio::test(flavor = "multi_thread")]
async fn delete_racing_writes_stays_deleted_after_a_crash() {
    let data = scratch_dir("delete-race-data");
    let mut svc = start_index_on(&data, &[]).expect("start");
    for round in 0..5 {
        let mut c = client(&svc).await;
        create(&mut c, "race").await;
        let mut writers = Vec::new();
        for w in 0..6 {
            let mut c = client(&svc).await;
            writers.push(tokio::spawn(async move {
                for b in 0.. {
                    let batch = (0..20).map(|i| vector(&format!("r{round}-w{w}-b{b}-{i}"), (w * 100 + b) as f32 * 0.001)).collect();
                    if let Err(s) = c.upsert(upsert("race", batch)).await {
                        assert_eq!(s.code(), Code::NotFound, "a write after the delete: {s:?}");
                        return;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(30 + round * 20)).await;
        c.delete_index(iref("race")).await.expect("delete");
        for w in writers {
            w.await.expect("writer");
        }
        svc.kill();
        svc = start_index_on(&data, &[]).expect("restart");
        let mut c = client(&svc).await;
        let listed = c.list_indexes(pb::ListIndexesRequest { account: String::new(), all_accounts: false, include_moved: false }).await.expect("list").into_inner().indexes;
        assert!(listed.is_empty(), "round {round}: a deleted index came back: {listed:?}");
        assert_eq!(c.get_index(iref("race")).await.expect_err("get").code(), Code::NotFound);
        create(&mut c, "race").await;
        let stats = c.describe_index(iref("race")).await.expect("describe").into_inner();
        assert_eq!(stats.vector_count, 0, "round {round}: the re-created index holds old vectors");
        c.delete_index(iref("race")).await.expect("delete");
    }
}

/// Metadata survives storage and a restart bit for bit (Struct → stored JSON text → Struct).
#[tokio::test(flavor = "multi_thread")]
async fn metadata_round_trips_across_a_restart() {
    use strato_tests::json::{assert_bits_equal, from_struct, tricky_metadata};
    let data = scratch_dir("roundtrip-data");
    let mut svc = start_index_on(&data, &[]).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "rt").await;
    let vectors = (0..30u64).map(|i| pb::Vector { metadata: Some(to_struct(&tricky_metadata(i))), ..vector(&format!("m{i}"), i as f32) }).collect();
    c.upsert(upsert("rt", vectors)).await.expect("write");
    for restart in [false, true] {
        if restart {
            svc.kill();
            svc = start_index_on(&data, &[]).expect("restart");
            c = client(&svc).await;
        }
        let ids: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
        let got = c.get_by_ids(pb::IdsRequest { account: String::new(), index: "rt".into(), ids }).await.expect("get").into_inner().vectors;
        assert_eq!(got.len(), 30);
        for v in got {
            let i: u64 = v.id[1..].parse().expect("id");
            assert_bits_equal(&from_struct(v.metadata.as_ref().expect("metadata")), &tricky_metadata(i), &format!("{} (restarted: {restart})", v.id));
        }
    }
}

/// A segment file that can't be read at start-up (corrupt, truncated) costs a re-index of its
/// vectors, once: its manifest is dropped, so the next start is clean.
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_segment_is_reindexed_once() {
    let data = scratch_dir("corrupt-data");
    let args = ["--seal-threshold", "16"];
    let mut svc = start_index_on(&data, &args).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "corrupt").await;
    c.upsert(upsert("corrupt", (0..40).map(|i| vector(&format!("v{i}"), i as f32 * 0.1)).collect())).await.expect("write");
    let sealed = |mut c: VectorIndexClient<Channel>| async move {
        for _ in 0..300 {
            if c.describe_index(iref("corrupt")).await.expect("describe").into_inner().indexed_vector_count == 32 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not sealed");
    };
    sealed(c.clone()).await;
    svc.kill();
    let mut corrupted = 0;
    for entry in std::fs::read_dir(data.join("segments")).expect("segments dir").flatten() {
        std::fs::write(entry.path(), b"not a segment").expect("corrupt");
        corrupted += 1;
    }
    assert!(corrupted > 0);

    svc = start_index_on(&data, &args).expect("restart");
    c = client(&svc).await;
    let q = pb::QueryRequest { account: String::new(), index: "corrupt".into(), vector: vector("q", 1.0).values, top_k: 40, ..Default::default() };
    assert_eq!(c.query(q).await.expect("query").into_inner().matches.len(), 40, "every vector still answers");
    assert!(svc.logs().contains("segment unreadable"), "{}", svc.logs());
    sealed(c.clone()).await;
    svc.kill();
    let svc = start_index_on(&data, &args).expect("second restart");
    let mut c = client(&svc).await;
    assert_eq!(c.describe_index(iref("corrupt")).await.expect("describe").into_inner().vector_count, 40);
    assert!(!svc.logs().contains("segment unreadable"), "the unreadable segment's manifest is gone: {}", svc.logs());
}

/// SIGTERM while a segment is being sealed: the seal in hand finishes, the store closes cleanly
/// (no repair at the next start), the process exits 0, and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_seal_closes_the_store_cleanly() {
    let data = scratch_dir("sigterm-data");
    let args = ["--seal-threshold", "3000", "--ef-construction", "400"];
    let mut svc = start_index_on(&data, &args).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "term").await;
    for b in 0..3 {
        let batch = (0..1000).map(|i| vector(&format!("v{b}-{i}"), (b * 1000 + i) as f32 * 0.001)).collect();
        c.upsert(upsert("term", batch)).await.expect("write");
    }
    // The 3,000th vector froze a chunk; its seal is running now.
    svc.terminate();
    let exit = svc.wait_exit(Duration::from_secs(60)).expect("exits on SIGTERM");
    assert!(exit.success(), "exit status {exit}: {}", svc.logs());
    let svc = start_index_on(&data, &args).expect("restart");
    let mut c = client(&svc).await;
    assert_eq!(c.describe_index(iref("term")).await.expect("describe").into_inner().vector_count, 3000);
    assert!(!svc.logs().contains("not closed cleanly"), "SIGTERM left the store to repair: {}", svc.logs());
}

/// Creating an index waits for its fsync without holding up anybody else: with every fsync
/// made slow, a query of another index answers while the create is still waiting. (The create
/// used to hold the registry's write lock across its commit, so every request of every index
/// waited behind that fsync.)
#[tokio::test(flavor = "multi_thread")]
async fn a_create_waiting_on_its_fsync_blocks_no_other_index() {
    let (data, faults) = (scratch_dir("slow-fsync-data"), scratch_dir("slow-fsync-faults"));
    let svc = start_index_on(&data, &["--fault-dir", faults.to_str().expect("utf-8")]).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "busy").await;
    c.upsert(upsert("busy", vec![vector("a", 0.1)])).await.expect("write");
    std::fs::write(faults.join("fsync-delay-ms"), b"3000").expect("slow fsyncs");
    let mut creator = c.clone();
    let creating = tokio::spawn(async move { create(&mut creator, "slow").await });
    tokio::time::sleep(Duration::from_millis(300)).await; // the create is in its fsync now
    assert!(!creating.is_finished(), "the create was not slowed down; the test proves nothing");
    let q = pb::QueryRequest { account: String::new(), index: "busy".into(), vector: vector("q", 0.1).values, top_k: 1, ..Default::default() };
    assert_eq!(c.query(q).await.expect("query").into_inner().matches.len(), 1);
    assert!(!creating.is_finished(), "the query waited for the create's fsync");
    creating.await.expect("create");
}

/// One version per hit: while a newer version of a vector is durable but not yet applied to
/// memory (apply delayed by the fault dir), a query scores the older version, and must not answer
/// the newer one's values and metadata with the older one's score.
#[tokio::test(flavor = "multi_thread")]
async fn a_hit_answers_the_version_it_scored() {
    let (data, faults) = (scratch_dir("version-data"), scratch_dir("version-faults"));
    let svc = start_index_on(&data, &["--fault-dir", faults.to_str().expect("utf-8")]).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "ver").await;
    c.upsert(upsert("ver", vec![vector("a", 0.1)])).await.expect("version A");
    std::fs::write(faults.join("apply-delay-ms"), b"1500").expect("slow apply");
    let mut writer = c.clone();
    let writing = tokio::spawn(async move { writer.upsert(upsert("ver", vec![vector("a", 0.9)])).await });
    tokio::time::sleep(Duration::from_millis(400)).await; // B is durable, memory still holds A
    assert!(!writing.is_finished(), "the apply was not delayed; the test proves nothing");
    let q = vector("q", 0.1).values;
    let query = pb::QueryRequest { account: String::new(), index: "ver".into(), vector: q.clone(), top_k: 1, return_values: true, return_metadata: pb::ReturnMetadata::All as i32, ..Default::default() };
    let consistent = |m: &pb::Match| {
        let cos = |a: &[f32], b: &[f32]| strato_tests::dot(a, b) / (strato_tests::dot(a, a).sqrt() * strato_tests::dot(b, b).sqrt());
        (m.score - f64::from(cos(&q, &m.values))).abs() < 1e-5
    };
    for m in c.query(query.clone()).await.expect("query").into_inner().matches {
        assert!(consistent(&m), "score {} is version A's, values {:?}… are {}", m.score, &m.values[..2], if m.values[0] > 0.5 { "B's" } else { "A's" });
    }
    std::fs::remove_file(faults.join("apply-delay-ms")).expect("normal apply");
    writing.await.expect("task").expect("version B");
    let after = c.query(query).await.expect("query").into_inner().matches;
    assert_eq!(after.len(), 1);
    assert!(consistent(&after[0]) && after[0].values[0] > 0.5, "B, scored as B: {:?}", after[0].score);
}

/// Every byte read from a segment file is checked before it is served: one flipped byte in its
/// header, rows, seqs or graph, a cut file, or two segments' files swapped, and the restarted
/// service answers exactly what the store holds (the bad file dropped and re-indexed, counted in
/// `strato_index_segments_refused_total`). A seq overwritten in the file used to make a query
/// answer one vector scored against another's row.
#[tokio::test(flavor = "multi_thread")]
async fn damaged_segment_files_are_never_served() {
    let data = scratch_dir("damaged-data");
    let args = ["--seal-threshold", "16", "--settle-ms", "600000"];
    let mut svc = start_index_on(&data, &args).expect("start");
    let mut c = client(&svc).await;
    create(&mut c, "dmg").await;
    let vectors: Vec<pb::Vector> = (0..48).map(|i| vector(&format!("v{i}"), (i as f32 * 0.37).sin())).collect();
    c.upsert(upsert("dmg", vectors.clone())).await.expect("write");
    let q = vector("q", 0.5).values;
    let cos = |a: &[f32], b: &[f32]| f64::from(strato_tests::dot(a, b)) / (f64::from(strato_tests::dot(a, a)).sqrt() * f64::from(strato_tests::dot(b, b)).sqrt());
    let mut want: Vec<(String, f64)> = vectors.iter().map(|v| (v.id.clone(), cos(&q, &v.values))).collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (rows_at, seqs_at) = (64 + 5 * 4, 64 + 16 * 32 * 4 + 8 * 3 + 2);
    let damages: [(&str, Box<dyn Fn(&std::path::Path, &[std::path::PathBuf])>); 6] = [
        ("header", Box::new(|_, f| flip(&f[0], 9))),
        ("rows", Box::new(move |_, f| flip(&f[0], rows_at))),
        ("seqs", Box::new(move |_, f| flip(&f[1], seqs_at))),
        ("graph", Box::new(|_, f| flip(&f[2], std::fs::metadata(&f[2]).expect("len").len() as usize - 3))),
        ("cut", Box::new(|_, f| std::fs::write(&f[0], &std::fs::read(&f[0]).expect("read")[..100]).expect("cut"))),
        ("swap", Box::new(|dir, f| {
            let tmp = dir.join("swap");
            std::fs::rename(&f[0], &tmp).expect("swap");
            std::fs::rename(&f[1], &f[0]).expect("swap");
            std::fs::rename(&tmp, &f[1]).expect("swap");
        })),
    ];
    for (what, damage) in damages {
        wait_indexed(&mut c, "dmg", 48).await;
        svc.kill();
        let dir = data.join("segments");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir).expect("segments").flatten().map(|e| e.path()).collect();
        files.sort();
        assert!(files.len() >= 3, "{what}: {files:?}");
        damage(&dir, &files);
        svc = start_index_on(&data, &args).expect("restart");
        c = client(&svc).await;
        let req = pb::QueryRequest { account: String::new(), index: "dmg".into(), vector: q.clone(), top_k: 48, ..Default::default() };
        let got = c.query(req).await.expect("query").into_inner().matches;
        assert_eq!(got.len(), 48, "{what}");
        for (m, (id, score)) in got.iter().zip(&want) {
            assert!((m.score - score).abs() < 1e-5, "{what}: {} {} where the store says {id} {score}", m.id, m.score);
        }
        if what != "swap" {
            assert!(svc.logs().contains("segment unreadable"), "{what}: {}", svc.logs());
        }
    }
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).expect("read");
    b[at] ^= 0x40;
    std::fs::write(path, b).expect("write");
}

async fn wait_indexed(c: &mut VectorIndexClient<Channel>, index: &str, n: u64) {
    for _ in 0..600 {
        if c.describe_index(iref(index)).await.expect("describe").into_inner().indexed_vector_count == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{index}: never {n} indexed");
}
