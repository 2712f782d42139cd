//! Fake Confluence, Cloud and Data Center flavours, following `../shared/docs/confluence-api.md`.
//!
//! Cloud (base `http://host/wiki`): REST v2 under `/wiki/api/v2` (cursor paging, `Link`
//! header), REST v1 under `/wiki/rest/api` (offset paging; CQL search pages by cursor), Basic
//! `email:token`; OAuth 2.0 (3LO) token endpoint at `/oauth/token` whose Bearer access tokens
//! are accepted on the gateway mount `/ex/confluence/{cloudId}/wiki/...` only (the docs: the
//! site rejects them). Data Center (base `http://host/confluence`, a context path): REST v1
//! only, `start`/`limit`, Bearer PAT or Basic `username:password`.
//!
//! Webhooks go out the way each flavour sends them (see [`webhooks_out`]). Faults come from
//! [`crate::common::Faults`]. `/_sandbox/...` is the inspection API, `/` a page for people.

// Handlers' helpers return the error answer itself (`Result<_, Response>`), by design.
#![allow(clippy::result_large_err)]

mod auth;
mod cql;
mod errors;
mod inspect;
mod oauth;
mod paging;
mod repr;
pub mod state;
mod v1;
mod v2;
pub mod webhooks_out;

use crate::common::{Faults, RequestLog, Running, faults, request_log, serve};
use axum::Router;
use axum::middleware::from_fn_with_state;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

pub use oauth::OAuthTokens;
pub use state::{Change, Content, Kind, State, StateError, Status};
pub use webhooks_out::{CloudPayload, Hook, HookStyle, SentWebhook};

/// The fixed cloud id of the fake site (also answered by `/_edge/tenant_info`).
pub const CLOUD_ID: &str = "a436116f-02ce-4520-8fbb-7301462a1674";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flavor {
    Cloud,
    DataCenter,
}

/// Credentials the fake accepts.
#[derive(Clone, Debug, Serialize)]
pub struct Credentials {
    /// Cloud Basic `email:api_token`.
    pub cloud_email: String,
    pub cloud_api_token: String,
    /// DC personal access token (Bearer).
    pub dc_pat: String,
    /// DC Basic `username:password`.
    pub dc_username: String,
    pub dc_password: String,
    /// OAuth 2.0 (3LO) client.
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            cloud_email: "sandbox@example.com".into(),
            cloud_api_token: "ATATT3xFfGF0-sandbox-api-token".into(),
            dc_pat: "NjU0MzIxMDk4NzY1OnNhbmRib3gtcGF0".into(),
            dc_username: "sandbox".into(),
            dc_password: "sandbox-password".into(),
            oauth_client_id: "sandbox-client-id".into(),
            oauth_client_secret: "sandbox-client-secret".into(),
        }
    }
}

/// Confluence-specific switches (the shared ones are [`crate::common::FaultKnobs`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfluenceKnobs {
    /// Shape of Cloud webhook payloads (docs §4a: id as number, string, with `idAsString`).
    pub cloud_payload: CloudPayload,
    /// DC `X-Hub-Signature` as `sha256=<hex>` (true) or bare hex (false): UNCONFIRMED in the
    /// docs, so both exist.
    pub hub_signature_prefix: bool,
    /// Cloud Connect JWT in a `jwt` query parameter instead of `Authorization: JWT ...`.
    pub jwt_in_query: bool,
    /// v1 `limit` is clamped silently to this (docs §1.3: "never assume you got what you
    /// asked for").
    pub v1_limit_cap: usize,
    /// OAuth access token lifetime (`expires_in`).
    pub oauth_access_ttl_secs: u64,
}

impl Default for ConfluenceKnobs {
    fn default() -> Self {
        ConfluenceKnobs {
            cloud_payload: CloudPayload::Current,
            hub_signature_prefix: true,
            jwt_in_query: false,
            v1_limit_cap: 100,
            oauth_access_ttl_secs: 3600,
        }
    }
}

