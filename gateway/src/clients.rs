//! gRPC clients of the two services. Channels connect lazily (the gateway starts, and answers
//! 503, while a service is down); each call carries a deadline and the trace context; idempotent
//! calls retry UNAVAILABLE with exponential backoff inside that deadline. Several embedder
//! endpoints are balanced per request (tower balance via tonic), which also spreads HTTP/2
//! streams that a single Kubernetes ClusterIP connection would pin to one replica.
use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::uri::PathAndQuery;
use strato_proto::embedder::v1::embedder_client::EmbedderClient;
use strato_proto::embedder::v1 as epb;
use strato_proto::index::v1 as ipb;
use strato_proto::index::v1::vector_index_client::VectorIndexClient;
use strato_proto::client::{Channel, Direct, DirectConfig};
use tonic::transport::Endpoint;
use tonic::{Code, Request, Response, Status};
use tracing::debug;

use crate::config::Config;
use crate::error::ApiError;
use crate::partition::{IndexPods, Pod, Routed};
use crate::trace::{TraceContext, Traced};

/// Largest gRPC message either way: a 100 MB upload with 10 KiB of metadata a vector encodes to
/// more than 64 MiB (what the gateway admits is bounded by its memory budget, not by this).
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;


#[derive(Clone)]
pub struct Clients {
    pub embedder: EmbedderClient<Traced>,
    /// The same channel, for `Embed` sent encoded once (`Clients::embed`).
    embedder_channel: Traced,
    /// Its URLs, as configured (one, or a `dns://` name balanced over its addresses).
    embedder_target: String,
    /// index-svc, one client per pod; `index.owner(&req)` is the one to call.
    pub index: IndexPods,
    timeout: Duration,
    attempts: u32,
    /// `authorization` for the services (strato_proto::auth), when a service token is set.
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(30);

fn endpoint(url: &str, timeout: Duration) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_owned())?.connect_timeout(CONNECT_TIMEOUT).timeout(timeout).tcp_nodelay(true).http2_keep_alive_interval(KEEP_ALIVE))
}

