//! The consumer runtime against the real RabbitMQ: confirms, acks, retries, dead letters,
//! replay, crashes and broker-side disconnects.

use crate::support::amqp::{Recorder, TestBroker, close_connections_named, eventually, probe};
use bridge_core::envelope::{ContentType, PageAction, PageEvent};
use bridge_core::{Envelope, Payload, Source, TraceContext};
use bridge_queue::HandlerError;
use bridge_queue::dead_letters::{DeadLetters, ReplayFilter};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn dead_letters(tb: &TestBroker) -> DeadLetters {
    DeadLetters::new(
        tb.publisher.broker().clone(),
        tb.topology.clone(),
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn every_envelope_field_survives_the_round_trip() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("roundtrip", &["confluence.page.*"]);
    tb.declare(&spec).await;
    let mut sent = Envelope::new(
        Source::Confluence {
            site: "https://example.atlassian.net/wiki".into(),
        },
        chrono::Utc::now(),
        Payload::ConfluencePage(PageEvent {
            content_id: 9_007_199_254_740_993,
            content_type: ContentType::Page,
            action: PageAction::Updated,
            space_key: Some("DOC".into()),
            title: Some("Привет \"world\" <&>".into()),
            version: Some(42),
            actor: Some("557058:f00".into()),
            minor_edit: true,
        }),
    );
    sent.trace = Some(TraceContext {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        tracestate: Some("vendor=1".into()),
    });
    tb.publisher.publish(sent.clone()).await.expect("confirmed");
    let rec = Recorder::ok();
    tb.start(&spec, rec.clone(), 4);
    assert!(eventually(WAIT, || rec.count() == 1).await);
    let (got, ctx) = rec.calls().remove(0);
    assert_eq!(got, sent);
    assert_eq!(ctx.attempt, 0);
    assert!(!ctx.redelivered);
    // Acked: nothing comes back, nothing is parked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.count(), 1);
    assert!(dead_letters(&tb).peek(&spec, 10).await.unwrap().is_empty());
    tb.teardown().await;
}

#[tokio::test]
async fn retryable_failures_are_retried_on_schedule_with_attempt_counts() {
    let tb = TestBroker::new(&[200, 400, 400, 400]);
    let spec = tb.spec("retry", &["bridge.probe.*"]);
    let rec = Recorder::new(|_, ctx, _| async move {
        if ctx.attempt < 3 {
            Err(HandlerError::retryable(format!("flaky #{}", ctx.attempt)))
        } else {
            Ok(())
        }
    });
    tb.start(&spec, rec.clone(), 2);
    tb.declare(&spec).await;
    let started = Instant::now();
    tb.publisher.publish(probe("retry me")).await.unwrap();
    assert!(
        eventually(WAIT, || rec.count() == 4).await,
        "calls: {}",
        rec.count()
    );
    let elapsed = started.elapsed();
    let attempts: Vec<u32> = rec
        .calls()
        .iter()
        .map(|(e, c)| {
            assert_eq!(e.attempt, c.attempt);
            c.attempt
        })
        .collect();
    assert_eq!(attempts, vec![0, 1, 2, 3]);
    // Three waits of the schedule (200 + 400 + 400 ms) lie between the first and last call.
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rec.count(), 4, "succeeded once, so no more deliveries");
    assert!(dead_letters(&tb).peek(&spec, 10).await.unwrap().is_empty());
    tb.teardown().await;
}

