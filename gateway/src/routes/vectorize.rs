//! Cloudflare's Vectorize REST API v2 (spec §4.2) on index-svc, under both
//! `/client/v4/accounts/{account_id}/vectorize/v2/…` (clients whose base URL includes
//! `/client/v4`, the SDK default) and `/accounts/{account_id}/vectorize/v2/…` (base URL at the
//! host root), spec §6.2. The account id of the path is index-svc's `account`.
//!
//! index-svc already validates and words its errors as Vectorize does; this file parses the wire
//! formats (JSON bodies, NDJSON/multipart uploads), maps names and shapes, and leaves every limit
//! to index-svc so there is one error path (`cf::index_error`).
//!
//! Guessed Cloudflare behaviour, each marked "guess" below with its spec section:
//! - create answers 200 (the docs' example says 201, SDKs accept both; spec §4.2);
//! - `unparsable-behavior` defaults to `error`; `discard` drops bad lines (spec §4.4);
//! - the 0-based line number of 40023 counts every line of the body, blank ones included (spec §4.4);
//! - an empty `filter` object means no filter (spec §2.7 says the filter must be non-empty);
//! - `cursorExpirationTimestamp` is null when index-svc gives none (its cursors do not expire; spec §4.5).
use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use strato_proto::index::v1 as ipb;

use super::cf::{self, CfError};
use super::upload::{content_type, find, upload_vectors};
use crate::body::Body;
use crate::clients::Write;
use crate::shapes::*;
use crate::state::AppState;
use crate::trace::TraceContext;

/// Calls one index-svc method, on the pod that owns the request's index, through `Clients::call`
/// (deadline, trace context, retries when idempotent) and maps its error to Cloudflare's envelope.
macro_rules! index_call {
    ($st:expr, $ctx:expr, $idempotent:expr, $method:ident, $req:expr) => {{
        let req = $req;
        $st.clients
            .index_call($ctx, $idempotent, &req, |pod, d| {
                let mut c = pod.client.clone();
                let r = $st.clients.request($ctx, req.clone(), d);
                async move { c.$method(r).await }
            })
            .await
            .map_err(cf::index_error)
    }};
}

/// The two prefixes every Vectorize route is served under (spec §6.2).
pub const PREFIXES: [&str; 2] = ["/client/v4/accounts/{account_id}/vectorize/v2", "/accounts/{account_id}/vectorize/v2"];

/// Body limits per route: the largest legal body, rounded up; beyond it 413 (in the envelope,
/// `edge::rejections_in_shape`) before the body is read.
/// - insert/upsert: 100 MB per request (spec §3), plus 1 MiB for multipart framing.
const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024 + 1024 * 1024;
/// - query: 1536 numbers of up to 25 bytes (`-1.2345678901234567e-308,`) = 38,400 B, a filter
///   under 2 KiB compact (spec §3), namespace and vectorId ≤ 64 B each (≤ 384 B \u-escaped),
///   keys: ≈ 41 KB compact; 128 KiB leaves 3× for pretty-printing.
const MAX_QUERY_BYTES: usize = 128 * 1024;
/// - get_by_ids / delete_by_ids: index-svc's 5,000 ids of ≤ 64 bytes, each at worst 387 B as
///   JSON (64 × `\u00XX`, quotes, comma) = 1.94 MB: 2 MiB.
const MAX_IDS_BYTES: usize = 2 * 1024 * 1024;
/// - create index (name 64 B, description ≤ 1024 chars at ≤ 12 B escaped, config) and the
///   metadata-index routes (propertyName ≤ 512 chars): under 13 KB: 32 KiB.
const MAX_SMALL_BYTES: usize = 32 * 1024;

fn limit(bytes: usize) -> DefaultBodyLimit {
    DefaultBodyLimit::max(bytes)
}

