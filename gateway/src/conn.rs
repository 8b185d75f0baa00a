//! The HTTP server's connections: HTTP/1.1 only, served by hyper directly so that every
//! connection has bounds a client cannot stretch:
//! - at most `--max-connections` at once (beyond, new ones wait in the kernel's accept queue);
//! - a request head must arrive within [`HEADER_READ_TIMEOUT`], in at most [`MAX_BUF_BYTES`]
//!   (a slow or endless head costs one small buffer for a few seconds, outside the budget);
//! - a connection that cannot send for `--send-stall-timeout-ms` (its client stopped reading) is
//!   closed, so an answer nobody reads stops holding its place and its share of the memory
//!   budget (`budget.rs`). Time spent writing is not limited, only time unable to write.
//!
//! Why HTTP/1.1 only: axum's own server also speaks HTTP/2 cleartext (hyper-util's auto builder),
//! whose flow control lets a client keep a socket writable and every stream's answer unsent
//! forever (a window of 0), so no send deadline could see it. Cloudflare's API, the SDKs and
//! the Worker bindings speak HTTP/1.1 to the gateway; a proxy in front may speak HTTP/2 to clients.
//!
//! Each request gets the peer's address (`ConnectInfo<Peer>`, for the public routes' rate per
//! address) and no Nagle delay (answers are small). On shutdown no new connection is taken,
//! idle ones close, and those with a request in flight close after answering it.
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;
use tower::ServiceExt as _;

/// A request head must arrive within this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest read buffer of a connection (the request head must fit in it) and of its write queue.
pub const MAX_BUF_BYTES: usize = 64 * 1024;

/// The peer's address, as `ConnectInfo<Peer>` in each request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Serves `app` on `listener` until `shutdown`, then drains (module doc).
pub async fn serve(listener: TcpListener, app: axum::Router, max_connections: u32, stall: Duration, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT).max_buf_size(MAX_BUF_BYTES);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.map_err(io::Error::other)?,
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors and the like: wait and go on, as axum's own server does.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(Peer(peer)));
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let conn = http.serve_connection(TokioIo::new(Stalling { io: tcp, stall, timer: None }), service);
        let (mut stop, done) = (stop_rx.clone(), done_tx.clone());
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop((slot, done));
        });
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    // Every connection task holds a sender: all are done when the channel closes.
    let _ = done_rx.recv().await;
    Ok(())
}

/// A TCP stream whose writes fail once they have waited `stall` without progress.
pub struct Stalling {
    io: TcpStream,
    stall: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Stalling {
    /// Turns a pending write into an error once it has been pending for `stall`.
    fn guard<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.timer = None;
            return r;
        }
        let stall = self.stall;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Stalling {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stalling {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.guard(cx, r)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.guard(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.guard(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
