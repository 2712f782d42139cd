//! `mirror`: keeps a B24 knowledge-base copy of each mirrored space current (DESIGN §2.7).
//!
//! A space is mirrored into a portal when an admin sets its mode (`bridgectl space mode`,
//! `space_chat_rules`). Then:
//!
//! - `confluence.page.*` (any action): the page is read again from Confluence — its status,
//!   version, title and parent there are the truth, whatever the event said (retries
//!   reorder events). A current page is written into every portal mirroring its space; a
//!   trashed, purged or moved-away page has its articles retired.
//! - `bridge.mirror.space`: every page of the space is queued as `bridge.mirror.page`
//!   (parents first), plus every article whose page is no longer listed.
//! - `bridge.mirror.page`: one page into one portal.
//!
//! Writing a page (holding the page's lease in `mirror_pages`, so two deliveries never
//! create one article twice): skipped when the version, title and place are already
//! mirrored. Otherwise the knowledge base is created on first use (classic: a landing site
//! of TYPE KNOWLEDGE; KB 2.0: a collection), the page's Confluence parent is mirrored first
//! when it is not yet, attachments are copied once per attachment version (classic: to a
//! Disk folder per space; KB 2.0: `note.file.add` on the document), the body is converted
//! with links to mirrored pages pointing at their articles and attachment links at the
//! copies, and the article is created or updated:
//!
//! - classic: hierarchy as folders (a page's children live in a folder named after it),
//!   the content as one HTML block, then publication. A moved page is moved
//!   (`landing.landing.move`); trashed → unpublished; restored → written and published.
//!   Articles carry `XML_ID = confluence-{site}-{content}` so a create whose answer was lost
//!   is found again instead of made twice.
//! - KB 2.0: `parentId` for the hierarchy; Markdown over the 1 MiB limit is split into
//!   the document plus "(part N)" child documents. The API has no re-parenting and no
//!   un-archiving, so a moved page (and its mirrored children, which lived in the old
//!   subtree) and a restored page are written as new documents and the old one is archived;
//!   creates carry an `Idempotency-Key` so a retried create replays instead of duplicating.

use crate::WorkerContext;
use crate::jobs::link_sync::{ConfluenceSide, confluence_error, db_error};
use crate::jobs::portal_setup::handler_error;
use bridge_clients::b24::{B24Client, B24Clients};
use bridge_clients::confluence::{Attachment, ContentKind, ContentStatus, Page};
use bridge_convert::{AttachmentTarget, Context as ConvertContext, KB2_MARKDOWN_LIMIT, PageRef};
use bridge_core::envelope::MirrorRequested;
use bridge_core::{Envelope, ErrorClass, Payload, Source};
use bridge_db::entities::b24_portals;
use bridge_db::entities::mirror_pages::{self, KbKind, MirrorState};
use bridge_db::entities::space_chat_rules;
use bridge_db::{ArticleUpdate, CopiedAttachment, MirrorStore};
use bridge_queue::{DeliveryContext, Handler, HandlerError, Publisher};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long a delivery keeps others off a page (a page with big attachments takes a while;
/// after a crash the next delivery waits at most this long).
pub const PAGE_LEASE: Duration = Duration::from_secs(600);
/// Attachments larger than this are not copied (KB 2.0's default file limit); the link
/// keeps pointing at Confluence and the log says so.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;
/// Ancestors mirrored ahead of a page, at most (guards against a parent cycle in bad data).
const MAX_DEPTH: usize = 32;

pub struct Mirror {
    clients: B24Clients,
    confluence: Option<ConfluenceSide>,
    store: MirrorStore,
    publisher: Publisher,
}

/// Where copied attachments go.
#[derive(Clone, Copy)]
enum CopyInto {
    /// A Disk folder (classic knowledge base: articles link to the file).
    Disk(u64),
    /// A KB 2.0 document (`note.file.add`: embedded with its asset markdown).
    Note(u64),
}

/// One portal mirroring one space.
struct Target<'a> {
    site_id: i64,
    rule: &'a space_chat_rules::Model,
    portal: &'a b24_portals::Model,
    client: B24Client,
    kind: KbKind,
}

type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T, HandlerError>> + Send + 'a>>;

impl Mirror {
    pub fn new(ctx: &WorkerContext) -> Self {
        Self {
            clients: ctx.b24.clone(),
            confluence: ConfluenceSide::from_context(ctx),
            store: MirrorStore::new(ctx.db.clone()),
            publisher: ctx.publisher.clone(),
        }
    }

