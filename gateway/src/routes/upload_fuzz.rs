//! Property-based fuzzing of the upload parsers (issue 13, point 7): NDJSON, the JSON forms and
//! multipart. Bounded case counts so `cargo test` stays quick; `STRATO_FUZZ_CASES=<n>` runs every
//! property with `n` cases instead, for a deeper local run. No regression files are written.
use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};
use strato_proto::json as pbjson;

use super::*;

/// `default` cases, or `STRATO_FUZZ_CASES`; never a persistence file.
fn config(default: u32) -> Config {
    let cases = std::env::var("STRATO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ------------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------------

/// A vector as a client means it.
#[derive(Debug, Clone)]
struct Vin {
    id: String,
    values: Vec<f32>,
    namespace: Option<String>,
    metadata: Option<Map<String, Value>>,
}

/// How one vector is written as JSON: number spelling, field order, nulls, unknown fields.
#[derive(Debug, Clone)]
struct Style {
    /// 0: f32's shortest form; 1: the exact f64 widening; 2: integers as integers where exact.
    numbers: u8,
    rotate: usize,
    explicit_nulls: bool,
    extra_field: bool,
    spaced: bool,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,12}",
        any::<String>(),
        // Control characters, NUL, quotes, backslashes, line breaks, astral characters.
        vec(prop_oneof![any::<char>(), Just('\0'), Just('\n'), Just('\r'), Just('"'), Just('\\'), Just('\u{2028}'), Just('\u{1F600}')], 0..16)
            .prop_map(String::from_iter),
    ]
}

fn finite_f32() -> impl Strategy<Value = f32> {
    use proptest::num::f32 as f;
    prop_oneof![
        4 => f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
        1 => prop::sample::select(vec![0.0, -0.0, 1.0, -1.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, f32::EPSILON, 16_777_216.0, 0.1, 1e-45]),
        1 => (-100_000i32..100_000).prop_map(|i| i as f32),
    ]
}

fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as f;
    prop_oneof![
        3 => f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
        1 => prop::sample::select(vec![0.0, -0.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE, 9_007_199_254_740_993.0, 1e300]),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

/// Metadata values as Vectorize allows them: a leaf, an array of leaves, or one object level
/// of those.
fn json_value() -> impl Strategy<Value = Value> {
    let list = || prop_oneof![json_leaf(), vec(json_leaf(), 0..4).prop_map(Value::Array)];
    prop_oneof![list(), btree_map(text(), list(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))]
}

fn metadata() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(text(), json_value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn vin() -> impl Strategy<Value = Vin> {
    (text(), vec(finite_f32(), 0..12), proptest::option::of(text()), proptest::option::of(metadata()))
        .prop_map(|(id, values, namespace, metadata)| Vin { id, values, namespace, metadata })
}

fn style() -> impl Strategy<Value = Style> {
    (0u8..3, 0usize..4, any::<bool>(), any::<bool>(), any::<bool>())
        .prop_map(|(numbers, rotate, explicit_nulls, extra_field, spaced)| Style { numbers, rotate, explicit_nulls, extra_field, spaced })
}

fn js<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

fn number(x: f32, style: u8) -> String {
    match style {
        1 => js(&f64::from(x)),
        2 if x.fract() == 0.0 && x.abs() < 16_777_216.0 && !(x == 0.0 && x.is_sign_negative()) => format!("{}", x as i64),
        _ => js(&x),
    }
}

/// One vector as a compact JSON object (no line breaks).
fn vector_json(v: &Vin, s: &Style) -> String {
    let values: Vec<String> = v.values.iter().map(|x| number(*x, s.numbers)).collect();
    let mut fields = vec![format!("\"id\":{}", js(&v.id)), format!("\"values\":[{}]", values.join(if s.spaced { ", " } else { "," }))];
    match (&v.namespace, s.explicit_nulls) {
        (Some(ns), _) => fields.push(format!("\"namespace\":{}", js(ns))),
        (None, true) => fields.push("\"namespace\":null".into()),
        (None, false) => {}
    }
    match (&v.metadata, s.explicit_nulls) {
        (Some(m), _) => fields.push(format!("\"metadata\":{}", js(m))),
        (None, true) => fields.push("\"metadata\":null".into()),
        (None, false) => {}
    }
    if s.extra_field {
        fields.push("\"extra\":{\"values\":[\"x\"],\"id\":[[{}]]}".into());
    }
    let n = fields.len();
    fields.rotate_left(s.rotate % n);
    let body = fields.join(if s.spaced { ", " } else { "," });
    if s.spaced { format!("{{ {body} }}") } else { format!("{{{body}}}") }
}

/// What the parsers must give for `v`.
fn expected(v: &Vin) -> ipb::Vector {
    ipb::Vector {
        id: v.id.clone(),
        values: v.values.clone(),
        namespace: v.namespace.clone().unwrap_or_default(),
        metadata: v.metadata.as_ref().map(pbjson::map_to_struct),
    }
}

/// Exactly these vectors, in order; values compared bit for bit (so -0.0 is not 0.0).
fn assert_same(got: &[ipb::Vector], want: &[Vin]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "vector count");
    for (g, w) in got.iter().zip(want) {
        let e = expected(w);
        prop_assert_eq!(&g.id, &e.id);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&g.values), bits(&e.values), "values of {:?}", e.id);
        prop_assert_eq!(&g.namespace, &e.namespace);
        prop_assert_eq!(&g.metadata, &e.metadata);
    }
    Ok(())
}

