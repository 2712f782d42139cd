//! `bridgectl` run in-process against the real broker and a private database: dead letters
//! parked by the real worker runner, listed, shown, replayed and purged; migrations; health.

use crate::support::amqp::{AMQP_URL, TestBroker};
use crate::support::db::{Kind, TestDb};
use bridge_cli::{Cli, Io};
use bridge_core::envelope::{PageAction, PageEvent};
use bridge_core::{Config, Envelope, Payload, Source, WorkerKind};
use clap::Parser;
use std::sync::Arc;
use std::time::Duration;

fn config(prefix: &str, db_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("BRIDGE_QUEUE_PREFIX".to_owned(), prefix.to_owned()),
        ("BRIDGE_DATABASE_URL".to_owned(), db_url.to_owned()),
        ("BRIDGE_AMQP_URL".to_owned(), AMQP_URL.to_owned()),
        ("BRIDGE_RETRY_SCHEDULE".to_owned(), "100ms".to_owned()),
        (
            "BRIDGE_SECRET_KEY".to_owned(),
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=".to_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(vars).unwrap()
}

/// Runs `bridgectl ARGS` with `input` on stdin; returns (exit code, stdout).
pub(crate) async fn bridgectl(config: &Config, args: &[&str], input: &str) -> (i32, String) {
    let cli =
        Cli::try_parse_from(std::iter::once("bridgectl").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    let mut inp = std::io::Cursor::new(input.as_bytes().to_vec());
    let mut io = Io {
        out: &mut out,
        input: &mut inp,
    };
    let code = match bridge_cli::execute(cli, config.clone(), &mut io).await {
        Ok(code) => code,
        Err(e) => {
            out.extend_from_slice(format!("error: {e:#}").as_bytes());
            -1
        }
    };
    (code, String::from_utf8(out).unwrap())
}

fn page_updated() -> Envelope {
    Envelope::new(
        Source::Confluence {
            site: "https://example.atlassian.net/wiki".into(),
        },
        chrono::Utc::now(),
        Payload::ConfluencePage(PageEvent {
            content_id: 123,
            content_type: Default::default(),
            action: PageAction::Updated,
            space_key: None,
            title: None,
            version: Some(2),
            actor: None,
            minor_edit: false,
        }),
    )
}

#[tokio::test]
async fn dead_letters_are_listed_shown_replayed_and_purged() {
    let tb = TestBroker::new(&[100]);
    let db = TestDb::new(Kind::Sqlite).await;
    let cfg = config(&tb.prefix, &db.url, &[]);
    let (code, _) = bridgectl(&cfg, &["migrate", "up"], "").await;
    assert_eq!(code, 0);
    for kind in WorkerKind::ALL {
        let spec = tb.spec(kind.as_str(), kind.bindings());
        // Declared up front, so the one event published below waits for the worker.
        tb.declare(&spec).await;
    }

    // The real worker runner: no kind handles page updates in this release, so the event is
    // parked (not dropped) by every kind bound to it.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let broker = bridge_queue::Broker::new(AMQP_URL, &format!("{}-workers", tb.prefix));
    let ctx =
        bridge_workers::WorkerContext::new(Arc::new(cfg.clone()), db.migrated().await, &broker)
            .unwrap();
    let workers = tokio::spawn(bridge_workers::run(
        ctx,
        broker.clone(),
        &[WorkerKind::Notify],
        shutdown.clone(),
    ));
    let event = page_updated();
    let id = event.id.to_string();
    tb.publisher.publish(event.clone()).await.unwrap();
    let mut parked_json = String::new();
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (code, out) =
            bridgectl(&cfg, &["dlq", "list", "--worker", "notify", "--json"], "").await;
        assert_eq!(code, 0, "{out}");
        parked_json = out;
        if !parked_json.contains("\"count\":0") {
            break;
        }
    }
    let list: serde_json::Value = serde_json::from_str(&parked_json).unwrap();
    assert_eq!(list[0]["consumer"], "notify");
    assert_eq!(list[0]["count"], 1, "{list}");
    assert_eq!(list[0]["by_reason"][0]["error_class"], "permanent");
    assert!(
        list[0]["by_reason"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no handler")
    );

    let (code, human) = bridgectl(&cfg, &["dlq", "list", "--worker", "notify"], "").await;
    assert_eq!(code, 0);
    assert!(
        human.contains("notify") && human.contains("1 parked"),
        "{human}"
    );

    let (code, shown) = bridgectl(&cfg, &["dlq", "show", &id, "--worker", "notify"], "").await;
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains(&format!("message id:     {id}")), "{shown}");
    assert!(
        shown.contains("routing key:    confluence.page.updated"),
        "{shown}"
    );
    assert!(shown.contains("\"content_id\": 123"), "{shown}");
    let (code, _) = bridgectl(
        &cfg,
        &["dlq", "show", "no-such-id", "--worker", "notify"],
        "",
    )
    .await;
    assert_ne!(code, 0);

    // A replay needs a selector; then it moves the message back (where it is parked again,
    // since this release still has no handler) and counts the replay.
    let (code, out) = bridgectl(&cfg, &["dlq", "replay"], "").await;
    assert_ne!(code, 0, "{out}");
    let (code, out) = bridgectl(
        &cfg,
        &["dlq", "replay", "--id", &id, "--worker", "notify", "--json"],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["replayed"],
        1
    );
    let mut replays = 0;
    for _ in 0..100 {
        let (_, out) = bridgectl(
            &cfg,
            &["dlq", "show", &id, "--worker", "notify", "--json"],
            "",
        )
        .await;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) {
            replays = v["replays"].as_u64().unwrap_or(0);
            if replays == 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(replays, 1);

    // Purge asks first.
    let (code, out) = bridgectl(&cfg, &["dlq", "purge", "--worker", "notify"], "no\n").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing purged"));
    let (code, out) = bridgectl(&cfg, &["dlq", "purge", "--worker", "notify"], "yes\n").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("purged 1 message(s)"), "{out}");
    let (_, out) = bridgectl(&cfg, &["dlq", "list", "--worker", "notify", "--json"], "").await;
    assert!(out.contains("\"count\":0"), "{out}");

    shutdown.cancel();
    workers.await.unwrap();
    broker.close().await;
    tb.teardown().await;
}

#[tokio::test]
async fn migrate_and_health_commands() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let db = TestDb::new(kind).await;
        let cfg = config("unused", &db.url, &[]);
        let (code, out) = bridgectl(&cfg, &["migrate", "status", "--json"], "").await;
        assert_eq!(code, 0, "{out}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(
            status
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["applied"] == false)
        );
        let (code, out) = bridgectl(&cfg, &["migrate", "up"], "").await;
        assert_eq!(code, 0, "{out}");
        assert!(out.lines().all(|l| l.starts_with("applied")), "{out}");
        let (code, out) = bridgectl(&cfg, &["migrate", "down", "--all"], "").await;
        assert_eq!(code, 0, "{out}");
        assert!(out.lines().all(|l| l.starts_with("pending")), "{out}");

        let (code, out) = bridgectl(&cfg, &["health", "--json"], "").await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["ready"],
            true
        );
    }
    let db = TestDb::new(Kind::Sqlite).await;
    let broken = config(
        "unused",
        &db.url,
        &[("BRIDGE_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
    );
    let (code, out) = bridgectl(&broken, &["health"], "").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broker") && out.contains("FAILED"), "{out}");
    assert!(out.contains("database   ok"), "{out}");
}
