//! The brute-force oracle and the property test: random vectors, metadata indexes, writes and
//! queries against index-svc, compared with an in-test model of Vectorize's semantics.
#![allow(clippy::too_many_lines)]
use super::*;
// ------------------------------------------------------------------------------------------------
// Brute-force oracle
// ------------------------------------------------------------------------------------------------

/// One key's condition in a filter.
#[derive(Debug, Clone)]
enum Clause {
    Implicit(Json),
    Eq(Json),
    Ne(Json),
    In(Vec<Json>),
    Nin(Vec<Json>),
    /// (bound, inclusive)
    Range { lower: Option<(Json, bool)>, upper: Option<(Json, bool)> },
}

type Filter = BTreeMap<String, Clause>;

impl Clause {
    fn to_json(&self) -> Json {
        match self {
            Clause::Implicit(x) => x.clone(),
            Clause::Eq(x) => json!({ "$eq": x }),
            Clause::Ne(x) => json!({ "$ne": x }),
            Clause::In(xs) => json!({ "$in": xs }),
            Clause::Nin(xs) => json!({ "$nin": xs }),
            Clause::Range { lower, upper } => {
                let mut m = serde_json::Map::new();
                if let Some((x, inclusive)) = lower {
                    m.insert(if *inclusive { "$gte" } else { "$gt" }.into(), x.clone());
                }
                if let Some((x, inclusive)) = upper {
                    m.insert(if *inclusive { "$lte" } else { "$lt" }.into(), x.clone());
                }
                Json::Object(m)
            }
        }
    }

    /// Does a vector whose indexed value is `v` (None = missing) pass?
    fn matches(&self, v: Option<&Json>) -> bool {
        match (self, v) {
            (Clause::Implicit(x) | Clause::Eq(x), v) if x.is_null() => v.is_none(),
            (Clause::Ne(x), v) if x.is_null() => v.is_some(),
            (Clause::Implicit(x) | Clause::Eq(x), Some(v)) => holds(v, x),
            (Clause::Ne(x), Some(v)) => !holds(v, x),
            (Clause::In(xs), Some(v)) => xs.iter().any(|x| holds(v, x)),
            (Clause::In(xs), None) => xs.iter().any(Json::is_null),
            (Clause::Nin(xs), Some(v)) => !xs.iter().any(|x| holds(v, x)),
            (Clause::Range { lower, upper }, Some(v)) => {
                elements(v).into_iter().any(|e| within(e, lower.as_ref(), true) && within(e, upper.as_ref(), false))
            }
            (Clause::Ne(_) | Clause::Nin(_), None) => true,
            (Clause::Implicit(_) | Clause::Eq(_) | Clause::Range { .. }, None) => false,
        }
    }
}

fn filter_json(f: &Filter) -> Option<Json> {
    (!f.is_empty()).then(|| Json::Object(f.iter().map(|(k, c)| (k.clone(), c.to_json())).collect()))
}

/// The longest prefix of at most 64 bytes that ends on a char boundary.
fn cut64(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn cut_json(v: &Json) -> Json {
    match v {
        Json::String(s) => Json::String(cut64(s).to_owned()),
        other => other.clone(),
    }
}

fn elements(v: &Json) -> Vec<&Json> {
    match v {
        Json::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::String(x), Json::String(y)) => x == y,
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Bool(x), Json::Bool(y)) => x == y,
        _ => false,
    }
}

/// Does some element of the indexed value equal the (cut) operand?
fn holds(v: &Json, operand: &Json) -> bool {
    let operand = cut_json(operand);
    elements(v).into_iter().any(|e| same(e, &operand))
}

