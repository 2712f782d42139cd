//! Builds the OpenTelemetry tracer provider, with or without an OTLP exporter.
//!
//! Kept apart from the subscriber set-up so that the "export on / export off" decision and
//! the exporter details live in one place.

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use std::time::Duration;

use crate::TelemetryError;

/// The OTLP/HTTP path for traces. The collector endpoint is configured as a base URL (like
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), but the exporter uses a programmatic endpoint verbatim.
const TRACES_PATH: &str = "/v1/traces";

/// Per-request export timeout: a slow collector must not hold spans (and shutdown) for long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// A tracer provider whose spans carry `service.name = service_name`.
///
/// With `otlp_endpoint`, finished spans are batched and sent over OTLP/HTTP protobuf by a
/// tokio task (hence the runtime requirement). Without it, the provider has no processor at
/// all: spans still get real, sampled trace and span ids, so trace context propagates end to
/// end, but nothing leaves the process. A blank endpoint counts as none, so that an empty
/// `BRIDGE_OTLP_ENDPOINT=` turns export off instead of falling back to the OTLP default.
///
/// The exporter's HTTP client is the async `reqwest` one (workspace feature), which is why
/// the batch processor is the tokio-driven one rather than the SDK's own-thread default.
pub(crate) fn provider(
    service_name: &'static str,
    otlp_endpoint: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(service_name).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(endpoint) = otlp_endpoint.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(builder.build());
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoTokioRuntime);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let processor = BatchSpanProcessor::builder(exporter, Tokio).build();
    Ok(builder.with_span_processor(processor).build())
}

/// `http://collector:4318` → `http://collector:4318/v1/traces`; a URL that already names
/// the traces path is kept as it is.
pub(crate) fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_endpoint_gets_the_traces_path() {
        assert_eq!(
            traces_url("http://collector:4318"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
    }

    #[test]
    fn export_needs_a_runtime() {
        let err = provider("test", Some("http://127.0.0.1:4318")).unwrap_err();
        assert!(matches!(err, TelemetryError::NoTokioRuntime));
    }
}
