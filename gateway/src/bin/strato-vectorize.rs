//! `strato-vectorize`: `wrangler vectorize` against a self-hosted Strato stack (see `gateway::cli`).
fn main() {
    std::process::exit(gateway::cli::main_with(std::env::args_os()));
}