impl Clients {
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
        let t = cfg.rpc_timeout();
        let embedder = if let [one] = cfg.embedder_urls.as_slice()
            && let Some(target) = one.strip_prefix("dns://")
        {
            dns_balanced(target, t)?
        } else if cfg.embedder_urls.len() == 1 {
            endpoint(&cfg.embedder_urls[0], t)?.connect_lazy()
        } else {
            let eps = cfg.embedder_urls.iter().map(|u| endpoint(u, t)).collect::<anyhow::Result<Vec<_>>>()?;
            tonic::transport::Channel::balance_list(eps.into_iter())
        };
        // index-svc is called over a direct HTTP/2 connection: a query's message leaves with its
        // headers in one write (strato_proto::client, issue #27).
        let index_pod = move |url: &str| -> anyhow::Result<(String, VectorIndexClient<Traced>, Traced)> {
            let direct = || {
                let config = DirectConfig { connect_timeout: CONNECT_TIMEOUT, timeout: Some(t), keep_alive_interval: KEEP_ALIVE };
                Direct::new(url, config).map_err(|e| anyhow::anyhow!("{url}: {e}"))
            };
            let channel = if url.starts_with("http://") { Channel::Direct(direct()?) } else { Channel::Tonic(endpoint(url, t)?.connect_lazy()) };
            let channel = strato_proto::telemetry::Traced(channel);
            let client = VectorIndexClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
            Ok((url.to_owned(), client, channel))
        };
        let pods = cfg.index_urls.iter().map(|u| index_pod(u)).collect::<anyhow::Result<Vec<_>>>()?;
        let previous = cfg.index_previous_urls.iter().map(|u| index_pod(u)).collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!pods.is_empty(), "--index names no index-svc");
        // A pod named by a move: only http(s) URLs, as the mover was given them.
        let connect = move |url: &str| (url.starts_with("http://") || url.starts_with("https://")).then(|| index_pod(url).ok()).flatten();
        Ok(Self {
            embedder: EmbedderClient::new(strato_proto::telemetry::Traced(Channel::Tonic(embedder.clone()))).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES),
            embedder_channel: strato_proto::telemetry::Traced(Channel::Tonic(embedder)),
            embedder_target: cfg.embedder_urls.iter().map(|u| crate::partition::pod_name(u)).collect::<Vec<_>>().join(", "),
            index: IndexPods::new(pods, previous, connect),
            timeout: t,
            attempts: cfg.rpc_attempts.max(1),
            token: strato_proto::auth::bearer_metadata(cfg.service_token.as_deref()),
        })
    }

    /// Builds a request with the remaining deadline and the trace context.
    pub fn request<T>(&self, ctx: &TraceContext, msg: T, deadline: Instant) -> Request<T> {
        let mut req = Request::new(msg);
        req.set_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        ctx.inject(&mut req);
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        req
    }

    /// Runs `call` (which must build its request with `request`) until it succeeds, fails with
    /// something other than UNAVAILABLE, or the deadline passes. Only idempotent calls retry.
    /// An internal failure's message is logged with the request id, never passed on.
    pub async fn call<T, F, Fut>(&self, service: &'static str, ctx: &TraceContext, idempotent: bool, call: F) -> Result<T, ApiError>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        self.retried(service, idempotent, deadline, call).await.map_err(|s| self.error(service, ctx, s))
    }

    /// `call` until it succeeds, fails with something other than UNAVAILABLE, or `deadline`.
    async fn retried<T, F, Fut>(&self, service: &'static str, idempotent: bool, deadline: Instant, mut call: F) -> Result<T, Status>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let mut backoff = Duration::from_millis(25);
        let mut attempt = 1;
        loop {
            match call(deadline).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) if s.code() == Code::Unavailable && idempotent && attempt < self.attempts && Instant::now() + backoff < deadline => {
                    debug!(service, attempt, "unavailable, retrying: {}", s.message());
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(s) => return Err(s),
            }
        }
    }

    /// The embedder's catalogue (ListModels): what the AI binding resolves and what
    /// `…/ai/models/search` lists.
    pub async fn list_models(&self, ctx: &TraceContext) -> Result<Vec<epb::ModelInfo>, ApiError> {
        let r = self
            .call("embedder", ctx, true, |d| {
                let mut c = self.embedder.clone();
                let r = self.request(ctx, epb::ListModelsRequest {}, d);
                async move { c.list_models(r).await }
            })
            .await?;
        Ok(r.models)
    }

    /// Each service's gRPC health (the embedder, then every index pod), asked at once with a
    /// one-second deadline: what `/__strato/status` shows an operator.
    pub async fn health(&self, ctx: &TraceContext) -> Vec<ServiceHealth> {
        use tonic_health::pb::health_client::HealthClient;
        let ask = |service: &'static str, target: String, channel: Traced| {
            let req = self.request(ctx, tonic_health::pb::HealthCheckRequest { service: String::new() }, Instant::now() + Duration::from_secs(1));
            async move {
                let state = match HealthClient::new(channel).check(req).await {
                    Ok(r) => match r.into_inner().status() {
                        tonic_health::pb::health_check_response::ServingStatus::Serving => "serving".to_owned(),
                        other => format!("not serving ({})", other.as_str_name()),
                    },
                    Err(s) => format!("unreachable ({:?}): {}", s.code(), s.message()),
                };
                ServiceHealth { service, target, serving: state == "serving", state }
            }
        };
        let mut asks = vec![ask("embedder", self.embedder_target.clone(), self.embedder_channel.clone())];
        asks.extend(self.index.all().into_iter().map(|p| ask("index", p.name, p.channel)));
        futures::future::join_all(asks).await
    }

    /// A service's error as the gateway passes it on; an internal one's message only logged.
    fn error(&self, service: &'static str, ctx: &TraceContext, s: Status) -> ApiError {
        if matches!(s.code(), Code::Internal | Code::Unknown | Code::DataLoss) {
            tracing::error!(service, request_id = %ctx.request_id, code = ?s.code(), reason = ?strato_proto::errors::reason_of(&s), "{}", s.message());
            let hidden = Status::new(s.code(), format!("Internal error (request id {})", ctx.request_id));
            return ApiError::upstream(service, hidden);
        }
        ApiError::upstream(service, unavailable_message(service, s))
    }

    /// A call about one index, to the pod that has it (`partition.rs`): first where it is
    /// routed; on "index not found", its owner under the previous pod list; on "moved", the pod
    /// named; while it is frozen for a move, again until the deadline (nothing was written, so
    /// inserts retry too). A create first asks the previous owner, so no name gets a twin.
    pub async fn index_call<T, F, Fut>(&self, ctx: &TraceContext, idempotent: bool, req: &(impl Routed + Sync), mut call: F) -> Result<T, ApiError>
    where
        F: FnMut(&Pod, Instant) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        use strato_proto::errors::{ErrorReason, moved_to, reason_of};
        let deadline = Instant::now() + self.timeout;
        let mut pod = self.index.route(req);
        if req.creates()
            && let Some(prev) = self.index.previous_owner(req, &pod)
        {
            let (account, name) = req.key();
            let probe = ipb::IndexRef { account: account.to_owned(), name: name.to_owned() };
            let found = self.retried("index", true, deadline, |d| {
                let mut c = prev.client.clone();
                let r = self.request(ctx, probe.clone(), d);
                async move { c.get_index(r).await }
            });
            // Only a positive "not here" (or "moved on") lets the create go ahead: a previous
            // owner that cannot answer may hold the name, and a create now would make a twin.
            match found.await {
                Ok(_) => {
                    let s = strato_proto::errors::status(Code::AlreadyExists, ErrorReason::IndexAlreadyExists, format!("vectorize.index.duplicate_name - Index name \"{name}\""));
                    return Err(self.error("index", ctx, s));
                }
                Err(s) if matches!(reason_of(&s), ErrorReason::IndexNotFound | ErrorReason::IndexMoved) => {}
                Err(s) => return Err(self.error("index", ctx, unavailable_message("index", Status::unavailable(format!("the index's previous pod could not say whether {name:?} exists: {}", s.message()))))),
            }
        }
        let (mut hops, mut tried_previous, mut wait) = (0, false, Duration::from_millis(50));
        loop {
            let p = pod.clone();
            let result = self.retried("index", idempotent, deadline, |d| call(&p, d)).await;
            let s = match result {
                Ok(r) => return Ok(r),
                Err(s) => s,
            };
            match (reason_of(&s), moved_to(&s)) {
                (ErrorReason::IndexMoved, Some(url)) if hops < 4 => {
                    if let Some(next) = self.index.moved_to(req, &url) {
                        debug!(%url, "index moved: following");
                        pod = next;
                        hops += 1;
                        continue;
                    }
                }
                // A remembered move is stale (the index moved on, or was deleted): ask afresh.
                (ErrorReason::IndexNotFound, _) if self.index.forget_move(req) && hops < 4 => {
                    pod = self.index.route(req);
                    hops += 1;
                    continue;
                }
                (ErrorReason::IndexNotFound, _) if !tried_previous => {
                    tried_previous = true;
                    if let Some(prev) = self.index.previous_owner(req, &pod) {
                        pod = prev;
                        continue;
                    }
                }
                (ErrorReason::IndexMoving, _) if Instant::now() + wait < deadline => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(500));
                    continue;
                }
                _ => {}
            }
            return Err(self.error("index", ctx, s));
        }
    }
}

