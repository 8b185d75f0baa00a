//! Seeded randomness. One seed per run (printed, replayable); every task draws from its own stream
//! derived from that seed and the task's place in the plan (round, index, epoch, writer), so the
//! same seed makes the same choices whatever order the tasks happen to run in.
use std::ops::Range;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};

/// The run's seed: `STRATO_FAULT_SEED` if set, else one from the clock.
pub fn seed() -> u64 {
    match std::env::var("STRATO_FAULT_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("STRATO_FAULT_SEED={s:?} is not a u64")),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            mix(now.as_nanos() as u64 ^ u64::from(std::process::id()))
        }
    }
}

/// Crash rounds: `STRATO_FAULT_ROUNDS`, default 8.
pub fn rounds() -> usize {
    match std::env::var("STRATO_FAULT_ROUNDS") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("STRATO_FAULT_ROUNDS={s:?} is not a number")),
        Err(_) => 8,
    }
}

/// splitmix64's finaliser: a cheap, well-spread hash of one u64.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a path of numbers (order matters).
pub fn hash(path: &[u64]) -> u64 {
    path.iter().fold(0x5EED_u64, |h, &p| mix(h ^ mix(p)))
}

/// A value in [-1, 1) with 24 significant bits, so it is an exact f32.
pub fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
}

pub struct Rng(StdRng);

impl Rng {
    /// The stream of `seed` for one task, named by `path` (e.g. `[WRITER, round, index, epoch, w]`).
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let mut full = vec![seed];
        full.extend_from_slice(path);
        Self(StdRng::seed_from_u64(hash(&full)))
    }

    /// Uniform in `r` (non-empty).
    pub fn range(&mut self, r: Range<usize>) -> usize {
        self.0.random_range(r)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p)
    }

    pub fn millis(&mut self, r: Range<u64>) -> Duration {
        Duration::from_millis(self.0.random_range(r))
    }

    pub fn micros(&mut self, r: Range<u64>) -> Duration {
        Duration::from_micros(self.0.random_range(r))
    }

    /// `k` distinct numbers below `n`, in random order.
    pub fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = self.0.random_range(i..n);
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }

    /// A random query vector.
    pub fn vector(&mut self, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| unit(self.0.random::<u64>())).collect()
    }
}
