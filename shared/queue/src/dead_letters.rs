//! Reading and replaying parked messages, for `bridgectl dlq`.
//!
//! Parking queues are read with `basic.get` without acking; closing the channel afterwards
//! returns every unacked message to its place. A replayed message is acked in the parking
//! queue only after its republish to the work queue was confirmed, so a crash mid-replay at
//! worst replays a message twice (handlers deduplicate by envelope id, which is kept).

use crate::headers;
use crate::{Broker, ConsumerSpec, Publisher, QueueError, Topology};
use bridge_core::{Envelope, ErrorClass};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One parked message, as ops see it.
#[derive(Clone, Debug, Serialize)]
pub struct ParkedMessage {
    pub consumer: String,
    pub message_id: Option<String>,
    pub routing_key: Option<String>,
    pub error_class: String,
    pub reason: String,
    pub attempts: Option<u32>,
    pub first_failure_at: Option<String>,
    pub first_failure_reason: Option<String>,
    pub last_failure_at: Option<String>,
    pub replays: u32,
    /// The body as text (JSON envelope, or lossy UTF-8 for an undecodable one).
    pub body: String,
}

/// The parking queue of one consumer.
#[derive(Clone, Debug, Serialize)]
pub struct QueueSummary {
    pub consumer: String,
    pub queue: String,
    pub count: u32,
    /// `(error class, reason) → count`, most frequent first.
    pub by_reason: Vec<ReasonCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReasonCount {
    pub error_class: String,
    pub reason: String,
    pub count: u32,
}

/// Which parked messages to replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayFilter {
    pub message_id: Option<String>,
    pub error_class: Option<ErrorClass>,
}

impl ReplayFilter {
    fn matches(&self, m: &ParkedMessage) -> bool {
        self.message_id
            .as_ref()
            .is_none_or(|id| m.message_id.as_deref() == Some(id.as_str()))
            && self.error_class.is_none_or(|c| m.error_class == c.as_str())
    }
}

pub struct DeadLetters {
    broker: Broker,
    topology: Topology,
    publisher: Publisher,
}

impl DeadLetters {
    pub fn new(broker: Broker, topology: Topology, confirm_timeout: Duration) -> Self {
        let publisher = Publisher::new(broker.clone(), topology.clone(), confirm_timeout);
        Self {
            broker,
            topology,
            publisher,
        }
    }

    /// Count and reasons of `consumer`'s parking queue. Reads every message.
    pub async fn summary(&self, consumer: &ConsumerSpec) -> Result<QueueSummary, QueueError> {
        let messages = self.peek(consumer, usize::MAX).await?;
        let mut groups: BTreeMap<(String, String), u32> = BTreeMap::new();
        for m in &messages {
            *groups
                .entry((m.error_class.clone(), m.reason.clone()))
                .or_default() += 1;
        }
        let mut by_reason: Vec<_> = groups
            .into_iter()
            .map(|((error_class, reason), count)| ReasonCount {
                error_class,
                reason,
                count,
            })
            .collect();
        by_reason.sort_by_key(|r| std::cmp::Reverse(r.count));
        Ok(QueueSummary {
            consumer: consumer.name.clone(),
            queue: self.topology.dead_letter_queue(&consumer.name),
            count: u32::try_from(messages.len()).unwrap_or(u32::MAX),
            by_reason,
        })
    }

    /// Up to `limit` parked messages of `consumer`, oldest first, left in place.
    pub async fn peek(
        &self,
        consumer: &ConsumerSpec,
        limit: usize,
    ) -> Result<Vec<ParkedMessage>, QueueError> {
        let ch = self.open(consumer).await?;
        let result = self.take_all(&ch, consumer, limit).await;
        // Closing without acking puts every message back.
        ch.close(200, "OK".into()).await.ok();
        Ok(result?.into_iter().map(|(m, _)| m).collect())
    }

    /// Moves the matching parked messages back to `consumer`'s work queue. Returns how many.
    pub async fn replay(
        &self,
        consumer: &ConsumerSpec,
        filter: &ReplayFilter,
    ) -> Result<usize, QueueError> {
        let ch = self.open(consumer).await?;
        let result = self.replay_on(&ch, consumer, filter).await;
        ch.close(200, "OK".into()).await.ok();
        result
    }

