//! Moving an index between pods as what it is (the resize's steps; `strato-vectorize rebalance`
//! drives them). The source freezes the index (writes refused with INDEX_MOVING, reads go on),
//! exports its catalogue row and records from the durable snapshot; the destination imports them
//! as an *incoming* copy (in the store, never served — calls get INDEX_MOVING — replaced by a new
//! import), the mover compares both digests, the source marks its own *moved* (every call then
//! names the destination) and the destination activates its copy (loads it as start-up loads an
//! index). Each
//! state is a durable field of the catalogue row (`types::Moving`), so a mover or a pod killed
//! at any point leaves a state the next run resumes from.
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Engine, join};
use crate::error::IndexError;
use crate::handle::IndexHandle;
use crate::tables::VECTORS;
use crate::types::{IndexMeta, Moving, Record};
use crate::validate;

/// An index's move state and content digest (`IndexDigest` on the wire).
#[derive(Debug, Clone, Default)]
pub struct MoveDigest {
    pub state: &'static str,
    pub to: String,
    pub vectors: u64,
    pub digest: Vec<u8>,
    pub last_mutation: String,
}

/// Per-name locks: an import runs alone from its first record to its last, and an activation
/// never sees half of one (two movers at once would otherwise interleave: one writing under
/// the uid of an incoming copy the other has replaced).
#[derive(Default)]
pub struct MoveLocks(std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl MoveLocks {
    async fn lock(&self, account: &str, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(crate::store::catalog_key(account, name)).or_default().clone();
        m.lock_owned().await
    }
}

/// An import under way: its row here, and the name's lock until it ends.
pub struct Import {
    pub meta: IndexMeta,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

/// Records per staged batch of an import (one durable commit each).
const IMPORT_BATCH: usize = 2000;

fn state_of(m: &Moving) -> (&'static str, String) {
    match m {
        Moving::No => ("active", String::new()),
        Moving::Frozen { to } => ("frozen", to.clone()),
        Moving::Moved { to } => ("moved", to.clone()),
        Moving::Incoming => ("incoming", String::new()),
    }
}

impl Engine {
    /// Incoming copies (in the store, not served): `ListIndexes` with `include_moved`.
    pub fn incoming(&self) -> Result<Vec<IndexMeta>, IndexError> {
        Ok(self.store.catalogue()?.into_iter().map(|(m, _)| m).filter(|m| m.moving == Moving::Incoming).collect())
    }

    /// The state and digest of `account/name`, from the durable snapshot: the row's contract
    /// and every record, in id order.
    pub fn move_digest(&self, account: &str, name: &str) -> Result<MoveDigest, IndexError> {
        let Some(meta) = self.store.index_row(account, name)? else {
            return Ok(MoveDigest { state: "absent", ..Default::default() });
        };
        let (state, to) = state_of(&meta.moving);
        let mut h = Sha256::new();
        let contract = serde_json::json!([meta.dimensions, format!("{:?}", meta.metric), meta.description, meta.created_on, meta.next_seq, meta.last_mutation,
            meta.metadata_indexes.iter().map(|m| (m.property.clone(), format!("{:?}", m.kind), m.created_seq)).collect::<Vec<_>>()]);
        h.update(contract.to_string().as_bytes());
        let mut vectors = 0u64;
        let snapshot = self.store.durable_snapshot();
        for row in snapshot.open_table(VECTORS)?.range((meta.uid, "")..(meta.uid + 1, ""))? {
            let r: Record = postcard::from_bytes(row?.1.value())?;
            h.update((r.id.len() as u64).to_le_bytes());
            h.update(r.id.as_bytes());
            h.update(r.seq.to_le_bytes());
            for x in &r.values {
                h.update(x.to_bits().to_le_bytes());
            }
            h.update(serde_json::to_vec(&(&r.namespace, &r.metadata))?);
            vectors += 1;
        }
        Ok(MoveDigest { state, to, vectors, digest: h.finalize().to_vec(), last_mutation: meta.last_mutation })
    }

    /// Moves the index to `state` ("frozen" or "moved" with `to`, "active" to thaw a frozen
    /// one) in a durable row update that keeps its last mutation id. Repeating a step is a no-op.
    pub async fn set_move_state(self: &Arc<Self>, account: &str, name: &str, state: &str, to: &str) -> Result<MoveDigest, IndexError> {
        let h = self.handle_any(account, name)?;
        let (state, to) = (state.to_owned(), to.to_owned());
        let engine = self.clone();
        let (account, name) = (account.to_owned(), name.to_owned());
        self.spawn(async move {
            let mut staged = h.writer.lock().await;
            if h.is_deleted() {
                return Err(IndexError::IndexNotFound(name));
            }
            let next = match (state.as_str(), &staged.meta.moving) {
                ("frozen", Moving::No) if !to.is_empty() => Moving::Frozen { to: to.clone() },
                ("moved", Moving::Frozen { to: t }) if *t == to => Moving::Moved { to: to.clone() },
                ("active", Moving::Frozen { .. }) => Moving::No,
                ("frozen", Moving::Frozen { to: t }) | ("moved", Moving::Moved { to: t }) if *t == to => staged.meta.moving.clone(),
                ("active", Moving::No) => Moving::No,
                (s, now) => return Err(IndexError::invalid(format!("index {name:?} cannot go from {now:?} to {s} (to {to:?})"))),
            };
            if next != staged.meta.moving {
                let mut meta = staged.meta.clone();
                meta.moving = next;
                let row = meta.clone();
                let (ticket, ()) = engine.stage(move |s| s.stage_mutation(&row, &[], &[])).await?;
                staged.meta = meta.clone();
                h.enqueue(ticket, meta, Vec::new(), Box::new(|_, _| {}));
                drop(staged);
                let durable = engine.group.durable(ticket).await?;
                engine.apply_durable(&h, durable);
                tracing::info!(account, name, state, to, "index move state");
            }
            engine.move_digest(&account, &name)
        })
        .await
        .map_err(join)?
    }

    /// The frozen index's row (JSON) and then its records (stored encoding) in id order, from
    /// the durable snapshot, `emit`ted in batches; `emit` returns false when nobody reads.
    pub fn export_index(&self, account: &str, name: &str, emit: &mut dyn FnMut(Vec<u8>, Vec<Vec<u8>>) -> bool) -> Result<(), IndexError> {
        let meta = self.store.index_row(account, name)?.ok_or_else(|| IndexError::IndexNotFound(name.to_owned()))?;
        if !matches!(meta.moving, Moving::Frozen { .. } | Moving::Moved { .. }) {
            return Err(IndexError::invalid(format!("index {name:?} must be frozen to be exported (it is {:?})", meta.moving)));
        }
        let snapshot = self.store.durable_snapshot();
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        let mut first = Some(serde_json::to_vec(&meta)?);
        for row in snapshot.open_table(VECTORS)?.range((meta.uid, "")..(meta.uid + 1, ""))? {
            batch.push(row?.1.value().to_vec());
            if batch.len() == IMPORT_BATCH && !emit(first.take().unwrap_or_default(), std::mem::take(&mut batch)) {
                return Ok(());
            }
        }
        emit(first.take().unwrap_or_default(), batch);
        Ok(())
    }

    /// Starts an incoming copy from the source's row (replacing an earlier incoming copy);
    /// holds the name's lock until the import is dropped.
    pub async fn import_begin(self: &Arc<Self>, row: &[u8]) -> Result<Import, IndexError> {
        let mut meta: IndexMeta = serde_json::from_slice(row).map_err(|e| IndexError::invalid(format!("not an index row: {e}")))?;
        validate::index_name(&meta.name)?;
        validate::dimensions(meta.dimensions)?;
        meta.moving = Moving::Incoming;
        meta.uid = 0;
        let lock = self.moves.lock(&meta.account, &meta.name).await;
        let engine = self.clone();
        let meta = self.spawn(async move {
            let _creating = engine.creating.lock().await;
            if engine.registry().contains_key(&crate::store::catalog_key(&meta.account, &meta.name)) {
                return Err(IndexError::DuplicateIndex(meta.name));
            }
            if let Some(old) = engine.store.index_row(&meta.account, &meta.name)? {
                if old.moving != Moving::Incoming {
                    return Err(IndexError::DuplicateIndex(meta.name));
                }
                let (ticket, ()) = engine.stage(move |s| s.stage_delete_index(&old)).await?;
                engine.group.durable(ticket).await?;
            }
            let (ticket, meta) = engine.stage(move |s| s.stage_create_index(meta)).await?;
            engine.group.durable(ticket).await?;
            Ok(meta)
        })
        .await
        .map_err(join)??;
        Ok(Import { meta, _lock: lock })
    }

    /// Adds records (stored encoding) to the incoming copy `meta`, durably. Each is checked:
    /// its dimensions, and a sequence number below the row's counter.
    pub async fn import_records(&self, import: &Import, records: Vec<Vec<u8>>) -> Result<(), IndexError> {
        let meta = &import.meta;
        let mut puts = Vec::with_capacity(records.len());
        for b in &records {
            let r: Record = postcard::from_bytes(b).map_err(|e| IndexError::invalid(format!("not a record: {e}")))?;
            validate::id(&r.id)?;
            if r.values.len() != meta.dimensions || r.seq >= meta.next_seq || r.values.iter().any(|x| !x.is_finite()) {
                return Err(IndexError::invalid(format!("record {:?} does not fit index {:?}", r.id, meta.name)));
            }
            puts.push(r);
        }
        let row = meta.clone();
        let (ticket, ()) = self.stage(move |s| s.stage_mutation(&row, &puts, &[])).await?;
        self.group.durable(ticket).await?;
        Ok(())
    }

    /// Serves the incoming copy of `account/name`: its row made active, the index loaded as
    /// start-up loads one, its graphs built in the background. Activating an active index is a
    /// no-op.
    pub async fn activate(self: &Arc<Self>, account: &str, name: &str) -> Result<MoveDigest, IndexError> {
        let _no_import = self.moves.lock(account, name).await;
        let engine = self.clone();
        let (account, name) = (account.to_owned(), name.to_owned());
        self.spawn(async move {
            let _creating = engine.creating.lock().await;
            let key = crate::store::catalog_key(&account, &name);
            if !engine.registry().contains_key(&key) {
                let mut meta = engine.store.index_row(&account, &name)?.ok_or_else(|| IndexError::IndexNotFound(name.clone()))?;
                if meta.moving != Moving::Incoming {
                    return Err(IndexError::invalid(format!("index {name:?} has no incoming copy here")));
                }
                meta.moving = Moving::No;
                let row = meta.clone();
                let (ticket, ()) = engine.stage(move |s| s.stage_mutation(&row, &[], &[])).await?;
                engine.group.durable(ticket).await?;
                let store = engine.store.clone();
                let cfg = engine.cfg.clone();
                let (handle, jobs): (Arc<IndexHandle>, _) = tokio::task::spawn_blocking(move || crate::recovery::load_one(&store, meta, &cfg)).await.map_err(join)??;
                engine.indexes.write().unwrap_or_else(|e| e.into_inner()).insert(key, handle);
                for job in jobs {
                    engine.optimizer.submit(job);
                }
                tracing::info!(account, name, "moved index activated");
            }
            engine.move_digest(&account, &name)
        })
        .await
        .map_err(join)?
    }

    /// Deletes this pod's copy of a moved index, or an incoming copy (a move abandoned).
    pub async fn forget_moved(self: &Arc<Self>, account: &str, name: &str) -> Result<(), IndexError> {
        let _no_import = self.moves.lock(account, name).await;
        if !self.registry().contains_key(&crate::store::catalog_key(account, name)) {
            let row = self.store.index_row(account, name)?.filter(|m| m.moving == Moving::Incoming);
            let row = row.ok_or_else(|| IndexError::IndexNotFound(name.to_owned()))?;
            let engine = self.clone();
            return self
                .spawn(async move {
                    let _creating = engine.creating.lock().await;
                    let (ticket, ()) = engine.stage(move |s| s.stage_delete_index(&row)).await?;
                    engine.group.durable(ticket).await.map(|_| ())
                })
                .await
                .map_err(join)?;
        }
        self.delete_when(account, name, |m| match m.moving {
            Moving::Moved { .. } => Ok(()),
            _ => Err(IndexError::invalid(format!("index {:?} has not moved: it is not forgotten", m.name))),
        })
        .await
    }
}
