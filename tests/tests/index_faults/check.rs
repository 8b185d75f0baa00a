//! The check: observe every index name through the API, compare with the oracle, and (when the
//! observation is allowed) make it the oracle's new baseline. Run after each restart, and once on
//! the live service after the workload has stopped cleanly.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::Value as Json;
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use strato_tests::json::{from_struct, normalize};
use tonic::Code;
use tonic::transport::Channel;

use crate::oracle::{self, IDS_PER_WRITER, MAX_WRITERS, Oracle, dims_of, id_of, parse_id, show_epoch, show_version};
use crate::rng::Rng;

pub type Client = VectorIndexClient<Channel>;

/// What the service shows of one index name.
struct Seen {
    /// Dimensions per ListIndexes / per GetIndex (None: not there).
    listed: Option<u32>,
    got: Option<u32>,
    contents: Option<Contents>,
}

struct Contents {
    described: pb::IndexStats,
    /// ListVectors, every page, in order; and each page's total_count.
    listed_ids: Vec<String>,
    list_totals: Vec<u64>,
    /// GetByIds of every id the test could have written, and of every listed id.
    vectors: Vec<pb::Vector>,
    /// Query topK=100 (exact: above the only ef tier).
    queried: Vec<String>,
    metadata_indexes: Vec<pb::MetadataIndex>,
}

/// Checks every index name. Returns the violations (with those the workload recorded), each
/// prefixed with the seed, the round and `phase`, and a summary of what was seen.
pub async fn check(url: &str, oracle: &Mutex<Oracle>, phase: &str, rng: &mut Rng) -> (Vec<String>, String) {
    let (seed, round, names) = {
        let o = oracle.lock().expect("oracle lock");
        (o.seed, o.round, o.names.keys().cloned().collect::<Vec<_>>())
    };
    let prefix = format!("[seed {seed} round {round}, {phase}]");
    let mut local = Vec::new();
    let seen = match observe_all(url, &names, rng).await {
        Ok(seen) => seen,
        Err(e) => vec![(String::new(), Err(e))],
    };
    let mut o = oracle.lock().expect("oracle lock");
    let mut summary = Vec::new();
    for (name, s) in seen {
        match s {
            Ok(s) => summary.push(format!("{name}: {}", judge(&mut o, &name, s, &mut local))),
            Err(e) => local.push(e),
        }
    }
    let mut all = std::mem::take(&mut o.violations);
    all.extend(local.into_iter().map(|v| format!("{prefix} {v}")));
    (all, summary.join(", "))
}

type Observed = Vec<(String, Result<Seen, String>)>;

async fn observe_all(url: &str, names: &[String], rng: &mut Rng) -> Result<Observed, String> {
    let mut c = VectorIndexClient::connect(url.to_owned()).await.map_err(|e| format!("connect to {url}: {e}"))?;
    let list = c.list_indexes(pb::ListIndexesRequest { account: String::new(), all_accounts: false, include_moved: false }).await.map_err(|s| format!("ListIndexes failed: {s:?}"))?.into_inner();
    let mut listed = BTreeMap::new();
    for info in list.indexes {
        if !names.contains(&info.name) || listed.insert(info.name.clone(), info.dimensions).is_some() {
            return Err(format!("ListIndexes lists an index this test never created, or one twice: {:?}", info.name));
        }
    }
    let mut out = Vec::new();
    for name in names {
        let seen = observe(&mut c, name, listed.get(name).copied(), rng).await;
        out.push((name.clone(), seen));
    }
    Ok(out)
}

async fn observe(c: &mut Client, name: &str, listed: Option<u32>, rng: &mut Rng) -> Result<Seen, String> {
    let fail = |what: &str, s: tonic::Status| format!("index {name}: {what} failed: {:?} {}", s.code(), s.message());
    let iref = pb::IndexRef { account: String::new(), name: name.to_owned() };
    let got = match c.get_index(iref.clone()).await {
        Ok(info) => Some(info.into_inner().dimensions),
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => return Err(fail("GetIndex", s)),
    };
    let Some(dims) = got else { return Ok(Seen { listed, got, contents: None }) };
    let index = name.to_owned();
    let described = c.describe_index(iref.clone()).await.map_err(|s| fail("DescribeIndex", s))?.into_inner();
    let (mut listed_ids, mut list_totals, mut cursor) = (Vec::new(), Vec::new(), String::new());
    for _page in 0..100 {
        let req = pb::ListVectorsRequest { account: String::new(), index: index.clone(), count: 1000, cursor: cursor.clone() };
        let page = c.list_vectors(req).await.map_err(|s| fail("ListVectors", s))?.into_inner();
        listed_ids.extend(page.ids);
        list_totals.push(page.total_count);
        if !page.is_truncated {
            break;
        }
        cursor = page.next_cursor;
    }
    let mut ids: BTreeSet<String> = (0..MAX_WRITERS).flat_map(|w| (0..IDS_PER_WRITER).map(move |n| id_of(w, n))).collect();
    ids.extend(listed_ids.iter().cloned());
    let req = pb::IdsRequest { account: String::new(), index: index.clone(), ids: ids.into_iter().collect() };
    let vectors = c.get_by_ids(req).await.map_err(|s| fail("GetByIds", s))?.into_inner().vectors;
    let req = pb::QueryRequest {
        account: String::new(),
        index: index.clone(),
        vector: rng.vector(dims as usize),
        top_k: 100,
        return_metadata: pb::ReturnMetadata::None as i32,
        ..Default::default()
    };
    let queried = c.query(req).await.map_err(|s| fail("Query", s))?.into_inner().matches.into_iter().map(|m| m.id).collect();
    let metadata_indexes = c.list_metadata_indexes(iref).await.map_err(|s| fail("ListMetadataIndexes", s))?.into_inner().metadata_indexes;
    Ok(Seen { listed, got, contents: Some(Contents { described, listed_ids, list_totals, vectors, queried, metadata_indexes }) })
}

