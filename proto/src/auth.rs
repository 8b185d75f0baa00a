//! Service-to-service auth: a shared token, sent by the gateway (and the CLI) as
//! `authorization: Bearer <token>` on every call to index-svc and embedder-svc.
//!
//! Why a token and not mTLS: it rides on what Kubernetes already has (a Secret mounted into the
//! three Deployments), needs no certificate issuing or rotation, and adds no TLS stack to a
//! 2-core build; encryption on the wire, where wanted, is the mesh's or the CNI's job. A service
//! without a token refuses to listen beyond loopback, the gateway's rule for its own API. The
//! health and reflection services stay open for probes.
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither a token's length nor how
//! much of it matched shows in the timing.
use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use crate::errors::ErrorReason;

/// The expected token's digest, or None when the service runs open (loopback only).
#[derive(Clone, Default)]
pub struct ServiceToken(Option<[u8; 32]>);

impl ServiceToken {
    pub fn new(token: Option<&str>) -> Self {
        Self(token.filter(|t| !t.is_empty()).map(digest))
    }

    pub fn is_open(&self) -> bool {
        self.0.is_none()
    }

    /// Refuses to serve an open service beyond loopback.
    pub fn check_listen(&self, service: &str, listen: SocketAddr) -> Result<(), String> {
        if self.is_open() && !listen.ip().is_loopback() {
            return Err(format!(
                "{service}: no service token (--service-token / STRATO_SERVICE_TOKEN): refusing to listen on {listen} beyond loopback"
            ));
        }
        Ok(())
    }

    /// The interceptor for a service's own API (not health or reflection).
    pub fn interceptor(&self) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        let want = self.0;
        move |req: Request<()>| {
            let Some(want) = want else { return Ok(req) };
            let presented = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer);
            match presented {
                Some(token) if ct_eq(&digest(token), &want) => Ok(req),
                Some(_) => Err(crate::errors::status(tonic::Code::PermissionDenied, ErrorReason::WrongServiceToken, "wrong service token")),
                None => Err(crate::errors::status(
                    tonic::Code::Unauthenticated,
                    ErrorReason::MissingServiceToken,
                    "missing service token (authorization: Bearer …)",
                )),
            }
        }
    }
}

/// `authorization` metadata for calls to a service with `token` (None when no token is set).
pub fn bearer_metadata(token: Option<&str>) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
    token.filter(|t| !t.is_empty()).and_then(|t| format!("Bearer {t}").parse().ok())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(token: &ServiceToken, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut req = Request::new(());
        if let Some(h) = header {
            req.metadata_mut().insert("authorization", h.parse().expect("ascii"));
        }
        token.interceptor()(req).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn token_rules() {
        let t = ServiceToken::new(Some("s3cret"));
        assert_eq!(call(&t, Some("Bearer s3cret")), Ok(()));
        assert_eq!(call(&t, Some("bearer  s3cret ")), Ok(()));
        assert_eq!(call(&t, Some("Bearer s3cre")), Err(tonic::Code::PermissionDenied));
        assert_eq!(call(&t, Some("Basic s3cret")), Err(tonic::Code::Unauthenticated));
        assert_eq!(call(&t, None), Err(tonic::Code::Unauthenticated));
        let open = ServiceToken::new(None);
        assert_eq!(call(&open, None), Ok(()));
        assert!(open.check_listen("x", "0.0.0.0:1".parse().expect("addr")).is_err());
        assert!(open.check_listen("x", "127.0.0.1:1".parse().expect("addr")).is_ok());
        assert!(t.check_listen("x", "0.0.0.0:1".parse().expect("addr")).is_ok());
    }
}
