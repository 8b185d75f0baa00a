//! A Vectorize index read through Cloudflare's REST API (spec §4.2): the source of `import`.
//! A Strato gateway speaks the same API, so it serves as a source too (the tests use one).
//!
//! Every call is retried on what passes: no connection, a timeout, 429 and 5xx (honouring
//! `Retry-After`), 0.5 s doubling to 30 s, `retries` attempts; anything else is the API's own
//! error, shown as it came (its code and message from the envelope).
use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};
use serde_json::Value;
use strato_proto::index::v1 as pb;

use super::render::warn;

pub struct Source {
    http: reqwest::Client,
    /// `{base}/accounts/{account}/vectorize/v2/indexes/{index}`
    index_url: String,
    token: Option<String>,
    retries: u32,
}

/// An index's config and metadata indexes, as the source describes them.
pub struct SourceIndex {
    pub dimensions: u32,
    pub metric: pb::Metric,
    pub description: String,
    /// (propertyName, indexType)
    pub metadata_indexes: Vec<(String, pb::MetadataType)>,
}

/// One page of ids.
pub struct Page {
    pub ids: Vec<String>,
    pub next_cursor: Option<String>,
    /// The index's size when the listing began (spec §4.5 `totalCount`).
    pub total: u64,
}

impl Source {
    pub fn new(base: &str, account: &str, index: &str, token: Option<String>, retries: u32, timeout: Duration) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(10))).build()?;
        let base = base.trim_end_matches('/');
        let index_url = format!("{base}/accounts/{}/vectorize/v2/indexes/{}", path_part(account), path_part(index));
        Ok(Self { http, index_url, token, retries: retries.max(1) })
    }

    /// Where the index lives (what the checkpoint records).
    pub fn url(&self) -> &str {
        &self.index_url
    }

    pub async fn index(&self) -> Result<SourceIndex> {
        let info = self.call(reqwest::Method::GET, "", None).await?;
        let config = &info["config"];
        let dimensions = config["dimensions"].as_u64().ok_or_else(|| anyhow!("the source index has no dimensions in its config: {info}"))?;
        let metric = match config["metric"].as_str() {
            Some("cosine") => pb::Metric::Cosine,
            Some("euclidean") => pb::Metric::Euclidean,
            Some("dot-product") => pb::Metric::DotProduct,
            other => bail!("the source index has an unknown metric {other:?}"),
        };
        let list = self.call(reqwest::Method::GET, "/metadata_index/list", None).await?;
        let mut metadata_indexes = Vec::new();
        for m in list["metadataIndexes"].as_array().into_iter().flatten() {
            let kind = match m["indexType"].as_str() {
                Some("string") => pb::MetadataType::String,
                Some("number") => pb::MetadataType::Number,
                Some("boolean") => pb::MetadataType::Boolean,
                other => bail!("the source has a metadata index of unknown type {other:?}"),
            };
            let name = m["propertyName"].as_str().ok_or_else(|| anyhow!("a metadata index without propertyName: {m}"))?;
            metadata_indexes.push((name.to_owned(), kind));
        }
        Ok(SourceIndex { dimensions: dimensions as u32, metric, description: info["description"].as_str().unwrap_or_default().to_owned(), metadata_indexes })
    }

    /// One page of ids after `cursor` (none: the first page, which starts a new listing).
    pub async fn list(&self, cursor: Option<&str>, count: u32) -> Result<Page> {
        let mut q = format!("/list?count={count}");
        if let Some(c) = cursor {
            q.push_str("&cursor=");
            q.extend(form_urlencoded::byte_serialize(c.as_bytes()));
        }
        let r = self.call(reqwest::Method::GET, &q, None).await?;
        let ids = r["vectors"].as_array().ok_or_else(|| anyhow!("a list page without vectors: {r}"))?;
        let ids = ids.iter().map(|v| v["id"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("a listed vector without id: {v}"))).collect::<Result<_>>()?;
        let truncated = r["isTruncated"].as_bool().unwrap_or(false);
        let next_cursor = r["nextCursor"].as_str().filter(|c| truncated && !c.is_empty()).map(str::to_owned);
        Ok(Page { ids, next_cursor, total: r["totalCount"].as_u64().unwrap_or(0) })
    }

    /// The vectors with these ids (values, metadata, namespace), in the source's JSON shape
    /// parsed by the same reader as an NDJSON upload.
    pub async fn get(&self, ids: &[String]) -> Result<Vec<pb::Vector>> {
        let r = self.call(reqwest::Method::POST, "/get_by_ids", Some(serde_json::json!({ "ids": ids }))).await?;
        let items = r.as_array().ok_or_else(|| anyhow!("get_by_ids did not answer an array: {r}"))?;
        let asked: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        items
            .iter()
            .map(|v| {
                let vector = crate::ndjson::parse_line(v.to_string().as_bytes()).map_err(|e| anyhow!("the source returned a vector this side cannot read ({e}): {v}"))?;
                ensure!(asked.contains(vector.id.as_str()), "the source returned id {:?}, which was not asked for", vector.id);
                Ok(vector)
            })
            .collect()
    }

    /// One call, retried on what passes; the envelope's `result`.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.index_url);
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=self.retries {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let why = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                    let body = resp.bytes().await.unwrap_or_default();
                    let text = String::from_utf8_lossy(&body);
                    if status.is_success() {
                        // Strict UTF-8: an id or metadata string is never silently altered.
                        let v: Value = serde_json::from_slice(&body).map_err(|e| anyhow!("{url}: not JSON in UTF-8 ({e}): {}", head(&text)))?;
                        if v["success"] == false {
                            bail!("{url}: {}", envelope_errors(&v));
                        }
                        return Ok(v["result"].clone());
                    }
                    let shown = serde_json::from_str::<Value>(&text).map(|v| envelope_errors(&v)).unwrap_or_else(|_| head(&text));
                    if status.as_u16() != 429 && !status.is_server_error() {
                        bail!("{method} {url}: {status}: {shown}");
                    }
                    if let Some(s) = retry_after {
                        delay = Duration::from_secs(s.min(60));
                    }
                    format!("{status}: {shown}")
                }
                Err(e) => super::client::error_chain(&e),
            };
            if attempt == self.retries {
                bail!("{method} {url} failed {attempt} times, last: {why}");
            }
            warn(&format!("the source did not answer ({why}); retrying in {:.1} s ({attempt}/{})", delay.as_secs_f64(), self.retries));
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        unreachable!("the loop returns or fails on its last attempt")
    }
}

/// Cloudflare's `errors: [{code, message}]`, joined.
fn envelope_errors(v: &Value) -> String {
    let errs: Vec<String> = v["errors"].as_array().into_iter().flatten().map(|e| format!("{} ({})", e["message"].as_str().unwrap_or("?"), e["code"])).collect();
    if errs.is_empty() { head(&v.to_string()) } else { errs.join("; ") }
}

fn head(s: &str) -> String {
    s.chars().take(300).collect()
}

/// A name as one URL path segment.
fn path_part(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
