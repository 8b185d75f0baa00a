//! JSON ↔ `google.protobuf.Struct`, the one conversion every crate uses for metadata and filters.
//! Struct numbers are doubles; integral values up to 2^53 come back as JSON integers, so
//! `{"year": 2024}` round-trips unchanged.
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// 2^53: below it every integral f64 is an exact integer.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// A JSON object as a `Struct`; None for anything else.
pub fn to_struct(v: &Json) -> Option<Struct> {
    match v {
        Json::Object(m) => Some(map_to_struct(m)),
        _ => None,
    }
}

pub fn map_to_struct(m: &Map<String, Json>) -> Struct {
    Struct { fields: m.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() }
}

pub fn to_value(v: &Json) -> Value {
    let kind = match v {
        Json::Null => Kind::NullValue(prost_types::NullValue::NullValue as i32),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue { values: items.iter().map(to_value).collect() }),
        Json::Object(m) => Kind::StructValue(map_to_struct(m)),
    };
    Value { kind: Some(kind) }
}

pub fn from_struct(s: &Struct) -> Json {
    Json::Object(s.fields.iter().map(|(k, v)| (k.clone(), from_value(v))).collect())
}

pub fn from_value(v: &Value) -> Json {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(x)) => number(*x),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

/// An f64 as JSON: an integer when exactly integral and |x| <= 2^53, else a float (null if not finite).
pub fn number(x: f64) -> Json {
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= EXACT_INT_LIMIT {
        Json::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Json::Null, Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn round_trip_keeps_integers_and_nesting() {
        let v = json!({"year": 2024, "score": 0.5, "tags": ["a", "b"], "n": {"x": null, "ok": true}});
        assert_eq!(super::from_struct(&super::to_struct(&v).expect("object")), v);
        assert!(super::to_struct(&json!([1])).is_none());
    }
}
