use clap::Parser;
use gateway::Config;
use strato_proto::serve::shutdown_signal;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let stdin_eof = config.exit_on_stdin_eof;
    strato_proto::serve::main("strato-gateway", "info", 0, || gateway::run(config, shutdown_signal(stdin_eof)))?
}
