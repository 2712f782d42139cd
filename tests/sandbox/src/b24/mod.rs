//! Fake Bitrix24: classic REST (`/rest/{method}` with OAuth `auth`, `/rest/{user}/{secret}/`
//! webhooks; form bodies with PHP bracket keys or JSON), REST 3.0 (`/rest/api/...`), the
//! leaky-bucket rate limit, `batch`, an OAuth server (`/oauth/token/`), the methods the bridge
//! uses with state behind them, events out (form-encoded, never retried) and placement calls;
//! plus the inspection API under `/_sandbox/` and an HTML page at `/`.
//!
//! Tests start it in-process: `FakeB24::start().await` gives a server on a free port with one
//! portal (users 1 admin, 2 and 3 employees; workgroup 1 with a chat) — see [`FakeB24::portal`].
//! All portals are served from the same host and told apart by credentials; a portal's
//! `domain` defaults to the server's `host:port`.

mod actions;
mod batch;
mod context;
mod dispatch;
mod errors;
mod events_out;
mod inspect;
mod limits;
mod methods;
mod oauth;
mod params;
mod server;
mod state;

pub use actions::{AppInstall, AppSpec, DEFAULT_SCOPES, PlacementResponse, WebhookInfo};
pub use errors::ApiError;
pub use events_out::Delivery;
pub use limits::LimitsConfig;
pub use params::{from_pairs as parse_bracket_pairs, to_form_pairs};
pub use state::{
    Binding, Block, Chat, Collection, Comment, DiskObject, Document, Folder, Knobs, Landing,
    Message, NOTE_DEFAULT_MAX_FILE_SIZE, NoteFile, Notification, OfflineEvent, PlacementBinding,
    Site, Storage, Task, UserField,
};

use crate::common::{Faults, RequestLog, Running, serve};
use serde_json::Value;
use server::Shared;
use std::time::Duration;

/// A running fake Bitrix24. Dropping it stops the server.
pub struct FakeB24 {
    app: Shared,
    running: Running,
}

impl FakeB24 {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<FakeB24> {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts on `addr` (e.g. `0.0.0.0:8024` for the demo).
    pub async fn start_on(addr: &str) -> std::io::Result<FakeB24> {
        let app = Shared::new(state::World::default());
        let running = serve(server::router(app.clone()), addr).await?;
        app.lock().base_url = running.base_url.clone();
        actions::create_portal(&app, None);
        Ok(FakeB24 { app, running })
    }

    pub fn base_url(&self) -> &str {
        &self.running.base_url
    }

    /// `{base}/rest/` — the `client_endpoint` apps get.
    pub fn rest_url(&self) -> String {
        format!("{}/rest/", self.base_url())
    }

    /// `{base}/oauth/token/` — what oauth.bitrix.info's token endpoint is here.
    pub fn oauth_token_url(&self) -> String {
        format!("{}/oauth/token/", self.base_url())
    }

    /// The portal created at start.
    pub fn portal(&self) -> PortalHandle<'_> {
        let member_id = self.app.lock().default_member_id().unwrap_or_default();
        PortalHandle {
            fake: self,
            member_id,
        }
    }

    pub fn portal_by(&self, member_id: &str) -> PortalHandle<'_> {
        PortalHandle {
            fake: self,
            member_id: member_id.to_owned(),
        }
    }

    /// Another portal (another `member_id`, its own users, state and rate-limit bucket).
    pub fn create_portal(&self, domain: Option<&str>) -> PortalHandle<'_> {
        let member_id = actions::create_portal(&self.app, domain);
        PortalHandle {
            fake: self,
            member_id,
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.app.lock().knobs.clone()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.app.lock().knobs = knobs;
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.app.lock().knobs.token_ttl_secs = ttl.as_secs();
    }

    pub fn set_limits(&self, limits: LimitsConfig) {
        self.app.lock().knobs.limits = limits;
    }

    /// These methods answer 429 `OPERATION_TIME_LIMIT` until set again.
    pub fn set_operation_time_limited(&self, methods: &[&str]) {
        self.app.lock().knobs.operation_time_limited =
            methods.iter().map(|m| (*m).to_owned()).collect();
    }

    /// Latency, 5xx share, and drop/duplicate/reorder of outgoing events.
    pub fn faults(&self) -> &Faults {
        &self.app.0.faults
    }

    /// Requests to the API (`/rest`, `/oauth`), not to `/_sandbox`.
    pub fn requests(&self) -> &RequestLog {
        &self.app.0.log
    }

    /// Every event delivery attempted (and dropped ones).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.app.0.outbox.deliveries()
    }

    /// Waits until queued events have been sent.
    pub async fn settle(&self) {
        self.app.0.outbox.settle().await;
    }

    /// Sends events held by the `reorder_outgoing` knob, newest first.
    pub fn flush_held_events(&self) {
        self.app.0.outbox.flush_held();
    }

    /// Rate-limit refusals over all portals.
    pub fn total_violations(&self) -> u64 {
        self.app
            .lock()
            .portals
            .values()
            .map(|p| p.bucket.violations)
            .sum()
    }

    /// All state as JSON (what `/_sandbox/state` answers).
    pub fn snapshot(&self) -> Value {
        inspect::snapshot(&self.app, None)
    }

    /// Back to a fresh server state: one new portal, default knobs, no faults, empty logs.
    pub fn reset(&self) {
        inspect::reset(&self.app);
    }
}