/// Every endpoint of spec §4.2, under both prefixes.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for p in PREFIXES {
        let ix = format!("{p}/indexes/{{index_name}}");
        r = r
            .route(&format!("{p}/indexes"), get(list_indexes).post(create_index).layer(limit(MAX_SMALL_BYTES)))
            .route(&ix, get(get_index).delete(delete_index))
            .route(&format!("{ix}/info"), get(index_info))
            .route(&format!("{ix}/insert"), post(insert).layer(limit(MAX_UPLOAD_BYTES)))
            .route(&format!("{ix}/upsert"), post(upsert).layer(limit(MAX_UPLOAD_BYTES)))
            .route(&format!("{ix}/query"), post(query).layer(limit(MAX_QUERY_BYTES)))
            .route(&format!("{ix}/get_by_ids"), post(get_by_ids).layer(limit(MAX_IDS_BYTES)))
            .route(&format!("{ix}/delete_by_ids"), post(delete_by_ids).layer(limit(MAX_IDS_BYTES)))
            .route(&format!("{ix}/list"), get(list_vectors))
            .route(&format!("{ix}/metadata_index/create"), post(create_metadata_index).layer(limit(MAX_SMALL_BYTES)))
            .route(&format!("{ix}/metadata_index/list"), get(list_metadata_indexes))
            .route(&format!("{ix}/metadata_index/delete"), post(delete_metadata_index).layer(limit(MAX_SMALL_BYTES)));
    }
    r
}

/// One operation of the Vectorize binding's protocol (`routes/worker.rs`) on `account`'s `index`:
/// the REST handler of the same operation, whose bodies are the binding's (spec §1.6), answering
/// in the envelope that `worker.rs` unwraps. None: not an operation of the binding.
pub(super) async fn binding_op(
    st: AppState,
    op: &str,
    account: String,
    index: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Option<Result<Response, CfError>> {
    let p = IndexPath { account_id: account, index_name: index };
    Some(match op {
        "info" => index_info(State(st), Path(p), headers).await,
        "query" => query(State(st), Path(p), headers, Body(body)).await,
        "insert" => write(st, p, q, headers, body, Write::Insert).await,
        "upsert" => write(st, p, q, headers, body, Write::Upsert).await,
        "getByIds" => get_by_ids(State(st), Path(p), headers, Body(body)).await,
        "deleteByIds" => delete_by_ids(State(st), Path(p), headers, Body(body)).await,
        _ => return None,
    })
}

/// The binding's upload limit is the REST API's.
pub(super) const BINDING_BODY_LIMIT: usize = MAX_UPLOAD_BYTES;

// ------------------------------------------------------------------------------------------------
// Paths and response shapes
// ------------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct AccountPath {
    account_id: String,
}

#[derive(Deserialize)]
struct IndexPath {
    account_id: String,
    index_name: String,
}

impl IndexPath {
    fn index_ref(&self) -> ipb::IndexRef {
        ipb::IndexRef { account: self.account_id.clone(), name: self.index_name.clone() }
    }
}

// ------------------------------------------------------------------------------------------------
// Index lifecycle
// ------------------------------------------------------------------------------------------------

