//! Queue throughput against the real broker, in release mode:
//!
//! ```text
//! cargo bench -p bridge-queue --bench queue_throughput -- [--messages N] [--window W]
//! ```
//!
//! 1. raw lapin publishing with confirms (W confirms in flight) — the baseline;
//! 2. the bridge's `Publisher` (envelope serialisation, trace headers, confirm per message,
//!    W callers in flight) to the same topology;
//! 3. round trip through the consumer runtime with a no-op handler (prefetch W) against a raw
//!    lapin consumer that acks each message.
//!
//! Figures are printed as messages/s and as ratios against the baseline measured in the same
//! run, since absolute numbers on shared machines are noisy. Set `BRIDGE_AMQP_URL` to use
//! another broker.

use bridge_core::{Envelope, Payload, Source};
use bridge_queue::{Broker, ConsumerOptions, ConsumerSpec, DeliveryContext, Handler, HandlerError};
use bridge_queue::{Publisher, Topology};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Args {
    messages: usize,
    window: usize,
}

fn args() -> Args {
    let mut a = Args {
        messages: 20_000,
        window: 256,
    };
    let argv: Vec<String> = std::env::args().collect();
    for (i, arg) in argv.iter().enumerate() {
        let next = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--messages" => a.messages = next().unwrap_or(a.messages),
            "--window" => a.window = next().unwrap_or(a.window),
            _ => {}
        }
    }
    a
}

fn envelope(i: usize) -> Envelope {
    Envelope::new(
        Source::Confluence {
            site: "https://bench.atlassian.net/wiki".into(),
        },
        chrono::Utc::now(),
        Payload::ConfluencePage(bridge_core::envelope::PageEvent {
            content_id: 5_000_000_000 + i as u64,
            content_type: Default::default(),
            action: bridge_core::envelope::PageAction::Updated,
            space_key: Some("BENCH".into()),
            title: Some("Benchmark page".into()),
            version: Some(3),
            actor: Some("557058:bench".into()),
            minor_edit: false,
        }),
    )
}

struct Noop(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl Handler for Noop {
    async fn handle(&self, _: Envelope, _: DeliveryContext) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args();
    let url = std::env::var("BRIDGE_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    let topology = Topology::new(prefix.clone(), vec![Duration::from_secs(5)]);
    let spec = ConsumerSpec::new("sink", ["confluence.page.*"]);
    let broker = Broker::new(&url, "bench");
    let ch = broker.channel().await?;
    topology.declare_consumer(&ch, &spec).await?;
    let queue = topology.work_queue(&spec.name);
    let body = envelope(0).to_json();
    println!(
        "messages: {}, window: {}, body: {} bytes",
        a.messages,
        a.window,
        body.len()
    );

    // 1. Raw lapin, pipelined confirms.
    let raw_ch = broker.channel().await?;
    raw_ch
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let started = Instant::now();
    // The same shape as the runtime below: W publishes in flight at once, each waiting for
    // its own confirm.
    let mut inflight = FuturesUnordered::new();
    for _ in 0..a.messages {
        if inflight.len() >= a.window {
            inflight.next().await.expect("pending")?;
        }
        let (ch, body, exchange) = (raw_ch.clone(), &body, topology.events_exchange());
        inflight.push(async move {
            ch.basic_publish(
                exchange.as_str().into(),
                "confluence.page.updated".into(),
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
    let raw_publish = started.elapsed();

    // 2. The bridge's Publisher, the same number of callers in flight.
    let publisher = Publisher::new(broker.clone(), topology.clone(), Duration::from_secs(30));
    publisher.publish(envelope(0)).await?; // connect and declare outside the timing
    let started = Instant::now();
    let mut inflight = FuturesUnordered::new();
    for i in 0..a.messages {
        if inflight.len() >= a.window {
            inflight.next().await.expect("pending")?;
        }
        let p = publisher.clone();
        inflight.push(async move { p.publish(envelope(i)).await });
    }
    while let Some(r) = inflight.next().await {
        r?;
    }
    let runtime_publish = started.elapsed();

    // The queue now holds 2N + 1 messages. 3a: raw consumer drains N of them.
    let cons_ch = broker.channel().await?;
    cons_ch
        .basic_qos(a.window as u16, BasicQosOptions::default())
        .await?;
    let mut consumer = cons_ch
        .basic_consume(
            queue.as_str().into(),
            "raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let started = Instant::now();
    for _ in 0..a.messages {
        let d = consumer.next().await.expect("delivery")?;
        d.acker.ack(BasicAckOptions::default()).await?;
    }
    let raw_consume = started.elapsed();
    cons_ch.close(200, "OK".into()).await?;

    // 3b: the consumer runtime drains the rest with a no-op handler.
    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let options = ConsumerOptions {
        concurrency: a.window as u16,
        shutdown_grace: Duration::from_secs(10),
        confirm_timeout: Duration::from_secs(10),
    };
    let started = Instant::now();
    let runner = tokio::spawn(bridge_queue::consumer::run(
        broker.clone(),
        topology.clone(),
        spec.clone(),
        Arc::new(Noop(handled.clone())),
        options,
        shutdown.clone(),
    ));
    while handled.load(Ordering::Relaxed) < a.messages {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let runtime_consume = started.elapsed();
    shutdown.cancel();
    runner.await?;

    let rp = rate(a.messages, raw_publish);
    let bp = rate(a.messages, runtime_publish);
    let rc = rate(a.messages, raw_consume);
    let bc = rate(a.messages, runtime_consume);
    println!("raw lapin publish+confirm      {rp:>10.0} msg/s");
    println!(
        "bridge Publisher               {bp:>10.0} msg/s   ratio {:.2}",
        bp / rp
    );
    println!("raw lapin consume+ack          {rc:>10.0} msg/s");
    println!(
        "bridge consumer runtime (no-op){bc:>10.0} msg/s   ratio {:.2}",
        bc / rc
    );

    let ch = broker.channel().await?;
    topology.delete_consumer(&ch, &spec).await?;
    topology.delete_exchanges(&ch).await?;
    broker.close().await;
    Ok(())
}
