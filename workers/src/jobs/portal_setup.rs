//! `portal-setup`: after an install or an app update (`b24.app.installed` / `.updated`),
//! makes the portal ready for the bridge, idempotently — every step looks first and only
//! adds what is missing, and "already exists" answers count as done:
//!
//! 0. a **pending** install (an `ONAPPINSTALL` from a portal the bridge did not know, which
//!    anybody could have sent) is confirmed first: a `refresh_token` grant at the configured
//!    OAuth server (`BRIDGE_B24_OAUTH_URL`, with `BRIDGE_B24_CLIENT_ID`/`_SECRET`) with the
//!    install's refresh token, whose answer must name the same `member_id`; the portal's
//!    `client_endpoint` and domain and the rotated tokens come from that answer, never from
//!    the event. Only then is the portal active (its events accepted) and set up. An install
//!    that cannot be confirmed (unknown token, another portal, no client credentials
//!    configured) is a permanent error and the portal stays pending;
//! 1. one `batch` reads `app.info` (the install is checked with the portal itself: the app's
//!    client id must be `BRIDGE_B24_CLIENT_ID` when that is set), `event.get`,
//!    `task.item.userfield.getlist`, `placement.get` and `imbot.bot.list`;
//! 2. one `batch` adds what is missing: `event.bind` of the task events to
//!    `{public}/b24/events` (online) and to the offline queue (what the offline drain reads;
//!    needs an admin, so a refusal there is only a warning), the `UF_CONFLUENCE_URL` string
//!    field, the `TASK_VIEW_TAB` placement, the bot (`imbot.register`) and its `/wiki`
//!    command;
//! 3. when the bot was new, `imbot.command.register` with its id.
//!
//! Bindings vanish on every app update, which is why this runs again then. Uninstalls need
//! no calls (the portal forgets the app's bindings itself).

use crate::WorkerContext;
use bridge_clients::b24::{B24Clients, B24Error, BatchCommand, BatchItem};
use bridge_core::envelope::AppAction;
use bridge_core::{Envelope, ErrorClass, Payload};
use bridge_queue::{DeliveryContext, Handler, HandlerError};
use serde_json::{Value, json};

/// Task events the bridge follows. `ONTASKCOMMENTADD` is deliberately not bound: no worker
/// consumes `b24.task-comment.added`, and every comment the bridge posts itself would come
/// back as one and pile up in the unrouted queue. (Bindings left by an older release are
/// not removed; their events are kept in the unrouted queue as before.)
pub const TASK_EVENTS: &[&str] = &["ONTASKADD", "ONTASKUPDATE", "ONTASKDELETE"];
/// The task field that holds the linked Confluence page.
pub const USER_FIELD: &str = "UF_CONFLUENCE_URL";
pub const PLACEMENT: &str = "TASK_VIEW_TAB";
pub const BOT_CODE: &str = "confluence_bridge";
pub const BOT_COMMAND: &str = "wiki";

/// Where B24 sends events and opens the placement.
#[derive(Clone, Debug)]
pub struct Urls {
    pub events: String,
    pub placement: String,
}

