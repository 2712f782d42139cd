//! Credentials at rest: every token, API key, PAT and shared secret the bridge stores is
//! sealed with the [`Keyring`] before it reaches the database (DESIGN §5), and bound to its
//! row (owner kind, owner id, name) through the cipher's associated data, so a ciphertext
//! copied into another row does not decrypt.

use crate::entities::credentials::{self, ActiveModel, Column, Entity};
use crate::{Db, DbError};
use bridge_core::config::Secret;
use bridge_core::crypto::{Keyring, SealedValue};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::fmt;
use std::sync::Arc;

/// Well-known credential names, so writers and readers agree.
pub mod names {
    /// OAuth access token (B24 portal, Confluence Cloud 3LO).
    pub const ACCESS_TOKEN: &str = "access_token";
    /// OAuth refresh token.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// B24 `application_token`: proves that an event comes from the portal.
    pub const APPLICATION_TOKEN: &str = "application_token";
    /// Confluence Cloud API token (Basic `email:token`).
    pub const API_TOKEN: &str = "api_token";
    /// Confluence Server/DC personal access token.
    pub const PAT: &str = "pat";
    /// Shared secret that signs inbound webhooks.
    pub const WEBHOOK_SECRET: &str = "webhook_secret";
}

/// What a credential belongs to: the table `owner_id` points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    /// A row of `b24_portals`.
    Portal,
    /// A row of `confluence_sites`.
    Site,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Site => "site",
        }
    }
}

impl fmt::Display for OwnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest credential name the schema holds.
const MAX_NAME_LEN: usize = 64;

/// Associated data binding a sealed value to its row. Length-prefixed, so no two
/// different rows produce the same bytes.
fn aad(owner_kind: &str, owner_id: i64, name: &str) -> Vec<u8> {
    format!(
        "bridge-credential/v1\n{}:{owner_kind}\n{owner_id}\n{}:{name}",
        owner_kind.len(),
        name.len()
    )
    .into_bytes()
}

/// Encrypting store of credentials over a [`Db`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    db: Db,
    keyring: Arc<Keyring>,
}

impl CredentialStore {
    pub fn new(db: Db, keyring: Arc<Keyring>) -> Self {
        Self { db, keyring }
    }

