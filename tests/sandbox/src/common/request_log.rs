//! Every request a fake received, for tests to assert on (and for the demo page).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// Bodies longer than this are cut in the log (the request itself is not).
const MAX_LOGGED_BODY: usize = 64 * 1024;
/// The body the middleware buffers to log; larger requests are refused with 413.
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub status: u16,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct RequestLog(Arc<Mutex<Vec<LoggedRequest>>>);

impl RequestLog {
    pub fn all(&self) -> Vec<LoggedRequest> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }

    /// Requests whose path ends with `suffix` (e.g. a B24 method name).
    pub fn matching(&self, suffix: &str) -> Vec<LoggedRequest> {
        self.all()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    fn push(&self, r: LoggedRequest) {
        if let Ok(mut v) = self.0.lock() {
            v.push(r);
        }
    }
}

/// Axum middleware that records each request with its answer's status.
pub async fn record(State(log): State<RequestLog>, request: Request<Body>, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Response::builder()
                .status(413)
                .body(Body::from("request body too large for the sandbox"))
                .unwrap_or_default();
        }
    };
    let mut entry = LoggedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LOGGED_BODY)]).into_owned(),
        status: 0,
        at: chrono::Utc::now(),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    entry.status = response.status().as_u16();
    log.push(entry);
    response
}
