//! The gRPC face of the engine: request → engine call → response, nothing else.
use std::sync::Arc;

use strato_proto::index::v1 as pb;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::convert::*;
use crate::engine::{Engine, NewVector, QueryParams, WriteMode};
use crate::error::IndexError;
use crate::types::IndexMeta;

pub struct IndexService {
    engine: Arc<Engine>,
}

impl IndexService {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

fn info(m: IndexMeta) -> pb::IndexInfo {
    pb::IndexInfo {
        name: m.name,
        description: m.description,
        dimensions: m.dimensions as u32,
        metric: metric_to(m.metric) as i32,
        created_on: m.created_on,
        modified_on: m.modified_on,
        account: m.account,
    }
}

fn vectors(v: Vec<pb::Vector>) -> Vec<NewVector> {
    v.into_iter()
        .map(|v| NewVector {
            id: v.id,
            values: v.values,
            namespace: Some(v.namespace).filter(|n| !n.is_empty()),
            metadata: v.metadata.as_ref().map(struct_to_json),
        })
        .collect()
}

fn mutation((mutation_id, count): (String, usize)) -> Response<pb::MutationResponse> {
    Response::new(pb::MutationResponse { mutation_id, count: count as u32 })
}

#[tonic::async_trait]
impl pb::vector_index_server::VectorIndex for IndexService {
    async fn create_index(&self, r: Request<pb::CreateIndexRequest>) -> Result<Response<pb::IndexInfo>, Status> {
        let r = r.into_inner();
        let metric = metric_from(r.metric)?;
        let m = self.engine.create(&r.account, &r.name, r.dimensions as usize, metric, &r.description).await?;
        Ok(Response::new(info(m)))
    }

