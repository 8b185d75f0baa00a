//! instant-distance's serialised graph, read into and written from our flat `Graph`.
//!
//! The bytes are postcard's encoding of `HnswMap<Pt<N>, u32>` (instant-distance =0.6.1, feature
//! `with-serde`): `HnswMap { hnsw: Hnsw { ef_search: usize, points: Vec<[i8; N]>, zero:
//! Vec<[PointId; 64]>, layers: Vec<Vec<[PointId; 32]>> }, values: Vec<u32> }`. Postcard writes
//! usize and u32 (a `PointId` is a newtype of one) as LEB128 varints, an i8 as its byte, a Vec
//! as its varint length then its items, and a fixed array as its items alone. Reading it by hand
//! rather than through serde lets the points land straight in one flat buffer whatever N is.
//! `tests::bytes_round_trip_with_instant_distance` holds the two encodings together.
//!
//! Decoding checks what the search relies on, so a graph that decodes can be searched without
//! a bounds failure: every link names a node of its own layer (or is `NONE`), each upper layer
//! is no larger than the one below, and there are as many rows as points.
use super::{Graph, LINKS, LINKS0, NONE};
use crate::error::IndexError;

fn bad(why: impl std::fmt::Display) -> IndexError {
    IndexError::Storage(format!("graph bytes: {why}"))
}

struct Reader<'a> {
    b: &'a [u8],
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, IndexError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.b.split_first().ok_or_else(|| bad("ends inside a number"))?;
            self.b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("a number longer than 64 bits"))
    }

    /// A length, refused when the bytes left could not hold `min_item` bytes for each item.
    fn len(&mut self, min_item: usize) -> Result<usize, IndexError> {
        let n = usize::try_from(self.varint()?).map_err(|_| bad("length past usize"))?;
        if n.saturating_mul(min_item) > self.b.len() {
            return Err(bad(format!("a length of {n} past the end")));
        }
        Ok(n)
    }

    fn u32(&mut self) -> Result<u32, IndexError> {
        u32::try_from(self.varint()?).map_err(|_| bad("a link past u32"))
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], IndexError> {
        if n > self.b.len() {
            return Err(bad("ends inside the points"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    /// `nodes` nodes of `per` links each, every link below `bound` or NONE.
    fn links(&mut self, nodes: usize, per: usize, bound: usize) -> Result<Vec<u32>, IndexError> {
        let mut out = Vec::with_capacity(nodes * per);
        for _ in 0..nodes * per {
            let l = self.u32()?;
            if l != NONE && l as usize >= bound {
                return Err(bad(format!("a link to node {l} of a layer of {bound}")));
            }
            out.push(l);
        }
        Ok(out)
    }
}

impl Graph {
    /// Decodes (and checks) a graph of points `width` bytes wide.
    pub fn from_bytes(width: usize, bytes: &[u8]) -> Result<Graph, IndexError> {
        if width == 0 {
            return Err(bad("zero width"));
        }
        let mut r = Reader { b: bytes };
        let built_ef = usize::try_from(r.varint()?).map_err(|_| bad("ef past usize"))?;
        let n = r.len(width)?;
        let points: Vec<i8> = r.bytes(n * width)?.iter().map(|b| *b as i8).collect();
        if r.len(LINKS0)? != n {
            return Err(bad("layer 0 and the points differ in count"));
        }
        let zero = r.links(n, LINKS0, n)?;
        let layers = r.len(1)?;
        let mut upper = Vec::with_capacity(layers);
        let mut below = n;
        for _ in 0..layers {
            let size = r.len(LINKS)?;
            if size > below {
                return Err(bad("an upper layer larger than the one below"));
            }
            upper.push(r.links(size, LINKS, size)?);
            below = size;
        }
        if n > 0 && upper.last().is_some_and(Vec::is_empty) {
            return Err(bad("an empty top layer"));
        }
        if r.len(1)? != n {
            return Err(bad("rows and points differ in count"));
        }
        let rows = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        if !r.b.is_empty() {
            return Err(bad(format!("{} bytes after the graph", r.b.len())));
        }
        Ok(Graph { width, points, zero, upper, rows, built_ef })
    }

    /// instant-distance's serialised form of this graph (the segment file's).
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let links: usize = self.zero.len() + self.upper.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(self.points.len() + 2 * links + 5 * self.rows.len() + 64);
        put(&mut out, self.built_ef as u64);
        put(&mut out, self.len() as u64);
        out.extend(self.points.iter().map(|x| *x as u8));
        put(&mut out, self.len() as u64);
        self.zero.iter().for_each(|l| put(&mut out, u64::from(*l)));
        put(&mut out, self.upper.len() as u64);
        for layer in &self.upper {
            put(&mut out, (layer.len() / LINKS) as u64);
            layer.iter().for_each(|l| put(&mut out, u64::from(*l)));
        }
        put(&mut out, self.len() as u64);
        self.rows.iter().for_each(|r| put(&mut out, u64::from(*r)));
        Ok(out)
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
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
    use super::super::{build_bucket, tests::points, Graph, NONE};
    use instant_distance::Builder;

    #[test]
    fn bytes_round_trip_with_instant_distance() {
        let pts = points(700, 40);
        let builder = Builder::default().ef_search(64).ef_construction(40).seed(3);
        let theirs = build_bucket(64, &pts, 40, (0..700).rev().collect(), builder).expect("build");
        let g = Graph::from_bytes(64, &theirs).expect("decode");
        assert!(!g.upper.is_empty(), "700 points make at least one upper layer");
        assert_eq!(g.to_bytes().expect("encode"), theirs);
    }

    #[test]
    fn damaged_bytes_are_refused_not_searched() {
        let pts = points(300, 40);
        let builder = Builder::default().ef_construction(40).seed(3);
        let good = build_bucket(64, &pts, 40, (0..300).collect(), builder).expect("build");
        // A layer-0 link pointing past the points, re-encoded with the same layout.
        let mut broken = Graph::from_bytes(64, &good).expect("decode");
        broken.zero[5] = 300;
        let err = Graph::from_bytes(64, &broken.to_bytes().expect("encode")).err().expect("refused");
        assert!(err.to_string().contains("a link to node 300"), "{err}");
        broken.zero[5] = NONE;
        assert!(Graph::from_bytes(64, &broken.to_bytes().expect("encode")).is_ok());
        for cut in [0, 1, 10, good.len() / 2, good.len() - 1] {
            assert!(Graph::from_bytes(64, &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(Graph::from_bytes(64, &longer).is_err());
    }
}
