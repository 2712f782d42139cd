//! The worker process's own small HTTP server: `/healthz`, `/readyz`, `/metrics`, so
//! orchestration and Prometheus see workers the way they see the ingress.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use bridge_db::Db;
use bridge_queue::Broker;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Deps {
    db: Db,
    broker: Broker,
}

pub fn router(db: Db, broker: Broker) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        bridge_telemetry::metrics::CONTENT_TYPE,
                    )],
                    bridge_telemetry::metrics::render(),
                )
            }),
        )
        .with_state(Deps { db, broker })
}

async fn readyz(State(d): State<Deps>) -> impl IntoResponse {
    let r = bridge_telemetry::readiness::check(
        Duration::from_secs(3),
        vec![
            (
                "database",
                Box::pin(async { d.db.ping().await.map_err(|e| e.to_string()) }),
            ),
            (
                "broker",
                Box::pin(async { d.broker.ping().await.map_err(|e| e.to_string()) }),
            ),
        ],
    )
    .await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(r))
}

pub async fn serve(
    listener: TcpListener,
    db: Db,
    broker: Broker,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(db, broker))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
