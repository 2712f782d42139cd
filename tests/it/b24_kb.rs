//! The B24 client's knowledge-base and Disk helpers against the fake Bitrix24 over real
//! HTTP: REST 3.0 calls (error objects, token refresh, idempotent replay), Knowledge Base 2.0
//! (`note.*`), the classic knowledge base (landing KNOWLEDGE sites) and Disk uploads.

use crate::support::db::{Kind, TestDb};
use bridge_clients::b24::codes;
use bridge_clients::b24::{
    B24Client, B24Error, B24Settings, KB_CLASSIC_BLOCK_CODE, NoteDocument, RateLimit,
};
use bridge_core::config::Secret;
use bridge_core::crypto::Keyring;
use bridge_core::{Config, ErrorClass};
use bridge_db::portals::ConfirmedInstall;
use bridge_db::{CredentialStore, Db, PortalInstall, PortalStore};
use bridge_sandbox::b24::{AppInstall, AppSpec, FakeB24, Knobs, LimitsConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Env {
    fake: FakeB24,
    _db: TestDb,
    conn: Db,
    creds: CredentialStore,
    install: AppInstall,
    settings: B24Settings,
}

fn generous(fake: &FakeB24) -> B24Settings {
    fake.set_limits(LimitsConfig {
        drain_per_sec: 1000.0,
        burst: 1000.0,
    });
    B24Settings {
        rate_limit: RateLimit {
            drain_per_sec: 1000.0,
            burst: 1000,
        },
        ..B24Settings::default()
    }
}

/// A fake portal with the app installed and stored, active, in a fresh PostgreSQL database
/// with `client_endpoint` as given (default: the fake's); access tokens issued at install
/// live `token_ttl` (default an hour).
async fn env_at(endpoint: Option<String>, token_ttl: Option<Duration>) -> Env {
    bridge_telemetry::init_for_tests();
    let fake = FakeB24::start().await.unwrap();
    if let Some(ttl) = token_ttl {
        fake.set_token_ttl(ttl);
    }
    let install = fake.portal().install_app(AppSpec::default()).unwrap();
    fake.set_token_ttl(Duration::from_secs(3600));
    let db = TestDb::new(Kind::Postgres).await;
    let conn = db.migrated().await;
    let creds = CredentialStore::new(conn.clone(), Arc::new(Keyring::new([7; 32], vec![])));
    let portals = PortalStore::new(conn.clone(), creds.clone());
    let client_endpoint = endpoint.unwrap_or_else(|| install.client_endpoint.clone());
    portals
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
    let mut settings = B24Settings::from_config(&config);
    settings.rate_limit = generous(&fake).rate_limit;
    Env {
        fake,
        _db: db,
        conn,
        creds,
        install,
        settings,
    }
}

async fn env_with(token_ttl: Option<Duration>) -> Env {
    env_at(None, token_ttl).await
}

async fn env() -> Env {
    env_with(None).await
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
}

/// A client of an inbound webhook of user 1 with `scopes` (empty: all), no database.
async fn webhook_client(scopes: &[&str]) -> (FakeB24, B24Client, String) {
    bridge_telemetry::init_for_tests();
    let fake = FakeB24::start().await.unwrap();
    let settings = generous(&fake);
    let hook = fake.portal().create_webhook(1, scopes).unwrap();
    let client = B24Client::webhook(&Secret::new(hook.url.clone()), &settings, None).unwrap();
    (fake, client, hook.secret)
}

fn body_of(fake: &FakeB24, path_suffix: &str) -> Vec<Value> {
    fake.requests()
        .matching(path_suffix)
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
        .collect()
}

// ---- REST 3.0 ----

#[tokio::test]
async fn b24_kb_v3_goes_to_rest_api_and_maps_error_objects() {
    let env = env().await;
    let client = env.client().await;
    let r = client
        .call_v3(
            "note.collection.add",
            json!({"fields": {"name": "Docs"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r["item"]["name"], "Docs", "{r}");
    let req = env
        .fake
        .requests()
        .matching("/note.collection.add")
        .pop()
        .unwrap();
    assert_eq!(req.path, "/rest/api/note.collection.add");
    assert!(
        req.body.contains(&env.install.access_token),
        "auth in the body"
    );
    assert!(!req.query.unwrap_or_default().contains("auth"));

    // Not found: a 400 with an error object; permanent.
    let e = client
        .call_v3("note.document.get", json!({"id": 999_999}), None)
        .await
        .unwrap_err();
    assert!(e.is_code(codes::V3_ENTITY_NOT_FOUND), "{e}");
    assert_eq!((e.status(), e.class()), (Some(400), ErrorClass::Permanent));
    // Validation: the field comes along.
    let e = client
        .call_v3("note.collection.add", json!({"fields": {}}), None)
        .await
        .unwrap_err();
    assert!(e.is_code(codes::V3_VALIDATION), "{e}");
    assert!(e.to_string().contains("name"), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    // Unknown method.
    let e = client
        .call_v3("note.nothing.here", json!({}), None)
        .await
        .unwrap_err();
    assert!(e.is_code(codes::METHOD_NOT_FOUND), "{e}");
    assert_eq!((e.status(), e.class()), (Some(404), ErrorClass::Permanent));
    // A bad Idempotency-Key never leaves the client.
    let before = env.fake.requests().all().len();
    let e = client
        .call_v3("note.collection.add", json!({}), Some(&"k".repeat(256)))
        .await
        .unwrap_err();
    assert!(matches!(e, B24Error::Invalid(_)), "{e:?}");
    assert_eq!(env.fake.requests().all().len(), before);
    // The portal's limits and 5xx are retryable, as on classic calls.
    env.fake
        .set_operation_time_limited(&["note.collection.list"]);
    let e = client
        .call_v3("note.collection.list", json!({}), None)
        .await
        .unwrap_err();
    assert!(e.is_code("OPERATION_TIME_LIMIT"), "{e}");
    assert_eq!(e.class(), ErrorClass::Retryable);
    env.fake.set_operation_time_limited(&[]);
    env.fake.faults().update(|k| k.error_5xx_share = 1.0);
    let e = client
        .call_v3("note.collection.list", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Retryable, "{e}");
    env.fake.faults().update(|k| k.error_5xx_share = 0.0);
    // Secrets stay out of errors.
    assert!(!format!("{e} {e:?}").contains(&env.install.access_token));
}

#[tokio::test]
async fn b24_kb_v3_webhook_path_and_missing_scope() {
    let (fake, client, secret) = webhook_client(&["task", "landing"]).await;
    let e = client
        .call_v3("note.collection.list", json!({}), None)
        .await
        .unwrap_err();
    assert!(e.is_code(codes::V3_INSUFFICIENT_SCOPE), "{e}");
    assert_eq!((e.status(), e.class()), (Some(403), ErrorClass::Permanent));
    let req = fake
        .requests()
        .matching("/note.collection.list")
        .pop()
        .unwrap();
    assert_eq!(
        req.path,
        format!("/rest/api/1/{secret}/note.collection.list")
    );
    assert!(!req.body.contains("\"auth\""));
    assert!(!format!("{e} {e:?} {client:?}").contains(&secret));
    // Without the note scope KB 2.0 is "not available" rather than an error.
    assert!(!client.kb2_available().await.unwrap());
}

#[tokio::test]
async fn b24_kb_v3_refreshes_an_expired_token_once() {
    let env = env_with(Some(Duration::from_secs(1))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let client = env.client().await;
    let r = client
        .call_v3(
            "note.collection.list",
            json!({"pagination": {"limit": 5}}),
            None,
        )
        .await
        .unwrap();
    assert!(r["items"].is_array(), "{r}");
    assert_eq!(client.refresh_count(), 1);
    let statuses: Vec<u16> = env
        .fake
        .requests()
        .matching("/rest/api/note.collection.list")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![401, 200]);
    assert_eq!(env.fake.requests().matching("/oauth/token/").len(), 1);
}

/// A moved portal: the v3 POST is re-sent as is to the new host, which is stored.
#[tokio::test]
async fn b24_kb_v3_follows_a_domain_change_with_the_same_post() {
    use axum::http::{StatusCode, Uri, header};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old = format!("http://{}", listener.local_addr().unwrap());
    let target = Arc::new(std::sync::Mutex::new(String::new()));
    let t = target.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let to = format!("{}{}", t.lock().unwrap(), uri.path());
        async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let mut env = env_at(Some(format!("{old}/rest/")), None).await;
    *target.lock().unwrap() = env.fake.base_url().to_owned();
    env.settings.extra_redirect_hosts = vec!["127.0.0.1".into()];
    let client = env.client().await;
    let r = client
        .call_v3(
            "note.collection.add",
            json!({"fields": {"name": "Moved"}}),
            Some("moved-1"),
        )
        .await
        .unwrap();
    assert_eq!(r["item"]["name"], "Moved");
    let req = env
        .fake
        .requests()
        .matching("/rest/api/note.collection.add")
        .pop()
        .unwrap();
    assert_eq!(req.method, "POST", "not turned into GET");
    assert!(req.body.contains("Moved") && req.body.contains("auth"));
    assert_eq!(client.base_url().as_str(), env.fake.rest_url());
    let stored = PortalStore::new(env.conn.clone(), env.creds.clone())
        .find(&env.install.member_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_endpoint, env.fake.rest_url());
}

// ---- Knowledge Base 2.0 ----

#[tokio::test]
async fn b24_kb2_probe_collections_and_documents_round_trip() {
    let env = env().await;
    let client = env.client().await;
    assert!(client.kb2_available().await.unwrap());
    env.fake.portal().set_kb2_available(false);
    assert!(!client.kb2_available().await.unwrap());
    env.fake.portal().set_kb2_available(true);

    // More collections than one page holds: the one sought is found on a later page.
    for i in 0..205 {
        client
            .call_v3(
                "note.collection.add",
                json!({"fields": {"name": format!("other {i}")}}),
                None,
            )
            .await
            .unwrap();
    }
    let cid = client
        .kb2_ensure_collection("Confluence ENG", None)
        .await
        .unwrap();
    assert_eq!(
        client
            .kb2_ensure_collection("Confluence ENG", None)
            .await
            .unwrap(),
        cid
    );
    let named: Vec<_> = env
        .fake
        .portal()
        .collections()
        .into_iter()
        .filter(|c| c.name == "Confluence ENG")
        .collect();
    assert_eq!(named.len(), 1);
    let lists = body_of(&env.fake, "/note.collection.list");
    assert!(
        lists
            .iter()
            .any(|b| b["pagination"]["afterCursor"].is_object()),
        "paged with the cursor"
    );

    let root = client
        .kb2_add_document(cid, None, "Root", "# Root", "page-1-v1")
        .await
        .unwrap();
    assert_eq!(
        root,
        NoteDocument {
            id: root.id,
            collection_id: cid,
            parent_id: None,
            title: "Root".into(),
        }
    );
    let child = client
        .kb2_add_document(cid, Some(root.id), "Child", "text", "page-2-v1")
        .await
        .unwrap();
    assert_eq!(child.parent_id, Some(root.id));
    assert_eq!(
        client.kb2_get_document(child.id).await.unwrap(),
        Some(child.clone())
    );
    assert_eq!(client.kb2_get_document(999_999).await.unwrap(), None);

    client
        .kb2_update_document(child.id, Some("Child v2"), None)
        .await
        .unwrap();
    client
        .kb2_update_document(child.id, None, Some("new text"))
        .await
        .unwrap();
    let before = env.fake.requests().matching("/note.document.update").len();
    client
        .kb2_update_document(child.id, None, None)
        .await
        .unwrap();
    assert_eq!(
        env.fake.requests().matching("/note.document.update").len(),
        before,
        "nothing to change, nothing sent"
    );
    let doc = env
        .fake
        .portal()
        .documents()
        .into_iter()
        .find(|d| d.id == child.id)
        .unwrap();
    assert_eq!(
        (doc.title.as_str(), doc.markdown.as_str()),
        ("Child v2", "new text")
    );

    client.kb2_archive_document(child.id).await.unwrap();
    assert_eq!(client.kb2_get_document(child.id).await.unwrap(), None);
    client.kb2_archive_document(child.id).await.unwrap();
    client.kb2_delete_document(root.id).await.unwrap();
    assert_eq!(client.kb2_get_document(root.id).await.unwrap(), None);
    client.kb2_delete_document(root.id).await.unwrap();
    assert!(
        env.fake
            .portal()
            .documents()
            .iter()
            .all(|d| d.id != root.id)
    );
}

#[tokio::test]
async fn b24_kb2_add_document_replays_with_the_same_idempotency_key() {
    let env = env_with(Some(Duration::from_secs(1))).await;
    // Tokens from the coming refreshes live 2 s, so the replay below runs with a new one.
    env.fake.set_token_ttl(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let client = env.client().await;
    let cid = client.kb2_ensure_collection("Space", None).await.unwrap();
    let first = client
        .kb2_add_document(cid, None, "Page", "# Page", "confluence:42:v1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The answer was lost and the job runs again, after a token refresh (another `auth` in
    // the body): the same document, not a second one.
    let again = client
        .kb2_add_document(cid, None, "Page", "# Page", "confluence:42:v1")
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(client.refresh_count(), 2);
    let pages: Vec<_> = env
        .fake
        .portal()
        .documents()
        .into_iter()
        .filter(|d| d.title == "Page")
        .collect();
    assert_eq!(pages.len(), 1);
    // The same key with other content is a permanent 422.
    let e = client
        .kb2_add_document(cid, None, "Page", "# Other", "confluence:42:v1")
        .await
        .unwrap_err();
    assert!(e.is_code(codes::V3_IDEMPOTENCY_KEY_REUSED), "{e}");
    assert_eq!((e.status(), e.class()), (Some(422), ErrorClass::Permanent));
    let adds = env.fake.requests().matching("/rest/api/note.document.add");
    let statuses: Vec<u16> = adds.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 401, 200, 422]);
    let auth = |i: usize| {
        serde_json::from_str::<Value>(&adds[i].body).unwrap()["auth"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(auth(0), auth(2), "replayed under a refreshed token");
}

#[tokio::test]
async fn b24_kb2_update_overwrites_unsaved_changes_once() {
    let env = env().await;
    let client = env.client().await;
    let cid = client.kb2_ensure_collection("Space", None).await.unwrap();
    let doc = client
        .kb2_add_document(cid, None, "Page", "v1", "k-1")
        .await
        .unwrap();
    env.fake.portal().set_document_being_edited(doc.id, true);
    client
        .kb2_update_document(doc.id, Some("Page"), Some("v2 from Confluence"))
        .await
        .unwrap();
    let stored = env
        .fake
        .portal()
        .documents()
        .into_iter()
        .find(|d| d.id == doc.id)
        .unwrap();
    assert_eq!(stored.markdown, "v2 from Confluence");
    let updates = body_of(&env.fake, "/note.document.update");
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(updates[0].get("overwrite").is_none());
    assert_eq!(updates[1]["overwrite"], true);
    // Not being edited any more: one call.
    client
        .kb2_update_document(doc.id, None, Some("v3"))
        .await
        .unwrap();
    assert_eq!(body_of(&env.fake, "/note.document.update").len(), 3);
}

#[tokio::test]
async fn b24_kb2_files_are_checked_uploaded_and_give_asset_markdown() {
    let env = env().await;
    let client = env.client().await;
    let cid = client.kb2_ensure_collection("Space", None).await.unwrap();
    let doc = client
        .kb2_add_document(cid, None, "Page", "text", "k-1")
        .await
        .unwrap();
    let png = b"\x89PNG\r\n\x1a\n not really";
    let image = client
        .kb2_add_file(doc.id, "diagram.PNG", png)
        .await
        .unwrap();
    assert_eq!(
        image.asset_markdown,
        format!("[[image fileId={}]]", image.id)
    );
    assert_eq!(image.name, "diagram.PNG");
    let stored = env.fake.portal().note_files();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].document_id, &stored[0].bytes[..]),
        (doc.id, &png[..])
    );
    let text = client
        .kb2_add_file(doc.id, "notes.txt", b"hello")
        .await
        .unwrap();
    assert_eq!(text.asset_markdown, format!("[[file fileId={}]]", text.id));

    let before = env.fake.requests().matching("/note.file.add").len();
    for (name, bytes) in [
        ("tool.exe", &b"MZ"[..]),
        ("README", &b"x"[..]),
        ("empty.png", &b""[..]),
    ] {
        let e = client.kb2_add_file(doc.id, name, bytes).await.unwrap_err();
        assert!(matches!(e, B24Error::Invalid(_)), "{name}: {e:?}");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
    assert_eq!(
        env.fake.requests().matching("/note.file.add").len(),
        before,
        "refused before sending"
    );
    // The portal's size limit: permanent.
    env.fake.set_knobs(Knobs {
        note_max_file_size: 4,
        ..env.fake.knobs()
    });
    let e = client
        .kb2_add_file(doc.id, "big.pdf", b"%PDF-1.7")
        .await
        .unwrap_err();
    assert!(e.is_code(codes::NOTE_FILE_TOO_LARGE), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    // An unknown document.
    let e = client
        .kb2_add_file(999_999, "a.png", b"x")
        .await
        .unwrap_err();
    assert!(e.is_code(codes::V3_ENTITY_NOT_FOUND), "{e}");
}

// ---- classic knowledge base ----

#[tokio::test]
async fn b24_kb_classic_round_trip_with_the_knowledge_scope_on_every_call() {
    let env = env().await;
    let client = env.client().await;
    let portal = env.fake.portal();

    let site = client
        .kb_classic_ensure_site("confluence-ENG", "Engineering")
        .await
        .unwrap();
    assert_eq!(
        client
            .kb_classic_ensure_site("confluence-ENG", "Engineering")
            .await
            .unwrap(),
        site
    );
    let sites = portal.sites();
    assert_eq!(sites.len(), 1);
    assert_eq!(
        (sites[0].code.as_str(), sites[0].site_type.as_str()),
        ("confluence-ENG", "KNOWLEDGE")
    );

    let guides = client
        .kb_classic_add_folder(site, None, "Guides", "guides")
        .await
        .unwrap();
    let sub = client
        .kb_classic_add_folder(site, Some(guides), "Sub", "sub")
        .await
        .unwrap();
    // A resumed run: the folder is there already.
    assert_eq!(
        client
            .kb_classic_add_folder(site, None, "Guides", "guides")
            .await
            .unwrap(),
        guides
    );
    let folders = portal.folders();
    assert_eq!(folders.len(), 2);
    assert!(folders.iter().all(|f| f.active));
    assert_eq!(
        folders.iter().find(|f| f.id == sub).unwrap().parent_id,
        Some(guides)
    );

    let lid = client
        .kb_classic_add_page(site, Some(guides), "Intro", "intro", "confluence:123")
        .await
        .unwrap();
    assert_eq!(
        client
            .kb_classic_find_page(site, "confluence:123")
            .await
            .unwrap(),
        Some(lid)
    );
    assert_eq!(
        client
            .kb_classic_find_page(site, "confluence:9")
            .await
            .unwrap(),
        None
    );
    let page = portal.landing(lid).unwrap();
    assert_eq!((page.folder_id, page.active), (Some(guides), false));

    client.kb_classic_set_html(lid, "<p>v1</p>").await.unwrap();
    client
        .kb_classic_set_html(lid, "<h1>v2</h1>")
        .await
        .unwrap();
    let blocks = portal.blocks(lid);
    assert_eq!(blocks.len(), 1, "one content block, replaced");
    assert_eq!(blocks[0].code, KB_CLASSIC_BLOCK_CODE);
    assert!(blocks[0].content.contains("<h1>v2</h1>") && !blocks[0].content.contains("v1"));
    assert_eq!(
        body_of(&env.fake, "/landing.block.getList")[0]["params"]["edit_mode"],
        1
    );

    client.kb_classic_publish(lid).await.unwrap();
    assert!(portal.landing(lid).unwrap().active);
    let published = portal.blocks(lid)[0].public_content.clone().unwrap();
    assert!(published.contains("<h1>v2</h1>"));
    // A later edit stays in the draft until the next publication.
    client.kb_classic_set_html(lid, "<p>v3</p>").await.unwrap();
    let b = &portal.blocks(lid)[0];
    assert!(b.content.contains("v3") && b.public_content.as_deref().unwrap().contains("v2"));
    client.kb_classic_publish(lid).await.unwrap();
    assert!(
        portal.blocks(lid)[0]
            .public_content
            .as_deref()
            .unwrap()
            .contains("v3")
    );

    client.kb_classic_rename(lid, "Introduction").await.unwrap();
    assert_eq!(portal.landing(lid).unwrap().title, "Introduction");

    let url = client.kb_classic_public_url(lid).await.unwrap().unwrap();
    assert_eq!(
        url,
        format!("http://{}/knowledge/confluence-ENG/intro/", portal.domain())
    );

    client.kb_classic_unpublish(lid).await.unwrap();
    assert!(!portal.landing(lid).unwrap().active);
    client.kb_classic_publish(lid).await.unwrap();
    assert!(portal.landing(lid).unwrap().active);

    // Moves: to the root, into a folder of the same site, then to a folder of another KB
    // (which B24 only does in two steps).
    client.kb_classic_move(lid, site, None).await.unwrap();
    assert_eq!(portal.landing(lid).unwrap().folder_id, None);
    client.kb_classic_move(lid, site, Some(sub)).await.unwrap();
    assert_eq!(portal.landing(lid).unwrap().folder_id, Some(sub));
    let other = client
        .kb_classic_ensure_site("confluence-OPS", "Operations")
        .await
        .unwrap();
    let runbooks = client
        .kb_classic_add_folder(other, None, "Runbooks", "runbooks")
        .await
        .unwrap();
    let moves_before = env.fake.requests().matching("/landing.landing.move").len();
    client
        .kb_classic_move(lid, other, Some(runbooks))
        .await
        .unwrap();
    let moved = portal.landing(lid).unwrap();
    assert_eq!((moved.site_id, moved.folder_id), (other, Some(runbooks)));
    assert_eq!(
        env.fake.requests().matching("/landing.landing.move").len() - moves_before,
        3,
        "refused, to the site, into the folder"
    );
    // A folder that does not exist: permanent.
    let e = client
        .kb_classic_move(lid, other, Some(999_999))
        .await
        .unwrap_err();
    assert!(e.is_code(codes::FOLDER_NOT_FOUND), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);

    // Every landing call carried the KB scope.
    let landing_calls: Vec<_> = env
        .fake
        .requests()
        .all()
        .into_iter()
        .filter(|r| r.path.starts_with("/rest/landing."))
        .collect();
    assert!(landing_calls.len() > 20);
    for r in landing_calls {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["scope"], "KNOWLEDGE", "{} {}", r.path, r.body);
    }
}

#[tokio::test]
async fn b24_kb_classic_public_url_is_none_without_one() {
    let env = env().await;
    let client = env.client().await;
    let e = client.kb_classic_public_url(999_999).await.unwrap_err();
    assert!(e.is_code(codes::LANDING_NOT_EXIST), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
}

// ---- Disk ----

#[tokio::test]
async fn b24_kb_disk_app_folder_and_uploads_with_clashing_names() {
    let env = env().await;
    let client = env.client().await;
    let folder = client.disk_app_folder("Confluence").await.unwrap();
    assert_eq!(client.disk_app_folder("Confluence").await.unwrap(), folder);
    let portal = env.fake.portal();
    let app_storage = portal
        .storages()
        .into_iter()
        .find(|s| s.entity_type == "restapp")
        .expect("the app storage was used");
    let objects = portal.disk_objects();
    let f = objects.iter().find(|o| o.id == folder).unwrap();
    assert!(f.is_folder);
    assert_eq!(
        (f.storage_id, f.parent_id),
        (app_storage.id, Some(app_storage.root_object_id))
    );

    let a = client.disk_upload(folder, "a.png", b"one").await.unwrap();
    assert_eq!(a.name, "a.png");
    assert!(a.url.starts_with("http"), "{a:?}");
    let b = client.disk_upload(folder, "a.png", b"two").await.unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(b.name, "a.png", "B24 picked another name");
    let stored: Vec<_> = portal
        .disk_objects()
        .into_iter()
        .filter(|o| o.parent_id == Some(folder))
        .collect();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored.iter().find(|o| o.id == b.id).unwrap().bytes,
        b"two".to_vec()
    );
}

#[tokio::test]
async fn b24_kb_disk_webhook_mode_uses_the_common_storage() {
    let (fake, client, _) = webhook_client(&[]).await;
    let folder = client.disk_app_folder("Confluence").await.unwrap();
    assert!(
        fake.requests()
            .matching("/disk.storage.getForApp")
            .is_empty()
    );
    let portal = fake.portal();
    let common = portal
        .storages()
        .into_iter()
        .find(|s| s.entity_type == "common")
        .unwrap();
    let f = portal
        .disk_objects()
        .into_iter()
        .find(|o| o.id == folder)
        .unwrap();
    assert_eq!(f.parent_id, Some(common.root_object_id));
    assert_eq!(client.disk_app_folder("confluence").await.unwrap(), folder);
}
