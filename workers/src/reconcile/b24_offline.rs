//! The B24 offline-event drain. Bitrix24 sends online events once and never retries; the
//! portal-setup job therefore also binds the task events to the portal's offline queue,
//! which keeps the latest change per object until the app takes it. On an interval, for
//! every active portal:
//!
//! 1. `event.offline.list` finds entries a previous run marked but never cleared (it
//!    stopped between taking and clearing them);
//! 2. `event.offline.get` with `clear=0` takes the pending ones, marking them with a
//!    process id;
//! 3. each `{EVENT_NAME, EVENT_DATA}` is turned into the same JSON tree an online delivery
//!    parses to (`event`, `data`, `ts`, `auth[member_id]`) and normalised by
//!    [`bridge_core::normalize::b24`], so the envelopes equal the webhook path's; they are
//!    published with a broker confirm;
//! 4. only then `event.offline.clear` removes the published entries. A crash before that
//!    leaves them marked, and step 1 of the next run publishes them again (harmless:
//!    consumers deduplicate, handlers are idempotent).

use crate::WorkerContext;
use bridge_clients::b24::{B24Client, B24Clients, B24Error, OfflineEvent};
use bridge_core::normalize::b24;
use bridge_core::{Envelope, Source};
use bridge_db::{DbError, PortalStore};
use bridge_queue::QueueError;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Between two drains of every portal.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Entries taken per `event.offline.get`.
const PAGE: u32 = 50;
/// Pages per portal per drain, so one busy portal cannot starve the others.
const MAX_PAGES: usize = 20;
/// Our process id for `event.offline.get`.
const PROCESS_ID: &str = "confluence-bridge-drain";

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(transparent)]
    B24(#[from] B24Error),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("publishing a drained event failed: {0}")]
    Publish(#[from] QueueError),
}

pub async fn run(ctx: WorkerContext, shutdown: CancellationToken) {
    let drain = Drain::new(&ctx);
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = INTERVAL;
        match drain.drain_once(&ctx).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(published = n, "B24 offline events drained"),
            Err(e) => tracing::warn!(error = %e, "B24 offline drain incomplete"),
        }
    }
}

/// One drain of every active portal; how many envelopes were published.
pub async fn drain_once(ctx: &WorkerContext) -> Result<usize, DrainError> {
    Drain::new(ctx).drain_once(ctx).await
}

/// The drain with its clients (kept across runs, so tokens are reused).
pub struct Drain {
    clients: B24Clients,
}

impl Drain {
    pub fn new(ctx: &WorkerContext) -> Self {
        Self {
            clients: ctx.b24.clone(),
        }
    }

