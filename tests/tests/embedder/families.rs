//! The newer Workers AI families (bge-m3, EmbeddingGemma, Qwen3-Embedding), each proven against
//! an independent reference of its documented recipe. No real weights can be had here, so
//! `scripts/model_families.py build` makes a small model per family with the same export layout
//! (graph inputs and outputs, tokenizer type and template, sentence-transformers files) and random
//! weights; `model_families.py reference` embeds as sentence-transformers would (prompts,
//! truncation, the tokenizer's padding side — left for Qwen —, pooling, Dense layers, normalise,
//! Matryoshka cut) on Python onnxruntime. Strato serves the same directories through its real
//! loading code and gRPC socket; every vector must agree to 1e-5.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use strato_proto::embedder::v1::{self as pb, embedder_client::EmbedderClient};
use strato_tests::process::{Service, scratch_dir};
use tonic::Code;

const TOLERANCE: f32 = 1e-5;

fn python(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/model_families.py"))
        .args(args)
        .output()
        .expect("run model_families.py");
    assert!(out.status.success(), "model_families.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The three family models, built once per run, and one embedder serving them.
fn served() -> &'static (PathBuf, Service) {
    static SVC: OnceLock<(PathBuf, Service)> = OnceLock::new();
    SVC.get_or_init(|| {
        strato_tests::require_provisioned();
        let dir = scratch_dir("model-families");
        let tokenizers = strato_tests::cache_dir().join("tokenizers");
        assert!(tokenizers.join("qwen3/tokenizer.json").is_file(), "run scripts/provision.sh --tokenizers (./strato test does)");
        python(&["build", dir.to_str().unwrap_or_default(), tokenizers.to_str().unwrap_or_default()]);
        let ort = strato_tests::ort_lib();
        let args = ["--models-dir", dir.to_str().unwrap_or_default(), "--ort-lib", ort.to_str().unwrap_or_default()];
        let svc = Service::start("embedder-svc", &args, Duration::from_secs(120)).expect("start embedder-svc on the family models");
        (dir, svc)
    })
}

fn reference(model_dir: &Path, texts: &[&str], prompt: Option<&str>, dims: Option<u32>) -> Vec<Vec<f32>> {
    let req = serde_json::json!({ "texts": texts, "prompt_name": prompt, "dimensions": dims });
    let out: serde_json::Value = serde_json::from_slice(&python(&["reference", model_dir.to_str().unwrap_or_default(), &req.to_string()])).expect("json");
    out["data"].as_array().expect("data").iter().map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().expect("number") as f32).collect()).collect()
}

async fn strato(model: &str, texts: &[&str], prompt: Option<&str>, dims: Option<u32>) -> Result<pb::EmbedResponse, tonic::Status> {
    let mut c = EmbedderClient::connect(served().1.url()).await.expect("connect");
    let r = pb::EmbedRequest {
        model: model.into(),
        texts: texts.iter().map(|t| t.to_string()).collect(),
        prompt_name: prompt.unwrap_or_default().into(),
        dimensions: dims.unwrap_or(0),
        ..Default::default()
    };
    c.embed(r).await.map(|r| r.into_inner())
}

/// Texts of very different lengths in one request (padding), several scripts (the tokenizers'
/// byte handling), and one past the model's token limit (truncation).
fn texts() -> Vec<String> {
    let long = "Whales sing to each other across whole oceans, and the songs change every year. ".repeat(12);
    vec![
        "x".into(),
        "The quick brown fox jumps over the lazy dog.".into(),
        "Der schnelle braune Fuchs springt über den faulen Hund. 敏捷的棕色狐狸".into(),
        "numbers 0123456789 !? emoji 🦊 tabs\tand\nnewlines, Ελληνικά, русский, العربية".into(),
        long,
    ]
}

async fn agrees(family: &str, model: &str, prompt: Option<&str>, dims: Option<u32>) {
    let texts = texts();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    agrees_on(family, model, prompt, dims, &texts).await;
}