#[tokio::test]
async fn exhausted_permanent_and_undecodable_messages_are_parked_with_reasons() {
    let tb = TestBroker::new(&[100, 100]);
    let spec = tb.spec("park", &["bridge.probe.*", "junk.#"]);
    let rec = Recorder::new(|e, _, _| async move {
        match &e.payload {
            Payload::Probe(p) if p.note == "always-flaky" => {
                Err(HandlerError::retryable("upstream 503"))
            }
            Payload::Probe(p) if p.note == "bad" => {
                Err(HandlerError::permanent("task 7 does not exist"))
            }
            _ => Ok(()),
        }
    });
    tb.start(&spec, rec.clone(), 4);
    tb.declare(&spec).await;
    let flaky = probe("always-flaky");
    let bad = probe("bad");
    tb.publisher.publish(flaky.clone()).await.unwrap();
    tb.publisher.publish(bad.clone()).await.unwrap();
    tb.publisher
        .publish_bytes("junk.body", b"{not json")
        .await
        .unwrap();

    let dl = dead_letters(&tb);
    let mut parked = Vec::new();
    for _ in 0..100 {
        parked = dl.peek(&spec, 10).await.unwrap();
        if parked.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(parked.len(), 3, "{parked:#?}");
    let find = |class: &str| {
        parked
            .iter()
            .find(|m| m.error_class == class)
            .unwrap()
            .clone()
    };

    let exhausted = find("exhausted");
    assert_eq!(
        exhausted.message_id.as_deref(),
        Some(flaky.id.to_string().as_str())
    );
    assert_eq!(exhausted.attempts, Some(3), "first try and two retries");
    assert!(
        exhausted.reason.contains("upstream 503"),
        "{}",
        exhausted.reason
    );
    assert_eq!(
        exhausted.first_failure_reason.as_deref(),
        Some("upstream 503")
    );
    assert!(exhausted.first_failure_at.is_some() && exhausted.last_failure_at.is_some());
    assert_eq!(exhausted.routing_key.as_deref(), Some("bridge.probe.ping"));

    let permanent = find("permanent");
    assert_eq!(
        permanent.attempts,
        Some(1),
        "no retry loop for a permanent error"
    );
    assert_eq!(permanent.reason, "task 7 does not exist");

    let undecodable = find("undecodable");
    assert!(undecodable.reason.contains("not an event envelope"));
    assert_eq!(undecodable.body, "{not json");

    let calls_of = |note: &str| {
        rec.calls()
            .iter()
            .filter(|(e, _)| matches!(&e.payload, Payload::Probe(p) if p.note == note))
            .count()
    };
    assert_eq!(calls_of("always-flaky"), 3);
    assert_eq!(calls_of("bad"), 1);

    let summary = dl.summary(&spec).await.unwrap();
    assert_eq!(summary.count, 3);
    assert_eq!(summary.by_reason.len(), 3);
    // Reading did not consume: still three.
    assert_eq!(dl.peek(&spec, 10).await.unwrap().len(), 3);
    tb.teardown().await;
}

#[tokio::test]
async fn replay_moves_a_message_back_once_and_a_second_replay_changes_nothing() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("replay", &["bridge.probe.*"]);
    // Fails permanently until "fixed", then succeeds.
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = fixed.clone();
    let rec = Recorder::new(move |_, _, _| {
        let ok = f.load(std::sync::atomic::Ordering::SeqCst);
        async move {
            if ok {
                Ok(())
            } else {
                Err(HandlerError::permanent("portal not installed"))
            }
        }
    });
    tb.start(&spec, rec.clone(), 2);
    tb.declare(&spec).await;
    let e = probe("replay me");
    let other = probe("stays parked");
    tb.publisher.publish(e.clone()).await.unwrap();
    tb.publisher.publish(other.clone()).await.unwrap();
    let dl = dead_letters(&tb);
    assert!(eventually(WAIT, || rec.count() == 2).await);
    let mut parked = 0;
    for _ in 0..100 {
        parked = dl.peek(&spec, 10).await.unwrap().len();
        if parked == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(parked, 2);

    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    let by_id = ReplayFilter {
        message_id: Some(e.id.to_string()),
        ..Default::default()
    };
    assert_eq!(dl.replay(&spec, &by_id).await.unwrap(), 1);
    assert!(eventually(WAIT, || rec.count() == 3).await);
    let (replayed, ctx) = rec.calls().pop().unwrap();
    assert_eq!(replayed.id, e.id, "a replay keeps the message id");
    assert_eq!(ctx.attempt, 0, "a replay starts a fresh retry budget");

    assert_eq!(
        dl.replay(&spec, &by_id).await.unwrap(),
        0,
        "already replayed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rec.count(), 3, "handled once");
    let left = dl.peek(&spec, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].message_id.as_deref(),
        Some(other.id.to_string().as_str())
    );

    // Replay by class takes the rest; purge empties.
    let by_class = ReplayFilter {
        error_class: Some(bridge_core::ErrorClass::Permanent),
        ..Default::default()
    };
    assert_eq!(dl.replay(&spec, &by_class).await.unwrap(), 1);
    assert!(eventually(WAIT, || rec.count() == 4).await);
    assert_eq!(dl.purge(&spec).await.unwrap(), 0);
    tb.teardown().await;
}

#[tokio::test]
async fn a_consumer_that_dies_mid_handling_loses_nothing() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("crash", &["bridge.probe.*"]);
    // The first delivery hangs (the process "dies" while handling it); later ones succeed.
    let rec = Recorder::new(|_, _, n| async move {
        if n == 0 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(())
    });
    let (broker, _shutdown, task) = tb.start(&spec, rec.clone(), 1);
    tb.declare(&spec).await;
    let e = probe("survive a crash");
    tb.publisher.publish(e.clone()).await.unwrap();
    assert!(eventually(WAIT, || rec.count() == 1).await);
    // Kill the consumer: its connection goes away without an ack.
    task.abort();
    broker.close().await;

    let rec2 = Recorder::ok();
    tb.start(&spec, rec2.clone(), 1);
    assert!(
        eventually(WAIT, || rec2.count() == 1).await,
        "redelivered to the next consumer"
    );
    let (again, ctx) = rec2.calls().remove(0);
    assert_eq!(again.id, e.id);
    assert!(ctx.redelivered);
    tb.teardown().await;
}

