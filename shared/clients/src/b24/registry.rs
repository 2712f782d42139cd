//! One [`B24Client`] per portal per process, so that every job of the process shares the
//! portal's access token and its single-flight refresh.

use super::oauth::{self, Confirmation};
use super::{B24Client, B24Error, B24Settings, http};
use bridge_db::entities::b24_portals::PortalStatus;
use bridge_db::{CredentialStore, Db, PortalStore};
use std::collections::HashMap;
use std::sync::Arc;

/// The clients of this process, by portal. Cheap to clone.
#[derive(Clone)]
pub struct B24Clients {
    inner: Arc<Registry>,
}

struct Registry {
    db: Db,
    credentials: CredentialStore,
    settings: B24Settings,
    http: reqwest::Client,
    clients: tokio::sync::Mutex<HashMap<String, B24Client>>,
}

impl std::fmt::Debug for B24Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("B24Clients").finish_non_exhaustive()
    }
}

impl B24Clients {
    pub fn new(db: Db, credentials: CredentialStore, settings: B24Settings) -> Self {
        Self {
            inner: Arc::new(Registry {
                http: http::http_client(settings.timeout),
                db,
                credentials,
                settings,
                clients: tokio::sync::Mutex::default(),
            }),
        }
    }

    pub fn settings(&self) -> &B24Settings {
        &self.inner.settings
    }

    /// The client of an installed, active portal ([`B24Error::NotInstalled`] otherwise).
    pub async fn portal(&self, member_id: &str) -> Result<B24Client, B24Error> {
        let r = &*self.inner;
        let active = PortalStore::new(r.db.clone(), r.credentials.clone())
            .find(member_id)
            .await?
            .is_some_and(|p| p.status == PortalStatus::Active);
        let mut clients = r.clients.lock().await;
        if !active {
            clients.remove(member_id);
            return Err(B24Error::NotInstalled(member_id.to_owned()));
        }
        if let Some(c) = clients.get(member_id) {
            return Ok(c.clone());
        }
        let client = B24Client::for_portal_with(
            &r.db,
            &r.credentials,
            &r.settings,
            member_id,
            r.http.clone(),
        )
        .await?;
        clients.insert(member_id.to_owned(), client.clone());
        Ok(client)
    }

    /// Confirms a pending install of `member_id` with the OAuth server
    /// ([`oauth::confirm_install`]); the portal is active afterwards.
    pub async fn confirm_install(&self, member_id: &str) -> Result<Confirmation, B24Error> {
        let r = &*self.inner;
        let portals = PortalStore::new(r.db.clone(), r.credentials.clone());
        let confirmed = oauth::confirm_install(&r.http, &r.settings, &portals, member_id).await?;
        if confirmed == Confirmation::Confirmed {
            r.clients.lock().await.remove(member_id);
        }
        Ok(confirmed)
    }

    /// Drops the cached client (after an uninstall).
    pub async fn forget(&self, member_id: &str) {
        self.inner.clients.lock().await.remove(member_id);
    }

    /// The inbound-webhook client, when `BRIDGE_B24_WEBHOOK_URL` is set.
    pub fn webhook(&self) -> Result<Option<B24Client>, B24Error> {
        let r = &*self.inner;
        r.settings
            .webhook_url
            .as_ref()
            .map(|u| B24Client::webhook(u, &r.settings, Some(&r.db)))
            .transpose()
    }
}
