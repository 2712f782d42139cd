//! Raw lapin publishing with pipelined confirms, for benchmarks that compare the bridge's
//! paths against the broker's own confirmed-publish rate measured in the same run. Lives
//! here because this is the only crate that knows lapin.

use crate::{Broker, QueueError, Topology};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use std::time::{Duration, Instant};

/// Publishes `count` copies of `body` to the events exchange of `topology` under
/// `routing_key`, with `window` confirms in flight, and returns how long it took.
pub async fn raw_confirmed_publish(
    broker: &Broker,
    topology: &Topology,
    routing_key: &str,
    body: &[u8],
    count: usize,
    window: usize,
) -> Result<Duration, QueueError> {
    let ch = broker.channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    topology.declare_exchanges(&ch).await?;
    let exchange = topology.events_exchange();
    let started = Instant::now();
    let mut inflight = FuturesUnordered::new();
    for _ in 0..count {
        if inflight.len() >= window.max(1) {
            inflight.next().await.transpose()?;
        }
        let (ch, exchange) = (ch.clone(), exchange.clone());
        inflight.push(async move {
            ch.basic_publish(
                exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await
        });
    }
    while let Some(c) = inflight.next().await {
        c?;
    }
    let took = started.elapsed();
    ch.close(200, "OK".into()).await.ok();
    Ok(took)
}
