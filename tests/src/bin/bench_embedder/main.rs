//! Embedder benchmark: texts/s and tokens/s over gRPC at concurrency 1, 8 and 32, for each way
//! of spending the cores on the model (one session of two threads, two sessions of one), with
//! how each run batched (texts per batch, padding, queue wait, from the service's counters), beside
//! in-process ORT on the same inputs (length-sorted, budgeted batches: the best a caller could do
//! without a server) and a naive pipeline (arrival order, pad-to-longest batches of 32).
//! Contenders alternate within each round; figures are medians of per-round ratios.
//!
//! Run: ./strato bench embedder   [env BENCH_TEXTS (default 1000), BENCH_ROUNDS (default 3),
//!      BENCH_LAYOUTS (sessions x threads : max padding %, comma-separated; e.g. "1x2:100,2x1:25")]
//! With BENCH_LONG=1 it measures long inputs instead (`long.rs`).
mod long;

use std::time::{Duration, Instant};

use embedder_svc::backend::{BackendOptions, OrtBackend, init_runtime};
use embedder_svc::catalogue::discover;
use embedder_svc::config::Device;
use embedder_svc::pooling::Pooling;
use strato_proto::embedder::v1::{EmbedRequest, embedder_client::EmbedderClient};
use strato_tests::bench::{corpus, fmt_us, median, percentile, sample, spread};
use strato_tests::TEST_MODEL;
use strato_tests::process::{Service, start_embedder};
use tokenizers::{Tokenizer, TruncationParams};

use embedder_svc::config::{DEFAULT_MAX_BATCH_PADDING_PCT, DEFAULT_MAX_BATCH_TEXTS as BATCH, DEFAULT_MAX_BATCH_TOKENS as BUDGET, DEFAULT_SESSIONS};

struct Run {
    secs: f64,
    tokens: u64,
    latencies: Vec<Duration>,
    batching: Batching,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_TEXTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(3);
    if std::env::var_os("BENCH_LONG").is_some() {
        return long::run(rounds).await;
    }
    let docs = corpus()?;
    println!("corpus: {} Debian package descriptions; {n} texts per contender per round, {rounds} rounds", docs.len());

    // In-process contenders share the embedder's own loading code.
    let runtime = init_runtime(&strato_tests::ort_lib())?;
    let dir = discover(&strato_tests::models_dir())?
        .into_iter()
        .find(|d| d.manifest.name == TEST_MODEL)
        .ok_or_else(|| anyhow::anyhow!("test model not provisioned"))?;
    let opts = BackendOptions { device: Device::Cpu, cuda_device_id: 0, intra_threads: 0, sessions: 1 };
    let recipe = std::sync::Arc::new(embedder_svc::recipe::Recipe::load(&dir.dir, dir.manifest.dimensions, &dir.manifest.matryoshka_dims)?);
    let mut backend = OrtBackend::load(&runtime, &dir, recipe, opts)?;
    let mut tok = Tokenizer::from_file(dir.tokenizer()).map_err(|e| anyhow::anyhow!("{e}"))?;
    tok.with_truncation(Some(TruncationParams { max_length: 512, ..Default::default() })).map_err(|e| anyhow::anyhow!("{e}"))?;
    tok.with_padding(None);

    // Ways to spend 2 cores on one model: sessions × intra-op threads, and the most padding a
    // batch may hold. BENCH_LAYOUTS lists them as SxT:P (default: the service's defaults, then
    // the other session layout); the first is the one the targets are read on.
    let pad = DEFAULT_MAX_BATCH_PADDING_PCT;
    let (d, other) = if DEFAULT_SESSIONS == 1 { (format!("1x2:{pad}"), format!("2x1:{pad}")) } else { (format!("{DEFAULT_SESSIONS}x1:{pad}"), format!("1x2:{pad}")) };
    let spec = std::env::var("BENCH_LAYOUTS").unwrap_or(format!("{d},{other}"));
    let mut layouts: Vec<(String, Vec<String>)> = Vec::new();
    for l in spec.split(',') {
        let parse = || -> Option<(String, String, String)> {
            let (st, p) = l.trim().split_once(':')?;
            let (s, t) = st.split_once('x')?;
            Some((s.to_owned(), t.to_owned(), p.to_owned()))
        };
        let (s, t, p) = parse().ok_or_else(|| anyhow::anyhow!("BENCH_LAYOUTS: {l:?} is not SxT:P"))?;
        let label = format!("{s} sess x {t} thr, pad<={p}%");
        layouts.push((label, vec!["--sessions".into(), s, "--intra-threads".into(), t, "--max-batch-padding-pct".into(), p]));
    }
    let default = 0;
    let mut services = Vec::new();
    for (_, args) in &layouts {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let svc = start_embedder(&args)?;
        let client = EmbedderClient::connect(svc.url()).await?;
        services.push((svc, client));
    }

