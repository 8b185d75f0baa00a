//! One index in memory: which sequence number is live for each id, the metadata and namespace
//! postings, and the segments that hold the vectors. Mutations reach it only once they are
//! durable (`handle.rs` queues them until their fsync); searches read it under a shared lock
//! (planner.rs).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use crate::filter::IVal;
use crate::segment::{self, Sealed};
use crate::tail::Chunk;
use crate::types::{IndexMeta, MetaType, MetadataIndexDef, Record};

/// What the engine knows of a live vector without reading storage.
pub struct PointInfo {
    pub id: Arc<str>,
    pub namespace: Option<Arc<str>>,
    /// Uid of the chunk or sealed segment holding its vector, and its row there (filtered
    /// queries score posting-list candidates without scanning the container).
    pub container: u64,
    pub row: u32,
    /// (property, value, came from an array) per metadata index that covered it when written;
    /// arrays give several.
    pub indexed: Vec<(Arc<str>, IVal, bool)>,
}

impl PointInfo {
    pub fn values_of<'a>(&'a self, property: &'a str) -> impl Iterator<Item = &'a IVal> + Clone + 'a {
        self.indexed.iter().filter(move |(p, _, _)| &**p == property).map(|(_, v, _)| v)
    }
}

pub struct IndexState {
    pub meta: IndexMeta,
    pub by_id: HashMap<Arc<str>, u64>,
    pub points: HashMap<u64, PointInfo>,
    pub active: Chunk,
    pub frozen: Vec<Arc<Chunk>>,
    pub sealed: Vec<Arc<Sealed>>,
    /// Tombstones per container uid.
    pub dead: HashMap<u64, usize>,
    /// property → value → live seqs.
    pub postings: HashMap<Arc<str>, BTreeMap<IVal, BTreeSet<u64>>>,
    pub namespaces: HashMap<Arc<str>, BTreeSet<u64>>,
    /// The last failure of background work on this index, while it is being retried.
    pub background_error: Option<String>,
    next_container: u64,
}

impl IndexState {
    pub fn new(meta: IndexMeta, first_container: u64) -> Self {
        let dims = meta.dimensions;
        let postings = meta.metadata_indexes.iter().map(|d| (Arc::from(d.property.as_str()), BTreeMap::new())).collect();
        Self {
            meta,
            by_id: HashMap::new(),
            points: HashMap::new(),
            active: Chunk::new(first_container, dims),
            frozen: Vec::new(),
            sealed: Vec::new(),
            dead: HashMap::new(),
            postings,
            namespaces: HashMap::new(),
            background_error: None,
            next_container: first_container + 1,
        }
    }

    pub fn alloc_container(&mut self) -> u64 {
        let uid = self.next_container;
        self.next_container += 1;
        uid
    }

    pub fn bump_container(&mut self, seen: u64) {
        self.next_container = self.next_container.max(seen + 1);
    }

    pub fn live_count(&self) -> usize {
        self.points.len()
    }

    /// Puts a durable record into memory; `in_segment` names the sealed segment and row already
    /// holding its vector (start-up), else it goes to the active chunk. Replaces any older version.
    pub fn apply_put(&mut self, rec: &Record, metadata: Option<&Value>, in_segment: Option<(u64, u32)>) {
        if let Some(old) = self.by_id.get(rec.id.as_str()).copied() {
            self.remove_seq(old);
        }
        let (container, row) = match in_segment {
            Some(at) => at,
            None => {
                let stored = segment::stored_form(self.meta.metric, &rec.values);
                let row = self.active.len() as u32;
                self.active.push(rec.seq, &stored);
                (self.active.uid, row)
            }
        };
        let id: Arc<str> = Arc::from(rec.id.as_str());
        let namespace: Option<Arc<str>> = rec.namespace.as_deref().map(Arc::from);
        let indexed = self.extract(rec.seq, metadata);
        for (p, v, _) in &indexed {
            if let Some(map) = self.postings.get_mut(p) {
                map.entry(v.clone()).or_default().insert(rec.seq);
            }
        }
        if let Some(ns) = &namespace {
            self.namespaces.entry(ns.clone()).or_default().insert(rec.seq);
        }
        self.by_id.insert(id.clone(), rec.seq);
        self.points.insert(rec.seq, PointInfo { id, namespace, container, row, indexed });
    }

    /// Removes an id; true when it existed.
    pub fn apply_delete(&mut self, id: &str) -> bool {
        match self.by_id.get(id).copied() {
            Some(seq) => {
                self.remove_seq(seq);
                true
            }
            None => false,
        }
    }

