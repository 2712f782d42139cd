//! Deployment-wide rate limits: one GCRA state per key (a B24 portal), shared by every worker
//! replica through the database. `tat_us` is the bucket's "theoretical arrival time" in
//! microseconds since the Unix epoch, on the database server's clock (so the workers' clocks
//! never enter the arithmetic).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    /// What is limited, e.g. `b24:<member_id>`.
    Key,
    TatUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(string_len(RateLimits::Key, 255).primary_key())
                    .col(big_integer(RateLimits::TatUs))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
