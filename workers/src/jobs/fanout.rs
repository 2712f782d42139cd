//! `fanout`: comments on every task that links a changed page (DESIGN §2.3).
//!
//! **Edits** (`confluence.page.updated`): minor edits (notifications suppressed) are skipped
//! unless `BRIDGE_FANOUT_SKIP_MINOR=false`; edits of pages no task links are ignored. An
//! edit is recorded in `page_edits` (at the database's clock) and a `bridge.fanout.flush`
//! envelope for the page is published to this worker's own queue after
//! `BRIDGE_FANOUT_COALESCE_WINDOW` (`Publisher::publish_delayed`). A flush whose page was
//! edited again less than a window ago (database clock) re-schedules itself for when the
//! page will have been quiet a window, unless the oldest open edit is older than
//! [`MAX_HOLD_WINDOWS`] windows; otherwise it takes every open edit (its group, kept across
//! its redeliveries) and posts one comment naming every editor, about the newest version of
//! the group. With a zero window the edit is fanned out at once.
//!
//! **Deleted / restored / moved**: the event is only a hint. The page is read again (any
//! status) and the change applied only when Confluence still agrees (trashed: the page is in
//! the trash; removed: it is gone; restored, moved: it is current) — so a retried "trashed"
//! arriving after "restored" does nothing. Trashed and removed pages mark their links
//! `trashed` / `deleted` and get a "page deleted" comment; restored pages mark them `current`
//! again with a "restored" comment; moves comment only with
//! `BRIDGE_FANOUT_COMMENT_ON_MOVE=true`. The fan-out never writes URLs: links' URLs and task
//! fields are link-sync's, which consumes the same events. Status comments are keyed by the
//! webhook's time too (`event_at`), so trash → restore → trash of one version comments each
//! time.
//!
//! **Exactly once per (task, page, version)** — see ARCHITECTURE.md, Invariants:
//! 1. a `pending` ledger row per linking task is written *before* anything is sent (unique
//!    per portal, task, page, version, kind and event time: a duplicate delivery adds
//!    nothing); an edit's version at or below a link's floor (`commented_version`, the newest
//!    version already announced to that task) gets no row;
//! 2. the delivery claims the pending rows (its envelope id; a row another live delivery
//!    holds is left to it and this delivery ends retryable, to look again later), and with
//!    them every pending row of the same portals left behind past the lease (re-drive);
//! 3. rows claimed before (`attempts > 1`: an earlier try may have sent them and died before
//!    step 5) are looked up in the task first — `task.commentitem.getlist`, or
//!    `im.dialog.messages.get` on the task chat — by the comment's marker line; found ones
//!    are marked sent without sending. A lookup B24 refuses for one task counts as "not
//!    found" for that task only; one that fails transiently leaves that row for a retry;
//! 4. before each `batch` of 50 (`task.commentitem.add`, or `im.message.add` to
//!    `chat{chatId}`, per the portal's `portal_settings.comment_api`, default `commentitem`)
//!    the claim is renewed on exactly its rows and only the rows still held are sent;
//! 5. after each batch its successful rows are marked `sent` (only while still claimed).
//!
//! A comment command B24 refuses for good (task deleted, no access) is marked `refused` —
//! it would never succeed — and logged.

use crate::WorkerContext;
use crate::jobs::comment_text::{self, Kind, Lang};
use crate::jobs::link_sync::{ConfluenceSide, configured, confluence_error, db_error, page_meta};
use crate::jobs::portal_setup::handler_error;
use bridge_clients::b24::{B24Client, B24Clients, B24Error, BatchCommand};
use bridge_clients::confluence::{ContentStatus, Page};
use bridge_core::envelope::{ContentType, FanoutFlush, PageAction, PageEvent};
use bridge_core::{Envelope, ErrorClass, Payload, Source, WorkerKind};
use bridge_db::entities::comment_ledger;
use bridge_db::entities::page_cache::PageStatus;
use bridge_db::entities::task_links::{self, LinkStatus};
use bridge_db::{CommentLedger, LedgerKey, LinkStore, PendingEdit};
use bridge_queue::{DeliveryContext, Handler, HandlerError, Publisher};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A flush holds a burst back at most this many windows (steady editing still gets news).
pub const MAX_HOLD_WINDOWS: u32 = 5;
/// How long a claim keeps other deliveries off its ledger rows.
pub const CLAIM_LEASE: TimeDelta = TimeDelta::minutes(10);
/// Comments per `batch` request (B24's maximum).
pub const BATCH: usize = 50;

