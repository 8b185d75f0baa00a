//! `rebalance`: after the index StatefulSet is resized, moves each index to the pod that owns it
//! under the new pod list (`crate::partition`), so the gateway (configured with that list) finds
//! it. Without `--apply` it only prints the plan.
//!
//! A move copies the index (its config, metadata indexes, then every vector with its values,
//! namespace and metadata, in pages) to the owner, checks that the owner counts as many
//! vectors, and only then deletes the source. It is idempotent: run again after an interruption,
//! it finishes what is left. Writes to an index while it moves are not carried over: stop them
//! first (README, "Resizing the index StatefulSet").
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use strato_proto::index::v1 as pb;

use super::client::{IndexClient, normalise_url};
use super::render::{out, out_json};
use crate::partition::{owner, pod_name};

struct Move {
    account: String,
    name: String,
    from: usize,
    to: usize,
    vectors: u64,
}

/// `pods`: every pod after the resize (the gateway's new `--index` list); `retiring`: pods being
/// removed (everything on them moves).
pub async fn rebalance(pods: &[String], retiring: &[String], apply: bool, json: bool, timeout: Duration) -> Result<()> {
    ensure!(!pods.is_empty(), "--pods names no index-svc");
    let urls: Vec<String> = pods.iter().chain(retiring).map(|u| normalise_url(u)).collect();
    let names: Vec<String> = urls[..pods.len()].iter().map(|u| pod_name(u)).collect();
    let mut clients = Vec::new();
    for url in &urls {
        clients.push(IndexClient::connect(url, "", timeout).await?);
    }
    let mut moves = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        for ix in c.list_indexes(pb::ListIndexesRequest { account: String::new(), all_accounts: true }).await?.indexes {
            let to = owner(names.iter().map(String::as_str), &ix.account, &ix.name);
            if to != i {
                let stats = c.describe_index(pb::IndexRef { account: ix.account.clone(), name: ix.name.clone() }).await?;
                moves.push(Move { account: ix.account, name: ix.name, from: i, to, vectors: stats.vector_count });
            }
        }
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
            move_index(&mut clients, m).await?;
            if !json {
                out(&format!("  moved {}/{}", m.account, m.name));
            }
        }
    }
    if json {
        out_json(&serde_json::json!({"moves": plan, "applied": apply}))?;
    }
    Ok(())
}

async fn move_index(clients: &mut [IndexClient], m: &Move) -> Result<()> {
    let (account, name) = (m.account.clone(), m.name.clone());
    let iref = pb::IndexRef { account: account.clone(), name: name.clone() };
    let info = clients[m.from].get_index(iref.clone()).await?;
    let create = pb::CreateIndexRequest { account: account.clone(), name: name.clone(), dimensions: info.dimensions, metric: info.metric, description: info.description.clone() };
    if let Err(e) = clients[m.to].create_index(create).await {
        // Left by an interrupted run: it must be the same index.
        let there = clients[m.to].get_index(iref.clone()).await.map_err(|_| e)?;
        ensure!(there.dimensions == info.dimensions && there.metric == info.metric, "{account}/{name} exists on the target with another config");
    }
    for mi in clients[m.from].list_metadata_indexes(iref.clone()).await?.metadata_indexes {
        let req = pb::MetadataIndexRequest { account: account.clone(), index: name.clone(), property_name: mi.property_name, index_type: mi.index_type };
        let _ = clients[m.to].create_metadata_index(req).await; // already there after a retry
    }
    let mut cursor = String::new();
    loop {
        let page = clients[m.from].list_vectors(pb::ListVectorsRequest { account: account.clone(), index: name.clone(), count: 1000, cursor: cursor.clone() }).await?;
        if !page.ids.is_empty() {
            let got = clients[m.from].get_by_ids(pb::IdsRequest { account: account.clone(), index: name.clone(), ids: page.ids }).await?;
            clients[m.to].upsert(pb::WriteRequest { account: account.clone(), index: name.clone(), vectors: got.vectors }).await?;
        }
        if !page.is_truncated || page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    let (src, dst) = (clients[m.from].describe_index(iref.clone()).await?, clients[m.to].describe_index(iref.clone()).await?);
    if src.vector_count != dst.vector_count {
        bail!("{account}/{name}: the copy counts {} vectors, the source {} (written to meanwhile?); source kept, run again", dst.vector_count, src.vector_count);
    }
    clients[m.from].delete_index(iref).await?;
    Ok(())
}
