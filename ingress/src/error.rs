//! The ingress's one error type and what each variant answers.
//!
//! Client mistakes get a 4xx with a short reason; broker trouble gets 503 so that a sender
//! that retries, retries; anything else is a 500 whose details only reach the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The sender could not be verified (signature, JWT, application token, unknown portal).
    #[error("{0}")]
    Unauthorized(String),
    /// The body or query is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// This route needs configuration the install does not have.
    #[error("{0}")]
    NotConfigured(String),
    /// The broker is down or did not confirm in time.
    #[error("broker unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<bridge_db::DbError> for IngressError {
    fn from(e: bridge_db::DbError) -> Self {
        IngressError::Internal(format!("database: {e}"))
    }
}

impl IntoResponse for IngressError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotConfigured(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "answering 503");
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "answering 500");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if matches!(self, Self::Unauthorized(_)) {
            tracing::warn!(reason = %self, "refused an unverified request");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