/// Fan-out settings (from the `BRIDGE_FANOUT_*` variables).
#[derive(Clone, Debug)]
pub struct FanoutSettings {
    pub coalesce_window: Duration,
    pub skip_minor: bool,
    pub comment_on_move: bool,
}

pub struct Fanout {
    clients: B24Clients,
    confluence: Option<ConfluenceSide>,
    links: LinkStore,
    ledger: CommentLedger,
    publisher: Publisher,
    settings: FanoutSettings,
    /// Test hook: fail this many deliveries right after a batch was sent, before its rows
    /// are marked sent (what a worker killed at that moment leaves behind).
    fail_after_send: Arc<AtomicUsize>,
}

impl Fanout {
    pub fn new(ctx: &WorkerContext) -> Self {
        Self {
            clients: ctx.b24.clone(),
            confluence: ConfluenceSide::from_context(ctx),
            links: LinkStore::new(ctx.db.clone()),
            ledger: CommentLedger::new(ctx.db.clone()),
            publisher: ctx.publisher.clone(),
            settings: FanoutSettings {
                coalesce_window: ctx.config.fanout_coalesce_window,
                skip_minor: ctx.config.fanout_skip_minor,
                comment_on_move: ctx.config.fanout_comment_on_move,
            },
            fail_after_send: Arc::default(),
        }
    }

    /// Test hook (see the field).
    pub fn fail_after_send(&self, times: usize) -> &Self {
        self.fail_after_send.store(times, Ordering::SeqCst);
        self
    }

    fn confluence(&self) -> Result<&ConfluenceSide, HandlerError> {
        configured(self.confluence.as_ref())
    }

    async fn on_updated(
        &self,
        cf: &ConfluenceSide,
        site_id: i64,
        p: &PageEvent,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        if p.minor_edit && self.settings.skip_minor {
            tracing::debug!(content_id = p.content_id, "minor edit; no comment");
            return Ok(());
        }
        if self
            .links
            .links_for_page(site_id, p.content_id)
            .await
            .map_err(db_error)?
            .is_empty()
        {
            return Ok(());
        }
        // Data Center webhooks name no version: the page does.
        let (version, actor) = match p.version {
            Some(v) => (v, p.actor.clone()),
            None => match cf.client.page(p.content_id).await {
                Ok(page) => {
                    if page.minor_edit && self.settings.skip_minor {
                        return Ok(());
                    }
                    let by = page
                        .last_modifier
                        .as_ref()
                        .and_then(|u| u.id().map(str::to_owned));
                    (page.version, p.actor.clone().or(by))
                }
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(confluence_error(e)),
            },
        };
        self.ledger
            .record_edit(
                site_id,
                p.content_id,
                &PendingEdit {
                    version,
                    actor,
                    edited_at: envelope.occurred_at,
                },
            )
            .await
            .map_err(db_error)?;
        let window = self.settings.coalesce_window;
        if window.is_zero() {
            return self
                .flush(cf, site_id, p.content_id, &envelope.id.to_string(), false)
                .await;
        }
        // Always scheduled, also for a duplicate: the first delivery may have died before
        // scheduling. Extra flushes find nothing to do.
        self.schedule_flush(cf, p.content_id, window).await
    }

