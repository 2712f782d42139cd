//! Trace context survives a hop between tasks as plain string headers, the way it crosses
//! RabbitMQ: the publisher's span and the consumer's span end up in one trace. Needs no
//! broker; the channel stands in for the queue.

use bridge_telemetry::propagation::{
    current_trace_headers, current_trace_id, set_parent_from_headers, trace_id_from_traceparent,
};
use tracing::Instrument as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_survives_a_hop_between_tasks() {
    bridge_telemetry::init_for_tests();
    let (queue_tx, mut queue_rx) = tokio::sync::mpsc::channel::<Vec<(String, String)>>(1);

    let publisher = tokio::spawn(
        async move {
            let headers = current_trace_headers();
            let trace_id = current_trace_id().expect("publisher span has a trace id");
            queue_tx.send(headers).await.expect("consumer alive");
            trace_id
        }
        .instrument(tracing::info_span!("publish")),
    );

    let consumer = tokio::spawn(async move {
        let headers = queue_rx.recv().await.expect("a message");
        let span = tracing::info_span!("consume");
        set_parent_from_headers(&span, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let handled_in = async {
            // A child span of the consumer, as a handler would open.
            async { current_trace_id() }
                .instrument(tracing::info_span!("handle"))
                .await
        }
        .instrument(span)
        .await;
        (headers, handled_in)
    });

    let published_trace = publisher.await.expect("publisher task");
    let (headers, handled_trace) = consumer.await.expect("consumer task");

    let traceparent = headers
        .iter()
        .find(|(name, _)| name == "traceparent")
        .map(|(_, value)| value.as_str())
        .expect("traceparent header");
    assert_eq!(
        trace_id_from_traceparent(traceparent).as_deref(),
        Some(published_trace.as_str())
    );
    assert_eq!(handled_trace, Some(published_trace));
}
