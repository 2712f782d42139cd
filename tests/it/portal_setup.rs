//! B24 app install end to end: the fake portal installs the app with its install URL at the
//! real ingress, the ingress stores the portal *pending* and publishes `b24.app.installed`,
//! the real worker runner's portal-setup job confirms the install with the fake OAuth server
//! (the portal becomes active, its endpoint from that answer), binds events, creates the
//! user field, the placement and the bot — and a second run changes nothing. Then a task
//! created in the portal reaches the queue online (through the ingress) and through the
//! offline drain. Before that, forged installs (a refresh token the OAuth server does not
//! know, another portal's token, no client credentials configured) stay pending and their
//! events are refused.

use crate::support::amqp::{AMQP_URL, Recorder, TestBroker, eventually};
use crate::support::db::{Kind, TestDb};
use crate::support::ingress;
use bridge_clients::b24::{B24Clients, B24Settings};
use bridge_core::envelope::TaskAction;
use bridge_core::{Config, ErrorClass, Payload, Source, WorkerKind};
use bridge_db::PortalStore;
use bridge_db::entities::b24_portals::PortalStatus;
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

    // The worker side, configured like the ingress.
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("BRIDGE_PUBLIC_URL".into(), ing.base_url.clone()));
    all.push(("BRIDGE_SECRET_KEY".into(), KEY_B64.into()));
    all.push(("BRIDGE_RETRY_SCHEDULE".into(), "200ms".into()));
    // One setup at a time: the forged installs' envelopes are in the queue too, and the
    // one naming the real portal runs the (then genuine) confirmation and setup itself.
    all.push(("BRIDGE_WORKER_CONCURRENCY".into(), "1".into()));
    let config = Arc::new(Config::from_vars(all).unwrap());
    let conn = db.connect().await;
    let broker = bridge_queue::Broker::new(AMQP_URL, &format!("{}-workers", tb.prefix));
    let ctx = bridge_workers::WorkerContext::new(config.clone(), conn.clone(), &broker).unwrap();
    let store = PortalStore::new(conn.clone(), ctx.credentials.clone());
    let job = PortalSetup::with_clients(
        B24Clients::new(
            conn.clone(),
            ctx.credentials.clone(),
            B24Settings::from_config(&config),
        ),
        &config.public_url,
    );
    let http = reqwest::Client::new();
    let events_url = format!("{}/b24/events", ing.base_url);
    let post = |body: String| {
        http.post(&events_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let genuine_member = fake.portal().member_id().to_owned();

    // The forger has the app installed on a portal of its own (so the OAuth server knows
    // the app, and the forger holds a genuine refresh token — of that other portal).
    let other = fake
        .create_portal(Some("forger.example"))
        .install_app(AppSpec {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some(CLIENT_SECRET.into()),
            ..Default::default()
        })
        .unwrap();
    // Forged: an install of an unknown portal whose refresh token the OAuth server does not
    // know, pointing the bridge at the forger's host.
    assert_eq!(
        post(forged_install(
            "m-forged",
            "forged-app-token",
            "not-a-refresh-token"
        ))
        .await
        .unwrap()
        .status(),
        202
    );
    let e = job.setup("m-forged").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent, "{e:?}");
    assert!(e.reason.contains("invalid_grant"), "{}", e.reason);
    // Without the app's client credentials no install can be confirmed at all.
    let mut unconfigured = B24Settings::from_config(&config);
    unconfigured.client_id = None;
    unconfigured.client_secret = None;
    let e = PortalSetup::with_clients(
        B24Clients::new(conn.clone(), ctx.credentials.clone(), unconfigured),
        &config.public_url,
    )
    .setup("m-forged")
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent, "{e:?}");
    assert!(e.reason.contains("BRIDGE_B24_CLIENT_ID"), "{}", e.reason);
    let forged = store.find("m-forged").await.unwrap().unwrap();
    assert_eq!(forged.status, PortalStatus::Pending);
    assert_eq!(store.application_token("m-forged").await.unwrap(), None);
    assert_eq!(
        post(task_event("m-forged", "forged-app-token"))
            .await
            .unwrap()
            .status(),
        401
    );

    // Forged: an install claiming the real portal's member_id, with a genuine refresh token
    // of the forger's own portal. The OAuth server answers for that other portal.
    assert_ne!(other.member_id, genuine_member);
    assert_eq!(
        post(forged_install(
            &genuine_member,
            "forged-app-token",
            &other.refresh_token
        ))
        .await
        .unwrap()
        .status(),
        202
    );
    let e = job.setup(&genuine_member).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent, "{e:?}");
    assert!(e.reason.contains("answers for portal"), "{}", e.reason);
    assert_eq!(
        store.find(&genuine_member).await.unwrap().unwrap().status,
        PortalStatus::Pending
    );
    assert_eq!(
        post(task_event(&genuine_member, "forged-app-token"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Nothing was sent to the portal for either forgery.
    assert!(fake.requests().matching("/rest/batch").is_empty());

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
    assert_eq!(install.member_id, genuine_member);
    // The genuine install replaced the forged pending one, and is pending itself until
    // portal-setup confirms it.
    assert_eq!(
        store
            .find(&install.member_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        PortalStatus::Pending
    );

    // The real worker runner.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let workers = tokio::spawn(bridge_workers::run(
        ctx.clone(),
        broker.clone(),
        &[WorkerKind::PortalSetup],
        shutdown.clone(),
    ));

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
        // Comment events are not bound: nothing consumes them.
        let comments_unbound = !fake
            .portal()
            .bindings()
            .iter()
            .any(|b| b.event.eq_ignore_ascii_case("ONTASKCOMMENTADD"));
        let bound = comments_unbound && TASK_EVENTS.iter().all(|e| {
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
    assert!(!TASK_EVENTS.contains(&"ONTASKCOMMENTADD"));
    let stored = store
        .find(&install.member_id)
        .await
        .unwrap()
        .expect("the ingress stored the portal");
    // Confirmed: active, with the endpoint the OAuth server named (not the forger's).
    assert_eq!(stored.status, PortalStatus::Active);
    assert_eq!(stored.client_endpoint, install.client_endpoint);
    assert_eq!(
        store.application_token(&install.member_id).await.unwrap(),
        Some(install.application_token.clone())
    );
    // The forged unknown portal is still pending, never set up.
    assert_eq!(
        store.find("m-forged").await.unwrap().unwrap().status,
        PortalStatus::Pending
    );

    // Running it again (as on an app update) changes nothing.
    let before = portal_state(&fake);
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

/// An `ONAPPINSTALL` form as anybody could send it.
fn forged_install(member_id: &str, app_token: &str, refresh_token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("event", "ONAPPINSTALL"),
            ("data[VERSION]", "1"),
            ("data[LANGUAGE_ID]", "en"),
            ("ts", "1700000000"),
            ("auth[access_token]", "forged-access"),
            ("auth[refresh_token]", refresh_token),
            ("auth[expires_in]", "3600"),
            ("auth[domain]", "evil.example"),
            ("auth[client_endpoint]", "https://evil.example/rest/"),
            ("auth[server_endpoint]", "https://oauth.bitrix.info/rest/"),
            ("auth[member_id]", member_id),
            ("auth[status]", "L"),
            ("auth[application_token]", app_token),
        ])
        .finish()
}

fn task_event(member_id: &str, app_token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("event", "ONTASKADD"),
            ("data[FIELDS_AFTER][ID]", "1"),
            ("ts", "1700000000"),
            ("auth[member_id]", member_id),
            ("auth[application_token]", app_token),
        ])
        .finish()
}
