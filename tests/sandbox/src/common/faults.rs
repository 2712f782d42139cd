//! Fault injection: latency, 5xx answers, 429 with `Retry-After`, and (for outgoing
//! webhooks/events) drops, duplicates and reordering. Shares are fractions in 0..=1, drawn
//! per request.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultKnobs {
    /// Added to every API answer.
    pub latency_ms: u64,
    /// Share of API requests answered with a 5xx.
    pub error_5xx_share: f64,
    /// Share of API requests answered 429 with `Retry-After: retry_after_secs`.
    pub too_many_requests_share: f64,
    pub retry_after_secs: u64,
    /// Share of outgoing webhooks/events not sent at all.
    pub drop_outgoing_share: f64,
    /// Share of outgoing webhooks/events sent twice.
    pub duplicate_outgoing_share: f64,
    /// Hold outgoing webhooks/events and send them in reverse order on flush.
    pub reorder_outgoing: bool,
}

/// Whose error body an injected fault carries, so a client sees the vendor's real shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    #[default]
    Plain,
    /// `{"statusCode": N, "message": "…"}`.
    Confluence,
    /// `{"error": "INTERNAL_SERVER_ERROR", "error_description": "…"}`.
    B24,
}

/// The live knobs of one fake, changed through its `/_sandbox/faults` endpoint or in-process.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<RwLock<FaultKnobs>>, ErrorShape);

impl Faults {
    pub fn new(shape: ErrorShape) -> Self {
        Self(Arc::default(), shape)
    }

    fn error(&self, status: StatusCode, message: &str) -> Response {
        match self.1 {
            ErrorShape::Plain => (status, message.to_owned()).into_response(),
            ErrorShape::Confluence => (
                status,
                axum::Json(serde_json::json!({"statusCode": status.as_u16(), "message": message})),
            )
                .into_response(),
            ErrorShape::B24 => {
                let code = if status == StatusCode::TOO_MANY_REQUESTS {
                    "OPERATION_TIME_LIMIT"
                } else {
                    "INTERNAL_SERVER_ERROR"
                };
                (
                    status,
                    axum::Json(serde_json::json!({"error": code, "error_description": message})),
                )
                    .into_response()
            }
        }
    }

    pub fn get(&self) -> FaultKnobs {
        self.0.read().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn set(&self, knobs: FaultKnobs) {
        if let Ok(mut k) = self.0.write() {
            *k = knobs;
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut FaultKnobs)) {
        if let Ok(mut k) = self.0.write() {
            f(&mut k);
        }
    }

    /// True with probability `share`.
    pub fn roll(share: f64) -> bool {
        share > 0.0 && rand::rng().random::<f64>() < share
    }

    /// How many copies of one outgoing delivery to send (0 = dropped, 2 = duplicated).
    pub fn outgoing_copies(&self) -> usize {
        let k = self.get();
        if Self::roll(k.drop_outgoing_share) {
            0
        } else if Self::roll(k.duplicate_outgoing_share) {
            2
        } else {
            1
        }
    }
}

/// Axum middleware applying latency, 5xx and 429 to the API routes it wraps (not to the
/// inspection API).
pub async fn inject(State(faults): State<Faults>, request: Request<Body>, next: Next) -> Response {
    let k = faults.get();
    if k.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(k.latency_ms)).await;
    }
    if Faults::roll(k.too_many_requests_share) {
        let mut r = faults.error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        if let Ok(v) = HeaderValue::from_str(&k.retry_after_secs.max(1).to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    if Faults::roll(k.error_5xx_share) {
        let status = match faults.1 {
            ErrorShape::B24 => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        return faults.error(status, "injected fault");
    }
    next.run(request).await
}
