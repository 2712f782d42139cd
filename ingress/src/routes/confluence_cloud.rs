//! Confluence Cloud: the Connect app (descriptor, `installed`/`uninstalled` lifecycle
//! callbacks, one JWT-signed webhook route per event because the body names none) and
//! admin-style webhooks that carry a secret token in their query string.

use crate::routes::confluence_site;
use crate::verify::connect_jwt;
use crate::{AppState, IngressError, accept};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bridge_core::normalize::confluence;
use bridge_core::{Envelope, Source};
use bridge_db::SiteStore;
use bridge_db::entities::confluence_sites::{AuthKind, Flavor};
use serde::Deserialize;
use std::collections::HashMap;

/// The events the descriptor subscribes to.
pub const EVENTS: &[&str] = &[
    "page_created",
    "page_updated",
    "page_trashed",
    "page_restored",
    "page_removed",
    "page_moved",
    "blog_created",
    "blog_updated",
    "blog_trashed",
    "blog_restored",
    "blog_removed",
    "comment_created",
    "comment_updated",
    "comment_removed",
    // Mirror: a replaced file seldom makes a new page version.
    "attachment_created",
    "attachment_updated",
    "attachment_trashed",
    "attachment_restored",
    "attachment_removed",
];

/// Where Connect webhooks arrive, relative to the app's base URL (`BRIDGE_PUBLIC_URL`).
pub const CONNECT_WEBHOOK_PREFIX: &str = "/webhooks/confluence/cloud/";