pub(crate) struct Shared {
    pub flavor: Flavor,
    pub state: Mutex<State>,
    pub faults: Faults,
    pub log: RequestLog,
    pub knobs: RwLock<ConfluenceKnobs>,
    pub outbox: webhooks_out::Outbox,
    pub oauth: Mutex<oauth::OAuthServer>,
    pub creds: Credentials,
    /// `http://127.0.0.1:PORT`, set once the listener is bound.
    pub root: OnceLock<String>,
}

pub(crate) type S = Arc<Shared>;

impl Shared {
    pub fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn knobs(&self) -> ConfluenceKnobs {
        self.knobs.read().map(|k| k.clone()).unwrap_or_default()
    }
    pub fn context_path(&self) -> &'static str {
        match self.flavor {
            Flavor::Cloud => "/wiki",
            Flavor::DataCenter => "/confluence",
        }
    }
    pub fn root(&self) -> String {
        self.root.get().cloned().unwrap_or_default()
    }
    /// `_links.base`: the site root including `/wiki` (Cloud) or the context path (DC).
    pub fn base(&self) -> String {
        format!("{}{}", self.root(), self.context_path())
    }

    /// Applies a mutation and sends the webhooks it causes.
    pub async fn mutate<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<(T, Vec<Change>), StateError>,
    ) -> Result<T, StateError> {
        let deliveries = {
            let mut st = self.st();
            let (out, changes) = f(&mut st)?;
            let d = webhooks_out::prepare(self, &st, &changes);
            (out, d)
        };
        webhooks_out::deliver(self, deliveries.1).await;
        Ok(deliveries.0)
    }
}

/// A running fake Confluence. Dropping it stops the server.
pub struct FakeConfluence {
    shared: S,
    running: Running,
}

impl FakeConfluence {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(flavor: Flavor) -> std::io::Result<FakeConfluence> {
        Self::start_on(flavor, "127.0.0.1:0").await
    }

    /// Starts on `addr` (the `sandbox` binary uses a fixed port).
    pub async fn start_on(flavor: Flavor, addr: &str) -> std::io::Result<FakeConfluence> {
        let shared = Arc::new(Shared {
            flavor,
            state: Mutex::new(State::seeded()),
            faults: Faults::new(crate::common::ErrorShape::Confluence),
            log: RequestLog::default(),
            knobs: RwLock::new(ConfluenceKnobs::default()),
            outbox: webhooks_out::Outbox::default(),
            oauth: Mutex::new(oauth::OAuthServer::default()),
            creds: Credentials::default(),
            root: OnceLock::new(),
        });
        let running = serve(router(shared.clone()), addr).await?;
        let _ = shared.root.set(running.base_url.clone());
        Ok(FakeConfluence { shared, running })
    }

    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The API base clients are configured with: `http://127.0.0.1:PORT/wiki` (Cloud) or
    /// `http://127.0.0.1:PORT/confluence` (DC, context path). REST paths follow it
    /// (`/rest/api/...`, Cloud also `/api/v2/...`).
    pub fn base_url(&self) -> String {
        self.shared.base()
    }

    /// `http://127.0.0.1:PORT`: the inspection API (`/_sandbox/...`), the page at `/`, and on
    /// Cloud the OAuth endpoints (`/authorize`, `/oauth/token`).
    pub fn root_url(&self) -> String {
        self.running.base_url.clone()
    }

    /// Cloud OAuth gateway base: `http://127.0.0.1:PORT/ex/confluence/{cloudId}/wiki`.
    pub fn gateway_base_url(&self) -> String {
        format!("{}/ex/confluence/{CLOUD_ID}/wiki", self.running.base_url)
    }

    /// Cloud OAuth token endpoint (`POST`, JSON body).
    pub fn oauth_token_url(&self) -> String {
        format!("{}/oauth/token", self.running.base_url)
    }

    pub fn credentials(&self) -> Credentials {
        self.shared.creds.clone()
    }

    /// `Authorization` header value for Cloud: `Basic base64(email:token)`.
    pub fn cloud_basic(&self) -> String {
        let c = &self.shared.creds;
        auth::basic(&c.cloud_email, &c.cloud_api_token)
    }

    /// `Authorization` header value for DC: `Bearer <PAT>`.
    pub fn dc_pat(&self) -> String {
        format!("Bearer {}", self.shared.creds.dc_pat)
    }

