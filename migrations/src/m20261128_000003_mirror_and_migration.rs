//! Mirror mode and bulk migration: which KB article mirrors which page (and at which
//! version), and resumable migration jobs with one row per page.

use crate::m20261128_000001_installations::{B24Portals, ConfluenceSites};
use crate::names::{cascade, index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MirrorPages {
    Table,
    Id,
    SiteId,
    ContentId,
    PortalId,
    /// `classic` (landing API) or `kb2` (note.* API).
    KbKind,
    /// Knowledge base (landing site / KB 2.0 space) holding the article.
    TargetSiteId,
    /// The article (landing page / note) mirroring the page.
    TargetPageId,
    /// Confluence version the article was last written from; older events are skipped.
    MirroredVersion,
    MirroredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MigrationJobs {
    Table,
    Id,
    SiteId,
    SpaceKey,
    PortalId,
    /// `to_b24` or `to_confluence`.
    Direction,
    /// `pending`, `running`, `done`, `failed`, `cancelled`.
    Status,
    DryRun,
    TotalItems,
    DoneItems,
    FailedItems,
    SkippedItems,
    StartedAt,
    FinishedAt,
    Error,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MigrationItems {
    Table,
    Id,
    JobId,
    /// Source id: Confluence content id, or the B24 article id when migrating back.
    ContentId,
    /// Source parent, so children are created after (and under) their parent.
    ParentContentId,
    /// Order among siblings.
    Position,
    /// `pending`, `done`, `failed`, `skipped`.
    Status,
    /// Id of the created page or article, once done (for link rewriting and resume).
    TargetId,
    Error,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MirrorPages::Table)
                    .col(big_pk_auto(MirrorPages::Id))
                    .col(big_integer(MirrorPages::SiteId))
                    .col(big_integer(MirrorPages::ContentId))
                    .col(big_integer(MirrorPages::PortalId))
                    .col(string_len(MirrorPages::KbKind, 8))
                    .col(string_len_null(MirrorPages::TargetSiteId, 64))
                    .col(string_len(MirrorPages::TargetPageId, 64))
                    .col(integer(MirrorPages::MirroredVersion))
                    .col(timestamp_with_time_zone_default_now(
                        MirrorPages::MirroredAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(MirrorPages::CreatedAt))
                    .foreign_key(&mut cascade(
                        "fk_mirror_pages_site_id",
                        (MirrorPages::Table, MirrorPages::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_mirror_pages_portal_id",
                        (MirrorPages::Table, MirrorPages::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        // One KB article per page and portal (DESIGN §5).
        manager
            .create_index(unique(
                "uq_mirror_pages_site_content_portal",
                MirrorPages::Table,
                [
                    MirrorPages::SiteId,
                    MirrorPages::ContentId,
                    MirrorPages::PortalId,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_mirror_pages_portal_id",
                MirrorPages::Table,
                [MirrorPages::PortalId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MigrationJobs::Table)
                    .col(pk_uuid(MigrationJobs::Id))
                    .col(big_integer(MigrationJobs::SiteId))
                    .col(string_len(MigrationJobs::SpaceKey, 255))
                    .col(big_integer(MigrationJobs::PortalId))
                    .col(string_len(MigrationJobs::Direction, 16))
                    .col(string_len(MigrationJobs::Status, 16).default("pending"))
                    .col(boolean(MigrationJobs::DryRun).default(false))
                    .col(integer(MigrationJobs::TotalItems).default(0))
                    .col(integer(MigrationJobs::DoneItems).default(0))
                    .col(integer(MigrationJobs::FailedItems).default(0))
                    .col(integer(MigrationJobs::SkippedItems).default(0))
                    .col(timestamp_with_time_zone_null(MigrationJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(MigrationJobs::FinishedAt))
                    .col(text_null(MigrationJobs::Error))
                    .col(timestamp_with_time_zone_default_now(
                        MigrationJobs::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        MigrationJobs::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_migration_jobs_site_id",
                        (MigrationJobs::Table, MigrationJobs::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_migration_jobs_portal_id",
                        (MigrationJobs::Table, MigrationJobs::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_migration_jobs_status",
                MigrationJobs::Table,
                [MigrationJobs::Status],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_migration_jobs_site_id",
                MigrationJobs::Table,
                [MigrationJobs::SiteId],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_migration_jobs_portal_id",
                MigrationJobs::Table,
                [MigrationJobs::PortalId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MigrationItems::Table)
                    .col(big_pk_auto(MigrationItems::Id))
                    .col(uuid(MigrationItems::JobId))
                    .col(big_integer(MigrationItems::ContentId))
                    .col(big_integer_null(MigrationItems::ParentContentId))
                    .col(integer(MigrationItems::Position).default(0))
                    .col(string_len(MigrationItems::Status, 16).default("pending"))
                    .col(string_len_null(MigrationItems::TargetId, 64))
                    .col(text_null(MigrationItems::Error))
                    .col(timestamp_with_time_zone_default_now(
                        MigrationItems::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_migration_items_job_id",
                        (MigrationItems::Table, MigrationItems::JobId),
                        (MigrationJobs::Table, MigrationJobs::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_migration_items_job_content",
                MigrationItems::Table,
                [MigrationItems::JobId, MigrationItems::ContentId],
            ))
            .await?;
        // Resume: "what is still pending in this job?"
        manager
            .create_index(index(
                "idx_migration_items_job_status",
                MigrationItems::Table,
                [MigrationItems::JobId, MigrationItems::Status],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MigrationItems::Table.into_iden(),
            MigrationJobs::Table.into_iden(),
            MirrorPages::Table.into_iden(),
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
