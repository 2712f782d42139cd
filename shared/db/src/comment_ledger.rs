//! Exactly one comment per (portal, task, page, version): the ledger the fan-out writes
//! *before* sending (`pending`) and marks after (`sent`), plus the pending page edits the
//! coalescing window gathers and the per-portal fan-out settings.
//!
//! Claims: a delivery (envelope id) claims the pending rows it is about to send
//! (`claim`, `claimed_at`, `attempts + 1`). A row claimed by another delivery within the lease
//! is left alone (that delivery is sending it now); a row claimed before, by the same envelope
//! (a redelivery after a crash) or by anyone past the lease, is taken over — and because
//! `attempts > 1` then, the sender first looks for the comment in the task before sending.

use crate::entities::comment_ledger::{self, LedgerState};
use crate::entities::{page_edits, portal_settings};
use crate::{Db, DbError};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

/// Which comment: the page version it is about and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LedgerKey {
    pub site_id: i64,
    pub content_id: u64,
    pub version: u32,
    /// `updated`, `deleted`, `restored`, `moved`.
    pub kind: String,
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

    /// Marks rows sent (their comment exists in B24).
    pub async fn mark_sent(&self, ids: &[i64]) -> Result<(), DbError> {
        let now = Utc::now();
        for chunk in ids.chunks(INSERT_CHUNK) {
            comment_ledger::Entity::update_many()
                .col_expr(
                    comment_ledger::Column::State,
                    Expr::value(LedgerState::Sent),
                )
                .col_expr(comment_ledger::Column::UpdatedAt, Expr::value(now))
                .filter(comment_ledger::Column::Id.is_in(chunk.to_vec()))
                .exec(self.db.conn())
                .await?;
        }
        Ok(())
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
            created_at: Set(Utc::now()),
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

    /// `(oldest, newest)` recording time of the page's edits no flush took yet.
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