/// Every index-svc pod is asked (at once) and the lists merged by name. A pod that does not
/// answer leaves its indexes out, and the answer says so in `messages`; when none answers, the
/// error is the first pod's.
async fn list_indexes(State(st): State<AppState>, Path(p): Path<AccountPath>, headers: HeaderMap) -> Result<Response, CfError> {
    let ctx = TraceContext::from_headers(&headers);
    let req = ipb::ListIndexesRequest { account: p.account_id, all_accounts: false, include_moved: false };
    let pods = st.clients.index.all();
    let calls = pods.iter().map(|pod| {
        let (st, ctx, req) = (&st, &ctx, &req);
        async move {
            let r = st
                .clients
                .call("index", ctx, true, |d| {
                    let mut c = pod.client.clone();
                    let r = st.clients.request(ctx, req.clone(), d);
                    async move { c.list_indexes(r).await }
                })
                .await;
            (pod.name.as_str(), r)
        }
    });
    let (mut indexes, mut messages, mut first_error) = (Vec::new(), Vec::new(), None);
    for (pod, r) in futures::future::join_all(calls).await {
        match r {
            Ok(r) => indexes.extend(r.indexes),
            Err(e) => {
                messages.push(format!("index-svc {pod} did not answer ({e}): the indexes it holds are missing from this list"));
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error
        && messages.len() == pods.len()
    {
        return Err(cf::index_error(e));
    }
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    // Mid-move, the moving index is briefly on two pods.
    indexes.dedup_by(|a, b| a.name == b.name);
    Ok(cf::ok_with_messages(indexes.into_iter().map(IndexJson::from).collect::<Vec<_>>(), messages))
}

/// `{name, description?, config: {dimensions, metric} | {preset}}` (spec §4.2, §4.3, §2.9).
/// Answers 200 with the index object (guess: the docs' example says 201; spec §4.2).
async fn create_index(State(st): State<AppState>, Path(p): Path<AccountPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    st.limits.mutation()?;
    let obj = json_object(&headers, &body)?;
    let name: String = required(&obj, "name")?;
    let description: String = optional(&obj, "description")?.unwrap_or_default();
    let config = obj.get("config").map(|raw| serde_json::from_str::<Value>(raw.get())).transpose().map_err(CfError::bad_json)?;
    let (dimensions, metric) = index_config(config.as_ref())?;
    let req = ipb::CreateIndexRequest { account: p.account_id, name, dimensions, metric: metric as i32, description };
    let ctx = TraceContext::from_headers(&headers);
    let info = index_call!(st, &ctx, false, create_index, req)?;
    Ok(cf::ok(IndexJson::from(info)))
}

/// The `config` object: dimensions + metric, or a preset. A missing config, or dimensions/metric
/// at the top level ("flat"), is `Config must be provided` (spec §4.3).
fn index_config(config: Option<&Value>) -> Result<(u32, ipb::Metric), CfError> {
    let Some(Value::Object(c)) = config else {
        return Err(CfError::invalid_config("Config must be provided"));
    };
    if let Some(preset) = c.get("preset") {
        let name = preset.as_str().unwrap_or_default();
        return preset_config(name).ok_or_else(|| {
            CfError::invalid_config(&format!("Unknown preset {preset}; known presets: {}", crate::shapes::PRESETS.map(|(n, _)| n).join(", ")))
        });
    }
    let (Some(dims), Some(metric)) = (c.get("dimensions"), c.get("metric")) else {
        return Err(CfError::invalid_config("Config must be provided"));
    };
    // A non-integral or negative dimension count gets index-svc's range message; out-of-range
    // integers are passed on for index-svc to reject with the same message.
    let dimensions = match dims.as_u64() {
        Some(d) => u32::try_from(d).unwrap_or(u32::MAX),
        None => return Err(CfError::invalid_config("Dimensions must be in range: [32, 1536]")),
    };
    let metric = metric
        .as_str()
        .and_then(parse_metric)
        .ok_or_else(|| CfError::invalid_config(&format!("Unknown metric {metric}; use cosine, euclidean or dot-product")))?;
    Ok((dimensions, metric))
}

fn preset_config(name: &str) -> Option<(u32, ipb::Metric)> {
    crate::shapes::preset_dimensions(name).map(|d| (d, ipb::Metric::Cosine))
}

/// Metric names as wrangler sends them, case-insensitively.
fn parse_metric(s: &str) -> Option<ipb::Metric> {
    match s.to_ascii_lowercase().as_str() {
        "cosine" => Some(ipb::Metric::Cosine),
        "euclidean" => Some(ipb::Metric::Euclidean),
        "dot-product" => Some(ipb::Metric::DotProduct),
        _ => None,
    }
}

async fn get_index(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap) -> Result<Response, CfError> {
    let ctx = TraceContext::from_headers(&headers);
    let info = index_call!(st, &ctx, true, get_index, p.index_ref())?;
    Ok(cf::ok(IndexJson::from(info)))
}

/// Result `null` (wrangler's mock, spec §4.2). Not retried: a retry after a delete that did
/// happen would answer 3000.
async fn delete_index(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap) -> Result<Response, CfError> {
    st.limits.mutation()?;
    let ctx = TraceContext::from_headers(&headers);
    index_call!(st, &ctx, false, delete_index, p.index_ref())?;
    Ok(cf::ok(Value::Null))
}

async fn index_info(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap) -> Result<Response, CfError> {
    let ctx = TraceContext::from_headers(&headers);
    let s = index_call!(st, &ctx, true, describe_index, p.index_ref())?;
    Ok(cf::ok(InfoJson {
        dimensions: s.dimensions,
        vector_count: s.vector_count,
        processed_up_to_mutation: non_empty(s.processed_up_to_mutation),
        processed_up_to_datetime: non_empty(s.processed_up_to_datetime),
    }))
}

// ------------------------------------------------------------------------------------------------
// insert / upsert (spec §4.4)
// ------------------------------------------------------------------------------------------------

async fn insert(
    State(st): State<AppState>,
    Path(p): Path<IndexPath>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, CfError> {
    write(st, p, q, headers, body, Write::Insert).await
}

async fn upsert(
    State(st): State<AppState>,
    Path(p): Path<IndexPath>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, CfError> {
    write(st, p, q, headers, body, Write::Upsert).await
}

/// Parses the body's vectors (each checked against Vectorize's limits as it is read, so a
/// refused batch sends nothing), lets the body go, and sends them encoded once
/// (`Clients::write`, which says which kind is retried).
async fn write(st: AppState, p: IndexPath, q: HashMap<String, String>, headers: HeaderMap, body: Bytes, kind: Write) -> Result<Response, CfError> {
    st.limits.mutation()?;
    let vectors = upload_vectors(&q, &headers, &body)?;
    drop(body);
    let req = ipb::WriteRequest { account: p.account_id, index: p.index_name, vectors };
    let ctx = TraceContext::from_headers(&headers);
    let r = st.clients.write(&ctx, kind, req).await.map_err(cf::index_error)?;
    Ok(cf::ok(MutationJson::from(r)))
}

// ------------------------------------------------------------------------------------------------
// JSON bodies (query, get_by_ids, delete_by_ids, metadata indexes)
// ------------------------------------------------------------------------------------------------

/// A JSON-object body. Wrong content type → 40026 `Expected request with Content-Type:
/// application/json`; unparsable → 40026 `Failed to parse the request body as JSON: …`
/// (spec §4.2, §4.7). wrangler's `application/json; charset=utf-8;` is accepted.
///
/// The object is read as its fields' slices of the body (no JSON tree of the body); each field is
/// then read into the type the route wants ([`optional`], [`required`]).
fn json_object<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<Fields<'a>, CfError> {
    match content_type(headers) {
        Some((essence, _)) if essence == "application/json" => {}
        _ => return Err(CfError::wrong_content_type()),
    }
    match body.trim_ascii_start().first() {
        Some(b'{') => serde_json::from_slice::<Fields<'a>>(body).map_err(CfError::bad_json),
        _ => {
            let v = serde_json::from_slice::<IgnoredAny>(body).map_err(CfError::bad_json);
            v.and_then(|_| Err(CfError::bad_json(format!("invalid type: {}, expected a JSON object", type_name(body)))))
        }
    }
}

/// A JSON object's fields, each as its slice of the body.
type Fields<'a> = HashMap<String, &'a RawValue>;

/// Field `key` as a `T`, absent or null → None; wrong type → 40026 `<key>: <serde message>`
/// (Cloudflare's message names the field the same way, spec §4.5).
fn optional<T: DeserializeOwned>(obj: &Fields<'_>, key: &str) -> Result<Option<T>, CfError> {
    match obj.get(key) {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str::<T>(raw.get()).map(Some).map_err(|e| field_error(key, &e)),
    }
}

/// Field `vector`: read by [`crate::floats`] when it is an array of plain numbers (the same
/// values, faster), else by serde_json, which words the error.
fn vector(obj: &Fields<'_>) -> Result<Option<Vec<f32>>, CfError> {
    match obj.get("vector").and_then(|raw| crate::floats::f32_array(raw.get())) {
        Some(v) => Ok(Some(v)),
        None => optional(obj, "vector"),
    }
}

/// `<key>: <serde message>` without the position in the field's own slice.
fn field_error(key: &str, e: &serde_json::Error) -> CfError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    CfError::bad_json(format!("{key}: {}", text.strip_suffix(&suffix).unwrap_or(&text)))
}

fn required<T: DeserializeOwned>(obj: &Fields<'_>, key: &str) -> Result<T, CfError> {
    optional(obj, key)?.ok_or_else(|| CfError::bad_json(format!("missing field `{key}`")))
}

/// The JSON type a (valid) JSON text starts with, as serde names it.
fn type_name(json: &[u8]) -> &'static str {
    match json.trim_ascii_start().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "boolean",
        Some(b'"') => "string",
        Some(b'[') => "sequence",
        Some(b'{') => "map",
        _ => "number",
    }
}

// ------------------------------------------------------------------------------------------------
// query / get_by_ids / delete_by_ids / list (spec §4.5)
// ------------------------------------------------------------------------------------------------

/// `{vector | vectorId, topK?, returnValues?, returnMetadata?, filter?, namespace?}`.
/// index-svc's warnings (e.g. a filter on a property without a metadata index) come back as
/// envelope messages.
async fn query(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    let obj = json_object(&headers, &body)?;
    let req = query_request(&p, &obj, &body)?;
    let (with_values, with_metadata) = (req.return_values, req.return_metadata != ipb::ReturnMetadata::None as i32);
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, query, req)?;
    let matches: Vec<MatchJson> = r.matches.into_iter().map(|m| MatchJson::new(m, with_values, with_metadata)).collect();
    Ok(cf::ok_with_messages(QueryJson { count: matches.len(), matches }, r.warnings))
}

