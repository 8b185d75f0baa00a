use clap::Parser;
use gateway::Config;
use strato_proto::serve::shutdown_signal;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let (stdin_eof, threads) = (config.exit_on_stdin_eof, config.worker_threads);
    strato_proto::serve::main("strato-gateway", "info", threads, || gateway::run(config, shutdown_signal(stdin_eof)))?
}
