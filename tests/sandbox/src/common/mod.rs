//! What both fakes share: fault knobs, the request log, HTML escaping, starting a server.

pub mod faults;
pub mod html;
pub mod request_log;
pub mod server;

pub use faults::{ErrorShape, FaultKnobs, Faults};
pub use request_log::{LoggedRequest, RequestLog};
pub use server::{Running, serve};
