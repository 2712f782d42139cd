//! `bridgectl migrate up|down|status`.

use crate::Io;
use crate::args::MigrateCommand;
use anyhow::Context;
use bridge_core::Config;

pub async fn run(
    cmd: MigrateCommand,
    config: &Config,
    json: bool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let db = bridge_db::connect(config.database_url.expose())
        .await
        .context("BRIDGE_DATABASE_URL")?;
    match cmd {
        MigrateCommand::Up => db.migrate_up().await?,
        MigrateCommand::Down { steps, all } => {
            let steps = if all { None } else { Some(steps.unwrap_or(1)) };
            db.migrate_down(steps).await?;
        }
        MigrateCommand::Status => {}
    }
    let status = db.migration_status().await?;
    if json {
        let rows: Vec<_> = status
            .iter()
            .map(|m| serde_json::json!({"name": m.name, "applied": m.applied}))
            .collect();
        writeln!(io.out, "{}", serde_json::Value::Array(rows))?;
    } else {
        for m in &status {
            let mark = if m.applied { "applied" } else { "pending" };
            writeln!(io.out, "{mark:8} {}", m.name)?;
        }
    }
    Ok(0)
}
