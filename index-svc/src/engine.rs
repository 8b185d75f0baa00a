//! The engine: every index of the service, the durable store, and the background optimizer.
//! Each operation validates first, then (for mutations) commits durably, then applies to memory,
//! then answers — so an acknowledged write is both durable and visible (read-your-writes).
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;
use tracing::{info, instrument};

use crate::config::EngineConfig;
use crate::error::IndexError;
use crate::filter::Filter;
use crate::group_commit::GroupCommit;
use crate::optimizer::{Job, Optimizer};
use crate::planner;
use crate::segment;
use crate::state::IndexState;
use crate::store::{Store, catalog_key};
use crate::types::{IndexMeta, MetaType, Metric, Record, ReturnMetadata, now_rfc3339};
use crate::validate;

pub struct IndexHandle {
    pub state: RwLock<IndexState>,
    /// Serialises mutations of one index (decide → commit → apply must not interleave).
    pub writer: tokio::sync::Mutex<()>,
    pub deleted: AtomicBool,
}

impl IndexHandle {
    pub fn read(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Engine {
    store: Arc<Store>,
    cfg: EngineConfig,
    indexes: RwLock<HashMap<String, Arc<IndexHandle>>>,
    next_uid: AtomicU64,
    optimizer: Optimizer,
    group: GroupCommit,
}

/// A vector as a request carries it, metadata already parsed.
pub struct NewVector {
    pub id: String,
    pub values: Vec<f32>,
    pub namespace: Option<String>,
    pub metadata: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Insert,
    Upsert,
}

pub struct QueryParams {
    pub vector: Option<Vec<f32>>,
    pub vector_id: Option<String>,
    pub top_k: usize,
    pub return_values: bool,
    pub return_metadata: ReturnMetadata,
    pub filter: Option<Value>,
    pub namespace: Option<String>,
}

pub struct MatchOut {
    pub id: String,
    pub score: f32,
    pub values: Option<Vec<f32>>,
    pub metadata: Option<Value>,
    pub namespace: Option<String>,
}

pub struct Stats {
    pub dimensions: usize,
    pub vector_count: usize,
    pub last_mutation: String,
    pub last_mutation_at: String,
    pub indexed: usize,
    pub pending: usize,
    pub sealed_segments: usize,
}

impl Engine {
    /// Opens the data directory and loads every index (see `crate::recovery`).
    pub fn open(data_dir: &std::path::Path, cfg: EngineConfig) -> Result<Arc<Self>, IndexError> {
        let store = Arc::new(Store::open(data_dir, cfg.storage_cache_mb << 20)?);
        let (loaded, seal_jobs) = crate::recovery::load(&store, &cfg)?;
        let next_uid = loaded.values().map(|h| h.read().meta.uid).max().unwrap_or(0) + 1;
        let optimizer = Optimizer::start(store.clone(), cfg.clone());
        for job in seal_jobs {
            optimizer.submit(job);
        }
        for h in loaded.values() {
            optimizer.submit(Job::Compact(h.clone()));
        }
        let group = GroupCommit::new(store.clone());
        Ok(Arc::new(Self { store, cfg, indexes: RwLock::new(loaded), next_uid: AtomicU64::new(next_uid), optimizer, group }))
    }

    fn handle(&self, account: &str, name: &str) -> Result<Arc<IndexHandle>, IndexError> {
        let map = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        map.get(&catalog_key(account, name)).cloned().ok_or_else(|| IndexError::IndexNotFound(name.to_owned()))
    }

    pub async fn create(&self, account: &str, name: &str, dims: usize, metric: Metric, description: &str) -> Result<IndexMeta, IndexError> {
        validate_account(account)?;
        validate::index_name(name)?;
        validate::dimensions(dims)?;
        validate::description(description)?;
        let key = catalog_key(account, name);
        if self.indexes.read().unwrap_or_else(|e| e.into_inner()).contains_key(&key) {
            return Err(IndexError::DuplicateIndex(name.to_owned()));
        }
        let now = now_rfc3339();
        let meta = IndexMeta {
            uid: self.next_uid.fetch_add(1, Ordering::Relaxed),
            account: account.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            dimensions: dims,
            metric,
            created_on: now.clone(),
            modified_on: now,
            next_seq: 1,
            last_mutation: String::new(),
            last_mutation_at: String::new(),
            metadata_indexes: Vec::new(),
        };
        let store = self.store.clone();
        let m = meta.clone();
        // Hold the registry lock across the check-and-insert so two creates cannot both win.
        let mut map = self.indexes.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&key) {
            return Err(IndexError::DuplicateIndex(name.to_owned()));
        }
        tokio::task::block_in_place(|| store.put_meta(&m))?;
        map.insert(key, Arc::new(IndexHandle { state: RwLock::new(IndexState::new(meta.clone(), 1)), writer: Default::default(), deleted: AtomicBool::new(false) }));
        info!(account, name, dims, ?metric, "index created");
        Ok(meta)
    }

    pub fn get(&self, account: &str, name: &str) -> Result<IndexMeta, IndexError> {
        Ok(self.handle(account, name)?.read().meta.clone())
    }

    pub fn list(&self, account: &str) -> Vec<IndexMeta> {
        let map = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<IndexMeta> = map.values().map(|h| h.read().meta.clone()).filter(|m| m.account == account).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub async fn delete(&self, account: &str, name: &str) -> Result<(), IndexError> {
        let h = self.handle(account, name)?;
        let _w = h.writer.lock().await;
        let meta = h.read().meta.clone();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.delete_index(&meta)).await.map_err(join)??;
        h.deleted.store(true, Ordering::Release);
        self.indexes.write().unwrap_or_else(|e| e.into_inner()).remove(&catalog_key(account, name));
        let uids: Vec<u64> = h.read().sealed.iter().map(|s| s.uid).collect();
        let uid = h.read().meta.uid;
        for s in uids {
            let _ = std::fs::remove_file(self.store.segment_path(uid, s));
        }
        info!(account, name, "index deleted");
        Ok(())
    }

    pub fn describe(&self, account: &str, name: &str) -> Result<Stats, IndexError> {
        let h = self.handle(account, name)?;
        let st = h.read();
        let (indexed, pending) = st.indexed_and_pending();
        Ok(Stats {
            dimensions: st.meta.dimensions,
            vector_count: st.live_count(),
            last_mutation: st.meta.last_mutation.clone(),
            last_mutation_at: st.meta.last_mutation_at.clone(),
            indexed,
            pending,
            sealed_segments: st.sealed.len(),
        })
    }

    /// Insert or upsert one batch, atomically. Returns (mutation id, vectors written).
    #[instrument(skip_all, fields(index = name, n = vectors.len()))]
    pub async fn write(&self, account: &str, name: &str, vectors: Vec<NewVector>, mode: WriteMode) -> Result<(String, usize), IndexError> {
        let h = self.handle(account, name)?;
        let dims = h.read().meta.dimensions;
        validate::batch_size(vectors.len())?;
        let mut metadata_text = Vec::with_capacity(vectors.len());
        for v in &vectors {
            validate::id(&v.id)?;
            validate::values(&v.id, &v.values, dims)?;
            if let Some(ns) = &v.namespace {
                validate::namespace(ns)?;
            }
            metadata_text.push(match &v.metadata {
                Some(m) => {
                    validate::metadata(&v.id, m)?;
                    Some(serde_json::to_string(m)?)
                }
                None => None,
            });
        }
        let writer = h.writer.lock().await;
        // Decide what this batch writes: insert keeps existing ids and the first of duplicates;
        // upsert keeps the last of duplicates.
        let mut chosen: HashMap<&str, usize> = HashMap::new();
        {
            let st = h.read();
            for (i, v) in vectors.iter().enumerate() {
                match mode {
                    WriteMode::Insert if st.by_id.contains_key(v.id.as_str()) => {}
                    WriteMode::Insert => {
                        chosen.entry(v.id.as_str()).or_insert(i);
                    }
                    WriteMode::Upsert => {
                        chosen.insert(v.id.as_str(), i);
                    }
                }
            }
        }
        let mut order: Vec<usize> = chosen.into_values().collect();
        order.sort_unstable();
        let mut meta = h.read().meta.clone();
        let mut records = Vec::with_capacity(order.len());
        for &i in &order {
            let v = &vectors[i];
            records.push(Record { seq: meta.next_seq, id: v.id.clone(), namespace: v.namespace.clone().filter(|n| !n.is_empty()), metadata: metadata_text[i].clone(), values: v.values.clone() });
            meta.next_seq += 1;
        }
        let mutation = self
            .commit(&h, writer, meta, records.clone(), Vec::new(), |st| {
                for (r, &i) in records.iter().zip(&order) {
                    st.apply_put(r, vectors[i].metadata.as_ref(), None);
                    if let Some(chunk) = st.maybe_freeze(self.cfg.seal_threshold) {
                        self.optimizer.submit(crate::optimizer::Job::Seal(h.clone(), chunk));
                    }
                }
            })
            .await?;
        Ok((mutation, records.len()))
    }

    /// The one write path: stages a mutation (with a fresh mutation id), installs the new
    /// catalogue row and `apply`s the mutation in memory under one state lock, releases the
    /// index's `writer` lock, and returns once a shared fsync covers it — so the next writer of
    /// the index need not wait for this fsync, and may share it. Metadata-index definitions in
    /// memory are left to `apply` (`IndexState::add/remove_metadata_index` also set up postings).
    async fn commit(
        &self,
        h: &Arc<IndexHandle>,
        writer: tokio::sync::MutexGuard<'_, ()>,
        mut meta: IndexMeta,
        puts: Vec<Record>,
        deletes: Vec<String>,
        apply: impl FnOnce(&mut IndexState),
    ) -> Result<String, IndexError> {
        self.group.check()?;
        let mutation = uuid::Uuid::new_v4().to_string();
        meta.last_mutation = mutation.clone();
        meta.last_mutation_at = now_rfc3339();
        let store = self.store.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || store.stage_mutation(&m, &puts, &deletes)).await.map_err(join)??;
        let ticket = self.group.staged();
        {
            let mut st = h.write();
            let keep = std::mem::take(&mut st.meta.metadata_indexes);
            st.meta = IndexMeta { metadata_indexes: keep, ..meta };
            apply(&mut st);
        }
        drop(writer);
        self.group.durable(ticket).await?;
        Ok(mutation)
    }

