//! The B24 client against the fake Bitrix24 and a real PostgreSQL: auth placement, error
//! shapes and classes, paging, batch splitting, single-flight token refresh, the 302 domain
//! change, and the deployment-wide rate limit with three independent "processes".

use crate::support::db::{Kind, TestDb};
use bridge_clients::b24::{B24Client, B24Error, B24Settings, BatchCommand, RateLimit};
use bridge_core::config::Secret;
use bridge_core::crypto::Keyring;
use bridge_core::{Config, ErrorClass};
use bridge_db::credentials::names;
use bridge_db::entities::b24_portals::PortalStatus;
use bridge_db::portals::{ConfirmedInstall, Installed};
use bridge_db::{CredentialStore, Db, OwnerKind, PortalInstall, PortalStore};
use bridge_sandbox::b24::{AppInstall, AppSpec, FakeB24, LimitsConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Env {
    fake: FakeB24,
    db: TestDb,
    conn: Db,
    creds: CredentialStore,
    install: AppInstall,
    settings: B24Settings,
}

fn creds_of(db: &Db) -> CredentialStore {
    CredentialStore::new(db.clone(), Arc::new(Keyring::new([7; 32], vec![])))
}

fn settings_for(fake: &FakeB24, install: &AppInstall) -> B24Settings {
    let config = Config::from_vars([
        ("BRIDGE_B24_CLIENT_ID".to_owned(), install.client_id.clone()),
        (
            "BRIDGE_B24_CLIENT_SECRET".to_owned(),
            install.client_secret.clone(),
        ),
        (
            "BRIDGE_B24_OAUTH_URL".to_owned(),
            fake.base_url().to_owned(),
        ),
    ])
    .unwrap();
    let mut s = B24Settings::from_config(&config);
    // Most tests are not about the limit: a generous one, and the fake's bucket opened.
    s.rate_limit = RateLimit {
        drain_per_sec: 1000.0,
        burst: 1000,
    };
    fake.set_limits(LimitsConfig {
        drain_per_sec: 1000.0,
        burst: 1000.0,
    });
    s
}

/// A fake portal with the app installed, stored (tokens sealed) in a fresh PostgreSQL
/// database with `client_endpoint` as given (default: the fake's).
async fn env_with(endpoint: Option<String>, token_ttl: Option<Duration>) -> Env {
    bridge_telemetry::init_for_tests();
    let fake = FakeB24::start().await.unwrap();
    if let Some(ttl) = token_ttl {
        fake.set_token_ttl(ttl);
    }
    let install = fake.portal().install_app(AppSpec::default()).unwrap();
    fake.set_token_ttl(Duration::from_secs(3600));
    let db = TestDb::new(Kind::Postgres).await;
    let conn = db.migrated().await;
    let creds = creds_of(&conn);
    let portals = PortalStore::new(conn.clone(), creds.clone());
    let client_endpoint = endpoint.unwrap_or_else(|| install.client_endpoint.clone());
    let stored = portals
        .install(&PortalInstall {
            member_id: install.member_id.clone(),
            domain: install.domain.clone(),
            client_endpoint: client_endpoint.clone(),
            server_endpoint: install.server_endpoint.clone(),
            language: None,
            application_token: install.application_token.clone(),
            access_token: Some(install.access_token.clone()),
            refresh_token: Some(install.refresh_token.clone()),
            access_expires_at: None,
        })
        .await
        .unwrap();
    assert!(matches!(stored, Installed::Pending(_)), "{stored:?}");
    // What portal-setup's confirmation would store, without its OAuth round trip (these
    // tests are about the client): the portal active with the install's tokens.
    let pending = portals
        .pending_install(&install.member_id)
        .await
        .unwrap()
        .unwrap();
    let confirmed = ConfirmedInstall {
        domain: install.domain.clone(),
        client_endpoint,
        server_endpoint: None,
        access_token: install.access_token.clone(),
        refresh_token: install.refresh_token.clone(),
        access_expires_at: None,
    };
    assert!(portals.confirm(&pending, &confirmed).await.unwrap());
    let settings = settings_for(&fake, &install);
    Env {
        fake,
        db,
        conn,
        creds,
        install,
        settings,
    }
}

async fn env() -> Env {
    env_with(None, None).await
}

impl Env {
    async fn client(&self) -> B24Client {
        B24Client::for_portal(
            &self.conn,
            &self.creds,
            &self.settings,
            &self.install.member_id,
        )
        .await
        .unwrap()
    }

    async fn stored(&self, name: &str) -> String {
        let portal = PortalStore::new(self.conn.clone(), self.creds.clone())
            .find(&self.install.member_id)
            .await
            .unwrap()
            .unwrap();
        self.creds
            .get(OwnerKind::Portal, portal.id, name)
            .await
            .unwrap()
            .unwrap()
            .expose()
            .to_owned()
    }
}

#[tokio::test]
async fn b24_client_sends_auth_in_the_body_and_reads_every_error_shape() {
    let env = env().await;
    let client = env.client().await;
    let me = client.call_result("user.current", json!({})).await.unwrap();
    assert_eq!(me["ID"], "1", "{me}");
    let req = env
        .fake
        .requests()
        .matching("/rest/user.current")
        .pop()
        .unwrap();
    assert_eq!(req.method, "POST");
    assert!(
        req.body.contains(&env.install.access_token),
        "token goes in the JSON body"
    );
    assert!(
        !req.query
            .unwrap_or_default()
            .contains(&env.install.access_token),
        "never in the URL"
    );

    // Unknown method: 404, permanent.
    let e = client.call("no.such.method", json!({})).await.unwrap_err();
    assert!(e.is_code("ERROR_METHOD_NOT_FOUND"), "{e}");
    assert_eq!((e.status(), e.class()), (Some(404), ErrorClass::Permanent));
    // An error under HTTP 200 (placement.bind argument errors) is still an error.
    let e = client
        .call(
            "placement.bind",
            json!({"PLACEMENT": "NO_SUCH_PLACE", "HANDLER": "https://x/"}),
        )
        .await
        .unwrap_err();
    assert!(e.is_code("ERROR_ARGUMENT"), "{e}");
    assert_eq!((e.status(), e.class()), (Some(200), ErrorClass::Permanent));
    // A method's time budget used up: 429, retryable, with a wait.
    env.fake.set_operation_time_limited(&["user.get"]);
    let e = client.call("user.get", json!({})).await.unwrap_err();
    assert!(e.is_code("OPERATION_TIME_LIMIT"), "{e}");
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert!(e.retry_after().is_some());
    env.fake.set_operation_time_limited(&[]);
    // Secrets never in errors or Debug.
    let text = format!("{e} {e:?} {client:?}");
    assert!(
        !text.contains(&env.install.access_token) && !text.contains(&env.install.client_secret)
    );

    // The portal's bucket full: 503 QUERY_LIMIT_EXCEEDED, retryable (no in-place retries here).
    env.fake.set_limits(LimitsConfig {
        drain_per_sec: 0.01,
        burst: 1.0,
    });
    let mut settings = env.settings.clone();
    settings.query_limit_retries = 0;
    let fresh = B24Client::for_portal(&env.conn, &env.creds, &settings, &env.install.member_id)
        .await
        .unwrap();
    let mut last = None;
    for _ in 0..3 {
        if let Err(e) = fresh.call("user.current", json!({})).await {
            last = Some(e);
        }
    }
    let e = last.expect("the bucket refused");
    assert!(e.is_code("QUERY_LIMIT_EXCEEDED"), "{e}");
    assert_eq!((e.status(), e.class()), (Some(503), ErrorClass::Retryable));
}

#[tokio::test]
async fn b24_client_webhook_mode_needs_no_token() {
    let env = env().await;
    let hook = env.fake.portal().create_webhook(1, &[]).unwrap();
    let client = B24Client::webhook(
        &Secret::new(hook.url.clone()),
        &env.settings,
        Some(&env.conn),
    )
    .unwrap();
    let me = client.call_result("user.current", json!({})).await.unwrap();
    assert_eq!(me["ID"], "1");
    let req = env.fake.requests().matching("/user.current").pop().unwrap();
    assert!(req.path.starts_with("/rest/1/"), "{}", req.path);
    assert!(!req.body.contains("\"auth\""));
    // Methods that need an app context refuse webhooks: permanent.
    let e = client
        .call(
            "event.bind",
            json!({"event": "ONTASKADD", "handler": "https://x/"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");
    assert!(!format!("{e} {client:?}").contains(&hook.secret));
}

#[tokio::test]
async fn b24_client_pages_lists_and_splits_batches() {
    let env = env().await;
    let portal = env.fake.portal();
    for i in 0..120 {
        portal
            .user_creates_task(
                1,
                json!({"TITLE": format!("task {i}"), "RESPONSIBLE_ID": 1}),
            )
            .unwrap();
    }
    let client = env.client().await;
    let tasks = client
        .list_all(
            "tasks.task.list",
            json!({"select": ["ID", "TITLE"], "order": {"ID": "ASC"}}),
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 120);
    assert_eq!(env.fake.requests().matching("/tasks.task.list").len(), 3);

    // 130 commands → 3 requests; every third asks for a task that does not exist.
    let ids: Vec<u64> = portal.tasks().iter().map(|t| t.id).collect();
    let commands: Vec<BatchCommand> = (0..130)
        .map(|i| {
            let id = if i % 3 == 2 {
                999_999
            } else {
                ids[i % ids.len()]
            };
            BatchCommand::new(
                format!("t{i}"),
                "tasks.task.get",
                json!({"taskId": id, "select": ["ID"]}),
            )
        })
        .collect();
    let before = env.fake.requests().matching("/batch").len();
    let items = client.batch(commands, false).await.unwrap();
    assert_eq!(env.fake.requests().matching("/batch").len() - before, 3);
    assert_eq!(items.len(), 130);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item.key, format!("t{i}"), "order kept");
        if i % 3 == 2 {
            let e = item.result.as_ref().unwrap_err();
            assert!(matches!(e, B24Error::Api { .. }), "{e}");
        } else {
            let r = item.result.as_ref().unwrap();
            let id = r.result["task"]["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| r.result["task"]["id"].to_string());
            assert_eq!(id, ids[i % ids.len()].to_string(), "{}", r.result);
        }
    }

    // halt: B24 stops at the first failing command; later ones and later chunks are not run.
    let commands: Vec<BatchCommand> = (0..60)
        .map(|i| {
            let id = if i == 1 { 999_999 } else { ids[0] };
            BatchCommand::new(format!("h{i}"), "tasks.task.get", json!({"taskId": id}))
        })
        .collect();
    let items = client.batch(commands, true).await.unwrap();
    assert!(items[0].result.is_ok());
    assert!(matches!(items[1].result, Err(B24Error::Api { .. })));
    assert!(
        items[2..]
            .iter()
            .all(|i| matches!(i.result, Err(B24Error::NotRun(_))))
    );
}

#[tokio::test]
async fn b24_client_refreshes_once_for_20_concurrent_callers() {
    let env = env_with(None, Some(Duration::from_secs(1))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let client = env.client().await;
    let before = env.fake.requests().matching("/oauth/token/").len();
    let calls = (0..20).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.call_result("user.current", json!({})).await })
    });
    for r in futures_join(calls).await {
        assert_eq!(r["ID"], "1");
    }
    let refreshes = env.fake.requests().matching("/oauth/token/").len() - before;
    assert_eq!(refreshes, 1, "one refresh for 20 callers");
    assert_eq!(client.refresh_count(), 1);
    // The rotated refresh token is stored (the old one is spent), and the new access token.
    let stored_refresh = env.stored(names::REFRESH_TOKEN).await;
    assert_ne!(stored_refresh, env.install.refresh_token);
    assert_ne!(
        env.stored(names::ACCESS_TOKEN).await,
        env.install.access_token
    );
    // Another process starting now uses the stored pair without refreshing.
    let other = env.client().await;
    other.call("user.current", json!({})).await.unwrap();
    assert_eq!(other.refresh_count(), 0);

    // A refresh token the OAuth server refuses: permanent, "re-install needed".
    let portal_id = PortalStore::new(env.conn.clone(), env.creds.clone())
        .find(&env.install.member_id)
        .await
        .unwrap()
        .unwrap()
        .id;
    env.creds
        .put(OwnerKind::Portal, portal_id, names::REFRESH_TOKEN, "spent")
        .await
        .unwrap();
    env.creds
        .put(
            OwnerKind::Portal,
            portal_id,
            names::ACCESS_TOKEN,
            "expired-or-unknown",
        )
        .await
        .unwrap();
    env.fake.set_token_ttl(Duration::from_secs(3600));
    let broken = env.client().await;
    let e = broken.call("user.current", json!({})).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<serde_json::Value, B24Error>>>,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn b24_client_follows_a_domain_change_with_the_same_post() {
    use axum::http::{StatusCode, Uri, header};
    use axum::response::IntoResponse;
    // The old host: every request answered 302 to the same path on the fake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old = format!("http://{}", listener.local_addr().unwrap());
    let target = Arc::new(std::sync::Mutex::new(String::new()));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (t, h) = (target.clone(), hits.clone());
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let to = format!("{}{}", t.lock().unwrap(), uri.path());
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let mut env = env_with(Some(format!("{old}/rest/")), None).await;
    *target.lock().unwrap() = env.fake.base_url().to_owned();
    // The fake lives on 127.0.0.1: an IP literal, which a redirect never leads to unless
    // configured. Unconfigured, the 302 is refused and nothing is stored.
    let refused = env
        .client()
        .await
        .call("user.current", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(refused, B24Error::Redirect { .. }), "{refused:?}");
    assert_eq!(refused.class(), ErrorClass::Permanent);
    assert!(
        env.fake
            .requests()
            .matching("/rest/user.current")
            .is_empty()
    );
    let before = PortalStore::new(env.conn.clone(), env.creds.clone())
        .find(&env.install.member_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.client_endpoint, format!("{old}/rest/"));
    hits.store(0, std::sync::atomic::Ordering::SeqCst);
    // With the fake's host allowed, the same POST is re-sent there.
    env.settings.extra_redirect_hosts = vec!["127.0.0.1".into()];
    let client = env.client().await;
    let me = client.call_result("user.current", json!({})).await.unwrap();
    assert_eq!(me["ID"], "1");
    let req = env
        .fake
        .requests()
        .matching("/rest/user.current")
        .pop()
        .unwrap();
    assert_eq!(req.method, "POST", "not turned into GET");
    assert!(req.body.contains("auth"), "the same body");
    // The new endpoint is used from now on and stored.
    client.call("user.current", json!({})).await.unwrap();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let stored = PortalStore::new(env.conn.clone(), env.creds.clone())
        .find(&env.install.member_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_endpoint, env.fake.rest_url());
    // The move changes the endpoint only, never the portal's status.
    assert_eq!(stored.status, PortalStatus::Active);
}

/// A 303 is not a domain change: not followed, even to an allowed host.
#[tokio::test]
async fn b24_client_does_not_follow_a_303() {
    use axum::http::{StatusCode, Uri, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old = format!("http://{}", listener.local_addr().unwrap());
    let target = Arc::new(std::sync::Mutex::new(String::new()));
    let t = target.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let to = format!("{}{}", t.lock().unwrap(), uri.path());
        async move { (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response() }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let mut env = env_with(Some(format!("{old}/rest/")), None).await;
    *target.lock().unwrap() = env.fake.base_url().to_owned();
    env.settings.extra_redirect_hosts = vec!["127.0.0.1".into()];
    let e = env
        .client()
        .await
        .call("user.current", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(e, B24Error::Redirect { .. }), "{e:?}");
    assert!(
        env.fake
            .requests()
            .matching("/rest/user.current")
            .is_empty()
    );
    let stored = PortalStore::new(env.conn.clone(), env.creds.clone())
        .find(&env.install.member_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_endpoint, format!("{old}/rest/"));
}

/// Three clients with their own database pools (three worker processes) share one portal
/// whose bucket is small. The limit is the deployment's: no refusals, rate near the limit.
#[tokio::test]
async fn b24_client_rate_limit_holds_across_three_processes() {
    let env = env().await;
    let limit = LimitsConfig {
        drain_per_sec: 5.0,
        burst: 10.0,
    };
    env.fake.set_limits(limit);
    let mut settings = env.settings.clone();
    settings.rate_limit = RateLimit {
        drain_per_sec: 5.0,
        burst: 10,
    };
    let run_for = Duration::from_secs(5);
    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::new();
    let mut pools = Vec::new();
    for _ in 0..3 {
        let pool = env.db.connect().await;
        let creds = creds_of(&pool);
        let client = B24Client::for_portal(&pool, &creds, &settings, &env.install.member_id)
            .await
            .unwrap();
        pools.push(pool);
        for _ in 0..4 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0u32;
                let mut last = Instant::now();
                while Instant::now() < deadline {
                    c.call("user.current", json!({})).await.unwrap();
                    ok += 1;
                    last = Instant::now();
                }
                (ok, last)
            }));
        }
    }
    let mut total = 0;
    let mut end = started;
    for t in tasks {
        let (ok, last) = t.await.unwrap();
        total += ok;
        end = end.max(last);
    }
    let elapsed = end.duration_since(started).as_secs_f64();
    let violations = env.fake.total_violations();
    // What the portal would have allowed in that time: the burst plus the drain.
    let allowed = limit.burst + limit.drain_per_sec * elapsed;
    let sustained = (f64::from(total) - limit.burst).max(0.0) / elapsed;
    println!(
        "rate limit: {total} requests in {elapsed:.2}s = {:.2}/s overall, {sustained:.2}/s sustained \
         (limit {}/s, burst {}); portal would allow {allowed:.0}; violations {violations}",
        f64::from(total) / elapsed,
        limit.drain_per_sec,
        limit.burst
    );
    assert_eq!(violations, 0, "the portal refused requests");
    assert!(
        sustained >= 0.8 * limit.drain_per_sec,
        "sustained {sustained:.2}/s is below 80 % of {}/s",
        limit.drain_per_sec
    );
}

