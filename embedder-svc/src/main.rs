use clap::Parser;
use embedder_svc::Config;
use strato_proto::serve::{init_tracing, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing("info,ort=warn");
    let config = Config::parse();
    let stdin_eof = config.exit_on_stdin_eof;
    embedder_svc::run(config, shutdown_signal(stdin_eof)).await
}
