//! Durable storage on redb: the catalogue, every vector record, and the manifests of persisted
//! HNSW segments. Mutations are *staged* (committed without fsync) and become durable, all or
//! nothing, with the next `sync` (see `group_commit.rs`); a transaction that did not commit leaves
//! no trace, so a rejected or interrupted batch never shows in part. Readers of records go through
//! the snapshot taken at the last `sync`, so they never see a staged, not yet durable mutation.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::types::{IndexMeta, Metric, Record};

use crate::tables::{COUNTERS, INDEXES, SEGMENTS, VECTORS};

/// The counter of index uids in `COUNTERS`.
const NEXT_INDEX_UID: &str = "next_index_uid";
const DB_FILE: &str = "strato-index.redb";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentManifest {
    pub uid: u64,
    pub width: usize,
    pub metric: Metric,
    /// Largest norm in the segment (dot-product transform), else 0.
    pub phi: f32,
    pub count: usize,
}

/// Test-only fault injection (`--fault-dir`): while the file `<dir>/<point>` exists, that
/// point fails as the disk would. Points: `fsync` (a durable commit), `segment` (writing a
/// sealed segment's file, as when the disk is full). `<dir>/fsync-delay-ms` (a number) makes
/// every fsync that slow, as on a busy disk; `<dir>/apply-delay-ms` delays applying durable
/// mutations to memory (the window between a durable snapshot and what queries score);
/// `<dir>/build-delay-ms` makes every graph build that much longer (a long merge).
#[derive(Debug, Clone, Default)]
pub struct Faults(Option<PathBuf>);

impl Faults {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self(dir)
    }

    fn delay(&self, point: &str) {
        let ms = self.0.as_ref().and_then(|d| std::fs::read_to_string(d.join(format!("{point}-delay-ms"))).ok()).and_then(|t| t.trim().parse::<u64>().ok());
        if let Some(ms) = ms {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }

    /// Sleeps at `point` (`<point>-delay-ms`), for tests.
    pub fn pause(&self, point: &str) {
        self.delay(point);
    }

    fn check(&self, point: &str) -> Result<(), IndexError> {
        match &self.0 {
            Some(dir) if dir.join(point).exists() => Err(IndexError::Storage(format!("injected fault: {point} failed"))),
            _ => Ok(()),
        }
    }
}

pub struct Store {
    db: Database,
    dir: PathBuf,
    faults: Faults,
    /// What readers see: a read transaction begun just before the last successful fsync.
    durable: RwLock<Arc<ReadTransaction>>,
    /// Held shared while a backup opens segment files; removing segment files takes it
    /// exclusively, so no file a backup's view names disappears before it is open.
    segment_pins: RwLock<()>,
}

/// A backup's view of the store (`Store::backup_view`).
pub struct BackupView {
    pub records: Arc<ReadTransaction>,
    /// ((index uid, segment uid), manifest row, file name under `segments/`, the open file).
    pub segments: Vec<((u64, u64), Vec<u8>, String, std::fs::File)>,
}

/// A sealed segment's graph file, under `segments/`.
fn segment_file(index_uid: u64, seg_uid: u64) -> String {
    format!("{index_uid}-{seg_uid}.graph")
}

pub fn catalog_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