/// A write (`Insert` or `Upsert`) to the index-svc pod that owns its index.
#[derive(Clone, Copy, Debug)]
pub enum Write {
    Insert,
    Upsert,
}

/// The calls whose requests can be large (a 100 MB upload, 32 MB of texts) are encoded once:
/// every attempt sends the same bytes, so a retry copies nothing, and the request's own form is
/// dropped before the first attempt.
impl Clients {
    pub async fn write(&self, ctx: &TraceContext, kind: Write, mut req: ipb::WriteRequest) -> Result<ipb::MutationResponse, ApiError> {
        let method = match kind {
            Write::Insert => "Insert",
            Write::Upsert => "Upsert",
        };
        let encoded = Encoded::of(&req);
        let key = ipb::IndexRef { account: std::mem::take(&mut req.account), name: std::mem::take(&mut req.index) };
        drop(req);
        // Insert is not retried: an attempt that landed before UNAVAILABLE would make the retry
        // a no-op insert under a new mutation id. Upsert is idempotent.
        let method = ("strato.index.v1.VectorIndex", method);
        self.index_call(ctx, matches!(kind, Write::Upsert), &key, |pod, d| self.attempt("index", ctx, &pod.channel, method, &encoded, d)).await
    }

    /// embedder-svc `Embed`, idempotent (retried on UNAVAILABLE).
    pub async fn embed(&self, ctx: &TraceContext, req: epb::EmbedRequest) -> Result<epb::EmbedResponse, ApiError> {
        let encoded = Encoded::of(&req);
        drop(req);
        self.unary("embedder", ctx, true, self.embedder_channel.clone(), ("strato.embedder.v1.Embedder", "Embed"), encoded).await
    }