/// NDJSON layout: line separator, blank lines, padding, trailing newline, BOM.
#[derive(Debug, Clone)]
struct Layout {
    crlf: bool,
    /// Per gap before line i: how many blank lines (of `blank`'s kinds).
    blanks: Vec<u8>,
    pad: bool,
    trailing_newline: bool,
    bom: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (any::<bool>(), vec(prop_oneof![6 => Just(0u8), 1 => 1u8..3], 0..8), any::<bool>(), any::<bool>(), prop::bool::weighted(0.2))
        .prop_map(|(crlf, blanks, pad, trailing_newline, bom)| Layout { crlf, blanks, pad, trailing_newline, bom })
}

/// The raw lines of an NDJSON body for `lines` (before joining), and the raw index of each.
fn ndjson_lines(lines: &[Vec<u8>], l: &Layout) -> (Vec<Vec<u8>>, Vec<usize>) {
    let mut raw = Vec::new();
    let mut at = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let blanks = l.blanks.get(i).copied().unwrap_or(0);
        for b in 0..blanks {
            raw.push(if b % 2 == 0 { Vec::new() } else { b" \t".to_vec() });
        }
        at.push(raw.len());
        let mut line = line.clone();
        if l.pad {
            line.splice(0..0, *b" ");
            line.extend_from_slice(b"\t ");
        }
        raw.push(line);
    }
    (raw, at)
}

fn join_ndjson(raw: &[Vec<u8>], l: &Layout) -> Vec<u8> {
    let sep: &[u8] = if l.crlf { b"\r\n" } else { b"\n" };
    let mut body = if l.bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
    body.extend(raw.join(sep));
    if l.trailing_newline {
        body.extend_from_slice(sep);
    }
    body
}

fn ndjson(vs: &[Vin], styles: &[Style], l: &Layout) -> Vec<u8> {
    let lines: Vec<Vec<u8>> = vs.iter().enumerate().map(|(i, v)| vector_json(v, &styles[i % styles.len()]).into_bytes()).collect();
    join_ndjson(&ndjson_lines(&lines, l).0, l)
}

fn headers(content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("header value"));
    h
}

fn query(behavior: Option<&str>) -> HashMap<String, String> {
    behavior.map(|b| HashMap::from([("unparsable-behavior".to_owned(), b.to_owned())])).unwrap_or_default()
}

const NDJSON_TYPES: [&str; 4] = ["application/x-ndjson", "application/ndjson", "Application/X-NDJSON; charset=utf-8", "application/x-ndjson;"];
const JSON_TYPES: [&str; 2] = ["application/json", "application/json; charset=UTF-8"];

/// Every error the upload parsers may give: 400 with 40023, 40003 (the cap, bad query) or 40026.
fn assert_clean_outcome(r: &Result<Vec<ipb::Vector>, CfError>) -> Result<(), TestCaseError> {
    match r {
        Ok(v) => prop_assert!(v.len() <= MAX_BATCH),
        Err(e) => {
            prop_assert_eq!(e.status.as_u16(), 400);
            prop_assert!([cf::UNPARSABLE_VECTORS, cf::BAD_REQUEST, cf::BAD_JSON].contains(&e.code), "code {}", e.code);
        }
    }
    Ok(())
}

