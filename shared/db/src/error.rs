//! The one error type of this crate. Messages name tables, credentials and migrations, never
//! secret values or query parameters (DESIGN §5).

use bridge_core::ErrorClass;
use bridge_core::crypto::CryptoError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("BRIDGE_DATABASE_URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The connection was lost or the pool had nothing to hand out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database query failed: {0}")]
    Query(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A stored credential could not be opened (wrong or missing key, tampering).
    #[error("credential {owner_kind}/{owner_id}/{name}: {source}")]
    Credential {
        owner_kind: String,
        owner_id: i64,
        name: String,
        #[source]
        source: CryptoError,
    },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl DbError {
    /// How a worker should treat this failure: database trouble is worth retrying, a
    /// credential that does not decrypt or bad input is not.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Connect(_) | Self::Unavailable(_) | Self::Query(_) | Self::Migration(_) => {
                ErrorClass::Retryable
            }
            Self::UnsupportedUrl
            | Self::Invalid { .. }
            | Self::Credential { .. }
            | Self::Crypto(_) => ErrorClass::Permanent,
        }
    }
}

impl From<DbErr> for DbError {
    fn from(e: DbErr) -> Self {
        match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(e.to_string()),
            other => Self::Query(other.to_string()),
        }
    }
}
