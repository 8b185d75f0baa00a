//! The example Worker (`examples/embeddings-worker`, the Vectorize tutorial's Worker plus routes
//! for the rest of the binding) served for real by workerd and by miniflare, its `env.AI` and
//! `env.VECTORIZE` backed by a Strato stack through the bindings' own protocols. The npm packages
//! come from the registry (`scripts/worker/run.sh` caches them); if they cannot be installed the
//! test fails, it never skips.
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strato_tests::process::{Stack, free_port, scratch_dir};

const ACCOUNT: &str = "worker";

struct Runtime {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Runtime {
    /// `scripts/worker/run.sh [--miniflare]` against `strato`, once it answers.
    fn start(flag: Option<&str>, strato: &str) -> Self {
        let port = free_port();
        let log = scratch_dir("worker").join("log");
        let out = std::fs::File::create(&log).expect("log");
        let mut cmd = Command::new("bash");
        cmd.arg(strato_tests::repo_root().join("scripts/worker/run.sh"));
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let child = cmd
            .env("STRATO_URL", strato)
            .env("WORKER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("run.sh");
        let mut rt = Self { child, base: format!("http://127.0.0.1:{port}"), log };
        // The first run installs from npm.
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return rt;
            }
            if let Ok(Some(status)) = rt.child.try_wait() {
                panic!("run.sh {flag:?} exited ({status}) before serving (npm packages not installable?):\n{}", rt.logs());
            }
            assert!(started.elapsed() < Duration::from_secs(300), "the Worker did not serve within 300 s:\n{}", rt.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Value {
        let r = reqwest::Client::new().get(format!("{}{path}", self.base)).timeout(Duration::from_secs(60)).send().await.expect(path);
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{path}: {body}\n{}", self.logs());
        body
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The whole group (miniflare's node and the workerd it runs): TERM, then KILL.
        let group = format!("-{}", self.child.id());
        for signal in ["TERM", "KILL"] {
            let _ = Command::new("kill").args(["-s", signal, "--", group.as_str()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Strato's own `/` (the gateway's tutorial), for the score the Worker must give.
async fn strato_score(stack: &Stack) -> f64 {
    let b: Value = reqwest::get(stack.base()).await.expect("/").json().await.expect("json");
    b["matches"]["matches"][0]["score"].as_f64().expect("score")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tutorial_worker_runs_unchanged_on_workerd_and_miniflare() {
    let stack = Stack::start(&["--create-index", "--binding-account", ACCOUNT]).expect("stack");
    // Filtering needs a metadata index, made before the vectors it should index (REST API).
    let r = reqwest::Client::new()
        .post(format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/embeddings-index/metadata_index/create", stack.base()))
        .json(&json!({"propertyName": "subject", "indexType": "string"}))
        .send()
        .await
        .expect("metadata index");
    assert_eq!(r.status(), 200);

    let w = Runtime::start(None, &stack.base());
    // The tutorial's two routes.
    let b = w.get("/insert").await;
    assert!(b["mutationId"].as_str().is_some_and(|m| m.len() == 36) && b.as_object().map(|o| o.len()) == Some(1), "{b}");
    let b = w.get("/").await;
    assert_eq!(b["matches"]["count"], 1, "{b}");
    assert_eq!(b["matches"]["matches"][0]["id"], "1", "{b}");
    let score = b["matches"]["matches"][0]["score"].as_f64().expect("score");
    let own = strato_score(&stack).await;
    assert!((score - own).abs() < 1e-6, "the Worker's score {score} vs Strato's own / {own}");
    // The rest of the binding.
    let b = w.get("/describe").await;
    assert_eq!((b["dimensions"].clone(), b["vectorCount"].clone()), (json!(384), json!(3)), "{b}");
    assert!(b["processedUpToMutation"].is_string(), "{b}");
    let b = w.get("/query-by-id?id=2&topK=3").await;
    assert_eq!((b["count"].clone(), b["matches"][0]["id"].clone()), (json!(3), json!("2")), "{b}");
    assert!(b["matches"][0]["score"].as_f64().is_some_and(|s| s > 0.9999), "{b}");
    let b = w.get("/get-by-ids?ids=1,3,nope").await;
    let got: Vec<&str> = b.as_array().expect("array").iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(got, ["1", "3"], "{b}");
    assert_eq!(b[0]["values"].as_array().map(Vec::len), Some(384));
    let b = w.get("/return-values").await;
    assert_eq!(b["matches"][0]["values"].as_array().map(Vec::len), Some(384), "{b}");
    assert!(w.get("/insert-metadata").await["mutationId"].is_string());
    let b = w.get("/return-metadata?level=all").await;
    assert!(b["matches"].as_array().expect("matches").iter().any(|m| m["metadata"]["colour"] == "orange"), "{b}");
    let b = w.get("/return-metadata?level=indexed").await;
    let m = b["matches"].as_array().expect("matches").iter().find(|m| m["id"] == "4").expect("id 4");
    assert_eq!(m["metadata"], json!({"subject": "cloud"}), "only indexed properties: {b}");
    let b = w.get("/filter").await;
    assert_eq!((b["count"].clone(), b["matches"][0]["id"].clone()), (json!(1), json!("5")), "filter subject = llama: {b}");
    let b = w.get("/namespace?ns=emoji").await;
    assert_eq!((b["count"].clone(), b["matches"][0]["id"].clone(), b["matches"][0]["namespace"].clone()), (json!(1), json!("6"), json!("emoji")), "{b}");
    assert!(w.get("/delete-by-ids?ids=3").await["mutationId"].is_string());
    assert_eq!(w.get("/get-by-ids?ids=3").await, json!([]), "read-your-writes: deleted");
    let b = w.get("/wrong-dimension").await;
    assert_eq!(b["error"], "VECTOR_QUERY_ERROR (code = 40006): invalid query vector, expected 384 dimensions, and got 3 dimensions", "{b}");
    drop(w);

    // miniflare, its remote bindings pointed at Strato's proxy endpoint.
    let m = Runtime::start(Some("--miniflare"), &stack.base());
    let b = m.get("/insert").await;
    assert!(b["mutationId"].is_string(), "{b}");
    let b = m.get("/").await;
    assert_eq!(b["matches"]["matches"][0]["id"], "1", "{b}");
    assert!((b["matches"]["matches"][0]["score"].as_f64().unwrap_or(0.0) - own).abs() < 1e-6, "{b}");
    let b = m.get("/describe").await;
    assert_eq!(b["vectorCount"], 6, "{b}");
    let b = m.get("/filter").await;
    assert_eq!(b["matches"][0]["id"], "5", "{b}");
    let b = m.get("/wrong-dimension").await;
    assert_eq!(b["error"], "VECTOR_QUERY_ERROR (code = 40006): invalid query vector, expected 384 dimensions, and got 3 dimensions", "{b}");
}