    fn confluence(&self) -> Result<&ConfluenceSide, HandlerError> {
        self.confluence.as_ref().ok_or_else(|| {
            HandlerError::permanent("BRIDGE_CONFLUENCE_URL (and its credentials) are not set")
        })
    }

    /// A page changed (or a re-sync asked for it): write it into every portal mirroring
    /// its space (or only `only_member`), retire its articles everywhere else.
    async fn page_changed(
        &self,
        cf: &ConfluenceSide,
        content_id: u64,
        only_member: Option<&str>,
        holder: &str,
    ) -> Result<(), HandlerError> {
        let site_id = cf.site_id().await?;
        let page = match cf.client.page(content_id).await {
            Ok(p) => Some(p),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(confluence_error(e)),
        };
        if page
            .as_ref()
            .is_some_and(|p| p.content_type != ContentKind::Page)
        {
            return Ok(());
        }
        let wanted = |member: &str| only_member.is_none_or(|m| m == member);
        let mut errors = Vec::new();
        let mut written = HashSet::new();
        let current = page.as_ref().filter(|p| p.status == ContentStatus::Current);
        if let Some((page, space)) = current.and_then(|p| Some((p, p.space_key.as_deref()?))) {
            let rules = self
                .store
                .mirroring(site_id, space)
                .await
                .map_err(db_error)?;
            for (rule, portal) in &rules {
                if !wanted(&portal.member_id) {
                    continue;
                }
                written.insert(portal.id);
                let outcome = match self.target(site_id, rule, portal).await {
                    Ok(t) => self.mirror(cf, &t, page, holder, 0).await.map(drop),
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    tracing::warn!(content_id, portal = %portal.member_id, error = %e, "mirror failed");
                    errors.push(e);
                }
            }
        }
        // Articles of a page that was trashed or purged, or left its space. (A space set back
        // to link mode keeps its articles as they are: nothing is taken away silently.)
        let articles = self
            .store
            .articles_of(site_id, content_id)
            .await
            .map_err(db_error)?;
        for row in articles {
            let still_there =
                current.is_some_and(|p| p.space_key.as_deref() == Some(&row.space_key));
            if written.contains(&row.portal_id)
                || still_there
                || row.state != MirrorState::Active
                || row.target_page_id.is_empty()
            {
                continue;
            }
            let Some(portal) = self.store.portal(row.portal_id).await.map_err(db_error)? else {
                continue;
            };
            if !wanted(&portal.member_id) || portal.status != b24_portals::PortalStatus::Active {
                continue;
            }
            if let Err(e) = self.retire(&portal, &row, holder).await {
                tracing::warn!(content_id, portal = %portal.member_id, error = %e, "retiring the article failed");
                errors.push(e);
            }
        }
        combine(errors)
    }

