//! Rate limits, as token buckets: per API token (like Cloudflare's per-account limits) and per
//! client address (the public tutorial's tokenless callers, `routes/public.rs`).
//!
//! Per API token (the caller is set by `routes/auth.rs` for the request, [`caller`]):
//! - Workers AI requests per minute per model: `--ai-requests-per-minute` (3,000, Workers AI's
//!   figure; bge-large gets half, 1,500, as on Cloudflare, spec §5.1);
//! - mutations per minute (writes, deletes, index and metadata-index changes):
//!   `--mutations-per-minute` (1,200; Cloudflare documents none, only code 40041 when exceeded);
//! - embedder work in tokens per second: `--embed-tokens-per-second` (1,024), so one tenant
//!   cannot take the embedder from the others: a CPU embedder (2 cores, MiniLM or BGE-small)
//!   does about 3,000 tokens a second, so one token gets a third of it. A request is charged
//!   its worst case before it is sent (each text's bytes, at least 16 and at most the model's
//!   512 tokens, + 2), and refunded to what the embedder counted (never below 16 a text).
//!
//! A bucket holds a minute of its rate (embedder tokens: 10 s). A request passes when its bucket holds its cost; one that costs
//! more than a bucket holds passes when the bucket is full and leaves it in debt, so any single
//! request can pass, and its cost delays the next ones.
//! Refused requests answer 429 in the route's envelope, with `Retry-After` in whole seconds.
//! No limit applies without tokens (the open loopback mode has no callers to tell apart), or
//! when a rate is set to 0.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::routes::cf::{self, CfError};

/// Buckets kept per limiter before the full ones are forgotten.
const MAX_KEYS: usize = 65_536;

struct Bucket {
    level: f64,
    at: Instant,
}

/// Token buckets by key.
pub struct Limiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// `per_sec` 0 disables the limiter.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        Self { per_sec, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    pub fn per_minute(n: u32) -> Self {
        Self::new(f64::from(n) / 60.0, f64::from(n))
    }

    pub fn enabled(&self) -> bool {
        self.per_sec > 0.0
    }

    /// Takes `cost` from `key`'s bucket if it holds it (module doc); else how long until it does.
    pub fn take(&self, key: &str, cost: f64) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            self.forget_full(&mut map, now);
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket { level: self.burst, at: now });
        b.level = (b.level + now.duration_since(b.at).as_secs_f64() * self.per_sec).min(self.burst);
        b.at = now;
        // What must be in the bucket: the cost, or a full bucket for a cost larger than that.
        let need = cost.min(self.burst);
        if b.level < need {
            return Err(Duration::from_secs_f64((need - b.level) / self.per_sec));
        }
        b.level -= cost;
        Ok(())
    }

    /// Gives back what a request was charged beyond its real cost.
    pub fn refund(&self, key: &str, amount: f64) {
        if let Some(b) = self.buckets.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key) {
            b.level = (b.level + amount).min(self.burst);
        }
    }

    /// Drops the buckets that have refilled (a fresh one is the same); if that is not enough,
    /// every bucket: many distinct keys at once (addresses of a flood) should not grow memory.
    fn forget_full(&self, map: &mut HashMap<String, Bucket>, now: Instant) {
        map.retain(|_, b| b.level + now.duration_since(b.at).as_secs_f64() * self.per_sec < self.burst);
        if map.len() >= MAX_KEYS {
            map.clear();
        }
    }
}

/// Who made the request: an API token, by a digest prefix (never the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub id: String,
    /// The token may use every account (not a token limited by `accounts=`).
    pub all_accounts: bool,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// Runs `f` as `caller`'s request.
pub async fn as_caller<F: std::future::Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// Runs `f` as `caller`'s request, or as nobody's (no tokens configured).
pub async fn as_caller_opt<F: std::future::Future>(caller: Option<Caller>, f: F) -> F::Output {
    match caller {
        Some(c) => CALLER.scope(c, f).await,
        None => f.await,
    }
}

/// The current request's caller; None without tokens or outside a request.
pub fn caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok()
}

/// The per-token limits (module doc).
pub struct TokenLimits {
    ai_per_minute: u32,
    ai: Limiter,
    ai_large: Limiter,
    mutations: Limiter,
    embed_tokens: Limiter,
}

/// Tokens a Workers AI text can cost at most (the models' 512 + [CLS] and [SEP]).
pub const MAX_TOKENS_PER_TEXT: u64 = 514;

/// The most tokens one text of `model` can cost: its limit and two special tokens. The newer
/// catalogue models read 8,192 (2,048 for EmbeddingGemma); a name outside the catalogue may be
/// any model an operator provisioned, so it is charged as the longest.
pub fn max_tokens_per_text(model: &str) -> u64 {
    match model {
        "@cf/baai/bge-small-en-v1.5" | "@cf/baai/bge-base-en-v1.5" | "@cf/baai/bge-large-en-v1.5" | "@strato/all-minilm-l6-v2" => MAX_TOKENS_PER_TEXT,
        "@cf/google/embeddinggemma-300m" => 2050,
        _ => 8194,
    }
}
/// What a text costs at least: a sequence's own work in a batch (2,048 one-character texts are
/// seconds of embedder, not 6,144 tokens' worth).
pub const MIN_TOKENS_PER_TEXT: u64 = 16;
/// An embedder bucket holds this many seconds of its rate.
const EMBED_BURST_SECONDS: f64 = 10.0;

