//! The ingress's health, readiness and metrics endpoints, in-process on a port-0 listener,
//! and the standalone mode that runs the ingress and every worker in one process.

use crate::support::amqp::{AMQP_URL, TestBroker, probe};
use crate::support::db::{Kind, TestDb};
use bridge_core::Config;
use bridge_ingress::AppState;
use bridge_queue::{Broker, Publisher, Topology};
use std::sync::Arc;
use std::time::Duration;

async fn start_ingress(
    amqp_url: &str,
    db_url: &str,
) -> (String, tokio_util::sync::CancellationToken) {
    let config = Arc::new(
        Config::from_vars([
            ("BRIDGE_AMQP_URL".to_owned(), amqp_url.to_owned()),
            ("BRIDGE_DATABASE_URL".to_owned(), db_url.to_owned()),
        ])
        .unwrap(),
    );
    let db = bridge_db::connect(db_url).await.unwrap();
    let topology = Topology::new(format!("t{}", uuid::Uuid::new_v4().simple()), vec![]);
    let publisher = Publisher::new(
        Broker::new(amqp_url, "ingress-test"),
        topology,
        Duration::from_secs(2),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let keyring = bridge_core::crypto::Keyring::new([7; 32], vec![]);
    let credentials = bridge_db::CredentialStore::new(db.clone(), Arc::new(keyring));
    let state = AppState {
        config,
        db,
        credentials,
        publisher,
    };
    tokio::spawn(bridge_ingress::serve(listener, state, shutdown.clone()));
    (base, shutdown)
}

#[tokio::test]
async fn healthz_readyz_and_metrics() {
    let db = TestDb::new(Kind::Sqlite).await;
    let (base, shutdown) = start_ingress(AMQP_URL, &db.url).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["broker"]["status"], "ok");

    // Something to count, then the Prometheus text names it.
    let tb = TestBroker::new(&[100]);
    tb.publisher.publish(probe("counted")).await.unwrap();
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("bridge_messages_published_total{target=\"bridge.probe.ping\"}"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    shutdown.cancel();
    tb.teardown().await;
}

#[tokio::test]
async fn readyz_answers_503_and_names_the_broker_when_it_is_unreachable() {
    let db = TestDb::new(Kind::Sqlite).await;
    let (base, shutdown) = start_ingress("amqp://guest:secret-pw@127.0.0.1:1/%2f", &db.url).await;
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["broker"]["status"], "failed");
    assert!(
        !text.contains("secret-pw"),
        "no password in answers: {text}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn standalone_runs_the_ingress_and_every_worker_in_one_process() {
    let tb = TestBroker::new(&[100]);
    let db = TestDb::new(Kind::Sqlite).await;
    // A free port for the standalone ingress.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config::from_vars([
        ("BRIDGE_AMQP_URL".to_owned(), AMQP_URL.to_owned()),
        ("BRIDGE_DATABASE_URL".to_owned(), db.url.clone()),
        ("BRIDGE_QUEUE_PREFIX".to_owned(), tb.prefix.clone()),
        ("BRIDGE_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
        ("BRIDGE_RETRY_SCHEDULE".to_owned(), "100ms".to_owned()),
        (
            "BRIDGE_SECRET_KEY".to_owned(),
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=".to_owned(),
        ),
    ])
    .unwrap();
    for kind in bridge_core::WorkerKind::ALL {
        tb.spec(kind.as_str(), kind.bindings());
    }
    let cli =
        <bridge_cli::Cli as clap::Parser>::try_parse_from(["bridgectl", "standalone"]).unwrap();
    let mut out = Vec::new();
    let mut input = std::io::Cursor::new(Vec::new());
    let task = tokio::spawn(async move {
        let mut io = bridge_cli::Io {
            out: &mut out,
            input: &mut input,
        };
        bridge_cli::execute(cli, config, &mut io).await
    });
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        let answer = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "standalone ingress became ready");
    // It migrated its database and its workers consume: an event reaches the bot worker's
    // queue and is parked there with a reason (no handler in this release).
    let dl = bridge_queue::dead_letters::DeadLetters::new(
        tb.publisher.broker().clone(),
        tb.topology.clone(),
        Duration::from_secs(5),
    );
    let bot = bridge_queue::ConsumerSpec::for_worker(bridge_core::WorkerKind::Bot);
    let event = bridge_core::Envelope::new(
        bridge_core::Source::B24 {
            portal: "m1".into(),
        },
        chrono::Utc::now(),
        bridge_core::Payload::B24Bot(bridge_core::envelope::BotEvent {
            bot_id: 1,
            dialog_id: "chat1".into(),
            message_id: 5,
            from_user_id: 7,
            text: "/wiki hello".into(),
            command: Some("wiki".into()),
        }),
    );
    let mut parked = 0;
    for _ in 0..100 {
        tb.publisher.publish(event.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        parked = dl.peek(&bot, 10).await.unwrap().len();
        if parked > 0 {
            break;
        }
    }
    assert!(parked > 0);
    let status = bridge_db::connect(&db.url)
        .await
        .unwrap()
        .migration_status()
        .await
        .unwrap();
    assert!(status.iter().all(|m| m.applied));
    task.abort();
    tb.teardown().await;
}
