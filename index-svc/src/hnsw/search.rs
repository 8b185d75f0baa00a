//! The graph search (the HNSW paper's algorithm 2 on every layer, ef 1 above layer 0), visiting
//! what instant-distance's search visits, in the same order: candidates and results are ordered
//! by (distance, node), and a candidate further than the current ef-th result ends the layer.
//! (Exactly so below distance 2^24, where f32 holds every integer: instant-distance keys on the
//! distance as an f32, we on the exact integer, so past it — far points of wide Euclidean or
//! dot-product indexes — ours orders distinct distances it would call ties.)
//!
//! What differs is cost, not answers: a (distance, node) pair is one u64 (the i8 squared
//! distance fits 32 bits), the results are a bounded max-heap instead of a sorted Vec kept by
//! binary-search inserts, ef comes with each query, and a node's unvisited neighbours are
//! gathered and their points prefetched before any is scored, so their cache misses overlap.
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Graph, LINKS, LINKS0, NONE};
use crate::kernel;

/// Per-thread scratch, reused across queries and segments.
#[derive(Default)]
struct Scratch {
    /// `visited[p] == generation` marks node p as seen on the current layer. Only grows, so
    /// alternating between segments of different sizes never reallocates it.
    visited: Vec<u8>,
    generation: u8,
    candidates: BinaryHeap<Reverse<u64>>,
    /// The best ef keys so far, furthest on top.
    nearest: BinaryHeap<u64>,
    /// The unvisited neighbours of the node being expanded.
    fresh: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    /// A new visited set of at least `n` nodes.
    fn next_layer(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n, 0);
        }
        if self.generation == u8::MAX {
            self.visited.fill(0);
            self.generation = 0;
        }
        self.generation += 1;
    }
}

fn key(distance: i32, node: u32) -> u64 {
    (u64::from(distance as u32) << 32) | u64::from(node)
}

fn node(key: u64) -> u32 {
    key as u32
}

fn distance(key: u64) -> u64 {
    key >> 32
}

impl Graph {
    /// Appends to `out` the rows of the `ef` nearest points to `q` the graph finds (fewer when
    /// it holds fewer), nearest first by the 8-bit distance. `q` is in quantised graph form, at
    /// most `width` long (the rest counts as zeros).
    pub fn search(&self, q: &[i8], ef: usize, out: &mut Vec<u32>) {
        if self.is_empty() || ef == 0 {
            return;
        }
        SCRATCH.with_borrow_mut(|s| {
            let mut entry = key(self.distance(q, 0), 0);
            for layer in self.upper.iter().rev() {
                self.layer(s, q, entry, layer, LINKS, 1);
                entry = s.nearest.peek().copied().unwrap_or(entry);
            }
            self.layer(s, q, entry, &self.zero, LINKS0, ef);
            let mut found = std::mem::take(&mut s.nearest).into_sorted_vec();
            out.extend(found.iter().map(|k| self.rows[node(*k) as usize]));
            found.clear();
            s.nearest = BinaryHeap::from(found);
        });
    }

    fn distance(&self, q: &[i8], p: u32) -> i32 {
        kernel::l2sq_i8(q, self.point(p))
    }

    /// One layer from `entry`: leaves the best `ef` in `s.nearest`. `links` holds `per` slots a
    /// node, the valid ones first.
    fn layer(&self, s: &mut Scratch, q: &[i8], entry: u64, links: &[u32], per: usize, ef: usize) {
        s.next_layer(self.len());
        let Scratch { visited, generation, candidates, nearest, fresh } = s;
        let mark = *generation;
        candidates.clear();
        nearest.clear();
        visited[node(entry) as usize] = mark;
        candidates.push(Reverse(entry));
        nearest.push(entry);
        while let Some(Reverse(c)) = candidates.pop() {
            let furthest = *nearest.peek().expect("holds the entry at least");
            if distance(c) > distance(furthest) {
                break;
            }
            let at = node(c) as usize * per;
            fresh.clear();
            for &p in &links[at..at + per] {
                if p == NONE {
                    break;
                }
                let seen = &mut visited[p as usize];
                if *seen != mark {
                    *seen = mark;
                    prefetch(self.point(p));
                    fresh.push(p);
                }
            }
            for &p in fresh.iter() {
                let k = key(self.distance(q, p), p);
                let full = nearest.len() >= ef;
                if !full || k < *nearest.peek().expect("full") {
                    if full {
                        nearest.pop();
                    }
                    nearest.push(k);
                    candidates.push(Reverse(k));
                }
            }
        }
    }
}

/// Asks for a point's first cache lines ahead of its distance: up to 8 (512 bytes, all of a
/// 384-d point), so 64 neighbours' worth (32 KiB) fits L1; the hardware prefetcher streams the
/// rest of a wider point once its first lines are read.
#[inline(always)]
#[allow(unsafe_code, unused_unsafe)]
fn prefetch(point: &[i8]) {
    #[cfg(target_arch = "x86_64")]
    for line in point.chunks(64).take(8) {
        // SAFETY: a prefetch is a hint; it never faults, and the address is inside `point`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = point;
}

#[cfg(test)]
mod tests {
    use super::super::{build_bucket, quantize, tests::points, Graph};
    use instant_distance::{Builder, HnswMap, Search};

    /// Ours and instant-distance's search of the same graph give the same rows in the same
    /// order, at every ef (its ef is fixed at build, so one build per ef).
    #[test]
    fn same_answers_as_instant_distance() {
        let (n, d) = (1500, 40);
        let pts = points(n, d);
        let queries: Vec<Vec<i8>> = (0..40).map(|i| quantize(&(0..d).map(|j| ((i * 17 + j * 5) as f32 * 0.021).cos()).collect::<Vec<_>>(), 1.0)).collect();
        for ef in [1, 10, 64, 200] {
            let builder = Builder::default().ef_search(ef).ef_construction(60).seed(9);
            let bytes = build_bucket(64, &pts, d, (0..n as u32).collect(), builder).expect("build");
            let theirs: HnswMap<super::super::Pt<64>, u32> = postcard::from_bytes(&bytes).expect("theirs");
            let ours = Graph::from_bytes(64, &bytes).expect("ours");
            let mut search = Search::default();
            for q in &queries {
                let want: Vec<u32> = theirs.search(&super::super::pad::<64>(q), &mut search).map(|i| *i.value).collect();
                let mut got = Vec::new();
                ours.search(q, ef, &mut got);
                assert_eq!(got, want, "ef {ef}");
            }
        }
    }
}
