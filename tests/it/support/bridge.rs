//! The whole path for link and fan-out tests: fake Confluence (Cloud or Data Center) and fake
//! B24, the real ingress receiving their webhooks and events, RabbitMQ, PostgreSQL, and the
//! real worker runner (portal-setup, link-sync, fanout).
//!
//! Cloud (the default): Basic `email:api_token`, the Connect app installed, webhooks as
//! Connect deliveries to `/webhooks/confluence/cloud/{event}`. Data Center: a PAT, webhooks
//! signed with `BRIDGE_CONFLUENCE_WEBHOOK_SECRET` to `/webhooks/confluence/datacenter`.

use crate::support::amqp::{AMQP_URL, TestBroker, eventually};
use crate::support::db::{Kind, TestDb};
use crate::support::ingress::{self, TestIngress};
use bridge_core::{Config, WorkerKind};
use bridge_db::entities::b24_portals::PortalStatus;
use bridge_db::{Db, PortalStore};
use bridge_sandbox::b24::{AppSpec, FakeB24};
use bridge_sandbox::confluence::{FakeConfluence, Flavor, Hook};
use bridge_workers::WorkerContext;
use bridge_workers::jobs::portal_setup::USER_FIELD;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The ingress's fixed test key ([9; 32]).
const KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const CLIENT_ID: &str = "local.bridge.links";
const CLIENT_SECRET: &str = "links-app-secret";
const CONNECT_SECRET: &str = "links-connect-secret";
const DC_WEBHOOK_SECRET: &str = "links-dc-webhook-secret";
pub const SPACE: &str = "LNK";

pub struct Bridge {
    pub tb: TestBroker,
    /// Kept alive for the test (dropped: the database is dropped).
    pub _db: TestDb,
    pub conn: Db,
    pub b24: FakeB24,
    pub confluence: FakeConfluence,
    pub _ing: TestIngress,
    pub config: Arc<Config>,
    pub ctx: WorkerContext,
    pub member_id: String,
    pub portal_id: i64,
    workers: Option<(
        CancellationToken,
        tokio::task::JoinHandle<()>,
        bridge_queue::Broker,
    )>,
}

impl Bridge {
    /// Everything up, the app installed and set up, the Connect app installed; `kinds` run
    /// in the worker runner (portal-setup always). `extra` adds configuration.
    pub async fn start(kinds: &[WorkerKind], extra: &[(&str, &str)]) -> Self {
        Self::start_with(kinds, extra, |_| {}).await
    }

    /// As [`start`](Self::start) against a fake Confluence of `flavor`.
    pub async fn start_flavor(
        flavor: Flavor,
        kinds: &[WorkerKind],
        extra: &[(&str, &str)],
    ) -> Self {
        Self::start_flavor_with(flavor, kinds, extra, |_| {}).await
    }

    /// As [`start`](Self::start), with `before_install` run on the fake portal before the
    /// app is installed (e.g. to create many tasks without events).
    pub async fn start_with(
        kinds: &[WorkerKind],
        extra: &[(&str, &str)],
        before_install: impl FnOnce(&FakeB24),
    ) -> Self {
        Self::start_flavor_with(Flavor::Cloud, kinds, extra, before_install).await
    }

