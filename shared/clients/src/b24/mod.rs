//! Bitrix24 REST client: classic REST (`/rest/{method}`) and REST 3.0 (`/rest/api/{method}`,
//! [`v3`]), with typed helpers for the two knowledge bases ([`kb_classic`], [`kb2`]) and Disk
//! ([`disk`]).
//!
//! - **Auth**: an installed app's OAuth tokens (per portal, sealed in `credentials`; the
//!   token travels in the JSON body as `auth`, never in the URL), refreshed on
//!   `expired_token`, single-flight per portal ([`oauth`]); or an inbound webhook
//!   (`BRIDGE_B24_WEBHOOK_URL`, `/rest/{user}/{secret}/`), which needs no token.
//! - **Limits**: every request first takes a slot of the portal's deployment-wide budget
//!   ([`limiter`], GCRA in the database); `QUERY_LIMIT_EXCEEDED` is retried a few times
//!   with growing pauses; `OPERATION_TIME_LIMIT` comes back with the wait B24 named.
//! - **Answers**: an `error` key is an error whatever the status ([`http`]); `batch`
//!   sends ≤ 50 commands per request and returns one result per command ([`batch`]).
//! - **Domain change**: a 301/302/307/308 from the portal is followed by re-sending the same
//!   POST to the new host — only a Bitrix24 cloud host or one under the portal's installed
//!   domain ([`http::redirect_allowed`]) — and the new `client_endpoint` is stored (the
//!   portal's status untouched). A 303 is not followed.
//!
//! Clients are made per portal by [`B24Clients`], which keeps one per portal so the
//! single-flight refresh covers every job of the process.

pub mod batch;
pub mod codes;
pub mod disk;
pub mod error;
pub mod http;
pub mod kb2;
pub mod kb_classic;
pub mod limiter;
pub mod methods;
pub mod oauth;
pub mod registry;
pub mod v3;

pub use batch::{BatchCommand, BatchItem};
pub use disk::DiskFile;
pub use error::B24Error;
pub use http::Reply;
pub use kb_classic::{KB_CLASSIC_BLOCK_CODE, KB_SCOPE};
pub use kb2::{NOTE_FILE_EXTENSIONS, NoteDocument, NoteFile};
pub use limiter::RateLimit;
pub use methods::{OfflineEvent, OfflineEvents};
pub use oauth::Confirmation;
pub use registry::B24Clients;

use bridge_core::Config;
use bridge_core::config::Secret;
use bridge_db::credentials::names;
use bridge_db::entities::b24_portals::PortalStatus;
use bridge_db::{CredentialStore, Db, OwnerKind, PortalStore, RateLimits};
use http::Sent;
use limiter::Limiter;
use oauth::OAuthState;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use url::Url;
use v3::Api;

/// How the client behaves; [`B24Settings::from_config`] reads the `BRIDGE_B24_*` variables.
#[derive(Clone, Debug)]
pub struct B24Settings {
    /// The app's OAuth client id; also what `app.info` must report for an install.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// The OAuth server (`https://oauth.bitrix.info`); `/oauth/token/` is appended.
    pub oauth_url: Url,
    /// Inbound-webhook mode: `https://{portal}/rest/{user}/{secret}/`.
    pub webhook_url: Option<Secret>,
    pub rate_limit: RateLimit,
    /// Longest wait for a rate-limit slot before giving the job back as retryable.
    pub max_wait: Duration,
    /// Per request; B24 cuts REST requests off after 60 s.
    pub timeout: Duration,
    /// How often a `QUERY_LIMIT_EXCEEDED` is retried in place (1 s, 2 s, 4 s…).
    pub query_limit_retries: u32,
    /// Hosts a redirect may also lead to, matched exactly, besides Bitrix24 cloud hosts and
    /// the installed domain's own (tests point this at the fake portal's `127.0.0.1`).
    pub extra_redirect_hosts: Vec<String>,
}

impl B24Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            client_id: config.b24_client_id.clone(),
            client_secret: config.b24_client_secret.clone(),
            oauth_url: config.b24_oauth_url.clone(),
            webhook_url: config.b24_webhook_url.clone(),
            ..Self::default()
        }
    }
}

impl Default for B24Settings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            oauth_url: Url::parse("https://oauth.bitrix.info").expect("static URL"),
            webhook_url: None,
            rate_limit: RateLimit::default(),
            max_wait: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            query_limit_retries: 3,
            extra_redirect_hosts: Vec::new(),
        }
    }
}