    /// `Authorization` header value for DC Basic `username:password`.
    pub fn dc_basic(&self) -> String {
        let c = &self.shared.creds;
        auth::basic(&c.dc_username, &c.dc_password)
    }

    /// The `Authorization` header for this flavour's default credentials.
    pub fn auth_header(&self) -> String {
        match self.shared.flavor {
            Flavor::Cloud => self.cloud_basic(),
            Flavor::DataCenter => self.dc_pat(),
        }
    }

    /// An OAuth authorization code, as if the user had consented (also via `GET /authorize`).
    pub fn issue_oauth_code(&self, redirect_uri: &str) -> String {
        self.shared
            .oauth
            .lock()
            .map(|mut o| o.issue_code(redirect_uri))
            .unwrap_or_default()
    }

    // --- webhooks ---

    /// Replaces the registered webhooks with one receiving every event: DC sends signed
    /// deliveries to `url`; Cloud sends Connect deliveries with `url` as the app `baseUrl`
    /// (one URL per event: `{url}/{event}`), JWT signed with `secret` as the shared secret.
    pub fn set_webhook_target(&self, url: &str, secret: &str) {
        self.shared
            .outbox
            .set_hooks(vec![default_hook(self.shared.flavor, url, secret)]);
    }

    /// Adds a webhook registration of any style.
    pub fn add_webhook(&self, hook: Hook) {
        self.shared.outbox.add_hook(hook);
    }

    pub fn clear_webhooks(&self) {
        self.shared.outbox.set_hooks(Vec::new());
    }

    /// Every delivery attempt, including dropped ones (`dropped: true`) and held ones.
    pub fn sent_webhooks(&self) -> Vec<SentWebhook> {
        self.shared.outbox.sent()
    }

    /// Sends the deliveries held by `reorder_outgoing`, newest first.
    pub async fn flush_webhooks(&self) {
        webhooks_out::flush(&self.shared).await;
    }

    // --- knobs, log, reset ---

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn knobs(&self) -> ConfluenceKnobs {
        self.shared.knobs()
    }

    pub fn set_knobs(&self, f: impl FnOnce(&mut ConfluenceKnobs)) {
        if let Ok(mut k) = self.shared.knobs.write() {
            f(&mut k);
        }
    }

