//! Exactly one comment per (portal, task, page, version, kind — and, for status comments,
//! the webhook's time): the ledger the fan-out writes *before* sending (`pending`) and marks
//! after (`sent`, or `refused` when B24 refused it for good), plus the pending page edits the
//! coalescing window gathers and the per-portal fan-out settings.
//!
//! Claims: a delivery (envelope id) claims the pending rows it is about to send
//! (`claim`, `claimed_at`, `attempts + 1`). A row claimed by another delivery within the lease
//! is left alone (that delivery is sending it now); a row claimed before, by the same envelope
//! (a redelivery after a crash) or by anyone past the lease, is taken over — and because
//! `attempts > 1` then, the sender first looks for the comment in the task before sending.
//! Before each batch the sender renews its claim on exactly the rows of the batch
//! ([`CommentLedger::renew`]) and sends only those it still holds; marking is conditional on
//! the claim too. Pending rows of a portal left behind past the lease (their delivery was
//! acked without sending them, e.g. the portal's client failed for good) are re-driven by
//! the portal's next fan-out ([`CommentLedger::claim_stale`]).
//!
//! Growth: terminal rows older than a retention are pruned ([`CommentLedger::prune_sent_before`]);
//! marking an `updated` row terminal raises its link's `task_links.commented_version`, a
//! floor below which the fan-out never announces a version again, so pruning cannot bring an
//! old version back.

use crate::entities::comment_ledger::{self, LedgerState};
use crate::entities::{page_edits, portal_settings, task_links};
use crate::{Backend, Db, DbError};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use std::collections::BTreeMap;

/// Which comment: the page version it is about and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LedgerKey {
    pub site_id: i64,
    pub content_id: u64,
    pub version: u32,
    /// `updated`, `deleted`, `restored`, `moved`.
    pub kind: String,
    /// Status kinds: the webhook's time (epoch ms), so the same status change of one version
    /// reported at two times (trash → restore → trash) is two comments; 0 for edits.
    pub event_at: i64,
}

/// A page edit recorded for the coalescing window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEdit {
    pub version: u32,
    pub actor: Option<String>,
    pub edited_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct CommentLedger {
    db: Db,
}

fn id64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn v32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Rows per multi-row insert (stays far below SQLite's and PostgreSQL's parameter limits).
const INSERT_CHUNK: usize = 200;

impl CommentLedger {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    // ---- the ledger ----