    async fn target<'a>(
        &self,
        site_id: i64,
        rule: &'a space_chat_rules::Model,
        portal: &'a b24_portals::Model,
    ) -> Result<Target<'a>, HandlerError> {
        let kind = rule.kb_kind.ok_or_else(|| {
            HandlerError::permanent(format!(
                "space {} is in mirror mode without a knowledge-base kind; set it with bridgectl space mode",
                rule.space_key
            ))
        })?;
        let client = self
            .clients
            .portal(&portal.member_id)
            .await
            .map_err(handler_error)?;
        Ok(Target {
            site_id,
            rule,
            portal,
            client,
            kind,
        })
    }

    /// Mirrors a current page into `t` under the page's lease; the page's row after.
    fn mirror<'a>(
        &'a self,
        cf: &'a ConfluenceSide,
        t: &'a Target<'a>,
        page: &'a Page,
        holder: &'a str,
        depth: usize,
    ) -> Step<'a, mirror_pages::Model> {
        Box::pin(async move {
            let row = self
                .store
                .claim_page(t.site_id, page.id, t.portal.id, t.kind, holder, PAGE_LEASE)
                .await
                .map_err(db_error)?
                .ok_or_else(|| {
                    HandlerError::retryable(format!(
                        "another delivery is mirroring page {}; trying again later",
                        page.id
                    ))
                    .with_retry_after(Duration::from_secs(2))
                })?;
            let result = self
                .mirror_claimed(cf, t, page, row.clone(), holder, depth)
                .await;
            if let Err(e) = self.store.release_page(row.id, holder).await {
                tracing::warn!(error = %e, "could not release the page lease (it expires)");
            }
            result
        })
    }

    async fn mirror_claimed(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        page: &Page,
        row: mirror_pages::Model,
        holder: &str,
        depth: usize,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let parent_id = page.parent_id.filter(|_| depth < MAX_DEPTH);
        let known_parent = match parent_id {
            Some(pid) => self
                .store
                .page(t.site_id, pid, t.portal.id)
                .await
                .map_err(db_error)?
                .filter(|r| r.state == MirrorState::Active && !r.target_page_id.is_empty()),
            None => None,
        };
        let parent_target = |r: &mirror_pages::Model| match t.kind {
            KbKind::Classic => r.children_folder_id.clone(),
            KbKind::Kb2 => Some(r.target_page_id.clone()),
        };
        let up_to_date = !row.target_page_id.is_empty()
            && row.kb_kind == t.kind
            && row.state == MirrorState::Active
            && i64::from(row.mirrored_version) >= i64::from(page.version)
            && row.title == page.title
            && row.parent_content_id == parent_id.map(id64)
            && row.target_parent_id == known_parent.as_ref().and_then(parent_target);
        if up_to_date {
            tracing::debug!(
                content_id = page.id,
                version = page.version,
                "already mirrored"
            );
            return Ok(row);
        }

        if row.kb_kind != t.kind {
            // The space moved to the other kind of knowledge base: start that article afresh
            // (the old one is left where it is), files included.
            self.store
                .forget_attachments(row.id)
                .await
                .map_err(db_error)?;
        }
        let space = page.space_key.clone().unwrap_or_default();
        let kb = self.ensure_kb(t, &space).await?;
        let parent_row = match (known_parent, parent_id) {
            (Some(r), _) => Some(r),
            (None, Some(pid)) => self.mirror_parent(cf, t, page, pid, holder, depth).await?,
            (None, None) => None,
        };
        let body = cf
            .client
            .page_body_storage(page.id)
            .await
            .map_err(confluence_error)?;
        let attachments = cf
            .client
            .attachments(page.id)
            .await
            .map_err(confluence_error)?;
        let mut convert = self
            .convert_context(cf, t, &space, &row, &attachments, &body)
            .await?;
        let saved = match t.kind {
            KbKind::Classic => {
                self.write_classic(
                    cf,
                    t,
                    &kb,
                    page,
                    &row,
                    parent_row.as_ref(),
                    &body,
                    &attachments,
                    &mut convert,
                    holder,
                    depth,
                )
                .await?
            }
            KbKind::Kb2 => {
                self.write_kb2(
                    cf,
                    t,
                    &kb,
                    page,
                    &row,
                    parent_row.as_ref(),
                    &body,
                    &attachments,
                    &mut convert,
                    holder,
                    depth,
                )
                .await?
            }
        };
        tracing::info!(
            content_id = page.id,
            version = page.version,
            portal = %t.portal.member_id,
            kb = ?t.kind,
            article = %saved.target_page_id,
            "page mirrored"
        );
        Ok(saved)
    }

    /// The page's parent, mirrored first when it is a current page of the same space.
    async fn mirror_parent(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        page: &Page,
        parent_id: u64,
        holder: &str,
        depth: usize,
    ) -> Result<Option<mirror_pages::Model>, HandlerError> {
        let parent = match cf.client.page(parent_id).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(confluence_error(e)),
        };
        if parent.status != ContentStatus::Current
            || parent.content_type != ContentKind::Page
            || parent.space_key != page.space_key
        {
            return Ok(None);
        }
        Ok(Some(self.mirror(cf, t, &parent, holder, depth + 1).await?))
    }

    /// The knowledge base of the rule, created (named after the space) on first use.
    async fn ensure_kb(&self, t: &Target<'_>, space: &str) -> Result<String, HandlerError> {
        if let Some(id) = t.rule.kb_target_id.as_deref().filter(|s| !s.is_empty()) {
            return Ok(id.to_owned());
        }
        let title = format!("{space} (Confluence)");
        let id = match t.kind {
            KbKind::Classic => t
                .client
                .kb_classic_ensure_site(&format!("confluence-{}", code_of(space)), &title)
                .await
                .map_err(handler_error)?,
            KbKind::Kb2 => {
                if !t.client.kb2_available().await.map_err(handler_error)? {
                    return Err(HandlerError::permanent(format!(
                        "Knowledge Base 2.0 (note.*) is not available on portal {}; mirror space {space} into the classic knowledge base instead (bridgectl space mode {space} --portal {} --mode mirror --kb classic)",
                        t.portal.member_id, t.portal.member_id
                    )));
                }
                t.client
                    .kb2_ensure_collection(&title)
                    .await
                    .map_err(handler_error)?
            }
        }
        .to_string();
        self.store
            .set_kb_target(t.rule.id, &id)
            .await
            .map_err(db_error)?;
        Ok(id)
    }

    /// Conversion context: mirrored pages of the space by title (their article URLs),
    /// other page links to Confluence, mentioned people by name, attachments already copied.
    async fn convert_context(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        space: &str,
        row: &mirror_pages::Model,
        attachments: &[Attachment],
        body: &str,
    ) -> Result<ConvertContext, HandlerError> {
        let mut ctx = ConvertContext::default();
        for r in self
            .store
            .pages_in_space(t.site_id, space, t.portal.id)
            .await
            .map_err(db_error)?
        {
            if let (MirrorState::Active, Some(url)) = (r.state, r.target_url) {
                ctx.pages.insert(r.title, url);
            }
        }
        let base = cf.client.base_url().clone();
        let home_space = space.to_owned();
        ctx.page_resolver = Some(Box::new(move |p: &PageRef<'_>| {
            let mut url = base.clone();
            let key = p.space_key.unwrap_or(&home_space);
            url.path_segments_mut()
                .ok()?
                .pop_if_empty()
                .extend(["display", key, p.title]);
            Some(url.to_string())
        }));
        for who in mentioned_users(body) {
            let name = cf.display_name(&who).await;
            ctx.users.insert(who, name);
        }
        let copied = self.store.attachments(row.id).await.map_err(db_error)?;
        for a in attachments {
            if let Some(c) = copied
                .iter()
                .find(|c| c.attachment_id == a.id && i64::from(c.version) == i64::from(a.version))
            {
                ctx.attachments.insert(
                    a.file_name.clone(),
                    AttachmentTarget {
                        url: c.target_url.clone(),
                        markdown_embed: c.markdown_embed.clone(),
                    },
                );
            }
        }
        Ok(ctx)
    }

    /// Copies the attachments not yet copied at their current version into `into`; adds
    /// them to `ctx`. Files too large or refused for good are skipped (their links keep
    /// pointing at Confluence, the log says why); anything else fails the delivery.
    async fn copy_attachments(
        &self,
        cf: &ConfluenceSide,
        client: &B24Client,
        into: CopyInto,
        row_id: i64,
        attachments: &[Attachment],
        ctx: &mut ConvertContext,
    ) -> Result<usize, HandlerError> {
        let mut copied = 0;
        for a in attachments {
            if ctx.attachments.contains_key(&a.file_name) {
                continue;
            }
            let bytes = match cf.client.download_attachment(a, MAX_ATTACHMENT_BYTES).await {
                Ok(b) => b,
                Err(e) if e.class() != ErrorClass::Retryable => {
                    tracing::warn!(attachment = %a.file_name, error = %e, "attachment not copied");
                    continue;
                }
                Err(e) => return Err(confluence_error(e)),
            };
            let uploaded = match into {
                CopyInto::Disk(folder) => client
                    .disk_upload(folder, &a.file_name, &bytes)
                    .await
                    .map(|f| (f.id.to_string(), f.url, None)),
                CopyInto::Note(document) => client
                    .kb2_add_file(document, &a.file_name, &bytes)
                    .await
                    .map(|f| (f.id.to_string(), String::new(), Some(f.asset_markdown))),
            };
            let (target_file_id, target_url, markdown_embed) = match uploaded {
                Ok(u) => u,
                Err(e) if e.class() != ErrorClass::Retryable => {
                    tracing::warn!(attachment = %a.file_name, error = %e, "attachment refused by B24; not copied");
                    continue;
                }
                Err(e) => return Err(handler_error(e)),
            };
            let file = CopiedAttachment {
                attachment_id: a.id.clone(),
                version: i32::try_from(a.version).unwrap_or(i32::MAX),
                file_name: a.file_name.clone(),
                target_file_id,
                target_url,
                markdown_embed,
            };
            self.store
                .put_attachment(row_id, &file)
                .await
                .map_err(db_error)?;
            ctx.attachments.insert(
                a.file_name.clone(),
                AttachmentTarget {
                    url: file.target_url,
                    markdown_embed: file.markdown_embed,
                },
            );
            copied += 1;
        }
        Ok(copied)
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_classic(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        kb: &str,
        page: &Page,
        row: &mirror_pages::Model,
        parent: Option<&mirror_pages::Model>,
        body: &str,
        attachments: &[Attachment],
        ctx: &mut ConvertContext,
        holder: &str,
        depth: usize,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let site: u64 = parse_id(kb, "knowledge-base site")?;
        let folder = match parent {
            Some(p) => Some(self.children_folder(t, site, p, holder).await?),
            None => None,
        };
        let client = &t.client;
        let fresh = row.target_page_id.is_empty() || row.kb_kind != t.kind;
        // A page that changes folder leaves its children's folder behind (no folder move in
        // the API): its children get a new folder next to it, made on demand.
        let moved = !fresh && row.target_parent_id != folder.map(|f| f.to_string());
        let lid = if fresh {
            let xml_id = format!("confluence-{}-{}", t.site_id, page.id);
            match client
                .kb_classic_find_page(site, &xml_id)
                .await
                .map_err(handler_error)?
            {
                Some(lid) => {
                    // Created by a delivery whose answer was lost: put it where it belongs.
                    client
                        .kb_classic_move(lid, site, folder)
                        .await
                        .map_err(handler_error)?;
                    client
                        .kb_classic_rename(lid, &page.title)
                        .await
                        .map_err(handler_error)?;
                    lid
                }
                None => client
                    .kb_classic_add_page(
                        site,
                        folder,
                        &page.title,
                        &format!("p{}", page.id),
                        &xml_id,
                    )
                    .await
                    .map_err(handler_error)?,
            }
        } else {
            let lid = parse_id(&row.target_page_id, "landing page")?;
            if row.target_parent_id != folder.map(|f| f.to_string()) {
                client
                    .kb_classic_move(lid, site, folder)
                    .await
                    .map_err(handler_error)?;
            }
            if row.title != page.title {
                client
                    .kb_classic_rename(lid, &page.title)
                    .await
                    .map_err(handler_error)?;
            }
            lid
        };

        let space = page.space_key.clone().unwrap_or_default();
        if attachments
            .iter()
            .any(|a| !ctx.attachments.contains_key(&a.file_name))
        {
            let folder = client
                .disk_app_folder(&format!("Confluence {space}"))
                .await
                .map_err(handler_error)?;
            self.copy_attachments(cf, client, CopyInto::Disk(folder), row.id, attachments, ctx)
                .await?;
        }

        let converted = bridge_convert::to_html(body, ctx);
        log_report(page, &converted.report);
        client
            .kb_classic_set_html(lid, &converted.output)
            .await
            .map_err(handler_error)?;
        client
            .kb_classic_publish(lid)
            .await
            .map_err(handler_error)?;
        let url = match client.kb_classic_public_url(lid).await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "no public URL for the article");
                row.target_url.clone()
            }
        };
        let saved = self
            .store
            .save_article(
                row,
                &ArticleUpdate {
                    target_site_id: Some(kb.to_owned()),
                    target_page_id: lid.to_string(),
                    target_parent_id: folder.map(|f| f.to_string()),
                    children_folder_id: if moved {
                        None
                    } else {
                        row.children_folder_id.clone()
                    },
                    kb_kind: t.kind,
                    target_url: url,
                    title: page.title.clone(),
                    space_key: space,
                    parent_content_id: page.parent_id.map(id64),
                    version: i32::try_from(page.version).unwrap_or(i32::MAX),
                    state: Some(MirrorState::Active),
                    extra_parts: Vec::new(),
                },
            )
            .await
            .map_err(db_error)?;
        if moved && row.children_folder_id.is_some() {
            self.rehome_children(cf, t, page.id, holder, depth).await?;
        }
        Ok(saved)
    }

    /// The classic folder holding `parent`'s children, created next to the parent's own
    /// article on first use (under the parent's lease, so siblings agree on one folder).
    async fn children_folder(
        &self,
        t: &Target<'_>,
        site: u64,
        parent: &mirror_pages::Model,
        holder: &str,
    ) -> Result<u64, HandlerError> {
        if let Some(f) = parent.children_folder_id.as_deref() {
            return parse_id(f, "folder");
        }
        let content_id = u64::try_from(parent.content_id).unwrap_or_default();
        let claimed = self
            .store
            .claim_page(
                t.site_id,
                content_id,
                t.portal.id,
                t.kind,
                holder,
                PAGE_LEASE,
            )
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                HandlerError::retryable(format!(
                    "another delivery is mirroring page {content_id}; trying again later"
                ))
                .with_retry_after(Duration::from_secs(2))
            })?;
        let result = async {
            if let Some(f) = claimed.children_folder_id.as_deref() {
                return parse_id(f, "folder");
            }
            let outer = claimed
                .target_parent_id
                .as_deref()
                .map(|f| parse_id(f, "folder"))
                .transpose()?;
            let folder = t
                .client
                .kb_classic_add_folder(site, outer, &claimed.title, &format!("c{content_id}"))
                .await
                .map_err(handler_error)?;
            self.store
                .set_children_folder(claimed.id, &folder.to_string())
                .await
                .map_err(db_error)?;
            Ok(folder)
        }
        .await;
        self.store.release_page(claimed.id, holder).await.ok();
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_kb2(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        kb: &str,
        page: &Page,
        row: &mirror_pages::Model,
        parent: Option<&mirror_pages::Model>,
        body: &str,
        attachments: &[Attachment],
        ctx: &mut ConvertContext,
        holder: &str,
        depth: usize,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let collection: u64 = parse_id(kb, "collection")?;
        let parent_doc = parent.map(|p| p.target_page_id.clone());
        let parent_num = parent_doc
            .as_deref()
            .map(|d| parse_id(d, "document"))
            .transpose()?;
        let client = &t.client;
        let old_doc = (!row.target_page_id.is_empty() && row.kb_kind == t.kind)
            .then(|| row.target_page_id.clone());
        // No re-parenting and no un-archiving in the API: a move or a restore is a new
        // document (the old one is archived below).
        let recreate = old_doc.is_none()
            || row.state == MirrorState::Trashed
            || row.target_parent_id != parent_doc;
        let mut extra: Vec<String> = row
            .extra_parts
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();

        if recreate {
            // Files belong to a document: the new one gets its own copies.
            self.store
                .forget_attachments(row.id)
                .await
                .map_err(db_error)?;
            ctx.attachments.clear();
            extra.clear();
        }
        let (first, _) = bridge_convert::to_markdown_parts(body, ctx, KB2_MARKDOWN_LIMIT);
        let first = first.into_iter().next().unwrap_or_default();
        let doc = if recreate {
            let key = format!(
                "bridge-mirror-{}-{}-{}",
                row.id,
                page.version,
                row.mirrored_at.timestamp_micros()
            );
            client
                .kb2_add_document(collection, parent_num, &page.title, &first, &key)
                .await
                .map_err(handler_error)?
                .id
        } else {
            parse_id(old_doc.as_deref().unwrap_or_default(), "document")?
        };

        let copied = self
            .copy_attachments(cf, client, CopyInto::Note(doc), row.id, attachments, ctx)
            .await?;

        let (parts, report) = bridge_convert::to_markdown_parts(body, ctx, KB2_MARKDOWN_LIMIT);
        log_report(page, &report);
        let mut parts = parts.into_iter();
        let main = parts.next().unwrap_or_default();
        if !recreate || copied > 0 {
            client
                .kb2_update_document(doc, Some(&page.title), Some(&main))
                .await
                .map_err(handler_error)?;
        }
        let mut kept = Vec::new();
        for (i, part) in parts.enumerate() {
            let title = format!("{} (part {})", page.title, i + 2);
            match extra.get(i) {
                Some(id) => {
                    let id = parse_id(id, "document")?;
                    client
                        .kb2_update_document(id, Some(&title), Some(&part))
                        .await
                        .map_err(handler_error)?;
                    kept.push(id.to_string());
                }
                None => {
                    let key = format!(
                        "bridge-mirror-{}-{}-{doc}-part{}",
                        row.id,
                        page.version,
                        i + 2
                    );
                    let d = client
                        .kb2_add_document(collection, Some(doc), &title, &part, &key)
                        .await
                        .map_err(handler_error)?;
                    kept.push(d.id.to_string());
                }
            }
        }
        for surplus in extra.iter().skip(kept.len()) {
            if let Ok(id) = surplus.parse::<u64>() {
                archive_quietly(client, id).await?;
            }
        }

        let saved = self
            .store
            .save_article(
                row,
                &ArticleUpdate {
                    target_site_id: Some(kb.to_owned()),
                    target_page_id: doc.to_string(),
                    target_parent_id: parent_doc,
                    children_folder_id: None,
                    kb_kind: t.kind,
                    target_url: None,
                    title: page.title.clone(),
                    space_key: page.space_key.clone().unwrap_or_default(),
                    parent_content_id: page.parent_id.map(id64),
                    version: i32::try_from(page.version).unwrap_or(i32::MAX),
                    state: Some(MirrorState::Active),
                    extra_parts: kept,
                },
            )
            .await
            .map_err(db_error)?;

        if let Some(old) = old_doc.filter(|_| recreate) {
            // The mirrored children lived in the old document's subtree: write them under
            // the new one before archiving the old subtree.
            self.rehome_children(cf, t, page.id, holder, depth).await?;
            if let Ok(id) = old.parse::<u64>() {
                archive_quietly(client, id).await?;
            }
        }
        Ok(saved)
    }

    /// Writes the mirrored children of a page again (their parent article changed).
    async fn rehome_children(
        &self,
        cf: &ConfluenceSide,
        t: &Target<'_>,
        content_id: u64,
        holder: &str,
        depth: usize,
    ) -> Result<(), HandlerError> {
        let children = self
            .store
            .children(t.site_id, t.portal.id, content_id)
            .await
            .map_err(db_error)?;
        for child in children.iter().filter(|c| c.state == MirrorState::Active) {
            let id = u64::try_from(child.content_id).unwrap_or_default();
            match cf.client.page(id).await {
                Ok(p) if p.status == ContentStatus::Current => {
                    self.mirror(cf, t, &p, holder, depth + 1).await?;
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(confluence_error(e)),
            }
        }
        Ok(())
    }

    /// Takes an article out of view: classic unpublished, KB 2.0 archived.
    async fn retire(
        &self,
        portal: &b24_portals::Model,
        row: &mirror_pages::Model,
        holder: &str,
    ) -> Result<(), HandlerError> {
        let content_id = u64::try_from(row.content_id).unwrap_or_default();
        let Some(row) = self
            .store
            .claim_page(
                row.site_id,
                content_id,
                row.portal_id,
                row.kb_kind,
                holder,
                PAGE_LEASE,
            )
            .await
            .map_err(db_error)?
        else {
            return Err(HandlerError::retryable(format!(
                "another delivery is mirroring page {content_id}; trying again later"
            ))
            .with_retry_after(Duration::from_secs(2)));
        };
        let result = async {
            if row.state != MirrorState::Active || row.target_page_id.is_empty() {
                return Ok(());
            }
            let client = self
                .clients
                .portal(&portal.member_id)
                .await
                .map_err(handler_error)?;
            let id = parse_id(&row.target_page_id, "article")?;
            match row.kb_kind {
                KbKind::Classic => client
                    .kb_classic_unpublish(id)
                    .await
                    .map_err(handler_error)?,
                KbKind::Kb2 => archive_quietly(&client, id).await?,
            }
            self.store
                .set_state(row.id, MirrorState::Trashed)
                .await
                .map_err(db_error)?;
            tracing::info!(content_id, portal = %portal.member_id, "article retired");
            Ok(())
        }
        .await;
        self.store.release_page(row.id, holder).await.ok();
        result
    }

    /// Queues every page of a mirrored space (parents first) as one request each, and every
    /// article whose page is no longer listed, so it is retired.
    async fn sync_space(
        &self,
        cf: &ConfluenceSide,
        req: &MirrorRequested,
    ) -> Result<(), HandlerError> {
        let site_id = cf.site_id().await?;
        let pages = cf
            .client
            .pages_in_space(&req.space_key, 100)
            .await
            .map_err(confluence_error)?;
        let parents: HashMap<u64, Option<u64>> =
            pages.iter().map(|p| (p.id, p.parent_id)).collect();
        let depth = |mut id: u64| {
            let mut d = 0usize;
            while let Some(Some(parent)) = parents.get(&id) {
                d += 1;
                id = *parent;
                if d > MAX_DEPTH {
                    break;
                }
            }
            d
        };
        let mut order: Vec<(usize, u64)> = pages.iter().map(|p| (depth(p.id), p.id)).collect();
        order.sort_unstable();
        let listed: BTreeSet<u64> = order.iter().map(|(_, id)| *id).collect();
        let mut ids: Vec<u64> = order.into_iter().map(|(_, id)| id).collect();
        if let Some(portal_id) = self.portal_id(&req.member_id).await? {
            for r in self
                .store
                .pages_in_space(site_id, &req.space_key, portal_id)
                .await
                .map_err(db_error)?
            {
                let id = u64::try_from(r.content_id).unwrap_or_default();
                if !listed.contains(&id) && r.state == MirrorState::Active {
                    ids.push(id);
                }
            }
        }
        for id in &ids {
            self.publisher
                .publish(Envelope::new(
                    Source::Bridge {
                        component: "mirror".into(),
                    },
                    chrono::Utc::now(),
                    Payload::MirrorRequested(MirrorRequested {
                        content_id: Some(*id),
                        ..req.clone()
                    }),
                ))
                .await
                .map_err(|e| HandlerError::retryable(format!("queueing page {id}: {e}")))?;
        }
        tracing::info!(space = %req.space_key, portal = %req.member_id, pages = ids.len(), "space mirror queued");
        Ok(())
    }

    async fn portal_id(&self, member_id: &str) -> Result<Option<i64>, HandlerError> {
        Ok(self
            .store
            .portal_by_member(member_id)
            .await
            .map_err(db_error)?
            .map(|p| p.id))
    }
}

