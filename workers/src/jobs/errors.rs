//! Vendor and database errors as the consumer runtime wants them: retryable or permanent,
//! with the wait the remote side asked for.

use bridge_clients::b24::B24Error;
use bridge_clients::confluence::ConfluenceError;
use bridge_core::ErrorClass;
use bridge_db::DbError;
use bridge_queue::HandlerError;
use std::time::Duration;

fn classified(class: ErrorClass, reason: String, wait: Option<Duration>) -> HandlerError {
    let err = match class {
        ErrorClass::Retryable => HandlerError::retryable(reason),
        _ => HandlerError::permanent(reason),
    };
    match wait {
        Some(w) => err.with_retry_after(w),
        None => err,
    }
}

pub fn handler_error(e: B24Error) -> HandlerError {
    classified(e.class(), e.to_string(), e.retry_after())
}

pub fn confluence_error(e: ConfluenceError) -> HandlerError {
    classified(e.class(), e.to_string(), e.retry_after())
}

pub fn db_error(e: DbError) -> HandlerError {
    classified(e.class(), format!("database: {e}"), None)
}