    pub async fn delete_ids(&self, account: &str, name: &str, ids: Vec<String>) -> Result<(String, usize), IndexError> {
        validate::ids(&ids)?;
        let h = self.handle(account, name)?;
        let writer = h.writer.lock().await;
        let mut present: Vec<String> = {
            let st = h.read();
            ids.into_iter().filter(|id| st.by_id.contains_key(id.as_str())).collect()
        };
        present.sort();
        present.dedup();
        let meta = h.read().meta.clone();
        let mutation = self
            .commit(&h, writer, meta, Vec::new(), present.clone(), |st| {
                for id in &present {
                    st.apply_delete(id);
                }
            })
            .await?;
        Ok((mutation, present.len()))
    }

    #[instrument(skip_all, fields(index = name, k = p.top_k, path))]
    pub fn query(&self, account: &str, name: &str, p: QueryParams) -> Result<(Vec<MatchOut>, Vec<String>), IndexError> {
        let h = self.handle(account, name)?;
        let heavy = p.return_values || p.return_metadata == ReturnMetadata::All;
        let k = validate::top_k(p.top_k, heavy)?;
        let filter = p.filter.as_ref().map(Filter::parse).transpose()?;
        let st = h.read();
        let uid = st.meta.uid;
        let vector = match (p.vector, p.vector_id) {
            (Some(v), None) if !v.is_empty() => {
                validate::query_vector(&v, st.meta.dimensions)?;
                v
            }
            (None, Some(id)) if !id.is_empty() => match self.store.get(uid, &id)? {
                Some(r) => r.values,
                None => return Err(IndexError::NotFound(format!("vector {id:?} not found in index {name:?}"))),
            },
            (Some(v), None) if v.is_empty() => {
                return Err(IndexError::invalid(format!("invalid query vector, expected {} dimensions, and got 0 dimensions", st.meta.dimensions)));
            }
            _ => return Err(IndexError::invalid("give exactly one of vector or vectorId")),
        };
        let ns = p.namespace.filter(|n| !n.is_empty());
        let planned = planner::search(&st, &vector, k, filter.as_ref(), ns.as_deref(), &self.cfg);
        tracing::Span::current().record("path", tracing::field::debug(planned.path));
        let records = if heavy {
            let ids: Vec<&str> = planned.hits.iter().map(|h| &*h.id).collect();
            self.store.get_many(uid, &ids)?
        } else {
            Vec::new()
        };
        let metric = st.meta.metric;
        let mut out = Vec::with_capacity(planned.hits.len());
        for (i, hit) in planned.hits.iter().enumerate() {
            let info = st.points.get(&hit.seq);
            let rec = records.get(i).and_then(Option::as_ref);
            let metadata = match p.return_metadata {
                ReturnMetadata::None => None,
                ReturnMetadata::All => rec.map(Record::metadata_json).transpose()?.flatten(),
                ReturnMetadata::Indexed => info.map(|info| indexed_metadata(&info.indexed)),
            };
            out.push(MatchOut {
                id: hit.id.to_string(),
                score: segment::score(metric, hit.distance),
                values: if p.return_values { rec.map(|r| r.values.clone()) } else { None },
                metadata,
                namespace: info.and_then(|i| i.namespace.as_deref().map(str::to_owned)),
            });
        }
        Ok((out, planned.warnings))
    }

