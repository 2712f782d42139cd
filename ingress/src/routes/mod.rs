//! The ingress routes, one module per sender, merged here.

mod b24_events;
mod b24_install;
mod confluence_cloud;
mod confluence_dc;
mod health;

use crate::{AppState, IngressError};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use confluence_cloud::{CONNECT_WEBHOOK_PREFIX, EVENTS as CONNECT_EVENTS};

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(health::routes())
        .route(
            "/webhooks/confluence/datacenter",
            post(confluence_dc::receive),
        )
        .route("/atlassian-connect.json", get(confluence_cloud::descriptor))
        .route("/connect/installed", post(confluence_cloud::installed))
        .route("/connect/uninstalled", post(confluence_cloud::uninstalled))
        .route(
            "/webhooks/confluence/cloud/{event}",
            post(confluence_cloud::connect_webhook),
        )
        .route(
            "/webhooks/confluence/admin/{event}",
            post(confluence_cloud::admin_webhook),
        )
        .route("/b24/events", post(b24_events::receive))
        .route(
            "/b24/install",
            get(b24_install::page).post(b24_install::page),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The configured Confluence site's base URL (no trailing slash): the identity of every
/// Confluence event.
fn confluence_site(state: &AppState) -> Result<String, IngressError> {
    state
        .config
        .confluence_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .ok_or_else(|| IngressError::NotConfigured("BRIDGE_CONFLUENCE_URL is not set".into()))
}
