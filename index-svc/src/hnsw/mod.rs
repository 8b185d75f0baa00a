//! Sealed-segment graphs: built by instant-distance, searched by our own loop.
//!
//! **Build** (`build`): instant-distance's `Builder` makes the graph (M = 32, its heuristic with
//! pruned links kept), over points stored inline (`[i8; N]`, not behind a pointer: a
//! `Box<[f32]>` per point measured 1.4–1.8× slower). Dimensions are runtime values, so a build
//! uses the smallest bucket `N ≥ dims` (zero padding changes no distance).
//!
//! **Layout** (`Graph`): the built graph is taken apart into flat arrays — points `width` bytes
//! apart, 64 layer-0 links a node, 32 a node on each upper layer — by decoding the crate's own
//! serialised form (`codec.rs`). That form is also the segment file's, so files written before
//! this split open unchanged, and a graph written now is one instant-distance can read.
//!
//! **Search** (`search.rs`): ours, because instant-distance 0.6.1's cannot be tuned from outside
//! (`./strato bench index` profile, issue #27): ef is a private field fixed at build (a query
//! needing a wider ef needed a second copy of the whole graph), ~70 % of its candidate insert is a
//! binary search in a sorted Vec, and it never prefetches — 41 % of the distance kernel's time was
//! the stall on a neighbour's first cache line. Ours visits the same nodes in the same order
//! (same tie-breaking; `search::tests` checks it against instant-distance's answers), takes ef per
//! query, keeps its best-ef in a bounded heap of integer keys, and prefetches every unvisited
//! neighbour's point before scoring any of them.
//!
//! The graph navigates on 8-bit scalar-quantised points (one scale per segment): a quarter of
//! the memory traffic of f32 per visited node, and integer arithmetic. The caller rescores the
//! best candidates exactly from the segment's f32 rows.
//!
//! One kernel serves every metric: the graph always uses squared L2 on transformed points —
//! cosine stores unit vectors (L2 order = cosine order); dot-product appends one coordinate
//! `sqrt(Φ² − |x|²)` (Φ = the segment's largest norm) so that L2 order = −dot order. Final scores
//! are recomputed exactly from the points by the caller.
use instant_distance::{Builder, HnswMap, Point};
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use crate::error::IndexError;
use crate::kernel;

mod codec;
mod search;

/// Layer-0 links a node (instant-distance's 2·M).
pub const LINKS0: usize = 64;
/// Links a node on each upper layer (M).
pub const LINKS: usize = 32;
/// An empty link slot; a node's valid links come first.
pub const NONE: u32 = u32::MAX;

/// A built graph over quantised points whose values are rows of the segment's arena.
pub struct Graph {
    /// Bytes a point (the build bucket: dims rounded up, zero-padded).
    width: usize,
    /// Point `p` at `points[p·width..]`, in graph order (upper-layer nodes first).
    points: Vec<i8>,
    /// Node `p`'s layer-0 links at `zero[p·64..]`.
    zero: Vec<u32>,
    /// `upper[l - 1]` is layer `l` (l ≥ 1): node `p`'s links at `[p·32..]`. Each layer's nodes
    /// are a prefix of the layer below's; the top layer's node 0 is the entry point.
    upper: Vec<Vec<u32>>,
    /// Graph node → row of the segment.
    rows: Vec<u32>,
    /// The ef the graph was built to answer with (kept so the bytes round-trip).
    built_ef: usize,
}

