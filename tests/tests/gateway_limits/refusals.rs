//! What Cloudflare refuses, Strato refuses (spec §2, §4), and a refused request writes nothing.
use serde_json::{Value, json};
use strato_tests::TEST_MODEL;

use super::{ACCOUNT, ADMIN, code, create_index, http, send, stack, vector_count, vz};

fn line(id: &str, extra: Value) -> String {
    let mut v = json!({"id": id, "values": vec![0.25f32; 32]});
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cloudflare_refuses_is_refused_and_writes_nothing() {
    let stack = stack(&[]);
    create_index(&stack, "refuse", 32).await;
    let post = |path: &str, ct: &str, body: String| http().post(vz(&stack, &format!("/refuse{path}"))).bearer_auth(ADMIN).header("content-type", ct).body(body);

    // Writes that are refused whole.
    let deep = json!({"metadata": {"a": {"b": {"c": 1}}}});
    let cases = [
        ("metadata two object levels deep", "application/x-ndjson", format!("{}\n{}", line("ok", json!({})), line("deep", deep)), 40003),
        ("a bare JSON array", "application/json", format!("[{},{}]", line("x", json!({})), line("y", json!({}))), 40023),
        ("an NDJSON line that is an array", "application/x-ndjson", format!("{}\n[\"z\", {:?}]", line("ok2", json!({})), vec![0.5f32; 32]), 40023),
    ];
    for (what, ct, body, want) in cases {
        let (s, _, b) = send(post("/upsert", ct, body)).await;
        assert_eq!((s, code(&b)), (400, want), "{what}: {b}");
    }
    assert_eq!(vector_count(&stack, "refuse").await, 0, "a refused batch wrote part of itself");
    // Within the rules: one nested level, arrays of scalars.
    let (s, _, b) = send(post("/upsert", "application/x-ndjson", line("fine", json!({"metadata": {"a": {"b": [1, "x"]}, "c": ["d"]}})))).await;
    assert_eq!(s, 200, "{b}");

    // Queries.
    let q = |body: Value| post("/query", "application/json", body.to_string());
    let (s, _, b) = send(q(json!({"vector": vec![0.1f32; 32], "topK": 0}))).await;
    assert_eq!((s, code(&b)), (400, 40025), "topK 0: {b}");
    let (s, _, b) = send(q(json!({"vector": vec![0.1f32; 32], "filter": {}}))).await;
    assert_eq!((s, code(&b)), (400, 40003), "an empty filter: {b}");
    let (s, _, b) = send(q(json!({"vector": vec![0.1f32; 32]}))).await;
    assert_eq!((s, b["result"]["count"].as_u64()), (200, Some(1)), "no topK is the default: {b}");

    // A list cursor Strato never issued; an issued one still works.
    for id in ["p1", "p2"] {
        let (s, _, b) = send(post("/upsert", "application/x-ndjson", line(id, json!({})))).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, _, b) = send(http().get(vz(&stack, "/refuse/list?count=1&cursor=fine")).bearer_auth(ADMIN)).await;
    assert_eq!((s, code(&b)), (400, 40003), "a made-up cursor: {b}");
    let (s, _, b) = send(http().get(vz(&stack, "/refuse/list?count=1")).bearer_auth(ADMIN)).await;
    assert_eq!(s, 200, "{b}");
    let cursor = b["result"]["nextCursor"].as_str().expect("a next page").to_owned();
    let (s, _, b) = send(http().get(vz(&stack, &format!("/refuse/list?count=1&cursor={cursor}"))).bearer_auth(ADMIN)).await;
    assert_eq!((s, b["result"]["vectors"][0]["id"].as_str()), (200, Some("p1")), "{b}");

    // A 10 KiB model name is no such model (400 5007), not a 500.
    let run = format!("{}/client/v4/accounts/{ACCOUNT}/ai/run/{}", stack.base(), "m".repeat(10 * 1024));
    let (s, _, b) = send(http().post(run).bearer_auth(ADMIN).json(&json!({"text": "a"}))).await;
    assert_eq!((s, code(&b)), (400, 5007), "{b}");
    let run = format!("{}/client/v4/accounts/{ACCOUNT}/ai/run/{TEST_MODEL}", stack.base());
    let (s, _, b) = send(http().post(run).bearer_auth(ADMIN).json(&json!({"text": "a"}))).await;
    assert_eq!(s, 200, "{b}");
}
