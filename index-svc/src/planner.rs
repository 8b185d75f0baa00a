//! Query planning and execution over one index (read lock held by the caller).
//!
//! Like Qdrant's planner: a filter (or namespace) whose posting list — the namespace's, or a
//! metadata index's — is short is answered by scoring exactly the vectors on it, where they live
//! (an impossible filter scores nothing); otherwise each sealed segment is searched through its
//! graph and the hits are post-filtered. instant-distance cannot
//! filter during traversal, so when post-filtering leaves a segment short of topK, that segment is
//! scanned exactly: results are always the true pre-filtered topK up to graph recall.
use tracing::field::Empty;

use crate::config::EngineConfig;
use crate::filter::{Cond, Filter};
use crate::segment::{self, Sealed};
use crate::tail::Chunk;
use crate::state::{IndexState, PointInfo};
pub use crate::topk::{Hit, TopK};


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

/// What the planner decided before any vector is touched.
pub struct Plan<'a> {
    pred: Predicate<'a>,
    /// Exactly-scored candidates read off a posting list (namespace or metadata index), when
    /// the filter is selective; None: search the graphs and post-filter.
    candidates: Option<Vec<u64>>,
    k: usize,
    pub warnings: Vec<String>,
    /// Rows this query scores exactly, as far as known up front (the engine moves big scans off
    /// the async workers).
    pub scan_rows: usize,
    /// Sealed segments this small are scanned exactly (`EngineConfig::exact_segment_rows`).
    exact_segment_rows: usize,
}

pub fn plan<'a>(st: &IndexState, k: usize, filter: Option<&'a Filter>, namespace: Option<&'a str>, cfg: &EngineConfig) -> Plan<'a> {
    // The choice is a span of its own, so a trace shows why a query took the time it did.
    let span = strato_proto::trace_span!("plan", path = Empty, scan_rows = Empty, segments = st.sealed.len(), filtered = filter.is_some() || namespace.is_some()).entered();
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
    let candidates = if pred.is_trivial() { None } else { candidates(st, &pred).filter(|c| c.len() <= cfg.filter_exact_threshold) };
    let tail = st.active.len() + st.frozen.iter().map(|c| c.len()).sum::<usize>();
    let scan_rows = match &candidates {
        Some(c) => c.len(),
        None => tail + st.sealed.iter().filter(|s| s.ef_for(k).is_none() || s.len() <= cfg.exact_segment_rows).map(|s| s.len()).sum::<usize>(),
    };
    let path = if candidates.is_some() { Path::ExactFiltered } else { Path::Graph };
    span.record("path", tracing::field::debug(path)).record("scan_rows", scan_rows);
    Plan { pred, candidates, k, warnings, scan_rows, exact_segment_rows: cfg.exact_segment_rows }
}

pub fn execute(st: &IndexState, query: &[f32], plan: Plan) -> Planned {
    let metric = st.meta.metric;
    let q = segment::query_form(metric, query);
    let Plan { pred, candidates, k, warnings, exact_segment_rows, .. } = plan;
    let mut top = TopK::new(k);
    // Distance first: a row that cannot enter the top k costs no lookup of its point (liveness,
    // filter). On a scan that is nearly every row, and the lookup (a hash probe, then a cache
    // miss on the point) cost more than the distance.
    let consider = |seq: u64, point: &[f32], top: &mut TopK| {
        let d = segment::distance(metric, &q, point);
        if top.accepts(d)
            && let Some(p) = st.points.get(&seq)
            && pred.passes(p)
        {
            top.push(d, seq, &p.id);
        }
    };
    if let Some(candidates) = candidates {
        let _span = strato_proto::trace_span!("exact_scan", rows = candidates.len(), source = "posting_list").entered();
        // Score the posting list's candidates where they live; nothing else is touched.
        let mut rows: std::collections::HashMap<u64, &[f32]> = std::collections::HashMap::new();
        for c in std::iter::once(&st.active).chain(st.frozen.iter().map(|c| &**c)) {
            rows.insert(c.uid, &c.data);
        }
        for s in &st.sealed {
            rows.insert(s.uid, &s.rows[..]);
        }
        let dims = st.meta.dimensions;
        for seq in candidates {
            let Some(p) = st.points.get(&seq) else { continue };
            let at = p.row as usize * dims;
            if let Some(row) = rows.get(&p.container).and_then(|r| r.get(at..at + dims)) {
                consider(seq, row, &mut top);
            }
        }
        return Planned { hits: top.into_sorted(), path: Path::ExactFiltered, warnings };
    }
    {
        let rows = st.active.len() + st.frozen.iter().map(|c| c.len()).sum::<usize>();
        let _span = strato_proto::trace_span!("exact_scan", rows, source = "recent_writes").entered();
        let chunks: Vec<&Chunk> = std::iter::once(&st.active).chain(st.frozen.iter().map(|c| &**c)).collect();
        crate::tail::scan(metric, &chunks, &q, &mut top, &mut |seq, row, top| consider(seq, row, top));
    }
    // Unfiltered, the graph's 8-bit order picks which candidates are worth an exact score;
    // filtered, every candidate is, as any may be the one that passes.
    let trivial = pred.is_trivial();
    for seg in &st.sealed {
        if seg.len() <= exact_segment_rows {
            let _span = strato_proto::trace_span!("exact_scan", rows = seg.len(), source = "small_segment").entered();
            seg.for_each(&mut |seq, p| consider(seq, p, &mut top));
            continue;
        }
        let _span = strato_proto::trace_span!("hnsw_search", segment = seg.uid, rows = seg.len(), exact_fallback = Empty).entered();
        search_segment(seg, &q, k, trivial, &mut |seq, p, top| consider(seq, p, top), &mut top);
    }
    Planned { hits: top.into_sorted(), path: Path::Graph, warnings }
}

