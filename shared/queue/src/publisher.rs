//! Publishing with publisher confirms.
//!
//! All callers share one confirm-mode channel; each `basic_publish` returns its own confirm
//! future, so concurrent callers pipeline their confirms instead of waiting in turn. A call
//! returns `Ok` only once the broker has confirmed the message (it is then durable in a
//! queue, or in `P.unrouted` when no consumer is bound).

use crate::headers;
use crate::{Broker, QueueError, Topology};
use bridge_core::{Envelope, TraceContext};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    broker: Broker,
    topology: Topology,
    confirm_timeout: Duration,
    /// The shared confirm-mode channel and its generation, so that of many callers failing
    /// on one broken channel only the first replaces it.
    channel: Mutex<(u64, Option<Channel>)>,
}

impl Publisher {
    /// A publisher on `broker`. It connects lazily, so a process can start (and answer 503)
    /// while the broker is down.
    pub fn new(broker: Broker, topology: Topology, confirm_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                broker,
                topology,
                confirm_timeout,
                channel: Mutex::new((0, None)),
            }),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub fn broker(&self) -> &Broker {
        &self.inner.broker
    }

    /// Publishes an event to the events exchange under its routing key. The current span's
    /// trace context goes into the headers (and into the envelope when it has none yet), so
    /// the consumer's span joins the publisher's trace.
    pub async fn publish(&self, mut envelope: Envelope) -> Result<(), QueueError> {
        let mut hdrs = FieldTable::default();
        headers::inject_current_trace(&mut hdrs);
        match (
            &envelope.trace,
            headers::get_str(&hdrs, headers::TRACEPARENT),
        ) {
            (None, Some(traceparent)) => {
                envelope.trace = Some(TraceContext {
                    traceparent,
                    tracestate: headers::get_str(&hdrs, headers::TRACESTATE),
                });
            }
            (Some(t), None) => {
                headers::set_str(&mut hdrs, headers::TRACEPARENT, &t.traceparent);
                if let Some(state) = &t.tracestate {
                    headers::set_str(&mut hdrs, headers::TRACESTATE, state);
                }
            }
            _ => {}
        }
        headers::set_u32(&mut hdrs, headers::ATTEMPT, envelope.attempt);
        let routing_key = envelope.routing_key();
        let props = envelope_properties(&envelope).with_headers(hdrs);
        let exchange = self.inner.topology.events_exchange();
        // No `mandatory` here: the events exchange's alternate exchange keeps what no
        // consumer is bound to.
        let result = self
            .send(&exchange, &routing_key, &envelope.to_json(), props, false)
            .await;
        let metrics = bridge_telemetry::metrics::global();
        match &result {
            Ok(()) => metrics.published(&routing_key),
            Err(_) => metrics.publish_failed(&routing_key),
        }
        result
    }

    /// Publishes `envelope` to `consumer`'s own work queue after `delay` (at least 1 ms),
    /// through the delay queue `P.{consumer}.delay.{ms}ms` (declared here, idempotently).
    /// Only that consumer sees it. Returns once the broker confirmed the message.
    pub async fn publish_delayed(
        &self,
        consumer: &str,
        envelope: Envelope,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let delay = delay.max(Duration::from_millis(1));
        let queue = {
            let (generation, ch) = tokio::time::timeout(self.inner.confirm_timeout, self.channel())
                .await
                .map_err(|_| QueueError::Unavailable("no broker connection in time".into()))??;
            match self
                .inner
                .topology
                .declare_delay_queue(&ch, consumer, delay)
                .await
            {
                Ok(q) => q,
                Err(e) => {
                    self.forget(generation).await;
                    return Err(e);
                }
            }
        };
        let mut hdrs = FieldTable::default();
        headers::inject_current_trace(&mut hdrs);
        headers::set_u32(&mut hdrs, headers::ATTEMPT, envelope.attempt);
        let props = envelope_properties(&envelope).with_headers(hdrs);
        self.publish_to_queue(&queue, &envelope.to_json(), props)
            .await
    }

    /// Publishes raw bytes to the events exchange under `routing_key`, as a foreign or
    /// broken producer would (tools and tests; the bridge itself publishes envelopes).
    pub async fn publish_bytes(&self, routing_key: &str, body: &[u8]) -> Result<(), QueueError> {
        let props = BasicProperties::default().with_delivery_mode(2);
        let exchange = self.inner.topology.events_exchange();
        self.send(&exchange, routing_key, body, props, false).await
    }

    /// Publishes raw bytes straight to one queue (through the default exchange): retries,
    /// dead letters and replays, which must reach one consumer only.
    pub async fn publish_to_queue(
        &self,
        queue: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), QueueError> {
        // `mandatory`: a message for a queue that is gone comes back instead of vanishing.
        let result = self.send("", queue, body, props, true).await;
        let metrics = bridge_telemetry::metrics::global();
        match &result {
            Ok(()) => metrics.published(queue),
            Err(_) => metrics.publish_failed(queue),
        }
        result
    }

    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), QueueError> {
        // A channel can be dead without us knowing (the broker closed the connection while we
        // were idle); the first failure after that reconnects and tries once more. A
        // duplicate from that second try is harmless: consumers deduplicate by envelope id.
        let mut last_err = None;
        for _ in 0..2 {
            // Bounded like the confirm, so a hanging broker gets a 503 in time too.
            let (generation, ch) = tokio::time::timeout(self.inner.confirm_timeout, self.channel())
                .await
                .map_err(|_| QueueError::Unavailable("no broker connection in time".into()))??;
            match self
                .send_once(&ch, exchange, routing_key, body, props.clone(), mandatory)
                .await
            {
                Ok(()) => return Ok(()),
                Err(QueueError::Unavailable(e)) => {
                    self.forget(generation).await;
                    last_err = Some(QueueError::Unavailable(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| QueueError::Unavailable("publish failed".into())))
    }

    async fn send_once(
        &self,
        ch: &Channel,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), QueueError> {
        let options = BasicPublishOptions {
            mandatory,
            ..Default::default()
        };
        let confirm = ch
            .basic_publish(exchange.into(), routing_key.into(), options, body, props)
            .await?;
        match tokio::time::timeout(self.inner.confirm_timeout, confirm).await {
            Err(_) => Err(QueueError::ConfirmTimeout(self.inner.confirm_timeout)),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(c)) if c.is_nack() => Err(QueueError::Nacked),
            Ok(Ok(c)) => match c.take_message() {
                Some(_) => Err(QueueError::Unroutable(routing_key.to_owned())),
                None => Ok(()),
            },
        }
    }

    async fn channel(&self) -> Result<(u64, Channel), QueueError> {
        let mut guard = self.inner.channel.lock().await;
        if let Some(ch) = guard.1.as_ref().filter(|c| c.status().connected()) {
            return Ok((guard.0, ch.clone()));
        }
        let ch = self.inner.broker.channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        self.inner.topology.declare_exchanges(&ch).await?;
        guard.0 += 1;
        guard.1 = Some(ch.clone());
        Ok((guard.0, ch))
    }

    async fn forget(&self, generation: u64) {
        let mut guard = self.inner.channel.lock().await;
        if guard.0 != generation {
            return;
        }
        if let Some(old) = guard.1.take() {
            old.close(200, "OK".into()).await.ok();
        }
    }
}

pub(crate) fn envelope_properties(envelope: &Envelope) -> BasicProperties {
    BasicProperties::default()
        .with_message_id(envelope.id.to_string().into())
        .with_content_type("application/json".into())
        .with_type(envelope.payload.kind().into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(envelope.occurred_at.timestamp()).unwrap_or(0))
}
