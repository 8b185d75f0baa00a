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
    let rt = rt.enable_all().build()?;
    let result = rt.block_on(index_svc::run(config, shutdown_signal(stdin_eof)));
    // Don't wait on blocking threads that never end (tokio's stdin reader, when exiting for
    // another reason than stdin closing); `run` has already closed the store.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}
