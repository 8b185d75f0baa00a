//! Leaving Cloudflare and coming back: `import` copies a Vectorize index through the REST API
//! (here a second Strato gateway plays Cloudflare: it speaks the same API) while that source
//! fails and recovers, resumes from its checkpoint after giving up, and verifies; `export` writes
//! NDJSON that `insert` (as `wrangler vectorize insert`) loads back unchanged.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, scratch_dir, start_gateway, start_index};

use super::{Cli, DIMS, values};

const ACCOUNT: &str = "acct-cf";
const TOKEN: &str = "source-token";
const N: usize = 3000;

/// The source: index-svc with a gateway in front, one index with a metadata index, namespaces
/// and metadata, filled through the REST API.
struct CloudflareLike {
    index: Service,
    gateway: Service,
    unused: String,
}

impl CloudflareLike {
    async fn start(name: &str) -> Self {
        let index = start_index(&[]).expect("source index-svc");
        let unused = super::closed_url();
        let gateway = start_gateway(&unused, &index.url(), &["--api-token", TOKEN]).expect("source gateway");
        let s = Self { index, gateway, unused };
        let http = reqwest::Client::new();
        let base = s.base();
        let ok = |r: reqwest::Response| async move {
            let status = r.status();
            let body: Value = r.json().await.expect("json");
            assert!(status.is_success(), "{status}: {body}");
            body
        };
        ok(http.post(format!("{base}/indexes")).bearer_auth(TOKEN).json(&json!({"name": name, "description": "from cloudflare", "config": {"dimensions": DIMS, "metric": "euclidean"}})).send().await.expect("create")).await;
        ok(http.post(format!("{base}/indexes/{name}/metadata_index/create")).bearer_auth(TOKEN).json(&json!({"propertyName": "genre", "indexType": "string"})).send().await.expect("metadata index")).await;
        for from in (0..N).step_by(500) {
            let lines: Vec<String> = (from..from + 500).map(|i| vector_json(i).to_string()).collect();
            let r = http.post(format!("{base}/indexes/{name}/upsert")).bearer_auth(TOKEN).header("content-type", "application/x-ndjson").body(lines.join("\n")).send().await.expect("upsert");
            ok(r).await;
        }
        // Writes are acknowledged durable but applied a moment later: wait until all are listed.
        let mut c = VectorIndexClient::connect(s.index.url()).await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.describe_index(pb::IndexRef { account: ACCOUNT.into(), name: name.into() }).await.expect("describe").into_inner().vector_count < N as u64 {
            assert!(Instant::now() < deadline, "the source never counted its vectors");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        s
    }

    fn base(&self) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2", self.gateway.url())
    }

    /// Stops the source's gateway, and after `down` starts it again where it was.
    fn outage(&mut self, down: Duration) {
        let addr = self.gateway.addr.clone();
        self.gateway.kill();
        std::thread::sleep(down);
        let args = ["--embedder", self.unused.as_str(), "--index", &self.index.url(), "--rpc-timeout-ms", "3000", "--api-token", TOKEN];
        self.gateway = Service::start_on("gateway", &addr, &args, Duration::from_secs(60)).expect("source gateway back");
    }
}

/// Vector i: metadata with a genre, every third in a namespace.
fn vector_json(i: usize) -> Value {
    let genre = ["drama", "comedy", "horror"][i % 3];
    let mut v = json!({"id": format!("m{i:05}"), "values": values(i), "metadata": {"genre": genre, "n": i, "tags": ["a", "b"], "nested": {"x": i % 7}}});
    if i % 3 == 0 {
        v["namespace"] = json!(format!("ns{}", i % 4));
    }
    v
}

/// `strato-vectorize import` as a child process (so the test can break the source meanwhile).
fn import(target: &Service, name: &str, source: &CloudflareLike, checkpoint: &std::path::Path, extra: &[&str]) -> std::process::Child {
    Command::new(strato_tests::bin_path("strato-vectorize"))
        .args(["--index-url", &target.url(), "--account", ACCOUNT, "import", name, "--from-account", ACCOUNT, "--from-index", "movies"])
        .args(["--from-url", &format!("{}/client/v4", source.gateway.url()), "--checkpoint", checkpoint.to_str().expect("path")])
        .args(extra)
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strato-vectorize import")
}

fn copied(checkpoint: &std::path::Path) -> u64 {
    std::fs::read(checkpoint).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).and_then(|v| v["copied"].as_u64()).unwrap_or(0)
}

