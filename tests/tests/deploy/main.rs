//! Deployment: indexes spread over several index-svc pods behind one gateway (`partition`),
//! backup and restore while serving (`backup`), and the container images and Kubernetes
//! manifests of `deploy/` (`containers`: built and run with podman; manifests rendered and
//! validated offline).
mod backup;
mod containers;
mod partition;
mod resize;

use std::time::Duration;

use serde_json::Value;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// (status, body) of a JSON request to the gateway.
pub async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    // Any Authorization header lets a write through the open mode's cross-site rule.
    let mut req = http().request(method, url).header("authorization", "Bearer local");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect(url);
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
