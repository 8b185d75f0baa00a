//! The oracle: what the clients were told, and from that the states the service may show.
//!
//! Every call ends in one of three outcomes ([`Outcome`]). The model of one piece of state (an id
//! of an index, which epoch of an index name exists, whether a metadata index exists) is a
//! [`Reg`]: the state after the last acknowledged operation, plus the state after each operation
//! of unknown outcome since the last reconciliation — an unacknowledged operation may take effect
//! at any later moment until the process dies, or never. After a restart nothing is in flight
//! any more, so what the service shows (if it is allowed) becomes the new acknowledged baseline.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value as Json, json};
use strato_proto::index::v1 as pb;
use strato_tests::json::to_struct;
use tonic::{Code, Status};

use crate::rng::{hash, unit};

/// Ids per writer ("w{w}-{n}", n below this): at most 4 × 20 = 80 ids an index, fewer than the
/// 100 a topK=100 query lists.
pub const IDS_PER_WRITER: usize = 20;
pub const MAX_WRITERS: usize = 4;

/// Dimensions of an index epoch. Consecutive epochs differ, so a write meant for one epoch is
/// rejected by the next (index-svc requires at least 32 dimensions).
pub fn dims_of(epoch: u32) -> usize {
    32 + 4 * (epoch as usize % 3)
}

pub fn id_of(w: usize, n: usize) -> String {
    format!("w{w}-{n}")
}

/// (writer, n) of an id this test writes.
pub fn parse_id(id: &str) -> Option<(usize, usize)> {
    let (w, n) = id.strip_prefix('w')?.split_once('-')?;
    let (w, n) = (w.parse().ok()?, n.parse().ok()?);
    (w < MAX_WRITERS && n < IDS_PER_WRITER && id_of(w, n) == id).then_some((w, n))
}

/// The values of version `v` of id (w, n) in `epoch`: a pure function, checked bit for bit.
pub fn values(epoch: u32, w: usize, n: usize, v: u32) -> Vec<f32> {
    (0..dims_of(epoch)).map(|d| unit(hash(&[u64::from(epoch), w as u64, n as u64, u64::from(v), d as u64]))).collect()
}

pub fn namespace(v: u32) -> &'static str {
    ["", "a", "b"][v as usize % 3]
}

pub fn metadata(epoch: u32, w: usize, v: u32) -> Json {
    json!({"epoch": epoch, "w": w, "v": v})
}

