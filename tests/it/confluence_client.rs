//! The Confluence client against the fake Confluence, both flavours: auth, v2 cursor and v1
//! offset paging, statuses, CQL escaping, 429/5xx handling, the host guard, and OAuth
//! refresh-token rotation under concurrency.

use crate::support::db::{Kind, TestDb};
use bridge_clients::confluence::{
    Attachment, Auth, ConfluenceClient, ConfluenceError, ConfluenceSettings, ContentStatus,
    OAuthSettings, cql,
};
use bridge_core::ErrorClass;
use bridge_core::config::{ConfluenceFlavor, Secret};
use bridge_db::credentials::names;
use bridge_db::entities::confluence_sites::{AuthKind, Flavor as SiteFlavor};
use bridge_db::{CredentialStore, OwnerKind, SiteStore};
use bridge_sandbox::confluence::{FakeConfluence, Flavor};
use reqwest::Url;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn fast(mut s: ConfluenceSettings) -> ConfluenceSettings {
    s.min_backoff = Duration::from_millis(10);
    s.timeout = Duration::from_secs(10);
    s
}

fn cloud_settings(fake: &FakeConfluence) -> ConfluenceSettings {
    let c = fake.credentials();
    fast(ConfluenceSettings::new(
        Url::parse(&fake.base_url()).unwrap(),
        ConfluenceFlavor::Cloud,
        Auth::Basic {
            user: c.cloud_email,
            secret: Secret::new(c.cloud_api_token),
        },
    ))
}

fn dc_settings(fake: &FakeConfluence, pat: bool) -> ConfluenceSettings {
    let c = fake.credentials();
    let auth = if pat {
        Auth::Pat(Secret::new(c.dc_pat))
    } else {
        Auth::Basic {
            user: c.dc_username,
            secret: Secret::new(c.dc_password),
        }
    };
    fast(ConfluenceSettings::new(
        Url::parse(&fake.base_url()).unwrap(),
        ConfluenceFlavor::DataCenter,
        auth,
    ))
}

fn client_for(fake: &FakeConfluence) -> ConfluenceClient {
    match fake.flavor() {
        Flavor::Cloud => ConfluenceClient::new(cloud_settings(fake)).unwrap(),
        Flavor::DataCenter => ConfluenceClient::new(dc_settings(fake, true)).unwrap(),
    }
}

#[derive(Debug)]
struct Req {
    query: String,
}

fn logged(fake: &FakeConfluence, path_part: &str) -> Vec<Req> {
    fake.requests()
        .all()
        .into_iter()
        .filter(|r| r.path.contains(path_part))
        .map(|r| Req {
            query: r.query.unwrap_or_default(),
        })
        .collect()
}

#[tokio::test]
async fn confluence_client_cloud_reads_pages_through_v2_with_basic_auth() {
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    fake.create_space("DOC", "Docs").unwrap();
    let (id, _) = fake
        .create_page("DOC", "Runbook", "<p>v1</p>", None)
        .await
        .unwrap();
    fake.edit_page(id, "<p>v2 body</p>").await.unwrap();
    let user = fake.add_user("557058:watcher", "w@example.com", "Wanda Watcher", "wanda");
    fake.set_watch(id, user, true).unwrap();

    let client = ConfluenceClient::new(cloud_settings(&fake)).unwrap();
    let page = client.page(id).await.unwrap();
    assert_eq!(page.id, id);
    assert_eq!(page.title, "Runbook");
    assert_eq!(page.space_key.as_deref(), Some("DOC"));
    assert_eq!(page.version, 2);
    assert_eq!(page.status, ContentStatus::Current);
    assert!(page.last_modified.is_some());
    assert!(
        page.last_modifier
            .as_ref()
            .and_then(|u| u.account_id.clone())
            .is_some()
    );
    let web = page.web_url.unwrap();
    assert!(web.starts_with(&fake.base_url()), "{web}");
    assert!(web.contains(&format!("/pages/{id}")), "{web}");
    assert!(page.tiny_url.unwrap().contains("/x/"));
    assert_eq!(
        client.page_body_storage(id).await.unwrap(),
        "<p>v2 body</p>"
    );
    // Cloud reads go through v2; watchers through v1.
    assert!(!logged(&fake, &format!("/wiki/api/v2/pages/{id}")).is_empty());
    assert!(logged(&fake, &format!("/wiki/rest/api/content/{id}")).is_empty());
    let watchers = client.watchers(id).await.unwrap();
    let w = watchers
        .iter()
        .find(|w| w.account_id.as_deref() == Some("557058:watcher"))
        .expect("watcher listed");
    assert_eq!(w.email.as_deref(), Some("w@example.com"));
    assert!(
        !logged(
            &fake,
            &format!("/wiki/rest/api/content/{id}/notification/child-created")
        )
        .is_empty()
    );

    // Found by title (v2 list).
    let found = client
        .find_page_by_title("DOC", "Runbook")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    assert!(
        client
            .find_page_by_title("DOC", "Nope")
            .await
            .unwrap()
            .is_none()
    );

    // Wrong credentials: permanent 401, and neither errors nor Debug show a secret.
    let mut bad = cloud_settings(&fake);
    bad.auth = Auth::Basic {
        user: fake.credentials().cloud_email,
        secret: Secret::new("not-the-token-XYZZY"),
    };
    let bad = ConfluenceClient::new(bad).unwrap();
    let err = bad.page(id).await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::Unauthorized { .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err} {err:?} {bad:?}").contains("XYZZY"));
    let token = fake.credentials().cloud_api_token;
    assert!(!format!("{client:?}").contains(&token));
}

