//! `bridgectl standalone`: the ingress and every worker kind in one process, sharing one
//! database pool and one broker connection. For small installs and for trying the bridge
//! out with nothing but a local RabbitMQ (SQLite is the default database, migrated at start).

use anyhow::Context;
use bridge_core::{Config, WorkerKind};
use bridge_ingress::AppState;
use bridge_queue::{Broker, Publisher, Topology};
use std::sync::Arc;

pub async fn run(config: Config) -> anyhow::Result<i32> {
    let config = Arc::new(config);
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .context("BRIDGE_DATABASE_URL")?;
    // Standalone is the "just run it" mode, so it migrates itself; the split deployment runs
    // `bridgectl migrate up` as its own step.
    db.migrate_up().await.context("migrating the database")?;
    let broker = Broker::new(config.amqp_url.expose(), "bridge-standalone");
    broker.connect().await.context("BRIDGE_AMQP_URL")?;
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let publisher = Publisher::new(broker.clone(), topology, config.publish_timeout);
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("BRIDGE_HTTP_ADDR: cannot listen on {}", config.http_addr))?;
    let shutdown = bridge_queue::shutdown::on_signal();
    let keyring =
        bridge_core::crypto::Keyring::from_config(&config).context("BRIDGE_SECRET_KEY")?;
    let state = AppState {
        config: config.clone(),
        db: db.clone(),
        credentials: bridge_db::CredentialStore::new(db.clone(), Arc::new(keyring)),
        publisher,
    };
    let ingress = tokio::spawn(bridge_ingress::serve(listener, state, shutdown.clone()));
    let ctx =
        bridge_workers::WorkerContext::new(config, db, &broker).context("BRIDGE_SECRET_KEY")?;
    let reconcilers = tokio::spawn(bridge_workers::reconcile::run(
        ctx.clone(),
        shutdown.clone(),
    ));
    bridge_workers::run(ctx, broker.clone(), &WorkerKind::ALL, shutdown.clone()).await;
    reconcilers.await?;
    shutdown.cancel();
    ingress.await??;
    broker.close().await;
    Ok(0)
}
