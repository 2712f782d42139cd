//! What the mirror worker needs beyond "which article mirrors which page at which version":
//!
//! - `mirror_pages`: the page's space, title and Confluence parent as last mirrored (a move
//!   is a parent change), where the article sits in the knowledge base (classic folder or
//!   KB 2.0 parent document), the folder holding the page's children (classic), the
//!   article's URL (links between mirrored pages point at it), `active`/`trashed`, the ids
//!   of the extra documents a Markdown body over KB 2.0's 1 MiB limit was split into, and a
//!   lease (database clock) that serialises the deliveries working on one page — two
//!   workers creating the same article at once would make two — and the clean-up a write
//!   still owes (an old KB 2.0 document to archive, children to write again under a new
//!   place), recorded before the new place is used so a failure halfway is finished by the
//!   retry instead of forgotten.
//! - `mirror_attachments`: each Confluence attachment copied for a mirrored page, at which
//!   version, and where it lives in B24 (Disk file or KB 2.0 file) — an unchanged attachment
//!   is not uploaded again.

use crate::names::{cascade, index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MirrorPages {
    Table,
    Id,
    SpaceKey,
    Title,
    ParentContentId,
    TargetParentId,
    ChildrenFolderId,
    TargetUrl,
    State,
    ExtraParts,
    LeaseHolder,
    LeaseUntilUs,
    OldTargetId,
    RehomeChildren,
    SiteId,
    PortalId,
}

#[derive(DeriveIden)]
enum MirrorAttachments {
    Table,
    Id,
    MirrorPageId,
    AttachmentId,
    Version,
    FileName,
    TargetFileId,
    TargetUrl,
    MarkdownEmbed,
    CreatedAt,
}

fn add(col: ColumnDef) -> TableAlterStatement {
    // One column per statement: SQLite's ALTER TABLE takes one change at a time.
    Table::alter()
        .table(MirrorPages::Table)
        .add_column(col)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            string_len(MirrorPages::SpaceKey, 255).default("").take(),
            text(MirrorPages::Title).default("").take(),
            big_integer_null(MirrorPages::ParentContentId).take(),
            string_len_null(MirrorPages::TargetParentId, 64).take(),
            string_len_null(MirrorPages::ChildrenFolderId, 64).take(),
            text_null(MirrorPages::TargetUrl).take(),
            string_len(MirrorPages::State, 8).default("active").take(),
            text_null(MirrorPages::ExtraParts).take(),
            string_len_null(MirrorPages::LeaseHolder, 64).take(),
            big_integer(MirrorPages::LeaseUntilUs).default(0).take(),
            string_len_null(MirrorPages::OldTargetId, 64).take(),
            boolean(MirrorPages::RehomeChildren).default(false).take(),
        ] {
            manager.alter_table(add(col)).await?;
        }
        manager
            .create_index(index(
                "idx_mirror_pages_site_space_portal",
                MirrorPages::Table,
                [
                    MirrorPages::SiteId,
                    MirrorPages::SpaceKey,
                    MirrorPages::PortalId,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_mirror_pages_site_portal_parent",
                MirrorPages::Table,
                [
                    MirrorPages::SiteId,
                    MirrorPages::PortalId,
                    MirrorPages::ParentContentId,
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MirrorAttachments::Table)
                    .col(big_pk_auto(MirrorAttachments::Id))
                    .col(big_integer(MirrorAttachments::MirrorPageId))
                    .col(string_len(MirrorAttachments::AttachmentId, 64))
                    .col(integer(MirrorAttachments::Version))
                    .col(text(MirrorAttachments::FileName))
                    .col(string_len(MirrorAttachments::TargetFileId, 64))
                    .col(text(MirrorAttachments::TargetUrl))
                    .col(text_null(MirrorAttachments::MarkdownEmbed))
                    .col(timestamp_with_time_zone_default_now(
                        MirrorAttachments::CreatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_mirror_attachments_mirror_page_id",
                        (MirrorAttachments::Table, MirrorAttachments::MirrorPageId),
                        (MirrorPages::Table, MirrorPages::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_mirror_attachments_page_attachment",
                MirrorAttachments::Table,
                [
                    MirrorAttachments::MirrorPageId,
                    MirrorAttachments::AttachmentId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MirrorAttachments::Table).take())
            .await?;
        for name in [
            "idx_mirror_pages_site_portal_parent",
            "idx_mirror_pages_site_space_portal",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(MirrorPages::Table)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            MirrorPages::RehomeChildren,
            MirrorPages::OldTargetId,
            MirrorPages::LeaseUntilUs,
            MirrorPages::LeaseHolder,
            MirrorPages::ExtraParts,
            MirrorPages::State,
            MirrorPages::TargetUrl,
            MirrorPages::ChildrenFolderId,
            MirrorPages::TargetParentId,
            MirrorPages::ParentContentId,
            MirrorPages::Title,
            MirrorPages::SpaceKey,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MirrorPages::Table)
                        .drop_column(col)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
