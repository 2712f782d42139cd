//! Fan-out of one page update to many tasks against the floor set by Bitrix24's limit:
//!
//! ```text
//! cargo bench -p bridge-tests --bench fanout_floor -- [--tasks 1000] [--single 100]
//! ```
//!
//! Everything runs in this process in release mode: fake Confluence (Cloud) and fake B24
//! (2 requests/s, burst 50), the real ingress, the real worker runner (portal-setup, fanout)
//! against the local RabbitMQ and a temporary SQLite database.
//!
//! 1. **batch** (the product): `--tasks` N tasks link one page; the portal's bucket is
//!    emptied first (the worst case: a busy portal), the page is edited, and the wall time
//!    runs from the edit until the last comment exists. Floor: the comments need
//!    `R = ceil(N / 50)` `batch` requests, and an empty bucket drains at `Y = 2/s`, so
//!    `floor = R / Y` (10 s for 1,000 tasks). Printed: wall time, floor, ratio, HTTP calls.
//! 2. **one call per comment** (for comparison): `--single` M comments sent one
//!    `task.commentitem.add` each through the same client and limiter, bucket emptied
//!    first: `floor = M / Y` (50 s for the default 100; 1,000 would take 500 s ≈ 8 min).
//!
//! The bridge's limiter runs at 95 % of Y (1.9/s), so a ratio near 1.05 is the expected
//! best.

use bridge_clients::b24::{B24Clients, B24Settings};
use bridge_core::{Config, WorkerKind};
use bridge_db::{LinkStore, NewLink, PortalStore, SiteStore};
use bridge_queue::{Broker, ConsumerSpec, Publisher, Topology};
use bridge_sandbox::b24::{AppSpec, FakeB24};
use bridge_sandbox::confluence::{FakeConfluence, Flavor, Hook};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const Y: f64 = 2.0;

