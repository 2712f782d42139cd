//! Confluence REST client (docs: `../shared/docs/confluence-api.md`).
//!
//! - **Flavours.** Cloud reads through REST v2 (cursor paging) and uses v1 only for CQL
//!   search and watchers; Data Center uses v1 throughout (offset paging).
//! - **Auth.** Basic `email:api_token` (Cloud), PAT Bearer or Basic `user:password` (DC),
//!   OAuth 2.0 3LO (Cloud, against the gateway base) with rotating refresh tokens stored
//!   through [`bridge_db::CredentialStore`] ([`oauth`]).
//! - **One host.** Every request goes to the configured base's origin; a `next` link,
//!   redirect or absolute URL elsewhere is refused ([`ConfluenceError::ForeignHost`]).
//! - **Errors** carry a retry class ([`ConfluenceError::class`]); 429 `Retry-After` is
//!   honoured (clamped) for a few in-process retries ([`http`]).
//!
//! Secrets never reach errors, logs or `Debug` output.

mod config;
pub mod cql;
mod error;
mod http;
pub mod model;
mod oauth;
mod v1;
mod v2;

pub use config::{ATLASSIAN_TOKEN_URL, Auth, ConfluenceSettings, OAuthSettings};
pub use error::ConfluenceError;
pub use model::{ContentKind, ContentStatus, Page, SearchHit, UserRef};
pub use v1::CqlSearch;

use bridge_core::Config;
use bridge_core::config::ConfluenceFlavor;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use url::Url;

/// Results per search page asked for (servers may clamp it; `next` is trusted).
pub const DEFAULT_SEARCH_LIMIT: usize = 100;

/// A client of one Confluence site. Cheap to clone (clones share connections, the OAuth
/// token state and caches).
#[derive(Clone)]
pub struct ConfluenceClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: http::Http,
    flavor: ConfluenceFlavor,
    auth_kind: bridge_db::entities::confluence_sites::AuthKind,
    /// The site's web base (for absolute links when an answer has no `_links.base`).
    web_base: String,
    site: String,
    /// v2 space id → key.
    spaces: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for ConfluenceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfluenceClient")
            .field("site", &self.inner.site)
            .field("api", &self.inner.http.base().as_str())
            .field("flavor", &self.inner.flavor)
            .field("auth", &self.inner.auth_kind)
            .finish()
    }
}