/// Graph search of one segment; falls back to an exact scan when the graph's hits that pass the
/// predicate (and are live) number fewer than k, or when k exceeds every ef tier.
fn search_segment(
    seg: &Sealed,
    q: &[f32],
    k: usize,
    unfiltered: bool,
    consider: &mut dyn FnMut(u64, &[f32], &mut TopK),
    top: &mut TopK,
) {
    let Some(ef) = seg.ef_for(k) else {
        tracing::Span::current().record("exact_fallback", "k_above_ef");
        seg.for_each(&mut |seq, p| consider(seq, p, top));
        return;
    };
    let rescore = if unfiltered { rescore_depth(k, ef) } else { usize::MAX };
    let mut local = TopK::new(k);
    let mut seen = 0usize;
    seg.search(ef, q, rescore, &mut |seq, p| {
        seen += 1;
        consider(seq, p, &mut local);
    });
    if local.len() < k && seen < seg.len() {
        tracing::Span::current().record("exact_fallback", "too_few_passed");
        seg.for_each(&mut |seq, p| consider(seq, p, top));
    } else {
        top.extend(local);
    }
}

/// How many of a graph's ef candidates (nearest first by its 8-bit distance) an unfiltered
/// query scores exactly. Measured (`./strato bench index`, 45k MiniLM vectors, top-10): recall
/// with 2k + 16 equals recall with every candidate at each ef from 10 to 200, to four digits —
/// the 8-bit order never pushes a true top-10 row below 36th — so a deeper rescoring only reads
/// more rows. What recall the graph misses, it misses in navigation, not here.
pub fn rescore_depth(k: usize, ef: usize) -> usize {
    (2 * k + 16).min(ef)
}