/// One portal of a [`FakeB24`]: set it up, act in it as its people would, read its state.
pub struct PortalHandle<'a> {
    fake: &'a FakeB24,
    member_id: String,
}

impl PortalHandle<'_> {
    fn read<T>(&self, f: impl FnOnce(&state::Portal) -> T) -> Option<T> {
        self.fake.app.lock().portal(&self.member_id).map(f)
    }

    fn write<T>(&self, f: impl FnOnce(&mut state::Portal) -> T) -> Option<T> {
        self.fake.app.lock().portal_mut(&self.member_id).map(f)
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn domain(&self) -> String {
        self.read(|p| p.domain.clone()).unwrap_or_default()
    }

    /// A new user; returns the id.
    pub fn add_user(&self, name: &str, last_name: &str, email: &str, admin: bool) -> u64 {
        self.write(|p| p.add_user(name, last_name, email, admin, "", "employee"))
            .unwrap_or(0)
    }

    /// A workgroup with its chat: `(group_id, chat_id)`.
    pub fn add_group(&self, name: &str) -> (u64, u64) {
        self.write(|p| {
            let id = p.add_group(name);
            (id, p.groups[&id].chat_id)
        })
        .unwrap_or((0, 0))
    }

    /// An inbound webhook of `user_id` with `scopes` (empty: all the bridge uses).
    pub fn create_webhook(&self, user_id: u64, scopes: &[&str]) -> Result<WebhookInfo, ApiError> {
        actions::create_webhook(&self.fake.app, &self.member_id, user_id, scopes)
    }

    /// Installs an app (ONAPPINSTALL goes to `spec.install_url`); reinstalling wipes its
    /// event and placement bindings.
    pub fn install_app(&self, spec: AppSpec) -> Result<AppInstall, ApiError> {
        actions::install_app(&self.fake.app, &self.member_id, spec)
    }

    pub fn uninstall_app(&self, client_id: &str, clean: bool) -> Result<(), ApiError> {
        actions::uninstall_app(&self.fake.app, &self.member_id, client_id, clean)
    }

    /// A one-time OAuth code (30 s) as `/oauth/authorize/` would redirect with.
    pub fn authorization_code(&self, client_id: &str, user_id: u64) -> String {
        oauth::new_code(
            &mut self.fake.app.lock(),
            &self.member_id,
            client_id,
            user_id,
        )
    }

    /// Tasks ≥ 25.700 (the default): comments are task-chat messages; `false`: the old card.
    pub fn set_new_task_card(&self, on: bool) {
        self.write(|p| p.new_task_card = on);
    }

    /// Whether the portal has Knowledge Base 2.0 (default: yes). Without it `note.*` answer
    /// `ERROR_METHOD_NOT_FOUND` and `rest.documentation.openapi` does not list them.
    pub fn set_kb2_available(&self, on: bool) {
        self.write(|p| p.kb2_disabled = !on);
    }

    /// Someone has unsaved changes in a KB 2.0 document (update needs `overwrite`).
    pub fn set_document_being_edited(&self, document_id: u64, editing: bool) {
        self.write(|p| {
            if let Some(d) = p.documents.get_mut(&document_id) {
                d.being_edited = editing;
            }
        });
    }

    /// A person creates a task in the UI (fires ONTASKADD). `fields` as for tasks.task.add.
    pub fn user_creates_task(&self, user_id: u64, fields: Value) -> Result<u64, ApiError> {
        actions::user_creates_task(&self.fake.app, &self.member_id, user_id, &fields)
    }

    /// A person edits a task (fires ONTASKUPDATE).
    pub fn user_updates_task(
        &self,
        user_id: u64,
        task_id: u64,
        fields: Value,
    ) -> Result<(), ApiError> {
        actions::user_updates_task(&self.fake.app, &self.member_id, user_id, task_id, &fields)
    }

    /// A person deletes a task (fires ONTASKDELETE).
    pub fn user_deletes_task(&self, user_id: u64, task_id: u64) -> Result<(), ApiError> {
        actions::user_deletes_task(&self.fake.app, &self.member_id, user_id, task_id)
    }

    /// A person comments a task (fires ONTASKCOMMENTADD); the comment or message id.
    pub fn user_comments_task(
        &self,
        user_id: u64,
        task_id: u64,
        text: &str,
    ) -> Result<u64, ApiError> {
        actions::user_comments_task(&self.fake.app, &self.member_id, user_id, task_id, text)
    }

    /// A person writes to a bot (private dialog, or `Some("chat{N}")`): ONIMBOTMESSAGEADD,
    /// or ONIMCOMMANDADD for a registered `/command`. Returns the message id.
    pub fn user_writes_bot(
        &self,
        user_id: u64,
        bot_id: u64,
        dialog: Option<&str>,
        text: &str,
    ) -> Result<u64, ApiError> {
        actions::user_writes_bot(
            &self.fake.app,
            &self.member_id,
            user_id,
            bot_id,
            dialog,
            text,
        )
    }

    /// Opens a bound placement as `user_id` (B24's POST to the handler).
    pub async fn open_placement(
        &self,
        client_id: &str,
        user_id: u64,
        placement: &str,
        options: Value,
    ) -> Result<PlacementResponse, ApiError> {
        actions::open_placement(
            &self.fake.app,
            &self.member_id,
            client_id,
            user_id,
            placement,
            options,
        )
        .await
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.read(|p| p.tasks.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn task(&self, id: u64) -> Option<Task> {
        self.read(|p| p.tasks.get(&id).cloned()).flatten()
    }

    /// Old-card comments of a task.
    pub fn comments(&self, task_id: u64) -> Vec<Comment> {
        self.read(|p| {
            p.comments
                .iter()
                .filter(|c| c.task_id == task_id)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    pub fn messages(&self, chat_id: u64) -> Vec<Message> {
        self.read(|p| {
            p.messages
                .iter()
                .filter(|m| m.chat_id == chat_id)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// Messages of a task's chat (new-card comments).
    pub fn task_chat_messages(&self, task_id: u64) -> Vec<Message> {
        let chat = self.task(task_id).map(|t| t.chat_id).unwrap_or(0);
        self.messages(chat)
    }

    pub fn all_messages(&self) -> Vec<Message> {
        self.read(|p| p.messages.clone()).unwrap_or_default()
    }

    pub fn notifications(&self) -> Vec<Notification> {
        self.read(|p| p.notifications.clone()).unwrap_or_default()
    }

    pub fn bindings(&self) -> Vec<Binding> {
        self.read(|p| p.bindings.clone()).unwrap_or_default()
    }

    pub fn offline_events(&self) -> Vec<OfflineEvent> {
        self.read(|p| p.offline_events.clone()).unwrap_or_default()
    }

    pub fn placements(&self) -> Vec<PlacementBinding> {
        self.read(|p| p.placements.clone()).unwrap_or_default()
    }

    pub fn userfields(&self) -> Vec<UserField> {
        self.read(|p| p.task_userfields.clone()).unwrap_or_default()
    }

    pub fn documents(&self) -> Vec<Document> {
        self.read(|p| p.documents.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn landings(&self) -> Vec<Landing> {
        self.read(|p| p.landings.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn landing(&self, lid: u64) -> Option<Landing> {
        self.read(|p| p.landings.get(&lid).cloned()).flatten()
    }

    /// Landing sites of every type (KNOWLEDGE ones are the classic knowledge bases).
    pub fn sites(&self) -> Vec<Site> {
        self.read(|p| p.sites.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn folders(&self) -> Vec<Folder> {
        self.read(|p| p.folders.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Blocks of page `lid` in page order (draft content, and what is published).
    pub fn blocks(&self, lid: u64) -> Vec<Block> {
        let mut blocks: Vec<Block> = self
            .read(|p| {
                p.blocks
                    .values()
                    .filter(|b| b.lid == lid)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        blocks.sort_by_key(|b| b.sort);
        blocks
    }

    pub fn collections(&self) -> Vec<Collection> {
        self.read(|p| p.collections.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Files attached to KB 2.0 documents, with their bytes.
    pub fn note_files(&self) -> Vec<NoteFile> {
        self.read(|p| p.note_files.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn storages(&self) -> Vec<Storage> {
        self.read(|p| p.storages.clone()).unwrap_or_default()
    }

    /// Disk files and folders, with the files' bytes.
    pub fn disk_objects(&self) -> Vec<DiskObject> {
        self.read(|p| p.disk.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests refused by this portal's leaky bucket.
    pub fn violations(&self) -> u64 {
        self.read(|p| p.bucket.violations).unwrap_or(0)
    }

    /// This portal's state as JSON.
    pub fn snapshot(&self) -> Value {
        inspect::snapshot(&self.fake.app, Some(&self.member_id))
    }
}
