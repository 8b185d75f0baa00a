//! protobuf ↔ domain: `google.protobuf.Struct` ↔ JSON, enums, records.
use strato_proto::index::v1 as pb;

use crate::error::IndexError;
use strato_proto::errors::ErrorReason;
use crate::types::{MetaType, Metric, Record, ReturnMetadata};

pub use strato_proto::json::{from_struct as struct_to_json, to_struct as json_to_struct};

pub fn metric_from(v: i32) -> Result<Metric, IndexError> {
    match pb::Metric::try_from(v) {
        Ok(pb::Metric::Cosine) => Ok(Metric::Cosine),
        Ok(pb::Metric::Euclidean) => Ok(Metric::Euclidean),
        Ok(pb::Metric::DotProduct) => Ok(Metric::DotProduct),
        _ => Err(IndexError::invalid_as(ErrorReason::InvalidIndexConfig, "vectorize.index.invalid_config - metric must be cosine, euclidean or dot-product")),
    }
}

pub fn metric_to(m: Metric) -> pb::Metric {
    match m {
        Metric::Cosine => pb::Metric::Cosine,
        Metric::Euclidean => pb::Metric::Euclidean,
        Metric::DotProduct => pb::Metric::DotProduct,
    }
}

pub fn meta_type_from(v: i32) -> Result<MetaType, IndexError> {
    match pb::MetadataType::try_from(v) {
        Ok(pb::MetadataType::String) => Ok(MetaType::String),
        Ok(pb::MetadataType::Number) => Ok(MetaType::Number),
        Ok(pb::MetadataType::Boolean) => Ok(MetaType::Boolean),
        _ => Err(IndexError::invalid("indexType must be string, number or boolean")),
    }
}

pub fn meta_type_to(t: MetaType) -> pb::MetadataType {
    match t {
        MetaType::String => pb::MetadataType::String,
        MetaType::Number => pb::MetadataType::Number,
        MetaType::Boolean => pb::MetadataType::Boolean,
    }
}

pub fn return_metadata_from(v: i32) -> Result<ReturnMetadata, IndexError> {
    match pb::ReturnMetadata::try_from(v) {
        Ok(pb::ReturnMetadata::None) => Ok(ReturnMetadata::None),
        Ok(pb::ReturnMetadata::Indexed) => Ok(ReturnMetadata::Indexed),
        Ok(pb::ReturnMetadata::All) => Ok(ReturnMetadata::All),
        Err(_) => Err(IndexError::invalid(format!("unknown returnMetadata {v}"))),
    }
}

pub fn record_to_vector(r: Record) -> Result<pb::Vector, IndexError> {
    let metadata = r.metadata_json()?.as_ref().and_then(json_to_struct);
    Ok(pb::Vector { id: r.id, values: r.values, namespace: r.namespace.unwrap_or_default(), metadata })
}
