//! The console's health charts: requests per second and p50/p99 latency over the last minutes,
//! derived from the gateway's own latency histogram (`observe.rs`), not from a second count kept
//! beside it. A sampler reads the histogram (every route and status summed) every few seconds and
//! keeps a bounded ring of cumulative snapshots; an interval's figures are the difference of two
//! neighbours, its quantiles interpolated inside the bucket that holds them, as Prometheus's
//! `histogram_quantile` does. What an operator's Prometheus would chart, in a few hundred bytes.
use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::core::Collector as _;
use serde::Serialize;

/// Seconds between samples.
pub const STEP: Duration = Duration::from_secs(2);
/// Samples kept: ten minutes.
const KEEP: usize = 300;

/// Cumulative counts at one instant: total requests and, per bucket, requests at or under its
/// bound (the bounds are the family's, `latency_buckets`).
#[derive(Clone)]
struct Snapshot {
    /// Milliseconds on a clock that only moves forward: the wall clock at the sampler's start
    /// plus the monotonic time since (a wall clock stepped back or forth skews no interval).
    at_ms: u64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

static RING: LazyLock<Mutex<VecDeque<Snapshot>>> = LazyLock::new(|| Mutex::new(VecDeque::with_capacity(KEEP + 1)));

/// One interval of the chart.
#[derive(Serialize, Debug, PartialEq)]
pub struct Point {
    /// The interval's end, in milliseconds since the epoch.
    pub t: u64,
    pub rps: f64,
    /// Milliseconds; None when the interval served no request.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Serialize)]
pub struct Summary {
    pub step_seconds: u64,
    pub points: Vec<Point>,
}

/// Starts the sampler (once per process; later calls do nothing).
pub fn start() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        tokio::spawn(async {
            let mut tick = tokio::time::interval(STEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let s = sample();
                #[allow(clippy::unwrap_used)] // a poisoned ring is a bug elsewhere, never input
                let mut ring = RING.lock().unwrap();
                ring.push_back(s);
                while ring.len() > KEEP + 1 {
                    ring.pop_front();
                }
            }
        });
    });
}

fn sample() -> Snapshot {
    let mut count = 0;
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for family in crate::observe::latency_family().collect() {
        for m in family.get_metric() {
            let h = m.get_histogram();
            count += h.get_sample_count();
            for (i, b) in h.get_bucket().iter().enumerate() {
                match buckets.get_mut(i) {
                    Some(slot) => slot.1 += b.cumulative_count(),
                    None => buckets.push((b.upper_bound(), b.cumulative_count())),
                }
            }
        }
    }
    static EPOCH: LazyLock<(Instant, u64)> = LazyLock::new(|| (Instant::now(), SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)));
    let at_ms = EPOCH.1 + EPOCH.0.elapsed().as_millis() as u64;
    Snapshot { at_ms, count, buckets }
}

/// The chart so far: one point per interval between kept samples.
pub fn summary() -> Summary {
    #[allow(clippy::unwrap_used)]
    let ring = RING.lock().unwrap();
    let points = ring.iter().zip(ring.iter().skip(1)).map(|(a, b)| point(a, b)).collect();
    Summary { step_seconds: STEP.as_secs(), points }
}

fn point(a: &Snapshot, b: &Snapshot) -> Point {
    let n = b.count.saturating_sub(a.count);
    let secs = (b.at_ms.saturating_sub(a.at_ms) as f64 / 1e3).max(1e-3);
    let delta: Vec<(f64, u64)> = b.buckets.iter().zip(&a.buckets).map(|(&(le, cb), &(_, ca))| (le, cb.saturating_sub(ca))).collect();
    let q = |q: f64| quantile(&delta, n, q).map(|s| (s * 1e4).round() / 10.0);
    Point { t: b.at_ms, rps: (n as f64 / secs * 100.0).round() / 100.0, p50_ms: q(0.5), p99_ms: q(0.99) }
}

/// The `q` quantile of `n` observations in cumulative `buckets`, in seconds: linear inside the
/// bucket that holds it; past the last finite bound, that bound (as Prometheus answers).
fn quantile(buckets: &[(f64, u64)], n: u64, q: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let rank = q * n as f64;
    let mut lower = (0.0, 0u64);
    for &(le, cum) in buckets {
        if cum as f64 >= rank {
            let inside = (cum - lower.1).max(1) as f64;
            return Some(lower.0 + (le - lower.0) * ((rank - lower.1 as f64) / inside));
        }
        lower = (le, cum);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_is_the_difference_of_its_ends() {
        let a = Snapshot { at_ms: 1_000, count: 10, buckets: vec![(0.001, 10), (0.002, 10), (0.004, 10)] };
        // 100 more requests in 2 s: 50 under 1 ms, 49 in (1, 2] ms, 1 in (2, 4] ms.
        let b = Snapshot { at_ms: 3_000, count: 110, buckets: vec![(0.001, 60), (0.002, 109), (0.004, 110)] };
        let p = point(&a, &b);
        assert_eq!(p.rps, 50.0);
        assert_eq!(p.p50_ms, Some(1.0));
        assert_eq!(p.p99_ms, Some(2.0));
        let idle = point(&b, &Snapshot { at_ms: 5_000, ..b.clone() });
        assert_eq!((idle.rps, idle.p50_ms, idle.p99_ms), (0.0, None, None));
    }

    #[test]
    fn a_quantile_past_every_bound_is_the_last_bound() {
        assert_eq!(quantile(&[(0.001, 0), (0.002, 0)], 5, 0.99), Some(0.002));
    }
}
