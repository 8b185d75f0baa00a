//! The client end of a hop: tonic's `Channel`, or `Direct`, one HTTP/2 connection driven through
//! the `h2` crate, for the gateway's calls to index-svc.
//!
//! Why `Direct` (issue #27, the gateway's part of a query): tonic's channel is hyper's HTTP/2
//! client behind a tower buffer. hyper sends HEADERS first and pipes the message only once its
//! stream is given send capacity, which happens when HEADERS go out, so a unary call leaves as
//! three writes (HEADERS, DATA, END_STREAM) through two more tasks (the buffer's worker, hyper's
//! pipe). The service wakes twice a call and both ends pay three loopback sends: index-svc spent
//! 66 µs more CPU on a query from the gateway than on the same query whose frames came together.
//! `h2` lets a stream queue data before it has capacity, so `Direct` queues a message that is
//! ready when the call starts together with its headers, before the connection task runs: one
//! write, and no task but the connection's. A streaming body keeps HTTP/2 flow control: what is
//! not ready at once is pumped by a task that waits for send capacity before pulling the next
//! message, as hyper's pipe does.
//!
//! What tonic's channel does that `Direct` keeps: connect on first use and again after the
//! connection ends (errors are UNAVAILABLE, so idempotent calls retry), `connect_timeout`, a
//! deadline per call (the lesser of the channel's and the request's `grpc-timeout`, expiring as
//! tonic's does, CANCELLED "Timeout expired"), HTTP/2 keep-alive pings that drop a dead peer.
//! No TLS: neither does the workspace's tonic (no TLS feature), so `https` stays on tonic. As
//! with hyper, a call opened after the server's GOAWAY waits until the server closes the
//! connection (index-svc does once its last calls end) and fails UNAVAILABLE, which idempotent
//! calls retry on a new connection.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tonic::Status;
use tonic::codegen::http::{self, Request, Response, Uri};
use tonic::codegen::{Bytes, StdError};
use tower::Service;

/// A client channel: tonic's, or a direct HTTP/2 connection (`Direct`).
#[derive(Clone)]
pub enum Channel {
    Tonic(tonic::transport::Channel),
    Direct(Direct),
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, StdError>> + Send>>;

impl Service<Request<tonic::body::Body>> for Channel {
    type Response = Response<tonic::body::Body>;
    type Error = StdError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Channel::Tonic(c) => c.poll_ready(cx).map_err(Into::into),
            // A connection is made, or waited for, inside the call.
            Channel::Direct(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        match self {
            Channel::Tonic(c) => {
                let fut = c.call(req);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
            Channel::Direct(d) => {
                let shared = d.shared.clone();
                Box::pin(async move { shared.call(req).await.map(|r| r.map(tonic::body::Body::new)).map_err(Into::into) })
            }
        }
    }
}

/// Settings of a `Direct` channel (the subset of tonic's `Endpoint` the gateway sets).
#[derive(Clone, Debug)]
pub struct DirectConfig {
    pub connect_timeout: Duration,
    /// Every call's deadline at most (a request's `grpc-timeout` may shorten it).
    pub timeout: Option<Duration>,
    /// A ping after this long; no answer within `KEEP_ALIVE_TIMEOUT` drops the connection.
    pub keep_alive_interval: Duration,
}

/// How long a keep-alive ping may go unanswered (hyper's default, which tonic's channel uses).
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of a streaming body sent before its stream has send capacity: what is ready when the
/// call starts leaves with the headers, its first two messages whatever their size and more up
/// to this. A unary message always does (it is in memory already; h2 holds it, uncopied, until
/// the window lets it go).
const INLINE_BYTES: usize = 64 * 1024;

/// One HTTP/2 connection to `http://host:port`, made on first use and again after it ends.
#[derive(Clone)]
pub struct Direct {
    shared: Arc<Shared>,
}

impl Direct {
    /// `url` is `http://host[:port]`; nothing connects until the first call.
    pub fn new(url: &str, config: DirectConfig) -> Result<Self, StdError> {
        let uri: Uri = url.parse()?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("a direct channel speaks plain http://, not {url}").into());
        }
        let authority = uri.authority().ok_or_else(|| format!("{url} names no host"))?.clone();
        let addr = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
        let shared = Shared { authority, addr, config, conn: Mutex::new(None), connecting: tokio::sync::Mutex::new(()), made: AtomicU64::new(0) };
        Ok(Self { shared: Arc::new(shared) })
    }
}

