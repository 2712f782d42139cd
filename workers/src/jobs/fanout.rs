//! `fanout`: comments on every task that links a changed page (DESIGN §2.3).
//!
//! **Edits** (`confluence.page.updated`): minor edits (notifications suppressed) are skipped
//! unless `BRIDGE_FANOUT_SKIP_MINOR=false`; edits of pages no task links are ignored. An
//! edit is recorded in `page_edits` and a `bridge.fanout.flush` envelope for the page is
//! published to this worker's own queue after `BRIDGE_FANOUT_COALESCE_WINDOW`
//! (`Publisher::publish_delayed`). A flush whose page was edited again less than a window
//! ago does nothing (that edit's own flush comes later) unless the oldest open edit is older
//! than [`MAX_HOLD_WINDOWS`] windows; otherwise it takes every open edit (its group, kept
//! across its redeliveries) and posts one comment naming every editor, about the newest
//! version of the group. With a zero window the edit is fanned out at once.
//!
//! **Deleted / restored / moved**: trashed and removed pages mark their links `trashed` /
//! `deleted` and get a "page deleted" comment; restored pages mark them `current` again with
//! a "restored" comment; moves comment only with `BRIDGE_FANOUT_COMMENT_ON_MOVE=true` (the
//! links and task fields follow moves in link-sync).
//!
//! **Exactly once per (task, page, version)** — see ARCHITECTURE.md, Invariants:
//! 1. a `pending` ledger row per linking task is written *before* anything is sent (unique
//!    per portal, task, page, version and kind: a duplicate delivery adds nothing);
//! 2. the delivery claims the pending rows (its envelope id; a row another live delivery
//!    holds is left to it and this delivery ends retryable, to look again later);
//! 3. rows claimed before (`attempts > 1`: an earlier try may have sent them and died before
//!    step 5) are looked up in the task first — `task.commentitem.getlist`, or
//!    `im.dialog.messages.get` on the task chat — by the comment's marker line; found ones
//!    are marked sent without sending;
//! 4. the rest go out in `batch`es of 50 (`task.commentitem.add`, or `im.message.add` to
//!    `chat{chatId}`, per the portal's `portal_settings.comment_api`, default `commentitem`);
//! 5. after each batch its successful rows are marked `sent`.
//!
//! A comment command B24 refuses for good (task deleted, no access) is marked sent too — it
//! would never succeed — and logged.

