//! Which knowledge-base article mirrors a page, and from which page version: the mirror
//! worker's idempotency record (one article per page and portal).

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum KbKind {
    /// Classic knowledge base (`landing.*` API, HTML).
    #[sea_orm(string_value = "classic")]
    Classic,
    /// Knowledge Base 2.0 (`note.*` API, Markdown).
    #[sea_orm(string_value = "kb2")]
    Kb2,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mirror_pages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub content_id: i64,
    pub portal_id: i64,
    pub kb_kind: KbKind,
    pub target_site_id: Option<String>,
    pub target_page_id: String,
    pub mirrored_version: i32,
    pub mirrored_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
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
    #[sea_orm(
        belongs_to = "super::b24_portals::Entity",
        from = "Column::PortalId",
        to = "super::b24_portals::Column::Id",
        on_delete = "Cascade"
    )]
    Portal,
}

impl Related<super::confluence_sites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl Related<super::b24_portals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Portal.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
