//! index-svc through its real gRPC socket: Vectorize semantics, limits and a brute-force oracle.
//! One index-svc process serves every test of this binary; each test works on its own indexes.
mod direct;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

use proptest::collection::vec as pvec;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config as ProptestRunConfig, TestCaseError, TestRunner};
use serde_json::{Value as Json, json};
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::json::{from_struct, normalize, number, to_struct};
use strato_tests::process::{Service, start_index};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Client = VectorIndexClient<Channel>;

const DIM: usize = 32;

// ------------------------------------------------------------------------------------------------
// Harness helpers
// ------------------------------------------------------------------------------------------------

fn index_svc() -> &'static Service {
    static SVC: OnceLock<Service> = OnceLock::new();
    SVC.get_or_init(|| start_index(&[]).expect("start index-svc"))
}

async fn client() -> Client {
    VectorIndexClient::connect(index_svc().url())
        .await
        .expect("connect")
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// A fresh index name (tests share one process and run concurrently).
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", N.fetch_add(1, AtomicOrdering::Relaxed))
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic pseudo-random values in [-1, 1], DIM of them.
fn vals(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x2545_F491_4F6C_DD1D).wrapping_add(17);
    (0..DIM).map(|_| ((splitmix(&mut s) % 2001) as f32 - 1000.0) / 1000.0).collect()
}

/// The unit vector along axis `axis`, times `scale`.
fn axis(axis: usize, scale: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[axis] = scale;
    v
}

fn iref(name: &str) -> pb::IndexRef {
    pb::IndexRef { account: String::new(), name: name.into() }
}

fn create_request(name: &str, dims: u32, metric: pb::Metric) -> pb::CreateIndexRequest {
    pb::CreateIndexRequest {
        account: String::new(),
        name: name.into(),
        dimensions: dims,
        metric: metric as i32,
        description: String::new(),
    }
}

async fn try_create(c: &mut Client, req: pb::CreateIndexRequest) -> Result<pb::IndexInfo, Status> {
    c.create_index(req).await.map(tonic::Response::into_inner)
}

async fn create(c: &mut Client, name: &str, metric: pb::Metric) -> pb::IndexInfo {
    try_create(c, create_request(name, DIM as u32, metric)).await.expect("create index")
}

/// A vector; `Json::Null` metadata = none.
fn v(id: &str, values: Vec<f32>, namespace: &str, metadata: Json) -> pb::Vector {
    let metadata = if metadata.is_null() { None } else { Some(to_struct(&metadata)) };
    pb::Vector { id: id.into(), values, namespace: namespace.into(), metadata }
}

async fn write(c: &mut Client, name: &str, vectors: Vec<pb::Vector>, insert: bool) -> Result<pb::MutationResponse, Status> {
    let req = pb::WriteRequest { account: String::new(), index: name.into(), vectors };
    let res = if insert { c.insert(req).await } else { c.upsert(req).await };
    res.map(tonic::Response::into_inner)
}

async fn upsert(c: &mut Client, name: &str, vectors: Vec<pb::Vector>) -> pb::MutationResponse {
    write(c, name, vectors, false).await.expect("upsert")
}

async fn insert(c: &mut Client, name: &str, vectors: Vec<pb::Vector>) -> pb::MutationResponse {
    write(c, name, vectors, true).await.expect("insert")
}

fn ids_request(name: &str, ids: &[&str]) -> pb::IdsRequest {
    pb::IdsRequest { account: String::new(), index: name.into(), ids: ids.iter().map(|s| s.to_string()).collect() }
}

async fn get(c: &mut Client, name: &str, ids: &[&str]) -> Vec<pb::Vector> {
    c.get_by_ids(ids_request(name, ids)).await.expect("get_by_ids").into_inner().vectors
}

async fn delete(c: &mut Client, name: &str, ids: &[&str]) -> pb::MutationResponse {
    c.delete_by_ids(ids_request(name, ids)).await.expect("delete_by_ids").into_inner()
}

async fn describe(c: &mut Client, name: &str) -> pb::IndexStats {
    c.describe_index(iref(name)).await.expect("describe").into_inner()
}

fn qreq(name: &str, vector: Vec<f32>, top_k: u32) -> pb::QueryRequest {
    pb::QueryRequest { index: name.into(), vector, top_k, ..Default::default() }
}

async fn query(c: &mut Client, req: pb::QueryRequest) -> Result<pb::QueryResponse, Status> {
    c.query(req).await.map(tonic::Response::into_inner)
}

/// Query with a filter over everything (top_k 100); the matched ids, sorted.
async fn filtered(c: &mut Client, name: &str, filter: &Json) -> (Vec<String>, Vec<String>) {
    let mut req = qreq(name, vals(0), 100);
    req.filter = Some(to_struct(filter));
    let resp = query(c, req).await.unwrap_or_else(|s| panic!("filter {filter}: {s:?}"));
    let mut ids: Vec<String> = resp.matches.into_iter().map(|m| m.id).collect();
    ids.sort();
    (ids, resp.warnings)
}

fn match_ids(resp: &pb::QueryResponse) -> Vec<&str> {
    resp.matches.iter().map(|m| m.id.as_str()).collect()
}

async fn meta_index(c: &mut Client, name: &str, prop: &str, ty: pb::MetadataType) -> Result<pb::MutationResponse, Status> {
    let req = pb::MetadataIndexRequest {
        account: String::new(),
        index: name.into(),
        property_name: prop.into(),
        index_type: ty as i32,
    };
    c.create_metadata_index(req).await.map(tonic::Response::into_inner)
}

async fn drop_meta_index(c: &mut Client, name: &str, prop: &str) -> Result<pb::MutationResponse, Status> {
    let req = pb::MetadataIndexRequest {
        account: String::new(),
        index: name.into(),
        property_name: prop.into(),
        index_type: 0,
    };
    c.delete_metadata_index(req).await.map(tonic::Response::into_inner)
}

async fn list_meta(c: &mut Client, name: &str) -> Vec<(String, i32)> {
    let resp = c.list_metadata_indexes(iref(name)).await.expect("list metadata indexes").into_inner();
    let mut out: Vec<(String, i32)> = resp.metadata_indexes.into_iter().map(|m| (m.property_name, m.index_type)).collect();
    out.sort();
    out
}

async fn list(c: &mut Client, name: &str, count: u32, cursor: &str) -> Result<pb::ListVectorsResponse, Status> {
    let req = pb::ListVectorsRequest { account: String::new(), index: name.into(), count, cursor: cursor.into() };
    c.list_vectors(req).await.map(tonic::Response::into_inner)
}

/// Metadata as JSON, an absent Struct read as `{}`.
fn meta_json(m: &Option<prost_types::Struct>) -> Json {
    m.as_ref().map_or_else(|| json!({}), from_struct)
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(res: Result<T, Status>, code: Code, what: &str) {
    match res {
        Ok(v) => panic!("{what}: expected {code:?}, got Ok({v:?})"),
        Err(s) => assert_eq!(s.code(), code, "{what}: {}", s.message()),
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, ch)| if [8, 13, 18, 23].contains(&i) { ch == '-' } else { ch.is_ascii_hexdigit() })
}

fn looks_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    s.is_ascii()
        && b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with(['Z', 'z']) || s[s.len() - 6..].starts_with(['+', '-']))
}

