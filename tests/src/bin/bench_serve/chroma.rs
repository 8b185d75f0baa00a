//! The peer: a Chroma server (PyPI `chromadb`, its own HTTP server, `scripts/bench/chroma_server.sh`)
//! with a collection as a new user makes one: cosine space, Chroma's default HNSW settings.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use strato_tests::process::{free_port, scratch_dir};

use crate::Server;

const DB: &str = "/api/v2/tenants/default_tenant/databases/default_database";

pub struct Chroma {
    server: Option<Child>,
    base: String,
    http: reqwest::Client,
    collection: String,
}

impl Chroma {
    pub fn start() -> anyhow::Result<Self> {
        let mut c = Self { server: None, base: String::new(), http: reqwest::Client::new(), collection: String::new() };
        c.restart()?;
        Ok(c)
    }

    /// A fresh server on a fresh directory (so its memory is this collection's alone).
    fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let port = free_port();
        let dir = scratch_dir("chroma");
        let mut child = Command::new("bash")
            .arg(strato_tests::repo_root().join("scripts/bench/chroma_server.sh"))
            .arg(port.to_string())
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        anyhow::ensure!(line.starts_with("chroma ready"), "Chroma did not start (scripts/provision.sh --bench installs chromadb): {line:?}");
        self.server = Some(child);
        self.base = format!("http://127.0.0.1:{port}");
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Chroma {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Server for Chroma {
    fn name(&self) -> &'static str {
        "Chroma"
    }

    async fn reset(&mut self) -> anyhow::Result<()> {
        self.restart()?;
        let r = self.http.post(format!("{}{DB}/collections", self.base)).json(&json!({"name": "serve", "configuration": {"hnsw": {"space": "cosine"}}})).send().await?;
        let v: Value = r.json().await?;
        self.collection = v["id"].as_str().ok_or_else(|| anyhow::anyhow!("create collection: {v}"))?.to_owned();
        Ok(())
    }

    async fn ingest(&self, from: usize, vectors: &[Vec<f32>]) -> anyhow::Result<()> {
        let ids: Vec<String> = (from..from + vectors.len()).map(|i| i.to_string()).collect();
        let r = self.http.post(format!("{}{DB}/collections/{}/add", self.base, self.collection)).json(&json!({"ids": ids, "embeddings": vectors})).send().await?;
        anyhow::ensure!(r.status().is_success(), "add: {}", r.text().await?);
        Ok(())
    }

    fn prepare(&self, vector: &[f32], k: usize) -> reqwest::Request {
        #[allow(clippy::expect_used)]
        self.http
            .post(format!("{}{DB}/collections/{}/query", self.base, self.collection))
            .json(&json!({"query_embeddings": [vector], "n_results": k, "include": ["distances"]}))
            .build()
            .expect("request")
    }

    fn ids(&self, body: &[u8]) -> anyhow::Result<Vec<usize>> {
        let v: Value = serde_json::from_slice(body)?;
        Ok(v["ids"][0].as_array().map(|m| m.iter().filter_map(|id| id.as_str()?.parse().ok()).collect()).unwrap_or_default())
    }

    fn rss_bytes(&self) -> u64 {
        self.server.as_ref().map_or(0, |c| crate::rss_bytes(c.id()))
    }
}