/// Bytes that stress a JSON/NDJSON reader: fragments of valid vectors, huge and odd numbers,
/// deep nesting, NUL, invalid UTF-8, lone surrogates, mixed line breaks.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b",".to_vec()),
        Just(b":".to_vec()),
        Just(b"\"id\":\"a\"".to_vec()),
        Just(b"\"values\":[1,2.5e-3]".to_vec()),
        Just(b"\"vectors\":".to_vec()),
        Just(b"\"metadata\":{\"k\":[1,{\"x\":null}]}".to_vec()),
        Just(b"\"namespace\":".to_vec()),
        Just(b"{\"id\":\"a\",\"values\":[1]}".to_vec()),
        Just(b"1e999999999".to_vec()),
        Just(b"-1e-999999".to_vec()),
        Just(b"3.5e38".to_vec()),
        Just(b"123456789012345678901234567890123456789".to_vec()),
        Just(b"-0".to_vec()),
        Just(b"null".to_vec()),
        Just(b"true".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"\"\\u0000\"".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\xFF\xFE".to_vec()),
        Just(b"\xC3".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        (1usize..400).prop_map(|n| b"[".repeat(n)),
        (1usize..300).prop_map(|n| b"{\"a\":".repeat(n)),
        (1usize..200).prop_map(|n| [b"[".repeat(n), b"]".repeat(n)].concat()),
        vec(any::<u8>(), 0..24),
    ];
    prop_oneof![
        vec(any::<u8>(), 0..256),
        vec(piece, 0..40).prop_map(|p| p.concat()),
        // A valid body with bytes flipped, inserted and cut.
        (vec(vin(), 1..4), style(), vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)).prop_map(|(vs, s, edits)| {
            let mut b = ndjson(&vs, &[s], &Layout { crlf: false, blanks: vec![], pad: false, trailing_newline: false, bom: false });
            for (at, byte, op) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    _ => b.truncate(i),
                }
            }
            b
        }),
    ]
}

// ------------------------------------------------------------------------------------------------
// NDJSON and JSON
// ------------------------------------------------------------------------------------------------

/// Which JSON form carries the vectors.
#[derive(Debug, Clone, Copy)]
enum JsonForm {
    /// `{"vectors": [...]}`, with unrelated keys around it.
    Object,
    /// A bare array: refused.
    Array,
    /// A JSON string holding NDJSON (the Python SDK).
    String,
    /// `{"vectors": "<ndjson>"}`.
    ObjectString,
    /// NDJSON labelled application/json.
    Ndjson,
}

fn json_form() -> impl Strategy<Value = JsonForm> {
    prop::sample::select(vec![JsonForm::Object, JsonForm::String, JsonForm::ObjectString, JsonForm::Ndjson])
}

