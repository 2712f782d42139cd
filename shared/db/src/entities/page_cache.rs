//! Cached metadata of a Confluence page, shown in the task tab without a live fetch.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PageStatus {
    #[sea_orm(string_value = "current")]
    Current,
    #[sea_orm(string_value = "trashed")]
    Trashed,
    #[sea_orm(string_value = "deleted")]
    Deleted,
    #[sea_orm(string_value = "no_access")]
    NoAccess,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "page_cache")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub content_id: i64,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub space_key: Option<String>,
    /// Display name of the last editor.
    pub author: Option<String>,
    pub version: i32,
    pub status: PageStatus,
    pub last_modified: Option<DateTimeUtc>,
    pub fetched_at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub excerpt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::confluence_sites::Entity",
        from = "Column::SiteId",
        to = "super::confluence_sites::Column::Id",
        on_delete = "Cascade"
    )]
    Site,
}

impl Related<super::confluence_sites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
