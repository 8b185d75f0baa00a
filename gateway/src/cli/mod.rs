//! `strato-vectorize`: `wrangler vectorize` for a Strato stack. Talks gRPC straight to index-svc
//! (and to embedder-svc for `create --preset`), prints wrangler's texts, tables by default and
//! clean JSON on stdout with `--json`; errors go to stderr as `✘ <message>` with exit code 1.
//!
//! Entry points: [`main_with`] (parse + run + report, returns the exit code) and [`run`] (an
//! already parsed [`Cli`], for callers that own a runtime).
pub mod args;
pub mod backup;
pub mod client;
pub mod commands;
pub mod import;
pub mod ndjson;
pub mod rebalance;
pub mod render;
pub mod source;

use std::ffi::OsString;

pub use args::Cli;
use clap::Parser;

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    commands::run(cli).await
}

/// Parses `args` (program name first), runs the command on a fresh runtime and returns the
/// process exit code: 0 on success (and for `--help`/`--version`), 1 on any failure, after
/// printing the error to stderr.
pub fn main_with<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("✘ could not start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("✘ {e:#}");
            1
        }
    }
}
