//! Property-based fuzzing of the filter language (issue 13, point 7): `Filter::parse` on arbitrary
//! JSON, and `Cond::matches` against a small reference evaluator written from spec §2.7 and this
//! module's documented choices (missing matches `$ne`/`$nin`/`$eq: null`; an array matches
//! `$eq`/`$in`/a range when any element does; strings compare on their first 64 bytes; strings
//! and numbers never compare). Bounded case counts; `STRATO_FUZZ_CASES=<n>` runs every property
//! with `n` cases instead. No regression files are written.
use std::cmp::Ordering;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};

use super::*;

/// `default` cases, or `STRATO_FUZZ_CASES`; never a persistence file.
fn config(default: u32) -> Config {
    let cases = std::env::var("STRATO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ------------------------------------------------------------------------------------------------
// Arbitrary JSON
// ------------------------------------------------------------------------------------------------

const OPS: [&str; 8] = ["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"];

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,3}",
        prop::sample::select(OPS.to_vec()).prop_map(str::to_owned),
        "\\$[a-zA-Z]{0,5}",
        "[a-z]{0,3}(\\.[a-z]{0,3}){1,3}",
        any::<String>(),
        "\\PC{1,6}",
        Just(String::new()),
        Just("a\"b".to_owned()),
        (510usize..515).prop_map(|n| "k".repeat(n)),
        (255usize..260).prop_map(|n| "é".repeat(n)),
    ]
}

fn any_number() -> impl Strategy<Value = Value> {
    use proptest::num::f64 as f;
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO).prop_map(Value::from),
        prop::sample::select(vec![json!(-0.0), json!(1e308), json!(-1e308), json!(5e-324), json!(u64::MAX), json!(i64::MIN)]),
    ]
}

fn any_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number(),
        any::<String>().prop_map(Value::String),
        (60usize..70, any::<char>()).prop_map(|(n, c)| Value::String(format!("{}{c}", "a".repeat(n)))),
        (0usize..3000).prop_map(|n| Value::String("x".repeat(n))),
    ]
}

