//! The JSON shapes of Cloudflare's Vectorize REST API (spec §1.4, §4.3–4.5), shared by the REST
//! routes and the wrangler-style CLI so both print exactly what Cloudflare answers.
use serde::Serialize;
use serde_json::Value;
use strato_proto::index::v1 as ipb;
use strato_proto::json as pbjson;

/// The index object (spec §4.3).
#[derive(Serialize)]
pub struct IndexJson {
    pub name: String,
    pub description: String,
    pub config: ConfigJson,
    pub created_on: String,
    pub modified_on: String,
}

#[derive(Serialize)]
pub struct ConfigJson {
    pub dimensions: u32,
    pub metric: &'static str,
}

impl From<ipb::IndexInfo> for IndexJson {
    fn from(i: ipb::IndexInfo) -> Self {
        IndexJson {
            name: i.name,
            description: i.description,
            config: ConfigJson { dimensions: i.dimensions, metric: metric_name(i.metric) },
            created_on: i.created_on,
            modified_on: i.modified_on,
        }
    }
}

pub fn metric_name(m: i32) -> &'static str {
    match ipb::Metric::try_from(m) {
        Ok(ipb::Metric::Euclidean) => "euclidean",
        Ok(ipb::Metric::DotProduct) => "dot-product",
        _ => "cosine",
    }
}

pub fn metadata_type_name(t: i32) -> &'static str {
    match ipb::MetadataType::try_from(t) {
        Ok(ipb::MetadataType::Number) => "number",
        Ok(ipb::MetadataType::Boolean) => "boolean",
        _ => "string",
    }
}

/// `describe()` / info (spec §1.4): processedUpTo* are null before the first mutation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoJson {
    pub dimensions: u32,
    pub vector_count: u64,
    pub processed_up_to_mutation: Option<String>,
    pub processed_up_to_datetime: Option<String>,
}

impl From<ipb::IndexStats> for InfoJson {
    fn from(s: ipb::IndexStats) -> Self {
        InfoJson {
            dimensions: s.dimensions,
            vector_count: s.vector_count,
            processed_up_to_mutation: non_empty(s.processed_up_to_mutation),
            processed_up_to_datetime: non_empty(s.processed_up_to_datetime),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationJson {
    pub mutation_id: String,
}

impl From<ipb::MutationResponse> for MutationJson {
    fn from(r: ipb::MutationResponse) -> Self {
        MutationJson { mutation_id: r.mutation_id }
    }
}

/// One query match; optional fields are absent, not null (spec §1.4).
#[derive(Serialize)]
pub struct MatchJson {
    pub id: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl MatchJson {
    pub fn new(m: ipb::Match, with_values: bool, with_metadata: bool) -> Self {
        MatchJson {
            id: m.id,
            score: m.score,
            values: with_values.then(|| widen(&m.values)),
            metadata: if with_metadata { m.metadata.as_ref().map(pbjson::from_struct) } else { None },
            namespace: non_empty(m.namespace),
        }
    }
}

#[derive(Serialize)]
pub struct QueryJson {
    pub count: usize,
    pub matches: Vec<MatchJson>,
}

/// A stored vector as the REST API answers it, written straight from its message: values
/// widened to double one by one, metadata from its `Struct` (no JSON tree of it), so a getByIds
/// answer of 1,000 vectors costs its text, not three copies of it.
pub struct VectorJson(pub ipb::Vector);

impl From<ipb::Vector> for VectorJson {
    fn from(v: ipb::Vector) -> Self {
        VectorJson(v)
    }
}

impl Serialize for VectorJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let v = &self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &v.id)?;
        m.serialize_entry("values", &Widened(&v.values))?;
        if let Some(md) = &v.metadata {
            m.serialize_entry("metadata", &StructJson(md))?;
        }
        if !v.namespace.is_empty() {
            m.serialize_entry("namespace", &v.namespace)?;
        }
        m.end()
    }
}

/// float32 values written as the doubles they are (`widen`, one at a time).
struct Widened<'a>(&'a [f32]);

