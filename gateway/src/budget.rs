//! The gateway's memory budget, and the admission of every request against it.
//!
//! A request is admitted by [`admit`] (the edge's first rule, `routes/edge.rs`): it takes one of
//! `--max-concurrent-requests` places and [`BASE_BYTES`] of the budget (`--memory-budget-mib`),
//! or is answered at once with 503 code 1503 and `Retry-After: 1`. With tokens configured, a
//! request without a valid token takes one of `--tokenless-max-concurrent` places instead, a
//! pool of its own: tokenless traffic (the public tutorial, floods of 401s) never takes a place
//! of a tokened caller. While it is served, what it
//! will hold is charged to its share as soon as it is known, before it is allocated:
//! - its body as it arrives (`body.rs`), at [`BODY_COST`] bytes a byte, once its declared
//!   `Content-Length` has been found to fit before a byte is read;
//! - a response a handler can foresee (getByIds, embeddings) by its estimate ([`charge`]);
//! - every response by its size once built, which replaces what the request was charged.
//!
//! A charge that does not fit answers 503 1503 at once, whatever the handler made of it (413 when
//! the whole budget could never hold it). The
//! place and the share live until the response body has been sent or the connection is gone
//! ([`Held`]), so a client that never reads holds what it was charged and nothing more, until
//! `conn.rs` closes its stalled connection.
//!
//! Why a budget and not only a count: bodies range from 0 to 101 MiB, so no concurrency limit
//! both admits useful parallelism and fits a pod's memory; the budget admits many small
//! requests, or a few large ones.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use strato_proto::metrics::{IntGauge, gauge};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::routes::auth::{Tokens, check_request};
use crate::routes::cf::{self, CfError};
use crate::routes::edge::Shape;

/// The budget's unit: permits of the semaphore are KiB.
const KIB: u64 = 1024;
/// What any request holds before its body is known: headers, its span, small buffers.
pub const BASE_BYTES: u64 = 16 * KIB;
/// Peak bytes held per byte of a request body while it is served: the body itself, what it
/// parses into (vectors as f32, texts), and the gRPC message encoded once for every attempt
/// (`clients.rs`). Measured by `tests/tests/gateway_limits/memory.rs`, which fails when a
/// route's peak passes this multiple.
pub const BODY_COST: u64 = 3;
/// Without a cgroup limit, the budget is this share of the machine's memory.
const SHARE_OF_MACHINE: f64 = 0.5;
/// What the process holds besides requests (runtime, metrics, connections); the budget's
/// default is the cgroup limit minus this (deploy/k8s: `limits.memory = 96Mi + budget`).
pub const BASELINE_BYTES: u64 = 96 * 1024 * 1024;
/// The smallest default budget.
const MIN_BUDGET_BYTES: u64 = 32 * 1024 * 1024;

/// Places and bytes, shared by every request (cloned into the middleware's state).
#[derive(Clone)]
pub struct Admission {
    places: Pool,
    /// With tokens configured: the places of requests without a valid token, apart, so that
    /// tokenless traffic (the public tutorial, floods of 401s) never takes a tokened caller's.
    tokenless: Option<(Pool, Arc<Tokens>)>,
    budget: Arc<Semaphore>,
    budget_bytes: u64,
}

#[derive(Clone)]
struct Pool {
    permits: Arc<Semaphore>,
    max: u32,
}

impl Pool {
    fn new(max: u32) -> Self {
        Self { permits: Arc::new(Semaphore::new(max as usize)), max }
    }
}

/// The budget as metrics: what it is, and what requests hold of it now.
struct Gauges {
    budget: IntGauge,
    held: IntGauge,
}

static GAUGES: LazyLock<Gauges> = LazyLock::new(|| Gauges {
    budget: gauge("strato_gateway_memory_budget_bytes", "The memory requests may hold at once (--memory-budget-mib)."),
    held: gauge("strato_gateway_memory_held_bytes", "Memory charged to requests being served, their unsent responses included."),
});

impl Admission {
    pub fn new(max_places: u32, budget_bytes: u64) -> Self {
        GAUGES.budget.set(i64::try_from(budget_bytes).unwrap_or(i64::MAX));
        let kib = (budget_bytes / KIB).min(Semaphore::MAX_PERMITS as u64 / 2);
        Self { places: Pool::new(max_places), tokenless: None, budget: Arc::new(Semaphore::new(kib as usize)), budget_bytes }
    }

