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


/// Where chunks go, the runtime that waits for room, and how long it waits: a client that
/// reads nothing for `stall` loses its backup (the snapshot it holds keeps every page written
/// since from being reused, so a reader that never reads would grow the store without bound).
struct Tx {
    chunks: mpsc::Sender<Result<pb::BackupChunk, IndexError>>,
    runtime: tokio::runtime::Handle,
    stall: std::time::Duration,
}

/// Starts a backup; its chunks arrive on the receiver (an error ends the stream).
/// Call on the runtime (it waits for the client there).
pub fn start(store: Arc<Store>, stall: std::time::Duration) -> mpsc::Receiver<Result<pb::BackupChunk, IndexError>> {
    let (chunks, rx) = mpsc::channel(4);
    let tx = Tx { chunks, runtime: tokio::runtime::Handle::current(), stall };
    std::thread::spawn(move || {
        if let Err(e) = run(&store, &tx) {
            send_or_give_up(&tx, Err(e));
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

    /// False when the caller went away, or stalled.
    fn send(&mut self, data: Vec<u8>) -> bool {
        self.hash.update(&data);
        self.bytes += data.len() as u64;
        send_or_give_up(self.tx, Ok(pb::BackupChunk { path: self.path.clone(), data, manifest: String::new() }))
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

/// Sends, waiting at most `tx.stall` for room in the channel (on the runtime that started the
/// backup; this thread is not one of its workers).
fn send_or_give_up(tx: &Tx, msg: Result<pb::BackupChunk, IndexError>) -> bool {
    // The timer is made inside the runtime's context (an async block), not on this thread.
    match tx.runtime.block_on(async { tokio::time::timeout(tx.stall, tx.chunks.send(msg)).await }) {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            tracing::warn!(stalled_s = tx.stall.as_secs(), "backup abandoned: the client read nothing");
            false
        }
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
    send_or_give_up(tx, Ok(pb::BackupChunk { path: String::new(), data: Vec::new(), manifest: manifest.to_string() }));
    Ok(())
}