#[async_trait::async_trait]
impl Handler for Mirror {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        let holder = envelope.id.to_string();
        match (&envelope.source, &envelope.payload) {
            (source, Payload::ConfluencePage(p)) => {
                let cf = self.confluence()?;
                if !cf.is_source(source) {
                    return Err(HandlerError::permanent(format!(
                        "event from {source}, not the configured Confluence site"
                    )));
                }
                if let Some(space) = &p.space_key {
                    // Most spaces are link-only: answer those without asking Confluence.
                    let site_id = cf.site_id().await?;
                    let mirrored = !self
                        .store
                        .mirroring(site_id, space)
                        .await
                        .map_err(db_error)?
                        .is_empty();
                    if !mirrored
                        && self
                            .store
                            .articles_of(site_id, p.content_id)
                            .await
                            .map_err(db_error)?
                            .is_empty()
                    {
                        return Ok(());
                    }
                }
                self.page_changed(cf, p.content_id, None, &holder).await
            }
            (_, Payload::MirrorRequested(req)) => {
                let cf = self.confluence()?;
                if req.site.trim_end_matches('/') != cf.client.site().trim_end_matches('/') {
                    return Err(HandlerError::permanent(format!(
                        "mirror request for {}, not the configured Confluence site",
                        req.site
                    )));
                }
                match req.content_id {
                    Some(id) => {
                        self.page_changed(cf, id, Some(&req.member_id), &holder)
                            .await
                    }
                    None => self.sync_space(cf, req).await,
                }
            }
            _ => Err(HandlerError::permanent(format!(
                "mirror does not handle {}",
                envelope.routing_key()
            ))),
        }
    }
}

