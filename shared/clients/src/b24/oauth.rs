//! OAuth tokens of one portal: the access token in memory, both tokens sealed in
//! [`CredentialStore`], and the refresh on `expired_token`.
//!
//! Refresh is single-flight: every token carries a generation; a caller whose call failed
//! with generation `g` asks for a refresh of `g`, and under the portal's lock only the first
//! such caller talks to the OAuth server — the others find a newer generation and reuse it.
//! Refresh tokens rotate (and may be single-use), so the new refresh token is stored before
//! the new access token is used. Another process may have rotated them first: before
//! refreshing, and again on `invalid_grant`, the stored tokens are re-read and adopted when
//! they are newer than ours.
//!
//! [`confirm_install`] turns a pending install (an `ONAPPINSTALL` form, which anybody could
//! have sent) into an active portal: a `refresh_token` grant with the install's refresh
//! token at the configured OAuth server, whose answer must name the same `member_id`, and
//! whose `client_endpoint` (never the event's) becomes the portal's.

use super::B24Settings;
use super::error::B24Error;
use super::http::{self, number, text};
use bridge_core::config::Secret;
use bridge_db::credentials::names;
use bridge_db::entities::b24_portals::{Model as Portal, PortalStatus};
use bridge_db::portals::ConfirmedInstall;
use bridge_db::{CredentialStore, OwnerKind, PortalStore};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use url::Url;

pub(crate) struct OAuthState {
    pub member_id: String,
    pub portal: Portal,
    pub credentials: CredentialStore,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub token_url: String,
    tokens: RwLock<Tokens>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Refreshes this process did (for metrics and tests).
    pub refreshes: AtomicU64,
}

struct Tokens {
    access: Option<Secret>,
    generation: u64,
}

/// What a successful refresh tells.
pub(crate) struct Refreshed {
    /// `client_endpoint` of the token answer, when it differs from what the client uses.
    pub client_endpoint: Option<String>,
}

