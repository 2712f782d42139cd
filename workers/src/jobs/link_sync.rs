//! `link-sync`: keeps the Confluence links of B24 tasks resolved, stored by content id and
//! canonical (DESIGN §2.1). It is the only writer of links' URLs and of task fields.
//!
//! - `b24.task.added` / `.updated` (online events and the offline drain): syncs of one task
//!   are serialised by a lease in `task_sync_state` (database clock; another sync of the
//!   task ends retryable and runs after). `tasks.task.get` (`ID`, `TITLE`, `DESCRIPTION`,
//!   `UF_CONFLUENCE_URL`, `CHAT_ID`, `CHANGED_DATE`; answers are lowerCamelCase, the field
//!   read as `ufConfluenceUrl` or `UF_CONFLUENCE_URL`), every URL of the field (several may
//!   be separated by whitespace, commas or semicolons) and of the description resolved with
//!   [`bridge_core::links`] (Data Center title links through a title lookup; URLs of other
//!   hosts are ignored, never fetched). Each page is read and cached (`page_cache`). Then the
//!   task is read again: if the field or description changed meanwhile (a user edit), the
//!   pass starts over with the new text instead of writing over it; a read whose
//!   `changedDate` is older than one already applied is dropped. The links are stored by
//!   content id (`task_links`, one transaction; links no longer in the task are removed,
//!   and `field_url` records what the field holds for each). When the field holds a URL
//!   that is not the page's web URL (an old version, a renamed or moved page, a tiny link),
//!   the field is rewritten with `tasks.task.update`. That update fires `ONTASKUPDATE`
//!   again; the second pass finds the field canonical and writes nothing, so there is no
//!   loop.
//! - `b24.task.deleted`: the task's links are dropped.
//! - `confluence.page.moved` / `.updated` (a rename is an edit): when tasks link the page,
//!   its cache and the links' canonical URLs are refreshed, and every linking task whose
//!   field still holds another URL than the new one (compared with `field_url`, what this
//!   worker last wrote there — not with `canonical_url`) gets the new one
//!   (`tasks.task.get` + `tasks.task.update` in `batch`es of 50), under each task's lease.

use crate::WorkerContext;
use crate::jobs::portal_setup::{USER_FIELD, handler_error};
use bridge_clients::b24::{B24Client, B24Clients, BatchCommand};
use bridge_clients::confluence::{ConfluenceClient, ConfluenceError, ContentStatus, Page};
use bridge_core::config::ConfluenceFlavor;
use bridge_core::envelope::{PageAction, TaskAction};
use bridge_core::links::{self, LinkTarget, Site};
use bridge_core::{Envelope, ErrorClass, Payload, Source};
use bridge_db::entities::page_cache::PageStatus;
use bridge_db::entities::task_links::LinkStatus;
use bridge_db::{LinkStore, NewLink, PageMeta, PortalStore, SiteStore};
use bridge_queue::{DeliveryContext, Handler, HandlerError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// How long a sync keeps other syncs of the same task off (renewed by nothing: a sync is
/// far shorter; after a crash the next sync waits at most this long).
pub const TASK_LEASE: Duration = Duration::from_secs(120);
/// Passes of one sync when the task keeps changing under it, before it gives up (retryable).
const SYNC_PASSES: usize = 3;

/// What one read of a task gave.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TaskRead {
    field: String,
    description: String,
    chat_id: Option<i64>,
    /// `changedDate`, epoch µs.
    changed_us: Option<i64>,
}

/// The Confluence side every link job needs: the client, the site as links are matched
/// against it, and the site's row id.
#[derive(Clone)]
pub struct ConfluenceSide {
    pub client: ConfluenceClient,
    pub site: Site,
    sites: SiteStore,
    site_id: std::sync::Arc<tokio::sync::OnceCell<i64>>,
    names: std::sync::Arc<Mutex<HashMap<String, String>>>,
}

impl ConfluenceSide {
    pub fn from_context(ctx: &WorkerContext) -> Option<Self> {
        let base = ctx.config.confluence_url.clone()?;
        let client = ConfluenceClient::from_config(&ctx.config)
            .inspect_err(|e| tracing::warn!(error = %e, "no Confluence client"))
            .ok()?;
        Some(Self {
            client,
            site: Site::new(base),
            sites: SiteStore::new(ctx.db.clone(), ctx.credentials.clone()),
            site_id: std::sync::Arc::default(),
            names: std::sync::Arc::default(),
        })
    }

