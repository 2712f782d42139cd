//! The consumer runtime every worker runs.
//!
//! - prefetch equals the handler concurrency, so at most that many messages are in flight;
//! - a message is acked only after its handler returned `Ok`;
//! - a retryable failure is republished to the wait queue of the next schedule step with
//!   attempt + 1 (confirmed) and only then acked; permanent, undecodable, unknown-kind and
//!   exhausted messages are republished to the dead-letter queue with reason headers
//!   (confirmed) and only then acked. If that republish fails the message is requeued, so
//!   nothing is lost;
//! - a broken connection ends the session; the runtime reconnects with backoff and the broker
//!   redelivers whatever was unacked;
//! - on shutdown it stops consuming, lets in-flight handlers finish (up to a grace period),
//!   then closes the channel, which requeues anything still unacked.

use crate::headers;
use crate::publisher::envelope_properties;
use crate::{Broker, ConsumerSpec, DeliveryContext, Handler, HandlerError, Publisher, QueueError};
use crate::{RetryPolicy, Topology};
use bridge_core::envelope::ENVELOPE_SCHEMA;
use bridge_core::{Envelope, ErrorClass, Payload};
use bridge_telemetry::metrics;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Messages handled at once; also the prefetch count.
    pub concurrency: u16,
    /// How long shutdown waits for in-flight handlers.
    pub shutdown_grace: Duration,
    /// How long a republish (retry, dead letter) waits for its confirm.
    pub confirm_timeout: Duration,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            shutdown_grace: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(5),
        }
    }
}

/// Consumes `spec`'s work queue with `handler` until `shutdown` is cancelled. Declares the
/// topology first (idempotent). Returns only on shutdown: broker failures are retried.
pub async fn run(
    broker: Broker,
    topology: Topology,
    spec: ConsumerSpec,
    handler: Arc<dyn Handler>,
    options: ConsumerOptions,
    shutdown: CancellationToken,
) {
    let runtime = Arc::new(Runtime {
        publisher: Publisher::new(
            broker.sibling(" (republish)"),
            topology.clone(),
            options.confirm_timeout,
        ),
        policy: RetryPolicy::new(topology.retry_schedule().to_vec()),
        broker,
        topology,
        spec,
        handler,
        options,
    });
    let mut backoff = Duration::from_millis(200);
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        match runtime.clone().session(&shutdown).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(consumer = %runtime.spec.name, error = %e, retry_in = ?backoff, "consumer session ended; reconnecting");
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
}

struct Runtime {
    broker: Broker,
    topology: Topology,
    spec: ConsumerSpec,
    handler: Arc<dyn Handler>,
    options: ConsumerOptions,
    publisher: Publisher,
    policy: RetryPolicy,
}