impl OAuthState {
    pub(crate) fn new(
        portal: Portal,
        credentials: CredentialStore,
        client_id: Option<String>,
        client_secret: Option<Secret>,
        oauth_url: &Url,
        access: Option<Secret>,
    ) -> Self {
        Self {
            member_id: portal.member_id.clone(),
            portal,
            credentials,
            client_id,
            client_secret,
            token_url: format!("{}/oauth/token/", oauth_url.as_str().trim_end_matches('/')),
            tokens: RwLock::new(Tokens {
                access,
                generation: 0,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            refreshes: AtomicU64::new(0),
        }
    }

    /// The access token to use and its generation.
    pub(crate) fn current(&self) -> (Option<Secret>, u64) {
        let t = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        (t.access.clone(), t.generation)
    }

    fn install(&self, access: Secret) {
        let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        t.access = Some(access);
        t.generation += 1;
    }

    fn reinstall_needed(&self, reason: &str) -> B24Error {
        B24Error::ReinstallNeeded {
            member_id: self.member_id.clone(),
            reason: reason.to_owned(),
        }
    }

    async fn stored(&self, name: &str) -> Result<Option<Secret>, B24Error> {
        Ok(self
            .credentials
            .get(OwnerKind::Portal, self.portal.id, name)
            .await?)
    }

    /// Adopts the stored access token if it differs from the one of generation `gen` (a
    /// refresh by another process, or a reinstall). `true` if it did.
    pub(crate) async fn adopt_stored(&self, gen_seen: u64) -> Result<bool, B24Error> {
        let _guard = self.refresh_lock.lock().await;
        let (current, generation) = self.current();
        if generation != gen_seen {
            return Ok(true);
        }
        match self.stored(names::ACCESS_TOKEN).await? {
            Some(stored) if Some(&stored) != current.as_ref() => {
                self.install(stored);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Makes sure a token newer than generation `gen_seen` is in place: reuses one another
    /// caller (or process) obtained meanwhile, or asks the OAuth server.
    pub(crate) async fn refresh(
        &self,
        http_client: &reqwest::Client,
        gen_seen: u64,
    ) -> Result<Refreshed, B24Error> {
        let none = Refreshed {
            client_endpoint: None,
        };
        let _guard = self.refresh_lock.lock().await;
        let (current, generation) = self.current();
        if generation != gen_seen {
            return Ok(none);
        }
        if let Some(stored) = self.stored(names::ACCESS_TOKEN).await?
            && current.as_ref().is_some_and(|c| c != &stored)
        {
            self.install(stored);
            return Ok(none);
        }
        let refresh_token = self
            .stored(names::REFRESH_TOKEN)
            .await?
            .ok_or_else(|| self.reinstall_needed("no refresh token stored"))?;
        let (Some(client_id), Some(client_secret)) = (&self.client_id, &self.client_secret) else {
            return Err(B24Error::NotConfigured(
                "BRIDGE_B24_CLIENT_ID and BRIDGE_B24_CLIENT_SECRET are needed to refresh tokens"
                    .into(),
            ));
        };
        let url = Url::parse_with_params(
            &self.token_url,
            [
                ("grant_type", "refresh_token"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.expose()),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .map_err(|_| B24Error::NotConfigured("BRIDGE_B24_OAUTH_URL is not a base URL".into()))?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(portal = %self.member_id, "refreshing the B24 access token");
        let method = "oauth/token";
        let resp = http_client
            .get(url)
            .send()
            .await
            .map_err(|e| http::transport(method, e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| http::transport(method, e))?;
        // The token endpoint answers the fields at the top level, not under `result`.
        let json: serde_json::Value = match http::parse(method, status, None, &body) {
            Ok(_) => serde_json::from_slice(&body).unwrap_or_default(),
            Err(e) if e.is_code("invalid_grant") => {
                // Someone else may have used the refresh token first and stored the new pair.
                let now_stored = self.stored(names::REFRESH_TOKEN).await?;
                if now_stored.as_ref().is_some_and(|s| s != &refresh_token)
                    && let Some(access) = self.stored(names::ACCESS_TOKEN).await?
                {
                    self.install(access);
                    return Ok(none);
                }
                return Err(self.reinstall_needed("the refresh token was refused (invalid_grant)"));
            }
            Err(e) if e.is_code("invalid_client") => {
                return Err(B24Error::NotConfigured(
                    "the OAuth server refused the app's client id or secret (invalid_client)"
                        .into(),
                ));
            }
            Err(e) => return Err(e),
        };
        let field = |k: &str| json.get(k).map(text).filter(|s| !s.is_empty());
        let (Some(access), Some(refresh)) = (field("access_token"), field("refresh_token")) else {
            return Err(B24Error::Decode {
                method: method.into(),
                status,
                reason: "token answer without access_token or refresh_token".into(),
            });
        };
        let expires_at = json
            .get("expires")
            .and_then(number)
            .and_then(|t| chrono::DateTime::from_timestamp(i64::try_from(t).ok()?, 0))
            .or_else(|| {
                let secs = json.get("expires_in").and_then(number)?;
                Some(chrono::Utc::now() + chrono::TimeDelta::seconds(i64::try_from(secs).ok()?))
            });
        // The rotated refresh token first: losing it would lose the portal.
        self.credentials
            .put(
                OwnerKind::Portal,
                self.portal.id,
                names::REFRESH_TOKEN,
                &refresh,
            )
            .await?;
        self.credentials
            .put_expiring(
                OwnerKind::Portal,
                self.portal.id,
                names::ACCESS_TOKEN,
                &access,
                expires_at,
            )
            .await?;
        self.install(Secret::new(access));
        Ok(Refreshed {
            client_endpoint: field("client_endpoint"),
        })
    }
}

/// What [`confirm_install`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The pending install was confirmed by the OAuth server; the portal is active now.
    Confirmed,
    /// The portal was active already (confirmed earlier, or by a concurrent job).
    AlreadyActive,
}

/// Confirms a pending install of `member_id` with the OAuth server (`{oauth_url}/oauth/token/`,
/// `grant_type=refresh_token` with the app's client id and secret and the refresh token the
/// install brought). The answer must name the same `member_id`; its `client_endpoint` (and
/// the portal's domain, its host — the answer's own `domain` field names the OAuth server)
/// and the rotated tokens are stored and the portal made active. Nothing of the install
/// event but its refresh token is used.
///
/// Errors leave the portal pending: [`B24Error::Unconfirmed`] (permanent) when the OAuth
/// server does not know the refresh token, answers for another portal, or the app's client
/// credentials are not configured; transport errors and 5xx are retryable.
pub async fn confirm_install(
    http_client: &reqwest::Client,
    settings: &B24Settings,
    portals: &PortalStore,
    member_id: &str,
) -> Result<Confirmation, B24Error> {
    let unconfirmed = |reason: String| B24Error::Unconfirmed {
        member_id: member_id.to_owned(),
        reason,
    };
    let Some(pending) = portals.pending_install(member_id).await? else {
        return match portals.find(member_id).await? {
            Some(p) if p.status == PortalStatus::Active => Ok(Confirmation::AlreadyActive),
            _ => Err(B24Error::NotInstalled(member_id.to_owned())),
        };
    };
    let (Some(client_id), Some(client_secret)) = (&settings.client_id, &settings.client_secret)
    else {
        return Err(unconfirmed(
            "BRIDGE_B24_CLIENT_ID and BRIDGE_B24_CLIENT_SECRET are not configured, so the install \
             cannot be confirmed with the OAuth server; the portal stays pending"
                .into(),
        ));
    };
    let Some(refresh_token) = &pending.refresh_token else {
        return Err(unconfirmed(
            "the install brought no refresh token to confirm it with".into(),
        ));
    };
    let token_url = format!(
        "{}/oauth/token/",
        settings.oauth_url.as_str().trim_end_matches('/')
    );
    let url = Url::parse_with_params(
        &token_url,
        [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.expose()),
            ("refresh_token", refresh_token.expose()),
        ],
    )
    .map_err(|_| B24Error::NotConfigured("BRIDGE_B24_OAUTH_URL is not a base URL".into()))?;
    let method = "oauth/token";
    tracing::info!(
        portal = member_id,
        "confirming a pending B24 install with the OAuth server"
    );
    let resp = http_client
        .get(url)
        .send()
        .await
        .map_err(|e| http::transport(method, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| http::transport(method, e))?;
    let json: serde_json::Value = match http::parse(method, status, None, &body) {
        Ok(_) => serde_json::from_slice(&body).unwrap_or_default(),
        Err(e) if e.is_code("invalid_grant") => {
            // A concurrent job may have confirmed it with this very token.
            if portals
                .find(member_id)
                .await?
                .is_some_and(|p| p.status == PortalStatus::Active)
            {
                return Ok(Confirmation::AlreadyActive);
            }
            return Err(unconfirmed(
                "the OAuth server does not know the install's refresh token (invalid_grant)".into(),
            ));
        }
        Err(e) if e.is_code("invalid_client") => {
            return Err(unconfirmed(
                "the OAuth server refused the app's client id or secret (invalid_client)".into(),
            ));
        }
        Err(e) if e.class() == bridge_core::ErrorClass::Retryable => return Err(e),
        Err(e) => return Err(unconfirmed(format!("the OAuth server refused: {e}"))),
    };
    let field = |k: &str| json.get(k).map(text).filter(|s| !s.is_empty());
    match field("member_id") {
        Some(m) if m == member_id => {}
        Some(m) => {
            return Err(unconfirmed(format!(
                "the OAuth server answers for portal {m:?}, not this one"
            )));
        }
        None => return Err(unconfirmed("the OAuth answer names no member_id".into())),
    }
    let endpoint = field("client_endpoint")
        .and_then(|e| Url::parse(&e).ok())
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| unconfirmed("the OAuth answer has no usable client_endpoint".into()))?;
    let host = endpoint.host_str().unwrap_or_default();
    let domain = match endpoint.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let (Some(access), Some(refresh)) = (field("access_token"), field("refresh_token")) else {
        return Err(B24Error::Decode {
            method: method.into(),
            status,
            reason: "token answer without access_token or refresh_token".into(),
        });
    };
    let expires_at = json
        .get("expires")
        .and_then(number)
        .and_then(|t| chrono::DateTime::from_timestamp(i64::try_from(t).ok()?, 0))
        .or_else(|| {
            let secs = json.get("expires_in").and_then(number)?;
            Some(chrono::Utc::now() + chrono::TimeDelta::seconds(i64::try_from(secs).ok()?))
        });
    let mut client_endpoint = endpoint.to_string();
    if !client_endpoint.ends_with('/') {
        client_endpoint.push('/');
    }
    let confirmed = ConfirmedInstall {
        domain,
        client_endpoint,
        server_endpoint: field("server_endpoint"),
        access_token: access,
        refresh_token: refresh,
        access_expires_at: expires_at,
    };
    if portals.confirm(&pending, &confirmed).await? {
        tracing::info!(portal = member_id, domain = %confirmed.domain, "B24 install confirmed; portal active");
        return Ok(Confirmation::Confirmed);
    }
    match portals.find(member_id).await? {
        Some(p) if p.status == PortalStatus::Active => Ok(Confirmation::AlreadyActive),
        _ => Err(unconfirmed(
            "another install of this portal arrived while it was being confirmed".into(),
        )),
    }
}
