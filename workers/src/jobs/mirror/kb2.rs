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
use super::write::{Write, create_error, is_gone, lost_lease, retire_article, write_error};
use super::{Mirror, id64, parse_id};

/// KB 2.0 titles are at most 255 characters.
const TITLE_MAX: usize = 255;
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
        let title = clip(&page.title, TITLE_MAX);
        if recreate {
            // Files belong to a document: the new one gets its own copies.
            self.store
                .forget_attachments(row.id)
                .await
                .map_err(db_error)?;
            ctx.attachments.clear();
            extra.clear();
            // The key depends only on the row's last write and the create's body (title and
            // parent; the content is written by the update below), so a retry after a lost
            // answer sends the same body under the same key and B24 replays the first answer.
            let key = format!(
                "bridge-mirror-{}-{}-{:016x}",
                row.id,
                row.mirrored_at.timestamp_micros(),
                fnv1a(&[
                    title.as_bytes(),
                    parent_doc.as_deref().unwrap_or("").as_bytes()
                ])
            );
            let doc = client
                .kb2_add_document(collection, parent_num, &title, "", &key)
                .await
                .map_err(create_error)?;
            // A restored page's document was archived when it was retired.
            let replaced = current_doc
                .clone()
                .filter(|_| row.state != MirrorState::Trashed);
            let older = row.old_target_id.clone();
            update.target_page_id = doc.id.to_string();
            update.old_target_id = replaced.clone().or(older.clone());
            update.rehome_children = current_doc.is_some() || row.rehome_children;
            update.state = Some(MirrorState::Active);
            update.extra_parts = Vec::new();
            // Saved before anything else can fail: the retry finds the new document and
            // what it still owes.
            row = self.save(&row, w, &update).await?;
            if let (Some(older), Some(_)) = (older, replaced) {
                // A second move before the first one's clean-up: that older document goes
                // now (the children are written again under the new one either way).
                retire_article(client, KbKind::Kb2, &older).await?;
            }
        }
        let doc = parse_id(&row.target_page_id, "document")?;

        self.copy_attachments(w, CopyInto::Note(doc), ctx).await?;
        let (parts, report) = bridge_convert::to_markdown_parts(w.body, ctx, KB2_MARKDOWN_LIMIT);
        super::log_report(page.id, &report);
        let mut parts = parts.into_iter();
        let main = parts.next().unwrap_or_default();
        // A delivery that outlived its lease must not write over a newer one's content.
        self.keep_lease(w.chain, t, page.id).await?;
        client
            .kb2_update_document(doc, Some(&title), Some(&main))
            .await
            .map_err(write_error)?;
        let mut kept = Vec::new();
        for (i, part) in parts.enumerate() {
            let part_title = clip(&format!("{} (part {})", page.title, i + 2), TITLE_MAX);
            let existing = extra
                .get(i)
                .map(|id| parse_id(id, "document"))
                .transpose()?;
            let updated = match existing {
                Some(id) => match client
                    .kb2_update_document(id, Some(&part_title), Some(&part))
                    .await
                    .map_err(write_error)
                {
                    Ok(()) => Some(id),
                    // Someone deleted this part in B24: only the part is made again.
                    Err(e) if is_gone(&e) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            let id = match updated {
                Some(id) => id,
                None => {
                    let key = format!(
                        "bridge-mirror-{}-{}-{doc}-part{}",
                        row.id,
                        row.mirrored_at.timestamp_micros(),
                        i + 2
                    );
                    let d = client
                        .kb2_add_document(collection, Some(doc), &part_title, "", &key)
                        .await
                        .map_err(create_error)?;
                    client
                        .kb2_update_document(d.id, None, Some(&part))
                        .await
                        .map_err(write_error)?;
                    d.id
                }
            };
            kept.push(id.to_string());
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
        if (saved.rehome_children || saved.old_target_id.is_some())
            && !self
                .store
                .clear_pending(saved.id, &w.chain.holder)
                .await
                .map_err(db_error)?
        {
            return Err(lost_lease(page.id));
        }
        Ok(saved)
    }
}

/// `s` cut to at most `max` characters.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// 64-bit FNV-1a of the parts (with a separator): stable across releases, unlike std's
/// hasher, because idempotency keys must survive an upgrade between two attempts.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_titles_clipped() {
        assert_eq!(fnv1a(&[b"a", b"b"]), fnv1a(&[b"a", b"b"]));
        assert_ne!(fnv1a(&[b"ab", b""]), fnv1a(&[b"a", b"b"]));
        assert_eq!(clip("Привет", 3), "При");
        assert_eq!(clip(&"x".repeat(300), TITLE_MAX).len(), 255);
    }
}
