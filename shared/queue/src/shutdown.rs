//! Graceful shutdown: one cancellation token, cancelled on SIGINT or SIGTERM.

use tokio_util::sync::CancellationToken;

/// A token that is cancelled when the process receives Ctrl-C or SIGTERM (what
/// `docker stop` sends). Consumers stop taking messages and finish in-flight ones; the
/// ingress stops accepting and finishes in-flight requests.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        t.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                tokio::signal::ctrl_c().await.ok();
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok();
    }
}
