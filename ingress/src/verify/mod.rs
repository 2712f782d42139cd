//! Sender verification, one module per scheme. Each runs on the raw request before any
//! parsing, and compares secrets in constant time.

pub mod b24_token;
pub mod connect_jwt;
pub mod hub_signature;
