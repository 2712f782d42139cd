//! Per Confluence space and portal: which chat hears about new pages, and whether the space
//! is linked (default) or mirrored into a knowledge base.

use super::mirror_pages::KbKind;
use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum SyncMode {
    /// Only links and metadata live in B24.
    #[sea_orm(string_value = "link")]
    Link,
    /// Page content is copied into the B24 knowledge base and kept up to date.
    #[sea_orm(string_value = "mirror")]
    Mirror,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "space_chat_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub space_key: String,
    pub portal_id: i64,
    /// B24 chat for "new page" messages; none means no chat messages.
    pub chat_id: Option<String>,
    pub mode: SyncMode,
    /// Mirror mode: which knowledge base the articles go to.
    pub kb_kind: Option<KbKind>,
    pub kb_target_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
