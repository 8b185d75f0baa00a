//! What a client can make the gateway keep or show: metric labels come from closed sets, request
//! ids are bounded, secrets stay out of `--help`, an open gateway lets no foreign page in, and
//! `/__strato/status` shows internal addresses to an all-account token only.
use std::time::Duration;

use strato_tests::process::{Service, start_gateway};

use super::{ADMIN, LIMITED, http, send, stack};

#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_client_sends_becomes_a_metric_label() {
    let stack = stack(&[]);
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("XMADEUP{i}{}", "Q".repeat(1024 * (i % 4 + 1))).as_bytes()).expect("a token");
        let r = http().request(method, format!("{}/client/v4/accounts/a/vectorize/v2/indexes", stack.base())).send().await.expect("send");
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = http().get(format!("{}/metrics", stack.gateway.admin_url())).send().await.expect("scrape").text().await.expect("text");
    assert!(!text.contains("XMADEUP"), "a made-up method became a label");
    assert!(text.contains("method=\"other\""), "made-up methods count as other");
    assert!(text.len() < 1 << 20, "/metrics is {} bytes", text.len());

    // Request ids: a sane one is kept, a 1 KB one is replaced by a fresh one.
    let r = http().get(format!("{}/favicon.ico", stack.base())).bearer_auth(ADMIN).header("x-request-id", "req-42").send().await.expect("send");
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let long = "r".repeat(1024);
    let r = http().get(format!("{}/favicon.ico", stack.base())).bearer_auth(ADMIN).header("x-request-id", &long).send().await.expect("send");
    let id = r.headers()["x-request-id"].to_str().expect("text").to_owned();
    assert!(id.len() <= 128 && id != long, "{id}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_addresses_to_an_all_account_token_only() {
    let stack = stack(&[]);
    let url = format!("{}/__strato/status", stack.base());
    let (s, _, b) = send(http().get(&url).bearer_auth(ADMIN)).await;
    assert_eq!(s, 200);
    assert!(b["index"].is_array() && b["embedder"].is_array(), "{b}");
    let (s, _, b) = send(http().get(&url).bearer_auth(LIMITED)).await;
    assert_eq!(s, 200);
    for hidden in ["index", "embedder", "vectorize"] {
        assert!(b.get(hidden).is_none(), "{hidden} shown to a token limited to one account: {b}");
    }
}

#[test]
fn help_hides_every_secret() {
    let out = std::process::Command::new(strato_tests::bin_path("gateway"))
        .arg("--help")
        .env("STRATO_API_TOKENS", "api-secret-1234")
        .env("STRATO_SERVICE_TOKEN", "service-secret-5678")
        .output()
        .expect("gateway --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STRATO_API_TOKENS"), "{text}");
    for secret in ["api-secret-1234", "service-secret-5678"] {
        assert!(!text.contains(secret), "--help prints {secret}");
    }
}

/// Without tokens the gateway refuses to start with an origin that lets other sites in.
#[test]
fn open_mode_refuses_foreign_cors_origins() {
    let unused = "http://127.0.0.1:9";
    for origin in ["*", "http://evil.test", "https://localhost.evil.test", "http://localhost:3000,*"] {
        let e = start_gateway(unused, unused, &["--cors-origin", origin]).err().unwrap_or_else(|| panic!("{origin} accepted"));
        assert!(e.to_string().contains("refusing --cors-origin"), "{origin}: {e}");
    }
    let local: Service = start_gateway(unused, unused, &["--cors-origin", "http://localhost:3000"]).expect("a local dev server's origin");
    drop(local);
    // With a token, any origin may be configured (the token guards the API).
    let with_token = start_gateway(unused, unused, &["--cors-origin", "*", "--api-token", "t"]).expect("with a token");
    std::thread::sleep(Duration::from_millis(10));
    drop(with_token);
}

/// HTTP/1.1 only: an HTTP/2 preface gets no HTTP/2 session (whose flow control would let a
/// client keep answers unsent forever), and a request head that never ends is cut.
#[tokio::test(flavor = "multi_thread")]
async fn no_http2_and_no_endless_heads() {
    use std::io::{Read, Write};
    let stack = stack(&[]);
    let mut s = std::net::TcpStream::connect(&stack.gateway.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").expect("preface");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!got.starts_with(&[0, 0]) && (got.is_empty() || got.starts_with(b"HTTP/1.1 4")), "an HTTP/2 answer: {:?}", &got[..got.len().min(32)]);
    // A head that never ends: closed within the header timeout (10 s), not held.
    let mut s = std::net::TcpStream::connect(&stack.gateway.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: a").expect("part of a head");
    let t = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(15), "the endless head was held {:?}", t.elapsed());
}