fn json_body(form: JsonForm, elements: &[String], l: &Layout, other_keys: bool) -> Vec<u8> {
    let array = format!("[{}]", elements.join(if l.pad { " ,\n " } else { "," }));
    let ndjson_text = elements.join(if l.crlf { "\r\n" } else { "\n" });
    let wrap = |inner: String| {
        if other_keys {
            format!("{{\"before\":{{\"vectors\":[1]}}, \"vectors\" : {inner}, \"after\":[\"x\",{{\"id\":\"no\"}}]}}")
        } else {
            format!("{{\"vectors\":{inner}}}")
        }
    };
    match form {
        JsonForm::Object => wrap(array).into_bytes(),
        JsonForm::Array => array.into_bytes(),
        JsonForm::String => js(&ndjson_text).into_bytes(),
        JsonForm::ObjectString => wrap(js(&ndjson_text)).into_bytes(),
        JsonForm::Ndjson => ndjson_text.into_bytes(),
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// No body, under any content type and mode, panics or answers anything but a 400 in the
    /// envelope (or at most 5,000 vectors).
    #[test]
    fn arbitrary_bytes_never_panic(
        body in hostile_bytes(),
        ct in prop::sample::select(vec!["application/x-ndjson", "application/json", "multipart/form-data; boundary=b", "text/plain"]),
        behavior in prop::sample::select(vec![None, Some("error"), Some("discard"), Some("DISCARD")]),
    ) {
        let r = upload_vectors(&query(behavior), &headers(ct), &body);
        assert_clean_outcome(&r)?;
        assert_clean_outcome(&parse_ndjson(&body, Unparsable::Discard))?;
        assert_clean_outcome(&parse_json_upload(&body, Unparsable::Discard))?;
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// N valid vectors written as NDJSON come back as exactly those N, in order, in either mode.
    #[test]
    fn ndjson_round_trips(
        vs in vec(vin(), 0..12),
        styles in vec(style(), 1..4),
        l in layout(),
        ct in prop::sample::select(NDJSON_TYPES.to_vec()),
        behavior in prop::sample::select(vec![None, Some("error"), Some("discard")]),
    ) {
        let body = ndjson(&vs, &styles, &l);
        let got = upload_vectors(&query(behavior), &headers(ct), &body);
        prop_assert!(got.is_ok(), "{:?}", got.as_ref().err().map(|e| &e.message));
        assert_same(&got.expect("checked"), &vs)?;
    }

    /// The same through every JSON form.
    #[test]
    fn json_forms_round_trip(
        vs in vec(vin(), 0..10),
        styles in vec(style(), 1..4),
        l in layout(),
        form in json_form(),
        other_keys in any::<bool>(),
        ct in prop::sample::select(JSON_TYPES.to_vec()),
        behavior in prop::sample::select(vec![None, Some("error"), Some("discard")]),
    ) {
        // NDJSON labelled JSON is told apart by its first value, so it needs one; an empty
        // string or array is fine for the other forms.
        let form = if vs.is_empty() && matches!(form, JsonForm::Ndjson) { JsonForm::Object } else { form };
        let elements: Vec<String> = vs.iter().enumerate().map(|(i, v)| vector_json(v, &styles[i % styles.len()])).collect();
        let body = json_body(form, &elements, &l, other_keys);
        let got = upload_vectors(&query(behavior), &headers(ct), &body);
        prop_assert!(got.is_ok(), "{:?}: {:?}", form, got.as_ref().err().map(|e| &e.message));
        assert_same(&got.expect("checked"), &vs)?;
        // The same vectors as a bare array are refused whole, as Cloudflare refuses them.
        let bare = upload_vectors(&query(behavior), &headers(ct), &json_body(JsonForm::Array, &elements, &l, other_keys));
        prop_assert_eq!(bare.map(|v| v.len()).map_err(|e| e.code), Err(cf::UNPARSABLE_VECTORS));
    }
}

/// A line (or element) that is not a vector.
#[derive(Debug, Clone)]
enum Corruption {
    /// A strict, non-empty prefix of the line.
    Truncate(prop::sample::Index),
    /// Not JSON at all (no line break inside).
    NotJson(Vec<u8>),
    /// Valid JSON of the wrong shape.
    WrongShape(usize),
    /// An invalid UTF-8 byte inside the id.
    BadUtf8(u8),
    LoneSurrogate,
    TrailingGarbage,
}

/// (A duplicate `id` is not here: NDJSON lines refuse it, JSON array elements keep the last.)
const WRONG_SHAPES: [&str; 13] = [
    r#"{"id":5,"values":[1]}"#,
    r#"{"id":"a"}"#,
    r#"{"values":[1]}"#,
    r#"{"id":"a","values":"1"}"#,
    r#"{"id":"a","values":[1],"namespace":5}"#,
    r#"{"id":"a","values":[1],"metadata":[1]}"#,
    r#"{"id":"a","values":[null]}"#,
    r#"{"id":"a","values":[true]}"#,
    r#"{"id":"a","values":[{"x":1}]}"#,
    r#"[]"#,
    r#""{\"id\":\"a\",\"values\":[1]}""#,
    r#"null"#,
    r#"5"#,
];

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Corruption::Truncate),
        vec(any::<u8>().prop_filter("no line break", |b| *b != b'\n'), 0..32).prop_map(Corruption::NotJson),
        (0..WRONG_SHAPES.len()).prop_map(Corruption::WrongShape),
        prop_oneof![0x80u8..0xC2, 0xF5u8..=0xFF].prop_map(Corruption::BadUtf8),
        Just(Corruption::LoneSurrogate),
        Just(Corruption::TrailingGarbage),
    ]
}

