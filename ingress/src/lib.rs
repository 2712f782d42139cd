//! The HTTP ingress: the bridge's door for webhooks and B24 events.
//!
//! It verifies the sender, normalises the request into an [`bridge_core::Envelope`],
//! publishes it with a broker confirm and only then answers 2xx. It never calls an external
//! API on the webhook path and never converts content (no lol_html here); the workers do.
//!
//! This crate is a library so that the standalone mode and the tests can run it in-process
//! on a port-0 listener; `main.rs` only parses arguments and calls [`serve`].

mod accept;
mod error;
mod routes;
mod state;
pub mod verify;

pub use error::IngressError;
pub use routes::{CONNECT_EVENTS, CONNECT_WEBHOOK_PREFIX, router};
pub use state::AppState;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the ingress on `listener` until `shutdown` is cancelled, then finishes in-flight
/// requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "ingress listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Whether the database and the broker answer (for `/readyz` and `bridgectl health`).
pub async fn readiness(
    db: &bridge_db::Db,
    broker: &bridge_queue::Broker,
) -> bridge_telemetry::readiness::Readiness {
    bridge_telemetry::readiness::check(
        std::time::Duration::from_secs(3),
        vec![
            (
                "database",
                Box::pin(async { db.ping().await.map_err(|e| e.to_string()) }),
            ),
            (
                "broker",
                Box::pin(async { broker.ping().await.map_err(|e| e.to_string()) }),
            ),
        ],
    )
    .await
}
