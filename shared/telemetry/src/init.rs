//! Installs the process-global `tracing` subscriber and the OpenTelemetry globals.
//!
//! Every bridge binary calls [`init`] once at start-up and keeps the [`TelemetryGuard`]
//! alive until exit; tests call [`init_for_tests`] as often as they like.

use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, fmt};

use crate::{TelemetryError, tracer};

/// How long dropping the guard waits for the last spans to be exported. Bounded so that a
/// dead collector can delay shutdown but never hang it.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// What a process needs to say about itself to set telemetry up.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name` of every exported span, e.g. `bridge-ingress` or `bridge-worker`.
    pub service_name: &'static str,
    /// OTLP/HTTP collector, as a base URL (`http://collector:4318`) or the full traces URL
    /// (`…/v1/traces`). `None` (or blank) keeps trace ids and propagation but exports nothing.
    pub otlp_endpoint: Option<String>,
    /// JSON log lines (for log shippers) instead of human-readable text.
    pub json_logs: bool,
}

/// Keeps span export alive; dropping it flushes the spans still buffered and shuts the
/// tracer provider down, so that the last events before exit are not lost.
#[must_use = "dropping the guard shuts span export down at once"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        // The SDK's shutdown blocks until the exporting tokio task answers. Blocking the
        // thread that drops the guard could starve that very task (single-threaded runtime,
        // or the last free worker), so the wait happens on a helper thread, bounded in time.
        let (done_tx, done_rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("telemetry-shutdown".into())
            .spawn(move || {
                let _ = done_tx.send(provider.shutdown());
            });
        if spawned.is_err() || on_current_thread_runtime() {
            // On a current-thread runtime the export task cannot run while this thread
            // waits, so waiting would only add the full timeout to every shutdown.
            return;
        }
        match done_rx.recv_timeout(SHUTDOWN_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("telemetry: tracer provider shutdown failed: {error}"),
            Err(_) => eprintln!(
                "telemetry: span export did not finish within {SHUTDOWN_WAIT:?}; spans may be lost"
            ),
        }
    }
}

fn on_current_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), a text or JSON log
/// layer on stdout, and an OpenTelemetry layer so that every span gets a trace context.
/// Also installs the W3C `traceparent` propagator and the tracer provider as OpenTelemetry
/// globals, which [`crate::propagation`] relies on.
///
/// With an OTLP endpoint this must run inside a tokio runtime (the batch exporter is a
/// tokio task). Call it once per process; a second call fails with
/// [`TelemetryError::AlreadyInitialized`].
pub fn init(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()?;
    let provider = tracer::provider(config.service_name, config.otlp_endpoint.as_deref())?;
    // Created before installing, so that a failed install still shuts the exporter down.
    let guard = TelemetryGuard {
        provider: Some(provider.clone()),
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(config.service_name));
    let json = config.json_logs;
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(json.then(|| fmt::layer().json()))
        .with((!json).then(fmt::layer))
        .try_init()?;
    install_otel_globals(provider);
    Ok(guard)
}

/// [`init`] for tests: no exporter, logs through the test harness's capture, and safe to
/// call from every test. The first call installs; later calls do nothing. If some other
/// subscriber was installed first, this keeps it and does not panic (but spans then carry
/// no OpenTelemetry context, so propagation tests would see empty headers).
pub fn init_for_tests() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Without an endpoint building the provider cannot fail; stay panic-free anyway.
        let Ok(provider) = tracer::provider("bridge-tests", None) else {
            return;
        };
        let filter = EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .from_env_lossy();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bridge-tests"));
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(otel)
            .with(fmt::layer().with_test_writer())
            .try_init();
        install_otel_globals(provider);
    });
}

/// The W3C propagator and the provider as OpenTelemetry globals: propagation uses the
/// former, and code that asks `opentelemetry::global` for a tracer gets the latter.
fn install_otel_globals(provider: SdkTracerProvider) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guard_flushes_and_shuts_down_without_hanging() {
        // Nothing listens on port 9: the export fails fast, shutdown must still return.
        let provider = tracer::provider("bridge-telemetry-test", Some("http://127.0.0.1:9"))
            .expect("provider with exporter");
        let tracer = provider.tracer("test");
        opentelemetry::trace::Tracer::in_span(&tracer, "exported", |_| {});
        let started = Instant::now();
        drop(TelemetryGuard {
            provider: Some(provider.clone()),
        });
        assert!(started.elapsed() < SHUTDOWN_WAIT);
        assert!(
            provider.shutdown().is_err(),
            "already shut down by the guard"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_reach_the_collector_as_otlp_protobuf_on_shutdown() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let collector = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            String::from_utf8_lossy(&request).to_lowercase()
        });

        let provider =
            tracer::provider("bridge-telemetry-test", Some(&endpoint)).expect("provider");
        let tracer = provider.tracer("test");
        opentelemetry::trace::Tracer::in_span(&tracer, "exported", |_| {});
        drop(TelemetryGuard {
            provider: Some(provider),
        });

        let head = collector.join().expect("collector thread");
        assert!(head.starts_with("post /v1/traces "), "{head}");
        assert!(
            head.contains("content-type: application/x-protobuf"),
            "{head}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn guard_does_not_block_a_current_thread_runtime() {
        let provider = tracer::provider("bridge-telemetry-test", Some("http://127.0.0.1:9"))
            .expect("provider with exporter");
        let started = Instant::now();
        drop(TelemetryGuard {
            provider: Some(provider),
        });
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn init_for_tests_is_idempotent() {
        init_for_tests();
        init_for_tests();
        let span = tracing::info_span!("after double init");
        let _entered = span.enter();
        assert!(crate::propagation::current_trace_id().is_some());
    }
}
