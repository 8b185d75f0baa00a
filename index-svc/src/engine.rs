//! The engine: every index of the service, the durable store, and the background optimizer.
//!
//! Every mutation runs in a task of its own (`mutate`), so a caller that goes away — a gRPC
//! deadline, a reset connection — cannot stop it between its disk and memory steps: under the
//! index's writer lock it decides against the staged view, stages in redb, queues its memory
//! change, releases the lock; then it waits for a shared fsync and applies, in staging order, what
//! that fsync made durable. So a reader sees only what is durable, an acknowledged write is
//! visible to every later read (read-your-writes), and after a storage failure memory holds
//! nothing that was not durable. A delete of an index takes the same writer lock, so no write can
//! stage into an index after its delete.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tracing::{Instrument as _, info, info_span, instrument};

use crate::config::EngineConfig;
use crate::error::IndexError;
use strato_proto::errors::ErrorReason;
use crate::filter::Filter;
use crate::group_commit::{GroupCommit, Ticket};
use crate::handle::{Apply, IndexHandle};
use crate::optimizer::{Job, Optimizer};
use crate::planner;
use crate::segment;
use crate::state::IndexState;
use crate::store::{Faults, Store, catalog_key};
use crate::types::{IndexMeta, MetaType, Metric, Moving, Record, ReturnMetadata, now_rfc3339};
use crate::validate;

#[path = "moving.rs"]
mod moving;
pub use moving::MoveDigest;

pub struct Engine {
    store: Arc<Store>,
    cfg: EngineConfig,
    indexes: RwLock<HashMap<String, Arc<IndexHandle>>>,
    /// Serialises creates (name check → durable row → registration); never held by readers.
    creating: tokio::sync::Mutex<()>,
    optimizer: Optimizer,
    group: Arc<GroupCommit>,
    /// Held shared by every mutation task; `quiesce` takes it exclusively.
    inflight: Arc<tokio::sync::RwLock<()>>,
    /// One import or activation of a moving index at a time, per name (`moving.rs`).
    moves: moving::MoveLocks,
}

/// What a mutation stages, and how memory changes once it is durable.
struct Mutation {
    /// The catalogue row after it (sequence counter, metadata-index definitions).
    meta: IndexMeta,
    /// Shared by the staging commit and `apply`, so a batch's values are not copied.
    puts: Arc<[Record]>,
    deletes: Vec<String>,
    apply: Apply,
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
    pub background_error: Option<String>,
}

impl Engine {
    /// Opens the data directory and loads every index (see `crate::recovery`).
    pub fn open(data_dir: &std::path::Path, cfg: EngineConfig) -> Result<Arc<Self>, IndexError> {
        Self::open_with_faults(data_dir, cfg, Faults::default())
    }

    /// `faults`: test-only storage fault injection (see `store::Faults`).
    pub fn open_with_faults(data_dir: &std::path::Path, cfg: EngineConfig, faults: Faults) -> Result<Arc<Self>, IndexError> {
        let store = Arc::new(Store::open(data_dir, cfg.storage_cache_mb << 20, faults)?);
        let (loaded, seal_jobs) = crate::recovery::load(&store, &cfg)?;
        let group = Arc::new(GroupCommit::new(store.clone()));
        let optimizer = Optimizer::start(store.clone(), group.clone(), cfg.clone());
        for job in seal_jobs {
            optimizer.submit(job);
        }
        for h in loaded.values() {
            optimizer.submit(Job::Compact(h.clone()));
            optimizer.touch(h);
        }
        Ok(Arc::new(Self { store, cfg, indexes: RwLock::new(loaded), creating: Default::default(), optimizer, group, inflight: Default::default(), moves: Default::default() }))
    }

    /// Resolves once storage has failed: the server then goes NOT_SERVING and exits.
    pub fn failed(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.group.failed()
    }

