//! Links and page metadata: task ↔ page links (stored by content id), the page metadata
//! cache, B24 ↔ Confluence user mapping, and per-space rules (which chat, which sync mode).

use crate::m20261128_000001_installations::{B24Portals, ConfluenceSites};
use crate::names::{cascade, index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TaskLinks {
    Table,
    Id,
    PortalId,
    TaskId,
    SiteId,
    ContentId,
    /// The URL as the user pasted it.
    OriginalUrl,
    /// The page's current URL; follows renames and moves.
    CanonicalUrl,
    /// `current`, `trashed`, `deleted`, `no_access`, `broken`.
    Status,
    /// Page version the last "page updated" comment was posted for (one comment per
    /// task, page and version).
    CommentedVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PageCache {
    Table,
    Id,
    SiteId,
    ContentId,
    Title,
    SpaceKey,
    /// Display name of the last editor.
    Author,
    Version,
    /// `current`, `trashed`, `deleted`, `no_access`.
    Status,
    LastModified,
    FetchedAt,
    Excerpt,
}

#[derive(DeriveIden)]
enum UserMappings {
    Table,
    Id,
    PortalId,
    B24UserId,
    /// Cloud `accountId`.
    ConfluenceAccountId,
    /// Server/DC `userKey`.
    ConfluenceUserKey,
    Email,
    /// Set by an admin; automatic e-mail matching never overwrites it.
    ManualOverride,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SpaceChatRules {
    Table,
    Id,
    SiteId,
    SpaceKey,
    PortalId,
    /// B24 chat that hears about new pages in the space (none: no chat messages).
    ChatId,
    /// `link` or `mirror`.
    Mode,
    /// Mirror mode: `classic` (landing) or `kb2` (note.*), and where the articles go.
    KbKind,
    KbTargetId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaskLinks::Table)
                    .col(big_pk_auto(TaskLinks::Id))
                    .col(big_integer(TaskLinks::PortalId))
                    .col(big_integer(TaskLinks::TaskId))
                    .col(big_integer(TaskLinks::SiteId))
                    .col(big_integer(TaskLinks::ContentId))
                    .col(text(TaskLinks::OriginalUrl))
                    .col(text(TaskLinks::CanonicalUrl))
                    .col(string_len(TaskLinks::Status, 16).default("current"))
                    .col(integer_null(TaskLinks::CommentedVersion))
                    .col(timestamp_with_time_zone_default_now(TaskLinks::CreatedAt))
                    .col(timestamp_with_time_zone_default_now(TaskLinks::UpdatedAt))
                    .foreign_key(&mut cascade(
                        "fk_task_links_portal_id",
                        (TaskLinks::Table, TaskLinks::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_task_links_site_id",
                        (TaskLinks::Table, TaskLinks::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_task_links_portal_task_site_content",
                TaskLinks::Table,
                [
                    TaskLinks::PortalId,
                    TaskLinks::TaskId,
                    TaskLinks::SiteId,
                    TaskLinks::ContentId,
                ],
            ))
            .await?;
        // "Which tasks link this page?" — asked for every page event.
        manager
            .create_index(index(
                "idx_task_links_site_content",
                TaskLinks::Table,
                [TaskLinks::SiteId, TaskLinks::ContentId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PageCache::Table)
                    .col(big_pk_auto(PageCache::Id))
                    .col(big_integer(PageCache::SiteId))
                    .col(big_integer(PageCache::ContentId))
                    .col(text(PageCache::Title))
                    .col(string_len_null(PageCache::SpaceKey, 255))
                    .col(string_len_null(PageCache::Author, 255))
                    .col(integer(PageCache::Version))
                    .col(string_len(PageCache::Status, 16).default("current"))
                    .col(timestamp_with_time_zone_null(PageCache::LastModified))
                    .col(timestamp_with_time_zone_default_now(PageCache::FetchedAt))
                    .col(text_null(PageCache::Excerpt))
                    .foreign_key(&mut cascade(
                        "fk_page_cache_site_id",
                        (PageCache::Table, PageCache::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_page_cache_site_content",
                PageCache::Table,
                [PageCache::SiteId, PageCache::ContentId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserMappings::Table)
                    .col(big_pk_auto(UserMappings::Id))
                    .col(big_integer(UserMappings::PortalId))
                    .col(big_integer(UserMappings::B24UserId))
                    .col(string_len_null(UserMappings::ConfluenceAccountId, 128))
                    .col(string_len_null(UserMappings::ConfluenceUserKey, 128))
                    .col(string_len_null(UserMappings::Email, 320))
                    .col(boolean(UserMappings::ManualOverride).default(false))
                    .col(timestamp_with_time_zone_default_now(
                        UserMappings::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        UserMappings::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_user_mappings_portal_id",
                        (UserMappings::Table, UserMappings::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_user_mappings_portal_b24_user",
                UserMappings::Table,
                [UserMappings::PortalId, UserMappings::B24UserId],
            ))
            .await?;
        // Watchers arrive as Confluence accounts (Cloud) or user keys (DC), or by e-mail.
        manager
            .create_index(index(
                "idx_user_mappings_portal_account",
                UserMappings::Table,
                [UserMappings::PortalId, UserMappings::ConfluenceAccountId],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_user_mappings_portal_user_key",
                UserMappings::Table,
                [UserMappings::PortalId, UserMappings::ConfluenceUserKey],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_user_mappings_portal_email",
                UserMappings::Table,
                [UserMappings::PortalId, UserMappings::Email],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SpaceChatRules::Table)
                    .col(big_pk_auto(SpaceChatRules::Id))
                    .col(big_integer(SpaceChatRules::SiteId))
                    .col(string_len(SpaceChatRules::SpaceKey, 255))
                    .col(big_integer(SpaceChatRules::PortalId))
                    .col(string_len_null(SpaceChatRules::ChatId, 64))
                    .col(string_len(SpaceChatRules::Mode, 8).default("link"))
                    .col(string_len_null(SpaceChatRules::KbKind, 8))
                    .col(string_len_null(SpaceChatRules::KbTargetId, 64))
                    .col(timestamp_with_time_zone_default_now(
                        SpaceChatRules::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        SpaceChatRules::UpdatedAt,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_space_chat_rules_site_id",
                        (SpaceChatRules::Table, SpaceChatRules::SiteId),
                        (ConfluenceSites::Table, ConfluenceSites::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_space_chat_rules_portal_id",
                        (SpaceChatRules::Table, SpaceChatRules::PortalId),
                        (B24Portals::Table, B24Portals::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_space_chat_rules_site_space_portal",
                SpaceChatRules::Table,
                [
                    SpaceChatRules::SiteId,
                    SpaceChatRules::SpaceKey,
                    SpaceChatRules::PortalId,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_space_chat_rules_portal_id",
                SpaceChatRules::Table,
                [SpaceChatRules::PortalId],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SpaceChatRules::Table.into_iden(),
            UserMappings::Table.into_iden(),
            PageCache::Table.into_iden(),
            TaskLinks::Table.into_iden(),
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
