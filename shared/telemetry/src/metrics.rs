//! The bridge's Prometheus metrics: one process-global registry, served at `/metrics`.
//!
//! Counters answer "is the pipeline moving and where does it leak" (published vs. acked vs.
//! retried vs. dead-lettered, per worker); the handler histogram answers "how slow". Label
//! values are routing keys, queue names, worker kinds and error classes: small fixed sets,
//! never ids, so the series count stays bounded.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `Content-Type` of [`render`]'s output (OpenMetrics text), for the `/metrics` response.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Handler duration buckets: 1 ms doubling 17 times to ~65 s, which spans a cache hit up to
/// a rate-limited batch of Bitrix24 calls.
const HANDLER_BUCKET_START: f64 = 0.001;
const HANDLER_BUCKET_FACTOR: f64 = 2.0;
const HANDLER_BUCKET_COUNT: u16 = 17;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadLetterLabels {
    worker: String,
    class: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// All bridge metrics and the registry that exposes them. Recording is lock-free after a
/// label set's first use and never fails.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    published: Family<TargetLabels, Counter>,
    publish_failures: Family<TargetLabels, Counter>,
    acked: Family<WorkerLabels, Counter>,
    retried: Family<WorkerLabels, Counter>,
    dead_lettered: Family<DeadLetterLabels, Counter>,
    redelivered: Family<WorkerLabels, Counter>,
    handler_duration: HistogramFamily<WorkerLabels>,
}

/// The process-wide metrics, created on first use. Producers and the `/metrics` handler
/// share it without passing it around.
pub fn global() -> &'static Metrics {
    static GLOBAL: OnceLock<Metrics> = OnceLock::new();
    GLOBAL.get_or_init(Metrics::new)
}

/// The global metrics in the OpenMetrics text format, as `/metrics` serves them.
pub fn render() -> String {
    global().render()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh, separate set of metrics. Processes use [`global`]; this exists so tests can
    /// count without seeing each other's increments.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let published = Family::default();
        let publish_failures = Family::default();
        let acked = Family::default();
        let retried = Family::default();
        let dead_lettered = Family::default();
        let redelivered = Family::default();
        let handler_duration: HistogramFamily<WorkerLabels> = Family::new_with_constructor(|| {
            Histogram::new(exponential_buckets(
                HANDLER_BUCKET_START,
                HANDLER_BUCKET_FACTOR,
                HANDLER_BUCKET_COUNT,
            ))
        });

        // Counter names get their `_total` suffix from the encoder.
        registry.register(
            "bridge_messages_published",
            "Messages confirmed by the broker, by routing key or queue",
            published.clone(),
        );
        registry.register(
            "bridge_publish_failures",
            "Publishes the broker did not confirm (nacked, returned, or connection lost)",
            publish_failures.clone(),
        );
        registry.register(
            "bridge_messages_acked",
            "Messages a worker finished and acknowledged",
            acked.clone(),
        );
        registry.register(
            "bridge_messages_retried",
            "Messages a worker sent to delayed retry after a retryable failure",
            retried.clone(),
        );
        registry.register(
            "bridge_messages_dead_lettered",
            "Messages a worker parked in its dead-letter queue, by error class",
            dead_lettered.clone(),
        );
        registry.register(
            "bridge_messages_redelivered",
            "Messages received with the broker's redelivered flag (a consumer died before acking)",
            redelivered.clone(),
        );
        registry.register(
            "bridge_handler_duration_seconds",
            "Time a worker spent handling one message, whatever the outcome",
            handler_duration.clone(),
        );

        Self {
            registry,
            published,
            publish_failures,
            acked,
            retried,
            dead_lettered,
            redelivered,
            handler_duration,
        }
    }

    /// A publish to `target` (routing key or queue) was confirmed by the broker.
    pub fn published(&self, target: &str) {
        self.published.get_or_create(&target_labels(target)).inc();
    }

    /// A publish to `target` failed (nack, return, or no confirm).
    pub fn publish_failed(&self, target: &str) {
        self.publish_failures
            .get_or_create(&target_labels(target))
            .inc();
    }

    /// `worker` acked a message after its effect was durable.
    pub fn acked(&self, worker: &str) {
        self.acked.get_or_create(&worker_labels(worker)).inc();
    }

    /// `worker` sent a message to delayed retry.
    pub fn retried(&self, worker: &str) {
        self.retried.get_or_create(&worker_labels(worker)).inc();
    }

    /// `worker` dead-lettered a message; `class` is the error class (e.g. `permanent`,
    /// `retries_exhausted`), not the error text, to keep the label set small.
    pub fn dead_lettered(&self, worker: &str, class: &str) {
        let labels = DeadLetterLabels {
            worker: worker.to_owned(),
            class: class.to_owned(),
        };
        self.dead_lettered.get_or_create(&labels).inc();
    }

    /// `worker` received a message the broker marked as redelivered.
    pub fn redelivered(&self, worker: &str) {
        self.redelivered.get_or_create(&worker_labels(worker)).inc();
    }

    /// `worker` spent `seconds` handling one message.
    pub fn observe_handler(&self, worker: &str, seconds: f64) {
        self.handler_duration
            .get_or_create(&worker_labels(worker))
            .observe(seconds);
    }

    /// These metrics in the OpenMetrics text format (ends with `# EOF`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would only mean a bug in a
        // metric, and a partial page beats a panicking `/metrics`.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn target_labels(target: &str) -> TargetLabels {
    TargetLabels {
        target: target.to_owned(),
    }
}

fn worker_labels(worker: &str) -> WorkerLabels {
    WorkerLabels {
        worker: worker.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_every_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.published("event.confluence.page_updated");
        metrics.published("event.confluence.page_updated");
        metrics.publish_failed("event.b24.task_updated");
        metrics.acked("link-sync");
        metrics.retried("notify");
        metrics.dead_lettered("mirror", "permanent");
        metrics.redelivered("fanout");
        metrics.observe_handler("link-sync", 0.0042);

        let text = metrics.render();
        for line in [
            r#"bridge_messages_published_total{target="event.confluence.page_updated"} 2"#,
            r#"bridge_publish_failures_total{target="event.b24.task_updated"} 1"#,
            r#"bridge_messages_acked_total{worker="link-sync"} 1"#,
            r#"bridge_messages_retried_total{worker="notify"} 1"#,
            r#"bridge_messages_dead_lettered_total{worker="mirror",class="permanent"} 1"#,
            r#"bridge_messages_redelivered_total{worker="fanout"} 1"#,
            r#"bridge_handler_duration_seconds_count{worker="link-sync"} 1"#,
            r#"bridge_handler_duration_seconds_bucket{le="0.001",worker="link-sync"} 0"#,
            r#"bridge_handler_duration_seconds_bucket{le="0.008",worker="link-sync"} 1"#,
            "# TYPE bridge_handler_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn global_is_shared() {
        global().acked("global-test-worker");
        assert!(render().contains(r#"bridge_messages_acked_total{worker="global-test-worker"} 1"#));
        assert!(std::ptr::eq(global(), global()));
    }
}