    /// Requests without a valid one of `tokens` get `max` places of their own (none configured:
    /// the open loopback mode, where everyone is tokenless, shares the one pool).
    pub fn tokenless_apart(mut self, tokens: Arc<Tokens>, max: u32) -> Self {
        if !tokens.is_empty() {
            self.tokenless = Some((Pool::new(max), tokens));
        }
        self
    }

    /// Bytes of the budget not charged to any request now.
    pub fn available_bytes(&self) -> u64 {
        self.budget.available_permits() as u64 * KIB
    }
}

/// The budget when `--memory-budget-mib` is not given: the cgroup's memory limit (v2
/// `memory.max`, v1 `memory.limit_in_bytes`) minus [`BASELINE_BYTES`]; without a limit, half
/// of the machine's memory.
pub fn default_budget_bytes() -> u64 {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(4 << 30, |kib| kib * KIB);
    let limit = read("/sys/fs/cgroup/memory.max").or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes")).filter(|l| *l < machine);
    match limit {
        Some(l) => l.saturating_sub(BASELINE_BYTES).max(MIN_BUDGET_BYTES),
        None => ((machine as f64 * SHARE_OF_MACHINE) as u64).max(MIN_BUDGET_BYTES),
    }
}

/// One admitted request: its place and the bytes charged to it, given back when dropped.
pub struct Share {
    budget: Arc<Semaphore>,
    /// The whole budget, in KiB: a charge above it can never fit (413, not 503).
    total_kib: u64,
    held_kib: AtomicU64,
    /// A charge did not fit: the request is answered 503 whatever its handler answered.
    refused: AtomicBool,
    _place: OwnedSemaphorePermit,
}

impl Share {
    /// Charges `bytes` more, or refuses (and marks the request refused).
    pub fn charge(&self, bytes: u64) -> Result<(), CfError> {
        self.fits(bytes)?;
        let kib = bytes.div_ceil(KIB);
        let Ok(n) = u32::try_from(kib) else {
            return Err(self.refuse(bytes));
        };
        match self.budget.try_acquire_many(n) {
            Ok(p) => {
                p.forget();
                self.held_kib.fetch_add(kib, Ordering::Relaxed);
                GAUGES.held.add((kib * KIB) as i64);
                Ok(())
            }
            Err(_) => Err(self.refuse(bytes)),
        }
    }

    /// Sets what is held to `bytes`: gives back the excess, or charges the difference.
    fn settle(&self, bytes: u64) -> Result<(), CfError> {
        let want = bytes.div_ceil(KIB);
        let held = self.held_kib.load(Ordering::Relaxed);
        if want > held {
            return self.charge((want - held) * KIB);
        }
        self.held_kib.store(want, Ordering::Relaxed);
        self.budget.add_permits((held - want) as usize);
        GAUGES.held.sub(((held - want) * KIB) as i64);
        Ok(())
    }

    /// Whether `bytes` more would fit now, without charging them.
    pub fn fits(&self, bytes: u64) -> Result<(), CfError> {
        let kib = bytes.div_ceil(KIB);
        if kib + self.held_kib.load(Ordering::Relaxed) > self.total_kib {
            self.refused.store(true, Ordering::Relaxed);
            let message = format!(
                "This request needs {} MiB of the gateway's memory, more than its whole budget ({} MiB, --memory-budget-mib): send a smaller one",
                bytes.div_ceil(1 << 20),
                self.total_kib >> 10
            );
            return Err(CfError::new(StatusCode::PAYLOAD_TOO_LARGE, cf::BAD_REQUEST, message));
        }
        if kib > self.budget.available_permits() as u64 {
            return Err(self.refuse(bytes));
        }
        Ok(())
    }

    fn refuse(&self, bytes: u64) -> CfError {
        self.refused.store(true, Ordering::Relaxed);
        overloaded_error(format!("The gateway's memory budget cannot take another {} KiB now; please retry.", bytes.div_ceil(KIB)))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let held = *self.held_kib.get_mut();
        self.budget.add_permits(held as usize);
        GAUGES.held.sub((held * KIB) as i64);
    }
}

tokio::task_local! {
    /// The share of the request being served on this task.
    static SHARE: Arc<Share>;
}

/// Charges `bytes` to the current request's share (a no-op outside a request: unit tests, the
/// CLI). Call it before allocating what it stands for.
pub fn charge(bytes: u64) -> Result<(), CfError> {
    SHARE.try_with(|s| s.charge(bytes)).unwrap_or(Ok(()))
}

