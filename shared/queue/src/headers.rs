//! AMQP headers the bridge writes: trace context, attempt count and failure bookkeeping.
//! The dead-letter tooling reads them back, so they are the contract between the runtime and
//! `bridgectl dlq`.

use lapin::types::{AMQPValue, FieldTable, ShortString};

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
/// How many times the message has been tried before this delivery.
pub const ATTEMPT: &str = "x-bridge-attempt";
/// The consumer (worker kind) that failed.
pub const WORKER: &str = "x-bridge-worker";
/// [`bridge_core::ErrorClass`] of the failure that parked the message.
pub const ERROR_CLASS: &str = "x-bridge-error-class";
/// Human-readable reason of the last failure.
pub const REASON: &str = "x-bridge-reason";
pub const FIRST_FAILURE_AT: &str = "x-bridge-first-failure-at";
pub const FIRST_FAILURE_REASON: &str = "x-bridge-first-failure-reason";
pub const LAST_FAILURE_AT: &str = "x-bridge-last-failure-at";
/// The routing key the event was first published with.
pub const ORIGINAL_ROUTING_KEY: &str = "x-bridge-original-routing-key";
/// Tries made in all, on a parked message.
pub const ATTEMPTS: &str = "x-bridge-attempts";
/// How many times ops replayed this message from the dead-letter queue.
pub const REPLAYS: &str = "x-bridge-replays";

/// Reads a header as text, whatever AMQP string or number type carried it.
pub fn get_str(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        other => get_i64_value(other).map(|n| n.to_string()),
    }
}

pub fn get_u32(headers: &FieldTable, name: &str) -> Option<u32> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => s.to_string().parse().ok(),
        other => get_i64_value(other).and_then(|n| u32::try_from(n).ok()),
    }
}

fn get_i64_value(v: &AMQPValue) -> Option<i64> {
    Some(match v {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok()?,
        _ => return None,
    })
}

pub fn set_str(headers: &mut FieldTable, name: &str, value: &str) {
    headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
}

pub fn set_u32(headers: &mut FieldTable, name: &str, value: u32) {
    headers.insert(
        ShortString::from(name),
        AMQPValue::LongLongInt(value.into()),
    );
}

/// Writes the current span's W3C trace context.
pub fn inject_current_trace(headers: &mut FieldTable) {
    for (k, v) in bridge_telemetry::propagation::current_trace_headers() {
        set_str(headers, &k, &v);
    }
}

/// The trace context pairs found in `headers`, for
/// [`bridge_telemetry::propagation::set_parent_from_headers`].
pub fn trace_pairs(headers: &FieldTable) -> Vec<(String, String)> {
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|k| get_str(headers, k).map(|v| (k.to_owned(), v)))
        .collect()
}

/// The reason the broker itself dead-lettered a message (`x-death`), for messages that
/// reached a parking queue without the runtime's headers.
pub fn broker_death_reason(headers: &FieldTable) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let reason = get_str(first, "reason")?;
    let queue = get_str(first, "queue").unwrap_or_default();
    Some(format!("broker dead-lettered from {queue}: {reason}"))
}