#[tokio::test]
async fn confluence_client_from_config_uses_the_bridge_variables() {
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    let c = fake.credentials();
    let base = format!("{}/", fake.base_url());
    let config = bridge_core::Config::from_vars([
        ("BRIDGE_CONFLUENCE_URL".to_owned(), base),
        ("BRIDGE_CONFLUENCE_FLAVOR".to_owned(), "cloud".to_owned()),
        ("BRIDGE_CONFLUENCE_EMAIL".to_owned(), c.cloud_email),
        ("BRIDGE_CONFLUENCE_API_TOKEN".to_owned(), c.cloud_api_token),
    ])
    .unwrap();
    let client = ConfluenceClient::from_config(&config).unwrap();
    assert_eq!(client.site(), fake.base_url());
    fake.create_space("DOC", "Docs").unwrap();
    let (id, _) = fake.create_page("DOC", "P", "<p/>", None).await.unwrap();
    assert_eq!(client.page(id).await.unwrap().id, id);

    let none = bridge_core::Config::from_vars(Vec::<(String, String)>::new()).unwrap();
    assert!(matches!(
        ConfluenceClient::from_config(&none),
        Err(ConfluenceError::NotConfigured(_))
    ));
}

#[tokio::test]
async fn confluence_client_data_center_reads_v1_with_pat_and_basic() {
    let fake = FakeConfluence::start(Flavor::DataCenter).await.unwrap();
    fake.create_space("OPS", "Ops").unwrap();
    let (id, _) = fake
        .create_page("OPS", "Deploy Guide", "<p>x</p>", None)
        .await
        .unwrap();
    let user = fake.add_user("-", "d@example.com", "Dora", "dora");
    fake.set_watch(id, user, true).unwrap();
    for pat in [true, false] {
        let client = ConfluenceClient::new(dc_settings(&fake, pat)).unwrap();
        let page = client.page(id).await.unwrap();
        assert_eq!((page.title.as_str(), page.version), ("Deploy Guide", 1));
        assert_eq!(page.space_key.as_deref(), Some("OPS"));
        assert!(
            page.last_modifier
                .as_ref()
                .and_then(|u| u.username.clone())
                .is_some()
        );
        assert!(page.web_url.unwrap().starts_with(&fake.base_url()));
        assert_eq!(client.page_body_storage(id).await.unwrap(), "<p>x</p>");
        let w = client.watchers(id).await.unwrap();
        assert!(
            w.iter()
                .any(|u| u.username.as_deref() == Some("dora") && u.user_key.is_some())
        );
        let found = client
            .find_page_by_title("OPS", "Deploy Guide")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id);
    }
    let reads = logged(&fake, &format!("/confluence/rest/api/content/{id}"));
    assert!(
        reads
            .iter()
            .any(|r| r.query.contains("expand=space%2Cversion%2Chistory")),
        "{reads:?}"
    );
    assert!(logged(&fake, "/api/v2/").is_empty(), "DC never calls v2");
}

