//! Fan-out bookkeeping: the comment ledger (exactly one comment per task, page and version),
//! the pending page edits the coalescing window gathers, per-portal fan-out settings, and the
//! task chat id on each link (new task card: comments are chat messages).

use crate::m20261128_000001_installations::{B24Portals, ConfluenceSites};
use crate::names::{cascade, index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CommentLedger {
    Table,
    Id,
    PortalId,
    TaskId,
    SiteId,
    ContentId,
    /// The page version the comment is about (the newest of a coalesced group).
    Version,
    /// `updated`, `deleted`, `restored`, `moved`.
    Kind,
    /// `pending` (written before sending) or `sent`.
    State,
    /// Who is sending it now: the envelope id of the delivery that claimed the row.
    Claim,
    ClaimedAt,
    /// How many deliveries claimed it; above 1 the comment may already exist.
    Attempts,
    /// The exact comment text (with its marker), to find it again after a crash.
    Body,
    /// B24's comment or message id, once known.
    MessageId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PageEdits {
    Table,
    Id,
    SiteId,
    ContentId,
    Version,
    /// Cloud `accountId` or DC `userKey` of the editor.
    Actor,
    Minor,
    EditedAt,
    /// The flush (envelope id) that took this edit into its comment.
    FlushId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PortalSettings {
    Table,
    Id,
    PortalId,
    /// `commentitem` (task.commentitem.add) or `chat` (task chat via im.message.add).
    CommentApi,
    /// `ru` or `en`; none: the portal's install language.
    CommentLanguage,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TaskLinks {
    Table,
    ChatId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommentLedger::Table)
                    .col(big_pk_auto(CommentLedger::Id))
                    .col(big_integer(CommentLedger::PortalId))
                    .col(big_integer(CommentLedger::TaskId))
                    .col(big_integer(CommentLedger::SiteId))
                    .col(big_integer(CommentLedger::ContentId))
                    .col(integer(CommentLedger::Version))
                    .col(string_len(CommentLedger::Kind, 16))
                    .col(string_len(CommentLedger::State, 16).default("pending"))
                    .col(string_len_null(CommentLedger::Claim, 64))
                    .col(timestamp_with_time_zone_null(CommentLedger::ClaimedAt))
                    .col(integer(CommentLedger::Attempts).default(0))
                    .col(text(CommentLedger::Body))
                    .col(big_integer_null(CommentLedger::MessageId))
                    .col(timestamp_with_time_zone_default_now(
                        CommentLedger::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        CommentLedger::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_comment_ledger_portal_id",
                        (CommentLedger::Table, CommentLedger::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_comment_ledger_site_id",
                        (CommentLedger::Table, CommentLedger::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_comment_ledger_portal_task_site_content_version_kind",
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
            .create_index(index(
                "idx_comment_ledger_site_content_state",
                CommentLedger::Table,
                [
                    CommentLedger::SiteId,
                    CommentLedger::ContentId,
                    CommentLedger::State,
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PageEdits::Table)
                    .col(big_pk_auto(PageEdits::Id))
                    .col(big_integer(PageEdits::SiteId))
                    .col(big_integer(PageEdits::ContentId))
                    .col(integer(PageEdits::Version))
                    .col(string_len_null(PageEdits::Actor, 128))
                    .col(boolean(PageEdits::Minor).default(false))
                    .col(timestamp_with_time_zone(PageEdits::EditedAt))
                    .col(string_len_null(PageEdits::FlushId, 64))
                    .col(timestamp_with_time_zone_default_now(PageEdits::CreatedAt))
                    .foreign_key(&mut cascade(
                        "fk_page_edits_site_id",
                        (PageEdits::Table, PageEdits::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_page_edits_site_content_version",
                PageEdits::Table,
                [PageEdits::SiteId, PageEdits::ContentId, PageEdits::Version],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_page_edits_site_content_flush",
                PageEdits::Table,
                [PageEdits::SiteId, PageEdits::ContentId, PageEdits::FlushId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PortalSettings::Table)
                    .col(big_pk_auto(PortalSettings::Id))
                    .col(big_integer(PortalSettings::PortalId))
                    .col(string_len_null(PortalSettings::CommentApi, 16))
                    .col(string_len_null(PortalSettings::CommentLanguage, 8))
                    .col(timestamp_with_time_zone_default_now(
                        PortalSettings::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_portal_settings_portal_id",
                        (PortalSettings::Table, PortalSettings::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_portal_settings_portal",
                PortalSettings::Table,
                [PortalSettings::PortalId],
            ))
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(TaskLinks::Table)
                    .add_column(big_integer_null(TaskLinks::ChatId))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TaskLinks::Table)
                    .drop_column(TaskLinks::ChatId)
                    .take(),
            )
            .await?;
        for table in [
            PortalSettings::Table.into_iden(),
            PageEdits::Table.into_iden(),
            CommentLedger::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
