//! Strato as a user runs it: index-svc and the gateway on their defaults, driven through the
//! Cloudflare REST API.
use serde_json::{Value, json};
use strato_tests::process::{Service, scratch_dir, start_gateway_env, start_index_env};

use crate::Server;

pub const ACCOUNT: &str = "bench";

pub struct Strato {
    // The gateway first: it goes first when dropped.
    gateway: Service,
    index: Service,
    http: reqwest::Client,
    name: String,
    round: usize,
    env: Vec<(String, String)>,
    index_args: Vec<String>,
}

/// index-svc on a fresh data directory and a gateway in front (no embedder: the REST vector
/// routes never call it).
fn stack(index_args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<(Service, Service)> {
    let index = start_index_env(&scratch_dir("bench-serve"), index_args, env)?;
    let gateway = start_gateway_env("http://127.0.0.1:9", &index.url(), &["--max-concurrent-requests", "4096"], env)?;
    Ok((gateway, index))
}

impl Strato {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[], &[])
    }

    /// With index-svc flags, and environment variables for both services (OTEL_*, for the
    /// breakdown).
    pub fn start_with(index_args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let (gateway, index) = stack(index_args, env)?;
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(Self { gateway, index, http: reqwest::Client::new(), name: String::new(), round: 0, env, index_args: owned(index_args) })
    }

    pub fn index_url(&self) -> String {
        self.index.url()
    }

    pub fn index_name(&self) -> &str {
        &self.name
    }

    pub fn index_pid(&self) -> u32 {
        self.index.pid()
    }

    pub fn gateway_pid(&self) -> u32 {
        self.gateway.pid()
    }

    pub fn base(&self) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", self.gateway.url())
    }
}

impl Server for Strato {
    fn name(&self) -> &'static str {
        "Strato"
    }

    /// A fresh process pair each time, so memory is this index's alone.
    async fn reset(&mut self) -> anyhow::Result<()> {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = self.index_args.iter().map(String::as_str).collect();
        (self.gateway, self.index) = stack(&args, &env)?;
        self.round += 1;
        self.name = format!("serve-{}", self.round);
        let r = self.http.post(self.base()).json(&json!({"name": self.name, "config": {"dimensions": 384, "metric": "cosine"}})).send().await?;
        anyhow::ensure!(r.status().is_success(), "create: {}", r.text().await?);
        Ok(())
    }

    async fn ingest(&self, from: usize, vectors: &[Vec<f32>]) -> anyhow::Result<()> {
        let body: Vec<String> = vectors.iter().enumerate().map(|(i, v)| json!({"id": (from + i).to_string(), "values": v}).to_string()).collect();
        let r = self.http.post(format!("{}/{}/upsert", self.base(), self.name)).header("content-type", "application/x-ndjson").body(body.join("\n")).send().await?;
        anyhow::ensure!(r.status().is_success(), "upsert: {}", r.text().await?);
        Ok(())
    }

    fn prepare(&self, vector: &[f32], k: usize) -> reqwest::Request {
        #[allow(clippy::expect_used)]
        self.http.post(format!("{}/{}/query", self.base(), self.name)).json(&json!({"vector": vector, "topK": k})).build().expect("request")
    }

    fn ids(&self, body: &[u8]) -> anyhow::Result<Vec<usize>> {
        let v: Value = serde_json::from_slice(body)?;
        Ok(v["result"]["matches"].as_array().map(|m| m.iter().filter_map(|m| m["id"].as_str()?.parse().ok()).collect()).unwrap_or_default())
    }

    async fn settle(&self) -> anyhow::Result<()> {
        let at = strato_proto::index::v1::IndexRef { account: ACCOUNT.into(), name: self.name.clone() };
        strato_tests::bench::settle(&self.index_url(), at, self.index_pid()).await.map(drop)
    }

    fn rss_bytes(&self) -> u64 {
        crate::rss_bytes(self.index.pid())
    }
}