#[tokio::test]
async fn publisher_and_consumer_reconnect_after_the_broker_drops_them() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("reconnect", &["bridge.probe.*"]);
    let rec = Recorder::ok();
    tb.start(&spec, rec.clone(), 2);
    tb.declare(&spec).await;
    tb.publisher.publish(probe("before")).await.unwrap();
    assert!(eventually(WAIT, || rec.count() == 1).await);

    let closed = close_connections_named(&tb.prefix).await;
    assert!(closed >= 2, "closed {closed} connections");

    // The publisher notices on its next publish and reconnects; the consumer reconnects with
    // backoff. Every confirmed message arrives.
    let mut confirmed = 0;
    for i in 0..20 {
        if tb
            .publisher
            .publish(probe(&format!("after {i}")))
            .await
            .is_ok()
        {
            confirmed += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        confirmed >= 19,
        "only {confirmed} confirmed after reconnect"
    );
    assert!(
        // `>=`: a publish retried after the reconnect may arrive twice (at least once).
        eventually(WAIT, || rec.count() > confirmed).await,
        "{} of {} arrived",
        rec.count(),
        1 + confirmed
    );
    tb.teardown().await;
}

#[tokio::test]
async fn the_handler_sees_the_publishers_trace_id() {
    use tracing::Instrument;
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("trace", &["bridge.probe.*"]);
    let rec = Recorder::ok();
    tb.start(&spec, rec.clone(), 1);
    tb.declare(&spec).await;
    let span = tracing::info_span!("ingress request");
    let publisher_trace = async {
        tb.publisher.publish(probe("traced")).await.unwrap();
        bridge_telemetry::propagation::current_trace_id()
    }
    .instrument(span)
    .await
    .expect("tests install a tracer, so spans have trace ids");
    assert!(eventually(WAIT, || rec.count() == 1).await);
    let (env, ctx) = rec.calls().remove(0);
    assert_eq!(ctx.trace_id.as_deref(), Some(publisher_trace.as_str()));
    let in_envelope = env
        .trace
        .expect("the envelope carries the trace context too");
    assert!(in_envelope.traceparent.contains(&publisher_trace));
    tb.teardown().await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_before_stopping() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("shutdown", &["bridge.probe.*"]);
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = finished.clone();
    let rec = Recorder::new(move |_, _, _| {
        let f = f.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    });
    let (_broker, shutdown, task) = tb.start(&spec, rec.clone(), 2);
    tb.declare(&spec).await;
    tb.publisher.publish(probe("slow")).await.unwrap();
    assert!(eventually(WAIT, || rec.count() == 1).await);
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(
        finished.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the runtime returned only after the handler finished"
    );
    // It was acked, so a new consumer gets nothing.
    let rec2 = Recorder::ok();
    tb.start(&spec, rec2.clone(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rec2.count(), 0);
    assert!(dead_letters(&tb).peek(&spec, 10).await.unwrap().is_empty());
    tb.teardown().await;
}

#[tokio::test]
async fn a_kind_handles_an_event_once_however_often_it_is_delivered() {
    use crate::support::db::{Kind, TestDb};
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("dedupe", &["bridge.probe.*"]);
    let db = TestDb::new(Kind::Sqlite).await;
    let rec = Recorder::ok();
    let handler =
        bridge_workers::dedupe::Deduplicated::wrap("dedupe", db.migrated().await, rec.clone());
    tb.start(&spec, handler, 1);
    tb.declare(&spec).await;
    let e = probe("twice");
    // A duplicate delivery and a replay of a message that was already handled both carry
    // the same envelope id.
    tb.publisher.publish(e.clone()).await.unwrap();
    assert!(eventually(WAIT, || rec.count() == 1).await);
    tb.publisher.publish(e.clone()).await.unwrap();
    tb.publisher.publish(e.clone()).await.unwrap();
    let other = probe("another");
    tb.publisher.publish(other.clone()).await.unwrap();
    assert!(eventually(WAIT, || rec.count() == 2).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<_> = rec.calls().iter().map(|(e, _)| e.id).collect();
    assert_eq!(ids, vec![e.id, other.id], "each envelope handled once");
    tb.teardown().await;
}
