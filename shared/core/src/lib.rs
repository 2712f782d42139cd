//! Types every part of the bridge agrees on: the event envelope that travels through
//! RabbitMQ, the worker kinds and the routing keys they consume, the configuration contract,
//! error classes, and the keyring that encrypts stored credentials.
//!
//! It also turns vendor payloads (Confluence webhooks, B24 event forms) into events
//! (`normalize`), so the ingress and the reconcilers that replay missed events agree on them.
//!
//! This crate does no network IO, so the ingress, the workers, the CLI and the tests can all
//! depend on it without pulling in a broker or database client.

pub mod config;
pub mod crypto;
pub mod envelope;
pub mod error_class;
pub mod links;
pub mod normalize;
pub mod worker_kind;

pub use config::{Config, ConfigError};
pub use envelope::{Envelope, Payload, Source, TraceContext};
pub use error_class::ErrorClass;
pub use worker_kind::WorkerKind;