struct Shared {
    authority: http::uri::Authority,
    addr: String,
    config: DirectConfig,
    /// The live connection's sender and its number (so a connection that ends forgets only
    /// itself, never its successor).
    conn: Mutex<Option<(u64, h2::client::SendRequest<Bytes>)>>,
    /// Held while connecting, so concurrent first calls make one connection.
    connecting: tokio::sync::Mutex<()>,
    /// Connections made so far (the next one's number).
    made: AtomicU64,
}

impl Shared {
    /// The deadline covers the whole call, the answer's body too (gRPC's rule; tonic's channel
    /// stops the clock at the answer's headers, so a body that stalls would hang the caller).
    async fn call(self: Arc<Self>, req: Request<tonic::body::Body>) -> Result<Response<RecvBody>, Status> {
        let limit = [self.config.timeout, grpc_timeout(req.headers())].into_iter().flatten().min();
        let Some(deadline) = limit.map(|l| tokio::time::Instant::now() + l) else { return self.send(req).await };
        let mut response = tokio::time::timeout_at(deadline, self.send(req)).await.unwrap_or_else(|_| Err(timeout_expired()))?;
        response.body_mut().deadline = Some(Box::pin(tokio::time::sleep_until(deadline)));
        Ok(response)
    }

    async fn send(self: &Arc<Self>, req: Request<tonic::body::Body>) -> Result<Response<RecvBody>, Status> {
        let (parts, body) = req.into_parts();
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(http::uri::Scheme::HTTP);
        uri.authority = Some(self.authority.clone());
        uri.path_and_query = parts.uri.path_and_query().cloned();
        let uri = Uri::from_parts(uri).map_err(|e| Status::internal(e.to_string()))?;
        let (response, stream) = self.open(&parts, uri).await?;
        // Until the answer's head is here, dropping this call (the caller gone, the deadline
        // passed) resets a stream whose body is still being pumped, as hyper's client does.
        let (answered, cancelled) = tokio::sync::oneshot::channel();
        send_body(body, stream, cancelled)?;
        let response = response.await.map_err(|e| status_of(&self.addr, &e))?;
        let _ = answered.send(());
        Ok(response.map(|recv| RecvBody { recv, data_done: false, deadline: None }))
    }

    /// A stream for `parts` on the live connection. One that fails before the request left (the
    /// peer closed it, stream ids ran out) is forgotten and the request tried once more on a new
    /// connection, as tonic's channel reconnects, so even a call that is never retried (a write)
    /// does not fail for it.
    async fn open(self: &Arc<Self>, parts: &http::request::Parts, uri: Uri) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), Status> {
        let mut last = None;
        for _ in 0..2 {
            let (generation, sender) = self.sender().await?;
            let opened = match sender.ready().await {
                Ok(mut sender) => {
                    let mut head = Request::new(());
                    *head.method_mut() = parts.method.clone();
                    *head.uri_mut() = uri.clone();
                    *head.headers_mut() = parts.headers.clone();
                    sender.send_request(head, false)
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(opened) => return Ok(opened),
                Err(e) => {
                    self.forget(generation);
                    last = Some(unavailable(&self.addr, &e));
                }
            }
        }
        Err(last.unwrap_or_else(|| Status::unavailable(format!("no connection to {}", self.addr))))
    }

    /// The live connection, or a new one.
    async fn sender(self: &Arc<Self>) -> Result<(u64, h2::client::SendRequest<Bytes>), Status> {
        if let Some(live) = self.live() {
            return Ok(live);
        }
        let _one = self.connecting.lock().await;
        if let Some(live) = self.live() {
            return Ok(live);
        }
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
            tcp.set_nodelay(true)?;
            // hyper's client windows (tonic's channel's): 2 MiB a stream, 5 MiB the connection.
            let (sender, mut conn) = h2::client::Builder::new()
                .initial_window_size(2 * 1024 * 1024)
                .initial_connection_window_size(5 * 1024 * 1024)
                .handshake::<_, Bytes>(tcp)
                .await
                .map_err(std::io::Error::other)?;
            let ping = conn.ping_pong();
            Ok::<_, std::io::Error>((sender, conn, ping))
        };
        let (sender, conn, ping) = match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(Ok(made)) => made,
            Ok(Err(e)) => return Err(Status::unavailable(format!("connecting to {}: {e}", self.addr))),
            Err(_) => return Err(Status::unavailable(format!("connecting to {}: timed out", self.addr))),
        };
        let generation = self.made.fetch_add(1, Ordering::Relaxed);
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some((generation, sender.clone()));
        tokio::spawn(drive(conn, ping, self.config.keep_alive_interval, generation, Arc::downgrade(self)));
        Ok((generation, sender))
    }

    fn live(&self) -> Option<(u64, h2::client::SendRequest<Bytes>)> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn forget(&self, generation: u64) {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }
}

