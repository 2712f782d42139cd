//! Writing one page into one portal's knowledge base, and taking an article out of view:
//! the steps both kinds of knowledge base share (lease, fresh read, skip, knowledge base on
//! first use, parent first, conversion) around the kind-specific writers.

use super::attachments::convert_context;
use super::lease::{Chain, Claim};
use super::{MAX_DEPTH, Mirror, code_of, id64, parse_id};
use crate::jobs::errors::{confluence_error, db_error, handler_error};
use crate::jobs::link_sync::ConfluenceSide;
use bridge_clients::b24::{B24Client, B24Error, codes};
use bridge_clients::confluence::{Attachment, ContentKind, ContentStatus, Page};
use bridge_core::envelope::MirrorRequested;
use bridge_db::entities::mirror_pages::{self, KbKind, MirrorState};
use bridge_db::entities::{b24_portals, space_chat_rules};
use bridge_queue::HandlerError;
use std::sync::Mutex;

/// Marks a write that failed because its article no longer exists in B24 (deleted by
/// someone there): the page's mapping is reset and the retry creates the article again.
const GONE: &str = "article gone in B24";

/// One portal mirroring one space.
pub(super) struct Target<'a> {
    pub site_id: i64,
    pub rule: &'a space_chat_rules::Model,
    pub portal: &'a b24_portals::Model,
    pub client: B24Client,
    pub kind: KbKind,
    /// The knowledge base, once known in this handling.
    kb: Mutex<Option<String>>,
}

/// Everything a kind-specific writer needs about the page being written.
pub(super) struct Write<'a> {
    pub cf: &'a ConfluenceSide,
    pub chain: &'a Chain,
    pub t: &'a Target<'a>,
    pub kb: &'a str,
    pub page: &'a Page,
    pub row: &'a mirror_pages::Model,
    pub parent: Option<&'a mirror_pages::Model>,
    pub body: &'a str,
    pub attachments: &'a [Attachment],
    pub depth: usize,
}

/// A B24 error of a write to an existing article; "not found" ones marked [`GONE`].
pub(super) fn write_error(e: B24Error) -> HandlerError {
    if e.is_code(codes::LANDING_NOT_EXIST) || e.is_code(codes::V3_ENTITY_NOT_FOUND) {
        return HandlerError::permanent(format!("{GONE}: {e}"));
    }
    create_error(e)
}

/// A B24 error of a create. A parent that is no longer valid (moved or archived by another
/// delivery meanwhile) is worth a retry: the retry reads the parent's new place.
pub(super) fn create_error(e: B24Error) -> HandlerError {
    if e.is_code(codes::NOTE_INVALID_PARENT) {
        return HandlerError::retryable(e.to_string())
            .with_retry_after(std::time::Duration::from_secs(2));
    }
    handler_error(e)
}

/// Whether a write failed because its own article is gone.
pub(super) fn is_gone(e: &HandlerError) -> bool {
    e.reason.starts_with(GONE)
}

/// Where a page's children go: the classic folder named after it, or its KB 2.0 document.
pub(super) fn place_for_children(r: &mirror_pages::Model) -> Option<String> {
    match r.kb_kind {
        KbKind::Classic => r.children_folder_id.clone(),
        KbKind::Kb2 => Some(r.target_page_id.clone()),
    }
}

