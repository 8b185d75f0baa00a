//! Request bodies, read whole by the routes that need them ([`Body`]), with what they cost
//! charged to the request's memory share (`budget.rs`) before it is allocated:
//! - a declared `Content-Length` over the route's limit (`DefaultBodyLimit`) is 413 before a byte
//!   is read; within it, [`BODY_COST`] × the length must fit the budget's free part (else 503 1503
//!   at once, or 413 if it could never fit) and the buffer is sized once, so the bytes are never
//!   held twice (axum's `Bytes` extractor collects the frames, then copies them into one buffer:
//!   twice the body at its peak). Its pages are touched only as bytes arrive;
//! - the body is charged as it arrives, so a slow upload holds what it sent, not what it
//!   declared (a client declaring 100 MB and sending a byte a minute reserves nothing).
//!
//! Errors answer in the path's shape: 413 or 400 code 40003, 503 code 1503.
//!
//! [`drain_unread`]: an answer given before its request's body was read (a refusal: 401, 403,
//! 413, 429, 503) first reads the rest of that body and throws it away, up to [`DRAIN_BYTES`]
//! and [`DRAIN_TIME`] (a second at most between frames): nothing is kept, so it costs no memory. A server that closes a
//! connection with unread data makes the kernel reset it, and clients that send their whole
//! body before reading (Python's requests, Node's fetch, reqwest) would see "connection reset"
//! instead of the refusal. Past either bound hyper closes the connection after the answer.
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::middleware::Next;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::RequestExt as _;
use futures::StreamExt as _;
use http_body::{Body as _, Frame, SizeHint};

use crate::budget::{self, BODY_COST};
use crate::routes::cf::{self, CfError};
use crate::routes::edge::Shape;

/// The whole body of a request.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Response> {
        let shape = Shape::of(req.uri().path());
        let declared = declared_length(&req);
        let body = req.into_limited_body();
        let limit = body.size_hint().upper().unwrap_or(u64::MAX);
        let too_large = || shape.error(CfError::new(StatusCode::PAYLOAD_TOO_LARGE, cf::BAD_REQUEST, format!("Request body too large for this route (at most {limit} bytes)")));
        let refused = |e: CfError| shape.error(e);
        let mut charged = 0u64;
        if let Some(len) = declared {
            if len > limit {
                return Err(too_large());
            }
            budget::fits(BODY_COST * len).map_err(refused)?;
        }
        let mut buf = Vec::with_capacity(declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let chunk = match frame {
                Ok(c) => c,
                Err(e) if over_limit(&e) => return Err(too_large()),
                Err(e) => return Err(shape.error(CfError::bad_request(cf::BAD_REQUEST, format!("Failed to read the request body: {e}")))),
            };
            let len = (buf.len() + chunk.len()) as u64;
            if len > charged {
                // In steps of at least 64 KiB, so a trickle is not a charge per byte.
                let step = (len - charged).max(64 * 1024);
                budget::charge(BODY_COST * step).map_err(refused)?;
                charged += step;
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Body(Bytes::from(buf)))
    }
}

/// The request's `Content-Length`, if it declares a number.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// Whether a body error is the route's length limit.
fn over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// How much of an unread body a refusal reads (and drops) before it is answered: a little more
/// than the largest route limit (uploads, 101 MiB).
pub const DRAIN_BYTES: u64 = 128 << 20;
/// How long a refusal waits for the rest of its body.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);
/// How long it waits for each frame of it (a silent client is not waited for).
pub const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Middleware (module doc): reads and drops what a refused request left of its body.
pub async fn drain_unread(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() || declared_length(&req).is_some_and(|n| n > DRAIN_BYTES) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let slot = Arc::new(Mutex::new(None));
    let tracked = axum::body::Body::new(Tracked { inner: Some(body), done: false, slot: slot.clone() });
    let resp = next.run(Request::from_parts(parts, tracked)).await;
    let unread = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(body) = unread {
        let _ = tokio::time::timeout(DRAIN_TIME, async move {
            let (mut frames, mut n) = (body.into_data_stream(), 0u64);
            while let Ok(Some(Ok(chunk))) = tokio::time::timeout(DRAIN_IDLE, frames.next()).await {
                n += chunk.len() as u64;
                if n > DRAIN_BYTES {
                    break;
                }
            }
        })
        .await;
    }
    resp
}

/// A request body that, dropped before its end, leaves itself in `slot` for [`drain_unread`].
struct Tracked {
    inner: Option<axum::body::Body>,
    done: bool,
    slot: Arc<Mutex<Option<axum::body::Body>>>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.done
            && let Some(body) = self.inner.take()
        {
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(body);
        }
    }
}