/// Any JSON value, up to 8 levels.
fn any_json() -> impl Strategy<Value = Value> {
    any_leaf().prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(any_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value nested `depth` times in arrays and objects (keys that look like filter keys and
/// operators), around a leaf.
fn deep_json() -> impl Strategy<Value = Value> {
    (vec((any::<bool>(), prop::sample::select(vec!["a", "$in", "$eq", "p.q", "$gt"])), 1..400), any_leaf()).prop_map(|(levels, leaf)| {
        levels.into_iter().fold(leaf, |v, (array, key)| if array { Value::Array(vec![v]) } else { json!({ key: v }) })
    })
}

/// What a filter looks like at the top: an object of clauses, or anything at all.
fn filterish() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json(),
        deep_json(),
        btree_map(any_key(), prop_oneof![any_json(), deep_json()], 1..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        btree_map(any_key(), btree_map(any_key(), any_json(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect())), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

// ------------------------------------------------------------------------------------------------
// The reference: validity and evaluation from the spec's rules, on the JSON itself
// ------------------------------------------------------------------------------------------------

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn key_ok(k: &str) -> bool {
    !k.is_empty() && k.chars().count() <= 512 && !k.contains('"') && !k.starts_with('$') && k.split('.').all(|s| !s.is_empty())
}

fn cond_ok(v: &Value) -> bool {
    match v {
        Value::Array(_) => false,
        Value::Object(ops) => {
            if ops.is_empty() || !ops.keys().all(|k| OPS.contains(&k.as_str())) {
                return false;
            }
            let has = |k: &str| ops.contains_key(k);
            let single = ["$eq", "$ne", "$in", "$nin"].iter().any(|k| has(k));
            if single && ops.len() != 1 || has("$gt") && has("$gte") || has("$lt") && has("$lte") {
                return false;
            }
            ops.iter().all(|(op, arg)| match op.as_str() {
                "$eq" | "$ne" => is_scalar(arg),
                "$in" | "$nin" => arg.as_array().is_some_and(|a| a.iter().all(is_scalar)),
                _ => matches!(arg, Value::Number(_) | Value::String(_)),
            })
        }
        _ => true,
    }
}

/// Spec §2.7: a non-empty object under 2048 bytes of compact JSON, valid keys, valid conditions.
fn ref_valid(f: &Value) -> bool {
    let Value::Object(m) = f else { return false };
    let compact = serde_json::to_string(f).expect("serializable").len();
    !m.is_empty() && compact < 2048 && m.iter().all(|(k, v)| key_ok(k) && cond_ok(v))
}

/// A value as an index holds it: strings cut to their first 64 bytes on a char boundary.
#[derive(Debug, Clone)]
enum RVal {
    S(String),
    N(f64),
    B(bool),
}

fn first_64_bytes(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() + c.len_utf8() > 64 {
            break;
        }
        out.push(c);
    }
    out
}

/// Metadata index types.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Num,
    Bool,
}

/// The values a `kind` index holds for `key` (dots walk nested objects): the scalar of that
/// type, or for strings each string of an array; anything else is missing.
fn ref_values(m: &Value, key: &str, kind: Kind) -> Vec<RVal> {
    let mut cur = m;
    for seg in key.split('.') {
        match cur.as_object().and_then(|o| o.get(seg)) {
            Some(v) => cur = v,
            None => return Vec::new(),
        }
    }
    match (kind, cur) {
        (Kind::Str, Value::String(s)) => vec![RVal::S(first_64_bytes(s))],
        (Kind::Str, Value::Array(a)) => a.iter().filter_map(Value::as_str).map(|s| RVal::S(first_64_bytes(s))).collect(),
        (Kind::Num, Value::Number(n)) => vec![RVal::N(n.as_f64().expect("finite"))],
        (Kind::Bool, Value::Bool(b)) => vec![RVal::B(*b)],
        _ => Vec::new(),
    }
}

/// How a held value compares with a filter operand; None across types.
fn ref_cmp(x: &RVal, operand: &Value) -> Option<Ordering> {
    match (x, operand) {
        (RVal::S(a), Value::String(b)) => Some(a.as_bytes().cmp(first_64_bytes(b).as_bytes())),
        (RVal::N(a), Value::Number(b)) => a.partial_cmp(&b.as_f64().expect("finite")),
        (RVal::B(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn ref_eq(vals: &[RVal], operand: &Value) -> bool {
    match operand {
        Value::Null => vals.is_empty(),
        v => vals.iter().any(|x| ref_cmp(x, v) == Some(Ordering::Equal)),
    }
}

fn ref_matches(cond: &Value, vals: &[RVal]) -> bool {
    let Value::Object(ops) = cond else { return ref_eq(vals, cond) };
    let list = |arg: &Value| arg.as_array().expect("valid").iter().any(|o| ref_eq(vals, o));
    if let Some(arg) = ops.get("$eq") {
        return ref_eq(vals, arg);
    }
    if let Some(arg) = ops.get("$ne") {
        return !ref_eq(vals, arg);
    }
    if let Some(arg) = ops.get("$in") {
        return list(arg);
    }
    if let Some(arg) = ops.get("$nin") {
        return !list(arg);
    }
    // A range: some value, of the bounds' type, within every bound given.
    vals.iter().any(|x| {
        ops.iter().all(|(op, b)| match (op.as_str(), ref_cmp(x, b)) {
            (_, None) => false,
            ("$gt", Some(o)) => o == Ordering::Greater,
            ("$gte", Some(o)) => o != Ordering::Less,
            ("$lt", Some(o)) => o == Ordering::Less,
            (_, Some(o)) => o != Ordering::Greater,
        })
    })
}

fn ref_filter(f: &Value, m: &Value, kind_of: &dyn Fn(&str) -> Kind) -> bool {
    f.as_object().expect("valid").iter().all(|(k, cond)| ref_matches(cond, &ref_values(m, k, kind_of(k))))
}

// ------------------------------------------------------------------------------------------------
// The code under test: a parsed filter against what a metadata index would hold
// ------------------------------------------------------------------------------------------------

/// `IndexState::extract`'s rule, per index type, over `state::lookup`.
fn indexed(m: &Value, key: &str, kind: Kind) -> Vec<IVal> {
    let Some(v) = crate::state::lookup(m, key) else { return Vec::new() };
    match (kind, v) {
        (Kind::Str, Value::String(s)) => vec![IVal::string(s)],
        (Kind::Str, Value::Array(items)) => items.iter().filter_map(Value::as_str).map(IVal::string).collect(),
        (Kind::Num, Value::Number(n)) => n.as_f64().map(IVal::Num).into_iter().collect(),
        (Kind::Bool, Value::Bool(b)) => vec![IVal::Bool(*b)],
        _ => Vec::new(),
    }
}

fn sut_filter(f: &Filter, m: &Value, kind_of: &dyn Fn(&str) -> Kind) -> bool {
    f.clauses.iter().all(|c| {
        let vals = indexed(m, &c.key, kind_of(&c.key));
        c.cond.matches(vals.iter())
    })
}

// ------------------------------------------------------------------------------------------------
// Filters and metadata from small pools, so that clauses often hit
// ------------------------------------------------------------------------------------------------

const KEYS: [&str; 8] = ["a", "b", "c", "p.q", "p.r", "p", "a.b", "zz"];

fn pool_string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        String::new(),
        "x".into(),
        "X".into(),
        "net".into(),
        "netflix".into(),
        "neu".into(),
        "nfl".into(),
        "a".repeat(63),
        "a".repeat(64),
        "a".repeat(64) + "b",
        "a".repeat(64) + "c",
        "a".repeat(63) + "é",
        "é".repeat(32),
        "é".repeat(32) + "x",
        "1".into(),
        "true".into(),
        "\u{0}".into(),
        "\u{10FFFF}".into(),
    ])
}

fn pool_number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(-1),
        json!(0),
        json!(-0.0),
        json!(0.0),
        json!(0.5),
        json!(1),
        json!(1.0),
        json!(2),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(9_007_199_254_740_993u64),
        json!(9_007_199_254_740_992.0),
    ])
}

fn pool_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => pool_number(),
        3 => pool_string().prop_map(Value::String),
    ]
}