    const CONCURRENCY: [usize; 3] = [1, 8, 32];
    let mut names: Vec<String> = Vec::new();
    for (l, _) in &layouts {
        names.extend(CONCURRENCY.iter().map(|c| format!("{l}, c={c}")));
    }
    let in_proc = names.len();
    names.extend(["in-process ORT".into(), "naive batch-32".into(), "in-proc sorted".into()]);
    let mut results: Vec<Vec<Run>> = (0..names.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let texts: Vec<String> = spread(&docs, n, round * 7).into_iter().map(|d| d.text).collect();
        // Alternate the order of contenders each round so drift does not favour one.
        let mut order: Vec<usize> = (0..names.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &c in &order {
            let run = if c < in_proc {
                let (svc, client) = &services[c / CONCURRENCY.len()];
                grpc(svc, client, &texts, CONCURRENCY[c % CONCURRENCY.len()]).await?
            } else {
                let policy = [Policy::OneByOne, Policy::Naive32, Policy::SortedBudget][c - in_proc];
                in_process(&mut backend, &tok, &texts, policy)?
            };
            println!("round {round} {:<32} {:>8.1} texts/s {:>9.0} tokens/s{}", names[c], texts.len() as f64 / run.secs, run.tokens as f64 / run.secs, run.batching);
            results[c].push(run);
        }
    }

    println!("\n== embedder ({TEST_MODEL}, 2-core CPU) — medians over {rounds} rounds ==");
    for (c, name) in names.iter().enumerate() {
        let tps = median(results[c].iter().map(|r| n as f64 / r.secs).collect());
        let tok = median(results[c].iter().map(|r| r.tokens as f64 / r.secs).collect());
        println!("{name:<32} {tps:>8.1} texts/s {tok:>9.0} tokens/s");
    }
    let ratio = |a: usize, b: usize| median(results[a].iter().zip(&results[b]).map(|(x, y)| y.secs / x.secs).collect());
    let at = |layout: usize, c: usize| layout * CONCURRENCY.len() + CONCURRENCY.iter().position(|x| *x == c).unwrap_or(0);
    let d = default;
    println!("targets read on the first layout: {}", layouts[d].0);
    println!("service c=8  / c=1                                : {:.3}x  (target ≥ 1.0)", ratio(at(d, 8), at(d, 1)));
    println!("service c=32 / c=1                                : {:.3}x  (target ≥ 1.0)", ratio(at(d, 32), at(d, 1)));
    println!("service c=32 / in-process ORT (one text per run)  : {:.3}x  (target ≥ 0.95)", ratio(at(d, 32), in_proc));
    println!("service c=32 / naive batch-32                     : {:.3}x  (target ≥ 3.5)", ratio(at(d, 32), in_proc + 1));
    println!("service c=32 / in-process sorted (sees all texts) : {:.3}x  (upper bound: global sort)", ratio(at(d, 32), in_proc + 2));
    for l in 1..layouts.len() {
        for c in CONCURRENCY {
            println!("c={c:<2}: {} / {} = {:.3}x", layouts[l].0, layouts[0].0, ratio(at(l, c), at(0, c)));
        }
    }
    let lat: Vec<Duration> = results[at(d, 1)].iter().flat_map(|r| r.latencies.clone()).collect();
    println!("single-text latency over gRPC (c=1): p50 {}  p99 {}", fmt_us(percentile(&lat, 0.5)), fmt_us(percentile(&lat, 0.99)));
    Ok(())
}

/// `concurrency` clients, each sending one text per request, until all texts are done.
async fn grpc(svc: &Service, client: &EmbedderClient<tonic::transport::Channel>, texts: &[String], concurrency: usize) -> anyhow::Result<Run> {
    let before = Batching::scrape(svc).await?;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let texts = std::sync::Arc::new(texts.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (mut c, next, texts) = (client.clone(), next.clone(), texts.clone());
        tasks.push(tokio::spawn(async move {
            let (mut tokens, mut lat) = (0u64, Vec::new());
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(t) = texts.get(i) else { break };
                let t0 = Instant::now();
                let r = c.embed(EmbedRequest { model: TEST_MODEL.into(), texts: vec![t.clone()], pooling: 0, ..Default::default() }).await?;
                lat.push(t0.elapsed());
                tokens += r.into_inner().token_count;
            }
            Ok::<_, tonic::Status>((tokens, lat))
        }));
    }
    let (mut tokens, mut latencies) = (0, Vec::new());
    for t in tasks {
        let (k, l) = t.await??;
        tokens += k;
        latencies.extend(l);
    }
    let secs = start.elapsed().as_secs_f64();
    let batching = Batching::scrape(svc).await?.since(&before);
    Ok(Run { secs, tokens, latencies, batching })
}

