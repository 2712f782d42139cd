//! Task ↔ page links (by content id) and the page metadata cache: what the link-sync worker
//! writes and the fan-out worker reads, and the per-task lease and ordering token that
//! serialise link-syncs of one task (`task_sync_state`).

use crate::entities::b24_portals;
use crate::entities::page_cache::{self, PageStatus};
use crate::entities::task_links::{self, LinkStatus};
use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait, Value,
};
use std::collections::HashMap;
use std::time::Duration;

/// One link of a task as link-sync resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub content_id: u64,
    /// As the user pasted it.
    pub original_url: String,
    /// The page's web URL now (or the pasted URL when the page could not be read).
    pub canonical_url: String,
    pub status: LinkStatus,
}

/// Page metadata to cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageMeta {
    pub content_id: u64,
    pub title: String,
    pub space_key: Option<String>,
    pub author: Option<String>,
    pub version: u32,
    pub status: PageStatus,
    pub last_modified: Option<DateTime<Utc>>,
}

/// What [`LinkStore::sync_task`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Links stored or refreshed.
    pub kept: usize,
    /// Links removed because the task no longer has them.
    pub removed: u64,
}

#[derive(Clone, Debug)]
pub struct LinkStore {
    db: Db,
}

fn id64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl LinkStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Makes the task's stored links on `site_id` exactly `links` (upserted by content id;
    /// any other link of the task on that site is removed). No link is recorded as being in
    /// the task's field (see [`sync_task_with_fields`](Self::sync_task_with_fields)).
    pub async fn sync_task(
        &self,
        portal_id: i64,
        task_id: u64,
        site_id: i64,
        chat_id: Option<i64>,
        links: &[NewLink],
    ) -> Result<SyncOutcome, DbError> {
        self.sync_task_with_fields(portal_id, task_id, site_id, chat_id, links, &HashMap::new())
            .await
    }

    /// As [`sync_task`](Self::sync_task), recording for each content id in `field_urls` the
    /// URL the task's `UF_CONFLUENCE_URL` now holds for it (`field_url`). One transaction:
    /// a reader never sees half a task's link set.
    pub async fn sync_task_with_fields(
        &self,
        portal_id: i64,
        task_id: u64,
        site_id: i64,
        chat_id: Option<i64>,
        links: &[NewLink],
        field_urls: &HashMap<u64, String>,
    ) -> Result<SyncOutcome, DbError> {
        let now = Utc::now();
        let task = id64(task_id);
        let txn = self.db.conn().begin().await?;
        for l in links {
            let row = task_links::ActiveModel {
                portal_id: Set(portal_id),
                task_id: Set(task),
                site_id: Set(site_id),
                content_id: Set(id64(l.content_id)),
                original_url: Set(l.original_url.clone()),
                canonical_url: Set(l.canonical_url.clone()),
                status: Set(l.status),
                commented_version: Set(None),
                chat_id: Set(chat_id),
                field_url: Set(field_urls.get(&l.content_id).cloned()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            task_links::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        task_links::Column::PortalId,
                        task_links::Column::TaskId,
                        task_links::Column::SiteId,
                        task_links::Column::ContentId,
                    ])
                    .update_columns([
                        task_links::Column::OriginalUrl,
                        task_links::Column::CanonicalUrl,
                        task_links::Column::Status,
                        task_links::Column::ChatId,
                        task_links::Column::FieldUrl,
                        task_links::Column::UpdatedAt,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let keep: Vec<i64> = links.iter().map(|l| id64(l.content_id)).collect();
        let mut del = task_links::Entity::delete_many()
            .filter(task_links::Column::PortalId.eq(portal_id))
            .filter(task_links::Column::TaskId.eq(task))
            .filter(task_links::Column::SiteId.eq(site_id));
        if !keep.is_empty() {
            del = del.filter(task_links::Column::ContentId.is_not_in(keep));
        }
        let removed = del.exec(&txn).await?.rows_affected;
        txn.commit().await?;
        Ok(SyncOutcome {
            kept: links.len(),
            removed,
        })
    }

    /// The task's links (every site).
    pub async fn task_links(
        &self,
        portal_id: i64,
        task_id: u64,
    ) -> Result<Vec<task_links::Model>, DbError> {
        Ok(task_links::Entity::find()
            .filter(task_links::Column::PortalId.eq(portal_id))
            .filter(task_links::Column::TaskId.eq(id64(task_id)))
            .order_by_asc(task_links::Column::Id)
            .all(self.db.conn())
            .await?)
    }

    /// Forgets every link of a deleted task. Returns how many.
    pub async fn delete_task(&self, portal_id: i64, task_id: u64) -> Result<u64, DbError> {
        Ok(task_links::Entity::delete_many()
            .filter(task_links::Column::PortalId.eq(portal_id))
            .filter(task_links::Column::TaskId.eq(id64(task_id)))
            .exec(self.db.conn())
            .await?
            .rows_affected)
    }

    /// Every task (of every portal) linking the page, by portal then task.
    pub async fn links_for_page(
        &self,
        site_id: i64,
        content_id: u64,
    ) -> Result<Vec<task_links::Model>, DbError> {
        Ok(task_links::Entity::find()
            .filter(task_links::Column::SiteId.eq(site_id))
            .filter(task_links::Column::ContentId.eq(id64(content_id)))
            .order_by_asc(task_links::Column::PortalId)
            .order_by_asc(task_links::Column::TaskId)
            .all(self.db.conn())
            .await?)
    }

    /// Sets the status of every link to the page (the fan-out's part; URLs are link-sync's).
    pub async fn set_page_links(
        &self,
        site_id: i64,
        content_id: u64,
        status: LinkStatus,
    ) -> Result<u64, DbError> {
        Ok(task_links::Entity::update_many()
            .col_expr(task_links::Column::Status, Expr::value(status))
            .col_expr(task_links::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(task_links::Column::SiteId.eq(site_id))
            .filter(task_links::Column::ContentId.eq(id64(content_id)))
            .exec(self.db.conn())
            .await?
            .rows_affected)
    }

    /// Sets the canonical URL of one link.
    pub async fn set_link_url(&self, link_id: i64, url: &str) -> Result<(), DbError> {
        self.set_url_column(link_id, task_links::Column::CanonicalUrl, url)
            .await
    }

    /// Records what the task's field now holds for one link (after link-sync wrote it).
    pub async fn set_field_url(&self, link_id: i64, url: &str) -> Result<(), DbError> {
        self.set_url_column(link_id, task_links::Column::FieldUrl, url)
            .await
    }

    async fn set_url_column(
        &self,
        link_id: i64,
        column: task_links::Column,
        url: &str,
    ) -> Result<(), DbError> {
        task_links::Entity::update_many()
            .col_expr(column, Expr::value(url))
            .col_expr(task_links::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(task_links::Column::Id.eq(link_id))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// Caches (inserts or replaces) a page's metadata.
    pub async fn upsert_page(&self, site_id: i64, meta: &PageMeta) -> Result<(), DbError> {
        let row = page_cache::ActiveModel {
            site_id: Set(site_id),
            content_id: Set(id64(meta.content_id)),
            title: Set(meta.title.clone()),
            space_key: Set(meta.space_key.clone()),
            author: Set(meta.author.clone()),
            version: Set(i32::try_from(meta.version).unwrap_or(i32::MAX)),
            status: Set(meta.status),
            last_modified: Set(meta.last_modified),
            fetched_at: Set(Utc::now()),
            excerpt: Set(None),
            ..Default::default()
        };
        page_cache::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([page_cache::Column::SiteId, page_cache::Column::ContentId])
                    .update_columns([
                        page_cache::Column::Title,
                        page_cache::Column::SpaceKey,
                        page_cache::Column::Author,
                        page_cache::Column::Version,
                        page_cache::Column::Status,
                        page_cache::Column::LastModified,
                        page_cache::Column::FetchedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(())
    }

    /// Marks a cached page's status (trashed, deleted, current again).
    pub async fn set_page_status(
        &self,
        site_id: i64,
        content_id: u64,
        status: PageStatus,
    ) -> Result<(), DbError> {
        page_cache::Entity::update_many()
            .col_expr(page_cache::Column::Status, Expr::value(status))
            .col_expr(page_cache::Column::FetchedAt, Expr::value(Utc::now()))
            .filter(page_cache::Column::SiteId.eq(site_id))
            .filter(page_cache::Column::ContentId.eq(id64(content_id)))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    pub async fn page(
        &self,
        site_id: i64,
        content_id: u64,
    ) -> Result<Option<page_cache::Model>, DbError> {
        Ok(page_cache::Entity::find()
            .filter(page_cache::Column::SiteId.eq(site_id))
            .filter(page_cache::Column::ContentId.eq(id64(content_id)))
            .one(self.db.conn())
            .await?)
    }

    /// A portal row by its id (links name portals by id; clients want the `member_id`).
    pub async fn portal(&self, portal_id: i64) -> Result<Option<b24_portals::Model>, DbError> {
        Ok(b24_portals::Entity::find_by_id(portal_id)
            .one(self.db.conn())
            .await?)
    }

    // ---- per-task serialisation (link-sync) ----

    /// Takes the task's lease for `holder` for `lease` (database clock) unless another
    /// holder has it and it has not expired. `true` when `holder` now has it.
    pub async fn claim_task(
        &self,
        portal_id: i64,
        task_id: u64,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, DbError> {
        let now = self.now_us_sql();
        let lease_us = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 4);
        let sql = format!(
            "INSERT INTO task_sync_state (portal_id, task_id, holder, lease_until_us) \
             VALUES (?, ?, ?, {now} + ?) \
             ON CONFLICT (portal_id, task_id) DO UPDATE \
             SET holder = excluded.holder, lease_until_us = excluded.lease_until_us \
             WHERE task_sync_state.holder IS NULL OR task_sync_state.holder = excluded.holder \
             OR task_sync_state.lease_until_us < {now}"
        );
        let n = self
            .exec(
                &sql,
                vec![
                    portal_id.into(),
                    id64(task_id).into(),
                    holder.into(),
                    lease_us.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// Gives the task's lease back (only if `holder` still has it).
    pub async fn release_task(
        &self,
        portal_id: i64,
        task_id: u64,
        holder: &str,
    ) -> Result<(), DbError> {
        self.exec(
            "UPDATE task_sync_state SET holder = NULL, lease_until_us = 0 \
             WHERE portal_id = ? AND task_id = ? AND holder = ?",
            vec![portal_id.into(), id64(task_id).into(), holder.into()],
        )
        .await?;
        Ok(())
    }

    /// Before applying a read of the task: `true` when `holder` still holds the task and no
    /// newer read (task `changedDate`, epoch µs) was applied; records `changed_us` then.
    /// `false`: the read is stale (or the lease was lost) and must not be applied.
    pub async fn commit_task_read(
        &self,
        portal_id: i64,
        task_id: u64,
        holder: &str,
        changed_us: Option<i64>,
    ) -> Result<bool, DbError> {
        let n = self
            .exec(
                "UPDATE task_sync_state \
                 SET applied_changed_us = COALESCE(?, applied_changed_us) \
                 WHERE portal_id = ? AND task_id = ? AND holder = ? \
                 AND (? IS NULL OR applied_changed_us IS NULL OR applied_changed_us <= ?)",
                vec![
                    changed_us.into(),
                    portal_id.into(),
                    id64(task_id).into(),
                    holder.into(),
                    changed_us.into(),
                    changed_us.into(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    fn now_us_sql(&self) -> &'static str {
        self.db.now_us_sql()
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64, DbError> {
        self.db.exec_raw(sql, values).await
    }
}
