//! Everything the bridge does with RabbitMQ; the only crate that depends on lapin.
//!
//! - [`Broker`]: one connection per process, re-established when it drops.
//! - [`Topology`]: names and idempotent declaration of the events exchange, one quorum work
//!   queue per consumer, its retry wait queues and its dead-letter queue.
//! - [`Publisher`]: publishes with publisher confirms; many callers share one channel and
//!   their confirms are pipelined.
//! - [`consumer::run`]: the consumer runtime every worker uses (bounded prefetch, ack after
//!   success, classified errors to delayed retry or dead-letter, graceful shutdown).
//! - [`dead_letters`]: what the ops CLI needs to list, show, replay and purge parked messages.

pub mod baseline;
mod body;
mod broker;
pub mod consumer;
pub mod dead_letters;
mod error;
mod handler;
pub mod headers;
mod publisher;
mod retry;
pub mod shutdown;
mod topology;

pub use broker::Broker;
pub use consumer::ConsumerOptions;
pub use error::QueueError;
pub use handler::{DeliveryContext, Handler, HandlerError};
pub use publisher::Publisher;
pub use retry::RetryPolicy;
pub use topology::{ConsumerSpec, Topology};