    /// As [`start_with`](Self::start_with) against a fake Confluence of `flavor`.
    pub async fn start_flavor_with(
        flavor: Flavor,
        kinds: &[WorkerKind],
        extra: &[(&str, &str)],
        before_install: impl FnOnce(&FakeB24),
    ) -> Self {
        let tb = TestBroker::new(&[200, 500, 1000]);
        let db = TestDb::new(Kind::Postgres).await;
        let b24 = FakeB24::start().await.unwrap();
        let confluence = FakeConfluence::start(flavor).await.unwrap();
        confluence.create_space(SPACE, "Links").unwrap();
        let creds = confluence.credentials();
        for k in WorkerKind::ALL {
            let spec = tb.spec(k.as_str(), k.bindings());
            tb.declare(&spec).await;
        }
        let site = confluence.base_url();
        let common = [
            ("BRIDGE_DATABASE_URL", db.url.as_str()),
            ("BRIDGE_AMQP_URL", AMQP_URL),
            ("BRIDGE_QUEUE_PREFIX", tb.prefix.as_str()),
            ("BRIDGE_B24_CLIENT_ID", CLIENT_ID),
            ("BRIDGE_B24_CLIENT_SECRET", CLIENT_SECRET),
            ("BRIDGE_B24_OAUTH_URL", b24.base_url()),
            ("BRIDGE_CONFLUENCE_URL", site.as_str()),
            ("BRIDGE_RETRY_SCHEDULE", "200ms,500ms,1s,2s,2s,2s"),
        ];
        let by_flavor = match flavor {
            Flavor::Cloud => vec![
                ("BRIDGE_CONFLUENCE_FLAVOR", "cloud"),
                ("BRIDGE_CONFLUENCE_EMAIL", creds.cloud_email.as_str()),
                (
                    "BRIDGE_CONFLUENCE_API_TOKEN",
                    creds.cloud_api_token.as_str(),
                ),
            ],
            Flavor::DataCenter => vec![
                ("BRIDGE_CONFLUENCE_FLAVOR", "datacenter"),
                ("BRIDGE_CONFLUENCE_PAT", creds.dc_pat.as_str()),
                ("BRIDGE_CONFLUENCE_WEBHOOK_SECRET", DC_WEBHOOK_SECRET),
            ],
        };
        let mut vars: Vec<(String, String)> = common
            .iter()
            .chain(&by_flavor)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let ing = ingress::start(&borrowed).await;
        vars.push(("BRIDGE_PUBLIC_URL".into(), ing.base_url.clone()));
        vars.push(("BRIDGE_SECRET_KEY".into(), KEY_B64.into()));
        let config = Arc::new(Config::from_vars(vars).unwrap());
        let conn = db.connect().await;

        match flavor {
            // Cloud: the Connect app installed, webhooks to the ingress.
            Flavor::Cloud => {
                let install = serde_json::json!({"key": "confluence-b24-bridge", "clientKey": "sandbox-client-key",
                    "sharedSecret": CONNECT_SECRET, "baseUrl": site, "eventType": "installed"});
                let r = reqwest::Client::new()
                    .post(format!("{}/connect/installed", ing.base_url))
                    .json(&install)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204);
                confluence.add_webhook(Hook::connect(
                    &ing.base_url,
                    "/webhooks/confluence/cloud/{event}",
                    CONNECT_SECRET,
                ));
            }
            // Data Center: signed webhooks to the ingress.
            Flavor::DataCenter => confluence.set_webhook_target(
                &format!("{}/webhooks/confluence/datacenter", ing.base_url),
                DC_WEBHOOK_SECRET,
            ),
        }

