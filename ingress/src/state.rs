use bridge_core::Config;
use bridge_db::Db;
use bridge_queue::Publisher;
use std::sync::Arc;

/// What every handler needs, cloned into each request.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub publisher: Publisher,
}
