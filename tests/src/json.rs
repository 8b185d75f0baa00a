//! serde_json <-> google.protobuf.Struct / Value for tests (the shared conversion of
//! `strato_proto::json`, with panicking shorthands).
use prost_types::Struct;
use serde_json::Value as Json;

pub use strato_proto::json::{from_struct, from_value, number, to_value};

/// A JSON object as a `Struct`. Panics when `v` is not an object.
pub fn to_struct(v: &Json) -> Struct {
    strato_proto::json::to_struct(v).unwrap_or_else(|| panic!("to_struct: not a JSON object: {v}"))
}

/// What `v` looks like after a trip through `Struct`/`Value` (every number normalised by [`number`]).
pub fn normalize(v: &Json) -> Json {
    from_value(&to_value(v))
}
