//! Per-portal fan-out settings: which comment API, which language.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_settings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub portal_id: i64,
    pub comment_api: Option<String>,
    pub comment_language: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
