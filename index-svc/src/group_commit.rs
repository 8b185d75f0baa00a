//! Group commit: concurrent writers share fsyncs.
//!
//! A mutation is first *staged*: committed to redb without an fsync (`Durability::None`), so it
//! is ordered and visible to later transactions. Its writer then waits in `durable` for one
//! fsync that started after the staging; whoever holds the sync lock fsyncs everything staged
//! so far, and the writers queued behind find themselves already covered. A lone writer pays
//! one fsync as before; 32 writers of one vector each share a few (see `./strato bench index`,
//! "small writes"). Staged but unsynced mutations are never acknowledged, so a crash that loses
//! them loses nothing a client was told was written.
//!
//! A failed fsync is fail-stop for writes (as PostgreSQL learned to do): after one, the kernel may
//! have dropped the dirty pages, so no later fsync can vouch for what was staged. Every write from
//! then on is refused until a restart, which reloads from what is really on disk.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    failed: AtomicBool,
}

impl GroupCommit {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, staged: AtomicU64::new(0), synced: tokio::sync::Mutex::new(0), failed: AtomicBool::new(false) }
    }

    /// Refuses writes once an fsync has failed.
    pub fn check(&self) -> Result<(), IndexError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(IndexError::Storage("an earlier fsync failed; writes are refused until index-svc restarts".into()));
        }
        Ok(())
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
        self.check()?;
        // Every ticket up to here was staged before this fsync begins, so it covers them all.
        let upto = self.staged.load(Ordering::SeqCst);
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.sync()).await.map_err(|e| IndexError::Internal(e.to_string())).and_then(|r| r);
        if let Err(e) = result {
            self.failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "fsync failed; refusing writes until restart");
            return Err(e);
        }
        *synced = upto;
        Ok(())
    }
}