impl Corruption {
    fn apply(&self, line: &str) -> Vec<u8> {
        match self {
            Corruption::Truncate(at) => line.as_bytes()[..1 + at.index(line.len() - 1)].to_vec(),
            Corruption::NotJson(junk) => [b"x".as_slice(), junk].concat(),
            Corruption::WrongShape(i) => WRONG_SHAPES[*i].as_bytes().to_vec(),
            Corruption::BadUtf8(b) => [br#"{"id":"a"#.as_slice(), &[*b], br#"b","values":[1]}"#].concat(),
            Corruption::LoneSurrogate => br#"{"id":"\ud800","values":[1]}"#.to_vec(),
            Corruption::TrailingGarbage => [line.as_bytes(), b" x"].concat(),
        }
    }

    /// Still valid JSON (so a JSON array around it still parses, and `discard` can drop it).
    fn is_json(&self) -> bool {
        matches!(self, Corruption::WrongShape(_))
    }
}

proptest! {
    #![proptest_config(config(1024))]

    /// One bad line: `error` refuses the whole body with 40023 naming that line; `discard` keeps
    /// exactly the other vectors. Never a part of the body.
    #[test]
    fn ndjson_bad_line_is_refused_or_dropped(
        vs in vec(vin(), 1..10),
        s in style(),
        l in layout(),
        at in any::<prop::sample::Index>(),
        c in corruption(),
    ) {
        let bad = at.index(vs.len());
        let mut lines: Vec<Vec<u8>> = vs.iter().map(|v| vector_json(v, &s).into_bytes()).collect();
        lines[bad] = c.apply(&vector_json(&vs[bad], &s));
        let (raw, raw_at) = ndjson_lines(&lines, &l);
        let body = join_ndjson(&raw, &l);
        for behavior in [None, Some("error")] {
            let e = upload_vectors(&query(behavior), &headers("application/x-ndjson"), &body).expect_err("a bad line refuses the body");
            prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS));
            let suffix = format!("line Some({}) was not expected format", raw_at[bad]);
            prop_assert!(e.message.ends_with(&suffix), "{}", e.message);
        }
        let kept = upload_vectors(&query(Some("discard")), &headers("application/x-ndjson"), &body);
        prop_assert!(kept.is_ok(), "{:?}", kept.as_ref().err().map(|e| &e.message));
        let others: Vec<Vin> = vs.iter().enumerate().filter(|(i, _)| *i != bad).map(|(_, v)| v.clone()).collect();
        assert_same(&kept.expect("checked"), &others)?;
    }

    /// The same in the JSON forms: a bad element refuses the body with 40023 (`error`), or is
    /// dropped (`discard`) when the JSON around it is still JSON.
    #[test]
    fn json_bad_element_is_refused_or_dropped(
        vs in vec(vin(), 1..8),
        s in style(),
        l in layout(),
        form in json_form(),
        at in any::<prop::sample::Index>(),
        c in corruption(),
    ) {
        // NDJSON labelled JSON is told apart by its first value: that one stays a vector.
        let form = if vs.len() < 2 && matches!(form, JsonForm::Ndjson) { JsonForm::Object } else { form };
        let bad = if matches!(form, JsonForm::Ndjson) { 1 + at.index(vs.len() - 1) } else { at.index(vs.len()) };
        let line = vector_json(&vs[bad], &s);
        let mut elements: Vec<String> = vs.iter().map(|v| vector_json(v, &s)).collect();
        let in_string = matches!(form, JsonForm::String | JsonForm::ObjectString);
        // A JSON string can only hold text (other bytes become U+FFFD, which leaves the other
        // corruptions bad but would mend this one); the other forms carry the bytes as they are.
        let c = if in_string && matches!(c, Corruption::BadUtf8(_)) { Corruption::LoneSurrogate } else { c };
        let corrupt = c.apply(&line);
        // The other forms carry the exact bytes (invalid UTF-8 included): a marker holds the bad
        // element's place (raw NULs are nowhere else: JSON escapes them), so the bytes land
        // there and not in an earlier element that starts the same way.
        const MARK: &str = "\0bad element\0";
        elements[bad] = if in_string { String::from_utf8_lossy(&corrupt).into_owned() } else { MARK.to_owned() };
        let mut body = json_body(form, &elements, &l, false);
        if !in_string {
            let at = memmem::find(&body, MARK.as_bytes()).expect("marker in body");
            body.splice(at..at + MARK.len(), corrupt.iter().copied());
        }
        for behavior in [None, Some("error")] {
            let e = upload_vectors(&query(behavior), &headers("application/json"), &body).expect_err("a bad element refuses the body");
            prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS), "{}", e.message);
        }
        let kept = upload_vectors(&query(Some("discard")), &headers("application/json"), &body);
        // A lone surrogate escape is JSON's grammar but not text: the element around it is
        // skipped as JSON and refused as a vector, so `discard` drops it.
        let droppable = in_string || matches!(form, JsonForm::Ndjson) || c.is_json() || matches!(c, Corruption::LoneSurrogate);
        if droppable {
            prop_assert!(kept.is_ok(), "{:?}", kept.as_ref().err().map(|e| &e.message));
            let others: Vec<Vin> = vs.iter().enumerate().filter(|(i, _)| *i != bad).map(|(_, v)| v.clone()).collect();
            assert_same(&kept.expect("checked"), &others)?;
        } else {
            let e = kept.expect_err("not JSON any more");
            prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS));
        }
    }
}