#[tokio::test]
async fn confluence_client_pages_across_cursor_and_offset_paging() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("PG", "Paging").unwrap();
        let mut ids = Vec::new();
        for i in 0..7 {
            let (id, _) = fake
                .create_page("PG", &format!("Paged {i}"), "<p>paging</p>", None)
                .await
                .unwrap();
            ids.push(id);
        }
        let client = match flavor {
            Flavor::Cloud => ConfluenceClient::new(cloud_settings(&fake)).unwrap(),
            Flavor::DataCenter => ConfluenceClient::new(dc_settings(&fake, true)).unwrap(),
        };
        fake.requests().clear();
        let pages = client.pages_in_space("PG", 3).await.unwrap();
        for id in &ids {
            assert!(
                pages.iter().any(|p| p.id == *id),
                "{flavor:?}: {id} missing"
            );
        }
        let cql = r#"space = "PG" and type = page and text ~ "paging""#;
        let hits = client.search_cql(cql, 2).collect_all().await.unwrap();
        for id in &ids {
            assert!(
                hits.iter().any(|h| h.id == *id),
                "{flavor:?}: {id} not found: {hits:?}"
            );
        }
        assert!(
            hits.iter()
                .all(|h| h.space_key.as_deref() == Some("PG") && h.version == Some(1))
        );
        let searches = logged(&fake, "/rest/api/search");
        assert!(searches.len() >= 4, "{flavor:?}: {searches:?}");
        match flavor {
            Flavor::Cloud => {
                let lists = logged(&fake, "/api/v2/spaces/");
                assert!(
                    lists.iter().filter(|r| r.query.contains("cursor=")).count() >= 2,
                    "{lists:?}"
                );
                assert!(searches.iter().skip(1).all(|r| r.query.contains("cursor=")));
            }
            Flavor::DataCenter => {
                let lists = logged(&fake, "/rest/api/content");
                assert!(
                    lists.iter().any(|r| r.query.contains("start=3")),
                    "{lists:?}"
                );
                assert!(
                    searches.iter().any(|r| r.query.contains("start=4")),
                    "{searches:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn confluence_client_trashed_reads_as_trashed_and_purged_as_not_found() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("TR", "Trash").unwrap();
        let (id, _) = fake
            .create_page("TR", "Gone soon", "<p/>", None)
            .await
            .unwrap();
        let client = match flavor {
            Flavor::Cloud => ConfluenceClient::new(cloud_settings(&fake)).unwrap(),
            Flavor::DataCenter => ConfluenceClient::new(dc_settings(&fake, false)).unwrap(),
        };
        fake.trash(id).await.unwrap();
        assert_eq!(
            client.page(id).await.unwrap().status,
            ContentStatus::Trashed,
            "{flavor:?}"
        );
        fake.purge(id).await.unwrap();
        let err = client.page(id).await.unwrap_err();
        assert!(err.is_not_found(), "{flavor:?}: {err:?}");
        assert_eq!(err.class(), ErrorClass::Permanent);
        // A blog post is found by the same call.
        if flavor == Flavor::Cloud {
            let (b, _) = fake.create_blogpost("TR", "News", "<p/>").await.unwrap();
            let p = client.page(b).await.unwrap();
            assert_eq!(
                p.content_type,
                bridge_clients::confluence::ContentKind::BlogPost
            );
        }
    }
}

#[tokio::test]
async fn confluence_client_cql_escapes_quotes_and_backslashes() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("ESC", "Escapes").unwrap();
        let tricky = r#"Say "hi" \ to C:\temp"#;
        let (id, _) = fake.create_page("ESC", tricky, "<p/>", None).await.unwrap();
        fake.create_page("ESC", "Say hi", "<p/>", None)
            .await
            .unwrap();
        let client = match flavor {
            Flavor::Cloud => ConfluenceClient::new(cloud_settings(&fake)).unwrap(),
            Flavor::DataCenter => ConfluenceClient::new(dc_settings(&fake, true)).unwrap(),
        };
        let hits = client
            .search_cql(&cql::page_by_title("ESC", tricky), 25)
            .collect_all()
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "{flavor:?}: {hits:?}");
        assert_eq!((hits[0].id, hits[0].title.as_str()), (id, tricky));
        let found = client
            .find_page_by_title("ESC", tricky)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id);
    }
}

