//! The randomized concurrent fault test: mixed concurrent workloads on a few index names, SIGKILL
//! at a random moment, restart on the same data directory, check against the oracle; repeat.
//! See main.rs for the whole picture.
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::process::{Service, scratch_dir, start_index_on};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::calls::{Cancel, call, index_ref};
use crate::check::{self, Client};
use crate::oracle::{self, MAX_WRITERS, Oracle, Reply, dims_of};
use crate::rng::{self, Rng};
use crate::writer::writer;

/// Small, so that sealing, compaction and settling (any 5 ms without a write seals the tail and
/// merges) run all the time while we kill; topK > 32 is exact.
const ARGS: [&str; 10] = ["--seal-threshold", "16", "--max-segments", "3", "--ef-tiers", "32", "--ef-construction", "40", "--settle-ms", "5"];
const NAMES: usize = 3;
// Stream names for `Rng::derive`.
const PLAN: u64 = 1;
const LIFECYCLE: u64 = 2;
pub const WRITER: u64 = 3;
const CHECK: u64 = 4;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_faults_against_an_oracle() {
    let seed = rng::seed();
    let rounds = rng::rounds();
    eprintln!("index_faults seed = {seed} (replay: STRATO_FAULT_SEED={seed})");
    let started = Instant::now();
    let data = scratch_dir("faults-data");
    let names: Vec<String> = (0..NAMES).map(|i| format!("chaos-{i}")).collect();
    let oracle = Arc::new(Mutex::new(Oracle::new(seed, &names)));
    let mut svc = start(&data, seed);
    for round in 1..=rounds {
        let run_for = Rng::derive(seed, &[PLAN, round as u64]).millis(400..2500);
        let ctx = Ctx::new(seed, round, &svc, &names, &oracle).await;
        let tasks = ctx.spawn();
        tokio::time::sleep(run_for).await;
        svc.kill();
        ctx.stop.store(true, Ordering::SeqCst);
        ctx.join(tasks).await;
        eprintln!("round {round}: SIGKILL after {run_for:?}; {}", ctx.tally_line());
        ctx.assert_progress(&svc);
        svc = start(&data, seed);
        verify(&svc, &oracle, seed, round, "after SIGKILL and restart").await;
    }

    // A last round that stops cleanly: the live service (its in-memory view) is checked, then it
    // is killed while idle and must come back showing exactly that (the on-disk view).
    let round = rounds + 1;
    let run_for = Rng::derive(seed, &[PLAN, round as u64]).millis(600..1200);
    let ctx = Ctx::new(seed, round, &svc, &names, &oracle).await;
    let tasks = ctx.spawn();
    tokio::time::sleep(run_for).await;
    ctx.stop.store(true, Ordering::SeqCst);
    ctx.join(tasks).await;
    eprintln!("round {round}: stopped cleanly after {run_for:?}; {}", ctx.tally_line());
    ctx.assert_progress(&svc);
    // Cancelled calls' server-side leftovers (blocking tasks) finish meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    verify(&svc, &oracle, seed, round, "live, after the workload stopped (no restart)").await;
    svc.kill();
    svc = start(&data, seed);
    verify(&svc, &oracle, seed, round, "after SIGKILL of the idle service: must equal the live view").await;
    eprintln!("index_faults seed = {seed}: {rounds} crash rounds and a clean one in {:.1?}", started.elapsed());
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

fn start(data: &Path, seed: u64) -> Service {
    let svc = start_index_on(data, &ARGS).unwrap_or_else(|e| panic!("index_faults seed {seed}: index-svc did not start on {}: {e:#}", data.display()));
    eprintln!("index-svc pid {} on {}, log {}", svc.pid(), svc.url(), svc.log.display());
    svc
}

async fn verify(svc: &Service, oracle: &Mutex<Oracle>, seed: u64, round: usize, phase: &str) {
    let salt: Vec<u64> = phase.bytes().map(u64::from).collect();
    let mut rng = Rng::derive(seed, &[CHECK, round as u64, rng::hash(&salt)]);
    let (v, seen) = check::check(&svc.url(), oracle, phase, &mut rng).await;
    eprintln!("  check {phase}: {seen}");
    let shown: Vec<&str> = v.iter().take(40).map(String::as_str).collect();
    assert!(
        v.is_empty(),
        "index_faults seed {seed} (replay: STRATO_FAULT_SEED={seed}), round {round}, {phase}: {} violation(s):\n{}\nindex-svc log: {}",
        v.len(),
        shown.join("\n"),
        svc.log.display()
    );
}

/// One round's workload.
pub struct Ctx {
    pub seed: u64,
    pub round: usize,
    url: String,
    pub names: Vec<String>,
    oracle: Arc<Mutex<Oracle>>,
    stop: AtomicBool,
    shared: Client,
    /// Calls acked, rejected, uncertain.
    tally: [AtomicU64; 3],
}

impl Ctx {
    async fn new(seed: u64, round: usize, svc: &Service, names: &[String], oracle: &Arc<Mutex<Oracle>>) -> Arc<Self> {
        oracle.lock().expect("oracle lock").round = round;
        let shared = VectorIndexClient::connect(svc.url()).await.unwrap_or_else(|e| panic!("seed {seed} round {round}: connect: {e}"));
        Arc::new(Self {
            seed,
            round,
            url: svc.url(),
            names: names.to_vec(),
            oracle: oracle.clone(),
            stop: AtomicBool::new(false),
            shared,
            tally: Default::default(),
        })
    }

    fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.names.len()).map(|slot| tokio::spawn(lifecycle(self.clone(), slot))).collect()
    }

    async fn join(&self, tasks: Vec<tokio::task::JoinHandle<()>>) {
        let (seed, round) = (self.seed, self.round);
        let joined = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
            .await
            .unwrap_or_else(|_| panic!("index_faults seed {seed} round {round}: the workload did not stop within 60 s"));
        for j in joined {
            j.unwrap_or_else(|e| panic!("index_faults seed {seed} round {round}: a workload task failed: {e}"));
        }
    }

    pub fn oracle(&self) -> MutexGuard<'_, Oracle> {
        self.oracle.lock().expect("oracle lock")
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn count<T>(&self, r: &Reply<T>) {
        let i = match r.outcome() {
            oracle::Outcome::Acked => 0,
            oracle::Outcome::Rejected => 1,
            oracle::Outcome::Uncertain => 2,
        };
        self.tally[i].fetch_add(1, Ordering::Relaxed);
    }

    fn tally_line(&self) -> String {
        let [a, r, u] = &self.tally;
        let get = |x: &AtomicU64| x.load(Ordering::Relaxed);
        format!("calls: {} acknowledged, {} rejected, {} uncertain", get(a), get(r), get(u))
    }

    /// A round in which nothing was acknowledged tests nothing: the service hung or refused all.
    fn assert_progress(&self, svc: &Service) {
        assert!(
            self.tally[0].load(Ordering::Relaxed) > 0,
            "index_faults seed {} (replay: STRATO_FAULT_SEED={}), round {}: index-svc acknowledged no call at all ({}); log: {}",
            self.seed,
            self.seed,
            self.round,
            self.tally_line(),
            svc.log.display()
        );
    }

    /// A clone of the round's shared client, or (half the time) a client on its own connection.
    pub async fn client(&self, rng: &mut Rng) -> Option<Client> {
        if rng.chance(0.5) {
            return Some(self.shared.clone());
        }
        let channel = Channel::from_shared(self.url.clone()).ok()?.connect().await.ok()?;
        Some(VectorIndexClient::new(channel))
    }

    /// Sleeps `d`, or less if the round stops.
    async fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(Duration::from_millis(10))).await;
        }
    }
}

