//! Who works on a page now: the page's lease in `mirror_pages` (database clock) keeps other
//! deliveries off, and a [`Chain`] remembers what this delivery holds, so the nested writes
//! of one delivery (a parent mirrored first, children written again after a move) neither
//! take a page twice nor let it go early.
//!
//! The holder is the envelope id plus a token of this handling: two copies of one envelope
//! in flight (a replayed dead letter whose first copy is still running) exclude each other
//! like any two deliveries. After a crash the redelivery waits for the lease to expire.

use super::{Mirror, PAGE_LEASE};
use crate::jobs::errors::db_error;
use bridge_core::Envelope;
use bridge_db::entities::mirror_pages::{self, KbKind};
use bridge_queue::HandlerError;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// One handling of one envelope.
pub(super) struct Chain {
    pub holder: String,
    /// Write the requested page even when already mirrored.
    pub force: bool,
    /// The requested page's files changed (an attachment event): write it when its copies
    /// differ from Confluence's attachments, although its version did not change.
    pub files: bool,
    held: Mutex<HashSet<(i64, u64)>>,
}

impl Chain {
    pub fn new(envelope: &Envelope, force: bool, files: bool) -> Self {
        let token = uuid::Uuid::new_v4().simple().to_string();
        Self {
            // 32 + 1 + 8 characters: fits `lease_holder`.
            holder: format!("{}-{}", envelope.id.simple(), &token[..8]),
            force,
            files,
            held: Mutex::default(),
        }
    }

    /// Whether this chain holds the page of `portal_id` now.
    pub fn holds(&self, portal_id: i64, content_id: u64) -> bool {
        self.held
            .lock()
            .is_ok_and(|h| h.contains(&(portal_id, content_id)))
    }

    fn hold(&self, portal_id: i64, content_id: u64) {
        if let Ok(mut h) = self.held.lock() {
            h.insert((portal_id, content_id));
        }
    }

    fn drop_hold(&self, portal_id: i64, content_id: u64) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(&(portal_id, content_id));
        }
    }
}

/// What claiming a page gave.
pub(super) enum Claim {
    /// The lease is this chain's now; release it when done.
    Taken(Box<mirror_pages::Model>),
    /// An outer step of this chain holds it and writes it.
    Held,
}

/// How long a delivery's first step waits for a page another delivery is writing before
/// it gives up for now (retryable). Writes of one page take seconds at B24's request rate;
/// waiting here instead of going back to the broker keeps a busy page from using up a
/// delivery's retries.
const LEASE_WAIT: Duration = Duration::from_secs(30);

impl Mirror {
    /// Takes the page's lease (creating its row), unless this chain holds it already. When
    /// another delivery holds it, the chain's first step (`wait`) waits up to
    /// [`LEASE_WAIT`]; nested steps do not wait (two chains each holding a page the other
    /// needs would otherwise wait on each other), and end retryable.
    pub(super) async fn claim(
        &self,
        chain: &Chain,
        site_id: i64,
        content_id: u64,
        portal_id: i64,
        kind: KbKind,
        wait: bool,
    ) -> Result<Claim, HandlerError> {
        if chain.holds(portal_id, content_id) {
            return Ok(Claim::Held);
        }
        let deadline = tokio::time::Instant::now() + if wait { LEASE_WAIT } else { Duration::ZERO };
        let mut pause = Duration::from_millis(100);
        loop {
            if let Some(row) = self
                .store
                .claim_page(
                    site_id,
                    content_id,
                    portal_id,
                    kind,
                    &chain.holder,
                    PAGE_LEASE,
                )
                .await
                .map_err(db_error)?
            {
                chain.hold(portal_id, content_id);
                return Ok(Claim::Taken(Box::new(row)));
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(HandlerError::retryable(format!(
                    "another delivery is mirroring page {content_id}; trying again later"
                ))
                .with_retry_after(Duration::from_secs(2)));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Gives a page taken by [`claim`](Self::claim) back.
    pub(super) async fn release(&self, chain: &Chain, row: &mirror_pages::Model) {
        let content_id = u64::try_from(row.content_id).unwrap_or_default();
        chain.drop_hold(row.portal_id, content_id);
        if let Err(e) = self.store.release_page(row.id, &chain.holder).await {
            tracing::warn!(content_id, error = %e, "could not release the page lease (it expires)");
        }
    }
}