impl Store {
    /// `cache_bytes`: redb's page cache. Searches never read redb (vectors live in segments), only
    /// start-up, returnValues/returnMetadata=all and getByIds do, so a small cache suffices; redb's
    /// 1 GiB default would keep every page read at start-up resident.
    pub fn open(dir: &Path, cache_bytes: usize, faults: Faults) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir.join("segments"))?;
        // A backup's scratch folder, left by a crash during one.
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".backup-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        // A restore leaves the store as a records file (`dump.rs`); import it first.
        if let Some(n) = crate::dump::import_if_present(dir, DB_FILE, cache_bytes)? {
            tracing::info!(indexes = n.indexes, vectors = n.vectors, segments = n.segments, "imported a restored backup's records");
        }
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            // After a crash (kill -9, power loss) this is expected; after SIGTERM it is a bug.
            .set_repair_callback(|s| tracing::warn!(progress = s.progress(), "store was not closed cleanly: repairing"))
            .create(dir.join(DB_FILE))?;
        let txn = db.begin_write()?;
        txn.open_table(INDEXES)?;
        txn.open_table(VECTORS)?;
        txn.open_table(SEGMENTS)?;
        txn.open_table(COUNTERS)?;
        txn.commit()?;
        // Everything on disk at start-up is durable.
        let durable = RwLock::new(Arc::new(db.begin_read()?));
        Ok(Self { db, dir: dir.to_path_buf(), faults, durable, segment_pins: RwLock::new(()) })
    }

    fn snapshot(&self) -> Arc<ReadTransaction> {
        self.durable.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What readers see: every durable mutation, nothing staged after it (moves read from it).
    pub(crate) fn durable_snapshot(&self) -> Arc<ReadTransaction> {
        self.snapshot()
    }

    /// `account/name`'s catalogue row as of the durable snapshot, whatever its move state.
    pub fn index_row(&self, account: &str, name: &str) -> Result<Option<IndexMeta>, IndexError> {
        let txn = self.snapshot();
        let t = txn.open_table(INDEXES)?;
        let row = t.get(catalog_key(account, name).as_str())?;
        Ok(match row {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// The injected faults (`--fault-dir`).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn segment_path(&self, index_uid: u64, seg_uid: u64) -> PathBuf {
        self.dir.join("segments").join(segment_file(index_uid, seg_uid))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }

    /// Every index's catalogue row with its segment manifests (start-up).
    pub fn catalogue(&self) -> Result<Vec<(IndexMeta, Vec<SegmentManifest>)>, IndexError> {
        let txn = self.db.begin_read()?;
        let indexes = txn.open_table(INDEXES)?;
        let segments = txn.open_table(SEGMENTS)?;
        let mut out = Vec::new();
        for row in indexes.iter()? {
            let (_, v) = row?;
            let meta: IndexMeta = serde_json::from_slice(v.value())?;
            let mut segs = Vec::new();
            for s in segments.range((meta.uid, 0)..=(meta.uid, u64::MAX))? {
                let (_, v) = s?;
                segs.push(postcard::from_bytes::<SegmentManifest>(v.value())?);
            }
            out.push((meta, segs));
        }
        Ok(out)
    }

    /// Streams an index's records, one decoded at a time (start-up memory stays at one copy of
    /// the data set, not two).
    pub fn for_each_record(&self, index_uid: u64, f: &mut dyn FnMut(Record) -> Result<(), IndexError>) -> Result<(), IndexError> {
        let txn = self.db.begin_read()?;
        let vectors = txn.open_table(VECTORS)?;
        for r in vectors.range((index_uid, "")..(index_uid + 1, ""))? {
            let (_, v) = r?;
            f(postcard::from_bytes::<Record>(v.value())?)?;
        }
        Ok(())
    }

    /// Removes vector rows and segment manifests of index uids no catalogue row names (left by
    /// versions before deletes were atomic with writes). One seek per distinct uid.
    pub fn remove_orphans(&self, known: &HashSet<u64>) -> Result<usize, IndexError> {
        let txn = self.begin()?;
        let mut removed = 0;
        {
            let mut vectors = txn.open_table(VECTORS)?;
            let mut next = 0u64;
            loop {
                let first = vectors.range((next, "")..)?.next().transpose()?.map(|(k, _)| k.value().0);
                let Some(uid) = first else { break };
                if !known.contains(&uid) {
                    vectors.retain_in((uid, "")..(uid + 1, ""), |_, _| false)?;
                    removed += 1;
                }
                let Some(n) = uid.checked_add(1) else { break };
                next = n;
            }
            let mut segs = txn.open_table(SEGMENTS)?;
            let mut next = 0u64;
            loop {
                let first = segs.range((next, 0)..)?.next().transpose()?.map(|(k, _)| k.value().0);
                let Some(uid) = first else { break };
                if !known.contains(&uid) {
                    segs.retain_in((uid, 0)..=(uid, u64::MAX), |_, _| false)?;
                    removed += 1;
                }
                let Some(n) = uid.checked_add(1) else { break };
                next = n;
            }
        }
        txn.commit()?;
        Ok(removed)
    }

    /// Stages a new index's catalogue row, taking its uid from the persisted counter.
    pub fn stage_create_index(&self, mut meta: IndexMeta) -> Result<IndexMeta, IndexError> {
        let txn = self.begin_staged()?;
        {
            let mut counters = txn.open_table(COUNTERS)?;
            let floor = counters.get(NEXT_INDEX_UID)?.map(|v| v.value()).unwrap_or(1);
            // Also past any uid still present in the tables (data from before the counter).
            let mut indexes = txn.open_table(INDEXES)?;
            let mut uid = floor;
            for row in indexes.iter()? {
                let (_, v) = row?;
                uid = uid.max(serde_json::from_slice::<IndexMeta>(v.value())?.uid + 1);
            }
            let vectors = txn.open_table(VECTORS)?;
            if let Some((k, _)) = vectors.last()? {
                uid = uid.max(k.value().0 + 1);
            }
            meta.uid = uid;
            counters.insert(NEXT_INDEX_UID, uid + 1)?;
            indexes.insert(catalog_key(&meta.account, &meta.name).as_str(), serde_json::to_vec(&meta)?.as_slice())?;
        }
        txn.commit()?;
        Ok(meta)
    }

    /// One atomic mutation: records written, ids removed, and the index row (sequence counter,
    /// last mutation) rewritten, all in one transaction — staged, not yet fsynced: it becomes
    /// durable with the next `sync` (or any other durable commit), all or nothing.
    pub fn stage_mutation(&self, meta: &IndexMeta, puts: &[Record], deletes: &[String]) -> Result<(), IndexError> {
        let txn = self.begin_staged()?;
        {
            let mut vectors = txn.open_table(VECTORS)?;
            for id in deletes {
                vectors.remove((meta.uid, id.as_str()))?;
            }
            for r in puts {
                vectors.insert((meta.uid, r.id.as_str()), postcard::to_allocvec(r)?.as_slice())?;
            }
            txn.open_table(INDEXES)?
                .insert(catalog_key(&meta.account, &meta.name).as_str(), serde_json::to_vec(meta)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn get(&self, index_uid: u64, id: &str) -> Result<Option<Record>, IndexError> {
        let txn = self.snapshot();
        let table = txn.open_table(VECTORS)?;
        match table.get((index_uid, id))? {
            Some(v) => Ok(Some(postcard::from_bytes(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn get_many(&self, index_uid: u64, ids: &[&str]) -> Result<Vec<Option<Record>>, IndexError> {
        let txn = self.snapshot();
        let table = txn.open_table(VECTORS)?;
        ids.iter()
            .map(|id| match table.get((index_uid, *id))? {
                Some(v) => Ok(Some(postcard::from_bytes(v.value())?)),
                None => Ok(None),
            })
            .collect()
    }

    /// Ids after `after` (exclusive), in byte order, at most `limit`.
    pub fn list_ids(&self, index_uid: u64, after: Option<&str>, limit: usize) -> Result<Vec<String>, IndexError> {
        let txn = self.snapshot();
        let table = txn.open_table(VECTORS)?;
        let start = after.unwrap_or("");
        let mut out = Vec::with_capacity(limit);
        for row in table.range((index_uid, start)..(index_uid + 1, ""))? {
            let (k, _) = row?;
            let id = k.value().1;
            if after.is_some_and(|a| a == id) {
                continue;
            }
            out.push(id.to_owned());
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Stages the removal of an index with all its vectors and segment manifests.
    pub fn stage_delete_index(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        let txn = self.begin_staged()?;
        {
            txn.open_table(INDEXES)?.remove(catalog_key(&meta.account, &meta.name).as_str())?;
            let mut vectors = txn.open_table(VECTORS)?;
            vectors.retain_in((meta.uid, "")..(meta.uid + 1, ""), |_, _| false)?;
            let mut segs = txn.open_table(SEGMENTS)?;
            segs.retain_in((meta.uid, 0)..=(meta.uid, u64::MAX), |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Makes `added` the persisted segment(s) in place of `removed`, atomically.
    pub fn swap_segments(&self, index_uid: u64, added: &[SegmentManifest], removed: &[u64]) -> Result<(), IndexError> {
        let txn = self.begin()?;
        {
            let mut segs = txn.open_table(SEGMENTS)?;
            for uid in removed {
                segs.remove((index_uid, *uid))?;
            }
            for m in added {
                segs.insert((index_uid, m.uid), postcard::to_allocvec(m)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Makes every staged mutation durable (one fsync): an empty durable commit persists the
    /// non-durable ones before it.
    /// Readers then see every mutation committed before it (taken first: all durable after).
    pub fn sync(&self) -> Result<(), IndexError> {
        let snapshot = self.db.begin_read()?;
        self.faults.check("fsync")?;
        self.faults.delay("fsync");
        self.begin()?.commit()?;
        *self.durable.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(())
    }

    fn begin(&self) -> Result<redb::WriteTransaction, IndexError> {
        self.faults.check("fsync")?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate).map_err(|e| IndexError::Storage(e.to_string()))?;
        Ok(txn)
    }

    fn begin_staged(&self) -> Result<redb::WriteTransaction, IndexError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None).map_err(|e| IndexError::Storage(e.to_string()))?;
        Ok(txn)
    }

    /// Writes a sealed segment's graph file (atomically: wholly there or absent after a crash).
    pub fn write_segment(&self, index_uid: u64, seg_uid: u64, bytes: &[u8]) -> Result<(), IndexError> {
        self.faults.check("segment")?;
        write_atomic(&self.segment_path(index_uid, seg_uid), bytes)
    }

    /// What a backup streams (`backup.rs`): the durable snapshot's records (only writes whose
    /// clients were told they succeeded) and the segment files the latest committed manifests
    /// name, opened while removals wait. An open file stays readable after a merge or a delete
    /// removes its name, so nothing waits on the backup after this returns. Indexes whose
    /// segments are not in the view (deleted since, or not sealed yet) are re-indexed from their
    /// records when the backup is restored.
    pub fn backup_view(&self) -> Result<BackupView, IndexError> {
        let _no_removals = self.segment_pins.read().unwrap_or_else(|e| e.into_inner());
        let records = self.snapshot();
        // Segment manifests commit durably (`swap_segments`), so the latest ones are durable too;
        // their rows were built from records no newer than the durable snapshot.
        let latest = self.db.begin_read()?;
        let indexes: HashSet<u64> = {
            let t = records.open_table(INDEXES)?;
            let mut uids = HashSet::new();
            for row in t.iter()? {
                uids.insert(serde_json::from_slice::<IndexMeta>(row?.1.value())?.uid);
            }
            uids
        };
        let mut segments = Vec::new();
        for row in latest.open_table(SEGMENTS)?.iter()? {
            let (k, v) = row?;
            let (index_uid, seg_uid) = k.value();
            if !indexes.contains(&index_uid) {
                continue;
            }
            match std::fs::File::open(self.segment_path(index_uid, seg_uid)) {
                Ok(file) => segments.push(((index_uid, seg_uid), v.value().to_vec(), segment_file(index_uid, seg_uid), file)),
                Err(e) => tracing::warn!(index_uid, seg_uid, error = %e, "backup: segment file unreadable, left out (re-indexed on restore)"),
            }
        }
        Ok(BackupView { records, segments })
    }

    /// Removes the graph files of `index_uid` (all of them when `only` is None).
    pub fn remove_segment_files(&self, index_uid: u64, only: Option<&[u64]>) {
        let _no_backup_opening = self.segment_pins.write().unwrap_or_else(|e| e.into_inner());
        match only {
            Some(uids) => {
                for u in uids {
                    let _ = std::fs::remove_file(self.segment_path(index_uid, *u));
                }
            }
            None => {
                let prefix = format!("{index_uid}-");
                for entry in std::fs::read_dir(self.segments_dir()).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
    }
}

/// Writes a file so that it is either wholly there or absent after a crash.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
