//! A bulk migration of one space (either direction); resumable through its items.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Direction {
    #[sea_orm(string_value = "to_b24")]
    ToB24,
    #[sea_orm(string_value = "to_confluence")]
    ToConfluence,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "migration_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub site_id: i64,
    pub space_key: String,
    pub portal_id: i64,
    pub direction: Direction,
    pub status: JobStatus,
    pub dry_run: bool,
    pub total_items: i32,
    pub done_items: i32,
    pub failed_items: i32,
    pub skipped_items: i32,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::migration_items::Entity")]
    Items,
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

impl Related<super::migration_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Items.def()
    }
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