async fn agrees_on(family: &str, model: &str, prompt: Option<&str>, dims: Option<u32>, texts: &[&str]) {
    let want = reference(&served().0.join(family), texts, prompt, dims);
    let got = strato(model, texts, prompt, dims).await.expect("embed");
    assert_eq!(got.data.len(), want.len());
    let mut worst = 0f32;
    for (i, (g, w)) in got.data.iter().zip(&want).enumerate() {
        assert_eq!(g.values.len(), w.len(), "{model} text {i}: length");
        let diff = g.values.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < TOLERANCE, "{model} prompt {prompt:?} dims {dims:?} text {i}: differs from the reference by {diff}");
        worst = worst.max(diff);
    }
    println!("{model} prompt {prompt:?} dims {dims:?}: largest difference from the reference {worst:.2e}");
    assert_eq!(got.shape, [want.len() as u32, want[0].len() as u32]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bge_m3_cls_pooling_and_truncation_match_the_reference() {
    agrees("bge-m3", "@strato/test-bge-m3", None, None).await;
}

/// An int8 variant (onnxruntime's dynamic quantization, `model_quantized.onnx` named by the
/// manifest). Its activations are quantized per batch, so a vector depends on what it is batched
/// with (the batcher's padding cap puts texts of different lengths in different batches): each
/// text is sent alone, on both sides, so both batch it alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_int8_variant_loads_and_matches_the_reference() {
    for text in texts() {
        agrees_on("bge-m3-int8", "@strato/test-bge-m3-int8", None, None, &[text.as_str()]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn embeddinggemma_prompts_dense_layers_and_matryoshka_match_the_reference() {
    for (prompt, dims) in [(None, None), (Some("query"), None), (Some("document"), Some(32)), (Some("STS"), Some(16))] {
        agrees("embeddinggemma", "@strato/test-embeddinggemma", prompt, dims).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn qwen3_last_token_left_padding_and_instruction_match_the_reference() {
    for (prompt, dims) in [(None, None), (Some("query"), None), (Some("query"), Some(16))] {
        agrees("qwen3", "@strato/test-qwen3-embedding", prompt, dims).await;
    }
}

/// The fp16 variant (`model_fp16.onnx`): float16 cache inputs fed, a float16 output widened
/// before pooling. Strato and the reference run the same half-precision graph, so they agree as
/// closely as the float32 one does.
#[tokio::test(flavor = "multi_thread")]
async fn an_fp16_variant_loads_and_matches_the_reference() {
    for (prompt, dims) in [(None, None), (Some("query"), Some(16))] {
        agrees("qwen3-fp16", "@strato/test-qwen3-embedding-fp16", prompt, dims).await;
    }
}

/// The same recipes on the real Qwen and Gemma 3 tokenizers that registries ship (Qwen's ids
/// first checked against Qwen's own published ones, in `model_families.py`): any difference in
/// how Strato's tokenizer reads them from Python's would move the vectors.
#[tokio::test(flavor = "multi_thread")]
async fn the_real_qwen_and_gemma_tokenizers_match_the_reference() {
    for (prompt, dims) in [(None, None), (Some("query"), None)] {
        agrees("qwen3-real-tokenizer", "@strato/test-qwen3-real-tokenizer", prompt, dims).await;
    }
    for (prompt, dims) in [(None, None), (Some("document"), Some(32))] {
        agrees("embeddinggemma-real-tokenizer", "@strato/test-embeddinggemma-real-tokenizer", prompt, dims).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_model_cannot_do_is_refused() {
    let invalid = |r: Result<pb::EmbedResponse, tonic::Status>, says: &str| {
        let e = r.expect_err("refused");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(says), "{:?} should say {says:?}", e.message());
    };
    invalid(strato("@strato/test-bge-m3", &["a"], Some("query"), None).await, "it has none");
    invalid(strato("@strato/test-embeddinggemma", &["a"], Some("nope"), None).await, "document");
    invalid(strato("@strato/test-embeddinggemma", &["a"], None, Some(20)).await, "64, 32, 16");
    invalid(strato("@strato/test-bge-m3", &["a"], None, Some(16)).await, "48 dimensions only");
    let mut c = EmbedderClient::connect(served().1.url()).await.expect("connect");
    let cls = pb::EmbedRequest { model: "@strato/test-qwen3-embedding".into(), texts: vec!["a".into()], pooling: pb::Pooling::Cls as i32, ..Default::default() };
    invalid(c.embed(cls).await.map(|r| r.into_inner()), "pools by its own configuration");

    // What ListModels tells: the family models with their prompts and lengths; the real
    // catalogue entries known but not loaded here.
    let models = c.list_models(pb::ListModelsRequest {}).await.expect("list").into_inner().models;
    let find = |n: &str| models.iter().find(|m| m.name == n).unwrap_or_else(|| panic!("{n} listed"));
    let gemma = find("@strato/test-embeddinggemma");
    assert!(gemma.loaded && gemma.prompts.contains(&"query".to_owned()) && gemma.matryoshka_dims == [64, 32, 16], "{gemma:?}");
    assert_eq!(find("@strato/test-qwen3-embedding").default_pooling, pb::Pooling::LastToken as i32);
    assert!(find("@strato/test-qwen3-embedding-fp16").loaded);
    for real in ["@cf/baai/bge-m3", "@cf/google/embeddinggemma-300m", "@cf/qwen/qwen3-embedding-0.6b"] {
        assert!(!find(real).loaded, "{real}");
    }
}

/// The gateway in front of the family models (its index is never called here).
fn gateway() -> &'static Service {
    static GW: OnceLock<Service> = OnceLock::new();
    GW.get_or_init(|| {
        let args = ["--ai-model", "@strato/test-bge-m3", "--fallback-model", "@strato/test-bge-m3"];
        strato_tests::process::start_gateway(&served().1.url(), "http://127.0.0.1:9", &args).expect("gateway")
    })
}

async fn post(path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{}{path}", gateway().url())).json(&body).send().await.expect("post");
    (r.status().as_u16(), r.json().await.expect("json"))
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array().expect("rows").iter().map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().expect("number") as f32).collect()).collect()
}

fn close(got: &[Vec<f32>], want: &[Vec<f32>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        let diff = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(g.len() == w.len() && diff < TOLERANCE, "{what}: differs by {diff}");
    }
}

const RUN: &str = "/client/v4/accounts/acc/ai/run";

/// bge-m3's Workers AI forms through the REST route: `text`; `contexts` alone (their
/// embeddings); `query` + `contexts` (a ranking by cosine); `truncate_inputs` false by default.
#[tokio::test(flavor = "multi_thread")]
async fn bge_m3_text_contexts_query_and_truncate_inputs_over_rest() {
    let dir = served().0.join("bge-m3");
    let contexts = ["Whales sing across oceans", "Stock markets fell", "The quick brown fox"];
    let want = reference(&dir, &contexts, None, None);
    let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), serde_json::json!({ "text": contexts })).await;
    assert_eq!(s, 200, "{b}");
    close(&rows(&b["result"]["data"]), &want, "text");
    assert_eq!(b["result"]["pooling"], "cls");

    let ctx: Vec<_> = contexts.iter().map(|t| serde_json::json!({ "text": t })).collect();
    let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), serde_json::json!({ "contexts": ctx })).await;
    assert_eq!(s, 200, "{b}");
    close(&rows(&b["result"]["response"]), &want, "contexts");

    let query = "songs of whales in the sea";
    let q = &reference(&dir, &[query], None, None)[0];
    let mut expected: Vec<(usize, f32)> = want.iter().enumerate().map(|(i, c)| (i, c.iter().zip(q).map(|(a, b)| a * b).sum())).collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), serde_json::json!({ "query": query, "contexts": ctx })).await;
    assert_eq!(s, 200, "{b}");
    let ranked = b["result"]["response"].as_array().expect("ranking");
    assert_eq!(ranked.len(), 3);
    for (r, (id, score)) in ranked.iter().zip(&expected) {
        assert_eq!(r["id"].as_u64(), Some(*id as u64), "{b}");
        assert!((r["score"].as_f64().expect("score") as f32 - score).abs() < TOLERANCE, "{b}");
    }

    let long = "whales sing ".repeat(100);
    let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), serde_json::json!({ "text": long })).await;
    assert_eq!(s, 400, "over the limit without truncate_inputs: refused, as Workers AI's default: {b}");
    assert!(b["errors"][0]["message"].as_str().is_some_and(|m| m.contains("longer than")), "{b}");
    let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), serde_json::json!({ "text": long, "truncate_inputs": true })).await;
    assert_eq!(s, 200, "{b}");
    close(&rows(&b["result"]["data"]), &reference(&dir, &[long.as_str()], None, None), "truncated");

    for bad in [serde_json::json!({ "text": "a", "contexts": ctx }), serde_json::json!({ "query": "a", "text": "b" }), serde_json::json!({ "contexts": [] })] {
        let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), bad.clone()).await;
        assert_eq!((s, b["errors"][0]["code"].as_u64()), (400, Some(5006)), "{bad}: {b}");
    }
    let (s, b) = post(&format!("{RUN}/@strato/test-qwen3-embedding"), serde_json::json!({ "contexts": ctx })).await;
    assert_eq!((s, b["errors"][0]["code"].as_u64()), (400, Some(5006)), "contexts are bge-m3's: {b}");
    // Each malformed field said in Workers AI's words, with its path; nothing reaches the embedder.
    for (bad, says) in [
        (serde_json::json!({ "contexts": ["a"] }), "'/contexts/…'"),
        (serde_json::json!({ "contexts": [{}] }), "required property 'text'"),
        (serde_json::json!({ "text": "a", "truncate_inputs": "x" }), "'/truncate_inputs', 'boolean'"),
        (serde_json::json!({ "text": "a", "dimensions": 4294967296u64 }), "4294967296"),
        (serde_json::json!({ "text": "a", "prompt_name": "p".repeat(100_000) }), "more than 64"),
    ] {
        let (s, b) = post(&format!("{RUN}/@strato/test-bge-m3"), bad.clone()).await;
        let message = b["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(s == 400 && b["errors"][0]["code"] == 5006 && message.contains(says) && message.len() < 400, "{says}: {s} {message}");
    }
}

