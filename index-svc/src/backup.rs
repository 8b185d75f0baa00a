//! Backup while serving: `Store::copy_into` makes a consistent data directory in a scratch
//! folder inside the data directory (same filesystem, so segment files are hard links, not
//! copies), this module streams its files in chunks with a manifest of sizes and SHA-256 sums,
//! and removes the folder when the stream ends or the caller goes away.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use strato_proto::index::v1 as pb;
use tokio::sync::mpsc;

use crate::error::IndexError;
use crate::store::Store;

/// Bytes per streamed chunk (well under the 64 MiB message limit, large enough to keep the
/// per-message cost small).
const CHUNK: usize = 1 << 20;

/// Removes the scratch folder however the backup ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts a backup; its chunks arrive on the receiver (an error ends the stream).
pub fn start(store: Arc<Store>, data_dir: &Path) -> mpsc::Receiver<Result<pb::BackupChunk, IndexError>> {
    let (tx, rx) = mpsc::channel(4);
    let scratch = data_dir.join(format!(".backup-{}", uuid::Uuid::new_v4().simple()));
    std::thread::spawn(move || {
        let scratch = Scratch(scratch);
        if let Err(e) = run(&store, &scratch.0, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn run(store: &Store, dir: &Path, tx: &mpsc::Sender<Result<pb::BackupChunk, IndexError>>) -> Result<(), IndexError> {
    let started = std::time::Instant::now();
    let copied = store.copy_into(dir)?;
    let mut files = vec![PathBuf::from("strato-index.redb")];
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))?.flatten().map(|e| Path::new("segments").join(e.file_name())).collect();
    segs.sort();
    files.extend(segs);
    let mut listed = Vec::new();
    for rel in files {
        let path = rel.to_string_lossy().into_owned();
        let mut f = std::fs::File::open(dir.join(&rel))?;
        let (mut hash, mut bytes, mut buf) = (Sha256::new(), 0u64, vec![0u8; CHUNK]);
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 && bytes > 0 {
                break;
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
            let chunk = pb::BackupChunk { path: path.clone(), data: buf[..n].to_vec(), manifest: String::new() };
            if tx.blocking_send(Ok(chunk)).is_err() {
                return Ok(()); // the caller went away
            }
            if n == 0 {
                break; // an empty file still gets one (empty) chunk
            }
        }
        let sha: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        listed.push(serde_json::json!({"path": path, "bytes": bytes, "sha256": sha}));
    }
    let manifest = serde_json::json!({
        "format": 1,
        "indexes": copied.indexes,
        "vectors": copied.vectors,
        "segments": copied.segments,
        "files": listed,
    });
    tracing::info!(indexes = copied.indexes, vectors = copied.vectors, segments = copied.segments, ms = started.elapsed().as_millis() as u64, "backup streamed");
    let _ = tx.blocking_send(Ok(pb::BackupChunk { path: String::new(), data: Vec::new(), manifest: manifest.to_string() }));
    Ok(())
}