fn compare(a: &Json, b: &Json) -> Option<Ordering> {
    match (a, b) {
        (Json::String(x), Json::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Json::Number(x), Json::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        _ => None,
    }
}

fn within(e: &Json, bound: Option<&(Json, bool)>, lower: bool) -> bool {
    let Some((b, inclusive)) = bound else { return true };
    match compare(e, &cut_json(b)) {
        Some(Ordering::Equal) => *inclusive,
        Some(Ordering::Greater) => lower,
        Some(Ordering::Less) => !lower,
        None => false,
    }
}

/// What a metadata index of type `ty` holds for the value `v`, as JSON; None if the type does not fit.
fn index_form(v: &Json, ty: pb::MetadataType) -> Option<Json> {
    match (ty, v) {
        (pb::MetadataType::String, Json::String(_)) => Some(cut_json(v)),
        (pb::MetadataType::String, Json::Array(items)) if !items.is_empty() && items.iter().all(Json::is_string) => {
            Some(Json::Array(items.iter().map(cut_json).collect()))
        }
        (pb::MetadataType::Number, Json::Number(_)) => Some(normalize(v)),
        (pb::MetadataType::Boolean, Json::Bool(_)) => Some(v.clone()),
        _ => None,
    }
}

fn lookup<'a>(meta: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(meta, |cur, key| cur.get(key))
}

fn set_path(out: &mut serde_json::Map<String, Json>, path: &str, value: Json) {
    match path.split_once('.') {
        None => {
            out.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            if let Json::Object(child) = out.entry(head.to_owned()).or_insert_with(|| json!({})) {
                set_path(child, rest, value);
            }
        }
    }
}

fn score(metric: pb::Metric, q: &[f32], v: &[f32]) -> f64 {
    let dot: f64 = q.iter().zip(v).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
    let norm = |x: &[f32]| x.iter().map(|a| f64::from(*a) * f64::from(*a)).sum::<f64>().sqrt();
    match metric {
        pb::Metric::Cosine => dot / (norm(q) * norm(v)),
        pb::Metric::Euclidean => {
            q.iter().zip(v).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>().sqrt()
        }
        pb::Metric::DotProduct => -dot,
        pb::Metric::Unspecified => panic!("no metric"),
    }
}

/// Rank order: best score first (cosine descending, others ascending), then id ascending.
fn rank_order(metric: pb::Metric, a: (&str, f64), b: (&str, f64)) -> Ordering {
    let by_score = if metric == pb::Metric::Cosine { b.1.total_cmp(&a.1) } else { a.1.total_cmp(&b.1) };
    by_score.then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
}

fn tolerance(x: f64) -> f64 {
    1e-4 * x.abs().max(1.0)
}

#[derive(Debug, Clone)]
struct Doc {
    id: String,
    values: Vec<f32>,
    namespace: String,
    metadata: Json,
}

struct Stored {
    doc: Doc,
    /// The metadata indexes that existed when this vector was last written.
    indexes_at_write: BTreeMap<String, pb::MetadataType>,
}

/// What index-svc should hold: vectors, and which metadata indexes saw each of them.
struct Model {
    metric: pb::Metric,
    indexes: BTreeMap<String, pb::MetadataType>,
    docs: BTreeMap<String, Stored>,
}

impl Model {
    fn new(metric: pb::Metric) -> Self {
        Self { metric, indexes: BTreeMap::new(), docs: BTreeMap::new() }
    }

    fn upsert(&mut self, docs: &[Doc]) {
        for d in docs {
            self.docs.insert(d.id.clone(), Stored { doc: d.clone(), indexes_at_write: self.indexes.clone() });
        }
    }

    /// Returns how many were new.
    fn insert(&mut self, docs: &[Doc]) -> usize {
        let fresh: Vec<Doc> = docs.iter().filter(|d| !self.docs.contains_key(&d.id)).cloned().collect();
        self.upsert(&fresh);
        fresh.len()
    }

    /// The value a filter sees for `prop` (None = missing).
    fn indexed(&self, s: &Stored, prop: &str) -> Option<Json> {
        let ty = *self.indexes.get(prop)?;
        if s.indexes_at_write.get(prop) != Some(&ty) {
            return None;
        }
        index_form(lookup(&s.doc.metadata, prop)?, ty)
    }

    fn passes(&self, s: &Stored, filter: &Filter) -> bool {
        filter.iter().all(|(k, c)| c.matches(self.indexed(s, k).as_ref()))
    }

    fn indexed_metadata(&self, s: &Stored) -> Json {
        let mut out = serde_json::Map::new();
        for prop in self.indexes.keys() {
            if let Some(v) = self.indexed(s, prop) {
                set_path(&mut out, prop, v);
            }
        }
        Json::Object(out)
    }

