//! Error bodies: v1 `{statusCode, data, message, reason}`, v2 `{errors:[{status, code, title,
//! detail}]}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

pub fn v1(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({
        "statusCode": status.as_u16(),
        "data": {
            "authorized": status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
            "valid": status != StatusCode::BAD_REQUEST,
            "allowedInReadOnlyMode": true,
            "errors": [],
            "successful": false
        },
        "message": message.into(),
        "reason": reason(status),
    });
    (status, Json(body)).into_response()
}

pub fn v2(status: StatusCode, detail: Option<String>) -> Response {
    let code = reason(status).to_ascii_uppercase().replace(' ', "_");
    let body = json!({
        "errors": [{
            "status": status.as_u16(),
            "code": code,
            "title": reason(status),
            "detail": detail,
        }]
    });
    (status, Json(body)).into_response()
}

pub fn unauthorized(v2_shape: bool) -> Response {
    let mut r = if v2_shape {
        v2(StatusCode::UNAUTHORIZED, None)
    } else {
        v1(
            StatusCode::UNAUTHORIZED,
            "Client must be authenticated to access this resource.",
        )
    };
    r.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Basic realm=\"Protected\""),
    );
    r
}

pub fn v1_not_found(id: &str) -> Response {
    v1(
        StatusCode::NOT_FOUND,
        format!("No content found with id : ContentId{{id={id}}}"),
    )
}

pub fn v1_bad(message: impl Into<String>) -> Response {
    v1(StatusCode::BAD_REQUEST, message)
}

pub fn v2_not_found() -> Response {
    v2(StatusCode::NOT_FOUND, None)
}

pub fn v2_bad(detail: impl Into<String>) -> Response {
    v2(StatusCode::BAD_REQUEST, Some(detail.into()))
}
