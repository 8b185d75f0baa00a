//! The gateway's client channel to index-svc, `strato_proto::client::Direct` (one HTTP/2
//! connection driven through `h2`), against a real index-svc of its own: a client stream larger
//! than the stream's window (paced by flow control), an answer larger than the connection's
//! window (read only if the window is given back), a deadline, and a kill -9 and restart.
use std::time::Duration;

use strato_proto::client::{Channel, Direct, DirectConfig};
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, scratch_dir};
use tonic::Code;

const DIMS: usize = 512;
const BATCHES: usize = 40;
const PER_BATCH: usize = 200;

fn vector(i: usize) -> pb::Vector {
    let mix = |x: u64| {
        let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let values = (0..DIMS).map(|d| (mix((i * DIMS + d) as u64) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
    pb::Vector { id: format!("v{i}"), values, ..Default::default() }
}

/// An address on a port below the ephemeral range (32768–60999 on Linux), so no connection's
/// source port can take it while the service is down for its restart.
fn port_below_ephemeral() -> String {
    let base = 20_000 + (std::process::id() % 10_000) as u16;
    let free = (0..500).map(|i| base + i).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
    format!("127.0.0.1:{}", free.expect("a free port below 30500"))
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_channel_streams_times_out_and_reconnects() {
    let data = scratch_dir("direct-channel");
    let data_arg = ["--data-dir", data.to_str().expect("utf-8 path")];
    let addr = port_below_ephemeral();
    let mut svc = Service::start_on("index-svc", &addr, &data_arg, Duration::from_secs(300)).expect("start index-svc");
    let config = DirectConfig { connect_timeout: Duration::from_secs(1), timeout: Some(Duration::from_secs(20)), keep_alive_interval: Duration::from_secs(30) };
    let channel = Channel::Direct(Direct::new(&svc.url(), config).expect("channel"));
    let mut c = VectorIndexClient::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20);
    let (account, index) = ("direct".to_owned(), "streams".to_owned());
    let create = pb::CreateIndexRequest { account: account.clone(), name: index.clone(), dimensions: DIMS as u32, metric: pb::Metric::Euclidean as i32, ..Default::default() };
    c.create_index(create).await.expect("create");

    // 40 messages of ~400 KB, each applied (and fsynced) before the service reads on: 16 MB
    // against index-svc's 1 MiB stream window, so most of it waits for send capacity in the pump.
    let batches: Vec<pb::IngestRequest> = (0..BATCHES)
        .map(|b| pb::IngestRequest { account: account.clone(), index: index.clone(), mode: pb::WriteMode::Upsert as i32, vectors: (b * PER_BATCH..(b + 1) * PER_BATCH).map(vector).collect() })
        .collect();
    let done = c.ingest(futures::stream::iter(batches)).await.expect("ingest").into_inner();
    assert_eq!((done.batches, done.count), (BATCHES as u64, (BATCHES * PER_BATCH) as u64));

    // 5,000 vectors (the most a call may ask for) back in one answer: 10 MB against a 5 MiB
    // connection window.
    let ids: Vec<String> = (0..5000).map(|i| format!("v{i}")).collect();
    let got = c.get_by_ids(pb::IdsRequest { account: account.clone(), index: index.clone(), ids }).await.expect("get_by_ids").into_inner();
    assert_eq!(got.vectors.len(), 5000);
    for v in &got.vectors {
        let i: usize = v.id[1..].parse().expect("id");
        assert_eq!(v.values, vector(i).values, "{}", v.id);
    }

    // A deadline shorter than that answer takes (10 MB read and sent): the call ends CANCELLED
    // "Timeout expired" here, as on tonic's channel (or DEADLINE_EXCEEDED from the service).
    let query = || pb::QueryRequest { account: account.clone(), index: index.clone(), vector: vector(7).values, top_k: 3, ..Default::default() };
    let ids: Vec<String> = (0..5000).map(|i| format!("v{i}")).collect();
    let mut hurried = tonic::Request::new(pb::IdsRequest { account: account.clone(), index: index.clone(), ids });
    hurried.set_timeout(Duration::from_millis(1));
    let err = c.get_by_ids(hurried).await.expect_err("a 1 ms deadline");
    assert!(matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded), "{err:?}");
    assert_eq!(c.query(query()).await.expect("query").into_inner().matches[0].id, "v7");

    // A client stream whose caller goes away while later messages are still to come: the
    // stream is reset, so nothing after that is sent, nor applied.
    let late = "late".to_owned();
    let create = pb::CreateIndexRequest { account: account.clone(), name: late.clone(), dimensions: DIMS as u32, metric: pb::Metric::Euclidean as i32, ..Default::default() };
    c.create_index(create).await.expect("create");
    let (acc, idx) = (account.clone(), late.clone());
    let slow = futures::stream::unfold(0usize, move |b| {
        let (account, late) = (acc.clone(), idx.clone());
        async move {
            if b > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (b < 5).then(|| (pb::IngestRequest { account, index: late, mode: pb::WriteMode::Upsert as i32, vectors: (b * PER_BATCH..(b + 1) * PER_BATCH).map(vector).collect() }, b + 1))
        }
    });
    // The caller drops the call (no deadline is sent, so only the reset can stop the service).
    tokio::time::timeout(Duration::from_millis(150), c.ingest(slow)).await.expect_err("dropped before the stream ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = c.describe_index(pb::IndexRef { account: account.clone(), name: late.clone() }).await.expect("describe").into_inner();
    assert_eq!(r.vector_count, PER_BATCH as u64, "only the message sent before the call was dropped");

    // kill -9: calls fail UNAVAILABLE (what the gateway retries); once the service is back on
    // its address, the next call connects again and finds every acknowledged write.
    svc.kill();
    let down = c.query(query()).await.expect_err("service down");
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    let _back = Service::start_on("index-svc", &addr, &data_arg, Duration::from_secs(300)).expect("restart");
    let r = c.describe_index(pb::IndexRef { account: account.clone(), name: index.clone() }).await.expect("describe after restart").into_inner();
    assert_eq!(r.vector_count, (BATCHES * PER_BATCH) as u64);
    assert_eq!(c.query(query()).await.expect("query after restart").into_inner().matches[0].id, "v7");
}
