//! The two kinds of segment. A `Chunk` is a flat arena (fixed stride) searched exactly: the
//! active one takes every write, full ones are frozen until sealed. A `Sealed` segment is an
//! immutable HNSW graph (one copy per ef tier). Neither deletes anything: a point whose sequence
//! number is no longer live is a tombstone, skipped by the caller's liveness check.
use crate::error::IndexError;
use crate::hnsw::{self, Graph};
use crate::kernel;
use crate::types::Metric;

/// How the index keeps a vector for searching: unit length for cosine, as given otherwise.
pub fn stored_form(metric: Metric, values: &[f32]) -> Vec<f32> {
    match metric {
        Metric::Cosine => kernel::normalized(values),
        Metric::Euclidean | Metric::DotProduct => values.to_vec(),
    }
}

/// The query in stored form (the graph pads the dot-product extra coordinate with 0).
pub fn query_form(metric: Metric, q: &[f32]) -> Vec<f32> {
    stored_form(metric, q)
}

/// Exact distance (lower is nearer) between a stored-form query and a stored point whose first
/// `q.len()` floats are the stored vector.
#[inline]
pub fn distance(metric: Metric, q: &[f32], point: &[f32]) -> f32 {
    let x = &point[..q.len()];
    match metric {
        Metric::Cosine => -kernel::dot(q, x),
        Metric::Euclidean => kernel::l2sq(q, x).sqrt(),
        Metric::DotProduct => -kernel::dot(q, x),
    }
}

/// Vectorize's score from a distance: cosine similarity, L2 distance, or negative dot product.
pub fn score(metric: Metric, distance: f32) -> f32 {
    match metric {
        Metric::Cosine => -distance,
        Metric::Euclidean | Metric::DotProduct => distance,
    }
}

pub struct Chunk {
    pub uid: u64,
    pub dims: usize,
    pub data: Vec<f32>,
    pub seqs: Vec<u64>,
}

impl Chunk {
    pub fn new(uid: u64, dims: usize) -> Self {
        Self { uid, dims, data: Vec::new(), seqs: Vec::new() }
    }

    pub fn push(&mut self, seq: u64, stored: &[f32]) {
        self.data.extend_from_slice(stored);
        self.seqs.push(seq);
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub fn for_each(&self, f: &mut dyn FnMut(u64, &[f32])) {
        for (seq, row) in self.seqs.iter().zip(self.data.chunks_exact(self.dims)) {
            f(*seq, row);
        }
    }
}

pub struct Sealed {
    pub uid: u64,
    pub metric: Metric,
    pub phi: f32,
    /// (ef_search, graph) ascending by ef; every tier is the same graph.
    pub tiers: Vec<(usize, Graph)>,
}

impl Sealed {
    /// Builds from stored-form rows (blocking; instant-distance parallelises with rayon).
    pub fn build(
        uid: u64,
        metric: Metric,
        rows: Vec<Vec<f32>>,
        seqs: Vec<u64>,
        ef_tiers: &[usize],
        ef_construction: usize,
    ) -> Result<Self, IndexError> {
        let (rows, phi) = graph_form(metric, rows);
        let first = ef_tiers.first().copied().unwrap_or(64);
        let graph = hnsw::build(&rows, seqs, first, ef_construction)?;
        Self::with_tiers(uid, metric, phi, graph, ef_tiers)
    }

    /// Derives the other tiers from the first by rewriting ef (no rebuild).
    pub fn with_tiers(uid: u64, metric: Metric, phi: f32, graph: Graph, ef_tiers: &[usize]) -> Result<Self, IndexError> {
        let mut tiers = Vec::with_capacity(ef_tiers.len().max(1));
        for ef in ef_tiers.iter().skip(1) {
            tiers.push((*ef, hnsw::with_ef(&graph, *ef)?));
        }
        tiers.insert(0, (ef_tiers.first().copied().unwrap_or(64), graph));
        Ok(Self { uid, metric, phi, tiers })
    }

    pub fn len(&self) -> usize {
        self.tiers[0].1.len()
    }

    pub fn graph(&self) -> &Graph {
        &self.tiers[0].1
    }

    /// The smallest tier whose ef covers `want` candidates, or None when even the largest
    /// does not (the caller then scans exactly).
    pub fn tier_for(&self, want: usize) -> Option<&Graph> {
        self.tiers.iter().find(|(ef, _)| *ef >= want).map(|(_, g)| g)
    }

    pub fn for_each(&self, f: &mut dyn FnMut(u64, &[f32])) {
        self.graph().for_each(f)
    }

    /// The stored-form vectors of the points, for merging and vacuuming (the dot-product extra
    /// coordinate dropped).
    pub fn rows(&self, dims: usize) -> (Vec<Vec<f32>>, Vec<u64>) {
        let mut rows = Vec::with_capacity(self.len());
        let mut seqs = Vec::with_capacity(self.len());
        self.for_each(&mut |seq, p| {
            rows.push(p[..dims].to_vec());
            seqs.push(seq);
        });
        (rows, seqs)
    }
}

/// Points as the graph sees them; for dot-product, the MIPS→L2 extra coordinate.
fn graph_form(metric: Metric, mut rows: Vec<Vec<f32>>) -> (Vec<Vec<f32>>, f32) {
    if metric != Metric::DotProduct {
        return (rows, 0.0);
    }
    let phi = rows.iter().map(|r| kernel::norm(r)).fold(0f32, f32::max);
    for r in &mut rows {
        let n2 = kernel::dot(r, r);
        r.push((phi * phi - n2).max(0.0).sqrt());
    }
    (rows, phi)
}
