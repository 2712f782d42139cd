//! What the client needs to know: where the site is, which flavour, how to authenticate,
//! and its retry limits. Built from [`bridge_core::Config`] or given explicitly (tests,
//! OAuth installs).

use super::error::ConfluenceError;
use bridge_core::Config;
use bridge_core::config::{ConfluenceFlavor, Secret};
use bridge_db::CredentialStore;
use std::fmt;
use std::time::Duration;
use url::Url;

/// Atlassian's OAuth 2.0 token endpoint.
pub const ATLASSIAN_TOKEN_URL: &str = "https://auth.atlassian.com/oauth/token";

/// How requests authenticate.
#[derive(Clone)]
pub enum Auth {
    /// HTTP Basic: Cloud `email:api_token`, or DC `username:password`.
    Basic { user: String, secret: Secret },
    /// DC personal access token, sent as `Bearer`.
    Pat(Secret),
    /// Cloud OAuth 2.0 (3LO): Bearer access tokens against the gateway base, refreshed with
    /// rotating refresh tokens kept in the credential store.
    OAuth(OAuthSettings),
}

impl Auth {
    pub fn kind(&self) -> bridge_db::entities::confluence_sites::AuthKind {
        use bridge_db::entities::confluence_sites::AuthKind;
        match self {
            Self::Basic { .. } => AuthKind::Basic,
            Self::Pat(_) => AuthKind::Pat,
            Self::OAuth(_) => AuthKind::OAuth,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user}:***)"),
            Self::Pat(_) => f.write_str("Pat(***)"),
            Self::OAuth(o) => write!(f, "OAuth(client {}, site #{})", o.client_id, o.site_id),
        }
    }
}

/// OAuth 2.0 (3LO) client and where its tokens live.
#[derive(Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// Token endpoint; [`ATLASSIAN_TOKEN_URL`] in production. The only host called besides
    /// the API base.
    pub token_url: Url,
    /// Stores `access_token` and `refresh_token` of the site (owner kind `site`).
    pub store: CredentialStore,
    /// The `confluence_sites` row the tokens belong to.
    pub site_id: i64,
}

/// Everything the client is configured with.
#[derive(Clone, Debug)]
pub struct ConfluenceSettings {
    /// API base: `https://x.atlassian.net/wiki` (Cloud), `https://host/ctx` (DC), or the
    /// OAuth gateway `https://api.atlassian.com/ex/confluence/{cloudId}/wiki`. REST paths
    /// (`/rest/api/…`, `/api/v2/…`) follow it. Its host is the only one called.
    pub base_url: Url,
    /// The site's own web base for absolute links when answers carry no `_links.base`
    /// (defaults to `base_url`; set it when `base_url` is the gateway).
    pub web_base_url: Option<Url>,
    pub flavor: ConfluenceFlavor,
    pub auth: Auth,
    /// Per request.
    pub timeout: Duration,
    /// Retries inside one call (5xx, timeouts, 429); longer waits belong to the broker.
    pub max_retries: usize,
    /// First backoff delay (doubled per retry, with jitter) when no `Retry-After` is given.
    pub min_backoff: Duration,
    /// `Retry-After` values are clamped to this (servers have sent 2^63 seconds).
    pub max_retry_after: Duration,
    /// A (clamped) `Retry-After` longer than this is not waited for in-process: the error is
    /// returned with the delay, for the broker's retry schedule.
    pub max_inline_wait: Duration,
}

impl ConfluenceSettings {
    /// Settings with the default limits.
    pub fn new(base_url: Url, flavor: ConfluenceFlavor, auth: Auth) -> Self {
        Self {
            base_url,
            web_base_url: None,
            flavor,
            auth,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            min_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(60),
            max_inline_wait: Duration::from_secs(15),
        }
    }

    /// From `BRIDGE_CONFLUENCE_URL`, `_FLAVOR`, `_EMAIL`, `_API_TOKEN`, `_PAT`: Cloud uses
    /// Basic `email:api_token`; DC uses the PAT (Bearer) when given, else Basic with
    /// `_EMAIL` as the username and `_API_TOKEN` as the password. OAuth is not configured
    /// through variables (its tokens come from an install flow): use [`Self::new`].
    pub fn from_config(config: &Config) -> Result<Self, ConfluenceError> {
        let base = config.confluence_url.clone().ok_or_else(|| {
            ConfluenceError::NotConfigured("BRIDGE_CONFLUENCE_URL is not set".into())
        })?;
        let flavor = config.confluence_flavor;
        let basic = || match (&config.confluence_email, &config.confluence_api_token) {
            (Some(user), Some(secret)) => Some(Auth::Basic {
                user: user.clone(),
                secret: secret.clone(),
            }),
            _ => None,
        };
        let auth = match flavor {
            ConfluenceFlavor::Cloud => basic().ok_or_else(|| {
                ConfluenceError::NotConfigured(
                    "Cloud needs BRIDGE_CONFLUENCE_EMAIL and BRIDGE_CONFLUENCE_API_TOKEN".into(),
                )
            })?,
            ConfluenceFlavor::DataCenter => config
                .confluence_pat
                .clone()
                .map(Auth::Pat)
                .or_else(basic)
                .ok_or_else(|| {
                    ConfluenceError::NotConfigured(
                        "Data Center needs BRIDGE_CONFLUENCE_PAT (or BRIDGE_CONFLUENCE_EMAIL as \
                         username and BRIDGE_CONFLUENCE_API_TOKEN as password)"
                            .into(),
                    )
                })?,
        };
        Ok(Self::new(base, flavor, auth))
    }

    /// The site's identity in envelopes and the `confluence_sites` table: the configured
    /// URL without a trailing slash (the same string the ingress uses).
    pub fn site(&self) -> String {
        self.web_base_url
            .as_ref()
            .unwrap_or(&self.base_url)
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }
}
