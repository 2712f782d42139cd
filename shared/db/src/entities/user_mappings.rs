//! Which Confluence user a B24 user is, for watcher notifications. Filled by e-mail
//! matching; an admin's manual choice (`manual_override`) is never overwritten by it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_mappings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub portal_id: i64,
    pub b24_user_id: i64,
    /// Cloud `accountId`.
    pub confluence_account_id: Option<String>,
    /// Server/DC `userKey`.
    pub confluence_user_key: Option<String>,
    pub email: Option<String>,
    pub manual_override: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
}

impl Related<super::b24_portals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Portal.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