    /// Found vectors, in request order, deduplicated.
    pub fn get_by_ids(&self, account: &str, name: &str, ids: &[String]) -> Result<Vec<Record>, IndexError> {
        validate::ids(ids)?;
        let h = self.handle(account, name)?;
        let uid = h.read().meta.uid;
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&str> = ids.iter().map(String::as_str).filter(|id| seen.insert(*id)).collect();
        Ok(self.store.get_many(uid, &unique)?.into_iter().flatten().collect())
    }

    /// (ids, total live count, next cursor if more).
    pub fn list_vectors(&self, account: &str, name: &str, count: usize, cursor: Option<&str>) -> Result<(Vec<String>, usize, Option<String>), IndexError> {
        let count = if count == 0 { 100 } else { count };
        if count > 1000 {
            return Err(IndexError::invalid(format!("count must be between 1 and 1000, got {count}")));
        }
        let h = self.handle(account, name)?;
        let (uid, total) = {
            let st = h.read();
            (st.meta.uid, st.live_count())
        };
        let mut ids = self.store.list_ids(uid, cursor.filter(|c| !c.is_empty()), count + 1)?;
        let next = if ids.len() > count {
            ids.truncate(count);
            ids.last().cloned()
        } else {
            None
        };
        Ok((ids, total, next))
    }

