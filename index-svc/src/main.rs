use clap::Parser;
use index_svc::Config;
use strato_proto::serve::{init_tracing, shutdown_signal};

#[global_allocator]
static ALLOC: index_svc::memory::HugePageAlloc = index_svc::memory::HugePageAlloc;

fn main() -> anyhow::Result<()> {
    init_tracing("info");
    let config = Config::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        rt.worker_threads(config.worker_threads);
    }
    let stdin_eof = config.exit_on_stdin_eof;
    rt.enable_all().build()?.block_on(index_svc::run(config, shutdown_signal(stdin_eof)))
}