/// A condition: mostly valid ones, some invalid.
fn pool_cond() -> impl Strategy<Value = Value> {
    let bound = prop_oneof![4 => pool_number(), 4 => pool_string().prop_map(Value::String), 1 => pool_scalar()];
    prop_oneof![
        3 => pool_scalar(),
        2 => (prop::sample::select(vec!["$eq", "$ne"]), pool_scalar()).prop_map(|(op, v)| json!({ op: v })),
        2 => (prop::sample::select(vec!["$in", "$nin"]), vec(pool_scalar(), 0..4)).prop_map(|(op, v)| json!({ op: v })),
        3 => (
            proptest::option::of((prop::sample::select(vec!["$gt", "$gte"]), bound.clone())),
            proptest::option::of((prop::sample::select(vec!["$lt", "$lte"]), bound)),
        )
            .prop_filter("a bound", |(l, u)| l.is_some() || u.is_some())
            .prop_map(|(l, u)| Value::Object(l.into_iter().chain(u).map(|(k, v)| (k.to_owned(), v)).collect())),
        1 => prop_oneof![
            Just(json!({})),
            Just(json!({"$eq": 1, "$gt": 0})),
            Just(json!({"$gt": 1, "$gte": 0})),
            Just(json!({"$foo": 1})),
            Just(json!({"$in": 1})),
            Just(json!({"$in": [[1]]})),
            Just(json!({"$eq": {"x": 1}})),
            Just(json!([1, 2])),
        ],
    ]
}

