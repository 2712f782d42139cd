//! Outgoing webhooks, the way each flavour sends them (docs §4):
//!
//! - DC (`DcSigned`): one URL for all events, body `{timestamp, event, userKey, page:{id}}`
//!   (+ `updateTrigger` on updates; `comment:{id}`, `blog:{id}`, `attachment:{id}` for the
//!   others), ids as numbers, `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`
//!   (bare hex with the `hub_signature_prefix` knob off).
//! - Cloud Connect (`CloudConnect`): one URL per event (`{app baseUrl}{path with {event}}`),
//!   NO event name in the body, `Authorization: JWT <HS256 token>` with `iss` (clientKey),
//!   `iat`, `exp`, `qsh` (or a `jwt` query parameter with the `jwt_in_query` knob).
//! - Cloud admin webhook (`CloudAdmin`, `/rest/webhooks/1.0/webhook`): the registered URL
//!   verbatim (a secret token lives in its query string), unsigned, same body as Connect.
//!
//! Cloud bodies: `{userAccountId, accountType, timestamp, updateTrigger?, suppressNotifications?,
//! page|blog|comment|attachment:{id, idAsString?, ...}}` per the [`CloudPayload`] knob. Replies
//! carry the parent comment as `parent` without the page. Drops, duplicates and reordering come
//! from the fault knobs.

use super::repr::webui;
use super::state::{Change, Content, Kind, State};
use super::{Flavor, Shared};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookStyle {
    DcSigned,
    CloudConnect,
    CloudAdmin,
}

/// Cloud payload variants seen in real captures (docs §4a).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloudPayload {
    /// 2021 capture: `id` a JSON number, no `idAsString`, no `spaceId`.
    Legacy,
    /// Newer: `id` a number plus `idAsString`, `spaceId`, `suppressNotifications`.
    #[default]
    Current,
    /// CREW's capture: `id` a string (plus `idAsString`).
    StringIds,
}

/// A webhook registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub id: u64,
    pub name: String,
    pub style: HookStyle,
    /// DcSigned/CloudAdmin: the delivery URL, verbatim. CloudConnect: the app `baseUrl`.
    pub url: String,
    /// CloudConnect only: the module URL relative to `url`, `{event}` replaced by the event.
    pub path: String,
    /// DC HMAC secret, or the Connect shared secret.
    pub secret: String,
    /// Connect `clientKey` (the JWT `iss`).
    pub client_key: String,
    /// Event names; empty = every event.
    pub events: Vec<String>,
    pub active: bool,
}

impl Hook {
    fn base(style: HookStyle, url: &str, secret: &str) -> Hook {
        Hook {
            id: 0,
            name: "sandbox".into(),
            style,
            url: url.into(),
            path: String::new(),
            secret: secret.into(),
            client_key: "sandbox-client-key".into(),
            events: Vec::new(),
            active: true,
        }
    }
    /// A DC webhook signed with `secret` (empty = unsigned).
    pub fn dc_signed(url: &str, secret: &str) -> Hook {
        Hook::base(HookStyle::DcSigned, url, secret)
    }
    /// A Connect app at `app_base_url` with module URL `path` (e.g. `/cloud/{event}?x=1`).
    pub fn connect(app_base_url: &str, path: &str, shared_secret: &str) -> Hook {
        let mut h = Hook::base(HookStyle::CloudConnect, app_base_url, shared_secret);
        h.path = path.into();
        h
    }
    /// A Cloud admin webhook: unsigned, delivered to `url` as given.
    pub fn admin(url: &str) -> Hook {
        Hook::base(HookStyle::CloudAdmin, url, "")
    }
    pub fn for_events(mut self, events: &[&str]) -> Hook {
        self.events = events.iter().map(|e| (*e).to_owned()).collect();
        self
    }
    fn wants(&self, event: &str) -> bool {
        self.active && (self.events.is_empty() || self.events.iter().any(|e| e == event))
    }
}

/// One delivery attempt as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct SentWebhook {
    pub seq: u64,
    pub event: String,
    pub style: HookStyle,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The receiver's status; None when dropped, held or failed.
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Not sent: the drop knob.
    pub dropped: bool,
    /// Waiting for a flush: the reorder knob.
    pub held: bool,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    event: String,
    style: HookStyle,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Default)]
pub struct Outbox {
    hooks: Mutex<Vec<Hook>>,
    next_id: AtomicU64,
    seq: AtomicU64,
    sent: Mutex<Vec<SentWebhook>>,
    held: Mutex<Vec<Delivery>>,
    client: OnceLock<reqwest::Client>,
}

