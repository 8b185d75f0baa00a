//! The vectors of an insert/upsert request body (spec §4.4): raw NDJSON, multipart with a
//! `vectors` part, or JSON, with Vectorize's 40023 errors.
//!
//! Cost is linear in the body: every form is read in one forward pass over the bytes (NDJSON
//! line by line, JSON arrays element by element, multipart with memchr's linear-time substring
//! search), nothing holds the whole body as a JSON value, each vector is read into its own type
//! with its metadata and values bounded as they stream (`ndjson.rs`), and reading stops at the
//! vector after the HTTP API's cap of [`MAX_BATCH`] (spec §3) with index-svc's error for a
//! too-large batch. A vector whose metadata or values break Vectorize's limits fails the whole
//! request (also with `discard`, which drops only unparsable lines): nothing of it is written.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use axum::http::{HeaderMap, header};
use memchr::memmem;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use strato_proto::index::v1 as ipb;

use super::cf::{self, CfError};
use crate::ndjson::{self, VectorIn};

/// Vectors per insert/upsert request over HTTP (spec §3); index-svc's `validate::MAX_BATCH`.
pub const MAX_BATCH: usize = 5000;
/// Longest multipart boundary, RFC 2046 §5.1.1.
pub const MAX_BOUNDARY_CHARS: usize = 70;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unparsable {
    Error,
    Discard,
}