    async fn replay_on(
        &self,
        ch: &Channel,
        consumer: &ConsumerSpec,
        filter: &ReplayFilter,
    ) -> Result<usize, QueueError> {
        let work_queue = self.topology.work_queue(&consumer.name);
        let mut replayed = 0;
        for (parked, raw) in self.take_all(ch, consumer, usize::MAX).await? {
            if !filter.matches(&parked) {
                continue;
            }
            let (body, props) = replay_message(&raw, parked.replays + 1);
            self.publisher
                .publish_to_queue(&work_queue, &body, props)
                .await?;
            // lapin answers `false` when the channel closed before the ack: the message
            // stays parked (and is already republished), which the caller must hear about.
            if !raw.delivery.acker.ack(BasicAckOptions::default()).await? {
                return Err(QueueError::Unavailable(format!(
                    "channel closed after replaying {replayed} message(s); the last one is still parked too"
                )));
            }
            replayed += 1;
        }
        Ok(replayed)
    }

    /// Deletes every parked message of `consumer`. Returns how many.
    pub async fn purge(&self, consumer: &ConsumerSpec) -> Result<u32, QueueError> {
        let ch = self.open(consumer).await?;
        let n = ch
            .queue_purge(
                self.topology
                    .dead_letter_queue(&consumer.name)
                    .as_str()
                    .into(),
                QueuePurgeOptions::default(),
            )
            .await?;
        ch.close(200, "OK".into()).await.ok();
        Ok(n)
    }

    async fn open(&self, consumer: &ConsumerSpec) -> Result<Channel, QueueError> {
        let ch = self.broker.channel().await?;
        self.topology.declare_consumer(&ch, consumer).await?;
        Ok(ch)
    }

    /// Takes (without acking) up to `limit` messages that were in the queue when called;
    /// messages parked meanwhile are left for the next call.
    async fn take_all(
        &self,
        ch: &Channel,
        consumer: &ConsumerSpec,
        limit: usize,
    ) -> Result<Vec<(ParkedMessage, BasicGetMessage)>, QueueError> {
        let queue = self.topology.dead_letter_queue(&consumer.name);
        let declared = ch
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let present = usize::try_from(declared.message_count()).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while out.len() < present.min(limit) {
            let Some(msg) = ch
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            out.push((describe(&consumer.name, &msg), msg));
        }
        Ok(out)
    }
}

fn describe(consumer: &str, msg: &BasicGetMessage) -> ParkedMessage {
    let props = &msg.delivery.properties;
    let hdrs = props.headers().clone().unwrap_or_default();
    let get = |k| headers::get_str(&hdrs, k);
    let (error_class, reason) = match (get(headers::ERROR_CLASS), get(headers::REASON)) {
        (Some(c), Some(r)) => (c, r),
        (c, r) => (
            c.unwrap_or_else(|| ErrorClass::Broker.as_str().to_owned()),
            r.or_else(|| headers::broker_death_reason(&hdrs))
                .unwrap_or_else(|| "no reason recorded".to_owned()),
        ),
    };
    ParkedMessage {
        consumer: consumer.to_owned(),
        message_id: props.message_id().as_ref().map(|s| s.as_str().to_owned()),
        routing_key: get(headers::ORIGINAL_ROUTING_KEY),
        error_class,
        reason,
        attempts: headers::get_u32(&hdrs, headers::ATTEMPTS),
        first_failure_at: get(headers::FIRST_FAILURE_AT),
        first_failure_reason: get(headers::FIRST_FAILURE_REASON),
        last_failure_at: get(headers::LAST_FAILURE_AT),
        replays: headers::get_u32(&hdrs, headers::REPLAYS).unwrap_or(0),
        body: String::from_utf8_lossy(&msg.delivery.data).into_owned(),
    }
}

/// The message to put back in the work queue: same id and body, a fresh retry budget, the
/// trace context kept, the failure bookkeeping dropped (it stays in the logs) and the replay
/// counted.
fn replay_message(raw: &BasicGetMessage, replays: u32) -> (Vec<u8>, BasicProperties) {
    let props = &raw.delivery.properties;
    let old = props.headers().clone().unwrap_or_default();
    let mut hdrs = FieldTable::default();
    for (k, v) in headers::trace_pairs(&old) {
        headers::set_str(&mut hdrs, &k, &v);
    }
    if let Some(rk) = headers::get_str(&old, headers::ORIGINAL_ROUTING_KEY) {
        headers::set_str(&mut hdrs, headers::ORIGINAL_ROUTING_KEY, &rk);
    }
    headers::set_u32(&mut hdrs, headers::REPLAYS, replays);
    headers::set_u32(&mut hdrs, headers::ATTEMPT, 0);
    // The raw body with only `attempt` reset, so fields a newer release wrote survive; a body
    // that is not an envelope goes back as it was (perhaps a newer release can read it).
    let body = match Envelope::from_json(&raw.delivery.data) {
        Ok(_) => crate::body::with_attempt(&raw.delivery.data, 0)
            .unwrap_or_else(|| raw.delivery.data.clone()),
        Err(_) => raw.delivery.data.clone(),
    };
    (body, props.clone().with_headers(hdrs))
}
