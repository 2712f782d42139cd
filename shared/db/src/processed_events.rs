//! Idempotency for consumers (DESIGN §5 "effects are idempotent"): a worker marks an event
//! as processed once its effect is durable, and skips events already marked. An event is a
//! duplicate for a consumer if the consumer has seen its id (a redelivery or a replayed dead
//! letter) *or* its dedupe key (the same change reported again by reconciliation).

use crate::entities::processed_events::{ActiveModel, Column, Entity};
use crate::{Db, DbError};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Longest consumer name and dedupe key the schema holds.
const MAX_CONSUMER_LEN: usize = 64;
const MAX_KEY_LEN: usize = 512;

/// Store of processed-event keys over a [`Db`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProcessedEvents {
    db: Db,
}

impl ProcessedEvents {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records that `consumer` processed the event. Returns `true` the first time and
    /// `false` if the event id or dedupe key was already recorded for this consumer; never
    /// fails on the duplicate itself (the insert ignores the unique-index conflict), so
    /// concurrent workers racing on one event see exactly one `true`.
    pub async fn mark_processed(
        &self,
        consumer: &str,
        event_id: Uuid,
        dedupe_key: &str,
    ) -> Result<bool, DbError> {
        check_consumer(consumer)?;
        let row = ActiveModel {
            consumer: Set(consumer.to_owned()),
            event_id: Set(event_id),
            dedupe_key: Set(stored_key(dedupe_key)),
            processed_at: Set(Utc::now()),
            ..Default::default()
        };
        let inserted = Entity::insert(row)
            // No conflict target: either unique index (event id, dedupe key) counts.
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(self.db.conn())
            .await?;
        Ok(inserted == 1)
    }

    /// Whether `consumer` has processed an event with this id or this dedupe key.
    pub async fn is_processed(
        &self,
        consumer: &str,
        event_id: Uuid,
        dedupe_key: &str,
    ) -> Result<bool, DbError> {
        check_consumer(consumer)?;
        let n = Entity::find()
            .filter(Column::Consumer.eq(consumer))
            .filter(
                Condition::any()
                    .add(Column::EventId.eq(event_id))
                    .add(Column::DedupeKey.eq(stored_key(dedupe_key))),
            )
            .count(self.db.conn())
            .await?;
        Ok(n > 0)
    }

    /// Forgets keys recorded before `before`; returns how many. Redeliveries and
    /// reconciliation arrive within hours, so keys older than that only cost space.
    pub async fn prune_before(&self, before: DateTime<Utc>) -> Result<u64, DbError> {
        let res = Entity::delete_many()
            .filter(Column::ProcessedAt.lt(before))
            .exec(self.db.conn())
            .await?;
        Ok(res.rows_affected)
    }
}

/// The dedupe key as stored: unchanged if it fits the column, otherwise a SHA-256 digest
/// (so an overlong key still deduplicates instead of failing on PostgreSQL).
fn stored_key(key: &str) -> String {
    if key.len() <= MAX_KEY_LEN {
        return key.to_owned();
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn check_consumer(consumer: &str) -> Result<(), DbError> {
    if consumer.is_empty() || consumer.len() > MAX_CONSUMER_LEN {
        return Err(DbError::Invalid {
            what: "consumer name",
            reason: format!("must be 1 to {MAX_CONSUMER_LEN} bytes long"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_hashed_deterministically() {
        assert_eq!(
            stored_key("confluence|page_updated|1|2"),
            "confluence|page_updated|1|2"
        );
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(stored_key(&long), stored_key(&long));
        assert!(stored_key(&long).len() <= MAX_KEY_LEN);
        assert_ne!(stored_key(&long), stored_key(&"k".repeat(MAX_KEY_LEN + 2)));
    }
}
