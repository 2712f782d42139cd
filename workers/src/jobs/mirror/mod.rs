//! `mirror`: keeps a B24 knowledge-base copy of each mirrored space current (DESIGN §2.7).
//!
//! A space is mirrored into a portal when an admin sets its mode (`bridgectl space mode`,
//! `space_chat_rules`). Then:
//!
//! - `confluence.page.*` (any action): for a space nobody mirrors, of a page with no
//!   article, nothing is asked of anyone. Otherwise the page is written into every portal
//!   mirroring its space, or its articles are retired when it was trashed, purged or left its
//!   space. Whatever the event said, the page is read again from Confluence *under the page's
//!   lease* — status, version, title and parent there are the truth, since retries and
//!   concurrent deliveries reorder events.
//! - `confluence.attachment.*`: a file of a page with articles was added, replaced, trashed
//!   or restored — the page is written again when its copies differ from its attachments,
//!   although its version did not change (its container looked up when the webhook does not
//!   name it; a burst of events for one page writes it once).
//! - `bridge.mirror.space`: every page of the space is queued as `bridge.mirror.page`
//!   (parents first), plus every live article whose page is no longer listed.
//! - `bridge.mirror.page`: one page into one portal (`force` writes it even when current).
//!
//! Writing a page ([`write`]): skipped when the version, title, place and knowledge base
//! are already mirrored and nothing is owed. Otherwise the knowledge base is created on first
//! use, the page's Confluence parent is mirrored first when it has no article in that
//! knowledge base yet, attachments are copied once per attachment version ([`attachments`]),
//! the body is converted with links to mirrored pages of the space pointing at their
//! articles, other page links and uncopied attachments at Confluence, and the article is
//! created or updated — [`classic`] (landing site of TYPE KNOWLEDGE, folders, an HTML block,
//! publication) or [`kb2`] (`note.*` with `parentId`, split past 1 MiB).
//!
//! A space moved to the other kind of knowledge base, or to another knowledge base, starts
//! afresh there and retires the old articles; a space set back to link mode keeps its
//! articles as they are (nothing is taken away silently).

mod attachments;
mod classic;
mod kb2;
mod lease;
mod write;

use crate::WorkerContext;
use crate::jobs::errors::{confluence_error, db_error};
use crate::jobs::link_sync::{ConfluenceSide, configured};
use bridge_clients::b24::B24Clients;
use bridge_clients::confluence::{ContentKind, ContentStatus};
use bridge_core::envelope::MirrorRequested;
use bridge_core::{Envelope, Payload, Source};
use bridge_db::MirrorStore;
use bridge_db::entities::b24_portals;
use bridge_db::entities::mirror_pages::MirrorState;
use bridge_queue::{DeliveryContext, Handler, HandlerError, Publisher};
use lease::Chain;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// How long a delivery keeps others off a page (a page with big attachments takes a while;
/// after a crash the next delivery waits at most this long — the retry schedule outlasts it).
pub const PAGE_LEASE: Duration = Duration::from_secs(600);
/// Attachments larger than this are not copied (KB 2.0's default file limit); their links
/// keep pointing at Confluence and the log says so.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;
/// Ancestors mirrored ahead of a page, and levels of children written again after a move, at
/// most (guards against a parent cycle in bad data).
const MAX_DEPTH: usize = 32;

