//! Vectors as NDJSON, the one parser behind the upload routes (`routes/upload.rs`) and the CLI
//! (`cli/ndjson.rs`): one `{id, values, namespace?, metadata?}` object per line; a leading BOM,
//! `\r\n` and blank lines are accepted.
//!
//! A vector is read into its own type as it streams, so no line costs more than a small multiple
//! of itself: `metadata` stays a slice of the input until it is checked (at most
//! [`MAX_METADATA_WRITTEN`] as written, then Vectorize's 10 KiB compact and its one nested
//! level), and `values` are kept up to one more than any index's dimensions (the rest are
//! counted, not stored). Only a JSON object is a vector: serde would read an array field by
//! field. Ids, dimensions and finiteness are index-svc's to check.
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use strato_proto::index::v1 as ipb;

/// The most dimensions an index has (spec §3).
pub const MAX_DIMENSIONS: usize = 1536;
/// Vectorize's metadata limit, compact JSON (spec §3); index-svc's `validate::MAX_METADATA_BYTES`.
pub const MAX_METADATA_BYTES: usize = 10 * 1024;
/// Metadata as written may be longer than compact (spaces, `\u` escapes): at most this much is
/// parsed to be measured.
pub const MAX_METADATA_WRITTEN: usize = 8 * MAX_METADATA_BYTES;

/// One vector as uploaded; `metadata` borrows from the input.
pub struct VectorIn<'a> {
    pub id: String,
    values: Vec<f32>,
    /// How many values the vector had (only the first `MAX_DIMENSIONS + 1` are kept).
    values_total: usize,
    namespace: Option<String>,
    metadata: Option<&'a RawValue>,
}

/// Why a well-formed vector is refused before it is sent.
#[derive(Debug)]
pub enum Refusal {
    /// More values than any index has dimensions (Vectorize's 40012).
    Vector(String),
    /// Metadata too large or nested too deep (index-svc's words).
    Metadata(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Refusal::Vector(m) | Refusal::Metadata(m) => f.write_str(m),
        }
    }
}

impl VectorIn<'_> {
    /// The vector to send, once its values and metadata are within Vectorize's limits.
    pub fn into_proto(self) -> Result<ipb::Vector, Refusal> {
        if self.values_total > MAX_DIMENSIONS {
            return Err(Refusal::Vector(format!(
                "invalid vector for id=\"{}\": {} values, more than any index's {MAX_DIMENSIONS} dimensions",
                self.id, self.values_total
            )));
        }
        let metadata = match self.metadata {
            None => None,
            Some(raw) => Some(metadata(&self.id, raw)?),
        };
        Ok(ipb::Vector { id: self.id, values: self.values, namespace: self.namespace.unwrap_or_default(), metadata })
    }
}

/// Metadata checked as index-svc checks it (`validate::metadata`, same words), from its slice.
fn metadata(id: &str, raw: &RawValue) -> Result<prost_types::Struct, Refusal> {
    let too_large = |size: String| Refusal::Metadata(format!("metadata of id=\"{id}\" too large; max is {MAX_METADATA_BYTES} bytes, got {size} bytes"));
    if raw.get().len() > MAX_METADATA_WRITTEN {
        return Err(too_large(format!("more than {MAX_METADATA_WRITTEN}")));
    }
    let v: Value = serde_json::from_str(raw.get()).map_err(|e| Refusal::Metadata(format!("metadata of id=\"{id}\": {e}")))?;
    let Value::Object(map) = &v else {
        return Err(Refusal::Metadata(format!("metadata of id=\"{id}\" must be an object")));
    };
    if !strato_proto::json::metadata_shape_ok(map) {
        return Err(Refusal::Metadata(strato_proto::json::metadata_shape_error(id, &v)));
    }
    let size = serde_json::to_vec(&v).map_or(usize::MAX, |b| b.len());
    if size > MAX_METADATA_BYTES {
        return Err(too_large(size.to_string()));
    }
    Ok(map_to_struct(map))
}

fn map_to_struct(m: &Map<String, Value>) -> prost_types::Struct {
    strato_proto::json::map_to_struct(m)
}

impl<'de: 'a, 'a> Deserialize<'de> for VectorIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(VectorVisitor)
    }
}

struct VectorVisitor;