/// A client of one portal. Cheap to clone; clones share tokens and state.
#[derive(Clone)]
pub struct B24Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: B24Settings,
    /// `client_endpoint` (`https://{portal}/rest/`), or the webhook base; ends with `/`.
    base: RwLock<Url>,
    /// The portal's installed domain (OAuth) or the webhook's host: redirects may lead only
    /// to hosts under its registrable part or to Bitrix24 cloud hosts.
    installed_domain: String,
    /// `None` in webhook mode.
    oauth: Option<OAuthState>,
    /// To store a new `client_endpoint` after a domain change (OAuth mode).
    portals: Option<PortalStore>,
    limiter: Limiter,
    /// Last `time.operating_reset_at` seen per method.
    operating_reset: Mutex<HashMap<String, Value>>,
}

impl fmt::Debug for B24Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.base_url().host_str().unwrap_or_default().to_owned();
        f.debug_struct("B24Client")
            .field("host", &host)
            .field("portal", &self.member_id())
            .field("webhook", &self.inner.oauth.is_none())
            .finish_non_exhaustive()
    }
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

impl B24Client {
    /// A client of an installed portal, with its tokens from `credentials` and the
    /// deployment-wide rate limit kept in `db`.
    pub async fn for_portal(
        db: &Db,
        credentials: &CredentialStore,
        settings: &B24Settings,
        member_id: &str,
    ) -> Result<Self, B24Error> {
        let http = http::http_client(settings.timeout);
        Self::for_portal_with(db, credentials, settings, member_id, http).await
    }

