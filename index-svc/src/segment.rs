//! The two kinds of segment. A `Chunk` is a flat arena (fixed stride) searched exactly: the
//! active one takes every write, full ones are frozen until sealed. A `Sealed` segment is an
//! immutable HNSW graph (ef chosen per query) over f32 rows mapped from its file. Neither deletes
//! anything: a point whose sequence number is no longer live is a tombstone, skipped by the
//! caller's liveness check.
use std::path::Path;

use crate::error::IndexError;
use crate::hnsw::{self, Graph};
use crate::kernel;
use crate::mapped::Mapped;
use crate::types::Metric;

#[cfg(target_endian = "big")]
compile_error!("segment files are little-endian and mapped as-is");

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
        Metric::Cosine => -kernel::dot_finite(q, x),
        Metric::Euclidean => kernel::l2_finite(q, x),
        Metric::DotProduct => -kernel::dot_finite(q, x),
    }
}

/// Vectorize's score from a distance: cosine similarity, L2 distance, or negative dot product.
pub fn score(metric: Metric, distance: f32) -> f32 {
    match metric {
        Metric::Cosine => -distance,
        Metric::Euclidean | Metric::DotProduct => distance,
    }
}

/// A segment's stored-form rows, `dims` apart: on the heap from the build until its file is
/// written, then mapped from the file (see mapped.rs).
pub enum Rows {
    Heap(Vec<f32>),
    /// (mapping, byte offset of the first row, number of f32s)
    Mapped(Mapped, usize, usize),
}

impl std::ops::Deref for Rows {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            Rows::Heap(v) => v,
            // Checked against the file's length when mapped, so never empty in practice.
            Rows::Mapped(m, offset, len) => m.f32s(*offset, *len).unwrap_or(&[]),
        }
    }
}

/// An immutable segment: its vectors in a flat f32 arena (exact scoring, exact scans, merges)
/// and a quantised HNSW graph over them.
pub struct Sealed {
    pub uid: u64,
    pub metric: Metric,
    pub dims: usize,
    /// Row r belongs to `seqs[r]`.
    pub rows: Rows,
    pub seqs: Vec<u64>,
    /// Largest norm in the segment (dot-product's extra coordinate), else 0.
    pub phi: f32,
    /// Quantisation scale: see `robust_scale`.
    pub scale: f32,
    /// Rows clipped by `scale` or `phi` (at most ~0.1 %): scored exactly on every search, since
    /// the graph only knows them approximately. Derived from the rows, not persisted.
    pub outliers: Vec<u32>,
    /// The graph; a query's ef comes from `efs`.
    graph: Graph,
    /// ef_search per band of topK, ascending (`--ef-tiers`): a query uses the first ≥ its topK.
    efs: Vec<usize>,
}

/// The segment file: a header, the rows (f32, from byte 64, so aligned once mapped), the seqs
/// (u64), the graph (instant-distance's postcard form, `hnsw/codec.rs`). All little-endian.
///
/// Every byte is checked before it is served: the header carries a CRC-32C of each region and of
/// itself, and the index's metric and dimensions. Opening reads the file once with plain reads
/// (`read_checked`: a bad sector is an error for this segment, not a SIGBUS for the process),
/// verifies every checksum, that the seqs are unique and the graph names only its own rows; only
/// then are the rows mapped for serving. A file that fails is dropped and its vectors re-indexed
/// from the store (`recovery.rs`), which also checks each row against the store's vector.
const MAGIC: [u8; 8] = *b"strseg03";
const HEADER: usize = 64;

struct Header {
    dims: usize,
    width: usize,
    count: usize,
    phi: f32,
    scale: f32,
    graph_len: usize,
    metric: u8,
    crc_rows: u32,
    crc_seqs: u32,
    crc_graph: u32,
}

fn bad(why: impl std::fmt::Display) -> IndexError {
    IndexError::Storage(format!("segment file: {why}"))
}

fn metric_byte(m: Metric) -> u8 {
    match m {
        Metric::Cosine => 1,
        Metric::Euclidean => 2,
        Metric::DotProduct => 3,
    }
}