/// Runs a connection until it ends or a keep-alive ping goes unanswered, then forgets it (calls
/// in flight on it fail UNAVAILABLE; the next call connects again).
async fn drive(mut conn: h2::client::Connection<tokio::net::TcpStream, Bytes>, ping: Option<h2::PingPong>, interval: Duration, generation: u64, shared: Weak<Shared>) {
    let alive = async {
        let Some(mut ping) = ping else { return std::future::pending().await };
        loop {
            tokio::time::sleep(interval).await;
            match tokio::time::timeout(KEEP_ALIVE_TIMEOUT, ping.ping(h2::Ping::opaque())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => break e.to_string(),
                Err(_) => break format!("no answer to a keep-alive ping in {KEEP_ALIVE_TIMEOUT:?}"),
            }
        }
    };
    let why = tokio::select! {
        ended = &mut conn => ended.err().map(|e| e.to_string()),
        dead = alive => Some(dead),
    };
    if let Some(shared) = shared.upgrade() {
        shared.forget(generation);
        tracing::debug!(peer = %shared.addr, "gRPC connection ended: {}", why.as_deref().unwrap_or("closed"));
    }
}

/// Queues what of `body` is ready now on `stream` (all of a unary message, with END_STREAM),
/// so it leaves with the headers; the rest, if any, is pumped by a task of its own, which resets
/// the stream if `cancelled` closes before the answer's head came. A body that fails at once
/// (a message over the size limit) resets the stream and is the call's error, as on tonic's
/// channel.
fn send_body(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>, cancelled: tokio::sync::oneshot::Receiver<()>) -> Result<(), Status> {
    use http_body::Body as _;
    let mut cx = Context::from_waker(Waker::noop());
    let (mut held, mut queued, mut frames) = (None::<Bytes>, 0usize, 0usize);
    loop {
        if frames >= 2 && queued >= INLINE_BYTES {
            break;
        }
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(None) => {
                let _ = stream.send_data(held.take().unwrap_or_default(), true);
                return Ok(());
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    frames += 1;
                    queued += data.len();
                    if let Some(previous) = held.replace(data)
                        && stream.send_data(previous, false).is_err()
                    {
                        return Ok(());
                    }
                }
                Err(frame) => {
                    if let Some(previous) = held.take()
                        && stream.send_data(previous, false).is_err()
                    {
                        return Ok(());
                    }
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = stream.send_trailers(trailers);
                    }
                    return Ok(());
                }
            },
            Poll::Ready(Some(Err(status))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return Err(status);
            }
            // Polled with a no-op waker: the pump polls again with its own.
            Poll::Pending => break,
        }
    }
    if let Some(previous) = held.take()
        && stream.send_data(previous, false).is_err()
    {
        return Ok(());
    }
    tokio::spawn(pump(body, stream, cancelled));
    Ok(())
}

