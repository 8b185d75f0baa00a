//! `--public-tutorial`: tokenless callers get the tutorial's Worker and nothing more, in their own
//! small pool, at a rate per address, so they cannot starve tokened callers.
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{ACCOUNT, ADMIN, create_index, http, send, stack, vz};

fn tutorial_flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--public-tutorial", "--create-index", "--binding-account", ACCOUNT, "--binding-index", "tutorial"];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn public_means_the_tutorial_and_nothing_more() {
    let stack = stack(&tutorial_flags(&[]));
    let base = stack.base();
    let (s, _, b) = send(http().get(format!("{base}/insert"))).await;
    assert_eq!(s, 200, "the tutorial's insert is public: {b}");
    let one = || async {
        let (s, _, b) = send(http().post(vz(&stack, "/tutorial/get_by_ids")).bearer_auth(ADMIN).json(&json!({"ids": ["1"]}))).await;
        assert_eq!(s, 200, "{b}");
        b["result"][0]["values"].clone()
    };
    let story = one().await;
    // Custom inserts need a token: vector "1" is not overwritten.
    let (s, _, b) = send(http().post(format!("{base}/insert")).json(&json!({"texts": ["defaced"], "ids": ["1"]}))).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(one().await, story, "a tokenless POST /insert wrote");
    let (s, _, b) = send(http().post(format!("{base}/insert")).bearer_auth(ADMIN).json(&json!({"texts": ["a new story"], "ids": ["4"]}))).await;
    assert_eq!(s, 200, "with a token it is the tutorial's extension: {b}");
    // The query: the fixed one, and short ?text= and ?topK= only.
    let (s, _, b) = send(http().get(format!("{base}/"))).await;
    assert_eq!((s, b["matches"]["matches"][0]["id"].as_str()), (200, Some("1")), "{b}");
    let (s, _, _) = send(http().get(format!("{base}/?text=a%20llama&topK=2"))).await;
    assert_eq!(s, 200);
    let long = vec!["word"; 600].join("%20");
    for q in [format!("text={long}"), "topK=50".to_owned()] {
        let (s, _, b) = send(http().get(format!("{base}/?{q}"))).await;
        assert_eq!(s, 401, "{q}: {b}");
        let (s, _, b) = send(http().get(format!("{base}/?{q}")).bearer_auth(ADMIN)).await;
        assert_eq!(s, 200, "{q} with a token: {b}");
    }
    for method in [reqwest::Method::DELETE, reqwest::Method::PUT, reqwest::Method::POST] {
        let (s, _, b) = send(http().request(method.clone(), format!("{base}/anything"))).await;
        assert_eq!(s, 401, "{method}: {b}");
    }
    // A wrong token is refused, not taken for a tokenless caller.
    let (s, _, _) = send(http().get(format!("{base}/")).bearer_auth("wrong")).await;
    assert_eq!(s, 403);
}

/// Tokenless floods and trickles use their own places; every tokened call is served.
#[tokio::test(flavor = "multi_thread")]
async fn tokenless_traffic_cannot_starve_tokened_traffic() {
    let stack = stack(&tutorial_flags(&["--max-concurrent-requests", "8", "--tokenless-max-concurrent", "2", "--public-requests-per-minute", "1000000"]));
    create_index(&stack, "starve", 32).await;
    let base = stack.base();
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    // 8 tokenless uploads that send a byte every 2 s.
    let trickles: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&stack.gateway.addr).expect("connect");
            write!(s, "POST /insert HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{").expect("head");
            s
        })
        .collect();
    // 48 tokenless clients asking queries as fast as they can.
    let mut flood = Vec::new();
    for _ in 0..48 {
        let (stop, refused, url) = (stop.clone(), refused.clone(), format!("{base}/?text=hello"));
        flood.push(tokio::spawn(async move {
            let client = http();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = client.get(&url).send().await
                    && r.status().as_u16() == 503
                {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut bad, t) = (Vec::new(), Instant::now());
    for i in 0..150 {
        let (s, _, b) = send(http().get(vz(&stack, "/starve/info")).bearer_auth(ADMIN)).await;
        if s != 200 {
            bad.push(format!("{i}: {s} {b}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        let _ = f.await;
    }
    drop(trickles);
    assert!(bad.is_empty(), "tokened calls refused while tokenless traffic ran ({:?}): {bad:?}", t.elapsed());
    assert!(refused.load(Ordering::Relaxed) > 0, "the tokenless pool was never full: the test did not load it");
}

/// One address without a token gets a burst, then 429 with `Retry-After`; a token is not limited.
#[tokio::test(flavor = "multi_thread")]
async fn tokenless_callers_are_limited_per_address() {
    let stack = stack(&tutorial_flags(&["--public-requests-per-minute", "30"]));
    let base = stack.base();
    let mut limited = None;
    for _ in 0..40 {
        let (s, retry, b) = send(http().get(format!("{base}/favicon.ico"))).await;
        if s == 429 {
            limited = Some((retry, b));
            break;
        }
    }
    let (retry, b) = limited.expect("a burst beyond 20 is limited");
    assert!(retry.as_deref().and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r >= 1), "{retry:?}");
    assert!(b["error"].as_str().unwrap_or("").contains("Too Many Requests"), "{b}");
    for _ in 0..40 {
        let (s, _, _) = send(http().get(format!("{base}/favicon.ico")).bearer_auth(ADMIN)).await;
        assert_eq!(s, 404, "a token is not limited per address");
    }
}