#[tokio::test]
async fn confluence_client_honours_retry_after_and_classifies_server_errors() {
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    fake.create_space("RL", "Limits").unwrap();
    let (id, _) = fake
        .create_page("RL", "Limited", "<p/>", None)
        .await
        .unwrap();
    let client = ConfluenceClient::new(cloud_settings(&fake)).unwrap();

    // 429 with Retry-After: 1 → waited for, then success.
    fake.faults().update(|k| {
        k.too_many_requests_share = 1.0;
        k.retry_after_secs = 1;
    });
    let faults = fake.faults().clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        faults.update(|k| k.too_many_requests_share = 0.0);
    });
    fake.requests().clear();
    let t0 = Instant::now();
    assert_eq!(client.page(id).await.unwrap().id, id);
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t0.elapsed()
    );
    let statuses: Vec<u16> = fake.requests().all().iter().map(|r| r.status).collect();
    assert_eq!(statuses.first(), Some(&429));
    assert!(statuses.contains(&200));

    // An absurd Retry-After is clamped and handed back to the broker, not slept on.
    fake.faults().update(|k| {
        k.too_many_requests_share = 1.0;
        k.retry_after_secs = 9_000_000_000;
    });
    fake.requests().clear();
    let t0 = Instant::now();
    let err = client.page(id).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, ConfluenceError::RateLimited { .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(fake.requests().all().len(), 1);

    // 5xx: a bounded number of retries, then a retryable error.
    fake.faults().update(|k| {
        k.too_many_requests_share = 0.0;
        k.error_5xx_share = 1.0;
    });
    fake.requests().clear();
    let err = client.page(id).await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
    assert_eq!(fake.requests().all().len(), 4, "one try and three retries");
}

/// A site whose answers point elsewhere, and the elsewhere, counting its requests.
#[tokio::test]
async fn confluence_client_never_calls_another_host() {
    use axum::Json;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    let evil_hits = Arc::new(AtomicUsize::new(0));
    let hits = evil_hits.clone();
    let evil = axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            Json(serde_json::json!({"results": [], "_links": {}}))
        }
    });
    let evil_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Another host name for the same machine: only the origin differs.
    let evil_url = format!(
        "http://localhost:{}",
        evil_listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(evil_listener, evil).await });

    let e1 = evil_url.clone();
    let e2 = evil_url.clone();
    let e3 = evil_url.clone();
    let site = axum::Router::new()
        .route(
            "/wiki/rest/api/search",
            get(move || {
                let e = e1.clone();
                async move {
                    Json(serde_json::json!({
                        "results": [{"content": {"id": "1", "type": "page", "title": "A"}}],
                        "_links": {"next": format!("{e}/wiki/rest/api/search?cursor=abc")}
                    }))
                }
            }),
        )
        .route(
            "/wiki/api/v2/spaces/7/pages",
            get(move || {
                let e = e2.clone();
                async move {
                    let mut h = HeaderMap::new();
                    h.insert(
                        header::LINK,
                        format!("<{e}/wiki/api/v2/spaces/7/pages?cursor=x>; rel=\"next\"")
                            .parse()
                            .unwrap(),
                    );
                    (
                        h,
                        Json(serde_json::json!({"results": [{"id": "2", "title": "B"}]})),
                    )
                }
            }),
        )
        .route(
            "/wiki/api/v2/spaces",
            get(|| async { Json(serde_json::json!({"results": [{"id": "7", "key": "K"}]})) }),
        )
        .route(
            "/wiki/api/v2/pages/{id}",
            get(move || {
                let e = e3.clone();
                async move {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, format!("{e}/wiki/api/v2/pages/1"))],
                    )
                }
            }),
        );
    let site_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_url = format!(
        "http://127.0.0.1:{}/wiki",
        site_listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(site_listener, site).await });

    let client = ConfluenceClient::new(fast(ConfluenceSettings::new(
        Url::parse(&site_url).unwrap(),
        ConfluenceFlavor::Cloud,
        Auth::Basic {
            user: "u".into(),
            secret: Secret::new("t"),
        },
    )))
    .unwrap();
    let mut search = client.search_cql("type = page", 1);
    let first = search.next_page().await.unwrap().unwrap();
    assert_eq!(first[0].id, 1);
    let err = search.next_page().await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::ForeignHost { .. }),
        "{err:?}"
    );
    let err = client.pages_in_space("K", 10).await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::ForeignHost { .. }),
        "{err:?}"
    );
    let err = client.page(1).await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::ForeignHost { .. }),
        "{err:?}"
    );
    let err = client
        .get_json(&format!("{evil_url}/wiki/rest/api/content/1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConfluenceError::ForeignHost { .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "the other host was never called"
    );
}