        before_install(&b24);
        let installed = b24
            .portal()
            .install_app(AppSpec {
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(CLIENT_SECRET.into()),
                install_url: Some(format!("{}/b24/events", ing.base_url)),
                ..Default::default()
            })
            .unwrap();
        b24.settle().await;
        let broker = bridge_queue::Broker::new(AMQP_URL, &format!("{}-ctx", tb.prefix));
        let ctx = WorkerContext::new(config.clone(), conn.clone(), &broker).unwrap();
        let mut me = Self {
            tb,
            _db: db,
            conn,
            b24,
            confluence,
            _ing: ing,
            config,
            ctx,
            member_id: installed.member_id.clone(),
            portal_id: 0,
            workers: None,
        };
        let mut all = vec![WorkerKind::PortalSetup];
        all.extend_from_slice(kinds);
        me.start_workers(&all);
        let ready = eventually(Duration::from_secs(30), || {
            let p = me.b24.portal();
            p.userfields().iter().any(|f| f.field_name == USER_FIELD)
                && p.bindings()
                    .iter()
                    .any(|b| b.event == "ONTASKUPDATE" && !b.offline)
        })
        .await;
        assert!(ready, "portal not set up: {:#}", me.b24.portal().snapshot());
        // An install stays pending until portal-setup confirmed it; nothing acts for the
        // portal before, so tests start once it is active.
        let portals = PortalStore::new(me.conn.clone(), me.ctx.credentials.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let portal = loop {
            let p = portals.find(&me.member_id).await.unwrap();
            match p {
                Some(p) if p.status == PortalStatus::Active => break p,
                p if tokio::time::Instant::now() > deadline => {
                    panic!("portal not active: {p:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        me.portal_id = portal.id;
        me
    }

    /// Starts the real worker runner for `kinds` on its own connection.
    pub fn start_workers(&mut self, kinds: &[WorkerKind]) {
        let broker = bridge_queue::Broker::new(
            AMQP_URL,
            &format!(
                "{}-workers-{}",
                self.tb.prefix,
                uuid::Uuid::new_v4().simple()
            ),
        );
        let shutdown = CancellationToken::new();
        let kinds = kinds.to_vec();
        let (ctx, b, s) = (self.ctx.clone(), broker.clone(), shutdown.clone());
        let task = tokio::spawn(async move { bridge_workers::run(ctx, b, &kinds, s).await });
        self.workers = Some((shutdown, task, broker));
    }

    /// Kills the worker runner: no graceful shutdown, its connection cut, so unacked
    /// messages go back to the queue.
    pub async fn kill_workers(&mut self) {
        if let Some((_, task, broker)) = self.workers.take() {
            task.abort();
            task.await.ok();
            broker.close().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some((shutdown, task, _)) = self.workers.take() {
            shutdown.cancel();
            task.await.ok();
        }
        self.tb.teardown().await;
    }

    /// `{base}/pages/viewpage.action?pageId={id}`.
    pub fn viewpage_url(&self, id: u64) -> String {
        format!(
            "{}/pages/viewpage.action?pageId={id}",
            self.confluence.base_url()
        )
    }

    /// The page's web URL as the API gives it (the canonical URL).
    pub async fn web_url(&self, id: u64) -> String {
        let client =
            bridge_clients::confluence::ConfluenceClient::from_config(&self.config).unwrap();
        client.page(id).await.unwrap().web_url.unwrap()
    }

    pub fn task_field(&self, task_id: u64) -> String {
        self.b24
            .portal()
            .task(task_id)
            .and_then(|t| t.uf.get(USER_FIELD).cloned())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The bridge's comments on a task (old-card comments and task-chat messages).
    pub fn bridge_comments(&self, task_id: u64) -> Vec<String> {
        let p = self.b24.portal();
        p.comments(task_id)
            .into_iter()
            .map(|c| c.message)
            .chain(p.task_chat_messages(task_id).into_iter().map(|m| m.text))
            .filter(|t| t.contains("#confluence-"))
            .collect()
    }

    pub async fn site_id(&self) -> i64 {
        bridge_db::SiteStore::new(self.conn.clone(), self.ctx.credentials.clone())
            .find(self.confluence.base_url().trim_end_matches('/'))
            .await
            .unwrap()
            .map(|s| s.id)
            .unwrap_or(0)
    }
}

impl Bridge {
    /// The site row id, created if needed.
    pub async fn ensure_site(&self) -> i64 {
        let client =
            bridge_clients::confluence::ConfluenceClient::from_config(&self.config).unwrap();
        bridge_db::SiteStore::new(self.conn.clone(), self.ctx.credentials.clone())
            .ensure(client.site(), client.site_flavor(), client.auth_kind())
            .await
            .unwrap()
    }

    /// Stores links from `tasks` to page `id` directly (what link-sync would store), for
    /// fan-out tests that need many tasks without their link-sync traffic.
    pub async fn link_directly(&self, id: u64, tasks: &[u64]) {
        let site_id = self.ensure_site().await;
        let url = self.web_url(id).await;
        let store = bridge_db::LinkStore::new(self.conn.clone());
        for t in tasks {
            store
                .sync_task(
                    self.portal_id,
                    *t,
                    site_id,
                    None,
                    &[bridge_db::NewLink {
                        content_id: id,
                        original_url: url.clone(),
                        canonical_url: url.clone(),
                        status: bridge_db::entities::task_links::LinkStatus::Current,
                    }],
                )
                .await
                .unwrap();
        }
    }
}

/// Creates `n` tasks in the fake portal (before the app is installed: no events).
pub fn create_tasks(b24: &FakeB24, n: usize, out: &mut Vec<u64>) {
    for i in 0..n {
        out.push(
            b24.portal()
                .user_creates_task(2, serde_json::json!({"TITLE": format!("Task {i}")}))
                .unwrap(),
        );
    }
}
