//! Reconcilers: both vendors drop events without retrying, so the bridge also looks for what
//! it missed and publishes the same envelopes as the webhook path (deduplicated downstream by
//! their dedupe keys). Not queue consumers: they run on an interval.

pub mod b24_offline;
pub mod confluence_sweep;

use crate::WorkerContext;
use tokio_util::sync::CancellationToken;

/// Runs every reconciler until `shutdown`.
pub async fn run(ctx: WorkerContext, shutdown: CancellationToken) {
    tokio::join!(
        confluence_sweep::run(ctx.clone(), shutdown.clone()),
        b24_offline::run(ctx, shutdown),
    );
}
