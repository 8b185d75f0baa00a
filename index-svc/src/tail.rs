//! Recent writes (the active and frozen chunks, [`Chunk`]) and their exact scan, through an
//! 8-bit copy.
//!
//! Each row keeps, beside its f32 values, codes c = round(x / δ) with its own δ = max|xᵢ| / 127;
//! a query is coded the same way. The integer dot product of the codes gives each row's dot
//! product up to a bound, hence a lower bound on its distance, for a quarter of the memory
//! traffic of the f32 row. Rows are then scored exactly in order of that bound until it exceeds
//! the k-th best exact distance found: the answer is the one scoring every row exactly gives
//! (a skipped row cannot enter the top k), and a scan right after ingest costs about a third.
//!
//! The bound: x = δx·cx + ex and q = δq·cq + eq with |exᵢ| ≤ δx/2, |eqᵢ| ≤ δq/2, so
//! |q·x − δqδx (cq·cx)| ≤ δqδx/2 · (‖cq‖₁ + ‖cx‖₁ + d/2). Cosine and dot-product distances are
//! −q·x; euclidean is √(‖q‖² + ‖x‖² − 2 q·x). cq·cx comes from the graph's squared-L2 kernel:
//! (‖cq‖² + ‖cx‖² − ‖cq − cx‖²) / 2, exact in i32.
use crate::kernel;
use crate::topk::TopK;
use crate::types::Metric;

/// Below this many rows the prefilter costs more than it saves.
const MIN_ROWS: usize = 512;

/// A row's code scale and the sums its bound needs.
#[derive(Clone, Copy)]
struct RowCode {
    delta: f32,
    l1: f32,
    sq: i32,
    norm2: f32,
}

impl RowCode {
    fn of(x: &[f32], codes: &mut Vec<i8>) -> Self {
        let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let delta = if max.is_finite() && max > 0.0 { max / 127.0 } else { 0.0 };
        let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
        let (mut l1, mut sq) = (0i32, 0i32);
        for v in x {
            let c = (v * inv).round().clamp(-127.0, 127.0) as i8;
            codes.push(c);
            l1 += i32::from(c).abs();
            sq += i32::from(c) * i32::from(c);
        }
        Self { delta, l1: l1 as f32, sq, norm2: kernel::dot(x, x) }
    }
}

/// Recent writes, unsealed: rows in stored form, in arrival order, with their 8-bit codes.
pub struct Chunk {
    pub uid: u64,
    pub dims: usize,
    pub data: Vec<f32>,
    pub seqs: Vec<u64>,
    /// An 8-bit copy of the rows, for the scan's prefilter.
    pub codes: Codes,
}

impl Chunk {
    pub fn new(uid: u64, dims: usize) -> Self {
        Self { uid, dims, data: Vec::new(), seqs: Vec::new(), codes: Codes::default() }
    }

