//! Names and idempotent declaration of everything on the broker.
//!
//! With prefix `P` and a consumer `K` (a worker kind):
//!
//! | object | name | kind |
//! |---|---|---|
//! | events exchange | `P.events` | topic, durable, alternate exchange `P.unrouted` |
//! | unrouted events | `P.unrouted` | fanout exchange + quorum queue: events nobody consumes are kept |
//! | work queue | `P.K` | quorum, bound to `P.events` with `K`'s patterns |
//! | retry wait queues | `P.K.wait.{ms}ms` | classic, one per step of the schedule, TTL then dead-letter back to `P.K` |
//! | dead-letter queue | `P.K.dlq` | classic (a parking queue that ops read without consuming) |
//! | delay queues | `P.K.delay.{ms}ms` | classic, declared on first use by [`crate::Publisher::publish_delayed`]: TTL, then dead-letter into `P.K`; the queue expires an hour after its last use |
//!
//! Retries and replays go through the default exchange straight to a queue by name, so they
//! reach only the consumer that failed, not every consumer bound to the event.

use crate::QueueError;
use lapin::Channel;
use lapin::ExchangeKind;
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use std::time::Duration;

/// One consumer: a name (the worker kind) and the routing-key patterns it consumes.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    pub name: String,
    pub bindings: Vec<String>,
}

impl ConsumerSpec {
    pub fn new(
        name: impl Into<String>,
        bindings: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            bindings: bindings.into_iter().map(Into::into).collect(),
        }
    }

    pub fn for_worker(kind: bridge_core::WorkerKind) -> Self {
        Self::new(kind.as_str(), kind.bindings().iter().copied())
    }
}

/// The broker layout of one installation (or one test), named by its prefix.
#[derive(Clone, Debug)]
pub struct Topology {
    prefix: String,
    retry_schedule: Vec<Duration>,
}

impl Topology {
    pub fn new(prefix: impl Into<String>, retry_schedule: Vec<Duration>) -> Self {
        Self {
            prefix: prefix.into(),
            retry_schedule,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn retry_schedule(&self) -> &[Duration] {
        &self.retry_schedule
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn unrouted(&self) -> String {
        format!("{}.unrouted", self.prefix)
    }

    pub fn work_queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}", self.prefix)
    }

    pub fn wait_queue(&self, consumer: &str, delay: Duration) -> String {
        format!("{}.{consumer}.wait.{}ms", self.prefix, delay.as_millis())
    }

    /// Where [`crate::Publisher::publish_delayed`] parks a message for `delay`.
    pub fn delay_queue(&self, consumer: &str, delay: Duration) -> String {
        format!("{}.{consumer}.delay.{}ms", self.prefix, delay.as_millis())
    }

    /// Declares `consumer`'s delay queue for `delay` (idempotent): messages wait their TTL,
    /// then are dead-lettered into the work queue. One queue per delay, so every message in
    /// it expires in order (no head-of-line blocking). Unused for an hour past its TTL, the
    /// queue is deleted by the broker; each publish declares it again first.
    pub async fn declare_delay_queue(
        &self,
        ch: &Channel,
        consumer: &str,
        delay: Duration,
    ) -> Result<String, QueueError> {
        let name = self.delay_queue(consumer, delay);
        let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let mut args = classic();
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(ttl.saturating_add(3_600_000)),
        );
        args.insert("x-dead-letter-exchange".into(), long_string(""));
        args.insert(
            "x-dead-letter-routing-key".into(),
            long_string(&self.work_queue(consumer)),
        );
        declare_queue(ch, &name, args).await?;
        Ok(name)
    }

