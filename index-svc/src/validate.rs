//! Vectorize's limits (spec §3), checked before anything is written: a request that breaks one
//! is rejected whole.
use serde_json::Value;

use crate::error::IndexError;
use strato_proto::errors::ErrorReason;

pub const MIN_DIMENSIONS: usize = 32;
pub const MAX_DIMENSIONS: usize = 1536;
pub const MAX_ID_BYTES: usize = 64;
pub const MAX_NAMESPACE_BYTES: usize = 64;
pub const MAX_METADATA_BYTES: usize = 10 * 1024;
pub const MAX_BATCH: usize = 5000;
pub const MAX_IDS_PER_CALL: usize = 5000;
pub const DEFAULT_TOP_K: usize = 5;
pub const MAX_TOP_K: usize = 100;
pub const MAX_TOP_K_WITH_PAYLOAD: usize = 50;
pub const MAX_METADATA_INDEXES: usize = 10;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MAX_PROPERTY_CHARS: usize = 512;

/// Index names: a lowercase letter, then lowercase letters, digits, `-` or `_`; ≤ 64 bytes.
/// Cloudflare's docs allow `[a-z0-9-]` starting with a letter; `_` was seen accepted live (spec §3).
pub fn index_name(name: &str) -> Result<(), IndexError> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(IndexError::invalid_as(ErrorReason::InvalidIndexName, format!(
            "vectorize.index.invalid_name - Index name {name:?} must start with a lowercase letter and contain only lowercase letters, digits, '-' and '_' (at most 64 bytes)"
        )))
    }
}

pub fn dimensions(d: usize) -> Result<(), IndexError> {
    if (MIN_DIMENSIONS..=MAX_DIMENSIONS).contains(&d) {
        Ok(())
    } else {
        Err(IndexError::invalid_as(ErrorReason::InvalidIndexConfig, format!(
            "vectorize.index.invalid_config - Dimensions must be in range: [{MIN_DIMENSIONS}, {MAX_DIMENSIONS}]"
        )))
    }
}

pub fn description(d: &str) -> Result<(), IndexError> {
    if d.chars().count() <= MAX_DESCRIPTION_CHARS {
        Ok(())
    } else {
        Err(IndexError::invalid(format!("description longer than {MAX_DESCRIPTION_CHARS} characters")))
    }
}

pub fn batch_size(n: usize) -> Result<(), IndexError> {
    if n == 0 {
        return Err(IndexError::invalid("no vectors in the request"));
    }
    if n > MAX_BATCH {
        return Err(IndexError::invalid(format!("at most {MAX_BATCH} vectors per request, got {n}")));
    }
    Ok(())
}

pub fn ids(ids: &[String]) -> Result<(), IndexError> {
    if ids.len() > MAX_IDS_PER_CALL {
        return Err(IndexError::invalid(format!("at most {MAX_IDS_PER_CALL} ids per request, got {}", ids.len())));
    }
    Ok(())
}