fn query_request(p: &IndexPath, obj: &Fields<'_>, body: &[u8]) -> Result<ipb::QueryRequest, CfError> {
    // The body is at most 128 KiB (MAX_QUERY_BYTES): the filter's tree is bounded by it.
    let filter: Option<Value> = optional(obj, "filter")?;
    let filter = match filter {
        None | Some(Value::Null) => None,
        // Spec §2.7: the filter must be a non-empty object, as Cloudflare checks.
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(CfError::bad_request(cf::BAD_REQUEST, "invalid filter: the filter must be a non-empty object (omit it to match every vector)"));
        }
        Some(ref f @ Value::Object(ref m)) if pbjson::json_depth(f) <= 3 => Some(pbjson::map_to_struct(m)),
        Some(Value::Object(_)) => {
            return Err(CfError::bad_request(cf::BAD_REQUEST, "invalid filter: filter nests too deep: values are scalars, or arrays of scalars under $in/$nin"));
        }
        Some(other) => return Err(CfError::bad_json(format!("filter: invalid type: {}, expected a map", type_name(other.to_string().as_bytes())))),
    };
    // An explicit 0 is refused, as Cloudflare refuses it; absent is the default, 5.
    let top_k = match optional::<u32>(obj, "topK")? {
        Some(0) => return Err(CfError::bad_request(cf::TOP_K_TOO_LARGE, "topK must be between 1 and 100, but got 0")),
        k => k.unwrap_or(0),
    };
    Ok(ipb::QueryRequest {
        account: p.account_id.clone(),
        index: p.index_name.clone(),
        // Neither vector nor vectorId → an empty vector: index-svc answers 40006 "got 0 dimensions".
        vector: vector(obj)?.unwrap_or_default(),
        vector_id: optional(obj, "vectorId")?.unwrap_or_default(),
        top_k,
        return_values: optional(obj, "returnValues")?.unwrap_or(false),
        return_metadata: return_metadata(obj, body)? as i32,
        filter,
        namespace: optional(obj, "namespace")?.unwrap_or_default(),
    })
}