/// The rest of a streaming body, a message at a time, each once the stream has send capacity
/// (so a fast producer is paced by the receiver). Stops when the server resets the stream, and
/// resets it when the call is dropped before its answer came.
async fn pump(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>, mut cancelled: tokio::sync::oneshot::Receiver<()>) {
    use http_body_util::BodyExt as _;
    // Whether the call still waits for its answer (then dropping it cancels the stream).
    let mut waiting = true;
    loop {
        let next = async {
            stream.reserve_capacity(1);
            while stream.capacity() == 0 {
                match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                    Some(Ok(_)) => {}
                    _ => return None,
                }
            }
            tokio::select! {
                frame = body.frame() => Some(frame),
                _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => None,
            }
        };
        let step = tokio::select! {
            frame = next => Some(frame),
            answered = &mut cancelled, if waiting => {
                if answered.is_err() {
                    stream.send_reset(h2::Reason::CANCEL);
                    return;
                }
                None
            }
        };
        let Some(frame) = step else {
            waiting = false;
            continue;
        };
        match frame {
            // Reset by the server, or no capacity ever again.
            None => return,
            Some(None) => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    if stream.send_data(data, false).is_err() {
                        return;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = stream.send_trailers(trailers);
                    }
                    return;
                }
            },
            Some(Some(Err(_))) => return stream.send_reset(h2::Reason::CANCEL),
        }
    }
}

/// A response body read off its h2 stream, its window given back as it is read.
pub struct RecvBody {
    recv: h2::RecvStream,
    data_done: bool,
    /// The call's deadline, if it has one: reading past it ends the body with an error.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let frame = self.poll_stream(cx);
        // Checked on every frame (a body that keeps coming must still end by the deadline), and
        // registered for a wake-up while the body waits.
        let late = |d: &mut Pin<Box<tokio::time::Sleep>>| d.is_elapsed() || (frame.is_pending() && d.as_mut().poll(cx).is_ready());
        if self.deadline.as_mut().is_some_and(late) {
            self.deadline = None;
            return Poll::Ready(Some(Err(timeout_expired())));
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

impl RecvBody {
    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        if !self.data_done {
            match std::task::ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(status_of("the peer", &e)))),
                None => self.data_done = true,
            }
        }
        match std::task::ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(status_of("the peer", &e)))),
        }
    }
}

/// What tonic's channel answers when a call's deadline passes.
fn timeout_expired() -> Status {
    Status::cancelled("Timeout expired")
}

/// An h2 error as gRPC's HTTP/2 mapping has it (PROTOCOL-HTTP2.md, as tonic maps it); a broken
/// connection is UNAVAILABLE.
fn status_of(peer: &str, e: &h2::Error) -> Status {
    use h2::Reason;
    if e.is_io() || e.is_go_away() {
        return unavailable(peer, e);
    }
    let message = format!("h2 protocol error: {e}");
    match e.reason() {
        Some(Reason::REFUSED_STREAM) => Status::unavailable(message),
        Some(Reason::CANCEL) => Status::cancelled(message),
        Some(Reason::ENHANCE_YOUR_CALM) => Status::resource_exhausted(message),
        Some(Reason::INADEQUATE_SECURITY) => Status::permission_denied(message),
        _ => Status::internal(message),
    }
}

fn unavailable(peer: &str, e: &h2::Error) -> Status {
    Status::unavailable(format!("connection to {peer}: {e}"))
}

/// A request's `grpc-timeout` (`<up to 8 digits><H|M|S|m|u|n>`), which tonic's client sets from
/// `Request::set_timeout`.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok().filter(|_| digits.len() <= 8)?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        let at = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("grpc-timeout", v.parse().expect("header value"));
            grpc_timeout(&h)
        };
        assert_eq!(at("3S"), Some(Duration::from_secs(3)));
        assert_eq!(at("250m"), Some(Duration::from_millis(250)));
        assert_eq!(at("7u"), Some(Duration::from_micros(7)));
        assert_eq!(at("2M"), Some(Duration::from_secs(120)));
        assert_eq!(at("123456789S"), None);
        assert_eq!(at("S"), None);
        assert_eq!(at("5x"), None);
    }
}
