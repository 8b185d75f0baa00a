//! Faults against index-svc: real processes, killed and restarted, checked against an oracle of
//! what their clients were told.
//!
//! `chaos` (the randomized concurrent test) runs one index-svc on one data directory through a
//! number of rounds (`STRATO_FAULT_ROUNDS`, default 8). index-svc runs with a seal threshold of
//! 16, at most 3 segments, one ef tier of 32 and a settle delay of 5 ms, so sealing, compaction
//! and settling run all the time, and a query with topK > 32 is an exact scan. In each round a few index names ("chaos-0".."chaos-2")
//! are driven concurrently:
//!
//! * a lifecycle task per name creates the index (an *epoch* of the name; dimensions
//!   32 + 4·(epoch mod 3), so a write meant for one epoch is rejected by the next), lets 2–4
//!   writers run, deletes the index while they write, waits for them, and creates the next epoch;
//! * each writer owns its ids ("w{w}-{n}", n < 20: at most 80 ids per index) and upserts batches
//!   of 1–8 (new ids and rewrites), inserts ids it knows absent, deletes ids, creates or drops a
//!   metadata index, and queries. Every vector is a pure function of (epoch, writer, id, version)
//!   and says so in its metadata `{"epoch", "w", "v"}`, so what is read back can be checked bit
//!   for bit. About a third of the mutations are cut short: a gRPC deadline of 50–3000 µs (the
//!   server drops the handler) or the client dropping the call; tasks use a shared connection or
//!   their own.
//!
//! After a random 0.4–2.5 s the process is SIGKILLed under load; calls in flight fail. It is
//! restarted on the same directory and every name is checked (`check`) against the oracle
//! (`oracle`): each call was acknowledged, refused (definitely not applied), or *uncertain*
//! (cancelled, deadline, connection lost, any other error). For every id the allowed states are
//! the state after the last acknowledged operation on it, plus the state after each uncertain
//! one since the last check; likewise for which epoch of a name exists and for the metadata index.
//! The check requires that
//!
//! * ListIndexes and GetIndex agree; an index whose DeleteIndex was acknowledged never comes back,
//!   and no vector of a deleted epoch is ever seen again;
//! * every id (GetByIds) is in an allowed state, with exactly the values, namespace and metadata
//!   written; no version that was never sent appears, and no acknowledged write is lost;
//! * ListVectors (all pages), a topK=100 Query, and DescribeIndex's count show exactly the ids
//!   GetByIds finds, none twice;
//! * an uncertain batch is there whole or not at all: no id shows the batch's version while
//!   another id, which no later call touched, still shows its state from before the batch.
//!
//! What is observed then becomes the oracle's baseline for the next round. A last round stops
//! cleanly instead: the live service is checked (its in-memory view), then killed while idle, and
//! after the restart it must show exactly the same (the on-disk view).
//!
//! The run's seed is printed first and in every failure (`STRATO_FAULT_SEED=<seed>` replays the
//! same plan; the timing, and so the interleaving, still differs from run to run).
//!
//! Run: `cargo build --release -p index-svc && cargo test --release -p strato-tests --test index_faults`.
mod calls;
mod chaos;
mod check;
mod oracle;
mod rng;
mod storage;
mod writer;