/// Archives a KB 2.0 document; one already gone counts as archived.
async fn archive_quietly(client: &B24Client, id: u64) -> Result<(), HandlerError> {
    match client.kb2_archive_document(id).await {
        Ok(()) => Ok(()),
        Err(e) if e.class() == ErrorClass::Retryable => Err(handler_error(e)),
        Err(e) => {
            tracing::info!(document = id, error = %e, "document not archived (gone already?)");
            Ok(())
        }
    }
}

/// Several portals' failures: retryable if any is (a retry redoes only what is missing).
fn combine(errors: Vec<HandlerError>) -> Result<(), HandlerError> {
    if errors.is_empty() {
        return Ok(());
    }
    let retryable = errors.iter().any(|e| e.class == ErrorClass::Retryable);
    let reason = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Err(if retryable {
        HandlerError::retryable(reason)
    } else {
        HandlerError::permanent(reason)
    })
}

fn log_report(page: &Page, report: &bridge_convert::Report) {
    if !report.is_clean() {
        tracing::info!(content_id = page.id, report = %report.to_string().trim_end(), "conversion approximated some constructs");
    }
}

fn parse_id(s: &str, what: &str) -> Result<u64, HandlerError> {
    s.trim()
        .parse()
        .map_err(|_| HandlerError::permanent(format!("stored {what} id {s:?} is not a number")))
}

