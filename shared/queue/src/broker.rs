//! The process's connection to RabbitMQ, re-established on demand after it drops.

use crate::QueueError;
use lapin::{Channel, Connection, ConnectionProperties};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long opening a connection or a channel may take; a half-open broker must not hold
/// the connection lock forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cheap-to-clone handle on one AMQP connection. Channels are opened from the current
/// connection; when the connection has died, the next [`Broker::channel`] call reconnects.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    connection_name: String,
    connection: Mutex<Option<Connection>>,
}

impl Broker {
    /// `connection_name` shows in the RabbitMQ management UI and `rabbitmqctl`, so operators
    /// (and tests) can tell processes apart.
    pub fn new(url: &str, connection_name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                connection_name: connection_name.to_owned(),
                connection: Mutex::new(None),
            }),
        }
    }

    /// Another connection to the same broker. Consumers publish their retries and dead
    /// letters on a sibling: when the broker blocks publishers (memory or disk alarm) it stops
    /// reading their connection, and acks on a shared connection would stall with them.
    pub fn sibling(&self, suffix: &str) -> Broker {
        Broker::new(
            &self.inner.url,
            &format!("{}{suffix}", self.inner.connection_name),
        )
    }

    pub fn connection_name(&self) -> &str {
        &self.inner.connection_name
    }

    /// Connects now (rather than on first use), so start-up fails fast on a wrong URL.
    pub async fn connect(&self) -> Result<(), QueueError> {
        self.channel().await?.close(200, "OK".into()).await.ok();
        Ok(())
    }

    /// Opens a new channel, reconnecting first if the connection is gone.
    pub async fn channel(&self) -> Result<Channel, QueueError> {
        let mut guard = self.inner.connection.lock().await;
        if let Some(conn) = guard.as_ref().filter(|c| c.status().connected()) {
            match tokio::time::timeout(CONNECT_TIMEOUT, conn.create_channel()).await {
                Ok(Ok(ch)) => return Ok(ch),
                Ok(Err(e)) => tracing::warn!(error = %e, "channel open failed; reconnecting"),
                Err(_) => tracing::warn!("channel open timed out; reconnecting"),
            }
        }
        let props = ConnectionProperties::default()
            .with_connection_name(self.inner.connection_name.clone().into());
        let conn =
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&self.inner.url, props))
                .await
                .map_err(|_| QueueError::Unavailable("connect timed out after 10s".into()))?
                .map_err(|e| QueueError::Unavailable(redact(&e.to_string(), &self.inner.url)))?;
        tracing::info!(name = %self.inner.connection_name, "connected to RabbitMQ");
        let ch = tokio::time::timeout(CONNECT_TIMEOUT, conn.create_channel())
            .await
            .map_err(|_| QueueError::Unavailable("channel open timed out".into()))??;
        *guard = Some(conn);
        Ok(ch)
    }

    /// True when a round trip to the broker succeeds (for `/readyz`).
    pub async fn ping(&self) -> Result<(), QueueError> {
        let ch = self.channel().await?;
        ch.close(200, "OK".into()).await?;
        Ok(())
    }

    /// Closes the connection; later calls reconnect.
    pub async fn close(&self) {
        if let Some(conn) = self.inner.connection.lock().await.take() {
            conn.close(200, "OK".into()).await.ok();
        }
    }
}

/// Connection errors may quote the URL, which holds the broker password.
fn redact(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(pw) if !pw.is_empty() => message.replace(&pw, "***"),
        _ => message.to_owned(),
    }
}
