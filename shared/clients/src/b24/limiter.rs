//! The per-portal request budget, shared by the whole deployment through
//! [`bridge_db::RateLimits`] (GCRA in the database; ARCHITECTURE.md "Rate limits" says why).
//!
//! Every HTTP request to the portal takes one slot first (a `batch` is one request); the
//! client sleeps the wait the database hands back, then sends. The figures keep a margin
//! below the portal's own bucket so that several processes, network jitter and the
//! portal's clock never push it over.

use super::error::B24Error;
use bridge_db::RateLimits;
use std::time::Duration;

/// A portal's limit as Bitrix24 documents it: `drain_per_sec` requests per second sustained,
/// bursts up to `burst` (2 and 50 on most plans, 5 and 250 on Enterprise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub drain_per_sec: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            drain_per_sec: 2.0,
            burst: 50,
        }
    }
}

impl RateLimit {
    pub fn enterprise() -> Self {
        Self {
            drain_per_sec: 5.0,
            burst: 250,
        }
    }

    /// What the limiter actually allows: 95 % of the rate and a burst 10 % (at least 2)
    /// smaller, so in-flight jitter between processes cannot reach the portal's ceiling.
    pub fn with_margin(self) -> (f64, u32) {
        let margin = (self.burst / 10).max(2);
        (
            self.drain_per_sec * 0.95,
            self.burst.saturating_sub(margin).max(1),
        )
    }
}

/// Takes slots for one portal.
#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    store: Option<RateLimits>,
    key: String,
    limit: RateLimit,
    /// Longer waits are not slept but returned as [`B24Error::RateLimited`] (without taking
    /// a slot) so the job is retried later instead of holding a worker slot.
    max_wait: Duration,
}

impl Limiter {
    pub(crate) fn new(
        store: Option<RateLimits>,
        key: String,
        limit: RateLimit,
        max_wait: Duration,
    ) -> Self {
        Self {
            store,
            key,
            limit,
            max_wait,
        }
    }

    /// Waits for the next slot of this portal.
    pub(crate) async fn acquire(&self) -> Result<(), B24Error> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let (rate, burst) = self.limit.with_margin();
        // Reserved only if the wait is within max_wait: a refused caller takes no slot, so
        // a backlog of refused jobs cannot starve the portal.
        let slot = store
            .acquire_within(&self.key, rate, burst, self.max_wait)
            .await?;
        let wait = slot.wait;
        if !slot.reserved {
            return Err(B24Error::RateLimited(wait));
        }
        if !wait.is_zero() {
            tracing::trace!(wait_ms = wait.as_millis() as u64, "b24 rate limit wait");
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}
