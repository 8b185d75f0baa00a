//! The store as one stream of records: what a backup sends instead of a copy of the redb file
//! (`strato-index.records`), and what start-up imports when a restore left one in the data
//! directory. Streaming records from a read snapshot needs no second database on the pod's
//! volume and no second page cache in its memory.
//!
//! Format: `strrec01`, then frames `[table u8][key len u32][key][value len u32][value]`, then an
//! end frame `[0][frames u64][crc32c u32]` (the CRC covers every byte before it). Keys are written
//! as their parts (u64 little-endian, strings as bytes), so the file does not depend on redb's
//! encoding. The import writes a new redb file beside the data and renames it into place only
//! after the end frame checked out, so a damaged or cut file never becomes a store.
use std::io::{BufReader, Read};
use std::path::Path;

use redb::{Durability, ReadTransaction, ReadableTable};

use crate::error::IndexError;
use crate::tables::{COUNTERS, INDEXES, SEGMENTS, VECTORS};

pub const FILE: &str = "strato-index.records";
const MAGIC: &[u8; 8] = b"strrec01";
const INDEXES_TAG: u8 = 1;
const VECTORS_TAG: u8 = 2;
const SEGMENTS_TAG: u8 = 3;
const COUNTERS_TAG: u8 = 4;
/// Larger than any record the service writes (a 1536-dim vector with 10 KiB of metadata is
/// ~17 KB); a length past it is damage, not data.
const MAX_PART: usize = 16 << 20;
/// Records per write transaction during an import (bounded memory, few commits).
const IMPORT_BATCH: u64 = 10_000;

/// Rows written per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub indexes: u64,
    pub vectors: u64,
    pub segments: u64,
}

/// Frames into chunks of about `chunk` bytes for `emit`, which returns false when nobody reads
/// any more (the writer then stops early).
pub struct Writer<'a> {
    buf: Vec<u8>,
    chunk: usize,
    crc: u32,
    frames: u64,
    emit: &'a mut dyn FnMut(Vec<u8>) -> bool,
    open: bool,
}

impl<'a> Writer<'a> {
    pub fn new(chunk: usize, emit: &'a mut dyn FnMut(Vec<u8>) -> bool) -> Self {
        let mut w = Self { buf: Vec::with_capacity(chunk + 64), chunk, crc: 0, frames: 0, emit, open: true };
        w.put(MAGIC);
        w
    }

    fn put(&mut self, bytes: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.buf.extend_from_slice(bytes);
    }

    fn flush_if_full(&mut self) {
        if self.buf.len() >= self.chunk && self.open {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk + 64));
            self.open = (self.emit)(full);
        }
    }

    fn frame(&mut self, tag: u8, key: &[&[u8]], value: &[u8]) {
        let klen: usize = key.iter().map(|k| k.len()).sum();
        self.put(&[tag]);
        self.put(&(klen as u32).to_le_bytes());
        for k in key {
            self.put(k);
        }
        self.put(&(value.len() as u32).to_le_bytes());
        self.put(value);
        self.frames += 1;
        self.flush_if_full();
    }

    /// Writes the end frame and the last chunk; false if the reader went away.
    fn finish(mut self) -> bool {
        let frames = self.frames.to_le_bytes();
        self.put(&[0]);
        self.put(&frames);
        let crc = self.crc.to_le_bytes();
        self.buf.extend_from_slice(&crc);
        self.open && (self.emit)(std::mem::take(&mut self.buf))
    }
}

/// Writes every row of `records` (catalogue, vectors, counters) and the segment manifests
/// `segments` (chosen by the caller: the ones whose files it holds). `None` if the reader went
/// away before the end.
pub fn write(records: &ReadTransaction, segments: &[((u64, u64), Vec<u8>)], out: Writer) -> Result<Option<Counts>, IndexError> {
    let mut out = out;
    let mut n = Counts::default();
    for row in records.open_table(INDEXES)?.iter()? {
        let (k, v) = row?;
        out.frame(INDEXES_TAG, &[k.value().as_bytes()], v.value());
        n.indexes += 1;
    }
    for row in records.open_table(VECTORS)?.iter()? {
        let (k, v) = row?;
        let (uid, id) = k.value();
        out.frame(VECTORS_TAG, &[&uid.to_le_bytes(), id.as_bytes()], v.value());
        n.vectors += 1;
        if !out.open {
            return Ok(None);
        }
    }
    for ((uid, seg), v) in segments {
        out.frame(SEGMENTS_TAG, &[&uid.to_le_bytes(), &seg.to_le_bytes()], v);
        n.segments += 1;
    }
    for row in records.open_table(COUNTERS)?.iter()? {
        let (k, v) = row?;
        out.frame(COUNTERS_TAG, &[k.value().as_bytes()], &v.value().to_le_bytes());
    }
    Ok(out.finish().then_some(n))
}