fn finish(child: std::process::Child) -> (bool, String, String) {
    let out = child.wait_with_output().expect("wait");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every vector of `name` on index-svc `url`, by id.
async fn everything(url: &str, name: &str) -> Vec<pb::Vector> {
    let mut c = VectorIndexClient::connect(url.to_owned()).await.expect("connect");
    let (mut all, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = c.list_vectors(pb::ListVectorsRequest { account: ACCOUNT.into(), index: name.into(), count: 1000, cursor: cursor.clone() }).await.expect("list").into_inner();
        all.extend(c.get_by_ids(pb::IdsRequest { account: ACCOUNT.into(), index: name.into(), ids: page.ids }).await.expect("get").into_inner().vectors);
        if !page.is_truncated {
            break;
        }
        cursor = page.next_cursor;
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

fn assert_same(a: &[pb::Vector], b: &[pb::Vector], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: vector counts");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.id, &x.namespace, &x.metadata), (&y.id, &y.namespace, &y.metadata), "{what}");
        assert!(x.values.iter().zip(&y.values).all(|(p, q)| p.to_bits() == q.to_bits()) && x.values.len() == y.values.len(), "{what}: {} values differ", x.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn import_from_a_vectorize_api_survives_outages_resumes_and_exports_back() {
    let mut source = CloudflareLike::start("movies").await;
    let target = start_index(&[]).expect("target index-svc");
    let dir = scratch_dir("import");

    // 1. The source goes away mid-import and comes back: the import rides through it.
    let checkpoint = dir.join("movies.import.json");
    let started = Instant::now();
    let child = import(&target, "movies", &source, &checkpoint, &["--get-batch", "50"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while copied(&checkpoint) < 500 {
        assert!(Instant::now() < deadline, "the import made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    source.outage(Duration::from_millis(1500));
    let (ok, stdout, stderr) = finish(child);
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    assert!(stderr.contains("retrying"), "the outage was not seen: {stderr}");
    assert!(stdout.contains("verified"), "{stdout}");
    assert!(!checkpoint.exists(), "a finished import leaves no checkpoint");
    println!("import through an outage: {N} vectors in {:.1} s ({})", started.elapsed().as_secs_f64(), stdout.trim());
    let theirs = everything(&source.index.url(), "movies").await;
    assert_same(&theirs, &everything(&target.url(), "movies").await, "imported");

    // The config and the metadata index came along, and the filter answers from the import.
    let cli = Cli { index: target.url(), embedder: super::closed_url() };
    let info = cli.ok(&["--account", ACCOUNT, "get", "movies", "--json"]).json();
    assert_eq!((info["config"]["dimensions"].as_u64(), info["config"]["metric"].as_str()), (Some(DIMS as u64), Some("euclidean")), "{info}");
    let mi = cli.ok(&["--account", ACCOUNT, "list-metadata-index", "movies", "--json"]).json();
    assert!(mi.to_string().contains("genre"), "{mi}");
    let mut c = VectorIndexClient::connect(target.url()).await.expect("connect");
    let filter = strato_tests::json::to_struct(&json!({"genre": "horror"}));
    let q = pb::QueryRequest { account: ACCOUNT.into(), index: "movies".into(), vector: values(2), top_k: 20, filter: Some(filter), return_metadata: pb::ReturnMetadata::All as i32, ..Default::default() };
    let hits = c.query(q).await.expect("filtered query").into_inner().matches;
    assert!(!hits.is_empty() && hits.iter().all(|m| m.metadata.as_ref().is_some_and(|md| strato_proto::json::from_struct(md)["genre"] == "horror")), "{hits:?}");

    // 2. A source down for longer than the retries: the import gives up, keeps its checkpoint,
    // and the next run resumes where it stopped instead of starting over.
    let checkpoint = dir.join("again.import.json");
    let child = import(&target, "again", &source, &checkpoint, &["--retries", "2", "--get-batch", "50"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while copied(&checkpoint) < 1000 {
        assert!(Instant::now() < deadline, "the import made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let addr = source.gateway.addr.clone();
    source.gateway.kill();
    let (ok, _, stderr) = finish(child);
    assert!(!ok, "an import whose source is gone must fail");
    assert!(stderr.contains("failed 2 times"), "{stderr}");
    let kept = copied(&checkpoint);
    assert!(kept >= 1000, "the checkpoint kept {kept}");
    let args = ["--embedder", source.unused.as_str(), "--index", &source.index.url(), "--rpc-timeout-ms", "3000", "--api-token", TOKEN];
    source.gateway = Service::start_on("gateway", &addr, &args, Duration::from_secs(60)).expect("source back");
    let (ok, stdout, stderr) = finish(import(&target, "again", &source, &checkpoint, &[]));
    assert!(ok, "resume failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("Resuming the import recorded in {} ({kept} vectors", checkpoint.display())), "{stdout}");
    assert_same(&theirs, &everything(&target.url(), "again").await, "resumed");

    // 3. A wrong token is the source's own error, at once (not retried).
    let (ok, _, stderr) = finish(import(&target, "denied", &source, &dir.join("denied.json"), &["--from-token", "wrong"]));
    assert!(!ok && !stderr.contains("retrying"), "{stderr}");

    // The rate of a plain run (default batches), for the record.
    let (ok, stdout, stderr) = finish(import(&target, "plain", &source, &dir.join("plain.json"), &["--json"]));
    assert!(ok, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("--json summary");
    println!("import rate from a second Strato: {:.0} vectors/s ({N} vectors)", summary["vectorsPerSecond"].as_f64().unwrap_or(0.0));

    // 4. Export writes what insert (wrangler's format) loads back unchanged.
    let file = dir.join("movies.ndjson");
    let r = cli.ok(&["--account", ACCOUNT, "export", "movies", "--out", file.to_str().expect("path")]);
    assert!(r.stdout.contains(&format!("Exported {N} vectors")) && r.stdout.contains("wrangler vectorize insert"), "{}", r.stdout);
    cli.ok(&["--account", ACCOUNT, "create", "back", "--dimensions", &DIMS.to_string(), "--metric", "euclidean"]);
    cli.ok(&["--account", ACCOUNT, "insert", "back", "--file", file.to_str().expect("path")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cli.vector_count_in(ACCOUNT, "back") < N as u64 {
        assert!(Instant::now() < deadline, "the exported file did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_same(&theirs, &everything(&target.url(), "back").await, "exported and inserted again");
}