/// The vectors of an insert/upsert body, by content type (spec §4.4):
/// - `application/x-ndjson` (also `application/ndjson`): raw NDJSON;
/// - `multipart/form-data`: NDJSON in the part named `vectors` (wrangler, the docs' Python example);
/// - `application/json`: `{"vectors": [...]}` (the binding's non-NDJSON form), or a JSON string
///   holding NDJSON (what the Python SDK 4.3.1 sends, spec §6.2). A bare array is refused, as
///   Cloudflare refuses it.
///
/// Anything else is `vectorize.unknown_content_type`. Every vector's validity is left to
/// index-svc; the count is capped here too, while reading.
pub fn upload_vectors(q: &HashMap<String, String>, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ipb::Vector>, CfError> {
    let behavior = unparsable_behavior(q)?;
    let Some((essence, raw)) = content_type(headers) else {
        return Err(unknown_content_type("none"));
    };
    match essence.as_str() {
        "application/x-ndjson" | "application/ndjson" => parse_ndjson(body, behavior),
        "multipart/form-data" => {
            let boundary = mime_param(raw, "boundary").ok_or_else(|| multipart_error("no boundary in the Content-Type"))?;
            if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_CHARS {
                return Err(multipart_error(&format!(
                    "the boundary must be 1 to {MAX_BOUNDARY_CHARS} characters (RFC 2046), got {}",
                    boundary.len()
                )));
            }
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

/// NDJSON: one vector object per line; `\r\n`, blank lines, a trailing newline and a leading
/// BOM are accepted (spec §4.4, inferred). A line that is not a vector (bad JSON, invalid UTF-8,
/// wrong field types) fails the request with 40023 or, with `discard`, is dropped. Read line by
/// line; the vector after the [`MAX_BATCH`]th stops the reading.
fn parse_ndjson(body: &[u8], behavior: Unparsable) -> Result<Vec<ipb::Vector>, CfError> {
    let mut out = Vec::new();
    for (line, text) in ndjson::lines(body) {
        match serde_json::from_slice::<VectorIn<'_>>(text) {
            Ok(v) => push(&mut out, v)?,
            Err(_) if behavior == Unparsable::Discard => {}
            Err(_) => return Err(ndjson_line_error(line - 1)),
        }
    }
    Ok(out)
}

/// Adds a parsed vector, or refuses it: past the cap, or beyond Vectorize's limits.
fn push(out: &mut Vec<ipb::Vector>, v: VectorIn<'_>) -> Result<(), CfError> {
    if out.len() == MAX_BATCH {
        return Err(too_many());
    }
    match v.into_proto() {
        Ok(v) => {
            // Metadata of many small values (`[0,0,…]`: 5,120 numbers in 10 KiB) is a tree far
            // larger than its text: each node is charged before the batch grows by it.
            let nodes = v.metadata.as_ref().map_or(0, crate::shapes::struct_nodes);
            crate::budget::charge(nodes as u64 * crate::shapes::STRUCT_NODE_BYTES)?;
            out.push(v);
        }
        Err(ndjson::Refusal::Vector(m)) => return Err(CfError::bad_request(cf::INVALID_VECTOR, m)),
        Err(ndjson::Refusal::Metadata(m)) => return Err(CfError::bad_request(cf::BAD_REQUEST, m)),
    }
    Ok(())
}

/// index-svc's `validate::batch_size` error (INVALID_ARGUMENT → 400 code 40003 in `cf.rs`),
/// said before the rest of the body is read.
fn too_many() -> CfError {
    CfError::bad_request(cf::BAD_REQUEST, format!("at most {MAX_BATCH} vectors per request, got more"))
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

/// A JSON body: `{"vectors": [...]}` or a bare array, streamed element by element; a JSON string
/// holding NDJSON (the Python SDK 4.3.1); or NDJSON itself labelled `application/json` (several
/// JSON values, or one vector object; spec §6.2 notes the confusion).
fn parse_json_upload(body: &[u8], behavior: Unparsable) -> Result<Vec<ipb::Vector>, CfError> {
    if body.trim_ascii_start().starts_with(b"{") && is_ndjson(body)? {
        return parse_ndjson(body, behavior);
    }
    let stopped = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = Vectors { behavior, stopped: &stopped, top: true }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (stopped.into_inner(), read) {
        (Some(e), _) => Err(e),
        (None, Ok(v)) => Ok(v),
        (None, Err(e)) => Err(json_upload_error(&e.to_string())),
    }
}

/// Whether a body starting with `{` is NDJSON: more than one JSON value, or an object with an
/// `id` and no `vectors`. Only the first value is walked, and not kept; a top-level `vectors`
/// key ends the walk there (the `{"vectors": ...}` form, whose vectors are then read up to the
/// cap: the walk must not read them all first).
fn is_ndjson(body: &[u8]) -> Result<bool, CfError> {
    /// The first object's top-level keys: whether one is `id`, or a stop at `vectors`.
    struct Head<'a>(&'a Cell<bool>);
    impl<'de> Visitor<'de> for Head<'_> {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut id = false;
            while let Some(key) = map.next_key::<String>()? {
                if key == "vectors" {
                    self.0.set(true);
                    return Err(de::Error::custom("stopped"));
                }
                id |= key == "id";
                map.next_value::<IgnoredAny>()?;
            }
            Ok(id)
        }
    }
    let has_vectors = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    match de::Deserializer::deserialize_map(&mut de, Head(&has_vectors)) {
        _ if has_vectors.get() => Ok(false),
        Ok(id) => Ok(id || de.end().is_err()),
        Err(e) => Err(json_upload_error(&e.to_string())),
    }
}

/// Reads the vectors of `[...]`, `"<ndjson>"` or, at the top, `{"vectors": <either>}`. A
/// CfError (a bad element, the cap) is left in `stopped` and ends the reading.
#[derive(Clone, Copy)]
struct Vectors<'a> {
    behavior: Unparsable,
    stopped: &'a RefCell<Option<CfError>>,
    top: bool,
}

impl Vectors<'_> {
    fn stop<E: de::Error>(self, e: CfError) -> E {
        *self.stopped.borrow_mut() = Some(e);
        E::custom("stopped")
    }
}