/// How the service batched a run, from its own counters: texts per batch, the share of computed
/// tokens that were padding, and how long a text waited for its batch to start.
#[derive(Default)]
struct Batching {
    batches: f64,
    texts: f64,
    tokens: f64,
    padded: f64,
    wait_s: f64,
}

impl Batching {
    async fn scrape(svc: &Service) -> anyhow::Result<Self> {
        let text = reqwest::get(format!("{}/metrics", svc.admin_url())).await?.text().await?;
        let m = format!("{{model=\"{TEST_MODEL}\"}}");
        let get = |name: &str| sample(&text, &format!("{name}{m}")).unwrap_or(0.0);
        Ok(Self {
            batches: get("strato_embedder_batch_size_count"),
            texts: get("strato_embedder_batch_size_sum"),
            tokens: get("strato_embedder_tokens_total"),
            padded: get("strato_embedder_padded_tokens_total"),
            wait_s: get("strato_embedder_queue_wait_seconds_sum"),
        })
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            batches: self.batches - before.batches,
            texts: self.texts - before.texts,
            tokens: self.tokens - before.tokens,
            padded: self.padded - before.padded,
            wait_s: self.wait_s - before.wait_s,
        }
    }
}

impl std::fmt::Display for Batching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.batches == 0.0 {
            return Ok(());
        }
        let padding = 1.0 - self.tokens / self.padded.max(1.0);
        let wait = Duration::from_secs_f64(self.wait_s / self.texts.max(1.0));
        write!(f, "  | {:.1} texts/batch, {:.0}% padding, wait {}", self.texts / self.batches, padding * 100.0, fmt_us(wait))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Policy {
    /// One text per session run: plain in-process ORT, no padding at all.
    OneByOne,
    /// Arrival order, fixed batches of 32 padded to the longest: the naive pipeline.
    Naive32,
    /// All texts sorted by length, cut by the service's padded-token budget: the service's policy
    /// with a view of every text at once, which no server receiving requests live can have.
    SortedBudget,
}

/// Tokenize + run in this process under `policy`.
fn in_process(backend: &mut OrtBackend, tok: &Tokenizer, texts: &[String], policy: Policy) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| tok.encode(t.as_str(), true).map(|e| e.get_ids().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = ids.iter().map(|t| t.len() as u64).sum();
    let mut batches: Vec<Vec<&[u32]>> = Vec::new();
    if policy == Policy::OneByOne {
        batches = ids.iter().map(|t| vec![t.as_slice()]).collect();
    } else if policy == Policy::SortedBudget {
        ids.sort_by_key(|t| t.len());
        let mut cur: Vec<&[u32]> = Vec::new();
        for t in &ids {
            if !cur.is_empty() && (cur.len() + 1 > BATCH || (cur.len() + 1) * t.len() > BUDGET) {
                batches.push(std::mem::take(&mut cur));
            }
            cur.push(t);
        }
        batches.push(cur);
    } else {
        batches = ids.chunks(32).map(|c| c.iter().map(|t| t.as_slice()).collect()).collect();
    }
    for b in batches {
        let poolings = vec![Pooling::Mean; b.len()];
        backend.embed(&b, &poolings)?;
    }
    Ok(Run { secs: start.elapsed().as_secs_f64(), tokens, latencies: Vec::new(), batching: Batching::default() })
}