    /// Stores (or replaces) a secret that does not expire.
    pub async fn put(
        &self,
        owner_kind: OwnerKind,
        owner_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<(), DbError> {
        self.put_expiring(owner_kind, owner_id, name, secret, None)
            .await
    }

    /// Stores (or replaces) a secret, with when it stops working if known (OAuth access
    /// tokens), so callers can refresh ahead of time.
    pub async fn put_expiring(
        &self,
        owner_kind: OwnerKind,
        owner_id: i64,
        name: &str,
        secret: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        check_name(name)?;
        let kind = owner_kind.as_str();
        let sealed = self
            .keyring
            .encrypt(secret.as_bytes(), &aad(kind, owner_id, name))?;
        let now = Utc::now();
        let row = ActiveModel {
            owner_kind: Set(kind.to_owned()),
            owner_id: Set(owner_id),
            name: Set(name.to_owned()),
            key_id: Set(sealed.key_id),
            ciphertext: Set(sealed.data),
            expires_at: Set(expires_at),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        Entity::insert(row)
            .on_conflict(
                OnConflict::columns([Column::OwnerKind, Column::OwnerId, Column::Name])
                    .update_columns([
                        Column::KeyId,
                        Column::Ciphertext,
                        Column::ExpiresAt,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(())
    }

    /// The secret, if one is stored. Fails if it was sealed with a key that is no longer
    /// configured, or if the stored bytes were altered or moved from another row.
    pub async fn get(
        &self,
        owner_kind: OwnerKind,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<Secret>, DbError> {
        Ok(self
            .get_with_expiry(owner_kind, owner_id, name)
            .await?
            .map(|(secret, _)| secret))
    }

    /// Same as [`get`](Self::get), with the expiry given when it was stored.
    pub async fn get_with_expiry(
        &self,
        owner_kind: OwnerKind,
        owner_id: i64,
        name: &str,
    ) -> Result<Option<(Secret, Option<DateTime<Utc>>)>, DbError> {
        let row = Entity::find()
            .filter(Column::OwnerKind.eq(owner_kind.as_str()))
            .filter(Column::OwnerId.eq(owner_id))
            .filter(Column::Name.eq(name))
            .one(self.db.conn())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let plaintext = self.open(&row)?;
        Ok(Some((plaintext, row.expires_at)))
    }

    /// Removes one secret; `true` if it existed.
    pub async fn delete(
        &self,
        owner_kind: OwnerKind,
        owner_id: i64,
        name: &str,
    ) -> Result<bool, DbError> {
        let res = Entity::delete_many()
            .filter(Column::OwnerKind.eq(owner_kind.as_str()))
            .filter(Column::OwnerId.eq(owner_id))
            .filter(Column::Name.eq(name))
            .exec(self.db.conn())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Removes every secret of an owner (portal uninstalled, site removed). Credentials
    /// have no foreign key (the owner is polymorphic), so this is the owner's cascade.
    pub async fn delete_owner(&self, owner_kind: OwnerKind, owner_id: i64) -> Result<u64, DbError> {
        let res = Entity::delete_many()
            .filter(Column::OwnerKind.eq(owner_kind.as_str()))
            .filter(Column::OwnerId.eq(owner_id))
            .exec(self.db.conn())
            .await?;
        Ok(res.rows_affected)
    }

    /// Re-encrypts with the current key every value sealed with another (retired) key;
    /// returns how many were re-encrypted. Run after moving the old key to
    /// `BRIDGE_SECRET_KEYS_RETIRED`; once it returns, the old key can be dropped.
    ///
    /// Safe to run while the bridge is live: a row rewritten by a concurrent `put` in the
    /// meantime is left alone (it is already under the current key). Stops with an error at
    /// a value whose key is not configured; rows re-encrypted before it stay re-encrypted,
    /// so running it again after fixing the configuration finishes the job.
    pub async fn rotate_all(&self) -> Result<usize, DbError> {
        const BATCH: u64 = 100;
        let current = self.keyring.current_key_id().to_owned();
        let mut rotated = 0;
        let mut after_id = i64::MIN;
        loop {
            let rows = Entity::find()
                .filter(Column::KeyId.ne(current.as_str()))
                .filter(Column::Id.gt(after_id))
                .order_by_asc(Column::Id)
                .limit(BATCH)
                .all(self.db.conn())
                .await?;
            let Some(last) = rows.last() else { break };
            after_id = last.id;
            for row in rows {
                let plaintext = self.open(&row)?;
                let sealed = self.keyring.encrypt(
                    plaintext.expose().as_bytes(),
                    &aad(&row.owner_kind, row.owner_id, &row.name),
                )?;
                let res = Entity::update_many()
                    .col_expr(Column::KeyId, sealed.key_id.into())
                    .col_expr(Column::Ciphertext, sealed.data.into())
                    .col_expr(Column::UpdatedAt, Utc::now().into())
                    .filter(Column::Id.eq(row.id))
                    .filter(Column::KeyId.eq(row.key_id.as_str()))
                    .exec(self.db.conn())
                    .await?;
                rotated += usize::try_from(res.rows_affected).unwrap_or(0);
            }
        }
        Ok(rotated)
    }

    fn open(&self, row: &credentials::Model) -> Result<Secret, DbError> {
        let fail = |source| DbError::Credential {
            owner_kind: row.owner_kind.clone(),
            owner_id: row.owner_id,
            name: row.name.clone(),
            source,
        };
        let sealed = SealedValue {
            key_id: row.key_id.clone(),
            data: row.ciphertext.clone(),
        };
        let bytes = self
            .keyring
            .decrypt(&sealed, &aad(&row.owner_kind, row.owner_id, &row.name))
            .map_err(fail)?;
        // Only valid UTF-8 is ever sealed (`put` takes &str), so anything else was forged.
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| fail(bridge_core::crypto::CryptoError::Tampered))
    }
}

fn check_name(name: &str) -> Result<(), DbError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(DbError::Invalid {
            what: "credential name",
            reason: format!("must be 1 to {MAX_NAME_LEN} bytes long"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_is_unambiguous() {
        assert_ne!(aad("portal", 1, "a:b"), aad("portal", 1, "a"));
        assert_ne!(aad("portal", 12, "x"), aad("portal", 1, "2x"));
        assert_ne!(aad("portal", 1, "x"), aad("site", 1, "x"));
    }
}