impl Header {
    /// The header of a file of `file_len` bytes, its own checksum and length verified.
    fn parse(b: &[u8], file_len: usize) -> Result<Self, IndexError> {
        if b.len() < HEADER || b[..8] != MAGIC {
            return Err(bad("not a segment file of this version"));
        }
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| u64::from_le_bytes(std::array::from_fn(|i| b[at + i]));
        if crc32c::crc32c(&b[..60]) != u32_at(60) {
            return Err(bad("header checksum"));
        }
        let h = Header {
            dims: u32_at(8) as usize,
            width: u32_at(12) as usize,
            count: usize::try_from(u64_at(16)).map_err(|_| bad("count"))?,
            phi: f32::from_bits(u32_at(24)),
            scale: f32::from_bits(u32_at(28)),
            graph_len: usize::try_from(u64_at(32)).map_err(|_| bad("graph length"))?,
            metric: b[40],
            crc_rows: u32_at(44),
            crc_seqs: u32_at(48),
            crc_graph: u32_at(52),
        };
        let want = h.count.checked_mul(h.dims.checked_mul(4).and_then(|r| r.checked_add(8)).ok_or_else(|| bad("dims"))?).and_then(|n| n.checked_add(HEADER + h.graph_len));
        if want != Some(file_len) {
            return Err(bad("length disagrees with its header"));
        }
        Ok(h)
    }

    fn to_bytes(&self) -> [u8; HEADER] {
        let mut out = [0u8; HEADER];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&(self.dims as u32).to_le_bytes());
        out[12..16].copy_from_slice(&(self.width as u32).to_le_bytes());
        out[16..24].copy_from_slice(&(self.count as u64).to_le_bytes());
        out[24..28].copy_from_slice(&self.phi.to_le_bytes());
        out[28..32].copy_from_slice(&self.scale.to_le_bytes());
        out[32..40].copy_from_slice(&(self.graph_len as u64).to_le_bytes());
        out[40] = self.metric;
        out[44..48].copy_from_slice(&self.crc_rows.to_le_bytes());
        out[48..52].copy_from_slice(&self.crc_seqs.to_le_bytes());
        out[52..56].copy_from_slice(&self.crc_graph.to_le_bytes());
        let crc = crc32c::crc32c(&out[..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

/// What a segment file must be, from its manifest and index.
pub struct Expected {
    pub metric: Metric,
    pub dims: usize,
    pub count: usize,
}

/// Reads a segment file with plain reads (no mapping: an I/O error is an error), verifying every
/// checksum, the header against `expect`, that the seqs are unique and that the graph names only
/// rows of this file: (header, seqs, graph).
fn read_checked(path: &Path, expect: &Expected) -> Result<(Header, Vec<u64>, Graph), IndexError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let file_len = usize::try_from(f.metadata()?.len()).map_err(|_| bad("length"))?;
    let mut head = [0u8; HEADER];
    f.read_exact(&mut head).map_err(|e| bad(format!("header: {e}")))?;
    let h = Header::parse(&head, file_len)?;
    if h.metric != metric_byte(expect.metric) || h.dims != expect.dims || h.count != expect.count {
        return Err(bad(format!(
            "header says metric {}, {} dimensions, {} rows; the manifest {}, {}, {}",
            h.metric,
            h.dims,
            h.count,
            metric_byte(expect.metric),
            expect.dims,
            expect.count
        )));
    }
    let mut crc = 0u32;
    let mut left = h.count * h.dims * 4;
    let mut buf = vec![0u8; (1 << 20).min(left.max(1))];
    while left > 0 {
        let n = left.min(buf.len());
        f.read_exact(&mut buf[..n]).map_err(|e| bad(format!("rows: {e}")))?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        left -= n;
    }
    if crc != h.crc_rows {
        return Err(bad("rows checksum"));
    }
    let mut seqs = vec![0u8; h.count * 8];
    f.read_exact(&mut seqs).map_err(|e| bad(format!("seqs: {e}")))?;
    if crc32c::crc32c(&seqs) != h.crc_seqs {
        return Err(bad("seqs checksum"));
    }
    let seqs: Vec<u64> = seqs.chunks_exact(8).map(|c| u64::from_le_bytes(std::array::from_fn(|i| c[i]))).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad("a seq appears twice"));
    }
    let mut graph = vec![0u8; h.graph_len];
    f.read_exact(&mut graph).map_err(|e| bad(format!("graph: {e}")))?;
    if crc32c::crc32c(&graph) != h.crc_graph {
        return Err(bad("graph checksum"));
    }
    let graph = Graph::from_bytes(h.width, &graph)?;
    if graph.len() != h.count || !graph.rows_below(h.count as u32) {
        return Err(bad("the graph names rows the file does not hold"));
    }
    Ok((h, seqs, graph))
}

