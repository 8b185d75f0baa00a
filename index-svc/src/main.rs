use clap::Parser;
use index_svc::Config;
use strato_proto::serve::shutdown_signal;

#[global_allocator]
static ALLOC: index_svc::memory::HugePageAlloc = index_svc::memory::HugePageAlloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let (threads, stdin_eof) = (config.worker_threads, config.exit_on_stdin_eof);
    strato_proto::serve::main("strato-index", "info", threads, || index_svc::run(config, shutdown_signal(stdin_eof)))?
}
