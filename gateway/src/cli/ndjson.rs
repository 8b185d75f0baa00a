//! NDJSON vector files (`{"id","values",["namespace"],["metadata"]}` per line) and the
//! JSON ↔ `google.protobuf.Struct` conversions the CLI needs.
//!
//! The whole file is parsed before anything is sent, so a malformed line means nothing is written.
use std::fmt;
use std::path::Path;

use strato_proto::index::v1 as pb;

/// One parsed vector with the (1-based) line it came from.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    pub vector: pb::Vector,
}

/// A line that is not a vector object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LineError {}

/// Reads and parses `path`; errors name the file and, for bad content, the line.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<Record>> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("🚨 Cannot read invalid or empty file: {}. ({e})", path.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid].iter().filter(|b| **b == b'\n').count() + 1;
            anyhow::bail!("invalid NDJSON in {}: line {line}: not valid UTF-8; nothing was sent", path.display());
        }
    };
    let records =
        parse(&text).map_err(|e| anyhow::anyhow!("invalid NDJSON in {}: {e}; nothing was sent", path.display()))?;
    if records.is_empty() {
        anyhow::bail!("🚨 Cannot read invalid or empty file: {}.", path.display());
    }
    Ok(records)
}

/// Parses NDJSON text with the gateway's parser (`crate::ndjson`), then checks what the CLI can
/// name by line before anything is sent: a non-empty id, values that fit a float32.
pub fn parse(text: &str) -> Result<Vec<Record>, LineError> {
    let mut out = Vec::new();
    for (line, raw) in crate::ndjson::lines(text.as_bytes()) {
        let vector = crate::ndjson::parse_line(raw).map_err(|e| LineError { line, message: format!("not a vector object like {{\"id\": \"a\", \"values\": [0.1, 0.2]}} ({e})") })?;
        if vector.id.is_empty() {
            return Err(LineError { line, message: "\"id\" must not be empty".to_owned() });
        }
        if let Some(j) = vector.values.iter().position(|x| !x.is_finite()) {
            return Err(LineError { line, message: format!("id=\"{}\": \"values\"[{j}] does not fit a float32", vector.id) });
        }
        out.push(Record { line, vector });
    }
    Ok(out)
}

pub use strato_proto::json::{from_struct as struct_to_json, map_to_struct, to_struct as json_to_struct};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_blank_lines_and_crlf() {
        let text = "{\"id\":\"a\",\"values\":[1,2]}\r\n\r\n{\"id\":\"b\",\"values\":[3,4.5],\"namespace\":\"n\",\"metadata\":{\"k\":1}}\n";
        let recs = parse(text).expect("parse");
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].line, 1);
        assert_eq!(recs[1].line, 3);
        assert_eq!(recs[1].vector.values, vec![3.0, 4.5]);
        assert_eq!(recs[1].vector.namespace, "n");
        let meta = recs[1].vector.metadata.as_ref().map(struct_to_json);
        assert_eq!(meta, Some(serde_json::json!({"k": 1})));
    }

    #[test]
    fn bad_line_is_named() {
        let text = "{\"id\":\"a\",\"values\":[1]}\n{\"id\":\"b\",\"values\":[1]}\n{\"id\":\"c\",\"values\":[1,}\n";
        let err = parse(text).expect_err("line 3 is broken");
        assert_eq!(err.line, 3);
        let err = parse("{\"values\":[1]}").expect_err("no id");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("id"));
    }
}
