//! One row per comment the fan-out owes a task: written `pending` before the comment is
//! sent, `sent` after, or `refused` when B24 refused it for good (see
//! `crate::comment_ledger`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LedgerState {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "sent")]
    Sent,
    /// B24 refused the comment for good (task deleted, no access): never sent, not retried.
    #[sea_orm(string_value = "refused")]
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comment_ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub portal_id: i64,
    pub task_id: i64,
    pub site_id: i64,
    pub content_id: i64,
    pub version: i32,
    pub kind: String,
    pub state: LedgerState,
    pub claim: Option<String>,
    pub claimed_at: Option<DateTimeUtc>,
    pub attempts: i32,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub message_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Status comments (deleted, restored, moved): the webhook's time, epoch ms; 0 for edits.
    pub event_at: i64,
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
