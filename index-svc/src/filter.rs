//! Vectorize's metadata filter language (spec §2.7): parsing with its rules, and evaluation
//! against a vector's indexed values.
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::IndexError;
use crate::validate;

/// Filters longer than this (compact JSON) are refused, as Vectorize does.
pub const MAX_FILTER_BYTES: usize = 2048;
/// String metadata indexes keep this many bytes of a value (spec §2.6).
pub const INDEXED_STRING_BYTES: usize = 64;

/// A value as a metadata index holds it. Ordered: booleans < numbers < strings, so one
/// BTreeMap per property can hold any mix without panicking.
#[derive(Debug, Clone, PartialEq)]
pub enum IVal {
    Bool(bool),
    Num(f64),
    Str(Box<str>),
}

impl Eq for IVal {}

impl Ord for IVal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (IVal::Bool(a), IVal::Bool(b)) => a.cmp(b),
            // Numerically: -0 is 0, as `==` (and so `$eq`) has it; total_cmp orders the rest
            // (NaN included, though JSON has none).
            (IVal::Num(a), IVal::Num(b)) => a.partial_cmp(b).unwrap_or_else(|| a.total_cmp(b)),
            (IVal::Str(a), IVal::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for IVal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl IVal {
    fn rank(&self) -> u8 {
        match self {
            IVal::Bool(_) => 0,
            IVal::Num(_) => 1,
            IVal::Str(_) => 2,
        }
    }

    pub fn string(s: &str) -> Self {
        IVal::Str(truncate_utf8(s, INDEXED_STRING_BYTES).into())
    }

    pub fn to_json(&self) -> Value {
        match self {
            IVal::Bool(b) => Value::Bool(*b),
            IVal::Num(n) => serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null),
            IVal::Str(s) => Value::String(s.to_string()),
        }
    }
}

/// The longest prefix of at most `max` bytes that ends on a char boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A filter operand: an indexable value or null (null means "missing").
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Null,
    Val(IVal),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(Operand),
    Ne(Operand),
    In(Vec<Operand>),
    Nin(Vec<Operand>),
    /// (bound, inclusive) pairs; at least one is present.
    Range { lower: Option<(IVal, bool)>, upper: Option<(IVal, bool)> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Dotted path, e.g. "pandas.nice".
    pub key: String,
    pub cond: Cond,
}

/// Several top-level keys are ANDed; there is no OR.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

impl Filter {
    pub fn parse(v: &Value) -> Result<Filter, IndexError> {
        let Value::Object(map) = v else {
            return Err(bad("filter must be a JSON object"));
        };
        if map.is_empty() {
            return Err(bad("filter must not be empty"));
        }
        // {"key": {"$in": [...]}} is as deep as a valid filter goes.
        if strato_proto::json::json_depth(v) > 3 {
            return Err(bad("filter nests too deep: values are scalars, or arrays of scalars under $in/$nin"));
        }
        let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
        if size >= MAX_FILTER_BYTES {
            return Err(bad(&format!("filter too large: {size} bytes of JSON, must be under {MAX_FILTER_BYTES}")));
        }
        let mut clauses = Vec::with_capacity(map.len());
        for (key, value) in map {
            validate::property(key).map_err(|e| bad(&e.to_string()))?;
            if key.split('.').any(str::is_empty) {
                return Err(bad(&format!("filter key {key:?} has an empty path segment")));
            }
            clauses.push(Clause { key: key.clone(), cond: parse_cond(key, value)? });
        }
        Ok(Filter { clauses })
    }
}

fn bad(msg: &str) -> IndexError {
    IndexError::invalid(format!("invalid filter: {msg}"))
}

fn parse_cond(key: &str, v: &Value) -> Result<Cond, IndexError> {
    match v {
        Value::Object(ops) => parse_ops(key, ops),
        Value::Array(_) => Err(bad(&format!("{key}: use {{\"$in\": [...]}} to match one of several values"))),
        scalar => Ok(Cond::Eq(operand(key, "$eq", scalar)?)),
    }
}