/// `"none" | "indexed" | "all"`. The REST API rejects the legacy boolean with 40026
/// `Failed to parse the request body as JSON: returnMetadata: expected value at line 1 column N`
/// (spec §4.5); N here is the position of the value in the body.
fn return_metadata(obj: &Fields<'_>, body: &[u8]) -> Result<ipb::ReturnMetadata, CfError> {
    let value = obj.get("returnMetadata").map(|raw| serde_json::from_str::<Value>(raw.get())).transpose().map_err(CfError::bad_json)?;
    match value.as_ref() {
        None | Some(Value::Null) => Ok(ipb::ReturnMetadata::None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => Ok(ipb::ReturnMetadata::None),
            "indexed" => Ok(ipb::ReturnMetadata::Indexed),
            "all" => Ok(ipb::ReturnMetadata::All),
            other => Err(CfError::bad_json(format!("returnMetadata: unknown variant `{other}`, expected one of `none`, `indexed`, `all`"))),
        },
        Some(_) => Err(CfError::bad_json(format!("returnMetadata: expected value at {}", value_position(body, "returnMetadata")))),
    }
}

/// `line L column C` (1-based) of the value of `"key"` in the raw body.
fn value_position(body: &[u8], key: &str) -> String {
    let needle = format!("\"{key}\"");
    let Some(start) = find(body, needle.as_bytes(), 0) else {
        return "line 1 column 1".to_owned();
    };
    let mut i = start + needle.len();
    while i < body.len() && (body[i].is_ascii_whitespace() || body[i] == b':') {
        i += 1;
    }
    let line = body[..i].iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = body[..i].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    format!("line {line} column {}", i - line_start + 1)
}

