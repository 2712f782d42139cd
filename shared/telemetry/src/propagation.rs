//! W3C trace context in and out of message headers, as plain string pairs.
//!
//! A trace must survive the hop through RabbitMQ: the publisher writes the current span's
//! `traceparent` (and `tracestate`) into the message headers, and the consumer makes the
//! span that handles the message a child of it. This module knows nothing about AMQP; the
//! queue crate converts these pairs to and from AMQP header tables.
//!
//! Everything here uses the global propagator installed by [`crate::init()`] or
//! [`crate::init_for_tests`]; before that, headers come out empty and are ignored.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C header that carries version, trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header that carries vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// The trace headers of the current `tracing` span, ready to attach to an outgoing message.
///
/// Empty when there is no current span, the span is disabled by the log filter, or the
/// OpenTelemetry layer is not installed: then there is simply nothing to continue.
pub fn current_trace_headers() -> Vec<(String, String)> {
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut headers = HeaderVec(Vec::new());
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut headers);
    });
    headers.0
}

/// Makes the trace context found in `headers` the parent of `span`.
///
/// Call it right after creating the span and before entering it (or creating children):
/// an OpenTelemetry span's parent is fixed once the span has started. Header names match
/// case-insensitively. Missing or malformed headers leave `span` as it was, so a message
/// without context just starts a new trace.
pub fn set_parent_from_headers<'a>(
    span: &tracing::Span,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let carrier = HeaderSlice(headers.into_iter().collect());
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    if !parent.span().span_context().is_valid() {
        return;
    }
    // Fails only if the span already started or no OpenTelemetry layer is installed;
    // either way the span keeps its own trace, which is the best we can do.
    let _ = span.set_parent(parent);
}

/// The trace id (32 lowercase hex chars) of the current `tracing` span, for log fields,
/// error reports and dead-letter records. `None` without a valid span context.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace id of a W3C `traceparent` value (`00-<trace id>-<span id>-<flags>`), e.g. to
/// show which trace a dead letter belongs to without restoring the context. `None` when
/// the value is malformed or the id is all zeros.
pub fn trace_id_from_traceparent(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let well_formed = is_lower_hex(version, 2)
        && version != "ff"
        && is_lower_hex(trace_id, 32)
        && is_lower_hex(span_id, 16)
        && is_lower_hex(flags, 2);
    if !well_formed || span_id.bytes().all(|b| b == b'0') {
        return None;
    }
    let id = TraceId::from_hex(trace_id).ok()?;
    (id != TraceId::INVALID).then(|| trace_id.to_owned())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Outgoing carrier: the propagator writes lowercase W3C header names into it.
struct HeaderVec(Vec<(String, String)>);

impl Injector for HeaderVec {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Incoming carrier over borrowed pairs, matching names case-insensitively because some
/// brokers and proxies change header case.
struct HeaderSlice<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for HeaderSlice<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traceparent(headers: &[(String, String)]) -> Option<&str> {
        headers
            .iter()
            .find(|(k, _)| k == TRACEPARENT)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn headers_inside_a_span_carry_a_valid_traceparent() {
        crate::init_for_tests();
        let span = tracing::info_span!("publish");
        let _entered = span.enter();

        let headers = current_trace_headers();
        let value = traceparent(&headers).expect("traceparent header");
        let trace_id = trace_id_from_traceparent(value).expect("valid traceparent");
        assert_eq!(Some(trace_id), current_trace_id());
    }

    #[test]
    fn no_span_means_no_headers() {
        crate::init_for_tests();
        assert!(current_trace_headers().is_empty());
        assert_eq!(current_trace_id(), None);
    }

    #[test]
    fn child_of_restored_span_continues_the_trace() {
        crate::init_for_tests();
        let (headers, publisher_trace) = {
            let span = tracing::info_span!("publish");
            let _entered = span.enter();
            (
                current_trace_headers(),
                current_trace_id().expect("trace id"),
            )
        };

        let consumer = tracing::info_span!("consume");
        set_parent_from_headers(
            &consumer,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let _entered = consumer.enter();
        assert_eq!(
            current_trace_id().as_deref(),
            Some(publisher_trace.as_str())
        );

        let child = tracing::info_span!("handle");
        let _child_entered = child.enter();
        assert_eq!(current_trace_id(), Some(publisher_trace));
    }

    #[test]
    fn header_names_match_case_insensitively() {
        crate::init_for_tests();
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let span = tracing::info_span!("consume");
        set_parent_from_headers(&span, [("TraceParent", traceparent)]);
        let _entered = span.enter();
        assert_eq!(
            current_trace_id().as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn garbage_headers_start_a_new_trace() {
        crate::init_for_tests();
        let span = tracing::info_span!("consume");
        set_parent_from_headers(&span, [(TRACEPARENT, "not-a-traceparent")]);
        let _entered = span.enter();
        assert!(current_trace_id().is_some());
    }

    #[test]
    fn traceparent_parsing() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(good).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad:?}");
        }
    }
}
