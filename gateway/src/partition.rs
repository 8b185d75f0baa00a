//! Indexes spread over index-svc pods. Each (account, index) name is owned by exactly one pod,
//! chosen by rendezvous (highest-random-weight) hashing of the name against each pod's stable
//! name — a StatefulSet pod's DNS name, as given in `--index`. Every gateway computes the same
//! owner from the same list, with no shared state: Kubernetes keeps the pods' names and volumes,
//! and nothing here is a cluster layer. A create goes to the owner, so a name cannot exist on two
//! pods; listing asks every pod and merges.
//!
//! Adding or removing a pod moves only the names whose highest weight changes: about 1/(n+1) of
//! them when growing to n+1 pods, those of the removed pod when shrinking. Their data moves with
//! `strato-vectorize rebalance` (deploy/README.md, "Resizing"); meanwhile a gateway finds each
//! index wherever it is: at its owner under the pod list (`--index`); if that pod does not have
//! it, at its owner under the previous list (`--index-previous`, set during a resize); and when
//! a pod answers that the index moved, at the pod it names (remembered from then on, so a
//! gateway still on the old list follows moves too).
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use strato_proto::index::v1 as ipb;
use strato_proto::index::v1::vector_index_client::VectorIndexClient;

use crate::trace::Traced;

/// A request that names one index: the pod that owns it serves it.
pub trait Routed {
    fn key(&self) -> (&str, &str);

    /// A create: the name must not exist under the previous pod list either.
    fn creates(&self) -> bool {
        false
    }
}

macro_rules! routed {
    ($($t:ty => $name:ident),* $(,)?) => {$(
        impl Routed for $t {
            fn key(&self) -> (&str, &str) {
                (&self.account, &self.$name)
            }
        }
    )*};
}

impl Routed for ipb::CreateIndexRequest {
    fn key(&self) -> (&str, &str) {
        (&self.account, &self.name)
    }

    fn creates(&self) -> bool {
        true
    }
}

routed!(
    ipb::IndexRef => name,
    ipb::WriteRequest => index,
    ipb::IdsRequest => index,
    ipb::QueryRequest => index,
    ipb::ListVectorsRequest => index,
    ipb::MetadataIndexRequest => index,
);

#[derive(Clone)]
pub struct IndexPods {
    pods: Vec<Pod>,
    /// The pod list before a resize (empty otherwise).
    previous: Vec<Pod>,
    /// Where moved indexes went, as pods said: (account, index) → pod.
    moved: Arc<RwLock<HashMap<(String, String), Pod>>>,
    /// Pods named by a move that neither list has, connected on first use.
    connect: Arc<dyn Fn(&str) -> Option<Pod> + Send + Sync>,
}

#[derive(Clone)]
pub struct Pod {
    /// The pod's stable name: its URL's host:port.
    pub name: String,
    pub client: VectorIndexClient<Traced>,
    /// The same channel, for calls made without the generated client (`Clients::write`).
    pub channel: Traced,
}

type Connected = (String, VectorIndexClient<Traced>, Traced);

impl IndexPods {
    /// `connect` makes a client for a URL (lazily connected).
    pub fn new(pods: Vec<Connected>, previous: Vec<Connected>, connect: impl Fn(&str) -> Option<Connected> + Send + Sync + 'static) -> Self {
        let pod = |(url, client, channel): Connected| Pod { name: pod_name(&url), client, channel };
        Self {
            pods: pods.into_iter().map(pod).collect(),
            previous: previous.into_iter().map(pod).collect(),
            moved: Arc::default(),
            connect: Arc::new(move |url| connect(url).map(pod)),
        }
    }

    /// Where `req`'s index is to be asked first: where it is known to have moved, else its owner.
    pub fn route(&self, req: &impl Routed) -> Pod {
        let (account, index) = req.key();
        let moved = self.moved.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = moved.get(&(account.to_owned(), index.to_owned())) {
            return p.clone();
        }
        drop(moved);
        self.pods[owner(self.pods.iter().map(|p| p.name.as_str()), account, index)].clone()
    }

