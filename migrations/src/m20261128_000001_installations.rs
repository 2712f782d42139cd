//! Installations: the B24 portals the app is installed on, the Confluence sites the bridge
//! reads, and the encrypted credentials of both.

use crate::names::{index, unique};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum B24Portals {
    #[sea_orm(iden = "b24_portals")]
    Table,
    Id,
    /// B24's stable portal id (`member_id` in every event and install request).
    MemberId,
    Domain,
    /// `client_endpoint`: the portal's REST base, e.g. `https://x.bitrix24.com/rest/`.
    ClientEndpoint,
    /// `server_endpoint`: the OAuth server's REST base.
    ServerEndpoint,
    /// `active`, `uninstalled`.
    Status,
    Language,
    InstalledAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum ConfluenceSites {
    Table,
    Id,
    BaseUrl,
    /// `cloud`, `datacenter`.
    Flavor,
    /// `basic`, `oauth`, `pat`.
    AuthKind,
    /// Atlassian cloud id, needed for OAuth 3LO calls through `api.atlassian.com`.
    CloudId,
    /// Last-modified time up to which the reconciliation sweep has produced events.
    SweepHighWater,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    /// `portal`, `site`, …: which table `owner_id` points into (no FK: polymorphic).
    OwnerKind,
    OwnerId,
    /// `access_token`, `refresh_token`, `application_token`, `api_token`, `pat`, …
    Name,
    /// Id of the key that sealed `ciphertext` (key rotation).
    KeyId,
    /// `nonce || AES-256-GCM ciphertext || tag`; the associated data names the row.
    Ciphertext,
    /// When the secret stops working (OAuth access tokens), if known.
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(B24Portals::Table)
                    .col(big_pk_auto(B24Portals::Id))
                    .col(string_len(B24Portals::MemberId, 64))
                    .col(string_len(B24Portals::Domain, 255))
                    .col(string_len(B24Portals::ClientEndpoint, 512))
                    .col(string_len(B24Portals::ServerEndpoint, 512))
                    .col(string_len(B24Portals::Status, 16).default("active"))
                    .col(string_len_null(B24Portals::Language, 8))
                    .col(timestamp_with_time_zone_default_now(
                        B24Portals::InstalledAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(B24Portals::UpdatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_b24_portals_member_id",
                B24Portals::Table,
                [B24Portals::MemberId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConfluenceSites::Table)
                    .col(big_pk_auto(ConfluenceSites::Id))
                    .col(string_len(ConfluenceSites::BaseUrl, 512))
                    .col(string_len(ConfluenceSites::Flavor, 16))
                    .col(string_len(ConfluenceSites::AuthKind, 16))
                    .col(string_len_null(ConfluenceSites::CloudId, 64))
                    .col(timestamp_with_time_zone_null(
                        ConfluenceSites::SweepHighWater,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        ConfluenceSites::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        ConfluenceSites::UpdatedAt,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_confluence_sites_base_url",
                ConfluenceSites::Table,
                [ConfluenceSites::BaseUrl],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .col(big_pk_auto(Credentials::Id))
                    .col(string_len(Credentials::OwnerKind, 16))
                    .col(big_integer(Credentials::OwnerId))
                    .col(string_len(Credentials::Name, 64))
                    .col(string_len(Credentials::KeyId, 32))
                    .col(blob(Credentials::Ciphertext))
                    .col(timestamp_with_time_zone_null(Credentials::ExpiresAt))
                    .col(timestamp_with_time_zone_default_now(Credentials::CreatedAt))
                    .col(timestamp_with_time_zone_default_now(Credentials::UpdatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(unique(
                "uq_credentials_owner_name",
                Credentials::Table,
                [
                    Credentials::OwnerKind,
                    Credentials::OwnerId,
                    Credentials::Name,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_credentials_key_id",
                Credentials::Table,
                [Credentials::KeyId],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Credentials::Table.into_iden(),
            ConfluenceSites::Table.into_iden(),
            B24Portals::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