/// `count` small vectors, `{"id":"<prefix><i>","values":[...]}`.
fn many(count: usize, prefix: &str, values: &[f32]) -> Vec<String> {
    let values: Vec<String> = values.iter().map(js).collect();
    (0..count).map(|i| format!("{{\"id\":{},\"values\":[{}]}}", js(&format!("{prefix}{i}")), values.join(","))).collect()
}

proptest! {
    #![proptest_config(config(32))]

    /// 5,000 vectors pass; the 5,001st is refused with the cap's 40003 before anything after it
    /// is read (the tail here would otherwise be a 40023), in every form and mode.
    #[test]
    fn the_cap_stops_the_reading_at_the_5001st_vector(
        extra in prop_oneof![Just(0usize), 1usize..4],
        prefix in "[a-zA-Z0-9]{0,6}",
        values in vec(finite_f32(), 1..3),
        tail in prop::sample::select(vec![&b"not json"[..], b"\xFF\xFE", b"{\"id\":", b"[[[[", b"{\"id\":5}"]),
        discard in any::<bool>(),
        form in prop::sample::select(vec!["ndjson", "object", "string", "multipart"]),
    ) {
        let count = MAX_BATCH + extra;
        let mut lines = many(count, &prefix, &values);
        if discard {
            // Bad lines before the cap are dropped and not counted.
            for i in [0, 7, 4000] {
                lines.insert(i, "{\"bad\":1}".into());
            }
        }
        let q = query(Some(if discard { "discard" } else { "error" }));
        let tail_text = String::from_utf8_lossy(tail).into_owned();
        let (ct, body): (&str, Vec<u8>) = match form {
            "ndjson" => ("application/x-ndjson", [lines.join("\n").as_bytes(), b"\n", tail].concat()),
            "object" => ("application/json", [&b"{\"vectors\": ["[..], lines.join(",").as_bytes(), b",", tail].concat()),
            "string" => ("application/json", js(&format!("{}\n{tail_text}", lines.join("\n"))).into_bytes()),
            _ => (
                "multipart/form-data; boundary=\"cap boundary\"",
                [&b"--cap boundary\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\n"[..], lines.join("\n").as_bytes(), b"\n", tail, b"\r\n--cap boundary--\r\n"].concat(),
            ),
        };
        let r = upload_vectors(&q, &headers(ct), &body);
        if extra == 0 {
            // Exactly the cap: the tail is reached, and is a bad line (or, in an array, bad JSON).
            let ok_tail = discard && matches!(form, "ndjson" | "string" | "multipart");
            if ok_tail {
                prop_assert_eq!(r.map(|v| v.len()).ok(), Some(MAX_BATCH));
            } else {
                let e = r.expect_err("the tail is read");
                prop_assert_eq!(e.code, cf::UNPARSABLE_VECTORS, "{}", e.message);
            }
        } else {
            let e = r.expect_err("too many");
            prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::BAD_REQUEST), "{}", e.message);
            prop_assert!(e.message.starts_with("at most 5000 vectors per request"), "{}", e.message);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Multipart
// ------------------------------------------------------------------------------------------------

/// RFC 2046 §5.1.1 `bchars`: digits, letters, `'()+_,-./:=?` and space (never last).
const BCHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";

fn boundary(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop_oneof![
        vec(prop::sample::select(BCHARS.to_vec()), len.clone()),
        // Self-similar boundaries, the worst case of a naive search.
        (prop::sample::select(b"-a ".to_vec()), len).prop_map(|(c, n)| vec![c; n]),
    ]
    .prop_map(|mut b| {
        if b.last() == Some(&b' ') {
            *b.last_mut().expect("non-empty") = b'x';
        }
        String::from_utf8(b).expect("ASCII")
    })
}

/// Bytes that look like delimiters of `boundary` without being one: `\n--` plus a strict
/// prefix and a different byte, `--boundary` not at a line start, and the like.
fn near_delimiter(boundary: &str, k: usize, pick: u8) -> Vec<u8> {
    let b = boundary.as_bytes();
    let k = k % b.len();
    let differ = if b[k] == b'#' { b'%' } else { b'#' };
    match pick % 5 {
        0 => [b"\r\n--".as_slice(), &b[..k], &[differ]].concat(),
        1 => [b"x--".as_slice(), b].concat(),
        2 => [b"\r\n-".as_slice(), b].concat(),
        3 => [b"\r\n--".as_slice(), &b[..k]].concat(),
        _ => [b"\n\r--".as_slice(), b].concat(),
    }
}

/// Part content: random bytes, near-delimiters and NDJSON fragments, never `\n--boundary`.
fn content(boundary: String, max_pieces: usize) -> impl Strategy<Value = (String, Vec<u8>)> {
    let b = boundary.clone();
    let piece = prop_oneof![
        vec(any::<u8>(), 0..40),
        (any::<usize>(), any::<u8>()).prop_map(move |(k, pick)| near_delimiter(&b, k, pick)),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"--".to_vec()),
        Just(b"{\"id\":\"a\",\"values\":[1]}\n".to_vec()),
    ];
    vec(piece, 0..max_pieces).prop_map(move |p| {
        let mut c = p.concat();
        let delim = format!("\n--{boundary}");
        // Break up any delimiter the pieces formed by chance.
        while let Some(at) = memmem::find(&c, delim.as_bytes()) {
            c[at] = b'#';
        }
        (boundary.clone(), c)
    })
}

