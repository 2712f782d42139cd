//! A Confluence attachment copied for a mirrored page: where it lives in B24 and from which
//! attachment version, so an unchanged file is not uploaded again.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mirror_attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub mirror_page_id: i64,
    pub attachment_id: String,
    pub version: i32,
    pub file_name: String,
    /// Disk file id (classic) or KB 2.0 file id.
    pub target_file_id: String,
    pub target_url: String,
    /// KB 2.0 asset markdown (`[[image fileId=…]]`) that embeds the file in a document.
    pub markdown_embed: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::mirror_pages::Entity",
        from = "Column::MirrorPageId",
        to = "super::mirror_pages::Column::Id",
        on_delete = "Cascade"
    )]
    MirrorPage,
}

impl Related<super::mirror_pages::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MirrorPage.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