fn damaged(why: impl std::fmt::Display) -> IndexError {
    IndexError::Storage(format!("{FILE} is damaged ({why}): restore the backup again"))
}

/// Reads a file's frames, checking lengths, the end frame's count and the CRC.
struct Reader<R: Read> {
    r: R,
    crc: u32,
    frames: u64,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, IndexError> {
        if n > MAX_PART {
            return Err(damaged(format!("a part of {n} bytes")));
        }
        let mut b = vec![0; n];
        self.r.read_exact(&mut b).map_err(|e| damaged(format!("cut short: {e}")))?;
        self.crc = crc32c::crc32c_append(self.crc, &b);
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, IndexError> {
        Ok(u32::from_le_bytes(self.exact(4)?.try_into().unwrap_or_default()) as usize)
    }

    /// The next (tag, key, value), or None after a checked end frame.
    fn next(&mut self) -> Result<Option<(u8, Vec<u8>, Vec<u8>)>, IndexError> {
        let tag = self.exact(1)?[0];
        if tag == 0 {
            let frames = u64::from_le_bytes(self.exact(8)?.try_into().unwrap_or_default());
            let expect = self.crc;
            let mut crc = [0u8; 4];
            self.r.read_exact(&mut crc).map_err(|e| damaged(format!("cut short: {e}")))?;
            if u32::from_le_bytes(crc) != expect || frames != self.frames {
                return Err(damaged("checksum or count does not match"));
            }
            if self.r.read(&mut [0u8; 1]).map_err(|e| damaged(e))? != 0 {
                return Err(damaged("bytes after the end"));
            }
            return Ok(None);
        }
        let klen = self.len()?;
        let key = self.exact(klen)?;
        let vlen = self.len()?;
        let value = self.exact(vlen)?;
        self.frames += 1;
        Ok(Some((tag, key, value)))
    }
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, IndexError> {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes).ok_or_else(|| damaged("short key"))
}

fn text(b: &[u8]) -> Result<&str, IndexError> {
    std::str::from_utf8(b).map_err(|_| damaged("a key that is not UTF-8"))
}

/// If a restore left `strato-index.records` in `dir`, turns it into `strato-index.redb` (all or
/// nothing: a new file renamed into place once the whole stream checked out). Returns what it
/// imported, or None when there was nothing to import.
pub fn import_if_present(dir: &Path, db_file: &str, cache_bytes: usize) -> Result<Option<Counts>, IndexError> {
    let records = dir.join(FILE);
    if !records.exists() {
        return Ok(None);
    }
    let target = dir.join(db_file);
    if target.exists() {
        // The import finished and crashed before removing its input.
        std::fs::remove_file(&records)?;
        return Ok(None);
    }
    let tmp = dir.join(format!("{db_file}.importing"));
    let _ = std::fs::remove_file(&tmp);
    let result = import(&records, &tmp, cache_bytes);
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &target)?;
    std::fs::File::open(dir)?.sync_all()?;
    std::fs::remove_file(&records)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Some(n))
}

