//! protobuf ↔ domain: `google.protobuf.Struct` ↔ JSON, enums, records.
use prost_types::value::Kind;
use serde_json::{Map, Number, Value};
use strato_proto::index::v1 as pb;

use crate::error::IndexError;
use crate::types::{MetaType, Metric, Record, ReturnMetadata};

pub fn struct_to_json(s: &prost_types::Struct) -> Value {
    Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect())
}

pub fn value_to_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// Struct numbers are doubles; integral ones go back to JSON integers so `42` stays `42`.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
    }
}

pub fn json_to_struct(v: &Value) -> Option<prost_types::Struct> {
    match v {
        Value::Object(m) => Some(map_to_struct(m)),
        _ => None,
    }
}

fn map_to_struct(m: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct { fields: m.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect() }
}

pub fn json_to_value(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue { values: a.iter().map(json_to_value).collect() }),
        Value::Object(m) => Kind::StructValue(map_to_struct(m)),
    };
    prost_types::Value { kind: Some(kind) }
}

pub fn metric_from(v: i32) -> Result<Metric, IndexError> {
    match pb::Metric::try_from(v) {
        Ok(pb::Metric::Cosine) => Ok(Metric::Cosine),
        Ok(pb::Metric::Euclidean) => Ok(Metric::Euclidean),
        Ok(pb::Metric::DotProduct) => Ok(Metric::DotProduct),
        _ => Err(IndexError::invalid("vectorize.index.invalid_config - metric must be cosine, euclidean or dot-product")),
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
