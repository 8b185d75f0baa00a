//! HTTP routes, one file per API surface.
pub mod ai;
pub mod ai_input;
pub mod auth;
pub mod cf;
pub mod console;
pub mod cors;
pub mod edge;
pub mod openapi;
pub mod public;
pub mod status;
pub mod tutorial;
pub mod upload;
pub mod vectorize;
pub mod worker;