impl<'de> DeserializeSeed<'de> for Vectors<'_> {
    type Value = Vec<ipb::Vector>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Vectors<'_> {
    type Value = Vec<ipb::Vector>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("{\"vectors\": [...]}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.top {
            return Err(self.stop(json_upload_error("expected {\"vectors\": [...]}, got a bare array")));
        }
        let mut out = Vec::new();
        let mut i = 0usize;
        // One element at a time as its slice of the body, so `discard` can drop a malformed one.
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            match serde_json::from_str::<VectorIn<'_>>(item.get()) {
                Ok(v) => push(&mut out, v).map_err(|e| self.stop(e))?,
                Err(_) if self.behavior == Unparsable::Discard => {}
                Err(e) => return Err(self.stop(json_upload_error(&format!("vector Some({i}) was not expected format: {e}")))),
            }
            i += 1;
        }
        Ok(out)
    }

    fn visit_str<E: de::Error>(self, ndjson: &str) -> Result<Self::Value, E> {
        parse_ndjson(ndjson.as_bytes(), self.behavior).map_err(|e| self.stop(e))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.top {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let mut vectors = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "vectors" && vectors.is_none() {
                vectors = Some(map.next_value_seed(Vectors { top: false, ..self })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        vectors.ok_or_else(|| de::Error::custom("expected {\"vectors\": [...]}"))
    }
}

/// The content of the multipart part named `wanted` (RFC 7578): parts are separated by
/// `--boundary` lines, each has headers, a blank line, then content up to the CRLF before the
/// next delimiter. One forward pass: each search starts where the last ended, and memchr's
/// searches are linear in haystack plus needle, whatever the boundary.
pub fn multipart_part<'a>(body: &'a [u8], boundary: &str, wanted: &str) -> Result<&'a [u8], CfError> {
    let delim = format!("--{boundary}");
    let next_delim = format!("\n{delim}");
    let next = memmem::Finder::new(next_delim.as_bytes());
    let line_end = |from: usize| memchr::memchr(b'\n', &body[from..]).map(|p| p + from);
    // The first delimiter starts the body or a line: a preamble may hold the boundary mid-line.
    let first = if body.starts_with(delim.as_bytes()) { Some(0) } else { next.find(body).map(|p| p + 1) };
    let mut pos = first.ok_or_else(|| multipart_error("boundary not found in the body"))? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Err(multipart_error(&format!("no part named {wanted:?}")));
        }
        // Rest of the delimiter line (transport padding), then the part's headers.
        let mut i = line_end(pos).ok_or_else(|| multipart_error("truncated body"))? + 1;
        let mut name = None;
        loop {
            let nl = line_end(i).ok_or_else(|| multipart_error("truncated part headers"))?;
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
        let end = next.find(&body[start..]).map(|p| p + start).ok_or_else(|| multipart_error("missing closing boundary"))?;
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

/// First index of `needle` in `hay` at or after `from` (linear time).
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    memmem::find(&hay[from..], needle).map(|p| p + from)
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

    #[test]
    fn json_uploads_ndjson_labelled_json_and_bad_elements() {
        let two = b"{\"id\":\"a\",\"values\":[1]}\n{\"id\":\"b\",\"values\":[2]}";
        assert_eq!(ids(&parse_json_upload(two, Unparsable::Error).expect("ndjson as json")), ["a", "b"]);
        assert_eq!(ids(&parse_json_upload(br#"{"id":"a","values":[1]}"#, Unparsable::Error).expect("one vector")), ["a"]);
        assert_eq!(ids(&parse_json_upload(br#"{"other":1,"vectors":"{\"id\":\"a\",\"values\":[1]}"}"#, Unparsable::Error).expect("ndjson string")), ["a"]);
        let bad = br#"{"vectors":[{"id":"a","values":[1]},{"id":5},{"id":"b","values":[2]}]}"#;
        let e = parse_json_upload(bad, Unparsable::Error).expect_err("bad element");
        assert_eq!(e.code, cf::UNPARSABLE_VECTORS);
        assert!(e.message.contains("vector Some(1) was not expected format"), "{}", e.message);
        assert_eq!(ids(&parse_json_upload(bad, Unparsable::Discard).expect("discard")), ["a", "b"]);
        for bad in [&br#"{"vectors":5}"#[..], br#"{"x":[]}"#, b"5", br#"{"vectors":[]} x"#, br#"[{"id":"a","values":[1]}]"#, b"[]"] {
            let e = parse_json_upload(bad, Unparsable::Error).expect_err("not an upload");
            assert_eq!(e.code, cf::UNPARSABLE_VECTORS, "{}", String::from_utf8_lossy(bad));
        }
    }

    fn lines(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{{\"id\":\"{i}\",\"values\":[1]}}")).collect()
    }

    /// The cap stops the reading: a bad line after the 5,001st vector is never reached.
    #[test]
    fn the_batch_cap_is_enforced_while_reading() {
        let mut body = lines(MAX_BATCH).join("\n");
        assert_eq!(parse_ndjson(body.as_bytes(), Unparsable::Error).map(|v| v.len()).ok(), Some(MAX_BATCH));
        body.push_str("\nnot json\n");
        assert_eq!(parse_ndjson(body.as_bytes(), Unparsable::Discard).map(|v| v.len()).ok(), Some(MAX_BATCH), "a bad line is not a vector");
        let body = lines(MAX_BATCH + 1).join("\n") + "\nnot json";
        for b in [body.clone(), serde_json::Value::String(body).to_string()] {
            let e = parse_json_upload(b.as_bytes(), Unparsable::Error).expect_err("too many");
            assert_eq!((e.status.as_u16(), e.code), (400, cf::BAD_REQUEST));
            assert!(e.message.starts_with("at most 5000 vectors per request"), "{}", e.message);
        }
        let wrapped = format!("{{\"vectors\": [{}, 5]}}", lines(MAX_BATCH + 1).join(","));
        let e = parse_json_upload(wrapped.as_bytes(), Unparsable::Error).expect_err("too many");
        assert_eq!(e.code, cf::BAD_REQUEST, "{}", e.message);
    }

    fn multipart_headers(boundary: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, format!("multipart/form-data; boundary=\"{boundary}\"").parse().expect("header"));
        h
    }

    #[test]
    fn boundaries_longer_than_70_characters_are_refused() {
        let part = |b: &str| format!("--{b}\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\n{{\"id\":\"a\",\"values\":[1]}}\r\n--{b}--\r\n");
        let ok = "b".repeat(MAX_BOUNDARY_CHARS);
        let v = upload_vectors(&HashMap::new(), &multipart_headers(&ok), part(&ok).as_bytes()).expect("70 characters");
        assert_eq!(ids(&v), ["a"]);
        let long = "b".repeat(MAX_BOUNDARY_CHARS + 1);
        let e = upload_vectors(&HashMap::new(), &multipart_headers(&long), part(&long).as_bytes()).expect_err("71 characters");
        assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS));
        assert!(e.message.contains("RFC 2046"), "{}", e.message);
    }

    /// Delimiter-like runs before and between parts, and a part named like the wanted one's prefix.
    #[test]
    fn multipart_skips_near_delimiters() {
        let b = "-----x";
        let body = format!(
            "------x\n------\r\n--{b}\r\nContent-Disposition: form-data; name=\"vectorsx\"\r\n\r\n\n------x\r\n--{b}\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\nok\r\n--{b}--"
        );
        assert_eq!(multipart_part(body.as_bytes(), b, "vectors").expect("part"), b"ok");
        assert!(multipart_part(b"no delimiter here", b, "vectors").is_err());
        assert!(multipart_part(format!("--{b}\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\nno end").as_bytes(), b, "vectors").is_err());
    }

    /// Found by `fuzz::multipart_yields_exactly_the_vectors_part`: the boundary in the preamble,
    /// not at a line start, was taken for the first delimiter.
    #[test]
    fn a_preamble_may_hold_the_boundary_mid_line() {
        // Minimal case found: preamble "\n\r--uE--" (read as the close delimiter), LF line ends.
        let body = b"\n\r--uE--\n--uE\nContent-Disposition: form-data; name=vectors\n\nok\n--uE--\n";
        assert_eq!(multipart_part(body, "uE", "vectors").expect("part"), b"ok");
        let body = b"text x--XyZ-- text\r\n--XyZ\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\nok\r\n--XyZ--\r\n";
        assert_eq!(multipart_part(body, "XyZ", "vectors").expect("part"), b"ok");
        assert!(multipart_part(b"x--XyZ\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\nok\r\n", "XyZ", "vectors").is_err(), "no delimiter line");
    }

    /// Found by `fuzz::the_cap_stops_the_reading_at_the_5001st_vector`: in `{"vectors": [...]}`
    /// the NDJSON sniffing walked the whole array first, so what followed the 5,001st vector was
    /// read (here a syntax error, 40023, instead of the cap's 40003).
    #[test]
    fn the_cap_stops_the_object_form_before_what_follows() {
        for tail in ["not json", "5]}", "\u{0}"] {
            let body = format!("{{\"vectors\": [{}, {tail}", lines(MAX_BATCH + 1).join(","));
            let e = parse_json_upload(body.as_bytes(), Unparsable::Error).expect_err("too many");
            assert_eq!((e.code, e.message.starts_with("at most 5000")), (cf::BAD_REQUEST, true), "{tail}: {}", e.message);
        }
        // The key order and an `id` beside `vectors` do not make it NDJSON.
        let v = parse_json_upload(br#"{"id":"x","vectors":[{"id":"a","values":[1]}]}"#, Unparsable::Error).expect("object form");
        assert_eq!(ids(&v), ["a"]);
    }

}

#[cfg(test)]
#[path = "upload_fuzz.rs"]
mod fuzz;