    pub fn requests(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Back to the seeded state; clears the log, sent webhooks, hooks, knobs and OAuth grants.
    pub fn reset(&self) {
        inspect::reset(&self.shared);
    }

    // --- state ---

    /// A copy of the whole state.
    pub fn state(&self) -> State {
        self.shared.st().clone()
    }

    pub fn content(&self, id: u64) -> Option<Content> {
        self.shared.st().get(id).cloned()
    }

    /// Id of the page titled `title` in `space_key` (any status but deleted).
    pub fn page_id(&self, space_key: &str, title: &str) -> Option<u64> {
        let st = self.shared.st();
        let space = st.space_by_key(space_key)?.id;
        st.contents
            .values()
            .find(|c| {
                c.kind == Kind::Page
                    && c.space_id == space
                    && c.title() == title
                    && c.status != Status::Deleted
            })
            .map(|c| c.id)
    }

    /// Creates a space (with a home page); returns the space id.
    pub fn create_space(&self, key: &str, name: &str) -> Result<u64, StateError> {
        self.shared.st().create_space(key, name, state::API_USER)
    }

    /// Index of a new user (Cloud `accountId`, e-mail, display name, DC username).
    pub fn add_user(
        &self,
        account_id: &str,
        email: &str,
        display_name: &str,
        username: &str,
    ) -> usize {
        self.shared
            .st()
            .add_user(account_id, email, display_name, username)
    }

    /// Creates a page (under the space home page when `parent` is None); `(id, version)`.
    pub async fn create_page(
        &self,
        space_key: &str,
        title: &str,
        body: &str,
        parent: Option<u64>,
    ) -> Result<(u64, u32), StateError> {
        self.shared
            .mutate(|s| s.create_page(space_key, title, body, parent, state::API_USER))
            .await
    }

    pub async fn create_blogpost(
        &self,
        space_key: &str,
        title: &str,
        body: &str,
    ) -> Result<(u64, u32), StateError> {
        self.shared
            .mutate(|s| s.create_blogpost(space_key, title, body, state::API_USER))
            .await
    }

    /// A new version with `body`; returns `(id, new version)`.
    pub async fn edit_page(&self, id: u64, body: &str) -> Result<(u64, u32), StateError> {
        self.edit_page_as(id, body, state::API_USER).await
    }

    /// Edit made by user index `by` (see [`State::users`]).
    pub async fn edit_page_as(
        &self,
        id: u64,
        body: &str,
        by: usize,
    ) -> Result<(u64, u32), StateError> {
        self.shared.mutate(|s| s.edit(id, None, body, "", by)).await
    }

    pub async fn rename_page(&self, id: u64, title: &str) -> Result<(u64, u32), StateError> {
        self.shared
            .mutate(|s| s.rename(id, title, state::API_USER))
            .await
    }

    /// Moves under `new_parent`, or to the top of `space_key` when `new_parent` is None.
    pub async fn move_page(
        &self,
        id: u64,
        new_parent: Option<u64>,
        space_key: Option<&str>,
    ) -> Result<(), StateError> {
        self.shared
            .mutate(|s| Ok(((), s.move_page(id, new_parent, space_key, state::API_USER)?)))
            .await
    }

    pub async fn trash(&self, id: u64) -> Result<(), StateError> {
        self.shared
            .mutate(|s| Ok(((), s.trash(id, state::API_USER)?)))
            .await
    }

    pub async fn restore(&self, id: u64) -> Result<(), StateError> {
        self.shared
            .mutate(|s| Ok(((), s.restore(id, state::API_USER)?)))
            .await
    }

    /// Purges trashed content (status `deleted`; the APIs answer 404).
    pub async fn purge(&self, id: u64) -> Result<(), StateError> {
        self.shared
            .mutate(|s| Ok(((), s.purge(id, state::API_USER)?)))
            .await
    }

    /// A footer comment on a page/blog post, or a reply when `on` is a comment id.
    pub async fn add_comment(&self, on: u64, body: &str) -> Result<(u64, u32), StateError> {
        self.shared
            .mutate(|s| s.add_comment(on, body, state::API_USER))
            .await
    }

    pub async fn add_attachment(
        &self,
        container: u64,
        filename: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(u64, u32), StateError> {
        self.shared
            .mutate(|s| s.add_attachment(container, filename, media_type, bytes, state::API_USER))
            .await
    }

    pub fn set_watch(&self, content: u64, user: usize, watching: bool) -> Result<(), StateError> {
        self.shared.st().set_watch(content, user, watching)
    }

    pub fn add_label(&self, content: u64, label: &str) -> Result<(), StateError> {
        self.shared.st().add_label(content, label)
    }
}

/// The flavour's usual registration: DC signed, Cloud Connect with one URL per event.
pub(crate) fn default_hook(flavor: Flavor, url: &str, secret: &str) -> Hook {
    match flavor {
        Flavor::DataCenter => Hook::dc_signed(url, secret),
        Flavor::Cloud => Hook::connect(url, "/{event}", secret),
    }
}

fn router(shared: S) -> Router {
    let api = || -> Router<S> {
        match shared.flavor {
            Flavor::Cloud => v1::router(Flavor::Cloud).merge(v2::router()),
            Flavor::DataCenter => v1::router(Flavor::DataCenter),
        }
    };
    let site = api().route_layer(from_fn_with_state(
        (shared.clone(), auth::Mount::Site),
        auth::require,
    ));
    let mut app = Router::new().nest(shared.context_path(), site);
    if shared.flavor == Flavor::Cloud {
        let gateway = api().route_layer(from_fn_with_state(
            (shared.clone(), auth::Mount::Gateway),
            auth::require,
        ));
        app = app
            .nest(&format!("/ex/confluence/{CLOUD_ID}/wiki"), gateway)
            .merge(oauth::router());
    }
    let app = app
        .layer(from_fn_with_state(shared.faults.clone(), faults::inject))
        .layer(from_fn_with_state(shared.log.clone(), request_log::record));
    app.merge(inspect::router()).with_state(shared)
}