fn show_dims(d: Option<u32>) -> String {
    d.map_or_else(|| "no index".to_owned(), |d| format!("an index of {d} dims"))
}

/// Ids seen more than once.
fn duplicates(ids: &[String]) -> Vec<&String> {
    let mut seen = BTreeSet::new();
    ids.iter().filter(|id| !seen.insert(*id)).collect()
}

/// Returns what was seen, in short.
fn judge(o: &mut Oracle, name: &str, seen: Seen, v: &mut Vec<String>) -> String {
    let round = o.round;
    let n = o.name(name);
    if seen.listed != seen.got {
        v.push(format!("index {name}: ListIndexes shows {} but GetIndex shows {}", show_dims(seen.listed), show_dims(seen.got)));
    }
    let (Some(dims), Some(c)) = (seen.got, seen.contents) else {
        if !n.live.allows(&None) {
            v.push(format!("index {name}: observed absent; allowed: {}", n.live.describe(show_epoch)));
        }
        for e in n.epochs.keys() {
            n.dead.entry(*e).or_insert_with(|| format!("the index was absent in the check of round {round}"));
        }
        n.live.settle(None);
        return "absent".into();
    };
    // Which epoch is this? The allowed, not deleted one with these dimensions (epochs with equal
    // dimensions are 3 apart, and an epoch is created only after the previous one is deleted).
    let tag = c.vectors.iter().find_map(|x| x.metadata.as_ref().map(from_struct)).and_then(|m| m["epoch"].as_u64());
    let candidates: Vec<u32> = n.live.allowed().into_iter().flatten().filter(|e| dims_of(*e) == dims as usize && !n.dead.contains_key(e)).collect();
    let Some(e) = candidates.iter().copied().find(|e| Some(u64::from(*e)) == tag).or(candidates.last().copied()) else {
        let dead: Vec<String> = n.dead.iter().filter(|(e, _)| dims_of(**e) == dims as usize).map(|(e, why)| format!("epoch {e}: {why}")).collect();
        v.push(format!(
            "index {name}: observed {} ({}), which is no allowed state: allowed {}; deleted epochs with these dims: [{}]",
            show_dims(Some(dims)),
            tag.map_or_else(|| "no vectors".to_owned(), |t| format!("vectors tagged epoch {t}")),
            n.live.describe(show_epoch),
            dead.join("; ")
        ));
        return format!("{dims} dims, unexpected");
    };
    let dead = n.dead.clone();
    let ep = n.epochs.get_mut(&e).expect("allowed epochs are in the oracle");
    let at = format!("index {name} (epoch {e}, {dims} dims)");
    if c.described.dimensions != dims {
        v.push(format!("{at}: DescribeIndex says {} dims", c.described.dimensions));
    }

    // Every vector is one this test wrote, exactly as written, in an allowed state.
    let mut present: BTreeMap<String, u32> = BTreeMap::new();
    for x in &c.vectors {
        let id = &x.id;
        let Some((w, k)) = parse_id(id) else {
            v.push(format!("{at}: GetByIds returned id {id:?}, which this test never writes"));
            continue;
        };
        let md = x.metadata.as_ref().map(from_struct).unwrap_or(Json::Null);
        let (Some(te), Some(tw), Some(tv)) = (md["epoch"].as_u64(), md["w"].as_u64(), md["v"].as_u64()) else {
            v.push(format!("{at} id {id}: metadata {md} is not what this test writes"));
            continue;
        };
        if te != u64::from(e) {
            let why = dead.get(&(te as u32)).map_or("not deleted", String::as_str);
            v.push(format!("{at} id {id}: holds v{tv} of epoch {te} ({why}): another epoch's vector"));
            continue;
        }
        let ver = tv as u32;
        let want = oracle::vector(e, w, k, ver);
        let bits = |xs: &[f32]| xs.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        if tw != w as u64 || bits(&x.values) != bits(&want.values) {
            v.push(format!(
                "{at} id {id} v{ver}: values (or writer tag {tw}) differ from what was written: observed {:?}, written {:?}",
                x.values, want.values
            ));
        }
        if x.namespace != want.namespace {
            v.push(format!("{at} id {id} v{ver}: namespace {:?}, written {:?}", x.namespace, want.namespace));
        }
        if md != normalize(&oracle::metadata(e, w, ver)) {
            v.push(format!("{at} id {id} v{ver}: metadata {md}, written {}", oracle::metadata(e, w, ver)));
        }
        if present.insert(id.clone(), ver).is_some() {
            v.push(format!("{at}: GetByIds returned id {id} twice"));
        }
    }
    let ids: BTreeSet<String> = (0..MAX_WRITERS).flat_map(|w| (0..IDS_PER_WRITER).map(move |k| id_of(w, k))).chain(present.keys().cloned()).collect();
    let mut lost = 0;
    for id in &ids {
        let observed = present.get(id).copied();
        let st = ep.ids.get(id).cloned().unwrap_or_default();
        if !st.reg.allows(&observed) {
            v.push(format!("{at} id {id}: observed {}; allowed: {}", show_version(&observed), st.reg.describe(show_version)));
            lost += usize::from(observed.is_none());
        }
    }
    if lost > 0 && n.live.uncertain.contains(&None) {
        v.push(format!(
            "{at}: note: a DeleteIndex of unknown outcome was sent since the last check; the index is still there, so it was not deleted, yet {lost} ids lost acknowledged vectors (deleted in part?)"
        ));
    }

    // The listings agree with what is there.
    let found: BTreeSet<&String> = present.keys().collect();
    let mut agree = |what: &str, ids: &[String]| {
        let dups = duplicates(ids);
        if !dups.is_empty() {
            v.push(format!("{at}: {what} gives ids more than once: {dups:?}"));
        }
        let set: BTreeSet<&String> = ids.iter().collect();
        if set != found {
            let only: Vec<&&String> = set.difference(&found).collect();
            let missing: Vec<&&String> = found.difference(&set).collect();
            v.push(format!("{at}: {what} gives {} ids, GetByIds finds {}: only in {what}: {only:?}; missing from {what}: {missing:?}", set.len(), found.len()));
        }
    };
    agree("ListVectors", &c.listed_ids);
    agree("Query topK=100", &c.queried);
    if c.described.vector_count != found.len() as u64 {
        v.push(format!("{at}: DescribeIndex vector_count {}, GetByIds finds {}", c.described.vector_count, found.len()));
    }
    if c.list_totals.iter().any(|t| *t != found.len() as u64) {
        v.push(format!("{at}: ListVectors total_count {:?}, GetByIds finds {}", c.list_totals, found.len()));
    }
    let md = c.metadata_indexes.iter().any(|m| m.property_name == "w" && m.index_type == pb::MetadataType::Number as i32);
    if !ep.md.allows(&md) || c.metadata_indexes.iter().any(|m| m.property_name != "w") {
        v.push(format!("{at}: metadata indexes {:?}; \"w\" allowed: {}", c.metadata_indexes, ep.md.describe(|b| b.to_string())));
    }

    // Nothing unacknowledged is half there. Versions are unique, so an id showing the batch's
    // version proves the batch was applied; an id the batch wrote last that shows its last
    // acknowledged state proves it was not (unless that state is "absent" and an unacknowledged
    // delete could have landed after the batch). Both at once: a torn batch.
    for b in &ep.batches {
        let applied: Vec<&String> = b.pairs.iter().filter(|(id, ver)| present.get(id) == Some(ver)).map(|(id, _)| id).collect();
        let not_applied: Vec<String> = b
            .pairs
            .iter()
            .filter(|(id, ver)| {
                let seen = present.get(id).copied();
                ep.ids
                    .get(id)
                    .is_some_and(|s| s.last_op == b.op && seen != Some(*ver) && seen == s.reg.acked && (seen.is_some() || !s.reg.uncertain.contains(&None)))
            })
            .map(|(id, _)| format!("{id} (shows its last acknowledged state, {})", present.get(id).map_or("absent".into(), |v| format!("v{v}"))))
            .collect();
        if !applied.is_empty() && !not_applied.is_empty() {
            v.push(format!("{at}: unacknowledged {} of {:?} is half there: applied to {applied:?}, not to {not_applied:?}", b.what, b.pairs));
        }
    }

    // Reconcile: what is there is the new baseline.
    for id in ids {
        let st = ep.ids.entry(id.clone()).or_default();
        st.reg.settle(present.get(&id).copied());
    }
    ep.batches.clear();
    ep.md.settle(md);
    n.live.settle(Some(e));
    for other in n.epochs.keys().filter(|x| **x != e) {
        n.dead.entry(*other).or_insert_with(|| format!("epoch {e} was the live one in the check of round {round}"));
    }
    format!("epoch {e}, {} vectors", present.len())
}
