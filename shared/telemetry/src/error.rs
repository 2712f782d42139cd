//! The one error type of this crate: set-up can fail, recording never does.

/// Why telemetry could not be set up. Only [`init`](crate::init()) returns it: recording
/// spans, propagating context and counting metrics never fail, so that observability can
/// never take a request down.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is set but is not a valid filter; refusing beats silently logging nothing.
    #[error("RUST_LOG is not a valid log filter: {0}")]
    InvalidLogFilter(#[from] tracing_subscriber::filter::FromEnvError),

    /// The OTLP span exporter could not be built (bad endpoint, HTTP client set-up).
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),

    /// The batch exporter runs as a tokio task, so `init` with an OTLP endpoint must be
    /// called from inside a tokio runtime.
    #[error("OTLP export needs a tokio runtime: call init() from inside the runtime")]
    NoTokioRuntime,

    /// A global subscriber was already installed (`init` called twice, or by someone else).
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInitialized(#[from] tracing_subscriber::util::TryInitError),
}
