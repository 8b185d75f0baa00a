//! `rebalance`: after the index StatefulSet is resized, moves each index to the pod that owns it
//! under the new pod list (`crate::partition`). Without `--apply` it only prints the plan;
//! `--forget` deletes the old copies once every gateway routes by the new list.
//!
//! An index moves as what it is (index-svc `engine/moving.rs`): the source freezes it (writes
//! wait, reads go on), its row and records stream to the destination as an incoming copy, both
//! digests (every record's id, version, values and metadata, the row's counters and metadata
//! indexes with their creation points) must match, the source marks its own moved (from then on
//! it names the destination to anyone who asks, so gateways on either pod list find the index),
//! and the destination activates its copy. Every step is a durable state on a pod, read
//! back at the start of each move: a run killed anywhere is resumed by the next.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail, ensure};
use futures::StreamExt;
use strato_proto::index::v1 as pb;

use super::client::{IndexClient, normalise_url};
use super::render::{out, out_json, warn};
use crate::partition::{owner, pod_name};

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
    Forget,
    Abort,
}

struct Move {
    account: String,
    name: String,
    from: usize,
    to: usize,
    vectors: u64,
}

/// `pods`: every pod after the resize (the gateway's new `--index` list); `retiring`: pods being
/// removed (everything on them moves).
pub async fn rebalance(pods: &[String], retiring: &[String], mode: Mode, json: bool, timeout: Duration) -> Result<()> {
    let (apply, forget) = (mode == Mode::Apply, mode == Mode::Forget);
    ensure!(!pods.is_empty(), "--pods names no index-svc");
    let urls: Vec<String> = pods.iter().chain(retiring).map(|u| normalise_url(u)).collect();
    let names: Vec<String> = urls[..pods.len()].iter().map(|u| pod_name(u)).collect();
    let mut clients = Vec::new();
    for url in &urls {
        clients.push(IndexClient::connect(url, "", timeout).await?);
    }
    if forget {
        return forget_moved(&mut clients, &urls, json).await;
    }
    if mode == Mode::Abort {
        return abort(&mut clients, &urls, json).await;
    }
    // Every index not on its owner; a moved one too while its destination has not activated it
    // (a run stopped between the two steps).
    let mut moves = Vec::new();
    for (i, iref, d) in every_index(&mut clients).await? {
        let to = owner(names.iter().map(String::as_str), &iref.account, &iref.name);
        if to == i || d.state == "incoming" {
            continue; // in place; or arriving here (its source plans it), or abandoned (`--abort`)
        }
        // Moved and served there — or deleted there since: never copied back.
        if d.state == "moved" && matches!(clients[to].get_index_digest(iref.clone()).await?.state.as_str(), "active" | "absent") {
            continue;
        }
        moves.push(Move { account: iref.account, name: iref.name, from: i, to, vectors: d.vectors });
    }
    let plan: Vec<_> = moves
        .iter()
        .map(|m| serde_json::json!({"account": m.account, "index": m.name, "from": urls[m.from], "to": urls[m.to], "vectors": m.vectors}))
        .collect();
    if !json {
        out(&format!("{} index(es) to move{}", moves.len(), if apply { "" } else { " (dry run: --apply moves them)" }));
        for p in &plan {
            out(&format!("  {}/{}: {} → {} ({} vectors)", p["account"].as_str().unwrap_or(""), p["index"].as_str().unwrap_or(""), p["from"].as_str().unwrap_or(""), p["to"].as_str().unwrap_or(""), p["vectors"]));
        }
    }
    if apply {
        for m in &moves {
            let started = Instant::now();
            let n = move_index(&mut clients, &urls, m).await?;
            if !json {
                out(&format!("  moved {}/{} ({n} vectors, digests equal) in {:.1}s", m.account, m.name, started.elapsed().as_secs_f64()));
            }
        }
        if !json && !moves.is_empty() {
            out("Once every gateway lists only the new pods (drop --index-previous), delete the old copies: the same command with --forget instead of --apply.");
        }
    }
    if json {
        out_json(&serde_json::json!({"moves": plan, "applied": apply}))?;
    }
    Ok(())
}

/// One index from `m.from` to `m.to`, resuming whatever state an earlier run left. Returns its
/// vector count. The order keeps one copy authoritative at every moment: the source is marked
/// moved only once the destination holds an equal copy, and the copy is activated only after
/// that (meanwhile the destination answers INDEX_MOVING, which gateways wait out), so no write
/// can land on one copy while another serves reads.
async fn move_index(clients: &mut [IndexClient], urls: &[String], m: &Move) -> Result<u64> {
    let iref = pb::IndexRef { account: m.account.clone(), name: m.name.clone() };
    let dest = urls[m.to].clone();
    let step = |state: &str| pb::MoveRequest { account: m.account.clone(), name: m.name.clone(), state: state.to_owned(), to: dest.clone() };
    let mut src = clients[m.from].get_index_digest(iref.clone()).await?;
    match src.state.as_str() {
        "active" => src = clients[m.from].set_move_state(step("frozen")).await?,
        "frozen" | "moved" if src.to == dest => {}
        state => bail!("{}/{} is {state} (to {:?}) on {}: not a move to {dest}; thaw it with index-svc SetMoveState active first", m.account, m.name, src.to, urls[m.from]),
    }
    let there = clients[m.to].get_index_digest(iref.clone()).await?;
    match there.state.as_str() {
        // Activated by a run that stopped right after: done. Absent after its source was marked
        // moved (which needs a complete copy there): deleted there since; never copied back.
        "active" | "absent" if src.state == "moved" => return Ok(src.vectors),
        "active" => bail!("{}/{} exists on both {} and {dest}: a twin made outside this move; delete one", m.account, m.name, urls[m.from]),
        "incoming" if (there.vectors, &there.digest, &there.last_mutation) == (src.vectors, &src.digest, &src.last_mutation) => {}
        _ => {
            let copied = copy(clients, m, &iref).await?;
            ensure!(
                (copied.vectors, &copied.digest, &copied.last_mutation) == (src.vectors, &src.digest, &src.last_mutation),
                "{}/{}: the copy on {dest} ({} vectors) does not match the source ({} vectors); the source stays frozen, run again",
                m.account,
                m.name,
                copied.vectors,
                src.vectors
            );
        }
    }
    if src.state != "moved" {
        clients[m.from].set_move_state(step("moved")).await?;
    }
    clients[m.to].activate_index(iref).await?;
    Ok(src.vectors)
}