    /// Drains every active portal; a failing portal does not stop the others (its error
    /// is returned after all were tried).
    pub async fn drain_once(&self, ctx: &WorkerContext) -> Result<usize, DrainError> {
        let portals = PortalStore::new(ctx.db.clone(), ctx.credentials.clone())
            .active_member_ids()
            .await?;
        let mut published = 0;
        let mut first_error = None;
        for member_id in portals {
            let result = match self.clients.portal(&member_id).await {
                Ok(client) => drain_portal(ctx, &client, &member_id).await,
                Err(B24Error::NotInstalled(_)) => Ok(0),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(n) => published += n,
                Err(e) => {
                    tracing::warn!(portal = %member_id, error = %e, "offline drain of portal failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if published == 0 => Err(e),
            _ => Ok(published),
        }
    }
}

async fn drain_portal(
    ctx: &WorkerContext,
    client: &B24Client,
    member_id: &str,
) -> Result<usize, DrainError> {
    let mut published = 0;
    // Entries a previous run took but did not clear, by their process id.
    let stuck: Vec<OfflineEvent> = client
        .offline_list()
        .await?
        .into_iter()
        .filter(|e| e.process_id.is_some())
        .collect();
    if !stuck.is_empty() {
        published += publish_and_clear(ctx, client, member_id, stuck, None).await?;
    }
    for _ in 0..MAX_PAGES {
        let taken = client.offline_get(Some(PROCESS_ID), PAGE).await?;
        let n = taken.events.len();
        if n == 0 {
            break;
        }
        published +=
            publish_and_clear(ctx, client, member_id, taken.events, taken.process_id).await?;
        if n < PAGE as usize {
            break;
        }
    }
    Ok(published)
}

/// Publishes `events` (each confirmed by the broker), then clears them per process id.
async fn publish_and_clear(
    ctx: &WorkerContext,
    client: &B24Client,
    member_id: &str,
    events: Vec<OfflineEvent>,
    process_id: Option<String>,
) -> Result<usize, DrainError> {
    let mut published = 0;
    let mut to_clear: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for event in events {
        if !seen.insert(event.id) {
            continue;
        }
        match envelope_of(member_id, &event) {
            Ok(Some(envelope)) => {
                ctx.publisher.publish(envelope).await?;
                published += 1;
            }
            Ok(None) => {}
            // An entry that cannot be read never will be: logged and cleared, not retried.
            Err(reason) => {
                tracing::warn!(portal = member_id, id = event.id, event = %event.event_name, %reason, "unreadable offline event dropped")
            }
        }
        if let Some(pid) = event.process_id.clone().or_else(|| process_id.clone()) {
            to_clear.entry(pid).or_default().push(event.id);
        }
    }
    for (pid, ids) in to_clear {
        client.offline_clear(&pid, &ids).await?;
    }
    Ok(published)
}

/// The envelope an online delivery of the same event would have made (`None` for an
/// event the bridge does not use).
pub fn envelope_of(member_id: &str, event: &OfflineEvent) -> Result<Option<Envelope>, String> {
    let occurred_at = event
        .timestamp
        .as_deref()
        .and_then(parse_timestamp)
        .unwrap_or_else(chrono::Utc::now);
    let mut data = as_form_tree(&event.data);
    // Some queues name the object `FIELDS`; the task normaliser reads `FIELDS_AFTER`/`_BEFORE`.
    if let Value::Object(m) = &mut data
        && !m.contains_key("FIELDS_AFTER")
        && !m.contains_key("FIELDS_BEFORE")
        && let Some(fields) = m.get("FIELDS").cloned()
    {
        m.insert("FIELDS_AFTER".into(), fields.clone());
        m.insert("FIELDS_BEFORE".into(), fields);
    }
    let form = json!({
        "event": event.event_name,
        "data": data,
        "ts": occurred_at.timestamp().to_string(),
        "auth": {"member_id": member_id},
    });
    let Some(payload) = b24::payload(&form)? else {
        return Ok(None);
    };
    Ok(Some(Envelope::new(
        Source::B24 {
            portal: member_id.to_owned(),
        },
        occurred_at,
        payload,
    )))
}

/// Every scalar as text, as the form parser gives it (B24 forms carry only strings).
fn as_form_tree(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), as_form_tree(v)))
                .collect::<Map<_, _>>(),
        ),
        // `a[]=1&a[]=2` parses to a list too; PHP would index it, which reads the same.
        Value::Array(items) => Value::Array(items.iter().map(as_form_tree).collect()),
        Value::String(s) => Value::String(s.clone()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if *b { "Y" } else { "N" }.into()),
        Value::Null => Value::String(String::new()),
    }
}

fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    s.parse::<i64>()
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::Payload;

    #[test]
    fn offline_task_events_normalise_like_online_ones() {
        let e = OfflineEvent {
            id: 1,
            event_name: "ONTASKUPDATE".into(),
            data: json!({"FIELDS_BEFORE": {"ID": 7}, "FIELDS_AFTER": {"ID": "7"}}),
            timestamp: Some("2026-01-02T03:04:05+03:00".into()),
            message_id: None,
            process_id: None,
        };
        let env = envelope_of("m1", &e).unwrap().unwrap();
        let Payload::B24Task(t) = &env.payload else {
            panic!()
        };
        assert_eq!(t.task_id, 7);
        assert_eq!(t.changed_at_ts, Some(1_767_312_245));
        assert_eq!(
            env.source,
            Source::B24 {
                portal: "m1".into()
            }
        );
        let other = OfflineEvent {
            event_name: "ONCRMLEADADD".into(),
            ..e
        };
        assert!(envelope_of("m1", &other).unwrap().is_none());
    }
}
