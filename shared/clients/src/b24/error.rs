//! Errors of the B24 client, each with the retry class a worker needs. Messages name the
//! method and the vendor's error code, never a token, a webhook secret or a request body.

use bridge_core::ErrorClass;
use bridge_db::DbError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum B24Error {
    /// Bitrix24 answered with an error (`{error, error_description}` or REST 3.0's
    /// `{error:{code, message}}`), whatever the HTTP status.
    #[error("B24 {method}: {code} (HTTP {status}): {description}")]
    Api {
        method: String,
        status: u16,
        code: String,
        description: String,
        /// From `Retry-After` or the method's `time.operating_reset_at`.
        retry_after: Option<Duration>,
    },
    /// The refresh token no longer works (`invalid_grant`), there is none, or the portal
    /// refuses every token: an admin has to reinstall the app.
    #[error("B24 portal {member_id}: re-install needed: {reason}")]
    ReinstallNeeded { member_id: String, reason: String },
    /// The portal is unknown to the bridge or the app was uninstalled.
    #[error("B24 portal {0} is not installed")]
    NotInstalled(String),
    /// A pending install could not be confirmed with the OAuth server (unknown refresh
    /// token, another portal's answer, no client credentials configured…): the portal stays
    /// pending and nothing acts for it.
    #[error("B24 portal {member_id}: install not confirmed: {reason}")]
    Unconfirmed { member_id: String, reason: String },
    /// The OAuth server refused the app itself (`invalid_client`) or settings are missing.
    #[error("B24 client not configured: {0}")]
    NotConfigured(String),
    /// Connect failure, timeout, a body that broke off.
    #[error("B24 {method}: transport: {reason}")]
    Transport { method: String, reason: String },
    /// A 2xx answer that is not the JSON B24 sends (a proxy page, a cut body).
    #[error("B24 {method}: unreadable answer (HTTP {status}): {reason}")]
    Decode {
        method: String,
        status: u16,
        reason: String,
    },
    /// The deployment-wide rate limit would make this call wait longer than allowed.
    #[error("B24 rate limit: next slot in {0:?}")]
    RateLimited(Duration),
    /// A redirect that cannot be followed (no Location, a loop, another scheme).
    #[error("B24 {method}: bad redirect: {reason}")]
    Redirect { method: String, reason: String },
    /// A batch command that did not run because an earlier one failed with `halt`.
    #[error("B24 batch command {0} not run (halted after an earlier error)")]
    NotRun(String),
    /// Input the client refuses before sending (duplicate batch keys, …).
    #[error("B24 client: {0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Codes that mean "later": B24's rate limit, its manual overload block, a method's time
/// budget, and its own internal failures.
const RETRYABLE_CODES: &[&str] = &[
    "QUERY_LIMIT_EXCEEDED",
    "OVERLOAD_LIMIT",
    "OPERATION_TIME_LIMIT",
    "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER",
    // An access token that expired again right after a refresh: refresh on the next try.
    "expired_token",
];

/// Codes that are permanent whatever their HTTP status says.
const PERMANENT_CODES: &[&str] = &["PORTAL_DELETED"];

impl B24Error {
    /// Whether retrying later can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Api { status, code, .. } => {
                if PERMANENT_CODES.contains(&code.as_str()) {
                    ErrorClass::Permanent
                } else if RETRYABLE_CODES.contains(&code.as_str())
                    || *status == 408
                    || *status == 429
                    || *status >= 500
                {
                    ErrorClass::Retryable
                } else {
                    ErrorClass::Permanent
                }
            }
            Self::Transport { .. } | Self::Decode { .. } | Self::RateLimited(_) => {
                ErrorClass::Retryable
            }
            Self::Db(e) => e.class(),
            Self::ReinstallNeeded { .. }
            | Self::NotInstalled(_)
            | Self::Unconfirmed { .. }
            | Self::NotConfigured(_)
            | Self::Redirect { .. }
            | Self::NotRun(_)
            | Self::Invalid(_) => ErrorClass::Permanent,
        }
    }

    /// How long the vendor (or the limiter) asked to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            Self::RateLimited(d) => Some(*d),
            _ => None,
        }
    }

    /// The vendor's error code (`ACCESS_DENIED`, `ERROR_HANDLER_ALREADY_EXIST`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code().is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> B24Error {
        B24Error::Api {
            method: "m".into(),
            status,
            code: code.into(),
            description: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn classes() {
        use ErrorClass::*;
        for (status, code, class) in [
            (503, "QUERY_LIMIT_EXCEEDED", Retryable),
            (429, "OPERATION_TIME_LIMIT", Retryable),
            (503, "OVERLOAD_LIMIT", Retryable),
            (500, "INTERNAL_SERVER_ERROR", Retryable),
            (502, "", Retryable),
            (500, "PORTAL_DELETED", Permanent),
            (401, "NO_AUTH_FOUND", Permanent),
            (403, "insufficient_scope", Permanent),
            (403, "ACCESS_DENIED", Permanent),
            (400, "ERROR_EVENT_NOT_FOUND", Permanent),
            (200, "ERROR_ARGUMENT", Permanent),
            (404, "ERROR_METHOD_NOT_FOUND", Permanent),
        ] {
            assert_eq!(api(status, code).class(), class, "{status} {code}");
        }
    }
}
