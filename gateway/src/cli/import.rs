//! `import`: a Vectorize index into Strato, and `export`: a Strato index as NDJSON that
//! `wrangler vectorize insert` (and `strato-vectorize insert`) accepts, so leaving is as easy.
//!
//! Import, in order: the source's config and metadata indexes; the target index (created with
//! that config, or the one an earlier run made); every metadata index, *before* any vector; then
//! pages of ids (`list`, 1000 at a time) whose vectors are fetched (`get_by_ids`) and upserted.
//! After each page the checkpoint records the cursor, so a rerun resumes where the last stopped
//! (a cursor that expired meanwhile restarts the listing; upserts make that harmless). Last, a
//! verification: both sides' id sets listed again and compared, and a sample of vectors compared
//! value for value; a difference (the source written during the import) fails the command and
//! resets the checkpoint, so the next run copies again and catches up.
//!
//! Filterability. Vectorize filters a vector on a metadata index only if it was written after
//! the index was created, and its API does not say which vectors those are. Import creates every
//! metadata index first, so every imported vector is filterable: a filtered query can return
//! vectors Cloudflare would leave out — the ones Cloudflare's docs tell you to upsert again to
//! make filterable. Guessing the other way would silently lose matches.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use strato_proto::index::v1 as pb;

use super::args::{ExportArgs, ImportArgs};
use super::client::IndexClient;
use super::render::{Progress, out, out_json, warn};
use super::source::Source;
use crate::shapes::VectorJson;

/// Ids listed per page (the API's maximum).
const PAGE: u32 = 1000;
/// Vectors compared value for value in the verification.
const SAMPLE: usize = 200;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    source: String,
    target: String,
    /// The cursor of the next page; None: start (again) from the first.
    cursor: Option<String>,
    copied: u64,
}

