//! `backup` and `restore`. A backup is a data directory (the redb file and the segment files)
//! plus `BACKUP.json`, the manifest index-svc sent last: every file's size and SHA-256. `backup`
//! checks each file against it as it lands; `restore` checks them all again before copying into
//! a fresh data directory, so a truncated or altered backup is refused, never half-restored.
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::IndexClient;
use super::render::{out, out_json};

const MANIFEST: &str = "BACKUP.json";

/// A directory that is absent or empty (created).
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        ensure!(dir.read_dir()?.next().is_none(), "{} is not empty", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))
}

/// A relative path inside the backup: no `..`, no root.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    ensure!(!rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))), "unsafe path {rel:?} in the backup");
    Ok(dir.join(p))
}

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

struct Landing {
    path: String,
    file: std::fs::File,
    hash: Sha256,
    bytes: u64,
}

pub async fn backup(client: &mut IndexClient, out_dir: &Path, json: bool) -> Result<()> {
    fresh_dir(out_dir)?;
    let started = std::time::Instant::now();
    let mut stream = client.backup().await?;
    let mut landed: Vec<(String, u64, String)> = Vec::new();
    let mut current: Option<Landing> = None;
    let mut manifest: Option<Value> = None;
    let finish = |l: Landing, landed: &mut Vec<(String, u64, String)>| -> Result<()> {
        l.file.sync_all()?;
        landed.push((l.path, l.bytes, hex(l.hash.finalize())));
        Ok(())
    };
    while let Some(chunk) = stream.message().await.map_err(|s| client.status(&s))? {
        if !chunk.manifest.is_empty() {
            manifest = Some(serde_json::from_str(&chunk.manifest).context("the backup's manifest")?);
            break;
        }
        if current.as_ref().is_none_or(|c| c.path != chunk.path) {
            if let Some(done) = current.take() {
                finish(done, &mut landed)?;
            }
            let path = inside(out_dir, &chunk.path)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let file = std::fs::File::create(&path).with_context(|| format!("create {}", path.display()))?;
            current = Some(Landing { path: chunk.path.clone(), file, hash: Sha256::new(), bytes: 0 });
        }
        if let Some(c) = current.as_mut() {
            c.file.write_all(&chunk.data)?;
            c.hash.update(&chunk.data);
            c.bytes += chunk.data.len() as u64;
        }
    }
    if let Some(done) = current.take() {
        finish(done, &mut landed)?;
    }
    let manifest = manifest.ok_or_else(|| anyhow!("the backup stream ended before its manifest: incomplete, do not use {}", out_dir.display()))?;
    let listed = files(&manifest)?;
    ensure!(listed.len() == landed.len(), "the manifest lists {} files, {} arrived", listed.len(), landed.len());
    for ((path, bytes, sha), got) in listed.iter().zip(&landed) {
        ensure!((path, bytes, sha) == (&got.0, &got.1, &got.2), "{path} arrived damaged ({} bytes, sha256 {})", got.1, got.2);
    }
    std::fs::write(out_dir.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    std::fs::File::open(out_dir)?.sync_all()?;
    let bytes: u64 = landed.iter().map(|l| l.1).sum();
    if json {
        out_json(&manifest)?;
    } else {
        out(&format!(
            "✅ Backed up {} indexes ({} vectors, {} segments, {:.1} MB) from {} to {} in {:.1}s",
            manifest["indexes"], manifest["vectors"], manifest["segments"], bytes as f64 / 1e6, client.url(), out_dir.display(), started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// (path, bytes, sha256) of every file the manifest lists.
fn files(manifest: &Value) -> Result<Vec<(String, u64, String)>> {
    ensure!(manifest["format"] == 1 || manifest["format"] == 2, "unknown backup format {}", manifest["format"]);
    manifest["files"]
        .as_array()
        .ok_or_else(|| anyhow!("manifest without files"))?
        .iter()
        .map(|f| match (f["path"].as_str(), f["bytes"].as_u64(), f["sha256"].as_str()) {
            (Some(p), Some(b), Some(s)) => Ok((p.to_owned(), b, s.to_owned())),
            _ => bail!("bad file entry {f}"),
        })
        .collect()
}

/// Size and SHA-256 of a file, read in 1 MiB pieces; with `copy_to`, written there as it is read.
fn hash_file(path: &Path, mut copy_to: Option<&mut std::fs::File>) -> Result<(u64, String)> {
    use std::io::Read;
    // A backup holds plain files only: a symlink could pull in any file of this machine.
    ensure!(std::fs::symlink_metadata(path)?.file_type().is_file(), "{} is not a regular file: not a backup's", path.display());
    let mut f = std::fs::File::open(path)?;
    let (mut hash, mut bytes, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 20]);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((bytes, hex(hash.finalize())));
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
        if let Some(out) = copy_to.as_deref_mut() {
            out.write_all(&buf[..n])?;
        }
    }
}

/// Where a restore into `to` is staged: `<to>/.restore-partial` (`to` may be a volume's mount
/// point, so it is filled, not replaced). `to` must be empty, or hold only what an interrupted
/// restore left — `.restore-partial`, and `segments` beside it (moved in before the store file,
/// which is not there: that restore never finished) — which is cleared.
fn ready_for_restore(to: &Path) -> Result<PathBuf> {
    const PARTIAL: &str = ".restore-partial";
    if to.exists() {
        let names: Vec<String> = to.read_dir()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        let interrupted = names.iter().any(|n| n == PARTIAL);
        let leftover = |n: &String| n == PARTIAL || (interrupted && n == "segments");
        ensure!(names.iter().all(leftover), "{} is not empty", to.display());
        for n in names {
            std::fs::remove_dir_all(to.join(n))?;
        }
    }
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    Ok(to.join(PARTIAL))
}

pub fn restore(from: &Path, to: &Path, json: bool) -> Result<()> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(from.join(MANIFEST)).with_context(|| format!("{} has no {MANIFEST}: not a backup", from.display()))?)?;
    let listed = files(&manifest)?;
    ensure!(
        listed.iter().any(|f| f.0 == "strato-index.redb" || f.0 == "strato-index.records"),
        "the backup has no store (strato-index.records or strato-index.redb)"
    );
    // Check everything before writing anything.
    for (path, bytes, sha) in &listed {
        let got = hash_file(&inside(from, path)?, None).with_context(|| format!("{path} is missing from the backup"))?;
        ensure!(got == (*bytes, sha.clone()), "{path} does not match the backup's manifest: damaged backup");
    }
    let store = listed.iter().map(|f| f.0.as_str()).find(|p| *p == "strato-index.records" || *p == "strato-index.redb").unwrap_or_default();
    let partial = ready_for_restore(to)?;
    std::fs::create_dir_all(partial.join("segments"))?;
    for (path, bytes, sha) in &listed {
        let dest = inside(&partial, path)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&dest)?;
        // Hashed again as it is copied: the backup may have changed since it was checked.
        let got = hash_file(&inside(from, path)?, Some(&mut out))?;
        ensure!(got == (*bytes, sha.clone()), "{path} changed while it was restored: damaged backup");
        out.sync_all()?;
    }
    std::fs::File::open(partial.join("segments"))?.sync_all()?;
    std::fs::File::open(&partial)?.sync_all()?;
    // Segments first; the store's file last: its rename is the moment the restore exists.
    std::fs::rename(partial.join("segments"), to.join("segments"))?;
    std::fs::File::open(to)?.sync_all()?;
    std::fs::rename(partial.join(store), to.join(store))?;
    std::fs::File::open(to)?.sync_all()?;
    std::fs::remove_dir_all(&partial)?;
    if json {
        out_json(&manifest)?;
    } else {
        out(&format!(
            "✅ Restored {} indexes ({} vectors, {} segments) into {}: start index-svc with --data-dir {}",
            manifest["indexes"], manifest["vectors"], manifest["segments"], to.display(), to.display()
        ));
    }
    Ok(())
}
