//! The gateway's OpenAPI document (`GET /openapi.json`, file `gateway/openapi.json`) against the
//! gateway itself, over a real stack:
//! - the document and the routes stay in step: every route the gateway serves is documented, and
//!   everything documented is served (ROUTES below is the list of routes, one request each);
//! - CORS: preflights answered before auth for the configured origin only;
//! - schemathesis fuzzes every documented operation from the document and finds no 5xx;
//! - the answers the fuzzer cannot reach (the edge's 400 code 7003, 413, 503 when load is shed,
//!   the open mode's 403, status without a token) are documented, each in its surface's schema.
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use strato_tests::process::{Service, Stack, scratch_dir, start_gateway};

const TOKEN: &str = "test-token";
const ORIGIN: &str = "http://example.test";
/// The account the route checks use (the fuzzer uses the document's example account).
const ACCOUNT: &str = "acc-openapi";
/// schemathesis: test cases per operation, and the deadline of the whole run. About 20 s on
/// 2 cores at 30 examples.
const FUZZ_EXAMPLES: u32 = 30;
const FUZZ_DEADLINE: Duration = Duration::from_secs(300);
/// The exact spec that provision.sh installs into the venv.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start(&["--create-index", "--api-token", TOKEN, "--cors-origin", ORIGIN]).expect("stack"))
}

fn base() -> String {
    format!("http://{}", stack().gateway.addr)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// One request per route the gateway serves (both prefixes of the Cloudflare routes). Keep in
/// step with `gateway/src/routes/*.rs` and `gateway/openapi.json`: the test fails when either
/// has a route the other lacks.
fn routes() -> Vec<(Method, String)> {
    let mut r = Vec::new();
    for prefix in [format!("/client/v4/accounts/{ACCOUNT}"), format!("/accounts/{ACCOUNT}")] {
        let vz = format!("{prefix}/vectorize/v2/indexes");
        let ix = format!("{vz}/routes-ix");
        r.extend([
            (Method::GET, vz.clone()),
            (Method::POST, vz.clone()),
            (Method::GET, ix.clone()),
            (Method::DELETE, format!("{vz}/routes-no-such-index")),
            (Method::GET, format!("{ix}/info")),
            (Method::POST, format!("{ix}/insert")),
            (Method::POST, format!("{ix}/upsert")),
            (Method::POST, format!("{ix}/query")),
            (Method::POST, format!("{ix}/get_by_ids")),
            (Method::POST, format!("{ix}/delete_by_ids")),
            (Method::GET, format!("{ix}/list")),
            (Method::POST, format!("{ix}/metadata_index/create")),
            (Method::GET, format!("{ix}/metadata_index/list")),
            (Method::POST, format!("{ix}/metadata_index/delete")),
            // The model name's slashes are sent as they are: the route takes the rest of the path.
            (Method::POST, format!("{prefix}/ai/run/@strato/all-minilm-l6-v2")),
            (Method::POST, format!("{prefix}/ai/v1/embeddings")),
            (Method::GET, format!("{prefix}/ai/models/search")),
        ]);
    }
    r.extend([
        (Method::POST, "/v1/embeddings".to_owned()),
        (Method::GET, "/insert".to_owned()),
        (Method::POST, "/insert".to_owned()),
        (Method::GET, "/".to_owned()),
        (Method::GET, "/favicon.ico".to_owned()),
        (Method::GET, "/__strato/status".to_owned()),
        (Method::GET, "/openapi.json".to_owned()),
        (Method::GET, "/client/v4/accounts".to_owned()),
        (Method::GET, "/__strato/summary".to_owned()),
        (Method::GET, "/console".to_owned()),
        (Method::GET, "/__strato/binding/vectorize/routes-ix/info".to_owned()),
        (Method::POST, "/__strato/binding/vectorize/routes-ix/query".to_owned()),
        (Method::POST, "/__strato/binding/vectorize/routes-ix/insert".to_owned()),
        (Method::POST, "/__strato/binding/vectorize/routes-ix/upsert".to_owned()),
        (Method::POST, "/__strato/binding/vectorize/routes-ix/getByIds".to_owned()),
        (Method::POST, "/__strato/binding/vectorize/routes-ix/deleteByIds".to_owned()),
        (Method::POST, "/__strato/binding/ai/run".to_owned()),
        (Method::POST, "/__strato/binding/mf".to_owned()),
    ]);
    r
}

/// The document's one path parameter that takes the rest of the path (ai/run's model name,
/// e.g. `@cf/baai/bge-base-en-v1.5`); marked `x-strato-rest-of-path` in the document.
const REST_OF_PATH: &str = "{model}";

/// Whether `path` fits the document's path `template`: `{param}` matches one non-empty segment;
/// a final [`REST_OF_PATH`] matches one or more.
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    for (i, seg) in t.iter().enumerate() {
        if *seg == REST_OF_PATH && i + 1 == t.len() {
            return p.len() > i && p[i..].iter().all(|s| !s.is_empty());
        }
        let Some(actual) = p.get(i) else { return false };
        let is_param = seg.starts_with('{') && seg.ends_with('}');
        if (is_param && actual.is_empty()) || (!is_param && seg != actual) {
            return false;
        }
    }
    t.len() == p.len()
}

