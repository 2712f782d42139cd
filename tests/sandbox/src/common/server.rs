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

/// Serves `router` on `addr` (`127.0.0.1:0` for a free port).
pub async fn serve(router: Router, addr: &str) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(Running { base_url, task })
}