pub fn vector(epoch: u32, w: usize, n: usize, v: u32) -> pb::Vector {
    pb::Vector { id: id_of(w, n), values: values(epoch, w, n, v), namespace: namespace(v).to_owned(), metadata: Some(to_struct(&metadata(epoch, w, v))) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call returned Ok.
    Acked,
    /// The service refused it (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition).
    Rejected,
    /// Anything else: cancelled, deadline, connection lost, timed out, other errors.
    Uncertain,
}

/// A call's result as the oracle sees it.
pub enum Reply<T> {
    Acked(T),
    Rejected(Status),
    Uncertain(String),
}

impl<T> Reply<T> {
    pub fn of(r: Result<tonic::Response<T>, Status>) -> Self {
        match r {
            Ok(r) => Reply::Acked(r.into_inner()),
            Err(s) if matches!(s.code(), Code::InvalidArgument | Code::NotFound | Code::AlreadyExists | Code::FailedPrecondition) => Reply::Rejected(s),
            Err(s) => Reply::Uncertain(format!("{:?}: {}", s.code(), s.message())),
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            Reply::Acked(_) => Outcome::Acked,
            Reply::Rejected(_) => Outcome::Rejected,
            Reply::Uncertain(_) => Outcome::Uncertain,
        }
    }

    /// Why the outcome is unknown (empty otherwise).
    pub fn why(&self) -> &str {
        if let Reply::Uncertain(why) = self { why } else { "" }
    }

    pub fn code(&self) -> Option<Code> {
        match self {
            Reply::Rejected(s) => Some(s.code()),
            _ => None,
        }
    }
}

/// One piece of state under faults (see the module doc).
#[derive(Debug, Clone)]
pub struct Reg<T: Ord> {
    pub acked: T,
    pub uncertain: BTreeSet<T>,
}

impl<T: Ord + Clone> Reg<T> {
    pub fn new(acked: T) -> Self {
        Self { acked, uncertain: BTreeSet::new() }
    }

    /// An operation that leaves the state at `after` ended with `outcome`.
    pub fn record(&mut self, outcome: Outcome, after: T) {
        match outcome {
            Outcome::Acked => self.acked = after,
            Outcome::Uncertain => {
                self.uncertain.insert(after);
            }
            Outcome::Rejected => {}
        }
    }

    pub fn allows(&self, t: &T) -> bool {
        self.acked == *t || self.uncertain.contains(t)
    }

    /// Every allowed state.
    pub fn allowed(&self) -> BTreeSet<T> {
        let mut all = self.uncertain.clone();
        all.insert(self.acked.clone());
        all
    }

    /// The only allowed state, if there is one.
    pub fn certain(&self) -> Option<&T> {
        self.uncertain.iter().all(|u| *u == self.acked).then_some(&self.acked)
    }

    /// Reconciled with an observation: nothing is in flight any more.
    pub fn settle(&mut self, t: T) {
        self.acked = t;
        self.uncertain.clear();
    }

    pub fn describe(&self, show: impl Fn(&T) -> String) -> String {
        let unc: Vec<String> = self.uncertain.iter().map(&show).collect();
        format!("{{last acknowledged: {}; of unacknowledged calls: [{}]}}", show(&self.acked), unc.join(", "))
    }
}

pub fn show_version(v: &Option<u32>) -> String {
    v.map_or_else(|| "absent".to_owned(), |v| format!("v{v}"))
}

pub fn show_epoch(e: &Option<u32>) -> String {
    e.map_or_else(|| "absent".to_owned(), |e| format!("epoch {e} ({} dims)", dims_of(e)))
}

#[derive(Debug, Clone)]
pub struct IdState {
    /// None = absent, Some(v) = version v.
    pub reg: Reg<Option<u32>>,
    /// The last operation (global op number) that touched this id.
    pub last_op: u64,
}

impl Default for IdState {
    fn default() -> Self {
        Self { reg: Reg::new(None), last_op: 0 }
    }
}

/// A write batch of unknown outcome: all of it may be there, or none of it.
#[derive(Debug, Clone)]
pub struct Batch {
    pub op: u64,
    pub what: String,
    pub pairs: Vec<(String, u32)>,
}

/// One life of an index name, from a CreateIndex to its DeleteIndex.
#[derive(Debug)]
pub struct Epoch {
    pub writers: usize,
    pub ids: BTreeMap<String, IdState>,
    /// Whether the metadata index on "w" exists.
    pub md: Reg<bool>,
    pub batches: Vec<Batch>,
    versions: [u32; MAX_WRITERS],
}

#[derive(Debug)]
pub struct Name {
    /// Which epoch exists under the name (None: no index).
    pub live: Reg<Option<u32>>,
    pub epochs: BTreeMap<u32, Epoch>,
    /// Epochs that must never be seen again, and why.
    pub dead: BTreeMap<u32, String>,
    next_epoch: u32,
}

pub struct Oracle {
    pub seed: u64,
    pub round: usize,
    pub names: BTreeMap<String, Name>,
    /// Problems seen while the workload ran (reported at the next check).
    pub violations: Vec<String>,
    next_op: u64,
}

impl Oracle {
    pub fn new(seed: u64, names: &[String]) -> Self {
        let names = names.iter().map(|n| (n.clone(), Name { live: Reg::new(None), epochs: BTreeMap::new(), dead: BTreeMap::new(), next_epoch: 0 })).collect();
        Self { seed, round: 0, names, violations: Vec::new(), next_op: 0 }
    }

    pub fn name(&mut self, name: &str) -> &mut Name {
        self.names.get_mut(name).unwrap_or_else(|| panic!("no index name {name} in the oracle"))
    }

    pub fn epoch(&mut self, name: &str, e: u32) -> &mut Epoch {
        self.name(name).epochs.get_mut(&e).unwrap_or_else(|| panic!("no epoch {e} of {name} in the oracle"))
    }

    /// A violation seen outside a check (reported with the next check's).
    pub fn violation(&mut self, msg: String) {
        let msg = format!("[seed {} round {}] {msg}", self.seed, self.round);
        eprintln!("index_faults VIOLATION {msg}");
        self.violations.push(msg);
    }

    fn op(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    /// The next epoch of `name`, about to be created, with `writers` writers.
    pub fn new_epoch(&mut self, name: &str, writers: usize) -> u32 {
        let n = self.name(name);
        let e = n.next_epoch;
        n.next_epoch += 1;
        n.epochs.insert(e, Epoch { writers, ids: BTreeMap::new(), md: Reg::new(false), batches: Vec::new(), versions: [0; MAX_WRITERS] });
        e
    }

    pub fn record_create(&mut self, name: &str, e: u32, outcome: Outcome) {
        self.name(name).live.record(outcome, Some(e));
    }

    /// DeleteIndex of `name` ended with `outcome`. Acknowledged, it ends every epoch so far: the
    /// lifecycle task creates an epoch only after the previous one's create call has returned.
    pub fn record_delete_index(&mut self, name: &str, outcome: Outcome) {
        let round = self.round;
        let n = self.name(name);
        n.live.record(outcome, None);
        if outcome == Outcome::Acked {
            for e in n.epochs.keys() {
                n.dead.entry(*e).or_insert_with(|| format!("DeleteIndex was acknowledged in round {round}"));
            }
        }
    }

    /// A fresh version for writer `w` of epoch `e` (versions are never reused).
    pub fn next_version(&mut self, name: &str, e: u32, w: usize) -> u32 {
        let ep = self.epoch(name, e);
        ep.versions[w] += 1;
        ep.versions[w]
    }

    /// True when `id` is absent in every allowed state (an insert of it must write it).
    pub fn surely_absent(&mut self, name: &str, e: u32, id: &str) -> bool {
        self.epoch(name, e).ids.get(id).is_none_or(|s| s.reg.certain() == Some(&None))
    }

    /// An upsert or insert (of ids surely absent) of `pairs` (id, version) ended with `reply`'s
    /// outcome; `count` is what an acknowledgement reported as written.
    pub fn record_write(&mut self, name: &str, e: u32, pairs: &[(String, u32)], outcome: Outcome, count: Option<u32>, what: &str) {
        let op = self.op();
        let ep = self.epoch(name, e);
        if outcome == Outcome::Rejected {
            return;
        }
        for (id, v) in pairs {
            let st = ep.ids.entry(id.clone()).or_default();
            st.reg.record(outcome, Some(*v));
            st.last_op = op;
        }
        if outcome == Outcome::Uncertain {
            ep.batches.push(Batch { op, what: what.to_owned(), pairs: pairs.to_vec() });
        }
        if let Some(count) = count
            && count as usize != pairs.len()
        {
            let ids: Vec<&str> = pairs.iter().map(|(id, _)| id.as_str()).collect();
            self.violation(format!("index {name} epoch {e}: acknowledged {what} of {} new ids {ids:?} reported {count} written", pairs.len()));
        }
    }

    pub fn record_delete_ids(&mut self, name: &str, e: u32, ids: &[String], outcome: Outcome) {
        let op = self.op();
        let ep = self.epoch(name, e);
        if outcome == Outcome::Rejected {
            return;
        }
        for id in ids {
            let st = ep.ids.entry(id.clone()).or_default();
            st.reg.record(outcome, None);
            st.last_op = op;
        }
    }

    /// Create (`present_after`) or delete of the metadata index on "w".
    pub fn record_md(&mut self, name: &str, e: u32, present_after: bool, outcome: Outcome) {
        self.epoch(name, e).md.record(outcome, present_after);
    }
}
