//! Query planning and execution over one index (read lock held by the caller).
//!
//! Like Qdrant's planner: a filter (or namespace) whose estimated matches, read off the metadata
//! postings, are few is answered by scoring exactly the vectors that pass it; otherwise each sealed
//! segment is searched through its graph and the hits are post-filtered. instant-distance cannot
//! filter during traversal, so when post-filtering leaves a segment short of topK, that segment is
//! scanned exactly: results are always the true pre-filtered topK up to graph recall.
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::config::EngineConfig;
use crate::filter::{Cond, Filter};
use crate::segment::{self, Sealed};
use crate::state::{IndexState, PointInfo};

#[derive(Debug, Clone)]
pub struct Hit {
    pub seq: u64,
    pub id: Arc<str>,
    /// Lower is nearer.
    pub distance: f32,
}

/// Which way the planner went, recorded on the query's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Graph,
    ExactFiltered,
}

pub struct Planned {
    pub hits: Vec<Hit>,
    pub path: Path,
    pub warnings: Vec<String>,
}

struct Predicate<'a> {
    namespace: Option<&'a str>,
    clauses: Vec<(&'a str, &'a Cond)>,
}

impl Predicate<'_> {
    fn passes(&self, p: &PointInfo) -> bool {
        if let Some(ns) = self.namespace
            && p.namespace.as_deref() != Some(ns)
        {
            return false;
        }
        self.clauses.iter().all(|(key, cond)| cond.matches(p.values_of(key)))
    }

    fn is_trivial(&self) -> bool {
        self.namespace.is_none() && self.clauses.is_empty()
    }
}

pub fn search(
    st: &IndexState,
    query: &[f32],
    k: usize,
    filter: Option<&Filter>,
    namespace: Option<&str>,
    cfg: &EngineConfig,
) -> Planned {
    let metric = st.meta.metric;
    let q = segment::query_form(metric, query);
    let mut warnings = Vec::new();
    let clauses: Vec<(&str, &Cond)> = filter.map(|f| f.clauses.iter().map(|c| (c.key.as_str(), &c.cond)).collect()).unwrap_or_default();
    for (key, _) in &clauses {
        if !st.postings.contains_key(*key) {
            warnings.push(format!(
                "filter property {key:?} has no metadata index: every vector counts as missing it (create a metadata index, then re-upsert the vectors)"
            ));
        }
    }
    let pred = Predicate { namespace, clauses };
    let estimate = if pred.is_trivial() { None } else { Some(estimate(st, &pred)) };
    let exact = estimate.is_some_and(|e| e <= cfg.filter_exact_threshold);

    let mut top = TopK::new(k);
    let consider = |seq: u64, point: &[f32], top: &mut TopK| {
        if let Some(p) = st.points.get(&seq)
            && pred.passes(p)
        {
            top.push(segment::distance(metric, &q, point), seq, &p.id);
        }
    };

    for chunk in std::iter::once(&st.active).chain(st.frozen.iter().map(|c| &**c)) {
        chunk.for_each(&mut |seq, row| consider(seq, row, &mut top));
    }
    for seg in &st.sealed {
        if exact {
            seg.for_each(&mut |seq, p| consider(seq, p, &mut top));
        } else {
            search_segment(seg, &q, k, &mut |seq, p, top| consider(seq, p, top), &mut top);
        }
    }
    Planned { hits: top.into_sorted(), path: if exact { Path::ExactFiltered } else { Path::Graph }, warnings }
}

/// Graph search of one segment; falls back to an exact scan when the graph's hits that pass the
/// predicate (and are live) number fewer than k, or when k exceeds every ef tier.
fn search_segment(
    seg: &Sealed,
    q: &[f32],
    k: usize,
    consider: &mut dyn FnMut(u64, &[f32], &mut TopK),
    top: &mut TopK,
) {
    let Some(graph) = seg.tier_for(k) else {
        seg.for_each(&mut |seq, p| consider(seq, p, top));
        return;
    };
    let mut local = TopK::new(k);
    let mut seen = 0usize;
    seg.search(graph, q, &mut |seq, p| {
        seen += 1;
        consider(seq, p, &mut local);
    });
    if local.len() < k && seen < seg.len() {
        seg.for_each(&mut |seq, p| consider(seq, p, top));
    } else {
        top.extend(local);
    }
}

/// Upper bound of the vectors that can pass: the smallest count among clauses that need the
/// property present (read off the postings) and the namespace; the live count otherwise.
fn estimate(st: &IndexState, pred: &Predicate) -> usize {
    let mut best = st.live_count();
    if let Some(ns) = pred.namespace {
        best = best.min(st.namespaces.get(ns).map_or(0, |s| s.len()));
    }
    for (key, cond) in &pred.clauses {
        if cond.matches_missing() {
            continue;
        }
        let Some(map) = st.postings.get(*key) else {
            return 0; // unindexed property: nothing has it, so nothing passes
        };
        let n: usize = match cond {
            Cond::Eq(crate::filter::Operand::Val(v)) => map.get(v).map_or(0, |s| s.len()),
            Cond::In(list) => list
                .iter()
                .map(|o| match o {
                    crate::filter::Operand::Val(v) => map.get(v).map_or(0, |s| s.len()),
                    crate::filter::Operand::Null => 0,
                })
                .sum(),
            _ => map.iter().filter(|(v, _)| cond.matches(std::iter::once(*v))).map(|(_, s)| s.len()).sum(),
        };
        best = best.min(n);
    }
    best
}

/// The k nearest seen so far; ties broken by id ascending (a total order, so results are stable).
/// A seq lives in exactly one container and each container is visited once, so no dedup is needed.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

struct Entry {
    distance: f32,
    id: Arc<str>,
    seq: u64,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.distance.total_cmp(&o.distance).then_with(|| self.id.cmp(&o.id))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn push(&mut self, distance: f32, seq: u64, id: &Arc<str>) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() == self.k {
            let worst = self.heap.peek().map(|w| (w.distance, w.id.clone()));
            if let Some((wd, wid)) = worst
                && distance.total_cmp(&wd).then_with(|| (**id).cmp(&*wid)) != Ordering::Less
            {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Entry { distance, id: id.clone(), seq });
    }

    pub fn extend(&mut self, other: TopK) {
        for e in other.heap {
            self.push(e.distance, e.seq, &e.id);
        }
    }

    pub fn into_sorted(self) -> Vec<Hit> {
        self.heap.into_sorted_vec().into_iter().map(|e| Hit { seq: e.seq, id: e.id, distance: e.distance }).collect()
    }
}
