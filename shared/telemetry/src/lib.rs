//! Observability for every bridge process: logs, traces and metrics.
//!
//! One event must be followable from the webhook that brought it in to the Bitrix24 or
//! Confluence call that finished it, across RabbitMQ hops and process boundaries. That
//! needs three things, one module each:
//!
//! - [`init`](crate::init()) / [`init_for_tests`]: the global `tracing` subscriber with an
//!   OpenTelemetry layer, so every `tracing` span is also an OpenTelemetry span with real
//!   trace and span ids (exported over OTLP/HTTP only when an endpoint is configured).
//! - [`propagation`]: W3C trace context as plain string pairs, so the queue crate can carry
//!   it in AMQP headers without this crate knowing about AMQP.
//! - [`metrics`]: the Prometheus counters and histograms that `/metrics` serves.

mod error;
mod init;
pub mod metrics;
pub mod propagation;
pub mod readiness;
mod tracer;

pub use error::TelemetryError;
pub use init::{TelemetryConfig, TelemetryGuard, init, init_for_tests};
