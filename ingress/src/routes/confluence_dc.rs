//! `POST /webhooks/confluence/datacenter`: Confluence Server/Data Center webhooks, signed with
//! `X-Hub-Signature` (HMAC-SHA256 of the raw body with `BRIDGE_CONFLUENCE_WEBHOOK_SECRET`).

use crate::routes::confluence_site;
use crate::verify::hub_signature;
use crate::{AppState, IngressError, accept};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bridge_core::normalize::confluence;
use bridge_core::{Envelope, Source};

pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
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
    // Verified before the body is parsed: an unsigned body is not even looked at.
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    hub_signature::verify(secret.expose().as_bytes(), signature, &body)
        .map_err(|e| IngressError::Unauthorized(e.into()))?;
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| IngressError::BadRequest(format!("body is not JSON: {e}")))?;
    // The admin UI's "Test connection".
    if json.get("test").and_then(|t| t.as_bool()) == Some(true) {
        return Ok(accept::ignored("a test delivery"));
    }
    let event = json
        .get("event")
        .and_then(|e| e.as_str())
        .ok_or_else(|| IngressError::BadRequest("body has no `event`".into()))?;
    let Some(kind) = confluence::classify(event) else {
        return Ok(accept::ignored(event));
    };
    let payload = confluence::payload(kind, &json).map_err(IngressError::BadRequest)?;
    let occurred_at = confluence::timestamp(&json).unwrap_or_else(chrono::Utc::now);
    let envelope = Envelope::new(Source::Confluence { site }, occurred_at, payload);
    accept::publish_all(&state, vec![envelope]).await
}
