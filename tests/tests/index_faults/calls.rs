//! Calls as the workload makes them: maybe cut short, and classified for the oracle.
use std::fmt;
use std::future::Future;
use std::time::Duration;

use strato_proto::index::v1 as pb;
use tonic::{Code, Request, Response, Status};

use crate::oracle::Reply;
use crate::rng::Rng;

/// Calls without a chosen cancellation still give up (uncertain) after this.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// How a call may be cut short. Its outcome is then uncertain.
#[derive(Clone, Copy)]
pub enum Cancel {
    None,
    /// A gRPC deadline: the server drops the handler when it passes.
    Deadline(Duration),
    /// The client stops waiting and drops the call (the stream is reset).
    Drop(Duration),
}

impl Cancel {
    /// About a third of mutations are cut short.
    pub fn pick(rng: &mut Rng) -> Self {
        match rng.range(0..6) {
            0 => Cancel::Deadline(rng.micros(50..3000)),
            1 => Cancel::Drop(rng.micros(50..3000)),
            _ => Cancel::None,
        }
    }

    pub fn request<M>(self, m: M) -> Request<M> {
        let mut r = Request::new(m);
        if let Cancel::Deadline(d) = self {
            r.set_timeout(d);
        }
        r
    }

    fn limit(self) -> Duration {
        if let Cancel::Drop(d) = self { d } else { CALL_LIMIT }
    }
}

impl fmt::Display for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cancel::None => write!(f, "no deadline"),
            Cancel::Deadline(d) => write!(f, "deadline {d:?}"),
            Cancel::Drop(d) => write!(f, "dropped by the client after {d:?}"),
        }
    }
}

pub async fn call<T>(cancel: Cancel, fut: impl Future<Output = Result<Response<T>, Status>>) -> Reply<T> {
    match tokio::time::timeout(cancel.limit(), fut).await {
        Ok(r) => Reply::of(r),
        Err(_) => Reply::Uncertain(format!("no answer within {:?}", cancel.limit())),
    }
}

/// The index is gone (deleted) or is another epoch: this epoch's writer stops.
pub fn gone<T>(r: &Reply<T>) -> bool {
    matches!(r.code(), Some(Code::NotFound | Code::InvalidArgument))
}

pub fn index_ref(name: &str) -> pb::IndexRef {
    pb::IndexRef { account: String::new(), name: name.to_owned() }
}