impl Runtime {
    /// One channel's lifetime. `Ok` means shutdown was requested; `Err` means reconnect.
    async fn session(self: Arc<Self>, shutdown: &CancellationToken) -> Result<(), QueueError> {
        let ch = self.broker.channel().await?;
        self.topology.declare_consumer(&ch, &self.spec).await?;
        // Prefetch 0 would mean "unlimited".
        ch.basic_qos(self.options.concurrency.max(1), BasicQosOptions::default())
            .await?;
        let tag = format!("{}-{}", self.spec.name, uuid::Uuid::new_v4().simple());
        let mut deliveries = ch
            .basic_consume(
                self.topology.work_queue(&self.spec.name).as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(consumer = %self.spec.name, "consuming");
        let mut in_flight = JoinSet::new();
        let outcome = loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await.ok();
                    break Ok(());
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        in_flight.spawn(self.clone().process(delivery));
                        // Reap finished handlers as we go so the set stays small.
                        while in_flight.try_join_next().is_some() {}
                    }
                    Some(Err(e)) => break Err(QueueError::from(e)),
                    None => break Err(QueueError::Unavailable("consumer cancelled by the broker".into())),
                }
            }
        };
        // On shutdown, in-flight handlers may finish within the grace period. On a broken
        // connection their acks cannot land any more and the broker redelivers their
        // messages, so they are stopped at once rather than racing the redelivered copies.
        let grace = match outcome {
            Ok(()) => self.options.shutdown_grace,
            Err(_) => Duration::ZERO,
        };
        let drain = async { while in_flight.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(consumer = %self.spec.name, "stopping in-flight handlers; their messages will be redelivered");
        }
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
        close(&ch).await;
        outcome
    }

    async fn process(self: Arc<Self>, delivery: Delivery) {
        let hdrs = delivery.properties.headers().clone().unwrap_or_default();
        let span = tracing::info_span!(
            "handle",
            consumer = %self.spec.name,
            routing_key = %delivery.routing_key,
            message_id = tracing::field::Empty,
        );
        let pairs = headers::trace_pairs(&hdrs);
        bridge_telemetry::propagation::set_parent_from_headers(
            &span,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        self.process_in_span(delivery, hdrs).instrument(span).await;
    }

    async fn process_in_span(&self, delivery: Delivery, hdrs: FieldTable) {
        let worker = self.spec.name.as_str();
        if delivery.redelivered {
            metrics::global().redelivered(worker);
        }
        let envelope = match Envelope::from_json(&delivery.data) {
            Ok(e) => e,
            Err(e) => {
                let attempts = headers::get_u32(&hdrs, headers::ATTEMPT).unwrap_or(0) + 1;
                let failure = HandlerError {
                    class: ErrorClass::Undecodable,
                    reason: format!("body is not an event envelope: {e}"),
                    retry_after: None,
                };
                return self.park(&delivery, &hdrs, &failure, attempts).await;
            }
        };
        tracing::Span::current().record("message_id", tracing::field::display(envelope.id));
        if envelope.schema > ENVELOPE_SCHEMA {
            let failure = HandlerError::permanent(format!(
                "envelope schema {} is newer than this release reads ({ENVELOPE_SCHEMA}); replay it after upgrading",
                envelope.schema
            ));
            return self
                .park(&delivery, &hdrs, &failure, envelope.attempt + 1)
                .await;
        }
        if let Payload::Unknown { kind, .. } = &envelope.payload {
            let failure = HandlerError::permanent(format!(
                "unknown event kind {kind:?} (written by a newer release?); replay it after upgrading"
            ));
            return self
                .park(&delivery, &hdrs, &failure, envelope.attempt + 1)
                .await;
        }
        let ctx = DeliveryContext {
            consumer: worker.to_owned(),
            attempt: envelope.attempt,
            redelivered: delivery.redelivered,
            trace_id: bridge_telemetry::propagation::current_trace_id(),
        };
        let started = Instant::now();
        let attempt = envelope.attempt;
        let result = AssertUnwindSafe(self.handler.handle(envelope.clone(), ctx))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(HandlerError::permanent("handler panicked")));
        metrics::global().observe_handler(worker, started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                if ack(&delivery).await {
                    metrics::global().acked(worker);
                }
            }
            Err(e) if e.class == ErrorClass::Retryable => {
                match self.policy.next_delay(attempt, e.retry_after) {
                    Some(delay) => self.retry(&delivery, &hdrs, envelope, &e, delay).await,
                    None => {
                        let exhausted = HandlerError {
                            class: ErrorClass::Exhausted,
                            reason: format!(
                                "gave up after {} tries; last error: {}",
                                attempt + 1,
                                e.reason
                            ),
                            retry_after: None,
                        };
                        self.park(&delivery, &hdrs, &exhausted, attempt + 1).await;
                    }
                }
            }
            Err(e) => self.park(&delivery, &hdrs, &e, attempt + 1).await,
        }
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        hdrs: &FieldTable,
        envelope: Envelope,
        failure: &HandlerError,
        delay: Duration,
    ) {
        let worker = self.spec.name.as_str();
        tracing::info!(consumer = worker, attempt = envelope.attempt, ?delay, reason = %failure.reason, "retrying later");
        let attempt = envelope.attempt + 1;
        // The raw body, so fields a newer release wrote survive the retry.
        let body = crate::body::with_attempt(&delivery.data, attempt).unwrap_or_else(|| {
            let mut e = envelope.clone();
            e.attempt = attempt;
            e.to_json()
        });
        let mut next = failure_headers(hdrs, delivery, worker, failure);
        headers::set_u32(&mut next, headers::ATTEMPT, attempt);
        let props = envelope_properties(&envelope).with_headers(next);
        let queue = self.topology.wait_queue(worker, delay);
        self.republish_then_ack(delivery, &queue, &body, props)
            .await
            .then(|| metrics::global().retried(worker));
    }

    async fn park(
        &self,
        delivery: &Delivery,
        hdrs: &FieldTable,
        failure: &HandlerError,
        attempts: u32,
    ) {
        let worker = self.spec.name.as_str();
        tracing::warn!(consumer = worker, class = %failure.class, reason = %failure.reason, attempts, "parking message in the dead-letter queue");
        let mut next = failure_headers(hdrs, delivery, worker, failure);
        headers::set_str(&mut next, headers::ERROR_CLASS, failure.class.as_str());
        headers::set_u32(&mut next, headers::ATTEMPTS, attempts);
        let props = parked_properties(&delivery.properties).with_headers(next);
        let queue = self.topology.dead_letter_queue(worker);
        if self
            .republish_then_ack(delivery, &queue, &delivery.data, props)
            .await
        {
            metrics::global().dead_lettered(worker, failure.class.as_str());
        }
    }

    /// Returns true when the message moved on; false when it was requeued instead.
    async fn republish_then_ack(
        &self,
        delivery: &Delivery,
        queue: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> bool {
        match self.publisher.publish_to_queue(queue, body, props).await {
            Ok(()) => ack(delivery).await,
            Err(e) => {
                tracing::error!(queue, error = %e, "republish failed; requeueing the message");
                metrics::global().publish_failed(queue);
                // Not at once: when the broker is refusing publishes, an immediate requeue
                // would run the handler again in a tight loop.
                tokio::time::sleep(REQUEUE_PAUSE).await;
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                delivery.acker.nack(requeue).await.ok();
                false
            }
        }
    }
}

