use clap::Parser;
use embedder_svc::Config;
use strato_proto::serve::shutdown_signal;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let stdin_eof = config.exit_on_stdin_eof;
    strato_proto::serve::main("strato-embedder", "info,ort=warn", 0, || embedder_svc::run(config, shutdown_signal(stdin_eof)))?
}
