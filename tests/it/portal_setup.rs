//! B24 app install end to end: the fake portal installs the app with its install URL at the
//! real ingress, the ingress stores the portal and publishes `b24.app.installed`, the real
//! worker runner's portal-setup job binds events, creates the user field, the placement and
//! the bot — and a second run changes nothing. Then a task created in the portal reaches the
//! queue online (through the ingress) and through the offline drain.

use crate::support::amqp::{AMQP_URL, Recorder, TestBroker, eventually};
use crate::support::db::{Kind, TestDb};
use crate::support::ingress;
use bridge_clients::b24::{B24Clients, B24Settings};
use bridge_core::envelope::TaskAction;
use bridge_core::{Config, Payload, Source, WorkerKind};
use bridge_db::PortalStore;
use bridge_sandbox::b24::{AppSpec, FakeB24};
use bridge_workers::jobs::portal_setup::{
    BOT_CODE, PLACEMENT, PortalSetup, TASK_EVENTS, USER_FIELD,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The ingress's fixed test key ([9; 32]), so worker and ingress open the same credentials.
const KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const CLIENT_ID: &str = "local.bridge.test";
const CLIENT_SECRET: &str = "app-secret-for-tests";

fn portal_state(fake: &FakeB24) -> (Value, Value, Value, Value, Value) {
    let s = fake.portal().snapshot();
    let b = serde_json::to_value(
        fake.portal()
            .bindings()
            .iter()
            .map(|b| (b.event.clone(), b.handler.clone(), b.offline))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    (
        b,
        serde_json::to_value(
            fake.portal()
                .userfields()
                .iter()
                .map(|f| f.field_name.clone())
                .collect::<Vec<_>>(),
        )
        .unwrap(),
        serde_json::to_value(
            fake.portal()
                .placements()
                .iter()
                .map(|p| (p.placement.clone(), p.handler.clone()))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
        s["bots"].clone(),
        s["commands"].clone(),
    )
}

#[tokio::test]
async fn portal_setup_after_install_is_complete_and_idempotent() {
    let tb = TestBroker::new(&[200]);
    let db = TestDb::new(Kind::Postgres).await;
    let fake = FakeB24::start().await.unwrap();
    let setup_spec = tb.spec(
        WorkerKind::PortalSetup.as_str(),
        WorkerKind::PortalSetup.bindings(),
    );
    tb.declare(&setup_spec).await;
    let observed = Recorder::ok();
    let observer = tb.spec("observer", &["b24.task.#"]);
    tb.declare(&observer).await;
    tb.start(&observer, observed.clone(), 4);

    let vars = [
        ("BRIDGE_DATABASE_URL", db.url.as_str()),
        ("BRIDGE_AMQP_URL", AMQP_URL),
        ("BRIDGE_QUEUE_PREFIX", tb.prefix.as_str()),
        ("BRIDGE_B24_CLIENT_ID", CLIENT_ID),
        ("BRIDGE_B24_CLIENT_SECRET", CLIENT_SECRET),
        ("BRIDGE_B24_OAUTH_URL", fake.base_url()),
    ];
    let ing = ingress::start(&vars).await;

    // The admin installs the app: ONAPPINSTALL goes to the ingress.
    let install = fake
        .portal()
        .install_app(AppSpec {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(CLIENT_SECRET.into()),
            install_url: Some(format!("{}/b24/events", ing.base_url)),
            ..Default::default()
        })
        .unwrap();
    fake.settle().await;

    // The real worker runner, configured like the ingress.
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("BRIDGE_PUBLIC_URL".into(), ing.base_url.clone()));
    all.push(("BRIDGE_SECRET_KEY".into(), KEY_B64.into()));
    all.push(("BRIDGE_RETRY_SCHEDULE".into(), "200ms".into()));
    let config = Arc::new(Config::from_vars(all).unwrap());
    let conn = db.connect().await;
    let broker = bridge_queue::Broker::new(AMQP_URL, &format!("{}-workers", tb.prefix));
    let ctx = bridge_workers::WorkerContext::new(config.clone(), conn.clone(), &broker).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let workers = tokio::spawn(bridge_workers::run(
        ctx.clone(),
        broker.clone(),
        &[WorkerKind::PortalSetup],
        shutdown.clone(),
    ));

    let events_url = format!("{}/b24/events", ing.base_url);
    let placement_url = format!("{}/b24/placement/task-view-tab", ing.base_url);
    let done = eventually(Duration::from_secs(20), || {
        let s = fake.portal().snapshot();
        let bots_ok = s["bots"]
            .as_object()
            .is_some_and(|b| b.values().any(|b| b["code"] == BOT_CODE));
        let cmd_ok = s["commands"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["command"] == "wiki"));
        let fields_ok = fake
            .portal()
            .userfields()
            .iter()
            .any(|f| f.field_name == USER_FIELD);
        let placed = fake
            .portal()
            .placements()
            .iter()
            .any(|p| p.placement == PLACEMENT && p.handler == placement_url);
        let bound = TASK_EVENTS.iter().all(|e| {
            fake.portal()
                .bindings()
                .iter()
                .any(|b| &b.event == e && b.handler == events_url && !b.offline)
                && fake
                    .portal()
                    .bindings()
                    .iter()
                    .any(|b| &b.event == e && b.offline)
        });
        if !(bots_ok && cmd_ok && fields_ok && placed && bound) {
            eprintln!("setup so far: bots {bots_ok} command {cmd_ok} field {fields_ok} placement {placed} events {bound}");
            return false;
        }
        true
    })
    .await;
    assert!(done, "portal not set up: {:#}", fake.portal().snapshot());
    let stored = PortalStore::new(conn.clone(), ctx.credentials.clone())
        .find(&install.member_id)
        .await
        .unwrap()
        .expect("the ingress stored the portal");
    assert_eq!(stored.client_endpoint, install.client_endpoint);

    // Running it again (as on an app update) changes nothing.
    let before = portal_state(&fake);
    let clients = B24Clients::new(
        conn.clone(),
        ctx.credentials.clone(),
        B24Settings::from_config(&config),
    );
    let job = PortalSetup::with_clients(clients, &config.public_url);
    let report = job.setup(&install.member_id).await.unwrap();
    assert!(report.changes.is_empty(), "{report:?}");
    assert_eq!(portal_state(&fake), before);
    assert_eq!(fake.portal().userfields().len(), 1);

    // A person creates a task: the online event reaches the ingress and the queue …
    let task_id = fake
        .portal()
        .user_creates_task(2, json!({"TITLE": "Write the spec", "RESPONSIBLE_ID": 2}))
        .unwrap();
    fake.settle().await;
    let is_added = |p: &Payload| matches!(p, Payload::B24Task(t) if t.task_id == task_id && t.action == TaskAction::Added);
    assert!(
        eventually(Duration::from_secs(10), || observed
            .calls()
            .iter()
            .any(|(e, _)| is_added(&e.payload)))
        .await,
        "ONTASKADD did not reach the queue; deliveries: {:?}",
        fake.deliveries()
            .iter()
            .map(|d| (&d.event, d.status))
            .collect::<Vec<_>>()
    );
    let (env, _) = observed
        .calls()
        .into_iter()
        .find(|(e, _)| is_added(&e.payload))
        .unwrap();
    assert_eq!(
        env.source,
        Source::B24 {
            portal: install.member_id.clone()
        }
    );

    // … and the offline queue has it too; the drain publishes the same payload and clears it.
    assert!(!fake.portal().offline_events().is_empty());
    let n = bridge_workers::reconcile::b24_offline::drain_once(&ctx)
        .await
        .unwrap();
    assert!(n >= 1, "drained {n}");
    assert!(
        fake.portal().offline_events().is_empty(),
        "cleared after publishing"
    );
    assert!(
        eventually(Duration::from_secs(10), || observed
            .calls()
            .iter()
            .filter(|(e, _)| is_added(&e.payload))
            .count()
            >= 2)
        .await,
        "the drained event did not reach the queue"
    );

    shutdown.cancel();
    workers.await.ok();
    drop(ing);
    tb.teardown().await;
}