/// One index name's lives: create an epoch, let its writers run, delete it while they write,
/// wait for them, pause, create the next epoch; until the round stops.
async fn lifecycle(ctx: Arc<Ctx>, slot: usize) {
    let name = ctx.names[slot].clone();
    let mut rng = Rng::derive(ctx.seed, &[LIFECYCLE, ctx.round as u64, slot as u64]);
    let Some(mut c) = ctx.client(&mut rng).await else { return };
    // After a check the oracle holds exactly what is there.
    let mut present = ctx.oracle().name(&name).live.certain().copied().flatten();
    while !ctx.stopped() {
        let e = match present {
            Some(e) => e,
            None => {
                let e = ctx.oracle().new_epoch(&name, rng.range(2..MAX_WRITERS + 1));
                let req = pb::CreateIndexRequest {
                    account: String::new(),
                    name: name.clone(),
                    dimensions: dims_of(e) as u32,
                    metric: pb::Metric::Cosine as i32,
                    description: format!("epoch {e}"),
                };
                let r = call(Cancel::None, c.create_index(Request::new(req))).await;
                ctx.count(&r);
                ctx.oracle().record_create(&name, e, r.outcome());
                match r {
                    Reply::Acked(_) => e,
                    Reply::Rejected(s) if s.code() == Code::AlreadyExists => {
                        // Something is still there: remove it and start over.
                        if !settle_delete(&ctx, &mut c, &name).await {
                            return;
                        }
                        continue;
                    }
                    Reply::Rejected(s) => {
                        ctx.oracle().violation(format!("index {name}: CreateIndex of epoch {e} refused: {s:?}"));
                        return;
                    }
                    Reply::Uncertain(_) => return,
                }
            }
        };
        present = Some(e);
        let epoch_stop = Arc::new(AtomicBool::new(false));
        let writers = ctx.oracle().epoch(&name, e).writers;
        let tasks: Vec<_> = (0..writers).map(|w| tokio::spawn(writer(ctx.clone(), slot, e, w, epoch_stop.clone()))).collect();
        ctx.pause(rng.millis(150..700)).await;
        if !ctx.stopped() {
            // DeleteIndex, racing the writers.
            let cancel = Cancel::pick(&mut rng);
            let r = call(cancel, c.delete_index(cancel.request(index_ref(&name)))).await;
            ctx.count(&r);
            ctx.oracle().record_delete_index(&name, r.outcome());
            epoch_stop.store(true, Ordering::SeqCst);
            match &r {
                Reply::Acked(_) => present = None,
                Reply::Rejected(s) => {
                    let mut o = ctx.oracle();
                    if s.code() != Code::NotFound || !o.name(&name).live.allows(&None) {
                        o.violation(format!("index {name}: DeleteIndex of epoch {e} refused: {s:?}"));
                    }
                    present = None;
                }
                Reply::Uncertain(_) => {}
            }
        }
        epoch_stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap_or_else(|err| panic!("index_faults seed {} round {}: a writer of {name} failed: {err}", ctx.seed, ctx.round));
        }
        if present.is_some() {
            // Stopped, or the delete's outcome is unknown: find out with one that runs to the end.
            if ctx.stopped() || !settle_delete(&ctx, &mut c, &name).await {
                return;
            }
            present = None;
        }
        ctx.pause(rng.millis(0..300)).await;
    }
}

/// DeleteIndex without a deadline. True once the name is surely free (deleted, or not found).
async fn settle_delete(ctx: &Ctx, c: &mut Client, name: &str) -> bool {
    let r = call(Cancel::None, c.delete_index(Request::new(index_ref(name)))).await;
    ctx.count(&r);
    ctx.oracle().record_delete_index(name, r.outcome());
    match r {
        Reply::Acked(_) => true,
        Reply::Rejected(s) if s.code() == Code::NotFound => true,
        Reply::Rejected(s) => {
            ctx.oracle().violation(format!("index {name}: DeleteIndex refused: {s:?}"));
            false
        }
        Reply::Uncertain(_) => false,
    }
}
