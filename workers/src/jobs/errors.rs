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

/// Several failed steps as one: retryable if any is (a retry redoes only what is missing),
/// waiting the longest wait asked for.
pub fn combine(errors: Vec<HandlerError>) -> HandlerError {
    let class = if errors.iter().any(|e| e.class == ErrorClass::Retryable) {
        ErrorClass::Retryable
    } else {
        ErrorClass::Permanent
    };
    let wait = errors.iter().filter_map(|e| e.retry_after).max();
    let reason = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    classified(class, reason, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_combine_retryable_when_any_is() {
        let e = combine(vec![
            HandlerError::permanent("a"),
            HandlerError::retryable("b").with_retry_after(Duration::from_secs(3)),
        ]);
        assert_eq!(e.class, ErrorClass::Retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            combine(vec![HandlerError::permanent("a")]).class,
            ErrorClass::Permanent
        );
    }
}
