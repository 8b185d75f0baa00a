//! This build against another index-svc binary (one built from an earlier commit), alternating
//! which goes first, medians of per-round ratios: the write path, start-up, and a backup under
//! load.
use std::time::{Duration, Instant};

use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::bench::{Rng, median, settle};
use strato_tests::embeddings::DIMS;
use strato_tests::process::{Service, scratch_dir, status_kib};

use crate::small_writes;

/// Starts `bin` on `data`; the baseline may predate admin ports, so it gets none.
fn start(which: usize, bin: &str, data: &std::path::Path, extra: &[&str]) -> anyhow::Result<Service> {
    let data_arg = data.to_string_lossy().into_owned();
    let mut args = vec!["--data-dir", data_arg.as_str()];
    args.extend_from_slice(extra);
    let timeout = Duration::from_secs(600);
    if which == 0 { Service::start_without_admin(bin, &args, timeout) } else { Service::start(bin, &args, timeout) }
}

/// The write path: small concurrent writes (how commits share fsyncs) and batched ingest, each
/// contender on a fresh data directory.
pub async fn writes(baseline: &str, base: &[Vec<f32>], rounds: usize) -> anyhow::Result<()> {
    println!("\n== writes: this build vs {baseline} ==");
    let (mut small, mut ingest) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut got = [(0.0, 0.0); 2];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let bin = if which == 0 { baseline } else { "index-svc" };
            let svc = start(which, bin, &scratch_dir("bench-writes"), &[])?;
            let mut c = VectorIndexClient::connect(svc.url()).await?;
            let (per_s, ..) = small_writes(&c, base).await?;
            c.create_index(pb::CreateIndexRequest { account: String::new(), name: "ingest".into(), dimensions: DIMS as u32, metric: pb::Metric::Cosine as i32, description: String::new() }).await?;
            let n = 10_000.min(base.len());
            let t = Instant::now();
            for from in (0..n).step_by(1000) {
                let vectors = (from..(from + 1000).min(n)).map(|i| pb::Vector { id: i.to_string(), values: base[i].clone(), namespace: String::new(), metadata: None }).collect();
                c.upsert(pb::WriteRequest { account: String::new(), index: "ingest".into(), vectors }).await?;
            }
            got[which] = (per_s, n as f64 / t.elapsed().as_secs_f64());
        }
        println!(
            "round {}: small writes {:.0}/s vs baseline {:.0}/s ({:.2}×); ingest {:.0} vectors/s vs {:.0} ({:.2}×)",
            round + 1,
            got[1].0,
            got[0].0,
            got[1].0 / got[0].0,
            got[1].1,
            got[0].1,
            got[1].1 / got[0].1
        );
        small.push(got[1].0 / got[0].0);
        ingest.push(got[1].1 / got[0].1);
    }
    println!("median of per-round ratios (this build / baseline): small writes {:.2}×, ingest {:.2}×", median(small), median(ingest));
    Ok(())
}

