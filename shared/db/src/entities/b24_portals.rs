//! A Bitrix24 portal the app is installed on. Its tokens (`access_token`, `refresh_token`,
//! `application_token`) live encrypted in `credentials` (owner kind `portal`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PortalStatus {
    /// Confirmed with the OAuth server: its events are accepted and jobs act for it.
    #[sea_orm(string_value = "active")]
    Active,
    /// An `ONAPPINSTALL` for a portal the bridge did not know (or one uninstalled), not yet
    /// confirmed: nothing acts for it and its events are refused until portal-setup has
    /// confirmed the install with the OAuth server (`PortalStore::confirm`).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The app was removed (`ONAPPUNINSTALL`); rows are kept until an admin purges them.
    #[sea_orm(string_value = "uninstalled")]
    Uninstalled,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "b24_portals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub member_id: String,
    pub domain: String,
    pub client_endpoint: String,
    pub server_endpoint: String,
    pub status: PortalStatus,
    pub language: Option<String>,
    pub installed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
