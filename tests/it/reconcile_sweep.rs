//! The Confluence sweep: with 30 % of the fake's webhooks dropped, every change still
//! reaches the queue, and a webhook and a sweep report of the same version share one dedupe
//! key.

use crate::support::amqp::{AMQP_URL, Recorder, TestBroker, eventually};
use crate::support::db::{Kind, TestDb};
use crate::support::ingress;
use bridge_core::{Payload, Source};
use bridge_db::SiteStore;
use bridge_sandbox::confluence::{FakeConfluence, Flavor, Hook};
use bridge_workers::WorkerContext;
use bridge_workers::reconcile::confluence_sweep::{self, SweepError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
/// base64 of 32 bytes of 0x2a.
const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// (content id, version) → dedupe keys seen for it.
fn changes(rec: &Recorder) -> BTreeMap<(u64, u32), BTreeSet<String>> {
    let mut out: BTreeMap<(u64, u32), BTreeSet<String>> = BTreeMap::new();
    for (e, _) in rec.calls() {
        if let Payload::ConfluencePage(p) = &e.payload
            && let Some(v) = p.version
        {
            out.entry((p.content_id, v))
                .or_default()
                .insert(e.dedupe_key.clone());
        }
    }
    out
}

#[tokio::test]
async fn reconcile_sweep_recovers_dropped_webhooks() {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("observer", &["confluence.page.*"]);
    tb.declare(&spec).await;
    let rec = Recorder::ok();
    tb.start(&spec, rec.clone(), 8);
    let db = TestDb::new(Kind::Postgres).await;

    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    let site = fake.base_url();
    let creds = fake.credentials();
    let vars = [
        ("BRIDGE_QUEUE_PREFIX", tb.prefix.clone()),
        ("BRIDGE_DATABASE_URL", db.url.clone()),
        ("BRIDGE_AMQP_URL", AMQP_URL.to_owned()),
        ("BRIDGE_CONFLUENCE_URL", site.clone()),
        ("BRIDGE_CONFLUENCE_FLAVOR", "cloud".to_owned()),
        ("BRIDGE_CONFLUENCE_EMAIL", creds.cloud_email.clone()),
        ("BRIDGE_CONFLUENCE_API_TOKEN", creds.cloud_api_token.clone()),
        ("BRIDGE_SECRET_KEY", KEY.to_owned()),
    ];
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ing = ingress::start(&borrowed).await;

    // Install the Connect app so Cloud deliveries verify, and point the webhooks at it.
    let install = serde_json::json!({"key": "confluence-b24-bridge", "clientKey": "sweep-client",
        "sharedSecret": "sweep-secret", "baseUrl": site, "eventType": "installed"});
    let r = reqwest::Client::new()
        .post(format!("{}/connect/installed", ing.base_url))
        .json(&install)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    fake.add_webhook(Hook::connect(
        &ing.base_url,
        "/webhooks/confluence/cloud/{event}",
        "sweep-secret",
    ));
    fake.faults().update(|k| k.drop_outgoing_share = 0.3);

    let config = Arc::new(
        bridge_core::Config::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
            .unwrap(),
    );
    let conn = db.migrated().await;
    let broker = bridge_queue::Broker::new(AMQP_URL, &format!("{}-sweep", tb.prefix));
    let ctx = WorkerContext::new(config, conn.clone(), &broker).unwrap();

    // Three rounds of changes to ten pages, a sweep after each: every version must arrive.
    fake.create_space("SW", "Sweep").unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let (id, _) = fake
            .create_page("SW", &format!("Swept {i}"), "<p>1</p>", None)
            .await
            .unwrap();
        ids.push(id);
    }
    let mut expected = BTreeSet::new();
    for round in 1..=3u32 {
        if round > 1 {
            for id in &ids {
                fake.edit_page(*id, &format!("<p>{round}</p>"))
                    .await
                    .unwrap();
            }
        }
        expected.extend(ids.iter().map(|id| (*id, round)));
        let published = confluence_sweep::sweep_once(&ctx).await.unwrap();
        assert!(published >= ids.len(), "round {round}: {published}");
    }
    let dropped = fake.sent_webhooks().iter().filter(|w| w.dropped).count();
    assert!(dropped > 0, "the fake dropped some webhooks");
    assert!(
        eventually(WAIT, || {
            let seen = changes(&rec);
            expected.iter().all(|c| seen.contains_key(c))
        })
        .await,
        "missing: {:?}",
        expected
            .iter()
            .filter(|c| !changes(&rec).contains_key(c))
            .collect::<Vec<_>>()
    );
    // A webhook and a sweep report of one version collapse: one dedupe key per change.
    for (change, keys) in changes(&rec) {
        assert_eq!(keys.len(), 1, "{change:?}: {keys:?}");
    }
    let (env, _) = rec.calls().remove(0);
    assert_eq!(
        env.source,
        Source::Confluence {
            site: site.trim_end_matches('/').to_owned()
        }
    );

    // The mark is stored, and a later pass after more edits finds only what is new (plus
    // overlap), still publishing every new version.
    let sites = SiteStore::new(conn.clone(), ctx.credentials.clone());
    let row = sites
        .find(site.trim_end_matches('/'))
        .await
        .unwrap()
        .unwrap();
    let mark = sites.sweep_high_water(row.id).await.unwrap();
    assert!(mark.is_some());
    fake.faults().update(|k| k.drop_outgoing_share = 1.0);
    fake.edit_page(ids[0], "<p>4</p>").await.unwrap();
    confluence_sweep::sweep_once(&ctx).await.unwrap();
    assert!(eventually(WAIT, || changes(&rec).contains_key(&(ids[0], 4))).await);
    assert!(sites.sweep_high_water(row.id).await.unwrap() >= mark);
    drop(ing);
    tb.teardown().await;
}

#[tokio::test]
async fn reconcile_sweep_without_a_site_does_nothing() {
    let db = TestDb::new(Kind::Sqlite).await;
    let config = Arc::new(
        bridge_core::Config::from_vars([
            ("BRIDGE_DATABASE_URL".to_owned(), db.url.clone()),
            ("BRIDGE_SECRET_KEY".to_owned(), KEY.to_owned()),
        ])
        .unwrap(),
    );
    let broker = bridge_queue::Broker::new(AMQP_URL, "sweep-unconfigured");
    let ctx = WorkerContext::new(config, db.migrated().await, &broker).unwrap();
    assert!(matches!(
        confluence_sweep::sweep_once(&ctx).await,
        Err(SweepError::NotConfigured(_))
    ));
    // `run` logs once and returns instead of looping.
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::time::timeout(Duration::from_secs(5), confluence_sweep::run(ctx, shutdown))
        .await
        .expect("run returns at once");
}
