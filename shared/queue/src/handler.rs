//! The contract between the consumer runtime and a worker's business code.

use bridge_core::{Envelope, ErrorClass};
use std::fmt;
use std::time::Duration;

/// What the runtime knows about one delivery, handed to the handler with the envelope.
#[derive(Clone, Debug)]
pub struct DeliveryContext {
    pub consumer: String,
    /// 0 on the first try; the envelope's attempt counter.
    pub attempt: u32,
    /// The broker delivered this message before (a consumer died before acking it).
    pub redelivered: bool,
    /// The trace this delivery belongs to (the publisher's), as 32 hex digits.
    pub trace_id: Option<String>,
}

/// Handles one kind of message. Returning `Ok` means the effect is durable: the message is
/// acked right after. Handlers must be idempotent: a message can arrive twice (redelivery
/// after a crash, replay of a dead letter).
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: Envelope, ctx: DeliveryContext) -> Result<(), HandlerError>;
}

/// A classified failure.
#[derive(Clone, Debug)]
pub struct HandlerError {
    pub class: ErrorClass,
    pub reason: String,
    /// How long the remote side asked us to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl HandlerError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Retryable,
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.reason)
    }
}

impl std::error::Error for HandlerError {}