impl Sealed {
    /// Builds from flat stored-form rows, `dims` apart (blocking; instant-distance parallelises
    /// with rayon). Flat buffers throughout: tens of thousands of small row allocations would
    /// fragment the heap and keep RSS at the build's high-water mark.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        uid: u64,
        metric: Metric,
        dims: usize,
        rows: Vec<f32>,
        seqs: Vec<u64>,
        ef_tiers: &[usize],
        ef_construction: usize,
    ) -> Result<Self, IndexError> {
        let (phi, scale) = ranges(metric, dims, &rows);
        let (quantized, width) = graph_points(metric, dims, &rows, phi, scale);
        let graph = hnsw::build(&quantized, width, (0..seqs.len() as u32).collect(), ef_construction)?;
        drop(quantized);
        Self::with_tiers(uid, metric, dims, Rows::Heap(rows), seqs, phi, scale, graph, ef_tiers)
    }

    #[allow(clippy::too_many_arguments)]
    fn with_tiers(
        uid: u64,
        metric: Metric,
        dims: usize,
        rows: Rows,
        seqs: Vec<u64>,
        phi: f32,
        scale: f32,
        graph: Graph,
        ef_tiers: &[usize],
    ) -> Result<Self, IndexError> {
        let efs = if ef_tiers.is_empty() { vec![64] } else { ef_tiers.to_vec() };
        let outliers = outlier_rows(metric, dims, &rows, phi, scale);
        Ok(Self { uid, metric, dims, rows, seqs, phi, scale, outliers, graph, efs })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let graph = self.graph().to_bytes()?;
        let rows: Vec<u8> = self.rows.iter().flat_map(|x| x.to_le_bytes()).collect();
        let seqs: Vec<u8> = self.seqs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let header = Header {
            dims: self.dims,
            width: self.graph().width(),
            count: self.seqs.len(),
            phi: self.phi,
            scale: self.scale,
            graph_len: graph.len(),
            metric: metric_byte(self.metric),
            crc_rows: crc32c::crc32c(&rows),
            crc_seqs: crc32c::crc32c(&seqs),
            crc_graph: crc32c::crc32c(&graph),
        };
        let mut out = Vec::with_capacity(HEADER + rows.len() + seqs.len() + graph.len());
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&rows);
        out.extend_from_slice(&seqs);
        out.extend_from_slice(&graph);
        Ok(out)
    }

    /// A segment from its file, checked (`read_checked`), rows mapped. Loading reads the file once;
    /// only the graph stays resident.
    pub fn open(uid: u64, expect: &Expected, path: &Path, ef_tiers: &[usize], pread: bool) -> Result<Self, IndexError> {
        let (h, seqs, graph) = read_checked(path, expect)?;
        let map = Mapped::open(path, pread)?;
        let rows = Rows::Mapped(map, HEADER, h.count * h.dims);
        let seg = Self::with_tiers(uid, expect.metric, h.dims, rows, seqs, h.phi, h.scale, graph, ef_tiers)?;
        if let Rows::Mapped(m, ..) = &seg.rows {
            m.release();
            m.advise_random();
        }
        Ok(seg)
    }

    /// Swaps the heap rows of a freshly built segment for its file, once written (`pread`:
    /// rescoring reads rows with pread rather than through the mapping; see mapped.rs).
    pub fn into_mapped(mut self, path: &Path, pread: bool) -> Result<Self, IndexError> {
        let map = Mapped::open(path, pread)?;
        let h = Header::parse(map.bytes(), map.bytes().len())?;
        if h.count != self.seqs.len() || h.dims != self.dims {
            return Err(IndexError::Storage(format!("segment file {} does not hold the segment just built", path.display())));
        }
        map.advise_random();
        self.rows = Rows::Mapped(map, HEADER, self.rows.len());
        Ok(self)
    }

    /// Row `r` in stored form.
    pub fn row(&self, r: u32) -> &[f32] {
        let at = r as usize * self.dims;
        &self.rows[at..at + self.dims]
    }

    /// Gives back the pages of mapped rows read so far (start-up reads every row once).
    pub fn release_rows(&self) {
        if let Rows::Mapped(m, ..) = &self.rows {
            m.release();
        }
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The ef a query of topK `want` searches with: the first tier covering it, or None when
    /// none does (the caller scans exactly).
    pub fn ef_for(&self, want: usize) -> Option<usize> {
        self.efs.iter().copied().find(|ef| *ef >= want)
    }

    /// Graph search with `ef`: `f(seq, exact stored vector)` for the
    /// `rescore` nearest candidates by the graph's 8-bit distance (its order is nearly the exact
    /// one, so the true top k are among the first few dozen of ef), and for every outlier.
    pub fn search(&self, ef: usize, q_stored: &[f32], rescore: usize, f: &mut dyn FnMut(u64, &[f32])) {
        let mut q = q_stored.to_vec();
        if self.metric == Metric::DotProduct {
            // Inner-product order does not change with the query's length, but its 8-bit codes
            // do: a query far longer than the rows would saturate and steer the graph anywhere.
            // Navigate with it at the rows' length (phi), where the MIPS→L2 lift is exact.
            let n = kernel::norm(&q);
            if n > 0.0 && self.phi > 0.0 {
                let c = f64::from(self.phi) / f64::from(n);
                q.iter_mut().for_each(|x| *x = (f64::from(*x) * c) as f32);
            }
            q.push(0.0);
        }
        let q = hnsw::quantize(&q, self.scale);
        let mut rows: Vec<u32> = Vec::with_capacity(64);
        self.graph.search(&q, ef, &mut rows);
        rows.truncate(rescore);
        for &row in &self.outliers {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
        let _span = strato_proto::trace_span!("rescore", candidates = rows.len()).entered();
        let d = self.dims;
        let all = &*self.rows;
        let exact = |r: usize| &all[r * d..(r + 1) * d];
        match &self.rows {
            Rows::Mapped(m, offset, _) if m.reads_by_pread() => {
                let mut buf = vec![0f32; d];
                for row in rows {
                    let r = row as usize;
                    // A read error here is the disk failing a page the cache dropped: the
                    // mapping would meet the same page as a SIGBUS, so the row is left out of
                    // this answer (logged) rather than read through it.
                    match m.read_f32s(offset + r * d * 4, &mut buf) {
                        Ok(()) => f(self.seqs[r], &buf),
                        Err(e) => tracing::error!(segment = self.uid, "pread of row {r}: {e}; row left out of this answer"),
                    }
                }
            }
            _ => rows.into_iter().for_each(|row| f(self.seqs[row as usize], exact(row as usize))),
        }
    }

    /// Every point, in arena order (contiguous: the fast path of exact scans).
    pub fn for_each(&self, f: &mut dyn FnMut(u64, &[f32])) {
        for (seq, row) in self.seqs.iter().zip(self.rows.chunks_exact(self.dims.max(1))) {
            f(*seq, row);
        }
    }

    /// Stored-form vectors of the rows whose seq passes `keep`, appended flat to `rows`/`seqs`
    /// (merging and vacuuming).
    pub fn collect_rows(&self, keep: &dyn Fn(u64) -> bool, rows: &mut Vec<f32>, seqs: &mut Vec<u64>) {
        self.for_each(&mut |seq, row| {
            if keep(seq) {
                rows.extend_from_slice(row);
                seqs.push(seq);
            }
        });
    }
}


/// The dot-product lift's `phi` (0 for other metrics) and the quantisation scale, both robust
/// to outliers (see `robust_scale`).
fn ranges(metric: Metric, dims: usize, rows: &[f32]) -> (f32, f32) {
    let dims = dims.max(1);
    let phi = if metric == Metric::DotProduct { robust_scale(rows.chunks_exact(dims).map(kernel::norm).collect()) } else { 0.0 };
    let scale = robust_scale(rows.chunks_exact(dims).map(|r| row_max(metric, r, phi)).collect());
    (phi, scale)
}

/// The dot-product extra coordinate (MIPS→L2): sqrt(phi² − |r|²), 0 for rows longer than phi.
fn lift(r: &[f32], phi: f32) -> f32 {
    (phi * phi - kernel::dot(r, r)).max(0.0).sqrt()
}

/// The largest |coordinate| of a row in graph form.
fn row_max(metric: Metric, r: &[f32], phi: f32) -> f32 {
    let m = r.iter().fold(0f32, |m, x| m.max(x.abs()));
    if metric == Metric::DotProduct { m.max(lift(r, phi)) } else { m }
}

/// Rows the graph holds only approximately: clipped by the scale, or (dot product) longer
/// than phi, so their lift is wrong.
fn outlier_rows(metric: Metric, dims: usize, rows: &[f32], phi: f32, scale: f32) -> Vec<u32> {
    let extra = metric == Metric::DotProduct;
    (0u32..)
        .zip(rows.chunks_exact(dims.max(1)))
        .filter(|(_, r)| row_max(metric, r, phi) > scale || (extra && kernel::norm(r) > phi))
        .map(|(i, _)| i)
        .collect()
}

/// The graph's points, quantised and flat (`width` apart), with the dot-product extra
/// coordinate when needed: (points, width).
fn graph_points(metric: Metric, dims: usize, rows: &[f32], phi: f32, scale: f32) -> (Vec<i8>, usize) {
    let dims = dims.max(1);
    let extra = metric == Metric::DotProduct;
    let width = dims + usize::from(extra);
    let mut out = Vec::with_capacity(rows.len() / dims * width);
    for r in rows.chunks_exact(dims) {
        out.extend(hnsw::quantize(r, scale));
        if extra {
            out.extend(hnsw::quantize(&[lift(r, phi)], scale));
        }
    }
    (out, width)
}

/// The largest of `per_row` but the top 0.1 %. With the plain maximum, one vector with a huge
/// coordinate in a euclidean or dot-product index would quantise every other point to zero and
/// graph recall would silently collapse; with this, only the outliers are clipped (`quantize`
/// saturates at ±127), and they are scored exactly on every search (`Sealed::outliers`).
///
/// The clipping takes at least one row (below 1,000 rows a top 0.1 % is none, and one vector of
/// `[1e6, 0, …]` among 900 made the scale and flattened the rest: recall@10 0.02), and a row
/// more than [`SCALE_OVER_MEDIAN`] × the median row is an outlier too: the scale is the largest
/// row that is neither (so a few huge rows in a small segment do not set it); every clipped row
/// is scored exactly (`outlier_rows`).
fn robust_scale(mut per_row: Vec<f32>) -> f32 {
    let n = per_row.len();
    if n == 0 {
        return 0.0;
    }
    let clip = (n / 1000).max(1).min(n - 1);
    let (_, v, _) = per_row.select_nth_unstable_by(n - 1 - clip, f32::total_cmp);
    let top = *v;
    let (_, m, _) = per_row.select_nth_unstable_by(n / 2, f32::total_cmp);
    let median = *m;
    let cap = if median > 0.0 { top.min(median * SCALE_OVER_MEDIAN) } else { top };
    let v = per_row.iter().copied().filter(|v| *v <= cap).fold(0f32, f32::max);
    if v.is_finite() { v } else { 0.0 }
}

/// How far above the median row the quantisation scale may reach (module doc of `robust_scale`).
const SCALE_OVER_MEDIAN: f32 = 16.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform coordinates in [-1, 1), deterministic in `seed` (xorshift).
    fn rows(seed: u64, n: usize, dims: usize) -> Vec<Vec<f32>> {
        let mut x = seed;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 20_000) as f32 / 10_000.0 - 1.0
        };
        (0..n).map(|_| (0..dims).map(|_| rnd()).collect()).collect()
    }

    /// recall@10 of the graph (smallest tier ≥ 10) against an exact scan, over `queries`.
    fn recall_at_10(seg: &Sealed, metric: Metric, raw: &[Vec<f32>], queries: impl Iterator<Item = usize>) -> f64 {
        let (mut found, mut asked) = (0, 0);
        for qi in queries {
            let q = query_form(metric, &raw[qi]);
            let mut exact: Vec<(f32, u64)> = Vec::new();
            seg.for_each(&mut |s, p| exact.push((distance(metric, &q, p), s)));
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            let truth: Vec<u64> = exact.iter().take(10).map(|e| e.1).collect();
            let mut got: Vec<(f32, u64)> = Vec::new();
            seg.search(seg.ef_for(10).expect("tier"), &q, usize::MAX, &mut |s, p| got.push((distance(metric, &q, p), s)));
            got.sort_by(|a, b| a.0.total_cmp(&b.0));
            found += got.iter().take(10).filter(|g| truth.contains(&g.1)).count();
            asked += 10;
        }
        found as f64 / asked as f64
    }

    /// Graph search with exact rescoring finds the true neighbours for every metric (the
    /// dot-product path goes through the MIPS→L2 lift, cosine through unit vectors).
    #[test]
    fn graph_search_recall_per_metric() {
        let (n, dims) = (2000usize, 40usize);
        let raw: Vec<Vec<f32>> = rows(0x2545_f491_4f6c_dd1d, n, dims).into_iter().enumerate().map(|(i, r)| r.into_iter().map(|x| x * (1.0 + (i % 5) as f32)).collect()).collect();
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::DotProduct] {
            let stored: Vec<f32> = raw.iter().flat_map(|r| stored_form(metric, r)).collect();
            let seg = Sealed::build(1, metric, dims, stored, (0..n as u64).collect(), &[64, 200], 100).expect("build");
            let path = std::env::temp_dir().join(format!("strato-seg-{}-{metric:?}", std::process::id()));
            std::fs::write(&path, seg.to_bytes().expect("bytes")).expect("write");
            let expect = Expected { metric, dims, count: n };
            let seg = Sealed::open(1, &expect, &path, &[64, 200], false).expect("round trip");
            let by_pread = Sealed::open(1, &expect, &path, &[64, 200], true).expect("round trip");
            let _ = std::fs::remove_file(&path); // both keep reading the unlinked file
            let recall = recall_at_10(&seg, metric, &raw, (0..50).map(|i| i * 7));
            assert!(recall >= 0.9, "{metric:?}: recall@10 {recall}");
            // `--rescore-reads pread` hands the caller the same rows, read another way.
            for qi in [3, 500, 1999] {
                let q = query_form(metric, &raw[qi]);
                let hits = |s: &Sealed| {
                    let mut got: Vec<(u64, Vec<f32>)> = Vec::new();
                    s.search(64, &q, 36, &mut |seq, p| got.push((seq, p.to_vec())));
                    got
                };
                let (mapped, read) = (hits(&seg), hits(&by_pread));
                assert!(mapped.len() >= 36, "{metric:?}: {} candidates", mapped.len());
                assert_eq!(mapped, read, "{metric:?}: query {qi}");
            }
        }
    }

    /// One flipped byte in any region, a cut, or a file of another shape is refused at open, never
    /// served.
    #[test]
    fn every_region_of_a_segment_file_is_checked() {
        let (n, dims, metric) = (300usize, 32usize, Metric::Euclidean);
        let stored: Vec<f32> = rows(7, n, dims).concat();
        let seg = Sealed::build(1, metric, dims, stored, (100..100 + n as u64).collect(), &[64], 50).expect("build");
        let good = seg.to_bytes().expect("bytes");
        let dir = std::env::temp_dir().join(format!("strato-seg-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("seg");
        let expect = Expected { metric, dims, count: n };
        let open = |bytes: &[u8], expect: &Expected| {
            std::fs::write(&path, bytes).expect("write");
            Sealed::open(1, expect, &path, &[64], false).map(|_| ()).map_err(|e| e.to_string())
        };
        open(&good, &expect).expect("the file as written");
        let rows_at = HEADER + 5;
        let seqs_at = HEADER + n * dims * 4 + 3;
        let graph_at = good.len() - 7;
        for (region, at) in [("header", 20), ("header checksum", 61), ("rows", rows_at), ("seqs", seqs_at), ("graph", graph_at)] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            let e = open(&bad, &expect).expect_err(region);
            assert!(e.contains("checksum") || e.contains("length"), "{region}: {e}");
        }
        assert!(open(&good[..good.len() - 1], &expect).is_err(), "cut");
        for other in [Expected { metric: Metric::Cosine, dims, count: n }, Expected { metric, dims: 64, count: n }, Expected { metric, dims, count: n - 1 }] {
            assert!(open(&good, &other).expect_err("another shape").contains("manifest"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A few vectors with one huge coordinate must not flatten everybody else's quantised
    /// points (the scale used to be the segment's largest |coordinate|: recall fell to 0.02).
    #[test]
    fn outliers_do_not_collapse_graph_recall() {
        let dims = 32usize;
        // 3,000 rows with three outliers; 900 and 50 rows with one (below 1,000 rows the top
        // 0.1 % clipped none: recall@10 0.024), and 50 rows with three.
        for (n, outliers) in [(3000usize, &[5usize, 777, 2024][..]), (900, &[450]), (50, &[7]), (50, &[1, 20, 33])] {
            let mut raw = rows(0x9e37_79b9_7f4a_7c15 ^ n as u64, n, dims);
            for &i in outliers {
                raw[i][i % dims] = 1.0e6;
            }
            for metric in [Metric::Euclidean, Metric::DotProduct, Metric::Cosine] {
                let stored: Vec<f32> = raw.iter().flat_map(|r| stored_form(metric, r)).collect();
                let seg = Sealed::build(1, metric, dims, stored, (0..n as u64).collect(), &[64], 100).expect("build");
                let queries = (0..50.min(n)).map(|i| (i * 37 + 1) % n).filter(|i| !outliers.contains(i));
                let recall = recall_at_10(&seg, metric, &raw, queries);
                assert!(recall >= 0.9, "{metric:?}, {n} rows, {} outliers: recall@10 {recall}", outliers.len());
            }
        }
    }
}