fn parse_ops(key: &str, ops: &Map<String, Value>) -> Result<Cond, IndexError> {
    if ops.is_empty() {
        return Err(bad(&format!("{key}: empty operator object")));
    }
    let mut lower = None;
    let mut upper = None;
    let mut single = None;
    for (op, arg) in ops {
        match op.as_str() {
            "$eq" | "$ne" | "$in" | "$nin" => {
                if ops.len() != 1 {
                    return Err(bad(&format!("{key}: {op} cannot be combined with other operators")));
                }
                single = Some(match op.as_str() {
                    "$eq" => Cond::Eq(operand(key, op, arg)?),
                    "$ne" => Cond::Ne(operand(key, op, arg)?),
                    "$in" => Cond::In(list(key, op, arg)?),
                    _ => Cond::Nin(list(key, op, arg)?),
                });
            }
            "$gt" | "$gte" => {
                if lower.is_some() {
                    return Err(bad(&format!("{key}: only one of $gt/$gte per key")));
                }
                lower = Some((bound(key, op, arg)?, op == "$gte"));
            }
            "$lt" | "$lte" => {
                if upper.is_some() {
                    return Err(bad(&format!("{key}: only one of $lt/$lte per key")));
                }
                upper = Some((bound(key, op, arg)?, op == "$lte"));
            }
            other => {
                return Err(bad(&format!(
                    "{key}: unknown operator {other:?}; use $eq $ne $in $nin $lt $lte $gt $gte"
                )));
            }
        }
    }
    Ok(single.unwrap_or(Cond::Range { lower, upper }))
}

fn operand(key: &str, op: &str, v: &Value) -> Result<Operand, IndexError> {
    match v {
        Value::Null => Ok(Operand::Null),
        Value::Bool(b) => Ok(Operand::Val(IVal::Bool(*b))),
        Value::Number(n) => n.as_f64().map(|f| Operand::Val(IVal::Num(f))).ok_or_else(|| bad(&format!("{key}: {op} number out of range"))),
        Value::String(s) => Ok(Operand::Val(IVal::string(s))),
        _ => Err(bad(&format!("{key}: {op} takes a string, number, boolean or null"))),
    }
}

fn list(key: &str, op: &str, v: &Value) -> Result<Vec<Operand>, IndexError> {
    let Value::Array(items) = v else {
        return Err(bad(&format!("{key}: {op} takes an array")));
    };
    items.iter().map(|i| operand(key, op, i)).collect()
}

fn bound(key: &str, op: &str, v: &Value) -> Result<IVal, IndexError> {
    match operand(key, op, v)? {
        Operand::Val(val @ (IVal::Num(_) | IVal::Str(_))) => Ok(val),
        _ => Err(bad(&format!("{key}: {op} takes a string or a number"))),
    }
}

impl Cond {
    /// Does a vector whose indexed values for this key are `vals` (none = missing) match?
    /// Missing matches $ne/$nin and `$eq: null`; arrays match $eq/$in when any element does.
    pub fn matches<'a>(&self, vals: impl Iterator<Item = &'a IVal> + Clone) -> bool {
        let missing = vals.clone().next().is_none();
        match self {
            Cond::Eq(Operand::Null) => missing,
            Cond::Ne(Operand::Null) => !missing,
            Cond::Eq(Operand::Val(v)) => vals.clone().any(|x| x == v),
            Cond::Ne(Operand::Val(v)) => !vals.clone().any(|x| x == v),
            Cond::In(list) => in_list(list, missing, vals),
            Cond::Nin(list) => !in_list(list, missing, vals),
            Cond::Range { lower, upper } => vals.clone().any(|x| in_range(x, lower, upper)),
        }
    }

    /// Can a vector without the property match? (Then the metadata index cannot bound the
    /// candidates.)
    pub fn matches_missing(&self) -> bool {
        self.matches(std::iter::empty())
    }
}

fn in_list<'a>(list: &[Operand], missing: bool, vals: impl Iterator<Item = &'a IVal> + Clone) -> bool {
    list.iter().any(|o| match o {
        Operand::Null => missing,
        Operand::Val(v) => vals.clone().any(|x| x == v),
    })
}