impl<'de> Visitor<'de> for VectorVisitor {
    type Value = VectorIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vector object {\"id\": …, \"values\": […]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut values, mut namespace, mut metadata) = (None, None, None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "id" => id = Some(map.next_value::<String>()?),
                "values" => values = Some(map.next_value_seed(Values)?),
                "namespace" => namespace = map.next_value::<Option<String>>()?,
                "metadata" => {
                    metadata = map.next_value::<Option<&'de RawValue>>()?;
                    // Not an object: not the vector format (unparsable, as a wrong type is).
                    if metadata.is_some_and(|raw| !raw.get().starts_with('{')) {
                        return Err(de::Error::custom("metadata must be an object"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let (values, values_total) = values.ok_or_else(|| de::Error::missing_field("values"))?;
        Ok(VectorIn { id, values, values_total, namespace, metadata })
    }
}

/// `values`: numbers, the first `MAX_DIMENSIONS + 1` kept, all counted.
struct Values;

impl<'de> DeserializeSeed<'de> for Values {
    type Value = (Vec<f32>, usize);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Values {
    type Value = (Vec<f32>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_DIMENSIONS + 1));
        let mut total = 0usize;
        while total <= MAX_DIMENSIONS {
            match seq.next_element::<f32>()? {
                Some(x) => kept.push(x),
                None => return Ok((kept, total)),
            }
            total += 1;
        }
        while seq.next_element::<f32>()?.is_some() {
            total += 1;
        }
        Ok((kept, total))
    }
}

/// The non-blank lines of `body`, trimmed, with their 1-based numbers.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.split(|b| *b == b'\n').enumerate().map(|(i, raw)| (i + 1, raw.trim_ascii())).filter(|(_, l)| !l.is_empty())
}

/// One line as a vector: unparsable, or refused by Vectorize's limits.
pub fn parse_line(line: &[u8]) -> Result<ipb::Vector, String> {
    let v = serde_json::from_slice::<VectorIn>(line).map_err(|e| e.to_string())?;
    v.into_proto().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_skip_bom_blanks_and_crlf() {
        let body = b"\xEF\xBB\xBF{\"id\":\"a\",\"values\":[1]}\r\n\r\n  \n{\"id\":\"b\",\"values\":[2]}\n";
        let got: Vec<(usize, String)> = lines(body).map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned())).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(parse_line(body.split(|b| *b == b'\n').nth(3).expect("line 4")).expect("vector").id, "b");
    }

    #[test]
    fn only_objects_are_vectors() {
        assert!(parse_line(br#"["a", [1, 2]]"#).is_err(), "serde would read an array field by field");
        assert!(parse_line(br#"{"values": [1]}"#).is_err());
        let v = parse_line(br#"{"values": [1, 2], "extra": {"x": [1]}, "id": "a", "namespace": null, "metadata": null}"#).expect("vector");
        assert_eq!((v.id.as_str(), v.values.len(), v.metadata.is_none()), ("a", 2, true));
    }

    #[test]
    fn limits_are_checked_while_reading() {
        let long = format!(r#"{{"id":"a","values":[{}]}}"#, vec!["0"; MAX_DIMENSIONS + 5].join(","));
        let e = parse_line(long.as_bytes()).expect_err("too many values");
        assert!(e.contains(&format!("{} values", MAX_DIMENSIONS + 5)), "{e}");
        let big = format!(r#"{{"id":"a","values":[1],"metadata":{{"k":"{}"}}}}"#, "x".repeat(MAX_METADATA_WRITTEN));
        assert!(parse_line(big.as_bytes()).expect_err("too large").contains("too large"));
        let just = format!(r#"{{"id":"a","values":[1],"metadata":{{"k":"{}"}}}}"#, "x".repeat(MAX_METADATA_BYTES - 8));
        assert!(parse_line(just.as_bytes()).is_ok(), "10 KiB compact fits");
        let over = format!(r#"{{"id":"a","values":[1],"metadata":{{"k":"{}"}}}}"#, "x".repeat(MAX_METADATA_BYTES - 7));
        assert!(parse_line(over.as_bytes()).expect_err("one byte over").contains("got 10241 bytes"));
        let deep = br#"{"id":"a","values":[1],"metadata":{"a":{"b":{"c":1}}}}"#;
        assert!(parse_line(deep).expect_err("nested").contains("nests 3 levels"));
        assert!(parse_line(br#"{"id":"a","values":[1],"metadata":[1]}"#).expect_err("not an object").contains("must be an object"));
        assert!(serde_json::from_slice::<VectorIn>(br#"{"id":"a","values":[1],"metadata":"x"}"#).is_err(), "unparsable, not refused");
    }
}