impl Urls {
    pub fn new(public_url: &url::Url) -> Self {
        let base = public_url.as_str().trim_end_matches('/');
        Self {
            events: format!("{base}/b24/events"),
            placement: format!("{base}/b24/placement/task-view-tab"),
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupReport {
    /// Keys of the commands sent to change the portal (empty when all was in place).
    pub changes: Vec<String>,
    /// Steps that could not be done and were accepted (offline binding without admin).
    pub warnings: Vec<String>,
}

pub struct PortalSetup {
    clients: B24Clients,
    urls: Urls,
    client_id: Option<String>,
}

impl PortalSetup {
    pub fn new(ctx: &WorkerContext) -> Self {
        let clients = ctx.b24.clone();
        Self::with_clients(clients, &ctx.config.public_url)
    }

    pub fn with_clients(clients: B24Clients, public_url: &url::Url) -> Self {
        let client_id = clients.settings().client_id.clone();
        Self {
            clients,
            urls: Urls::new(public_url),
            client_id,
        }
    }

    /// Sets the portal up (see the module docs), confirming a pending install first.
    pub async fn setup(&self, member_id: &str) -> Result<SetupReport, HandlerError> {
        self.clients
            .confirm_install(member_id)
            .await
            .map_err(handler_error)?;
        let client = self
            .clients
            .portal(member_id)
            .await
            .map_err(handler_error)?;
        let mut report = SetupReport::default();

        // 1. Look.
        let looked = client
            .batch(
                vec![
                    BatchCommand::new("info", "app.info", json!({})),
                    BatchCommand::new("events", "event.get", json!({})),
                    BatchCommand::new(
                        "fields",
                        "task.item.userfield.getlist",
                        json!({"ORDER": {"ID": "ASC"}, "FILTER": {"FIELD_NAME": USER_FIELD}}),
                    ),
                    BatchCommand::new("placements", "placement.get", json!({})),
                    BatchCommand::new("bots", "imbot.bot.list", json!({})),
                ],
                false,
            )
            .await
            .map_err(handler_error)?;
        let [info, events, fields, placements, bots] = take5(looked)?;
        self.check_install(member_id, &info)?;
        let bindings = items(events);
        let fields = items(fields);
        let placements = items(placements);
        let bot_id = items(bots)
            .into_iter()
            .find(|b| field(b, "CODE").as_deref() == Some(BOT_CODE))
            .and_then(|b| field(&b, "ID"));

        // 2. Add what is missing.
        let mut todo = Vec::new();
        for event in TASK_EVENTS {
            let bound = |offline: bool| {
                bindings.iter().any(|b| {
                    field(b, "event").is_some_and(|e| e.eq_ignore_ascii_case(event))
                        && is_offline(b) == offline
                        && (offline || field(b, "handler").as_deref() == Some(&self.urls.events))
                })
            };
            if !bound(false) {
                todo.push(BatchCommand::new(
                    format!("bind_{event}"),
                    "event.bind",
                    json!({"event": event, "handler": self.urls.events}),
                ));
            }
            if !bound(true) {
                todo.push(BatchCommand::new(
                    format!("offline_{event}"),
                    "event.bind",
                    json!({"event": event, "event_type": "offline"}),
                ));
            }
        }
        if !fields
            .iter()
            .any(|f| field(f, "FIELD_NAME").is_some_and(|n| n.eq_ignore_ascii_case(USER_FIELD)))
        {
            todo.push(BatchCommand::new(
                "field",
                "task.item.userfield.add",
                json!({"PARAMS": {
                    "USER_TYPE_ID": "string",
                    "FIELD_NAME": USER_FIELD,
                    "XML_ID": USER_FIELD,
                    "LABEL": "Confluence page",
                    "EDIT_FORM_LABEL": {"en": "Confluence page"},
                    "MULTIPLE": "N",
                    "MANDATORY": "N",
                }}),
            ));
        }
        if !placements.iter().any(|p| {
            field(p, "placement").is_some_and(|n| n.eq_ignore_ascii_case(PLACEMENT))
                && field(p, "handler").as_deref() == Some(&self.urls.placement)
        }) {
            todo.push(BatchCommand::new(
                "placement",
                "placement.bind",
                json!({
                    "PLACEMENT": PLACEMENT,
                    "HANDLER": self.urls.placement,
                    "TITLE": "Confluence",
                    "DESCRIPTION": "Confluence pages linked to this task",
                    "LANG_ALL": {"en": {"TITLE": "Confluence"}},
                }),
            ));
        }
        match &bot_id {
            None => todo.push(BatchCommand::new(
                "bot",
                "imbot.register",
                self.bot_params(),
            )),
            // No list method for commands: registering again is answered with the existing
            // one (or an "exists" error, accepted), so a half-done earlier run is completed.
            Some(id) => todo.push(BatchCommand::new(
                "command",
                "imbot.command.register",
                self.command_params(id),
            )),
        }
        let mut new_bot = None;
        if !todo.is_empty() {
            let done = client.batch(todo, false).await.map_err(handler_error)?;
            let mut failures = Vec::new();
            for item in done {
                match item.result {
                    Ok(reply) => {
                        if item.key == "bot" {
                            new_bot = Some(crate_text(&reply.result));
                        }
                        if item.key != "command" || bot_id.is_none() {
                            report.changes.push(item.key);
                        }
                    }
                    Err(e) if tolerated(&item.key, &e) => {
                        tracing::debug!(portal = member_id, step = %item.key, error = %e, "already in place");
                    }
                    Err(e)
                        if item.key.starts_with("offline_")
                            && e.class() == ErrorClass::Permanent =>
                    {
                        tracing::warn!(portal = member_id, step = %item.key, error = %e, "offline events not bound; the offline drain will find nothing");
                        report.warnings.push(format!("{}: {e}", item.key));
                    }
                    Err(e) => failures.push(e),
                }
            }
            if !failures.is_empty() {
                return Err(combine(failures));
            }
        }

        // 3. The command of a bot registered just now.
        if let Some(id) = new_bot.filter(|id| !id.is_empty()) {
            match client
                .call("imbot.command.register", self.command_params(&id))
                .await
            {
                Ok(_) => report.changes.push("command".into()),
                Err(e) if tolerated("command", &e) => {}
                Err(e) => return Err(handler_error(e)),
            }
        }
        tracing::info!(portal = member_id, changes = ?report.changes, "portal set up");
        Ok(report)
    }

    fn check_install(&self, member_id: &str, info: &Value) -> Result<(), HandlerError> {
        if let Some(expected) = &self.client_id {
            let reported: Vec<String> = ["CODE", "client_id", "CLIENT_ID"]
                .iter()
                .filter_map(|k| info.get(*k).map(crate_text))
                .collect();
            if !reported.iter().any(|c| c == expected) {
                return Err(HandlerError::permanent(format!(
                    "portal {member_id}: app.info reports app {:?}, not BRIDGE_B24_CLIENT_ID {expected:?}; not setting it up",
                    reported.first().cloned().unwrap_or_default()
                )));
            }
        }
        if let Some(m) = info
            .get("MEMBER_ID")
            .map(crate_text)
            .filter(|m| !m.is_empty())
            && m != member_id
        {
            return Err(HandlerError::permanent(format!(
                "portal {member_id}: app.info answers for portal {m}"
            )));
        }
        let installed = info.get("INSTALLED");
        if installed.is_some_and(|v| matches!(v, Value::Bool(false)) || crate_text(v) == "N") {
            return Err(HandlerError::retryable(format!(
                "portal {member_id}: installation not finished yet"
            )));
        }
        Ok(())
    }

    fn bot_params(&self) -> Value {
        let h = &self.urls.events;
        json!({
            "CODE": BOT_CODE,
            "TYPE": "B",
            "EVENT_MESSAGE_ADD": h,
            "EVENT_WELCOME_MESSAGE": h,
            "EVENT_BOT_DELETE": h,
            "OPENLINE": "N",
            "PROPERTIES": {
                "NAME": "Confluence",
                "COLOR": "AZURE",
                "WORK_POSITION": "Confluence bridge: /wiki <words> searches pages",
            },
        })
    }

    fn command_params(&self, bot_id: &str) -> Value {
        json!({
            "BOT_ID": bot_id,
            "COMMAND": BOT_COMMAND,
            "COMMON": "N",
            "HIDDEN": "N",
            "EXTRANET_SUPPORT": "N",
            "EVENT_COMMAND_ADD": self.urls.events,
            "LANG": [{"LANGUAGE_ID": "en", "TITLE": "Search Confluence", "PARAMS": "words"}],
        })
    }
}

#[async_trait::async_trait]
impl Handler for PortalSetup {
    async fn handle(&self, envelope: Envelope, _ctx: DeliveryContext) -> Result<(), HandlerError> {
        let Payload::B24App(app) = &envelope.payload else {
            return Err(HandlerError::permanent(format!(
                "portal-setup does not handle {}",
                envelope.routing_key()
            )));
        };
        match app.action {
            AppAction::Installed | AppAction::Updated => {
                self.setup(&app.member_id).await.map(|_| ())
            }
            AppAction::Uninstalled => {
                self.clients.forget(&app.member_id).await;
                Ok(())
            }
        }
    }
}

/// The five answers of the first batch, each unwrapped.
fn take5(items: Vec<BatchItem>) -> Result<[Value; 5], HandlerError> {
    let mut out = Vec::with_capacity(5);
    for item in items {
        out.push(item.result.map_err(handler_error)?.result);
    }
    out.try_into()
        .map_err(|_| HandlerError::retryable("batch answered the wrong number of commands"))
}

/// "Already there" answers of the add steps.
fn tolerated(key: &str, e: &B24Error) -> bool {
    if e.is_code("ERROR_HANDLER_ALREADY_EXIST") {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    matches!(key, "field" | "command" | "placement") && text.contains("exist")
}

/// A list result: a list, or an object keyed by id.
fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    }
}

/// A field as text, looked up as given, upper- or lower-case.
fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .or_else(|| v.get(key.to_ascii_uppercase()))
        .or_else(|| v.get(key.to_ascii_lowercase()))
        .map(crate_text)
}

fn is_offline(binding: &Value) -> bool {
    field(binding, "offline").is_some_and(|o| o == "1" || o == "true" || o == "Y")
}

fn crate_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub use super::errors::handler_error;

/// Several failed steps: retryable if any is (a retry redoes only what is missing).
fn combine(errors: Vec<B24Error>) -> HandlerError {
    super::errors::combine(errors.into_iter().map(handler_error).collect())
}
