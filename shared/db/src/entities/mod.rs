//! One sea-orm entity per table of the `bridge-migration` schema, written by hand in the
//! sea-orm entity format. Column names, types and nullability must match the migrations;
//! the integration tests round-trip every entity on PostgreSQL and SQLite to keep it so.
//!
//! Status-like columns are stored as short strings (portable across backends, readable in
//! `psql`) and typed here as `DeriveActiveEnum` enums.

pub mod b24_portals;
pub mod comment_ledger;
pub mod confluence_sites;
pub mod credentials;
pub mod migration_items;
pub mod migration_jobs;
pub mod mirror_attachments;
pub mod mirror_pages;
pub mod page_cache;
pub mod page_edits;
pub mod portal_settings;
pub mod processed_events;
pub mod rate_limits;
pub mod space_chat_rules;
pub mod task_links;
pub mod user_mappings;
