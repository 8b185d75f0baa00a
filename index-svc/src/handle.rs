//! One index as the engine, the optimizer and recovery share it: its searchable state, its
//! writer lock with the view that writers decide against, and the mutations staged on disk but
//! not yet durable, which readers must not see.
//!
//! The rule (see `engine.rs`): a reader sees only what is durable. A mutation is staged in redb,
//! queued here, and applied to `state` only once an fsync covers it — by whichever writer's task
//! gets there first, always in staging order. Writers of the same index still overlap their
//! fsyncs: the next writer decides against `Staged`, which already includes the queued ones.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::group_commit::Ticket;
use crate::tail::Chunk;
use crate::state::IndexState;
use crate::types::IndexMeta;

/// Applies a durable mutation to memory; pushes chunks that filled up (to be sealed).
pub type Apply = Box<dyn FnOnce(&mut IndexState, &mut Vec<Arc<Chunk>>) + Send>;

pub struct IndexHandle {
    pub state: RwLock<IndexState>,
    /// Serialises the decide → stage steps of one index's mutations, and holds what they
    /// decide against: the catalogue row as last staged.
    pub writer: tokio::sync::Mutex<Staged>,
    /// Set, under `writer`, once a delete of the index is durable: later writers find it and
    /// fail instead of staging into a deleted index.
    deleted: AtomicBool,
    queue: Mutex<Queue>,
}

/// The writer's view: the catalogue row including every staged mutation.
pub struct Staged {
    pub meta: IndexMeta,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    /// id → (exists after the last queued mutation touching it, queued mutations touching it).
    overlay: HashMap<String, (bool, u32)>,
}

struct Pending {
    ticket: Ticket,
    meta: IndexMeta,
    ids: Vec<(String, bool)>,
    apply: Apply,
}

impl IndexHandle {
    pub fn new(state: IndexState) -> Arc<Self> {
        let meta = state.meta.clone();
        Arc::new(Self { state: RwLock::new(state), writer: tokio::sync::Mutex::new(Staged { meta }), deleted: AtomicBool::new(false), queue: Default::default() })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Call with `writer` held, after the delete is durable.
    pub fn mark_deleted(&self, _writer: &Staged) {
        self.deleted.store(true, Ordering::Release);
    }

    /// Whether each id exists once every staged mutation is applied. Call with `writer` held:
    /// then nothing new is queued, and a drain racing this call only moves an id from the
    /// overlay (consulted first) into `state`, never the other way.
    pub fn exists_many(&self, ids: &[&str]) -> Vec<bool> {
        let queued: Vec<Option<bool>> = {
            let q = self.queue();
            ids.iter().map(|id| q.overlay.get(*id).map(|e| e.0)).collect()
        };
        let st = self.read();
        ids.iter().zip(queued).map(|(id, q)| q.unwrap_or_else(|| st.by_id.contains_key(*id))).collect()
    }

    /// Queues a staged mutation (call with `writer` held, in staging order). `ids`: (id, exists
    /// after it).
    pub fn enqueue(&self, ticket: Ticket, meta: IndexMeta, ids: Vec<(String, bool)>, apply: Apply) {
        let mut q = self.queue();
        for (id, exists) in &ids {
            let e = q.overlay.entry(id.clone()).or_insert((false, 0));
            *e = (*exists, e.1 + 1);
        }
        q.pending.push_back(Pending { ticket, meta, ids, apply });
    }

    /// Applies, in order, every queued mutation that `durable` (the last durable ticket) covers.
    /// Returns the chunks that filled up.
    pub fn drain(&self, durable: Ticket) -> Vec<Arc<Chunk>> {
        let mut frozen = Vec::new();
        let mut st = self.write();
        let mut q = self.queue();
        while q.pending.front().is_some_and(|p| p.ticket <= durable) {
            let Some(p) = q.pending.pop_front() else { break };
            for (id, _) in &p.ids {
                if let Some(e) = q.overlay.get_mut(id) {
                    e.1 -= 1;
                    if e.1 == 0 {
                        q.overlay.remove(id);
                    }
                }
            }
            // The row as staged, but metadata-index definitions are `apply`'s to change
            // (`IndexState::add/remove_metadata_index` also set up the postings).
            let keep = std::mem::take(&mut st.meta.metadata_indexes);
            st.meta = IndexMeta { metadata_indexes: keep, ..p.meta };
            (p.apply)(&mut st, &mut frozen);
        }
        frozen
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}