    pub(crate) async fn for_portal_with(
        db: &Db,
        credentials: &CredentialStore,
        settings: &B24Settings,
        member_id: &str,
        http: reqwest::Client,
    ) -> Result<Self, B24Error> {
        let portals = PortalStore::new(db.clone(), credentials.clone());
        let portal = portals
            .find(member_id)
            .await?
            .filter(|p| p.status == PortalStatus::Active)
            .ok_or_else(|| B24Error::NotInstalled(member_id.to_owned()))?;
        let base = Url::parse(&portal.client_endpoint)
            .or_else(|_| Url::parse(&format!("https://{}/rest/", portal.domain)))
            .map_err(|_| B24Error::Invalid(format!("portal {member_id}: bad client_endpoint")))?;
        let access = credentials
            .get(OwnerKind::Portal, portal.id, names::ACCESS_TOKEN)
            .await?;
        let installed_domain = portal.domain.clone();
        let limiter = Limiter::new(
            Some(RateLimits::new(db.clone())),
            format!("b24:{member_id}"),
            settings.rate_limit,
            settings.max_wait,
        );
        let oauth = OAuthState::new(
            portal,
            credentials.clone(),
            settings.client_id.clone(),
            settings.client_secret.clone(),
            &settings.oauth_url,
            access,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings: settings.clone(),
                base: RwLock::new(with_slash(base)),
                installed_domain,
                oauth: Some(oauth),
                portals: Some(portals),
                limiter,
                operating_reset: Mutex::default(),
            }),
        })
    }

    /// A client of an inbound webhook (`https://{portal}/rest/{user}/{secret}/`). With a
    /// `db`, calls take slots of the portal's deployment-wide budget (keyed by host).
    pub fn webhook(
        webhook_url: &Secret,
        settings: &B24Settings,
        db: Option<&Db>,
    ) -> Result<Self, B24Error> {
        let url = Url::parse(webhook_url.expose())
            .ok()
            .filter(|u| u.path().contains("/rest/") && u.host_str().is_some())
            .ok_or_else(|| {
                B24Error::NotConfigured(
                    "BRIDGE_B24_WEBHOOK_URL must look like https://{portal}/rest/{user}/{secret}/"
                        .into(),
                )
            })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let limiter = Limiter::new(
            db.map(|d| RateLimits::new(d.clone())),
            format!("b24-host:{host}"),
            settings.rate_limit,
            settings.max_wait,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http: http::http_client(settings.timeout),
                settings: settings.clone(),
                base: RwLock::new(with_slash(url)),
                installed_domain: host,
                oauth: None,
                portals: None,
                limiter,
                operating_reset: Mutex::default(),
            }),
        })
    }

    /// The portal's `member_id` (OAuth mode).
    pub fn member_id(&self) -> Option<&str> {
        self.inner.oauth.as_ref().map(|o| o.member_id.as_str())
    }

    /// The current REST base (`client_endpoint`). Holds the secret in webhook mode: do not
    /// log it.
    pub fn base_url(&self) -> Url {
        self.inner
            .base
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Token refreshes this client did against the OAuth server.
    pub fn refresh_count(&self) -> u64 {
        self.inner
            .oauth
            .as_ref()
            .map_or(0, |o| o.refreshes.load(Ordering::Relaxed))
    }

    /// Calls `method` with `params` (a JSON object, or null for none).
    pub async fn call(&self, method: &str, params: Value) -> Result<Reply, B24Error> {
        let mut params = match params {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            _ => {
                return Err(B24Error::Invalid(format!(
                    "{method}: params must be an object"
                )));
            }
        };
        params.remove("auth");
        self.execute(method, &|token: Option<&str>| {
            let mut p = params.clone();
            if let Some(t) = token {
                p.insert("auth".into(), Value::String(t.to_owned()));
            }
            serde_json::to_vec(&p).unwrap_or_default()
        })
        .await
    }

    /// [`call`](Self::call) and just its `result`.
    pub async fn call_result(&self, method: &str, params: Value) -> Result<Value, B24Error> {
        Ok(self.call(method, params).await?.result)
    }

    /// Every item of a list method, page by page (`start` = the previous answer's `next`).
    /// Results shaped `[...]` or `{"tasks": [...]}` (one list inside an object) both work.
    pub async fn list_all(&self, method: &str, params: Value) -> Result<Vec<Value>, B24Error> {
        let mut items = Vec::new();
        let mut start: u64 = 0;
        for _ in 0..10_000 {
            let mut p = params.clone();
            if !p.is_object() {
                p = Value::Object(serde_json::Map::new());
            }
            p["start"] = Value::from(start);
            let reply = self.call(method, p).await?;
            items.extend(list_items(reply.result));
            match reply.next {
                Some(next) if next > start => start = next,
                _ => break,
            }
        }
        Ok(items)
    }

    /// Sends one request (after its rate-limit slot), refreshing the token, following a
    /// domain change and pausing on `QUERY_LIMIT_EXCEEDED` as needed. `body` makes the JSON
    /// body with the access token (OAuth) or without (webhook).
    pub(crate) async fn execute(
        &self,
        method: &str,
        body: &(dyn Fn(Option<&str>) -> Vec<u8> + Sync),
    ) -> Result<Reply, B24Error> {
        self.execute_with(method, Api::Classic, body).await
    }

    /// [`execute`](Self::execute) against either API generation: both share the slot, the
    /// refresh, the limit pauses and the domain change.
    pub(crate) async fn execute_with(
        &self,
        method: &str,
        api: Api<'_>,
        body: &(dyn Fn(Option<&str>) -> Vec<u8> + Sync),
    ) -> Result<Reply, B24Error> {
        let inner = &*self.inner;
        let mut refreshed = false;
        let mut reloaded = false;
        let mut limit_retries = 0;
        loop {
            let (token, generation) = match &inner.oauth {
                Some(o) => {
                    let (token, generation) = o.current();
                    if token.is_none() {
                        if refreshed {
                            return Err(B24Error::ReinstallNeeded {
                                member_id: o.member_id.clone(),
                                reason: "no access token".into(),
                            });
                        }
                        refreshed = true;
                        self.refresh(o, generation).await?;
                        continue;
                    }
                    (token, generation)
                }
                None => (None, 0),
            };
            inner.limiter.acquire().await?;
            let bytes = body(token.as_ref().map(Secret::expose));
            let outcome = self.post_following(method, api, bytes).await;
            let err = match outcome {
                Ok(reply) => {
                    if let Some(time) = &reply.time
                        && time.get("operating_reset_at").is_some()
                        && let Ok(mut m) = inner.operating_reset.lock()
                    {
                        m.insert(method.to_owned(), time.clone());
                    }
                    return Ok(reply);
                }
                Err(e) => e,
            };
            match (&inner.oauth, err) {
                (Some(o), e) if e.is_code("expired_token") && !refreshed => {
                    refreshed = true;
                    self.refresh(o, generation).await?;
                }
                // A token another process or a reinstall replaced: try the stored one once.
                (Some(o), e) if e.status() == Some(401) && !reloaded => {
                    reloaded = true;
                    if !o.adopt_stored(generation).await? {
                        return Err(e);
                    }
                }
                (_, e)
                    if e.is_code("QUERY_LIMIT_EXCEEDED")
                        && limit_retries < inner.settings.query_limit_retries =>
                {
                    let pause = e
                        .retry_after()
                        .unwrap_or(Duration::from_secs(1 << limit_retries.min(5)));
                    limit_retries += 1;
                    tracing::warn!(
                        method,
                        pause_ms = pause.as_millis() as u64,
                        "B24 QUERY_LIMIT_EXCEEDED; pausing"
                    );
                    tokio::time::sleep(pause).await;
                }
                (_, e) if e.is_code("OPERATION_TIME_LIMIT") && e.retry_after().is_none() => {
                    let wait = inner
                        .operating_reset
                        .lock()
                        .ok()
                        .and_then(|m| m.get(method).and_then(http::until_operating_reset))
                        .unwrap_or(Duration::from_secs(60));
                    return Err(match e {
                        B24Error::Api {
                            method,
                            status,
                            code,
                            description,
                            ..
                        } => B24Error::Api {
                            method,
                            status,
                            code,
                            description,
                            retry_after: Some(wait),
                        },
                        other => other,
                    });
                }
                (_, e) => return Err(e),
            }
        }
    }

    async fn refresh(&self, o: &OAuthState, generation: u64) -> Result<(), B24Error> {
        let refreshed = o.refresh(&self.inner.http, generation).await?;
        if let Some(endpoint) = refreshed.client_endpoint
            && let Ok(url) = Url::parse(&endpoint)
        {
            let url = with_slash(url);
            if url.origin() != self.base_url().origin() {
                self.move_to(url).await?;
            }
        }
        Ok(())
    }

    /// POSTs to `{base}{method}`; on a 30x re-sends the same POST to the new host (at most
    /// five hops) and remembers the new base.
    async fn post_following(
        &self,
        method: &str,
        api: Api<'_>,
        body: Vec<u8>,
    ) -> Result<Reply, B24Error> {
        let mut base = self.base_url();
        let headers = api.headers();
        for _ in 0..5 {
            let url = api.url(&base, method)?;
            match http::post(&self.inner.http, &url, method, body.clone(), &headers).await? {
                Sent::Answer(answer) => {
                    if base != self.base_url() {
                        self.move_to(base).await?;
                    }
                    return answer;
                }
                Sent::Moved(target) => {
                    let scheme_ok = target.scheme() == "https" || target.scheme() == base.scheme();
                    let Some(host) = target.host_str().filter(|_| scheme_ok) else {
                        return Err(B24Error::Redirect {
                            method: method.to_owned(),
                            reason: "Location is not an https URL".into(),
                        });
                    };
                    if !http::redirect_allowed(
                        host,
                        &self.inner.installed_domain,
                        &self.inner.settings.extra_redirect_hosts,
                    ) {
                        tracing::warn!(
                            method,
                            new_host = host,
                            "B24 redirect to a host that is not the portal's; not followed"
                        );
                        return Err(B24Error::Redirect {
                            method: method.to_owned(),
                            reason: format!(
                                "Location host {host:?} is neither a Bitrix24 cloud host nor under the portal's domain"
                            ),
                        });
                    }
                    // Same path on the new host: `/rest/` (or the webhook's `/rest/{u}/{s}/`).
                    let mut next = base.clone();
                    next.set_scheme(target.scheme()).ok();
                    next.set_host(target.host_str()).ok();
                    next.set_port(target.port()).ok();
                    tracing::info!(
                        method,
                        new_host = target.host_str().unwrap_or_default(),
                        "B24 portal moved; re-sending"
                    );
                    base = next;
                }
            }
        }
        Err(B24Error::Redirect {
            method: method.to_owned(),
            reason: "too many redirects".into(),
        })
    }

    /// Uses `base` from now on and stores it as the portal's `client_endpoint` and domain,
    /// leaving the portal's status and tokens as they are.
    async fn move_to(&self, base: Url) -> Result<(), B24Error> {
        *self.inner.base.write().unwrap_or_else(|e| e.into_inner()) = base.clone();
        let (Some(o), Some(portals)) = (&self.inner.oauth, &self.inner.portals) else {
            return Ok(());
        };
        let domain = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_owned(),
        };
        portals
            .set_endpoint(&o.member_id, &domain, base.as_str())
            .await?;
        Ok(())
    }
}

/// The items of one page of a list method.
fn list_items(result: Value) -> Vec<Value> {
    match result {
        Value::Array(items) => items,
        Value::Object(m) => {
            let lists: Vec<_> = m.values().filter(|v| v.is_array()).collect();
            if lists.len() == 1 {
                lists[0].as_array().cloned().unwrap_or_default()
            } else {
                // A map keyed by id (e.g. `imbot.bot.list`).
                m.into_iter().map(|(_, v)| v).collect()
            }
        }
        Value::Null => Vec::new(),
        other => vec![other],
    }
}