    /// Publishes a flush of the page to this worker's own queue after `delay`.
    async fn schedule_flush(
        &self,
        cf: &ConfluenceSide,
        content_id: u64,
        delay: Duration,
    ) -> Result<(), HandlerError> {
        let flush = Envelope::new(
            Source::Bridge {
                component: "fanout".into(),
            },
            Utc::now(),
            Payload::FanoutFlush(FanoutFlush {
                site: cf.client.site().to_owned(),
                content_id,
            }),
        );
        self.publisher
            .publish_delayed(WorkerKind::Fanout.as_str(), flush, delay)
            .await
            .map_err(|e| HandlerError::retryable(format!("scheduling the flush: {e}")))
    }

    /// Fans the page's open edits out as one comment (see the module docs).
    pub async fn flush(
        &self,
        cf: &ConfluenceSide,
        site_id: i64,
        content_id: u64,
        flush_id: &str,
        debounce: bool,
    ) -> Result<(), HandlerError> {
        let window = TimeDelta::from_std(self.settings.coalesce_window).unwrap_or_default();
        // A redelivery keeps the group it took.
        let mut edits = self
            .ledger
            .take_edits(site_id, content_id, flush_id, false)
            .await
            .map_err(db_error)?;
        if edits.is_empty() {
            if debounce
                && let Some((oldest, newest)) = self
                    .ledger
                    .open_edits_span(site_id, content_id)
                    .await
                    .map_err(db_error)?
            {
                let now = self.ledger.db_now().await.map_err(db_error)?;
                if let Some(wait) = not_quiet_for(now, oldest, newest, window) {
                    // Too early (another replica's clock, or edited again since): look again
                    // when the page will have been quiet a window — no other flush may come.
                    tracing::debug!(
                        content_id,
                        wait_ms = wait.as_millis(),
                        "page edited within the window; flush re-scheduled"
                    );
                    return self.schedule_flush(cf, content_id, wait).await;
                }
            }
            edits = self
                .ledger
                .take_edits(site_id, content_id, flush_id, true)
                .await
                .map_err(db_error)?;
        }
        let Some(version) = edits.iter().map(|e| e.version).max() else {
            return Ok(());
        };
        let version = u32::try_from(version).unwrap_or(0);
        let page = match cf.client.page(content_id).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(confluence_error(e)),
        };
        let mut authors: Vec<String> = Vec::new();
        for e in &edits {
            if let Some(a) = &e.actor {
                let name = cf.display_name(a).await;
                if !authors.contains(&name) {
                    authors.push(name);
                }
            }
        }
        let date = edits
            .iter()
            .map(|e| e.edited_at)
            .max()
            .or(page.last_modified)
            .unwrap_or_else(Utc::now);
        let url = web_url(&page);
        let key = LedgerKey {
            site_id,
            content_id,
            version,
            kind: Kind::Updated.as_str().into(),
            event_at: 0,
        };
        let title = page.title.clone();
        self.deliver(&key, flush_id, |lang, marker| {
            comment_text::render(lang, Kind::Updated, &title, &authors, date, &url, marker)
        })
        .await
    }

    async fn on_status(
        &self,
        cf: &ConfluenceSide,
        site_id: i64,
        p: &PageEvent,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        let (kind, link_status, page_status) = match p.action {
            PageAction::Trashed => (Kind::Deleted, LinkStatus::Trashed, PageStatus::Trashed),
            PageAction::Removed => (Kind::Deleted, LinkStatus::Deleted, PageStatus::Deleted),
            PageAction::Restored => (Kind::Restored, LinkStatus::Current, PageStatus::Current),
            PageAction::Moved => (Kind::Moved, LinkStatus::Current, PageStatus::Current),
            _ => return Ok(()),
        };
        let linked = self
            .links
            .links_for_page(site_id, p.content_id)
            .await
            .map_err(db_error)?;
        if linked.is_empty() {
            return Ok(());
        }
        // The event is a hint: apply it only while Confluence still agrees (a retried
        // "trashed" arriving after "restored" must not undo the restore).
        let page = match cf.client.page(p.content_id).await {
            Ok(page) => Some(page),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(confluence_error(e)),
        };
        let now_status = page
            .as_ref()
            .map_or(PageStatus::Deleted, |pg| match pg.status {
                ContentStatus::Trashed => PageStatus::Trashed,
                ContentStatus::Deleted => PageStatus::Deleted,
                _ => PageStatus::Current,
            });
        if now_status != page_status {
            tracing::info!(
                content_id = p.content_id,
                event = ?p.action,
                now = ?now_status,
                "Confluence no longer agrees with this status event; ignored"
            );
            return Ok(());
        }
        let cached = self
            .links
            .page(site_id, p.content_id)
            .await
            .map_err(db_error)?;
        // Read only: URLs are link-sync's (it consumes the same events).
        let mut url = linked[0].canonical_url.clone();
        let mut title = p
            .title
            .clone()
            .or_else(|| cached.as_ref().map(|c| c.title.clone()))
            .unwrap_or_else(|| format!("#{}", p.content_id));
        let mut version = p
            .version
            .or(cached.as_ref().and_then(|c| u32::try_from(c.version).ok()));
        match &page {
            Some(page) => {
                let meta = page_meta(cf, page).await;
                self.links
                    .upsert_page(site_id, &meta)
                    .await
                    .map_err(db_error)?;
                if page.web_url.is_some() {
                    url = web_url(page);
                }
                title = page.title.clone();
                version = Some(page.version);
            }
            None => self
                .links
                .set_page_status(site_id, p.content_id, page_status)
                .await
                .map_err(db_error)?,
        }
        self.links
            .set_page_links(site_id, p.content_id, link_status)
            .await
            .map_err(db_error)?;
        if kind == Kind::Moved && !self.settings.comment_on_move {
            return Ok(());
        }
        let key = LedgerKey {
            site_id,
            content_id: p.content_id,
            version: version.unwrap_or(0),
            kind: kind.as_str().into(),
            event_at: envelope.occurred_at.timestamp_millis().max(1),
        };
        let date = envelope.occurred_at;
        self.deliver(&key, &envelope.id.to_string(), |lang, marker| {
            comment_text::render(lang, kind, &title, &[], date, &url, marker)
        })
        .await
    }

    /// Steps 1–5 of the module docs for one ledger key.
    async fn deliver(
        &self,
        key: &LedgerKey,
        claim: &str,
        text: impl Fn(Lang, &str) -> String,
    ) -> Result<(), HandlerError> {
        let linked = self
            .links
            .links_for_page(key.site_id, key.content_id)
            .await
            .map_err(db_error)?;
        let kind = Kind::parse(&key.kind);
        let marker = comment_text::marker(key.content_id, key.version, kind, key.event_at);
        let mut by_portal: BTreeMap<i64, Vec<task_links::Model>> = BTreeMap::new();
        for l in linked {
            by_portal.entry(l.portal_id).or_default().push(l);
        }
        let floor = i32::try_from(key.version).unwrap_or(i32::MAX);
        let mut portals = HashMap::new();
        let mut rows = Vec::new();
        for (portal_id, links) in &by_portal {
            let Some(portal) = self.links.portal(*portal_id).await.map_err(db_error)? else {
                continue;
            };
            let (api, lang) = self
                .ledger
                .portal_settings(*portal_id)
                .await
                .map_err(db_error)?;
            let lang = Lang::for_portal(lang.as_deref(), portal.language.as_deref());
            let body = text(lang, &marker);
            let mut seen = HashSet::new();
            for l in links {
                // Never announce a version the task already heard of (or a newer one).
                if kind == Kind::Updated && l.commented_version.is_some_and(|v| v >= floor) {
                    continue;
                }
                let task = u64::try_from(l.task_id).unwrap_or(0);
                if seen.insert(task) {
                    rows.push((*portal_id, task, body.clone()));
                }
            }
            let chats: HashMap<i64, Option<i64>> =
                links.iter().map(|l| (l.task_id, l.chat_id)).collect();
            portals.insert(
                *portal_id,
                (portal.member_id, api.as_deref() == Some("chat"), chats),
            );
        }
        self.ledger
            .ensure_pending(key, &rows)
            .await
            .map_err(db_error)?;
        let claimed = self
            .ledger
            .claim(key, claim, CLAIM_LEASE)
            .await
            .map_err(db_error)?;
        let mut failures: Vec<B24Error> = Vec::new();
        let mut per_portal: BTreeMap<i64, Vec<comment_ledger::Model>> = BTreeMap::new();
        for row in claimed {
            per_portal.entry(row.portal_id).or_default().push(row);
        }
        for (portal_id, (member_id, chat_mode, chats)) in &portals {
            // Re-drive: the portal's rows an earlier delivery left pending past the lease.
            let stale = self
                .ledger
                .claim_stale(*portal_id, claim, CLAIM_LEASE)
                .await
                .map_err(db_error)?;
            let rows = per_portal.remove(portal_id).unwrap_or_default();
            let have: HashSet<i64> = rows.iter().map(|r| r.id).collect();
            let redriven: Vec<_> = stale
                .into_iter()
                .filter(|r| !have.contains(&r.id))
                .collect();
            if !redriven.is_empty() {
                tracing::info!(
                    portal = %member_id,
                    rows = redriven.len(),
                    "re-driving comments left pending by earlier deliveries"
                );
            }
            let rows: Vec<_> = rows.into_iter().chain(redriven).collect();
            if rows.is_empty() {
                continue;
            }
            let client = match self.clients.portal(member_id).await {
                Ok(c) => c,
                Err(e) if e.class() == ErrorClass::Permanent => {
                    tracing::warn!(portal = %member_id, error = %e, "portal unavailable; its comments stay pending (re-driven by its next fan-out)");
                    continue;
                }
                Err(e) => return Err(handler_error(e)),
            };
            let portal = PortalSend {
                client: &client,
                chat_mode: *chat_mode,
                chats,
            };
            if let Err(e) = self.send_portal(&portal, rows, claim).await {
                failures.push(e);
            }
        }
        if !failures.is_empty() {
            return Err(combine(failures));
        }
        let others = self
            .ledger
            .held_by_others(key, claim)
            .await
            .map_err(db_error)?;
        if others > 0 {
            return Err(HandlerError::retryable(format!(
                "{others} comments of {}/{} v{} are being sent by another delivery; checking again later",
                key.kind, key.content_id, key.version
            )));
        }
        Ok(())
    }

    /// Checks the maybe-sent rows, sends the rest, marks what got through.
    async fn send_portal(
        &self,
        portal: &PortalSend<'_>,
        rows: Vec<comment_ledger::Model>,
        claim: &str,
    ) -> Result<(), B24Error> {
        let (maybe_sent, fresh): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.attempts > 1);
        let mut to_send = fresh;
        let mut failures = Vec::new();
        if !maybe_sent.is_empty() {
            let lookup = portal.already_posted(&maybe_sent).await?;
            let mut done = Vec::new();
            for r in maybe_sent {
                if lookup.found.contains(&r.id) {
                    done.push(r.id);
                } else if !lookup.unsure.contains(&r.id) {
                    to_send.push(r);
                }
            }
            if !done.is_empty() {
                tracing::info!(
                    found = done.len(),
                    "comments of an earlier try found in the tasks; not sending again"
                );
                self.ledger.mark_sent(&done, claim).await.map_err(b24_db)?;
            }
            failures.extend(lookup.errors);
        }
        for chunk in to_send.chunks(BATCH) {
            // Renew the claim on exactly these rows; send only those still ours.
            let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
            let held: HashSet<i64> = self
                .ledger
                .renew(&ids, claim)
                .await
                .map_err(b24_db)?
                .into_iter()
                .collect();
            let chunk: Vec<&comment_ledger::Model> =
                chunk.iter().filter(|r| held.contains(&r.id)).collect();
            if chunk.is_empty() {
                continue;
            }
            let chats = portal.chat_ids(&chunk).await?;
            let commands: Vec<BatchCommand> = chunk
                .iter()
                .map(|r| portal.command(r, chats.get(&r.task_id).copied()))
                .collect();
            let answers = portal.client.batch(commands, false).await?;
            if self
                .fail_after_send
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(B24Error::Invalid(
                    "test hook: failing after the batch was sent".into(),
                ));
            }
            let mut sent = Vec::new();
            let mut refused = Vec::new();
            for (row, item) in chunk.iter().zip(answers) {
                match item.result {
                    Ok(reply) => {
                        sent.push(row.id);
                        if let Some(mid) = reply
                            .result
                            .as_i64()
                            .or_else(|| reply.result.as_str().and_then(|s| s.parse().ok()))
                        {
                            self.ledger
                                .set_message_id(row.id, mid)
                                .await
                                .map_err(b24_db)?;
                        }
                    }
                    Err(e)
                        if e.class() == ErrorClass::Permanent
                            && !matches!(e, B24Error::NotRun(_)) =>
                    {
                        tracing::warn!(task_id = row.task_id, error = %e, "comment refused for good; not retrying");
                        refused.push(row.id);
                    }
                    Err(e) => failures.push(e),
                }
            }
            self.ledger.mark_sent(&sent, claim).await.map_err(b24_db)?;
            self.ledger
                .mark_refused(&refused, claim)
                .await
                .map_err(b24_db)?;
        }
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// When a flush must wait longer: `Some(wait)` while the page was edited within the last
/// window (less a tenth of slack) and the oldest open edit is not yet held
/// [`MAX_HOLD_WINDOWS`] windows; the wait ends when either becomes true.
fn not_quiet_for(
    now: DateTime<Utc>,
    oldest: DateTime<Utc>,
    newest: DateTime<Utc>,
    window: TimeDelta,
) -> Option<Duration> {
    // A little slack: the flush of the newest edit itself must not find it too new.
    let quiet_after = window - window / 10;
    let hold = window * i32::try_from(MAX_HOLD_WINDOWS).unwrap_or(5);
    if now - newest >= quiet_after || now - oldest >= hold {
        return None;
    }
    let wait = (newest + quiet_after - now).min(oldest + hold - now);
    Some(
        wait.to_std()
            .unwrap_or_default()
            .max(Duration::from_millis(100)),
    )
}

