//! The client's one error type. Messages name the request (method and path) and the vendor's
//! own message, never a credential: the client never puts secrets into URLs, and token
//! endpoint answers are reduced to their `error` / `error_description`.

use bridge_core::ErrorClass;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfluenceError {
    /// The client cannot be built from the configuration (missing URL or credentials).
    #[error("Confluence client not configured: {0}")]
    NotConfigured(String),
    /// A request or answer timed out.
    #[error("{what}: timed out")]
    Timeout { what: String },
    /// The connection failed (refused, reset, DNS, TLS).
    #[error("{what}: connection failed: {reason}")]
    Connect { what: String, reason: String },
    /// 429 (or a 503 carrying `Retry-After`): wait `retry_after` (clamped).
    #[error("{what}: rate limited (retry after {}s)", retry_after.as_secs())]
    RateLimited { what: String, retry_after: Duration },
    /// A 5xx answer (or 408).
    #[error("{what}: server error {status}: {message}")]
    Server {
        what: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// 401, after a token refresh (OAuth) did not help, or with static credentials.
    #[error("{what}: unauthorized (401): {message}")]
    Unauthorized { what: String, message: String },
    /// 403: the credentials lack a permission.
    #[error("{what}: forbidden (403): {message}")]
    Forbidden { what: String, message: String },
    /// 404: the content does not exist (purged), or the user may not see it. Callers use
    /// this to mark a page deleted.
    #[error("{what}: not found (404)")]
    NotFound { what: String },
    /// Another 4xx (400 bad CQL, too many expansions, 409, …).
    #[error("{what}: rejected ({status}): {message}")]
    Rejected {
        what: String,
        status: u16,
        message: String,
    },
    /// A link (`next`, a redirect, an absolute URL) pointing away from the configured site;
    /// never fetched.
    #[error("refused to call {host}: only the configured Confluence host is called")]
    ForeignHost { host: String },
    /// A download larger than the caller's limit, by its `Content-Length` (`size`) or counted
    /// while streaming (`size` unknown); the rest is not read. Permanent: the file will not
    /// shrink by retrying.
    #[error("{what}: larger than the limit of {limit} bytes{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge {
        what: String,
        limit: u64,
        size: Option<u64>,
    },
    /// The answer was not the JSON the contract describes.
    #[error("{what}: unexpected answer: {reason}")]
    Decode { what: String, reason: String },
    /// The OAuth token endpoint refused or failed the refresh.
    #[error("OAuth token refresh failed ({status}): {message}")]
    OAuth {
        status: u16,
        message: String,
        retryable: bool,
    },
    /// Reading or writing stored credentials failed.
    #[error("credential store: {0}")]
    Store(#[from] bridge_db::DbError),
}

impl ConfluenceError {
    /// Whether a worker should retry (timeouts, 5xx, 429) or park (auth, 4xx, bad answers).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::RateLimited { .. }
            | Self::Server { .. } => ErrorClass::Retryable,
            Self::OAuth { retryable, .. } => {
                if *retryable {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Permanent
                }
            }
            Self::Store(e) => e.class(),
            Self::NotConfigured(_)
            | Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::Rejected { .. }
            | Self::ForeignHost { .. }
            | Self::TooLarge { .. }
            | Self::Decode { .. } => ErrorClass::Permanent,
        }
    }

    /// How long the server asked to wait (already clamped), if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The content does not exist (or is invisible): the page can be treated as deleted.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub(crate) fn decode(what: &str, reason: impl Into<String>) -> Self {
        Self::Decode {
            what: what.to_owned(),
            reason: reason.into(),
        }
    }
}
