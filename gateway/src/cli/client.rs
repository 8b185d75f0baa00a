//! gRPC plumbing: connecting with a deadline, clear connection errors naming the URL, and the
//! index-svc calls with the account and deadline filled in.
use std::time::Duration;

use anyhow::{Result, anyhow};
use strato_proto::embedder::v1::{self as epb, embedder_client::EmbedderClient};
use strato_proto::index::v1::{self as pb, vector_index_client::VectorIndexClient};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// index-svc accepts messages up to 64 MiB; a 5000-vector batch of 1536 floats is ~30 MiB.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// `host:port` gets `http://` in front; anything with a scheme is kept.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim();
    if url.contains("://") { url.to_owned() } else { format!("http://{url}") }
}

/// An error and its sources, joined (tonic's transport errors hide the cause in `source()`).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let msg = cause.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        source = cause.source();
    }
    s
}

/// Connects eagerly, so an unreachable service fails here with its URL in the message.
pub async fn connect(what: &str, url: &str, timeout: Duration) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| anyhow!("invalid {what} URL '{url}': {}", error_chain(&e)))?
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .tcp_nodelay(true);
    endpoint.connect().await.map_err(|e| anyhow!("could not connect to {what} at {url}: {}", error_chain(&e)))
}

/// A failed call as the user should read it: the server's message (already in Vectorize's
/// wording), or what went wrong with the connection.
pub fn status_error(what: &str, url: &str, timeout: Duration, s: &Status) -> anyhow::Error {
    let msg = if s.message().is_empty() { s.code().description().to_owned() } else { s.message().to_owned() };
    match s.code() {
        Code::Unavailable => anyhow!("{what} at {url} is unavailable: {msg}"),
        Code::DeadlineExceeded => anyhow!("{what} at {url} did not answer within {}s: {msg}", timeout.as_secs()),
        Code::Cancelled if msg.to_ascii_lowercase().contains("timeout") => {
            anyhow!("{what} at {url} did not answer within {}s: {msg}", timeout.as_secs())
        }
        _ => anyhow!("{msg}"),
    }
}

/// index-svc for one account.
pub struct IndexClient {
    client: VectorIndexClient<Channel>,
    url: String,
    account: String,
    timeout: Duration,
}

impl IndexClient {
    pub async fn connect(url: &str, account: &str, timeout: Duration) -> Result<Self> {
        let channel = connect("index-svc", url, timeout).await?;
        let client = VectorIndexClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Self { client, url: url.to_owned(), account: account.to_owned(), timeout })
    }

    pub fn account(&self) -> String {
        self.account.clone()
    }

    pub fn index_ref(&self, name: &str) -> pb::IndexRef {
        pb::IndexRef { account: self.account.clone(), name: name.to_owned() }
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        authorize(&mut req);
        req
    }

    /// The backup stream (no deadline: a large store takes as long as it takes).
    pub async fn backup(&mut self) -> Result<tonic::Streaming<pb::BackupChunk>> {
        let mut req = tonic::Request::new(pb::BackupRequest {});
        authorize(&mut req);
        match self.client.backup(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.status(&s)),
        }
    }

    /// A frozen index's row and records (no deadline: a large index takes as long as it takes).
    pub async fn export_index(&mut self, iref: pb::IndexRef) -> Result<tonic::Streaming<pb::IndexRecords>> {
        let mut req = tonic::Request::new(iref);
        authorize(&mut req);
        match self.client.export_index(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.status(&s)),
        }
    }

    /// Sends an export into this pod's incoming copy; its digest.
    pub async fn import_index(&mut self, records: impl futures::Stream<Item = pb::IndexRecords> + Send + 'static) -> Result<pb::IndexDigest> {
        let mut req = tonic::Request::new(records);
        authorize(&mut req);
        match self.client.import_index(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) => Err(self.status(&s)),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn status(&self, s: &Status) -> anyhow::Error {
        status_error("index-svc", &self.url, self.timeout, s)
    }
}

macro_rules! index_rpcs {
    ($($method:ident($req:ty) -> $resp:ty;)*) => {
        impl IndexClient {
            $(
                pub async fn $method(&mut self, msg: $req) -> Result<$resp> {
                    let req = self.request(msg);
                    let res = self.client.$method(req).await;
                    match res {
                        Ok(r) => Ok(r.into_inner()),
                        Err(s) => Err(self.status(&s)),
                    }
                }
            )*
        }
    };
}

index_rpcs! {
    create_index(pb::CreateIndexRequest) -> pb::IndexInfo;
    get_index(pb::IndexRef) -> pb::IndexInfo;
    list_indexes(pb::ListIndexesRequest) -> pb::ListIndexesResponse;
    delete_index(pb::IndexRef) -> pb::DeleteIndexResponse;
    describe_index(pb::IndexRef) -> pb::IndexStats;
    insert(pb::WriteRequest) -> pb::MutationResponse;
    upsert(pb::WriteRequest) -> pb::MutationResponse;
    delete_by_ids(pb::IdsRequest) -> pb::MutationResponse;
    query(pb::QueryRequest) -> pb::QueryResponse;
    get_by_ids(pb::IdsRequest) -> pb::GetByIdsResponse;
    list_vectors(pb::ListVectorsRequest) -> pb::ListVectorsResponse;
    create_metadata_index(pb::MetadataIndexRequest) -> pb::MutationResponse;
    list_metadata_indexes(pb::IndexRef) -> pb::ListMetadataIndexesResponse;
    delete_metadata_index(pb::MetadataIndexRequest) -> pb::MutationResponse;
    set_move_state(pb::MoveRequest) -> pb::IndexDigest;
    activate_index(pb::IndexRef) -> pb::IndexDigest;
    forget_moved(pb::IndexRef) -> pb::DeleteIndexResponse;
    get_index_digest(pb::IndexRef) -> pb::IndexDigest;
}

/// Why the embedder could not tell a model's dimensions.
/// The services' shared token (`STRATO_SERVICE_TOKEN`, as the services read it), when set.
fn authorize<T>(req: &mut tonic::Request<T>) {
    if let Some(v) = strato_proto::auth::bearer_metadata(std::env::var("STRATO_SERVICE_TOKEN").ok().as_deref()) {
        req.metadata_mut().insert("authorization", v);
    }
}

pub enum ModelLookupError {
    /// The embedder answered: it does not know the model.
    NotFound(String),
    /// No answer (not running, unreachable, timed out, or failing).
    Unreachable(String),
}

/// Asks embedder-svc for `model`'s dimensions.
pub async fn model_dimensions(url: &str, model: &str, timeout: Duration) -> Result<u32, ModelLookupError> {
    let channel = connect("embedder-svc", url, timeout).await.map_err(|e| ModelLookupError::Unreachable(format!("{e:#}")))?;
    let mut client = EmbedderClient::new(channel);
    let mut req = tonic::Request::new(epb::GetModelRequest { name: model.to_owned() });
    req.set_timeout(timeout);
    authorize(&mut req);
    match client.get_model(req).await {
        Ok(r) => Ok(r.into_inner().dimensions),
        Err(s) if s.code() == Code::NotFound || s.code() == Code::InvalidArgument => {
            Err(ModelLookupError::NotFound(s.message().to_owned()))
        }
        Err(s) => Err(ModelLookupError::Unreachable(format!("{:#}", status_error("embedder-svc", url, timeout, &s)))),
    }
}
