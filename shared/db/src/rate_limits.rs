//! Deployment-wide rate limits: GCRA (the generic cell rate algorithm) with its one number of
//! state per key kept in the database, so every worker replica draws from the same budget.
//!
//! GCRA models a leaky bucket of `burst` requests draining `rate` per second with a single
//! timestamp, the *theoretical arrival time* (TAT): the moment the bucket would be empty
//! again. A request at `now` is due at `max(TAT, now) - τ` where `τ = (burst - 1) · T` and
//! `T = 1 / rate`; reserving it moves the TAT to `max(TAT, now) + T`. [`RateLimits::acquire`]
//! does that read-modify-write in one statement (`INSERT … ON CONFLICT DO UPDATE …
//! RETURNING`), which the database serialises per row, and answers how long the caller has
//! to wait before sending. `now` is the database server's clock, so the callers' clocks never
//! enter the arithmetic: only the relative wait travels back.

use crate::{Backend, Db, DbError};
use sea_orm::{ConnectionTrait, Statement, Value};
use std::time::Duration;

/// Longest key the schema holds.
const MAX_KEY_LEN: usize = 255;

/// Microseconds since the epoch on the database server's clock.
const PG_NOW_US: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint";
const SQLITE_NOW_US: &str = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)";

/// The answer of [`RateLimits::acquire_within`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// How long to wait before sending (reserved), or until a slot within the caller's
    /// `max_wait` could be had at the earliest (refused).
    pub wait: Duration,
    /// Whether a slot was reserved. `false`: the wait exceeded `max_wait` and the state was
    /// left unchanged.
    pub reserved: bool,
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// Store of GCRA states over a [`Db`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RateLimits {
    db: Db,
}

impl RateLimits {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Reserves the next slot of `key` under a limit of `rate_per_sec` sustained with bursts
    /// of up to `burst` requests, and returns how long to wait before using it (zero when the
    /// bucket has room). Always reserves, however long the wait: see
    /// [`acquire_within`](Self::acquire_within) for callers that give up on long waits.
    pub async fn acquire(
        &self,
        key: &str,
        rate_per_sec: f64,
        burst: u32,
    ) -> Result<Duration, DbError> {
        Ok(self
            .acquire_within(key, rate_per_sec, burst, Duration::MAX)
            .await?
            .wait)
    }

    /// As [`acquire`](Self::acquire), but reserves the slot only when its wait is at most
    /// `max_wait`. The decision and the reservation are one statement (the upsert's
    /// `DO UPDATE … WHERE wait ≤ max_wait`), so a caller that is refused leaves the state as
    /// it was: a backlog of refused callers cannot push the portal's next slot ever further
    /// out. A refused caller learns its wait from a read that writes nothing.
    ///
    /// The reservation, once made, holds whether or not the caller then sends, so a caller
    /// that gives up afterwards only makes the limit stricter, never looser.
    pub async fn acquire_within(
        &self,
        key: &str,
        rate_per_sec: f64,
        burst: u32,
        max_wait: Duration,
    ) -> Result<Slot, DbError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(DbError::Invalid {
                what: "rate-limit key",
                reason: format!("must be 1 to {MAX_KEY_LEN} bytes long"),
            });
        }
        if !(rate_per_sec.is_finite() && rate_per_sec > 0.0) {
            return Err(DbError::Invalid {
                what: "rate",
                reason: "must be a positive number of requests per second".into(),
            });
        }
        // Emission interval T and tolerance τ, whole microseconds.
        let t_us = ((1_000_000.0 / rate_per_sec).round() as i64).max(1);
        let tau_us = t_us.saturating_mul(i64::from(burst.max(1) - 1));
        let max_us = i64::try_from(max_wait.as_micros()).unwrap_or(i64::MAX);
        let conn = self.db.conn();
        // The wait of the next slot is `max(TAT, now) - τ - now`; the slot is reserved (TAT
        // moved to `max(TAT, now) + T`) only when that is ≤ max_wait. A new key has room.
        let (reserve, values, wait_sql): (String, Vec<Value>, String) = match self.db.backend() {
            Backend::Postgres => {
                let now = PG_NOW_US;
                (
                    format!(
                        "INSERT INTO rate_limits (\"key\", tat_us) VALUES ($1, {now} + $2) \
                     ON CONFLICT (\"key\") DO UPDATE \
                     SET tat_us = GREATEST(rate_limits.tat_us, {now}) + $2 \
                     WHERE GREATEST(rate_limits.tat_us, {now}) - $3 - {now} <= $4 \
                     RETURNING GREATEST(0, tat_us - $2 - $3 - {now}) AS wait_us"
                    ),
                    vec![key.into(), t_us.into(), tau_us.into(), max_us.into()],
                    format!(
                        "SELECT GREATEST(0, tat_us - $2 - {now}) AS wait_us \
                         FROM rate_limits WHERE \"key\" = $1"
                    ),
                )
            }
            // SQLite runs one writer at a time, so the single statement is atomic too.
            Backend::Sqlite => {
                let now = SQLITE_NOW_US;
                (
                    format!(
                        "INSERT INTO rate_limits (\"key\", tat_us) VALUES (?1, {now} + ?2) \
                     ON CONFLICT (\"key\") DO UPDATE \
                     SET tat_us = MAX(rate_limits.tat_us, {now}) + ?2 \
                     WHERE MAX(rate_limits.tat_us, {now}) - ?3 - {now} <= ?4 \
                     RETURNING MAX(0, tat_us - ?2 - ?3 - {now}) AS wait_us"
                    ),
                    vec![key.into(), t_us.into(), tau_us.into(), max_us.into()],
                    format!(
                        "SELECT MAX(0, tat_us - ?2 - {now}) AS wait_us \
                         FROM rate_limits WHERE \"key\" = ?1"
                    ),
                )
            }
        };
        let backend = conn.get_database_backend();
        let reserved = conn
            .query_one_raw(Statement::from_sql_and_values(backend, reserve, values))
            .await?;
        if let Some(row) = reserved {
            let wait_us: i64 = row.try_get("", "wait_us")?;
            return Ok(Slot {
                wait: micros(wait_us),
                reserved: true,
            });
        }
        // Refused: nothing was written. Report the wait the next slot has now.
        let row = conn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                wait_sql,
                vec![key.into(), tau_us.into()],
            ))
            .await?;
        let wait_us = match row {
            Some(row) => row.try_get::<i64>("", "wait_us")?,
            None => max_us,
        };
        Ok(Slot {
            wait: micros(wait_us).max(max_wait),
            reserved: false,
        })
    }

    /// Forgets the state of `key` (tests, or after changing a portal's plan).
    pub async fn reset(&self, key: &str) -> Result<(), DbError> {
        use crate::entities::rate_limits::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        Entity::delete_many()
            .filter(Column::Key.eq(key))
            .exec(self.db.conn())
            .await?;
        Ok(())
    }
}