impl Mirror {
    pub(super) async fn target<'a>(
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
            kb: Mutex::default(),
        })
    }

    /// Mirrors page `content_id` into `t` under its lease, reading it again first; retires
    /// the article instead when the page is no longer a current page of the rule's space.
    /// The page's row after, if it has one.
    pub(super) fn mirror<'a>(
        &'a self,
        cf: &'a ConfluenceSide,
        chain: &'a Chain,
        t: &'a Target<'a>,
        content_id: u64,
        depth: usize,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<Option<mirror_pages::Model>, HandlerError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let row = match self
                .claim(
                    chain,
                    t.site_id,
                    content_id,
                    t.portal.id,
                    t.kind,
                    depth == 0,
                )
                .await?
            {
                // An outer step of this handling is writing it.
                Claim::Held => {
                    return self
                        .store
                        .page(t.site_id, content_id, t.portal.id)
                        .await
                        .map_err(db_error);
                }
                Claim::Taken(row) => *row,
            };
            let result = async {
                let page = match cf.client.page(content_id).await {
                    Ok(p) => Some(p),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(confluence_error(e)),
                };
                match page {
                    Some(p)
                        if p.status == ContentStatus::Current
                            && p.content_type == ContentKind::Page
                            && p.space_key.as_deref() == Some(t.rule.space_key.as_str()) =>
                    {
                        self.mirror_claimed(cf, chain, t, &p, row.clone(), depth)
                            .await
                            .map(Some)
                    }
                    _ => {
                        self.retire_claimed(cf, &t.client, t.portal, &row).await?;
                        Ok(None)
                    }
                }
            }
            .await;
            self.release(chain, &row).await;
            result
        })
    }

    async fn mirror_claimed(
        &self,
        cf: &ConfluenceSide,
        chain: &Chain,
        t: &Target<'_>,
        page: &Page,
        row: mirror_pages::Model,
        depth: usize,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let kb = self.ensure_kb(t).await?;
        let in_kb = |r: &mirror_pages::Model| {
            r.state == MirrorState::Active
                && !r.target_page_id.is_empty()
                && r.kb_kind == t.kind
                && r.target_site_id.as_deref() == Some(kb.as_str())
        };
        let parent_id = page.parent_id.filter(|_| depth < MAX_DEPTH);
        let known_parent = match parent_id {
            Some(pid) => self
                .store
                .page(t.site_id, pid, t.portal.id)
                .await
                .map_err(db_error)?
                .filter(|r| in_kb(r)),
            None => None,
        };
        let same_home = row.kb_kind == t.kind && row.target_site_id.as_deref() == Some(kb.as_str());
        let forced = chain.force && depth == 0;
        let files_changed = chain.files && depth == 0;
        let written = !row.target_page_id.is_empty();
        let up_to_date = !forced
            && written
            && same_home
            && row.state == MirrorState::Active
            && i64::from(row.mirrored_version) >= i64::from(page.version)
            && row.title == page.title
            && Some(row.space_key.as_str()) == page.space_key.as_deref()
            && row.parent_content_id == parent_id.map(id64)
            && row.target_parent_id == known_parent.as_ref().and_then(place_for_children)
            && row.old_target_id.is_none()
            && !row.rehome_children;
        let mut listed = None;
        if up_to_date && files_changed {
            let attachments = cf
                .client
                .attachments(page.id)
                .await
                .map_err(confluence_error)?;
            let copies = self.store.attachments(row.id).await.map_err(db_error)?;
            if super::attachments::copies_current(t.kind, &attachments, &copies) {
                return Ok(row);
            }
            listed = Some(attachments);
        } else if up_to_date {
            tracing::debug!(
                content_id = page.id,
                version = page.version,
                "already mirrored"
            );
            return Ok(row);
        }

        let mut row = row;
        if !row.target_page_id.is_empty() && !same_home {
            // The space now goes to another knowledge base: the old article is retired and
            // this one starts afresh there.
            retire_article(&t.client, row.kb_kind, &row.target_page_id).await?;
            if let Some(old) = &row.old_target_id {
                retire_article(&t.client, row.kb_kind, old).await?;
            }
            self.store.reset_article(row.id).await.map_err(db_error)?;
            row = self
                .store
                .page(t.site_id, page.id, t.portal.id)
                .await
                .map_err(db_error)?
                .ok_or_else(|| HandlerError::retryable("mirror row vanished"))?;
        }
        let parent_row = match (known_parent, parent_id) {
            (Some(r), _) => Some(r),
            (None, Some(pid)) => self
                .mirror_parent(cf, chain, t, page, pid, depth)
                .await?
                .filter(|r| in_kb(r)),
            (None, None) => None,
        };
        let body = cf
            .client
            .page_body_storage(page.id)
            .await
            .map_err(confluence_error)?;
        let attachments = match listed {
            Some(a) => a,
            None => cf
                .client
                .attachments(page.id)
                .await
                .map_err(confluence_error)?,
        };
        let space = page.space_key.clone().unwrap_or_default();
        let mut ctx =
            convert_context(self, cf, t, &space, &row, &attachments, &body, page.id).await?;
        let w = Write {
            cf,
            chain,
            t,
            kb: &kb,
            page,
            row: &row,
            parent: parent_row.as_ref(),
            body: &body,
            attachments: &attachments,
            depth,
        };
        let written = match t.kind {
            KbKind::Classic => self.write_classic(&w, &mut ctx).await,
            KbKind::Kb2 => self.write_kb2(&w, &mut ctx).await,
        };
        match written {
            Err(e) if is_gone(&e) => {
                tracing::warn!(content_id = page.id, error = %e, "article deleted in B24; it will be written again");
                self.store.reset_article(row.id).await.map_err(db_error)?;
                // Not marked any more: a parent writing this page as its child must not
                // take it for its own article.
                Err(HandlerError::retryable(format!(
                    "the article of page {} was deleted in B24; writing it again",
                    page.id
                )))
            }
            Ok(saved) => {
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
            Err(e) => Err(e),
        }
    }

    /// The page's parent, mirrored first when it is a current page of the same space.
    async fn mirror_parent(
        &self,
        cf: &ConfluenceSide,
        chain: &Chain,
        t: &Target<'_>,
        page: &Page,
        parent_id: u64,
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
        self.mirror(cf, chain, t, parent_id, depth + 1).await
    }

    /// The knowledge base of the rule, created (named after the space) on first use. When
    /// deliveries race to create it, the first one recorded wins and the others use it.
    async fn ensure_kb(&self, t: &Target<'_>) -> Result<String, HandlerError> {
        if let Some(kb) = t.kb.lock().ok().and_then(|k| k.clone()) {
            return Ok(kb);
        }
        let rule = t.rule;
        let kb = match rule.kb_target_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => id.to_owned(),
            None => {
                let space = &rule.space_key;
                let title = format!("{space} (Confluence)");
                let created = match t.kind {
                    KbKind::Classic => t
                        .client
                        .kb_classic_ensure_site(&format!("confluence-{}", code_of(space)), &title)
                        .await
                        .map_err(handler_error)?,
                    KbKind::Kb2 => {
                        if !t.client.kb2_available().await.map_err(handler_error)? {
                            return Err(HandlerError::permanent(format!(
                                "Knowledge Base 2.0 (note.*) is not available on portal {m}; mirror space {space} into the classic knowledge base instead (bridgectl space mode {space} --portal {m} --mode mirror --kb classic)",
                                m = t.portal.member_id
                            )));
                        }
                        // One key per rule setting: racing deliveries get one collection.
                        let key = format!(
                            "bridge-kb-{}-{}",
                            rule.id,
                            rule.updated_at.timestamp_micros()
                        );
                        t.client
                            .kb2_ensure_collection(&title, Some(&key))
                            .await
                            .map_err(handler_error)?
                    }
                };
                self.store
                    .set_kb_target(rule.id, t.kind, &created.to_string())
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| {
                        HandlerError::retryable(format!(
                            "the mirror settings of space {space} changed meanwhile; trying again"
                        ))
                    })?
            }
        };
        if let Ok(mut k) = t.kb.lock() {
            *k = Some(kb.clone());
        }
        Ok(kb)
    }

    /// Writes the mirrored children of a page again (their parent's place changed).
    pub(super) async fn rehome_children(
        &self,
        cf: &ConfluenceSide,
        chain: &Chain,
        t: &Target<'_>,
        content_id: u64,
        depth: usize,
    ) -> Result<(), HandlerError> {
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        let children = self
            .store
            .children(t.site_id, t.portal.id, content_id)
            .await
            .map_err(db_error)?;
        // Children still being created count too: claiming one in flight fails (retryable),
        // and the retry places it under the new parent.
        for child in children.iter().filter(|c| c.state == MirrorState::Active) {
            let id = u64::try_from(child.content_id).unwrap_or_default();
            if !chain.holds(t.portal.id, id) {
                self.mirror(cf, chain, t, id, depth + 1).await?;
            }
            self.keep_lease(chain, t, content_id).await?;
        }
        Ok(())
    }

    /// Renews this chain's lease of a page it is writing; a lost lease ends the write
    /// (retryable), so a delivery that outlived its lease writes nothing more.
    pub(super) async fn keep_lease(
        &self,
        chain: &Chain,
        t: &Target<'_>,
        content_id: u64,
    ) -> Result<(), HandlerError> {
        let Some(row) = self
            .store
            .page(t.site_id, content_id, t.portal.id)
            .await
            .map_err(db_error)?
        else {
            return Err(HandlerError::retryable("mirror row vanished"));
        };
        if self
            .store
            .renew(row.id, &chain.holder, super::PAGE_LEASE)
            .await
            .map_err(db_error)?
        {
            Ok(())
        } else {
            Err(lost_lease(content_id))
        }
    }

    /// Takes an article out of view when its page is trashed, purged or gone from the space
    /// — after reading the page again under the lease (a restore may have won the race).
    pub(super) async fn retire(
        &self,
        cf: &ConfluenceSide,
        chain: &Chain,
        portal: &b24_portals::Model,
        row: &mirror_pages::Model,
    ) -> Result<(), HandlerError> {
        let content_id = u64::try_from(row.content_id).unwrap_or_default();
        let claimed = match self
            .claim(
                chain,
                row.site_id,
                content_id,
                row.portal_id,
                row.kb_kind,
                true,
            )
            .await?
        {
            Claim::Held => return Ok(()),
            Claim::Taken(r) => *r,
        };
        let result = async {
            let page = match cf.client.page(content_id).await {
                Ok(p) => Some(p),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(confluence_error(e)),
            };
            if let Some(p) = page.filter(|p| p.status == ContentStatus::Current)
                && p.space_key.as_deref() == Some(claimed.space_key.as_str())
                && self
                    .store
                    .mirroring(claimed.site_id, &claimed.space_key)
                    .await
                    .map_err(db_error)?
                    .iter()
                    .any(|(_, m)| m.id == portal.id)
            {
                // Current again in a mirrored space: that change's own delivery writes it.
                return Ok(());
            }
            let client = self
                .clients
                .portal(&portal.member_id)
                .await
                .map_err(handler_error)?;
            self.retire_claimed(cf, &client, portal, &claimed).await
        }
        .await;
        self.release(chain, &claimed).await;
        result
    }

    /// Unpublishes (classic) or archives (KB 2.0) a claimed page's article, and has its
    /// mirrored children looked at again: their pages may still be current (Confluence moves
    /// children up when a parent goes), and their articles just went out of view with it.
    pub(super) async fn retire_claimed(
        &self,
        cf: &ConfluenceSide,
        client: &B24Client,
        portal: &b24_portals::Model,
        row: &mirror_pages::Model,
    ) -> Result<(), HandlerError> {
        if row.state != MirrorState::Active || row.target_page_id.is_empty() {
            return Ok(());
        }
        retire_article(client, row.kb_kind, &row.target_page_id).await?;
        if let Some(old) = &row.old_target_id {
            // An unfinished move's old document goes too.
            retire_article(client, row.kb_kind, old).await?;
        }
        let content_id = u64::try_from(row.content_id).unwrap_or_default();
        // Children are queued before the state changes: a failure in between is retried
        // with the page still active, so the queueing is not skipped.
        let children: Vec<u64> = self
            .store
            .children(row.site_id, row.portal_id, content_id)
            .await
            .map_err(db_error)?
            .iter()
            .filter(|c| c.state == MirrorState::Active)
            .map(|c| u64::try_from(c.content_id).unwrap_or_default())
            .collect();
        if !children.is_empty() {
            let like = MirrorRequested {
                site: cf.client.site().to_owned(),
                space_key: row.space_key.clone(),
                member_id: portal.member_id.clone(),
                content_id: None,
                force: false,
            };
            self.request_pages(&like, &children).await?;
        }
        self.store
            .set_state(row.id, MirrorState::Trashed)
            .await
            .map_err(db_error)?;
        tracing::info!(content_id, portal = %portal.member_id, "article retired");
        Ok(())
    }
}

pub(super) fn lost_lease(content_id: impl std::fmt::Display) -> HandlerError {
    HandlerError::retryable(format!(
        "lost the lease of page {content_id} while writing it; trying again"
    ))
}

/// Takes one article out of view: classic unpublished, KB 2.0 archived (with its subtree;
/// a document already gone counts as archived).
pub(super) async fn retire_article(
    client: &B24Client,
    kind: KbKind,
    target: &str,
) -> Result<(), HandlerError> {
    let id = parse_id(target, "article")?;
    match kind {
        KbKind::Classic => client.kb_classic_unpublish(id).await,
        KbKind::Kb2 => client.kb2_archive_document(id).await,
    }
    .or_else(|e| {
        // Someone deleted it in B24 already: out of view is what was asked.
        if e.is_code(codes::LANDING_NOT_EXIST) || e.is_code(codes::V3_ENTITY_NOT_FOUND) {
            Ok(())
        } else {
            Err(handler_error(e))
        }
    })
}