    async fn unary<R: prost::Message + Default + Send + Sync + 'static>(
        &self,
        service: &'static str,
        ctx: &TraceContext,
        idempotent: bool,
        channel: Traced,
        method: (&'static str, &'static str),
        encoded: Encoded,
    ) -> Result<R, ApiError> {
        self.call(service, ctx, idempotent, |d| self.attempt(service, ctx, &channel, method, &encoded, d)).await
    }

    /// One attempt of an encoded call on `channel`, its request built with `request`.
    fn attempt<R: prost::Message + Default + Send + Sync + 'static>(
        &self,
        service: &'static str,
        ctx: &TraceContext,
        channel: &Traced,
        (grpc_service, method): (&'static str, &'static str),
        encoded: &Encoded,
        deadline: Instant,
    ) -> impl Future<Output = Result<Response<R>, Status>> + use<R> {
        let mut grpc = tonic::client::Grpc::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES);
        let mut r = self.request(ctx, encoded.clone(), deadline);
        r.extensions_mut().insert(tonic::GrpcMethod::new(grpc_service, method));
        let path = PathAndQuery::try_from(format!("/{grpc_service}/{method}"));
        async move {
            let path = path.map_err(|e| Status::internal(e.to_string()))?;
            grpc.ready().await.map_err(|e| Status::unavailable(format!("{service} not ready: {e}")))?;
            grpc.unary(r, path, tonic_prost::ProstCodec::<Encoded, R>::default()).await
        }
    }
}

/// A message already encoded: sent as its bytes (never decoded).
#[derive(Clone, Debug, Default)]
struct Encoded(Bytes);

impl Encoded {
    fn of(m: &impl prost::Message) -> Self {
        Self(Bytes::from(m.encode_to_vec()))
    }
}

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(&mut self, tag: u32, wire_type: prost::encoding::WireType, buf: &mut impl prost::bytes::Buf, ctx: prost::encoding::DecodeContext) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

/// `dns://host:port`: every address the name resolves to is an endpoint, re-resolved every 5 s
/// (a Kubernetes headless Service lists one address per ready pod).
fn dns_balanced(target: &str, timeout: Duration) -> anyhow::Result<tonic::transport::Channel> {
    use std::collections::HashSet;
    use tonic::transport::channel::Change;
    let (channel, tx) = tonic::transport::Channel::balance_channel::<std::net::SocketAddr>(64);
    let target = target.to_owned();
    tokio::spawn(async move {
        let mut known: HashSet<std::net::SocketAddr> = HashSet::new();
        loop {
            match tokio::net::lookup_host(target.as_str()).await {
                Ok(addrs) => {
                    let now: HashSet<_> = addrs.collect();
                    for gone in known.difference(&now) {
                        let _ = tx.send(Change::Remove(*gone)).await;
                    }
                    for new in now.difference(&known) {
                        if let Ok(ep) = endpoint(&format!("http://{new}"), timeout) {
                            let _ = tx.send(Change::Insert(*new, ep)).await;
                        }
                    }
                    if now != known {
                        tracing::info!(%target, endpoints = now.len(), "embedder endpoints from DNS");
                    }
                    known = now;
                }
                Err(e) => tracing::warn!(%target, "embedder DNS lookup failed: {e}"),
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    Ok(channel)
}

/// Transport errors arrive as UNAVAILABLE with a terse text; say which service is down.
fn unavailable_message(service: &'static str, s: Status) -> Status {
    if s.code() == Code::Unavailable || s.code() == Code::DeadlineExceeded || s.code() == Code::Cancelled {
        Status::new(s.code(), format!("{service} unavailable: {}", s.message()))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// An internal error's text (paths, internals) is logged, never passed on: the caller gets
    /// the request id instead. Other errors keep their message and reason.
    #[tokio::test]
    async fn internal_messages_stay_in_the_log() {
        let clients = Clients::new(&Config::parse_from(["gateway"])).expect("clients");
        let ctx = TraceContext { request_id: "req-42".into() };
        let e = clients
            .call("index", &ctx, true, |_| async { Err::<Response<()>, _>(Status::internal("redb: /var/lib/strato/secret.redb corrupt")) })
            .await
            .expect_err("internal");
        assert_eq!(e.to_string(), "Internal error (request id req-42)");
        let s = strato_proto::errors::status(Code::NotFound, strato_proto::errors::ErrorReason::IndexNotFound, "vectorize.index.not_found");
        let e = clients.call("index", &ctx, true, |_| { let s = s.clone(); async move { Err::<Response<()>, _>(s) } }).await.expect_err("not found");
        assert!(matches!(e, ApiError::Upstream { reason: strato_proto::errors::ErrorReason::IndexNotFound, .. }), "{e:?}");
        assert_eq!(crate::routes::cf::index_error(e).code, crate::routes::cf::INDEX_NOT_FOUND);
    }
}

/// One service's answer to a health check.
#[derive(serde::Serialize, Debug)]
pub struct ServiceHealth {
    pub service: &'static str,
    /// The pod's host:port (index pods); the embedder's configured URLs.
    pub target: String,
    pub serving: bool,
    pub state: String,
}
