//! `bridge-worker`: runs one or more worker kinds.

use anyhow::Context;
use bridge_core::{Config, WorkerKind};
use bridge_queue::Broker;
use clap::Parser;
use std::sync::Arc;

/// Consumes events from RabbitMQ and does the work of the named worker kinds. Configured by
/// BRIDGE_* environment variables (see README).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Worker kinds to run: link-sync, fanout, notify, mirror, migrate, bot, portal-setup.
    #[arg(value_parser = parse_kind, required_unless_present_any = ["all", "reconcile"])]
    kinds: Vec<WorkerKind>,
    /// Run every worker kind and the reconcilers in this process.
    #[arg(long, conflicts_with = "kinds")]
    all: bool,
    /// Run the reconcilers (Confluence sweep, B24 offline-event drain).
    #[arg(long)]
    reconcile: bool,
}

fn parse_kind(s: &str) -> Result<WorkerKind, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let reconcile = args.all || args.reconcile;
    let kinds = if args.all {
        WorkerKind::ALL.to_vec()
    } else {
        args.kinds
    };
    let config = Arc::new(Config::from_env()?);
    let _telemetry = bridge_telemetry::init(bridge_telemetry::TelemetryConfig {
        service_name: "bridge-worker",
        otlp_endpoint: config.otlp_endpoint.as_ref().map(|u| u.to_string()),
        json_logs: config.log_format == bridge_core::config::LogFormat::Json,
    })?;
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .context("BRIDGE_DATABASE_URL")?;
    let mut names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    if reconcile {
        names.push("reconcile");
    }
    let broker = Broker::new(
        config.amqp_url.expose(),
        &format!("bridge-worker {}", names.join(",")),
    );
    let shutdown = bridge_queue::shutdown::on_signal();
    let listener = tokio::net::TcpListener::bind(config.worker_http_addr)
        .await
        .with_context(|| {
            format!(
                "BRIDGE_WORKER_HTTP_ADDR: cannot listen on {}",
                config.worker_http_addr
            )
        })?;
    let http = tokio::spawn(bridge_workers::http::serve(
        listener,
        db.clone(),
        broker.clone(),
        shutdown.clone(),
    ));
    tracing::info!(kinds = ?names, reconcile, "worker starting");
    let ctx =
        bridge_workers::WorkerContext::new(config, db, &broker).context("BRIDGE_SECRET_KEY")?;
    let reconcilers = reconcile.then(|| {
        tokio::spawn(bridge_workers::reconcile::run(
            ctx.clone(),
            shutdown.clone(),
        ))
    });
    bridge_workers::run(ctx, broker.clone(), &kinds, shutdown.clone()).await;
    if let Some(r) = reconcilers {
        r.await?;
    }
    shutdown.cancel();
    http.await??;
    broker.close().await;
    Ok(())
}
