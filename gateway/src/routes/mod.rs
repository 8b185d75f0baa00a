//! HTTP routes, one file per API surface.
pub mod status;
pub mod tutorial;