    async fn get_index(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::IndexInfo>, Status> {
        let r = r.into_inner();
        Ok(Response::new(info(self.engine.get(&r.account, &r.name)?)))
    }

    async fn list_indexes(&self, r: Request<pb::ListIndexesRequest>) -> Result<Response<pb::ListIndexesResponse>, Status> {
        let r = r.into_inner();
        let mut listed = if r.all_accounts { self.engine.list_all(r.include_moved) } else { self.engine.list(&r.account) };
        if r.all_accounts && r.include_moved {
            listed.extend(self.engine.incoming()?);
        }
        let indexes = listed.into_iter().map(info).collect();
        Ok(Response::new(pb::ListIndexesResponse { indexes }))
    }

    async fn delete_index(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::DeleteIndexResponse>, Status> {
        let r = r.into_inner();
        self.engine.delete(&r.account, &r.name).await?;
        Ok(Response::new(pb::DeleteIndexResponse {}))
    }

    async fn describe_index(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::IndexStats>, Status> {
        let r = r.into_inner();
        let s = self.engine.describe(&r.account, &r.name)?;
        Ok(Response::new(pb::IndexStats {
            dimensions: s.dimensions as u32,
            vector_count: s.vector_count as u64,
            processed_up_to_mutation: s.last_mutation,
            processed_up_to_datetime: s.last_mutation_at,
            indexed_vector_count: s.indexed as u64,
            pending_vector_count: s.pending as u64,
            sealed_segments: s.sealed_segments as u32,
            background_error: s.background_error.unwrap_or_default(),
        }))
    }

    async fn insert(&self, r: Request<pb::WriteRequest>) -> Result<Response<pb::MutationResponse>, Status> {
        let r = r.into_inner();
        Ok(mutation(self.engine.write(&r.account, &r.index, vectors(r.vectors), WriteMode::Insert).await?))
    }

    async fn upsert(&self, r: Request<pb::WriteRequest>) -> Result<Response<pb::MutationResponse>, Status> {
        let r = r.into_inner();
        Ok(mutation(self.engine.write(&r.account, &r.index, vectors(r.vectors), WriteMode::Upsert).await?))
    }

    type BackupStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BackupChunk, Status>> + Send>>;

    async fn backup(&self, _r: Request<pb::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        let chunks = tokio_stream::wrappers::ReceiverStream::new(self.engine.backup());
        Ok(Response::new(Box::pin(chunks.map(|c| c.map_err(Status::from)))))
    }

    async fn ingest(&self, r: Request<Streaming<pb::IngestRequest>>) -> Result<Response<pb::IngestResponse>, Status> {
        let mut stream = r.into_inner();
        let mut out = pb::IngestResponse::default();
        while let Some(msg) = stream.next().await {
            let msg = msg?;
            let mode = if msg.mode == pb::WriteMode::Insert as i32 { WriteMode::Insert } else { WriteMode::Upsert };
            let (id, n) = self.engine.write(&msg.account, &msg.index, vectors(msg.vectors), mode).await?;
            out.batches += 1;
            out.count += n as u64;
            out.last_mutation_id = id;
        }
        Ok(Response::new(out))
    }

    async fn delete_by_ids(&self, r: Request<pb::IdsRequest>) -> Result<Response<pb::MutationResponse>, Status> {
        let r = r.into_inner();
        Ok(mutation(self.engine.delete_ids(&r.account, &r.index, r.ids).await?))
    }

    async fn query(&self, r: Request<pb::QueryRequest>) -> Result<Response<pb::QueryResponse>, Status> {
        let r = r.into_inner();
        let params = QueryParams {
            vector: Some(r.vector).filter(|v| !v.is_empty() || r.vector_id.is_empty()),
            vector_id: Some(r.vector_id).filter(|v| !v.is_empty()),
            top_k: r.top_k as usize,
            return_values: r.return_values,
            return_metadata: return_metadata_from(r.return_metadata)?,
            filter: r.filter.as_ref().map(struct_to_json),
            namespace: Some(r.namespace).filter(|n| !n.is_empty()),
        };
        let engine = self.engine.clone();
        let (account, index) = (r.account, r.index);
        let (matches, warnings) = engine.query(&account, &index, params)?;
        let matches: Vec<pb::Match> = matches
            .into_iter()
            .map(|m| pb::Match {
                id: m.id,
                score: f64::from(m.score),
                values: m.values.unwrap_or_default(),
                metadata: m.metadata.as_ref().and_then(json_to_struct),
                namespace: m.namespace.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::QueryResponse { count: matches.len() as u32, matches, warnings }))
    }

    async fn get_by_ids(&self, r: Request<pb::IdsRequest>) -> Result<Response<pb::GetByIdsResponse>, Status> {
        let r = r.into_inner();
        let records = self.engine.get_by_ids(&r.account, &r.index, &r.ids)?;
        let vectors = records.into_iter().map(record_to_vector).collect::<Result<Vec<_>, IndexError>>()?;
        Ok(Response::new(pb::GetByIdsResponse { vectors }))
    }

    async fn list_vectors(&self, r: Request<pb::ListVectorsRequest>) -> Result<Response<pb::ListVectorsResponse>, Status> {
        let r = r.into_inner();
        let (ids, total, next) = self.engine.list_vectors(&r.account, &r.index, r.count as usize, Some(r.cursor.as_str()))?;
        Ok(Response::new(pb::ListVectorsResponse {
            ids,
            total_count: total as u64,
            is_truncated: next.is_some(),
            next_cursor: next.unwrap_or_default(),
            cursor_expiration_timestamp: String::new(),
        }))
    }

    async fn create_metadata_index(&self, r: Request<pb::MetadataIndexRequest>) -> Result<Response<pb::MutationResponse>, Status> {
        let r = r.into_inner();
        let kind = meta_type_from(r.index_type)?;
        let id = self.engine.create_metadata_index(&r.account, &r.index, &r.property_name, kind).await?;
        Ok(Response::new(pb::MutationResponse { mutation_id: id, count: 0 }))
    }

    async fn list_metadata_indexes(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::ListMetadataIndexesResponse>, Status> {
        let r = r.into_inner();
        let metadata_indexes = self
            .engine
            .list_metadata_indexes(&r.account, &r.name)?
            .into_iter()
            .map(|(property_name, t)| pb::MetadataIndex { property_name, index_type: meta_type_to(t) as i32 })
            .collect();
        Ok(Response::new(pb::ListMetadataIndexesResponse { metadata_indexes }))
    }

    async fn delete_metadata_index(&self, r: Request<pb::MetadataIndexRequest>) -> Result<Response<pb::MutationResponse>, Status> {
        let r = r.into_inner();
        let id = self.engine.delete_metadata_index(&r.account, &r.index, &r.property_name).await?;
        Ok(Response::new(pb::MutationResponse { mutation_id: id, count: 0 }))
    }

    // Moves between pods (`engine/moving.rs`): each a thin call.

    async fn set_move_state(&self, r: Request<pb::MoveRequest>) -> Result<Response<pb::IndexDigest>, Status> {
        let r = r.into_inner();
        Ok(Response::new(digest(self.engine.set_move_state(&r.account, &r.name, &r.state, &r.to).await?)))
    }

    type ExportIndexStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::IndexRecords, Status>> + Send>>;

    async fn export_index(&self, r: Request<pb::IndexRef>) -> Result<Response<Self::ExportIndexStream>, Status> {
        let r = r.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::IndexRecords, Status>>(2);
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let mut emit = |meta: Vec<u8>, records: Vec<Vec<u8>>| tx.blocking_send(Ok(pb::IndexRecords { meta, records })).is_ok();
            if let Err(e) = engine.export_index(&r.account, &r.name, &mut emit) {
                let _ = tx.blocking_send(Err(e.into()));
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn import_index(&self, r: Request<Streaming<pb::IndexRecords>>) -> Result<Response<pb::IndexDigest>, Status> {
        let mut stream = r.into_inner();
        let first = stream.next().await.ok_or_else(|| Status::invalid_argument("an import needs the index row first"))??;
        let import = self.engine.import_begin(&first.meta).await?;
        self.engine.import_records(&import, first.records).await?;
        while let Some(msg) = stream.next().await {
            self.engine.import_records(&import, msg?.records).await?;
        }
        Ok(Response::new(digest(self.engine.move_digest(&import.meta.account, &import.meta.name)?)))
    }

    async fn activate_index(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::IndexDigest>, Status> {
        let r = r.into_inner();
        Ok(Response::new(digest(self.engine.activate(&r.account, &r.name).await?)))
    }

    async fn forget_moved(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::DeleteIndexResponse>, Status> {
        let r = r.into_inner();
        self.engine.forget_moved(&r.account, &r.name).await?;
        Ok(Response::new(pb::DeleteIndexResponse {}))
    }

    async fn get_index_digest(&self, r: Request<pb::IndexRef>) -> Result<Response<pb::IndexDigest>, Status> {
        let r = r.into_inner();
        Ok(Response::new(digest(self.engine.move_digest(&r.account, &r.name)?)))
    }
}

fn digest(d: crate::engine::MoveDigest) -> pb::IndexDigest {
    pb::IndexDigest { state: d.state.to_owned(), to: d.to, vectors: d.vectors, digest: d.digest, last_mutation: d.last_mutation }
}
