//! Sealed-segment graphs on instant-distance.
//!
//! Points are stored inline (`[i8; N]`), not behind a pointer: a `Box<[f32]>` per point measured
//! 1.4–1.8× slower for the same graph. Dimensions are runtime values, so each graph uses the
//! smallest bucket `N ≥ dims` (zero padding changes no distance).
//!
//! The graph navigates on 8-bit scalar-quantised points (one scale per segment): a quarter of
//! the memory traffic of f32 per visited node, and integer arithmetic. The caller rescores the
//! ef candidates exactly from the segment's f32 arena, so quantisation costs recall only where
//! it reorders candidates at the edge of the ef set (measured in `./strato bench index`).
//!
//! One kernel serves every metric: the graph always uses squared L2 on transformed points —
//! cosine stores unit vectors (L2 order = cosine order); dot-product appends one coordinate
//! `sqrt(Φ² − |x|²)` (Φ = the segment's largest norm) so that L2 order = −dot order. Final scores
//! are recomputed exactly from the points by the caller.
//!
//! topK above ef_search: instant-distance fixes ef_search inside the built graph and returns at
//! most ef results. Rather than pay a large ef on every query, a segment keeps one copy of its
//! graph per ef tier, made by rewriting the serialised ef field (no rebuild), and a query picks
//! the cheapest tier that covers it; above the last tier it scans the segment exactly. No
//! cheaper way exists within instant-distance 0.6.1's API: `ef_search` is a private field of
//! `Hnsw`, read by `search`, which also overwrites `Search`'s ef; no call takes ef per query, and
//! the points and links are owned `Vec`s that two graphs cannot share. So wider tiers are made
//! only when a query first needs one (segment.rs).
use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

use crate::error::IndexError;
use crate::kernel;

#[derive(Clone, Serialize, Deserialize)]
pub struct Pt<const N: usize>(#[serde(with = "BigArray")] pub [i8; N]);

impl<const N: usize> Point for Pt<N> {
    #[inline]
    fn distance(&self, other: &Self) -> f32 {
        kernel::l2sq_i8(&self.0, &other.0) as f32
    }
}

macro_rules! graphs {
    ($($v:ident = $n:literal),* $(,)?) => {
        /// A built graph whose values are rows of the segment's arena.
        pub enum Graph { $($v(HnswMap<Pt<$n>, u32>)),* }

        /// Bucket widths, ascending.
        pub const BUCKETS: &[usize] = &[$($n),*];

        impl Graph {
            fn build_bucket(bucket: usize, points: &[i8], width: usize, rows: Vec<u32>, builder: Builder) -> Result<Graph, IndexError> {
                match bucket {
                    $($n => Ok(Graph::$v(builder.build(points.chunks_exact(width).map(pad::<$n>).collect(), rows))),)*
                    _ => Err(IndexError::Internal(format!("no graph bucket of width {width}"))),
                }
            }

            /// Calls `f(row)` for up to ef nearest points to `q` (quantised graph form).
            pub fn search(&self, q: &[i8], f: &mut dyn FnMut(u32)) {
                SEARCH.with_borrow_mut(|search| match self {
                    $(Graph::$v(m) => {
                        let q = pad::<$n>(q);
                        for item in m.search(&q, search) {
                            f(*item.value);
                        }
                    })*
                })
            }

            pub fn len(&self) -> usize {
                match self { $(Graph::$v(m) => m.values.len()),* }
            }

            /// Whether every point of the graph is a row below `count` (a file's graph names
            /// only its own rows).
            pub fn rows_below(&self, count: u32) -> bool {
                match self { $(Graph::$v(m) => m.values.iter().all(|r| *r < count)),* }
            }

            pub fn width(&self) -> usize {
                match self { $(Graph::$v(_) => $n),* }
            }

            pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
                Ok(match self { $(Graph::$v(m) => postcard::to_allocvec(m)?),* })
            }

            pub fn from_bytes(width: usize, bytes: &[u8]) -> Result<Graph, IndexError> {
                match width {
                    $($n => Ok(Graph::$v(postcard::from_bytes(bytes)?)),)*
                    _ => Err(IndexError::Storage(format!("no graph bucket of width {width}"))),
                }
            }
        }
    };
}

