//! Every inbound flavour through the real ingress to the real broker: deliveries from the
//! fake Confluence (Data Center signed, Cloud Connect JWT, Cloud admin token) and Bitrix24
//! event forms are accepted and published once with the right envelope; every forgery is
//! answered 401 and publishes nothing; a broker outage answers 503.

use crate::support::amqp::{AMQP_URL, Recorder, TestBroker, eventually};
use crate::support::db::{Kind, TestDb};
use crate::support::ingress;
use bridge_core::envelope::{PageAction, TaskAction};
use bridge_core::{Payload, Source};
use bridge_db::entities::b24_portals::PortalStatus;
use bridge_db::portals::ConfirmedInstall;
use bridge_sandbox::confluence::{FakeConfluence, Flavor, Hook};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const SECRET: &str = "webhook-s3cret";

/// A broker prefix with an observer bound to every event, and a database.
async fn observed() -> (TestBroker, Arc<Recorder>, TestDb) {
    let tb = TestBroker::new(&[100]);
    let spec = tb.spec("observer", &["#"]);
    tb.declare(&spec).await;
    let rec = Recorder::ok();
    tb.start(&spec, rec.clone(), 4);
    (tb, rec, TestDb::new(Kind::Sqlite).await)
}

fn vars<'a>(tb: &'a TestBroker, db: &'a TestDb, site: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("BRIDGE_QUEUE_PREFIX", tb.prefix.as_str()),
        ("BRIDGE_DATABASE_URL", db.url.as_str()),
        ("BRIDGE_AMQP_URL", AMQP_URL),
        ("BRIDGE_CONFLUENCE_URL", site),
        ("BRIDGE_CONFLUENCE_WEBHOOK_SECRET", SECRET),
    ]
}

