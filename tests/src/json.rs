//! serde_json <-> google.protobuf.Struct / Value, for building metadata and filters in tests and
//! comparing what a service returns with `json!` literals.
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// 2^53: below it every integral f64 is an exact integer.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// A JSON object as a `Struct`. Panics when `v` is not an object.
pub fn to_struct(v: &Json) -> Struct {
    let Json::Object(map) = v else { panic!("to_struct: not a JSON object: {v}") };
    Struct { fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect() }
}

/// Any JSON value as a protobuf `Value` (numbers become f64).
pub fn to_value(v: &Json) -> Value {
    let kind = match v {
        Json::Null => Kind::NullValue(prost_types::NullValue::NullValue as i32),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue { values: items.iter().map(to_value).collect() }),
        Json::Object(_) => Kind::StructValue(to_struct(v)),
    };
    Value { kind: Some(kind) }
}

/// A `Struct` as a JSON object.
pub fn from_struct(s: &Struct) -> Json {
    let map: Map<String, Json> = s.fields.iter().map(|(k, v)| (k.clone(), from_value(v))).collect();
    Json::Object(map)
}

/// A protobuf `Value` as JSON. Integral numbers below 2^53 in magnitude come back as JSON integers,
/// so that `json!({"n": 3})` compares equal after a round trip.
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

/// An f64 as JSON: an integer when exactly integral and |x| < 2^53, else a float (null if not finite).
pub fn number(x: f64) -> Json {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < EXACT_INT_LIMIT {
        #[allow(clippy::cast_possible_truncation)]
        let i = x as i64;
        Json::from(i)
    } else {
        Number::from_f64(x).map_or(Json::Null, Json::Number)
    }
}

/// What `v` looks like after a trip through `Struct`/`Value` (every number normalised by [`number`]).
pub fn normalize(v: &Json) -> Json {
    from_value(&to_value(v))
}