    /// The site's row id (created on first use, then kept: every event asks for it).
    pub async fn site_id(&self) -> Result<i64, HandlerError> {
        self.site_id
            .get_or_try_init(|| async {
                self.sites
                    .ensure(
                        self.client.site(),
                        self.client.site_flavor(),
                        self.client.auth_kind(),
                    )
                    .await
                    .map_err(db_error)
            })
            .await
            .copied()
    }

    /// Whether an event's source is this site.
    pub fn is_source(&self, source: &Source) -> bool {
        matches!(source, Source::Confluence { site } if site.trim_end_matches('/') == self.client.site().trim_end_matches('/'))
    }

    /// A person's display name (Cloud `accountId` or DC `userKey`), cached; the id itself
    /// when the lookup fails.
    pub async fn display_name(&self, actor: &str) -> String {
        if let Some(n) = self.names.lock().ok().and_then(|m| m.get(actor).cloned()) {
            return n;
        }
        let enc: String = url::form_urlencoded::byte_serialize(actor.as_bytes()).collect();
        let path = match self.client.flavor() {
            ConfluenceFlavor::Cloud => format!("/rest/api/user?accountId={enc}"),
            ConfluenceFlavor::DataCenter => format!("/rest/api/user?key={enc}"),
        };
        let name = match self.client.get_json(&path).await {
            Ok(v) => v
                .get("displayName")
                .or_else(|| v.get("publicName"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            Err(e) => {
                tracing::debug!(actor, error = %e, "user lookup failed");
                None
            }
        };
        match name {
            Some(n) => {
                if let Ok(mut m) = self.names.lock() {
                    m.insert(actor.to_owned(), n.clone());
                }
                n
            }
            None => actor.to_owned(),
        }
    }
}

pub struct LinkSync {
    clients: B24Clients,
    confluence: Option<ConfluenceSide>,
    links: LinkStore,
    portals: PortalStore,
}

impl LinkSync {
    pub fn new(ctx: &WorkerContext) -> Self {
        Self {
            clients: ctx.b24.clone(),
            confluence: ConfluenceSide::from_context(ctx),
            links: LinkStore::new(ctx.db.clone()),
            portals: PortalStore::new(ctx.db.clone(), ctx.credentials.clone()),
        }
    }

    fn confluence(&self) -> Result<&ConfluenceSide, HandlerError> {
        configured(self.confluence.as_ref())
    }

    /// Reads the task and makes its stored links and its field match (see the module docs).
    pub async fn sync_task(&self, member_id: &str, task_id: u64) -> Result<(), HandlerError> {
        self.sync_task_as(member_id, task_id, &local_holder()).await
    }

    /// As [`sync_task`](Self::sync_task), holding the task's lease as `holder` (the envelope
    /// id: a redelivery after a crash takes its own lease over at once).
    pub async fn sync_task_as(
        &self,
        member_id: &str,
        task_id: u64,
        holder: &str,
    ) -> Result<(), HandlerError> {
        let cf = self.confluence()?;
        let portal = self
            .portals
            .find(member_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                HandlerError::permanent(format!("portal {member_id} is not installed"))
            })?;
        let client = self
            .clients
            .portal(member_id)
            .await
            .map_err(handler_error)?;
        if !self
            .links
            .claim_task(portal.id, task_id, holder, TASK_LEASE)
            .await
            .map_err(db_error)?
        {
            return Err(HandlerError::retryable(format!(
                "another link-sync of task {task_id} is running; trying again later"
            ))
            .with_retry_after(Duration::from_secs(1)));
        }
        let result = self
            .sync_claimed(cf, &client, portal.id, member_id, task_id, holder)
            .await;
        if let Err(e) = self.links.release_task(portal.id, task_id, holder).await {
            tracing::warn!(task_id, error = %e, "releasing the task's lease failed (it expires)");
        }
        result
    }

    async fn read_task(client: &B24Client, task_id: u64) -> Result<TaskRead, HandlerError> {
        let reply = client
            .call(
                "tasks.task.get",
                json!({"taskId": task_id, "select": ["ID", "TITLE", "DESCRIPTION", USER_FIELD, "CHAT_ID", "CHANGED_DATE"]}),
            )
            .await
            .map_err(handler_error)?;
        let task = reply.result.get("task").cloned().unwrap_or(Value::Null);
        Ok(TaskRead {
            field: uf_text(&task),
            description: task
                .get("description")
                .or_else(|| task.get("DESCRIPTION"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            chat_id: task
                .get("chatId")
                .or_else(|| task.get("CHAT_ID"))
                .and_then(as_i64)
                .filter(|c| *c > 0),
            changed_us: task
                .get("changedDate")
                .or_else(|| task.get("CHANGED_DATE"))
                .and_then(Value::as_str)
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.timestamp_micros()),
        })
    }

    /// The sync itself, with the task's lease held.
    async fn sync_claimed(
        &self,
        cf: &ConfluenceSide,
        client: &B24Client,
        portal_id: i64,
        member_id: &str,
        task_id: u64,
        holder: &str,
    ) -> Result<(), HandlerError> {
        let site_id = cf.site_id().await?;
        for _ in 0..SYNC_PASSES {
            let read = Self::read_task(client, task_id).await?;
            let known: HashMap<String, u64> = self
                .links
                .task_links(portal_id, task_id)
                .await
                .map_err(db_error)?
                .into_iter()
                .filter(|l| l.site_id == site_id)
                .flat_map(|l| {
                    let id = u64::try_from(l.content_id).unwrap_or(0);
                    std::iter::once((l.canonical_url, id)).chain(l.field_url.map(|f| (f, id)))
                })
                .collect();

            let in_field = field_urls(&read.field);
            let mut urls = in_field.clone();
            for u in links::find_urls(&read.description) {
                if !urls.contains(&u) {
                    urls.push(u);
                }
            }
            // content id → (first URL naming it, page if readable)
            let mut found: BTreeMap<u64, NewLink> = BTreeMap::new();
            let mut canonical_of: HashMap<String, String> = HashMap::new();
            let mut id_of: HashMap<String, u64> = HashMap::new();
            for url in &urls {
                let Some(id) = self.content_id(cf, url, &known).await? else {
                    continue;
                };
                id_of.insert(url.clone(), id);
                if let Some(l) = found.get(&id) {
                    canonical_of.insert(url.clone(), l.canonical_url.clone());
                    continue;
                }
                let (status, canonical) = self.refresh_page(cf, site_id, id, url).await?;
                canonical_of.insert(url.clone(), canonical.clone());
                found.insert(
                    id,
                    NewLink {
                        content_id: id,
                        original_url: url.clone(),
                        canonical_url: canonical,
                        status,
                    },
                );
            }
            // What the field will hold for each link it names (after the write below).
            let field_url_of: HashMap<u64, String> = in_field
                .iter()
                .filter_map(|u| Some((*id_of.get(u)?, canonical_of.get(u)?.clone())))
                .collect();
            let new_links: Vec<NewLink> = found.into_values().collect();

            // The Confluence reads took time: a user may have edited the task meanwhile.
            let again = Self::read_task(client, task_id).await?;
            if again.field != read.field || again.description != read.description {
                tracing::info!(
                    portal = member_id,
                    task_id,
                    "task changed while it was being synced; starting over with the new text"
                );
                continue;
            }
            if !self
                .links
                .commit_task_read(portal_id, task_id, holder, read.changed_us)
                .await
                .map_err(db_error)?
            {
                tracing::info!(
                    portal = member_id,
                    task_id,
                    "a newer read of the task was applied already (or the lease expired); this one is dropped"
                );
                return Ok(());
            }
            let outcome = self
                .links
                .sync_task_with_fields(
                    portal_id,
                    task_id,
                    site_id,
                    read.chat_id,
                    &new_links,
                    &field_url_of,
                )
                .await
                .map_err(db_error)?;

            // Write the canonical URLs back, only when something differs (no loop).
            let rewritten = rewrite(&read.field, &canonical_of);
            if rewritten != read.field {
                client
                    .call(
                        "tasks.task.update",
                        json!({"taskId": task_id, "fields": {USER_FIELD: rewritten}}),
                    )
                    .await
                    .map_err(handler_error)?;
                tracing::info!(
                    portal = member_id,
                    task_id,
                    "task field rewritten to canonical URLs"
                );
            }
            tracing::info!(
                portal = member_id,
                task_id,
                links = outcome.kept,
                removed = outcome.removed,
                "task links synced"
            );
            return Ok(());
        }
        Err(HandlerError::retryable(format!(
            "task {task_id} kept changing during {SYNC_PASSES} passes; trying again later"
        )))
    }

    /// The content id a URL names, or `None` for URLs that are not links to content of the
    /// configured site (other hosts, space home pages, titles that find nothing).
    async fn content_id(
        &self,
        cf: &ConfluenceSide,
        url: &str,
        known: &HashMap<String, u64>,
    ) -> Result<Option<u64>, HandlerError> {
        if let Some(id) = known.get(url).filter(|id| **id > 0) {
            return Ok(Some(*id));
        }
        match links::resolve(url, &cf.site) {
            Ok(LinkTarget::Content(id)) => Ok(Some(id)),
            Ok(LinkTarget::Title {
                space_key,
                title,
                posting_day,
            }) => {
                // A posting day means a blog post (`/display/KEY/yyyy/mm/dd/Title`).
                let found = match posting_day {
                    Some(day) => {
                        cf.client
                            .find_blogpost_by_title(&space_key, &title, &day)
                            .await
                    }
                    None => cf.client.find_page_by_title(&space_key, &title).await,
                };
                found
                    .map(|page| page.map(|p| p.id))
                    .map_err(confluence_error)
            }
            Ok(LinkTarget::SpaceHome { .. }) => Ok(None),
            Err(e) => {
                tracing::debug!(url, error = %e, "not a link to this Confluence site");
                Ok(None)
            }
        }
    }

    /// Reads the page and caches it; `(link status, canonical URL)`.
    async fn refresh_page(
        &self,
        cf: &ConfluenceSide,
        site_id: i64,
        id: u64,
        fallback_url: &str,
    ) -> Result<(LinkStatus, String), HandlerError> {
        match cf.client.page(id).await {
            Ok(page) => {
                let meta = page_meta(cf, &page).await;
                self.links
                    .upsert_page(site_id, &meta)
                    .await
                    .map_err(db_error)?;
                let status = match page.status {
                    ContentStatus::Trashed => LinkStatus::Trashed,
                    ContentStatus::Deleted => LinkStatus::Deleted,
                    _ => LinkStatus::Current,
                };
                let url = page
                    .web_url
                    .clone()
                    .unwrap_or_else(|| fallback_url.to_owned());
                Ok((status, url))
            }
            Err(e) if e.is_not_found() => Ok((LinkStatus::Deleted, fallback_url.to_owned())),
            Err(ConfluenceError::Forbidden { .. }) => {
                Ok((LinkStatus::NoAccess, fallback_url.to_owned()))
            }
            Err(e) => Err(confluence_error(e)),
        }
    }

    /// A page moved or was edited (renamed): refresh its cache and the links and fields of
    /// every task linking it.
    pub async fn page_changed(&self, content_id: u64) -> Result<(), HandlerError> {
        self.page_changed_as(content_id, &local_holder()).await
    }

    /// As [`page_changed`](Self::page_changed), holding task leases as `holder`.
    pub async fn page_changed_as(&self, content_id: u64, holder: &str) -> Result<(), HandlerError> {
        let cf = self.confluence()?;
        let site_id = cf.site_id().await?;
        let linked = self
            .links
            .links_for_page(site_id, content_id)
            .await
            .map_err(db_error)?;
        if linked.is_empty() {
            return Ok(());
        }
        let page = match cf.client.page(content_id).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(confluence_error(e)),
        };
        let meta = page_meta(cf, &page).await;
        self.links
            .upsert_page(site_id, &meta)
            .await
            .map_err(db_error)?;
        let Some(url) = page.web_url.clone() else {
            return Ok(());
        };
        for l in linked.iter().filter(|l| l.canonical_url != url) {
            self.links
                .set_link_url(l.id, &url)
                .await
                .map_err(db_error)?;
        }
        // Stale fields: compared with what this worker last wrote there.
        let stale: Vec<_> = linked
            .into_iter()
            .filter(|l| l.field_url.as_deref().is_some_and(|f| f != url))
            .collect();
        let mut by_portal: BTreeMap<i64, Vec<_>> = BTreeMap::new();
        for l in stale {
            by_portal.entry(l.portal_id).or_default().push(l);
        }
        let mut busy = 0usize;
        for (portal_id, links) in by_portal {
            let Some(portal) = self.links.portal(portal_id).await.map_err(db_error)? else {
                continue;
            };
            let client = self
                .clients
                .portal(&portal.member_id)
                .await
                .map_err(handler_error)?;
            // Each task under its lease, like a task sync; a task being synced now is left
            // to that sync (it reads the page afresh) and looked at again on retry.
            let mut held = Vec::new();
            for l in links {
                let task = u64::try_from(l.task_id).unwrap_or(0);
                if self
                    .links
                    .claim_task(portal_id, task, holder, TASK_LEASE)
                    .await
                    .map_err(db_error)?
                {
                    held.push(l);
                } else {
                    busy += 1;
                }
            }
            let result = self.rewrite_fields(&client, &held, &url).await;
            for l in &held {
                let task = u64::try_from(l.task_id).unwrap_or(0);
                if let Err(e) = self.links.release_task(portal_id, task, holder).await {
                    tracing::warn!(task_id = task, error = %e, "releasing the task's lease failed (it expires)");
                }
            }
            for id in result? {
                self.links.set_field_url(id, &url).await.map_err(db_error)?;
            }
        }
        if busy > 0 {
            return Err(HandlerError::retryable(format!(
                "{busy} tasks linking page {content_id} are being synced; their fields are checked again later"
            ))
            .with_retry_after(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Reads the tasks' fields and replaces the links' old URLs with `url`. Returns the ids
    /// of the links whose field now holds `url` (or no old URL of the page any more).
    async fn rewrite_fields(
        &self,
        client: &B24Client,
        links: &[bridge_db::entities::task_links::Model],
        url: &str,
    ) -> Result<Vec<i64>, HandlerError> {
        let mut done = Vec::new();
        if links.is_empty() {
            return Ok(done);
        }
        let reads: Vec<BatchCommand> = links
            .iter()
            .map(|l| {
                BatchCommand::new(
                    format!("t{}", l.id),
                    "tasks.task.get",
                    json!({"taskId": l.task_id, "select": ["ID", USER_FIELD]}),
                )
            })
            .collect();
        let answers = client.batch(reads, false).await.map_err(handler_error)?;
        let mut updates = Vec::new();
        let mut updated_links = Vec::new();
        for (l, item) in links.iter().zip(answers) {
            let task = match item.result {
                Ok(r) => r.result.get("task").cloned().unwrap_or(Value::Null),
                Err(e) if e.class() == ErrorClass::Permanent => continue,
                Err(e) => return Err(handler_error(e)),
            };
            let field = uf_text(&task);
            let map: HashMap<String, String> = [
                l.field_url.clone(),
                Some(l.canonical_url.clone()),
                Some(l.original_url.clone()),
            ]
            .into_iter()
            .flatten()
            .map(|old| (old, url.to_owned()))
            .collect();
            let new = rewrite(&field, &map);
            if new == field {
                done.push(l.id);
            } else {
                updates.push(BatchCommand::new(
                    format!("u{}", l.id),
                    "tasks.task.update",
                    json!({"taskId": l.task_id, "fields": {USER_FIELD: new}}),
                ));
                updated_links.push(l.id);
            }
        }
        if !updates.is_empty() {
            let answers = client.batch(updates, false).await.map_err(handler_error)?;
            for (id, item) in updated_links.into_iter().zip(answers) {
                match item.result {
                    Ok(_) => done.push(id),
                    Err(e) if e.class() == ErrorClass::Retryable => {
                        return Err(handler_error(e));
                    }
                    Err(e) => {
                        tracing::warn!(command = %item.key, error = %e, "task field not updated");
                    }
                }
            }
        }
        Ok(done)
    }
}

#[async_trait::async_trait]
impl Handler for LinkSync {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        match (&envelope.source, &envelope.payload) {
            (Source::B24 { portal }, Payload::B24Task(t)) => match t.action {
                TaskAction::Added | TaskAction::Updated => {
                    self.sync_task_as(portal, t.task_id, &envelope.id.to_string())
                        .await
                }
                TaskAction::Deleted => {
                    let Some(p) = self.portals.find(portal).await.map_err(db_error)? else {
                        return Ok(());
                    };
                    let n = self
                        .links
                        .delete_task(p.id, t.task_id)
                        .await
                        .map_err(db_error)?;
                    tracing::info!(
                        portal,
                        task_id = t.task_id,
                        removed = n,
                        "task deleted; links dropped"
                    );
                    Ok(())
                }
            },
            (source, Payload::ConfluencePage(p))
                if matches!(p.action, PageAction::Moved | PageAction::Updated) =>
            {
                let cf = self.confluence()?;
                if !cf.is_source(source) {
                    return Err(HandlerError::permanent(format!(
                        "event from {source}, not the configured Confluence site"
                    )));
                }
                self.page_changed_as(p.content_id, &envelope.id.to_string())
                    .await
            }
            _ => Err(HandlerError::permanent(format!(
                "link-sync does not handle {}",
                envelope.routing_key()
            ))),
        }
    }
}

/// A lease holder name for a call that has no envelope id: unique per process and call.
fn local_holder() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "local-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The task's `UF_CONFLUENCE_URL` as text (a string, or the values of a multiple field
/// joined by spaces).
pub fn uf_text(task: &Value) -> String {
    let v = task
        .get("ufConfluenceUrl")
        .or_else(|| task.get(USER_FIELD))
        .unwrap_or(&Value::Null);
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The http(s) URLs of the field, split on whitespace, commas and semicolons.
pub fn field_urls(field: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in field.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';')) {
        let w = w.trim();
        if (w.starts_with("http://") || w.starts_with("https://")) && !out.iter().any(|u| u == w) {
            out.push(w.to_owned());
        }
    }
    out
}

/// The field with every URL that has a different canonical form replaced (separators kept).
pub fn rewrite(field: &str, canonical_of: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(field.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match canonical_of.get(word.as_str()) {
            Some(c) => out.push_str(c),
            None => out.push_str(word),
        }
        word.clear();
    };
    for ch in field.chars() {
        if ch.is_whitespace() || matches!(ch, ',' | ';') {
            flush(&mut word, &mut out);
            out.push(ch);
        } else {
            word.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// What the cache keeps of a page.
pub async fn page_meta(cf: &ConfluenceSide, page: &Page) -> PageMeta {
    let author = match &page.last_modifier {
        Some(u) => match (&u.display_name, u.id()) {
            (Some(n), _) => Some(n.clone()),
            (None, Some(id)) => Some(cf.display_name(id).await),
            _ => None,
        },
        None => None,
    };
    PageMeta {
        content_id: page.id,
        title: page.title.clone(),
        space_key: page.space_key.clone(),
        author,
        version: page.version,
        status: match page.status {
            ContentStatus::Trashed => PageStatus::Trashed,
            ContentStatus::Deleted => PageStatus::Deleted,
            _ => PageStatus::Current,
        },
        last_modified: page.last_modified,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

pub use super::errors::{confluence_error, db_error};

/// The Confluence side of a job, or the reason a job cannot run without it.
pub fn configured(side: Option<&ConfluenceSide>) -> Result<&ConfluenceSide, HandlerError> {
    side.ok_or_else(|| {
        HandlerError::permanent("BRIDGE_CONFLUENCE_URL (and its credentials) are not set")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_urls_and_rewrite() {
        let f = "https://a/x/1, https://a/x/2;https://a/x/1  note";
        assert_eq!(field_urls(f), vec!["https://a/x/1", "https://a/x/2"]);
        let map: HashMap<String, String> =
            [("https://a/x/1".to_owned(), "https://a/p/1".to_owned())].into();
        assert_eq!(
            rewrite(f, &map),
            "https://a/p/1, https://a/x/2;https://a/p/1  note"
        );
        assert_eq!(rewrite("", &map), "");
    }
}
