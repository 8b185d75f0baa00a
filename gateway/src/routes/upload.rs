//! The vectors of an insert/upsert request body (spec §4.4): raw NDJSON, multipart with a
//! `vectors` part, or JSON, parsed by hand (no multipart crate) with Vectorize's 40023 errors.
use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Map, Value};
use strato_proto::index::v1 as ipb;
use strato_proto::json as pbjson;

use super::cf::{self, CfError};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unparsable {
    Error,
    Discard,
}

/// The vectors of an insert/upsert body, by content type (spec §4.4):
/// - `application/x-ndjson` (also `application/ndjson`): raw NDJSON;
/// - `multipart/form-data`: NDJSON in the part named `vectors` (wrangler, the docs' Python example);
/// - `application/json`: `{"vectors": [...]}` (the binding's non-NDJSON form), a bare array, or a
///   JSON string holding NDJSON (what the Python SDK 4.3.1 sends, spec §6.2).
///
/// Anything else is `vectorize.unknown_content_type`. The count and every vector's validity are
/// left to index-svc.
pub fn upload_vectors(q: &HashMap<String, String>, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ipb::Vector>, CfError> {
    let behavior = unparsable_behavior(q)?;
    let Some((essence, raw)) = content_type(headers) else {
        return Err(unknown_content_type("none"));
    };
    match essence.as_str() {
        "application/x-ndjson" | "application/ndjson" => parse_ndjson(body, behavior),
        "multipart/form-data" => {
            let boundary = mime_param(raw, "boundary").ok_or_else(|| multipart_error("no boundary in the Content-Type"))?;
            let part = multipart_part(body, boundary, "vectors")?;
            parse_ndjson(part, behavior)
        }
        "application/json" => parse_json_upload(body, behavior),
        _ => Err(unknown_content_type(raw)),
    }
}

/// `?unparsable-behavior=error|discard`; default `error` (guess, spec §4.4).
fn unparsable_behavior(q: &HashMap<String, String>) -> Result<Unparsable, CfError> {
    match q.get("unparsable-behavior").map(String::as_str) {
        None | Some("") | Some("error") => Ok(Unparsable::Error),
        Some("discard") => Ok(Unparsable::Discard),
        Some(other) => Err(CfError::bad_request(cf::BAD_REQUEST, format!("unparsable-behavior must be error or discard, got {other:?}"))),
    }
}

/// Code 40026 chosen for `vectorize.unknown_content_type` (spec §4.7 gives no number).
fn unknown_content_type(got: &str) -> CfError {
    CfError::bad_request(
        cf::BAD_JSON,
        format!(
            "vectorize.unknown_content_type - expected Content-Type application/x-ndjson, multipart/form-data (part \"vectors\") or application/json, got {got}"
        ),
    )
}

/// One NDJSON line / JSON element: `{id, values, namespace?, metadata?}`.
#[derive(Deserialize)]
struct VectorIn {
    id: String,
    values: Vec<f32>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

impl VectorIn {
    fn into_proto(self) -> ipb::Vector {
        ipb::Vector {
            id: self.id,
            values: self.values,
            namespace: self.namespace.unwrap_or_default(),
            metadata: self.metadata.as_ref().map(pbjson::map_to_struct),
        }
    }
}

/// NDJSON: one vector object per line; `\r\n`, blank lines, a trailing newline and a leading
/// BOM are accepted (spec §4.4, inferred). A line that is not a vector (bad JSON, invalid UTF-8,
/// wrong field types) fails the request with 40023 or, with `discard`, is dropped.
fn parse_ndjson(body: &[u8], behavior: Unparsable) -> Result<Vec<ipb::Vector>, CfError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut out = Vec::new();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<VectorIn>(line) {
            Ok(v) => out.push(v.into_proto()),
            Err(_) if behavior == Unparsable::Discard => {}
            Err(_) => return Err(ndjson_line_error(i)),
        }
    }
    Ok(out)
}

/// Spec §4.4's observed text. Cloudflare's text names "upsert" on the upsert route; the insert
/// route's text is not observed, the same one is used (guess).
fn ndjson_line_error(line: usize) -> CfError {
    CfError::bad_request(
        cf::UNPARSABLE_VECTORS,
        format!("vectorize.upstream_error - failed to parse upsert vectors request in ndjson format: line Some({line}) was not expected format"),
    )
}

/// 40023 with the binding path's "json format" wording (spec §4.7).
fn json_upload_error(detail: &str) -> CfError {
    CfError::bad_request(cf::UNPARSABLE_VECTORS, format!("vectorize.upstream_error - failed to parse upsert vectors request in json format: {detail}"))
}

fn multipart_error(detail: &str) -> CfError {
    CfError::bad_request(cf::UNPARSABLE_VECTORS, format!("vectorize.upstream_error - failed to parse upsert vectors request in multipart format: {detail}"))
}

/// The Python SDK sends its NDJSON bytes labelled `application/json` (spec §6.2 notes the
/// confusion): a body that is several JSON values, or a single vector object, is NDJSON.
fn parse_json_upload(body: &[u8], behavior: Unparsable) -> Result<Vec<ipb::Vector>, CfError> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if e.is_syntax() && e.to_string().contains("trailing characters") => return parse_ndjson(body, behavior),
        Err(e) => return Err(json_upload_error(&e.to_string())),
    };
    if let Value::Object(o) = &v
        && o.contains_key("id")
        && !o.contains_key("vectors")
    {
        return parse_ndjson(body, behavior);
    }
    match v {
        Value::String(s) => parse_ndjson(s.as_bytes(), behavior),
        Value::Array(items) => json_vectors(items, behavior),
        Value::Object(mut o) => match o.remove("vectors") {
            Some(Value::Array(items)) => json_vectors(items, behavior),
            Some(Value::String(s)) => parse_ndjson(s.as_bytes(), behavior),
            _ => Err(json_upload_error("expected {\"vectors\": [...]}")),
        },
        _ => Err(json_upload_error("expected {\"vectors\": [...]}")),
    }
}