/// Streams the frozen index from its source into the destination's incoming copy.
async fn copy(clients: &mut [IndexClient], m: &Move, iref: &pb::IndexRef) -> Result<pb::IndexDigest> {
    let records = clients[m.from].export_index(iref.clone()).await?;
    let failed: Arc<Mutex<Option<tonic::Status>>> = Arc::default();
    let seen = failed.clone();
    let stream = records.take_while(move |r| {
        let ok = match r {
            Ok(_) => true,
            Err(s) => {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
                false
            }
        };
        std::future::ready(ok)
    });
    let stream = stream.filter_map(|r| std::future::ready(r.ok()));
    let result = clients[m.to].import_index(stream).await;
    if let Some(s) = failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(anyhow!("reading {}/{} from its source failed: {}", m.account, m.name, s.message()));
    }
    result
}

/// Every index on every pod, moved ones and incoming copies included, with its move state:
/// (pod, its ref, its digest).
async fn every_index(clients: &mut [IndexClient]) -> Result<Vec<(usize, pb::IndexRef, pb::IndexDigest)>> {
    let mut all = Vec::new();
    for i in 0..clients.len() {
        for ix in clients[i].list_indexes(pb::ListIndexesRequest { account: String::new(), all_accounts: true, include_moved: true }).await?.indexes {
            let iref = pb::IndexRef { account: ix.account, name: ix.name };
            let d = clients[i].get_index_digest(iref.clone()).await?;
            all.push((i, iref, d));
        }
    }
    Ok(all)
}

/// Deletes the old copy of every moved index whose destination serves it.
async fn forget_moved(clients: &mut [IndexClient], urls: &[String], json: bool) -> Result<()> {
    let mut forgotten = Vec::new();
    for (i, iref, d) in every_index(clients).await? {
        if d.state != "moved" {
            continue;
        }
        let Some(dest) = urls.iter().position(|u| *u == d.to) else {
            bail!("{}/{} moved to {}, which is not in --pods: name every pod", iref.account, iref.name, d.to);
        };
        // Served there, or deleted there since; an incoming copy is not served yet.
        if clients[dest].get_index_digest(iref.clone()).await?.state == "incoming" {
            warn(&format!("{}/{} moved to {} but is not served there yet: run --apply, then --forget again", iref.account, iref.name, d.to));
            continue;
        }
        clients[i].forget_moved(iref.clone()).await?;
        forgotten.push(serde_json::json!({"account": iref.account, "index": iref.name, "from": urls[i], "movedTo": d.to}));
    }
    if json {
        out_json(&serde_json::json!({ "forgotten": forgotten }))?;
    } else {
        out(&format!("Deleted the old copies of {} moved index(es)", forgotten.len()));
    }
    Ok(())
}

/// Abandons unfinished moves: frozen indexes thawed where they are, incoming copies deleted. A
/// source already marked moved is past the point of return (its destination holds the copy that
/// counts): finish that one with `--apply`.
async fn abort(clients: &mut [IndexClient], urls: &[String], json: bool) -> Result<()> {
    let mut undone = Vec::new();
    for (i, iref, d) in every_index(clients).await? {
        let what = match d.state.as_str() {
            "frozen" => {
                clients[i].set_move_state(pb::MoveRequest { account: iref.account.clone(), name: iref.name.clone(), state: "active".into(), to: String::new() }).await?;
                "thawed"
            }
            "incoming" => {
                clients[i].forget_moved(iref.clone()).await?;
                "incoming copy deleted"
            }
            "moved" => {
                warn(&format!("{}/{} on {} has moved to {} already: finish it with --apply", iref.account, iref.name, urls[i], d.to));
                continue;
            }
            _ => continue,
        };
        undone.push(serde_json::json!({"account": iref.account, "index": iref.name, "pod": urls[i], "done": what}));
    }
    if json {
        out_json(&serde_json::json!({ "aborted": undone }))?;
    } else {
        out(&format!("Abandoned {} unfinished move step(s)", undone.len()));
        for u in &undone {
            out(&format!("  {}/{} on {}: {}", u["account"].as_str().unwrap_or(""), u["index"].as_str().unwrap_or(""), u["pod"].as_str().unwrap_or(""), u["done"].as_str().unwrap_or("")));
        }
    }
    Ok(())
}