/// A part of a multipart body.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    quoted: bool,
    filename: Option<String>,
    content_type: bool,
    lower_case: bool,
    content: Vec<u8>,
}

fn other_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("vector".to_owned()), Just("vectorsx".to_owned()), Just("Vectors".to_owned()), Just("other".to_owned()), "[a-z]{0,8}"]
        .prop_filter("another part", |n| n != "vectors")
}

fn part(name: impl Strategy<Value = String>, content: Vec<u8>) -> impl Strategy<Value = Part> {
    (name, any::<bool>(), proptest::option::of("[a-zA-Z0-9 ._;=-]{0,16}"), any::<bool>(), any::<bool>()).prop_map(
        move |(name, quoted, filename, content_type, lower_case)| Part { name, quoted, filename, content_type, lower_case, content: content.clone() },
    )
}

#[derive(Debug, Clone)]
struct Multipart {
    boundary: String,
    crlf: bool,
    preamble: Vec<u8>,
    padding: &'static str,
    before: Vec<Part>,
    vectors: Part,
    after: Vec<Part>,
    epilogue: Vec<u8>,
}

impl Multipart {
    fn body(&self) -> Vec<u8> {
        let nl: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let delim = format!("--{}", self.boundary);
        let mut body = self.preamble.clone();
        if !body.is_empty() {
            body.extend_from_slice(nl);
        }
        for p in self.before.iter().chain([&self.vectors]).chain(&self.after) {
            body.extend_from_slice(delim.as_bytes());
            body.extend_from_slice(self.padding.as_bytes());
            body.extend_from_slice(nl);
            let key = if p.lower_case { "content-disposition" } else { "Content-Disposition" };
            let name = if p.quoted { format!("\"{}\"", p.name) } else { p.name.clone() };
            body.extend_from_slice(format!("{key}: form-data; name={name}").as_bytes());
            if let Some(f) = &p.filename {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(nl);
            if p.content_type {
                body.extend_from_slice(b"Content-Type: application/x-ndjson");
                body.extend_from_slice(nl);
            }
            body.extend_from_slice(nl);
            body.extend_from_slice(&p.content);
            body.extend_from_slice(nl);
        }
        body.extend_from_slice(delim.as_bytes());
        body.extend_from_slice(b"--");
        body.extend_from_slice(nl);
        body.extend_from_slice(&self.epilogue);
        body
    }
}

fn multipart_with(vectors_content: Option<Vec<u8>>) -> impl Strategy<Value = Multipart> {
    (boundary(1..=MAX_BOUNDARY_CHARS), any::<bool>()).prop_flat_map(move |(b, crlf)| {
        let vectors = match vectors_content.clone() {
            Some(c) => Just((b.clone(), c)).boxed(),
            None => content(b.clone(), 24).boxed(),
        };
        (
            vectors,
            // With bare LF line ends, a part ending in CR is ambiguous (the parser takes the CR
            // as the line end's): only with CRLF.
            Just(crlf),
            content(b.clone(), 6).prop_map(|(_, c)| c),
            prop::sample::select(vec!["", " ", "\t ", "  \t"]),
            vec(content(b.clone(), 8).prop_flat_map(|(_, c)| part(other_name(), c)), 0..3),
            vec(content(b.clone(), 8).prop_flat_map(|(_, c)| part(other_name(), c)), 0..3),
            vec(any::<u8>(), 0..16),
        )
            .prop_flat_map(|((b, c), crlf, preamble, padding, before, after, epilogue)| {
                let c = if !crlf && c.last() == Some(&b'\r') { c[..c.len() - 1].to_vec() } else { c };
                // The preamble must not hold a delimiter line (`content` keeps `\n--boundary`
                // out): not at its start either, the body's first line start.
                let preamble = if preamble.starts_with(format!("--{b}").as_bytes()) { Vec::new() } else { preamble };
                part(Just("vectors".to_owned()), c).prop_map(move |vectors| Multipart {
                    boundary: b.clone(),
                    crlf,
                    preamble: preamble.clone(),
                    padding,
                    before: before.clone(),
                    vectors,
                    after: after.clone(),
                    epilogue: epilogue.clone(),
                })
            })
    })
}

proptest! {
    #![proptest_config(config(1024))]

    /// A well-formed body, whatever its boundary (1 to 70 bchars), other parts and near-delimiters
    /// in every content, gives exactly the `vectors` part's content.
    #[test]
    fn multipart_yields_exactly_the_vectors_part(m in multipart_with(None)) {
        let body = m.body();
        let got = multipart_part(&body, &m.boundary, "vectors");
        prop_assert!(got.is_ok(), "{:?}", got.as_ref().err().map(|e| &e.message));
        prop_assert_eq!(got.expect("checked"), m.vectors.content.as_slice());
    }

    /// End to end: N vectors as the `vectors` part's NDJSON come back as exactly those N.
    #[test]
    fn multipart_uploads_round_trip(
        (vs, m) in (vec(vin(), 0..6), style()).prop_flat_map(|(vs, s)| {
            let text = ndjson(&vs, &[s], &Layout { crlf: false, blanks: vec![], pad: false, trailing_newline: false, bom: false });
            (Just(vs), multipart_with(Some(text)))
        }),
    ) {
        // Vectors are JSON lines: they can hold neither a raw line break nor the delimiter.
        let got = upload_vectors(&HashMap::new(), &headers(&format!("multipart/form-data; boundary=\"{}\"", m.boundary)), &m.body());
        prop_assert!(got.is_ok(), "{:?}", got.as_ref().err().map(|e| &e.message));
        assert_same(&got.expect("checked"), &vs)?;
    }

    /// Boundaries past RFC 2046's 70 characters (or empty) are refused before the body is read.
    #[test]
    fn long_boundaries_are_refused(b in prop_oneof![boundary(MAX_BOUNDARY_CHARS + 1..=400), Just(String::new())], quoted in any::<bool>()) {
        // Unquoted, a space would end the parameter.
        let b = if quoted { b } else { b.replace(' ', "_") };
        let ct = if quoted { format!("multipart/form-data; boundary=\"{b}\"") } else { format!("multipart/form-data; boundary={b}") };
        let body = format!("--{b}\r\nContent-Disposition: form-data; name=\"vectors\"\r\n\r\n{{\"id\":\"a\",\"values\":[1]}}\r\n--{b}--\r\n");
        let e = upload_vectors(&HashMap::new(), &headers(&ct), body.as_bytes()).expect_err("too long");
        prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS));
        prop_assert!(e.message.contains("RFC 2046"), "{}", e.message);
    }

    /// Arbitrary and adversarial bodies (up to ~100 kB of near-delimiters of a 70-character
    /// self-similar boundary) never panic, and a linear search keeps the suite quick.
    #[test]
    fn multipart_never_panics(
        (b, body) in boundary(1..=MAX_BOUNDARY_CHARS).prop_flat_map(|b| {
            let near = (vec((any::<usize>(), any::<u8>()), 0..1500), Just(b.clone()))
                .prop_map(|(picks, b)| picks.into_iter().flat_map(|(k, p)| near_delimiter(&b, k, p)).collect::<Vec<u8>>());
            let mixed = vec(prop_oneof![
                vec(any::<u8>(), 0..16),
                Just(format!("--{b}").into_bytes()),
                Just(format!("\r\n--{b}\r\n").into_bytes()),
                Just(format!("\r\n--{b}--").into_bytes()),
                Just(b"Content-Disposition: form-data; name=\"vectors\"\r\n".to_vec()),
                Just(b"Content-Disposition: form-data; name=vectors; filename=\"a;name=x\"".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\xFF".to_vec()),
            ], 0..60).prop_map(|p| p.concat());
            (Just(b), prop_oneof![near, mixed, vec(any::<u8>(), 0..256)])
        }),
        wanted in prop_oneof![Just("vectors".to_owned()), "[a-z]{0,4}"],
    ) {
        match multipart_part(&body, &b, &wanted) {
            Ok(part) => prop_assert!(part.len() <= body.len()),
            Err(e) => prop_assert_eq!((e.status.as_u16(), e.code), (400, cf::UNPARSABLE_VECTORS)),
        }
        let r = upload_vectors(&HashMap::new(), &headers(&format!("multipart/form-data; boundary=\"{b}\"")), &body);
        assert_clean_outcome(&r)?;
    }
}
