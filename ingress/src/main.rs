//! `bridge-ingress`: the HTTP ingress server.

use anyhow::Context;
use bridge_core::{Config, WorkerKind};
use bridge_ingress::AppState;
use bridge_queue::{Broker, ConsumerSpec, Publisher, Topology};
use clap::Parser;
use std::sync::Arc;

/// Takes Confluence webhooks and Bitrix24 events, verifies them and publishes them to
/// RabbitMQ. Configured by BRIDGE_* environment variables (see README).
#[derive(Parser)]
#[command(version)]
struct Args {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Args::parse();
    let config = Arc::new(Config::from_env()?);
    let _telemetry = bridge_telemetry::init(bridge_telemetry::TelemetryConfig {
        service_name: "bridge-ingress",
        otlp_endpoint: config.otlp_endpoint.as_ref().map(|u| u.to_string()),
        json_logs: config.log_format == bridge_core::config::LogFormat::Json,
    })?;
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .context("BRIDGE_DATABASE_URL")?;
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let broker = Broker::new(config.amqp_url.expose(), "bridge-ingress");
    let publisher = Publisher::new(broker.clone(), topology.clone(), config.publish_timeout);
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("BRIDGE_HTTP_ADDR: cannot listen on {}", config.http_addr))?;
    let shutdown = bridge_queue::shutdown::on_signal();
    let workers: Vec<_> = WorkerKind::ALL
        .into_iter()
        .map(ConsumerSpec::for_worker)
        .collect();
    let (t, b, s) = (topology.clone(), broker.clone(), shutdown.clone());
    tokio::spawn(async move { t.declare_consumers_when_possible(&b, &workers, &s).await });
    let keyring =
        bridge_core::crypto::Keyring::from_config(&config).context("BRIDGE_SECRET_KEY")?;
    let credentials = bridge_db::CredentialStore::new(db.clone(), Arc::new(keyring));
    let state = AppState {
        config,
        db,
        credentials,
        publisher,
    };
    bridge_ingress::serve(listener, state, shutdown).await?;
    Ok(())
}
