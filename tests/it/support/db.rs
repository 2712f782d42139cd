//! A fresh, private database for one test, on PostgreSQL or SQLite.
//!
//! PostgreSQL: a new database `bridge_test_<uuid>` on the server at
//! `BRIDGE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/`, trust auth),
//! created through the `postgres` maintenance database and dropped (best effort, even when
//! the test panics) when the [`TestDb`] is dropped. SQLite: a file in a new temp directory,
//! removed the same way.

use bridge_db::Db;
use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Sqlite,
}

pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    sqlite_dir: Option<PathBuf>,
}

/// The server URL without a database name, ending in `/`.
fn postgres_server() -> String {
    let mut url = std::env::var("BRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".to_owned());
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

impl TestDb {
    /// A new empty database (not migrated).
    pub async fn new(kind: Kind) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match kind {
            Kind::Postgres => {
                let server = postgres_server();
                let name = format!("bridge_test_{id}");
                let admin = Database::connect(format!("{server}postgres"))
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {server} is needed for this test: {e}")
                    });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Self {
                    url: format!("{server}{name}"),
                    pg_name: Some(name),
                    sqlite_dir: None,
                }
            }
            Kind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("bridge-test-{id}"));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("bridge.db").display());
                Self {
                    url,
                    pg_name: None,
                    sqlite_dir: Some(dir),
                }
            }
        }
    }

    pub async fn connect(&self) -> Db {
        bridge_db::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    /// Connected and migrated to the latest schema.
    pub async fn migrated(&self) -> Db {
        let db = self.connect().await;
        db.migrate_up().await.expect("migrate up");
        db
    }

    /// The SQLite database file and its WAL, for checks on the raw bytes on disk.
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        let Some(dir) = &self.sqlite_dir else {
            return Vec::new();
        };
        ["bridge.db", "bridge.db-wal"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            std::fs::remove_dir_all(dir).ok();
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs inside the test's runtime, which cannot be blocked on; a helper
            // thread with its own runtime does the async cleanup.
            let server = postgres_server();
            let cleanup = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(admin) = Database::connect(format!("{server}postgres")).await {
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await
                            .ok();
                        admin.close().await.ok();
                    }
                });
            });
            cleanup.join().ok();
        }
    }
}

/// Names of the tables in the database, without sea-orm's own bookkeeping table.
pub async fn table_names(db: &Db) -> Vec<String> {
    let conn = db.conn();
    let sql = match db.backend() {
        bridge_db::Backend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        }
        bridge_db::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
    };
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await
        .expect("list tables");
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("table name"))
        .filter(|n| n != "seaql_migrations")
        .collect();
    names.sort();
    names
}

/// Names of the indexes in the database (including unique ones).
pub async fn index_names(db: &Db) -> Vec<String> {
    let conn = db.conn();
    let sql = match db.backend() {
        bridge_db::Backend::Postgres => {
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'"
        }
        bridge_db::Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index'",
    };
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await
        .expect("list indexes");
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").expect("index name"))
        .collect()
}
