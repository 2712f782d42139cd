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
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
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
        publisher: Publisher::new(broker.clone(), topology.clone(), options.confirm_timeout),
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
        ch.basic_qos(self.options.concurrency, BasicQosOptions::default())
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
        let in_flight = TaskTracker::new();
        let outcome = loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await.ok();
                    break Ok(());
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        in_flight.spawn(self.clone().process(delivery));
                    }
                    Some(Err(e)) => break Err(QueueError::from(e)),
                    None => break Err(QueueError::Unavailable("consumer cancelled by the broker".into())),
                }
            }
        };
        in_flight.close();
        if tokio::time::timeout(self.options.shutdown_grace, in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!(consumer = %self.spec.name, "in-flight handlers outlived the grace period; their messages will be redelivered");
        }
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
        mut envelope: Envelope,
        failure: &HandlerError,
        delay: Duration,
    ) {
        let worker = self.spec.name.as_str();
        tracing::info!(consumer = worker, attempt = envelope.attempt, ?delay, reason = %failure.reason, "retrying later");
        envelope.attempt += 1;
        let mut next = failure_headers(hdrs, delivery, worker, failure);
        headers::set_u32(&mut next, headers::ATTEMPT, envelope.attempt);
        let props = envelope_properties(&envelope).with_headers(next);
        let queue = self.topology.wait_queue(worker, delay);
        self.republish_then_ack(delivery, &queue, &envelope.to_json(), props)
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
        let props = delivery.properties.clone().with_headers(next);
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
        Ok(_) => true,
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