/// What the look-up of maybe-sent rows found.
#[derive(Default)]
struct Lookup {
    /// Rows whose comment is in the task.
    found: HashSet<i64>,
    /// Rows whose look-up failed transiently: neither sent nor marked now.
    unsure: HashSet<i64>,
    errors: Vec<B24Error>,
}

/// One portal's side of a delivery.
struct PortalSend<'a> {
    client: &'a B24Client,
    chat_mode: bool,
    chats: &'a HashMap<i64, Option<i64>>,
}

impl PortalSend<'_> {
    fn command(&self, row: &comment_ledger::Model, chat: Option<i64>) -> BatchCommand {
        match (self.chat_mode, chat) {
            (true, Some(chat)) => BatchCommand::new(
                format!("c{}", row.id),
                "im.message.add",
                json!({"DIALOG_ID": format!("chat{chat}"), "MESSAGE": row.body}),
            ),
            _ => BatchCommand::new(
                format!("c{}", row.id),
                "task.commentitem.add",
                json!({"TASKID": row.task_id, "FIELDS": {"POST_MESSAGE": row.body}}),
            ),
        }
    }

    /// Chat ids of the rows' tasks (chat mode only): stored by link-sync, else read with
    /// `tasks.task.get` (`CHAT_ID`).
    async fn chat_ids(
        &self,
        rows: &[&comment_ledger::Model],
    ) -> Result<HashMap<i64, i64>, B24Error> {
        let mut out: HashMap<i64, i64> = HashMap::new();
        if !self.chat_mode {
            return Ok(out);
        }
        let mut missing = Vec::new();
        for r in rows {
            match self.chats.get(&r.task_id).copied().flatten() {
                Some(c) => {
                    out.insert(r.task_id, c);
                }
                None => missing.push(r.task_id),
            }
        }
        out.extend(self.read_chat_ids(&missing).await?);
        Ok(out)
    }

    async fn read_chat_ids(&self, tasks: &[i64]) -> Result<HashMap<i64, i64>, B24Error> {
        let mut out = HashMap::new();
        if tasks.is_empty() {
            return Ok(out);
        }
        let commands = tasks
            .iter()
            .map(|t| {
                BatchCommand::new(
                    format!("t{t}"),
                    "tasks.task.get",
                    json!({"taskId": t, "select": ["ID", "CHAT_ID"]}),
                )
            })
            .collect();
        for (t, item) in tasks.iter().zip(self.client.batch(commands, false).await?) {
            if let Ok(r) = item.result
                && let Some(c) = r
                    .result
                    .get("task")
                    .and_then(|t| t.get("chatId"))
                    .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
                    .filter(|c| *c > 0)
            {
                out.insert(*t, c);
            }
        }
        Ok(out)
    }

    /// Rows whose comment the task already has (found by the row's marker line): old-card
    /// comments via `task.commentitem.getlist`; where that does not work (new card, or chat
    /// mode) the task chat via `im.dialog.messages.get`. A look-up B24 refuses for one task
    /// counts as "not found" for that task's rows (logged); one that fails transiently makes
    /// them unsure (left pending for a retry). Only a failed request fails the whole look-up.
    async fn already_posted(&self, rows: &[comment_ledger::Model]) -> Result<Lookup, B24Error> {
        let mut out = Lookup::default();
        let mut tasks: Vec<i64> = Vec::new();
        for r in rows {
            if !tasks.contains(&r.task_id) {
                tasks.push(r.task_id);
            }
        }
        // task → the texts found in it
        let mut texts: HashMap<i64, Vec<String>> = HashMap::new();
        let mut via_chat: Vec<i64> = Vec::new();
        let mut unsure_tasks: Vec<(i64, B24Error)> = Vec::new();
        if self.chat_mode {
            via_chat.clone_from(&tasks);
        } else {
            let commands = tasks
                .iter()
                .map(|t| {
                    BatchCommand::new(
                        format!("l{t}"),
                        "task.commentitem.getlist",
                        json!({"TASKID": t, "ORDER": {"ID": "desc"}}),
                    )
                })
                .collect();
            for (t, item) in tasks.iter().zip(self.client.batch(commands, false).await?) {
                match item.result {
                    Ok(reply) => {
                        let found = items(&reply.result)
                            .iter()
                            .flat_map(|c| {
                                ["POST_MESSAGE", "postMessage"]
                                    .iter()
                                    .filter_map(|k| c.get(*k).and_then(Value::as_str))
                                    .map(str::to_owned)
                                    .collect::<Vec<_>>()
                            })
                            .collect();
                        texts.insert(*t, found);
                    }
                    Err(e)
                        if e.class() == ErrorClass::Retryable
                            || matches!(e, B24Error::NotRun(_)) =>
                    {
                        unsure_tasks.push((*t, e));
                    }
                    // The new task card: comments are chat messages.
                    Err(_) => via_chat.push(*t),
                }
            }
        }
        if !via_chat.is_empty() {
            let mut chats: HashMap<i64, i64> = HashMap::new();
            let mut missing = Vec::new();
            for t in &via_chat {
                match self.chats.get(t).copied().flatten() {
                    Some(c) => {
                        chats.insert(*t, c);
                    }
                    None => missing.push(*t),
                }
            }
            chats.extend(self.read_chat_ids(&missing).await?);
            let with_chat: Vec<(i64, i64)> = via_chat
                .iter()
                .filter_map(|t| chats.get(t).map(|c| (*t, *c)))
                .collect();
            let commands = with_chat
                .iter()
                .map(|(t, c)| {
                    BatchCommand::new(
                        format!("m{t}"),
                        "im.dialog.messages.get",
                        json!({"DIALOG_ID": format!("chat{c}"), "LIMIT": 50}),
                    )
                })
                .collect();
            for ((t, _), item) in with_chat
                .iter()
                .zip(self.client.batch(commands, false).await?)
            {
                match item.result {
                    Ok(reply) => {
                        let msgs = reply.result.get("messages").map(items).unwrap_or_default();
                        let found = msgs
                            .iter()
                            .filter_map(|m| m.get("text").and_then(Value::as_str))
                            .map(str::to_owned);
                        texts.entry(*t).or_default().extend(found);
                    }
                    Err(e)
                        if e.class() == ErrorClass::Retryable
                            || matches!(e, B24Error::NotRun(_)) =>
                    {
                        unsure_tasks.push((*t, e));
                    }
                    Err(e) => {
                        tracing::warn!(task_id = t, error = %e, "looking for an earlier comment failed; taken as not posted");
                    }
                }
            }
        }
        for r in rows {
            if let Some((_, e)) = unsure_tasks.iter().find(|(t, _)| *t == r.task_id) {
                tracing::info!(task_id = r.task_id, error = %e, "look-up failed for now; the comment stays pending");
                out.unsure.insert(r.id);
                continue;
            }
            let Some(marker) = comment_text::marker_of(&r.body) else {
                continue;
            };
            if texts
                .get(&r.task_id)
                .is_some_and(|ts| ts.iter().any(|t| comment_text::has_marker(t, marker)))
            {
                out.found.insert(r.id);
            }
        }
        out.errors = unsure_tasks
            .into_iter()
            .map(|(t, e)| B24Error::Invalid(format!("looking in task {t}: {e}")))
            .collect();
        Ok(out)
    }
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}