impl Checkpoint {
    fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| format!("{} is not an import checkpoint", path.display()))?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Written whole or not at all.
    fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("write {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

pub async fn import(target: &mut IndexClient, a: ImportArgs, json: bool, timeout: Duration) -> Result<()> {
    let from_index = a.from_index.clone().unwrap_or_else(|| a.name.clone());
    let source = Source::new(&a.from_url, &a.from_account, &from_index, a.from_token.clone(), a.retries, timeout)?;
    let checkpoint_path = a.checkpoint.clone().unwrap_or_else(|| PathBuf::from(format!("{}.import.json", a.name)));
    let target_name = format!("{}/{}", target.url(), a.name);
    let mut cp = match Checkpoint::load(&checkpoint_path)? {
        Some(cp) => {
            ensure!(
                cp.source == source.url() && cp.target == target_name,
                "{} belongs to another import ({} → {}); pass another --checkpoint",
                checkpoint_path.display(),
                cp.source,
                cp.target
            );
            if !json {
                out(&format!("Resuming the import recorded in {} ({} vectors copied so far)", checkpoint_path.display(), cp.copied));
            }
            cp
        }
        None => Checkpoint { source: source.url().to_owned(), target: target_name, cursor: None, copied: 0 },
    };
    let resuming = cp.copied > 0 || cp.cursor.is_some();
    let started = Instant::now();
    let config = source.index().await?;
    prepare_target(target, &a.name, &config, resuming).await?;
    cp.save(&checkpoint_path)?;

    // Copy, page by page.
    let mut progress: Option<Progress> = None;
    let copied_before = cp.copied;
    let mut cursors = Cursors::default();
    loop {
        let page = match source.list(cp.cursor.as_deref(), PAGE).await {
            Ok(p) => p,
            Err(e) if cp.cursor.is_some() => {
                warn(&format!("the recorded cursor was refused ({e:#}); listing again from the start"));
                cp.cursor = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        let bar = progress.get_or_insert_with(|| Progress::new(page.total as usize, "vectors"));
        for ids in page.ids.chunks(a.get_batch as usize) {
            let vectors = source.get(ids).await?;
            if !vectors.is_empty() {
                target.upsert(pb::WriteRequest { account: target.account(), index: a.name.clone(), vectors }).await?;
            }
            cp.copied += ids.len() as u64;
            bar.set(cp.copied as usize);
        }
        cp.cursor = page.next_cursor;
        cursors.check(cp.cursor.as_deref())?;
        cp.save(&checkpoint_path)?;
        if cp.cursor.is_none() {
            break;
        }
    }
    drop(progress);
    let copying = started.elapsed();

    let check = verify(&source, target, &a.name).await?;
    if !check.ok() {
        // The next run copies everything again (upserts) and catches up with the source.
        Checkpoint { cursor: None, copied: 0, ..cp }.save(&checkpoint_path)?;
        bail!(
            "verification failed: {} id(s) only in the source, {} only in Strato, {} of {} sampled vector(s) differ (was the source written during the import?); run the same command again to catch up",
            check.missing,
            check.extra,
            check.differ,
            check.sampled
        );
    }
    std::fs::remove_file(&checkpoint_path).ok();
    let rate = (cp.copied - copied_before) as f64 / copying.as_secs_f64().max(1e-3);
    let summary = serde_json::json!({
        "index": a.name, "source": source.url(), "vectors": check.ids, "copied": cp.copied,
        "metadataIndexes": config.metadata_indexes.len(), "seconds": started.elapsed().as_secs_f64(),
        "vectorsPerSecond": rate, "verified": {"ids": check.ids, "sampled": check.sampled},
    });
    if json {
        out_json(&summary)?;
    } else {
        out(&format!(
            "✅ Imported {} vectors ({} metadata indexes) from {} into {} in {:.1}s ({:.0} vectors/s); verified: the same {} ids on both sides, {} sampled vectors equal",
            check.ids,
            config.metadata_indexes.len(),
            source.url(),
            a.name,
            started.elapsed().as_secs_f64(),
            rate,
            check.ids,
            check.sampled
        ));
    }
    Ok(())
}

/// The target index with the source's config and every metadata index, before any vector.
async fn prepare_target(target: &mut IndexClient, name: &str, config: &super::source::SourceIndex, resuming: bool) -> Result<()> {
    let iref = target.index_ref(name);
    match target.get_index(iref.clone()).await {
        Ok(info) => {
            ensure!(
                info.dimensions == config.dimensions && info.metric == config.metric as i32,
                "{name} exists in Strato with another config ({} dimensions, {}); import into a new name",
                info.dimensions,
                crate::shapes::metric_name(info.metric)
            );
            let stats = target.describe_index(iref.clone()).await?;
            ensure!(resuming || stats.vector_count == 0, "{name} already exists in Strato and holds {} vectors; import into a new name (or delete it)", stats.vector_count);
        }
        Err(_) => {
            let req = pb::CreateIndexRequest { account: target.account(), name: name.to_owned(), dimensions: config.dimensions, metric: config.metric as i32, description: config.description.clone() };
            target.create_index(req).await?;
        }
    }
    let have: Vec<String> = target.list_metadata_indexes(iref).await?.metadata_indexes.into_iter().map(|m| m.property_name).collect();
    for (property, kind) in &config.metadata_indexes {
        if have.contains(property) {
            continue; // made by the run this one resumes
        }
        let req = pb::MetadataIndexRequest { account: target.account(), index: name.to_owned(), property_name: property.clone(), index_type: *kind as i32 };
        target.create_metadata_index(req).await.with_context(|| format!("creating the metadata index on {property:?}"))?;
    }
    Ok(())
}

/// The cursors a listing has been given: one seen twice would list forever.
#[derive(Default)]
struct Cursors(std::collections::HashSet<String>);

impl Cursors {
    fn check(&mut self, next: Option<&str>) -> Result<()> {
        if let Some(c) = next {
            ensure!(self.0.insert(c.to_owned()), "the source gave the cursor {c:?} twice: its listing would never end");
        }
        Ok(())
    }
}

struct Verified {
    ids: usize,
    missing: usize,
    extra: usize,
    sampled: usize,
    differ: usize,
}

impl Verified {
    fn ok(&self) -> bool {
        self.missing == 0 && self.extra == 0 && self.differ == 0
    }
}

/// Both id sets, listed again, and a spread sample of vectors compared whole.
async fn verify(source: &Source, target: &mut IndexClient, name: &str) -> Result<Verified> {
    let mut theirs = Vec::new();
    let (mut cursor, mut cursors) = (None, Cursors::default());
    loop {
        let page = source.list(cursor.as_deref(), PAGE).await?;
        theirs.extend(page.ids);
        cursor = page.next_cursor;
        cursors.check(cursor.as_deref())?;
        if cursor.is_none() {
            break;
        }
    }
    let ours = all_ids(target, name).await?;
    theirs.sort();
    theirs.dedup();
    let in_ours: std::collections::HashSet<&String> = ours.iter().collect();
    let in_theirs: std::collections::HashSet<&String> = theirs.iter().collect();
    let missing = theirs.iter().filter(|i| !in_ours.contains(i)).count();
    let extra = ours.iter().filter(|i| !in_theirs.contains(i)).count();
    let step = (theirs.len() / SAMPLE).max(1);
    let sample: Vec<String> = theirs.iter().step_by(step).take(SAMPLE).cloned().collect();
    let mut differ = 0;
    for ids in sample.chunks(100) {
        let a = source.get(ids).await?;
        let b = target.get_by_ids(pb::IdsRequest { account: target.account(), index: name.to_owned(), ids: ids.to_vec() }).await?.vectors;
        let by_id: std::collections::HashMap<&str, &pb::Vector> = b.iter().map(|v| (v.id.as_str(), v)).collect();
        for v in &a {
            let same = by_id.get(v.id.as_str()).is_some_and(|w| {
                w.namespace == v.namespace && w.metadata == v.metadata && w.values.len() == v.values.len() && w.values.iter().zip(&v.values).all(|(x, y)| x.to_bits() == y.to_bits())
            });
            differ += usize::from(!same);
        }
    }
    Ok(Verified { ids: theirs.len(), missing, extra, sampled: sample.len(), differ })
}

async fn all_ids(c: &mut IndexClient, name: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c.list_vectors(pb::ListVectorsRequest { account: c.account(), index: name.to_owned(), count: PAGE, cursor: cursor.clone() }).await?;
        ids.extend(page.ids);
        if !page.is_truncated || page.next_cursor.is_empty() {
            return Ok(ids);
        }
        cursor = page.next_cursor;
    }
}

/// Every vector of an index as NDJSON lines (`{"id","values","namespace","metadata"}`, values
/// as Vectorize prints them), to a file (written beside and renamed: whole or absent) or stdout.
pub async fn export(c: &mut IndexClient, a: ExportArgs, json: bool) -> Result<()> {
    let partial = a.out.with_extension("ndjson.partial");
    let result = export_to(c, a, json).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn export_to(c: &mut IndexClient, a: ExportArgs, json: bool) -> Result<()> {
    let iref = c.index_ref(&a.name);
    let info = c.get_index(iref.clone()).await?;
    let metadata = c.list_metadata_indexes(iref).await?.metadata_indexes;
    let to_stdout = a.out.as_os_str() == "-";
    let tmp = a.out.with_extension("ndjson.partial");
    let mut w: Box<dyn Write> = if to_stdout {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?))
    };
    let (mut n, mut cursor) = (0usize, String::new());
    loop {
        let page = c.list_vectors(pb::ListVectorsRequest { account: c.account(), index: a.name.clone(), count: PAGE, cursor: cursor.clone() }).await?;
        if !page.ids.is_empty() {
            let got = c.get_by_ids(pb::IdsRequest { account: c.account(), index: a.name.clone(), ids: page.ids }).await?.vectors;
            for v in got {
                serde_json::to_writer(&mut w, &VectorJson(v))?;
                w.write_all(b"\n")?;
                n += 1;
            }
        }
        if !page.is_truncated || page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    w.flush()?;
    drop(w);
    if !to_stdout {
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &a.out).map_err(|e| anyhow!("rename {} to {}: {e}", tmp.display(), a.out.display()))?;
    }
    let metric = crate::shapes::metric_name(info.metric);
    let recreate: Vec<String> = std::iter::once(format!("wrangler vectorize create {} --dimensions {} --metric {metric}", a.name, info.dimensions))
        .chain(metadata.iter().map(|m| {
            format!("wrangler vectorize create-metadata-index {} --property-name {} --type {}", a.name, m.property_name, crate::shapes::metadata_type_name(m.index_type))
        }))
        .chain(std::iter::once(format!("wrangler vectorize insert {} --file {}", a.name, a.out.display())))
        .collect();
    if json && !to_stdout {
        out_json(&serde_json::json!({"index": a.name, "vectors": n, "file": a.out, "recreate": recreate}))?;
    } else {
        // With the NDJSON on stdout, the summary goes to stderr.
        let say = |s: &str| if to_stdout { eprintln!("{s}") } else { out(s) };
        say(&format!("✅ Exported {n} vectors of {} to {}. To load them into Vectorize:", a.name, a.out.display()));
        for line in &recreate {
            say(&format!("  {line}"));
        }
    }
    Ok(())
}
