//! Skips events a consumer has already processed (same envelope id: a redelivery or a
//! replayed dead letter; same dedupe key: the same change reported again by reconciliation).
//!
//! The mark is written after the handler succeeded, so a crash between the effect and the
//! mark runs the handler again: handlers stay idempotent per effect; this wrapper saves
//! them the repeat in the common case and makes a second replay a no-op.

use bridge_core::Envelope;
use bridge_db::{Db, ProcessedEvents};
use bridge_queue::{DeliveryContext, Handler, HandlerError};
use std::sync::Arc;

pub struct Deduplicated {
    consumer: String,
    store: ProcessedEvents,
    inner: Arc<dyn Handler>,
}

impl Deduplicated {
    pub fn wrap(consumer: &str, db: Db, inner: Arc<dyn Handler>) -> Arc<dyn Handler> {
        Arc::new(Self {
            consumer: consumer.to_owned(),
            store: ProcessedEvents::new(db),
            inner,
        })
    }
}

#[async_trait::async_trait]
impl Handler for Deduplicated {
    async fn handle(&self, envelope: Envelope, ctx: DeliveryContext) -> Result<(), HandlerError> {
        let (id, key) = (envelope.id, envelope.dedupe_key.clone());
        let seen = self
            .store
            .is_processed(&self.consumer, id, &key)
            .await
            .map_err(|e| HandlerError::retryable(format!("database: {e}")))?;
        if seen {
            tracing::info!(consumer = %self.consumer, %id, "already processed; skipping");
            return Ok(());
        }
        self.inner.handle(envelope, ctx).await?;
        self.store
            .mark_processed(&self.consumer, id, &key)
            .await
            .map_err(|e| HandlerError::retryable(format!("database: {e}")))?;
        Ok(())
    }
}
