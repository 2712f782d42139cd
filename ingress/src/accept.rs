//! The last step of every inbound route: publish with a broker confirm, then answer 202.

use crate::{AppState, IngressError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bridge_core::Envelope;

/// Publishes `envelopes` (in order) and answers 202 once the broker confirmed all of them.
pub async fn publish_all(
    state: &AppState,
    envelopes: Vec<Envelope>,
) -> Result<Response, IngressError> {
    let mut ids = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let id = envelope.id;
        tracing::debug!(%id, routing_key = %envelope.routing_key(), "accepting event");
        state
            .publisher
            .publish(envelope)
            .await
            .map_err(|e| IngressError::Unavailable(e.to_string()))?;
        ids.push(id);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "accepted": ids })),
    )
        .into_response())
}

/// 200 for a delivery that is valid but that the bridge has no use for.
pub fn ignored(what: &str) -> Response {
    (
        StatusCode::OK,
        Json(serde_json::json!({ "ignored": format!("{what} is not an event the bridge uses") })),
    )
        .into_response()
}