/// How long a message whose retry or parking could not be published waits before it is
/// returned to its queue.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Properties for a parked message: what identifies it, made persistent and without any
/// per-message expiry a foreign producer may have set, so it stays until ops act.
fn parked_properties(original: &BasicProperties) -> BasicProperties {
    let mut props = BasicProperties::default().with_delivery_mode(2);
    if let Some(id) = original.message_id() {
        props = props.with_message_id(id.clone());
    }
    if let Some(ct) = original.content_type() {
        props = props.with_content_type(ct.clone());
    }
    if let Some(kind) = original.kind() {
        props = props.with_type(kind.clone());
    }
    if let Some(ts) = original.timestamp() {
        props = props.with_timestamp(*ts);
    }
    props
}

/// Headers for a message that failed: everything it had, plus who failed, why and when.
fn failure_headers(
    hdrs: &FieldTable,
    delivery: &Delivery,
    worker: &str,
    failure: &HandlerError,
) -> FieldTable {
    let mut next = hdrs.clone();
    let now = chrono::Utc::now().to_rfc3339();
    if headers::get_str(&next, headers::FIRST_FAILURE_AT).is_none() {
        headers::set_str(&mut next, headers::FIRST_FAILURE_AT, &now);
        headers::set_str(&mut next, headers::FIRST_FAILURE_REASON, &failure.reason);
    }
    if headers::get_str(&next, headers::ORIGINAL_ROUTING_KEY).is_none() {
        headers::set_str(
            &mut next,
            headers::ORIGINAL_ROUTING_KEY,
            delivery.routing_key.as_str(),
        );
    }
    headers::set_str(&mut next, headers::LAST_FAILURE_AT, &now);
    headers::set_str(&mut next, headers::REASON, &failure.reason);
    headers::set_str(&mut next, headers::WORKER, worker);
    next
}

async fn ack(delivery: &Delivery) -> bool {
    match delivery.acker.ack(BasicAckOptions::default()).await {
        Ok(true) => true,
        // lapin skips the ack when the channel is already closed.
        Ok(false) => {
            tracing::warn!("channel closed before the ack; the message will be redelivered");
            false
        }
        Err(e) => {
            // The channel broke after the work was done: the broker redelivers and the
            // idempotent handler recognises the second delivery.
            tracing::warn!(error = %e, "ack failed; the message will be redelivered");
            false
        }
    }
}

async fn close(ch: &Channel) {
    if ch.status().connected() {
        ch.close(200, "OK".into()).await.ok();
    }
}