/// Ids per getByIds or deleteByIds call over HTTP. Cloudflare documents none; third-party
/// notes say 1,000 and 2026 reports show deletes of over 100 refused with 40007 (spec §3).
/// Chosen: 1,000 for both, refused with 40007 while the list is read. A getByIds answer of
/// 1,000 vectors of 1,536 dimensions with full metadata is at most ~40 MB; 5,000 (index-svc's
/// gRPC limit) would let a 39 KB question ask for 145 MB.
pub const MAX_IDS_PER_CALL: usize = 1000;
/// `too many ids` (spec §3, observed on deletes).
pub const TOO_MANY_IDS: u32 = 40007;
/// What one vector of a getByIds answer is charged before it is asked for, its worst case:
/// 1,536 numbers as f32 and as JSON text, and 10 KiB of metadata as a `Struct` of up to 5,120
/// nodes (`[0,0,…]`) and as text. 1,000 ids: 258 MB, held only until the answer is built, when
/// the answer's real size replaces it (`budget.rs`).
const MAX_VECTOR_ANSWER_BYTES: u64 = 1536 * 28 + 5120 * crate::shapes::STRUCT_NODE_BYTES + 10 * 1024;

/// `ids`: at most [`MAX_IDS_PER_CALL`] strings, read from its slice of the body and stopped at
/// the one past the limit.
fn ids(obj: &Fields<'_>) -> Result<Vec<String>, CfError> {
    struct Ids;
    impl<'de> serde::de::Visitor<'de> for Ids {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence of strings")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(id) = seq.next_element::<String>()? {
                if out.len() == MAX_IDS_PER_CALL {
                    return Err(serde::de::Error::custom(TOO_MANY));
                }
                out.push(id);
            }
            Ok(out)
        }
    }
    const TOO_MANY: &str = "too many ids";
    let Some(raw) = obj.get("ids") else {
        return Err(CfError::bad_json("missing field `ids`"));
    };
    let mut de = serde_json::Deserializer::from_str(raw.get());
    match serde::Deserializer::deserialize_seq(&mut de, Ids) {
        Ok(ids) => Ok(ids),
        Err(e) if e.to_string().starts_with(TOO_MANY) => {
            Err(CfError::bad_request(TOO_MANY_IDS, format!("too many ids: at most {MAX_IDS_PER_CALL} per call, got more")))
        }
        Err(e) => Err(field_error("ids", &e)),
    }
}

/// `{"ids": [...]}` → the found vectors (missing ids are simply absent, spec §1.2).
async fn get_by_ids(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    let obj = json_object(&headers, &body)?;
    let ids = ids(&obj)?;
    // The answer can be far larger than the question: charged before it is asked for.
    crate::budget::charge(ids.len() as u64 * MAX_VECTOR_ANSWER_BYTES)?;
    let req = ipb::IdsRequest { account: p.account_id, index: p.index_name, ids };
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, get_by_ids, req)?;
    Ok(cf::ok(r.vectors.into_iter().map(VectorJson::from).collect::<Vec<_>>()))
}

async fn delete_by_ids(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    let obj = json_object(&headers, &body)?;
    st.limits.mutation()?;
    let req = ipb::IdsRequest { account: p.account_id, index: p.index_name, ids: ids(&obj)? };
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, delete_by_ids, req)?;
    Ok(cf::ok(MutationJson::from(r)))
}

