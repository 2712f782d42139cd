//! Knowledge Base 2.0 (`note.*`, REST 3.0): a collection per space, `parentId` for the
//! hierarchy, Markdown content — split into the document and "(part N)" child documents
//! past the 1 MiB limit.
//!
//! The API can neither re-parent a document nor bring one back from the archive, so a moved
//! or restored page is written as a new document; its mirrored children, which lived in the
//! old document's subtree, are written again under the new one; then the old subtree is
//! archived. The new document and the clean-up it owes (`old_target_id`,
//! `rehome_children`) are saved right after the create, so a failure halfway is finished by
//! the retry. Creates carry an `Idempotency-Key` derived from the row and its last write: a
//! create repeated after a lost answer is replayed by B24 (for 24 hours) instead of made
//! twice.

use super::attachments::CopyInto;
use super::write::{Write, retire_article, write_error};
use super::{Mirror, id64, parse_id};
use crate::jobs::errors::db_error;
use bridge_convert::{Context as ConvertContext, KB2_MARKDOWN_LIMIT};
use bridge_db::ArticleUpdate;
use bridge_db::entities::mirror_pages::{self, KbKind, MirrorState};
use bridge_queue::HandlerError;

impl Mirror {
    pub(super) async fn write_kb2(
        &self,
        w: &Write<'_>,
        ctx: &mut ConvertContext,
    ) -> Result<mirror_pages::Model, HandlerError> {
        let (t, page, row) = (w.t, w.page, w.row);
        let client = &t.client;
        let collection: u64 = parse_id(w.kb, "collection")?;
        let parent_doc = w.parent.map(|p| p.target_page_id.clone());
        let parent_num = parent_doc
            .as_deref()
            .map(|d| parse_id(d, "document"))
            .transpose()?;
        let current_doc = (!row.target_page_id.is_empty()).then(|| row.target_page_id.clone());
        let recreate = current_doc.is_none()
            || row.state == MirrorState::Trashed
            || row.target_parent_id != parent_doc;
        let mut extra: Vec<String> = row
            .extra_parts
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let mut update = ArticleUpdate {
            target_site_id: Some(w.kb.to_owned()),
            target_page_id: row.target_page_id.clone(),
            target_parent_id: parent_doc.clone(),
            children_folder_id: None,
            kb_kind: KbKind::Kb2,
            target_url: None,
            title: page.title.clone(),
            space_key: page.space_key.clone().unwrap_or_default(),
            parent_content_id: page.parent_id.map(id64),
            version: row.mirrored_version,
            state: Some(row.state),
            extra_parts: extra.clone(),
            old_target_id: row.old_target_id.clone(),
            rehome_children: row.rehome_children,
        };

        let mut row = row.clone();
        if recreate {
            // Files belong to a document: the new one gets its own copies.
            self.store
                .forget_attachments(row.id)
                .await
                .map_err(db_error)?;
            ctx.attachments.clear();
            extra.clear();
            let (first, _) = bridge_convert::to_markdown_parts(w.body, ctx, KB2_MARKDOWN_LIMIT);
            let key = format!(
                "bridge-mirror-{}-{}-{}",
                row.id,
                page.version,
                row.mirrored_at.timestamp_micros()
            );
            let doc = client
                .kb2_add_document(
                    collection,
                    parent_num,
                    &page.title,
                    first.first().map_or("", String::as_str),
                    &key,
                )
                .await
                .map_err(write_error)?;
            if let (Some(pending), Some(_)) = (&row.old_target_id, &current_doc) {
                // A second move before the first one's clean-up: that older document goes
                // now (its children are written again below either way).
                retire_article(client, KbKind::Kb2, pending).await?;
            }
            update.target_page_id = doc.id.to_string();
            update.old_target_id = current_doc.clone().or(row.old_target_id.clone());
            update.rehome_children = current_doc.is_some() || row.rehome_children;
            update.state = Some(MirrorState::Active);
            update.extra_parts = Vec::new();
            row = self.save(&row, w, &update).await?;
        }
        let doc = parse_id(&row.target_page_id, "document")?;

        let copied = self.copy_attachments(w, CopyInto::Note(doc), ctx).await?;
        let (parts, report) = bridge_convert::to_markdown_parts(w.body, ctx, KB2_MARKDOWN_LIMIT);
        super::log_report(page.id, &report);
        let mut parts = parts.into_iter();
        let main = parts.next().unwrap_or_default();
        if !recreate || copied > 0 {
            client
                .kb2_update_document(doc, Some(&page.title), Some(&main))
                .await
                .map_err(write_error)?;
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
                        .map_err(write_error)?;
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
                        .map_err(write_error)?;
                    kept.push(d.id.to_string());
                }
            }
        }
        for surplus in extra.iter().skip(kept.len()) {
            retire_article(client, KbKind::Kb2, surplus).await?;
        }

        update.target_page_id = row.target_page_id.clone();
        update.old_target_id = row.old_target_id.clone();
        update.rehome_children = row.rehome_children;
        update.version = i32::try_from(page.version).unwrap_or(i32::MAX);
        update.state = Some(MirrorState::Active);
        update.extra_parts = kept;
        let saved = self.save(&row, w, &update).await?;

        if saved.rehome_children {
            self.rehome_children(w.cf, w.chain, t, page.id, w.depth)
                .await?;
        }
        if let Some(old) = &saved.old_target_id {
            retire_article(client, KbKind::Kb2, old).await?;
        }
        if saved.rehome_children || saved.old_target_id.is_some() {
            self.store.clear_pending(saved.id).await.map_err(db_error)?;
        }
        Ok(saved)
    }
}