    pub async fn create_metadata_index(&self, account: &str, name: &str, property: &str, kind: MetaType) -> Result<String, IndexError> {
        validate::property(property)?;
        let h = self.handle(account, name)?;
        let writer = h.writer.lock().await;
        let mut meta = h.read().meta.clone();
        if !meta.metadata_indexes.iter().any(|d| d.property == property) {
            if meta.metadata_indexes.len() >= validate::MAX_METADATA_INDEXES {
                return Err(IndexError::invalid(format!("at most {} metadata indexes per index", validate::MAX_METADATA_INDEXES)));
            }
            meta.metadata_indexes.push(crate::types::MetadataIndexDef { property: property.to_owned(), kind, created_seq: meta.next_seq });
        }
        self.commit(&h, writer, meta, Vec::new(), Vec::new(), |st| {
            st.add_metadata_index(property, kind);
        })
        .await
    }

    pub async fn delete_metadata_index(&self, account: &str, name: &str, property: &str) -> Result<String, IndexError> {
        let h = self.handle(account, name)?;
        let writer = h.writer.lock().await;
        let mut meta = h.read().meta.clone();
        let before = meta.metadata_indexes.len();
        meta.metadata_indexes.retain(|d| d.property != property);
        if meta.metadata_indexes.len() == before {
            return Err(IndexError::NotFound(format!("metadata index for property {property:?} not found")));
        }
        self.commit(&h, writer, meta, Vec::new(), Vec::new(), |st| {
            st.remove_metadata_index(property);
        })
        .await
    }

    pub fn list_metadata_indexes(&self, account: &str, name: &str) -> Result<Vec<(String, MetaType)>, IndexError> {
        let h = self.handle(account, name)?;
        Ok(h.read().meta.metadata_indexes.iter().map(|d| (d.property.clone(), d.kind)).collect())
    }

    /// Waits until no index has pending background work (tests and benchmarks).
    pub fn wait_idle(&self) {
        self.optimizer.wait_idle();
    }
}

/// Metadata of the indexed properties, nested back into objects along the dotted paths.
fn indexed_metadata(indexed: &[(Arc<str>, crate::filter::IVal, bool)]) -> Value {
    let mut root = serde_json::Map::new();
    for (prop, v, in_array) in indexed {
        let parts: Vec<&str> = prop.split('.').collect();
        put_path(&mut root, &parts, v.to_json(), *in_array);
    }
    Value::Object(root)
}

/// Sets `path` in `map` to `value`; array elements collect into an array.
fn put_path(map: &mut serde_json::Map<String, Value>, path: &[&str], value: Value, in_array: bool) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        match map.get_mut(*first) {
            Some(Value::Array(arr)) => arr.push(value),
            Some(existing) => {
                let prev = existing.take();
                *existing = Value::Array(vec![prev, value]);
            }
            None => {
                map.insert(first.to_string(), if in_array { Value::Array(vec![value]) } else { value });
            }
        }
        return;
    }
    let entry = map.entry(first.to_string()).or_insert_with(|| Value::Object(Default::default()));
    if !entry.is_object() {
        *entry = Value::Object(Default::default());
    }
    if let Value::Object(next) = entry {
        put_path(next, rest, value, in_array);
    }
}

fn validate_account(a: &str) -> Result<(), IndexError> {
    if a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(IndexError::invalid(format!("invalid account id {a:?}")))
    }
}

fn join(e: tokio::task::JoinError) -> IndexError {
    IndexError::Internal(e.to_string())
}
