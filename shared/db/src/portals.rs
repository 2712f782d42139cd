//! B24 portals the app is installed on: the row by `member_id` (the stable portal id), its
//! tokens sealed in `credentials`.
//!
//! An `ONAPPINSTALL` is an unauthenticated form: whoever knows a `member_id` can send one.
//! So an install of a portal the bridge does not know (or knows uninstalled) is stored
//! [`Pending`](PortalStatus::Pending): its events are refused and nothing acts for it until
//! portal-setup has confirmed it with the OAuth server ([`PortalStore::confirm`]), which
//! also supplies the `client_endpoint` and domain actually used. A later install of a
//! pending portal replaces it, tokens and all (the confirmation decides which one was
//! genuine); an install of an active portal must carry its `application_token`.

use crate::credentials::names;
use crate::entities::b24_portals::{ActiveModel, Column, Entity, Model, PortalStatus};
use crate::{CredentialStore, Db, DbError, OwnerKind};
use bridge_core::config::Secret;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveEnum, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::fmt;

/// What an install (`ONAPPINSTALL` or the install page) tells about a portal.
#[derive(Clone, Debug)]
pub struct PortalInstall {
    pub member_id: String,
    pub domain: String,
    pub client_endpoint: String,
    pub server_endpoint: String,
    pub language: Option<String>,
    pub application_token: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// What [`PortalStore::install`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installed {
    /// A new, uninstalled or pending portal, stored pending confirmation (row id).
    Pending(i64),
    /// A re-install or update of an active portal with its `application_token`: its tokens
    /// were refreshed, its domain and `client_endpoint` kept (row id).
    Active(i64),
    /// Not stored: the portal is active and the install carried another
    /// `application_token`, or it was confirmed while this install was being stored.
    Refused,
}

