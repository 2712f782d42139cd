//! B24 portals the app is installed on: the row by `member_id` (the stable portal id), its
//! tokens sealed in `credentials`.

use crate::credentials::names;
use crate::entities::b24_portals::{ActiveModel, Column, Entity, Model, PortalStatus};
use crate::{CredentialStore, Db, DbError, OwnerKind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

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

    /// Creates or refreshes the portal row and stores its tokens, sealed. Returns the row id.
    pub async fn install(&self, install: &PortalInstall) -> Result<i64, DbError> {
        let now = Utc::now();
        let row = ActiveModel {
            member_id: Set(install.member_id.clone()),
            domain: Set(install.domain.clone()),
            client_endpoint: Set(install.client_endpoint.clone()),
            server_endpoint: Set(install.server_endpoint.clone()),
            status: Set(PortalStatus::Active),
            language: Set(install.language.clone()),
            installed_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::MemberId)
                    .update_columns([
                        Column::Domain,
                        Column::ClientEndpoint,
                        Column::ServerEndpoint,
                        Column::Status,
                        Column::Language,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        let id = self
            .find(&install.member_id)
            .await?
            .ok_or_else(|| DbError::Query("portal row vanished after upsert".into()))?
            .id;
        let creds = &self.credentials;
        creds
            .put(
                OwnerKind::Portal,
                id,
                names::APPLICATION_TOKEN,
                &install.application_token,
            )
            .await?;
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
        if let Some(token) = &install.refresh_token {
            creds
                .put(OwnerKind::Portal, id, names::REFRESH_TOKEN, token)
                .await?;
        }
        Ok(id)
    }

    /// The `application_token` stored for an active portal, which every event from it must
    /// carry. `None` for an unknown or uninstalled portal.
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
