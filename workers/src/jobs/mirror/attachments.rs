//! What a conversion needs from outside (page links, people, attachments), and copying a
//! page's attachments into B24 once per attachment version.

use super::write::{Target, Write};
use super::{MAX_ATTACHMENT_BYTES, Mirror};
use crate::jobs::errors::{confluence_error, db_error, handler_error};
use crate::jobs::link_sync::ConfluenceSide;
use bridge_clients::b24::kb2::note_file_allowed;
use bridge_clients::confluence::Attachment;
use bridge_convert::{AttachmentTarget, Context as ConvertContext, PageRef};
use bridge_core::ErrorClass;
use bridge_db::CopiedAttachment;
use bridge_db::entities::mirror_attachments;
use bridge_db::entities::mirror_pages::{self, KbKind, MirrorState};
use bridge_queue::HandlerError;
use std::collections::{BTreeSet, HashMap};

/// Where copied attachments go.
#[derive(Clone, Copy)]
pub(super) enum CopyInto {
    /// A Disk folder (classic knowledge base: articles link to the file).
    Disk(u64),
    /// A KB 2.0 document (`note.file.add`: embedded with its asset markdown).
    Note(u64),
}

/// Conversion context for one page: the space's mirrored pages by title (their article
/// URLs; other pages and other spaces link to Confluence), mentioned people by name,
/// attachments already copied, and Confluence's download URL for any not copied.
#[allow(clippy::too_many_arguments)]
pub(super) async fn convert_context(
    mirror: &Mirror,
    cf: &ConfluenceSide,
    t: &Target<'_>,
    space: &str,
    row: &mirror_pages::Model,
    attachments: &[Attachment],
    body: &str,
    page_id: u64,
) -> Result<ConvertContext, HandlerError> {
    let mut ctx = ConvertContext::default();
    let mut titles = HashMap::new();
    // Only the pages this body links to: reading the whole space for every write would make
    // a space's first mirror quadratic.
    let linked: Vec<String> = attribute_values(body, &["ri:content-title=\""])
        .into_iter()
        .map(|t| unescape_attribute(&t))
        .collect();
    for r in mirror
        .store
        .pages_titled(t.site_id, space, t.portal.id, &linked)
        .await
        .map_err(db_error)?
    {
        if let (MirrorState::Active, true, Some(url)) = (r.state, r.kb_kind == t.kind, r.target_url)
        {
            titles.insert(r.title, url);
        }
    }
    // The site's web address (not the API's: with OAuth that is the gateway).
    let site = cf.client.site().trim_end_matches('/').to_owned();
    let home_space = space.to_owned();
    let web = site.clone();
    ctx.page_resolver = Some(Box::new(move |p: &PageRef<'_>| {
        let key = p.space_key.unwrap_or(&home_space);
        if key == home_space
            && let Some(url) = titles.get(p.title)
        {
            return Some(url.clone());
        }
        let mut url = url::Url::parse(&web).ok()?;
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(["display", key, p.title]);
        Some(url.to_string())
    }));
    ctx.attachment_base = Some(format!("{site}/download/attachments/{page_id}/"));
    for who in attribute_values(body, &["ri:account-id=\"", "ri:userkey=\""]) {
        let name = cf.display_name(&who).await;
        ctx.users.insert(who, name);
    }
    if row.kb_kind == t.kind {
        let copied = mirror.store.attachments(row.id).await.map_err(db_error)?;
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
    }
    Ok(ctx)
}

/// Confluence's download URL of a page's attachment (links to files not copied, and KB 2.0
/// links to files, which the note API gives no URL for).
pub(super) fn confluence_file_url(site: &str, page_id: u64, file_name: &str) -> String {
    let base = format!(
        "{}/download/attachments/{page_id}/",
        site.trim_end_matches('/')
    );
    match url::Url::parse(&base) {
        Ok(mut u) => {
            if let Ok(mut segs) = u.path_segments_mut() {
                segs.pop_if_empty().push(file_name);
            }
            u.to_string()
        }
        Err(_) => format!("{base}{file_name}"),
    }
}

