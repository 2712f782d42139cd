//! The Confluence sweep: Confluence drops webhooks without retrying, so every
//! [`SWEEP_INTERVAL`] the bridge asks the configured site with CQL what changed since its
//! high-water mark (stored in `confluence_sites.sweep_high_water`) and publishes the same
//! page envelopes the webhook path does. Their dedupe keys
//! (`source | confluence.page.updated | id | version`) collapse a webhook and a sweep report
//! of the same version downstream, so overlapping generously costs nothing but traffic.
//!
//! Time is the tricky part. CQL date literals have minute precision and are read in the API
//! user's time zone, and the search index lags behind edits. So the query reaches back
//! [`OVERLAP`] + [`TIME_ZONE_SLACK`] before the mark, and the results are filtered by their
//! exact, zoned `lastModified` against mark − [`OVERLAP`]. Results come newest first and
//! paging stops at the first page entirely older than that cut-off: with offset paging an
//! edit during the sweep moves its page to the front and shifts the others back (seen twice,
//! never skipped), whereas oldest-first would shift unread older pages forward past the
//! cursor and lose them. The mark moves only after every publish was confirmed, to the
//! newest `lastModified` seen (never past the local clock), so a failed pass is repeated.

use crate::WorkerContext;
use bridge_clients::confluence::{
    ConfluenceClient, ConfluenceError, ContentKind, DEFAULT_SEARCH_LIMIT, SearchHit, cql,
};
use bridge_core::envelope::{ContentType, PageAction, PageEvent};
use bridge_core::{Envelope, Payload, Source};
use bridge_db::{DbError, SiteStore};
use bridge_queue::QueueError;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(300);
/// How far back the first sweep of a site looks.
pub const FIRST_RUN_WINDOW: TimeDelta = TimeDelta::hours(1);
/// Re-read before the mark: search-index lag, minute precision, clock skew.
pub const OVERLAP: TimeDelta = TimeDelta::minutes(15);
/// Extra reach of the CQL date literal, which the server reads in the API user's time zone
/// (UTC−12 is the furthest behind UTC). Costs one page: results are filtered exactly.
pub const TIME_ZONE_SLACK: TimeDelta = TimeDelta::hours(14);

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the Confluence sweep is not configured: {0}")]
    NotConfigured(String),
    #[error("Confluence: {0}")]
    Confluence(#[from] ConfluenceError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("publish: {0}")]
    Publish(#[from] QueueError),
}

/// Sweeps on an interval until `shutdown`. Without `BRIDGE_CONFLUENCE_URL` it logs once and
/// returns; errors are logged and the next interval tries again.
pub async fn run(ctx: WorkerContext, shutdown: CancellationToken) {
    if ctx.config.confluence_url.is_none() {
        tracing::info!("BRIDGE_CONFLUENCE_URL is not set: the Confluence sweep does not run");
        return;
    }
    let client = match ConfluenceClient::from_config(&ctx.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "the Confluence sweep cannot start");
            return;
        }
    };
    loop {
        match sweep_with(&ctx, &client).await {
            Ok(n) => tracing::info!(published = n, site = client.site(), "Confluence sweep done"),
            Err(e) => {
                tracing::warn!(error = %e, site = client.site(), "Confluence sweep failed; retrying next interval")
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}

/// One pass for the configured site with a client built from the configuration. Returns
/// how many envelopes were published.
pub async fn sweep_once(ctx: &WorkerContext) -> Result<usize, SweepError> {
    if ctx.config.confluence_url.is_none() {
        return Err(SweepError::NotConfigured(
            "BRIDGE_CONFLUENCE_URL is not set".into(),
        ));
    }
    let client = ConfluenceClient::from_config(&ctx.config)?;
    sweep_with(ctx, &client).await
}

/// One pass with `client`.
pub async fn sweep_with(
    ctx: &WorkerContext,
    client: &ConfluenceClient,
) -> Result<usize, SweepError> {
    let site = client.site().to_owned();
    let sites = SiteStore::new(ctx.db.clone(), ctx.credentials.clone());
    let site_id = sites
        .ensure(&site, client.site_flavor(), client.auth_kind())
        .await?;
    let started = Utc::now();
    let mark = sites
        .sweep_high_water(site_id)
        .await?
        .unwrap_or(started - FIRST_RUN_WINDOW);
    let cutoff = mark - OVERLAP;

    let hits = changed_since(client, cutoff).await?;
    let mut published = 0;
    let mut newest: Option<DateTime<Utc>> = None;
    for hit in &hits {
        let Some(envelope) = envelope_for(&site, hit) else {
            continue;
        };
        ctx.publisher.publish(envelope).await?;
        published += 1;
        newest = newest.max(hit.last_modified);
    }
    if let Some(newest) = newest.map(|n| n.min(started))
        && newest > mark
    {
        sites.advance_sweep_high_water(site_id, newest).await?;
    } else if newest.is_none() && hits.is_empty() && mark < started - FIRST_RUN_WINDOW {
        // Nothing changed for a long time: keep the mark from falling ever further behind,
        // but never ahead of what the index may still be catching up on.
        sites
            .advance_sweep_high_water(site_id, started - FIRST_RUN_WINDOW)
            .await?;
    }
    tracing::debug!(site, %cutoff, found = hits.len(), published, "Confluence sweep pass");
    Ok(published)
}

/// Distinct (id, version) changes with `lastModified >= cutoff` (or no time given).
async fn changed_since(
    client: &ConfluenceClient,
    cutoff: DateTime<Utc>,
) -> Result<Vec<SearchHit>, ConfluenceError> {
    let query = cql::modified_since_newest_first(cutoff - TIME_ZONE_SLACK);
    let mut search = client.search_cql(&query, DEFAULT_SEARCH_LIMIT);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some(page) = search.next_page().await? {
        let mut any_recent = page.is_empty();
        for hit in page {
            let recent = hit.last_modified.is_none_or(|t| t >= cutoff);
            any_recent |= recent;
            if recent && seen.insert((hit.id, hit.version)) {
                out.push(hit);
            }
        }
        if !any_recent {
            break;
        }
    }
    // Oldest first, so consumers see versions in order where it matters.
    out.sort_by_key(|h| (h.last_modified, h.id, h.version));
    Ok(out)
}

/// The envelope the webhook path would publish for this change: `created` for version 1,
/// else `updated`, with the site as the ingress names it.
fn envelope_for(site: &str, hit: &SearchHit) -> Option<Envelope> {
    let content_type = match hit.content_type {
        ContentKind::Page => ContentType::Page,
        ContentKind::BlogPost => ContentType::BlogPost,
        _ => return None,
    };
    let action = if hit.version == Some(1) {
        PageAction::Created
    } else {
        PageAction::Updated
    };
    Some(Envelope::new(
        Source::Confluence {
            site: site.to_owned(),
        },
        hit.last_modified.unwrap_or_else(Utc::now),
        Payload::ConfluencePage(PageEvent {
            content_id: hit.id,
            content_type,
            action,
            space_key: hit.space_key.clone(),
            title: Some(hit.title.clone()).filter(|t| !t.is_empty()),
            version: hit.version,
            actor: hit
                .last_modifier
                .as_ref()
                .and_then(|u| u.id().map(str::to_owned)),
            minor_edit: hit.minor_edit,
        }),
    ))
}