use crate::WorkerContext;
use crate::jobs::comment_text::{self, Kind, Lang};
use crate::jobs::link_sync::{ConfluenceSide, confluence_error, db_error, page_meta};
use crate::jobs::portal_setup::handler_error;
use bridge_clients::b24::{B24Client, B24Clients, B24Error, BatchCommand};
use bridge_clients::confluence::Page;
use bridge_core::envelope::{ContentType, FanoutFlush, PageAction, PageEvent};
use bridge_core::{Envelope, ErrorClass, Payload, Source, WorkerKind};
use bridge_db::entities::comment_ledger;
use bridge_db::entities::page_cache::PageStatus;
use bridge_db::entities::task_links::{self, LinkStatus};
use bridge_db::{CommentLedger, LedgerKey, LinkStore, PendingEdit};
use bridge_queue::{DeliveryContext, Handler, HandlerError, Publisher};
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
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
        self.confluence.as_ref().ok_or_else(|| {
            HandlerError::permanent("BRIDGE_CONFLUENCE_URL (and its credentials) are not set")
        })
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
        let flush = Envelope::new(
            Source::Bridge {
                component: "fanout".into(),
            },
            Utc::now(),
            Payload::FanoutFlush(FanoutFlush {
                site: cf.client.site().to_owned(),
                content_id: p.content_id,
            }),
        );
        self.publisher
            .publish_delayed(WorkerKind::Fanout.as_str(), flush, window)
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
        let mut take_open = true;
        if debounce
            && let Some((oldest, newest)) = self
                .ledger
                .open_edits_span(site_id, content_id)
                .await
                .map_err(db_error)?
        {
            let now = Utc::now();
            // A little slack: the flush of the newest edit itself must not find it too new.
            let quiet = now - newest >= window - window / 10;
            let overdue = now - oldest >= window * i32::try_from(MAX_HOLD_WINDOWS).unwrap_or(5);
            take_open = quiet || overdue;
        }
        let edits = self
            .ledger
            .take_edits(site_id, content_id, flush_id, take_open)
            .await
            .map_err(db_error)?;
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
        let cached = self
            .links
            .page(site_id, p.content_id)
            .await
            .map_err(db_error)?;
        // Restored and moved pages can be read again: refresh the cache and the URL.
        let mut url = linked[0].canonical_url.clone();
        let mut title = p
            .title
            .clone()
            .or_else(|| cached.as_ref().map(|c| c.title.clone()))
            .unwrap_or_else(|| format!("#{}", p.content_id));
        let mut version = p
            .version
            .or(cached.as_ref().and_then(|c| u32::try_from(c.version).ok()));
        if kind != Kind::Deleted {
            match cf.client.page(p.content_id).await {
                Ok(page) => {
                    let meta = page_meta(cf, &page).await;
                    self.links
                        .upsert_page(site_id, &meta)
                        .await
                        .map_err(db_error)?;
                    url = web_url(&page);
                    title = page.title.clone();
                    version = Some(page.version);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(confluence_error(e)),
            }
        }
        let new_url = (kind != Kind::Deleted).then_some(url.as_str());
        self.links
            .set_page_links(site_id, p.content_id, link_status, new_url)
            .await
            .map_err(db_error)?;
        self.links
            .set_page_status(site_id, p.content_id, page_status)
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
        let marker = comment_text::marker(
            key.content_id,
            key.version,
            match key.kind.as_str() {
                "deleted" => Kind::Deleted,
                "restored" => Kind::Restored,
                "moved" => Kind::Moved,
                _ => Kind::Updated,
            },
        );
        let mut by_portal: BTreeMap<i64, Vec<task_links::Model>> = BTreeMap::new();
        for l in linked {
            by_portal.entry(l.portal_id).or_default().push(l);
        }
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
            let mut seen = std::collections::HashSet::new();
            for l in links {
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
        for (portal_id, rows) in per_portal {
            let Some((member_id, chat_mode, chats)) = portals.get(&portal_id) else {
                continue;
            };
            let client = match self.clients.portal(member_id).await {
                Ok(c) => c,
                Err(e) if e.class() == ErrorClass::Permanent => {
                    tracing::warn!(portal = %member_id, error = %e, "portal unavailable; its comments stay pending");
                    continue;
                }
                Err(e) => return Err(handler_error(e)),
            };
            let portal = PortalSend {
                client: &client,
                chat_mode: *chat_mode,
                chats,
                marker: &marker,
            };
            if let Err(e) = self.send_portal(&portal, rows).await {
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
    ) -> Result<(), B24Error> {
        let (maybe_sent, fresh): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.attempts > 1);
        let mut to_send = fresh;
        if !maybe_sent.is_empty() {
            let found = portal.already_posted(&maybe_sent).await?;
            let (done, missing): (Vec<_>, Vec<_>) = maybe_sent
                .into_iter()
                .partition(|r| found.contains(&r.task_id));
            let ids: Vec<i64> = done.iter().map(|r| r.id).collect();
            if !ids.is_empty() {
                tracing::info!(
                    found = ids.len(),
                    "comments of an earlier try found in the tasks; not sending again"
                );
                self.ledger.mark_sent(&ids).await.map_err(b24_db)?;
            }
            to_send.extend(missing);
        }
        let mut failures = Vec::new();
        for chunk in to_send.chunks(BATCH) {
            let chats = portal.chat_ids(chunk).await?;
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
                        sent.push(row.id);
                    }
                    Err(e) => failures.push(e),
                }
            }
            self.ledger.mark_sent(&sent).await.map_err(b24_db)?;
        }
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// One portal's side of a delivery.
struct PortalSend<'a> {
    client: &'a B24Client,
    chat_mode: bool,
    chats: &'a HashMap<i64, Option<i64>>,
    marker: &'a str,
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
        rows: &[comment_ledger::Model],
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

    /// Tasks among `rows` that already have the comment (found by its marker): old-card
    /// comments via `task.commentitem.getlist`; where that does not work (new card, or chat
    /// mode) the task chat via `im.dialog.messages.get`.
    async fn already_posted(
        &self,
        rows: &[comment_ledger::Model],
    ) -> Result<std::collections::HashSet<i64>, B24Error> {
        let mut found = std::collections::HashSet::new();
        let mut via_chat: Vec<i64> = Vec::new();
        if self.chat_mode {
            via_chat = rows.iter().map(|r| r.task_id).collect();
        } else {
            let commands = rows
                .iter()
                .map(|r| {
                    BatchCommand::new(
                        format!("l{}", r.task_id),
                        "task.commentitem.getlist",
                        json!({"TASKID": r.task_id, "ORDER": {"ID": "desc"}}),
                    )
                })
                .collect();
            for (r, item) in rows.iter().zip(self.client.batch(commands, false).await?) {
                match item.result {
                    Ok(reply) => {
                        let hit = items(&reply.result).iter().any(|c| {
                            ["POST_MESSAGE", "postMessage"]
                                .iter()
                                .filter_map(|k| c.get(*k).and_then(Value::as_str))
                                .any(|t| t.contains(self.marker))
                        });
                        if hit {
                            found.insert(r.task_id);
                        }
                    }
                    Err(e)
                        if e.class() == ErrorClass::Retryable
                            || matches!(e, B24Error::NotRun(_)) =>
                    {
                        return Err(e);
                    }
                    // The new task card: comments are chat messages.
                    Err(_) => via_chat.push(r.task_id),
                }
            }
        }
        if via_chat.is_empty() {
            return Ok(found);
        }
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
            let reply = item.result?;
            let msgs = reply.result.get("messages").map(items).unwrap_or_default();
            if msgs.iter().any(|m| {
                m.get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains(self.marker))
            }) {
                found.insert(*t);
            }
        }
        Ok(found)
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