fn id64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A landing code from a space key: lower-case latin letters, digits and dashes.
fn code_of(space: &str) -> String {
    let code: String = space
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if code.trim_matches('-').is_empty() {
        "space".into()
    } else {
        code
    }
}

/// People a storage-format body mentions (`ri:account-id` on Cloud, `ri:userkey` on DC).
fn mentioned_users(body: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for attr in ["ri:account-id=\"", "ri:userkey=\""] {
        let mut rest = body;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                let id = &rest[..end];
                if !id.is_empty() && id.len() <= 128 {
                    found.insert(id.to_owned());
                }
                rest = &rest[end..];
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_on_both_flavours() {
        let body = r#"<p><ac:link><ri:user ri:account-id="557058:abc"/></ac:link> and
            <ac:link><ri:user ri:userkey="8a7f"/></ac:link> <ri:user ri:account-id=""/></p>"#;
        let got: Vec<_> = mentioned_users(body).into_iter().collect();
        assert_eq!(got, vec!["557058:abc".to_owned(), "8a7f".to_owned()]);
    }

    #[test]
    fn landing_codes_are_safe() {
        assert_eq!(code_of("DOC"), "doc");
        assert_eq!(code_of("~jsmith"), "-jsmith");
        assert_eq!(code_of("~~"), "space");
    }

    #[test]
    fn failures_combine_retryable_when_any_is() {
        let e = combine(vec![
            HandlerError::permanent("a"),
            HandlerError::retryable("b"),
        ])
        .unwrap_err();
        assert_eq!(e.class, ErrorClass::Retryable);
        assert!(combine(Vec::new()).is_ok());
    }
}