    /// Writes a `pending` row per `(portal, task, body)` for `key` unless one exists (a
    /// duplicate delivery finds the rows of the first and adds nothing).
    pub async fn ensure_pending(
        &self,
        key: &LedgerKey,
        rows: &[(i64, u64, String)],
    ) -> Result<(), DbError> {
        let now = Utc::now();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let models = chunk
                .iter()
                .map(|(portal, task, body)| comment_ledger::ActiveModel {
                    portal_id: Set(*portal),
                    task_id: Set(id64(*task)),
                    site_id: Set(key.site_id),
                    content_id: Set(id64(key.content_id)),
                    version: Set(v32(key.version)),
                    kind: Set(key.kind.clone()),
                    event_at: Set(key.event_at),
                    state: Set(LedgerState::Pending),
                    claim: Set(None),
                    claimed_at: Set(None),
                    attempts: Set(0),
                    body: Set(body.clone()),
                    message_id: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                });
            comment_ledger::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::columns([
                        comment_ledger::Column::PortalId,
                        comment_ledger::Column::TaskId,
                        comment_ledger::Column::SiteId,
                        comment_ledger::Column::ContentId,
                        comment_ledger::Column::Version,
                        comment_ledger::Column::Kind,
                        comment_ledger::Column::EventAt,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(self.db.conn())
                .await?;
        }
        Ok(())
    }

    fn of_key(key: &LedgerKey) -> Condition {
        Condition::all()
            .add(comment_ledger::Column::SiteId.eq(key.site_id))
            .add(comment_ledger::Column::ContentId.eq(id64(key.content_id)))
            .add(comment_ledger::Column::Version.eq(v32(key.version)))
            .add(comment_ledger::Column::Kind.eq(key.kind.clone()))
            .add(comment_ledger::Column::EventAt.eq(key.event_at))
    }

    /// Claims for `claim` every pending row of `key` that is free, already its own, or whose
    /// claim is older than `lease`; returns the rows it now holds (pending only).
    pub async fn claim(
        &self,
        key: &LedgerKey,
        claim: &str,
        lease: TimeDelta,
    ) -> Result<Vec<comment_ledger::Model>, DbError> {
        let now = Utc::now();
        comment_ledger::Entity::update_many()
            .col_expr(comment_ledger::Column::Claim, Expr::value(claim))
            .col_expr(comment_ledger::Column::ClaimedAt, Expr::value(now))
            .col_expr(
                comment_ledger::Column::Attempts,
                Expr::col(comment_ledger::Column::Attempts).add(1),
            )
            .col_expr(comment_ledger::Column::UpdatedAt, Expr::value(now))
            .filter(Self::of_key(key))
            .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
            .filter(
                Condition::any()
                    .add(comment_ledger::Column::Claim.is_null())
                    .add(comment_ledger::Column::Claim.eq(claim))
                    .add(comment_ledger::Column::ClaimedAt.lt(now - lease)),
            )
            .exec(self.db.conn())
            .await?;
        Ok(comment_ledger::Entity::find()
            .filter(Self::of_key(key))
            .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
            .filter(comment_ledger::Column::Claim.eq(claim))
            .order_by_asc(comment_ledger::Column::PortalId)
            .order_by_asc(comment_ledger::Column::TaskId)
            .all(self.db.conn())
            .await?)
    }

    /// Pending rows of `key` held by another delivery.
    pub async fn held_by_others(&self, key: &LedgerKey, claim: &str) -> Result<u64, DbError> {
        Ok(comment_ledger::Entity::find()
            .filter(Self::of_key(key))
            .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
            .filter(comment_ledger::Column::Claim.ne(claim))
            .count(self.db.conn())
            .await?)
    }

    /// Claims for `claim` the portal's pending rows (of any page) left behind: claimed
    /// longer than `lease` ago, or never claimed and written longer than `lease` ago — rows
    /// whose delivery ended without sending them. Returns every pending row of the portal
    /// `claim` now holds.
    pub async fn claim_stale(
        &self,
        portal_id: i64,
        claim: &str,
        lease: TimeDelta,
    ) -> Result<Vec<comment_ledger::Model>, DbError> {
        let now = Utc::now();
        let cutoff = now - lease;
        comment_ledger::Entity::update_many()
            .col_expr(comment_ledger::Column::Claim, Expr::value(claim))
            .col_expr(comment_ledger::Column::ClaimedAt, Expr::value(now))
            .col_expr(
                comment_ledger::Column::Attempts,
                Expr::col(comment_ledger::Column::Attempts).add(1),
            )
            .col_expr(comment_ledger::Column::UpdatedAt, Expr::value(now))
            .filter(comment_ledger::Column::PortalId.eq(portal_id))
            .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
            .filter(
                Condition::any()
                    .add(comment_ledger::Column::ClaimedAt.lt(cutoff))
                    .add(
                        Condition::all()
                            .add(comment_ledger::Column::Claim.is_null())
                            .add(comment_ledger::Column::CreatedAt.lt(cutoff)),
                    ),
            )
            .exec(self.db.conn())
            .await?;
        Ok(comment_ledger::Entity::find()
            .filter(comment_ledger::Column::PortalId.eq(portal_id))
            .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
            .filter(comment_ledger::Column::Claim.eq(claim))
            .order_by_asc(comment_ledger::Column::Id)
            .all(self.db.conn())
            .await?)
    }

    /// Renews `claim` on exactly the rows `ids` (still pending and still its own) and returns
    /// those: the only ones the caller may send now.
    pub async fn renew(&self, ids: &[i64], claim: &str) -> Result<Vec<i64>, DbError> {
        let now = Utc::now();
        let mine = || {
            Condition::all()
                .add(comment_ledger::Column::Id.is_in(ids.to_vec()))
                .add(comment_ledger::Column::Claim.eq(claim))
                .add(comment_ledger::Column::State.eq(LedgerState::Pending))
        };
        comment_ledger::Entity::update_many()
            .col_expr(comment_ledger::Column::ClaimedAt, Expr::value(now))
            .col_expr(comment_ledger::Column::UpdatedAt, Expr::value(now))
            .filter(mine())
            .exec(self.db.conn())
            .await?;
        Ok(comment_ledger::Entity::find()
            .select_only()
            .column(comment_ledger::Column::Id)
            .filter(mine())
            .into_tuple::<i64>()
            .all(self.db.conn())
            .await?)
    }

    /// Marks rows `claim` holds sent (their comment exists in B24).
    pub async fn mark_sent(&self, ids: &[i64], claim: &str) -> Result<(), DbError> {
        self.finish(ids, claim, LedgerState::Sent).await
    }

    /// Marks rows `claim` holds refused (B24 refused the comment for good; not retried).
    pub async fn mark_refused(&self, ids: &[i64], claim: &str) -> Result<(), DbError> {
        self.finish(ids, claim, LedgerState::Refused).await
    }

    /// Moves rows to a terminal state (only rows still pending and held by `claim`) and, for
    /// `updated` rows, raises their links' version floor (`commented_version`) — in one
    /// transaction.
    async fn finish(&self, ids: &[i64], claim: &str, state: LedgerState) -> Result<(), DbError> {
        let now = Utc::now();
        for chunk in ids.chunks(INSERT_CHUNK) {
            let txn = self.db.conn().begin().await?;
            let rows = comment_ledger::Entity::find()
                .filter(comment_ledger::Column::Id.is_in(chunk.to_vec()))
                .filter(comment_ledger::Column::Claim.eq(claim))
                .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
                .all(&txn)
                .await?;
            if rows.is_empty() {
                txn.commit().await?;
                continue;
            }
            comment_ledger::Entity::update_many()
                .col_expr(comment_ledger::Column::State, Expr::value(state))
                .col_expr(comment_ledger::Column::UpdatedAt, Expr::value(now))
                .filter(comment_ledger::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .filter(comment_ledger::Column::Claim.eq(claim))
                .filter(comment_ledger::Column::State.eq(LedgerState::Pending))
                .exec(&txn)
                .await?;
            let mut floors: BTreeMap<(i64, i64, i64, i32), Vec<i64>> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.kind == "updated") {
                floors
                    .entry((r.portal_id, r.site_id, r.content_id, r.version))
                    .or_default()
                    .push(r.task_id);
            }
            for ((portal, site, content, version), tasks) in floors {
                task_links::Entity::update_many()
                    .col_expr(task_links::Column::CommentedVersion, Expr::value(version))
                    .filter(task_links::Column::PortalId.eq(portal))
                    .filter(task_links::Column::SiteId.eq(site))
                    .filter(task_links::Column::ContentId.eq(content))
                    .filter(task_links::Column::TaskId.is_in(tasks))
                    .filter(
                        Condition::any()
                            .add(task_links::Column::CommentedVersion.is_null())
                            .add(task_links::Column::CommentedVersion.lt(version)),
                    )
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
        }
        Ok(())
    }

    /// Forgets terminal rows (`sent`, `refused`) last changed before `before`. The version
    /// floor on the links (`task_links.commented_version`) keeps pruned versions from being
    /// announced again. Returns how many.
    pub async fn prune_sent_before(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
        Ok(comment_ledger::Entity::delete_many()
            .filter(comment_ledger::Column::State.is_in([LedgerState::Sent, LedgerState::Refused]))
            .filter(comment_ledger::Column::UpdatedAt.lt(before))
            .exec(self.db.conn())
            .await?
            .rows_affected)
    }

    /// The database server's clock (the coalescing window is measured on it, so replicas'
    /// clocks never enter the arithmetic).
    pub async fn db_now(&self) -> Result<DateTime<Utc>, DbError> {
        let sql = match self.db.backend() {
            Backend::Postgres => {
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS now_us"
            }
            Backend::Sqlite => {
                "SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS now_us"
            }
        };
        let conn = self.db.conn();
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await?;
        let us: Option<i64> = match row {
            Some(r) => r.try_get("", "now_us").ok(),
            None => None,
        };
        Ok(us
            .and_then(DateTime::from_timestamp_micros)
            .unwrap_or_else(Utc::now))
    }

    /// Records B24's id of a sent comment (best effort, for ops).
    pub async fn set_message_id(&self, id: i64, message_id: i64) -> Result<(), DbError> {
        comment_ledger::Entity::update_many()
            .col_expr(comment_ledger::Column::MessageId, Expr::value(message_id))
            .filter(comment_ledger::Column::Id.eq(id))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }

    /// Every ledger row of a page (tests, ops).
    pub async fn rows_for_page(
        &self,
        site_id: i64,
        content_id: u64,
    ) -> Result<Vec<comment_ledger::Model>, DbError> {
        Ok(comment_ledger::Entity::find()
            .filter(comment_ledger::Column::SiteId.eq(site_id))
            .filter(comment_ledger::Column::ContentId.eq(id64(content_id)))
            .order_by_asc(comment_ledger::Column::Id)
            .all(self.db.conn())
            .await?)
    }

    // ---- pending edits (coalescing) ----

    /// Records an edit for the coalescing window. Returns `false` when it was known already
    /// (a duplicate delivery) or is not newer than a version already fanned out.
    pub async fn record_edit(
        &self,
        site_id: i64,
        content_id: u64,
        edit: &PendingEdit,
    ) -> Result<bool, DbError> {
        let newest_done = page_edits::Entity::find()
            .filter(page_edits::Column::SiteId.eq(site_id))
            .filter(page_edits::Column::ContentId.eq(id64(content_id)))
            .filter(page_edits::Column::FlushId.is_not_null())
            .order_by_desc(page_edits::Column::Version)
            .one(self.db.conn())
            .await?
            .map(|e| e.version);
        if newest_done.is_some_and(|v| v >= v32(edit.version)) {
            return Ok(false);
        }
        let row = page_edits::ActiveModel {
            site_id: Set(site_id),
            content_id: Set(id64(content_id)),
            version: Set(v32(edit.version)),
            actor: Set(edit.actor.clone()),
            minor: Set(false),
            edited_at: Set(edit.edited_at),
            flush_id: Set(None),
            created_at: Set(self.db_now().await?),
            ..Default::default()
        };
        let n = page_edits::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    page_edits::Column::SiteId,
                    page_edits::Column::ContentId,
                    page_edits::Column::Version,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(n == 1)
    }

    /// `(oldest, newest)` recording time (database clock) of the page's edits no flush took
    /// yet.
    pub async fn open_edits_span(
        &self,
        site_id: i64,
        content_id: u64,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, DbError> {
        let open = page_edits::Entity::find()
            .filter(page_edits::Column::SiteId.eq(site_id))
            .filter(page_edits::Column::ContentId.eq(id64(content_id)))
            .filter(page_edits::Column::FlushId.is_null())
            .all(self.db.conn())
            .await?;
        let oldest = open.iter().map(|e| e.created_at).min();
        let newest = open.iter().map(|e| e.created_at).max();
        Ok(oldest.zip(newest))
    }

    /// The edits this flush fans out: those it took on an earlier try (a redelivery keeps
    /// its group, so its ledger key stays the same), else — when `take_open` — every open
    /// edit, taken now.
    pub async fn take_edits(
        &self,
        site_id: i64,
        content_id: u64,
        flush_id: &str,
        take_open: bool,
    ) -> Result<Vec<page_edits::Model>, DbError> {
        let of_page = || {
            Condition::all()
                .add(page_edits::Column::SiteId.eq(site_id))
                .add(page_edits::Column::ContentId.eq(id64(content_id)))
        };
        let conn = self.db.conn();
        let mine = || {
            page_edits::Entity::find()
                .filter(of_page())
                .filter(page_edits::Column::FlushId.eq(flush_id))
                .order_by_asc(page_edits::Column::Version)
                .all(conn)
        };
        let taken = mine().await?;
        if !taken.is_empty() || !take_open {
            return Ok(taken);
        }
        page_edits::Entity::update_many()
            .col_expr(page_edits::Column::FlushId, Expr::value(flush_id))
            .filter(of_page())
            .filter(page_edits::Column::FlushId.is_null())
            .exec(self.db.conn())
            .await?;
        Ok(mine().await?)
    }

    /// Forgets fanned-out edits recorded before `before`.
    pub async fn prune_edits_before(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
        Ok(page_edits::Entity::delete_many()
            .filter(page_edits::Column::FlushId.is_not_null())
            .filter(page_edits::Column::CreatedAt.lt(before))
            .exec(self.db.conn())
            .await?
            .rows_affected)
    }

    // ---- per-portal settings ----

    /// `(comment API, comment language)` set for the portal, each `None` for the default.
    pub async fn portal_settings(
        &self,
        portal_id: i64,
    ) -> Result<(Option<String>, Option<String>), DbError> {
        Ok(portal_settings::Entity::find()
            .filter(portal_settings::Column::PortalId.eq(portal_id))
            .one(self.db.conn())
            .await?
            .map(|s| (s.comment_api, s.comment_language))
            .unwrap_or_default())
    }

    /// Sets the portal's comment API (`commentitem` | `chat`) and language (`ru` | `en`).
    pub async fn set_portal_settings(
        &self,
        portal_id: i64,
        comment_api: Option<&str>,
        comment_language: Option<&str>,
    ) -> Result<(), DbError> {
        for (what, v, ok) in [
            ("comment API", comment_api, &["commentitem", "chat"][..]),
            ("comment language", comment_language, &["ru", "en"][..]),
        ] {
            if let Some(v) = v
                && !ok.contains(&v)
            {
                return Err(DbError::Invalid {
                    what,
                    reason: format!("{v:?} is not one of {ok:?}"),
                });
            }
        }
        let row = portal_settings::ActiveModel {
            portal_id: Set(portal_id),
            comment_api: Set(comment_api.map(str::to_owned)),
            comment_language: Set(comment_language.map(str::to_owned)),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        portal_settings::Entity::insert(row)
            .on_conflict(
                OnConflict::column(portal_settings::Column::PortalId)
                    .update_columns([
                        portal_settings::Column::CommentApi,
                        portal_settings::Column::CommentLanguage,
                        portal_settings::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(())
    }
}
