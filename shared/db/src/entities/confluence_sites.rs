//! A Confluence site the bridge reads. Its credentials (API token, PAT, OAuth tokens,
//! webhook secret) live encrypted in `credentials` (owner kind `site`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Flavor {
    #[sea_orm(string_value = "cloud")]
    Cloud,
    #[sea_orm(string_value = "datacenter")]
    DataCenter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AuthKind {
    /// Cloud `email:api_token`, or DC user and password.
    #[sea_orm(string_value = "basic")]
    Basic,
    /// Cloud OAuth 2.0 (3LO) with rotating refresh tokens.
    #[sea_orm(string_value = "oauth")]
    OAuth,
    /// DC personal access token (Bearer).
    #[sea_orm(string_value = "pat")]
    Pat,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "confluence_sites")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub base_url: String,
    pub flavor: Flavor,
    pub auth_kind: AuthKind,
    pub cloud_id: Option<String>,
    /// Last-modified time up to which the reconciliation sweep has produced events.
    pub sweep_high_water: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