pub struct Mirror {
    clients: B24Clients,
    confluence: Option<ConfluenceSide>,
    store: MirrorStore,
    publisher: Publisher,
}

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
        configured(self.confluence.as_ref())
    }

    /// A page changed (or a re-sync asked for it): write it into every portal mirroring its
    /// space (or only `only_member`), retire its articles where it no longer belongs.
    async fn page_changed(
        &self,
        cf: &ConfluenceSide,
        chain: &Chain,
        content_id: u64,
        only_member: Option<&str>,
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
        let current = page.as_ref().filter(|p| p.status == ContentStatus::Current);
        if current.is_some_and(|p| p.space_key.is_none()) {
            // A current page whose space could not be named: nothing to decide on.
            tracing::warn!(content_id, "page has no space key; mirror skipped");
            return Ok(());
        }
        let mut errors = Vec::new();
        let mut written = HashSet::new();
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
                    Ok(t) => self.mirror(cf, chain, &t, page.id, 0).await.map(drop),
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    tracing::warn!(content_id, portal = %portal.member_id, error = %e, "mirror failed");
                    errors.push(e);
                }
            }
        }
        // Articles of a page that was trashed or purged, or left its space.
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
            if let Err(e) = self.retire(cf, chain, &portal, &row).await {
                tracing::warn!(content_id, portal = %portal.member_id, error = %e, "retiring the article failed");
                errors.push(e);
            }
        }
        combine(errors)
    }

    /// Queues every page of a mirrored space (parents first) as one request each, and every
    /// live article whose page is no longer listed, so it is retired.
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
        if let Some(portal) = self
            .store
            .portal_by_member(&req.member_id)
            .await
            .map_err(db_error)?
        {
            for r in self
                .store
                .pages_in_space(site_id, &req.space_key, portal.id)
                .await
                .map_err(db_error)?
            {
                let id = u64::try_from(r.content_id).unwrap_or_default();
                if !listed.contains(&id) && r.state == MirrorState::Active {
                    ids.push(id);
                }
            }
        }
        self.request_pages(req, &ids).await?;
        tracing::info!(space = %req.space_key, portal = %req.member_id, pages = ids.len(), "space mirror queued");
        Ok(())
    }

    /// Publishes one `bridge.mirror.page` per id (confirmed).
    async fn request_pages(&self, like: &MirrorRequested, ids: &[u64]) -> Result<(), HandlerError> {
        for id in ids {
            self.publisher
                .publish(Envelope::new(
                    Source::Bridge {
                        component: "mirror".into(),
                    },
                    chrono::Utc::now(),
                    Payload::MirrorRequested(MirrorRequested {
                        content_id: Some(*id),
                        ..like.clone()
                    }),
                ))
                .await
                .map_err(|e| HandlerError::retryable(format!("queueing page {id}: {e}")))?;
        }
        Ok(())
    }

    /// Whether a page event can matter: some portal mirrors its space, or it has articles.
    async fn concerns_mirror(
        &self,
        cf: &ConfluenceSide,
        space: &str,
        content_id: u64,
    ) -> Result<bool, HandlerError> {
        let site_id = cf.site_id().await?;
        if !self
            .store
            .mirroring(site_id, space)
            .await
            .map_err(db_error)?
            .is_empty()
        {
            return Ok(true);
        }
        Ok(!self
            .store
            .articles_of(site_id, content_id)
            .await
            .map_err(db_error)?
            .is_empty())
    }
}

#[async_trait::async_trait]
impl Handler for Mirror {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        match (&envelope.source, &envelope.payload) {
            (source, Payload::ConfluencePage(p)) => {
                let cf = self.confluence()?;
                if !cf.is_source(source) {
                    return Err(HandlerError::permanent(format!(
                        "event from {source}, not the configured Confluence site"
                    )));
                }
                // Most spaces are link-only: answer those without asking Confluence.
                if let Some(space) = &p.space_key
                    && !self.concerns_mirror(cf, space, p.content_id).await?
                {
                    return Ok(());
                }
                let chain = Chain::new(&envelope, false, false);
                self.page_changed(cf, &chain, p.content_id, None).await
            }
            (source, Payload::ConfluenceAttachment(a)) => {
                let cf = self.confluence()?;
                if !cf.is_source(source) {
                    return Err(HandlerError::permanent(format!(
                        "event from {source}, not the configured Confluence site"
                    )));
                }
                let page_id = match a.page_id {
                    Some(p) => p,
                    None => match cf.client.attachment_container(a.attachment_id).await {
                        Ok(Some(p)) => p,
                        // Purged with its page, or on no page: nothing mirrored depends on it.
                        Ok(None) => return Ok(()),
                        Err(e) if e.is_not_found() => return Ok(()),
                        Err(e) => return Err(confluence_error(e)),
                    },
                };
                // Only pages with articles matter: a page not mirrored yet is written with
                // its files by its own event.
                let site_id = cf.site_id().await?;
                if self
                    .store
                    .articles_of(site_id, page_id)
                    .await
                    .map_err(db_error)?
                    .is_empty()
                {
                    return Ok(());
                }
                // The page's version did not change: its files are compared instead.
                let chain = Chain::new(&envelope, false, true);
                self.page_changed(cf, &chain, page_id, None).await
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
                        let chain = Chain::new(&envelope, req.force, false);
                        self.page_changed(cf, &chain, id, Some(&req.member_id))
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

/// Several portals' failures as one (see [`crate::jobs::errors::combine`]).
fn combine(errors: Vec<HandlerError>) -> Result<(), HandlerError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::jobs::errors::combine(errors))
    }
}

fn log_report(content_id: u64, report: &bridge_convert::Report) {
    if !report.is_clean() {
        tracing::info!(content_id, report = %report.to_string().trim_end(), "conversion approximated some constructs");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_codes_are_safe() {
        assert_eq!(code_of("DOC"), "doc");
        assert_eq!(code_of("~jsmith"), "-jsmith");
        assert_eq!(code_of("~~"), "space");
    }

    #[test]
    fn no_failures_combine_to_success() {
        assert!(combine(Vec::new()).is_ok());
    }
}