/// GCRA in the database, on both backends: `burst` slots at once, then one per interval.
async fn rate_limits_gcra(kind: Kind) {
    let db = TestDb::new(kind).await;
    let conn = db.migrated().await;
    let limits = bridge_db::RateLimits::new(conn.clone());
    for i in 0..5 {
        let wait = limits.acquire("b24:test", 10.0, 5).await.unwrap();
        assert!(
            wait < Duration::from_millis(50),
            "slot {i} of the burst waited {wait:?}"
        );
    }
    // The 6th is due one interval (100 ms) after the first; the 7th one more.
    let sixth = limits.acquire("b24:test", 10.0, 5).await.unwrap();
    let seventh = limits.acquire("b24:test", 10.0, 5).await.unwrap();
    assert!(
        sixth > Duration::from_millis(20) && sixth <= Duration::from_millis(110),
        "{sixth:?}"
    );
    assert!(
        seventh > sixth + Duration::from_millis(50),
        "{sixth:?} {seventh:?}"
    );
    // Keys are independent; bad input is refused.
    assert!(limits.acquire("b24:other", 10.0, 5).await.unwrap() < Duration::from_millis(50));
    assert!(limits.acquire("", 10.0, 5).await.is_err());
    assert!(limits.acquire("k", 0.0, 5).await.is_err());
    limits.reset("b24:test").await.unwrap();
    assert!(limits.acquire("b24:test", 10.0, 5).await.unwrap() < Duration::from_millis(50));
}

