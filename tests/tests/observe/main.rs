//! Observability over the real stack: traces exported over OTLP/gRPC to a receiver of our own
//! (`strato_tests::otlp`), Prometheus metrics checked by promtool and scraped by a real
//! Prometheus server, and the drain on SIGTERM under load.
// Each test holds `serial()` across its awaits on purpose: the tests run on separate runtimes.
#![allow(clippy::await_holding_lock)]

mod drain;
mod metrics;
mod traces;

use std::time::Duration;

use serde_json::Value;

/// The tests of this binary run one at a time: each starts a whole stack, and the drain test's
/// timing claims need the two cores to itself.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

pub async fn get_json(url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = http().get(url).send().await.expect(url);
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}
