//! A private corner of the real RabbitMQ for one test: its own exchange and queue prefix.

use bridge_core::{Envelope, Payload, Source};
use bridge_queue::{Broker, ConsumerOptions, ConsumerSpec, DeliveryContext, Handler, HandlerError};
use bridge_queue::{Publisher, Topology};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub struct TestBroker {
    pub prefix: String,
    pub topology: Topology,
    pub publisher: Publisher,
    specs: Mutex<Vec<ConsumerSpec>>,
    shutdowns: Mutex<Vec<CancellationToken>>,
}

impl TestBroker {
    /// A fresh prefix with a short retry schedule.
    pub fn new(retry_schedule: &[u64]) -> Self {
        bridge_telemetry::init_for_tests();
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let topology = Topology::new(
            prefix.clone(),
            retry_schedule
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        );
        let broker = Broker::new(AMQP_URL, &format!("{prefix}-publisher"));
        let publisher = Publisher::new(broker, topology.clone(), Duration::from_secs(5));
        Self {
            prefix,
            topology,
            publisher,
            specs: Mutex::new(Vec::new()),
            shutdowns: Mutex::new(Vec::new()),
        }
    }

    /// A consumer spec whose queue is torn down with this broker.
    pub fn spec(&self, name: &str, bindings: &[&str]) -> ConsumerSpec {
        let spec = ConsumerSpec::new(name, bindings.iter().copied());
        self.specs.lock().unwrap().push(spec.clone());
        spec
    }

    /// Declares the consumer's queues now, so messages published before it starts are kept.
    pub async fn declare(&self, spec: &ConsumerSpec) {
        let ch = self.publisher.broker().channel().await.unwrap();
        self.topology.declare_consumer(&ch, spec).await.unwrap();
        ch.close(200, "OK".into()).await.ok();
    }

    /// Starts a consumer runtime on its own connection, named `{prefix}-{name}` so that
    /// [`close_connections_named`] can cut it from the broker side.
    pub fn start(
        &self,
        spec: &ConsumerSpec,
        handler: Arc<dyn Handler>,
        concurrency: u16,
    ) -> (Broker, CancellationToken, tokio::task::JoinHandle<()>) {
        let broker = Broker::new(AMQP_URL, &format!("{}-{}", self.prefix, spec.name));
        let shutdown = CancellationToken::new();
        self.shutdowns.lock().unwrap().push(shutdown.clone());
        let options = ConsumerOptions {
            concurrency,
            shutdown_grace: Duration::from_secs(5),
            confirm_timeout: Duration::from_secs(5),
        };
        let task = tokio::spawn(bridge_queue::consumer::run(
            broker.clone(),
            self.topology.clone(),
            spec.clone(),
            handler,
            options,
            shutdown.clone(),
        ));
        (broker, shutdown, task)
    }

    /// Stops consumers and deletes every queue and exchange of this prefix.
    pub async fn teardown(self) {
        for s in self.shutdowns.lock().unwrap().drain(..) {
            s.cancel();
        }
        let ch = self.publisher.broker().channel().await.unwrap();
        let specs: Vec<_> = self.specs.lock().unwrap().drain(..).collect();
        for spec in specs {
            self.topology.delete_consumer(&ch, &spec).await.ok();
        }
        self.topology.delete_exchanges(&ch).await.ok();
        self.publisher.broker().close().await;
    }
}

pub fn probe(note: &str) -> Envelope {
    Envelope::new(
        Source::Bridge {
            component: "test".into(),
        },
        chrono::Utc::now(),
        Payload::Probe(bridge_core::envelope::Probe { note: note.into() }),
    )
}

type HandlerFn = dyn Fn(
        Envelope,
        DeliveryContext,
        usize,
    ) -> Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>
    + Send
    + Sync;

/// A handler that records every call and answers with a closure of (envelope, context,
/// call number starting at 0).
pub struct Recorder {
    pub calls: Mutex<Vec<(Envelope, DeliveryContext)>>,
    answer: Box<HandlerFn>,
}

impl Recorder {
    pub fn new<F, Fut>(answer: F) -> Arc<Self>
    where
        F: Fn(Envelope, DeliveryContext, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            answer: Box::new(move |e, c, n| Box::pin(answer(e, c, n))),
        })
    }

    pub fn ok() -> Arc<Self> {
        Self::new(|_, _, _| async { Ok(()) })
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn calls(&self) -> Vec<(Envelope, DeliveryContext)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, envelope: Envelope, ctx: DeliveryContext) -> Result<(), HandlerError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((envelope.clone(), ctx.clone()));
            calls.len() - 1
        };
        (self.answer)(envelope, ctx, n).await
    }
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check()
}

/// Closes, from the broker's side, every connection whose name starts with `name_prefix`
/// (what an operator's `rabbitmqctl close_connection` or a broker restart does). Returns how
/// many were closed.
pub async fn close_connections_named(name_prefix: &str) -> usize {
    // Text output keeps the pid in the form `close_connection` takes (JSON does not).
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-s", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut closed = 0;
    for line in text.lines() {
        let Some((pid, props)) = line.split_once('\t') else {
            continue;
        };
        if !props.contains(&format!("\"{name_prefix}")) {
            continue;
        }
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid.trim(), "closed by test"])
            .status()
            .await
            .expect("rabbitmqctl runs");
        if status.success() {
            closed += 1;
        }
    }
    closed
}