#[tokio::test]
async fn db_rate_limits_gcra_postgres() {
    rate_limits_gcra(Kind::Postgres).await;
}

#[tokio::test]
async fn db_rate_limits_gcra_sqlite() {
    rate_limits_gcra(Kind::Sqlite).await;
}

/// A caller refused because its wait exceeds its maximum reserves nothing: many refusals
/// later, the next slot is where it was (both backends).
async fn rate_limits_refusal_takes_no_slot(kind: Kind) {
    let db = TestDb::new(kind).await;
    let conn = db.migrated().await;
    let limits = bridge_db::RateLimits::new(conn.clone());
    let max = Duration::from_secs(3);
    // 0.5/s without burst: one slot every 2 s.
    let first = limits
        .acquire_within("b24:backlog", 0.5, 1, max)
        .await
        .unwrap();
    assert!(
        first.reserved && first.wait < Duration::from_millis(50),
        "{first:?}"
    );
    let second = limits
        .acquire_within("b24:backlog", 0.5, 1, max)
        .await
        .unwrap();
    assert!(second.reserved, "{second:?}");
    assert!(
        second.wait > Duration::from_millis(1500) && second.wait <= max,
        "{second:?}"
    );
    // The third would wait ~4 s: refused, 50 times, and the state does not move.
    for i in 0..50 {
        let refused = limits
            .acquire_within("b24:backlog", 0.5, 1, max)
            .await
            .unwrap();
        assert!(!refused.reserved, "refusal {i}: {refused:?}");
        assert!(
            refused.wait > max && refused.wait <= Duration::from_millis(4100),
            "refusal {i}: {refused:?}"
        );
    }
    // The next caller that accepts the wait gets the third slot, ~4 s out — not 100 s
    // behind the refused backlog.
    let third = limits
        .acquire_within("b24:backlog", 0.5, 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(third.reserved, "{third:?}");
    assert!(
        third.wait > Duration::from_secs(2) && third.wait <= Duration::from_millis(4100),
        "{third:?}"
    );
    // Plain acquire always reserves.
    let fourth = limits.acquire("b24:backlog", 0.5, 1).await.unwrap();
    assert!(
        fourth > third.wait + Duration::from_millis(1500),
        "{fourth:?}"
    );
}

#[tokio::test]
async fn db_rate_limits_refusal_takes_no_slot_postgres() {
    rate_limits_refusal_takes_no_slot(Kind::Postgres).await;
}

#[tokio::test]
async fn db_rate_limits_refusal_takes_no_slot_sqlite() {
    rate_limits_refusal_takes_no_slot(Kind::Sqlite).await;
}