pub fn id(id: &str) -> Result<(), IndexError> {
    if id.is_empty() {
        return Err(IndexError::invalid("vector id must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(IndexError::invalid_as(ErrorReason::IdTooLong, format!("id too long; max is {MAX_ID_BYTES} bytes, got {} bytes", id.len())));
    }
    Ok(())
}

pub fn namespace(ns: &str) -> Result<(), IndexError> {
    if ns.len() > MAX_NAMESPACE_BYTES {
        return Err(IndexError::invalid(format!(
            "namespace too long; max is {MAX_NAMESPACE_BYTES} bytes, got {} bytes",
            ns.len()
        )));
    }
    Ok(())
}

pub fn values(id: &str, values: &[f32], dims: usize) -> Result<(), IndexError> {
    if values.len() != dims {
        return Err(IndexError::invalid_as(ErrorReason::InvalidVector, format!(
            "invalid vector for id=\"{id}\", expected {dims} dimensions, and got {} dimensions",
            values.len()
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(IndexError::invalid_as(ErrorReason::InvalidVector, format!("invalid vector for id=\"{id}\": value {i} is not a finite number")));
    }
    Ok(())
}

pub fn query_vector(values: &[f32], dims: usize) -> Result<(), IndexError> {
    if values.len() != dims {
        return Err(IndexError::invalid_as(ErrorReason::InvalidQueryVector, format!(
            "invalid query vector, expected {dims} dimensions, and got {} dimensions",
            values.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::invalid_as(ErrorReason::InvalidQueryVector, "invalid query vector: values must be finite numbers"));
    }
    Ok(())
}

/// Metadata must be an object ≤ 10 KiB; keys non-empty, without `.` or `"`, not starting with `$`.
pub fn metadata(id: &str, m: &Value) -> Result<usize, IndexError> {
    let Value::Object(_) = m else {
        return Err(IndexError::invalid(format!("metadata of id=\"{id}\" must be an object")));
    };
    if let Value::Object(map) = m
        && !strato_proto::json::metadata_shape_ok(map)
    {
        return Err(IndexError::invalid(strato_proto::json::metadata_shape_error(id, m)));
    }
    check_keys(id, m)?;
    let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(IndexError::invalid(format!(
            "metadata of id=\"{id}\" too large; max is {MAX_METADATA_BYTES} bytes, got {size} bytes"
        )));
    }
    Ok(size)
}

fn check_keys(id: &str, v: &Value) -> Result<(), IndexError> {
    if let Value::Object(map) = v {
        for (k, child) in map {
            if k.is_empty() || k.contains('.') || k.contains('"') || k.starts_with('$') {
                return Err(IndexError::invalid(format!(
                    "metadata key {k:?} of id=\"{id}\" is invalid: keys must be non-empty, must not contain '.' or '\"', and must not start with '$'"
                )));
            }
            check_keys(id, child)?;
        }
    }
    Ok(())
}

/// Property names of metadata indexes and filter keys (spec §2.7).
pub fn property(p: &str) -> Result<(), IndexError> {
    if p.is_empty() || p.chars().count() > MAX_PROPERTY_CHARS || p.contains('"') || p.starts_with('$') {
        return Err(IndexError::invalid(format!(
            "invalid property name {p:?}: must be non-empty, at most {MAX_PROPERTY_CHARS} characters, without '\"', not starting with '$'"
        )));
    }
    Ok(())
}

/// topK: default 5, max 100, or 50 with values or all metadata (spec §3; error 40025's wording).
pub fn top_k(k: usize, heavy: bool) -> Result<usize, IndexError> {
    let k = if k == 0 { DEFAULT_TOP_K } else { k };
    if k > MAX_TOP_K {
        return Err(IndexError::invalid_as(ErrorReason::TopKTooLarge, format!("max top K is {MAX_TOP_K}, but got {k}")));
    }
    if heavy && k > MAX_TOP_K_WITH_PAYLOAD {
        return Err(IndexError::invalid_as(ErrorReason::TopKTooLarge, format!(
            "with returnValues=true or returnMetadata=all, max top K is {MAX_TOP_K_WITH_PAYLOAD}, but got {k}"
        )));
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "embeddings-index", "memory_messages", "a1"] {
            assert!(index_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "Abc", "a.b", "a b", &"a".repeat(65)] {
            assert!(index_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn top_k_limits() {
        assert_eq!(top_k(0, false).ok(), Some(5));
        assert!(top_k(100, false).is_ok() && top_k(101, false).is_err());
        assert!(top_k(50, true).is_ok() && top_k(51, true).is_err());
    }

    #[test]
    fn metadata_keys() {
        assert!(metadata("x", &serde_json::json!({"a": {"b": 1}})).is_ok());
        for bad in [serde_json::json!({"a.b": 1}), serde_json::json!({"$a": 1}), serde_json::json!({"a": {"": 1}}), serde_json::json!([1])] {
            assert!(metadata("x", &bad).is_err(), "{bad}");
        }
    }
}