/// The smallest posting list every passing vector must be in: the namespace's, or a clause's
/// that needs its property present (the union of the matching values' lists). An unindexed
/// property has no postings, so a clause needing it gives the empty list: nothing can pass,
/// and nothing is scanned. None when no clause narrows the set.
fn candidates(st: &IndexState, pred: &Predicate) -> Option<Vec<u64>> {
    type Sets<'s> = Vec<&'s std::collections::BTreeSet<u64>>;
    fn size(sets: &Sets) -> usize {
        sets.iter().map(|s| s.len()).sum()
    }
    fn offer<'s>(best: &mut Option<Sets<'s>>, sets: Sets<'s>) {
        if best.as_ref().is_none_or(|b| size(&sets) < size(b)) {
            *best = Some(sets);
        }
    }
    let mut best: Option<Sets> = None;
    if let Some(ns) = pred.namespace {
        offer(&mut best, st.namespaces.get(ns).into_iter().collect());
    }
    for (key, cond) in &pred.clauses {
        if cond.matches_missing() {
            continue;
        }
        let Some(map) = st.postings.get(*key) else {
            offer(&mut best, Vec::new()); // unindexed property: nothing has it, so nothing passes
            continue;
        };
        let sets: Vec<_> = match cond {
            Cond::Eq(crate::filter::Operand::Val(v)) => map.get(v).into_iter().collect(),
            Cond::In(list) => list
                .iter()
                .filter_map(|o| match o {
                    crate::filter::Operand::Val(v) => map.get(v),
                    crate::filter::Operand::Null => None,
                })
                .collect(),
            _ => map.iter().filter(|(v, _)| cond.matches(std::iter::once(*v))).map(|(_, s)| s).collect(),
        };
        offer(&mut best, sets);
    }
    // A value listed twice in `$in`, or an array holding both, puts a seq in two lists.
    best.map(|sets| {
        let mut all: Vec<u64> = sets.into_iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::types::{IndexMeta, MetaType, Metric, Record};

    /// 1000 vectors, 10 of them in namespace "small", a string index on "tag" (5 have tag "rare").
    fn state() -> IndexState {
        let meta = IndexMeta::for_test(4, Metric::Euclidean);
        let mut st = IndexState::new(meta, 1);
        st.add_metadata_index("tag", MetaType::String);
        for i in 0..1000u64 {
            let md = json!({"tag": if i % 200 == 7 { "rare" } else { "common" }});
            let rec = Record { seq: i + 1, id: format!("v{i}"), namespace: (i % 100 == 3).then(|| "small".to_owned()), metadata: None, values: vec![i as f32, 0.0, 1.0, 2.0] };
            st.apply_put(&rec, Some(&md), None);
        }
        st
    }

    /// A distance that overflows f32 (3e38·2 + −3e38·2) is never NaN and never keeps the true
    /// nearest out: the top 3 of rows `[i, i, 0, 0]` and `[3e38, −3e38, 0, 0]` for `[2, 2, 0, 0]`
    /// are i = 10, 9, 8 (it used to answer 2, 1 and the overflowing row).
    #[test]
    fn overflowing_distances_keep_the_order() {
        let meta = IndexMeta::for_test(4, Metric::DotProduct);
        let mut st = IndexState::new(meta, 1);
        let mut rows: Vec<(String, Vec<f32>)> = (1..=10).map(|i| (format!("n{i}"), vec![i as f32, i as f32, 0.0, 0.0])).collect();
        rows.insert(3, ("huge".to_owned(), vec![3e38, -3e38, 0.0, 0.0]));
        for (seq, (id, values)) in rows.into_iter().enumerate() {
            st.apply_put(&Record { seq: seq as u64 + 1, id, namespace: None, metadata: None, values }, None, None);
        }
        let p = plan(&st, 3, None, None, &EngineConfig::default());
        let out = execute(&st, &[2.0, 2.0, 0.0, 0.0], p);
        let hits: Vec<String> = out.hits.iter().map(|h| h.id.to_string()).collect();
        assert_eq!(hits, ["n10", "n9", "n8"]);
        assert!(out.hits.iter().all(|h| h.distance.is_finite()));
        // The heap itself: a NaN is the farthest, whatever comes after it.
        let mut top = TopK::new(2);
        for (d, id) in [(f32::NAN, "nan"), (1.0, "a"), (2.0, "b"), (0.5, "c")] {
            if top.accepts(d) {
                top.push(d, 0, &Arc::from(id));
            }
        }
        let ids: Vec<String> = top.into_sorted().iter().map(|h| h.id.to_string()).collect();
        assert_eq!(ids, ["c", "a"]);
    }

    /// A namespace or a selective filter scores only its posting list; a filter on an unindexed
    /// property (which matches nothing) scores nothing — and the answers are the exact ones.
    #[test]
    fn selective_queries_score_only_their_posting_list() {
        let st = state();
        let cfg = EngineConfig::default();
        let q = [500.0, 0.0, 1.0, 2.0];

        let p = plan(&st, 3, None, Some("small"), &cfg);
        assert_eq!(p.scan_rows, 10);
        let hits: Vec<String> = execute(&st, &q, p).hits.iter().map(|h| h.id.to_string()).collect();
        assert_eq!(hits, ["v503", "v403", "v603"]);

        let rare = Filter::parse(&json!({"tag": "rare"})).expect("filter");
        let p = plan(&st, 10, Some(&rare), None, &cfg);
        assert_eq!(p.scan_rows, 5);
        assert_eq!(execute(&st, &q, p).hits.len(), 5);

        let unindexed = Filter::parse(&json!({"color": "red"})).expect("filter");
        let p = plan(&st, 10, Some(&unindexed), None, &cfg);
        assert_eq!(p.scan_rows, 0);
        let out = execute(&st, &q, p);
        assert!(out.hits.is_empty() && !out.warnings.is_empty());

        // Both: the shorter list (5) is scored, and no vector is both rare and in "small".
        let p = plan(&st, 10, Some(&rare), Some("small"), &cfg);
        assert_eq!(p.scan_rows, 5);
        assert!(execute(&st, &q, p).hits.is_empty());
    }
}
