//! Confluence sites: the row by base URL, with the Connect install (client key and shared
//! secret, sealed in `credentials`).

use crate::entities::confluence_sites::{ActiveModel, AuthKind, Column, Entity, Flavor, Model};
use crate::{CredentialStore, Db, DbError, OwnerKind};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};

/// Credential names of a Connect install.
pub mod connect {
    /// `clientKey` of the install (the JWT `iss`); not secret, but it travels with the secret.
    pub const CLIENT_KEY: &str = "connect_client_key";
    /// `sharedSecret` that signs the install's JWTs.
    pub const SHARED_SECRET: &str = "connect_shared_secret";
}

#[derive(Clone, Debug)]
pub struct SiteStore {
    db: Db,
    credentials: CredentialStore,
}

impl SiteStore {
    pub fn new(db: Db, credentials: CredentialStore) -> Self {
        Self { db, credentials }
    }

    pub async fn find(&self, base_url: &str) -> Result<Option<Model>, DbError> {
        Ok(Entity::find()
            .filter(Column::BaseUrl.eq(base_url))
            .one(self.db.conn())
            .await?)
    }

    /// The site row for `base_url`, created if missing. Returns its id.
    pub async fn ensure(
        &self,
        base_url: &str,
        flavor: Flavor,
        auth_kind: AuthKind,
    ) -> Result<i64, DbError> {
        let now = Utc::now();
        let row = ActiveModel {
            base_url: Set(base_url.to_owned()),
            flavor: Set(flavor),
            auth_kind: Set(auth_kind),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        Entity::insert(row)
            .on_conflict(OnConflict::column(Column::BaseUrl).do_nothing().to_owned())
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(self
            .find(base_url)
            .await?
            .ok_or_else(|| DbError::Query("site row vanished after insert".into()))?
            .id)
    }

    /// Last-modified time up to which the Confluence sweep has published every change of
    /// the site, if it ever ran.
    pub async fn sweep_high_water(&self, site_id: i64) -> Result<Option<DateTime<Utc>>, DbError> {
        Ok(Entity::find_by_id(site_id)
            .one(self.db.conn())
            .await?
            .and_then(|m| m.sweep_high_water))
    }

    /// Moves the sweep high-water mark forward to `at` (never back: with two sweepers the
    /// later mark wins). Returns whether it moved.
    pub async fn advance_sweep_high_water(
        &self,
        site_id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let res = Entity::update_many()
            .col_expr(Column::SweepHighWater, Expr::value(at))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(Column::Id.eq(site_id))
            .filter(
                Condition::any()
                    .add(Column::SweepHighWater.is_null())
                    .add(Column::SweepHighWater.lt(at)),
            )
            .exec(self.db.conn())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Stores the Connect install of a site (replacing an earlier one).
    pub async fn put_connect_install(
        &self,
        site_id: i64,
        client_key: &str,
        shared_secret: &str,
    ) -> Result<(), DbError> {
        self.credentials
            .put(OwnerKind::Site, site_id, connect::CLIENT_KEY, client_key)
            .await?;
        self.credentials
            .put(
                OwnerKind::Site,
                site_id,
                connect::SHARED_SECRET,
                shared_secret,
            )
            .await
    }

    /// `(client key, shared secret)` of the site's Connect install, if any.
    pub async fn connect_install(&self, site_id: i64) -> Result<Option<(String, String)>, DbError> {
        let key = self
            .credentials
            .get(OwnerKind::Site, site_id, connect::CLIENT_KEY)
            .await?;
        let secret = self
            .credentials
            .get(OwnerKind::Site, site_id, connect::SHARED_SECRET)
            .await?;
        Ok(key
            .zip(secret)
            .map(|(k, s)| (k.expose().to_owned(), s.expose().to_owned())))
    }

    /// Forgets the Connect install (`uninstalled` lifecycle callback).
    pub async fn remove_connect_install(&self, site_id: i64) -> Result<(), DbError> {
        for name in [connect::CLIENT_KEY, connect::SHARED_SECRET] {
            self.credentials
                .delete(OwnerKind::Site, site_id, name)
                .await?;
        }
        Ok(())
    }
}