    fn remove_seq(&mut self, seq: u64) {
        let Some(info) = self.points.remove(&seq) else { return };
        for (p, v, _) in &info.indexed {
            if let Some(set) = self.postings.get_mut(p).and_then(|m| m.get_mut(v)) {
                set.remove(&seq);
                if set.is_empty() {
                    self.postings.get_mut(p).map(|m| m.remove(v));
                }
            }
        }
        if let Some(ns) = &info.namespace
            && let Some(set) = self.namespaces.get_mut(ns)
        {
            set.remove(&seq);
            if set.is_empty() {
                self.namespaces.remove(ns);
            }
        }
        if self.by_id.get(&info.id) == Some(&seq) {
            self.by_id.remove(&info.id);
        }
        *self.dead.entry(info.container).or_default() += 1;
    }

    /// Values of `metadata` for every metadata index that existed when `seq` was written.
    fn extract(&self, seq: u64, metadata: Option<&Value>) -> Vec<(Arc<str>, IVal, bool)> {
        let Some(m) = metadata else { return Vec::new() };
        let mut out = Vec::new();
        for def in self.meta.metadata_indexes.iter().filter(|d| seq >= d.created_seq) {
            let Some(v) = lookup(m, &def.property) else { continue };
            let prop: Arc<str> = self.postings.get_key_value(def.property.as_str()).map(|(k, _)| k.clone()).unwrap_or_else(|| Arc::from(def.property.as_str()));
            match (def.kind, v) {
                (MetaType::String, Value::String(s)) => out.push((prop, IVal::string(s), false)),
                (MetaType::String, Value::Array(items)) => {
                    for s in items.iter().filter_map(Value::as_str) {
                        out.push((prop.clone(), IVal::string(s), true));
                    }
                }
                (MetaType::Number, Value::Number(n)) => {
                    if let Some(f) = n.as_f64() {
                        out.push((prop, IVal::Num(f), false));
                    }
                }
                (MetaType::Boolean, Value::Bool(b)) => out.push((prop, IVal::Bool(*b), false)),
                _ => {} // wrong type for the index: not indexed
            }
        }
        out
    }

    /// Adds a metadata index; vectors written from now on are indexed for it. False if present.
    pub fn add_metadata_index(&mut self, property: &str, kind: MetaType) -> bool {
        if self.meta.metadata_indexes.iter().any(|d| d.property == property) {
            return false;
        }
        self.meta.metadata_indexes.push(MetadataIndexDef { property: property.to_owned(), kind, created_seq: self.meta.next_seq });
        self.postings.insert(Arc::from(property), BTreeMap::new());
        true
    }

    pub fn remove_metadata_index(&mut self, property: &str) -> bool {
        let before = self.meta.metadata_indexes.len();
        self.meta.metadata_indexes.retain(|d| d.property != property);
        if before == self.meta.metadata_indexes.len() {
            return false;
        }
        self.postings.remove(property);
        for info in self.points.values_mut() {
            info.indexed.retain(|(p, _, _)| &**p != property);
        }
        true
    }

    /// Freezes the active chunk once it holds `threshold` vectors; returns it for sealing.
    pub fn maybe_freeze(&mut self, threshold: usize) -> Option<Arc<Chunk>> {
        if self.active.len() < threshold.max(1) {
            return None;
        }
        let uid = self.alloc_container();
        let full = std::mem::replace(&mut self.active, Chunk::new(uid, self.meta.dimensions));
        let full = Arc::new(full);
        self.frozen.push(full.clone());
        Some(full)
    }

    /// Freezes the active chunk for sealing now (an index gone quiet: its tail need not wait
    /// to fill up).
    pub fn freeze_tail(&mut self) -> Option<Arc<Chunk>> {
        self.maybe_freeze(1)
    }

    /// Live stored-form rows of `chunk`, flat (what a sealed segment built now must hold).
    pub fn live_rows_of_chunk(&self, chunk: &Chunk) -> (Vec<f32>, Vec<u64>) {
        let mut rows = Vec::with_capacity(chunk.data.len());
        let mut seqs = Vec::with_capacity(chunk.len());
        chunk.for_each(&mut |seq, row| {
            if self.points.contains_key(&seq) {
                rows.extend_from_slice(row);
                seqs.push(seq);
            }
        });
        (rows, seqs)
    }

    /// Swaps `seg` in for the containers `replaces` (frozen chunks or sealed segments).
    pub fn install_sealed(&mut self, seg: Arc<Sealed>, replaces: &[u64]) {
        self.frozen.retain(|c| !replaces.contains(&c.uid));
        self.sealed.retain(|s| !replaces.contains(&s.uid));
        for uid in replaces {
            self.dead.remove(uid);
        }
        let mut dead = 0;
        for (row, seq) in (0u32..).zip(&seg.seqs) {
            match self.points.get_mut(seq) {
                Some(p) => {
                    p.container = seg.uid;
                    p.row = row;
                }
                None => dead += 1,
            }
        }
        self.dead.insert(seg.uid, dead);
        self.bump_container(seg.uid);
        self.sealed.push(seg);
    }

