//! Background work, off the request path: sealing full chunks into HNSW segments, merging
//! segments when there are too many, vacuuming ones full of tombstones, and settling an index
//! that has gone quiet (its tail sealed, its small segments merged toward one graph). One worker
//! thread runs jobs in order (instant-distance's build already uses every core through rayon).
//!
//! Each job reads what it needs under the index's *read* lock (searches go on), builds with no
//! lock held, writes the graph file, then — under the index's writer lock, so it cannot race a
//! delete of the index — swaps the manifest durably and installs the segment in memory.
//! A job that fails (disk full, say) keeps its input searchable exactly as before, is reported in
//! the index's `describe` and the log, and is retried with backoff. A failed manifest commit is a
//! storage failure: fail-stop, like a failed fsync of a write.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, info_span, warn};

use crate::config::EngineConfig;
use crate::error::IndexError;
use crate::group_commit::GroupCommit;
use crate::handle::IndexHandle;
use crate::metrics::METRICS;
use crate::segment::Sealed;
use crate::tail::Chunk;
use crate::store::{SegmentManifest, Store};

pub enum Job {
    Seal(Arc<IndexHandle>, Arc<Chunk>),
    Compact(Arc<IndexHandle>),
    /// No write for `settle_ms`: seal the tail, merge small segments (`IndexState::settle_plan`).
    Settle(Arc<IndexHandle>),
}

impl Job {
    fn handle(&self) -> &Arc<IndexHandle> {
        match self {
            Job::Seal(h, _) | Job::Compact(h) | Job::Settle(h) => h,
        }
    }
}

enum Msg {
    Job(Job),
    /// A settle timer was armed: recompute how long to sleep.
    Wake,
}

/// Armed settle timers: handle address → (when due, handle). A write re-arms its index's timer.
type Settling = Arc<Mutex<HashMap<usize, (Instant, Arc<IndexHandle>)>>>;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(60);

