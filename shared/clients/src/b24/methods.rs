//! Typed helpers for the methods the jobs and reconcilers use.

use super::B24Client;
use super::error::B24Error;
use super::http::{number, text};
use serde_json::{Value, json};

/// One entry of the offline-event queue (`event.offline.get` / `.list`).
#[derive(Clone, Debug, PartialEq)]
pub struct OfflineEvent {
    pub id: u64,
    pub event_name: String,
    /// `EVENT_DATA`: the same tree an online delivery has under `data`.
    pub data: Value,
    /// `TIMESTAMP_X`, as B24 wrote it.
    pub timestamp: Option<String>,
    pub message_id: Option<String>,
    /// `PROCESS_ID` (`event.offline.list` only): who marked it for processing.
    pub process_id: Option<String>,
}

/// What `event.offline.get` handed out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfflineEvents {
    /// Marks the handed-out entries until `event.offline.clear` with it removes them.
    pub process_id: Option<String>,
    pub events: Vec<OfflineEvent>,
}

fn offline_event(v: &Value) -> Option<OfflineEvent> {
    let field = |k: &str| v.get(k).or_else(|| v.get(k.to_ascii_lowercase()));
    Some(OfflineEvent {
        id: field("ID").and_then(number)?,
        event_name: field("EVENT_NAME").map(text)?,
        data: field("EVENT_DATA").cloned().unwrap_or(Value::Null),
        timestamp: field("TIMESTAMP_X").map(text).filter(|s| !s.is_empty()),
        message_id: field("MESSAGE_ID").map(text).filter(|s| !s.is_empty()),
        process_id: field("PROCESS_ID").map(text).filter(|s| !s.is_empty()),
    })
}

fn events_of(list: Option<&Value>) -> Vec<OfflineEvent> {
    match list {
        Some(Value::Array(items)) => items.iter().filter_map(offline_event).collect(),
        Some(Value::Object(m)) => m.values().filter_map(offline_event).collect(),
        _ => Vec::new(),
    }
}

impl B24Client {
    /// `app.info`: the app as the portal sees this token.
    pub async fn app_info(&self) -> Result<Value, B24Error> {
        self.call_result("app.info", json!({})).await
    }

    /// `event.offline.get` with `clear=0`: up to `limit` entries, marked with `process_id`
    /// (ours, or one B24 makes up) but kept until [`offline_clear`](Self::offline_clear).
    pub async fn offline_get(
        &self,
        process_id: Option<&str>,
        limit: u32,
    ) -> Result<OfflineEvents, B24Error> {
        let mut params = json!({"clear": 0, "limit": limit});
        if let Some(p) = process_id {
            params["process_id"] = json!(p);
        }
        let r = self.call_result("event.offline.get", params).await?;
        Ok(OfflineEvents {
            process_id: r
                .get("process_id")
                .map(text)
                .filter(|s| !s.is_empty())
                .or_else(|| process_id.map(str::to_owned)),
            events: events_of(r.get("events")),
        })
    }

    /// `event.offline.list`: the queue without taking anything (first page).
    pub async fn offline_list(&self) -> Result<Vec<OfflineEvent>, B24Error> {
        let r = self.call_result("event.offline.list", json!({})).await?;
        Ok(events_of(Some(&r)))
    }

    /// `event.offline.clear`: removes the entries `ids` marked with `process_id`.
    pub async fn offline_clear(&self, process_id: &str, ids: &[u64]) -> Result<(), B24Error> {
        self.call(
            "event.offline.clear",
            json!({"process_id": process_id, "id": ids}),
        )
        .await?;
        Ok(())
    }
}