/// Every (METHOD, path template) the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(template, item)| {
            METHODS.iter().filter(move |m| item.get(**m).is_some()).map(move |m| (m.to_ascii_uppercase(), template.clone()))
        })
        .collect()
}

/// The document as the gateway serves it, checked against the file in the repository.
async fn served_document() -> Value {
    let r = http().get(format!("{}/openapi.json", base())).send().await.expect("GET /openapi.json");
    assert_eq!(r.status(), 200, "GET /openapi.json is served without a token");
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let doc: Value = r.json().await.expect("the document is JSON");
    let file = std::fs::read_to_string(strato_tests::repo_root().join("gateway/openapi.json")).expect("gateway/openapi.json");
    let file: Value = serde_json::from_str(&file).expect("gateway/openapi.json is JSON");
    assert_eq!(doc, file, "the gateway serves an older gateway/openapi.json: rebuild it");
    assert_eq!(doc["openapi"], "3.0.3");
    doc
}

/// True when the gateway answered "no such route": the API prefixes' 404 code 7000, or 405.
async fn is_unrouted(r: reqwest::Response) -> (bool, String) {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    let no_route = status == 404 && serde_json::from_str::<Value>(&body).is_ok_and(|b| b["errors"][0]["code"] == 7000);
    (no_route || status == 405, format!("{status} {body:.200}"))
}