fn page_events(rec: &Recorder) -> Vec<(u64, PageAction, Option<u32>)> {
    rec.calls()
        .iter()
        .filter_map(|(e, _)| match &e.payload {
            Payload::ConfluencePage(p) => Some((p.content_id, p.action, p.version)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn data_center_webhooks_are_verified_and_published_once() {
    let (tb, rec, db) = observed().await;
    let fake = FakeConfluence::start(Flavor::DataCenter).await.unwrap();
    let site = fake.base_url();
    let ing = ingress::start(&vars(&tb, &db, &site)).await;
    let url = format!("{}/webhooks/confluence/datacenter", ing.base_url);
    fake.set_webhook_target(&url, SECRET);
    fake.create_space("DOC", "Docs").unwrap();
    let (id, _) = fake
        .create_page("DOC", "Runbook", "<p>v1</p>", None)
        .await
        .unwrap();
    fake.edit_page(id, "<p>v2</p>").await.unwrap();
    assert!(
        eventually(WAIT, || page_events(&rec).len() == 2).await,
        "{:?}",
        page_events(&rec)
    );
    let events = page_events(&rec);
    assert_eq!(events[0].0, id);
    assert_eq!(events[0].1, PageAction::Created);
    assert_eq!(events[1].1, PageAction::Updated);
    let (env, _) = rec.calls().remove(0);
    assert_eq!(
        env.source,
        Source::Confluence {
            site: site.trim_end_matches('/').to_owned()
        }
    );
    assert!(fake.sent_webhooks().iter().all(|w| w.status == Some(202)));

    // Forgeries: signed with another secret, unsigned, tampered body.
    let http = reqwest::Client::new();
    let body =
        format!(r#"{{"timestamp":1,"event":"page_updated","userKey":"u","page":{{"id":{id}}}}}"#);
    for signature in [
        Some(hmac_hex(b"wrong", body.as_bytes())),
        None,
        Some(hmac_hex(SECRET.as_bytes(), b"{}")),
    ] {
        let mut req = http.post(&url).body(body.clone());
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature", format!("sha256={s}"));
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    // A correctly signed test delivery is answered 200 and publishes nothing.
    let test = r#"{"test":true}"#;
    let r = http
        .post(&url)
        .header(
            "X-Hub-Signature",
            hmac_hex(SECRET.as_bytes(), test.as_bytes()),
        )
        .body(test)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Bad JSON with a valid signature: 400 with a reason.
    let bad = "{nope";
    let r = http
        .post(&url)
        .header(
            "X-Hub-Signature",
            hmac_hex(SECRET.as_bytes(), bad.as_bytes()),
        )
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not JSON"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.count(), 2, "nothing else was published");
    tb.teardown().await;
}

#[tokio::test]
async fn cloud_connect_webhooks_need_a_valid_jwt_for_the_exact_request() {
    let (tb, rec, db) = observed().await;
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    let site = fake.base_url();
    let ing = ingress::start(&vars(&tb, &db, &site)).await;
    let http = reqwest::Client::new();

    let descriptor: serde_json::Value = http
        .get(format!("{}/atlassian-connect.json", ing.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(descriptor["authentication"]["type"], "jwt");
    let hooks = descriptor["modules"]["webhooks"].as_array().unwrap();
    assert!(
        hooks.iter().any(|h| h["event"] == "page_updated"
            && h["url"] == "/webhooks/confluence/cloud/page_updated")
    );

    // Install for another site: refused. For the configured site: stored.
    let install = |base: &str| serde_json::json!({"key": "confluence-b24-bridge", "clientKey": "sandbox-client-key", "sharedSecret": "connect-secret", "baseUrl": base, "eventType": "installed"});
    let r = http
        .post(format!("{}/connect/installed", ing.base_url))
        .json(&install("https://evil.example/wiki"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{}/connect/installed", ing.base_url))
        .json(&install(&site))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // A second, unsigned install cannot replace the secret.
    let r = http
        .post(format!("{}/connect/installed", ing.base_url))
        .json(&install(&site))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    fake.add_webhook(Hook::connect(
        &ing.base_url,
        "/webhooks/confluence/cloud/{event}",
        "connect-secret",
    ));
    fake.create_space("DOC", "Docs").unwrap();
    let (id, _) = fake
        .create_page("DOC", "Plan", "<p>1</p>", None)
        .await
        .unwrap();
    fake.edit_page(id, "<p>2</p>").await.unwrap();
    assert!(
        eventually(WAIT, || page_events(&rec).len() == 2).await,
        "{:?}",
        page_events(&rec)
    );
    assert_eq!(page_events(&rec)[1], (id, PageAction::Updated, Some(2)));

    // Forgeries: a JWT signed with another secret; a valid JWT replayed on another event's
    // URL (its qsh names the original); no JWT at all.
    fake.clear_webhooks();
    fake.add_webhook(Hook::connect(
        &ing.base_url,
        "/webhooks/confluence/cloud/{event}",
        "not-the-secret",
    ));
    fake.edit_page(id, "<p>3</p>").await.unwrap();
    assert!(fake.sent_webhooks().last().unwrap().status == Some(401));
    let genuine = fake
        .sent_webhooks()
        .into_iter()
        .find(|w| w.status == Some(202))
        .unwrap();
    let auth = genuine
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .unwrap()
        .1
        .clone();
    let r = http
        .post(format!(
            "{}/webhooks/confluence/cloud/page_removed",
            ing.base_url
        ))
        .header("Authorization", auth)
        .body(genuine.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("qsh"));
    let r = http
        .post(format!(
            "{}/webhooks/confluence/cloud/page_updated",
            ing.base_url
        ))
        .body(genuine.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An expired JWT, otherwise right (secret, issuer, qsh of this very request).
    let hook_url = format!("{}/webhooks/confluence/cloud/page_updated", ing.base_url);
    let canonical = "POST&/webhooks/confluence/cloud/page_updated&";
    let now = chrono::Utc::now().timestamp();
    let expired = connect_jwt(
        "connect-secret",
        "sandbox-client-key",
        now - 3600,
        canonical,
    );
    let r = http
        .post(&hook_url)
        .header("Authorization", format!("JWT {expired}"))
        .body(genuine.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("expired"));
    // The same JWT, fresh, is accepted: the refusal above was for the expiry alone.
    let fresh = connect_jwt("connect-secret", "sandbox-client-key", now + 60, canonical);
    let r = http
        .post(&hook_url)
        .header("Authorization", format!("JWT {fresh}"))
        .body(genuine.body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        page_events(&rec).len(),
        3,
        "no forgery was published (two edits and the fresh JWT)"
    );
    tb.teardown().await;
}

#[tokio::test]
async fn cloud_admin_webhooks_need_the_token_in_their_url() {
    let (tb, rec, db) = observed().await;
    let fake = FakeConfluence::start(Flavor::Cloud).await.unwrap();
    let site = fake.base_url();
    let ing = ingress::start(&vars(&tb, &db, &site)).await;
    fake.add_webhook(
        Hook::admin(&format!(
            "{}/webhooks/confluence/admin/page_created?token={SECRET}",
            ing.base_url
        ))
        .for_events(&["page_created"]),
    );
    fake.add_webhook(
        Hook::admin(&format!(
            "{}/webhooks/confluence/admin/page_created?token=guess",
            ing.base_url
        ))
        .for_events(&["page_created"]),
    );
    fake.create_space("OPS", "Ops").unwrap();
    let (id, _) = fake
        .create_page("OPS", "Oncall", "<p>x</p>", None)
        .await
        .unwrap();
    assert!(eventually(WAIT, || page_events(&rec).len() == 1).await);
    assert_eq!(page_events(&rec)[0].0, id);
    let statuses: Vec<_> = fake.sent_webhooks().iter().map(|w| w.status).collect();
    assert!(
        statuses.contains(&Some(202)) && statuses.contains(&Some(401)),
        "{statuses:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.count(), 1);
    tb.teardown().await;
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[tokio::test]
async fn b24_events_need_the_portals_application_token() {
    let (tb, rec, db) = observed().await;
    let ing = ingress::start(&vars(&tb, &db, "https://unused.example/wiki")).await;
    let url = format!("{}/b24/events", ing.base_url);
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    let task_update = |token: &str, member: &str| {
        form(&[
            ("event", "ONTASKUPDATE"),
            ("data[FIELDS_BEFORE][ID]", "42"),
            ("data[FIELDS_AFTER][ID]", "42"),
            ("ts", "1700000000"),
            ("auth[member_id]", member),
            ("auth[application_token]", token),
            ("auth[domain]", "portal.example"),
        ])
    };
    // Unknown portal: refused.
    assert_eq!(post(task_update("tok", "m-1")).await.unwrap().status(), 401);

    let install = form(&[
        ("event", "ONAPPINSTALL"),
        ("data[VERSION]", "1"),
        ("data[LANGUAGE_ID]", "ru"),
        ("ts", "1700000000"),
        ("auth[access_token]", "at-1"),
        ("auth[refresh_token]", "rt-1"),
        ("auth[expires_in]", "3600"),
        ("auth[domain]", "portal.example"),
        ("auth[client_endpoint]", "https://portal.example/rest/"),
        ("auth[server_endpoint]", "https://oauth.bitrix.info/rest/"),
        ("auth[member_id]", "m-1"),
        ("auth[status]", "L"),
        ("auth[application_token]", "app-token-1"),
    ]);
    assert_eq!(post(install.clone()).await.unwrap().status(), 202);

    // Anybody can send that form: the portal is pending, and its events are refused until
    // the install is confirmed (portal-setup, with the OAuth server).
    let conn = bridge_db::connect(&db.url).await.unwrap();
    let store = bridge_db::PortalStore::new(
        conn.clone(),
        bridge_db::CredentialStore::new(
            conn,
            Arc::new(bridge_core::crypto::Keyring::new([9; 32], vec![])),
        ),
    );
    let status = |p: Option<bridge_db::entities::b24_portals::Model>| p.map(|p| p.status);
    assert_eq!(
        status(store.find("m-1").await.unwrap()),
        Some(PortalStatus::Pending)
    );
    assert_eq!(store.application_token("m-1").await.unwrap(), None);
    assert_eq!(
        post(task_update("app-token-1", "m-1"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Another install of the pending portal replaces it (the confirmation decides) …
    let hijack = install.replace("app-token-1", "app-token-2");
    assert_eq!(post(hijack.clone()).await.unwrap().status(), 202);
    assert_eq!(
        post(task_update("app-token-2", "m-1"))
            .await
            .unwrap()
            .status(),
        401
    );
    // … and so does the genuine one sent again.
    assert_eq!(post(install.clone()).await.unwrap().status(), 202);

    // The confirmation (what portal-setup stores after the OAuth server's answer).
    let pending = store.pending_install("m-1").await.unwrap().unwrap();
    assert!(
        store
            .confirm(
                &pending,
                &ConfirmedInstall {
                    domain: "portal.example".into(),
                    client_endpoint: "https://portal.example/rest/".into(),
                    server_endpoint: None,
                    access_token: "at-2".into(),
                    refresh_token: "rt-2".into(),
                    access_expires_at: None,
                },
            )
            .await
            .unwrap()
    );
    assert_eq!(
        status(store.find("m-1").await.unwrap()),
        Some(PortalStatus::Active)
    );

    assert_eq!(
        post(task_update("app-token-1", "m-1"))
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        post(task_update("forged", "m-1")).await.unwrap().status(),
        401
    );
    // Once active, an install with another token cannot take the portal over.
    assert_eq!(post(hijack).await.unwrap().status(), 401);
    assert_eq!(
        post(task_update("app-token-2", "m-1"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Malformed: no task id.
    let r = post(form(&[
        ("event", "ONTASKADD"),
        ("auth[member_id]", "m-1"),
        ("auth[application_token]", "app-token-1"),
    ]))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // Three accepted installs (each one for portal-setup to confirm) and one task event.
    assert!(eventually(WAIT, || rec.count() == 4).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = rec.calls();
    assert_eq!(calls.len(), 4);
    let installs = calls
        .iter()
        .filter(|(e, _)| matches!(&e.payload, Payload::B24App(a) if a.member_id == "m-1"))
        .count();
    assert_eq!(installs, 3);
    let tasks: Vec<_> = calls
        .iter()
        .filter_map(|(e, _)| match &e.payload {
            Payload::B24Task(t) => Some((e, t)),
            _ => None,
        })
        .collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].1.task_id, tasks[0].1.action),
        (42, TaskAction::Updated)
    );
    assert_eq!(
        tasks[0].0.source,
        Source::B24 {
            portal: "m-1".into()
        }
    );
    // The tokens are stored sealed, never in plain text.
    assert_eq!(
        store.application_token("m-1").await.unwrap().as_deref(),
        Some("app-token-1")
    );
    tb.teardown().await;
}

#[tokio::test]
async fn broker_down_answers_503_and_oversized_bodies_413() {
    let db = TestDb::new(Kind::Sqlite).await;
    let ing = ingress::start(&[
        ("BRIDGE_DATABASE_URL", db.url.as_str()),
        ("BRIDGE_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
        ("BRIDGE_CONFLUENCE_URL", "https://c.example/wiki"),
        ("BRIDGE_CONFLUENCE_WEBHOOK_SECRET", SECRET),
        ("BRIDGE_MAX_BODY_BYTES", "2048"),
    ])
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/confluence/datacenter", ing.base_url);
    let body = r#"{"timestamp":1,"event":"page_updated","userKey":"u","page":{"id":7}}"#;
    let r = http
        .post(&url)
        .header(
            "X-Hub-Signature",
            hmac_hex(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let big = "x".repeat(4096);
    let r = http
        .post(&url)
        .header(
            "X-Hub-Signature",
            hmac_hex(SECRET.as_bytes(), big.as_bytes()),
        )
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn broker_outage_answers_503_then_recovers_and_every_accepted_event_is_kept() {
    use crate::support::tcp_proxy::TcpProxy;
    let (tb, rec, db) = observed().await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let amqp = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let mut v = vars(&tb, &db, "https://c.example/wiki");
    v.retain(|(k, _)| *k != "BRIDGE_AMQP_URL");
    v.push(("BRIDGE_AMQP_URL", amqp.as_str()));
    let ing = ingress::start(&v).await;
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/confluence/datacenter", ing.base_url);
    let send = |i: u64| {
        let body = format!(
            r#"{{"timestamp":1,"event":"page_updated","userKey":"u","page":{{"id":{i}}}}}"#
        );
        http.post(&url)
            .header(
                "X-Hub-Signature",
                hmac_hex(SECRET.as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
    };
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 1..=60u64 {
        if i == 20 {
            proxy.cut();
        }
        if i == 40 {
            proxy.restore();
        }
        let status = send(i).await.unwrap().status();
        match status.as_u16() {
            202 => accepted.push(i),
            503 => refused += 1,
            other => panic!("webhook {i}: unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused > 0, "the outage was answered 503");
    // Once the broker is back, deliveries are accepted again.
    assert!(
        accepted.iter().any(|i| *i >= 40),
        "accepted after the broker came back: {accepted:?}"
    );
    assert!(
        accepted.iter().all(|i| *i < 20 || *i >= 40),
        "nothing accepted while the broker was cut: {accepted:?}"
    );
    // Nothing that got a 2xx is lost.
    let got = || -> Vec<u64> { page_events(&rec).iter().map(|(id, _, _)| *id).collect() };
    assert!(
        eventually(WAIT, || accepted.iter().all(|i| got().contains(i))).await,
        "accepted {accepted:?}, queued {:?}",
        got()
    );
    tb.teardown().await;
}

/// A Connect JWT written here from the documented format (HS256, `qsh` = SHA-256 of the
/// canonical request), independent of the bridge's verifier.
fn connect_jwt(secret: &str, iss: &str, exp: i64, canonical_request: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::{Hmac, Mac};
    use sha2::Digest;
    let qsh: String = sha2::Sha256::digest(canonical_request.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = B64.encode(
        serde_json::json!({"iss": iss, "iat": exp - 180, "exp": exp, "qsh": qsh}).to_string(),
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    format!(
        "{header}.{claims}.{}",
        B64.encode(mac.finalize().into_bytes())
    )
}
