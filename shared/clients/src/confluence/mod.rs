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
pub use model::{Attachment, ContentKind, ContentStatus, Page, SearchHit, UserRef};
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
    /// The path of the site's web base (`/wiki`, a DC context path, or empty): relative
    /// links that start with it are site-root relative.
    web_context: String,
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
        let web_context = settings
            .web_base_url
            .as_ref()
            .unwrap_or(&settings.base_url)
            .path()
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                flavor: settings.flavor,
                auth_kind: settings.auth.kind(),
                site: settings.site(),
                web_base,
                web_context,
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

    /// The flavour as `confluence_sites` stores it.
    pub fn site_flavor(&self) -> bridge_db::entities::confluence_sites::Flavor {
        use bridge_db::entities::confluence_sites::Flavor;
        match self.inner.flavor {
            ConfluenceFlavor::Cloud => Flavor::Cloud,
            ConfluenceFlavor::DataCenter => Flavor::DataCenter,
        }
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
    /// content is [`ConfluenceError::NotFound`]) and parent page. Cloud: v2 plus the space
    /// key by space id; DC: v1 with `expand=space,version,history,ancestors`.
    pub async fn page(&self, id: u64) -> Result<Page, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => v2::page(&i.http, &i.spaces, id, &i.web_base).await,
            ConfluenceFlavor::DataCenter => v1::page(&i.http, id, &i.web_base).await,
        }
    }

    /// The page or blog post an attachment is on (webhooks may not say). Cloud: v2
    /// `/attachments/{id}`; DC: v1 `expand=container`.
    pub async fn attachment_container(
        &self,
        attachment_id: u64,
    ) -> Result<Option<u64>, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => v2::attachment_container(&i.http, attachment_id).await,
            ConfluenceFlavor::DataCenter => v1::attachment_container(&i.http, attachment_id).await,
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

    /// The attachments of a page or blog post, every page of the listing. Cloud: v2
    /// `/pages/{id}/attachments` (cursor paging, 250 a page); an id that is no page (404)
    /// is listed as a blog post (`/blogposts/{id}/attachments`), so callers need not know
    /// the kind. DC: v1 `/content/{id}/child/attachment` (offset paging), which serves
    /// both kinds. Ids come without the `att` prefix; see [`Attachment`].
    pub async fn attachments(&self, page_id: u64) -> Result<Vec<Attachment>, ConfluenceError> {
        let i = &self.inner;
        match i.flavor {
            ConfluenceFlavor::Cloud => v2::attachments(&i.http, page_id).await,
            ConfluenceFlavor::DataCenter => v1::attachments(&i.http, page_id).await,
        }
    }

    /// The bytes of an attachment, from its download link with this client's credentials,
    /// on the configured host only (an absolute link or a redirect elsewhere is
    /// [`ConfluenceError::ForeignHost`] and never fetched). More than `max_bytes` is
    /// [`ConfluenceError::TooLarge`] (permanent): refused by `Content-Length` before the
    /// body, else counted while streaming. 429 and 5xx are retried like any other call.
    pub async fn download_attachment(
        &self,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ConfluenceError> {
        let url = self.resolve_link(&attachment.download)?;
        let what = format!("GET attachment {}", attachment.id);
        self.inner.http.get_bytes(url, &what, max_bytes).await
    }

    /// GET a REST URL the API handed out (`_links.self`, a `download` link): absolute URLs
    /// must be on the configured host, relative ones are read against the base.
    pub async fn get_json(&self, url: &str) -> Result<Value, ConfluenceError> {
        let target = self.resolve_link(url)?;
        Ok(self.inner.http.get(target, "GET link").await?.body)
    }

    /// Where a link the API handed out points. Absolute links must be on the configured
    /// host. Relative ones are read against the API base (`_links.base` is the site base
    /// and the API base is the site's, or the gateway's standing in for it); a link that
    /// already starts with the context path (`/wiki/…`, `/confluence/…`: site-root
    /// relative, like v2 `next` links) loses that prefix first, so it lands right through
    /// the OAuth gateway too, whose own path differs.
    fn resolve_link(&self, link: &str) -> Result<Url, ConfluenceError> {
        let http = &self.inner.http;
        let target = if link.starts_with("http://")
            || link.starts_with("https://")
            || link.starts_with("//")
        {
            http.base()
                .join(link)
                .map_err(|_| ConfluenceError::decode("link", "not a URL"))?
        } else {
            let link = link.split_once('#').map_or(link, |(l, _)| l);
            let (path, query) = link.split_once('?').unwrap_or((link, ""));
            let path = [self.inner.web_context.as_str(), http.base().path()]
                .into_iter()
                .map(|p| p.trim_end_matches('/'))
                .filter(|p| !p.is_empty())
                .find_map(|p| path.strip_prefix(p).filter(|rest| rest.starts_with('/')))
                .unwrap_or(path);
            let path = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
            let mut u = http.url(&path, &[]);
            u.set_query((!query.is_empty()).then_some(query));
            u
        };
        http.check_host(&target)?;
        Ok(target)
    }
}