impl Serialize for Widened<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&x| f64::from(x)))
    }
}

/// A `Struct` written as the JSON object `strato_proto::json::from_struct` would make of it.
struct StructJson<'a>(&'a prost_types::Struct);

impl Serialize for StructJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.fields.iter().map(|(k, v)| (k, ValueJson(v))))
    }
}

struct ValueJson<'a>(&'a prost_types::Value);

impl Serialize for ValueJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use prost_types::value::Kind;
        match &self.0.kind {
            None | Some(Kind::NullValue(_)) => s.serialize_unit(),
            Some(Kind::BoolValue(b)) => s.serialize_bool(*b),
            Some(Kind::NumberValue(x)) => pbjson::number(*x).serialize(s),
            Some(Kind::StringValue(v)) => s.serialize_str(v),
            Some(Kind::ListValue(l)) => s.collect_seq(l.values.iter().map(ValueJson)),
            Some(Kind::StructValue(st)) => StructJson(st).serialize(s),
        }
    }
}

/// What one node of a `Struct` holds in memory, about: a `Value` and its share of the map or
/// list around it.
pub const STRUCT_NODE_BYTES: u64 = 40;

/// The nodes of a `Struct`, every level.
pub fn struct_nodes(st: &prost_types::Struct) -> usize {
    fn value(v: &prost_types::Value) -> usize {
        use prost_types::value::Kind;
        1 + match &v.kind {
            Some(Kind::ListValue(l)) => l.values.iter().map(value).sum(),
            Some(Kind::StructValue(st)) => struct_nodes(st),
            _ => 0,
        }
    }
    st.fields.values().map(value).sum()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListVectorsJson {
    pub count: usize,
    pub total_count: u64,
    pub is_truncated: bool,
    pub next_cursor: Option<String>,
    pub cursor_expiration_timestamp: Option<String>,
    pub vectors: Vec<IdJson>,
}

impl From<ipb::ListVectorsResponse> for ListVectorsJson {
    fn from(r: ipb::ListVectorsResponse) -> Self {
        ListVectorsJson {
            count: r.ids.len(),
            total_count: r.total_count,
            is_truncated: r.is_truncated,
            // Null unless there is a next page (Vectorize's shape), whatever the service sent.
            next_cursor: if r.is_truncated { non_empty(r.next_cursor) } else { None },
            cursor_expiration_timestamp: non_empty(r.cursor_expiration_timestamp),
            vectors: r.ids.into_iter().map(|id| IdJson { id }).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct IdJson {
    pub id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataIndexJson {
    pub property_name: String,
    pub index_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataIndexesJson {
    pub metadata_indexes: Vec<MetadataIndexJson>,
}

impl From<ipb::ListMetadataIndexesResponse> for MetadataIndexesJson {
    fn from(r: ipb::ListMetadataIndexesResponse) -> Self {
        MetadataIndexesJson {
            metadata_indexes: r
                .metadata_indexes
                .into_iter()
                .map(|m| MetadataIndexJson { property_name: m.property_name, index_type: metadata_type_name(m.index_type) })
                .collect(),
        }
    }
}

/// Values are stored as float32 and answered widened to double, e.g. 58.79999923706055 for an
/// inserted 58.8 (spec §1.4).
pub fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&x| f64::from(x)).collect()
}

pub fn non_empty(s: String) -> Option<String> {
    Some(s).filter(|s| !s.is_empty())
}

/// Vectorize's model presets (spec §2.9): the dimensions of each model, for `create` with a
/// preset (REST and CLI). The metric is not documented: cosine, the recommendation for BGE
/// (guess).
pub const PRESETS: [(&str, u32); 5] = [
    ("@cf/baai/bge-small-en-v1.5", 384),
    ("@cf/baai/bge-base-en-v1.5", 768),
    ("@cf/baai/bge-large-en-v1.5", 1024),
    ("openai/text-embedding-ada-002", 1536),
    ("cohere/embed-multilingual-v2.0", 768),
];

pub fn preset_dimensions(name: &str) -> Option<u32> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}
