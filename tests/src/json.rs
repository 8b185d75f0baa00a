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

/// Metadata that a careless path would change: random doubles over the whole range (about one
/// in six used to lose its last digit), integers up to ±2^53, unicode keys, nested objects and
/// arrays (as deep as Vectorize allows: one nested object level). Deterministic in `seed`.
pub fn tricky_metadata(seed: u64) -> Json {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut double = || loop {
        let x = f64::from_bits(rng.random::<u64>());
        if x.is_finite() && x != 0.0 {
            return x;
        }
    };
    let doubles: Vec<Json> = (0..12).map(|_| serde_json::json!(double())).collect();
    // Mantissa bits of a random double, scaled into (-1, 1).
    let unit: Vec<Json> = (0..12).map(|i| serde_json::json!(double().to_bits() as f64 / u64::MAX as f64 * if i % 2 == 0 { 1.0 } else { -1.0 })).collect();
    serde_json::json!({
        "doubles": doubles,
        "unit": unit,
        "ints": [9_007_199_254_740_992i64, -9_007_199_254_740_992i64, 9_007_199_254_740_991i64, 0, -1, 1_234_567_890_123i64],
        "ключ 🗝": {"値": double(), "é": [double(), "ü", true, null]},
        "x": double(),
    })
}

/// Panics unless `got` equals `want` with every number identical bit for bit.
pub fn assert_bits_equal(got: &Json, want: &Json, path: &str) {
    match (got, want) {
        (Json::Number(g), Json::Number(w)) => {
            let (gb, wb) = (g.as_f64().map(f64::to_bits), w.as_f64().map(f64::to_bits));
            assert_eq!(gb, wb, "{path}: got {g}, want {w}");
        }
        (Json::Array(g), Json::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: array length");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_bits_equal(g, w, &format!("{path}[{i}]"));
            }
        }
        (Json::Object(g), Json::Object(w)) => {
            let (mut gk, mut wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            gk.sort();
            wk.sort();
            assert_eq!(gk, wk, "{path}: keys");
            for (k, w) in w {
                assert_bits_equal(&g[k], w, &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}
