//! Events going out: built as B24 builds them (form-encoded, PHP bracket keys, `auth[...]`
//! with the `application_token`), sent once each and never retried; offline bindings keep the
//! latest state per object for `event.offline.get`. The fault knobs' drop/duplicate/reorder
//! apply to every delivery.

use super::context::{Ctx, Outgoing};
use super::oauth;
use super::params;
use super::state::{OfflineEvent, Portal, World, now_iso, random_token};
use crate::common::Faults;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// One attempt to deliver an event (or a reason it was not sent).
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub at: chrono::DateTime<chrono::Utc>,
    pub url: String,
    pub event: String,
    pub form: Vec<(String, String)>,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub dropped: bool,
}

#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    pending: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<Outgoing>>>,
    log: Arc<Mutex<Vec<Delivery>>>,
    faults: Faults,
}

impl Outbox {
    /// Starts the sender (one at a time, in order, like B24's queue).
    pub fn start(faults: Faults) -> Outbox {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let pending = Arc::new(AtomicUsize::new(0));
        let log: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let (p, l) = (pending.clone(), log.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default();
            while let Some(o) = rx.recv().await {
                let d = send(&client, &o).await;
                if let Ok(mut v) = l.lock() {
                    v.push(d);
                }
                p.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Outbox {
            tx,
            pending,
            held: Arc::default(),
            log,
            faults,
        }
    }

    pub fn send_all(&self, out: Vec<Outgoing>) {
        let reorder = self.faults.get().reorder_outgoing;
        for o in out {
            let copies = self.faults.outgoing_copies();
            if copies == 0 {
                self.record(Delivery {
                    at: chrono::Utc::now(),
                    url: o.url,
                    event: o.event,
                    form: o.form,
                    status: None,
                    error: None,
                    dropped: true,
                });
                continue;
            }
            for _ in 0..copies {
                if reorder {
                    if let Ok(mut h) = self.held.lock() {
                        h.push(o.clone());
                    }
                } else {
                    self.enqueue(o.clone());
                }
            }
        }
    }

    /// Sends held events (reorder knob) in reverse order.
    pub fn flush_held(&self) {
        let held: Vec<Outgoing> = self
            .held
            .lock()
            .map(|mut h| h.drain(..).collect())
            .unwrap_or_default();
        for o in held.into_iter().rev() {
            self.enqueue(o);
        }
    }

    fn enqueue(&self, o: Outgoing) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(o).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn record(&self, d: Delivery) {
        if let Ok(mut v) = self.log.lock() {
            v.push(d);
        }
    }

    /// Waits (up to 15 s) until every queued event has been attempted.
    pub async fn settle(&self) {
        for _ in 0..1500 {
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut v) = self.log.lock() {
            v.clear();
        }
        if let Ok(mut h) = self.held.lock() {
            h.clear();
        }
    }
}

async fn send(client: &reqwest::Client, o: &Outgoing) -> Delivery {
    let mut url = o.url.clone();
    if !o.query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&params::encode_form(&o.query));
    }
    let r = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(params::encode_form(&o.form))
        .send()
        .await;
    let (status, error) = match r {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Delivery {
        at: chrono::Utc::now(),
        url: o.url.clone(),
        event: o.event.clone(),
        form: o.form.clone(),
        status,
        error,
        dropped: false,
    }
}

/// The `auth` block of an event for an app installed on `portal`; tokens for `user` (none
/// when the change came from automation).
pub fn auth_block(world: &mut World, portal: &Portal, client_id: &str, user: Option<u64>) -> Value {
    let Some(install) = portal.installs.get(client_id) else {
        return json!({});
    };
    let mut auth = json!({
        "domain": portal.domain,
        "client_endpoint": world.client_endpoint(),
        "server_endpoint": world.server_endpoint(),
        "member_id": portal.member_id,
        "application_token": install.application_token,
    });
    if let Some(user_id) = user {
        let set = oauth::issue(
            world,
            &portal.member_id,
            client_id,
            user_id,
            &install.scopes,
        );
        for (k, v) in [
            ("access_token", json!(set.access_token)),
            ("refresh_token", json!(set.refresh_token)),
            ("expires", json!(set.expires.to_string())),
            ("expires_in", json!(set.expires_in.to_string())),
            ("scope", json!(install.scopes.join(","))),
            ("status", json!("L")),
            ("user_id", json!(user_id.to_string())),
        ] {
            auth[k] = v;
        }
    }
    auth
}

fn ts() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// Fires `event` with `data` to the portal's bindings (online: a POST; offline: the queue).
/// `actor` is the user whose tokens go into `auth` (unless the binding names one).
pub fn fire(ctx: &mut Ctx, event: &str, data: Value, actor: Option<u64>) {
    let bindings: Vec<_> = ctx
        .portal
        .bindings
        .iter()
        .filter(|b| b.event == event)
        .cloned()
        .collect();
    for b in bindings {
        if b.offline {
            push_offline(ctx.portal, &b.client_id, event, &data);
            continue;
        }
        let user = if b.auth_type > 0 {
            Some(b.auth_type)
        } else {
            actor
        };
        let auth = auth_block(ctx.world, ctx.portal, &b.client_id, user);
        let body = json!({
            "event": event,
            "event_handler_id": b.id.to_string(),
            "data": data,
            "ts": ts(),
            "auth": auth,
        });
        ctx.out.push(Outgoing {
            url: b.handler,
            event: event.to_owned(),
            query: Vec::new(),
            form: params::to_form_pairs(&body),
        });
    }
}

fn object_id(data: &Value) -> String {
    ["FIELDS_AFTER", "FIELDS_BEFORE"]
        .iter()
        .find_map(|k| {
            data.get(*k)
                .and_then(|f| f.get("ID"))
                .and_then(params::str_of)
        })
        .unwrap_or_default()
}

/// Offline queue: the latest state per object (a new change replaces an unprocessed entry).
fn push_offline(portal: &mut Portal, client_id: &str, event: &str, data: &Value) {
    let oid = object_id(data);
    let existing = portal.offline_events.iter_mut().find(|e| {
        e.client_id == client_id
            && e.event == event
            && e.process_id.is_none()
            && object_id(&e.data) == oid
    });
    if let Some(e) = existing {
        e.data = data.clone();
        e.timestamp = now_iso();
        return;
    }
    let id = portal.next("offline");
    portal.offline_events.push(OfflineEvent {
        id,
        message_id: random_token(32),
        client_id: client_id.into(),
        event: event.into(),
        data: data.clone(),
        timestamp: now_iso(),
        process_id: None,
    });
}

/// A POST of a ready body (bot and install events that do not go through `event.bind`).
pub fn direct(ctx: &mut Ctx, url: &str, event: &str, body: Value) {
    if url.is_empty() {
        return;
    }
    ctx.out.push(Outgoing {
        url: url.to_owned(),
        event: event.to_owned(),
        query: Vec::new(),
        form: params::to_form_pairs(&body),
    });
}

pub fn event_body(event: &str, data: Value, auth: Value) -> Value {
    json!({"event": event, "data": data, "ts": ts(), "auth": auth})
}