// ------------------------------------------------------------------------------------------------
// Index lifecycle
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn create_index_rules() {
    use pb::Metric::{Cosine, Euclidean, Unspecified};
    let mut c = client().await;
    let base = unique("create");
    let mut long_desc = create_request(&format!("{base}-d"), 32, Cosine);
    long_desc.description = "d".repeat(1025);
    let bad: Vec<(&str, pb::CreateIndexRequest)> = vec![
        ("empty name", create_request("", 32, Cosine)),
        ("upper case", create_request(&format!("A{base}"), 32, Cosine)),
        ("leading digit", create_request(&format!("1{base}"), 32, Cosine)),
        ("leading dash", create_request(&format!("-{base}"), 32, Cosine)),
        ("dot in name", create_request(&format!("{base}.x"), 32, Cosine)),
        ("space in name", create_request(&format!("{base} x"), 32, Cosine)),
        ("65 chars", create_request(&"a".repeat(65), 32, Cosine)),
        ("0 dims", create_request(&base, 0, Cosine)),
        ("31 dims", create_request(&base, 31, Cosine)),
        ("1537 dims", create_request(&base, 1537, Cosine)),
        ("metric unspecified", create_request(&base, 32, Unspecified)),
        ("description 1025 chars", long_desc),
    ];
    for (what, req) in bad {
        assert_code(try_create(&mut c, req).await, Code::InvalidArgument, what);
    }
    assert_code(c.get_index(iref(&base)).await, Code::NotFound, "no rejected create left an index");

    // Boundaries that are allowed.
    let name64 = format!("{base}-{}", "x".repeat(64 - base.len() - 1));
    assert_eq!(name64.len(), 64);
    try_create(&mut c, create_request(&name64, 32, Cosine)).await.expect("64-char name");
    try_create(&mut c, create_request(&format!("{base}_u-1"), 1536, Euclidean)).await.expect("1536 dims, '_' and '-'");
    let mut desc = create_request(&base, 32, Cosine);
    desc.description = "d".repeat(1024);
    let info = try_create(&mut c, desc).await.expect("1024-char description");
    assert_eq!((info.name.as_str(), info.dimensions, info.metric), (base.as_str(), 32, Cosine as i32));
    assert_eq!(info.description.len(), 1024);
    assert!(looks_rfc3339(&info.created_on), "created_on {:?}", info.created_on);
    let got = c.get_index(iref(&base)).await.expect("get").into_inner();
    assert_eq!((got.name, got.dimensions, got.metric, got.description.len()), (base.clone(), 32, Cosine as i32, 1024));
    let all = c.list_indexes(pb::ListIndexesRequest { account: String::new(), all_accounts: false, include_moved: false }).await.expect("list").into_inner();
    assert!(all.indexes.iter().any(|i| i.name == base), "ListIndexes shows {base}");

    // Duplicates: same account → ALREADY_EXISTS (whatever the config); another account is another index.
    assert_code(try_create(&mut c, create_request(&base, 32, Cosine)).await, Code::AlreadyExists, "duplicate");
    assert_code(try_create(&mut c, create_request(&base, 64, Euclidean)).await, Code::AlreadyExists, "duplicate, other config");
    let account = unique("acct");
    let mut other = create_request(&base, 48, Euclidean);
    other.account = account.clone();
    try_create(&mut c, other).await.expect("same name in another account");
    let listed = c.list_indexes(pb::ListIndexesRequest { account: account.clone(), all_accounts: false, include_moved: false }).await.expect("list").into_inner();
    assert_eq!(listed.indexes.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), vec![base.as_str()]);
    let theirs = c.describe_index(pb::IndexRef { account: account.clone(), name: base.clone() }).await.expect("describe").into_inner();
    assert_eq!(theirs.dimensions, 48);
    assert_eq!(describe(&mut c, &base).await.dimensions, 32);

    // Unknown indexes: every call says NOT_FOUND (unknown name, and a known name in an unknown account).
    assert_not_found_everywhere(&mut c, "", &unique("nosuch")).await;
    assert_not_found_everywhere(&mut c, &unique("noacct"), &base).await;

    // Delete, then the same name again is a fresh, empty index; the other account's is untouched.
    upsert(&mut c, &base, vec![v("a", vals(1), "", Json::Null)]).await;
    c.delete_index(iref(&base)).await.expect("delete");
    assert_code(c.get_index(iref(&base)).await, Code::NotFound, "deleted index");
    assert_code(c.delete_index(iref(&base)).await, Code::NotFound, "delete twice");
    let again = try_create(&mut c, create_request(&base, 40, Euclidean)).await.expect("recreate");
    assert_eq!(again.dimensions, 40);
    let stats = describe(&mut c, &base).await;
    assert_eq!((stats.dimensions, stats.vector_count), (40, 0));
    assert_eq!(stats.processed_up_to_mutation, "");
    assert!(get(&mut c, &base, &["a"]).await.is_empty());
    let theirs = c.get_index(pb::IndexRef { account, name: base.clone() }).await.expect("other account kept").into_inner();
    assert_eq!(theirs.dimensions, 48);
}

async fn assert_not_found_everywhere(c: &mut Client, account: &str, name: &str) {
    let r = || pb::IndexRef { account: account.into(), name: name.into() };
    let ids = pb::IdsRequest { account: account.into(), index: name.into(), ids: vec!["a".into()] };
    let write = pb::WriteRequest { account: account.into(), index: name.into(), vectors: vec![v("a", vals(1), "", Json::Null)] };
    let meta = pb::MetadataIndexRequest {
        account: account.into(),
        index: name.into(),
        property_name: "p".into(),
        index_type: pb::MetadataType::String as i32,
    };
    let mut q = qreq(name, vals(1), 3);
    q.account = account.into();
    let lv = pb::ListVectorsRequest { account: account.into(), index: name.into(), count: 10, cursor: String::new() };
    let ingest = pb::IngestRequest { account: account.into(), index: name.into(), mode: 0, vectors: write.vectors.clone() };
    let nf = Code::NotFound;
    assert_code(c.get_index(r()).await, nf, "get_index");
    assert_code(c.describe_index(r()).await, nf, "describe_index");
    assert_code(c.delete_index(r()).await, nf, "delete_index");
    assert_code(c.insert(write.clone()).await, nf, "insert");
    assert_code(c.upsert(write).await, nf, "upsert");
    assert_code(c.ingest(futures::stream::iter(vec![ingest])).await, nf, "ingest");
    assert_code(c.delete_by_ids(ids.clone()).await, nf, "delete_by_ids");
    assert_code(c.get_by_ids(ids).await, nf, "get_by_ids");
    assert_code(c.query(q).await, nf, "query");
    assert_code(c.list_vectors(lv).await, nf, "list_vectors");
    assert_code(c.create_metadata_index(meta.clone()).await, nf, "create_metadata_index");
    assert_code(c.list_metadata_indexes(r()).await, nf, "list_metadata_indexes");
    assert_code(c.delete_metadata_index(meta).await, nf, "delete_metadata_index");
}

// ------------------------------------------------------------------------------------------------
// Writes
// ------------------------------------------------------------------------------------------------