/// `GET …/list?count=1..1000&cursor=…` (spec §2.8, §4.5). Last page: `nextCursor` and
/// `cursorExpirationTimestamp` null.
async fn list_vectors(
    State(st): State<AppState>,
    Path(p): Path<IndexPath>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, CfError> {
    let count = match q.get("count").map(|s| s.trim()) {
        None | Some("") => 0, // index-svc's default, 100
        Some(s) => match s.parse::<u32>() {
            Ok(c) if (1..=1000).contains(&c) => c,
            _ => return Err(CfError::bad_request(cf::BAD_REQUEST, format!("count must be an integer between 1 and 1000, got {s:?}"))),
        },
    };
    let cursor = q.get("cursor").cloned().unwrap_or_default();
    let req = ipb::ListVectorsRequest { account: p.account_id, index: p.index_name, count, cursor };
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, list_vectors, req)?;
    let (next_cursor, expiration) = if r.is_truncated {
        (non_empty(r.next_cursor), non_empty(r.cursor_expiration_timestamp))
    } else {
        (None, None)
    };
    Ok(cf::ok(ListVectorsJson {
        count: r.ids.len(),
        total_count: r.total_count,
        is_truncated: r.is_truncated,
        next_cursor,
        cursor_expiration_timestamp: expiration,
        vectors: r.ids.into_iter().map(|id| IdJson { id }).collect(),
    }))
}

// ------------------------------------------------------------------------------------------------
// Metadata indexes (spec §2.6)
// ------------------------------------------------------------------------------------------------

/// `{propertyName, indexType}`; the type is read case-insensitively (wrangler prints `String`),
/// spec §2.6. Creating one that exists answers 200, so the call is safe to retry.
async fn create_metadata_index(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    st.limits.mutation()?;
    let obj = json_object(&headers, &body)?;
    let property_name: String = required(&obj, "propertyName")?;
    let index_type: String = required(&obj, "indexType")?;
    let kind = match index_type.to_ascii_lowercase().as_str() {
        "string" => ipb::MetadataType::String,
        "number" => ipb::MetadataType::Number,
        "boolean" => ipb::MetadataType::Boolean,
        _ => {
            return Err(CfError::bad_json(format!("indexType: unknown variant `{index_type}`, expected one of `string`, `number`, `boolean`")));
        }
    };
    let req = ipb::MetadataIndexRequest { account: p.account_id, index: p.index_name, property_name, index_type: kind as i32 };
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, create_metadata_index, req)?;
    Ok(cf::ok(MutationJson::from(r)))
}

async fn list_metadata_indexes(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap) -> Result<Response, CfError> {
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, true, list_metadata_indexes, p.index_ref())?;
    let metadata_indexes = r
        .metadata_indexes
        .into_iter()
        .map(|m| MetadataIndexJson { property_name: m.property_name, index_type: metadata_type_name(m.index_type) })
        .collect();
    Ok(cf::ok(MetadataIndexesJson { metadata_indexes }))
}

/// Lowercase, as the OpenAPI enum (spec §2.6).

/// `{propertyName}`; an unknown property is 40005 (spec §2.6). Not retried: a retry after a
/// delete that did happen would answer 40005.
async fn delete_metadata_index(State(st): State<AppState>, Path(p): Path<IndexPath>, headers: HeaderMap, Body(body): Body) -> Result<Response, CfError> {
    st.limits.mutation()?;
    let obj = json_object(&headers, &body)?;
    let property_name: String = required(&obj, "propertyName")?;
    let req = ipb::MetadataIndexRequest { account: p.account_id, index: p.index_name, property_name, index_type: 0 };
    let ctx = TraceContext::from_headers(&headers);
    let r = index_call!(st, &ctx, false, delete_metadata_index, req)?;
    Ok(cf::ok(MutationJson::from(r)))
}

/// Metadata and filters travel as `google.protobuf.Struct` (shared conversion).
use strato_proto::json as pbjson;


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_return_metadata_is_40026_with_a_position() {
        let body = br#"{"vector":[1],"returnMetadata":true}"#;
        let obj: Fields<'_> = serde_json::from_slice(body).expect("object");
        let e = return_metadata(&obj, body).expect_err("boolean");
        assert_eq!(e.code, cf::BAD_JSON);
        assert_eq!(e.message, "Failed to parse the request body as JSON: returnMetadata: expected value at line 1 column 32");
    }

    #[test]
    fn configs() {
        assert!(index_config(None).is_err());
        assert_eq!(index_config(Some(&serde_json::json!({"preset": "@cf/baai/bge-small-en-v1.5"}))).ok(), Some((384, ipb::Metric::Cosine)));
        assert_eq!(index_config(Some(&serde_json::json!({"dimensions": 32, "metric": "dot-product"}))).ok(), Some((32, ipb::Metric::DotProduct)));
        assert!(index_config(Some(&serde_json::json!({"dimensions": 32, "metric": "manhattan"}))).is_err());
    }
}