async fn send(method: Method, path: &str) -> reqwest::Response {
    let mut req = http().request(method.clone(), format!("{}{path}", base())).bearer_auth(TOKEN);
    if method == Method::POST {
        req = req.json(&json!({}));
    }
    req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn document_and_routes_stay_in_step() {
    let doc = served_document().await;
    let ops = documented(&doc);
    assert_eq!(
        doc["paths"]["/client/v4/accounts/{account_id}/ai/run/{model}"]["post"]["parameters"][1]["x-strato-rest-of-path"],
        true,
        "the model parameter is marked as taking the rest of the path"
    );

    // The probe below must recognise an unknown route.
    let (unrouted, got) = is_unrouted(send(Method::GET, &format!("/client/v4/accounts/{ACCOUNT}/vectorize/v2/nope")).await).await;
    assert!(unrouted, "an unknown API path is 404 code 7000, got {got}");

    let mut covered = BTreeSet::new();
    let mut problems = Vec::new();
    for (method, path) in routes() {
        let fits: Vec<&(String, String)> = ops.iter().filter(|(m, t)| *m == method.as_str() && matches(t, &path)).collect();
        match fits.as_slice() {
            [one] => {
                covered.insert((*one).clone());
            }
            [] => problems.push(format!("{method} {path}: not in the document")),
            many => problems.push(format!("{method} {path}: matches several documented paths {many:?}")),
        }
        let (unrouted, got) = is_unrouted(send(method.clone(), &path).await).await;
        if unrouted {
            problems.push(format!("{method} {path}: the gateway has no such route ({got})"));
        }
    }
    for (method, template) in ops.difference(&covered) {
        problems.push(format!("{method} {template}: documented, but not in this test's route list (is it served?)"));
    }
    assert!(problems.is_empty(), "document and routes differ:\n{}", problems.join("\n"));
}

/// The document is what `scripts/gen_openapi.py` writes today: an edit of the script without
/// regenerating (or a hand edit of the JSON) fails here.
#[test]
fn document_is_regenerated() {
    let out = std::process::Command::new("python3").arg(strato_tests::repo_root().join("scripts/gen_openapi.py")).output().expect("run gen_openapi.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated: Value = serde_json::from_slice(&out.stdout).expect("generated JSON");
    let committed: Value = serde_json::from_str(gateway_document()).expect("gateway/openapi.json");
    assert!(generated == committed, "gateway/openapi.json is stale: run `python3 scripts/gen_openapi.py > gateway/openapi.json`");
}

fn gateway_document() -> &'static str {
    include_str!("../../gateway/openapi.json")
}

#[test]
fn template_matching() {
    let t = "/client/v4/accounts/{account_id}/ai/run/{model}";
    assert!(matches(t, "/client/v4/accounts/a/ai/run/@cf/baai/bge-base-en-v1.5"));
    assert!(matches(t, "/client/v4/accounts/a/ai/run/m"));
    assert!(!matches(t, "/client/v4/accounts/a/ai/run/"));
    assert!(!matches(t, "/client/v4/accounts//ai/run/m"));
    let t = "/accounts/{account_id}/vectorize/v2/indexes/{index_name}";
    assert!(matches(t, "/accounts/a/vectorize/v2/indexes/x"));
    assert!(!matches(t, "/accounts/a/vectorize/v2/indexes/x/info"));
    assert!(!matches(t, "/client/v4/accounts/a/vectorize/v2/indexes/x"));
    assert!(matches("/", "/") && !matches("/", "/favicon.ico"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_for_the_configured_origin_only() {
    let url = format!("{}/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes", base());
    let header = |r: &reqwest::Response, name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let preflight = |origin: &str| {
        http()
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type, x-stainless-os")
            .send()
    };

    // No token: the preflight is answered before auth.
    let r = preflight(ORIGIN).await.expect("preflight");
    assert!(r.status().is_success(), "preflight status {}", r.status());
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(ORIGIN));
    let methods = header(&r, "access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
    assert!(["GET", "POST", "DELETE"].iter().all(|m| methods.contains(m)), "allow-methods {methods:?}");
    let headers = header(&r, "access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(["authorization", "content-type", "x-stainless-os"].iter().all(|h| headers.contains(h)), "allow-headers {headers:?}");
    assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("600"));

    let r = preflight("http://other.test").await.expect("preflight from another origin");
    assert_eq!(header(&r, "access-control-allow-origin"), None, "another origin is not allowed");

    let r = http().get(&url).bearer_auth(TOKEN).header("origin", ORIGIN).send().await.expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin").as_deref(), Some(ORIGIN));
    let exposed = header(&r, "access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "expose-headers {exposed:?}");

    let r = http().get(&url).bearer_auth(TOKEN).header("origin", "http://other.test").send().await.expect("GET, other origin");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

/// schemathesis (`scripts/provision.sh` installs it into the venv) generates valid and invalid
/// requests for every documented operation and checks that none gets a 5xx and that every
/// response's body and content type are the ones the document gives for its status. The
/// document's example index is created first so the examples reach a real index.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_errors() {
    let python = strato_tests::python();
    let probe = std::process::Command::new(&python).args(["-c", "import schemathesis"]).output();
    let installed = probe.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "schemathesis is not installed in {}: run scripts/provision.sh (or `{} -m pip install {SCHEMATHESIS}`): {:?}",
        python.display(),
        python.display(),
        probe.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );

    let doc = served_document().await;
    let account = doc["components"]["parameters"]["AccountId"]["schema"]["example"].as_str().expect("example account");
    let index = doc["components"]["parameters"]["IndexName"]["schema"]["example"].as_str().expect("example index");
    let example = &doc["components"]["schemas"]["CreateIndexRequest"]["example"];
    assert_eq!(example["name"], index);
    let r = http()
        .post(format!("{}/client/v4/accounts/{account}/vectorize/v2/indexes", base()))
        .bearer_auth(TOKEN)
        .json(example)
        .send()
        .await
        .expect("create the example index");
    let (status, body) = (r.status(), r.text().await.unwrap_or_default());
    assert_eq!(status, 200, "{body}");

    let base = base();
    let hooks = strato_tests::repo_root().join("tests/python/schemathesis_hooks.py");
    let dir = scratch_dir("schemathesis");
    let (schema, examples, auth) = (format!("{base}/openapi.json"), FUZZ_EXAMPLES.to_string(), format!("Authorization: Bearer {TOKEN}"));
    let mut cmd = tokio::process::Command::new(&python);
    cmd.args(["-m", "schemathesis.cli", "run", schema.as_str(), "--url", base.as_str()])
        .args(["--checks", "not_a_server_error,response_schema_conformance,content_type_conformance", "--max-examples", examples.as_str(), "--seed", "1"])
        .args(["--header", auth.as_str(), "--request-timeout", "30"])
        .args(["--generation-database", "none", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .current_dir(&dir)
        .kill_on_drop(true);
    let out = tokio::time::timeout(FUZZ_DEADLINE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {FUZZ_DEADLINE:?}"))
        .expect("run schemathesis");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis failed ({}):\n{text}\ngateway log:\n{}", out.status, stack().gateway.logs());
}

/// The document's response for `method path` at `status`, `$ref`s resolved.
fn documented_response<'a>(doc: &'a Value, method: &Method, path: &str, status: u16) -> Result<&'a Value, String> {
    let path = path.split('?').next().unwrap_or_default();
    let paths = doc["paths"].as_object().expect("paths");
    let (template, item) = paths.iter().find(|(t, _)| matches(t, path)).ok_or_else(|| format!("{path}: no documented path"))?;
    let op = &item[method.as_str().to_ascii_lowercase()];
    let mut r = &op["responses"][status.to_string()];
    while let Some(target) = r["$ref"].as_str() {
        r = target.trim_start_matches("#/").split('/').fold(doc, |v, key| &v[key]);
    }
    if r.is_null() { Err(format!("{method} {template}: {status} is not documented")) } else { Ok(r) }
}

/// Whether `body` has the shape of the error schema `name` (the three error shapes only).
fn has_error_shape(name: &str, body: &Value) -> bool {
    match name {
        "CfError" => {
            body["success"] == false
                && body["result"].is_null()
                && body["errors"].as_array().is_some_and(|e| e.len() == 1 && e[0]["code"].is_u64() && e[0]["message"].is_string())
                && body["messages"].as_array().is_some_and(Vec::is_empty)
        }
        "OpenAiError" => {
            body["error"]["message"].is_string()
                && matches!(body["error"]["type"].as_str(), Some("invalid_request_error" | "server_error"))
                && body["error"]["param"].is_null()
                && body["error"]["code"].is_null()
        }
        "ApiError" => body["error"].is_string(),
        "BindingError" => body["error"].is_string() && (body["code"].is_null() || body["code"].is_u64()),
        _ => false,
    }
}

/// Sends `req` (to `base`, `method path`) and checks the answer: `status`, documented for the
/// operation with an error schema the body fits, and for Cloudflare's envelope `code`.
async fn documented_error(doc: &Value, req: reqwest::RequestBuilder, method: Method, path: &str, status: u16, code: Option<u64>) -> Result<reqwest::header::HeaderMap, String> {
    let r = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
    let headers = r.headers().clone();
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let what = format!("{method} {path} → {got} {body:.200}");
    if got != status {
        return Err(format!("{what}: expected {status}"));
    }
    let resp = documented_response(doc, &method, path, status)?;
    let schema = resp["content"]["application/json"]["schema"]["$ref"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    if !has_error_shape(schema, &body) {
        return Err(format!("{what}: not the documented {schema:?}"));
    }
    if let Some(code) = code
        && body["errors"][0]["code"] != code
    {
        return Err(format!("{what}: expected code {code}"));
    }
    if status == 503 && resp["headers"].get("Retry-After").is_none() {
        return Err(format!("{what}: Retry-After is not documented"));
    }
    Ok(headers)
}

/// The value of `r`, or None with its error added to `problems`.
fn noted<T>(problems: &mut Vec<String>, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| problems.push(e)).ok()
}

/// Another gateway in front of the stack's services.
fn gateway(args: &[&str]) -> Service {
    start_gateway(&stack().embedder.url(), &stack().index.url(), args).expect("gateway")
}

#[tokio::test(flavor = "multi_thread")]
async fn edge_answers_are_documented() {
    use tokio::io::AsyncWriteExt;
    let doc = served_document().await;
    let mut problems = Vec::new();

    // The token-mode stack: account segments, body limits, tutorial and status without a token.
    let ix = format!("/client/v4/accounts/{ACCOUNT}/vectorize/v2/indexes/example-index");
    let big_query = format!("{{\"vector\": [{}]}}", vec!["0.5"; 70_000].join(","));
    let at = |method: Method, path: &str| http().request(method, format!("{}{path}", base())).bearer_auth(TOKEN);
    let (query, big_openai, big_insert) = (format!("{ix}/query"), " ".repeat(33 * 1024 * 1024), " ".repeat(3 * 1024 * 1024));
    for (method, path, body, status, code) in [
        (Method::GET, "/client/v4/accounts/%61cc/vectorize/v2/indexes", "", 400, Some(7003)),
        (Method::POST, "/accounts/acc.x/ai/run/@cf/baai/bge-base-en-v1.5", "{}", 400, Some(7003)),
        (Method::POST, "/accounts/acc.x/ai/v1/embeddings", "{}", 400, None),
        (Method::POST, query.as_str(), big_query.as_str(), 413, Some(40003)),
        (Method::POST, "/v1/embeddings", big_openai.as_str(), 413, None),
        (Method::POST, "/insert", big_insert.as_str(), 413, None),
    ] {
        let req = at(method.clone(), path).header("content-type", "application/json").body(body.to_owned());
        noted(&mut problems, documented_error(&doc, req, method, path, status, code).await);
    }
    for path in ["/", "/insert", "/favicon.ico", "/__strato/status"] {
        let req = http().get(format!("{}{path}", base()));
        noted(&mut problems, documented_error(&doc, req, Method::GET, path, 401, None).await);
    }

    // The open mode: a foreign Host, a form's write, a cross-site GET /insert.
    let open = gateway(&[]);
    let url = |path: &str| format!("http://{}{path}", open.addr);
    for path in ["/openapi.json", "/__strato/status", "/v1/embeddings", ix.as_str()] {
        let method = if path == "/v1/embeddings" { Method::POST } else { Method::GET };
        let req = http().request(method.clone(), url(path)).header("host", "rebind.example.test");
        noted(&mut problems, documented_error(&doc, req, method, path, 403, (path == ix).then_some(10000)).await);
    }
    let req = http().delete(url(&ix)).header("content-type", "text/plain");
    noted(&mut problems, documented_error(&doc, req, Method::DELETE, &ix, 403, Some(10000)).await);
    let req = http().get(url("/insert")).header("sec-fetch-site", "cross-site");
    noted(&mut problems, documented_error(&doc, req, Method::GET, "/insert", 403, None).await);
    drop(open);

    // --public-tutorial: status without a token is the public view; then load shedding.
    let public = gateway(&["--api-token", TOKEN, "--public-tutorial", "--max-concurrent-requests", "1"]);
    let url = |path: &str| format!("http://{}{path}", public.addr);
    let status: Value = http().get(url("/__strato/status")).send().await.expect("status").json().await.expect("JSON");
    let public_fields: BTreeSet<&String> = doc["components"]["schemas"]["PublicStatus"]["properties"].as_object().expect("PublicStatus").keys().collect();
    let fields: BTreeSet<&String> = status.as_object().expect("status object").keys().collect();
    if fields != public_fields {
        problems.push(format!("status without a token shows {fields:?}, the document's PublicStatus {public_fields:?}"));
    }
    // Hold the one (tokened) permit with a request whose body never comes, until the gateway
    // sheds. Tokenless requests have a pool of their own, so the probe carries the token.
    let mut held = tokio::net::TcpStream::connect(&public.addr).await.expect("connect");
    let head = format!("POST /insert HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{", public.addr);
    held.write_all(head.as_bytes()).await.expect("write the head");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut probes = Vec::new();
    loop {
        let probe = http().get(url("/openapi.json")).bearer_auth(TOKEN).send().await.expect("probe").status().as_u16();
        if probe == 503 {
            break;
        }
        probes.push(probe);
        if std::time::Instant::now() >= deadline {
            // Say what the held request got, if anything: it should still be waiting.
            let mut got = vec![0u8; 512];
            let n = tokio::time::timeout(Duration::from_millis(200), tokio::io::AsyncReadExt::read(&mut held, &mut got)).await;
            let held_got = match n {
                Ok(Ok(n)) => String::from_utf8_lossy(&got[..n]).into_owned(),
                other => format!("{other:?}"),
            };
            panic!("the gateway never shed load with its one permit held; probes answered {probes:?}; the held request got {held_got:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ai_run = format!("/accounts/{ACCOUNT}/ai/run/@cf/baai/bge-base-en-v1.5");
    for (method, path, code) in [(Method::GET, ix.as_str(), Some(1503)), (Method::POST, ai_run.as_str(), Some(1503)), (Method::POST, "/v1/embeddings", None), (Method::GET, "/", None), (Method::GET, "/__strato/status", None)] {
        let req = http().request(method.clone(), url(path)).bearer_auth(TOKEN).header("content-type", "application/json").body("{}");
        if let Some(h) = noted(&mut problems, documented_error(&doc, req, method.clone(), path, 503, code).await)
            && h.get("retry-after").and_then(|v| v.to_str().ok()) != Some("1")
        {
            problems.push(format!("{method} {path}: a shed request without Retry-After: 1"));
        }
    }
    drop(held);
    assert!(problems.is_empty(), "answers the document does not describe:\n{}", problems.join("\n"));
}
