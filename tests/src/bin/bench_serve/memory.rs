//! Resident memory per vector at scale, Strato alone. N synthetic unit vectors (memory does not
//! depend on what they mean; recall is judged on the real embeddings above) are ingested through
//! the REST API and left to settle, then 1000 queries touch what queries touch, then index-svc's
//! memory is read from /proc: all of it (VmRSS), and split into the heap (RssAnon: what the
//! process needs) and mapped segment files (RssFile: rows read for rescoring, clean pages the
//! kernel drops under pressure and reads back from disk).
//!
//! Each size runs once per way of reading rows for rescoring (`BENCH_MEMORY_READS`, default
//! `map,pread`; index-svc's `--rescore-reads`), and index-svc runs in a memory cgroup of its own
//! when this host lets us make one (cgroup v1 or v2, as root), so the figures include what a
//! pod's cgroup is charged: everything, page cache of the files it wrote and read included, and
//! the working set the kubelet evicts on (usage − inactive file pages).
//!
//! `BENCH_MEMORY` lists the sizes (default 100000); `BENCH_HOLD_SECS` keeps each index-svc
//! running that long after its figures, to inspect it (/proc/PID/smaps). index-svc builds with
//! ef_construction 40 here (`BENCH_MEMORY_EFC` to change it), so 1M vectors settle in minutes,
//! not hours: a graph's memory does not depend on it (every node has its full link array), only
//! its recall and build time do. The time and index-svc's CPU from the last acknowledged write
//! until settled are printed with each run.
use std::time::{Duration, Instant};

use strato_proto::index::v1::IndexRef;
use strato_tests::bench::{Rng, settle};

use crate::strato::{ACCOUNT, Strato};
use crate::{BATCH, Server};

pub async fn run(sizes: &[usize]) -> anyhow::Result<()> {
    println!("\nmemory at scale (synthetic 384-d unit vectors, REST ingest, settled, after 1000 queries):");
    let reads = std::env::var("BENCH_MEMORY_READS").unwrap_or_else(|_| "map,pread".into());
    let efc = std::env::var("BENCH_MEMORY_EFC").unwrap_or_else(|_| "40".into());
    for &n in sizes {
        for mode in reads.split(',').map(str::trim) {
            one(n, mode, &efc).await?;
        }
    }
    Ok(())
}

async fn one(n: usize, mode: &str, efc: &str) -> anyhow::Result<()> {
    let args = ["--ef-construction", efc, "--rescore-reads", mode];
    let mut s = Strato::start_with(&args, &[])?;
    s.reset().await?; // a fresh stack: join its index-svc
    let cgroup = Cgroup::join(s.index_pid());
    let measured = measure(&s, cgroup.as_ref(), n, mode, efc).await;
    // The process first, on errors too: a cgroup with a task in it cannot be removed.
    drop(s);
    drop(cgroup);
    measured
}

async fn measure(s: &Strato, cgroup: Option<&Cgroup>, n: usize, mode: &str, efc: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    for from in (0..n).step_by(BATCH) {
        let batch: Vec<Vec<f32>> = (from..(from + BATCH).min(n)).map(|_| rng.unit(384)).collect();
        s.ingest(from, &batch).await?;
    }
    let ingest = started.elapsed();
    let cpu0 = strato_tests::bench::cpu_seconds(s.index_pid());
    let segments = settle(&s.index_url(), IndexRef { account: ACCOUNT.into(), name: s.index_name().into() }, s.index_pid()).await?;
    let settled = started.elapsed();
    let settle_cpu = strato_tests::bench::cpu_seconds(s.index_pid()) - cpu0;
    let queries: Vec<Vec<f32>> = (0..1000).map(|_| rng.unit(384)).collect();
    let truth = vec![Vec::new(); queries.len()];
    crate::run_queries(s, &queries, &truth, 10, 1).await?;
    let m = Memory::of(s.index_pid());
    if let Some(secs) = std::env::var("BENCH_HOLD_SECS").ok().and_then(|v| v.parse().ok()) {
        println!("  holding index-svc (pid {}) for {secs} s", s.index_pid());
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let per = |b: u64| b as f64 / n as f64;
    println!(
        "  {n:>8} vectors, rescore reads {mode}: {:.0} B/vector resident (heap {:.0}, file-backed: rows read, binary {:.0}) = {} MiB; {segments} segment(s); ingest {:.0}/s, settled {:.0} s later using {settle_cpu:.0} CPU-s (ef_construction {efc})",
        per(m.rss),
        per(m.anon),
        per(m.file),
        m.rss >> 20,
        n as f64 / ingest.as_secs_f64(),
        (settled - ingest).as_secs_f64()
    );
    match cgroup.and_then(Cgroup::charged) {
        Some(c) => println!(
            "           its cgroup is charged {:.0} B/vector: anonymous {:.0}, page cache {:.0} (of it mapped {:.0}, inactive {:.0}); working set {:.0}",
            per(c.usage),
            per(c.anon),
            per(c.cache),
            per(c.mapped),
            per(c.inactive_file),
            per(c.usage.saturating_sub(c.inactive_file))
        ),
        None => println!("           (no memory cgroup could be made here: cgroup charge not measured)"),
    }
    Ok(())
}

/// A memory cgroup holding one process, removed when dropped (its charges move to the parent).
struct Cgroup {
    dir: std::path::PathBuf,
    v2: bool,
}

struct Charged {
    usage: u64,
    anon: u64,
    cache: u64,
    mapped: u64,
    inactive_file: u64,
}

impl Cgroup {
    /// Moves `pid` into a fresh memory cgroup, v1's memory controller or cgroup v2.
    fn join(pid: u32) -> Option<Self> {
        let name = format!("strato-bench-{pid}");
        let roots = [("/sys/fs/cgroup/memory", false), ("/sys/fs/cgroup/unified", true), ("/sys/fs/cgroup", true)];
        roots.iter().find_map(|(root, v2)| {
            let probe = if *v2 { "memory.current" } else { "memory.usage_in_bytes" };
            if !std::path::Path::new(root).join(probe).exists() && !std::path::Path::new(root).join("cgroup.procs").exists() {
                return None;
            }
            let dir = std::path::Path::new(root).join(&name);
            std::fs::create_dir(&dir).ok()?;
            let cg = Cgroup { dir, v2: *v2 };
            (cg.dir.join(probe).exists() && std::fs::write(cg.dir.join("cgroup.procs"), pid.to_string()).is_ok()).then_some(cg)
        })
    }

    fn charged(&self) -> Option<Charged> {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).ok();
        let stat = read("memory.stat")?;
        let field = |k: &str| stat.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse::<u64>().ok()).unwrap_or(0);
        Some(if self.v2 {
            Charged { usage: read("memory.current")?.trim().parse().ok()?, anon: field("anon"), cache: field("file"), mapped: field("file_mapped"), inactive_file: field("inactive_file") }
        } else {
            Charged { usage: read("memory.usage_in_bytes")?.trim().parse().ok()?, anon: field("rss"), cache: field("cache"), mapped: field("mapped_file"), inactive_file: field("inactive_file") }
        })
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The process may outlive us by a moment; the directory goes once it is empty.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A process's resident memory from /proc/PID/status: all of it, the heap, file-backed pages.
pub struct Memory {
    pub rss: u64,
    anon: u64,
    file: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()).unwrap_or(0) * 1024;
        Self { rss: kb("VmRSS:"), anon: kb("RssAnon:"), file: kb("RssFile:") }
    }
}