impl Mirror {
    /// Copies the attachments not yet copied at their current version into `into`; adds
    /// them to `ctx`. Files too large or refused for good are skipped (their links keep
    /// pointing at Confluence, the log says why); anything else fails the delivery.
    pub(super) async fn copy_attachments(
        &self,
        w: &Write<'_>,
        into: CopyInto,
        ctx: &mut ConvertContext,
    ) -> Result<usize, HandlerError> {
        let (cf, client, row_id, page_id) = (w.cf, &w.t.client, w.row.id, w.page.id);
        let attachments = w.attachments;
        let mut copied = 0;
        for a in attachments {
            if ctx.attachments.contains_key(&a.file_name) {
                continue;
            }
            let kind = match into {
                CopyInto::Disk(_) => KbKind::Classic,
                CopyInto::Note(_) => KbKind::Kb2,
            };
            if !copyable(kind, a) {
                tracing::info!(attachment = %a.file_name, size = ?a.file_size, "attachment not copied (too large, or a type the knowledge base refuses); linked in Confluence");
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
                    .map(|f| {
                        (
                            f.id.to_string(),
                            confluence_file_url(cf.client.site(), page_id, &a.file_name),
                            Some(f.asset_markdown),
                        )
                    }),
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
}

/// Whether an attachment is copied into a knowledge base of `kind`: not too large, and for
/// KB 2.0 of a documented file type (checked before downloading it).
fn copyable(kind: KbKind, a: &Attachment) -> bool {
    a.file_size.is_none_or(|s| s <= MAX_ATTACHMENT_BYTES)
        && (kind == KbKind::Classic || note_file_allowed(&a.file_name))
}

/// Whether the copies of a page's files match its attachments now: every copyable
/// attachment copied at its current version, and no copy of a file that is gone.
pub(super) fn copies_current(
    kind: KbKind,
    attachments: &[Attachment],
    copies: &[mirror_attachments::Model],
) -> bool {
    let copied = |a: &Attachment| {
        copies
            .iter()
            .any(|c| c.attachment_id == a.id && i64::from(c.version) == i64::from(a.version))
    };
    attachments.iter().all(|a| !copyable(kind, a) || copied(a))
        && copies
            .iter()
            .all(|c| attachments.iter().any(|a| a.id == c.attachment_id))
}

/// The values of the attributes `attrs` (each given with its `="`) in a storage-format
/// body: the people it mentions (`ri:account-id` on Cloud, `ri:userkey` on DC), the pages
/// it links to (`ri:content-title`). A scan, not a parse: only used to know what to look up.
fn attribute_values(body: &str, attrs: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for attr in attrs {
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

/// The XML escapes an attribute value may carry (titles are compared decoded).
fn unescape_attribute(v: &str) -> String {
    if !v.contains('&') {
        return v.to_owned();
    }
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_on_both_flavours() {
        let body = r#"<p><ac:link><ri:user ri:account-id="557058:abc"/></ac:link> and
            <ac:link><ri:user ri:userkey="8a7f"/></ac:link> <ri:user ri:account-id=""/></p>"#;
        let got: Vec<_> = attribute_values(body, &["ri:account-id=\"", "ri:userkey=\""])
            .into_iter()
            .collect();
        assert_eq!(got, vec!["557058:abc".to_owned(), "8a7f".to_owned()]);
    }

    #[test]
    fn linked_titles_are_found_and_unescaped() {
        let body = r#"<ac:link><ri:page ri:content-title="Q&amp;A &lt;2&gt;"/></ac:link>"#;
        let got: Vec<_> = attribute_values(body, &["ri:content-title=\""])
            .iter()
            .map(|t| unescape_attribute(t))
            .collect();
        assert_eq!(got, vec!["Q&A <2>".to_owned()]);
    }

    fn attachment(id: &str, name: &str, version: u32, size: u64) -> Attachment {
        Attachment {
            id: id.into(),
            file_name: name.into(),
            media_type: None,
            file_size: Some(size),
            version,
            download: format!("/download/attachments/1/{name}"),
        }
    }

    fn copy(id: &str, version: i32) -> mirror_attachments::Model {
        mirror_attachments::Model {
            id: 1,
            mirror_page_id: 1,
            attachment_id: id.into(),
            version,
            file_name: String::new(),
            target_file_id: "9".into(),
            target_url: String::new(),
            markdown_embed: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn copies_are_current_only_when_every_copyable_file_is_copied_at_its_version() {
        let png = attachment("1", "a.png", 2, 10);
        let exe = attachment("2", "tool.exe", 1, 10);
        let huge = attachment("3", "big.pdf", 1, MAX_ATTACHMENT_BYTES + 1);
        let files = [png.clone(), exe.clone(), huge];
        assert!(copies_current(KbKind::Kb2, &files, &[copy("1", 2)]));
        assert!(
            !copies_current(KbKind::Kb2, &files, &[copy("1", 1)]),
            "new version"
        );
        assert!(
            !copies_current(KbKind::Classic, &files, &[copy("1", 2)]),
            "classic copies the .exe"
        );
        assert!(copies_current(
            KbKind::Classic,
            &files,
            &[copy("1", 2), copy("2", 1)]
        ));
        assert!(
            !copies_current(KbKind::Kb2, &[exe], &[copy("1", 2)]),
            "a copied file is gone"
        );
        assert!(copies_current(KbKind::Kb2, &[], &[]));
    }

    #[test]
    fn confluence_file_urls_are_encoded() {
        assert_eq!(
            confluence_file_url("https://x.atlassian.net/wiki/", 42, "a b#1.pdf"),
            "https://x.atlassian.net/wiki/download/attachments/42/a%20b%231.pdf"
        );
    }
}
