//! Backup while serving, streamed straight from a durable snapshot: the store's records as one
//! file (`dump.rs`), then the segment files the snapshot's manifests name, read through file
//! handles opened up front (`Store::backup_view`), then a manifest of sizes and SHA-256 sums.
//! Nothing is staged on the pod's volume, no second database is opened (memory is the channel's
//! few chunks), and no lock is held while the client reads: a slow client only keeps the
//! snapshot's pages from being reused, so the store file grows by what is written meanwhile.
use std::io::Read;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use strato_proto::index::v1 as pb;
use tokio::sync::mpsc;

use crate::dump;
use crate::error::IndexError;
use crate::store::Store;

/// Bytes per streamed chunk (well under the message limit, large enough to keep the per-message
/// cost small).
const CHUNK: usize = 256 << 10;

/// Backups written by this version (1 was a copied redb file).
const FORMAT: u32 = 2;

type Tx = mpsc::Sender<Result<pb::BackupChunk, IndexError>>;

/// Starts a backup; its chunks arrive on the receiver (an error ends the stream).
pub fn start(store: Arc<Store>) -> mpsc::Receiver<Result<pb::BackupChunk, IndexError>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        if let Err(e) = run(&store, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

/// One file of the backup on its way out: chunks sent, size and hash kept for the manifest.
struct Outgoing<'a> {
    path: String,
    hash: Sha256,
    bytes: u64,
    tx: &'a Tx,
}

impl<'a> Outgoing<'a> {
    fn new(path: String, tx: &'a Tx) -> Self {
        Self { path, hash: Sha256::new(), bytes: 0, tx }
    }

    /// False when the caller went away.
    fn send(&mut self, data: Vec<u8>) -> bool {
        self.hash.update(&data);
        self.bytes += data.len() as u64;
        self.tx.blocking_send(Ok(pb::BackupChunk { path: self.path.clone(), data, manifest: String::new() })).is_ok()
    }

    /// The manifest's entry; an empty file still gets one (empty) chunk.
    fn finish(mut self) -> Option<serde_json::Value> {
        if self.bytes == 0 && !self.send(Vec::new()) {
            return None;
        }
        let sha: String = self.hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Some(serde_json::json!({"path": self.path, "bytes": self.bytes, "sha256": sha}))
    }
}

fn run(store: &Store, tx: &Tx) -> Result<(), IndexError> {
    let started = std::time::Instant::now();
    let view = store.backup_view()?;
    let mut listed = Vec::new();

    let mut records = Outgoing::new(dump::FILE.into(), tx);
    let rows: Vec<_> = view.segments.iter().map(|(key, row, ..)| (*key, row.clone())).collect();
    let mut emit = |chunk: Vec<u8>| records.send(chunk);
    let Some(counts) = dump::write(&view.records, &rows, dump::Writer::new(CHUNK, &mut emit))? else {
        return Ok(()); // the caller went away
    };
    drop(view.records);
    let Some(entry) = records.finish() else { return Ok(()) };
    listed.push(entry);

    for (_, _, name, mut file) in view.segments {
        let mut out = Outgoing::new(format!("segments/{name}"), tx);
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if !out.send(buf) {
                return Ok(());
            }
        }
        let Some(entry) = out.finish() else { return Ok(()) };
        listed.push(entry);
    }
    let manifest = serde_json::json!({
        "format": FORMAT,
        "indexes": counts.indexes,
        "vectors": counts.vectors,
        "segments": counts.segments,
        "files": listed,
    });
    tracing::info!(indexes = counts.indexes, vectors = counts.vectors, segments = counts.segments, ms = started.elapsed().as_millis() as u64, "backup streamed");
    let _ = tx.blocking_send(Ok(pb::BackupChunk { path: String::new(), data: Vec::new(), manifest: manifest.to_string() }));
    Ok(())
}
