//! Group commit: concurrent writers share fsyncs; and fail-stop when storage fails.
//!
//! A mutation is first *staged*: committed to redb without an fsync (`Durability::None`), so it
//! is ordered after every earlier one. Its writer then waits in `durable` for one fsync that
//! started after the staging; whoever holds the sync lock fsyncs everything staged so far, and
//! the writers queued behind find themselves already covered. A lone writer pays one fsync; 32
//! writers of one vector each share a few (see `./strato bench index`, "small writes"). Staged
//! mutations are neither acknowledged nor visible to readers until an fsync covers them (readers
//! go through `Store`'s durable snapshot and the index's memory, which is applied after the
//! fsync), so a crash that loses them loses nothing anybody saw.
//!
//! A failed commit or fsync is fail-stop (as PostgreSQL learned to do): after one, the kernel
//! may have dropped the dirty pages, so no later fsync can vouch for what was staged. Every write
//! from then on answers UNAVAILABLE, and `failed()` tells the server to go NOT_SERVING and exit,
//! so the orchestrator restarts it on what is really on disk.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tracing::Instrument as _;

use crate::error::IndexError;
use crate::metrics::METRICS;
use crate::store::Store;

/// Identifies a staged mutation: staging order, starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

pub struct GroupCommit {
    store: Arc<Store>,
    staged: AtomicU64,
    /// The last ticket known durable; held across an fsync so that only one runs at a time.
    synced: tokio::sync::Mutex<u64>,
    /// Why storage failed, once it has.
    failed: watch::Sender<Option<String>>,
}

impl GroupCommit {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, staged: AtomicU64::new(0), synced: tokio::sync::Mutex::new(0), failed: watch::Sender::new(None) }
    }

    /// Refuses writes once storage has failed.
    pub fn check(&self) -> Result<(), IndexError> {
        match &*self.failed.borrow() {
            Some(why) => Err(IndexError::Unavailable(format!("storage failed ({why}); index-svc refuses writes and is restarting"))),
            None => Ok(()),
        }
    }

    /// Records a storage failure (first one wins) and returns the error writers get from now on.
    pub fn fail(&self, e: &IndexError) -> IndexError {
        self.failed.send_if_modified(|f| {
            if f.is_none() {
                METRICS.storage_failed_now();
                tracing::error!(error = %e, "storage failed: refusing writes; index-svc goes NOT_SERVING and exits");
                *f = Some(e.to_string());
                true
            } else {
                false
            }
        });
        self.check().err().unwrap_or_else(|| IndexError::Unavailable(e.to_string()))
    }

    /// Resolves once storage has failed (the server then drains and exits).
    pub fn failed(&self) -> watch::Receiver<Option<String>> {
        self.failed.subscribe()
    }

    /// Called once the staging commit has returned.
    pub fn staged(&self) -> Ticket {
        Ticket(self.staged.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once the mutation behind `ticket` is on disk, with the last durable ticket (every
    /// mutation staged up to it is durable too).
    /// Its span (`group_commit`) is the writer's whole wait; the writer that runs the fsync has
    /// an `fsync` span inside it (the others were covered by someone else's).
    #[tracing::instrument(skip_all, name = "group_commit")]
    pub async fn durable(&self, ticket: Ticket) -> Result<Ticket, IndexError> {
        let mut synced = self.synced.lock().await;
        if *synced >= ticket.0 {
            return Ok(Ticket(*synced));
        }
        self.check()?;
        // Every ticket up to here was staged before this fsync begins, so it covers them all.
        let upto = self.staged.load(Ordering::SeqCst);
        let store = self.store.clone();
        let started = std::time::Instant::now();
        let span = tracing::info_span!("fsync", mutations = upto - *synced);
        let result = tokio::task::spawn_blocking(move || store.sync())
            .instrument(span)
            .await
            .map_err(|e| IndexError::Internal(e.to_string()))
            .and_then(|r| r);
        if let Err(e) = result {
            return Err(self.fail(&e));
        }
        METRICS.fsync.observe(started.elapsed().as_secs_f64());
        METRICS.commit_group.observe((upto - *synced) as f64);
        *synced = upto;
        Ok(Ticket(upto))
    }
}
