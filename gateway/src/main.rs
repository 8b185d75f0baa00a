use clap::Parser;
use gateway::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    let stdin_eof = config.exit_on_stdin_eof;
    gateway::run(config, shutdown_signal(stdin_eof)).await
}

/// Ctrl-C, SIGTERM, or (when asked) standard input closing because the supervising parent died.
async fn shutdown_signal(stdin_eof: bool) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let eof = async {
        if !stdin_eof {
            return std::future::pending().await;
        }
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {}, _ = eof => {} }
}
