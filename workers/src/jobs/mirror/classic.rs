//! The classic knowledge base: a landing site of TYPE KNOWLEDGE. Hierarchy is folders only,
//! so a page's children live in a folder named after it, inside the page's own folder; the
//! content is one HTML block; a page is visible once published.
//!
//! A moved page is moved (`landing.landing.move`). Folders cannot be moved, so the moved
//! page's children get a new folder next to it and are written again there; that clean-up
//! is recorded (`rehome_children`) before the move is saved, so a failure halfway is
//! finished by the retry. Articles carry `XML_ID = confluence-{site}-{content}`, so a create
//! whose answer was lost is found again instead of made twice.

use super::attachments::CopyInto;
use super::lease::Claim;
use super::write::{Target, Write, create_error, lost_lease, write_error};
use super::{Mirror, PAGE_LEASE, id64, parse_id};
use crate::jobs::errors::{db_error, handler_error};
use bridge_convert::Context as ConvertContext;
use bridge_db::ArticleUpdate;
use bridge_db::entities::mirror_pages::{self, MirrorState};
use bridge_queue::HandlerError;

impl Mirror {
    pub(super) async fn write_classic(
        &self,
        w: &Write<'_>,
        ctx: &mut ConvertContext,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let (t, page, row) = (w.t, w.page, w.row);
        let site: u64 = parse_id(w.kb, "knowledge-base site")?;
        let folder = match w.parent {
            Some(p) => Some(self.children_folder(w, site, p).await?),
            None => None,
        };
        let client = &t.client;
        let fresh = row.target_page_id.is_empty();
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
                        .map_err(write_error)?;
                    client
                        .kb_classic_rename(lid, &page.title)
                        .await
                        .map_err(write_error)?;
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
                    .map_err(create_error)?,
            }
        } else {
            let lid = parse_id(&row.target_page_id, "landing page")?;
            if moved {
                client
                    .kb_classic_move(lid, site, folder)
                    .await
                    .map_err(write_error)?;
            }
            if row.title != page.title {
                client
                    .kb_classic_rename(lid, &page.title)
                    .await
                    .map_err(write_error)?;
            }
            lid
        };
        let rehome = row.rehome_children || (moved && row.children_folder_id.is_some());
        let space = page.space_key.clone().unwrap_or_default();
        let mut update = ArticleUpdate {
            target_site_id: Some(w.kb.to_owned()),
            target_page_id: lid.to_string(),
            target_parent_id: folder.map(|f| f.to_string()),
            children_folder_id: if moved {
                None
            } else {
                row.children_folder_id.clone()
            },
            kb_kind: t.kind,
            target_url: row.target_url.clone(),
            title: page.title.clone(),
            space_key: space.clone(),
            parent_content_id: page.parent_id.map(id64),
            // Not yet: the content is written below.
            version: row.mirrored_version,
            state: Some(row.state),
            extra_parts: Vec::new(),
            old_target_id: None,
            rehome_children: rehome,
        };
        // The new place (and the clean-up it owes) is recorded before anything else can fail.
        let row = self.save(row, w, &update).await?;

        if w.attachments
            .iter()
            .any(|a| !ctx.attachments.contains_key(&a.file_name))
        {
            let disk = client
                .disk_app_folder(&format!("Confluence {space}"))
                .await
                .map_err(handler_error)?;
            self.copy_attachments(w, CopyInto::Disk(disk), ctx).await?;
        }
        let converted = bridge_convert::to_html(w.body, ctx);
        super::log_report(page.id, &converted.report);
        // A delivery that outlived its lease must not write over a newer one's content.
        self.keep_lease(w.chain, t, page.id).await?;
        client
            .kb_classic_set_html(lid, &converted.output)
            .await
            .map_err(write_error)?;
        client.kb_classic_publish(lid).await.map_err(write_error)?;
        update.target_url = match client.kb_classic_public_url(lid).await {
            Ok(Some(u)) => Some(u),
            Ok(None) => row.target_url.clone(),
            Err(e) => {
                tracing::debug!(error = %e, "no public URL for the article");
                row.target_url.clone()
            }
        };
        update.version = i32::try_from(page.version).unwrap_or(i32::MAX);
        update.state = Some(MirrorState::Active);
        update.children_folder_id = row.children_folder_id.clone();
        let saved = self.save(&row, w, &update).await?;
        if saved.rehome_children {
            self.rehome_children(w.cf, w.chain, t, page.id, w.depth)
                .await?;
            if !self
                .store
                .clear_pending(saved.id, &w.chain.holder)
                .await
                .map_err(db_error)?
            {
                return Err(lost_lease(page.id));
            }
        }
        Ok(saved)
    }

    /// Saves under this chain's lease; a lost lease is a retryable error (the newer holder's
    /// result stands).
    pub(super) async fn save(
        &self,
        row: &mirror_pages::Model,
        w: &Write<'_>,
        update: &ArticleUpdate,
    ) -> Result<mirror_pages::Model, HandlerError> {
        self.store
            .save_article(row, &w.chain.holder, PAGE_LEASE, update)
            .await
            .map_err(db_error)?
            .ok_or_else(|| lost_lease(row.content_id))
    }

    /// The classic folder holding `parent`'s children, created inside the parent's own
    /// folder on first use — under the parent's lease (unless this chain is writing the
    /// parent itself), so siblings written at once agree on one folder.
    async fn children_folder(
        &self,
        w: &Write<'_>,
        site: u64,
        parent: &mirror_pages::Model,
    ) -> Result<u64, HandlerError> {
        if let Some(f) = parent.children_folder_id.as_deref() {
            return parse_id(f, "folder");
        }
        let t: &Target<'_> = w.t;
        let content_id = u64::try_from(parent.content_id).unwrap_or_default();
        let claim = self
            .claim(w.chain, t.site_id, content_id, t.portal.id, t.kind, false)
            .await?;
        let result = async {
            // Read again: a sibling may have made it while we waited for the lease.
            let current = self
                .store
                .page(t.site_id, content_id, t.portal.id)
                .await
                .map_err(db_error)?
                .ok_or_else(|| HandlerError::retryable("parent row vanished"))?;
            if let Some(f) = current.children_folder_id.as_deref() {
                return parse_id(f, "folder");
            }
            let outer = current
                .target_parent_id
                .as_deref()
                .map(|f| parse_id(f, "folder"))
                .transpose()?;
            let folder = t
                .client
                .kb_classic_add_folder(site, outer, &current.title, &format!("c{content_id}"))
                .await
                .map_err(handler_error)?;
            self.store
                .set_children_folder(current.id, &folder.to_string())
                .await
                .map_err(db_error)?;
            Ok(folder)
        }
        .await;
        if let Claim::Taken(row) = &claim {
            self.release(w.chain, row).await;
        }
        result
    }
}