pub async fn descriptor(State(state): State<AppState>) -> Response {
    let base = state
        .config
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let webhooks: Vec<_> = EVENTS
        .iter()
        .map(|e| serde_json::json!({"event": e, "url": format!("{CONNECT_WEBHOOK_PREFIX}{e}")}))
        .collect();
    Json(serde_json::json!({
        "key": "confluence-b24-bridge",
        "name": "Confluence ↔ Bitrix24 bridge",
        "description": "Keeps Confluence links in Bitrix24 tasks alive and tells tasks about page changes.",
        "baseUrl": base,
        "authentication": {"type": "jwt"},
        "lifecycle": {"installed": "/connect/installed", "uninstalled": "/connect/uninstalled"},
        "apiMigrations": {"signed-install": false},
        "scopes": ["READ"],
        "modules": {"webhooks": webhooks},
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    client_key: String,
    #[serde(default)]
    shared_secret: Option<String>,
    base_url: String,
}

/// `installed`: stores the per-install shared secret. Only for the configured site (the
/// bridge never trusts a site it was not configured for); a re-install must be signed with
/// the secret already stored, so a third party cannot replace it.
pub async fn installed(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngressError> {
    let site = confluence_site(&state)?;
    let life: Lifecycle = serde_json::from_slice(&body)
        .map_err(|e| IngressError::BadRequest(format!("not an install callback: {e}")))?;
    if life.base_url.trim_end_matches('/') != site {
        return Err(IngressError::Unauthorized(
            "install callback for a site this bridge is not configured for".into(),
        ));
    }
    let secret = life
        .shared_secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IngressError::BadRequest("install callback has no sharedSecret".into()))?;
    let store = SiteStore::new(state.db.clone(), state.credentials.clone());
    let site_id = store.ensure(&site, Flavor::Cloud, AuthKind::Basic).await?;
    if let Some((_, old_secret)) = store.connect_install(site_id).await? {
        verify_jwt(
            &headers,
            None,
            old_secret.as_bytes(),
            "POST",
            "/connect/installed",
        )?;
    }
    store
        .put_connect_install(site_id, &life.client_key, &secret)
        .await?;
    tracing::info!(site, "Connect app installed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn uninstalled(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngressError> {
    let site = confluence_site(&state)?;
    let life: Lifecycle = serde_json::from_slice(&body)
        .map_err(|e| IngressError::BadRequest(format!("not an uninstall callback: {e}")))?;
    let store = SiteStore::new(state.db.clone(), state.credentials.clone());
    let site_id = store.ensure(&site, Flavor::Cloud, AuthKind::Basic).await?;
    let (client_key, secret) = store
        .connect_install(site_id)
        .await?
        .ok_or_else(|| IngressError::Unauthorized("no Connect install to remove".into()))?;
    if client_key != life.client_key {
        return Err(IngressError::Unauthorized("unknown clientKey".into()));
    }
    verify_jwt(
        &headers,
        None,
        secret.as_bytes(),
        "POST",
        "/connect/uninstalled",
    )?;
    store.remove_connect_install(site_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /webhooks/confluence/cloud/{event}`, JWT-signed by the install.
pub async fn connect_webhook(
    State(state): State<AppState>,
    Path(event): Path<String>,
    raw_query: axum::extract::RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngressError> {
    let site = confluence_site(&state)?;
    let store = SiteStore::new(state.db.clone(), state.credentials.clone());
    let site_id = store.ensure(&site, Flavor::Cloud, AuthKind::Basic).await?;
    let (client_key, secret) = store
        .connect_install(site_id)
        .await?
        .ok_or_else(|| IngressError::Unauthorized("the Connect app is not installed".into()))?;
    let query = raw_query.0;
    let path = format!("{CONNECT_WEBHOOK_PREFIX}{event}");
    let claims = verify_jwt(&headers, query.as_deref(), secret.as_bytes(), "POST", &path)?;
    if claims.iss != client_key {
        return Err(IngressError::Unauthorized(
            "JWT issuer is not the installed clientKey".into(),
        ));
    }
    accept_cloud_event(&state, site, &event, &body).await
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /webhooks/confluence/admin/{event}?token=…`: admin-registered webhooks, which Cloud
/// sends unsigned; the token in the URL is the only proof.
pub async fn admin_webhook(
    State(state): State<AppState>,
    Path(event): Path<String>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Result<Response, IngressError> {
    let site = confluence_site(&state)?;
    let secret = state
        .config
        .confluence_webhook_secret
        .as_ref()
        .ok_or_else(|| {
            IngressError::NotConfigured("BRIDGE_CONFLUENCE_WEBHOOK_SECRET is not set".into())
        })?;
    let presented = q.token.unwrap_or_default();
    if !crate::verify::b24_token::matches(secret.expose(), &presented) {
        return Err(IngressError::Unauthorized(
            "wrong or missing webhook token".into(),
        ));
    }
    accept_cloud_event(&state, site, &event, &body).await
}

async fn accept_cloud_event(
    state: &AppState,
    site: String,
    event: &str,
    body: &[u8],
) -> Result<Response, IngressError> {
    let Some(kind) = confluence::classify(event) else {
        return Ok(accept::ignored(event));
    };
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| IngressError::BadRequest(format!("body is not JSON: {e}")))?;
    let payload = confluence::payload(kind, &json).map_err(IngressError::BadRequest)?;
    let occurred_at = confluence::timestamp(&json).unwrap_or_else(chrono::Utc::now);
    let envelope = Envelope::new(Source::Confluence { site }, occurred_at, payload);
    accept::publish_all(state, vec![envelope]).await
}

/// The JWT from `Authorization: JWT …` or the `jwt` query parameter, verified.
fn verify_jwt(
    headers: &HeaderMap,
    query: Option<&str>,
    secret: &[u8],
    method: &str,
    path: &str,
) -> Result<connect_jwt::Claims, IngressError> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("JWT "))
        .map(str::to_owned);
    let from_query = || {
        let params: HashMap<String, String> =
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        params.get("jwt").cloned()
    };
    let token = from_header
        .or_else(from_query)
        .ok_or_else(|| IngressError::Unauthorized("no JWT".into()))?;
    connect_jwt::verify(
        &token,
        secret,
        method,
        path,
        query,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|e| IngressError::Unauthorized(e.into()))
}
