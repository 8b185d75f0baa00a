//! Domain types of an index: its configuration, stored records, metadata indexes.
use serde::{Deserialize, Serialize};

use crate::error::IndexError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    Cosine,
    Euclidean,
    DotProduct,
}

impl Metric {
    /// Cosine: higher is nearer; the other two: lower is nearer (spec §2.1).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Cosine)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaType {
    String,
    Number,
    Boolean,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataIndexDef {
    pub property: String,
    pub kind: MetaType,
    /// Vectors written with a sequence number at or above this are indexed (Vectorize indexes only
    /// vectors written after the metadata index exists).
    pub created_seq: u64,
}

/// Where an index is in a move between pods (`engine/moving.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Moving {
    #[default]
    No,
    /// Writes refused until the move ends; reads served.
    Frozen { to: String },
    /// Served by `to`; every call here is told so.
    Moved { to: String },
    /// A copy arriving from another pod: in the store, never served until activated.
    Incoming,
}

/// An index's catalogue row, rewritten by every mutation (it carries the sequence counter).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexMeta {
    pub uid: u64,
    pub account: String,
    pub name: String,
    pub description: String,
    pub dimensions: usize,
    pub metric: Metric,
    pub created_on: String,
    pub modified_on: String,
    pub next_seq: u64,
    pub last_mutation: String,
    pub last_mutation_at: String,
    pub metadata_indexes: Vec<MetadataIndexDef>,
    /// Rows written before moves existed have none.
    #[serde(default)]
    pub moving: Moving,
}

#[cfg(test)]
impl IndexMeta {
    /// A fresh index's row, for unit tests of the in-memory state.
    pub fn for_test(dimensions: usize, metric: Metric) -> Self {
        let empty = String::new;
        Self {
            uid: 1,
            account: empty(),
            name: "t".into(),
            description: empty(),
            dimensions,
            metric,
            created_on: empty(),
            modified_on: empty(),
            next_seq: 1,
            last_mutation: empty(),
            last_mutation_at: empty(),
            metadata_indexes: Vec::new(),
            moving: Moving::No,
        }
    }
}

/// One stored vector. `seq` identifies this version of the id: a rewrite gets a new seq, so
/// any copy of the old seq in a segment is a tombstone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub id: String,
    pub namespace: Option<String>,
    /// Compact JSON text of the metadata object.
    pub metadata: Option<String>,
    pub values: Vec<f32>,
}

impl Record {
    pub fn metadata_json(&self) -> Result<Option<serde_json::Value>, IndexError> {
        self.metadata.as_deref().map(serde_json::from_str).transpose().map_err(IndexError::from)
    }
}

/// What a query returns of metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnMetadata {
    None,
    Indexed,
    All,
}

/// RFC 3339 UTC with milliseconds, e.g. 2024-07-19T13:11:44.064Z (Vectorize's format).
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (H. Hinnant), valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_shape() {
        let s = super::now_rfc3339();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z') && &s[10..11] == "T", "{s}");
    }
}
