//! Vectors as NDJSON, the one parser behind the upload routes (`routes/upload.rs`) and the CLI
//! (`cli/ndjson.rs`): one `{id, values, namespace?, metadata?}` object per line; a leading BOM,
//! `\r\n` and blank lines are accepted. Checking ids and values is index-svc's job (the CLI checks
//! a few early, to name the line).
use serde::Deserialize;
use serde_json::{Map, Value};
use strato_proto::index::v1 as ipb;

/// One vector as uploaded.
#[derive(Deserialize)]
pub struct VectorIn {
    pub id: String,
    pub values: Vec<f32>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

impl VectorIn {
    pub fn into_proto(self) -> ipb::Vector {
        ipb::Vector {
            id: self.id,
            values: self.values,
            namespace: self.namespace.unwrap_or_default(),
            metadata: self.metadata.as_ref().map(strato_proto::json::map_to_struct),
        }
    }
}

/// The non-blank lines of `body`, trimmed, with their 1-based numbers.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.split(|b| *b == b'\n').enumerate().map(|(i, raw)| (i + 1, raw.trim_ascii())).filter(|(_, l)| !l.is_empty())
}

/// One line as a vector.
pub fn parse_line(line: &[u8]) -> Result<ipb::Vector, serde_json::Error> {
    serde_json::from_slice::<VectorIn>(line).map(VectorIn::into_proto)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_skip_bom_blanks_and_crlf() {
        let body = b"\xEF\xBB\xBF{\"id\":\"a\",\"values\":[1]}\r\n\r\n  \n{\"id\":\"b\",\"values\":[2]}\n";
        let got: Vec<(usize, String)> = super::lines(body).map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned())).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(super::parse_line(body.split(|b| *b == b'\n').nth(3).expect("line 4")).expect("vector").id, "b");
    }
}