pub struct Optimizer {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    settling: Settling,
    settle_after: Duration,
    pending: Arc<(Mutex<usize>, Condvar)>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Worker {
    store: Arc<Store>,
    group: Arc<GroupCommit>,
    cfg: EngineConfig,
    settling: Settling,
    /// Where graphs are built: threads at a lower CPU priority (nice 10), so a query or write
    /// arriving mid-build preempts the build instead of sharing a core with it.
    pool: Option<rayon::ThreadPool>,
}

/// Lowers the calling thread's CPU priority (Linux nice is per thread).
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: plain syscall on the calling thread; failure leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

impl Optimizer {
    pub fn start(store: Arc<Store>, group: Arc<GroupCommit>, cfg: EngineConfig) -> Self {
        let (tx, rx) = mpsc::channel::<Msg>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let settling = Settling::default();
        let settle_after = Duration::from_millis(cfg.settle_ms);
        let pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("graph-build-{i}")).start_handler(|_| lower_priority()).build();
        let pool = pool.inspect_err(|e| warn!("graph builds share the global pool: {e}")).ok();
        let worker = Worker { store, group, cfg, settling: settling.clone(), pool };
        let (p, stop) = (pending.clone(), stopping.clone());
        // The worker itself keeps its priority: it holds the index's writer lock to install a
        // segment, and writers must not wait on a thread the scheduler keeps starving.
        let spawned = std::thread::Builder::new().name("optimizer".into()).spawn(move || worker.run(rx, &p, &stop));
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                warn!("cannot start optimizer thread: {e}");
                None
            }
        };
        Self { tx: Mutex::new(Some(tx)), settling, settle_after, pending, stopping, thread: Mutex::new(thread) }
    }

    pub fn submit(&self, job: Job) {
        *self.pending.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        if !self.send(Msg::Job(job)) {
            done(&self.pending);
        }
    }

    /// `h` was written: it settles once `settle_ms` pass without another write.
    pub fn touch(&self, h: &Arc<IndexHandle>) {
        if self.settle_after.is_zero() {
            return;
        }
        let due = Instant::now() + self.settle_after;
        let rearmed = lock(&self.settling).insert(Arc::as_ptr(h) as usize, (due, h.clone())).is_some();
        if !rearmed {
            self.send(Msg::Wake);
        }
    }

    fn send(&self, msg: Msg) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
    }

    /// Waits until no job is queued, running or waiting to be retried (tests and benchmarks;
    /// a settle timer still counting down is not a job yet).
    pub fn wait_idle(&self) {
        let (lock, cv) = &*self.pending;
        let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The job in progress finishes if it can within `within`; queued and retrying ones are
    /// dropped (start-up finds and redoes them). False when the job in hand was left running.
    pub fn shutdown(&self, within: Duration) -> bool {
        let Some(t) = self.stop() else { return true };
        let (done, joined) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = t.join();
            let _ = done.send(());
        });
        joined.recv_timeout(within).is_ok()
    }

    /// After a storage failure: nothing new starts, and the job in progress is left to die with
    /// the process (its output could not be committed anyway), so fail-stop does not wait for a
    /// merge that may take minutes.
    pub fn abandon(&self) {
        drop(self.stop());
    }

    fn stop(&self) -> Option<std::thread::JoinHandle<()>> {
        self.stopping.store(true, Ordering::Release);
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.thread.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn done(pending: &(Mutex<usize>, Condvar)) {
    let (lock, cv) = pending;
    let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
    *n = n.saturating_sub(1);
    cv.notify_all();
}

impl Worker {
    fn run(&self, rx: mpsc::Receiver<Msg>, pending: &(Mutex<usize>, Condvar), stopping: &AtomicBool) {
        // (when due, attempts so far, job)
        let mut retries: Vec<(Instant, u32, Job)> = Vec::new();
        loop {
            let next_settle = lock(&self.settling).values().map(|e| e.0).min();
            let next = retries.iter().map(|r| r.0).chain(next_settle).min();
            let wait = next.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
            let mut due: Vec<(u32, Job)> = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(Msg::Job(job)) => due.push((0, job)),
                Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            let (ready, later): (Vec<_>, Vec<_>) = retries.drain(..).partition(|r| r.0 <= now);
            retries = later;
            due.extend(ready.into_iter().map(|(_, n, job)| (n, job)));
            lock(&self.settling).retain(|_, (when, h)| {
                if *when > now {
                    return true;
                }
                *lock(&pending.0) += 1;
                due.push((0, Job::Settle(h.clone())));
                false
            });
            for (attempts, job) in due {
                // After a storage failure no new work starts: the process is about to exit.
                if stopping.load(Ordering::Acquire) || self.group.check().is_err() {
                    done(pending);
                    continue;
                }
                match self.attempt(&job, attempts) {
                    Some(delay) => retries.push((Instant::now() + delay, attempts + 1, job)),
                    None => done(pending),
                }
                crate::memory::release_free_memory();
            }
        }
        for _ in retries {
            done(pending);
        }
    }

    /// Runs a job; Some(delay) when it failed and should be retried after `delay`.
    fn attempt(&self, job: &Job, attempts: u32) -> Option<Duration> {
        let h = job.handle();
        let result = match job {
            Job::Seal(h, chunk) => self.seal(h, chunk),
            Job::Compact(_) => Ok(()),
            Job::Settle(h) => self.settle(h),
        }
        .and_then(|()| self.compact_while_planned(h));
        match result {
            Ok(()) => {
                let had_error = h.read().background_error.is_some();
                if had_error {
                    let mut st = h.write();
                    st.background_error = None;
                    info!(index = %st.meta.name, "background work recovered");
                }
                None
            }
            Err(_) if h.is_deleted() || self.group.check().is_err() => None,
            Err(e) => {
                METRICS.background_failures.inc();
                let delay = FIRST_RETRY.saturating_mul(1 << attempts.min(16)).min(MAX_RETRY);
                let what = match job {
                    Job::Seal(..) => "sealing a full chunk",
                    Job::Compact(_) => "compacting segments",
                    Job::Settle(_) => "settling a quiet index",
                };
                let msg = format!("{what} failed (attempt {}), retrying in {:.1} s: {e}", attempts + 1, delay.as_secs_f32());
                let mut st = h.write();
                warn!(index = %st.meta.name, "{msg}");
                st.background_error = Some(msg);
                Some(delay)
            }
        }
    }

    fn seal(&self, h: &Arc<IndexHandle>, chunk: &Arc<Chunk>) -> Result<(), IndexError> {
        let (rows, seqs, metric, dims, index_uid) = {
            let st = h.read();
            if h.is_deleted() || !st.frozen.iter().any(|c| Arc::ptr_eq(c, chunk)) {
                return Ok(()); // gone, or sealed by an earlier attempt
            }
            let (rows, seqs) = st.live_rows_of_chunk(chunk);
            (rows, seqs, st.meta.metric, st.meta.dimensions, st.meta.uid)
        };
        if rows.is_empty() {
            let _w = h.writer.blocking_lock();
            h.write().frozen.retain(|c| c.uid != chunk.uid);
            return Ok(());
        }
        let seg_uid = h.write().alloc_container();
        let _span = info_span!("seal", index = index_uid, segment = seg_uid, vectors = seqs.len()).entered();
        let started = Instant::now();
        let seg = self.build(seg_uid, metric, dims, rows, seqs)?;
        let ms = started.elapsed().as_millis() as u64;
        self.install(h, index_uid, seg, &[chunk.uid], &[])?;
        METRICS.seal.observe(started.elapsed().as_secs_f64());
        info!(ms, "sealed");
        Ok(())
    }

    /// Seals the tail of a quiet index and merges its small segments (a retry re-seals every
    /// frozen chunk, its own included).
    fn settle(&self, h: &Arc<IndexHandle>) -> Result<(), IndexError> {
        if h.is_deleted() {
            return Ok(());
        }
        let _span = info_span!("settle", index = h.read().meta.uid).entered();
        h.write().freeze_tail();
        let frozen = h.read().frozen.clone();
        for chunk in &frozen {
            self.seal(h, chunk)?;
        }
        while !h.is_deleted() {
            let plan = h.read().settle_plan(self.cfg.merge_target, 8 * self.cfg.seal_threshold);
            let Some(segs) = plan else { break };
            self.compact(h, &segs)?;
        }
        Ok(())
    }

    fn build(&self, uid: u64, metric: crate::types::Metric, dims: usize, rows: Vec<f32>, seqs: Vec<u64>) -> Result<Sealed, IndexError> {
        // A settle or a merge chain runs several builds: none starts after a storage failure.
        self.group.check()?;
        self.store.faults().pause("build");
        let build = || Sealed::build(uid, metric, dims, rows, seqs, &self.cfg.ef_tiers, self.cfg.ef_construction);
        match &self.pool {
            Some(pool) => pool.install(build),
            None => build(),
        }
    }

    /// After any change, keep compacting while there is a plan.
    fn compact_while_planned(&self, h: &Arc<IndexHandle>) -> Result<(), IndexError> {
        while !h.is_deleted() {
            let plan = h.read().compaction_plan(self.cfg.max_segments);
            let Some(segs) = plan else { break };
            self.compact(h, &segs)?;
        }
        Ok(())
    }

    fn compact(&self, h: &Arc<IndexHandle>, segs: &[Arc<Sealed>]) -> Result<(), IndexError> {
        // Which rows are live, read under the read lock; the copy and the build need no lock
        // (segments are immutable). Rows that die meanwhile are tombstones of the new segment.
        let (live, metric, dims, index_uid) = {
            let st = h.read();
            let live: Vec<Vec<bool>> = segs.iter().map(|s| s.seqs.iter().map(|q| st.points.contains_key(q)).collect()).collect();
            (live, st.meta.metric, st.meta.dimensions, st.meta.uid)
        };
        let (mut rows, mut seqs) = (Vec::new(), Vec::new());
        for (s, live) in segs.iter().zip(&live) {
            for ((seq, row), keep) in s.seqs.iter().zip(s.rows.chunks_exact(dims.max(1))).zip(live) {
                if *keep {
                    rows.extend_from_slice(row);
                    seqs.push(*seq);
                }
            }
        }
        let old: Vec<u64> = segs.iter().map(|s| s.uid).collect();
        let seg_uid = h.write().alloc_container();
        let _span = info_span!("compact", index = index_uid, from = ?old, vectors = seqs.len()).entered();
        let started = Instant::now();
        if rows.is_empty() {
            let _w = h.writer.blocking_lock();
            if h.is_deleted() {
                return Ok(());
            }
            self.store.swap_segments(index_uid, &[], &old).map_err(|e| self.group.fail(&e))?;
            h.write().sealed.retain(|s| !old.contains(&s.uid));
            self.store.remove_segment_files(index_uid, Some(&old));
            return Ok(());
        }
        let seg = self.build(seg_uid, metric, dims, rows, seqs)?;
        self.install(h, index_uid, seg, &old, &old)?;
        self.store.remove_segment_files(index_uid, Some(&old));
        METRICS.compaction.observe(started.elapsed().as_secs_f64());
        info!("compacted");
        Ok(())
    }

    /// Graph file first, then — under the writer lock, unless the index is gone — the manifest
    /// swap (one durable transaction), then memory.
    fn install(&self, h: &Arc<IndexHandle>, index_uid: u64, seg: Sealed, replaces: &[u64], removed_manifests: &[u64]) -> Result<(), IndexError> {
        self.store.write_segment(index_uid, seg.uid, &seg.to_bytes()?)?;
        let (uid, path) = (seg.uid, self.store.segment_path(index_uid, seg.uid));
        let seg = seg.into_mapped(&path, self.cfg.rescore_reads == crate::config::RescoreReads::Pread).inspect_err(|_| self.store.remove_segment_files(index_uid, Some(&[uid])))?;
        let _w = h.writer.blocking_lock();
        if h.is_deleted() {
            self.store.remove_segment_files(index_uid, Some(&[seg.uid]));
            return Ok(());
        }
        let manifest = SegmentManifest { uid: seg.uid, width: seg.graph().width(), metric: seg.metric, phi: seg.phi, count: seg.len() };
        self.store.swap_segments(index_uid, &[manifest], removed_manifests).map_err(|e| self.group.fail(&e))?;
        h.write().install_sealed(Arc::new(seg), replaces);
        Ok(())
    }
}
