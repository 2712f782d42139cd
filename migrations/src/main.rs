//! Development migration CLI: the stock sea-orm commands (`up`, `down -n 1`, `status`,
//! `fresh`, …) against `BRIDGE_DATABASE_URL` (default `sqlite://bridge.db?mode=rwc`).
//! Operators use `bridgectl migrate`, which runs the same [`bridge_migration::Migrator`].

use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() {
    let url = std::env::var("BRIDGE_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "sqlite://bridge.db?mode=rwc".to_owned());
    sea_orm_migration::cli::run_cli_with_custom_connection(
        bridge_migration::Migrator,
        async || Database::connect(url).await,
    )
    .await;
}