    pub fn push(&mut self, seq: u64, stored: &[f32]) {
        self.data.extend_from_slice(stored);
        self.seqs.push(seq);
        self.codes.push(stored);
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.dims..(r + 1) * self.dims]
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

/// The 8-bit copy of a chunk's rows.
#[derive(Default)]
pub struct Codes {
    codes: Vec<i8>,
    rows: Vec<RowCode>,
}

impl Codes {
    pub fn push(&mut self, stored: &[f32]) {
        let rc = RowCode::of(stored, &mut self.codes);
        self.rows.push(rc);
    }
}

/// Scores the chunks' rows into `top` through `consider(seq, row, top)`, skipping only rows
/// that provably cannot enter it (see the module doc).
pub fn scan(metric: Metric, chunks: &[&Chunk], q: &[f32], top: &mut TopK, consider: &mut dyn FnMut(u64, &[f32], &mut TopK)) {
    let n: usize = chunks.iter().map(|c| c.len()).sum();
    if n < MIN_ROWS || top.k() == 0 {
        for c in chunks {
            c.for_each(&mut |seq, row| consider(seq, row, top));
        }
        return;
    }
    let mut qcodes = Vec::with_capacity(q.len());
    let qc = RowCode::of(q, &mut qcodes);
    let dims = q.len();
    // (lower bound, chunk, row)
    let mut order: Vec<(f32, u32, u32)> = Vec::with_capacity(n);
    for (ci, c) in (0u32..).zip(chunks) {
        for (r, (rc, codes)) in (0u32..).zip(c.codes.rows.iter().zip(c.codes.codes.chunks_exact(dims.max(1)))) {
            order.push((lower_bound(metric, dims, &qc, &qcodes, rc, codes), ci, r));
        }
    }
    let by_bound = |a: &(f32, u32, u32), b: &(f32, u32, u32)| a.0.total_cmp(&b.0);
    // The most promising rows in order, then (rarely reached) the rest in any order.
    let m = (4 * top.k() + 64).min(order.len());
    if m < order.len() {
        order.select_nth_unstable_by(m, by_bound);
    }
    order[..m].sort_unstable_by(by_bound);
    for (i, &(bound, ci, r)) in order.iter().enumerate() {
        if !top.accepts(bound) {
            if i < m {
                return; // every later row's bound is at least this one's
            }
            continue;
        }
        let c = chunks[ci as usize];
        consider(c.seqs[r as usize], c.row(r as usize), top);
    }
}

/// A lower bound on `segment::distance(metric, q, x)` (−∞ when not finite: scored exactly).
fn lower_bound(metric: Metric, dims: usize, q: &RowCode, qcodes: &[i8], x: &RowCode, xcodes: &[i8]) -> f32 {
    let dot_codes = (q.sq + x.sq - kernel::l2sq_i8(qcodes, xcodes)) / 2;
    let scale = q.delta * x.delta;
    let err = scale * 0.5 * (q.l1 + x.l1 + dims as f32 * 0.5);
    // f32 rounding, here and in the exact kernels, is far below this.
    let slack = 1e-4 * (1.0 + q.norm2 + x.norm2);
    let max_dot = scale * dot_codes as f32 + err + slack;
    let bound = match metric {
        Metric::Cosine | Metric::DotProduct => -max_dot,
        Metric::Euclidean => (q.norm2 + x.norm2 - 2.0 * max_dot).max(0.0).sqrt(),
    };
    if bound.is_finite() { bound } else { f32::NEG_INFINITY }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::segment::{distance, query_form, stored_form};

    fn rnd(x: &mut u64) -> f32 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x % 20_000) as f32 / 10_000.0 - 1.0
    }

    /// The prefiltered scan returns exactly what scoring every row does, for each metric and
    /// k, with rows of very different scales (one with a huge coordinate) and a third of the
    /// rows rejected by `consider` (as tombstones and filters are).
    #[test]
    fn prefiltered_scan_equals_exact_scan() {
        let (dims, mut x) = (24usize, 0x2545_f491_4f6c_dd1du64);
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            let mut chunks = [Chunk::new(1, dims), Chunk::new(2, dims)];
            let mut seq = 0u64;
            for c in &mut chunks {
                for _ in 0..700 {
                    let scale = 1.0 + (seq % 5) as f32 * 3.0;
                    let mut v: Vec<f32> = (0..dims).map(|_| rnd(&mut x) * scale).collect();
                    if seq == 333 {
                        v[3] = 1.0e6;
                    }
                    c.push(seq, &stored_form(metric, &v));
                    seq += 1;
                }
            }
            let ids: Vec<Arc<str>> = (0..seq).map(|s| Arc::from(s.to_string())).collect();
            let refs: Vec<&Chunk> = chunks.iter().collect();
            for qi in 0..20 {
                let q = query_form(metric, &(0..dims).map(|_| rnd(&mut x) * (1 + qi % 3) as f32).collect::<Vec<_>>());
                for k in [1usize, 10, 50] {
                    let mut consider = |s: u64, row: &[f32], top: &mut TopK| {
                        let d = distance(metric, &q, row);
                        if !s.is_multiple_of(3) && top.accepts(d) {
                            top.push(d, s, &ids[s as usize]);
                        }
                    };
                    let mut fast = TopK::new(k);
                    scan(metric, &refs, &q, &mut fast, &mut consider);
                    let mut exact = TopK::new(k);
                    for c in &refs {
                        c.for_each(&mut |s, row| consider(s, row, &mut exact));
                    }
                    let seqs = |t: TopK| t.into_sorted().iter().map(|h| h.seq).collect::<Vec<_>>();
                    assert_eq!(seqs(fast), seqs(exact), "{metric:?} k={k} query {qi}");
                }
            }
        }
    }
}