/// Whether `bytes` more would fit the current request's share now (nothing is charged).
pub fn fits(bytes: u64) -> Result<(), CfError> {
    SHARE.try_with(|s| s.fits(bytes)).unwrap_or(Ok(()))
}

/// 503 code 1503 with `Retry-After: 1`, the error every refusal of the budget or of a place is.
pub fn overloaded_error(message: String) -> CfError {
    CfError::new(StatusCode::SERVICE_UNAVAILABLE, cf::UNAVAILABLE, message).retry_after(std::time::Duration::from_secs(1))
}

/// `resp` with `guard` kept until its body has been sent or dropped (a place of a pool).
pub fn hold_until_sent<G: Send + Sync + 'static>(resp: Response, guard: G) -> Response {
    resp.map(|body| Body::new(Held { inner: body, pending: Bytes::new(), _guard: Box::new(guard) }))
}

/// Frames handed to hyper at most this large: hyper takes the next frame only when its write
/// buffer has room, so a body that has not been sent is still here, under its guard (a whole
/// 30 MB answer handed over at once would leave the guard with nothing while hyper holds it).
const FRAME_BYTES: usize = 64 * 1024;

/// The admission middleware (module doc).
pub async fn admit(State(adm): State<Admission>, req: Request, next: Next) -> Response {
    let shape = Shape::of(req.uri().path());
    let (pool, whose) = match &adm.tokenless {
        Some((pool, tokens)) if check_request(tokens, req.headers(), None).is_err() => (pool, " without a valid token"),
        _ => (&adm.places, ""),
    };
    let Ok(place) = pool.permits.clone().try_acquire_owned() else {
        let message = format!("The gateway is serving its limit of {} requests{whose} at once; please retry.", pool.max);
        return shape.error(overloaded_error(message));
    };
    let share = Arc::new(Share { budget: adm.budget.clone(), total_kib: adm.budget_bytes / KIB, held_kib: AtomicU64::new(0), refused: AtomicBool::new(false), _place: place });
    if let Err(e) = share.charge(BASE_BYTES) {
        return shape.error(e);
    }
    let resp = SHARE.scope(share.clone(), next.run(req)).await;
    if share.refused.load(Ordering::Relaxed) && resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return shape.error(overloaded_error("The gateway's memory budget cannot take this request now; please retry.".into()));
    }
    // From here the request holds its response: what the body will hold until sent.
    let hint = resp.body().size_hint();
    let size = hint.exact().unwrap_or_else(|| hint.lower());
    if let Err(e) = share.settle(BASE_BYTES + size) {
        return shape.error(e);
    }
    hold_until_sent(resp, share)
}

/// A response body that keeps what its request holds (its place and share) until it is sent
/// or dropped, handing its data over in frames of at most [`FRAME_BYTES`] (no copy).
struct Held {
    inner: Body,
    pending: Bytes,
    _guard: Box<dyn Send + Sync>,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.pending.is_empty() {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.pending = data,
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                other => return other,
            }
        }
        let n = self.pending.len().min(FRAME_BYTES);
        Poll::Ready(Some(Ok(Frame::data(self.pending.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        hint.set_lower(hint.lower() + pending);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(adm: &Admission) -> Share {
        let place = adm.places.permits.clone().try_acquire_owned().expect("place");
        Share { budget: adm.budget.clone(), total_kib: adm.budget_bytes / KIB, held_kib: AtomicU64::new(0), refused: AtomicBool::new(false), _place: place }
    }

    #[test]
    fn charges_fit_the_budget_and_come_back_when_dropped() {
        let adm = Admission::new(4, 1024 * KIB);
        let a = share(&adm);
        a.charge(600 * KIB).expect("fits");
        let b = share(&adm);
        assert!(b.charge(600 * KIB).is_err(), "over the budget");
        assert!(b.refused.load(Ordering::Relaxed));
        b.charge(400 * KIB).expect("what is left fits");
        a.settle(100 * KIB).expect("smaller");
        assert_eq!(adm.available_bytes(), 1024 * KIB - 500 * KIB);
        drop((a, b));
        assert_eq!(adm.available_bytes(), 1024 * KIB);
        assert!(share(&adm).charge(u64::MAX).is_err(), "no overflow");
        assert_eq!(share(&adm).charge(2048 * KIB).map_err(|e| e.status), Err(StatusCode::PAYLOAD_TOO_LARGE), "never fits: not a retry");
    }

    #[test]
    fn places_run_out() {
        let adm = Admission::new(1, 1024 * KIB);
        let _a = share(&adm);
        assert!(adm.places.permits.clone().try_acquire_owned().is_err());
    }
}
