//! Per-token rate limits: 429 with `Retry-After` in the route's shape, for the token that passed
//! its limit only.
use serde_json::json;
use strato_tests::TEST_MODEL;

use super::{ACCOUNT, ADMIN, LIMITED, code, create_index, http, send, stack, vz};

#[tokio::test(flavor = "multi_thread")]
async fn mutations_per_token_are_limited_with_40041() {
    let stack = stack(&["--mutations-per-minute", "3"]);
    create_index(&stack, "rate", 32).await; // the admin's first mutation
    let line = |id: &str| json!({"id": id, "values": vec![0.5f32; 32]}).to_string();
    let upsert = |token: &'static str, account: &str, id: &str| {
        let url = format!("{}/client/v4/accounts/{account}/vectorize/v2/indexes/rate/upsert", stack.base());
        http().post(url).bearer_auth(token).header("content-type", "application/x-ndjson").body(line(id))
    };
    for id in ["a", "b"] {
        let (s, _, b) = send(upsert(ADMIN, ACCOUNT, id)).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, retry, b) = send(upsert(ADMIN, ACCOUNT, "c")).await;
    assert_eq!((s, code(&b)), (429, 40041), "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap_or("").starts_with("Too Many Requests"), "{b}");
    assert!(retry.and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r >= 1));
    // Reads are not mutations; another token has its own budget (its own account here).
    let (s, _, _) = send(http().get(vz(&stack, "/rate/info")).bearer_auth(ADMIN)).await;
    assert_eq!(s, 200);
    let (s, _, b) = send(http().post(format!("{}/client/v4/accounts/acc-other/vectorize/v2/indexes", stack.base())).bearer_auth(LIMITED).json(&json!({"name": "other", "config": {"dimensions": 32, "metric": "cosine"}}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = send(http().post(vz(&stack, "/rate/get_by_ids")).bearer_auth(ADMIN).json(&json!({"ids": ["a", "b", "c"]}))).await;
    assert_eq!((s, b["result"].as_array().map(Vec::len)), (200, Some(2)), "the refused write wrote nothing: {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_requests_per_minute_and_embedder_tokens_are_limited() {
    let stack = stack(&["--ai-requests-per-minute", "2", "--embed-tokens-per-second", "10"]);
    let run = format!("{}/client/v4/accounts/{ACCOUNT}/ai/run/{TEST_MODEL}", stack.base());
    let (s, _, b) = send(http().post(&run).bearer_auth(ADMIN).json(&json!({"text": "a"}))).await;
    assert_eq!(s, 200, "{b}");
    // The embedder budget: 10 tokens a second, 300 a burst. 20 texts of ~60 tokens pass (a full
    // bucket lets one request into debt) and the next is refused until the debt is repaid.
    let (s, _, b) = send(http().post(format!("{}/v1/embeddings", stack.base())).bearer_auth(LIMITED).json(&json!({"model": TEST_MODEL, "input": vec![vec!["the orange cloud drifts"; 12].join(" "); 20]}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, retry, b) = send(http().post(format!("{}/v1/embeddings", stack.base())).bearer_auth(LIMITED).json(&json!({"model": TEST_MODEL, "input": "a"}))).await;
    assert_eq!(s, 429, "OpenAI's shape: {b}");
    assert!(b["error"]["message"].as_str().unwrap_or("").contains("embedder tokens"), "{b}");
    assert!(retry.and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r >= 10), "the debt takes a while to repay");
    // Requests per minute per model: the admin's third ai/run.
    let (s, _, b) = send(http().post(&run).bearer_auth(ADMIN).json(&json!({"text": "b"}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, retry, b) = send(http().post(&run).bearer_auth(ADMIN).json(&json!({"text": "c"}))).await;
    assert_eq!((s, code(&b)), (429, 3040), "{b}");
    assert!(retry.is_some());
}
