//! Group commit: concurrent writers share fsyncs.
//!
//! A mutation is first *staged*: committed to redb without an fsync (`Durability::None`), so it
//! is ordered and visible to later transactions. Its writer then waits in `durable` for one
//! fsync that started after the staging; whoever holds the sync lock fsyncs everything staged
//! so far, and the writers queued behind find themselves already covered. A lone writer pays
//! one fsync as before; 32 writers of one vector each share a few (see `./strato bench index`,
//! "small writes"). Staged but unsynced mutations are never acknowledged, so a crash that loses
//! them loses nothing a client was told was written.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::IndexError;
use crate::store::Store;

/// Identifies a staged mutation: staging order, starting at 1.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

pub struct GroupCommit {
    store: Arc<Store>,
    staged: AtomicU64,
    /// The last ticket known durable; held across an fsync so that only one runs at a time.
    synced: tokio::sync::Mutex<u64>,
}

impl GroupCommit {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, staged: AtomicU64::new(0), synced: tokio::sync::Mutex::new(0) }
    }

    /// Called once the staging commit has returned.
    pub fn staged(&self) -> Ticket {
        Ticket(self.staged.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once the mutation behind `ticket` is on disk.
    #[tracing::instrument(skip_all, name = "fsync")]
    pub async fn durable(&self, ticket: Ticket) -> Result<(), IndexError> {
        let mut synced = self.synced.lock().await;
        if *synced >= ticket.0 {
            return Ok(());
        }
        // Every ticket up to here was staged before this fsync begins, so it covers them all.
        let upto = self.staged.load(Ordering::SeqCst);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.sync()).await.map_err(|e| IndexError::Internal(e.to_string()))??;
        *synced = upto;
        Ok(())
    }
}