/// A pending install as [`PortalStore::pending_install`] read it: what a confirmation
/// checks with the OAuth server and must still find when it activates the portal.
pub struct PendingInstall {
    pub portal: Model,
    pub application_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

impl fmt::Debug for PendingInstall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingInstall")
            .field("member_id", &self.portal.member_id)
            .field("updated_at", &self.portal.updated_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// What the OAuth server's answer to a refresh of the install's token says about the
/// portal: where it lives and the rotated tokens.
pub struct ConfirmedInstall {
    pub domain: String,
    pub client_endpoint: String,
    pub server_endpoint: Option<String>,
    pub access_token: String,
    pub refresh_token: String,
    pub access_expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for ConfirmedInstall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfirmedInstall")
            .field("domain", &self.domain)
            .field("client_endpoint", &self.client_endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct PortalStore {
    db: Db,
    credentials: CredentialStore,
}

impl PortalStore {
    pub fn new(db: Db, credentials: CredentialStore) -> Self {
        Self { db, credentials }
    }

    pub async fn find(&self, member_id: &str) -> Result<Option<Model>, DbError> {
        Ok(Entity::find()
            .filter(Column::MemberId.eq(member_id))
            .one(self.db.conn())
            .await?)
    }

    /// `member_id`s of every active portal (for reconcilers that visit each one).
    pub async fn active_member_ids(&self) -> Result<Vec<String>, DbError> {
        Ok(Entity::find()
            .filter(Column::Status.eq(PortalStatus::Active))
            .all(self.db.conn())
            .await?
            .into_iter()
            .map(|p| p.member_id)
            .collect())
    }

    /// Stores an install (`ONAPPINSTALL`/`ONAPPUPDATE`), its tokens sealed:
    ///
    /// - an **active** portal is updated only when the install carries its stored
    ///   `application_token` (the ingress checks that too); its tokens and language are
    ///   refreshed, its domain and `client_endpoint` kept — those change only through the
    ///   OAuth server's answers and followed redirects;
    /// - any other (unknown, uninstalled, pending) becomes **pending** with what the install
    ///   said, every credential of an earlier pending install replaced, until
    ///   [`confirm`](Self::confirm). The row is written before the credentials and only
    ///   while the portal is not active, so an install racing a confirmation either
    ///   invalidates it (the row changed) or is refused (the portal became active).
    pub async fn install(&self, install: &PortalInstall) -> Result<Installed, DbError> {
        let creds = &self.credentials;
        if let Some(existing) = self.find(&install.member_id).await?
            && existing.status == PortalStatus::Active
        {
            let stored = creds
                .get(OwnerKind::Portal, existing.id, names::APPLICATION_TOKEN)
                .await?;
            if stored.as_ref().map(Secret::expose) != Some(install.application_token.as_str()) {
                return Ok(Installed::Refused);
            }
            let updated = Entity::update_many()
                .col_expr(Column::Language, Expr::value(install.language.clone()))
                .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(Column::Id.eq(existing.id))
                .filter(Column::Status.eq(PortalStatus::Active))
                .exec(self.db.conn())
                .await?;
            if updated.rows_affected == 0 {
                return Ok(Installed::Refused);
            }
            self.put_tokens(existing.id, install).await?;
            return Ok(Installed::Active(existing.id));
        }
        let now = Utc::now();
        let row = ActiveModel {
            member_id: Set(install.member_id.clone()),
            domain: Set(install.domain.clone()),
            client_endpoint: Set(install.client_endpoint.clone()),
            server_endpoint: Set(install.server_endpoint.clone()),
            status: Set(PortalStatus::Pending),
            language: Set(install.language.clone()),
            installed_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let written = Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::MemberId)
                    .update_columns([
                        Column::Domain,
                        Column::ClientEndpoint,
                        Column::ServerEndpoint,
                        Column::Status,
                        Column::Language,
                        Column::InstalledAt,
                        Column::UpdatedAt,
                    ])
                    .action_and_where(
                        Expr::col((Entity, Column::Status)).ne(PortalStatus::Active.to_value()),
                    )
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        if written == 0 {
            return Ok(Installed::Refused);
        }
        let id = self
            .find(&install.member_id)
            .await?
            .ok_or_else(|| DbError::Query("portal row vanished after upsert".into()))?
            .id;
        // Nothing of an earlier install survives: its refresh token must not confirm this one.
        creds.delete_owner(OwnerKind::Portal, id).await?;
        creds
            .put(
                OwnerKind::Portal,
                id,
                names::APPLICATION_TOKEN,
                &install.application_token,
            )
            .await?;
        self.put_tokens(id, install).await?;
        Ok(Installed::Pending(id))
    }

    async fn put_tokens(&self, id: i64, install: &PortalInstall) -> Result<(), DbError> {
        let creds = &self.credentials;
        if let Some(token) = &install.refresh_token {
            creds
                .put(OwnerKind::Portal, id, names::REFRESH_TOKEN, token)
                .await?;
        }
        if let Some(token) = &install.access_token {
            creds
                .put_expiring(
                    OwnerKind::Portal,
                    id,
                    names::ACCESS_TOKEN,
                    token,
                    install.access_expires_at,
                )
                .await?;
        }
        Ok(())
    }

    /// The portal's install if it is pending confirmation, with the tokens it came with.
    pub async fn pending_install(
        &self,
        member_id: &str,
    ) -> Result<Option<PendingInstall>, DbError> {
        let Some(portal) = self
            .find(member_id)
            .await?
            .filter(|p| p.status == PortalStatus::Pending)
        else {
            return Ok(None);
        };
        let creds = &self.credentials;
        let application_token = creds
            .get(OwnerKind::Portal, portal.id, names::APPLICATION_TOKEN)
            .await?;
        let refresh_token = creds
            .get(OwnerKind::Portal, portal.id, names::REFRESH_TOKEN)
            .await?;
        Ok(Some(PendingInstall {
            portal,
            application_token,
            refresh_token,
        }))
    }

    /// Activates a pending install the OAuth server confirmed: domain and `client_endpoint`
    /// from its answer, the rotated tokens stored (refresh token first). Only if the install
    /// is still the one `seen` read; `false` when another install replaced it meanwhile (then
    /// nothing is activated, and if the replacement slipped in while this one was being
    /// activated, the portal goes back to pending with no credentials: it has to be
    /// installed again).
    pub async fn confirm(
        &self,
        seen: &PendingInstall,
        confirmed: &ConfirmedInstall,
    ) -> Result<bool, DbError> {
        let id = seen.portal.id;
        let now = Utc::now();
        let mut update = Entity::update_many()
            .col_expr(Column::Status, Expr::value(PortalStatus::Active.to_value()))
            .col_expr(Column::Domain, Expr::value(confirmed.domain.clone()))
            .col_expr(
                Column::ClientEndpoint,
                Expr::value(confirmed.client_endpoint.clone()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now));
        if let Some(server) = &confirmed.server_endpoint {
            update = update.col_expr(Column::ServerEndpoint, Expr::value(server.clone()));
        }
        let activated = update
            .filter(Column::Id.eq(id))
            .filter(Column::Status.eq(PortalStatus::Pending))
            .filter(Column::UpdatedAt.eq(seen.portal.updated_at))
            .exec(self.db.conn())
            .await?;
        if activated.rows_affected != 1 {
            return Ok(false);
        }
        let creds = &self.credentials;
        creds
            .put(
                OwnerKind::Portal,
                id,
                names::REFRESH_TOKEN,
                &confirmed.refresh_token,
            )
            .await?;
        creds
            .put_expiring(
                OwnerKind::Portal,
                id,
                names::ACCESS_TOKEN,
                &confirmed.access_token,
                confirmed.access_expires_at,
            )
            .await?;
        let token_now = creds
            .get(OwnerKind::Portal, id, names::APPLICATION_TOKEN)
            .await?;
        if token_now.as_ref().map(Secret::expose)
            != seen.application_token.as_ref().map(Secret::expose)
        {
            // Another install wrote its application_token between our read and the
            // activation: which one is genuine is unknown. Fail closed.
            Entity::update_many()
                .col_expr(
                    Column::Status,
                    Expr::value(PortalStatus::Pending.to_value()),
                )
                .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(Column::Id.eq(id))
                .exec(self.db.conn())
                .await?;
            creds.delete_owner(OwnerKind::Portal, id).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Stores a new domain and `client_endpoint` of an installed portal (after a followed
    /// redirect or an OAuth answer naming another endpoint). Status and tokens stay as they
    /// are.
    pub async fn set_endpoint(
        &self,
        member_id: &str,
        domain: &str,
        client_endpoint: &str,
    ) -> Result<(), DbError> {
        Entity::update_many()
            .col_expr(Column::Domain, Expr::value(domain.to_owned()))
            .col_expr(
                Column::ClientEndpoint,
                Expr::value(client_endpoint.to_owned()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::MemberId.eq(member_id))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// The `application_token` stored for an active portal, which every event from it must
    /// carry. `None` for an unknown, uninstalled or pending (unconfirmed) portal.
    pub async fn application_token(&self, member_id: &str) -> Result<Option<String>, DbError> {
        let Some(portal) = self.find(member_id).await? else {
            return Ok(None);
        };
        if portal.status != PortalStatus::Active {
            return Ok(None);
        }
        Ok(self
            .credentials
            .get(OwnerKind::Portal, portal.id, names::APPLICATION_TOKEN)
            .await?
            .map(|s| s.expose().to_owned()))
    }

    /// Marks the portal uninstalled and forgets its tokens.
    pub async fn uninstall(&self, member_id: &str) -> Result<(), DbError> {
        let Some(portal) = self.find(member_id).await? else {
            return Ok(());
        };
        let mut row: ActiveModel = portal.clone().into();
        row.status = Set(PortalStatus::Uninstalled);
        row.updated_at = Set(Utc::now());
        Entity::update(row).exec(self.db.conn()).await?;
        self.credentials
            .delete_owner(OwnerKind::Portal, portal.id)
            .await?;
        Ok(())
    }
}
