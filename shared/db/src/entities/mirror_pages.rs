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

/// Whether the article is live (published / not archived) or follows a trashed page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum MirrorState {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "trashed")]
    Trashed,
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
    /// Empty until the article exists (the row is claimed before the article is created).
    pub target_page_id: String,
    pub mirrored_version: i32,
    pub mirrored_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub space_key: String,
    pub title: String,
    /// Confluence parent page as last mirrored; none for a top-level page.
    pub parent_content_id: Option<i64>,
    /// Classic: the folder holding the article; KB 2.0: the parent document.
    pub target_parent_id: Option<String>,
    /// Classic: the folder holding the page's children, once it has any.
    pub children_folder_id: Option<String>,
    pub target_url: Option<String>,
    pub state: MirrorState,
    /// KB 2.0: JSON array of the documents holding the parts past the first of a body over
    /// the 1 MiB limit.
    pub extra_parts: Option<String>,
    pub lease_holder: Option<String>,
    pub lease_until_us: i64,
    /// A KB 2.0 document this page's article replaced (move, restore), to archive once the
    /// children have been written under the new one.
    pub old_target_id: Option<String>,
    /// The children must be written again (their parent's place changed).
    pub rehome_children: bool,
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
    #[sea_orm(has_many = "super::mirror_attachments::Entity")]
    Attachments,
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

impl Related<super::mirror_attachments::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Attachments.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
