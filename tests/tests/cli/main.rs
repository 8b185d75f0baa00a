//! `strato-vectorize` (the wrangler-vectorize look-alike) against a real index-svc: the binary is
//! run as a user would, and its stdout/stderr/exit code are checked.
mod migrate;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use strato_tests::process::{Service, scratch_dir, start_index};

const DIMS: usize = 32;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// An address nobody listens on (bound, then released).
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

fn run_cli(index_url: &str, embedder_url: &str, args: &[&str]) -> Run {
    let bin = strato_tests::bin_path("strato-vectorize");
    assert!(bin.exists(), "{} not built (cargo build --release --workspace)", bin.display());
    let out: Output = Command::new(&bin)
        .arg("--index-url")
        .arg(index_url)
        .arg("--embedder-url")
        .arg(embedder_url)
        .args(args)
        .env_remove("STRATO_ACCOUNT")
        .stdin(Stdio::null())
        .output()
        .expect("run strato-vectorize");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Cli {
    index: String,
    embedder: String,
}

impl Cli {
    fn new(svc: &Service) -> Self {
        Self { index: svc.url(), embedder: closed_url() }
    }

    fn run(&self, args: &[&str]) -> Run {
        run_cli(&self.index, &self.embedder, args)
    }

    /// Runs and requires exit 0.
    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?} failed:\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        r
    }

    /// Runs and requires exit 1 with a `✘` error on stderr.
    fn fails(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 1, "{args:?} should fail:\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains('✘'), "{args:?}: no ✘ error on stderr: {}", r.stderr);
        r
    }

    fn vector_count_in(&self, account: &str, name: &str) -> u64 {
        let info = self.ok(&["--account", account, "info", name, "--json"]).json();
        info["vectorCount"].as_u64().unwrap_or_else(|| panic!("no vectorCount in {info}"))
    }

    fn vector_count(&self, name: &str) -> u64 {
        let info = self.ok(&["info", name, "--json"]).json();
        info["vectorCount"].as_u64().unwrap_or_else(|| panic!("no vectorCount in {info}"))
    }
}

/// Deterministic, well spread values (an LCG), so every vector is its own nearest neighbour.
fn values(i: usize) -> Vec<f32> {
    let mut state = (i as u64 + 1).wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..DIMS)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn metadata(i: usize) -> Value {
    json!({ "group": i % 10, "name": format!("v{i}"), "even": i % 2 == 0 })
}