    /// Stops background work: the job in progress finishes and is installed, queued ones are
    /// dropped (start-up redoes them). Call before exit, so redb closes cleanly.
    /// Waits until every mutation under way has finished (each runs to completion whatever its
    /// caller does); any started later waits forever, as the process is exiting.
    pub async fn quiesce(&self) {
        let all = self.inflight.clone().write_owned().await;
        std::mem::forget(all);
    }

    /// Runs a mutation in a task of its own: no caller can cancel it, it stays in the caller's
    /// trace, and `quiesce` waits for it.
    fn spawn<R: Send + 'static>(&self, f: impl Future<Output = R> + Send + 'static) -> tokio::task::JoinHandle<R> {
        let inflight = self.inflight.clone();
        tokio::spawn(
            async move {
                let _running = inflight.read_owned().await;
                f.await
            }
            .instrument(tracing::Span::current()),
        )
    }

    /// A consistent copy of every index, streamed (see `backup.rs`).
    pub fn backup(&self) -> tokio::sync::mpsc::Receiver<Result<strato_proto::index::v1::BackupChunk, IndexError>> {
        crate::backup::start(self.store.clone(), std::time::Duration::from_secs(self.cfg.backup_stall_secs))
    }

    /// Background work finishes the job in hand (if it can within `within`) and stops. False
    /// when a build was left running: the store is then still in use at exit.
    pub fn shutdown(&self, within: std::time::Duration) -> bool {
        self.optimizer.shutdown(within)
    }

    /// After a storage failure: background work stops without waiting for the job in hand.
    pub fn abandon_background(&self) {
        self.optimizer.abandon();
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<IndexHandle>>> {
        self.indexes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The index to serve a call: a moved one answers where it went.
    fn handle(&self, account: &str, name: &str) -> Result<Arc<IndexHandle>, IndexError> {
        let h = self.handle_any(account, name)?;
        if let Moving::Moved { to } = &h.read().meta.moving {
            return Err(IndexError::Moved { name: name.to_owned(), to: to.clone() });
        }
        Ok(h)
    }

    /// The index, whatever its move state (the move's own steps). An index still arriving from
    /// another pod is "moving" (retry shortly), not absent.
    fn handle_any(&self, account: &str, name: &str) -> Result<Arc<IndexHandle>, IndexError> {
        if let Some(h) = self.registry().get(&catalog_key(account, name)) {
            return Ok(h.clone());
        }
        match self.store.index_row(account, name) {
            Ok(Some(m)) if m.moving == Moving::Incoming => Err(IndexError::Moving(name.to_owned())),
            _ => Err(IndexError::IndexNotFound(name.to_owned())),
        }
    }

    pub async fn create(self: &Arc<Self>, account: &str, name: &str, dims: usize, metric: Metric, description: &str) -> Result<IndexMeta, IndexError> {
        validate_account(account)?;
        validate::index_name(name)?;
        validate::dimensions(dims)?;
        validate::description(description)?;
        let now = now_rfc3339();
        let meta = IndexMeta {
            uid: 0, // the store assigns it
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
            moving: Moving::No,
        };
        let engine = self.clone();
        self.spawn(async move {
            let key = catalog_key(&meta.account, &meta.name);
            let _creating = engine.creating.lock().await;
            if engine.registry().contains_key(&key) {
                return Err(IndexError::DuplicateIndex(meta.name));
            }
            if engine.store.index_row(&meta.account, &meta.name)?.is_some() {
                return Err(IndexError::Moving(meta.name)); // an incoming copy holds the name
            }
            let (ticket, meta) = engine.stage(move |s| s.stage_create_index(meta)).await?;
            engine.group.durable(ticket).await?;
            engine.indexes.write().unwrap_or_else(|e| e.into_inner()).insert(key, IndexHandle::new(IndexState::new(meta.clone(), 1)));
            info!(account = meta.account, name = meta.name, dims = meta.dimensions, metric = ?meta.metric, uid = meta.uid, "index created");
            Ok(meta)
        })
        .await
        .map_err(join)?
    }

    pub fn get(&self, account: &str, name: &str) -> Result<IndexMeta, IndexError> {
        Ok(self.handle(account, name)?.read().meta.clone())
    }

    /// Every index's size, for metrics.
    pub fn overview(&self) -> Vec<crate::metrics::IndexCounts> {
        let map = self.registry();
        map.values()
            .map(|h| {
                let st = h.read();
                crate::metrics::IndexCounts { account: st.meta.account.clone(), name: st.meta.name.clone(), vectors: st.live_count(), segments: st.sealed.len() }
            })
            .collect()
    }

    /// Every account's indexes, by account then name (moved ones only with `include_moved`).
    pub fn list_all(&self, include_moved: bool) -> Vec<IndexMeta> {
        let mut out: Vec<IndexMeta> = self.registry().values().map(|h| h.read().meta.clone()).filter(|m| include_moved || !is_moved(m)).collect();
        out.sort_by(|a, b| (&a.account, &a.name).cmp(&(&b.account, &b.name)));
        out
    }

    pub fn list(&self, account: &str) -> Vec<IndexMeta> {
        let map = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<IndexMeta> = map.values().map(|h| h.read().meta.clone()).filter(|m| m.account == account && !is_moved(m)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub async fn delete(self: &Arc<Self>, account: &str, name: &str) -> Result<(), IndexError> {
        self.delete_when(account, name, |m| refuse_if_moving(m)).await
    }

    /// Deletes the index if `allowed` accepts its staged row (a user's delete: not while it
    /// moves; `ForgetMoved`: only once it has moved).
    async fn delete_when(self: &Arc<Self>, account: &str, name: &str, allowed: impl FnOnce(&IndexMeta) -> Result<(), IndexError> + Send + 'static) -> Result<(), IndexError> {
        let h = self.handle_any(account, name)?;
        let engine = self.clone();
        self.spawn(async move {
            let staged = h.writer.lock().await;
            let meta = staged.meta.clone();
            if h.is_deleted() {
                return Err(IndexError::IndexNotFound(meta.name));
            }
            allowed(&meta)?;
            let m = meta.clone();
            let (ticket, ()) = engine.stage(move |s| s.stage_delete_index(&m)).await?;
            engine.group.durable(ticket).await?;
            h.mark_deleted(&staged);
            let key = catalog_key(&meta.account, &meta.name);
            let mut map = engine.indexes.write().unwrap_or_else(|e| e.into_inner());
            if map.get(&key).is_some_and(|x| Arc::ptr_eq(x, &h)) {
                map.remove(&key);
            }
            drop(map);
            engine.store.remove_segment_files(meta.uid, None);
            info!(account = meta.account, name = meta.name, uid = meta.uid, "index deleted");
            Ok(())
        })
        .await
        .map_err(join)?
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
            background_error: st.background_error.clone(),
        })
    }

    /// Insert or upsert one batch, atomically. Returns (mutation id, vectors written).
    #[instrument(skip_all, fields(index = name, n = vectors.len()))]
    pub async fn write(self: &Arc<Self>, account: &str, name: &str, vectors: Vec<NewVector>, mode: WriteMode) -> Result<(String, usize), IndexError> {
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
        let threshold = self.cfg.seal_threshold;
        self.mutate(h, move |h, mut meta| {
            // Insert keeps existing ids (staged ones included) and the first of duplicates;
            // upsert keeps the last of duplicates.
            let exists = match mode {
                WriteMode::Insert => h.exists_many(&vectors.iter().map(|v| v.id.as_str()).collect::<Vec<_>>()),
                WriteMode::Upsert => vec![false; vectors.len()],
            };
            let mut chosen: HashMap<&str, usize> = HashMap::new();
            for (i, v) in vectors.iter().enumerate() {
                match mode {
                    WriteMode::Insert if exists[i] => {}
                    WriteMode::Insert => {
                        chosen.entry(v.id.as_str()).or_insert(i);
                    }
                    WriteMode::Upsert => {
                        chosen.insert(v.id.as_str(), i);
                    }
                }
            }
            let mut order: Vec<usize> = chosen.into_values().collect();
            order.sort_unstable();
            let mut puts = Vec::with_capacity(order.len());
            let mut parsed = Vec::with_capacity(order.len());
            let mut vectors: Vec<Option<NewVector>> = vectors.into_iter().map(Some).collect();
            for &i in &order {
                let Some(v) = vectors[i].take() else { continue };
                puts.push(Record { seq: meta.next_seq, id: v.id, namespace: v.namespace.filter(|n| !n.is_empty()), metadata: metadata_text[i].take(), values: v.values });
                parsed.push(v.metadata);
                meta.next_seq += 1;
            }
            let n = puts.len();
            let puts: Arc<[Record]> = puts.into();
            let records = puts.clone();
            let apply: Apply = Box::new(move |st, frozen| {
                for (r, md) in records.iter().zip(&parsed) {
                    st.apply_put(r, md.as_ref(), None);
                    frozen.extend(st.maybe_freeze(threshold));
                }
            });
            Ok((Mutation { meta, puts, deletes: Vec::new(), apply }, n))
        })
        .await
    }

    /// Runs one mutation of `h` to completion in a task of its own (see the module doc).
    /// `decide` gets the handle (for `exists_many`) and the staged catalogue row, with the
    /// index's writer lock held. Returns (mutation id, what `decide` returned).
    async fn mutate<T: Send + 'static>(
        self: &Arc<Self>,
        h: Arc<IndexHandle>,
        decide: impl FnOnce(&IndexHandle, IndexMeta) -> Result<(Mutation, T), IndexError> + Send + 'static,
    ) -> Result<(String, T), IndexError> {
        let engine = self.clone();
        self.spawn(async move {
            let mut staged = h.writer.lock().instrument(info_span!("writer_lock")).await;
            if h.is_deleted() {
                return Err(IndexError::IndexNotFound(staged.meta.name.clone()));
            }
            refuse_if_moving(&staged.meta)?;
            engine.group.check()?;
            let (m, out) = decide(&h, staged.meta.clone())?;
            let Mutation { mut meta, puts, deletes, apply } = m;
            let mutation = uuid::Uuid::new_v4().to_string();
            meta.last_mutation = mutation.clone();
            meta.last_mutation_at = now_rfc3339();
            let ids: Vec<(String, bool)> = puts.iter().map(|r| (r.id.clone(), true)).chain(deletes.iter().map(|d| (d.clone(), false))).collect();
            let row = meta.clone();
            let (ticket, ()) = engine.stage(move |s| s.stage_mutation(&row, &puts, &deletes)).await?;
            staged.meta = meta.clone();
            h.enqueue(ticket, meta, ids, apply);
            drop(staged);
            let durable = engine.group.durable(ticket).await?;
            engine.apply_durable(&h, durable);
            Ok((mutation, out))
        })
        .await
        .map_err(join)?
    }

    /// A staging commit on the blocking pool; a failure is a storage failure (fail-stop).
    async fn stage<R: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<R, IndexError> + Send + 'static) -> Result<(Ticket, R), IndexError> {
        self.group.check()?;
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).instrument(info_span!("stage")).await.map_err(join).and_then(|r| r) {
            Ok(r) => Ok((self.group.staged(), r)),
            Err(e) => Err(self.group.fail(&e)),
        }
    }

    /// Applies to memory what the fsync up to `durable` covered; full chunks go to be sealed.
    fn apply_durable(&self, h: &Arc<IndexHandle>, durable: Ticket) {
        self.store.faults().pause("apply");
        for chunk in h.drain(durable) {
            self.optimizer.submit(Job::Seal(h.clone(), chunk));
        }
        self.optimizer.touch(h);
    }

    pub async fn delete_ids(self: &Arc<Self>, account: &str, name: &str, ids: Vec<String>) -> Result<(String, usize), IndexError> {
        validate::ids(&ids)?;
        let h = self.handle(account, name)?;
        self.mutate(h, move |h, meta| {
            let mut ids = ids;
            ids.sort();
            ids.dedup();
            let exists = h.exists_many(&ids.iter().map(String::as_str).collect::<Vec<_>>());
            let present: Vec<String> = ids.into_iter().zip(exists).filter(|(_, e)| *e).map(|(id, _)| id).collect();
            let n = present.len();
            let gone = present.clone();
            let apply: Apply = Box::new(move |st, _| {
                for id in &gone {
                    st.apply_delete(id);
                }
            });
            Ok((Mutation { meta, puts: Arc::new([]), deletes: present, apply }, n))
        })
        .await
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
                None => return Err(IndexError::NotFound(ErrorReason::VectorNotFound, format!("vector {id:?} not found in index {name:?}"))),
            },
            (Some(v), None) if v.is_empty() => {
                return Err(IndexError::invalid_as(ErrorReason::InvalidQueryVector, format!("invalid query vector, expected {} dimensions, and got 0 dimensions", st.meta.dimensions)));
            }
            _ => return Err(IndexError::invalid("give exactly one of vector or vectorId")),
        };
        let ns = p.namespace.filter(|n| !n.is_empty());
        drop(st);
        // One version per hit: values and metadata ("all") come from the store's durable
        // snapshot, which can be a mutation ahead of memory (a write is applied to memory just
        // after its fsync). A hit whose stored version is not the one it was scored on is asked
        // again once memory has caught up; if it still differs, it is left out.
        let mut attempt = 0;
        let (st, planned, records) = loop {
            let st = h.read();
            let plan = planner::plan(&st, k, filter.as_ref(), ns.as_deref(), &self.cfg);
            let planned = if plan.scan_rows >= HEAVY_SCAN_ROWS { off_async_workers(|| planner::execute(&st, &vector, plan)) } else { planner::execute(&st, &vector, plan) };
            if !heavy {
                break (st, planned, Vec::new());
            }
            let ids: Vec<&str> = planned.hits.iter().map(|h| &*h.id).collect();
            let records = self.store.get_many(uid, &ids)?;
            let current = planned.hits.iter().zip(&records).all(|(hit, r)| r.as_ref().map(|r| r.seq) == Some(hit.seq));
            if current || attempt == VERSION_RETRIES {
                break (st, planned, records);
            }
            drop(st);
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        tracing::Span::current().record("path", tracing::field::debug(planned.path));
        let metric = st.meta.metric;
        let mut out = Vec::with_capacity(planned.hits.len());
        for (i, hit) in planned.hits.iter().enumerate() {
            let info = st.points.get(&hit.seq);
            let rec = records.get(i).and_then(Option::as_ref);
            if heavy && rec.is_none_or(|r| r.seq != hit.seq) {
                continue;
            }
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
        let after = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => Some(cursor::open(uid, c).ok_or_else(|| IndexError::invalid("invalid cursor: not one this index issued (start again without a cursor)"))?),
            None => None,
        };
        let mut ids = self.store.list_ids(uid, after.as_deref(), count + 1)?;
        let next = if ids.len() > count {
            ids.truncate(count);
            ids.last().map(|last| cursor::issue(uid, last))
        } else {
            None
        };
        Ok((ids, total, next))
    }

    pub async fn create_metadata_index(self: &Arc<Self>, account: &str, name: &str, property: &str, kind: MetaType) -> Result<String, IndexError> {
        validate::property(property)?;
        let h = self.handle(account, name)?;
        let property = property.to_owned();
        let (id, ()) = self
            .mutate(h, move |_, mut meta| {
                if !meta.metadata_indexes.iter().any(|d| d.property == property) {
                    if meta.metadata_indexes.len() >= validate::MAX_METADATA_INDEXES {
                        return Err(IndexError::invalid(format!("at most {} metadata indexes per index", validate::MAX_METADATA_INDEXES)));
                    }
                    meta.metadata_indexes.push(crate::types::MetadataIndexDef { property: property.clone(), kind, created_seq: meta.next_seq });
                }
                let apply: Apply = Box::new(move |st, _| {
                    st.add_metadata_index(&property, kind);
                });
                Ok((Mutation { meta, puts: Arc::new([]), deletes: Vec::new(), apply }, ()))
            })
            .await?;
        Ok(id)
    }

    pub async fn delete_metadata_index(self: &Arc<Self>, account: &str, name: &str, property: &str) -> Result<String, IndexError> {
        let h = self.handle(account, name)?;
        let property = property.to_owned();
        let (id, ()) = self
            .mutate(h, move |_, mut meta| {
                let before = meta.metadata_indexes.len();
                meta.metadata_indexes.retain(|d| d.property != property);
                if meta.metadata_indexes.len() == before {
                    return Err(IndexError::NotFound(ErrorReason::MetadataIndexNotFound, format!("metadata index for property {property:?} not found")));
                }
                let apply: Apply = Box::new(move |st, _| {
                    st.remove_metadata_index(&property);
                });
                Ok((Mutation { meta, puts: Arc::new([]), deletes: Vec::new(), apply }, ()))
            })
            .await?;
        Ok(id)
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

/// Exact scans at least this long (≈ 10 ms at 384 dims) leave the async workers.
const HEAVY_SCAN_ROWS: usize = 50_000;
/// How many times (a millisecond apart) a query asks again when a hit's stored version is
/// newer than the one it scored (`query`): memory is applied microseconds after the fsync.
const VERSION_RETRIES: usize = 20;

/// Runs `f` where it does not hold up other requests: on a multi-threaded runtime, this worker
/// hands its queued tasks to another thread first (`block_in_place`); elsewhere, inline.
fn off_async_workers<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn is_moved(m: &IndexMeta) -> bool {
    matches!(m.moving, Moving::Moved { .. })
}

/// A user's mutation of an index that is moving or has moved.
fn refuse_if_moving(m: &IndexMeta) -> Result<(), IndexError> {
    match &m.moving {
        Moving::Frozen { .. } => Err(IndexError::Moving(m.name.clone())),
        Moving::Moved { to } => Err(IndexError::Moved { name: m.name.clone(), to: to.clone() }),
        Moving::No | Moving::Incoming => Ok(()),
    }
}

fn join(e: tokio::task::JoinError) -> IndexError {
    IndexError::Internal(e.to_string())
}

/// List cursors: the last id listed, hex, and a check over it and the index's uid, so a cursor
/// this index never issued (made up, cut, or from another index or an earlier index of the same
/// name) is refused rather than taken as a place to start. URL-safe as it is.
mod cursor {
    use sha2::{Digest, Sha256};

    fn check(uid: u64, id: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(b"strato list cursor\0");
        h.update(uid.to_le_bytes());
        h.update(id);
        h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn issue(uid: u64, last: &str) -> String {
        let hex: String = last.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{hex}-{}", check(uid, last.as_bytes()))
    }

    /// The id a cursor continues after, if this index issued it.
    pub fn open(uid: u64, cursor: &str) -> Option<String> {
        let (hex, sum) = cursor.split_once('-')?;
        if hex.len() % 2 != 0 || hex.len() > 2 * 1024 {
            return None;
        }
        let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()?;
        (check(uid, &bytes) == sum).then_some(())?;
        String::from_utf8(bytes).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn only_issued_cursors_open() {
            let c = super::issue(7, "vec-ü");
            assert_eq!(super::open(7, &c).as_deref(), Some("vec-ü"));
            assert_eq!(super::open(8, &c), None, "another index");
            for bad in ["", "vec", "zz-00", &c[..c.len() - 1], &c.replace('-', ""), &format!("00{c}")] {
                assert_eq!(super::open(7, bad), None, "{bad}");
            }
        }
    }
}