impl Outbox {
    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().map(|h| h.clone()).unwrap_or_default()
    }
    pub fn set_hooks(&self, hooks: Vec<Hook>) {
        let hooks = hooks.into_iter().map(|h| self.with_id(h)).collect();
        if let Ok(mut h) = self.hooks.lock() {
            *h = hooks;
        }
    }
    fn with_id(&self, mut h: Hook) -> Hook {
        h.id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        h
    }
    pub fn add_hook(&self, hook: Hook) -> Hook {
        let hook = self.with_id(hook);
        if let Ok(mut h) = self.hooks.lock() {
            h.push(hook.clone());
        }
        hook
    }
    pub fn remove_hook(&self, id: u64) -> bool {
        self.hooks
            .lock()
            .map(|mut h| {
                let before = h.len();
                h.retain(|x| x.id != id);
                h.len() != before
            })
            .unwrap_or(false)
    }
    pub fn sent(&self) -> Vec<SentWebhook> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
    pub fn clear(&self) {
        self.set_hooks(Vec::new());
        if let Ok(mut s) = self.sent.lock() {
            s.clear();
        }
        if let Ok(mut h) = self.held.lock() {
            h.clear();
        }
    }
    fn record(
        &self,
        d: &Delivery,
        status: Option<u16>,
        error: Option<String>,
        dropped: bool,
        held: bool,
    ) {
        let entry = SentWebhook {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            event: d.event.clone(),
            style: d.style,
            url: d.url.clone(),
            headers: d.headers.clone(),
            body: d.body.clone(),
            status,
            error,
            dropped,
            held,
            at: Utc::now(),
        };
        if let Ok(mut s) = self.sent.lock() {
            s.push(entry);
        }
    }
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
    }
}

// --- payloads ---

fn payload_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Page => "page",
        Kind::BlogPost => "blog",
        Kind::Comment => "comment",
        Kind::Attachment => "attachment",
    }
}

fn cloud_id(v: CloudPayload, id: u64, o: &mut Value) {
    match v {
        CloudPayload::Legacy => o["id"] = json!(id),
        CloudPayload::Current => {
            o["id"] = json!(id);
            o["idAsString"] = json!(id.to_string());
        }
        CloudPayload::StringIds => {
            o["id"] = json!(id.to_string());
            o["idAsString"] = json!(id.to_string());
        }
    }
}

/// A Cloud content object; `nest` adds the `parent` of comments and attachments.
fn cloud_object(sh: &Shared, st: &State, v: CloudPayload, c: &Content, nest: bool) -> Value {
    let account = |u: usize| {
        st.users
            .get(u)
            .map(|u| u.account_id.clone())
            .unwrap_or_default()
    };
    let space = st.space(c.space_id);
    let mut o = json!({
        "spaceKey": space.map(|s| s.key.clone()),
        "title": c.title(),
        "contentType": c.kind.as_str(),
        "version": c.latest().number,
        "creatorAccountId": account(c.created_by),
        "lastModifierAccountId": account(c.latest().by),
        "creationDate": c.created_at.timestamp_millis(),
        "modificationDate": c.modified().timestamp_millis(),
        "self": format!("{}{}", sh.base(), webui(st, Flavor::Cloud, c)),
    });
    cloud_id(v, c.id, &mut o);
    if v != CloudPayload::Legacy {
        o["spaceId"] = json!(c.space_id);
    }
    if let Some(a) = &c.attachment {
        o["mediaType"] = json!(a.media_type);
        o["fileSize"] = json!(a.size);
    }
    if nest {
        // Replies: the parent comment, bare (no page) — docs §4a "reply bare parent".
        let parent = match (c.kind, c.parent_id, c.container_id) {
            (Kind::Comment, Some(p), _) => st.get(p).map(|p| cloud_object(sh, st, v, p, false)),
            (Kind::Comment | Kind::Attachment, None, Some(p)) => {
                st.get(p).map(|p| cloud_object(sh, st, v, p, false))
            }
            _ => None,
        };
        if let Some(p) = parent {
            o["parent"] = p;
        }
    }
    o
}

fn cloud_body(sh: &Shared, st: &State, v: CloudPayload, ch: &Change, c: &Content) -> Value {
    let mut body = json!({
        "userAccountId": st.users.get(ch.by).map(|u| u.account_id.clone()),
        "accountType": "customer",
        "timestamp": Utc::now().timestamp_millis(),
    });
    if let Some(t) = ch.update_trigger {
        body["updateTrigger"] = json!(t);
    }
    if v != CloudPayload::Legacy {
        body["suppressNotifications"] = json!(false);
    }
    body[payload_key(c.kind)] = cloud_object(sh, st, v, c, true);
    body
}

fn dc_body(st: &State, ch: &Change, c: &Content) -> Value {
    let mut body = json!({
        "timestamp": Utc::now().timestamp_millis(),
        "event": ch.event,
        "userKey": st.users.get(ch.by).map(|u| u.user_key.clone()),
    });
    body[payload_key(c.kind)] = json!({"id": c.id});
    if let Some(t) = ch.update_trigger {
        body["updateTrigger"] = json!(t);
    }
    body
}

// --- signatures ---