impl TokenLimits {
    pub fn new(ai_per_minute: u32, mutations_per_minute: u32, embed_tokens_per_second: u32) -> Self {
        let rate = f64::from(embed_tokens_per_second);
        Self {
            ai_per_minute,
            ai: Limiter::per_minute(ai_per_minute),
            ai_large: Limiter::per_minute(ai_per_minute / 2),
            mutations: Limiter::per_minute(mutations_per_minute),
            embed_tokens: Limiter::new(rate, rate * EMBED_BURST_SECONDS),
        }
    }

    /// One Workers AI request to `model` by the current caller.
    pub fn ai_request(&self, model: &str) -> Result<(), CfError> {
        let Some(c) = caller() else { return Ok(()) };
        let (limiter, per_minute) = if model == "@cf/baai/bge-large-en-v1.5" { (&self.ai_large, self.ai_per_minute / 2) } else { (&self.ai, self.ai_per_minute) };
        limiter.take(&format!("{}/{model}", c.id), 1.0).map_err(|wait| ai_refusal(wait, &format!("{model}: more than {per_minute} requests a minute with this token")))
    }

    /// One mutation by the current caller.
    pub fn mutation(&self) -> Result<(), CfError> {
        let Some(c) = caller() else { return Ok(()) };
        self.mutations.take(&c.id, 1.0).map_err(mutation_refusal)
    }

    /// Charges the worst case of embedding `texts`; the returned charge is settled with
    /// [`EmbedCharge::settle`] once the embedder has counted.
    /// A token costs at least a byte, so a text's bytes (up to its model's limit) bound its tokens.
    pub fn embed<'a>(&'a self, model: &str, texts: &[String]) -> Result<EmbedCharge<'a>, CfError> {
        let Some(c) = caller() else { return Ok(EmbedCharge { limits: self, key: None, charged: 0, texts: 0 }) };
        let most = max_tokens_per_text(model);
        let charged: u64 = texts.iter().map(|t| (t.len() as u64).clamp(MIN_TOKENS_PER_TEXT, most - 2) + 2).sum();
        self.embed_tokens
            .take(&c.id, charged as f64)
            .map_err(|wait| ai_refusal(wait, "more embedder tokens per second than this token may use"))?;
        Ok(EmbedCharge { limits: self, key: Some(c.id), charged, texts: texts.len() as u64 })
    }
}

/// What an embed request was charged, before the embedder counted its tokens.
pub struct EmbedCharge<'a> {
    limits: &'a TokenLimits,
    key: Option<String>,
    charged: u64,
    texts: u64,
}

impl EmbedCharge<'_> {
    /// Refunds what the embedder did not count.
    pub fn settle(self, counted: u64) {
        let floor = self.texts * MIN_TOKENS_PER_TEXT;
        let counted = counted.max(floor);
        if let Some(key) = &self.key
            && counted < self.charged
        {
            self.limits.embed_tokens.refund(key, (self.charged - counted) as f64);
        }
    }
}

/// Workers AI: 429 code 3040, the documented 429 of Workers AI (spec §5.4), with `Retry-After`.
fn ai_refusal(wait: Duration, why: &str) -> CfError {
    CfError::new(StatusCode::TOO_MANY_REQUESTS, cf::AI_OUT_OF_CAPACITY, format!("Rate limit exceeded, please try again later. ({why})")).retry_after(wait)
}

/// Vectorize: 429 code 40041 `Too Many Requests` (spec §4.7), with `Retry-After`.
fn mutation_refusal(wait: Duration) -> CfError {
    CfError::new(StatusCode::TOO_MANY_REQUESTS, cf::TOO_MANY_REQUESTS, "Too Many Requests: more mutations per minute than this token may make").retry_after(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_model_s_text_is_charged_to_its_own_limit() {
        // A bucket of 10,000 tokens (1,000 a second, ten seconds' burst), charged by `embed`.
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let long = vec!["x".repeat(20_000)];
        let charges_before_refusal = |model: &'static str| {
            let l = TokenLimits::new(1000, 1000, 1000);
            let caller = Caller { id: "t".into(), all_accounts: true };
            rt.block_on(as_caller(caller, async { (0..100).take_while(|_| l.embed(model, &long).is_ok()).count() }))
        };
        assert_eq!(charges_before_refusal("@cf/baai/bge-base-en-v1.5"), 19, "514 a text");
        assert_eq!(charges_before_refusal("@cf/google/embeddinggemma-300m"), 4, "2,050 a text");
        assert_eq!(charges_before_refusal("@cf/baai/bge-m3"), 1, "8,194 a text, not the BGE models' 514");
        assert_eq!(charges_before_refusal("@an/operator-provisioned-model"), 1, "unknown: charged as the longest");
    }

    #[test]
    fn a_bucket_lets_a_burst_through_then_refuses_until_it_refills() {
        let l = Limiter::new(10.0, 3.0);
        for _ in 0..3 {
            l.take("a", 1.0).expect("burst");
        }
        let wait = l.take("a", 1.0).expect_err("empty");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        assert!(l.take("b", 1.0).is_ok(), "another key has its own bucket");
        // A cost larger than the bucket passes once, then the debt is paid first.
        let l = Limiter::new(1.0, 2.0);
        l.take("x", 50.0).expect("one big request");
        assert!(l.take("x", 1.0).unwrap_err() >= Duration::from_secs(48));
        l.refund("x", 49.0);
        assert!(l.take("x", 1.0).is_ok(), "refunded");
        assert!(Limiter::new(0.0, 1.0).take("z", 1e9).is_ok(), "disabled");
    }

    #[test]
    fn many_keys_do_not_grow_without_bound() {
        let l = Limiter::new(1.0, 1.0);
        for i in 0..(MAX_KEYS + 10) {
            let _ = l.take(&i.to_string(), 1.0);
        }
        assert!(l.buckets.lock().expect("lock").len() <= MAX_KEYS);
    }
}
