//! When a retryable failure is tried again.

use std::time::Duration;

/// The delayed-retry schedule: retry `n` (1-based) waits `schedule[n-1]`; after the last step
/// a retryable failure is parked as exhausted.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
}

impl RetryPolicy {
    pub fn new(schedule: Vec<Duration>) -> Self {
        Self { schedule }
    }

    /// The wait before the next try of a message that has been tried `attempt + 1` times, or
    /// `None` when the schedule is used up.
    ///
    /// A `Retry-After` hint from the remote side moves the wait up to the first step that is
    /// at least as long (waits are fixed tiers of wait queues), but never past the last step.
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let planned = *self.schedule.get(attempt as usize)?;
        let Some(hint) = retry_after.filter(|h| *h > planned) else {
            return Some(planned);
        };
        let longest = self.schedule.iter().copied().max().unwrap_or(planned);
        Some(
            self.schedule
                .iter()
                .copied()
                .filter(|d| *d >= hint)
                .min()
                .unwrap_or(longest),
        )
    }

    pub fn max_retries(&self) -> usize {
        self.schedule.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn follows_the_schedule_then_stops() {
        let p = RetryPolicy::new(vec![s(5), s(30), s(120)]);
        assert_eq!(p.next_delay(0, None), Some(s(5)));
        assert_eq!(p.next_delay(2, None), Some(s(120)));
        assert_eq!(p.next_delay(3, None), None);
    }

    #[test]
    fn retry_after_picks_a_long_enough_tier_but_is_clamped() {
        let p = RetryPolicy::new(vec![s(5), s(30), s(120)]);
        assert_eq!(p.next_delay(0, Some(s(20))), Some(s(30)));
        assert_eq!(p.next_delay(0, Some(s(3))), Some(s(5)));
        assert_eq!(p.next_delay(0, Some(s(9999))), Some(s(120)));
    }
}