#[tokio::test]
async fn confluence_client_oauth_rotates_refresh_tokens_once_for_twenty_callers() {
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    fake.create_space("OA", "OAuth").unwrap();
    let (id, _) = fake
        .create_page("OA", "Via gateway", "<p/>", None)
        .await
        .unwrap();
    let creds = fake.credentials();

    // The install flow: a code exchanged for the first tokens.
    let redirect = "https://bridge.example/oauth/callback";
    let code = fake.issue_oauth_code(redirect);
    let first: serde_json::Value = reqwest::Client::new()
        .post(fake.oauth_token_url())
        .json(&serde_json::json!({"grant_type": "authorization_code", "client_id": creds.oauth_client_id,
            "client_secret": creds.oauth_client_secret, "code": code, "redirect_uri": redirect}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let tdb = TestDb::new(Kind::Sqlite).await;
    let db = tdb.migrated().await;
    let keyring = bridge_core::crypto::Keyring::new([7; 32], vec![]);
    let store = CredentialStore::new(db.clone(), Arc::new(keyring));
    let site_id = SiteStore::new(db.clone(), store.clone())
        .ensure(&fake.base_url(), SiteFlavor::Cloud, AuthKind::OAuth)
        .await
        .unwrap();
    store
        .put(
            OwnerKind::Site,
            site_id,
            names::REFRESH_TOKEN,
            &first_refresh,
        )
        .await
        .unwrap();
    // A stale access token that the gateway no longer accepts, not yet "expired" locally.
    store
        .put_expiring(
            OwnerKind::Site,
            site_id,
            names::ACCESS_TOKEN,
            "stale-access-token",
            Some(chrono::Utc::now() + chrono::TimeDelta::hours(1)),
        )
        .await
        .unwrap();

    let settings = |store: CredentialStore| {
        let mut s = fast(ConfluenceSettings::new(
            Url::parse(&fake.gateway_base_url()).unwrap(),
            ConfluenceFlavor::Cloud,
            Auth::OAuth(OAuthSettings {
                client_id: creds.oauth_client_id.clone(),
                client_secret: Secret::new(creds.oauth_client_secret.clone()),
                token_url: Url::parse(&fake.oauth_token_url()).unwrap(),
                store,
                site_id,
            }),
        ));
        s.web_base_url = Some(Url::parse(&fake.base_url()).unwrap());
        s
    };
    let client = ConfluenceClient::new(settings(store.clone())).unwrap();
    assert_eq!(client.site(), fake.base_url());
    fake.requests().clear();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let c = client.clone();
        tasks.spawn(async move { c.page(id).await });
    }
    while let Some(r) = tasks.join_next().await {
        let page = r.unwrap().unwrap();
        assert_eq!(page.space_key.as_deref(), Some("OA"));
        assert!(page.web_url.unwrap().starts_with(&fake.base_url()));
    }
    let token_calls = fake.requests().matching("/oauth/token").len();
    assert_eq!(token_calls, 1, "20 concurrent callers cause one refresh");
    assert_eq!(client.oauth_refresh_count(), Some(1));
    assert!(
        fake.requests()
            .all()
            .iter()
            .filter(|r| r.path.contains("/api/v2/"))
            .all(|r| r.path.starts_with("/ex/confluence/")),
        "OAuth calls go through the gateway"
    );

    // The rotated refresh token was persisted; the old one is dead at the vendor.
    let stored = store
        .get(OwnerKind::Site, site_id, names::REFRESH_TOKEN)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.expose(), first_refresh);
    let old = reqwest::Client::new()
        .post(fake.oauth_token_url())
        .json(
            &serde_json::json!({"grant_type": "refresh_token", "client_id": creds.oauth_client_id,
            "client_secret": creds.oauth_client_secret, "refresh_token": first_refresh}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 403);

    // Another process starting later uses the stored access token without refreshing.
    let other = ConfluenceClient::new(settings(store.clone())).unwrap();
    fake.requests().clear();
    assert_eq!(other.page(id).await.unwrap().id, id);
    assert_eq!(fake.requests().matching("/oauth/token").len(), 0);
    assert!(!format!("{other:?}").contains(stored.expose()));
    assert!(!format!("{other:?}").contains(&creds.oauth_client_secret));

    // A grant revoked at the vendor: a permanent error, no secret in it.
    store
        .put(
            OwnerKind::Site,
            site_id,
            names::REFRESH_TOKEN,
            "revoked-refresh-QWERTY",
        )
        .await
        .unwrap();
    store
        .put(OwnerKind::Site, site_id, names::ACCESS_TOKEN, "stale-again")
        .await
        .unwrap();
    let third = ConfluenceClient::new(settings(store)).unwrap();
    let err = third.page(id).await.unwrap_err();
    assert!(
        matches!(err, ConfluenceError::OAuth { status: 403, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(!format!("{err} {err:?}").contains("QWERTY"));
}

#[tokio::test]
async fn confluence_client_reads_the_parent_page_on_both_flavours() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("TREE", "Tree").unwrap();
        let home = fake.page_id("TREE", "Tree Home").unwrap();
        let (top, _) = fake.create_page("TREE", "Top", "<p/>", None).await.unwrap();
        let (nested, _) = fake
            .create_page("TREE", "Nested", "<p/>", Some(top))
            .await
            .unwrap();
        let client = client_for(&fake);
        assert_eq!(
            client.page(home).await.unwrap().parent_id,
            None,
            "{flavor:?}: root"
        );
        assert_eq!(
            client.page(top).await.unwrap().parent_id,
            Some(home),
            "{flavor:?}"
        );
        assert_eq!(
            client.page(nested).await.unwrap().parent_id,
            Some(top),
            "{flavor:?}"
        );

        let listed = client.pages_in_space("TREE", 2).await.unwrap();
        let parent_of = |id: u64| listed.iter().find(|p| p.id == id).unwrap().parent_id;
        assert_eq!(
            (parent_of(home), parent_of(top), parent_of(nested)),
            (None, Some(home), Some(top)),
            "{flavor:?}: listings carry the parent too"
        );

        // A move shows on the next read.
        fake.move_page(nested, Some(home), None).await.unwrap();
        assert_eq!(
            client.page(nested).await.unwrap().parent_id,
            Some(home),
            "{flavor:?}"
        );

        match flavor {
            Flavor::Cloud => {
                let (blog, _) = fake.create_blogpost("TREE", "News", "<p/>").await.unwrap();
                assert_eq!(client.page(blog).await.unwrap().parent_id, None);
            }
            Flavor::DataCenter => {
                let reads = logged(&fake, "/confluence/rest/api/content");
                assert!(
                    reads.iter().all(|r| r.query.contains("ancestors")),
                    "every DC page read expands ancestors: {reads:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn confluence_client_lists_attachments_across_listing_pages() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("ATT", "Attachments").unwrap();
        let (page, _) = fake
            .create_page("ATT", "Files", "<p/>", None)
            .await
            .unwrap();
        // Cloud asks for the v2 maximum (250) a page; DC's limit is clamped to 2 here, as a
        // server may do silently.
        let count = match flavor {
            Flavor::Cloud => 252,
            Flavor::DataCenter => {
                fake.set_knobs(|k| k.v1_limit_cap = 2);
                5
            }
        };
        let mut files = Vec::new();
        for i in 0..count {
            let name = format!("file {i}.txt");
            let bytes = format!("content {i}").into_bytes();
            let (id, _) = fake
                .add_attachment(page, &name, "text/plain", bytes.clone())
                .await
                .unwrap();
            files.push((id, name, bytes));
        }
        // A second upload is a new version of the same attachment.
        fake.add_attachment(page, "file 0.txt", "text/plain", b"content 0 v2".to_vec())
            .await
            .unwrap();
        files[0].2 = b"content 0 v2".to_vec();

        let client = client_for(&fake);
        fake.requests().clear();
        let list = client.attachments(page).await.unwrap();
        assert_eq!(list.len(), count, "{flavor:?}: every attachment once");
        for (id, name, bytes) in &files {
            let a = list
                .iter()
                .find(|a| a.id == id.to_string())
                .unwrap_or_else(|| {
                    panic!("{flavor:?}: {id} missing (ids come without the att prefix)")
                });
            assert_eq!(a.file_name, *name);
            assert_eq!(a.media_type.as_deref(), Some("text/plain"));
            assert_eq!(a.file_size, Some(bytes.len() as u64));
            assert_eq!(a.version, if name == "file 0.txt" { 2 } else { 1 });
            assert!(
                a.download
                    .starts_with(&format!("/download/attachments/{page}/")),
                "relative to the site base: {}",
                a.download
            );
        }
        match flavor {
            Flavor::Cloud => {
                let calls = logged(&fake, &format!("/wiki/api/v2/pages/{page}/attachments"));
                assert_eq!(calls.len(), 2, "{calls:?}");
                assert!(calls[0].query.contains("limit=250"));
                assert!(calls[1].query.contains("cursor="));
            }
            Flavor::DataCenter => {
                let calls = logged(&fake, &format!("/rest/api/content/{page}/child/attachment"));
                assert_eq!(calls.len(), 3, "5 attachments, 2 a page: {calls:?}");
                assert!(calls[2].query.contains("start=4"), "{calls:?}");
            }
        }

        // Blog posts: DC's v1 serves both kinds; Cloud falls back to /blogposts on a 404.
        let (blog, _) = fake.create_blogpost("ATT", "News", "<p/>").await.unwrap();
        fake.add_attachment(blog, "news.png", "image/png", vec![1, 2, 3])
            .await
            .unwrap();
        let on_blog = client.attachments(blog).await.unwrap();
        assert_eq!(on_blog.len(), 1, "{flavor:?}");
        assert_eq!(
            (on_blog[0].file_name.as_str(), on_blog[0].file_size),
            ("news.png", Some(3))
        );
        if flavor == Flavor::Cloud {
            assert!(!logged(&fake, &format!("/api/v2/blogposts/{blog}/attachments")).is_empty());
        }

        // An empty page, and a page that does not exist.
        let (empty, _) = fake
            .create_page("ATT", "Empty", "<p/>", None)
            .await
            .unwrap();
        assert!(client.attachments(empty).await.unwrap().is_empty());
        let err = client.attachments(1).await.unwrap_err();
        assert!(err.is_not_found(), "{flavor:?}: {err:?}");
    }
}

#[tokio::test]
async fn confluence_client_downloads_attachment_bytes_within_the_limit() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let fake = FakeConfluence::start(flavor).await.unwrap();
        fake.create_space("DL", "Downloads").unwrap();
        let (page, _) = fake.create_page("DL", "Files", "<p/>", None).await.unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        fake.add_attachment(
            page,
            "data file.bin",
            "application/octet-stream",
            bytes.clone(),
        )
        .await
        .unwrap();
        let client = client_for(&fake);
        let list = client.attachments(page).await.unwrap();
        let a = &list[0];
        assert_eq!(
            client
                .download_attachment(a, bytes.len() as u64)
                .await
                .unwrap(),
            bytes,
            "{flavor:?}: exactly the limit is fine"
        );

        // The same link written site-root relative (with `/wiki` or the context path).
        let context = Url::parse(&fake.base_url()).unwrap().path().to_owned();
        let rooted = Attachment {
            download: format!("{context}{}", a.download),
            ..a.clone()
        };
        assert_eq!(
            client.download_attachment(&rooted, 1 << 20).await.unwrap(),
            bytes
        );

        // Over the limit: refused by Content-Length, permanently.
        fake.requests().clear();
        let err = client
            .download_attachment(a, bytes.len() as u64 - 1)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConfluenceError::TooLarge { size: Some(s), limit, .. }
                if s == bytes.len() as u64 && limit == bytes.len() as u64 - 1),
            "{flavor:?}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert_eq!(fake.requests().all().len(), 1, "not retried");

        // Same retry classes as other calls: 429 waited for, 5xx retried then retryable.
        fake.faults().update(|k| {
            k.too_many_requests_share = 1.0;
            k.retry_after_secs = 1;
        });
        let faults = fake.faults().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            faults.update(|k| k.too_many_requests_share = 0.0);
        });
        fake.requests().clear();
        assert_eq!(client.download_attachment(a, 1 << 20).await.unwrap(), bytes);
        let statuses: Vec<u16> = fake.requests().all().iter().map(|r| r.status).collect();
        assert_eq!(statuses.first(), Some(&429), "{statuses:?}");
        assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
        fake.faults().update(|k| k.error_5xx_share = 1.0);
        fake.requests().clear();
        let err = client.download_attachment(a, 1 << 20).await.unwrap_err();
        assert!(matches!(err, ConfluenceError::Server { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Retryable);
        assert_eq!(fake.requests().all().len(), 4, "one try and three retries");
        fake.faults().update(|k| k.error_5xx_share = 0.0);

        // Wrong credentials: the download is refused like any call.
        let mut bad = dc_settings(&fake, true);
        if flavor == Flavor::Cloud {
            bad = cloud_settings(&fake);
            bad.auth = Auth::Basic {
                user: fake.credentials().cloud_email,
                secret: Secret::new("wrong"),
            };
        } else {
            bad.auth = Auth::Pat(Secret::new("wrong"));
        }
        let err = ConfluenceClient::new(bad)
            .unwrap()
            .download_attachment(a, 1 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConfluenceError::Unauthorized { .. }),
            "{err:?}"
        );
    }
}

/// A bare HTTP/1.1 server: `/wiki/download/stream` streams `total` bytes chunked (no
/// `Content-Length`) and counts what it managed to write; `/wiki/download/away` redirects
/// to `away`. Returns its base URL and the written-bytes counter.
async fn raw_site(total: usize, away: String) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://127.0.0.1:{}/wiki",
        listener.local_addr().unwrap().port()
    );
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            let away = away.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                if head.starts_with("GET /wiki/download/away") {
                    let r = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {away}\r\nContent-Length: 0\r\n\r\n"
                    );
                    let _ = sock.write_all(r.as_bytes()).await;
                    return;
                }
                let r = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(r.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'z'; 16 * 1024];
                let mut sent = 0;
                while sent < total {
                    let frame =
                        [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                    if sock.write_all(&frame).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                    counter.fetch_add(chunk.len(), Ordering::SeqCst);
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (base, written)
}

#[tokio::test]
async fn confluence_client_download_stays_on_the_site_and_stops_oversize_streams() {
    use axum::http::StatusCode;
    let evil_hits = Arc::new(AtomicUsize::new(0));
    let hits = evil_hits.clone();
    let evil = axum::Router::new().fallback(move || {
        let hits = hits.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            (StatusCode::OK, "secret bytes")
        }
    });
    let evil_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_url = format!(
        "http://localhost:{}",
        evil_listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(evil_listener, evil).await });

    const TOTAL: usize = 256 * 1024 * 1024;
    let (site, written) = raw_site(TOTAL, format!("{evil_url}/download/x")).await;
    let client = ConfluenceClient::new(fast(ConfluenceSettings::new(
        Url::parse(&site).unwrap(),
        ConfluenceFlavor::Cloud,
        Auth::Basic {
            user: "u".into(),
            secret: Secret::new("t"),
        },
    )))
    .unwrap();
    let att = |download: String| Attachment {
        id: "1".into(),
        file_name: "f".into(),
        media_type: None,
        file_size: None,
        version: 1,
        download,
    };

    // An absolute link to another host: refused, never fetched.
    for foreign in [
        format!("{evil_url}/wiki/download/attachments/1/f"),
        format!(
            "//localhost:{}/x",
            Url::parse(&evil_url).unwrap().port().unwrap()
        ),
    ] {
        let err = client
            .download_attachment(&att(foreign), 1 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConfluenceError::ForeignHost { .. }),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
    // A redirect to another host: not followed.
    let err = client
        .download_attachment(&att("/download/away".into()), 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConfluenceError::ForeignHost { .. }),
        "{err:?}"
    );
    assert_eq!(
        evil_hits.load(Ordering::SeqCst),
        0,
        "the other host was never called"
    );

    // No Content-Length: counted while streaming, stopped soon after the limit.
    let t0 = Instant::now();
    let err = client
        .download_attachment(&att("/download/stream".into()), 100_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfluenceError::TooLarge {
                size: None,
                limit: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.to_string().contains("100000"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < TOTAL / 4,
        "the body was abandoned, not read to the end: {sent}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
}