fn import(records: &Path, into: &Path, cache_bytes: usize) -> Result<Counts, IndexError> {
    let mut r = Reader { r: BufReader::with_capacity(1 << 20, std::fs::File::open(records)?), crc: 0, frames: 0 };
    if r.exact(MAGIC.len())? != MAGIC {
        return Err(damaged("not a records file"));
    }
    let db = redb::Builder::new().set_cache_size(cache_bytes).create(into)?;
    let mut n = Counts::default();
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None).map_err(|e| IndexError::Storage(e.to_string()))?;
    let mut in_txn = 0;
    while let Some((tag, key, value)) = r.next()? {
        match tag {
            INDEXES_TAG => {
                txn.open_table(INDEXES)?.insert(text(&key)?, value.as_slice())?;
                n.indexes += 1;
            }
            VECTORS_TAG => {
                txn.open_table(VECTORS)?.insert((u64_at(&key, 0)?, text(&key[8..])?), value.as_slice())?;
                n.vectors += 1;
            }
            SEGMENTS_TAG => {
                txn.open_table(SEGMENTS)?.insert((u64_at(&key, 0)?, u64_at(&key, 8)?), value.as_slice())?;
                n.segments += 1;
            }
            COUNTERS_TAG => {
                txn.open_table(COUNTERS)?.insert(text(&key)?, u64_at(&value, 0)?)?;
            }
            t => return Err(damaged(format!("unknown table {t}"))),
        }
        in_txn += 1;
        if in_txn == IMPORT_BATCH {
            txn.commit()?;
            txn = db.begin_write()?;
            txn.set_durability(Durability::None).map_err(|e| IndexError::Storage(e.to_string()))?;
            in_txn = 0;
        }
    }
    // Durable, with every batch before it.
    txn.set_durability(Durability::Immediate).map_err(|e| IndexError::Storage(e.to_string()))?;
    txn.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    /// A store with a few rows of each table, dumped to bytes.
    fn dumped(dir: &Path) -> (Vec<u8>, Counts) {
        let db = redb::Database::create(dir.join("src.redb")).expect("db");
        let w = db.begin_write().expect("w");
        w.open_table(INDEXES).expect("t").insert("/a", b"{}".as_slice()).expect("i");
        for i in 0..50u64 {
            w.open_table(VECTORS).expect("t").insert((1, format!("id{i}").as_str()), vec![i as u8; 40].as_slice()).expect("i");
        }
        w.open_table(COUNTERS).expect("t").insert("next_index_uid", 2).expect("i");
        w.commit().expect("commit");
        let r = db.begin_read().expect("r");
        let mut bytes = Vec::new();
        let mut emit = |b: Vec<u8>| {
            bytes.extend(b);
            true
        };
        let n = write(&r, &[((1, 7), vec![9; 12])], Writer::new(100, &mut emit)).expect("write").expect("read to the end");
        (bytes, n)
    }

    #[test]
    fn a_records_file_round_trips_and_any_damage_is_refused() {
        let dir = std::env::temp_dir().join(format!("strato-dump-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let (bytes, n) = dumped(&dir);
        assert_eq!(n, Counts { indexes: 1, vectors: 50, segments: 1 });
        let try_import = |b: &[u8]| {
            std::fs::write(dir.join(FILE), b).expect("write");
            let _ = std::fs::remove_file(dir.join("out.redb"));
            import_if_present(&dir, "out.redb", 1 << 20)
        };
        // Every single flipped byte, and every cut, is refused, and no store appears.
        for at in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            assert!(try_import(&bad).is_err(), "a flipped byte at {at} was imported");
            assert!(!dir.join("out.redb").exists());
        }
        for cut in [1, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(try_import(&bytes[..cut]).is_err(), "a file cut at {cut} was imported");
        }
        assert!(try_import(&[bytes.as_slice(), b"x"].concat()).is_err(), "trailing bytes were imported");
        // The whole file imports, and the records file is gone after.
        assert_eq!(try_import(&bytes).expect("import"), Some(n));
        assert!(!dir.join(FILE).exists());
        let db = redb::Database::open(dir.join("out.redb")).expect("open");
        let r = db.begin_read().expect("r");
        assert_eq!(r.open_table(VECTORS).expect("t").get((1, "id7")).expect("get").expect("row").value(), vec![7u8; 40].as_slice());
        assert_eq!(r.open_table(SEGMENTS).expect("t").get((1, 7)).expect("get").expect("row").value(), vec![9u8; 12].as_slice());
        assert_eq!(r.open_table(COUNTERS).expect("t").get("next_index_uid").expect("get").expect("row").value(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