fn arg(name: &str, default: usize) -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bridge_comments(b24: &FakeB24, task: u64) -> usize {
    let p = b24.portal();
    p.comments(task)
        .iter()
        .filter(|c| c.message.contains("#confluence-"))
        .count()
        + p.task_chat_messages(task)
            .iter()
            .filter(|m| m.text.contains("#confluence-"))
            .count()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg("--tasks", 1000);
    let m = arg("--single", 100);
    let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir)?;
    let db_url = format!("sqlite://{}?mode=rwc", dir.join("bridge.db").display());

    let b24 = FakeB24::start().await?;
    let confluence = FakeConfluence::start(Flavor::Cloud).await?;
    confluence.create_space("BEN", "Bench")?;
    let mut tasks = Vec::new();
    for i in 0..n.max(m) {
        tasks.push(
            b24.portal()
                .user_creates_task(2, serde_json::json!({"TITLE": format!("Task {i}")}))
                .map_err(|e| format!("{e:?}"))?,
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}", listener.local_addr()?);
    let creds = confluence.credentials();
    let site = confluence.base_url();
    let vars: Vec<(String, String)> = [
        ("BRIDGE_DATABASE_URL", db_url.as_str()),
        ("BRIDGE_AMQP_URL", AMQP_URL),
        ("BRIDGE_QUEUE_PREFIX", prefix.as_str()),
        ("BRIDGE_PUBLIC_URL", public.as_str()),
        ("BRIDGE_SECRET_KEY", KEY_B64),
        ("BRIDGE_B24_CLIENT_ID", "local.bench"),
        ("BRIDGE_B24_CLIENT_SECRET", "bench-secret"),
        ("BRIDGE_B24_OAUTH_URL", b24.base_url()),
        ("BRIDGE_CONFLUENCE_URL", site.as_str()),
        ("BRIDGE_CONFLUENCE_EMAIL", creds.cloud_email.as_str()),
        (
            "BRIDGE_CONFLUENCE_API_TOKEN",
            creds.cloud_api_token.as_str(),
        ),
        ("BRIDGE_FANOUT_COALESCE_WINDOW", "0s"),
        ("BRIDGE_LOG_FORMAT", "text"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Arc::new(Config::from_vars(vars)?);
    let db = bridge_db::connect(&db_url).await?;
    db.migrate_up().await?;
    let topology = Topology::new(prefix.clone(), config.retry_schedule.clone());
    let broker = Broker::new(AMQP_URL, &format!("{prefix}-bench"));
    {
        let ch = broker.channel().await?;
        for k in WorkerKind::ALL {
            topology
                .declare_consumer(&ch, &ConsumerSpec::for_worker(k))
                .await?;
        }
    }
    let keyring = bridge_core::crypto::Keyring::from_config(&config)?;
    let credentials = bridge_db::CredentialStore::new(db.clone(), Arc::new(keyring));
    let state = bridge_ingress::AppState {
        credentials: credentials.clone(),
        config: config.clone(),
        db: db.clone(),
        publisher: Publisher::new(broker.clone(), topology.clone(), config.publish_timeout),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(bridge_ingress::serve(listener, state, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Confluence Connect install + webhooks; B24 app install.
    let install = serde_json::json!({"key": "confluence-b24-bridge", "clientKey": "sandbox-client-key",
        "sharedSecret": "bench-connect", "baseUrl": site, "eventType": "installed"});
    reqwest::Client::new()
        .post(format!("{public}/connect/installed"))
        .json(&install)
        .send()
        .await?;
    confluence.add_webhook(Hook::connect(
        &public,
        "/webhooks/confluence/cloud/{event}",
        "bench-connect",
    ));
    let installed = b24
        .portal()
        .install_app(AppSpec {
            client_id: Some("local.bench".into()),
            client_secret: Some("bench-secret".into()),
            install_url: Some(format!("{public}/b24/events")),
            ..Default::default()
        })
        .map_err(|e| format!("{e:?}"))?;
    b24.settle().await;
    let ctx = bridge_workers::WorkerContext::new(config.clone(), db.clone(), &broker)?;
    let workers_broker = Broker::new(AMQP_URL, &format!("{prefix}-workers"));
    tokio::spawn(bridge_workers::run(
        ctx,
        workers_broker,
        &[WorkerKind::PortalSetup, WorkerKind::Fanout],
        shutdown.clone(),
    ));
    let portal = loop {
        if let Some(p) = PortalStore::new(db.clone(), credentials.clone())
            .find(&installed.member_id)
            .await?
        {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let (page, _) = confluence
        .create_page("BEN", "Benchmarked", "<p>1</p>", None)
        .await?;
    let client_cf = bridge_clients::confluence::ConfluenceClient::from_config(&config)?;
    let url = client_cf.page(page).await?.web_url.unwrap_or_default();
    let site_id = SiteStore::new(db.clone(), credentials.clone())
        .ensure(
            client_cf.site(),
            bridge_db::entities::confluence_sites::Flavor::Cloud,
            client_cf.auth_kind(),
        )
        .await?;
    let links = LinkStore::new(db.clone());
    for t in &tasks[..n] {
        links
            .sync_task(
                portal.id,
                *t,
                site_id,
                None,
                &[NewLink {
                    content_id: page,
                    original_url: url.clone(),
                    canonical_url: url.clone(),
                    status: bridge_db::entities::task_links::LinkStatus::Current,
                }],
            )
            .await?;
    }
    let clients = B24Clients::new(
        db.clone(),
        credentials.clone(),
        B24Settings::from_config(&config),
    );
    let client = clients.portal(&installed.member_id).await?;
    // Let portal setup finish, then empty the bucket.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let drain = |client: bridge_clients::b24::B24Client| async move {
        let started = Instant::now();
        // Calls that wait for a slot mean the bucket is empty.
        loop {
            let t = Instant::now();
            client.call("server.time", serde_json::json!({})).await.ok();
            if t.elapsed() > Duration::from_millis(300)
                || started.elapsed() > Duration::from_secs(60)
            {
                break;
            }
        }
    };
    drain(client.clone()).await;

    // 1. batch.
    b24.requests().clear();
    let started = Instant::now();
    confluence.edit_page(page, "<p>2</p>").await?;
    confluence.flush_webhooks().await;
    loop {
        if tasks[..n].iter().all(|t| bridge_comments(&b24, *t) >= 1) {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("batch fan-out did not finish within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let calls = b24.requests().all().len();
    let r = n.div_ceil(50);
    let floor = r as f64 / Y;
    println!(
        "batch: {n} comments in {wall:.2} s; floor {floor:.2} s (R = ceil({n}/50) = {r} requests at {Y}/s from an empty bucket); ratio {:.2}; HTTP calls to B24: {calls}; violations: {}",
        wall / floor,
        b24.total_violations()
    );

    // 2. one call per comment.
    drain(client.clone()).await;
    b24.requests().clear();
    let started = Instant::now();
    for t in &tasks[..m] {
        client
            .call(
                "task.commentitem.add",
                serde_json::json!({"TASKID": t, "FIELDS": {"POST_MESSAGE": "single #bench"}}),
            )
            .await?;
    }
    let wall1 = started.elapsed().as_secs_f64();
    let calls1 = b24.requests().all().len();
    let floor1 = m as f64 / Y;
    println!(
        "one call per comment: {m} comments in {wall1:.2} s; floor {floor1:.2} s (M / {Y}/s); ratio {:.2}; HTTP calls: {calls1}; for {n} comments the floor would be {:.0} s",
        wall1 / floor1,
        n as f64 / Y
    );

    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ch = broker.channel().await?;
    for k in WorkerKind::ALL {
        topology
            .delete_consumer(&ch, &ConsumerSpec::for_worker(k))
            .await
            .ok();
    }
    topology.delete_exchanges(&ch).await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