fn hmac_hex(secret: &[u8], data: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `METHOD&path&query` (docs §4a): path relative to the app baseUrl without a trailing
/// slash (`/` when empty); query sorted by key, `jwt` left out, values percent-encoded,
/// sorted and comma-joined.
fn canonical_request(method: &str, rel_path: &str, query: &str) -> String {
    let mut path = rel_path.trim_end_matches('/').to_owned();
    if path.is_empty() {
        path = "/".into();
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != "jwt" {
            params.entry(pct(&k)).or_default().push(pct(&v));
        }
    }
    let q: Vec<String> = params
        .into_iter()
        .map(|(k, mut vs)| {
            vs.sort();
            format!("{k}={}", vs.join(","))
        })
        .collect();
    format!("{}&{path}&{}", method.to_ascii_uppercase(), q.join("&"))
}

fn connect_jwt(hook: &Hook, rel_path: &str, query: &str) -> String {
    let qsh = hex(&Sha256::digest(
        canonical_request("POST", rel_path, query).as_bytes(),
    ));
    let now = Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iss": hook.client_key, "iat": now, "exp": now + 180, "qsh": qsh}).to_string(),
    );
    let signing = format!("{header}.{claims}");
    let sig = match Hmac::<Sha256>::new_from_slice(hook.secret.as_bytes()) {
        Ok(mut m) => {
            m.update(signing.as_bytes());
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("{signing}.{sig}")
}

/// The deliveries `changes` cause, built under the state lock (payloads see the new state).
pub(crate) fn prepare(sh: &Shared, st: &State, changes: &[Change]) -> Vec<Delivery> {
    let knobs = sh.knobs();
    let hooks = sh.outbox.hooks();
    let mut out = Vec::new();
    for ch in changes {
        let Some(c) = st.get(ch.content_id) else {
            continue;
        };
        for hook in hooks.iter().filter(|h| h.wants(ch.event)) {
            let body = match hook.style {
                HookStyle::DcSigned => dc_body(st, ch, c),
                _ => cloud_body(sh, st, knobs.cloud_payload, ch, c),
            }
            .to_string();
            let mut headers = vec![(
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            )];
            let url = match hook.style {
                HookStyle::DcSigned => {
                    if !hook.secret.is_empty() {
                        let sig = hmac_hex(hook.secret.as_bytes(), body.as_bytes());
                        let value = if knobs.hub_signature_prefix {
                            format!("sha256={sig}")
                        } else {
                            sig
                        };
                        headers.push(("x-hub-signature".into(), value));
                    }
                    hook.url.clone()
                }
                HookStyle::CloudAdmin => hook.url.clone(),
                HookStyle::CloudConnect => {
                    let rel = hook.path.replace("{event}", ch.event);
                    let (rel_path, query) = rel.split_once('?').unwrap_or((rel.as_str(), ""));
                    let token = connect_jwt(hook, rel_path, query);
                    let mut url = format!("{}{rel}", hook.url.trim_end_matches('/'));
                    if knobs.jwt_in_query {
                        url.push(if query.is_empty() { '?' } else { '&' });
                        url.push_str("jwt=");
                        url.push_str(&token);
                    } else {
                        headers.push(("authorization".into(), format!("JWT {token}")));
                    }
                    url
                }
            };
            out.push(Delivery {
                event: ch.event.to_owned(),
                style: hook.style,
                url,
                headers,
                body,
            });
        }
    }
    out
}

async fn send_now(sh: &Shared, d: &Delivery) {
    let copies = sh.faults.outgoing_copies();
    if copies == 0 {
        sh.outbox.record(d, None, None, true, false);
        return;
    }
    for _ in 0..copies {
        let mut req = sh.outbox.client().post(&d.url).body(d.body.clone());
        for (k, v) in &d.headers {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(r) => sh
                .outbox
                .record(d, Some(r.status().as_u16()), None, false, false),
            Err(e) => sh.outbox.record(d, None, Some(e.to_string()), false, false),
        }
    }
}

/// Sends now, or holds for a reversed flush when `reorder_outgoing` is on. Best-effort, no
/// retries (docs §4a).
pub(crate) async fn deliver(sh: &Shared, deliveries: Vec<Delivery>) {
    for d in deliveries {
        if sh.faults.get().reorder_outgoing {
            sh.outbox.record(&d, None, None, false, true);
            if let Ok(mut h) = sh.outbox.held.lock() {
                h.push(d);
            }
        } else {
            send_now(sh, &d).await;
        }
    }
}

/// Sends the held deliveries, newest first.
pub(crate) async fn flush(sh: &Shared) {
    let held: Vec<Delivery> = sh
        .outbox
        .held
        .lock()
        .map(|mut h| std::mem::take(&mut *h))
        .unwrap_or_default();
    for d in held.iter().rev() {
        send_now(sh, d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_request_sorts_and_encodes() {
        assert_eq!(
            canonical_request("post", "/hooks/page_created/", ""),
            "POST&/hooks/page_created&"
        );
        assert_eq!(
            canonical_request("POST", "/h", "b=2&a=x y&jwt=zzz&a=1"),
            "POST&/h&a=1,x%20y&b=2"
        );
    }
}
