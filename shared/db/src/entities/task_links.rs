//! A Confluence page linked from a B24 task, stored by content id so it survives renames
//! and moves.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LinkStatus {
    #[sea_orm(string_value = "current")]
    Current,
    #[sea_orm(string_value = "trashed")]
    Trashed,
    #[sea_orm(string_value = "deleted")]
    Deleted,
    /// The bridge's Confluence account cannot see the page.
    #[sea_orm(string_value = "no_access")]
    NoAccess,
    /// The URL does not resolve to a page at all.
    #[sea_orm(string_value = "broken")]
    Broken,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub portal_id: i64,
    pub task_id: i64,
    pub site_id: i64,
    pub content_id: i64,
    #[sea_orm(column_type = "Text")]
    pub original_url: String,
    #[sea_orm(column_type = "Text")]
    pub canonical_url: String,
    pub status: LinkStatus,
    /// Page version the last "page updated" comment was posted for: the floor below which
    /// no version is announced again (kept when old ledger rows are pruned).
    pub commented_version: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The task's chat (new task card), where chat-mode comments go.
    pub chat_id: Option<i64>,
    /// The URL link-sync last wrote to (or found canonical in) the task's field for this
    /// link; none when the link is only in the description.
    #[sea_orm(column_type = "Text", nullable)]
    pub field_url: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::b24_portals::Entity",
        from = "Column::PortalId",
        to = "super::b24_portals::Column::Id",
        on_delete = "Cascade"
    )]
    Portal,
    #[sea_orm(
        belongs_to = "super::confluence_sites::Entity",
        from = "Column::SiteId",
        to = "super::confluence_sites::Column::Id",
        on_delete = "Cascade"
    )]
    Site,
}

impl Related<super::b24_portals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Portal.def()
    }
}

impl Related<super::confluence_sites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
