//! Start-up: rebuilds every index from the store. Records are the truth; persisted graphs are
//! reused for the records they still hold at the same sequence number (anything else in them is
//! a tombstone), records no graph holds go back into chunks to be sealed again, and files no
//! manifest names (an optimisation cut short by a crash) are removed.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tracing::{info, warn};

use crate::config::EngineConfig;
use crate::engine::IndexHandle;
use crate::error::IndexError;
use crate::optimizer::Job;
use crate::segment::Sealed;
use crate::state::IndexState;
use crate::store::{LoadedIndex, Store, catalog_key};

pub fn load(store: &Arc<Store>, cfg: &EngineConfig) -> Result<(HashMap<String, Arc<IndexHandle>>, Vec<Job>), IndexError> {
    let started = std::time::Instant::now();
    let mut map = HashMap::new();
    let mut jobs = Vec::new();
    let mut referenced = HashSet::new();
    let mut vectors = 0usize;
    for loaded in store.load_all()? {
        let uid = loaded.meta.uid;
        let key = catalog_key(&loaded.meta.account, &loaded.meta.name);
        vectors += loaded.records.len();
        let (state, seal, kept) = rebuild(store, loaded, cfg)?;
        referenced.extend(kept.into_iter().map(|s| store.segment_path(uid, s)));
        let handle = Arc::new(IndexHandle { state: std::sync::RwLock::new(state), writer: Default::default(), deleted: AtomicBool::new(false) });
        jobs.extend(seal.into_iter().map(|c| Job::Seal(handle.clone(), c)));
        map.insert(key, handle);
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

/// Returns the state, chunks to seal, and the uids of the persisted segments kept.
fn rebuild(store: &Store, loaded: LoadedIndex, cfg: &EngineConfig) -> Result<(IndexState, Vec<Arc<crate::segment::Chunk>>, Vec<u64>), IndexError> {
    let LoadedIndex { meta, mut records, segments } = loaded;
    let uid = meta.uid;
    let mut sealed = Vec::new();
    for m in &segments {
        let path = store.segment_path(uid, m.uid);
        let seg = std::fs::read(&path).map_err(IndexError::from).and_then(|b| Sealed::from_bytes(m.uid, m.metric, &b, &cfg.ef_tiers));
        match seg {
            Ok(s) => sealed.push(s),
            Err(e) => warn!(index = %meta.name, segment = m.uid, "segment unreadable, its vectors will be re-indexed: {e}"),
        }
    }
    let first_container = sealed.iter().map(|s| s.uid).max().unwrap_or(0) + 1;
    let mut state = IndexState::new(meta, first_container);
    let mut seg_of: HashMap<u64, u64> = HashMap::new();
    for s in &sealed {
        s.for_each(&mut |seq, _| {
            seg_of.insert(seq, s.uid);
        });
    }
    records.sort_by_key(|r| r.seq);
    let mut seal = Vec::new();
    // Consumed one by one, so each record's values are freed as soon as they are applied.
    for r in records {
        let md = r.metadata_json()?;
        let in_segment = seg_of.get(&r.seq).copied();
        state.apply_put(&r, md.as_ref(), in_segment);
        if in_segment.is_none()
            && let Some(c) = state.maybe_freeze(cfg.seal_threshold)
        {
            seal.push(c);
        }
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
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
