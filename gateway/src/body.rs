//! Request bodies, read whole by the routes that need them ([`Body`]), with what they cost
//! charged to the request's memory share (`budget.rs`) before it is allocated:
//! - a declared `Content-Length` over the route's limit (`DefaultBodyLimit`) is 413 before a byte
//!   is read; within it, [`BODY_COST`] × the length is charged (503 1503 at once if it does not
//!   fit) and the buffer is sized once, so the bytes are never held twice (axum's `Bytes` extractor
//!   collects the frames, then copies them into one buffer: twice the body at its peak);
//! - without a length, each frame is charged as it arrives.
//!
//! Errors answer in the path's shape: 413 or 400 code 40003, 503 code 1503.
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::RequestExt as _;
use futures::StreamExt as _;
use http_body::Body as _;

use crate::budget::{self, BODY_COST};
use crate::routes::cf::{self, CfError};
use crate::routes::edge::Shape;

/// The whole body of a request.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Response> {
        let shape = Shape::of(req.uri().path());
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = req.into_limited_body();
        let limit = body.size_hint().upper().unwrap_or(u64::MAX);
        let too_large = || shape.error(CfError::new(StatusCode::PAYLOAD_TOO_LARGE, cf::BAD_REQUEST, format!("Request body too large for this route (at most {limit} bytes)")));
        let refused = |e: CfError| budget::overloaded(shape, e);
        let mut charged = 0u64;
        if let Some(len) = declared {
            if len > limit {
                return Err(too_large());
            }
            budget::charge(BODY_COST * len).map_err(refused)?;
            charged = len;
        }
        let mut buf = Vec::with_capacity(usize::try_from(charged).unwrap_or(0));
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let chunk = match frame {
                Ok(c) => c,
                Err(e) if over_limit(&e) => return Err(too_large()),
                Err(e) => return Err(shape.error(CfError::bad_request(cf::BAD_REQUEST, format!("Failed to read the request body: {e}")))),
            };
            let len = (buf.len() + chunk.len()) as u64;
            if len > charged {
                // Undeclared (or longer than declared, which hyper refuses): charge as it comes,
                // in steps of at least 64 KiB so a trickle is not a charge per byte.
                let step = (len - charged).max(64 * 1024);
                budget::charge(BODY_COST * step).map_err(refused)?;
                charged += step;
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Body(Bytes::from(buf)))
    }
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
