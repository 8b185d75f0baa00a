//! Recall of index-svc through gRPC on 20k real-text embeddings, with queries spanning sealed
//! HNSW segments, the appendable chunk and tombstones, then the same index settled into one
//! graph, against exact search.
use std::time::{Duration, Instant};

use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::embeddings::{DIMS, exact_top_k, synopsis_embeddings};
use strato_tests::process::start_index;

const N: usize = 20_000;
const QUERIES: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn recall_at_10_over_sealed_pending_and_tombstones_then_settled() {
    let data = synopsis_embeddings(N + QUERIES).await.expect("embeddings");
    let (base, queries) = data.vectors.split_at(N);
    let svc = start_index(&["--seal-threshold", "4000"]).expect("index-svc");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect").max_decoding_message_size(64 << 20);
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: "recall".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");
    let upsert = |from: usize, to: usize| pb::WriteRequest {
        account: String::new(),
        index: "recall".into(),
        vectors: (from..to).map(|i| pb::Vector { id: format!("v{i}"), values: base[i].clone(), namespace: String::new(), metadata: None }).collect(),
    };
    // 18k in batches of 1000 → sealed segments (built in the background); wait for them.
    for b in 0..18 {
        c.upsert(upsert(b * 1000, (b + 1) * 1000)).await.expect("upsert");
    }
    let started = Instant::now();
    loop {
        let s = describe(&mut c).await;
        if s.indexed_vector_count >= 16_000 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "segments not sealed: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The rest stays in the appendable chunk; then tombstones: deletes and rewrites.
    c.upsert(upsert(18_000, N)).await.expect("upsert tail");
    let deleted: Vec<usize> = (0..N).step_by(37).collect();
    c.delete_by_ids(pb::IdsRequest { account: String::new(), index: "recall".into(), ids: deleted.iter().map(|i| format!("v{i}")).collect() })
        .await
        .expect("delete");
    c.upsert(pb::WriteRequest { vectors: upsert(0, 300).vectors.into_iter().filter(|v| !deleted.contains(&v.id[1..].parse().unwrap_or(0))).collect(), ..upsert(0, 0) })
        .await
        .expect("rewrite");
    let s = describe(&mut c).await;
    assert_eq!(s.vector_count as usize, N - deleted.len());
    assert!(s.sealed_segments >= 2 && s.pending_vector_count > 0, "queries must span both kinds: {s:?}");

    let live: Vec<(usize, &[f32])> = (0..N).filter(|i| i % 37 != 0).map(|i| (i, base[i].as_slice())).collect();
    check_recall(&mut c, &live, queries, "sealed + pending + tombstones").await;

    // Left alone, the index settles: the tail is sealed and the segments merged into one graph,
    // which answers as well.
    let started = Instant::now();
    let s = loop {
        let s = describe(&mut c).await;
        if s.sealed_segments == 1 && s.pending_vector_count == 0 {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "index did not settle: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s.vector_count as usize, live.len());
    check_recall(&mut c, &live, queries, "settled into one graph").await;
}

/// recall@10 ≥ 0.95 over every query, no deleted vector returned, and topK 100 (beyond the first
/// ef tier) finds ≥ 90 of the true 100.
async fn check_recall(c: &mut VectorIndexClient<tonic::transport::Channel>, live: &[(usize, &[f32])], queries: &[Vec<f32>], layout: &str) {
    let mut hits = 0;
    for q in queries {
        let truth = exact_top_k(live, q, 10);
        let got = c
            .query(pb::QueryRequest { account: String::new(), index: "recall".into(), vector: q.clone(), top_k: 10, ..Default::default() })
            .await
            .expect("query")
            .into_inner();
        assert_eq!(got.count, 10);
        let ids: Vec<usize> = got.matches.iter().map(|m| m.id[1..].parse().unwrap_or(usize::MAX)).collect();
        assert!(ids.iter().all(|i| i % 37 != 0), "{layout}: a deleted vector came back");
        hits += truth.iter().filter(|t| ids.contains(t)).count();
    }
    let recall = hits as f64 / (QUERIES * 10) as f64;
    println!("{layout}: recall@10 = {recall:.4} over {QUERIES} queries");
    assert!(recall >= 0.95, "{layout}: recall@10 {recall} < 0.95");

    let q = &queries[0];
    let truth = exact_top_k(live, q, 100);
    let got = c
        .query(pb::QueryRequest { account: String::new(), index: "recall".into(), vector: q.clone(), top_k: 100, ..Default::default() })
        .await
        .expect("query 100")
        .into_inner();
    assert_eq!(got.count, 100);
    let found = got.matches.iter().filter(|m| truth.contains(&m.id[1..].parse().unwrap_or(usize::MAX))).count();
    assert!(found >= 90, "{layout}: topK 100 recall {found}/100");
}

async fn describe(c: &mut VectorIndexClient<tonic::transport::Channel>) -> pb::IndexStats {
    c.describe_index(pb::IndexRef { account: String::new(), name: "recall".into() }).await.expect("describe").into_inner()
}
