//! What every job and reconciler needs, built once per process.

use bridge_clients::b24::{B24Clients, B24Settings};
use bridge_core::Config;
use bridge_core::crypto::{CryptoError, Keyring};
use bridge_db::{CredentialStore, Db};
use bridge_queue::{Broker, Publisher, Topology};
use std::sync::Arc;

#[derive(Clone)]
pub struct WorkerContext {
    pub config: Arc<Config>,
    pub db: Db,
    /// Opens and seals stored secrets (portal tokens, site credentials).
    pub credentials: CredentialStore,
    /// For jobs and reconcilers that publish events of their own.
    pub publisher: Publisher,
    /// One B24 client per portal for the whole process, so every job shares a portal's token
    /// state and its refreshes are single-flight (refresh tokens are single-use).
    pub b24: B24Clients,
}

impl WorkerContext {
    pub fn new(config: Arc<Config>, db: Db, broker: &Broker) -> Result<Self, CryptoError> {
        let keyring = Keyring::from_config(&config)?;
        let topology = Topology::new(config.queue_prefix.clone(), config.retry_schedule.clone());
        let publisher = Publisher::new(
            broker.sibling(" (events)"),
            topology,
            config.publish_timeout,
        );
        let credentials = CredentialStore::new(db.clone(), Arc::new(keyring));
        let b24 = B24Clients::new(
            db.clone(),
            credentials.clone(),
            B24Settings::from_config(&config),
        );
        Ok(Self {
            b24,
            credentials,
            config,
            db,
            publisher,
        })
    }
}
