//! Helpers shared by the integration tests.

pub mod amqp;
pub mod bridge;
pub mod db;
pub mod ingress;
pub mod tcp_proxy;