#[derive(Clone, Serialize, Deserialize)]
struct Pt<const N: usize>(#[serde(with = "BigArray")] [i8; N]);

impl<const N: usize> Point for Pt<N> {
    #[inline]
    fn distance(&self, other: &Self) -> f32 {
        kernel::l2sq_i8(&self.0, &other.0) as f32
    }
}

macro_rules! buckets {
    ($($n:literal),* $(,)?) => {
        /// Bucket widths, ascending.
        pub const BUCKETS: &[usize] = &[$($n),*];

        /// instant-distance's build in bucket `bucket`, as its serialised bytes.
        fn build_bucket(bucket: usize, points: &[i8], width: usize, rows: Vec<u32>, builder: Builder) -> Result<Vec<u8>, IndexError> {
            match bucket {
                $($n => {
                    let map: HnswMap<Pt<$n>, u32> = builder.build(points.chunks_exact(width).map(pad::<$n>).collect(), rows);
                    Ok(postcard::to_allocvec(&map)?)
                })*
                _ => Err(IndexError::Internal(format!("no graph bucket of width {width}"))),
            }
        }
    };
}

buckets!(32, 64, 96, 128, 192, 256, 384, 392, 512, 768, 776, 1024, 1032, 1280, 1536, 1544);

/// The smallest bucket holding `width` values. The +8 buckets exist for dot-product indexes
/// of the common model widths, which need one extra coordinate.
pub fn bucket_for(width: usize) -> Option<usize> {
    BUCKETS.iter().copied().find(|b| *b >= width)
}

fn pad<const N: usize>(v: &[i8]) -> Pt<N> {
    let mut a = [0i8; N];
    let n = v.len().min(N);
    a[..n].copy_from_slice(&v[..n]);
    Pt(a)
}

/// Builds a graph over flat quantised points (`width` apart) whose values are `rows`; blocking,
/// uses rayon.
pub fn build(points: &[i8], width: usize, rows: Vec<u32>, ef_construction: usize) -> Result<Graph, IndexError> {
    let bucket = bucket_for(width).ok_or_else(|| IndexError::Internal(format!("vectors of {width} values")))?;
    let builder = Builder::default().ef_search(64).ef_construction(ef_construction).seed(0x5747_4154);
    let bytes = build_bucket(bucket, points, width.max(1), rows, builder)?;
    Graph::from_bytes(bucket, &bytes)
}

/// Symmetric 8-bit scalar quantisation with one scale for the segment.
pub fn quantize(v: &[f32], scale: f32) -> Vec<i8> {
    let k = if scale > 0.0 { 127.0 / scale } else { 0.0 };
    v.iter().map(|x| (x * k).round().clamp(-127.0, 127.0) as i8).collect()
}

impl Graph {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether every point of the graph is a row below `count` (a file's graph names only its
    /// own rows).
    pub fn rows_below(&self, count: u32) -> bool {
        self.rows.iter().all(|r| *r < count)
    }

    /// Heap bytes held (the memory benchmark's breakdown).
    pub fn heap_bytes(&self) -> usize {
        self.points.len() + 4 * (self.zero.len() + self.rows.len() + self.upper.iter().map(Vec::len).sum::<usize>())
    }

    fn point(&self, p: u32) -> &[i8] {
        let at = p as usize * self.width;
        &self.points[at..at + self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn points(n: usize, d: usize) -> Vec<i8> {
        (0..n).flat_map(|i| quantize(&(0..d).map(|j| ((i * 31 + j * 7) as f32 * 0.013).sin()).collect::<Vec<_>>(), 1.0)).collect()
    }

    #[test]
    fn buckets_cover_every_dimension() {
        for d in 32..=1537 {
            assert!(bucket_for(d).is_some_and(|b| b >= d), "{d}");
        }
    }

    #[test]
    fn a_point_is_its_own_nearest_neighbour_at_any_ef() {
        let pts = points(500, 40);
        let g = build(&pts, 40, (0..500).map(|r| r + 7).collect(), 50).expect("build");
        for ef in [1, 10, 120, 600] {
            let mut got = Vec::new();
            g.search(&pts[3 * 40..4 * 40], ef, &mut got);
            assert_eq!(got.len(), ef.min(500), "ef {ef}");
            assert_eq!(got[0], 3 + 7, "ef {ef}: rows are the values given to the build");
        }
    }
}
