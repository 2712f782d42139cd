//! Starting a fake on a listener, in-process.

use axum::Router;
use tokio::net::TcpListener;

/// A fake server running in this process. Dropping it stops the server.
pub struct Running {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on `addr` (`127.0.0.1:0` for a free port). The fakes build their links
/// from the base URL; `SANDBOX_PUBLIC_HOST` replaces the bound address's host in it, for a
/// sandbox bound to `0.0.0.0` inside a container and reached as, say, `sandbox`.
pub async fn serve(router: Router, addr: &str) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base_url = match std::env::var("SANDBOX_PUBLIC_HOST") {
        Ok(host) if !host.is_empty() => format!("http://{host}:{}", local.port()),
        _ => format!("http://{local}"),
    };
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(Running { base_url, task })
}
