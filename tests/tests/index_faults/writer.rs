//! A writer: one task per writer of an index epoch, owning ids "w{w}-{n}", mixing upserts,
//! inserts, deletes, metadata-index changes and reads, and telling the oracle each outcome.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use strato_proto::index::v1 as pb;
use strato_tests::json::to_struct;

use crate::calls::{Cancel, call, gone};
use crate::chaos::{Ctx, WRITER};
use crate::check::Client;
use crate::oracle::{self, IDS_PER_WRITER, Reply, dims_of, id_of};
use crate::rng::Rng;

/// One writer of one epoch: ids "w{w}-{n}" are its alone.
struct Writer {
    ctx: Arc<Ctx>,
    c: Client,
    name: String,
    e: u32,
    w: usize,
    rng: Rng,
}

pub async fn writer(ctx: Arc<Ctx>, slot: usize, e: u32, w: usize, epoch_stop: Arc<AtomicBool>) {
    let mut rng = Rng::derive(ctx.seed, &[WRITER, ctx.round as u64, slot as u64, u64::from(e), w as u64]);
    let Some(c) = ctx.client(&mut rng).await else { return };
    let name = ctx.names[slot].clone();
    let mut me = Writer { ctx, c, name, e, w, rng };
    while !me.ctx.stopped() && !epoch_stop.load(Ordering::SeqCst) {
        let gone = match me.rng.range(0..100) {
            0..35 => me.upsert().await,
            35..50 => me.insert().await,
            50..65 => me.delete_ids().await,
            65..72 if w == 0 => me.metadata_index().await,
            _ => me.read().await,
        };
        if gone {
            return;
        }
    }
}

impl Writer {
    /// Upsert 1–8 of this writer's ids, fresh or not.
    async fn upsert(&mut self) -> bool {
        let k = self.rng.range(1..9);
        let ns = self.rng.distinct(IDS_PER_WRITER, k);
        self.write(ns, false).await
    }

    /// Insert 1–8 ids that are surely absent (so each must be written).
    async fn insert(&mut self) -> bool {
        let fresh: Vec<usize> = {
            let mut o = self.ctx.oracle();
            (0..IDS_PER_WRITER).filter(|n| o.surely_absent(&self.name, self.e, &id_of(self.w, *n))).collect()
        };
        if fresh.is_empty() {
            return self.upsert().await;
        }
        let k = self.rng.range(1..9);
        let ns = self.rng.distinct(fresh.len(), k).into_iter().map(|i| fresh[i]).collect();
        self.write(ns, true).await
    }

    async fn write(&mut self, ns: Vec<usize>, insert: bool) -> bool {
        let (e, w) = (self.e, self.w);
        let pairs: Vec<(String, u32)> = {
            let mut o = self.ctx.oracle();
            ns.iter().map(|&n| (id_of(w, n), o.next_version(&self.name, e, w))).collect()
        };
        let vectors = ns.iter().zip(&pairs).map(|(&n, (_, v))| oracle::vector(e, w, n, *v)).collect();
        let req = pb::WriteRequest { account: String::new(), index: self.name.clone(), vectors };
        let cancel = Cancel::pick(&mut self.rng);
        let r = if insert { call(cancel, self.c.insert(cancel.request(req))).await } else { call(cancel, self.c.upsert(cancel.request(req))).await };
        self.ctx.count(&r);
        let what = format!("{} of round {} ({cancel}: {})", if insert { "insert" } else { "upsert" }, self.ctx.round, r.why());
        let count = if let Reply::Acked(m) = &r { Some(m.count) } else { None };
        self.ctx.oracle().record_write(&self.name, e, &pairs, r.outcome(), count, &what);
        gone(&r)
    }

    async fn delete_ids(&mut self) -> bool {
        let k = self.rng.range(1..5);
        let ids: Vec<String> = self.rng.distinct(IDS_PER_WRITER, k).into_iter().map(|n| id_of(self.w, n)).collect();
        let req = pb::IdsRequest { account: String::new(), index: self.name.clone(), ids: ids.clone() };
        let cancel = Cancel::pick(&mut self.rng);
        let r = call(cancel, self.c.delete_by_ids(cancel.request(req))).await;
        self.ctx.count(&r);
        self.ctx.oracle().record_delete_ids(&self.name, self.e, &ids, r.outcome());
        gone(&r)
    }

    /// Create or delete the metadata index on "w" (writer 0 only, so these calls are sequential).
    async fn metadata_index(&mut self) -> bool {
        let create = self.rng.chance(0.5);
        let req = pb::MetadataIndexRequest {
            account: String::new(),
            index: self.name.clone(),
            property_name: "w".into(),
            index_type: pb::MetadataType::Number as i32,
        };
        let cancel = Cancel::pick(&mut self.rng);
        let r = if create {
            call(cancel, self.c.create_metadata_index(cancel.request(req))).await
        } else {
            call(cancel, self.c.delete_metadata_index(cancel.request(req))).await
        };
        self.ctx.count(&r);
        self.ctx.oracle().record_md(&self.name, self.e, create, r.outcome());
        // Deleting a metadata index that is not there is NotFound too; the next call will tell.
        create && gone(&r)
    }

    /// A query (no id twice in its answer) or a GetByIds.
    async fn read(&mut self) -> bool {
        if self.rng.chance(0.3) {
            let k = self.rng.range(1..9);
            let ids = self.rng.distinct(IDS_PER_WRITER, k).into_iter().map(|n| id_of(self.w, n)).collect();
            let r = call(Cancel::None, self.c.get_by_ids(pb::IdsRequest { account: String::new(), index: self.name.clone(), ids })).await;
            self.ctx.count(&r);
            return gone(&r);
        }
        let top_k = self.rng.range(1..21) as u32;
        let return_metadata = [pb::ReturnMetadata::None, pb::ReturnMetadata::Indexed, pb::ReturnMetadata::All][self.rng.range(0..3)];
        let req = pb::QueryRequest {
            account: String::new(),
            index: self.name.clone(),
            vector: self.rng.vector(dims_of(self.e)),
            top_k,
            return_metadata: return_metadata as i32,
            filter: self.rng.chance(0.3).then(|| to_struct(&json!({"w": self.w}))),
            ..Default::default()
        };
        let r = call(Cancel::None, self.c.query(req)).await;
        self.ctx.count(&r);
        if let Reply::Acked(q) = &r {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(m) = q.matches.iter().find(|m| !seen.insert(m.id.as_str())) {
                let msg = format!("index {} epoch {}: Query topK={top_k} returned id {} twice", self.name, self.e, m.id);
                self.ctx.oracle().violation(msg);
            }
        }
        gone(&r)
    }
}