    /// Sealed segments worth rebuilding: the two smallest when there are too many, else one with
    /// ≥ 20 % tombstones (Qdrant's vacuum threshold).
    pub fn compaction_plan(&self, max_segments: usize) -> Option<Vec<Arc<Sealed>>> {
        if self.sealed.len() > max_segments.max(1) {
            let mut by_size: Vec<&Arc<Sealed>> = self.sealed.iter().collect();
            by_size.sort_by_key(|s| self.live_in(s));
            return Some(by_size.into_iter().take(2).cloned().collect());
        }
        self.sealed
            .iter()
            .find(|s| {
                let dead = self.dead.get(&s.uid).copied().unwrap_or(0);
                dead > 0 && dead * 5 >= s.len()
            })
            .map(|s| vec![s.clone()])
    }

    /// Segments to merge once the index is quiet: the smallest, in size order, while the group
    /// stays within `target` live vectors. Past `small` vectors (a rebuild of seconds) a segment
    /// joins only if it is at most 4× the smaller ones together: rebuilding a big graph for a
    /// few new vectors would cost much and gain little, so small ones gather first and sizes
    /// grow in tiers (a vector is rebuilt O(log n) times). At least two, else None.
    pub fn settle_plan(&self, target: usize, small: usize) -> Option<Vec<Arc<Sealed>>> {
        let mut by_size: Vec<(usize, &Arc<Sealed>)> = self.sealed.iter().map(|s| (self.live_in(s), s)).collect();
        by_size.sort_by_key(|e| e.0);
        let (mut total, mut take) = (0usize, 0usize);
        for (i, (n, _)) in by_size.iter().enumerate() {
            if total + n > target || (i > 0 && total + n > small && *n > 4 * total) {
                break;
            }
            total += n;
            take = i + 1;
        }
        (take >= 2).then(|| by_size[..take].iter().map(|e| e.1.clone()).collect())
    }

    fn live_in(&self, s: &Sealed) -> usize {
        s.len() - self.dead.get(&s.uid).copied().unwrap_or(0).min(s.len())
    }

    /// (live vectors in sealed segments, live vectors in chunks).
    pub fn indexed_and_pending(&self) -> (usize, usize) {
        let sealed: usize = self.sealed.iter().map(|s| self.live_in(s)).sum();
        (sealed.min(self.points.len()), self.points.len().saturating_sub(sealed))
    }
}

/// Follows a dotted path ("a.b") through nested objects.
pub fn lookup<'a>(m: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(m, |cur, key| cur.as_object()?.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Metric;

    /// An index state holding sealed segments of these sizes (every vector live).
    fn with_segments(sizes: &[usize]) -> IndexState {
        let meta = IndexMeta::for_test(2, Metric::Euclidean);
        let mut st = IndexState::new(meta, 1);
        let mut seq = 0u64;
        for &n in sizes {
            let rows: Vec<f32> = (0..n * 2).map(|i| i as f32).collect();
            let seqs: Vec<u64> = (seq..seq + n as u64).collect();
            seq += n as u64;
            for &q in &seqs {
                st.points.insert(q, PointInfo { id: Arc::from(q.to_string()), namespace: None, container: 0, row: 0, indexed: Vec::new() });
            }
            let uid = st.alloc_container();
            let seg = Sealed::build(uid, Metric::Euclidean, 2, rows, seqs, &[8], 8).expect("build");
            st.install_sealed(Arc::new(seg), &[]);
        }
        st
    }

    fn plan(st: &IndexState, target: usize, small: usize) -> Option<Vec<usize>> {
        st.settle_plan(target, small).map(|segs| segs.iter().map(|s| s.len()).collect())
    }

    /// Small segments merge whatever their ratio; past `small`, a big one waits until the small
    /// ones together are a quarter of it; nothing grows past `target`.
    #[test]
    fn settle_merges_small_segments_first() {
        let st = with_segments(&[100, 3, 1, 2]);
        assert_eq!(plan(&st, 1000, 200), Some(vec![1, 2, 3, 100]));
        assert_eq!(plan(&st, 1000, 10), Some(vec![1, 2, 3]));
        assert_eq!(plan(&st, 5, 200), Some(vec![1, 2]));
        assert_eq!(plan(&with_segments(&[40, 10]), 1000, 10), Some(vec![10, 40]));
        assert_eq!(plan(&with_segments(&[41, 10]), 1000, 10), None);
        assert_eq!(plan(&with_segments(&[7]), 1000, 10), None);
    }
}
