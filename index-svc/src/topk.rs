//! The k nearest hits, kept as a bounded max-heap: what the planner, the tail scan and the
//! segments' searches all fill. A leaf, so that each of them can use it without the others.
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Hit {
    pub seq: u64,
    pub id: Arc<str>,
    /// Lower is nearer.
    pub distance: f32,
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

    pub fn k(&self) -> usize {
        self.k
    }

    /// Whether a hit at `distance` could enter (ties may: the id decides them in `push`).
    /// Distances are totally ordered, a NaN as the farthest of all (it can never push a real
    /// hit out, nor, once in, keep every later one out).
    pub fn accepts(&self, distance: f32) -> bool {
        let distance = ordered(distance);
        self.k > 0 && (self.heap.len() < self.k || self.heap.peek().is_some_and(|w| distance.total_cmp(&w.distance) != Ordering::Greater))
    }

    pub fn push(&mut self, distance: f32, seq: u64, id: &Arc<str>) {
        let distance = ordered(distance);
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

/// A distance as the heap orders it: NaN (never made by `segment::distance`, but a heap must not
/// trust that) as +inf.
fn ordered(d: f32) -> f32 {
    if d.is_nan() { f32::INFINITY } else { d }
}

