//! Peak resident memory per route, for bodies at and over its limit: the gateway's `VmHWM`
//! (reset before each request through `/proc/PID/clear_refs`) minus its `VmRSS` before, as a
//! multiple of the body. Before #22 a 28.6 MB `{"input": [0, 0, …]}` peaked at 497 MB (17×) and
//! a 28 MB metadata line at 1,112 MB.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use strato_tests::process::{Service, Stack, start_gateway};

use super::{ACCOUNT, ADMIN, create_index, http, send, stack, tokens_file, vector_count, vz};

/// What a request may hold per byte of its body (the gateway's `budget::BODY_COST`), and the
/// allocator's and runtime's slack on top.
const BODY_COST: u64 = 3;
const SLACK: u64 = 24 << 20;

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    text.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

/// Runs `f` and answers (its result, the gateway's peak growth in bytes).
async fn peak_of<T>(pid: u32, f: impl Future<Output = T>) -> (T, u64) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak (VmHWM)");
    let before = status_kib(pid, "VmRSS:");
    let out = f.await;
    let peak = status_kib(pid, "VmHWM:");
    (out, peak.saturating_sub(before) * 1024)
}

/// `[0,0,…]` of about `bytes`.
fn zeros(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 2);
    s.push('[');
    while s.len() < bytes {
        s.push_str("0,");
    }
    s.push('0');
    s.push(']');
    s
}

/// A 1,536-dimension vector line with long decimals (~31 KB).
fn long_line(i: usize) -> String {
    let values: Vec<String> = (0..1536).map(|d| format!("{:.17}", ((i * 7 + d) % 1000) as f64 / 1000.0 + 0.000_123_456_789)).collect();
    format!("{{\"id\":\"v{i}\",\"values\":[{}]}}", values.join(","))
}

