//! One request is one trace: spans from every service it crossed, each parented correctly.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;
use strato_tests::otlp::{Receiver, Span};
use strato_tests::process::{Stack, start_embedder_env, start_gateway_env, start_index_env, scratch_dir};

use crate::{get_json, http};

const INDEX_SVC: &str = "strato-index";
const EMBEDDER: &str = "strato-embedder";
const GATEWAY: &str = "strato-gateway";

/// The span tree, indented, as "service: name" (printed for the record; `--nocapture` shows it).
fn tree(spans: &[Span]) -> String {
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        let parent = if ids.contains(s.parent.as_str()) { s.parent.as_str() } else { "" };
        children.entry(parent).or_default().push(s);
    }
    fn walk(out: &mut String, children: &BTreeMap<&str, Vec<&Span>>, at: &str, depth: usize) {
        let mut kids = children.get(at).cloned().unwrap_or_default();
        kids.sort_by_key(|s| s.start_ns);
        for s in kids {
            let us = s.end_ns.saturating_sub(s.start_ns) / 1000;
            out.push_str(&format!("{}{}: {} ({us} µs)\n", "  ".repeat(depth), s.service, s.name));
            walk(out, children, &s.span_id, depth + 1);
        }
    }
    let mut out = String::new();
    walk(&mut out, &children, "", 0);
    out
}

fn find<'a>(spans: &'a [Span], service: &str, name: &str) -> &'a Span {
    spans.iter().find(|s| s.service == service && s.name == name).unwrap_or_else(|| panic!("no {service} span {name:?} in\n{}", tree(spans)))
}

fn parent_of<'a>(spans: &'a [Span], s: &Span) -> &'a Span {
    spans.iter().find(|p| p.span_id == s.parent).unwrap_or_else(|| panic!("{}'s parent {} is not in the trace:\n{}", s.name, s.parent, tree(spans)))
}

/// Every span but one root has its parent in the trace; the root's parent is `root_parent`
/// (the caller's span, or none).
fn assert_one_tree(spans: &[Span], root_parent: &str) {
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&Span> = spans.iter().filter(|s| !ids.contains(s.parent.as_str())).collect();
    assert_eq!(roots.len(), 1, "one root expected:\n{}", tree(spans));
    assert_eq!(roots[0].parent, root_parent, "the root's parent:\n{}", tree(spans));
    assert_eq!(roots[0].service, GATEWAY);
}

/// A gRPC hop: the gateway's client span for `method`, and the service's server span under it.
fn assert_hop(spans: &[Span], service: &str, method: &str) {
    let client = spans.iter().find(|s| s.service == GATEWAY && s.name == method && s.kind == 3).unwrap_or_else(|| panic!("no client span {method}:\n{}", tree(spans)));
    let server = spans.iter().find(|s| s.service == service && s.name == method && s.kind == 2).unwrap_or_else(|| panic!("no server span {method}:\n{}", tree(spans)));
    assert_eq!(server.parent, client.span_id, "{method}: the server span is the client span's child:\n{}", tree(spans));
}

fn has(spans: &[Span], service: &str, name: &str) -> bool {
    spans.iter().any(|s| s.service == service && s.name == name)
}

fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_is_one_trace_across_the_three_services() {
    let _one = crate::serial();
    let rx = Receiver::start().expect("receiver");
    let ep = rx.endpoint();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", ep.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let stack = Stack::start_env(&["--create-index", "--binding-account", "obs"], &env).expect("stack");
    let base = stack.base();
    let wait = Duration::from_secs(20);

    // /insert, continuing a trace the caller started: embed, then a write through group commit.
    let (trace, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let r = http().get(format!("{base}/insert")).header("traceparent", traceparent(trace, caller)).send().await.expect("insert");
    assert_eq!(r.status(), 200);
    let spans = rx.trace(trace, wait, |s| has(s, INDEX_SVC, "fsync") && has(s, EMBEDDER, "inference") && has(s, GATEWAY, "GET /insert"));
    println!("GET /insert:\n{}", tree(&spans));
    assert_one_tree(&spans, caller);
    assert_eq!(find(&spans, GATEWAY, "GET /insert").kind, 2, "the HTTP span is a server span");
    assert_hop(&spans, EMBEDDER, "strato.embedder.v1.Embedder/Embed");
    assert_hop(&spans, INDEX_SVC, "strato.index.v1.VectorIndex/Upsert");
    for name in ["tokenize", "queue_wait", "batch"] {
        assert_eq!(parent_of(&spans, find(&spans, EMBEDDER, name)).name, "embed", "{name} is under the Embed handler's span:\n{}", tree(&spans));
    }
    assert_eq!(parent_of(&spans, find(&spans, EMBEDDER, "inference")).name, "batch");
    assert_eq!(parent_of(&spans, find(&spans, INDEX_SVC, "fsync")).name, "group_commit");
    for name in ["writer_lock", "stage", "group_commit"] {
        assert!(has(&spans, INDEX_SVC, name), "{name} missing:\n{}", tree(&spans));
    }

    // `/`, from a caller with no trace of its own: the gateway starts one; find it by request id.
    let (status, body, headers) = get_json(&base).await;
    assert_eq!(status, 200, "{body}");
    let rid = headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("request id").to_owned();
    let start = Instant::now();
    let http_span = loop {
        if let Some(s) = rx.spans().into_iter().find(|s| s.name == "GET /" && s.attributes.get("request_id") == Some(&rid)) {
            break s;
        }
        assert!(start.elapsed() < wait, "no span for request {rid}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let spans = rx.trace(&http_span.trace_id, wait, |s| has(s, INDEX_SVC, "exact_scan") && has(s, EMBEDDER, "inference"));
    println!("GET /:\n{}", tree(&spans));
    assert_one_tree(&spans, "");
    assert_hop(&spans, EMBEDDER, "strato.embedder.v1.Embedder/Embed");
    assert_hop(&spans, INDEX_SVC, "strato.index.v1.VectorIndex/Query");
    assert_eq!(parent_of(&spans, find(&spans, INDEX_SVC, "plan")).name, "query");
    assert_eq!(find(&spans, INDEX_SVC, "plan").attributes.get("path").map(String::as_str), Some("Graph"));
    assert_eq!(parent_of(&spans, find(&spans, INDEX_SVC, "exact_scan")).name, "query");
    // Every span the services made for this request id is in this one trace.
    let all = rx.spans();
    let elsewhere: Vec<&Span> = all.iter().filter(|s| s.attributes.get("request_id") == Some(&rid) && s.trace_id != http_span.trace_id).collect();
    assert!(elsewhere.is_empty(), "spans of request {rid} in other traces: {elsewhere:?}");

    // A REST query (gateway → index) continuing the caller's trace.
    let (trace, caller) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let mut vector = vec![0.0f32; 384];
    vector[0] = 1.0;
    let r = http()
        .post(format!("{base}/client/v4/accounts/obs/vectorize/v2/indexes/embeddings-index/query"))
        .header("traceparent", traceparent(trace, caller))
        .json(&json!({"vector": vector, "topK": 2}))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let route = "POST /client/v4/accounts/{account_id}/vectorize/v2/indexes/{index_name}/query";
    let spans = rx.trace(trace, wait, |s| has(s, INDEX_SVC, "exact_scan") && has(s, GATEWAY, route));
    println!("REST query:\n{}", tree(&spans));
    assert_one_tree(&spans, caller);
    assert_hop(&spans, INDEX_SVC, "strato.index.v1.VectorIndex/Query");
    assert!(!spans.iter().any(|s| s.service == EMBEDDER), "a vector query does not embed");
}

/// A collector that is down (nothing listening) or hung (accepts, never answers) slows and fails
/// nothing: requests answer as usual and SIGTERM still exits 0 promptly.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_collector_blocks_nothing() {
    let _one = crate::serial();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung_url = format!("http://{}", hung.local_addr().expect("addr"));
    let down = [("OTEL_EXPORTER_OTLP_ENDPOINT", closed.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let stuck = [("OTEL_EXPORTER_OTLP_ENDPOINT", hung_url.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let mut embedder = start_embedder_env(&[], &down).expect("embedder");
    let mut index = start_index_env(&scratch_dir("otel-down"), &[], &stuck).expect("index");
    let mut gateway = start_gateway_env(&embedder.url(), &index.url(), &["--create-index"], &stuck).expect("gateway");
    let base = gateway.url();
    for i in 0..10 {
        let t = Instant::now();
        let r = http().post(format!("{base}/insert")).json(&json!({"texts": [format!("text {i}")], "ids": [format!("t{i}")]})).send().await.expect("insert");
        assert_eq!(r.status(), 200);
        let (status, body, _) = get_json(&base).await;
        assert_eq!(status, 200, "{body}");
        assert!(t.elapsed() < Duration::from_secs(2), "round {i} took {:?}", t.elapsed());
    }
    for svc in [&gateway, &index, &embedder] {
        svc.terminate();
    }
    for svc in [&mut gateway, &mut index, &mut embedder] {
        let t = Instant::now();
        let status = svc.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("{} did not exit: {}", svc.name, svc.logs()));
        assert!(status.success(), "{} exit {status}: {}", svc.name, svc.logs());
        // The last flush is bounded (2 s) even against a collector that never answers.
        assert!(t.elapsed() < Duration::from_secs(6), "{} took {:?} to exit", svc.name, t.elapsed());
    }
    drop(hung);
}