graphs!(
    B32 = 32, B64 = 64, B96 = 96, B128 = 128, B192 = 192, B256 = 256, B384 = 384, B392 = 392, B512 = 512,
    B768 = 768, B776 = 776, B1024 = 1024, B1032 = 1032, B1280 = 1280, B1536 = 1536, B1544 = 1544,
);

/// The smallest bucket holding `width` floats. The +8 buckets exist for dot-product indexes
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

thread_local! {
    /// Per-thread search scratch (visited set, heaps): reused instead of allocated per query.
    static SEARCH: std::cell::RefCell<Search> = std::cell::RefCell::new(Search::default());
}

/// Builds a graph over flat quantised points (`width` apart) whose values are `rows`; blocking,
/// uses rayon.
pub fn build(points: &[i8], width: usize, rows: Vec<u32>, ef_search: usize, ef_construction: usize) -> Result<Graph, IndexError> {
    let bucket = bucket_for(width).ok_or_else(|| IndexError::Internal(format!("vectors of {width} values")))?;
    let builder = Builder::default().ef_search(ef_search).ef_construction(ef_construction).seed(0x5747_4154);
    Graph::build_bucket(bucket, points, width.max(1), rows, builder)
}

/// Symmetric 8-bit scalar quantisation with one scale for the segment.
pub fn quantize(v: &[f32], scale: f32) -> Vec<i8> {
    let k = if scale > 0.0 { 127.0 / scale } else { 0.0 };
    v.iter().map(|x| (x * k).round().clamp(-127.0, 127.0) as i8).collect()
}

/// The same graph answering with another ef_search, by rewriting the serialised field.
/// instant-distance serialises `HnswMap { hnsw: Hnsw { ef_search, .. }, .. }` with ef_search
/// first; postcard writes a usize as a LEB128 varint. (Pinned to instant-distance =0.6.1; the
/// `tier_rewrite_changes_result_count` test guards the layout.)
pub fn with_ef(g: &Graph, ef: usize) -> Result<Graph, IndexError> {
    let bytes = g.to_bytes()?;
    let rest = skip_varint(&bytes).ok_or_else(|| IndexError::Internal("graph bytes: no ef varint".into()))?;
    let mut out = Vec::with_capacity(bytes.len() + 4);
    write_varint(&mut out, ef as u64);
    out.extend_from_slice(rest);
    Graph::from_bytes(g.width(), &out)
}

fn skip_varint(b: &[u8]) -> Option<&[u8]> {
    let end = b.iter().position(|x| x & 0x80 == 0)?;
    Some(&b[end + 1..])
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, d: usize) -> Vec<i8> {
        (0..n).flat_map(|i| quantize(&(0..d).map(|j| ((i * 31 + j * 7) as f32 * 0.013).sin()).collect::<Vec<_>>(), 1.0)).collect()
    }

    #[test]
    fn tier_rewrite_changes_result_count() {
        let pts = points(500, 40);
        let g = build(&pts, 40, (0..500).collect(), 10, 50).expect("build");
        let q = &pts[3 * 40..4 * 40];
        let count = |g: &Graph| {
            let mut n = 0;
            g.search(q, &mut |_| n += 1);
            n
        };
        assert_eq!(count(&g), 10);
        let wide = with_ef(&g, 120).expect("tier");
        assert_eq!(count(&wide), 120);
        let mut first = None;
        wide.search(q, &mut |row| {
            first.get_or_insert(row);
        });
        assert_eq!(first, Some(3), "a point is its own nearest neighbour");
    }

    #[test]
    fn buckets_cover_every_dimension() {
        for d in 32..=1537 {
            assert!(bucket_for(d).is_some_and(|b| b >= d), "{d}");
        }
    }
}
