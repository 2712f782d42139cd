//! The per-portal leaky bucket: +1 per HTTP request (a `batch` is one), drains `drain_per_sec`
//! per second, a request is refused (503 `QUERY_LIMIT_EXCEEDED`) when the counter would pass
//! `burst`. Refusals are counted so tests can assert there were none.

use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Y: requests drained per second (2 on most plans, 5 on Enterprise).
    pub drain_per_sec: f64,
    /// X: the counter a request may bring the bucket to (50 on most plans, 250 on Enterprise).
    pub burst: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            drain_per_sec: 2.0,
            burst: 50.0,
        }
    }
}

impl LimitsConfig {
    pub fn enterprise() -> Self {
        LimitsConfig {
            drain_per_sec: 5.0,
            burst: 250.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Bucket {
    level: f64,
    at: Instant,
    pub violations: u64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            level: 0.0,
            at: Instant::now(),
            violations: 0,
        }
    }
}

impl Bucket {
    /// Takes one request; false (and a counted violation) when the bucket is full.
    pub fn take(&mut self, cfg: &LimitsConfig) -> bool {
        let now = Instant::now();
        let drained = now.duration_since(self.at).as_secs_f64() * cfg.drain_per_sec;
        self.level = (self.level - drained).max(0.0);
        self.at = now;
        if self.level + 1.0 > cfg.burst {
            self.violations += 1;
            false
        } else {
            self.level += 1.0;
            true
        }
    }

    pub fn level(&self) -> f64 {
        self.level
    }
}