fn pool_filter() -> impl Strategy<Value = Value> {
    btree_map(prop::sample::select(KEYS.to_vec()), pool_cond(), 1..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn pool_meta_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![4 => pool_scalar(), 1 => vec(prop_oneof![pool_string().prop_map(Value::String), pool_scalar()], 0..4).prop_map(Value::Array)];
    leaf.prop_recursive(2, 12, 4, |inner| {
        btree_map(prop::sample::select(vec!["q", "r", "b", "x"]), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    })
}

fn pool_metadata() -> impl Strategy<Value = Value> {
    btree_map(prop::sample::select(vec!["a", "b", "c", "p", "zz", "q"]), pool_meta_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<String, Value>>()))
}

fn kinds() -> impl Strategy<Value = Vec<Kind>> {
    vec(prop::sample::select(vec![Kind::Str, Kind::Num, Kind::Bool]), KEYS.len())
}

fn kind_of(kinds: &[Kind]) -> impl Fn(&str) -> Kind + '_ {
    |k| KEYS.iter().position(|p| *p == k).map(|i| kinds[i]).unwrap_or(Kind::Str)
}

// ------------------------------------------------------------------------------------------------
// Properties
// ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// Arbitrary JSON (deep, huge numbers, unicode and `$` keys) never panics the parser; it is
    /// accepted exactly when the spec's rules accept it; and a parsed filter evaluates without
    /// panicking on any values, NaN and mixed types included.
    #[test]
    fn parse_never_panics_and_accepts_exactly_the_valid_filters(f in filterish()) {
        let parsed = Filter::parse(&f);
        prop_assert_eq!(parsed.is_ok(), ref_valid(&f), "{}", f);
        if let Ok(parsed) = parsed {
            let vals = [IVal::Num(f64::NAN), IVal::Num(-0.0), IVal::Bool(true), IVal::string("x"), IVal::Num(1.0)];
            for c in &parsed.clauses {
                for n in 0..=vals.len() {
                    let _ = c.cond.matches(vals[..n].iter());
                }
                let _ = c.cond.matches_missing();
            }
        }
        if let Err(e) = Filter::parse(&f) {
            prop_assert!(e.to_string().contains("invalid filter"), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(config(4096))]

    /// A parsed filter selects exactly the metadata the reference evaluator selects, and its
    /// validity is the reference's.
    #[test]
    fn matches_agrees_with_the_reference(f in pool_filter(), metas in vec(pool_metadata(), 1..8), kinds in kinds()) {
        let parsed = Filter::parse(&f);
        prop_assert_eq!(parsed.is_ok(), ref_valid(&f), "{}", f);
        let Ok(parsed) = parsed else { return Ok(()) };
        let kind_of = kind_of(&kinds);
        for m in &metas {
            prop_assert_eq!(sut_filter(&parsed, m, &kind_of), ref_filter(&f, m, &kind_of), "filter {} on {} (kinds {:?})", f, m, kinds);
        }
    }

    /// Each condition alone, on value lists built directly (several values, mixed types).
    #[test]
    fn cond_agrees_with_the_reference_on_value_lists(
        cond in pool_cond(),
        lists in vec(vec(prop_oneof![pool_string().prop_map(Value::String), pool_number(), any::<bool>().prop_map(Value::Bool)], 0..4), 1..8),
    ) {
        let f = json!({ "k": cond });
        let Ok(parsed) = Filter::parse(&f) else { return Ok(()) };
        for list in &lists {
            let sut: Vec<IVal> = list.iter().map(|v| match v {
                Value::String(s) => IVal::string(s),
                Value::Number(n) => IVal::Num(n.as_f64().expect("finite")),
                Value::Bool(b) => IVal::Bool(*b),
                _ => unreachable!("scalars only"),
            }).collect();
            let reference: Vec<RVal> = list.iter().map(|v| match v {
                Value::String(s) => RVal::S(first_64_bytes(s)),
                Value::Number(n) => RVal::N(n.as_f64().expect("finite")),
                Value::Bool(b) => RVal::B(*b),
                _ => unreachable!("scalars only"),
            }).collect();
            prop_assert_eq!(parsed.clauses[0].cond.matches(sut.iter()), ref_matches(&f["k"], &reference), "{} on {:?}", f, list);
            prop_assert_eq!(parsed.clauses[0].cond.matches_missing(), ref_matches(&f["k"], &[]), "{} on a missing value", f);
        }
    }
}
