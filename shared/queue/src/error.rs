use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueueError {
    /// The broker cannot be reached or the connection or channel broke.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker did not confirm a publish in time.
    #[error("broker did not confirm within {0:?}")]
    ConfirmTimeout(std::time::Duration),
    /// The broker refused a publish (negative confirm).
    #[error("broker refused the message")]
    Nacked,
    /// The broker had no queue to put a message addressed to one queue in (it was deleted).
    #[error("no queue {0} to deliver to")]
    Unroutable(String),
    /// Declaring exchanges or queues failed (for example arguments that differ from an
    /// existing queue's).
    #[error("topology: {0}")]
    Topology(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<lapin::Error> for QueueError {
    fn from(e: lapin::Error) -> Self {
        QueueError::Unavailable(e.to_string())
    }
}