fn bad_vectors() -> Vec<(&'static str, pb::Vector)> {
    let mut nan = vals(2);
    nan[5] = f32::NAN;
    let mut inf = vals(2);
    inf[0] = f32::INFINITY;
    let mut ninf = vals(2);
    ninf[DIM - 1] = f32::NEG_INFINITY;
    let none = Json::Null;
    vec![
        ("empty id", v("", vals(2), "", none.clone())),
        ("65-byte id", v(&"i".repeat(65), vals(2), "", none.clone())),
        ("65-byte id of 64 chars", v(&format!("{}é", "i".repeat(63)), vals(2), "", none.clone())),
        ("65-byte namespace", v("bad", vals(2), &"n".repeat(65), none.clone())),
        ("31 values", v("bad", vals(2)[..DIM - 1].to_vec(), "", none.clone())),
        ("33 values", v("bad", [vals(2), vec![0.5]].concat(), "", none.clone())),
        ("no values", v("bad", Vec::new(), "", none.clone())),
        ("NaN", v("bad", nan, "", none.clone())),
        ("+inf", v("bad", inf, "", none.clone())),
        ("-inf", v("bad", ninf, "", none)),
        ("metadata of 10241 bytes", v("bad", vals(2), "", json!({"k": "x".repeat(10233)}))),
        ("empty key", v("bad", vals(2), "", json!({"": 1}))),
        ("key with '.'", v("bad", vals(2), "", json!({"a.b": 1}))),
        ("key with '\"'", v("bad", vals(2), "", json!({"a\"b": 1}))),
        ("key starting with '$'", v("bad", vals(2), "", json!({"$a": 1}))),
        ("nested key with '.'", v("bad", vals(2), "", json!({"n": {"a.b": 1}}))),
        ("nested key starting with '$'", v("bad", vals(2), "", json!({"n": {"$x": 1}}))),
        ("nested empty key", v("bad", vals(2), "", json!({"n": {"": 1}}))),
        ("metadata nested 9 levels", v("bad", vals(2), "", (0..9).fold(json!(1), |inner, _| json!({ "k": inner })))),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_batches_write_nothing() {
    let mut c = client().await;
    let name = unique("reject");
    create(&mut c, &name, pb::Metric::Cosine).await;
    for (i, (what, bad)) in bad_vectors().into_iter().enumerate() {
        for insert in [false, true] {
            let (a, b) = (format!("ok-{i}-{insert}-a"), format!("ok-{i}-{insert}-b"));
            let batch = vec![v(&a, vals(3), "", json!({"ok": true})), v(&b, vals(4), "ns", Json::Null), bad.clone()];
            let what = format!("{what} (insert={insert})");
            assert_code(write(&mut c, &name, batch, insert).await, Code::InvalidArgument, &what);
            assert!(get(&mut c, &name, &[a.as_str(), b.as_str()]).await.is_empty(), "{what}: part of a rejected batch was written");
        }
    }
    for insert in [false, true] {
        assert_code(write(&mut c, &name, Vec::new(), insert).await, Code::InvalidArgument, "empty batch");
    }
    let too_many: Vec<pb::Vector> = (0..5001).map(|i| v(&format!("bulk-{i:05}"), vals(i), "", Json::Null)).collect();
    assert_code(write(&mut c, &name, too_many.clone(), false).await, Code::InvalidArgument, "5001 vectors (upsert)");
    assert_code(write(&mut c, &name, too_many.clone(), true).await, Code::InvalidArgument, "5001 vectors (insert)");
    let stats = describe(&mut c, &name).await;
    assert_eq!(stats.vector_count, 0, "rejected writes left vectors");
    assert_eq!(stats.processed_up_to_mutation, "", "rejected writes are not mutations");
    assert_eq!(stats.processed_up_to_datetime, "");

    // The limits themselves are fine.
    let mut bulk = too_many;
    bulk.truncate(5000);
    assert_eq!(upsert(&mut c, &name, bulk).await.count, 5000);
    let id64 = "é".repeat(32);
    let ns64 = "n".repeat(64);
    let big = json!({"k": "x".repeat(10232)});
    assert_eq!(serde_json::to_string(&big).expect("json").len(), 10240);
    let odd = json!({"ключ k": {"inner": [ "a", "b"], "n": 1.5}, "t": true});
    let r = upsert(&mut c, &name, vec![v(&id64, vals(5), &ns64, big.clone()), v("odd", vals(6), "", odd.clone())]).await;
    assert_eq!(r.count, 2);
    let got = get(&mut c, &name, &[id64.as_str(), "odd"]).await;
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].id.as_str(), got[0].namespace.as_str()), (id64.as_str(), ns64.as_str()));
    assert_eq!(meta_json(&got[0].metadata), big);
    assert_eq!(meta_json(&got[1].metadata), odd);
    assert_eq!(describe(&mut c, &name).await.vector_count, 5002);
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_keeps_first_upsert_replaces() {
    let mut c = client().await;
    let name = unique("writes");
    create(&mut c, &name, pb::Metric::Cosine).await;
    let mut mutation_ids = HashSet::new();
    let mut note = |r: &pb::MutationResponse| {
        assert!(is_uuid(&r.mutation_id), "mutation id {:?} is not a UUID", r.mutation_id);
        assert!(mutation_ids.insert(r.mutation_id.clone()), "mutation id reused");
        r.mutation_id.clone()
    };

    let r = upsert(&mut c, &name, vec![v("a", vals(1), "x", json!({"v": 1})), v("b", vals(2), "", Json::Null)]).await;
    assert_eq!(r.count, 2);
    note(&r);
    // Insert: the existing id is kept untouched; count is new ids only.
    let r = insert(&mut c, &name, vec![v("a", vals(11), "", json!({"v": 2})), v("c", vals(3), "", Json::Null)]).await;
    assert_eq!(r.count, 1);
    note(&r);
    let a = get(&mut c, &name, &["a"]).await.remove(0);
    assert_eq!((a.values.clone(), a.namespace.as_str(), meta_json(&a.metadata)), (vals(1), "x", json!({"v": 1})));
    // Insert of only existing ids writes nothing but is still a mutation.
    let r = insert(&mut c, &name, vec![v("b", vals(12), "", Json::Null)]).await;
    assert_eq!(r.count, 0);
    note(&r);
    assert_eq!(get(&mut c, &name, &["b"]).await[0].values, vals(2));
    // Upsert replaces everything: values, namespace (back to none) and metadata (no merge).
    let r = upsert(&mut c, &name, vec![v("a", vals(21), "", json!({"w": true}))]).await;
    assert_eq!(r.count, 1);
    note(&r);
    let a = get(&mut c, &name, &["a"]).await.remove(0);
    assert_eq!((a.values.clone(), a.namespace.as_str(), meta_json(&a.metadata)), (vals(21), "", json!({"w": true})));
    let r = upsert(&mut c, &name, vec![v("a", vals(22), "y", Json::Null)]).await;
    note(&r);
    let a = get(&mut c, &name, &["a"]).await.remove(0);
    assert_eq!((a.values.clone(), a.namespace.as_str(), meta_json(&a.metadata)), (vals(22), "y", json!({})));

    // Duplicates inside one batch: upsert → last occurrence, insert → first occurrence.
    let r = upsert(&mut c, &name, vec![v("d", vals(31), "p", json!({"k": 1})), v("d", vals(32), "q", json!({"k": 2}))]).await;
    assert_eq!(r.count, 1, "upsert count is distinct ids");
    note(&r);
    let d = get(&mut c, &name, &["d"]).await.remove(0);
    assert_eq!((d.values.clone(), d.namespace.as_str(), meta_json(&d.metadata)), (vals(32), "q", json!({"k": 2})));
    let r = insert(&mut c, &name, vec![v("e", vals(41), "p", json!({"k": 1})), v("e", vals(42), "q", json!({"k": 2}))]).await;
    assert_eq!(r.count, 1);
    note(&r);
    let e = get(&mut c, &name, &["e"]).await.remove(0);
    assert_eq!((e.values.clone(), e.namespace.as_str(), meta_json(&e.metadata)), (vals(41), "p", json!({"k": 1})));
    let r = insert(&mut c, &name, vec![v("a", vals(51), "", Json::Null), v("f", vals(6), "", Json::Null), v("f", vals(7), "", Json::Null)]).await;
    assert_eq!(r.count, 1);
    let last = note(&r);
    assert_eq!(get(&mut c, &name, &["f"]).await[0].values, vals(6));
    assert_eq!(get(&mut c, &name, &["a"]).await[0].values, vals(22));

    let stats = describe(&mut c, &name).await;
    assert_eq!(stats.vector_count, 6, "a b c d e f");
    assert_eq!(stats.processed_up_to_mutation, last);
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_tracks_mutations() {
    let mut c = client().await;
    let name = unique("describe");
    create(&mut c, &name, pb::Metric::DotProduct).await;
    let s = describe(&mut c, &name).await;
    assert_eq!((s.dimensions, s.vector_count), (DIM as u32, 0));
    assert_eq!((s.processed_up_to_mutation.as_str(), s.processed_up_to_datetime.as_str()), ("", ""));

    let r = upsert(&mut c, &name, (0..10).map(|i| v(&format!("v{i}"), vals(i), "", Json::Null)).collect()).await;
    let s = describe(&mut c, &name).await;
    assert_eq!(s.vector_count, 10);
    assert_eq!(s.processed_up_to_mutation, r.mutation_id);
    assert!(looks_rfc3339(&s.processed_up_to_datetime), "datetime {:?}", s.processed_up_to_datetime);

    let r = delete(&mut c, &name, &["v1", "v2", "nope"]).await;
    assert_eq!(r.count, 2);
    let s = describe(&mut c, &name).await;
    assert_eq!(s.vector_count, 8);
    assert_eq!(s.processed_up_to_mutation, r.mutation_id);

    let r = meta_index(&mut c, &name, "k", pb::MetadataType::String).await.expect("metadata index");
    assert!(is_uuid(&r.mutation_id));
    assert_eq!(describe(&mut c, &name).await.processed_up_to_mutation, r.mutation_id);

    let r = insert(&mut c, &name, vec![v("v3", vals(3), "", Json::Null), v("v1", vals(1), "", Json::Null)]).await;
    assert_eq!(r.count, 1);
    let s = describe(&mut c, &name).await;
    assert_eq!((s.vector_count, s.processed_up_to_mutation), (9, r.mutation_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_and_get_by_ids() {
    let mut c = client().await;
    let name = unique("delete");
    create(&mut c, &name, pb::Metric::Euclidean).await;
    let meta = |i: u64| json!({"i": i, "tag": format!("t{i}"), "nested": {"deep": [ "x", "y"], "flag": i % 2 == 0}});
    let vectors: Vec<pb::Vector> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(0u64..)
        .map(|(id, i)| v(id, vals(i), if i % 2 == 0 { "even" } else { "" }, meta(i)))
        .collect();
    upsert(&mut c, &name, vectors).await;

    // Found only, request order, deduplicated; full payload.
    let got = get(&mut c, &name, &["e", "zz", "a", "e", "c", "a"]).await;
    assert_eq!(got.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), vec!["e", "a", "c"]);
    for (x, i) in got.iter().zip([4u64, 0, 2]) {
        assert_eq!(x.values, vals(i));
        assert_eq!(x.namespace, "even");
        assert_eq!(meta_json(&x.metadata), meta(i));
    }
    assert_eq!(get(&mut c, &name, &["b"]).await[0].namespace, "", "no namespace reads as empty");
    assert!(get(&mut c, &name, &["nope"]).await.is_empty());

    let r = delete(&mut c, &name, &["b", "d", "zz"]).await;
    assert_eq!(r.count, 2, "only ids that existed count");
    assert!(is_uuid(&r.mutation_id));
    assert!(get(&mut c, &name, &["b", "d"]).await.is_empty());
    assert_eq!(describe(&mut c, &name).await.vector_count, 3);
    let resp = query(&mut c, qreq(&name, vals(1), 10)).await.expect("query");
    let mut ids = match_ids(&resp);
    ids.sort_unstable();
    assert_eq!(ids, vec!["a", "c", "e"]);
    let mut by_id = qreq(&name, Vec::new(), 3);
    by_id.vector_id = "b".into();
    assert_code(query(&mut c, by_id).await, Code::NotFound, "query by a deleted id");
    assert_eq!(delete(&mut c, &name, &["b", "d"]).await.count, 0, "deleting again");
    let listed = list(&mut c, &name, 0, "").await.expect("list");
    assert_eq!((listed.ids, listed.total_count), (vec!["a".to_string(), "c".into(), "e".into()], 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn read_your_writes() {
    let mut c = client().await;
    let name = unique("ryw");
    create(&mut c, &name, pb::Metric::Cosine).await;
    for i in 0..20u64 {
        let id = format!("v{i:02}");
        upsert(&mut c, &name, vec![v(&id, vals(100 + i), "", json!({"i": i}))]).await;
        let resp = query(&mut c, qreq(&name, vals(100 + i), 1)).await.expect("query");
        assert_eq!(match_ids(&resp), vec![id.as_str()], "query right after upsert {i}");
        assert!((resp.matches[0].score - 1.0).abs() < 1e-5);
        let mut by_id = qreq(&name, Vec::new(), 1);
        by_id.vector_id = id.clone();
        assert_eq!(match_ids(&query(&mut c, by_id).await.expect("query by id")), vec![id.as_str()]);
        assert_eq!(get(&mut c, &name, &[id.as_str()]).await.len(), 1);
        if i % 3 == 0 {
            delete(&mut c, &name, &[id.as_str()]).await;
            assert!(get(&mut c, &name, &[id.as_str()]).await.is_empty(), "get right after delete {i}");
            let resp = query(&mut c, qreq(&name, vals(100 + i), 100)).await.expect("query");
            assert!(!match_ids(&resp).contains(&id.as_str()), "query right after delete {i}");
        }
    }
    assert_eq!(describe(&mut c, &name).await.vector_count, 13);
}

// ------------------------------------------------------------------------------------------------
// Queries
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn query_input_rules() {
    let mut c = client().await;
    let name = unique("qrules");
    create(&mut c, &name, pb::Metric::Cosine).await;
    upsert(&mut c, &name, (0..8).map(|i| v(&format!("v{i}"), vals(i), "", json!({"i": i}))).collect()).await;
    let base = || qreq(&name, vals(0), 10);
    let with = |f: &dyn Fn(&mut pb::QueryRequest)| {
        let mut r = base();
        f(&mut r);
        r
    };
    let bad: Vec<(&str, pb::QueryRequest, Code)> = vec![
        ("both vector and vector_id", with(&|r| r.vector_id = "v1".into()), Code::InvalidArgument),
        ("neither vector nor vector_id", with(&|r| r.vector.clear()), Code::InvalidArgument),
        ("31 dims", with(&|r| r.vector.truncate(DIM - 1)), Code::InvalidArgument),
        ("33 dims", with(&|r| r.vector.push(1.0)), Code::InvalidArgument),
        (
            "unknown vector_id",
            with(&|r| {
                r.vector.clear();
                r.vector_id = "nope".into();
            }),
            Code::NotFound,
        ),
        ("top_k 101", with(&|r| r.top_k = 101), Code::InvalidArgument),
        ("top_k 101 indexed", with(&|r| { r.top_k = 101; r.return_metadata = pb::ReturnMetadata::Indexed as i32 }), Code::InvalidArgument),
        ("top_k 51 with values", with(&|r| { r.top_k = 51; r.return_values = true }), Code::InvalidArgument),
        ("top_k 51 with all metadata", with(&|r| { r.top_k = 51; r.return_metadata = pb::ReturnMetadata::All as i32 }), Code::InvalidArgument),
    ];
    for (what, req, code) in bad {
        assert_code(query(&mut c, req).await, code, what);
    }
    let ok: Vec<(&str, pb::QueryRequest, usize)> = vec![
        ("top_k 0 means 5", with(&|r| r.top_k = 0), 5),
        ("top_k 50 with values", with(&|r| { r.top_k = 50; r.return_values = true }), 8),
        ("top_k 50 with all metadata", with(&|r| { r.top_k = 50; r.return_metadata = pb::ReturnMetadata::All as i32 }), 8),
        ("top_k 100 with indexed metadata", with(&|r| { r.top_k = 100; r.return_metadata = pb::ReturnMetadata::Indexed as i32 }), 8),
        ("top_k 100", with(&|r| r.top_k = 100), 8),
        ("top_k 3", with(&|r| r.top_k = 3), 3),
        (
            "by id",
            with(&|r| {
                r.vector.clear();
                r.vector_id = "v2".into();
            }),
            8,
        ),
    ];
    for (what, req, n) in ok {
        let resp = query(&mut c, req).await.unwrap_or_else(|s| panic!("{what}: {s:?}"));
        assert_eq!(resp.matches.len(), n, "{what}");
        assert_eq!(resp.count as usize, n, "{what}: count");
    }
    let mut by_id = qreq(&name, Vec::new(), 1);
    by_id.vector_id = "v2".into();
    let resp = query(&mut c, by_id).await.expect("by id");
    assert_eq!(match_ids(&resp), vec!["v2"], "a vector is its own nearest (cosine)");
    assert!((resp.matches[0].score - 1.0).abs() < 1e-5);
}

/// Identical vectors tie; ties go to the smaller id; each metric's direction.
#[tokio::test(flavor = "multi_thread")]
async fn score_direction_and_ties() {
    let mut c = client().await;
    let cases = [
        (pb::Metric::Cosine, vec![("a", 1.0), ("b", 1.0), ("c", 1.0), ("e", 1.0), ("d", 0.0)]),
        (pb::Metric::Euclidean, vec![("a", 0.0), ("b", 0.0), ("c", 0.0), ("e", 1.0), ("d", 2f64.sqrt())]),
        (pb::Metric::DotProduct, vec![("e", -2.0), ("a", -1.0), ("b", -1.0), ("c", -1.0), ("d", 0.0)]),
    ];
    for (metric, want) in cases {
        let name = unique("ties");
        create(&mut c, &name, metric).await;
        let vs = vec![
            v("c", axis(0, 1.0), "", Json::Null),
            v("a", axis(0, 1.0), "", Json::Null),
            v("d", axis(1, 1.0), "", Json::Null),
            v("b", axis(0, 1.0), "", Json::Null),
            v("e", axis(0, 2.0), "", Json::Null),
        ];
        upsert(&mut c, &name, vs).await;
        let resp = query(&mut c, qreq(&name, axis(0, 1.0), 10)).await.expect("query");
        let got: Vec<(&str, f64)> = resp.matches.iter().map(|m| (m.id.as_str(), m.score)).collect();
        assert_eq!(got.len(), 5, "{metric:?}");
        for ((gid, gs), (wid, ws)) in got.iter().zip(&want) {
            assert_eq!(gid, wid, "{metric:?}: {got:?}");
            assert!((gs - ws).abs() < 1e-5, "{metric:?}: {got:?}");
        }
        let resp = query(&mut c, qreq(&name, axis(0, 1.0), 2)).await.expect("query");
        assert_eq!(match_ids(&resp), want[..2].iter().map(|w| w.0).collect::<Vec<_>>(), "{metric:?} top 2");
        assert_eq!(resp.count, 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_and_return_modes() {
    let mut c = client().await;
    let name = unique("modes");
    create(&mut c, &name, pb::Metric::Euclidean).await;
    meta_index(&mut c, &name, "a.b", pb::MetadataType::Number).await.expect("a.b");
    meta_index(&mut c, &name, "s", pb::MetadataType::String).await.expect("s");
    let long = format!("{}éxyz", "L".repeat(63));
    let m1 = json!({"a": {"b": 1, "c": "not indexed"}, "s": long, "other": [ "p", "q"]});
    let m2 = json!({"a": {"b": 2.5}, "flag": false});
    let vs = vec![
        v("x1", vals(1), "x", m1.clone()),
        v("x2", vals(2), "x", m2.clone()),
        v("y1", vals(3), "y", json!({"s": "short"})),
        v("n1", vals(4), "", Json::Null),
    ];
    upsert(&mut c, &name, vs).await;

    let in_ns = |ns: &str, mode: pb::ReturnMetadata, values: bool| {
        let mut r = qreq(&name, vals(1), 10);
        r.namespace = ns.into();
        r.return_metadata = mode as i32;
        r.return_values = values;
        r
    };
    let sorted = |resp: &pb::QueryResponse| {
        let mut ids: Vec<String> = resp.matches.iter().map(|m| m.id.clone()).collect();
        ids.sort();
        ids
    };
    let resp = query(&mut c, in_ns("x", pb::ReturnMetadata::None, false)).await.expect("ns x");
    assert_eq!(sorted(&resp), vec!["x1", "x2"]);
    assert!(resp.matches.iter().all(|m| m.namespace == "x" && m.values.is_empty() && m.metadata.is_none()));
    let resp = query(&mut c, in_ns("y", pb::ReturnMetadata::None, false)).await.expect("ns y");
    assert_eq!(sorted(&resp), vec!["y1"]);
    let resp = query(&mut c, in_ns("nope", pb::ReturnMetadata::None, false)).await.expect("ns nope");
    assert_eq!((resp.count, resp.matches.len()), (0, 0));
    let resp = query(&mut c, in_ns("", pb::ReturnMetadata::None, true)).await.expect("all namespaces");
    assert_eq!(sorted(&resp), vec!["n1", "x1", "x2", "y1"]);
    let want_ns = HashMap::from([("x1", "x"), ("x2", "x"), ("y1", "y"), ("n1", "")]);
    let want_vals = HashMap::from([("x1", vals(1)), ("x2", vals(2)), ("y1", vals(3)), ("n1", vals(4))]);
    for m in &resp.matches {
        assert_eq!(m.namespace, want_ns[m.id.as_str()], "{}", m.id);
        assert_eq!(m.values, want_vals[m.id.as_str()], "{}: exact stored f32 values", m.id);
    }

    let all = query(&mut c, in_ns("", pb::ReturnMetadata::All, false)).await.expect("all metadata");
    let want_all = HashMap::from([("x1", m1.clone()), ("x2", m2.clone()), ("y1", json!({"s": "short"})), ("n1", json!({}))]);
    for m in &all.matches {
        assert_eq!(meta_json(&m.metadata), want_all[m.id.as_str()], "ALL metadata of {}", m.id);
        assert!(m.values.is_empty());
    }
    let indexed = query(&mut c, in_ns("", pb::ReturnMetadata::Indexed, false)).await.expect("indexed metadata");
    let want_indexed = HashMap::from([
        ("x1", json!({"a": {"b": 1}, "s": "L".repeat(63)})),
        ("x2", json!({"a": {"b": 2.5}})),
        ("y1", json!({"s": "short"})),
        ("n1", json!({})),
    ]);
    for m in &indexed.matches {
        assert_eq!(meta_json(&m.metadata), want_indexed[m.id.as_str()], "INDEXED metadata of {}", m.id);
    }
    // Namespace and filter together.
    let mut r = in_ns("x", pb::ReturnMetadata::None, false);
    r.filter = Some(to_struct(&json!({"a.b": {"$gt": 2}})));
    assert_eq!(match_ids(&query(&mut c, r).await.expect("ns + filter")), vec!["x2"]);
}

// ------------------------------------------------------------------------------------------------
// Filters and metadata indexes
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn filter_input_rules() {
    let mut c = client().await;
    let name = unique("frules");
    create(&mut c, &name, pb::Metric::Cosine).await;
    meta_index(&mut c, &name, "s", pb::MetadataType::String).await.expect("s");
    meta_index(&mut c, &name, "n", pb::MetadataType::Number).await.expect("n");
    upsert(&mut c, &name, vec![v("a", vals(1), "", json!({"s": "x", "n": 1}))]).await;
    let bad = [
        json!({}),
        json!({"n": {"$eq": 1, "$gt": 0}}),
        json!({"n": {"$gt": 0, "$gte": 0}}),
        json!({"n": {"$lt": 5, "$lte": 5}}),
        json!({"n": {"$ne": 1, "$in": [1]}}),
        json!({"n": {"$foo": 1}}),
        json!({"s": {"$in": "x"}}),
        json!({"s": {"$nin": "x"}}),
        json!({"$s": 1}),
        json!({"": 1}),
        json!({"s\"": 1}),
        json!({"s": "x", "n": {"$bar": 1}}),
        Json::Object(serde_json::Map::from_iter([("k".repeat(513), json!(1))])),
    ];
    for f in bad {
        let mut r = qreq(&name, vals(1), 5);
        r.filter = Some(to_struct(&f));
        assert_code(query(&mut c, r).await, Code::InvalidArgument, &format!("filter {f}"));
    }
    let long_key = "k".repeat(512);
    let ok = [
        json!({"n": {"$gte": 0, "$lt": 5}}),
        json!({"n": {"$gt": 0, "$lte": 5}}),
        json!({"s": {"$gte": "a", "$lt": "y"}}),
        json!({ long_key: 1 }),
    ];
    for f in ok {
        let mut r = qreq(&name, vals(1), 5);
        r.filter = Some(to_struct(&f));
        query(&mut c, r).await.unwrap_or_else(|s| panic!("filter {f}: {s:?}"));
    }
}

/// Hand-written filter cases covering every operator and the missing-property rules.
#[tokio::test(flavor = "multi_thread")]
async fn filter_semantics_examples() {
    use pb::MetadataType::{Boolean, Number, String as Str};
    let mut c = client().await;
    let name = unique("filters");
    create(&mut c, &name, pb::Metric::Cosine).await;
    for (p, t) in [("s", Str), ("n", Number), ("b", Boolean), ("tags", Str), ("a.b", Number)] {
        meta_index(&mut c, &name, p, t).await.expect("metadata index");
    }
    let vs = vec![
        v("v1", vals(1), "", json!({"s": "apple", "n": 1, "b": true, "tags": ["x", "y"], "a": {"b": 1}})),
        v("v2", vals(2), "", json!({"s": "banana", "n": 2.5, "b": false, "tags": ["y"], "a": {"b": 2}})),
        v("v3", vals(3), "", json!({"s": "cherry", "n": -3})),
        v("v4", vals(4), "", json!({"s": "10", "n": "10", "b": "true"})),
        v("v5", vals(5), "", json!({})),
    ];
    upsert(&mut c, &name, vs).await;
    let cases: Vec<(Json, Vec<&str>)> = vec![
        (json!({"s": "apple"}), vec!["v1"]),
        (json!({"s": {"$eq": "apple"}}), vec!["v1"]),
        (json!({"s": {"$ne": "apple"}}), vec!["v2", "v3", "v4", "v5"]),
        (json!({"s": {"$eq": null}}), vec!["v5"]),
        (json!({"s": {"$ne": null}}), vec!["v1", "v2", "v3", "v4"]),
        (json!({"s": {"$in": ["apple", "cherry", "zzz"]}}), vec!["v1", "v3"]),
        (json!({"s": {"$nin": ["apple", "cherry"]}}), vec!["v2", "v4", "v5"]),
        (json!({"s": {"$gte": "b", "$lt": "c"}}), vec!["v2"]),
        (json!({"s": {"$lt": "b"}}), vec!["v1", "v4"]),
        (json!({"s": {"$gt": "banana"}}), vec!["v3"]),
        (json!({"s": {"$gte": "banana"}}), vec!["v2", "v3"]),
        (json!({"s": {"$gt": 5}}), vec![]),
        (json!({"s": 10}), vec![]),
        (json!({"n": {"$eq": null}}), vec!["v4", "v5"]),
        (json!({"n": {"$in": [1, null]}}), vec!["v1", "v4", "v5"]),
        (json!({"n": {"$in": [2.5]}}), vec!["v2"]),
        (json!({"n": {"$nin": [1, 2.5]}}), vec!["v3", "v4", "v5"]),
        (json!({"n": {"$ne": 1}}), vec!["v2", "v3", "v4", "v5"]),
        (json!({"n": {"$gt": 1}}), vec!["v2"]),
        (json!({"n": {"$gte": 1}}), vec!["v1", "v2"]),
        (json!({"n": {"$lte": -3}}), vec!["v3"]),
        (json!({"n": {"$lt": -3}}), vec![]),
        (json!({"n": {"$gte": -3, "$lt": 2.5}}), vec!["v1", "v3"]),
        (json!({"n": {"$gt": "0"}}), vec![]),
        (json!({"n": "10"}), vec![]),
        (json!({"b": true}), vec!["v1"]),
        (json!({"b": {"$eq": false}}), vec!["v2"]),
        (json!({"b": {"$ne": true}}), vec!["v2", "v3", "v4", "v5"]),
        (json!({"b": {"$eq": null}}), vec!["v3", "v4", "v5"]),
        (json!({"tags": "y"}), vec!["v1", "v2"]),
        (json!({"tags": {"$eq": "x"}}), vec!["v1"]),
        (json!({"tags": {"$ne": "x"}}), vec!["v2", "v3", "v4", "v5"]),
        (json!({"tags": {"$in": ["x", "z"]}}), vec!["v1"]),
        (json!({"tags": {"$nin": ["y"]}}), vec!["v3", "v4", "v5"]),
        (json!({"tags": {"$nin": ["x"]}}), vec!["v2", "v3", "v4", "v5"]),
        (json!({"a.b": 1}), vec!["v1"]),
        (json!({"a.b": {"$gte": 1}}), vec!["v1", "v2"]),
        (json!({"a.b": {"$ne": 2}}), vec!["v1", "v3", "v4", "v5"]),
        (json!({"s": {"$ne": "apple"}, "n": {"$gt": 0}}), vec!["v2"]),
        (json!({"s": {"$in": ["apple", "banana"]}, "b": false, "a.b": 2}), vec!["v2"]),
    ];
    for (f, want) in &cases {
        let (got, warnings) = filtered(&mut c, &name, f).await;
        assert_eq!(got, *want, "filter {f}");
        assert!(warnings.is_empty(), "filter {f} on indexed properties warns: {warnings:?}");
    }
    // Unindexed property: no error, a warning, and every vector lacks it.
    for (f, want) in [
        (json!({"zzz": 1}), vec![]),
        (json!({"zzz": {"$ne": 1}}), vec!["v1", "v2", "v3", "v4", "v5"]),
        (json!({"zzz": {"$eq": null}, "s": "apple"}), vec!["v1"]),
        (json!({"a.c": {"$in": [null]}}), vec!["v1", "v2", "v3", "v4", "v5"]),
    ] {
        let (got, warnings) = filtered(&mut c, &name, &f).await;
        assert_eq!(got, want, "filter {f}");
        assert!(!warnings.is_empty() && warnings.iter().all(|w| !w.is_empty()), "filter {f} must warn");
    }

    // Pre-filtering: 30 fillers sit right on the query; the filter still yields its 3 vectors.
    let fillers: Vec<pb::Vector> = (0..30).map(|i| v(&format!("f{i:02}"), vals(99), "", json!({"s": "filler"}))).collect();
    upsert(&mut c, &name, fillers).await;
    let mut r = qreq(&name, vals(99), 10);
    r.filter = Some(to_struct(&json!({"s": {"$in": ["apple", "banana", "cherry"]}})));
    let resp = query(&mut c, r).await.expect("pre-filter");
    let mut ids = match_ids(&resp);
    ids.sort_unstable();
    assert_eq!((ids, resp.count), (vec!["v1", "v2", "v3"], 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_index_rules() {
    use pb::MetadataType::{Boolean, Number, String as Str, Unspecified};
    let mut c = client().await;
    let name = unique("mrules");
    create(&mut c, &name, pb::Metric::Cosine).await;
    let k513 = "k".repeat(513);
    let bad = [("", Str), ("$p", Str), ("p\"q", Str), (k513.as_str(), Str), ("p", Unspecified)];
    for (p, t) in bad {
        assert_code(meta_index(&mut c, &name, p, t).await, Code::InvalidArgument, &format!("property {p:?} type {t:?}"));
    }
    assert!(list_meta(&mut c, &name).await.is_empty());

    let r = meta_index(&mut c, &name, "p0", Str).await.expect("p0");
    assert!(is_uuid(&r.mutation_id));
    meta_index(&mut c, &name, "p0", Str).await.expect("creating an existing metadata index is OK");
    let long = "k".repeat(512);
    meta_index(&mut c, &name, &long, Number).await.expect("512-char property");
    meta_index(&mut c, &name, "nested.prop", Boolean).await.expect("dotted property");
    for i in 3..10 {
        meta_index(&mut c, &name, &format!("p{i}"), Number).await.expect("up to 10");
    }
    assert_eq!(list_meta(&mut c, &name).await.len(), 10);
    assert_code(meta_index(&mut c, &name, "p10", Str).await, Code::InvalidArgument, "11th metadata index");
    meta_index(&mut c, &name, "p3", Number).await.expect("an existing one at the limit is still OK");
    let listed = list_meta(&mut c, &name).await;
    assert_eq!(listed.len(), 10);
    assert!(listed.contains(&("p0".into(), Str as i32)));
    assert!(listed.contains(&(long.clone(), Number as i32)));
    assert!(listed.contains(&("nested.prop".into(), Boolean as i32)));
    assert!(!listed.iter().any(|(p, _)| p == "p10"));

    assert_code(drop_meta_index(&mut c, &name, "nope").await, Code::NotFound, "delete unknown metadata index");
    let r = drop_meta_index(&mut c, &name, "p0").await.expect("delete p0");
    assert!(is_uuid(&r.mutation_id));
    assert_code(drop_meta_index(&mut c, &name, "p0").await, Code::NotFound, "delete p0 twice");
    assert_eq!(list_meta(&mut c, &name).await.len(), 9);
    meta_index(&mut c, &name, "p10", Str).await.expect("room again after a delete");
    assert_eq!(list_meta(&mut c, &name).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_index_covers_only_later_writes() {
    let mut c = client().await;
    let name = unique("mlater");
    create(&mut c, &name, pb::Metric::Cosine).await;
    upsert(&mut c, &name, vec![v("old", vals(1), "", json!({"c": "red"}))]).await;
    meta_index(&mut c, &name, "c", pb::MetadataType::String).await.expect("c");
    upsert(&mut c, &name, vec![v("new", vals(2), "", json!({"c": "red"})), v("wrong", vals(3), "", json!({"c": 7}))]).await;

    let check = async |c: &mut Client, f: Json, want: &[&str]| {
        let (got, warnings) = filtered(c, &name, &f).await;
        assert_eq!(got, want, "filter {f}");
        warnings
    };
    let w = check(&mut c, json!({"c": "red"}), &["new"]).await;
    assert!(w.is_empty(), "{w:?}");
    check(&mut c, json!({"c": {"$ne": "red"}}), &["old", "wrong"]).await;
    check(&mut c, json!({"c": {"$eq": null}}), &["old", "wrong"]).await;
    check(&mut c, json!({"c": 7}), &[]).await;

    // INDEXED metadata comes from the index: nothing for the old vector or the wrong type.
    let mut r = qreq(&name, vals(1), 10);
    r.return_metadata = pb::ReturnMetadata::Indexed as i32;
    let resp = query(&mut c, r).await.expect("indexed");
    for m in &resp.matches {
        let want = if m.id == "new" { json!({"c": "red"}) } else { json!({}) };
        assert_eq!(meta_json(&m.metadata), want, "INDEXED metadata of {}", m.id);
    }

    // Re-upserting makes the old vector visible to the index.
    upsert(&mut c, &name, vec![v("old", vals(1), "", json!({"c": "red"}))]).await;
    check(&mut c, json!({"c": "red"}), &["new", "old"]).await;
    // Insert of an existing id does not rewrite it; a new id inserted now is indexed.
    insert(&mut c, &name, vec![v("old", vals(1), "", json!({"c": "blue"})), v("ins", vals(4), "", json!({"c": "blue"}))]).await;
    check(&mut c, json!({"c": "blue"}), &["ins"]).await;
    check(&mut c, json!({"c": "red"}), &["new", "old"]).await;

    // Deleted metadata index: filters on it behave as unindexed (warning, property missing).
    drop_meta_index(&mut c, &name, "c").await.expect("drop c");
    let w = check(&mut c, json!({"c": "red"}), &[]).await;
    assert!(!w.is_empty(), "unindexed filter must warn");
    let w = check(&mut c, json!({"c": {"$ne": "red"}}), &["ins", "new", "old", "wrong"]).await;
    assert!(!w.is_empty());
    // Recreated: only writes after the re-creation count again.
    meta_index(&mut c, &name, "c", pb::MetadataType::String).await.expect("c again");
    check(&mut c, json!({"c": "red"}), &[]).await;
    upsert(&mut c, &name, vec![v("new", vals(2), "", json!({"c": "red"}))]).await;
    check(&mut c, json!({"c": "red"}), &["new"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn string_index_keeps_64_bytes() {
    let mut c = client().await;
    let name = unique("trunc");
    create(&mut c, &name, pb::Metric::Cosine).await;
    meta_index(&mut c, &name, "s", pb::MetadataType::String).await.expect("s");
    let a63 = "a".repeat(63);
    let a63_e = format!("{a63}é-and-more"); // 'é' straddles byte 64: cut back to 63 bytes
    let b64 = "b".repeat(64);
    let vs = vec![
        v("v1", vals(1), "", json!({"s": a63_e})),
        v("v2", vals(2), "", json!({"s": a63})),
        v("v3", vals(3), "", json!({"s": format!("{b64}x")})),
        v("v4", vals(4), "", json!({"s": format!("{b64}y")})),
        v("v5", vals(5), "", json!({"s": b64})),
        v("v6", vals(6), "", json!({"s": [format!("{b64}tail"), "short"]})),
    ];
    upsert(&mut c, &name, vs).await;
    for (f, want) in [
        (json!({"s": format!("{a63}é")}), vec!["v1", "v2"]),
        (json!({"s": a63}), vec!["v1", "v2"]),
        (json!({"s": format!("{b64}zzz")}), vec!["v3", "v4", "v5", "v6"]),
        (json!({"s": {"$ne": b64}}), vec!["v1", "v2"]),
        (json!({"s": "short"}), vec!["v6"]),
    ] {
        assert_eq!(filtered(&mut c, &name, &f).await.0, want, "filter {f}");
    }
    let mut r = qreq(&name, vals(1), 10);
    r.return_metadata = pb::ReturnMetadata::Indexed as i32;
    let indexed = query(&mut c, r.clone()).await.expect("indexed");
    let m1 = indexed.matches.iter().find(|m| m.id == "v1").expect("v1");
    assert_eq!(meta_json(&m1.metadata), json!({"s": a63}), "INDEXED returns the cut string");
    let m3 = indexed.matches.iter().find(|m| m.id == "v3").expect("v3");
    assert_eq!(meta_json(&m3.metadata), json!({"s": b64}));
    r.return_metadata = pb::ReturnMetadata::All as i32;
    let all = query(&mut c, r).await.expect("all");
    let m1 = all.matches.iter().find(|m| m.id == "v1").expect("v1");
    assert_eq!(meta_json(&m1.metadata), json!({"s": a63_e}), "ALL returns the stored string");
}

// ------------------------------------------------------------------------------------------------
// ListVectors
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn list_vectors_pages_in_id_order() {
    let mut c = client().await;
    let name = unique("list");
    create(&mut c, &name, pb::Metric::Cosine).await;
    let mut ids: Vec<String> = (0..250u64).map(|i| format!("id-{:03}", (i * 97) % 250)).collect();
    ids.extend(["Zed", "ápple", "b", "id-1000", "A"].map(String::from));
    upsert(&mut c, &name, ids.iter().zip(0u64..).map(|(id, i)| v(id, vals(i), "", Json::Null)).collect()).await;
    let mut want = ids.clone();
    want.sort(); // String order is byte order.

    assert_code(list(&mut c, &name, 1001, "").await, Code::InvalidArgument, "count 1001");
    let one = list(&mut c, &name, 1000, "").await.expect("count 1000");
    assert_eq!(one.ids, want);
    assert_eq!((one.total_count, one.is_truncated, one.next_cursor.as_str()), (255, false, ""));

    for (count, pages) in [(0u32, vec![100usize, 100, 55]), (100, vec![100, 100, 55]), (64, vec![64, 64, 64, 63]), (255, vec![255])] {
        let (got, sizes) = list_all(&mut c, &name, count).await;
        assert_eq!(got, want, "count {count}");
        assert_eq!(sizes, pages, "page sizes with count {count}");
    }
    let (got, _) = list_all(&mut c, &name, 7).await;
    assert_eq!(got, want, "count 7");

    delete(&mut c, &name, &["A", "b", "id-000"]).await;
    let (got, _) = list_all(&mut c, &name, 50).await;
    let want: Vec<String> = want.into_iter().filter(|id| !["A", "b", "id-000"].contains(&id.as_str())).collect();
    assert_eq!(got, want);
    assert_eq!(list(&mut c, &name, 10, "").await.expect("list").total_count, 252);
}

/// Every id by following cursors; also the size of each page.
async fn list_all(c: &mut Client, name: &str, count: u32) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes, mut cursor) = (Vec::new(), Vec::new(), String::new());
    loop {
        let page = list(c, name, count, &cursor).await.unwrap_or_else(|s| panic!("list count {count}: {s:?}"));
        sizes.push(page.ids.len());
        ids.extend(page.ids);
        if !page.is_truncated {
            assert_eq!(page.next_cursor, "", "last page has no cursor");
            return (ids, sizes);
        }
        assert!(!page.next_cursor.is_empty(), "truncated page without cursor");
        assert!(sizes.len() < 1000, "pagination does not end");
        cursor = page.next_cursor;
    }
}


mod oracle;

/// Every error status carries its reason (`strato.errors.v1.ErrorReason`) in a
/// `google.rpc.ErrorInfo`, so clients need not parse messages.
#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_their_reason() {
    use strato_proto::errors::{ErrorReason, reason_of};
    let mut c = client().await;
    let missing = c.describe_index(iref("no-such-index")).await.expect_err("missing");
    assert_eq!(reason_of(&missing), ErrorReason::IndexNotFound);
    let name = unique("reasons");
    create(&mut c, &name, pb::Metric::Cosine).await;
    let dup = c
        .create_index(pb::CreateIndexRequest { account: String::new(), name: name.clone(), dimensions: DIM as u32, metric: pb::Metric::Cosine as i32, description: String::new() })
        .await
        .expect_err("duplicate");
    assert_eq!(reason_of(&dup), ErrorReason::IndexAlreadyExists);
    let q = c.query(pb::QueryRequest { account: String::new(), index: name.clone(), vector: vec![0.5; 3], top_k: 1, ..Default::default() }).await.expect_err("dims");
    assert_eq!(reason_of(&q), ErrorReason::InvalidQueryVector);
    let k = c.query(pb::QueryRequest { account: String::new(), index: name.clone(), vector: vals(1), top_k: 101, ..Default::default() }).await.expect_err("topK");
    assert_eq!(reason_of(&k), ErrorReason::TopKTooLarge);
    let by_id = c.query(pb::QueryRequest { account: String::new(), index: name.clone(), vector_id: "nope".into(), top_k: 1, ..Default::default() }).await.expect_err("by id");
    assert_eq!(reason_of(&by_id), ErrorReason::VectorNotFound);
}
