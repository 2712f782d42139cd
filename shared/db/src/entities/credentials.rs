//! One encrypted secret. Read and written only through [`crate::CredentialStore`], which
//! seals `ciphertext` with the keyring and binds it to (owner kind, owner id, name).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_kind: String,
    pub owner_id: i64,
    pub name: String,
    pub key_id: String,
    #[sea_orm(column_type = "Blob")]
    pub ciphertext: Vec<u8>,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
