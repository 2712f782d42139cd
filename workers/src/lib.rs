//! The worker runner: one consumer per worker kind, all built on the queue crate's runtime.
//!
//! `bridge-worker fanout` runs one kind; `bridge-worker --all` (or `bridgectl standalone`)
//! runs every kind in one process. Each kind's business steps live in [`jobs`]; everything
//! about acking, retrying and parking lives in `bridge_queue::consumer` so every kind behaves
//! the same.

mod context;
pub mod dedupe;
pub mod http;
pub mod jobs;
pub mod reconcile;

pub use context::WorkerContext;

use bridge_core::WorkerKind;
use bridge_db::Db;
use bridge_queue::{Broker, ConsumerOptions, ConsumerSpec, Topology};
use tokio_util::sync::CancellationToken;

/// Runs the consumers of `kinds` until `shutdown` is cancelled and their in-flight messages
/// are finished.
pub async fn run(
    ctx: WorkerContext,
    broker: Broker,
    kinds: &[WorkerKind],
    shutdown: CancellationToken,
) {
    let config = ctx.config.clone();
    let db = ctx.db.clone();
    let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
    let options = ConsumerOptions {
        concurrency: config.worker_concurrency,
        shutdown_grace: config.shutdown_grace,
        confirm_timeout: config.publish_timeout,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for &kind in kinds {
        let handler =
            dedupe::Deduplicated::wrap(kind.as_str(), db.clone(), jobs::handler_for(kind, &ctx));
        tasks.spawn(bridge_queue::consumer::run(
            broker.clone(),
            topology.clone(),
            ConsumerSpec::for_worker(kind),
            handler,
            options.clone(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(prune_bookkeeping(db.clone(), shutdown.clone()));
    while tasks.join_next().await.is_some() {}
}

/// How long a kind remembers that it processed an event. Redeliveries come within minutes
/// and reconciliation within hours; a dead letter replayed later than this runs its handler
/// again, which handlers tolerate (they are idempotent per effect).
const PROCESSED_EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// How long page edits that were already folded into a comment are kept (for inspection).
const FLUSHED_EDIT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Forgets bookkeeping that only costs space once old: processed-event keys, flushed page
/// edits and settled comment-ledger rows (the per-link version floor stays). Hourly.
async fn prune_bookkeeping(db: Db, shutdown: CancellationToken) {
    let events = bridge_db::ProcessedEvents::new(db.clone());
    let ledger = bridge_db::CommentLedger::new(db);
    loop {
        let now = chrono::Utc::now();
        match events.prune_before(now - PROCESSED_EVENT_RETENTION).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "forgot old processed-event keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning processed-event keys failed"),
        }
        match ledger
            .prune_edits_before(now - FLUSHED_EDIT_RETENTION)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "forgot flushed page edits"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning page edits failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
