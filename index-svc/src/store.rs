//! Durable storage on redb: the catalogue, every vector record, and the manifests of persisted
//! HNSW segments. A mutation is acknowledged only after its write transaction has committed with
//! `Durability::Immediate` (fsync), so `kill -9` loses nothing acknowledged; a transaction that did
//! not commit leaves no trace, so a rejected or interrupted batch never shows in part.
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::types::{IndexMeta, Metric, Record};

/// "{account}/{name}" → JSON IndexMeta.
const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("indexes");
/// (index uid, vector id) → postcard Record.
const VECTORS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("vectors");
/// (index uid, segment uid) → postcard SegmentManifest.
const SEGMENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("segments");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentManifest {
    pub uid: u64,
    pub width: usize,
    pub metric: Metric,
    /// Largest norm in the segment (dot-product transform), else 0.
    pub phi: f32,
    pub count: usize,
}

pub struct Store {
    db: Database,
    dir: PathBuf,
}

/// Everything stored about one index, as loaded at start-up.
pub struct LoadedIndex {
    pub meta: IndexMeta,
    pub records: Vec<Record>,
    pub segments: Vec<SegmentManifest>,
}

pub fn catalog_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

impl Store {
    /// `cache_bytes`: redb's page cache. Searches never read redb (vectors live in segments), only
    /// start-up, returnValues/returnMetadata=all and getByIds do, so a small cache suffices; redb's
    /// 1 GiB default would keep every page read at start-up resident.
    pub fn open(dir: &Path, cache_bytes: usize) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir.join("segments"))?;
        let db = redb::Builder::new().set_cache_size(cache_bytes).create(dir.join("strato-index.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(INDEXES)?;
        txn.open_table(VECTORS)?;
        txn.open_table(SEGMENTS)?;
        txn.commit()?;
        Ok(Self { db, dir: dir.to_path_buf() })
    }

    pub fn segment_path(&self, index_uid: u64, seg_uid: u64) -> PathBuf {
        self.dir.join("segments").join(format!("{index_uid}-{seg_uid}.graph"))
    }

    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }

    pub fn load_all(&self) -> Result<Vec<LoadedIndex>, IndexError> {
        let txn = self.db.begin_read()?;
        let indexes = txn.open_table(INDEXES)?;
        let vectors = txn.open_table(VECTORS)?;
        let segments = txn.open_table(SEGMENTS)?;
        let mut out = Vec::new();
        for row in indexes.iter()? {
            let (_, v) = row?;
            let meta: IndexMeta = serde_json::from_slice(v.value())?;
            let mut records = Vec::new();
            for r in vectors.range((meta.uid, "")..(meta.uid + 1, ""))? {
                let (_, v) = r?;
                records.push(postcard::from_bytes::<Record>(v.value())?);
            }
            let mut segs = Vec::new();
            for s in segments.range((meta.uid, 0)..=(meta.uid, u64::MAX))? {
                let (_, v) = s?;
                segs.push(postcard::from_bytes::<SegmentManifest>(v.value())?);
            }
            out.push(LoadedIndex { meta, records, segments: segs });
        }
        Ok(out)
    }

    /// Creates or rewrites an index's catalogue row.
    pub fn put_meta(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        let txn = self.begin()?;
        txn.open_table(INDEXES)?.insert(catalog_key(&meta.account, &meta.name).as_str(), serde_json::to_vec(meta)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// One atomic mutation: records written, ids removed, and the index row (sequence counter,
    /// last mutation) rewritten, all in one transaction — staged, not yet fsynced: it becomes
    /// durable with the next `sync` (or any other durable commit), all or nothing.
    pub fn stage_mutation(&self, meta: &IndexMeta, puts: &[Record], deletes: &[String]) -> Result<(), IndexError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None).map_err(|e| IndexError::Storage(e.to_string()))?;
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
        let txn = self.db.begin_read()?;
        let table = txn.open_table(VECTORS)?;
        match table.get((index_uid, id))? {
            Some(v) => Ok(Some(postcard::from_bytes(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn get_many(&self, index_uid: u64, ids: &[&str]) -> Result<Vec<Option<Record>>, IndexError> {
        let txn = self.db.begin_read()?;
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
        let txn = self.db.begin_read()?;
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

    /// Removes an index with all its vectors and segment manifests.
    pub fn delete_index(&self, meta: &IndexMeta) -> Result<(), IndexError> {
        let txn = self.begin()?;
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
    pub fn sync(&self) -> Result<(), IndexError> {
        self.begin()?.commit()?;
        Ok(())
    }

    fn begin(&self) -> Result<redb::WriteTransaction, IndexError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate).map_err(|e| IndexError::Storage(e.to_string()))?;
        Ok(txn)
    }
}

/// Writes a file so that it is either wholly there or absent after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
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
