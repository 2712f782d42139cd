//! Who owns what after a page changes, and ordering:
//!
//! - `task_links.field_url`: the URL link-sync last wrote to (or found canonical in) the
//!   task's `UF_CONFLUENCE_URL` for this link (none: the link is only in the description).
//!   Link-sync compares a moved page's new URL with this, not with `canonical_url`, so no
//!   other writer of `canonical_url` can hide a stale field. Existing rows start from their
//!   canonical URL.
//! - `comment_ledger.event_at`: the webhook time (epoch ms) of a status comment (deleted,
//!   restored, moved) — part of the ledger key, so trash → restore → trash of one version
//!   gets each comment; 0 for edits.
//! - `task_sync_state`: one row per (portal, task) link-sync touched: the lease that
//!   serialises syncs of the task and the newest task `changedDate` applied.

use crate::m20261128_000001_installations::B24Portals;
use crate::names::{cascade, index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TaskLinks {
    Table,
    CanonicalUrl,
    FieldUrl,
}

#[derive(DeriveIden)]
enum CommentLedger {
    Table,
    PortalId,
    TaskId,
    SiteId,
    ContentId,
    Version,
    Kind,
    State,
    EventAt,
}

#[derive(DeriveIden)]
enum TaskSyncState {
    Table,
    Id,
    PortalId,
    TaskId,
    /// The sync (envelope id) holding the task now.
    Holder,
    /// Until when (database clock, epoch µs) the holder keeps others off.
    LeaseUntilUs,
    /// The newest task `changedDate` (epoch µs) a sync applied; older reads are skipped.
    AppliedChangedUs,
}

const OLD_UNIQUE: &str = "uq_comment_ledger_portal_task_site_content_version_kind";
const NEW_UNIQUE: &str = "uq_comment_ledger_portal_task_site_content_version_kind_event";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TaskLinks::Table)
                    .add_column(text_null(TaskLinks::FieldUrl))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(TaskLinks::Table)
                    .value(TaskLinks::FieldUrl, Expr::col(TaskLinks::CanonicalUrl))
                    .take(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(CommentLedger::Table)
                    .add_column(big_integer(CommentLedger::EventAt).default(0))
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_UNIQUE)
                    .table(CommentLedger::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                NEW_UNIQUE,
                CommentLedger::Table,
                [
                    CommentLedger::PortalId,
                    CommentLedger::TaskId,
                    CommentLedger::SiteId,
                    CommentLedger::ContentId,
                    CommentLedger::Version,
                    CommentLedger::Kind,
                    CommentLedger::EventAt,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_comment_ledger_portal_state",
                CommentLedger::Table,
                [CommentLedger::PortalId, CommentLedger::State],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskSyncState::Table)
                    .col(big_pk_auto(TaskSyncState::Id))
                    .col(big_integer(TaskSyncState::PortalId))
                    .col(big_integer(TaskSyncState::TaskId))
                    .col(string_len_null(TaskSyncState::Holder, 64))
                    .col(big_integer(TaskSyncState::LeaseUntilUs).default(0))
                    .col(big_integer_null(TaskSyncState::AppliedChangedUs))
                    .foreign_key(&mut cascade(
                        "fk_task_sync_state_portal_id",
                        (TaskSyncState::Table, TaskSyncState::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_task_sync_state_portal_task",
                TaskSyncState::Table,
                [TaskSyncState::PortalId, TaskSyncState::TaskId],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskSyncState::Table).take())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_comment_ledger_portal_state")
                    .table(CommentLedger::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(NEW_UNIQUE)
                    .table(CommentLedger::Table)
                    .to_owned(),
            )
            .await?;
        // Status comments of one version told apart by time collapse again: keep the first.
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM comment_ledger WHERE event_at <> 0 AND id NOT IN \
                 (SELECT MIN(id) FROM comment_ledger GROUP BY portal_id, task_id, site_id, \
                 content_id, version, kind)",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CommentLedger::Table)
                    .drop_column(CommentLedger::EventAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                OLD_UNIQUE,
                CommentLedger::Table,
                [
                    CommentLedger::PortalId,
                    CommentLedger::TaskId,
                    CommentLedger::SiteId,
                    CommentLedger::ContentId,
                    CommentLedger::Version,
                    CommentLedger::Kind,
                ],
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TaskLinks::Table)
                    .drop_column(TaskLinks::FieldUrl)
                    .take(),
            )
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