pub fn in_range(x: &IVal, lower: &Option<(IVal, bool)>, upper: &Option<(IVal, bool)>) -> bool {
    let ok = |b: &Option<(IVal, bool)>, want: Ordering| match b {
        None => true,
        Some((b, inclusive)) => {
            if b.rank() != x.rank() {
                return false; // strings never compare with numbers
            }
            let c = x.cmp(b);
            c == want || (*inclusive && c == Ordering::Equal)
        }
    };
    ok(lower, Ordering::Greater) && ok(upper, Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> Result<Filter, IndexError> {
        Filter::parse(&v)
    }

    #[test]
    fn parses_every_operator() {
        let fl = f(json!({"a": "x", "b": {"$ne": 1}, "c": {"$in": ["p", null]}, "d": {"$gte": 1, "$lt": 5}, "e.f": true}))
            .expect("valid");
        assert_eq!(fl.clauses.len(), 5);
    }

    #[test]
    fn rejects_bad_filters() {
        for bad in [
            json!({}),
            json!([]),
            json!({"a": {"$eq": 1, "$gt": 0}}),
            json!({"a": {"$gt": 1, "$gte": 0}}),
            json!({"a": {"$foo": 1}}),
            json!({"a": {"$in": 1}}),
            json!({"$a": 1}),
            json!({"": 1}),
            json!({"a\"b": 1}),
            json!({"a": {}}),
            json!({"a": [1, 2]}),
            json!({"a": {"$gt": true}}),
            json!({"a": {"$eq": {"x": 1}}}),
        ] {
            assert!(f(bad.clone()).is_err(), "{bad}");
        }
        let long = "x".repeat(2100);
        assert!(f(json!({ "a": long })).is_err());
    }

    #[test]
    fn missing_and_array_semantics() {
        let a = IVal::string("a");
        let b = IVal::string("b");
        let eq_a = Cond::Eq(Operand::Val(a.clone()));
        let ne_a = Cond::Ne(Operand::Val(a.clone()));
        let none: [IVal; 0] = [];
        assert!(!eq_a.matches(none.iter()) && ne_a.matches(none.iter()));
        let both = [b.clone(), a.clone()];
        assert!(eq_a.matches(both.iter()) && !ne_a.matches(both.iter()));
        assert!(Cond::Eq(Operand::Null).matches(none.iter()));
        assert!(Cond::In(vec![Operand::Null]).matches(none.iter()));
        assert!(!Cond::Nin(vec![Operand::Val(b.clone())]).matches([b.clone()].iter()));
    }

    #[test]
    fn ranges_do_not_mix_types() {
        let r = Cond::Range { lower: Some((IVal::Num(1.0), true)), upper: Some((IVal::Num(3.0), false)) };
        assert!(r.matches([IVal::Num(1.0)].iter()) && !r.matches([IVal::Num(3.0)].iter()));
        assert!(!r.matches([IVal::string("2")].iter()));
        let s = Cond::Range { lower: Some((IVal::string("net"), true)), upper: Some((IVal::string("neu"), false)) };
        assert!(s.matches([IVal::string("netflix")].iter()) && !s.matches([IVal::string("nfl")].iter()));
    }

    /// Found by `fuzz::cond_agrees_with_the_reference_on_value_lists`: `{"$lte": -0.0}` did not
    /// match 0 (ranges compared with total_cmp, where -0 < 0) though `{"$eq": -0.0}` did; and a
    /// metadata index (a BTreeMap) did not find a -0 entry for `{"k": 0}`.
    #[test]
    fn negative_zero_is_zero() {
        let (neg, pos) = (IVal::Num(-0.0), IVal::Num(0.0));
        assert_eq!(neg.cmp(&pos), Ordering::Equal);
        let lte = f(json!({"k": {"$lte": -0.0}})).expect("valid");
        assert!(lte.clauses[0].cond.matches([pos.clone()].iter()));
        let gt = f(json!({"k": {"$gt": 0}})).expect("valid");
        assert!(!gt.clauses[0].cond.matches([neg.clone()].iter()));
        let index = std::collections::BTreeMap::from([(neg, "stored as -0")]);
        assert_eq!(index.get(&pos), Some(&"stored as -0"));
    }

    #[test]
    fn truncates_on_char_boundary() {
        let s = "é".repeat(40); // 80 bytes
        assert_eq!(truncate_utf8(&s, 63).len(), 62);
    }
}

#[cfg(test)]
#[path = "filter_fuzz.rs"]
mod fuzz;
