//! Errors as Bitrix24 answers them: classic `{error, error_description}` with an HTTP status,
//! and REST 3.0 `{error:{code, message, validation}}`.

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub description: String,
    /// REST 3.0 only: `(field, message)` pairs.
    pub validation: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            description: description.into(),
            validation: Vec::new(),
        }
    }

    /// A method error: HTTP 400.
    pub fn bad(code: &str, description: impl Into<String>) -> Self {
        Self::new(400, code, description)
    }

    pub fn no_auth() -> Self {
        Self::new(401, "NO_AUTH_FOUND", "Wrong authorization data")
    }

    pub fn expired() -> Self {
        Self::new(
            401,
            "expired_token",
            "The access token provided has expired.",
        )
    }

    pub fn access_denied(why: &str) -> Self {
        Self::new(403, "ACCESS_DENIED", why)
    }

    pub fn wrong_auth_type() -> Self {
        Self::new(
            403,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        )
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            404,
            "ERROR_METHOD_NOT_FOUND",
            format!("Method '{method}' not found"),
        )
    }

    pub fn argument(description: impl Into<String>) -> Self {
        Self::bad("ERROR_ARGUMENT", description)
    }

    /// REST 3.0 request validation failure on `field`.
    pub fn validation(field: &str, message: &str) -> Self {
        let mut e = Self::bad(
            "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
            "Request validation failed",
        );
        e.validation.push((field.to_owned(), message.to_owned()));
        e
    }

    /// REST 3.0: an entity that does not exist (answered 400, as documented).
    pub fn entity_not_found(what: &str) -> Self {
        Self::bad(
            "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION",
            format!("{what} not found"),
        )
    }

    pub fn classic_body(&self) -> Value {
        json!({"error": self.code, "error_description": self.description})
    }

    pub fn v3_body(&self) -> Value {
        let mut err = json!({"code": self.code, "message": self.description});
        if !self.validation.is_empty() {
            err["validation"] = Value::Array(
                self.validation
                    .iter()
                    .map(|(f, m)| json!({"field": f, "message": m}))
                    .collect(),
            );
        }
        json!({ "error": err })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.description)
    }
}

impl std::error::Error for ApiError {}
