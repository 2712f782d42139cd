//! How a failure is classified: it decides whether a message is retried or parked.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a message left the happy path. Written into dead-letter headers as its
/// [`ErrorClass::as_str`] form, and used by `bridgectl dlq replay --class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// May succeed later (timeouts, 5xx, rate limits): delayed retry.
    Retryable,
    /// Will not change by retrying (4xx that will not change, bad message): parked at once.
    Permanent,
    /// The body is not a readable envelope: parked at once.
    Undecodable,
    /// Retryable, but every step of the retry schedule is used up: parked.
    Exhausted,
    /// The broker itself gave up on the message (for example a delivery limit); found in
    /// `x-death` headers rather than ours.
    Broker,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 5] = [
        Self::Retryable,
        Self::Permanent,
        Self::Undecodable,
        Self::Exhausted,
        Self::Broker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
            Self::Undecodable => "undecodable",
            Self::Exhausted => "exhausted",
            Self::Broker => "broker",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown error class {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}