fn json_vectors(items: Vec<Value>, behavior: Unparsable) -> Result<Vec<ipb::Vector>, CfError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<VectorIn>(item) {
            Ok(v) => out.push(v.into_proto()),
            Err(_) if behavior == Unparsable::Discard => {}
            Err(e) => return Err(json_upload_error(&format!("vector Some({i}) was not expected format: {e}"))),
        }
    }
    Ok(out)
}

/// The content of the multipart part named `wanted` (RFC 7578), found by hand: parts are
/// separated by `--boundary` lines, each has headers, a blank line, then content up to the CRLF
/// before the next delimiter.
fn multipart_part<'a>(body: &'a [u8], boundary: &str, wanted: &str) -> Result<&'a [u8], CfError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let next_delim = [b"\n".as_slice(), delim].concat();
    let mut pos = find(body, delim, 0).ok_or_else(|| multipart_error("boundary not found in the body"))? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Err(multipart_error(&format!("no part named {wanted:?}")));
        }
        // Rest of the delimiter line (transport padding), then the part's headers.
        let mut i = find(body, b"\n", pos).ok_or_else(|| multipart_error("truncated body"))? + 1;
        let mut name = None;
        loop {
            let nl = find(body, b"\n", i).ok_or_else(|| multipart_error("truncated part headers"))?;
            let line = body[i..nl].trim_ascii();
            i = nl + 1;
            if line.is_empty() {
                break;
            }
            if let Some(n) = disposition_name(line) {
                name = Some(n);
            }
        }
        let start = i;
        let end = find(body, &next_delim, start).ok_or_else(|| multipart_error("missing closing boundary"))?;
        if name.as_deref() == Some(wanted) {
            let content_end = if end > start && body[end - 1] == b'\r' { end - 1 } else { end };
            return Ok(&body[start..content_end]);
        }
        pos = end + next_delim.len();
    }
}

/// `name` of a `Content-Disposition: form-data; name="vectors"; filename="…"` header line.
fn disposition_name(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?;
    let (key, value) = line.split_once(':')?;
    if !key.trim().eq_ignore_ascii_case("content-disposition") {
        return None;
    }
    mime_param(value, "name").map(str::to_owned)
}

/// First index of `needle` in `hay` at or after `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// (lowercased essence, raw header) of the request's Content-Type.
pub fn content_type(headers: &HeaderMap) -> Option<(String, &str)> {
    let raw = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    Some((essence, raw))
}

/// A `key=value` parameter of a header value like `multipart/form-data; boundary=xyz`.
fn mime_param<'a>(raw: &'a str, key: &str) -> Option<&'a str> {
    raw.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[ipb::Vector]) -> Vec<&str> {
        v.iter().map(|v| v.id.as_str()).collect()
    }

    #[test]
    fn ndjson_accepts_crlf_blank_lines_and_trailing_newline() {
        let body = b"{\"id\":\"a\",\"values\":[1,2]}\r\n\r\n{\"id\":\"b\",\"values\":[3,4],\"namespace\":\"n\",\"metadata\":{\"k\":1}}\n";
        let v = parse_ndjson(body, Unparsable::Error).expect("parses");
        assert_eq!(ids(&v), ["a", "b"]);
        assert_eq!(v[1].namespace, "n");
        assert!(v[1].metadata.is_some());
    }

    #[test]
    fn ndjson_bad_line_errors_or_is_discarded() {
        let body = b"{\"id\":\"a\",\"values\":[1]}\n\nnot json\n{\"id\":\"b\",\"values\":[2]}";
        let e = parse_ndjson(body, Unparsable::Error).expect_err("bad line");
        assert_eq!(e.code, cf::UNPARSABLE_VECTORS);
        assert!(e.message.ends_with("line Some(2) was not expected format"), "{}", e.message);
        let v = parse_ndjson(body, Unparsable::Discard).expect("discard");
        assert_eq!(ids(&v), ["a", "b"]);
    }

    #[test]
    fn multipart_finds_the_vectors_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nignored\r\n--XyZ\r\nContent-Disposition: form-data; name=\"vectors\"; filename=\"vectors.ndjson\"\r\nContent-Type: application/x-ndjson\r\n\r\n{\"id\":\"a\",\"values\":[1]}\n{\"id\":\"b\",\"values\":[2]}\r\n--XyZ--\r\n";
        let part = multipart_part(body, "XyZ", "vectors").expect("part");
        assert_eq!(part, b"{\"id\":\"a\",\"values\":[1]}\n{\"id\":\"b\",\"values\":[2]}");
        assert!(multipart_part(body, "XyZ", "missing").is_err());
    }

    #[test]
    fn json_uploads() {
        let v = parse_json_upload(br#""{\"id\":\"a\",\"values\":[1]}\n""#, Unparsable::Error).expect("string");
        assert_eq!(ids(&v), ["a"]);
        let v = parse_json_upload(br#"{"vectors":[{"id":"a","values":[1]},{"id":"b","values":[2]}]}"#, Unparsable::Error).expect("object");
        assert_eq!(ids(&v), ["a", "b"]);
    }

}