    pub fn dead_letter_queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}.dlq", self.prefix)
    }

    /// Declares the exchanges. Safe to run again and from several processes at once.
    pub async fn declare_exchanges(&self, ch: &Channel) -> Result<(), QueueError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let unrouted = self.unrouted();
        ch.exchange_declare(
            unrouted.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(topology_err)?;
        declare_queue(ch, &unrouted, quorum()).await?;
        ch.queue_bind(
            unrouted.as_str().into(),
            unrouted.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(topology_err)?;
        let mut args = FieldTable::default();
        args.insert("alternate-exchange".into(), long_string(&unrouted));
        ch.exchange_declare(
            self.events_exchange().as_str().into(),
            ExchangeKind::Topic,
            durable,
            args,
        )
        .await
        .map_err(topology_err)
    }

    /// Declares the exchanges and `consumer`'s queues and bindings.
    pub async fn declare_consumer(
        &self,
        ch: &Channel,
        consumer: &ConsumerSpec,
    ) -> Result<(), QueueError> {
        self.declare_exchanges(ch).await?;
        let work = self.work_queue(&consumer.name);
        let dlq = self.dead_letter_queue(&consumer.name);

        declare_queue(ch, &dlq, classic()).await?;

        // The broker dead-letters into the parking queue only as a safety net (for example
        // when a delivery limit is reached); the runtime parks messages itself, with reasons.
        let mut work_args = quorum();
        work_args.insert("x-dead-letter-exchange".into(), long_string(""));
        work_args.insert("x-dead-letter-routing-key".into(), long_string(&dlq));
        declare_queue(ch, &work, work_args).await?;
        for pattern in &consumer.bindings {
            ch.queue_bind(
                work.as_str().into(),
                self.events_exchange().as_str().into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(topology_err)?;
        }

        for delay in &self.retry_schedule {
            let mut args = classic();
            let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
            args.insert("x-dead-letter-exchange".into(), long_string(""));
            args.insert("x-dead-letter-routing-key".into(), long_string(&work));
            declare_queue(ch, &self.wait_queue(&consumer.name, *delay), args).await?;
        }
        Ok(())
    }

    /// Declares every consumer's queues, retrying until the broker answers or `shutdown`.
    /// The ingress runs this at start-up so that events published before a worker first
    /// starts wait in that worker's queue instead of in `P.unrouted`.
    pub async fn declare_consumers_when_possible(
        &self,
        broker: &crate::Broker,
        consumers: &[ConsumerSpec],
        shutdown: &tokio_util::sync::CancellationToken,
    ) {
        let mut wait = Duration::from_millis(500);
        loop {
            let attempt = async {
                let ch = broker.channel().await?;
                for c in consumers {
                    self.declare_consumer(&ch, c).await?;
                }
                ch.close(200, "OK".into()).await.ok();
                Ok::<(), QueueError>(())
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot declare worker queues yet")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }

    /// Deletes `consumer`'s queues, messages included (test teardown, uninstall).
    pub async fn delete_consumer(
        &self,
        ch: &Channel,
        consumer: &ConsumerSpec,
    ) -> Result<(), QueueError> {
        let mut queues = vec![
            self.work_queue(&consumer.name),
            self.dead_letter_queue(&consumer.name),
        ];
        queues.extend(
            self.retry_schedule
                .iter()
                .map(|d| self.wait_queue(&consumer.name, *d)),
        );
        for q in queues {
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(topology_err)?;
        }
        Ok(())
    }

    /// Deletes the exchanges and the unrouted queue (test teardown, uninstall).
    pub async fn delete_exchanges(&self, ch: &Channel) -> Result<(), QueueError> {
        let unrouted = self.unrouted();
        ch.queue_delete(unrouted.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(topology_err)?;
        for x in [self.events_exchange(), unrouted] {
            ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(topology_err)?;
        }
        Ok(())
    }
}

async fn declare_queue(ch: &Channel, name: &str, args: FieldTable) -> Result<(), QueueError> {
    ch.queue_declare(
        ShortString::from(name),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .map(|_| ())
    .map_err(topology_err)
}

fn quorum() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), long_string("quorum"));
    t
}

fn classic() -> FieldTable {
    let mut t = FieldTable::default();
    t.insert("x-queue-type".into(), long_string("classic"));
    t
}

pub(crate) fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

fn topology_err(e: lapin::Error) -> QueueError {
    QueueError::Topology(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = Topology::new("p", vec![Duration::from_secs(5)]);
        assert_eq!(t.events_exchange(), "p.events");
        assert_eq!(t.work_queue("fanout"), "p.fanout");
        assert_eq!(
            t.wait_queue("fanout", Duration::from_secs(5)),
            "p.fanout.wait.5000ms"
        );
        assert_eq!(t.dead_letter_queue("fanout"), "p.fanout.dlq");
    }
}
