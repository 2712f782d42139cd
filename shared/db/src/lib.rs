//! The bridge's database: connection, schema migrations, entities and the stores built on
//! them. This is the only crate (besides `bridge-migration`) that knows sea-orm; everything
//! else talks to the database through [`Db`] and the stores, so the ORM can change without
//! touching workers or ingress.
//!
//! PostgreSQL in production, SQLite as the embedded default (DESIGN §3); the same schema
//! and queries serve both.

pub mod comment_ledger;
pub mod credentials;
pub mod entities;
mod error;
pub mod links;
pub mod mirror;
pub mod portals;
pub mod processed_events;
pub mod rate_limits;
pub mod sites;

pub use comment_ledger::{CommentLedger, LedgerKey, PendingEdit};
pub use credentials::{CredentialStore, OwnerKind};
pub use error::DbError;
pub use links::{LinkStore, NewLink, PageMeta};
pub use mirror::{ArticleUpdate, CopiedAttachment, MirrorStore, SpaceMode};
pub use portals::{PortalInstall, PortalStore};
pub use processed_events::ProcessedEvents;
pub use rate_limits::RateLimits;
pub use sites::SiteStore;

use bridge_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::time::Duration;

/// Which database server a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// One migration and whether it has been applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// A pooled database connection. Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    backend: Backend,
}

/// Connects to `url` (`postgres://…`, `postgresql://…` or `sqlite:…`). Does not migrate.
///
/// SQLite files are opened in WAL mode (readers do not block the writer, so ingress and
/// workers can share one file) with foreign keys enforced.
pub async fn connect(url: &str) -> Result<Db, DbError> {
    let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        return Err(DbError::UnsupportedUrl);
    };
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // Statement logging would put query parameters, which include ciphertext and
        // event keys, into debug logs; tracing spans around the stores say enough.
        .sqlx_logging(false);
    if backend == Backend::Sqlite {
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    let conn = Database::connect(options)
        .await
        .map_err(|e| DbError::Connect(e.to_string()))?;
    Ok(Db { conn, backend })
}

impl Db {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm connection, for the stores in this crate and for tests that inspect raw
    /// rows. Other crates use the stores.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), DbError> {
        Migrator::up(&self.conn, None)
            .await
            .map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Rolls back the last `steps` applied migrations, or all of them with `None`.
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), DbError> {
        Migrator::down(&self.conn, steps)
            .await
            .map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Every known migration, oldest first, with whether it has been applied. Read-only:
    /// works on a database that was never migrated.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, DbError> {
        let migrations = Migrator::get_migration_with_status_read_only(&self.conn)
            .await
            .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(migrations
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == bridge_migration::MigrationStatus::Applied,
            })
            .collect())
    }

    /// The database server's clock in epoch microseconds, as SQL (leases use the database
    /// clock so that workers on machines with skewed clocks agree).
    pub(crate) fn now_us_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        }
    }

    /// Runs `sql` written with `?` placeholders (numbered for PostgreSQL); rows affected.
    pub(crate) async fn exec_raw(
        &self,
        sql: &str,
        values: Vec<sea_orm::Value>,
    ) -> Result<u64, DbError> {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = match self.backend {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut n = 0;
                for ch in sql.chars() {
                    if ch == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
        };
        Ok(self
            .conn
            .execute_raw(Statement::from_sql_and_values(
                self.conn.get_database_backend(),
                sql,
                values,
            ))
            .await?
            .rows_affected())
    }

    /// Whether the database answers (readiness probes).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.conn
            .ping()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(self) -> Result<(), DbError> {
        self.conn
            .close()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }
}
