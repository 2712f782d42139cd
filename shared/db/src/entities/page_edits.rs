//! A page edit waiting for the coalescing window to pass, then taken by one flush.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "page_edits")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub site_id: i64,
    pub content_id: i64,
    pub version: i32,
    pub actor: Option<String>,
    pub minor: bool,
    pub edited_at: DateTimeUtc,
    pub flush_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
