//! Long inputs: what an 8,192-token text costs against 512-token ones, through the service.
//! The models that take 8k (bge-m3, Qwen3) cannot be fetched here, so the graph is a stand-in
//! with real softmax self-attention (`model_families.py build-attention`: one layer, width 384,
//! a word per token): the part of a transformer whose work grows with the square of the length.
//! Per round, alternating: 16 texts of 512 tokens in one request (the batcher packs them under
//! its padded-token budget, two to a batch) and one text of 8,192 tokens (alone: over the
//! budget), the same tokens each; tokens/s of each, and the median of per-round ratios.
use std::time::{Duration, Instant};

use strato_proto::embedder::v1::{EmbedRequest, embedder_client::EmbedderClient};
use strato_tests::bench::median;
use strato_tests::process::{Service, scratch_dir};

const SHORT: usize = 512;
const LONG: usize = 8192;
const HIDDEN: usize = 384;

pub async fn run(rounds: usize) -> anyhow::Result<()> {
    let dir = scratch_dir("bench-attention");
    let out = std::process::Command::new(strato_tests::python())
        .arg(strato_tests::repo_root().join("scripts/model_families.py"))
        .args(["build-attention", dir.to_str().unwrap_or_default(), &HIDDEN.to_string(), &LONG.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "build-attention: {}", String::from_utf8_lossy(&out.stderr));
    let ort = strato_tests::ort_lib();
    let svc = Service::start(
        "embedder-svc",
        &["--models-dir", dir.to_str().unwrap_or_default(), "--ort-lib", ort.to_str().unwrap_or_default()],
        Duration::from_secs(120),
    )?;
    let mut client = EmbedderClient::connect(svc.url()).await?.max_decoding_message_size(64 << 20);
    let words = |n: usize, seed: usize| (0..n).map(|i| format!("w{}", (i * 7 + seed) % 500)).collect::<Vec<_>>().join(" ");
    let short: Vec<String> = (0..LONG / SHORT).map(|i| words(SHORT, i)).collect();
    let long = vec![words(LONG, 1)];
    let mut embed = async |texts: &[String]| -> anyhow::Result<(f64, u64)> {
        let req = EmbedRequest { model: "@strato/bench-attention".into(), texts: texts.to_vec(), ..Default::default() };
        let t = Instant::now();
        let r = client.embed(req).await?.into_inner();
        Ok((t.elapsed().as_secs_f64(), r.token_count))
    };
    embed(&short).await?; // warm: sessions, allocator
    embed(&long).await?;
    let (mut short_tps, mut long_tps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let (s, l) = if round % 2 == 0 {
            let s = embed(&short).await?;
            (s, embed(&long).await?)
        } else {
            let l = embed(&long).await?;
            (embed(&short).await?, l)
        };
        let (st, lt) = (s.1 as f64 / s.0, l.1 as f64 / l.0);
        println!("round {round}: 16 × {SHORT} tokens {st:.0} tokens/s ({:.2} s), 1 × {LONG} tokens {lt:.0} tokens/s ({:.2} s)", s.0, l.0);
        short_tps.push(st);
        long_tps.push(lt);
        ratios.push(lt / st);
    }
    println!("\n== long inputs (one softmax attention layer, width {HIDDEN}, 2-core CPU) — medians over {rounds} rounds ==");
    println!("{SHORT}-token texts : {:.0} tokens/s", median(short_tps));
    println!("{LONG}-token text  : {:.0} tokens/s", median(long_tps));
    println!("8k / 512 throughput per token: {:.3}x", median(ratios));
    Ok(())
}
