//! `bridgectl health`: do the database and the broker answer? Exit 0 if both do. Used as the
//! container healthcheck.

use crate::Io;
use bridge_core::Config;
use bridge_queue::Broker;
use bridge_telemetry::readiness::Check;
use std::time::Duration;

pub async fn run(config: &Config, json: bool, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let broker = Broker::new(config.amqp_url.expose(), "bridgectl health");
    let db = bridge_db::connect(config.database_url.expose()).await;
    let report = bridge_telemetry::readiness::check(
        Duration::from_secs(5),
        vec![
            (
                "database",
                Box::pin(async {
                    match &db {
                        Ok(db) => db.ping().await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }),
            ),
            (
                "broker",
                Box::pin(async { broker.ping().await.map_err(|e| e.to_string()) }),
            ),
        ],
    )
    .await;
    broker.close().await;
    if json {
        writeln!(io.out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for (name, check) in &report.checks {
            match check {
                Check::Ok => writeln!(io.out, "{name:10} ok")?,
                Check::Failed { error } => writeln!(io.out, "{name:10} FAILED: {error}")?,
            }
        }
    }
    Ok(if report.ready { 0 } else { 1 })
}
