//! OAuth 2.0 (3LO) tokens of one site, with rotating refresh tokens (docs §5).
//!
//! - The access token is kept in memory and in the credential store with its expiry; it is
//!   refreshed ahead of expiry, or once after a 401.
//! - Refreshes are single-flight: callers queue on one lock and compare a generation number,
//!   so 20 concurrent callers that all saw a 401 cause one refresh.
//! - Every refresh returns a new refresh token and invalidates the old one: the new one is
//!   stored before the new access token is used, so a crash never loses the grant.
//! - Another process may rotate the tokens (it should not share a grant, but during a
//!   rollover it happens): before refreshing, and when the token endpoint rejects our refresh
//!   token, the stored tokens are read again and used if they changed.

use super::config::OAuthSettings;
use super::error::ConfluenceError;
use super::http::{bearer, transport_error, vendor_message};
use bridge_core::config::Secret;
use bridge_db::OwnerKind;
use bridge_db::credentials::names;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// Access tokens are refreshed this long before they expire.
const EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(60);

#[derive(Default)]
struct TokenState {
    loaded: bool,
    access: Option<(Secret, Option<DateTime<Utc>>)>,
    /// +1 whenever `access` changes.
    generation: u64,
}

pub(crate) struct OAuthTokens {
    settings: OAuthSettings,
    client: reqwest::Client,
    state: Mutex<TokenState>,
    refreshes: AtomicU64,
}

impl OAuthTokens {
    pub fn new(settings: OAuthSettings, client: reqwest::Client) -> Self {
        Self {
            settings,
            client,
            state: Mutex::new(TokenState::default()),
            refreshes: AtomicU64::new(0),
        }
    }

    /// Refreshes this process made (for tests and metrics).
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// A valid access token's header and its generation.
    pub async fn access(&self) -> Result<(HeaderValue, u64), ConfluenceError> {
        let mut st = self.state.lock().await;
        if !st.loaded {
            st.access = self.stored_access().await?;
            st.loaded = true;
        }
        let fresh = st
            .access
            .as_ref()
            .is_some_and(|(_, exp)| exp.is_none_or(|e| e - EXPIRY_MARGIN > Utc::now()));
        if !fresh {
            self.refresh_locked(&mut st).await?;
        }
        let (token, _) = st
            .access
            .as_ref()
            .ok_or_else(|| ConfluenceError::decode("OAuth", "no access token after refresh"))?;
        Ok((bearer(token.expose())?, st.generation))
    }

    /// The site answered 401 to the token of `generation`: refresh, unless another caller
    /// (or process) already did.
    pub async fn after_unauthorized(&self, generation: u64) -> Result<(), ConfluenceError> {
        let mut st = self.state.lock().await;
        if st.generation != generation {
            return Ok(());
        }
        if let Some(stored) = self.stored_access().await? {
            let ours = st.access.as_ref().map(|(t, _)| t.expose());
            if ours != Some(stored.0.expose()) {
                st.access = Some(stored);
                st.generation += 1;
                return Ok(());
            }
        }
        self.refresh_locked(&mut st).await
    }

    async fn stored_access(
        &self,
    ) -> Result<Option<(Secret, Option<DateTime<Utc>>)>, ConfluenceError> {
        let s = &self.settings;
        Ok(s.store
            .get_with_expiry(OwnerKind::Site, s.site_id, names::ACCESS_TOKEN)
            .await?)
    }

    async fn stored_refresh(&self) -> Result<Secret, ConfluenceError> {
        let s = &self.settings;
        s.store
            .get(OwnerKind::Site, s.site_id, names::REFRESH_TOKEN)
            .await?
            .ok_or_else(|| ConfluenceError::OAuth {
                status: 0,
                message: "no refresh token stored for the site: authorise the app again".into(),
                retryable: false,
            })
    }

    async fn refresh_locked(&self, st: &mut TokenState) -> Result<(), ConfluenceError> {
        let used = self.stored_refresh().await?;
        let tokens = match self.call_token_endpoint(&used).await {
            Ok(t) => t,
            Err(ConfluenceError::OAuth {
                status,
                message,
                retryable: false,
            }) => {
                // Rotated by another process meanwhile? Then its tokens are in the store.
                let now_stored = self.stored_refresh().await?;
                if now_stored.expose() == used.expose() {
                    return Err(ConfluenceError::OAuth {
                        status,
                        message,
                        retryable: false,
                    });
                }
                let ours = st.access.as_ref().map(|(t, _)| t.expose().to_owned());
                if let Some(stored) = self.stored_access().await?
                    && ours.as_deref() != Some(stored.0.expose())
                {
                    st.access = Some(stored);
                    st.generation += 1;
                    return Ok(());
                }
                self.call_token_endpoint(&now_stored).await?
            }
            Err(e) => return Err(e),
        };
        let s = &self.settings;
        let expires_at = tokens
            .expires_in
            .map(|secs| Utc::now() + TimeDelta::seconds(i64::try_from(secs).unwrap_or(3600)));
        // The new refresh token first: the old one is dead already.
        if let Some(refresh) = &tokens.refresh_token {
            s.store
                .put(
                    OwnerKind::Site,
                    s.site_id,
                    names::REFRESH_TOKEN,
                    refresh.expose(),
                )
                .await?;
        }
        s.store
            .put_expiring(
                OwnerKind::Site,
                s.site_id,
                names::ACCESS_TOKEN,
                tokens.access_token.expose(),
                expires_at,
            )
            .await?;
        st.access = Some((tokens.access_token, expires_at));
        st.generation += 1;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(site_id = s.site_id, "Confluence OAuth tokens refreshed");
        Ok(())
    }

    /// One `refresh_token` grant. Never retried: a lost answer may have rotated the token.
    async fn call_token_endpoint(&self, refresh: &Secret) -> Result<Tokens, ConfluenceError> {
        let s = &self.settings;
        let what = "OAuth token refresh";
        let resp = self
            .client
            .post(s.token_url.clone())
            .json(&json!({
                "grant_type": "refresh_token",
                "client_id": s.client_id,
                "client_secret": s.client_secret.expose(),
                "refresh_token": refresh.expose(),
            }))
            .send()
            .await
            .map_err(|e| match transport_error(what, &e) {
                ConfluenceError::Timeout { .. } => ConfluenceError::OAuth {
                    status: 0,
                    message: "token endpoint timed out".into(),
                    retryable: true,
                },
                other => ConfluenceError::OAuth {
                    status: 0,
                    message: other.to_string(),
                    retryable: true,
                },
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(ConfluenceError::OAuth {
                status,
                message: vendor_message(&text),
                retryable: status == 429 || status >= 500,
            });
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| ConfluenceError::decode(what, "token answer is not JSON"))?;
        let access_token = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .ok_or_else(|| ConfluenceError::decode(what, "no access_token in the answer"))?;
        Ok(Tokens {
            access_token,
            refresh_token: v
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            expires_in: v.get("expires_in").and_then(super::model::uint),
        })
    }
}

struct Tokens {
    access_token: Secret,
    refresh_token: Option<Secret>,
    expires_in: Option<u64>,
}