    /// Forgets where `req`'s index moved (that pod no longer has it); true if it was known.
    pub fn forget_move(&self, req: &impl Routed) -> bool {
        let (account, index) = req.key();
        self.moved.write().unwrap_or_else(|e| e.into_inner()).remove(&(account.to_owned(), index.to_owned())).is_some()
    }

    /// The index's owner under the previous pod list, when that is another pod than `tried`.
    pub fn previous_owner(&self, req: &impl Routed, tried: &Pod) -> Option<Pod> {
        let (account, index) = req.key();
        let p = self.previous.get(owner(self.previous.iter().map(|p| p.name.as_str()), account, index))?;
        (p.name != tried.name).then(|| p.clone())
    }

    /// A pod said `req`'s index moved to `url`: remembered, and returned.
    pub fn moved_to(&self, req: &impl Routed, url: &str) -> Option<Pod> {
        let name = pod_name(url);
        let known = self.pods.iter().chain(&self.previous).find(|p| p.name == name).cloned();
        let pod = known.or_else(|| (self.connect)(url))?;
        let (account, index) = req.key();
        self.moved.write().unwrap_or_else(|e| e.into_inner()).insert((account.to_owned(), index.to_owned()), pod.clone());
        Some(pod)
    }

    /// Every pod of both lists, once each (listing fans out).
    pub fn all(&self) -> Vec<Pod> {
        let mut all = self.pods.clone();
        for p in &self.previous {
            if !all.iter().any(|q| q.name == p.name) {
                all.push(p.clone());
            }
        }
        all
    }
}

/// `http://index-0.index:50052/` → `index-0.index:50052`.
pub fn pod_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/').to_owned()
}

/// The position of the pod with the highest weight for (account, index); ties (never in
/// practice) go to the first. Deterministic across processes, versions and platforms.
pub fn owner<'a>(pods: impl Iterator<Item = &'a str>, account: &str, index: &str) -> usize {
    let mut best = (0usize, 0u64);
    for (i, pod) in pods.enumerate() {
        let w = weight(pod, account, index);
        if i == 0 || w > best.1 {
            best = (i, w);
        }
    }
    best.0
}

/// FNV-1a over `pod \0 account \0 index`, then SplitMix64's finaliser so that names differing
/// in one byte get unrelated weights.
fn weight(pod: &str, account: &str, index: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pod.bytes().chain([0]).chain(account.bytes()).chain([0]).chain(index.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("index-{i}.index.strato.svc:50052")).collect()
    }

    #[test]
    fn owners_spread_evenly_and_stay_put_when_a_pod_is_added() {
        let three = names(3);
        let four = names(4);
        let (mut per_pod, mut moved) = ([0usize; 3], 0);
        let n = 30_000;
        for i in 0..n {
            let index = format!("idx-{i}");
            let a = owner(three.iter().map(String::as_str), "acct", &index);
            let b = owner(four.iter().map(String::as_str), "acct", &index);
            per_pod[a] += 1;
            if a != b {
                assert_eq!(b, 3, "a name only ever moves to the new pod");
                moved += 1;
            }
        }
        for c in per_pod {
            assert!((9_000..11_000).contains(&c), "uneven spread: {per_pod:?}");
        }
        // About a quarter move to the fourth pod.
        assert!((6_500..8_500).contains(&moved), "{moved} of {n} moved");
    }

    #[test]
    fn the_owner_does_not_depend_on_the_order_of_the_list() {
        let a = names(5);
        let mut b = a.clone();
        b.reverse();
        for i in 0..1000 {
            let index = format!("i{i}");
            let x = owner(a.iter().map(String::as_str), "", &index);
            let y = owner(b.iter().map(String::as_str), "", &index);
            assert_eq!(a[x], b[y]);
        }
        assert_eq!(pod_name("http://index-0.index:50052/"), "index-0.index:50052");
    }
}
