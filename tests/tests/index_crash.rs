//! Durability: SIGKILL index-svc in the middle of concurrent ingest, restart it on the same data
//! directory, and find every acknowledged batch whole, and no batch in part.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::json::{from_struct, to_struct};
use strato_tests::process::{scratch_dir, start_index_on};
use tonic::transport::Channel;

const DIMS: usize = 32;
const BATCH: usize = 50;
const WRITERS: usize = 4;

fn vector(w: usize, b: usize, i: usize) -> pb::Vector {
    let values: Vec<f32> = (0..DIMS).map(|d| ((w * 7919 + b * 104_729 + i * 31 + d) as f32 * 0.001).sin()).collect();
    pb::Vector {
        id: format!("w{w}-b{b}-{i}"),
        values,
        namespace: format!("ns{}", w % 2),
        metadata: Some(to_struct(&json!({"writer": w, "batch": b, "i": i, "tag": format!("t{}", i % 3)}))),
    }
}

fn batch(w: usize, b: usize) -> pb::WriteRequest {
    pb::WriteRequest { account: String::new(), index: "crash".into(), vectors: (0..BATCH).map(|i| vector(w, b, i)).collect() }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_ingest_loses_nothing_acknowledged() {
    let data = scratch_dir("crash-data");
    // A small seal threshold so graphs are being built and persisted while we kill.
    let args = ["--seal-threshold", "300"];
    let mut svc = start_index_on(&data, &args).expect("start");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("connect");
    c.create_index(pb::CreateIndexRequest { account: String::new(), name: "crash".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect("create");
    c.create_metadata_index(pb::MetadataIndexRequest { account: String::new(), index: "crash".into(), property_name: "tag".into(), index_type: pb::MetadataType::String as i32 })
        .await
        .expect("metadata index");

    // Writers record each batch as sent, then as acknowledged.
    let sent: Arc<Mutex<Vec<(usize, usize)>>> = Default::default();
    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Default::default();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (mut c, sent, acked) = (c.clone(), sent.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for b in 0.. {
                sent.lock().expect("lock").push((w, b));
                if c.upsert(batch(w, b)).await.is_err() {
                    return;
                }
                acked.lock().expect("lock").push((w, b));
            }
        }));
    }
    // Let ingest run until a good number of batches are in, then kill -9 mid-stream.
    while acked.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    let sent = sent.lock().expect("lock").clone();
    assert!(acked.len() >= 200);

    let svc = start_index_on(&data, &args).expect("restart");
    let mut c = VectorIndexClient::connect(svc.url()).await.expect("reconnect").max_decoding_message_size(64 << 20);
    let mut present_batches = 0;
    for (w, b) in &sent {
        let found = get(&mut c, *w, *b).await;
        let acknowledged = acked.contains(&(*w, *b));
        assert!(found.is_empty() || found.len() == BATCH, "batch w{w} b{b} is partly there: {} of {BATCH}", found.len());
        if acknowledged {
            assert_eq!(found.len(), BATCH, "acknowledged batch w{w} b{b} lost");
        }
        for v in &found {
            let i: usize = v.id.rsplit('-').next().and_then(|s| s.parse().ok()).expect("id");
            let want = vector(*w, *b, i);
            assert_eq!(v.values, want.values, "values of {}", v.id);
            assert_eq!(v.namespace, want.namespace);
            assert_eq!(from_struct(v.metadata.as_ref().expect("metadata")), from_struct(want.metadata.as_ref().expect("m")));
        }
        present_batches += usize::from(!found.is_empty());
    }
    let stats = c.describe_index(pb::IndexRef { account: String::new(), name: "crash".into() }).await.expect("describe").into_inner();
    assert_eq!(stats.vector_count as usize, present_batches * BATCH);

    // The recovered index still answers queries and filters (metadata index survived).
    let q = vector(0, 0, 1);
    let res = c
        .query(pb::QueryRequest {
            account: String::new(),
            index: "crash".into(),
            vector: q.values.clone(),
            top_k: 3,
            filter: Some(to_struct(&json!({"tag": "t1"}))),
            return_metadata: pb::ReturnMetadata::All as i32,
            ..Default::default()
        })
        .await
        .expect("query after restart")
        .into_inner();
    assert_eq!(res.matches.first().map(|m| m.id.as_str()), Some("w0-b0-1"));
    assert!(res.matches.iter().all(|m| from_struct(m.metadata.as_ref().expect("md"))["tag"] == "t1"));
}

async fn get(c: &mut VectorIndexClient<Channel>, w: usize, b: usize) -> Vec<pb::Vector> {
    let ids = (0..BATCH).map(|i| format!("w{w}-b{b}-{i}")).collect();
    c.get_by_ids(pb::IdsRequest { account: String::new(), index: "crash".into(), ids }).await.expect("get").into_inner().vectors
}