fn write_ndjson(path: &Path, n: usize) {
    let mut lines = Vec::with_capacity(n + 1);
    for i in 0..n {
        lines.push(json!({ "id": format!("v{i}"), "values": values(i), "metadata": metadata(i) }).to_string());
        if i == n / 2 {
            lines.push(String::new()); // blank lines are accepted
        }
    }
    // CRLF line ends are accepted too.
    std::fs::write(path, lines.join("\r\n")).expect("write ndjson");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrangler_style_round_trip() {
    let svc = start_index(&[]).expect("index-svc");
    let cli = Cli::new(&svc);
    let dir = scratch_dir("cli");

    // create → list / get / info
    let r = cli.ok(&["create", "cli-test", "--dimensions", "32", "--metric", "cosine", "--description", "made by the CLI"]);
    assert!(r.stdout.contains("✅ Successfully created a new Vectorize index: 'cli-test'"), "{}", r.stdout);

    let list = cli.ok(&["list", "--json"]).json();
    let entry = list
        .as_array()
        .expect("list is an array")
        .iter()
        .find(|i| i["name"] == "cli-test")
        .unwrap_or_else(|| panic!("cli-test not listed: {list}"))
        .clone();
    assert_eq!(entry["config"], json!({ "dimensions": 32, "metric": "cosine" }));

    let got = cli.ok(&["get", "cli-test", "--json"]).json();
    assert_eq!(got["name"], "cli-test");
    assert_eq!(got["description"], "made by the CLI");
    assert_eq!(got["config"]["dimensions"], 32);
    assert_eq!(got["config"]["metric"], "cosine");
    assert!(got["created_on"].as_str().is_some_and(|s| !s.is_empty()), "created_on: {got}");
    assert!(got["modified_on"].as_str().is_some_and(|s| !s.is_empty()), "modified_on: {got}");

    let table = cli.ok(&["get", "cli-test"]).stdout;
    assert!(table.contains("│ name") && table.contains("│ cli-test") && table.contains("cosine"), "{table}");

    let info = cli.ok(&["info", "cli-test", "--json"]).json();
    assert_eq!(info["dimensions"], 32);
    assert_eq!(info["vectorCount"], 0);

    // upsert 2500 vectors in batches of 1000
    let file = dir.join("vectors.ndjson");
    write_ndjson(&file, 2500);
    let file_arg = file.to_str().expect("utf-8 path");
    let r = cli.ok(&["upsert", "cli-test", "--file", file_arg, "--batch-size", "1000"]);
    let batches: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("✨ Enqueued")).collect();
    assert_eq!(batches.len(), 3, "{}", r.stdout);
    assert!(
        batches[0].starts_with(
            "✨ Enqueued 1000 vectors into index 'cli-test' for upsertion. Mutation changeset identifier: "
        ),
        "{}",
        batches[0]
    );
    assert!(batches[2].starts_with("✨ Enqueued 500 vectors"), "{}", batches[2]);
    assert!(r.stdout.contains("✅ Successfully enqueued 2500 vectors into index 'cli-test' for upsertion."), "{}", r.stdout);
    assert_eq!(cli.vector_count("cli-test"), 2500);
    let info = cli.ok(&["info", "cli-test", "--json"]).json();
    assert!(info["processedUpToMutation"].as_str().is_some_and(|s| !s.is_empty()), "{info}");

    // --json on a write: only the summary on stdout
    let small = dir.join("small.ndjson");
    std::fs::write(&small, format!("{}\n", json!({ "id": "v0", "values": values(0), "metadata": metadata(0) })))
        .expect("write");
    let r = cli.ok(&["insert", "cli-test", "--file", small.to_str().expect("utf-8"), "--json"]);
    assert_eq!(r.json(), json!({ "index": "cli-test", "count": 1 }));
    assert_eq!(cli.vector_count("cli-test"), 2500);

    // query by id
    let q = cli.ok(&["query", "cli-test", "--vector-id", "v42", "--top-k", "3", "--return-metadata", "all", "--json"]).json();
    assert_eq!(q["count"], 3, "{q}");
    let matches = q["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 3);
    assert_eq!(matches[0]["id"], "v42");
    let score = matches[0]["score"].as_f64().expect("score");
    assert!((score - 1.0).abs() < 1e-3, "self-match score {score}");
    assert_eq!(matches[0]["metadata"], metadata(42));
    assert!(matches[0].get("values").is_none(), "values not asked for: {q}");

    // query by vector (negative numbers on the command line), with values back
    let v7: Vec<String> = values(7).iter().map(|x| x.to_string()).collect();
    let mut args = vec!["query", "cli-test", "--top-k", "1", "--return-values", "--json", "--vector"];
    args.extend(v7.iter().map(String::as_str));
    let q = cli.ok(&args).json();
    assert_eq!(q["matches"][0]["id"], "v7", "{q}");
    assert_eq!(q["matches"][0]["values"].as_array().map(Vec::len), Some(DIMS));

    // human output of query: a banner and the pretty JSON
    let r = cli.ok(&["query", "cli-test", "--vector-id", "v3", "--top-k", "1"]);
    assert!(r.stdout.contains("\"matches\"") && r.stdout.contains("\"v3\""), "{}", r.stdout);

    // metadata indexes
    let r = cli.ok(&["create-metadata-index", "cli-test", "--propertyName", "group", "--type", "number"]);
    assert!(
        r.stdout.contains("✅ Successfully enqueued metadata index creation request. Mutation changeset identifier: "),
        "{}",
        r.stdout
    );
    cli.ok(&["create-metadata-index", "cli-test", "--property-name", "name", "--type", "string"]);
    let m = cli.ok(&["list-metadata-index", "cli-test", "--json"]).json();
    let list = m["metadataIndexes"].as_array().expect("metadataIndexes");
    assert!(list.contains(&json!({ "propertyName": "group", "indexType": "number" })), "{m}");
    assert!(list.contains(&json!({ "propertyName": "name", "indexType": "string" })), "{m}");
    let table = cli.ok(&["list-metadata-index", "cli-test"]).stdout;
    assert!(table.contains("propertyName") && table.contains("│ group") && table.contains("number"), "{table}");
    let r = cli.ok(&["delete-metadata-index", "cli-test", "--property-name", "name"]);
    assert!(r.stdout.contains("metadata index deletion request"), "{}", r.stdout);
    let m = cli.ok(&["list-metadata-index", "cli-test", "--json"]).json();
    assert_eq!(m, json!({ "metadataIndexes": [{ "propertyName": "group", "indexType": "number" }] }));

    // get-vectors
    let v = cli.ok(&["get-vectors", "cli-test", "--ids", "v1", "v2", "--json"]).json();
    let mut got = v.as_array().expect("array").clone();
    got.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    assert_eq!(got.len(), 2, "{v}");
    assert_eq!(got[0]["id"], "v1");
    assert_eq!(got[0]["metadata"], metadata(1));
    let vals: Vec<f32> = got[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    let want = values(1);
    assert_eq!(vals.len(), want.len());
    for (g, w) in vals.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "values differ: {vals:?} vs {want:?}");
    }

    // delete-vectors
    let r = cli.ok(&["delete-vectors", "cli-test", "--ids", "v1"]);
    assert!(
        r.stdout.contains(
            "✅ Successfully enqueued 1 vectors into index 'cli-test' for deletion. Mutation changeset identifier: "
        ),
        "{}",
        r.stdout
    );
    assert_eq!(cli.vector_count("cli-test"), 2499);
    assert_eq!(cli.ok(&["get-vectors", "cli-test", "--ids", "v1", "--json"]).json(), json!([]));

    // list-vectors
    let page = cli.ok(&["list-vectors", "cli-test", "--count", "5", "--json"]).json();
    assert_eq!(page["count"], 5, "{page}");
    assert_eq!(page["totalCount"], 2499);
    assert_eq!(page["isTruncated"], true);
    assert_eq!(page["vectors"].as_array().map(Vec::len), Some(5));
    let cursor = page["nextCursor"].as_str().expect("nextCursor").to_owned();
    let next = cli.ok(&["list-vectors", "cli-test", "--count", "5", "--cursor", &cursor, "--json"]).json();
    assert_ne!(next["vectors"][0], page["vectors"][0], "the cursor moves on");
    let human = cli.ok(&["list-vectors", "cli-test", "--count", "5"]).stdout;
    assert!(human.contains("Vector ID") && human.contains("Showing 5 of 2499 total vectors"), "{human}");
    assert!(human.contains("--cursor"), "next-page hint: {human}");

    // a malformed file (line 3) is refused before anything is sent
    let bad = dir.join("bad.ndjson");
    let mut lines: Vec<String> =
        (0..5).map(|i| json!({ "id": format!("x{i}"), "values": values(10_000 + i) }).to_string()).collect();
    lines[2] = "{\"id\": \"x2\", \"values\": [0.1, 0.2,".to_owned();
    std::fs::write(&bad, lines.join("\n")).expect("write bad");
    let r = cli.fails(&["upsert", "cli-test", "--file", bad.to_str().expect("utf-8"), "--batch-size", "1"]);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    assert!(!r.stdout.contains("Enqueued"), "{}", r.stdout);
    assert_eq!(cli.vector_count("cli-test"), 2499);
    assert_eq!(cli.ok(&["get-vectors", "cli-test", "--ids", "x0", "x1", "--json"]).json(), json!([]));

    // wrong dimensions: also refused up front, naming the line
    let short = dir.join("short.ndjson");
    std::fs::write(&short, format!("{}\n{}\n", json!({"id": "y0", "values": values(0)}), json!({"id": "y1", "values": [1.0, 2.0]})))
        .expect("write short");
    let r = cli.fails(&["insert", "cli-test", "--file", short.to_str().expect("utf-8")]);
    assert!(r.stderr.contains("line 2") && r.stderr.contains("expected 32 dimensions"), "{}", r.stderr);
    assert_eq!(cli.vector_count("cli-test"), 2499);

    // wrangler's batch limit
    let r = cli.fails(&["upsert", "cli-test", "--file", file_arg, "--batch-size", "5001"]);
    assert!(r.stderr.contains("5000"), "{}", r.stderr);

    // create without a config
    let r = cli.fails(&["create", "no-config"]);
    assert!(
        r.stderr.contains("You must provide both dimensions and a metric, or a known model preset when creating an index."),
        "{}",
        r.stderr
    );
    let r = cli.fails(&["create", "no-config", "--dimensions", "32"]);
    assert!(r.stderr.contains("You must provide both dimensions and a metric"), "{}", r.stderr);

    // an unknown index: Vectorize's wording
    let r = cli.fails(&["info", "no-such-index"]);
    assert!(r.stderr.contains("vectorize.index.not_found"), "{}", r.stderr);

    // delete: refused without --force when stdin is not a terminal, done with it
    let r = cli.fails(&["delete", "cli-test"]);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    cli.ok(&["get", "cli-test", "--json"]);
    let r = cli.ok(&["delete", "cli-test", "--force"]);
    assert!(r.stdout.contains("✅ Deleted index cli-test"), "{}", r.stdout);
    let r = cli.fails(&["get", "cli-test"]);
    assert!(r.stderr.contains("vectorize.index.not_found"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn preset_falls_back_to_the_builtin_table_and_connection_errors_name_the_url() {
    let svc = start_index(&[]).expect("index-svc");
    let cli = Cli::new(&svc); // its embedder URL is closed

    let r = cli.ok(&["create", "cli-preset", "--preset", "@cf/baai/bge-base-en-v1.5"]);
    assert!(r.stdout.contains("✅ Successfully created a new Vectorize index: 'cli-preset'"), "{}", r.stdout);
    assert!(r.stderr.contains("unreachable") && r.stderr.contains("built-in"), "fallback not stated: {}", r.stderr);
    let got = cli.ok(&["get", "cli-preset", "--json"]).json();
    assert_eq!(got["config"], json!({ "dimensions": 768, "metric": "cosine" }));

    let r = cli.fails(&["create", "cli-unknown", "--preset", "acme/not-a-model"]);
    assert!(r.stderr.contains("acme/not-a-model"), "{}", r.stderr);

    // a duplicate name: Vectorize's wording, exit 1
    let r = cli.fails(&["create", "cli-preset", "--dimensions", "32", "--metric", "euclidean"]);
    assert!(r.stderr.contains("vectorize.index.duplicate_name"), "{}", r.stderr);

    // nothing listening: a clear message naming the URL
    let down = closed_url();
    let r = run_cli(&down, &down, &["list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&down) && r.stderr.contains("index-svc"), "{}", r.stderr);

    // usage errors exit 1 too; --help exits 0
    let r = cli.run(&["query", "cli-preset"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("Either vector or vector-id"), "{}", r.stderr);
    let r = cli.run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("create-metadata-index"), "{}", r.stdout);
}
