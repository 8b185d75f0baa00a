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

/// One series' value in a Prometheus text exposition (`name{labels}` exactly as exposed).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

pub fn fmt_us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Waits until nothing is pending in index `at` and index-svc (`pid`) has gone idle (under 2 % of
/// a core over 10 s: seals and merges done); returns the segment count.
pub async fn settle(url: &str, at: strato_proto::index::v1::IndexRef, pid: u32) -> anyhow::Result<u32> {
    use std::time::Instant;
    let mut c = strato_proto::index::v1::vector_index_client::VectorIndexClient::connect(url.to_owned()).await?;
    let started = Instant::now();
    let mut cpu = vec![(Instant::now(), cpu_seconds(pid))];
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cpu.push((Instant::now(), cpu_seconds(pid)));
        let d = c.describe_index(at.clone()).await?.into_inner();
        let window = cpu.iter().rev().find(|(t, _)| t.elapsed() >= Duration::from_secs(10));
        if let (Some((t0, c0)), Some((_, c1))) = (window, cpu.last())
            && d.pending_vector_count == 0
            && (c1 - c0) / t0.elapsed().as_secs_f64() < 0.02
        {
            return Ok(d.sealed_segments);
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(7200), "not settled: {d:?}");
    }
}

/// CPU time (user + system) a process has used, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name: state is field 3; utime, stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// CPU time a process's threads have run, in ns, from /proc/PID/task/*/schedstat: exact where
/// /proc/PID/stat counts 10 ms ticks, so the CPU of one request can be read from a few hundred.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    let ran = |t: std::fs::DirEntry| -> Option<u64> { std::fs::read_to_string(t.path().join("schedstat")).ok()?.split_whitespace().next()?.parse().ok() };
    tasks.flatten().filter_map(ran).sum()
}

/// Deterministic unit vectors for figures that do not depend on what vectors mean (xorshift;
/// sums of uniforms, roughly Gaussian per coordinate).
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    pub fn unit(&mut self, dims: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dims).map(|_| self.next() + self.next() + self.next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        v.into_iter().map(|x| x / norm).collect()
    }
}
