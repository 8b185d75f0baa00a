//! The Cloudflare REST API of the gateway over a real stack (embedder + index + gateway): the
//! envelope and shapes of every Vectorize v2 endpoint (spec §4), their error codes (§4.7), the
//! upload forms (raw NDJSON, multipart, JSON), Workers AI `ai/run` (§5.4), the OpenAI-compatible
//! embeddings endpoint (§5.6), and token auth. Each test works on its own indexes.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use strato_tests::TEST_MODEL;
use strato_tests::process::{Stack, scratch_dir, start_gateway};

const TOKEN: &str = "test-token";
const ACCOUNT: &str = "acc-test";
const DIM: usize = 32;
const MODEL_DIM: usize = 384;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start(&["--api-token", TOKEN]).expect("stack"))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// `http://gw/client/v4/accounts/acc-test`
fn account_base() -> String {
    format!("http://{}/client/v4/accounts/{ACCOUNT}", stack().gateway.addr)
}

/// `…/vectorize/v2/indexes{rest}`
fn vz(rest: &str) -> String {
    format!("{}/vectorize/v2/indexes{rest}", account_base())
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Sends with the test token; (status, JSON body).
async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    send_raw(req.bearer_auth(TOKEN)).await
}

/// Sends as is; (status, JSON body).
async fn send_raw(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {text:?}"));
    (status, body)
}

async fn get(url: &str) -> (u16, Value) {
    send(http().get(url)).await
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    send(http().post(url).json(body)).await
}

async fn post_raw(url: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    send(http().post(url).header("content-type", content_type).body(body)).await
}

/// The success envelope; returns `result`.
fn ok(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
    assert!(body["messages"].is_array(), "{body}");
    &body["result"]
}

/// The failure envelope with `code`; returns the message.
fn err(status: u16, body: &Value, want_status: u16, code: u64) -> String {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["result"], Value::Null, "{body}");
    assert_eq!(body["messages"], json!([]), "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    body["errors"][0]["message"].as_str().expect("message").to_owned()
}

async fn create_index(name: &str, dims: usize, metric: &str) -> Value {
    let (s, b) = post_json(&vz(""), &json!({"name": name, "description": "test", "config": {"dimensions": dims, "metric": metric}})).await;
    ok(s, &b).clone()
}

/// A unit vector along `i` (mod DIM) with a small tilt towards `i + 1`, so nearest neighbours are
/// unambiguous.
fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v[(i + 1) % DIM] = 0.25;
    v
}

fn line(id: &str, values: &[f32]) -> String {
    json!({"id": id, "values": values}).to_string()
}

fn line_with(id: &str, values: &[f32], extra: Value) -> String {
    let mut v = json!({"id": id, "values": values});
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v.to_string()
}

async fn upload(index: &str, op: &str, query: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    post_raw(&vz(&format!("/{index}/{op}{query}")), content_type, body).await
}

async fn upsert_ndjson(index: &str, lines: &[String]) {
    let (s, b) = upload(index, "upsert", "", "application/x-ndjson", lines.join("\n")).await;
    assert_mutation(ok(s, &b));
}

fn assert_mutation(result: &Value) {
    let id = result["mutationId"].as_str().unwrap_or_else(|| panic!("no mutationId: {result}"));
    assert_eq!(id.len(), 36, "{result}");
    assert_eq!(result.as_object().map(|o| o.len()), Some(1), "{result}");
}

async fn vector_count(index: &str) -> u64 {
    let (s, b) = get(&vz(&format!("/{index}/info"))).await;
    ok(s, &b)["vectorCount"].as_u64().expect("vectorCount")
}

async fn get_by_ids(index: &str, ids: &[&str]) -> Vec<Value> {
    let (s, b) = post_json(&vz(&format!("/{index}/get_by_ids")), &json!({"ids": ids})).await;
    ok(s, &b).as_array().expect("array").clone()
}

fn multipart(boundary: &str, ndjson: &str) -> Vec<u8> {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"vectors\"; filename=\"vectors.ndjson\"\r\nContent-Type: application/x-ndjson\r\n\r\n{ndjson}\r\n--{boundary}--\r\n"
    )
    .into_bytes()
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => 0,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = chunk.iter().fold(0u32, |acc, c| (acc << 6) | val(*c));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    out
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

// ------------------------------------------------------------------------------------------------
// Index lifecycle
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn index_lifecycle_and_envelope() {
    let name = unique("life");
    let created = create_index(&name, DIM, "euclidean").await;
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["description"], "test");
    assert_eq!(created["config"], json!({"dimensions": DIM, "metric": "euclidean"}));
    assert!(created["created_on"].is_string() && created["modified_on"].is_string(), "{created}");

    // The same index without the /client/v4 prefix (SDK base URL at the host root).
    let (s, b) = get(&format!("http://{}/accounts/{ACCOUNT}/vectorize/v2/indexes/{name}", stack().gateway.addr)).await;
    assert_eq!(ok(s, &b)["config"]["metric"], "euclidean");

    let (s, b) = get(&vz("")).await;
    assert!(ok(s, &b).as_array().expect("list").iter().any(|i| i["name"] == name.as_str()), "{b}");

    let (s, b) = get(&vz(&format!("/{name}/info"))).await;
    let info = ok(s, &b);
    assert_eq!(info["dimensions"], DIM);
    assert_eq!(info["vectorCount"], 0);
    assert_eq!(info["processedUpToMutation"], Value::Null, "{info}");
    assert_eq!(info["processedUpToDatetime"], Value::Null, "{info}");

    // 3002 duplicate name.
    let (s, b) = post_json(&vz(""), &json!({"name": name, "config": {"dimensions": DIM, "metric": "cosine"}})).await;
    assert!(err(s, &b, 400, 3002).starts_with("vectorize.index.duplicate_name"));

    // Delete: result null; then 3000.
    let (s, b) = send(http().delete(vz(&format!("/{name}")))).await;
    assert_eq!(*ok(s, &b), Value::Null);
    let (s, b) = get(&vz(&format!("/{name}"))).await;
    let m = err(s, &b, 404, 3000);
    assert_eq!(m, format!("vectorize.index.not_found - Index name \"{name}\""));
    let (s, b) = get(&vz(&format!("/{name}/info"))).await;
    err(s, &b, 404, 3000);

    // Metric names round-trip.
    let dot = unique("dot");
    assert_eq!(create_index(&dot, DIM, "dot-product").await["config"]["metric"], "dot-product");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_index_configs() {
    let preset = unique("preset");
    let (s, b) = post_json(&vz(""), &json!({"name": preset, "config": {"preset": "@cf/baai/bge-small-en-v1.5"}})).await;
    assert_eq!(ok(s, &b)["config"], json!({"dimensions": 384, "metric": "cosine"}));

    let name = unique("badcfg");
    for body in [
        json!({"name": name}),
        json!({"name": name, "dimensions": DIM, "metric": "cosine"}),
        json!({"name": name, "config": {"dimensions": DIM}}),
    ] {
        let (s, b) = post_json(&vz(""), &body).await;
        assert_eq!(err(s, &b, 400, 3001), "vectorize.index.invalid_config - Config must be provided", "{body}");
    }
    let (s, b) = post_json(&vz(""), &json!({"name": name, "config": {"dimensions": DIM, "metric": "manhattan"}})).await;
    assert!(err(s, &b, 400, 3001).starts_with("vectorize.index.invalid_config"));
    let (s, b) = post_json(&vz(""), &json!({"name": name, "config": {"dimensions": 8, "metric": "cosine"}})).await;
    assert_eq!(err(s, &b, 400, 3001), "vectorize.index.invalid_config - Dimensions must be in range: [32, 1536]");
    let (s, b) = post_json(&vz(""), &json!({"name": "Upper", "config": {"dimensions": DIM, "metric": "cosine"}})).await;
    assert!(err(s, &b, 400, 3001).starts_with("vectorize.index.invalid_name"));
    // Not JSON / not JSON content type.
    let (s, b) = post_raw(&vz(""), "application/json", "{\"name\":").await;
    assert!(err(s, &b, 400, 40026).starts_with("Failed to parse the request body as JSON: "));
    let (s, b) = post_raw(&vz(""), "text/plain", json!({"name": name}).to_string()).await;
    assert_eq!(err(s, &b, 400, 40026), "Expected request with Content-Type: application/json");
}

