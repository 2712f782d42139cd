use bridge_core::Config;
use bridge_db::{CredentialStore, Db};
use bridge_queue::Publisher;
use std::sync::Arc;

/// What every handler needs, cloned into each request.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    /// Seals the secrets the ingress learns (portal tokens, Connect shared secrets).
    pub credentials: CredentialStore,
    pub publisher: Publisher,
}
