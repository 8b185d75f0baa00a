//! The error contract: a gRPC status carries its reason (`ErrorReason`, strato/errors/v1) as a
//! `google.rpc.ErrorInfo` in its details. Services build statuses with [`status`]; clients read
//! the reason with [`reason_of`] (UNSPECIFIED when a status has none, e.g. a transport error).
use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use crate::errors_v1::ErrorReason;

/// `ErrorInfo.domain` of every Strato error.
pub const DOMAIN: &str = "strato";

/// A status with `reason` in its details.
pub fn status(code: Code, reason: ErrorReason, message: impl Into<String>) -> Status {
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason.as_str_name(), DOMAIN, HashMap::new()))
}

/// A status with `reason` and `metadata` (key → value) in its details.
pub fn status_with(code: Code, reason: ErrorReason, message: impl Into<String>, metadata: HashMap<String, String>) -> Status {
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason.as_str_name(), DOMAIN, metadata))
}

/// Where an index went, when `s` says it moved (INDEX_MOVED with metadata "to").
pub fn moved_to(s: &Status) -> Option<String> {
    let info = s.get_details_error_info().filter(|i| i.domain == DOMAIN && i.reason == ErrorReason::IndexMoved.as_str_name())?;
    info.metadata.get("to").filter(|t| !t.is_empty()).cloned()
}

/// The reason a Strato service put in `s`, or UNSPECIFIED.
pub fn reason_of(s: &Status) -> ErrorReason {
    s.get_details_error_info()
        .filter(|i| i.domain == DOMAIN)
        .and_then(|i| ErrorReason::from_str_name(&i.reason))
        .unwrap_or(ErrorReason::Unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_round_trips_through_the_wire_form() {
        let s = status(Code::NotFound, ErrorReason::IndexNotFound, "gone");
        // What a client sees: code, message and the binary details header.
        let wire = Status::with_details(s.code(), s.message(), s.details().to_vec().into());
        assert_eq!(reason_of(&wire), ErrorReason::IndexNotFound);
        assert_eq!(reason_of(&Status::not_found("no details")), ErrorReason::Unspecified);
    }
}
