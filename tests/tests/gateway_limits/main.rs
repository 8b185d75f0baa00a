//! What a request may cost the gateway, over real stacks (embedder + index + gateway processes):
//! - `memory`: each route's peak resident memory for bodies at and over its limit, as a
//!   multiple of the body, read from the gateway's `/proc/PID/status`; and clients that never
//!   read their answers hold no more than the memory budget;
//! - `public`: `--public-tutorial` opens the tutorial and nothing more, and tokenless traffic
//!   cannot starve tokened traffic;
//! - `limits`: the per-token rate limits answer 429 with `Retry-After` in each route's shape;
//! - `refusals`: what Cloudflare refuses, Strato refuses, and writes nothing of;
//! - `surface`: metric labels from closed sets, sane request ids, secrets hidden from `--help`,
//!   the open mode's CORS refusal, and who sees `/__strato/status`'s internals.
mod limits;
mod memory;
mod public;
mod refusals;
mod surface;

use std::time::Duration;

use serde_json::{Value, json};
use strato_tests::process::{Stack, scratch_dir};

/// An all-account token and one limited to `acc-other`.
pub const ADMIN: &str = "admin-token";
pub const LIMITED: &str = "limited-token";
pub const ACCOUNT: &str = "acc-limits";

/// A tokens file with [`ADMIN`] and [`LIMITED`].
pub fn tokens_file() -> String {
    let file = scratch_dir("limit-tokens").join("tokens");
    std::fs::write(&file, format!("{ADMIN}\n{LIMITED} accounts=acc-other\n")).expect("tokens file");
    file.to_str().expect("path").to_owned()
}

/// A stack whose gateway has the tokens file and `extra` flags.
pub fn stack(extra: &[&str]) -> Stack {
    let tokens = tokens_file();
    let mut args = vec!["--api-tokens-file", tokens.as_str()];
    args.extend_from_slice(extra);
    Stack::start(&args).expect("stack")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("client")
}

/// (status, `Retry-After`, JSON body or null).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry, serde_json::from_str(&r.text().await.expect("body")).unwrap_or(Value::Null))
}

/// The first error code of a Cloudflare envelope.
pub fn code(body: &Value) -> u64 {
    body["errors"][0]["code"].as_u64().unwrap_or_default()
}

/// `{base}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes{rest}`
pub fn vz(stack: &Stack, rest: &str) -> String {
    format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes{rest}", stack.base())
}

/// Creates `name` with `dims` dimensions (cosine) as the admin.
pub async fn create_index(stack: &Stack, name: &str, dims: usize) {
    let (s, _, b) = send(http().post(vz(stack, "")).bearer_auth(ADMIN).json(&json!({"name": name, "config": {"dimensions": dims, "metric": "cosine"}}))).await;
    assert_eq!(s, 200, "create {name}: {b}");
}

/// The vector count of `name`.
pub async fn vector_count(stack: &Stack, name: &str) -> u64 {
    let (s, _, b) = send(http().get(vz(stack, &format!("/{name}/info"))).bearer_auth(ADMIN)).await;
    assert_eq!(s, 200, "{b}");
    b["result"]["vectorCount"].as_u64().expect("vectorCount")
}
