//! Helpers shared by the benchmark binaries: the real-text corpus, and the statistics rule
//! (alternate contenders, ≥ 3 rounds, median of per-round ratios).
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Doc {
    pub package: String,
    pub synopsis: String,
    pub text: String,
}

pub fn corpus_path() -> PathBuf {
    crate::cache_dir().join("corpus/debian-descriptions.jsonl")
}

/// Debian's English package descriptions (scripts/provision.sh --corpus), in file order.
pub fn corpus() -> anyhow::Result<Vec<Doc>> {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (run scripts/provision.sh --corpus)", path.display()))?;
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            Ok(Doc { package: s("package"), synopsis: s("synopsis"), text: s("text") })
        })
        .collect()
}

/// A deterministic spread sample of `n` items (every k-th), so runs compare like with like.
pub fn spread<T: Clone>(items: &[T], n: usize, offset: usize) -> Vec<T> {
    let step = (items.len() / n.max(1)).max(1);
    items.iter().skip(offset % step).step_by(step).take(n).cloned().collect()
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 { xs[m] } else { (xs[m - 1] + xs[m]) / 2.0 }
}

/// The q-quantile (0..=1) of latencies, nearest rank.
pub fn percentile(xs: &[Duration], q: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    let mut v = xs.to_vec();
    v.sort();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

pub fn fmt_us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}