/// Start-up: for each size, each contender fills its own data directory with that many
/// synthetic 384-d unit vectors (what they mean does not matter to start-up; ef_construction 40,
/// as `bench serve`'s memory part, so 1M settles in minutes) and settles into segments. Then each
/// round restarts each contender twice: after SIGTERM (a rollout) and after `kill -9` (a crash:
/// the store is reopened after an unclean close). Time is spawn to serving (the address is
/// written once every index is loaded and checked); memory is the RSS right after. The page cache
/// is warm for both: this measures the work start-up does, not the disk.
pub async fn startup(baseline: &str, sizes: &[usize], rounds: usize) -> anyhow::Result<()> {
    const BUILD: &[&str] = &["--ef-construction", "40"];
    println!("\n== start-up: this build vs {baseline} ({rounds} rounds) ==");
    for &n in sizes {
        let dirs = [scratch_dir("bench-startup-base"), scratch_dir("bench-startup-this")];
        for which in [0, 1] {
            let bin = if which == 0 { baseline } else { "index-svc" };
            let t = Instant::now();
            let mut svc = start(which, bin, &dirs[which], BUILD)?;
            let mut c = VectorIndexClient::connect(svc.url()).await?;
            let at = pb::IndexRef { account: String::new(), name: "startup".into() };
            c.create_index(pb::CreateIndexRequest { account: String::new(), name: at.name.clone(), dimensions: 384, metric: pb::Metric::Cosine as i32, description: String::new() }).await?;
            let mut rng = Rng(0x5eed ^ n as u64);
            for from in (0..n).step_by(1000) {
                let vectors = (from..(from + 1000).min(n)).map(|i| pb::Vector { id: i.to_string(), values: rng.unit(384), namespace: String::new(), metadata: None }).collect();
                c.upsert(pb::WriteRequest { account: String::new(), index: at.name.clone(), vectors }).await?;
            }
            let segments = settle(&svc.url(), at, svc.pid()).await?;
            println!("  {n} vectors: {} settled into {segments} segment(s) in {:.0} s", if which == 0 { "baseline" } else { "this build" }, t.elapsed().as_secs_f64());
            svc.terminate();
            svc.wait_exit(Duration::from_secs(120));
        }
        let (mut clean, mut crash) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // [contender][clean, crash] = (seconds to serving, RSS MiB)
            let mut got = [[(0.0, 0); 2]; 2];
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for kind in [0, 1] {
                for which in order {
                    let bin = if which == 0 { baseline } else { "index-svc" };
                    let t = Instant::now();
                    let mut svc = start(which, bin, &dirs[which], BUILD)?;
                    got[which][kind] = (t.elapsed().as_secs_f64(), status_kib(svc.pid(), "VmRSS:") / 1024);
                    // The next start finds what this kind of stop leaves.
                    if kind == 0 {
                        svc.kill();
                    } else {
                        svc.terminate();
                        svc.wait_exit(Duration::from_secs(120));
                    }
                }
            }
            let [[b_clean, b_crash], [t_clean, t_crash]] = got;
            println!(
                "  {n} round {}: after SIGTERM {:.2} s vs baseline {:.2} s ({:.2}×), RSS {} vs {} MiB; after kill -9 {:.2} s vs {:.2} s ({:.2}×)",
                round + 1,
                t_clean.0,
                b_clean.0,
                t_clean.0 / b_clean.0,
                t_clean.1,
                b_clean.1,
                t_crash.0,
                b_crash.0,
                t_crash.0 / b_crash.0
            );
            clean.push(t_clean.0 / b_clean.0);
            crash.push(t_crash.0 / b_crash.0);
        }
        println!("  {n} vectors, median of per-round ratios (this build / baseline start-up time): after SIGTERM {:.2}×, after kill -9 {:.2}×", median(clean), median(crash));
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    Ok(())
}

/// A slow backup of a ~100 MB store (`strato_tests::backup_load`; `BENCH_BACKUP_VECTORS`, default
/// 12,000, sets its size): how much index-svc's memory rises, and how long the slowest delete or
/// write beside it takes.
pub async fn backup(baseline: &str, rounds: usize) -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_BACKUP_VECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(12_000);
    println!("\n== backup of a store of {n} vectors with 8 KiB of metadata (~{} MB): this build vs {baseline} ==", n * 86 / 10_000);
    let (mut rise, mut worst) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut got = [(0u64, Duration::ZERO, Duration::ZERO); 2];
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let bin = if which == 0 { baseline } else { "index-svc" };
            let svc = start(which, bin, &scratch_dir("bench-backup"), &["--settle-ms", "500"])?;
            let c = VectorIndexClient::connect(svc.url()).await?;
            strato_tests::backup_load::fill_n(&c, &svc, n).await?;
            let alone = strato_tests::backup_load::slow_backup(&c, svc.pid(), false).await?;
            let beside = strato_tests::backup_load::slow_backup(&c, svc.pid(), true).await?;
            got[which] = (alone.rise_kib(), beside.worst(), beside.copy);
        }
        let [(b_rise, b_worst, b_copy), (t_rise, t_worst, t_copy)] = got;
        println!(
            "round {}: memory rise {} MiB vs baseline {} MiB; slowest delete/write beside it {:?} vs {:?} (copy {:.1} s vs {:.1} s)",
            round + 1,
            t_rise / 1024,
            b_rise / 1024,
            t_worst,
            b_worst,
            t_copy.as_secs_f64(),
            b_copy.as_secs_f64()
        );
        rise.push(t_rise as f64 / b_rise.max(1) as f64);
        worst.push(t_worst.as_secs_f64() / b_worst.as_secs_f64().max(1e-6));
    }
    println!("median of per-round ratios (this build / baseline): memory rise {:.2}×, slowest call beside the backup {:.2}×", median(rise), median(worst));
    Ok(())
}