    /// Every eligible vector, best first.
    fn ranking(&self, q: &[f32], namespace: &str, filter: &Filter) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .docs
            .values()
            .filter(|s| namespace.is_empty() || s.doc.namespace == namespace)
            .filter(|s| self.passes(s, filter))
            .map(|s| (s.doc.id.clone(), score(self.metric, q, &s.doc.values)))
            .collect();
        out.sort_by(|a, b| rank_order(self.metric, (a.0.as_str(), a.1), (b.0.as_str(), b.1)));
        out
    }
}

// ---- generated cases ----

const POOL: usize = 4;
const PROPS: [(&str, pb::MetadataType); 5] = [
    ("s", pb::MetadataType::String),
    ("num", pb::MetadataType::Number),
    ("flag", pb::MetadataType::Boolean),
    ("tags", pb::MetadataType::String),
    ("n.x", pb::MetadataType::Number),
];
/// "u" never gets a metadata index.
const FILTER_KEYS: [&str; 6] = ["s", "num", "flag", "tags", "n.x", "u"];

#[derive(Debug, Clone)]
enum Values {
    Fresh(Vec<f32>),
    /// A copy of a shared vector: exact score ties.
    Pool(usize),
}

impl Values {
    fn resolve(&self, pool: &[Vec<f32>]) -> Vec<f32> {
        match self {
            Values::Fresh(v) => v.clone(),
            Values::Pool(i) => pool[i % pool.len()].clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct VecSpec {
    values: Values,
    namespace: &'static str,
    metadata: Json,
}

impl VecSpec {
    fn doc(&self, id: String, pool: &[Vec<f32>]) -> Doc {
        Doc { id, values: self.values.resolve(pool), namespace: self.namespace.into(), metadata: self.metadata.clone() }
    }
}

#[derive(Debug, Clone)]
enum QueryBy {
    Vector(Values),
    /// The n-th stored vector (modulo the count), by id.
    Id(usize),
}

#[derive(Debug, Clone)]
struct QuerySpec {
    by: QueryBy,
    top_k: u32,
    namespace: &'static str,
    filter: Filter,
    return_values: bool,
    return_metadata: pb::ReturnMetadata,
}

#[derive(Debug, Clone)]
struct Case {
    metric: pb::Metric,
    pool: Vec<Vec<f32>>,
    /// Per PROPS: metadata index created before any write.
    early: Vec<bool>,
    /// Per PROPS: created between the two writes (if not early).
    late: Vec<bool>,
    first: Vec<VecSpec>,
    /// Some(i): reuse the id of first[i % len]; None: a new id.
    second: Vec<(Option<usize>, VecSpec)>,
    second_is_insert: bool,
    queries: Vec<QuerySpec>,
}

impl Case {
    fn docs(&self) -> (Vec<Doc>, Vec<Doc>) {
        let first: Vec<Doc> = self.first.iter().enumerate().map(|(i, s)| s.doc(format!("v{i:03}"), &self.pool)).collect();
        let mut seen = BTreeSet::new();
        let mut second = Vec::new();
        for (j, (reuse, s)) in self.second.iter().enumerate() {
            let id = match reuse {
                Some(i) => format!("v{:03}", i % first.len()),
                None => format!("w{j:03}"),
            };
            if seen.insert(id.clone()) {
                second.push(s.doc(id, &self.pool));
            }
        }
        (first, second)
    }
}

fn word_list() -> Vec<String> {
    vec![
        "apple".into(),
        "banana".into(),
        "cherry".into(),
        "ümlaut".into(),
        "k".repeat(63),
        format!("{}éz", "k".repeat(63)),
        format!("{}a", "m".repeat(64)),
        format!("{}b", "m".repeat(64)),
    ]
}

fn word() -> impl Strategy<Value = Json> {
    proptest::sample::select(word_list()).prop_map(Json::String)
}

fn half() -> impl Strategy<Value = Json> {
    (-6i32..=6).prop_map(|i| number(f64::from(i) / 2.0))
}

fn boolean() -> impl Strategy<Value = Json> {
    any::<bool>().prop_map(Json::Bool)
}

fn fresh() -> impl Strategy<Value = Vec<f32>> {
    pvec(-1000i32..=1000, DIM).prop_map(|v| v.into_iter().map(|x| x as f32 / 1000.0).collect::<Vec<f32>>())
}

fn values() -> impl Strategy<Value = Values> {
    prop_oneof![3 => fresh().prop_map(Values::Fresh), 1 => (0..POOL).prop_map(Values::Pool)]
}

fn metadata() -> impl Strategy<Value = Json> {
    use proptest::option::weighted;
    (
        weighted(0.8, prop_oneof![4 => word(), 1 => half()]),
        weighted(0.8, prop_oneof![4 => half(), 1 => word()]),
        weighted(0.7, boolean()),
        weighted(0.4, pvec(word(), 1..=3)),
        weighted(0.5, half()),
        weighted(0.5, half()),
    )
        .prop_map(|(s, num, flag, tags, nx, u)| {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Json>| {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            };
            put("s", s);
            put("num", num);
            put("flag", flag);
            put("tags", tags.map(Json::Array));
            put("n", nx.map(|x| json!({ "x": x })));
            put("u", u);
            Json::Object(m)
        })
}

fn vec_spec() -> impl Strategy<Value = VecSpec> {
    (values(), proptest::sample::select(vec!["", "", "ns1", "ns2"]), metadata())
        .prop_map(|(values, namespace, metadata)| VecSpec { values, namespace, metadata })
}

/// Mostly the key's own type, sometimes another (which then never matches).
fn operand(key: &str) -> BoxedStrategy<Json> {
    let primary = match key {
        "s" | "tags" => word().boxed(),
        "flag" => boolean().boxed(),
        _ => half().boxed(),
    };
    prop_oneof![8 => primary, 1 => word(), 1 => half(), 1 => boolean()].boxed()
}

fn range_operand(key: &str) -> BoxedStrategy<Json> {
    let primary = if key == "s" { word().boxed() } else { half().boxed() };
    prop_oneof![8 => primary, 1 => word(), 1 => half()].boxed()
}

fn nullable(s: BoxedStrategy<Json>) -> BoxedStrategy<Json> {
    prop_oneof![5 => s, 1 => Just(Json::Null)].boxed()
}

fn clause(key: &'static str) -> BoxedStrategy<Clause> {
    let op = operand(key);
    let mut arms: Vec<(u32, BoxedStrategy<Clause>)> = vec![
        (2, op.clone().prop_map(Clause::Implicit).boxed()),
        (2, nullable(op.clone()).prop_map(Clause::Eq).boxed()),
        (2, nullable(op.clone()).prop_map(Clause::Ne).boxed()),
        (2, pvec(nullable(op.clone()), 1..=3).prop_map(Clause::In).boxed()),
        (2, pvec(op, 1..=3).prop_map(Clause::Nin).boxed()),
    ];
    // Ranges only on scalar string/number properties (not booleans, not string arrays).
    if matches!(key, "s" | "num" | "n.x" | "u") {
        let r = range_operand(key);
        let range = (0..3u8, 0..3u8, r.clone(), r).prop_map(|(lo, hi, a, b)| {
            let lo = if lo == 0 && hi == 0 { 2 } else { lo };
            let lower = (lo > 0).then_some((a, lo == 2));
            let upper = (hi > 0).then_some((b, hi == 2));
            Clause::Range { lower, upper }
        });
        arms.push((3, range.boxed()));
    }
    Union::new_weighted(arms).boxed()
}

fn filter() -> impl Strategy<Value = Filter> {
    let keyed = Union::new(FILTER_KEYS.map(|k| clause(k).prop_map(move |c| (k.to_owned(), c)).boxed()));
    pvec(keyed, 0..=2).prop_map(|pairs| pairs.into_iter().collect::<Filter>())
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        prop_oneof![4 => values().prop_map(QueryBy::Vector), 1 => (0..10_000usize).prop_map(QueryBy::Id)],
        1..=30u32,
        proptest::sample::select(vec!["", "", "ns1", "ns2", "ns3"]),
        filter(),
        any::<bool>(),
        proptest::sample::select(vec![pb::ReturnMetadata::None, pb::ReturnMetadata::Indexed, pb::ReturnMetadata::All]),
    )
        .prop_map(|(by, top_k, namespace, filter, return_values, return_metadata)| QuerySpec {
            by,
            top_k,
            namespace,
            filter,
            return_values,
            return_metadata,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::sample::select(vec![pb::Metric::Cosine, pb::Metric::Euclidean, pb::Metric::DotProduct]),
        pvec(fresh(), POOL),
        pvec(any::<bool>(), PROPS.len()),
        pvec(any::<bool>(), PROPS.len()),
        pvec(vec_spec(), 20..=80),
        pvec((proptest::option::of(0..80usize), vec_spec()), 0..=40),
        any::<bool>(),
        pvec(query_spec(), 1..=4),
    )
        .prop_map(|(metric, pool, early, late, first, second, second_is_insert, queries)| Case {
            metric,
            pool,
            early,
            late,
            first,
            second,
            second_is_insert,
            queries,
        })
}

fn to_pb(docs: &[Doc]) -> Vec<pb::Vector> {
    docs.iter().map(|d| v(&d.id, d.values.clone(), &d.namespace, d.metadata.clone())).collect()
}

async fn add_index(c: &mut Client, name: &str, model: &mut Model, prop: &str, ty: pb::MetadataType) -> Result<(), String> {
    meta_index(c, name, prop, ty).await.map_err(|s| format!("metadata index {prop}: {s:?}"))?;
    model.indexes.insert(prop.to_owned(), ty);
    Ok(())
}

/// Builds the case's index through the service and the model side by side, then checks every query.
async fn run_case(mut c: Client, case: Case) -> Result<(), String> {
    let name = unique("oracle");
    try_create(&mut c, create_request(&name, DIM as u32, case.metric)).await.map_err(|s| format!("create: {s:?}"))?;
    let mut model = Model::new(case.metric);
    let (first, second) = case.docs();
    for (i, (prop, ty)) in PROPS.iter().enumerate() {
        if case.early[i] {
            add_index(&mut c, &name, &mut model, prop, *ty).await?;
        }
    }
    let r = write(&mut c, &name, to_pb(&first), false).await.map_err(|s| format!("first upsert: {s:?}"))?;
    model.upsert(&first);
    ensure(r.count as usize == first.len(), || format!("first upsert count {} != {}", r.count, first.len()))?;
    for (i, (prop, ty)) in PROPS.iter().enumerate() {
        if !case.early[i] && case.late[i] {
            add_index(&mut c, &name, &mut model, prop, *ty).await?;
        }
    }
    if !second.is_empty() {
        let r = write(&mut c, &name, to_pb(&second), case.second_is_insert)
            .await
            .map_err(|s| format!("second write: {s:?}"))?;
        let want = if case.second_is_insert { model.insert(&second) } else { second.len() };
        if !case.second_is_insert {
            model.upsert(&second);
        }
        ensure(r.count as usize == want, || format!("second write count {} != {want}", r.count))?;
    }
    let stats = c.describe_index(iref(&name)).await.map_err(|s| format!("describe: {s:?}"))?.into_inner();
    ensure(stats.vector_count as usize == model.docs.len(), || {
        format!("vector_count {} != {}", stats.vector_count, model.docs.len())
    })?;
    for q in &case.queries {
        check_query(&mut c, &name, &model, &case.pool, q).await?;
    }
    c.delete_index(iref(&name)).await.map_err(|s| format!("delete index: {s:?}"))?;
    Ok(())
}

fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(msg()) }
}

async fn check_query(c: &mut Client, name: &str, model: &Model, pool: &[Vec<f32>], q: &QuerySpec) -> Result<(), String> {
    let (vector, vector_id, qvec) = match &q.by {
        QueryBy::Vector(v) => (v.resolve(pool), String::new(), v.resolve(pool)),
        QueryBy::Id(i) => {
            let s = model.docs.values().nth(i % model.docs.len()).ok_or("no vectors")?;
            (Vec::new(), s.doc.id.clone(), s.doc.values.clone())
        }
    };
    let filter = filter_json(&q.filter);
    let req = pb::QueryRequest {
        account: String::new(),
        index: name.into(),
        vector,
        vector_id,
        top_k: q.top_k,
        return_values: q.return_values,
        return_metadata: q.return_metadata as i32,
        filter: filter.as_ref().map(to_struct),
        namespace: q.namespace.into(),
    };
    let resp = query(c, req).await.map_err(|s| format!("query {q:?}: {s:?}"))?;
    let expected = model.ranking(&qvec, q.namespace, &q.filter);
    let context = || {
        let got: Vec<(&str, f64)> = resp.matches.iter().map(|m| (m.id.as_str(), m.score)).collect();
        format!("metric {:?}, query {q:?}\nfilter {filter:?}\nexpected {expected:?}\ngot {got:?}", model.metric)
    };
    check_ranking(model.metric, &expected, &resp.matches, q.top_k as usize).map_err(|e| format!("{e}\n{}", context()))?;
    ensure(resp.count as usize == resp.matches.len(), || format!("count {} != matches\n{}", resp.count, context()))?;
    let unindexed = q.filter.keys().any(|k| !model.indexes.contains_key(k));
    ensure(unindexed != resp.warnings.is_empty(), || format!("warnings {:?}\n{}", resp.warnings, context()))?;
    for m in &resp.matches {
        check_payload(model, m, q).map_err(|e| format!("{e}\n{}", context()))?;
    }
    Ok(())
}

/// Scores per position within tolerance; every id eligible, scored right, once; sorted with the
/// id tie-break; and the exact id sequence whenever the oracle has no near-ties (within tolerance
/// but not equal), where f32-vs-f64 rounding could legitimately swap neighbours.
fn check_ranking(metric: pb::Metric, expected: &[(String, f64)], got: &[pb::Match], top_k: usize) -> Result<(), String> {
    let want_len = expected.len().min(top_k);
    ensure(got.len() == want_len, || format!("{} matches, want {want_len}", got.len()))?;
    let oracle: HashMap<&str, f64> = expected.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    let mut seen = HashSet::new();
    for (i, m) in got.iter().enumerate() {
        let at = expected[i].1;
        ensure((m.score - at).abs() <= tolerance(at), || format!("score #{i} {} != {at}", m.score))?;
        let own = *oracle.get(m.id.as_str()).ok_or_else(|| format!("{} is not eligible", m.id))?;
        ensure((m.score - own).abs() <= tolerance(own), || format!("score of {} is {}, oracle {own}", m.id, m.score))?;
        ensure(seen.insert(m.id.as_str()), || format!("{} returned twice", m.id))?;
    }
    for w in got.windows(2) {
        let order = rank_order(metric, (w[0].id.as_str(), w[0].score), (w[1].id.as_str(), w[1].score));
        ensure(order != Ordering::Greater, || format!("{} before {} is out of order", w[0].id, w[1].id))?;
    }
    let near_tie = expected
        .windows(2)
        .take(want_len)
        .any(|w| w[0].1 != w[1].1 && (w[0].1 - w[1].1).abs() <= 2.0 * tolerance(w[0].1));
    if !near_tie {
        let want: Vec<&str> = expected[..want_len].iter().map(|(id, _)| id.as_str()).collect();
        let got_ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
        ensure(want == got_ids, || format!("ids {got_ids:?}, want {want:?}"))?;
    }
    Ok(())
}

fn check_payload(model: &Model, m: &pb::Match, q: &QuerySpec) -> Result<(), String> {
    let s = model.docs.get(&m.id).ok_or_else(|| format!("{} not stored", m.id))?;
    ensure(m.namespace == s.doc.namespace, || format!("{}: namespace {:?}, want {:?}", m.id, m.namespace, s.doc.namespace))?;
    if q.return_values {
        ensure(m.values == s.doc.values, || format!("{}: values differ from the stored f32", m.id))?;
    } else {
        ensure(m.values.is_empty(), || format!("{}: values returned unasked", m.id))?;
    }
    let want = match q.return_metadata {
        pb::ReturnMetadata::None => return ensure(m.metadata.is_none(), || format!("{}: metadata returned unasked", m.id)),
        pb::ReturnMetadata::All => normalize(&s.doc.metadata),
        pb::ReturnMetadata::Indexed => model.indexed_metadata(s),
    };
    let got = meta_json(&m.metadata);
    ensure(got == want, || format!("{}: {:?} metadata {got}, want {want}", m.id, q.return_metadata))
}

#[test]
fn query_matches_brute_force_oracle() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let c = rt.block_on(client());
    let mut config = ProptestRunConfig::with_cases(24);
    config.failure_persistence = None;
    config.max_shrink_iters = 64;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| rt.block_on(run_case(c.clone(), case)).map_err(|e| TestCaseError::fail(e)));
    if let Err(e) = result {
        panic!("oracle disagrees: {e}");
    }
}
