//! JSON ↔ `google.protobuf.Struct`, the one conversion every crate uses for metadata and filters.
//! Struct numbers are doubles; integral values up to 2^53 come back as JSON integers, so
//! `{"year": 2024}` round-trips unchanged.
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// 2^53: below it every integral f64 is an exact integer.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Deepest nesting of objects and arrays accepted in metadata and filters (`{"a": 1}` is 1).
/// Cloudflare documents one nested object level of metadata; Strato accepts up to 8 so data that
/// nests a little deeper still loads. Without a bound a request could nest until prost's decoder
/// (100 message levels; each JSON level is two, Value and Struct) failed with INTERNAL.
pub const MAX_JSON_DEPTH: usize = 8;

/// Whether metadata has the shape Vectorize allows (spec §2.5): each value a string, number,
/// boolean or null, an array of those, or one nested object level whose values are those or
/// arrays of those. Deeper data is refused, as Cloudflare refuses it.
pub fn metadata_shape_ok(m: &Map<String, Json>) -> bool {
    fn scalar(v: &Json) -> bool {
        !matches!(v, Json::Array(_) | Json::Object(_))
    }
    fn leaf(v: &Json) -> bool {
        match v {
            Json::Array(items) => items.iter().all(scalar),
            other => scalar(other),
        }
    }
    m.values().all(|v| match v {
        Json::Object(inner) => inner.values().all(leaf),
        other => leaf(other),
    })
}

/// The refusal of metadata whose shape is not allowed, worded the same by the gateway and
/// index-svc.
pub fn metadata_shape_error(id: &str, m: &Json) -> String {
    format!(
        "metadata of id=\"{id}\" nests {} levels deep; Vectorize allows strings, numbers, booleans, arrays of those, and one nested object level of those",
        json_depth(m)
    )
}

/// Nesting depth of a JSON value: 0 for a scalar, 1 + the deepest child for objects and arrays.
pub fn json_depth(v: &Json) -> usize {
    match v {
        Json::Object(m) => 1 + m.values().map(json_depth).max().unwrap_or(0),
        Json::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The same depth, of a `Struct` (what `to_struct` of a JSON object of that depth gives).
pub fn struct_depth(s: &Struct) -> usize {
    fn value(v: &Value) -> usize {
        match &v.kind {
            Some(Kind::StructValue(s)) => struct_depth(s),
            Some(Kind::ListValue(l)) => 1 + l.values.iter().map(value).max().unwrap_or(0),
            _ => 0,
        }
    }
    1 + s.fields.values().map(value).max().unwrap_or(0)
}

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

    #[test]
    fn metadata_shapes() {
        let ok = |v: serde_json::Value| super::metadata_shape_ok(v.as_object().expect("object"));
        assert!(ok(json!({"a": 1, "b": "x", "c": [1, "y", true], "d": {"e": 1, "f": ["z"]}, "g": null})));
        assert!(!ok(json!({"a": {"b": {"c": 1}}})), "two nested object levels");
        assert!(!ok(json!({"a": [[1]]})), "array of arrays");
        assert!(!ok(json!({"a": [{"b": 1}]})), "array of objects");
        assert!(!ok(json!({"a": {"b": [[1]]}})));
    }

    #[test]
    fn depths_agree() {
        for v in [json!({}), json!({"a": 1}), json!({"a": {"b": [1, {"c": []}]}}), json!({"x": [[[[]]]]})] {
            let s = super::to_struct(&v).expect("object");
            assert_eq!(super::struct_depth(&s), super::json_depth(&v), "{v}");
        }
        assert_eq!(super::json_depth(&json!({"a": {"b": [1]}})), 3);
    }
}
