//! Background work, off the request path: sealing full chunks into HNSW segments, merging
//! segments when there are too many, vacuuming ones full of tombstones. One worker thread runs
//! jobs in order (instant-distance's build already uses every core through rayon). Each result is
//! persisted (graph file, then manifest in one transaction) before it is swapped in.
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use tracing::{info, info_span, warn};

use crate::config::EngineConfig;
use crate::engine::IndexHandle;
use crate::error::IndexError;
use crate::segment::{Chunk, Sealed};
use crate::store::{SegmentManifest, Store, write_atomic};

pub enum Job {
    Seal(Arc<IndexHandle>, Arc<Chunk>),
    Compact(Arc<IndexHandle>),
}

pub struct Optimizer {
    tx: Mutex<mpsc::Sender<Job>>,
    pending: Arc<(Mutex<usize>, Condvar)>,
}

impl Optimizer {
    pub fn start(store: Arc<Store>, cfg: EngineConfig) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let p = pending.clone();
        let spawned = std::thread::Builder::new().name("optimizer".into()).spawn(move || {
            for job in rx {
                run(&store, &cfg, job);
                crate::memory::release_free_memory();
                let (lock, cv) = &*p;
                let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
                *n = n.saturating_sub(1);
                cv.notify_all();
            }
        });
        if let Err(e) = spawned {
            warn!("cannot start optimizer thread: {e}");
        }
        Self { tx: Mutex::new(tx), pending }
    }

    pub fn submit(&self, job: Job) {
        *self.pending.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if tx.send(job).is_err() {
            *self.pending.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        }
    }

    pub fn wait_idle(&self) {
        let (lock, cv) = &*self.pending;
        let mut n = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn run(store: &Store, cfg: &EngineConfig, job: Job) {
    let h = match &job {
        Job::Seal(h, _) | Job::Compact(h) => h.clone(),
    };
    let result = match job {
        Job::Seal(h, chunk) => seal(store, cfg, &h, &chunk),
        Job::Compact(_) => Ok(()),
    };
    if let Err(e) = result {
        warn!("optimizer: {e}");
        return;
    }
    // After any change, keep compacting while there is a plan.
    while !h.deleted.load(Ordering::Acquire) {
        let plan = h.read().compaction_plan(cfg.max_segments);
        let Some(segs) = plan else { break };
        if let Err(e) = compact(store, cfg, &h, &segs) {
            warn!("optimizer: compaction failed: {e}");
            break;
        }
    }
}

fn seal(store: &Store, cfg: &EngineConfig, h: &Arc<IndexHandle>, chunk: &Arc<Chunk>) -> Result<(), IndexError> {
    let (rows, seqs, metric, dims, index_uid, seg_uid) = {
        let mut st = h.write();
        let (rows, seqs) = st.live_rows_of_chunk(chunk);
        let uid = st.alloc_container();
        (rows, seqs, st.meta.metric, st.meta.dimensions, st.meta.uid, uid)
    };
    let _span = info_span!("seal", index = index_uid, segment = seg_uid, vectors = rows.len()).entered();
    if rows.is_empty() {
        h.write().frozen.retain(|c| c.uid != chunk.uid);
        return Ok(());
    }
    let started = std::time::Instant::now();
    let seg = Sealed::build(seg_uid, metric, dims, rows, seqs, &cfg.ef_tiers, cfg.ef_construction)?;
    let ms = started.elapsed().as_millis() as u64;
    install(store, h, index_uid, seg, &[chunk.uid], &[])?;
    info!(ms, "sealed");
    Ok(())
}

fn compact(store: &Store, cfg: &EngineConfig, h: &Arc<IndexHandle>, segs: &[Arc<Sealed>]) -> Result<(), IndexError> {
    let (rows, seqs, metric, dims, index_uid, seg_uid) = {
        let mut st = h.write();
        let mut rows = Vec::new();
        let mut seqs = Vec::new();
        for s in segs {
            s.collect_rows(&|seq| st.points.contains_key(&seq), &mut rows, &mut seqs);
        }
        let uid = st.alloc_container();
        (rows, seqs, st.meta.metric, st.meta.dimensions, st.meta.uid, uid)
    };
    let old: Vec<u64> = segs.iter().map(|s| s.uid).collect();
    let _span = info_span!("compact", index = index_uid, from = ?old, vectors = rows.len()).entered();
    if rows.is_empty() {
        store.swap_segments(index_uid, &[], &old)?;
        let mut st = h.write();
        st.sealed.retain(|s| !old.contains(&s.uid));
        drop(st);
        remove_files(store, index_uid, &old);
        return Ok(());
    }
    let seg = Sealed::build(seg_uid, metric, dims, rows, seqs, &cfg.ef_tiers, cfg.ef_construction)?;
    install(store, h, index_uid, seg, &old, &old)?;
    remove_files(store, index_uid, &old);
    info!("compacted");
    Ok(())
}

/// Graph file first, then the manifest swap (one transaction), then memory.
fn install(store: &Store, h: &Arc<IndexHandle>, index_uid: u64, seg: Sealed, replaces: &[u64], removed_manifests: &[u64]) -> Result<(), IndexError> {
    if h.deleted.load(Ordering::Acquire) {
        return Ok(());
    }
    let path = store.segment_path(index_uid, seg.uid);
    write_atomic(&path, &seg.to_bytes()?)?;
    let manifest = SegmentManifest { uid: seg.uid, width: seg.graph().width(), metric: seg.metric, phi: seg.phi, count: seg.len() };
    store.swap_segments(index_uid, &[manifest], removed_manifests)?;
    h.write().install_sealed(Arc::new(seg), replaces);
    Ok(())
}

fn remove_files(store: &Store, index_uid: u64, uids: &[u64]) {
    for u in uids {
        let _ = std::fs::remove_file(store.segment_path(index_uid, *u));
    }
}