// ------------------------------------------------------------------------------------------------
// insert / upsert
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn upload_forms() {
    let name = unique("uploads");
    create_index(&name, DIM, "cosine").await;

    // Raw NDJSON with \r\n, a blank line and a trailing newline.
    let mut v0 = axis(0);
    v0[0] = 0.1;
    let body = format!("{}\r\n\r\n{}\n", line_with("a", &v0, json!({"namespace": "ns", "metadata": {"n": 1, "s": "x"}})), line("b", &axis(1)));
    let (s, b) = upload(&name, "insert", "", "application/x-ndjson", body).await;
    assert_mutation(ok(s, &b));
    assert_eq!(vector_count(&name).await, 2);

    // get_by_ids: values widened from float32, metadata and namespace back, missing ids absent.
    let got = get_by_ids(&name, &["a", "missing"]).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["values"][0].as_f64(), Some(f64::from(0.1f32)));
    assert_eq!(got[0]["metadata"], json!({"n": 1, "s": "x"}));
    assert_eq!(got[0]["namespace"], "ns");
    let got = get_by_ids(&name, &["b"]).await;
    assert!(got[0].get("namespace").is_none() && got[0].get("metadata").is_none(), "absent, not null: {}", got[0]);

    // Multipart (wrangler).
    let boundary = "----strato-boundary-7d";
    let (s, b) = upload(&name, "upsert", "", &format!("multipart/form-data; boundary={boundary}"), multipart(boundary, &line("c", &axis(2)))).await;
    assert_mutation(ok(s, &b));

    // JSON string holding NDJSON (Python SDK) and {"vectors": [...]}.
    let ndjson = [line("d", &axis(3)), line("e", &axis(4))].join("\n");
    let (s, b) = upload(&name, "upsert", "", "application/json", Value::String(ndjson).to_string()).await;
    assert_mutation(ok(s, &b));
    let (s, b) = post_json(&vz(&format!("/{name}/upsert")), &json!({"vectors": [{"id": "f", "values": axis(5)}]})).await;
    assert_mutation(ok(s, &b));
    assert_eq!(vector_count(&name).await, 6);

    // insert keeps the first write; upsert replaces.
    let (s, b) = upload(&name, "insert", "", "application/x-ndjson", line("b", &axis(9))).await;
    assert_mutation(ok(s, &b));
    assert_eq!(floats(&get_by_ids(&name, &["b"]).await[0]["values"]), axis(1));
    upsert_ndjson(&name, &[line("b", &axis(9))]).await;
    assert_eq!(floats(&get_by_ids(&name, &["b"]).await[0]["values"]), axis(9));

    // Unknown content type.
    let (s, b) = upload(&name, "upsert", "", "text/plain", line("g", &axis(6))).await;
    assert!(err(s, &b, 400, 40026).starts_with("vectorize.unknown_content_type"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_errors() {
    let name = unique("uperr");
    create_index(&name, DIM, "cosine").await;
    let body = [line("a", &axis(0)), "{not json".to_owned(), line("b", &axis(1))].join("\n");

    // 40023 with the 0-based line, nothing written.
    for query in ["", "?unparsable-behavior=error"] {
        let (s, b) = upload(&name, "upsert", query, "application/x-ndjson", body.clone()).await;
        assert_eq!(
            err(s, &b, 400, 40023),
            "vectorize.upstream_error - failed to parse upsert vectors request in ndjson format: line Some(1) was not expected format"
        );
    }
    assert_eq!(vector_count(&name).await, 0);
    // discard: the bad line is dropped, the rest written.
    let (s, b) = upload(&name, "upsert", "?unparsable-behavior=discard", "application/x-ndjson", body).await;
    assert_mutation(ok(s, &b));
    assert_eq!(vector_count(&name).await, 2);

    // 40008 id too long, 40012 wrong dimensions, 3000 unknown index.
    let long = "x".repeat(70);
    let (s, b) = upload(&name, "insert", "", "application/x-ndjson", line(&long, &axis(0))).await;
    assert_eq!(err(s, &b, 400, 40008), "id too long; max is 64 bytes, got 70 bytes");
    let (s, b) = upload(&name, "insert", "", "application/x-ndjson", line("short", &[0.5; 16])).await;
    assert_eq!(err(s, &b, 400, 40012), "invalid vector for id=\"short\", expected 32 dimensions, and got 16 dimensions");
    let (s, b) = upload("no-such-index", "upsert", "", "application/x-ndjson", line("a", &axis(0))).await;
    err(s, &b, 404, 3000);
}

// ------------------------------------------------------------------------------------------------
// query
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn query_shapes() {
    let name = unique("query");
    create_index(&name, DIM, "cosine").await;
    let (s, b) = post_json(&vz(&format!("/{name}/metadata_index/create")), &json!({"propertyName": "genre", "indexType": "string"})).await;
    assert_mutation(ok(s, &b));
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let genre = if i % 2 == 0 { "rock" } else { "jazz" };
            let mut extra = json!({"metadata": {"genre": genre, "year": 2000 + i}});
            if i < 3 {
                extra["namespace"] = json!("ns1");
            }
            line_with(&format!("v{i}"), &axis(i), extra)
        })
        .collect();
    upsert_ndjson(&name, &lines).await;
    let url = vz(&format!("/{name}/query"));

    // Defaults: topK 5, id + score only.
    let (s, b) = post_json(&url, &json!({"vector": axis(4)})).await;
    let r = ok(s, &b);
    assert_eq!(r["count"], 5);
    assert_eq!(r["matches"][0]["id"], "v4");
    let first = r["matches"][0].as_object().expect("match");
    assert_eq!(first.keys().map(String::as_str).collect::<Vec<_>>(), ["id", "score"], "{r}");
    assert!(r["matches"][0]["score"].as_f64().expect("score") > 0.99);

    // Values (float32 widened) and all metadata.
    let (s, b) = post_json(&url, &json!({"vector": axis(4), "topK": 2, "returnValues": true, "returnMetadata": "all"})).await;
    let m = &ok(s, &b)["matches"][0];
    assert_eq!(floats(&m["values"]), axis(4));
    assert_eq!(m["metadata"], json!({"genre": "rock", "year": 2004}));

    // Indexed metadata only has the indexed property.
    let (s, b) = post_json(&url, &json!({"vector": axis(4), "topK": 1, "returnMetadata": "indexed"})).await;
    assert_eq!(ok(s, &b)["matches"][0]["metadata"], json!({"genre": "rock"}));

    // Namespace restricts, and comes back on the match.
    let (s, b) = post_json(&url, &json!({"vector": axis(8), "namespace": "ns1"})).await;
    let r = ok(s, &b);
    assert_eq!(r["count"], 3, "{r}");
    assert!(r["matches"].as_array().expect("matches").iter().all(|m| m["namespace"] == "ns1"), "{r}");

    // Filter on an indexed property.
    let (s, b) = post_json(&url, &json!({"vector": axis(4), "topK": 10, "filter": {"genre": "jazz"}, "returnMetadata": "all"})).await;
    let r = ok(s, &b);
    assert_eq!(r["count"], 5, "{r}");
    assert!(r["matches"].as_array().expect("matches").iter().all(|m| m["metadata"]["genre"] == "jazz"), "{r}");
    assert_eq!(b["messages"], json!([]));

    // A filter on a property without a metadata index: a warning in `messages`.
    let (s, b) = post_json(&url, &json!({"vector": axis(4), "filter": {"year": {"$gte": 2005}}})).await;
    ok(s, &b);
    assert_eq!(b["messages"][0]["code"], 1000, "{b}");
    assert!(b["messages"][0]["message"].as_str().is_some_and(|m| m.contains("year")), "{b}");

    // Query by id.
    let (s, b) = post_json(&url, &json!({"vectorId": "v7", "topK": 1})).await;
    assert_eq!(ok(s, &b)["matches"][0]["id"], "v7");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_errors() {
    let name = unique("qerr");
    create_index(&name, DIM, "cosine").await;
    upsert_ndjson(&name, &[line("a", &axis(0))]).await;
    let url = vz(&format!("/{name}/query"));

    let (s, b) = post_json(&url, &json!({"vector": vec![0.5; 16]})).await;
    assert_eq!(err(s, &b, 400, 40006), "invalid query vector, expected 32 dimensions, and got 16 dimensions");
    let (s, b) = post_json(&url, &json!({"topK": 3})).await;
    assert_eq!(err(s, &b, 400, 40006), "invalid query vector, expected 32 dimensions, and got 0 dimensions");

    let (s, b) = post_json(&url, &json!({"vector": axis(0), "topK": 51, "returnValues": true})).await;
    assert_eq!(err(s, &b, 400, 40025), "with returnValues=true or returnMetadata=all, max top K is 50, but got 51");
    let (s, b) = post_json(&url, &json!({"vector": axis(0), "topK": 51, "returnMetadata": "all"})).await;
    err(s, &b, 400, 40025);
    let (s, b) = post_json(&url, &json!({"vector": axis(0), "topK": 100, "returnMetadata": "indexed"})).await;
    ok(s, &b);

    // 40026: bad JSON, wrong content type, boolean returnMetadata, wrong field type.
    let (s, b) = post_raw(&url, "application/json", "{\"vector\": [").await;
    assert!(err(s, &b, 400, 40026).starts_with("Failed to parse the request body as JSON: "));
    let (s, b) = post_raw(&url, "application/x-www-form-urlencoded", json!({"vector": axis(0)}).to_string()).await;
    assert_eq!(err(s, &b, 400, 40026), "Expected request with Content-Type: application/json");
    let (s, b) = post_json(&url, &json!({"vector": axis(0), "returnMetadata": true})).await;
    let m = err(s, &b, 400, 40026);
    assert!(m.starts_with("Failed to parse the request body as JSON: returnMetadata: expected value at line 1 column "), "{m}");
    let (s, b) = post_json(&url, &json!({"vector": axis(0), "topK": "five"})).await;
    assert!(err(s, &b, 400, 40026).contains("topK"));

    // Unknown index.
    let (s, b) = post_json(&vz("/no-such-index/query"), &json!({"vector": axis(0)})).await;
    err(s, &b, 404, 3000);
}

// ------------------------------------------------------------------------------------------------
// list / delete vectors, metadata indexes
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn list_and_delete_vectors() {
    let name = unique("list");
    create_index(&name, DIM, "cosine").await;
    let lines: Vec<String> = (0..25).map(|i| line(&format!("id{i:02}"), &axis(i))).collect();
    upsert_ndjson(&name, &lines).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => vz(&format!("/{name}/list?count=10&cursor={c}")),
            None => vz(&format!("/{name}/list?count=10")),
        };
        let (s, b) = get(&url).await;
        let r = ok(s, &b).clone();
        pages += 1;
        assert_eq!(r["totalCount"], 25, "{r}");
        let ids: Vec<String> = r["vectors"].as_array().expect("vectors").iter().map(|v| v["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(r["count"], ids.len(), "{r}");
        seen.extend(ids);
        if r["isTruncated"] == true {
            assert_eq!(r["count"], 10);
            cursor = Some(r["nextCursor"].as_str().expect("nextCursor on a truncated page").to_owned());
        } else {
            assert_eq!(r["nextCursor"], Value::Null, "{r}");
            assert_eq!(r["cursorExpirationTimestamp"], Value::Null, "{r}");
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..25).map(|i| format!("id{i:02}")).collect();
    assert_eq!(seen, want);

    for bad in ["0", "1001", "many"] {
        let (s, b) = get(&vz(&format!("/{name}/list?count={bad}"))).await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert_eq!(b["success"], false);
    }

    let (s, b) = post_json(&vz(&format!("/{name}/delete_by_ids")), &json!({"ids": ["id00", "id01"]})).await;
    assert_mutation(ok(s, &b));
    assert_eq!(vector_count(&name).await, 23);
    assert!(get_by_ids(&name, &["id00", "id01"]).await.is_empty());
    let (s, b) = get(&vz(&format!("/{name}/list"))).await;
    assert_eq!(ok(s, &b)["totalCount"], 23);
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_indexes() {
    let name = unique("meta");
    create_index(&name, DIM, "cosine").await;
    let base = vz(&format!("/{name}/metadata_index"));
    let (s, b) = post_json(&format!("{base}/create"), &json!({"propertyName": "url", "indexType": "String"})).await;
    assert_mutation(ok(s, &b));
    let (s, b) = post_json(&format!("{base}/create"), &json!({"propertyName": "year", "indexType": "number"})).await;
    assert_mutation(ok(s, &b));
    // Creating an existing one again is fine (spec §2.6).
    let (s, b) = post_json(&format!("{base}/create"), &json!({"propertyName": "url", "indexType": "string"})).await;
    assert_mutation(ok(s, &b));

    let (s, b) = get(&format!("{base}/list")).await;
    let mut list = ok(s, &b)["metadataIndexes"].as_array().expect("metadataIndexes").clone();
    list.sort_by_key(|m| m["propertyName"].as_str().unwrap_or_default().to_owned());
    assert_eq!(Value::Array(list), json!([{"propertyName": "url", "indexType": "string"}, {"propertyName": "year", "indexType": "number"}]));

    let (s, b) = post_json(&format!("{base}/delete"), &json!({"propertyName": "year"})).await;
    assert_mutation(ok(s, &b));
    let (s, b) = post_json(&format!("{base}/delete"), &json!({"propertyName": "year"})).await;
    err(s, &b, 404, 40005);

    let (s, b) = post_json(&format!("{base}/create"), &json!({"propertyName": "x", "indexType": "date"})).await;
    assert!(err(s, &b, 400, 40026).contains("indexType"));
    let (s, b) = post_json(&format!("{base}/create"), &json!({"indexType": "string"})).await;
    assert!(err(s, &b, 400, 40026).contains("propertyName"));
}

// ------------------------------------------------------------------------------------------------
// Auth and unknown routes
// ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn auth_and_unknown_routes() {
    let s = stack();
    let (st, b) = send_raw(http().get(vz(""))).await;
    assert_eq!(err(st, &b, 401, 10000), "Authentication error");
    let (st, b) = send_raw(http().get(vz("")).bearer_auth("wrong")).await;
    assert_eq!(err(st, &b, 403, 10000), "Authentication error");
    let (st, b) = send_raw(http().get(vz("")).header("X-Auth-Key", TOKEN).header("X-Auth-Email", "a@b.c")).await;
    ok(st, &b);

    // OpenAI routes answer auth errors in OpenAI's shape.
    let (st, b) = send_raw(http().post(format!("http://{}/v1/embeddings", s.gateway.addr)).json(&json!({"model": TEST_MODEL, "input": "a"}))).await;
    assert_eq!(st, 401);
    assert!(b["error"]["message"].is_string(), "{b}");

    // With tokens configured, the tutorial's routes and status need one too (issue 13).
    let r = http().get(format!("http://{}/__strato/status", s.gateway.addr)).send().await.expect("status");
    assert_eq!(r.status(), 401);

    // Unknown API path: a 404 envelope, not the tutorial's query.
    let (st, b) = get(&format!("{}/no/such/thing", account_base())).await;
    err(st, &b, 404, 7000);

    // Tokens limited to accounts, from a file.
    let dir = scratch_dir("tokens");
    let file = dir.join("tokens");
    std::fs::write(&file, "# test tokens\nlimited accounts=acc-a,acc-c\n").expect("tokens file");
    let gw = start_gateway(&s.embedder.url(), &s.index.url(), &["--api-tokens-file", file.to_str().expect("path")]).expect("gateway");
    let list = |account: &str| format!("http://{}/client/v4/accounts/{account}/vectorize/v2/indexes", gw.addr);
    let (st, b) = send_raw(http().get(list("acc-a")).bearer_auth("limited")).await;
    ok(st, &b);
    let (st, b) = send_raw(http().get(list("acc-b")).bearer_auth("limited")).await;
    err(st, &b, 403, 10000);
    let (st, b) = send_raw(http().get(list("acc-a")).bearer_auth(TOKEN)).await;
    err(st, &b, 403, 10000);
}

// ------------------------------------------------------------------------------------------------
// Workers AI and OpenAI embeddings
// ------------------------------------------------------------------------------------------------

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_ai_run() {
    let run = format!("{}/ai/run/{TEST_MODEL}", account_base());
    let (s, b) = post_json(&run, &json!({"text": "This is a story about an orange cloud"})).await;
    let r = ok(s, &b);
    assert_eq!(r["shape"], json!([1, MODEL_DIM]));
    assert_eq!(r["pooling"], "mean");
    let mean = floats(&r["data"][0]);
    assert_eq!(mean.len(), MODEL_DIM);
    assert!((norm(&mean) - 1.0).abs() < 1e-3);

    let (s, b) = post_json(&run, &json!({"text": ["a", "b", "c"]})).await;
    let r = ok(s, &b);
    assert_eq!(r["shape"], json!([3, MODEL_DIM]));
    assert_eq!(r["data"].as_array().map(Vec::len), Some(3));

    let (s, b) = post_json(&run, &json!({"text": "This is a story about an orange cloud", "pooling": "cls"})).await;
    let r = ok(s, &b);
    assert_eq!(r["pooling"], "cls");
    assert_ne!(floats(&r["data"][0]), mean, "cls and mean pooling differ");

    // Same route without /client/v4.
    let (s, b) = post_json(&format!("http://{}/accounts/{ACCOUNT}/ai/run/{TEST_MODEL}", stack().gateway.addr), &json!({"text": "x"})).await;
    assert_eq!(ok(s, &b)["shape"], json!([1, MODEL_DIM]));

    for bad in [json!({"text": ""}), json!({"text": []}), json!({"text": ["a", ""]}), json!({"text": 5}), json!({"requests": [{"text": "a"}]})] {
        let (s, b) = post_json(&run, &bad).await;
        assert!(err(s, &b, 400, 5006).starts_with("AiError: Bad input: "), "{bad}");
    }
    let (s, b) = post_json(&run, &json!({"text": vec!["t"; 101]})).await;
    err(s, &b, 400, 5006);

    for model in ["@cf/nope/no-such-model", "@cf/baai/bge-base-en-v1.5"] {
        let (s, b) = post_json(&format!("{}/ai/run/{model}", account_base()), &json!({"text": "a"})).await;
        assert!(err(s, &b, 400, 5007).starts_with(&format!("No such model {model}")), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_embeddings() {
    let url = format!("http://{}/v1/embeddings", stack().gateway.addr);
    let (s, b) = post_json(&url, &json!({"model": TEST_MODEL, "input": "I love matcha"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["object"], "list");
    assert_eq!(b["model"], TEST_MODEL);
    assert_eq!(b["data"][0]["object"], "embedding");
    assert_eq!(b["data"][0]["index"], 0);
    let float = floats(&b["data"][0]["embedding"]);
    assert_eq!(float.len(), MODEL_DIM);
    let tokens = b["usage"]["prompt_tokens"].as_u64().expect("prompt_tokens");
    assert!(tokens > 0);
    assert_eq!(b["usage"]["total_tokens"], tokens);

    // base64: little-endian float32, equal to the float form.
    let (s, b) = post_json(&url, &json!({"model": TEST_MODEL, "input": ["I love matcha"], "encoding_format": "base64"})).await;
    assert_eq!(s, 200, "{b}");
    let bytes = b64decode(b["data"][0]["embedding"].as_str().expect("base64 string"));
    let decoded: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(decoded.len(), MODEL_DIM);
    assert!(decoded.iter().zip(&float).all(|(a, b)| (a - b).abs() < 1e-5), "base64 decodes to the float embedding");

    // Under the account prefix, more than 100 inputs (chunked), dimensions equal to the model's.
    let many: Vec<String> = (0..150).map(|i| format!("text number {i}")).collect();
    let (s, b) = post_json(&format!("{}/ai/v1/embeddings", account_base()), &json!({"model": TEST_MODEL, "input": many, "dimensions": MODEL_DIM})).await;
    assert_eq!(s, 200, "{b}");
    let data = b["data"].as_array().expect("data");
    assert_eq!(data.len(), 150);
    assert!(data.iter().enumerate().all(|(i, d)| d["index"] == i), "indices in order");

    // OpenAI-shaped errors.
    let (s, b) = post_json(&url, &json!({"model": "@cf/nope/no-such-model", "input": "a"})).await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["error"]["type"], "invalid_request_error");
    assert!(b["error"]["message"].as_str().is_some_and(|m| m.contains("@cf/nope/no-such-model")), "{b}");
    assert_eq!(b["error"]["param"], Value::Null);
    for bad in [json!({"input": "a"}), json!({"model": TEST_MODEL, "input": [1, 2]}), json!({"model": TEST_MODEL, "input": "a", "dimensions": 100})] {
        let (s, b) = post_json(&url, &bad).await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(b["error"]["message"].is_string(), "{b}");
    }
}

/// Metadata reads back exactly as written — random doubles bit for bit, integers up to 2^53,
/// unicode keys, nesting — through JSON → gRPC Struct → storage → JSON, as in a Worker. (JSON
/// floats used to be parsed without correct rounding: about one double in six changed.)
#[tokio::test(flavor = "multi_thread")]
async fn metadata_round_trips_bit_for_bit() {
    use strato_tests::json::{assert_bits_equal, tricky_metadata};
    let name = unique("roundtrip");
    create_index(&name, DIM, "cosine").await;
    let lines: Vec<String> = (0..20).map(|i| line_with(&format!("m{i}"), &axis(i), json!({"metadata": tricky_metadata(i as u64)}))).collect();
    upsert_ndjson(&name, &lines).await;
    let ids: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    let got = get_by_ids(&name, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(got.len(), 20);
    for v in &got {
        let i: u64 = v["id"].as_str().and_then(|s| s[1..].parse().ok()).expect("id");
        assert_bits_equal(&v["metadata"], &tricky_metadata(i), &format!("getByIds m{i}"));
    }
    // And through a query's returnMetadata=all.
    let (s, b) = post_json(&vz(&format!("/{name}/query")), &json!({"vector": axis(3), "topK": 1, "returnMetadata": "all"})).await;
    let m = &ok(s, &b)["matches"][0];
    assert_eq!(m["id"], "m3", "{b}");
    assert_bits_equal(&m["metadata"], &tricky_metadata(3), "query m3");
}

/// Metadata or a filter nested 40 levels deep is a 400 (code 40003) in the envelope, never a
/// 500 with the protobuf decoder's internals; metadata takes one nested object level, as
/// Vectorize does (spec §2.5), and no more.
#[tokio::test(flavor = "multi_thread")]
async fn deep_json_is_a_clear_400() {
    let name = unique("deep");
    create_index(&name, DIM, "cosine").await;
    let nest = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!({ "k": inner }));
    let (s, b) = upload(&name, "upsert", "", "application/x-ndjson", line_with("deep", &axis(0), json!({"metadata": nest(40)}))).await;
    let msg = err(s, &b, 400, 40003);
    assert!(msg.contains("nests 40 levels"), "{msg}");
    let (s, b) = upload(&name, "upsert", "", "application/x-ndjson", line_with("ok", &axis(0), json!({"metadata": nest(2)}))).await;
    assert_mutation(ok(s, &b));
    let (s, b) = upload(&name, "upsert", "", "application/x-ndjson", line_with("deeper", &axis(0), json!({"metadata": nest(3)}))).await;
    assert!(err(s, &b, 400, 40003).contains("nests 3 levels"), "{b}");
    let (s, b) = post_json(&vz(&format!("/{name}/query")), &json!({"vector": axis(0), "filter": {"k": nest(40)}})).await;
    err(s, &b, 400, 40003);
    assert_eq!(vector_count(&name).await, 1, "the rejected batch wrote nothing");
}

// ---- HTTP edge (issue 13) ----

/// A gateway with `extra` flags in front of the shared stack's services.
fn edge_gateway(extra: &[&str]) -> strato_tests::process::Service {
    start_gateway(&stack().embedder.url(), &stack().index.url(), extra).expect("gateway")
}

/// A tokens file: `admin` (every account) and `limited` (acc-edge-a only).
fn edge_tokens_file() -> String {
    let file = scratch_dir("edge-tokens").join("tokens");
    std::fs::write(&file, "admin\nlimited accounts=acc-edge-a\n").expect("tokens file");
    file.to_str().expect("path").to_owned()
}

/// (status, JSON body or null) of any request; headers as given.
async fn edge_send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.expect("body")).unwrap_or(Value::Null))
}

/// The hole of issue 13: an empty account segment (`accounts//…`) reached the binding's account
/// (""), so a token limited to another account listed and deleted the binding's index. Empty,
/// missing and percent-encoded account ids are now 400 code 7003 for everyone.
#[tokio::test(flavor = "multi_thread")]
async fn edge_empty_or_encoded_account_is_400_and_the_binding_index_survives() {
    let binding = unique("edge-binding");
    let tokens = edge_tokens_file();
    let gw = edge_gateway(&["--api-tokens-file", &tokens, "--create-index", "--binding-index", &binding]);
    let base = format!("http://{}", gw.addr);
    for (method, path) in [
        (reqwest::Method::GET, "/client/v4/accounts//vectorize/v2/indexes".to_owned()),
        (reqwest::Method::GET, "/accounts//vectorize/v2/indexes".to_owned()),
        (reqwest::Method::GET, format!("/client/v4/accounts//vectorize/v2/indexes/{binding}")),
        (reqwest::Method::DELETE, format!("/client/v4/accounts//vectorize/v2/indexes/{binding}")),
        (reqwest::Method::DELETE, format!("/accounts//vectorize/v2/indexes/{binding}")),
        (reqwest::Method::GET, "/client/v4/accounts/%61cc-edge-a/vectorize/v2/indexes".to_owned()),
        (reqwest::Method::GET, "/accounts/acc.edge/vectorize/v2/indexes".to_owned()),
    ] {
        for token in ["limited", "admin"] {
            let (s, b) = edge_send(http().request(method.clone(), format!("{base}{path}")).bearer_auth(token)).await;
            let m = err(s, &b, 400, 7003);
            assert!(m.contains("perhaps your object identifier is invalid"), "{method} {path}: {m}");
        }
    }
    // The binding's index is still there: the admin's tutorial query reaches it; the limited
    // token may not use the tutorial, which acts on the binding's account.
    let (s, b) = edge_send(http().get(format!("{base}/")).bearer_auth("admin")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["matches"]["count"], 0, "{b}");
    let (s, b) = edge_send(http().get(format!("{base}/")).bearer_auth("limited")).await;
    assert_eq!((s, &b["error"]), (403, &json!("Authentication error")), "{b}");
}

/// A token limited to acc-edge-a reaches no other account (acc-edge-b, or the binding's "" by an
/// empty segment) by any route, prefix, encoding, double or trailing slash, method or auth
/// header; acc-edge-b's index is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn edge_limited_token_never_reaches_another_account() {
    let tokens = edge_tokens_file();
    let gw = edge_gateway(&["--api-tokens-file", &tokens]);
    let base = format!("http://{}", gw.addr);
    let name = unique("edge-other");
    let create = http().post(format!("{base}/client/v4/accounts/acc-edge-b/vectorize/v2/indexes")).bearer_auth("admin");
    let (s, b) = edge_send(create.json(&json!({"name": name, "config": {"dimensions": DIM, "metric": "cosine"}}))).await;
    ok(s, &b);
    let mut paths = Vec::new();
    // acc-edge-b as written and percent-encoded, and the empty account (the binding's, "").
    for prefix in ["/client/v4/accounts/acc-edge-b", "/accounts/acc-edge-b", "/client/v4/accounts/acc%2Dedge-b", "/accounts/%61cc-edge-b", "/client/v4/accounts/", "/accounts/"] {
        for rest in ["/vectorize/v2/indexes", "/vectorize/v2/indexes/", "/vectorize/v2//indexes"] {
            paths.push(format!("{prefix}{rest}"));
        }
        for rest in ["", "/", "/info", "/list", "/query", "/upsert", "/get_by_ids", "/delete_by_ids", "/metadata_index/list"] {
            paths.push(format!("{prefix}/vectorize/v2/indexes/{name}{rest}"));
        }
        paths.push(format!("{prefix}/ai/run/{TEST_MODEL}"));
    }
    for path in &paths {
        for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::DELETE, reqwest::Method::PUT] {
            for header in ["authorization", "x-auth-key"] {
                let value = if header == "authorization" { "Bearer limited" } else { "limited" };
                let req = http().request(method.clone(), format!("{base}{path}")).header(header, value).header("content-type", "application/json");
                let (s, b) = edge_send(req.body(json!({"vector": axis(0), "ids": ["a"]}).to_string())).await;
                assert!([400, 403, 405].contains(&s), "{method} {path} ({header}): {s} {b}");
            }
        }
    }
    let (s, b) = edge_send(http().get(format!("{base}/client/v4/accounts/acc-edge-b/vectorize/v2/indexes/{name}")).bearer_auth("admin")).await;
    assert_eq!(ok(s, &b)["name"], name.as_str(), "acc-edge-b's index is untouched");
    let (s, b) = edge_send(http().get(format!("{base}/accounts/acc-edge-a/vectorize/v2/indexes")).bearer_auth("limited")).await;
    ok(s, &b);
}

/// With tokens configured the tutorial's routes and status need one; `--public-tutorial` opens
/// them (said in the log), and status then hides the internals from callers without a token.
#[tokio::test(flavor = "multi_thread")]
async fn edge_tutorial_and_status_need_a_token_unless_public() {
    let base = stack().base();
    for path in ["/", "/insert", "/some/page", "/favicon.ico", "/__strato/status"] {
        let (s, b) = edge_send(http().get(format!("{base}{path}"))).await;
        assert_eq!((s, &b["error"]), (401, &json!("Authentication error")), "{path}: {b}");
    }
    let (s, b) = edge_send(http().get(format!("{base}/__strato/status")).bearer_auth(TOKEN)).await;
    assert_eq!(s, 200);
    assert_eq!(b["index"], json!([stack().index.url()]), "a valid token sees the internals: {b}");

    let gw = edge_gateway(&["--api-token", TOKEN, "--public-tutorial"]);
    let public = format!("http://{}", gw.addr);
    let (s, b) = edge_send(http().get(format!("{public}/__strato/status"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["ai"]["serving"], TEST_MODEL, "{b}");
    for hidden in ["index", "embedder", "vectorize"] {
        assert!(b.get(hidden).is_none(), "{hidden} shown without a token: {b}");
    }
    assert!(b["ai"].get("reason").is_none(), "the fallback's reason names files: {b}");
    let (s, b) = edge_send(http().get(format!("{public}/__strato/status")).bearer_auth(TOKEN)).await;
    assert_eq!((s, &b["index"]), (200, &json!([stack().index.url()])), "{b}");
    let r = http().get(format!("{public}/favicon.ico")).send().await.expect("favicon");
    assert_eq!(r.status(), 404, "the tutorial is open");
    let (s, b) = edge_send(http().get(format!("{public}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes"))).await;
    err(s, &b, 401, 10000);
    assert!(gw.logs().contains("--public-tutorial"), "said at start:\n{}", gw.logs());
}

/// The open mode (no token, loopback): a page on another name (DNS rebinding) gets nothing, and
/// no cross-site request — `<img src=…/insert>`, an auto-submitted form — writes anything, while
/// curl and scripts keep working.
#[tokio::test(flavor = "multi_thread")]
async fn edge_open_mode_is_no_csrf_or_rebinding_hole() {
    let binding = unique("edge-open");
    let gw = edge_gateway(&["--create-index", "--binding-index", &binding]);
    let base = format!("http://{}", gw.addr);
    let port = gw.addr.rsplit(':').next().expect("port").to_owned();
    let stories = || async { edge_send(http().get(format!("{base}/?topK=10"))).await.1["matches"]["count"].as_u64() };

    let rebound = format!("rebind.evil.test:{port}");
    let (s, b) = edge_send(http().get(format!("{base}/client/v4/accounts/acc-open/vectorize/v2/indexes")).header("host", &rebound)).await;
    assert!(err(s, &b, 403, 10000).contains("not a loopback name"), "{b}");
    let (s, b) = edge_send(http().get(format!("{base}/")).header("host", &rebound)).await;
    assert_eq!(s, 403, "{b}");
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("app.localhost:{port}")] {
        assert_eq!(http().get(format!("{base}/favicon.ico")).header("host", host.as_str()).send().await.expect("favicon").status(), 404, "{host}");
    }

    // <img src=http://localhost:…/insert> from another site: refused, nothing written.
    for (h, v) in [("sec-fetch-site", "cross-site".to_owned()), ("origin", "http://evil.test".to_owned()), ("referer", "http://evil.test/page".to_owned())] {
        let (s, b) = edge_send(http().get(format!("{base}/insert")).header(h, v)).await;
        assert_eq!(s, 403, "{h}: {b}");
    }
    assert_eq!(stories().await, Some(0), "no story written");
    // curl, and the URL typed into the browser, write them.
    assert_eq!(http().get(format!("{base}/insert")).send().await.expect("curl").status(), 200);
    assert_eq!(http().get(format!("{base}/insert")).header("sec-fetch-site", "none").send().await.expect("typed").status(), 200);
    assert_eq!(stories().await, Some(3));

    // An auto-submitted multipart form, or a text/plain POST: refused; a script's upload is not.
    let open_vz = format!("{base}/client/v4/accounts/acc-open/vectorize/v2/indexes");
    let name = unique("edge-open-ix");
    let (s, b) = edge_send(http().post(&open_vz).json(&json!({"name": name, "config": {"dimensions": DIM, "metric": "cosine"}}))).await;
    ok(s, &b);
    let upsert = format!("{open_vz}/{name}/upsert");
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let form = http().post(&upsert).header("content-type", format!("multipart/form-data; boundary={boundary}")).body(multipart(boundary, &line("a", &axis(0))));
    let (s, b) = edge_send(form).await;
    assert!(err(s, &b, 403, 10000).contains("Content-Type"), "{b}");
    let (s, b) = edge_send(http().post(&upsert).header("content-type", "text/plain").body(line("a", &axis(0)))).await;
    err(s, &b, 403, 10000);
    let (s, b) = edge_send(http().delete(format!("{open_vz}/{name}"))).await;
    err(s, &b, 403, 10000);
    let (s, b) = edge_send(http().get(format!("{open_vz}/{name}/info"))).await;
    assert_eq!(ok(s, &b)["vectorCount"], 0, "nothing written");
    let (s, b) = edge_send(http().post(&upsert).header("content-type", "application/x-ndjson").body(line("a", &axis(0)))).await;
    assert_mutation(ok(s, &b));
    let form = http().post(&upsert).bearer_auth("any").header("content-type", format!("multipart/form-data; boundary={boundary}"));
    let (s, b) = edge_send(form.body(multipart(boundary, &line("b", &axis(1))))).await;
    assert_mutation(ok(s, &b));
}

/// RFC 2046: a boundary is at most 70 characters. Longer ones (the 20 kB boundary that made the
/// old parser quadratic) are a 400 before any parsing.
#[tokio::test(flavor = "multi_thread")]
async fn edge_multipart_boundary_over_70_characters_is_400() {
    let name = unique("edge-boundary");
    create_index(&name, DIM, "cosine").await;
    let ok70 = "b".repeat(70);
    let (s, b) = upload(&name, "upsert", "", &format!("multipart/form-data; boundary={ok70}"), multipart(&ok70, &line("a", &axis(0)))).await;
    assert_mutation(ok(s, &b));
    for len in [71, 20_000] {
        let long = "-".repeat(len);
        let mut body = multipart(&long, &line("b", &axis(1)));
        if len > 71 {
            body.resize(4 * 1024 * 1024, b'\n');
        }
        let (s, b) = upload(&name, "upsert", "", &format!("multipart/form-data; boundary=\"{long}\""), body).await;
        let m = err(s, &b, 400, 40023);
        assert!(m.contains("RFC 2046"), "{m}");
    }
    assert_eq!(vector_count(&name).await, 1);
}

/// The 5,000-vector cap stops the reading: 5,001 good lines and a bad one get index-svc's
/// too-large-batch error (400 code 40003), not the bad line's 40023 that reading on would give.
#[tokio::test(flavor = "multi_thread")]
async fn edge_ndjson_cap_is_enforced_while_reading() {
    let name = unique("edge-cap");
    create_index(&name, DIM, "cosine").await;
    let lines: Vec<String> = (0..5001).map(|i| line(&format!("v{i}"), &axis(i))).collect();
    let body = format!("{}\nnot json", lines.join("\n"));
    for content_type in ["application/x-ndjson", "application/json"] {
        let (s, b) = upload(&name, "upsert", "", content_type, body.clone()).await;
        assert!(err(s, &b, 400, 40003).starts_with("at most 5000 vectors per request"), "{content_type}: {b}");
    }
    let object = format!("{{\"vectors\": [{}]}}", lines.join(","));
    let (s, b) = upload(&name, "upsert", "", "application/json", object).await;
    assert!(err(s, &b, 400, 40003).starts_with("at most 5000 vectors per request"), "{b}");
    let (s, b) = upload(&name, "upsert", "", "application/x-ndjson", lines[..5000].join("\n")).await;
    assert_mutation(ok(s, &b));
}

/// Per-route body limits: a body past its route's limit is 413 in the envelope; the largest
/// legal bodies pass. A path axum cannot decode is 400 in the envelope, and the tutorial's bad
/// query string is a 400 in the tutorial's shape, not axum's plain text.
#[tokio::test(flavor = "multi_thread")]
async fn edge_body_limits_and_rejections_answer_in_the_envelope() {
    let name = unique("edge-limits");
    create_index(&name, 1536, "cosine").await;
    let big = format!("{{\"vector\": [{}]}}", vec!["0.5"; 70_000].join(","));
    let (s, b) = post_raw(&vz(&format!("/{name}/query")), "application/json", big).await;
    assert!(err(s, &b, 413, 40003).starts_with("Request body too large"), "{b}");
    // The largest legal query (1536 long numbers, a filter, topK) and 1,000 64-byte ids pass;
    // 1,001 ids are 40007 (spec §3: Cloudflare's per-call limit).
    let vector: Vec<String> = (0..1536).map(|i| format!("-1.234567890123456{}e-30", i % 10)).collect();
    let query = format!(
        "{{\"vector\": [{}], \"topK\": 100, \"namespace\": \"{}\", \"filter\": {{\"k\": {{\"$in\": {}}}}}}}",
        vector.join(", "),
        "n".repeat(64),
        json!((0..100).map(|i| format!("value-{i:010}")).collect::<Vec<_>>())
    );
    let (s, b) = post_raw(&vz(&format!("/{name}/query")), "application/json", query).await;
    ok(s, &b);
    let ids: Vec<String> = (0..1000).map(|i| format!("{i:064}")).collect();
    let (s, b) = post_json(&vz(&format!("/{name}/get_by_ids")), &json!({ "ids": ids })).await;
    assert_eq!(ok(s, &b), &json!([]));
    let ids: Vec<String> = (0..1001).map(|i| format!("{i:064}")).collect();
    for route in ["get_by_ids", "delete_by_ids"] {
        let (s, b) = post_json(&vz(&format!("/{name}/{route}")), &json!({ "ids": ids })).await;
        err(s, &b, 400, 40007);
    }
    // Rejections axum makes itself.
    let (s, b) = get(&vz("/%FF")).await;
    err(s, &b, 400, 40003);
    let (s, b) = edge_send(http().get(format!("{}/?text=a&text=b", stack().base())).bearer_auth(TOKEN)).await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().is_some_and(|m| m.contains("query string")), "{b}");
}

/// `--max-concurrent-requests 1` with one request in flight (its body never sent): the next is
/// answered at once with 503 code 1503 and Retry-After; once the first ends, requests pass again.
#[tokio::test(flavor = "multi_thread")]
async fn edge_load_is_shed_not_queued() {
    use tokio::io::AsyncWriteExt;
    let gw = edge_gateway(&["--api-token", TOKEN, "--max-concurrent-requests", "1"]);
    let list = format!("http://{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", gw.addr);
    let head = format!(
        "POST /client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/x/query HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        gw.addr
    );
    // A round: a slow request takes the one permit (its head only), then another is sent. Should
    // the other win the race for the permit instead, the round is repeated.
    let mut shed = None;
    let mut slow = None;
    for _ in 0..5 {
        let mut conn = tokio::net::TcpStream::connect(&gw.addr).await.expect("connect");
        conn.write_all(head.as_bytes()).await.expect("write the head, not the body");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = http().get(&list).bearer_auth(TOKEN).send().await.expect("send");
        slow = Some(conn);
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
    }
    let shed = shed.expect("a request beyond the limit is answered 503");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    assert_eq!(shed.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (s, b) = (503, shed.json::<Value>().await.expect("envelope"));
    err(s, &b, 503, 1503);
    drop(slow);
    loop {
        let (s, b) = send(http().get(&list)).await;
        if s == 200 {
            ok(s, &b);
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(std::time::Instant::now() < deadline, "the permit was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A body that stops arriving is abandoned after `--body-idle-timeout-ms`, freeing its place:
/// idle half-sent bodies cannot shut everyone out (they used to hold their permit forever).
#[tokio::test(flavor = "multi_thread")]
async fn edge_idle_body_gives_its_place_back() {
    use tokio::io::AsyncWriteExt;
    let gw = edge_gateway(&["--api-token", TOKEN, "--max-concurrent-requests", "1", "--body-idle-timeout-ms", "1500"]);
    let list = format!("http://{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", gw.addr);
    let head = format!(
        "POST /client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/x/query HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        gw.addr
    );
    let mut conn = tokio::net::TcpStream::connect(&gw.addr).await.expect("connect");
    conn.write_all(head.as_bytes()).await.expect("write the head and one byte");
    // The connection stays open and silent: first its request holds the only place, then the
    // idle timeout frees it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut shed = 0;
    loop {
        let (s, b) = send(http().get(&list)).await;
        if s == 200 {
            ok(s, &b);
            assert!(shed > 0, "the silent request never held the place (raced?)");
            break;
        }
        assert_eq!(s, 503, "{b}");
        shed += 1;
        assert!(std::time::Instant::now() < deadline, "the idle body still holds the only place");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(conn);
}