impl ConfluenceClient {
    pub fn new(settings: ConfluenceSettings) -> Result<Self, ConfluenceError> {
        if matches!(settings.auth, Auth::OAuth(_)) && settings.flavor != ConfluenceFlavor::Cloud {
            return Err(ConfluenceError::NotConfigured(
                "OAuth 2.0 (3LO) is supported for Confluence Cloud only".into(),
            ));
        }
        let http = http::Http::new(&settings)?;
        let web_base = settings
            .web_base_url
            .as_ref()
            .unwrap_or(&settings.base_url)
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                flavor: settings.flavor,
                auth_kind: settings.auth.kind(),
                site: settings.site(),
                web_base,
                http,
                spaces: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// From the `BRIDGE_CONFLUENCE_*` variables (see [`ConfluenceSettings::from_config`]).
    pub fn from_config(config: &Config) -> Result<Self, ConfluenceError> {
        Self::new(ConfluenceSettings::from_config(config)?)
    }

    pub fn flavor(&self) -> ConfluenceFlavor {
        self.inner.flavor
    }

    pub fn auth_kind(&self) -> bridge_db::entities::confluence_sites::AuthKind {
        self.inner.auth_kind
    }

    /// The site's identity (configured URL without trailing slash), as in envelopes.
    pub fn site(&self) -> &str {
        &self.inner.site
    }

    /// The API base every request goes to.
    pub fn base_url(&self) -> &Url {
        self.inner.http.base()
    }

    /// Token refreshes this client made (OAuth only).
    pub fn oauth_refresh_count(&self) -> Option<u64> {
        self.inner.http.oauth().map(|o| o.refresh_count())
    }

    /// A page or blog post by id, with its status (`trashed` content is found; purged
    /// content is [`ConfluenceError::NotFound`]). Cloud: v2 plus the space key by space id;
    /// DC: v1 with `expand=space,version,history`.
    pub async fn page(&self, id: u64) -> Result<Page, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => v2::page(&i.http, &i.spaces, id, &i.web_base).await,
            ConfluenceFlavor::DataCenter => v1::page(&i.http, id, &i.web_base).await,
        }
    }

    /// The current version's body in storage format.
    pub async fn page_body_storage(&self, id: u64) -> Result<String, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => v2::body_storage(&i.http, id).await,
            ConfluenceFlavor::DataCenter => v1::body_storage(&i.http, id).await,
        }
    }

    /// A CQL search (`/rest/api/search`), read page by page with
    /// [`CqlSearch::next_page`]; `limit` is per page and may be clamped by the server.
    pub fn search_cql(&self, cql: &str, limit: usize) -> CqlSearch {
        CqlSearch::new(self.clone(), cql, limit)
    }

    /// Pages and blog posts modified at or after `since` (minute precision, read in the API
    /// user's time zone by the server: callers overlap), oldest first.
    pub fn pages_modified_since(&self, since: DateTime<Utc>) -> CqlSearch {
        self.search_cql(&cql::modified_since(since), DEFAULT_SEARCH_LIMIT)
    }

    /// Who watches the page (v1; Cloud users by `accountId` with e-mail where visible, DC by
    /// `userKey`/`username`). On DC this needs admin rights.
    pub async fn watchers(&self, page_id: u64) -> Result<Vec<UserRef>, ConfluenceError> {
        v1::watchers(&self.inner.http, self.inner.flavor, page_id).await
    }

    /// The current page titled exactly `title` in `space_key` (DC `/display/KEY/Title` URLs
    /// name no id). `None` when there is none.
    pub async fn find_page_by_title(
        &self,
        space_key: &str,
        title: &str,
    ) -> Result<Option<Page>, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => {
                v2::find_by_title(&i.http, &i.spaces, space_key, title, &i.web_base).await
            }
            ConfluenceFlavor::DataCenter => {
                v1::find_by_title(&i.http, space_key, title, None, &i.web_base).await
            }
        }
    }

    /// The current blog post titled exactly `title` in `space_key` posted on `posting_day`
    /// (`yyyy-mm-dd`; DC `/display/KEY/yyyy/mm/dd/Title` URLs name no id). v1 on both
    /// flavours (`type=blogpost&postingDay=`). `None` when there is none.
    pub async fn find_blogpost_by_title(
        &self,
        space_key: &str,
        title: &str,
        posting_day: &str,
    ) -> Result<Option<Page>, ConfluenceError> {
        let i = &self.inner;
        v1::find_by_title(&i.http, space_key, title, Some(posting_day), &i.web_base).await
    }

    /// Every current page of a space, following the flavour's paging (Cloud v2 cursors,
    /// DC v1 offsets); `limit` is the page size asked for.
    pub async fn pages_in_space(
        &self,
        space_key: &str,
        limit: usize,
    ) -> Result<Vec<Page>, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => {
                v2::pages_in_space(&i.http, &i.spaces, space_key, limit, &i.web_base).await
            }
            ConfluenceFlavor::DataCenter => {
                v1::pages_in_space(&i.http, space_key, limit, &i.web_base).await
            }
        }
    }

    /// GET a REST URL the API handed out (`_links.self`, a `download` link): absolute URLs
    /// must be on the configured host, relative ones are read against the base.
    pub async fn get_json(&self, url: &str) -> Result<Value, ConfluenceError> {
        let http = &self.inner.http;
        let target =
            if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("//") {
                http.base()
                    .join(url)
                    .map_err(|_| ConfluenceError::decode("link", "not a URL"))?
            } else {
                let (path, query) = url.split_once('?').unwrap_or((url, ""));
                let mut u = http.url(path, &[]);
                u.set_query((!query.is_empty()).then_some(query));
                u
            };
        http.check_host(&target)?;
        Ok(http.get(target, "GET link").await?.body)
    }
}