fn web_url(page: &Page) -> String {
    page.web_url
        .clone()
        .unwrap_or_else(|| format!("#{}", page.id))
}

fn b24_db(e: bridge_db::DbError) -> B24Error {
    B24Error::Invalid(format!("database: {e}"))
}

fn combine(errors: Vec<B24Error>) -> HandlerError {
    let retryable = errors
        .iter()
        .any(|e| e.class() == ErrorClass::Retryable || matches!(e, B24Error::Invalid(_)));
    let wait = errors.iter().filter_map(B24Error::retry_after).max();
    let reason = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let err = if retryable {
        HandlerError::retryable(reason)
    } else {
        HandlerError::permanent(reason)
    };
    match wait {
        Some(w) => err.with_retry_after(w),
        None => err,
    }
}

#[async_trait::async_trait]
impl Handler for Fanout {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        let cf = self.confluence()?;
        match &envelope.payload {
            Payload::ConfluencePage(p) => {
                if !cf.is_source(&envelope.source) {
                    return Err(HandlerError::permanent(format!(
                        "event from {}, not the configured Confluence site",
                        envelope.source
                    )));
                }
                if p.content_type != ContentType::Page {
                    return Ok(());
                }
                let site_id = cf.site_id().await?;
                match p.action {
                    PageAction::Updated => self.on_updated(cf, site_id, p, &envelope).await,
                    PageAction::Created => Ok(()),
                    _ => self.on_status(cf, site_id, p, &envelope).await,
                }
            }
            Payload::FanoutFlush(f) => {
                if f.site.trim_end_matches('/') != cf.client.site().trim_end_matches('/') {
                    return Err(HandlerError::permanent(format!(
                        "flush for {}, not the configured Confluence site",
                        f.site
                    )));
                }
                let site_id = cf.site_id().await?;
                self.flush(cf, site_id, f.content_id, &envelope.id.to_string(), true)
                    .await
            }
            _ => Err(HandlerError::permanent(format!(
                "fanout does not handle {}",
                envelope.routing_key()
            ))),
        }
    }
}
