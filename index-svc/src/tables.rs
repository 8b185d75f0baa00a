//! The store's redb tables: a leaf, so the store and the records file (`dump.rs`) that writes
//! and reads them do not import each other.
use redb::TableDefinition;

/// "{account}/{name}" → JSON IndexMeta.
pub const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("indexes");
/// (index uid, vector id) → postcard Record.
pub const VECTORS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("vectors");
/// (index uid, segment uid) → postcard SegmentManifest.
pub const SEGMENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("segments");
/// Counters that must never go back: "next_index_uid" (a deleted index's uid is never reused,
/// so rows it left behind can never be taken over by another index).
pub const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
