//! Idempotency keys: a consumer records every event it has handled, so a redelivery (same
//! event id) or the same change arriving again from reconciliation (same dedupe key) is
//! recognised and skipped.

use crate::names::{index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProcessedEvents {
    Table,
    Id,
    /// Worker kind (queue) that handled the event; each consumer deduplicates on its own.
    Consumer,
    EventId,
    DedupeKey,
    /// For pruning old keys.
    ProcessedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProcessedEvents::Table)
                    .col(big_pk_auto(ProcessedEvents::Id))
                    .col(string_len(ProcessedEvents::Consumer, 64))
                    .col(uuid(ProcessedEvents::EventId))
                    .col(string_len(ProcessedEvents::DedupeKey, 512))
                    .col(timestamp_with_time_zone_default_now(
                        ProcessedEvents::ProcessedAt,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_processed_events_consumer_event",
                ProcessedEvents::Table,
                [ProcessedEvents::Consumer, ProcessedEvents::EventId],
            ))
            .await?;
        manager
            .create_index(unique(
                "uq_processed_events_consumer_dedupe",
                ProcessedEvents::Table,
                [ProcessedEvents::Consumer, ProcessedEvents::DedupeKey],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_processed_events_processed_at",
                ProcessedEvents::Table,
                [ProcessedEvents::ProcessedAt],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProcessedEvents::Table).take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
