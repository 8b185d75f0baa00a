//! Start-up: rebuilds every index from the store. Records are the truth; persisted graphs are
//! reused for the records they still hold at the same sequence number (anything else in them is
//! a tombstone), records no graph holds go back into chunks to be sealed again. Manifests whose
//! graph file is unreadable are dropped (their vectors are re-indexed), files no manifest names
//! (an optimisation cut short by a crash) are removed, and so are rows of index uids no
//! catalogue row names. Records stream one at a time, so memory peaks at one copy of the data.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::{EngineConfig, RescoreReads};
use crate::error::IndexError;
use crate::handle::IndexHandle;
use crate::optimizer::Job;
use crate::segment::{self, Sealed};
use crate::tail::Chunk;
use crate::state::IndexState;
use crate::store::{SegmentManifest, Store, catalog_key};
use crate::types::IndexMeta;

pub fn load(store: &Arc<Store>, cfg: &EngineConfig) -> Result<(HashMap<String, Arc<IndexHandle>>, Vec<Job>), IndexError> {
    let started = std::time::Instant::now();
    let mut map = HashMap::new();
    let mut jobs = Vec::new();
    let mut referenced = HashSet::new();
    let mut known = HashSet::new();
    let mut vectors = 0usize;
    for (meta, segments) in store.catalogue()? {
        let uid = meta.uid;
        known.insert(uid);
        // A copy still arriving from another pod: kept in the store, not served (`moving.rs`).
        if meta.moving == crate::types::Moving::Incoming {
            continue;
        }
        let key = catalog_key(&meta.account, &meta.name);
        let (state, seal, kept) = rebuild(store, meta, segments, cfg)?;
        vectors += state.live_count();
        referenced.extend(kept.into_iter().map(|s| store.segment_path(uid, s)));
        let handle = IndexHandle::new(state);
        jobs.extend(seal.into_iter().map(|c| Job::Seal(handle.clone(), c)));
        map.insert(key, handle);
    }
    let orphans = store.remove_orphans(&known)?;
    if orphans > 0 {
        warn!(orphans, "removed rows of deleted indexes");
    }
    if let Ok(dir) = std::fs::read_dir(store.segments_dir()) {
        for entry in dir.flatten() {
            if !referenced.contains(&entry.path()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    crate::memory::release_free_memory();
    info!(indexes = map.len(), vectors, ms = started.elapsed().as_millis() as u64, "indexes loaded");
    Ok((map, jobs))
}

/// One index from its records alone: a moved index being activated (an import writes records,
/// never segments, so there is no manifest to look up).
pub fn load_one(store: &Store, meta: IndexMeta, cfg: &EngineConfig) -> Result<(Arc<IndexHandle>, Vec<Job>), IndexError> {
    let (state, seal, _) = rebuild(store, meta, Vec::new(), cfg)?;
    let handle = IndexHandle::new(state);
    let jobs = seal.into_iter().map(|c| Job::Seal(handle.clone(), c)).collect();
    Ok((handle, jobs))
}

/// Returns the state, chunks to seal, and the uids of the persisted segments kept.
fn rebuild(store: &Store, meta: IndexMeta, segments: Vec<SegmentManifest>, cfg: &EngineConfig) -> Result<(IndexState, Vec<Arc<Chunk>>, Vec<u64>), IndexError> {
    let uid = meta.uid;
    let mut sealed = Vec::new();
    let mut dropped = Vec::new();
    for m in &segments {
        let path = store.segment_path(uid, m.uid);
        let expect = segment::Expected { metric: m.metric, dims: meta.dimensions, count: m.count };
        let seg = Sealed::open(m.uid, &expect, &path, &cfg.ef_tiers, cfg.rescore_reads == RescoreReads::Pread);
        match seg {
            Ok(s) => sealed.push(s),
            Err(e) => {
                warn!(index = %meta.name, segment = m.uid, "segment unreadable, its vectors will be re-indexed: {e}");
                crate::metrics::METRICS.segments_refused.inc();
                dropped.push(m.uid);
            }
        }
    }
    let first_container = segments.iter().map(|s| s.uid).max().unwrap_or(0) + 1;
    // Each row a segment holds must be its seq's vector in the store (a file whose checksums
    // hold can still be wrong: written by a bug, or restored from elsewhere). A segment with one
    // wrong row is dropped and the state rebuilt without it: rare, so the common start is one pass.
    let (state, seal) = loop {
        let mut state = IndexState::new(meta.clone(), first_container);
        let mut seg_of: HashMap<u64, (u64, u32)> = HashMap::new();
        let mut twice = HashSet::new();
        for s in &sealed {
            for (row, seq) in (0u32..).zip(&s.seqs) {
                if let Some((other, _)) = seg_of.insert(*seq, (s.uid, row)) {
                    twice.extend([other, s.uid]);
                }
            }
        }
        let by_uid: HashMap<u64, &Sealed> = sealed.iter().map(|s| (s.uid, s)).collect();
        let mut wrong: HashSet<u64> = twice;
        let mut seal = Vec::new();
        let metric = meta.metric;
        store.for_each_record(uid, &mut |r| {
            let md = r.metadata_json()?;
            let in_segment = seg_of.get(&r.seq).copied();
            if let Some((s, row)) = in_segment
                && by_uid.get(&s).is_some_and(|seg| !same_row(seg.row(row), &segment::stored_form(metric, &r.values)))
            {
                wrong.insert(s);
            }
            state.apply_put(&r, md.as_ref(), in_segment);
            if in_segment.is_none() {
                seal.extend(state.maybe_freeze(cfg.seal_threshold));
            }
            Ok(())
        })?;
        if wrong.is_empty() {
            break (state, seal);
        }
        for s in &wrong {
            warn!(index = %meta.name, segment = s, "segment holds rows that are not its vectors' (or a seq twice), its vectors will be re-indexed");
            crate::metrics::METRICS.segments_refused.inc();
        }
        sealed.retain(|s| !wrong.contains(&s.uid));
        dropped.extend(wrong);
    };
    let mut state = state;
    for s in &sealed {
        s.release_rows();
    }
    let mut kept = Vec::new();
    for s in sealed {
        let mut live = 0;
        s.for_each(&mut |seq, _| {
            if state.points.get(&seq).is_some_and(|p| p.container == s.uid) {
                live += 1;
            }
        });
        if live == 0 {
            dropped.push(s.uid);
            continue;
        }
        state.dead.insert(s.uid, s.len() - live);
        kept.push(s.uid);
        state.sealed.push(Arc::new(s));
    }
    if !dropped.is_empty() {
        store.swap_segments(uid, &[], &dropped)?;
    }
    Ok((state, seal, kept))
}

/// A segment's row is the store's vector in stored form, up to float rounding (the stored form
/// may have been computed by an earlier build).
fn same_row(row: &[f32], want: &[f32]) -> bool {
    row.len() == want.len() && row.iter().zip(want).all(|(a, b)| a == b || (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(f32::MIN_POSITIVE))
}