/// Prompts and Matryoshka lengths through Workers AI's route and the OpenAI-compatible one.
#[tokio::test(flavor = "multi_thread")]
async fn prompts_and_dimensions_over_rest_and_openai() {
    let dir = served().0.join("embeddinggemma");
    let texts = ["Whales sing across oceans", "x"];
    let want = reference(&dir, &texts, Some("query"), Some(32));
    let (s, b) = post(&format!("{RUN}/@strato/test-embeddinggemma"), serde_json::json!({ "text": texts, "prompt_name": "query", "dimensions": 32 })).await;
    assert_eq!(s, 200, "{b}");
    close(&rows(&b["result"]["data"]), &want, "run");
    assert_eq!(b["result"]["shape"], serde_json::json!([2, 32]));

    let (s, b) = post("/v1/embeddings", serde_json::json!({ "model": "@strato/test-embeddinggemma", "input": texts, "dimensions": 16 })).await;
    assert_eq!(s, 200, "{b}");
    let got: Vec<Vec<f32>> = b["data"].as_array().expect("data").iter().map(|d| rows(&serde_json::json!([d["embedding"]])).remove(0)).collect();
    close(&got, &reference(&dir, &texts, None, Some(16)), "openai");
    let (s, b) = post("/v1/embeddings", serde_json::json!({ "model": "@strato/test-embeddinggemma", "input": "a", "dimensions": 20 })).await;
    assert_eq!(s, 400, "{b}");

    let qwen = served().0.join("qwen3");
    let (s, b) = post(&format!("{RUN}/@strato/test-qwen3-embedding"), serde_json::json!({ "text": texts, "prompt_name": "query" })).await;
    assert_eq!(s, 200, "{b}");
    close(&rows(&b["result"]["data"]), &reference(&qwen, &texts, Some("query"), None), "qwen");
    assert!(b["result"].get("pooling").is_none(), "last-token pooling is not one of Workers AI's names: {b}");
}

/// `./strato provision --models …` downloads from the models' public homes, which this network
/// cannot reach; its download-and-check code runs here against a local origin speaking the same
/// two routes: a whole file is kept, a file with one byte flipped is refused and leaves nothing.
#[test]
fn a_fetched_model_file_is_kept_only_when_its_hash_matches() {
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/fetch_model.py"))
        .arg("--selftest")
        .output()
        .expect("run fetch_model.py");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("selftest passed"), "{}", String::from_utf8_lossy(&out.stderr));
}