/// A gateway of its own on `stack`'s services, so that its peak is one request's and no memory
/// an earlier request freed (and the allocator kept) hides what this one takes.
fn fresh_gateway(stack: &Stack) -> Service {
    let tokens = tokens_file();
    start_gateway(&stack.embedder.url(), &stack.index.url(), &["--api-tokens-file", &tokens, "--memory-budget-mib", "2048"]).expect("gateway")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_route_costs_a_small_multiple_of_its_body() {
    let stack = stack(&[]);
    let model = strato_tests::TEST_MODEL;
    let big = 28 << 20;
    create_index(&stack, "mem", 1536).await;
    let mut report = Vec::new();
    let mut check = |name: &str, status: u16, want: u16, body: usize, peak: u64| {
        report.push(format!("{name}: {status}, body {:.1} MB, peak +{:.1} MB = {:.2}x", body as f64 / 1e6, peak as f64 / 1e6, peak as f64 / body as f64));
        assert_eq!(status, want, "{name}");
        assert!(peak <= BODY_COST * body as u64 + SLACK, "{name}: peak +{peak} B for a {body} B body\n{}", report.join("\n"));
    };
    let index = |gw: &Service, rest: &str| format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/mem{rest}", gw.url());

    // The embeddings routes, each with a body that breaks the schema at its first item.
    let zs = zeros(big);
    let run = format!("/client/v4/accounts/{ACCOUNT}/ai/run/{model}");
    let cases = [
        ("/v1/embeddings", format!("{{\"model\":\"{model}\",\"input\":{zs}}}"), vec![]),
        (run.as_str(), format!("{{\"text\":{zs}}}"), vec![]),
        ("/__strato/binding/ai/run?version=3", format!("{{\"inputs\":{{\"text\":{zs}}}}}"), vec![("cf-consn-model-id", model)]),
    ];
    for (path, body, headers) in cases {
        let gw = fresh_gateway(&stack);
        let mut req = http().post(format!("{}{path}", gw.url())).bearer_auth(ADMIN).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let len = body.len();
        let ((s, _, b), peak) = peak_of(gw.pid(), send(req.body(body))).await;
        check(path, s, 400, len, peak);
        assert!(b.to_string().contains("string") || b.to_string().contains("token arrays"), "{path}: {b}");
    }

    // A 28 MB metadata line: refused (400, not 500), nothing written.
    let line = format!("{{\"id\":\"m\",\"values\":[{}],\"metadata\":{{\"k\":\"{}\"}}}}", vec!["0.5"; 1536].join(","), "x".repeat(big));
    let len = line.len();
    let gw = fresh_gateway(&stack);
    let ((s, _, b), peak) = peak_of(gw.pid(), send(http().post(index(&gw, "/upsert")).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(line))).await;
    check("upsert, 28 MB metadata", s, 400, len, peak);
    assert!(b["errors"][0]["message"].as_str().unwrap_or("").contains("too large"), "{b}");
    assert_eq!(vector_count(&stack, "mem").await, 0);

    // 1,000 vectors of 1,536 long decimals (~31 MB): written.
    let body = (0..1000).map(long_line).collect::<Vec<_>>().join("\n");
    let len = body.len();
    let gw = fresh_gateway(&stack);
    let ((s, _, b), peak) = peak_of(gw.pid(), send(http().post(index(&gw, "/upsert")).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(body))).await;
    check("upsert, 1,000 x 1,536 long decimals", s, 200, len, peak);
    assert!(b["result"]["mutationId"].is_string(), "{b}");
    assert_eq!(vector_count(&stack, "mem").await, 1000);

    // getByIds: a 12 KB question for ~30 MB of answer is bounded by its answer, not its body.
    let ids: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
    let gw = fresh_gateway(&stack);
    let ((s, _, b), peak) = peak_of(gw.pid(), send(http().post(index(&gw, "/get_by_ids")).bearer_auth(ADMIN).json(&json!({"ids": ids})))).await;
    let answer = b.to_string().len();
    report.push(format!("get_by_ids 1,000: {s}, answer {:.1} MB, peak +{:.1} MB = {:.2}x the answer", answer as f64 / 1e6, peak as f64 / 1e6, peak as f64 / answer as f64));
    assert_eq!((s, b["result"].as_array().map(Vec::len)), (200, Some(1000)));
    assert!(peak <= 4 * answer as u64 + SLACK, "get_by_ids: peak +{peak} B for a {answer} B answer\n{}", report.join("\n"));
    // 1,001 ids: refused while the list is read (40007), before anything is asked.
    let ids: Vec<String> = (0..1001).map(|i| format!("v{i}")).collect();
    let (s, _, b) = send(http().post(vz(&stack, "/mem/get_by_ids")).bearer_auth(ADMIN).json(&json!({"ids": ids}))).await;
    assert_eq!((s, super::code(&b)), (400, 40007), "{b}");

    // Over a limit by its declared length: 413, and nothing of the body is kept (it is read and
    // dropped, so that the client, still sending, gets the answer rather than a reset).
    for (path, limit) in [(format!("/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/mem/upsert"), 101usize << 20), ("/v1/embeddings".to_owned(), 32 << 20)] {
        let gw = fresh_gateway(&stack);
        let req = http().post(format!("{}{path}", gw.url())).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(vec![b' '; limit + 1]);
        let ((s, _, b), peak) = peak_of(gw.pid(), send(req)).await;
        report.push(format!("{path} over its limit: {s}, peak +{:.1} MB", peak as f64 / 1e6));
        assert_eq!(s, 413, "{path}: {b}");
        assert!(peak < 8 << 20, "{path}: the refused body was kept (peak +{peak} B)\n{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}

/// A connection whose receive window stays small (64 KiB: no autotuning), so an answer it does
/// not read stays in the gateway rather than in this side's kernel buffers.
fn small_window(addr: &str) -> TcpStream {
    let addr: std::net::SocketAddr = addr.parse().expect("address");
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// Reads up to the end of a response head (or 64 KiB).
fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn held_bytes(stack: &Stack) -> f64 {
    let text = http().get(format!("{}/metrics", stack.gateway.admin_url())).send().await.expect("scrape").text().await.expect("text");
    metric(&text, "strato_gateway_memory_held_bytes").expect("the budget's gauge")
}

/// Clients that ask for ~9 MB answers and never read them hold what they were charged, never
/// more than the budget together: once it is full the next is answered 503 1503 at once, and
/// when their sends stall past `--send-stall-timeout-ms` their connections are closed and the
/// budget comes back. Before #22 every one was served and kept its answer, twice over.
#[tokio::test(flavor = "multi_thread")]
async fn clients_that_never_read_hold_at_most_the_budget() {
    let budget_mib = 112u64;
    let stack = stack(&["--memory-budget-mib", &budget_mib.to_string(), "--send-stall-timeout-ms", "3000"]);
    let pid = stack.gateway.pid();
    create_index(&stack, "stall", 1536).await;
    for chunk in 0..4 {
        let body = (chunk * 250..(chunk + 1) * 250).map(long_line).collect::<Vec<_>>().join("\n");
        let (s, _, b) = send(http().post(vz(&stack, "/stall/upsert")).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(body)).await;
        assert_eq!(s, 200, "{b}");
    }
    // 300 ids: charged ~77 MB each before the answer (its worst case), then the ~9 MB answer.
    let ids: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let body = json!({"ids": ids}).to_string();
    let path = format!("/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/stall/get_by_ids");
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak");
    let before = status_kib(pid, "VmRSS:") * 1024;
    let (mut held, mut statuses) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let mut s = small_window(&stack.gateway.addr);
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(s, "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).expect("request");
        let head = read_head(&mut s);
        statuses.push(head.get(9..12).unwrap_or("").to_owned());
        if head.starts_with("HTTP/1.1 503") {
            assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
        }
        let h = held_bytes(&stack).await;
        assert!(h <= (budget_mib << 20) as f64, "held {h} B over the budget");
        held.push(s);
    }
    let peak = status_kib(pid, "VmHWM:") * 1024 - before;
    assert!(statuses.iter().filter(|s| *s == "200").count() >= 2, "{statuses:?}");
    assert!(statuses.iter().any(|s| s == "503"), "the budget must refuse once full: {statuses:?}");
    assert!(peak <= (budget_mib << 20) + (64 << 20), "peak +{peak} B with a {budget_mib} MiB budget");
    // Past the stall timeout the stalled connections are closed and the budget is back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while held_bytes(&stack).await > (1 << 20) as f64 {
        assert!(Instant::now() < deadline, "the stalled answers still hold {} B", held_bytes(&stack).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (s, _, b) = send(http().post(vz(&stack, "/stall/get_by_ids")).bearer_auth(ADMIN).json(&json!({"ids": ["v1"]}))).await;
    assert_eq!(s, 200, "{b}");
    drop(held);
}

/// Metadata of many small values is a tree far larger than its text (`[0,0,…]`: 5,116 numbers
/// in 10 KiB): it is charged by its nodes as it is read, so a batch of it is admitted only as far
/// as the budget holds it, and refused whole beyond.
#[tokio::test(flavor = "multi_thread")]
async fn metadata_trees_are_charged_by_their_nodes() {
    let stack = stack(&[]);
    create_index(&stack, "tree", 32).await;
    let zeros = vec!["0"; 5116].join(",");
    let line = |i: usize| format!("{{\"id\":\"t{i}\",\"values\":[{}],\"metadata\":{{\"a\":[{zeros}]}}}}", vec!["0.5"; 32].join(","));
    let body = (0..400).map(line).collect::<Vec<_>>().join("\n");
    let len = body.len() as u64;
    let nodes = 400 * 5117;
    let tokens = tokens_file();
    // A budget the tree cannot fit: refused whole (413: it never could), nothing written.
    let small = start_gateway(&stack.embedder.url(), &stack.index.url(), &["--api-tokens-file", &tokens, "--memory-budget-mib", "48"]).expect("gateway");
    let url = |gw: &Service| format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/tree/upsert", gw.url());
    let (s, _, b) = send(http().post(url(&small)).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(body.clone())).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(vector_count(&stack, "tree").await, 0);
    // A budget that holds it: written, and the peak is what was charged (3 bytes a byte of body
    // and 40 a node), not more.
    let gw = fresh_gateway(&stack);
    let ((s, _, b), peak) = peak_of(gw.pid(), send(http().post(url(&gw)).bearer_auth(ADMIN).header("content-type", "application/x-ndjson").body(body))).await;
    assert_eq!(s, 200, "{b}");
    let charged = BODY_COST * len + nodes * 40;
    println!("metadata trees: body {:.1} MB, charged {:.1} MB, peak +{:.1} MB", len as f64 / 1e6, charged as f64 / 1e6, peak as f64 / 1e6);
    assert!(peak <= charged + SLACK, "peak +{peak} B, charged {charged} B");
}

/// A slow upload holds what it has sent, not what it declared: a client that declares 20 MB and
/// sends a byte leaves the budget to everyone else.
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_length_reserves_nothing_until_it_arrives() {
    let stack = stack(&["--memory-budget-mib", "64"]);
    create_index(&stack, "slow", 32).await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(&stack.gateway.addr).expect("connect");
        write!(s, "POST /client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/slow/upsert HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 20000000\r\n\r\n ").expect("head");
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(held_bytes(&stack).await < (2 << 20) as f64, "the declared lengths are held");
    let (s, _, b) = send(http().get(vz(&stack, "/slow/info")).bearer_auth(ADMIN)).await;
    assert_eq!(s, 200, "{b}");
    drop(slow);
}
