//! The ingress routes, one module per concern, merged here.

mod health;

use crate::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(health::routes())
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
