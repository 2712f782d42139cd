//! The bridge's database schema (DESIGN §3 "Database"), as sea-orm migrations that run on
//! PostgreSQL (production) and SQLite (the embedded default).
//!
//! Rules every migration here follows:
//!
//! - schema built with sea-query only (no raw SQL), so one definition serves both backends;
//! - every index, unique index and foreign key has an explicit name (`idx_`, `uq_` or `fk_`,
//!   then table and columns), so later migrations and error messages can refer to them.
//!   SQLite keeps no foreign-key names (sea-query's SQLite writer leaves them out); primary
//!   keys keep the server's default name (`<table>_pkey` on PostgreSQL);
//! - uniqueness is expressed as unique *indexes*, which `INSERT … ON CONFLICT` can target on
//!   both backends;
//! - timestamps are `timestamp with time zone` (text in SQLite), read as UTC;
//! - Confluence content ids and B24 ids are 64-bit (Cloud ids exceed 2^32);
//! - no table has a column for a secret: tokens and shared secrets live encrypted in
//!   `credentials`;
//! - every migration has a `down`, and runs inside a transaction on both backends, so a
//!   failed step leaves no half-built schema behind.
//!
//! The ops CLI (`bridgectl migrate`) and `bridge-db` call [`Migrator`]; `src/main.rs` is the
//! stock sea-orm migration CLI for development.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_installations;
mod m20261128_000002_links_and_pages;
mod m20261128_000003_mirror_and_migration;
mod m20261128_000004_processed_events;
mod m20261128_000005_rate_limits;
mod m20261128_000006_fanout;
mod m20261128_000007_link_ownership;
mod m20261128_000008_mirror_state;
mod names;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_installations::Migration),
            Box::new(m20261128_000002_links_and_pages::Migration),
            Box::new(m20261128_000003_mirror_and_migration::Migration),
            Box::new(m20261128_000004_processed_events::Migration),
            Box::new(m20261128_000005_rate_limits::Migration),
            Box::new(m20261128_000006_fanout::Migration),
            Box::new(m20261128_000007_link_ownership::Migration),
            Box::new(m20261128_000008_mirror_state::Migration),
        ]
    }
}

/// Every table the migrations create, in creation order; tests check these exist after
/// `up` and are gone after `down`.
pub const TABLES: &[&str] = &[
    "b24_portals",
    "confluence_sites",
    "credentials",
    "task_links",
    "page_cache",
    "user_mappings",
    "space_chat_rules",
    "mirror_pages",
    "migration_jobs",
    "migration_items",
    "processed_events",
    "rate_limits",
    "comment_ledger",
    "page_edits",
    "portal_settings",
    "task_sync_state",
    "mirror_attachments",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_uniquely_named() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(names.iter().all(|n| n.starts_with("m2026")), "{names:?}");
    }
}
