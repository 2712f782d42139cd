//! Contract tests of the fake Bitrix24, each written from `../shared/docs/bitrix24-api.md`:
//! if the fake drifts from a documented behaviour, one of these fails.

use bridge_sandbox::b24::{AppInstall, AppSpec, FakeB24, LimitsConfig, WebhookInfo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- helpers ----

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// `application/x-www-form-urlencoded`, by the `url` crate (through reqwest), not the fake.
fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").expect("url");
    u.query_pairs_mut().extend_pairs(pairs);
    u.query().unwrap_or("").to_owned()
}

fn form_decode(s: &str) -> HashMap<String, String> {
    let mut u = reqwest::Url::parse("http://x/").expect("url");
    u.set_query(Some(s));
    u.query_pairs().into_owned().collect()
}

async fn answer(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post_form(url: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(pairs))
        .send()
        .await
        .expect("send");
    answer(r).await
}

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let r = http().post(url).json(&body).send().await.expect("send");
    answer(r).await
}

async fn get_url(url: &str) -> (u16, Value) {
    answer(http().get(url).send().await.expect("send")).await
}

/// Calls a classic method with the app's token in the JSON body.
async fn app_call(fake: &FakeB24, app: &AppInstall, method: &str, mut body: Value) -> (u16, Value) {
    body["auth"] = json!(app.access_token);
    post_json(&format!("{}{method}", fake.rest_url()), body).await
}

/// Calls a REST 3.0 method with the app's token in the body.
async fn v3_call(fake: &FakeB24, app: &AppInstall, method: &str, mut body: Value) -> (u16, Value) {
    body["auth"] = json!(app.access_token);
    post_json(&format!("{}/rest/api/{method}", fake.base_url()), body).await
}

async fn hook_call(hook: &WebhookInfo, method: &str, body: Value) -> (u16, Value) {
    post_json(&format!("{}{method}", hook.url), body).await
}

fn install(fake: &FakeB24, install_url: Option<String>) -> AppInstall {
    fake.portal()
        .install_app(AppSpec {
            install_url,
            ..AppSpec::default()
        })
        .expect("install")
}

/// A tiny handler that records every request it gets (answers `status`).
#[derive(Clone, Debug)]
struct Received {
    path: String,
    query: HashMap<String, String>,
    content_type: String,
    form: HashMap<String, String>,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    _server: bridge_sandbox::common::Running,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        use axum::extract::{RawQuery, State};
        use axum::http::{HeaderMap, StatusCode, Uri};
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let handler = move |State(got): State<Arc<Mutex<Vec<Received>>>>,
                            uri: Uri,
                            RawQuery(q): RawQuery,
                            headers: HeaderMap,
                            body: String| async move {
            let parse = form_decode;
            got.lock().expect("lock").push(Received {
                path: uri.path().to_owned(),
                query: parse(q.as_deref().unwrap_or("")),
                content_type: headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                form: parse(&body),
            });
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                "<html>ok</html>",
            )
        };
        let router = axum::Router::new()
            .fallback(handler)
            .with_state(got.clone());
        let server = bridge_sandbox::common::serve(router, "127.0.0.1:0")
            .await
            .expect("receiver");
        Receiver {
            url: server.base_url.clone(),
            got,
            _server: server,
        }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    fn events(&self, name: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.form.get("event").map(String::as_str) == Some(name))
            .collect()
    }
}

async fn started() -> FakeB24 {
    FakeB24::start().await.expect("fake b24")
}

// ---- calls, bodies, errors ----

#[tokio::test]
async fn sandbox_b24_form_bracket_keys_and_json_bodies_give_the_same_result() {
    let fake = started().await;
    let hook = fake.portal().create_webhook(1, &[]).expect("hook");
    let (s1, a) = post_form(
        &format!("{}tasks.task.add.json", hook.url),
        &[
            ("fields[TITLE]", "Same"),
            ("fields[RESPONSIBLE_ID]", "2"),
            ("fields[AUDITORS][]", "3"),
        ],
    )
    .await;
    let (s2, b) = hook_call(
        &hook,
        "tasks.task.add",
        json!({"fields": {"TITLE": "Same", "RESPONSIBLE_ID": 2, "AUDITORS": [3]}}),
    )
    .await;
    assert_eq!((s1, s2), (200, 200), "{a} {b}");
    for r in [&a, &b] {
        let t = &r["result"]["task"];
        assert_eq!(t["title"], "Same");
        assert_eq!(t["responsibleId"], "2");
        assert_eq!(t["auditors"], json!(["3"]));
        assert!(r["time"]["duration"].is_number() && r["time"]["date_start"].is_string());
    }
    let id = a["result"]["task"]["id"].as_str().expect("id").to_owned();
    let (_, f) = post_form(
        &format!("{}tasks.task.get", hook.url),
        &[("taskId", &id), ("select[]", "ID"), ("select[]", "TITLE")],
    )
    .await;
    let (_, j) = hook_call(
        &hook,
        "tasks.task.get",
        json!({"taskId": id, "select": ["ID", "TITLE"]}),
    )
    .await;
    assert_eq!(f["result"], j["result"]);
    assert_eq!(f["result"]["task"], json!({"id": id, "title": "Same"}));

    // OAuth `auth` may come in the query, the form or the JSON body.
    let app = install(&fake, None);
    let q = get_url(&format!(
        "{}user.current?auth={}",
        fake.rest_url(),
        app.access_token
    ))
    .await;
    let f = post_form(
        &format!("{}user.current", fake.rest_url()),
        &[("auth", &app.access_token)],
    )
    .await;
    let j = app_call(&fake, &app, "user.current", json!({})).await;
    assert_eq!(q.0, 200);
    assert_eq!(q.1["result"], f.1["result"]);
    assert_eq!(f.1["result"], j.1["result"]);
    assert_eq!(j.1["result"]["ID"], "1");
}

#[tokio::test]
async fn sandbox_b24_errors_have_the_documented_shapes_and_statuses() {
    let fake = started().await;
    let app = install(&fake, None);
    let rest = fake.rest_url();

    let (s, e) = app_call(&fake, &app, "no.such.method", json!({})).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (404, Some("ERROR_METHOD_NOT_FOUND"))
    );
    assert!(e["error_description"].is_string());

    let (s, e) = post_json(&format!("{rest}user.current"), json!({"auth": "bogus"})).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("NO_AUTH_FOUND")));
    let (s, e) = post_json(&format!("{rest}user.current"), json!({})).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("NO_AUTH_FOUND")));
    let (s, e) = post_json(&format!("{rest}1/wrongsecret/user.current"), json!({})).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("NO_AUTH_FOUND")));

    // A method error: HTTP 400 with a string `error`.
    let (s, e) = app_call(&fake, &app, "tasks.task.get", json!({"taskId": 999})).await;
    assert_eq!(s, 400);
    assert!(
        e["error"].is_string() && e["error_description"].is_string(),
        "{e}"
    );

    // A webhook without the scope.
    let hook = fake.portal().create_webhook(1, &["im"]).expect("hook");
    let (s, e) = hook_call(&hook, "tasks.task.list", json!({})).await;
    assert_eq!((s, e["error"].as_str()), (403, Some("insufficient_scope")));

    // REST 3.0: `error` is an object.
    let (s, e) = v3_call(&fake, &app, "note.document.get", json!({"id": 12345})).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["error"]["code"],
        "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"
    );
    assert!(e["error"]["message"].is_string());
    let (s, e) = v3_call(&fake, &app, "note.collection.add", json!({"fields": {}})).await;
    assert_eq!(s, 400);
    assert_eq!(
        e["error"]["code"],
        "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION"
    );
    assert_eq!(e["error"]["validation"][0]["field"], "name");
}

#[tokio::test]
async fn sandbox_b24_lists_page_by_50_with_total_and_next() {
    let fake = started().await;
    let portal = fake.portal();
    for i in 0..120 {
        portal
            .user_creates_task(1, json!({"TITLE": format!("task {i}")}))
            .expect("task");
    }
    let app = install(&fake, None);
    let (_, p1) = app_call(
        &fake,
        &app,
        "tasks.task.list",
        json!({"order": {"ID": "asc"}}),
    )
    .await;
    assert_eq!(p1["result"]["tasks"].as_array().map(Vec::len), Some(50));
    assert_eq!(
        (p1["total"].as_u64(), p1["next"].as_u64()),
        (Some(120), Some(50))
    );
    let (_, p2) = app_call(&fake, &app, "tasks.task.list", json!({"start": 50})).await;
    assert_eq!(p2["next"].as_u64(), Some(100));
    assert_eq!(p2["result"]["tasks"][0]["id"], "51");
    let (_, p3) = app_call(&fake, &app, "tasks.task.list", json!({"start": 100})).await;
    assert_eq!(p3["result"]["tasks"].as_array().map(Vec::len), Some(20));
    assert!(
        p3.get("next").is_none(),
        "last page has no next: {}",
        p3["next"]
    );
    // start=-1 disables counting; paging then goes by a >ID filter.
    let (_, big) = app_call(
        &fake,
        &app,
        "tasks.task.list",
        json!({"start": -1, "filter": {">ID": 100}, "order": {"ID": "asc"}}),
    )
    .await;
    assert!(big.get("total").is_none());
    assert_eq!(big["result"]["tasks"].as_array().map(Vec::len), Some(20));
    assert_eq!(big["result"]["tasks"][0]["id"], "101");
}

// ---- limits and batch ----

#[tokio::test]
async fn sandbox_b24_leaky_bucket_refuses_past_the_burst_counts_and_drains() {
    let fake = started().await;
    let app = install(&fake, None);
    // Defaults: X=50, Y=2/s — 50 pass at once (plus what drains meanwhile), then 503.
    let t0 = std::time::Instant::now();
    let mut accepted = 0u32;
    let refusal = loop {
        let (s, e) = app_call(&fake, &app, "server.time", json!({})).await;
        if s != 200 {
            break (s, e);
        }
        accepted += 1;
        assert!(accepted < 200, "never refused");
    };
    let drained = (2.0 * t0.elapsed().as_secs_f64()).ceil() as u32;
    assert!(
        (50..=50 + drained).contains(&accepted),
        "accepted {accepted}, drained ≤ {drained}"
    );
    assert_eq!(
        (refusal.0, refusal.1["error"].as_str()),
        (503, Some("QUERY_LIMIT_EXCEEDED"))
    );
    assert_eq!(fake.portal().violations(), 1);
    let (_, limits) = get_url(&format!("{}/_sandbox/limits", fake.base_url())).await;
    assert_eq!(limits["violations"], 1);

    // Another portal has its own bucket.
    let other = fake.create_portal(Some("other.bitrix24.test"));
    let other_app = other.install_app(AppSpec::default()).expect("install");
    assert_eq!(
        app_call(&fake, &other_app, "server.time", json!({}))
            .await
            .0,
        200
    );

    // It drains at Y per second: after ~1.1 s there is room for two (a few if slow) more.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut accepted = 0;
    while app_call(&fake, &app, "server.time", json!({})).await.0 == 200 {
        accepted += 1;
        assert!(accepted < 10, "the bucket drains at 2/s, not faster");
    }
    assert!(accepted >= 2, "drained {accepted}");
    assert_eq!(fake.portal().violations(), 2);
}

#[tokio::test]
async fn sandbox_b24_enterprise_figures_are_configurable() {
    let fake = started().await;
    fake.set_limits(LimitsConfig::enterprise());
    let app = install(&fake, None);
    for _ in 0..60 {
        assert_eq!(app_call(&fake, &app, "server.time", json!({})).await.0, 200);
    }
    assert_eq!(fake.total_violations(), 0);
}

#[tokio::test]
async fn sandbox_b24_batch_references_errors_halt_limit_and_one_bucket_unit() {
    let fake = started().await;
    fake.set_limits(LimitsConfig {
        drain_per_sec: 0.1,
        burst: 3.0,
    });
    let app = install(&fake, None);
    // Written out by hand: the commands run in the order sent (serde_json would sort keys).
    let body = format!(
        r#"{{"auth":"{}","halt":0,"cmd":{{
            "new":"tasks.task.add?fields[TITLE]=From%20batch&fields[RESPONSIBLE_ID]=2",
            "got":"tasks.task.get?taskId=$result[new][task][id]&select[]=TITLE&select[]=RESPONSIBLE_ID",
            "users":"user.get?FILTER[EMAIL]=olga.smirnova@example.com",
            "who":"user.get?ID=$result[users][0][ID]",
            "bad":"tasks.task.get?taskId=424242",
            "inner":"batch?cmd[x]=server.time",
            "list":"tasks.task.list"}}}}"#,
        app.access_token
    );
    let r = http()
        .post(format!("{}batch", fake.rest_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("batch");
    let (s, r) = answer(r).await;
    assert_eq!(s, 200, "{r}");
    let res = &r["result"];
    assert_eq!(res["result"]["got"]["task"]["title"], "From batch");
    assert_eq!(
        res["result"]["who"][0]["EMAIL"],
        "olga.smirnova@example.com"
    );
    assert!(res["result_error"]["bad"]["error"].is_string());
    assert_eq!(
        res["result_error"]["inner"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
    assert_eq!(res["result_total"]["list"], 1);
    assert!(res["result_time"]["got"].is_object());

    // halt=1 stops at the first failure; form-encoded cmd works too.
    let (s, r) = post_form(
        &format!("{}batch", fake.rest_url()),
        &[
            ("auth", &app.access_token),
            ("halt", "1"),
            ("cmd[a]", "tasks.task.get?taskId=999"),
            ("cmd[b]", "server.time"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["result"]["result_error"]["a"].is_object());
    assert!(r["result"]["result"].get("b").is_none(), "{r}");
    assert_eq!(
        r["result"]["result_total"],
        json!([]),
        "empty maps come as []"
    );

    // Three calls so far with a burst of 3, each batch one unit: nothing refused.
    assert_eq!(fake.total_violations(), 0);
    fake.set_limits(LimitsConfig::default());

    let cmd: serde_json::Map<String, Value> = (0..51)
        .map(|i| (format!("c{i}"), json!("server.time")))
        .collect();
    let (s, e) = app_call(&fake, &app, "batch", json!({"cmd": cmd})).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("ERROR_BATCH_LENGTH_EXCEEDED"))
    );
    let cmd: Vec<Value> = (0..50).map(|_| json!("server.time")).collect();
    let (s, r) = app_call(&fake, &app, "batch", json!({"cmd": cmd})).await;
    assert_eq!(s, 200);
    assert_eq!(r["result"]["result"].as_array().map(Vec::len), Some(50));
}

#[tokio::test]
async fn sandbox_b24_operation_time_limit_knob_answers_429_for_that_method_only() {
    let fake = started().await;
    let app = install(&fake, None);
    fake.set_operation_time_limited(&["tasks.task.list"]);
    let (s, e) = app_call(&fake, &app, "tasks.task.list", json!({})).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (429, Some("OPERATION_TIME_LIMIT"))
    );
    assert_eq!(
        app_call(&fake, &app, "user.current", json!({})).await.0,
        200
    );
}

// ---- OAuth ----

#[tokio::test]
async fn sandbox_b24_tokens_expire_and_refresh_tokens_rotate() {
    let fake = started().await;
    fake.set_token_ttl(Duration::from_secs(1));
    let app = install(&fake, None);
    assert_eq!(app.expires_in, 1);
    assert_eq!(
        app_call(&fake, &app, "user.current", json!({})).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (s, e) = app_call(&fake, &app, "user.current", json!({})).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("expired_token")));

    let token_url = fake.oauth_token_url();
    let refresh = |rt: &str| {
        format!(
            "{token_url}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={rt}",
            app.client_id, app.client_secret
        )
    };
    fake.set_token_ttl(Duration::from_secs(3600));
    let (s, t) = get_url(&refresh(&app.refresh_token)).await;
    assert_eq!(s, 200, "{t}");
    for k in [
        "access_token",
        "refresh_token",
        "expires",
        "expires_in",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "scope",
        "status",
        "user_id",
    ] {
        assert!(!t[k].is_null(), "token answer lacks {k}: {t}");
    }
    assert_eq!(t["member_id"], app.member_id.as_str());
    assert_eq!(t["client_endpoint"], fake.rest_url().as_str());
    assert_ne!(t["refresh_token"], app.refresh_token.as_str());
    let (s, e) = get_url(&refresh(&app.refresh_token)).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "a used refresh token is gone"
    );
    let (s, _) = post_json(
        &format!("{}user.current", fake.rest_url()),
        json!({"auth": t["access_token"]}),
    )
    .await;
    assert_eq!(s, 200);
    // The new refresh token works once more (POST form this time); a wrong secret does not.
    let new_rt = t["refresh_token"].as_str().expect("rt");
    let (s, e) = post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("client_secret", "nope"),
            ("refresh_token", new_rt),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, _) = post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
            ("refresh_token", new_rt),
        ],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn sandbox_b24_authorization_code_grant_issues_tokens_once() {
    let fake = started().await;
    let app = fake
        .portal()
        .install_app(AppSpec {
            redirect_uri: Some("http://app.example/callback".into()),
            ..AppSpec::default()
        })
        .expect("install");
    // The authorize page redirects with code, state, domain, member_id, scope, server_domain.
    let r = http()
        .get(format!(
            "{}/oauth/authorize/?client_id={}&state=xyz",
            fake.base_url(),
            app.client_id
        ))
        .send()
        .await
        .expect("authorize");
    assert!(r.status().is_redirection());
    let loc = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let q: HashMap<String, String> = reqwest::Url::parse(&loc)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["member_id"], app.member_id);
    assert_eq!(q["server_domain"], "oauth.bitrix.info");
    let url = format!(
        "{}?grant_type=authorization_code&client_id={}&client_secret={}&code={}",
        fake.oauth_token_url(),
        app.client_id,
        app.client_secret,
        q["code"]
    );
    let (s, t) = get_url(&url).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["domain"], "oauth.bitrix.info");
    let (s, e) = get_url(&url).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")));
}

// ---- events ----

#[tokio::test]
async fn sandbox_b24_events_are_form_encoded_posts_with_application_token() {
    let fake = started().await;
    let rx = Receiver::start(200).await;
    let app = install(&fake, Some(format!("{}/install", rx.url)));
    fake.settle().await;
    let inst = rx.events("ONAPPINSTALL");
    assert_eq!(inst.len(), 1);
    let f = &inst[0].form;
    assert_eq!(inst[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(f["auth[application_token]"], app.application_token);
    assert_eq!(f["auth[access_token]"], app.access_token);
    assert_eq!(f["auth[member_id]"], app.member_id);
    assert_eq!(f["auth[expires_in]"], "3600");
    for k in [
        "auth[refresh_token]",
        "auth[domain]",
        "auth[client_endpoint]",
        "auth[server_endpoint]",
        "auth[status]",
        "auth[scope]",
        "data[VERSION]",
        "data[LANGUAGE_ID]",
        "ts",
    ] {
        assert!(f.contains_key(k), "ONAPPINSTALL lacks {k}");
    }

    let handler = format!("{}/events", rx.url);
    for ev in [
        "ONTASKADD",
        "onTaskUpdate",
        "ONTASKDELETE",
        "ONTASKCOMMENTADD",
    ] {
        let (s, r) = app_call(
            &fake,
            &app,
            "event.bind",
            json!({"event": ev, "handler": handler}),
        )
        .await;
        assert_eq!((s, &r["result"]), (200, &json!(true)), "{r}");
    }
    let (s, e) = app_call(
        &fake,
        &app,
        "event.bind",
        json!({"event": "ONTASKADD", "handler": handler}),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("ERROR_HANDLER_ALREADY_EXIST"))
    );
    let (s, e) = app_call(
        &fake,
        &app,
        "event.bind",
        json!({"event": "ONNOSUCHTHING", "handler": handler}),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("ERROR_EVENT_NOT_FOUND"))
    );
    let (_, got) = app_call(&fake, &app, "event.get", json!({})).await;
    assert_eq!(got["result"].as_array().map(Vec::len), Some(4));

    // A person creates and comments a task in the UI; the app updates it through the API.
    let portal = fake.portal();
    let id = portal
        .user_creates_task(2, json!({"TITLE": "Watch me"}))
        .expect("task");
    portal
        .user_comments_task(2, id, "A comment")
        .expect("comment");
    app_call(
        &fake,
        &app,
        "tasks.task.update",
        json!({"taskId": id, "fields": {"TITLE": "Renamed"}}),
    )
    .await;
    portal.user_deletes_task(2, id).expect("delete");
    fake.settle().await;

    let add = rx.events("ONTASKADD");
    assert_eq!(add.len(), 1);
    let f = &add[0].form;
    assert_eq!(add[0].path, "/events");
    assert_eq!(add[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(f["data[FIELDS_AFTER][ID]"], id.to_string());
    assert_eq!(f["data[FIELDS_BEFORE]"], "undefined");
    assert_eq!(f["auth[application_token]"], app.application_token);
    assert_eq!(f["auth[member_id]"], app.member_id);
    assert_eq!(f["auth[domain]"], fake.portal().domain());
    assert_eq!(f["auth[user_id]"], "2");
    assert!(
        f.contains_key("event_handler_id")
            && f.contains_key("ts")
            && f.contains_key("auth[access_token]")
    );
    assert_eq!(
        rx.events("ONTASKUPDATE")[0].form["data[FIELDS_AFTER][ID]"],
        id.to_string()
    );
    assert_eq!(
        rx.events("ONTASKDELETE")[0].form["data[FIELDS_AFTER]"],
        "undefined"
    );
    // The new task card: a comment is a chat message (ID=0, MESSAGE_ID).
    let c = &rx.events("ONTASKCOMMENTADD")[0].form;
    assert_eq!(c["data[FIELDS_AFTER][ID]"], "0");
    assert_eq!(c["data[FIELDS_AFTER][TASK_ID]"], id.to_string());
    assert!(c.contains_key("data[FIELDS_AFTER][MESSAGE_ID]"));
}

#[tokio::test]
async fn sandbox_b24_events_are_never_retried_and_obey_drop_knob() {
    let fake = started().await;
    let rx = Receiver::start(500).await;
    let app = install(&fake, None);
    app_call(
        &fake,
        &app,
        "event.bind",
        json!({"event": "ONTASKADD", "handler": rx.url}),
    )
    .await;
    fake.portal()
        .user_creates_task(1, json!({"TITLE": "one"}))
        .expect("task");
    fake.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rx.events("ONTASKADD").len(),
        1,
        "a failed delivery is not retried"
    );
    assert_eq!(fake.deliveries().last().and_then(|d| d.status), Some(500));

    fake.faults().update(|k| k.drop_outgoing_share = 1.0);
    fake.portal()
        .user_creates_task(1, json!({"TITLE": "two"}))
        .expect("task");
    fake.settle().await;
    assert_eq!(rx.events("ONTASKADD").len(), 1);
    assert!(fake.deliveries().last().is_some_and(|d| d.dropped));
    fake.faults().update(|k| {
        k.drop_outgoing_share = 0.0;
        k.duplicate_outgoing_share = 1.0;
    });
    fake.portal()
        .user_creates_task(1, json!({"TITLE": "three"}))
        .expect("task");
    fake.settle().await;
    assert_eq!(rx.events("ONTASKADD").len(), 3);
}

#[tokio::test]
async fn sandbox_b24_offline_events_keep_latest_state_per_object() {
    let fake = started().await;
    let app = install(&fake, None);
    let (s, r) = app_call(
        &fake,
        &app,
        "event.bind",
        json!({"event": "ONTASKUPDATE", "event_type": "offline"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let portal = fake.portal();
    let a = portal
        .user_creates_task(1, json!({"TITLE": "a"}))
        .expect("a");
    let b = portal
        .user_creates_task(1, json!({"TITLE": "b"}))
        .expect("b");
    portal
        .user_updates_task(1, a, json!({"TITLE": "a1"}))
        .expect("u");
    portal
        .user_updates_task(1, a, json!({"TITLE": "a2"}))
        .expect("u");
    portal
        .user_updates_task(1, b, json!({"TITLE": "b1"}))
        .expect("u");

    let (s, r) = app_call(&fake, &app, "event.offline.get", json!({"clear": 0})).await;
    assert_eq!(s, 200, "{r}");
    let events = r["result"]["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2, "one entry per object: {r}");
    assert_eq!(events[0]["EVENT_NAME"], "ONTASKUPDATE");
    assert_eq!(events[0]["EVENT_DATA"]["FIELDS_AFTER"]["ID"], a.to_string());
    for k in ["ID", "TIMESTAMP_X", "MESSAGE_ID", "EVENT_ADDITIONAL"] {
        assert!(!events[0][k].is_null(), "lacks {k}");
    }
    let process_id = r["result"]["process_id"]
        .as_str()
        .expect("process_id")
        .to_owned();
    let (_, again) = app_call(&fake, &app, "event.offline.get", json!({})).await;
    assert_eq!(
        again["result"]["events"],
        json!([]),
        "events in process are not handed out twice"
    );
    let (s, _) = app_call(
        &fake,
        &app,
        "event.offline.clear",
        json!({"process_id": process_id}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(portal.offline_events().is_empty());

    // clear=1 (default) deletes what it returns.
    portal
        .user_updates_task(1, b, json!({"TITLE": "b2"}))
        .expect("u");
    let (_, r) = app_call(&fake, &app, "event.offline.get", json!({})).await;
    assert_eq!(r["result"]["events"].as_array().map(Vec::len), Some(1));
    assert!(portal.offline_events().is_empty());

    // Offline binding and the queue need an admin.
    let user2 = fake
        .portal()
        .install_app(AppSpec {
            client_id: Some(app.client_id.clone()),
            ..AppSpec::default()
        })
        .expect("reinstall");
    assert!(
        fake.portal().bindings().is_empty(),
        "reinstall wipes bindings"
    );
    let code = fake.portal().authorization_code(&user2.client_id, 2);
    let (_, t) = get_url(&format!(
        "{}?grant_type=authorization_code&client_id={}&client_secret={}&code={code}",
        fake.oauth_token_url(),
        user2.client_id,
        user2.client_secret
    ))
    .await;
    let (s, e) = post_json(
        &format!("{}event.bind", fake.rest_url()),
        json!({"auth": t["access_token"], "event": "ONTASKADD", "event_type": "offline"}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("ACCESS_DENIED")));
}

// ---- auth types, placements ----

#[tokio::test]
async fn sandbox_b24_webhooks_cannot_bind_placements_or_events_but_apps_can() {
    let fake = started().await;
    let hook = fake.portal().create_webhook(1, &[]).expect("hook");
    let rx = Receiver::start(200).await;
    let handler = format!("{}/widget", rx.url);
    let (s, e) = hook_call(
        &hook,
        "placement.bind",
        json!({"PLACEMENT": "TASK_VIEW_TAB", "HANDLER": handler}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("WRONG_AUTH_TYPE")));
    let (s, e) = hook_call(
        &hook,
        "event.bind",
        json!({"event": "ONTASKADD", "handler": handler}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("WRONG_AUTH_TYPE")));

    let app = install(&fake, None);
    let (s, r) = app_call(
        &fake,
        &app,
        "placement.bind",
        json!({"PLACEMENT": "TASK_VIEW_TAB", "HANDLER": handler, "TITLE": "Confluence"}),
    )
    .await;
    assert_eq!((s, &r["result"]), (200, &json!(true)));
    // Argument errors come with HTTP 200.
    let (s, e) = app_call(
        &fake,
        &app,
        "placement.bind",
        json!({"PLACEMENT": "TASK_VIEW_TAB"}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (200, Some("ERROR_ARGUMENT")));
    let (_, got) = app_call(&fake, &app, "placement.get", json!({})).await;
    assert_eq!(got["result"][0]["placement"], "TASK_VIEW_TAB");
    assert_eq!(got["result"][0]["handler"], handler.as_str());

    // Opening the tab: B24 POSTs the handler with the documented fields.
    let opened = fake
        .portal()
        .open_placement(&app.client_id, 1, "TASK_VIEW_TAB", json!({"taskId": "31"}))
        .await
        .expect("open");
    assert_eq!(opened.status, 200);
    let call = &rx.all()[0];
    assert_eq!(call.path, "/widget");
    assert_eq!(call.content_type, "application/x-www-form-urlencoded");
    for k in ["DOMAIN", "PROTOCOL", "LANG", "APP_SID"] {
        assert!(call.query.contains_key(k), "query lacks {k}");
    }
    for k in [
        "AUTH_ID",
        "AUTH_EXPIRES",
        "REFRESH_ID",
        "SERVER_ENDPOINT",
        "member_id",
        "status",
        "PLACEMENT",
    ] {
        assert!(call.form.contains_key(k), "form lacks {k}");
    }
    assert_eq!(call.form["APPLICATION_TOKEN"], app.application_token);
    assert_eq!(call.form["PLACEMENT"], "TASK_VIEW_TAB");
    let opts: Value = serde_json::from_str(&call.form["PLACEMENT_OPTIONS"])
        .expect("PLACEMENT_OPTIONS is a JSON string");
    assert_eq!(opts["taskId"], "31");
    assert!(opts["URI"].is_string());
    // AUTH_ID is a working access token.
    let (s, _) = post_json(
        &format!("{}user.current", fake.rest_url()),
        json!({"auth": call.form["AUTH_ID"]}),
    )
    .await;
    assert_eq!(s, 200);
}

// ---- REST 3.0 ----

#[tokio::test]
async fn sandbox_b24_rest3_note_methods_have_item_shapes_and_limits() {
    let fake = started().await;
    let app = install(&fake, None);
    let (s, c) = v3_call(
        &fake,
        &app,
        "note.collection.add",
        json!({"fields": {"name": "Engineering"}}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let cid = c["result"]["item"]["id"].as_u64().expect("id");
    for k in ["name", "position", "createdBy", "createdAt", "updatedAt"] {
        assert!(!c["result"]["item"][k].is_null(), "collection lacks {k}");
    }
    let (_, root) = v3_call(
        &fake,
        &app,
        "note.document.add",
        json!({"fields": {"collectionId": cid, "title": "Root", "markdown": "# Root"}}),
    )
    .await;
    let root_id = root["result"]["item"]["id"].as_u64().expect("id");
    let (_, child) = v3_call(&fake, &app, "note.document.add", json!({"fields": {"collectionId": cid, "title": "Child", "parentId": root_id, "markdown": "text"}})).await;
    assert_eq!(child["result"]["item"]["parentId"], root_id);

    let (_, other) = v3_call(
        &fake,
        &app,
        "note.collection.add",
        json!({"fields": {"name": "Other"}}),
    )
    .await;
    let other_id = other["result"]["item"]["id"].as_u64().expect("id");
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.document.add",
        json!({"fields": {"collectionId": other_id, "title": "X", "parentId": root_id}}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("NOTE_INVALID_PARENT"))
    );
    let big = "a".repeat(1_048_577);
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.document.add",
        json!({"fields": {"collectionId": cid, "title": "Big", "markdown": big}}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("NOTE_MARKDOWN_TOO_LARGE"))
    );
    let exact = "a".repeat(1_048_576);
    let (s, _) = v3_call(
        &fake,
        &app,
        "note.document.add",
        json!({"fields": {"collectionId": cid, "title": "Max", "markdown": exact}}),
    )
    .await;
    assert_eq!(s, 200);

    let (_, tree) = v3_call(
        &fake,
        &app,
        "note.document.tree.list",
        json!({"collectionId": cid}),
    )
    .await;
    assert_eq!(tree["result"]["items"][0]["title"], "Root");
    assert_eq!(tree["result"]["items"][0]["children"][0]["title"], "Child");
    assert_eq!(tree["result"]["truncated"], false);

    let (s, e) = v3_call(
        &fake,
        &app,
        "note.document.update",
        json!({"id": root_id, "fields": {}}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("NOTE_EMPTY_UPDATE"))
    );
    fake.portal().set_document_being_edited(root_id, true);
    let upd = json!({"id": root_id, "fields": {"markdown": "# New"}});
    let (s, e) = v3_call(&fake, &app, "note.document.update", upd.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("NOTE_DOCUMENT_HAS_UNSAVED_CHANGES"))
    );
    let mut forced = upd;
    forced["overwrite"] = json!(true);
    let (s, r) = v3_call(&fake, &app, "note.document.update", forced).await;
    assert_eq!(
        (s, &r["result"]["item"]["markdown"]),
        (200, &json!("# New"))
    );
    let (s, r) = v3_call(&fake, &app, "note.document.archive", json!({"id": root_id})).await;
    assert_eq!((s, &r["result"]), (200, &json!({"result": true})));

    // JSON only; and note.* does not exist in classic REST.
    let (s, e) = post_form(
        &format!("{}/rest/api/note.collection.list", fake.base_url()),
        &[("auth", &app.access_token)],
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION"))
    );
    let (s, e) = app_call(&fake, &app, "note.collection.list", json!({})).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (404, Some("ERROR_METHOD_NOT_FOUND"))
    );
}

#[tokio::test]
async fn sandbox_b24_rest3_task_chat_message_send_posts_into_the_task_chat() {
    let fake = started().await;
    let app = install(&fake, None);
    let id = fake
        .portal()
        .user_creates_task(1, json!({"TITLE": "Chat"}))
        .expect("task");
    let (s, r) = v3_call(
        &fake,
        &app,
        "tasks.task.chat.message.send",
        json!({"fields": {"taskId": id, "text": "Page updated"}}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["result"], json!({"result": true}));
    assert!(r["time"].is_object());
    let msgs = fake.portal().task_chat_messages(id);
    assert_eq!(msgs.last().map(|m| m.text.as_str()), Some("Page updated"));
    let (s, e) = v3_call(
        &fake,
        &app,
        "tasks.task.chat.message.send",
        json!({"fields": {"taskId": 9999, "text": "x"}}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            400,
            Some("BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION")
        )
    );
    // Idempotency-Key replays the stored answer.
    let url = format!("{}/rest/api/tasks.task.chat.message.send", fake.base_url());
    let body = json!({"auth": app.access_token, "fields": {"taskId": id, "text": "once"}});
    for _ in 0..2 {
        let r = http()
            .post(&url)
            .header("Idempotency-Key", "k-1")
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(
        fake.portal()
            .task_chat_messages(id)
            .iter()
            .filter(|m| m.text == "once")
            .count(),
        1
    );
}

// ---- tasks ----

#[tokio::test]
async fn sandbox_b24_task_user_fields_are_admin_only_typed_and_camel_cased() {
    let fake = started().await;
    let app = install(&fake, None);
    let (s, e) = app_call(
        &fake,
        &app,
        "task.item.userfield.add",
        json!({"PARAMS": {"USER_TYPE_ID": "url", "FIELD_NAME": "LINK"}}),
    )
    .await;
    assert_eq!(s, 400, "url is not a task UF type: {e}");
    let (s, r) = app_call(&fake, &app, "task.item.userfield.add", json!({"PARAMS": {"USER_TYPE_ID": "string", "FIELD_NAME": "CONFLUENCE_URL", "EDIT_FORM_LABEL": {"en": "Confluence"}}})).await;
    assert_eq!(s, 200, "{r}");
    assert!(r["result"].is_number());
    let (_, list) = app_call(
        &fake,
        &app,
        "task.item.userfield.getlist",
        json!({"FILTER": {"FIELD_NAME": "UF_CONFLUENCE_URL"}}),
    )
    .await;
    assert_eq!(list["result"][0]["ENTITY_ID"], "TASKS_TASK");
    assert_eq!(list["result"][0]["USER_TYPE_ID"], "string");

    let hook2 = fake.portal().create_webhook(2, &[]).expect("hook");
    let (s, e) = hook_call(
        &hook2,
        "task.item.userfield.add",
        json!({"PARAMS": {"USER_TYPE_ID": "string", "FIELD_NAME": "X"}}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (403, Some("ACCESS_DENIED")));

    let id = fake
        .portal()
        .user_creates_task(1, json!({"TITLE": "UF"}))
        .expect("task");
    let (s, r) = app_call(
        &fake,
        &app,
        "tasks.task.update",
        json!({"taskId": id, "fields": {"UF_CONFLUENCE_URL": "https://wiki/x"}}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["result"]["task"].is_object());
    let (_, plain) = app_call(&fake, &app, "tasks.task.get", json!({"taskId": id})).await;
    assert!(
        plain["result"]["task"].get("ufConfluenceUrl").is_none(),
        "UFs only when selected"
    );
    let (_, sel) = app_call(
        &fake,
        &app,
        "tasks.task.get",
        json!({"taskId": id, "select": ["ID", "TITLE", "UF_CONFLUENCE_URL", "CHAT_ID"]}),
    )
    .await;
    let t = &sel["result"]["task"];
    assert_eq!(t["ufConfluenceUrl"], "https://wiki/x");
    assert!(t["chatId"].as_u64().is_some_and(|c| c > 0));
    let (_, found) = app_call(
        &fake,
        &app,
        "tasks.task.list",
        json!({"filter": {"UF_CONFLUENCE_URL": "https://wiki/x"}, "select": ["ID"]}),
    )
    .await;
    assert_eq!(found["result"]["tasks"][0]["id"], id.to_string());
    // The chat is also found by entity.
    let (_, chat) = app_call(
        &fake,
        &app,
        "im.chat.get",
        json!({"ENTITY_TYPE": "TASKS_TASK", "ENTITY_ID": id}),
    )
    .await;
    assert_eq!(chat["result"]["ID"], t["chatId"]);
}

#[tokio::test]
async fn sandbox_b24_comments_in_the_old_and_the_new_task_card() {
    let fake = started().await;
    let app = install(&fake, None);
    let portal = fake.portal();
    portal.set_new_task_card(false);
    let id = portal
        .user_creates_task(1, json!({"TITLE": "Old"}))
        .expect("task");
    let (s, r) = app_call(
        &fake,
        &app,
        "task.commentitem.add",
        json!({"TASKID": id, "FIELDS": {"POST_MESSAGE": "hello", "AUTHOR_ID": 3}}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["result"].is_number());
    let (_, list) = app_call(
        &fake,
        &app,
        "task.commentitem.getlist",
        json!({"TASKID": id}),
    )
    .await;
    assert_eq!(list["result"][0]["POST_MESSAGE"], "hello");
    assert_eq!(list["result"][0]["AUTHOR_ID"], "3");

    portal.set_new_task_card(true);
    let id2 = portal
        .user_creates_task(1, json!({"TITLE": "New"}))
        .expect("task");
    let (s, _) = app_call(
        &fake,
        &app,
        "task.commentitem.add",
        json!({"TASKID": id2, "FIELDS": {"POST_MESSAGE": "still works"}}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, e) = app_call(
        &fake,
        &app,
        "task.commentitem.getlist",
        json!({"TASKID": id2}),
    )
    .await;
    assert_eq!(s, 400, "getlist stops working in the new card: {e}");
    let chat = portal.task(id2).expect("task").chat_id;
    let (s, r) = app_call(
        &fake,
        &app,
        "im.message.add",
        json!({"DIALOG_ID": format!("chat{chat}"), "MESSAGE": "[b]via im[/b]"}),
    )
    .await;
    assert_eq!(s, 200);
    assert!(r["result"].is_number());
    let texts: Vec<String> = portal
        .task_chat_messages(id2)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, vec!["still works", "[b]via im[/b]"]);
}

// ---- chat, bots, users, disk, landing ----

#[tokio::test]
async fn sandbox_b24_im_messages_notifications_and_bot_events() {
    let fake = started().await;
    let rx = Receiver::start(200).await;
    let app = install(&fake, None);
    let (s, r) = app_call(
        &fake,
        &app,
        "im.message.add",
        json!({"DIALOG_ID": "sg1", "MESSAGE": "to the group"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, chat) = app_call(
        &fake,
        &app,
        "im.chat.get",
        json!({"ENTITY_TYPE": "SONET_GROUP", "ENTITY_ID": 1}),
    )
    .await;
    let group_chat = chat["result"]["ID"].as_u64().expect("chat");
    assert_eq!(fake.portal().messages(group_chat)[0].text, "to the group");
    let (s, e) = app_call(&fake, &app, "im.message.add", json!({"DIALOG_ID": "chat1"})).await;
    assert_eq!(s, 400, "{e}");

    for text in ["first", "second"] {
        app_call(
            &fake,
            &app,
            "im.notify.personal.add",
            json!({"USER_ID": 2, "MESSAGE": text, "TAG": "page-7"}),
        )
        .await;
    }
    let n = fake.portal().notifications();
    assert_eq!(n.len(), 1, "the same TAG replaces");
    assert_eq!(n[0].message, "second");

    let (s, bot) = app_call(&fake, &app, "imbot.register", json!({"CODE": "wiki", "EVENT_MESSAGE_ADD": format!("{}/bot", rx.url), "EVENT_WELCOME_MESSAGE": format!("{}/bot", rx.url), "EVENT_BOT_DELETE": format!("{}/bot", rx.url), "PROPERTIES": {"NAME": "Wiki bot"}})).await;
    assert_eq!(s, 200, "{bot}");
    let bot_id = bot["result"].as_u64().expect("bot id");
    let (s, _) = app_call(&fake, &app, "imbot.command.register", json!({"BOT_ID": bot_id, "COMMAND": "search", "EVENT_COMMAND_ADD": format!("{}/cmd", rx.url), "LANG": [{"LANGUAGE_ID": "en", "TITLE": "Search", "PARAMS": "text"}]})).await;
    assert_eq!(s, 200);
    let hook = fake.portal().create_webhook(1, &[]).expect("hook");
    let (s, e) = hook_call(
        &hook,
        "imbot.register",
        json!({"CODE": "x", "EVENT_MESSAGE_ADD": "http://x", "PROPERTIES": {"NAME": "x"}}),
    )
    .await;
    assert_eq!(s, 403, "a webhook needs CLIENT_ID for imbot: {e}");

    fake.portal()
        .user_writes_bot(2, bot_id, None, "hello bot")
        .expect("write");
    fake.portal()
        .user_writes_bot(2, bot_id, None, "/search release notes")
        .expect("command");
    fake.settle().await;
    let m = &rx.events("ONIMBOTMESSAGEADD")[0];
    assert_eq!(m.path, "/bot");
    assert_eq!(m.form["data[PARAMS][MESSAGE]"], "hello bot");
    assert_eq!(m.form["data[PARAMS][DIALOG_ID]"], "2");
    assert_eq!(m.form["data[PARAMS][FROM_USER_ID]"], "2");
    assert_eq!(m.form[&format!("data[BOT][{bot_id}][BOT_CODE]")], "wiki");
    assert!(
        m.form
            .contains_key(&format!("data[BOT][{bot_id}][AUTH][access_token]"))
    );
    assert_eq!(m.form["auth[application_token]"], app.application_token);
    let c = &rx.events("ONIMCOMMANDADD")[0];
    assert_eq!(c.path, "/cmd");
    let cmd_key = c
        .form
        .keys()
        .find(|k| k.ends_with("][COMMAND]"))
        .expect("command")
        .clone();
    assert_eq!(c.form[&cmd_key], "search");
    assert_eq!(
        c.form[&cmd_key.replace("][COMMAND]", "][COMMAND_PARAMS]")],
        "release notes"
    );

    let msg_id: u64 = m.form["data[PARAMS][MESSAGE_ID]"].parse().expect("id");
    let (s, r) = app_call(
        &fake,
        &app,
        "imbot.message.add",
        json!({"BOT_ID": bot_id, "DIALOG_ID": "2", "MESSAGE": "found 3 pages"}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let chat_of = fake
        .portal()
        .all_messages()
        .into_iter()
        .find(|x| x.id == msg_id)
        .expect("msg")
        .chat_id;
    assert_eq!(
        fake.portal().messages(chat_of).last().map(|x| x.author_id),
        Some(bot_id)
    );
}

#[tokio::test]
async fn sandbox_b24_user_get_filters_by_email() {
    let fake = started().await;
    let hook = fake.portal().create_webhook(1, &["user"]).expect("hook");
    let (s, r) = post_form(
        &format!("{}user.get", hook.url),
        &[("FILTER[EMAIL]", "ivan.petrov@example.com")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["result"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["result"][0]["ID"], "2");
    assert_eq!(r["total"], 1);
    let (_, j) = hook_call(
        &hook,
        "user.get",
        json!({"FILTER": {"EMAIL": "Ivan.Petrov@Example.com"}}),
    )
    .await;
    assert_eq!(j["result"][0]["ID"], "2");
    let (_, none) = hook_call(
        &hook,
        "user.get",
        json!({"FILTER": {"EMAIL": "nobody@example.com"}}),
    )
    .await;
    assert_eq!(none["result"], json!([]));
    let (_, me) = hook_call(&hook, "user.current", json!({})).await;
    assert_eq!(me["result"]["EMAIL"], "admin@example.com");
}

#[tokio::test]
async fn sandbox_b24_disk_folders_and_base64_uploads() {
    let fake = started().await;
    let app = install(&fake, None);
    let (_, st) = app_call(
        &fake,
        &app,
        "disk.storage.getlist",
        json!({"filter": {"ENTITY_TYPE": "common"}}),
    )
    .await;
    let root = st["result"][0]["ROOT_OBJECT_ID"]
        .as_str()
        .expect("root")
        .to_owned();
    let (s, f) = app_call(
        &fake,
        &app,
        "disk.folder.addsubfolder",
        json!({"id": root, "data": {"NAME": "Confluence"}}),
    )
    .await;
    assert_eq!(s, 200, "{f}");
    let folder = f["result"]["ID"].as_str().expect("id").to_owned();
    let (s, up) = app_call(
        &fake,
        &app,
        "disk.folder.uploadfile",
        json!({"id": folder, "data": {"NAME": "a.txt"}, "fileContent": ["a.txt", "aGVsbG8="]}),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["result"]["SIZE"], "5");
    let url = up["result"]["DOWNLOAD_URL"].as_str().expect("url");
    let bytes = http()
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&bytes[..], b"hello");
    let (s, e) = app_call(
        &fake,
        &app,
        "disk.folder.uploadfile",
        json!({"id": folder, "data": {"NAME": "a.txt"}, "fileContent": ["a.txt", "aGVsbG8="]}),
    )
    .await;
    assert_eq!(s, 400, "same name twice: {e}");
    let (_, again) = app_call(&fake, &app, "disk.folder.uploadfile", json!({"id": folder, "data": {"NAME": "a.txt"}, "fileContent": ["a.txt", "aGVsbG8="], "generateUniqueName": true})).await;
    assert_ne!(again["result"]["NAME"], "a.txt");
    let (_, b) = app_call(
        &fake,
        &app,
        "batch",
        json!({"cmd": {"u": format!("disk.folder.uploadfile?id={folder}")}}),
    )
    .await;
    assert_eq!(
        b["result"]["result_error"]["u"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
}

#[tokio::test]
async fn sandbox_b24_landing_knowledge_base_needs_scope_on_every_call() {
    let fake = started().await;
    let app = install(&fake, None);
    let kb = |mut v: Value| {
        v["scope"] = json!("KNOWLEDGE");
        v
    };
    let (s, r) = app_call(
        &fake,
        &app,
        "landing.site.add",
        kb(json!({"fields": {"TITLE": "Wiki", "CODE": "wiki", "TYPE": "KNOWLEDGE"}})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let site = r["result"].as_u64().expect("site");
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.site.add",
        json!({"fields": {"TITLE": "W", "CODE": "w2", "TYPE": "KNOWLEDGE"}}),
    )
    .await;
    assert_eq!(s, 400, "TYPE=KNOWLEDGE needs scope: {e}");
    let (_, f) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": site, "fields": {"TITLE": "Space"}})),
    )
    .await;
    let folder = f["result"].as_u64().expect("folder");
    let (_, l) = app_call(
        &fake,
        &app,
        "landing.landing.add",
        kb(json!({"fields": {"TITLE": "Page", "SITE_ID": site, "FOLDER_ID": folder}})),
    )
    .await;
    let lid = l["result"].as_u64().expect("lid");
    assert!(
        !fake.portal().landings()[0].active,
        "pages are created unpublished"
    );
    let (s, b) = app_call(&fake, &app, "landing.landing.addblock", kb(json!({"lid": lid, "fields": {"CODE": "html", "CONTENT": "<p>Hi</p><script>x()</script>"}}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.landing.addblock",
        json!({"lid": lid, "fields": {"CODE": "html"}}),
    )
    .await;
    assert_eq!(s, 400, "without scope the KB page is not found: {e}");
    let (_, list) = app_call(&fake, &app, "landing.site.getList", json!({})).await;
    assert_eq!(list["result"], json!([]));
    let (s, _) = app_call(
        &fake,
        &app,
        "landing.landing.publication",
        kb(json!({"lid": lid})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(fake.portal().landings()[0].active);
    let (_, blocks) = app_call(
        &fake,
        &app,
        "landing.block.getlist",
        kb(json!({"lid": lid})),
    )
    .await;
    assert_eq!(blocks["result"][0]["content"], "<p>Hi</p>");
}

// ---- inspection ----

#[tokio::test]
async fn sandbox_b24_inspection_api_html_page_and_reset() {
    let fake = started().await;
    let base = fake.base_url().to_owned();
    let (s, t) = post_json(
        &format!("{base}/_sandbox/tasks"),
        json!({"user_id": 2, "fields": {"TITLE": "<b>Spec</b>"}}),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let id = t["id"].as_u64().expect("id");
    post_json(
        &format!("{base}/_sandbox/tasks/{id}/comments"),
        json!({"user_id": 3, "text": "a <i>note</i>"}),
    )
    .await;
    let (_, tasks) = get_url(&format!("{base}/_sandbox/tasks")).await;
    assert_eq!(tasks[0]["title"], "<b>Spec</b>");
    let (_, comments) = get_url(&format!("{base}/_sandbox/tasks/{id}/comments")).await;
    assert_eq!(comments["chat_messages"][0]["text"], "a <i>note</i>");
    let html = http()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("&lt;b&gt;Spec&lt;/b&gt;") && !html.contains("<b>Spec</b>"));
    assert!(html.contains("a &lt;i&gt;note&lt;/i&gt;"));

    let app = install(&fake, None);
    app_call(&fake, &app, "user.current", json!({})).await;
    let (_, reqs) = get_url(&format!("{base}/_sandbox/requests")).await;
    assert!(
        reqs.as_array()
            .is_some_and(|r| r.iter().any(|x| x["path"] == "/rest/user.current"))
    );
    let r = http()
        .put(format!("{base}/_sandbox/knobs"))
        .json(&json!({"token_ttl_secs": 5, "limits": {"drain_per_sec": 5.0, "burst": 250.0}}))
        .send()
        .await
        .expect("knobs");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(fake.knobs().limits, LimitsConfig::enterprise());

    let (s, _) = post_json(&format!("{base}/_sandbox/reset"), json!({})).await;
    assert_eq!(s, 200);
    assert!(fake.portal().tasks().is_empty());
    assert!(fake.requests().all().is_empty());
    assert_eq!(
        app_call(&fake, &app, "user.current", json!({})).await.0,
        401,
        "tokens are gone"
    );
}

/// An injected server fault carries B24's system-error shape (docs: 500
/// `INTERNAL_SERVER_ERROR`), so clients see what the real portal would send.
#[tokio::test]
async fn sandbox_b24_injected_5xx_has_the_system_error_shape() {
    let fake = started().await;
    let app = install(&fake, None);
    fake.faults().update(|k| k.error_5xx_share = 1.0);
    let (s, e) = app_call(&fake, &app, "user.current", json!({})).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (500, Some("INTERNAL_SERVER_ERROR")),
        "{e}"
    );
    assert!(e["error_description"].is_string());
    fake.faults().update(|k| k.error_5xx_share = 0.0);
    let (s, _) = app_call(&fake, &app, "user.current", json!({})).await;
    assert_eq!(s, 200);
}

// ---- knowledge bases and Disk: REST 3.0 idempotency, note files, landing KB, app storage ----

/// A REST 3.0 call with the app's token and an optional `Idempotency-Key`: status, headers
/// and body.
async fn v3_keyed(
    fake: &FakeB24,
    token: &str,
    method: &str,
    mut body: Value,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    body["auth"] = json!(token);
    let mut req = http()
        .post(format!("{}/rest/api/{method}", fake.base_url()))
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("send");
    let headers = r.headers().clone();
    let (s, v) = answer(r).await;
    (s, headers, v)
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn kb2_document(fake: &FakeB24, app: &AppInstall) -> (u64, u64) {
    let (_, c) = v3_call(
        fake,
        app,
        "note.collection.add",
        json!({"fields": {"name": "Space"}}),
    )
    .await;
    let cid = c["result"]["item"]["id"].as_u64().expect("collection");
    let (_, d) = v3_call(
        fake,
        app,
        "note.document.add",
        json!({"fields": {"collectionId": cid, "title": "Page"}}),
    )
    .await;
    (cid, d["result"]["item"]["id"].as_u64().expect("document"))
}

#[tokio::test]
async fn sandbox_b24_rest3_idempotency_key_replays_the_stored_success() {
    let fake = started().await;
    let app = install(&fake, None);
    let (cid, _) = kb2_document(&fake, &app).await;
    let add = json!({"fields": {"collectionId": cid, "title": "Keyed"}});
    let token = app.access_token.as_str();

    let (s, h, first) = v3_keyed(&fake, token, "note.document.add", add.clone(), Some("k-1")).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(header(&h, "idempotency-key"), Some("k-1"));
    assert_eq!(header(&h, "idempotent-replayed"), None);
    // Same key, same body: the stored answer, flagged; the method does not run again.
    let (s, h, again) = v3_keyed(&fake, token, "note.document.add", add.clone(), Some("k-1")).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h, "idempotent-replayed"), Some("true"));
    assert_eq!(header(&h, "idempotency-key"), Some("k-1"));
    assert_eq!(again["result"], first["result"]);
    let keyed = fake
        .portal()
        .documents()
        .into_iter()
        .filter(|d| d.title == "Keyed")
        .count();
    assert_eq!(keyed, 1);
    // Same key, another body: 422.
    let other = json!({"fields": {"collectionId": cid, "title": "Other"}});
    let (s, _, e) = v3_keyed(&fake, token, "note.document.add", other, Some("k-1")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            422,
            Some("BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION")
        )
    );
    // The key is per method: the same key on another method runs it.
    let (s, h, _) = v3_keyed(
        &fake,
        token,
        "note.collection.add",
        json!({"fields": {"name": "K"}}),
        Some("k-1"),
    )
    .await;
    assert_eq!((s, header(&h, "idempotent-replayed")), (200, None));
    // And per application.
    let second_app = install(&fake, None);
    let (s, h, _) = v3_keyed(
        &fake,
        &second_app.access_token,
        "note.document.add",
        add.clone(),
        Some("k-1"),
    )
    .await;
    assert_eq!((s, header(&h, "idempotent-replayed")), (200, None));
    // Failures are not stored: the key runs again once the call is fixed.
    let (s, _, _) = v3_keyed(
        &fake,
        token,
        "note.document.add",
        json!({"fields": {"collectionId": cid}}),
        Some("k-2"),
    )
    .await;
    assert_eq!(s, 400);
    let (s, h, _) = v3_keyed(&fake, token, "note.document.add", add.clone(), Some("k-2")).await;
    assert_eq!((s, header(&h, "idempotent-replayed")), (200, None));
    // 1 to 255 printable ASCII characters.
    let long = "k".repeat(256);
    let (s, _, e) = v3_keyed(&fake, token, "note.document.add", add, Some(&long)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            400,
            Some("BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION")
        )
    );
}

#[tokio::test]
async fn sandbox_b24_rest3_openapi_and_scopes_show_what_the_portal_serves() {
    let fake = started().await;
    let app = install(&fake, None);
    // The OpenAPI document comes bare (no `result`), under either name.
    for name in ["rest.documentation.openapi", "documentation"] {
        let (s, doc) = v3_call(&fake, &app, name, json!({})).await;
        assert_eq!(s, 200, "{doc}");
        assert_eq!(doc["openapi"], "3.0.0");
        assert!(doc["paths"]["/note.document.add"].is_object(), "{doc}");
    }
    // Methods without parameters may be a GET.
    let hook = fake.portal().create_webhook(1, &["task"]).expect("hook");
    let url = hook.url.replacen("/rest/", "/rest/api/", 1);
    let (s, doc) = get_url(&format!("{url}rest.documentation.openapi")).await;
    assert_eq!((s, doc["openapi"].as_str()), (200, Some("3.0.0")));
    // REST 3.0 names a missing scope with its own code.
    let (s, e) = post_json(&format!("{url}note.collection.list"), json!({})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            403,
            Some("BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION")
        )
    );
    // A portal without Knowledge Base 2.0.
    fake.portal().set_kb2_available(false);
    let (_, doc) = v3_call(&fake, &app, "rest.documentation.openapi", json!({})).await;
    assert!(doc["paths"]["/note.document.add"].is_null());
    assert!(doc["paths"]["/tasks.task.chat.message.send"].is_object());
    let (s, e) = v3_call(&fake, &app, "note.collection.list", json!({})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("ERROR_METHOD_NOT_FOUND"))
    );
}

#[tokio::test]
async fn sandbox_b24_rest3_note_files_check_type_and_size_and_give_asset_markdown() {
    let fake = started().await;
    let app = install(&fake, None);
    let (_, did) = kb2_document(&fake, &app).await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
    let (s, r) = v3_call(
        &fake,
        &app,
        "note.file.add",
        json!({"documentId": did, "fileName": "diagram.png", "fileContent": png}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let item = &r["result"]["item"];
    let fid = item["id"].as_u64().expect("id");
    assert_eq!(item["documentId"], did);
    assert_eq!(item["name"], "diagram.png");
    assert_eq!(item["size"], 68);
    assert_eq!(item["mimeType"], "image/png");
    assert_eq!(item["assetType"], "image");
    assert_eq!(item["assetMarkdown"], format!("[[image fileId={fid}]]"));
    for (name, kind) in [
        ("clip.MP4", "video"),
        ("spec.pdf", "file"),
        ("A.JPEG", "image"),
    ] {
        let (s, r) = v3_call(
            &fake,
            &app,
            "note.file.add",
            json!({"documentId": did, "fileName": name, "fileContent": "aGVsbG8="}),
        )
        .await;
        assert_eq!(
            (s, &r["result"]["item"]["assetType"]),
            (200, &json!(kind)),
            "{name}"
        );
        let id = &r["result"]["item"]["id"];
        assert_eq!(
            r["result"]["item"]["assetMarkdown"],
            format!("[[{kind} fileId={id}]]")
        );
    }
    // Extensions outside the list, or none.
    for name in ["tool.exe", "README", "archive.tar.gz"] {
        let (s, e) = v3_call(
            &fake,
            &app,
            "note.file.add",
            json!({"documentId": did, "fileName": name, "fileContent": "aGVsbG8="}),
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (400, Some("NOTE_FILE_TYPE_NOT_ALLOWED")),
            "{name}"
        );
    }
    // Base64 without a `data:` prefix, non-empty.
    for content in ["data:image/png;base64,aGVsbG8=", "%%%"] {
        let (s, e) = v3_call(
            &fake,
            &app,
            "note.file.add",
            json!({"documentId": did, "fileName": "a.png", "fileContent": content}),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(
            e["error"]["code"],
            "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION"
        );
        assert_eq!(e["error"]["validation"][0]["field"], "fileContent");
    }
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.file.add",
        json!({"fileName": "a.png", "fileContent": "aGVsbG8="}),
    )
    .await;
    assert_eq!(
        (s, &e["error"]["validation"][0]["field"]),
        (400, &json!("documentId"))
    );
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.file.add",
        json!({"documentId": 999_999, "fileName": "a.png", "fileContent": "aGVsbG8="}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            400,
            Some("BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION")
        )
    );
    // The limit (25 MiB unless the portal sets one) applies to the decoded bytes.
    assert_eq!(fake.knobs().note_max_file_size, 26_214_400);
    fake.set_knobs(bridge_sandbox::b24::Knobs {
        note_max_file_size: 5,
        ..fake.knobs()
    });
    let (s, _) = v3_call(
        &fake,
        &app,
        "note.file.add",
        json!({"documentId": did, "fileName": "five.txt", "fileContent": "aGVsbG8="}),
    )
    .await;
    assert_eq!(s, 200, "exactly the limit");
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.file.add",
        json!({"documentId": did, "fileName": "six.txt", "fileContent": "aGVsbG8h"}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("NOTE_FILE_TOO_LARGE"))
    );
    // note.file.get: metadata of a file of that document.
    let (s, g) = v3_call(
        &fake,
        &app,
        "note.file.get",
        json!({"id": fid, "documentId": did}),
    )
    .await;
    assert_eq!((s, &g["result"]["item"]), (200, item));
    let (s, e) = v3_call(
        &fake,
        &app,
        "note.file.get",
        json!({"id": fid, "documentId": 999_999}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            400,
            Some("BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION")
        )
    );
    // Kept for inspection, bytes included.
    let files = fake.portal().note_files();
    let stored = files.iter().find(|f| f.id == fid).expect("stored");
    assert_eq!(stored.bytes.len(), 68);
    let (_, kb) = get_url(&format!("{}/_sandbox/kb", fake.base_url())).await;
    assert_eq!(
        kb["notes"]["files"].as_array().map(Vec::len),
        Some(files.len())
    );
}

#[tokio::test]
async fn sandbox_b24_landing_lists_filter_by_code_and_xml_id_and_folders_are_unique() {
    let fake = started().await;
    let app = install(&fake, None);
    let kb = |mut v: Value| {
        v["scope"] = json!("KNOWLEDGE");
        v
    };
    let (_, r) = app_call(
        &fake,
        &app,
        "landing.site.add",
        kb(json!({"fields": {"TITLE": "Wiki", "CODE": "wiki", "TYPE": "KNOWLEDGE"}})),
    )
    .await;
    let site = r["result"].as_u64().expect("site");
    let (_, r) = app_call(
        &fake,
        &app,
        "landing.site.add",
        kb(json!({"fields": {"TITLE": "Year", "CODE": "2024", "TYPE": "KNOWLEDGE"}})),
    )
    .await;
    assert!(r["result"].as_u64().is_some(), "{r}");
    // Codes are listed as `/code/`; digits-only codes get the `site` prefix.
    let (_, list) = app_call(
        &fake,
        &app,
        "landing.site.getList",
        kb(json!({"params": {"filter": {"TYPE": "KNOWLEDGE", "=CODE": "/wiki/"}}})),
    )
    .await;
    assert_eq!(list["result"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["result"][0]["ID"], site.to_string());
    assert_eq!(list["result"][0]["CODE"], "/wiki/");
    let (_, list) = app_call(
        &fake,
        &app,
        "landing.site.getList",
        kb(json!({"params": {"filter": {"CODE": "/site2024/"}}})),
    )
    .await;
    assert_eq!(list["result"].as_array().map(Vec::len), Some(1), "{list}");

    // Folders: inactive unless asked, CODE unique under one parent, no slashes.
    let (_, f) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": site, "fields": {"TITLE": "Guides", "CODE": "guides"}})),
    )
    .await;
    let guides = f["result"].as_u64().expect("folder");
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": site, "fields": {"TITLE": "Guides 2", "CODE": "guides"}})),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("FOLDER_IS_NOT_UNIQUE"))
    );
    let (s, _) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": site, "fields": {"TITLE": "G", "CODE": "guides", "PARENT_ID": guides, "ACTIVE": "Y"}})),
    )
    .await;
    assert_eq!(s, 200, "the same code under another parent");
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": site, "fields": {"TITLE": "X", "CODE": "a/b"}})),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("SLASH_IS_NOT_ALLOWED"))
    );
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.site.addFolder",
        kb(json!({"siteId": 999_999, "fields": {"TITLE": "X"}})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("ACCESS_DENIED")));
    let (_, top) = app_call(
        &fake,
        &app,
        "landing.site.getFolders",
        kb(json!({"siteId": site, "filter": {"PARENT_ID": 0}})),
    )
    .await;
    assert_eq!(top["result"].as_array().map(Vec::len), Some(1), "{top}");
    assert_eq!(top["result"][0]["ACTIVE"], "N");
    assert_eq!(top["result"][0]["PARENT_ID"], Value::Null);

    // Pages by XML_ID.
    for xml in ["confluence:1", "confluence:2"] {
        app_call(
            &fake,
            &app,
            "landing.landing.add",
            kb(json!({"fields": {"TITLE": xml, "SITE_ID": site, "XML_ID": xml}})),
        )
        .await;
    }
    let (_, pages) = app_call(
        &fake,
        &app,
        "landing.landing.getList",
        kb(json!({"params": {"filter": {"SITE_ID": site, "=XML_ID": "confluence:2"}}})),
    )
    .await;
    assert_eq!(pages["result"].as_array().map(Vec::len), Some(1), "{pages}");
    assert_eq!(pages["result"][0]["TITLE"], "confluence:2");
    let (_, none) = app_call(
        &fake,
        &app,
        "landing.landing.getList",
        json!({"params": {"filter": {"XML_ID": "confluence:2"}}}),
    )
    .await;
    assert_eq!(none["result"], json!([]), "not without the scope");
}

#[tokio::test]
async fn sandbox_b24_landing_move_unpublic_and_public_url() {
    let fake = started().await;
    let app = install(&fake, None);
    let kb = |mut v: Value| {
        v["scope"] = json!("KNOWLEDGE");
        v
    };
    let call = |method: &'static str, body: Value| {
        let (fake, app) = (&fake, &app);
        async move { app_call(fake, app, method, kb(body)).await }
    };
    let site_of = |code: &'static str| {
        call(
            "landing.site.add",
            json!({"fields": {"TITLE": code, "CODE": code, "TYPE": "KNOWLEDGE"}}),
        )
    };
    let s1 = site_of("one").await.1["result"].as_u64().expect("site");
    let s2 = site_of("two").await.1["result"].as_u64().expect("site");
    let folder = |site: u64, code: &'static str| {
        call(
            "landing.site.addFolder",
            json!({"siteId": site, "fields": {"TITLE": code, "CODE": code, "ACTIVE": "Y"}}),
        )
    };
    let f1 = folder(s1, "a").await.1["result"].as_u64().expect("folder");
    let f2 = folder(s1, "b").await.1["result"].as_u64().expect("folder");
    let g1 = folder(s2, "c").await.1["result"].as_u64().expect("folder");
    let (_, l) = call(
        "landing.landing.add",
        json!({"fields": {"TITLE": "Page", "CODE": "page", "SITE_ID": s1, "FOLDER_ID": f1}}),
    )
    .await;
    let lid = l["result"].as_u64().expect("lid");
    let page = |fake: &FakeB24| fake.portal().landing(lid).expect("page");

    // Within the site (toSiteId omitted: the page's own).
    let (s, r) = call(
        "landing.landing.move",
        json!({"lid": lid, "toFolderId": f2}),
    )
    .await;
    assert_eq!((s, &r["result"]), (200, &json!(true)));
    assert_eq!(page(&fake).folder_id, Some(f2));
    call("landing.landing.move", json!({"lid": lid})).await;
    assert_eq!((page(&fake).site_id, page(&fake).folder_id), (s1, None));
    // Another site and one of its folders in one go: refused; in two calls: fine.
    let (s, e) = call(
        "landing.landing.move",
        json!({"lid": lid, "toSiteId": s2, "toFolderId": g1}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("FOLDER_NOT_FOUND")));
    assert_eq!(page(&fake).site_id, s1);
    call("landing.landing.move", json!({"lid": lid, "toSiteId": s2})).await;
    let (s, _) = call(
        "landing.landing.move",
        json!({"lid": lid, "toSiteId": s2, "toFolderId": g1}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!((page(&fake).site_id, page(&fake).folder_id), (s2, Some(g1)));
    let (s, e) = call("landing.landing.move", json!({"toSiteId": s2})).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("MISSING_PARAMS")));
    let (s, e) = call("landing.landing.move", json!({"lid": 999_999})).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("LANDING_NOT_EXIST")));

    // Publication and back.
    call("landing.landing.publication", json!({"lid": lid})).await;
    assert!(page(&fake).active);
    let (s, r) = call("landing.landing.unpublic", json!({"lid": lid})).await;
    assert_eq!((s, &r["result"]), (200, &json!(true)));
    assert!(!page(&fake).active);
    let (_, listed) = call(
        "landing.landing.getList",
        json!({"params": {"filter": {"ID": lid}}}),
    )
    .await;
    assert_eq!(listed["result"][0]["ACTIVE"], "N");

    // The public address of a KB page: under /knowledge/ on the portal.
    let (s, u) = call("landing.landing.getpublicurl", json!({"lid": lid})).await;
    assert_eq!(s, 200);
    assert_eq!(
        u["result"],
        format!("http://{}/knowledge/two/page/", fake.portal().domain())
    );
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.landing.getpublicurl",
        json!({"lid": lid}),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("LANDING_NOT_EXIST")),
        "a KB page is not found without the scope"
    );
}

#[tokio::test]
async fn sandbox_b24_landing_blocks_have_a_draft_and_a_published_copy() {
    let fake = started().await;
    let app = install(&fake, None);
    let kb = |mut v: Value| {
        v["scope"] = json!("KNOWLEDGE");
        v
    };
    let (_, r) = app_call(
        &fake,
        &app,
        "landing.site.add",
        kb(json!({"fields": {"TITLE": "Wiki", "CODE": "wiki", "TYPE": "KNOWLEDGE"}})),
    )
    .await;
    let site = r["result"].as_u64().expect("site");
    let (_, l) = app_call(
        &fake,
        &app,
        "landing.landing.add",
        kb(json!({"fields": {"TITLE": "Page", "SITE_ID": site}})),
    )
    .await;
    let lid = l["result"].as_u64().expect("lid");
    let add = |content: &'static str, after: Option<u64>| {
        let mut fields = json!({"CODE": "27.4.one_col_fix_text", "CONTENT": content});
        if let Some(a) = after {
            fields["AFTER_ID"] = json!(a);
        }
        let (fake, app) = (&fake, &app);
        async move {
            let (_, r) = app_call(
                fake,
                app,
                "landing.landing.addblock",
                kb(json!({"lid": lid, "fields": fields})),
            )
            .await;
            r["result"].as_u64().expect("block")
        }
    };
    // Without AFTER_ID a block goes first; with it, after that block.
    let a = add("<p>a</p>", None).await;
    let b = add("<p>b</p>", None).await;
    let c = add("<p>c</p>", Some(a)).await;
    let list = |edit: bool| {
        let (fake, app) = (&fake, &app);
        async move {
            let mut body = json!({"lid": lid});
            if edit {
                body["params"] = json!({"edit_mode": 1});
            }
            let (_, r) = app_call(fake, app, "landing.block.getlist", kb(body)).await;
            r["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|x| {
                    (
                        x["id"].as_u64().unwrap_or(0),
                        x["content"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let drafts = list(true).await;
    assert_eq!(
        drafts.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![b, a, c]
    );
    assert!(list(false).await.is_empty(), "nothing published yet");

    app_call(
        &fake,
        &app,
        "landing.landing.publication",
        kb(json!({"lid": lid})),
    )
    .await;
    let public = list(false).await;
    assert_eq!(public.len(), 3);
    assert!(
        public.iter().all(|(id, _)| ![a, b, c].contains(id)),
        "published copies have ids of their own"
    );
    // Only draft ids can be edited; the public copy changes at the next publication.
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.block.updatecontent",
        kb(json!({"lid": lid, "block": public[0].0, "content": "<p>x</p>"})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("BLOCK_NOT_FOUND")));
    let (s, _) = app_call(
        &fake,
        &app,
        "landing.block.updatecontent",
        kb(json!({"lid": lid, "block": b, "content": "<p>b2</p>"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list(false).await[0].1, "<p>b</p>");
    assert_eq!(list(true).await[0].1, "<p>b2</p>");
    app_call(
        &fake,
        &app,
        "landing.landing.publication",
        kb(json!({"lid": lid})),
    )
    .await;
    assert_eq!(list(false).await[0].1, "<p>b2</p>");
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.block.updatecontent",
        kb(json!({"lid": lid, "block": b})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("MISSING_PARAMS")));
    // A block needs a CODE; given CONTENT must not be empty.
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.landing.addblock",
        kb(json!({"lid": lid, "fields": {"CODE": ""}})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("BLOCK_CANT_BE_ADDED")));
    let (s, e) = app_call(
        &fake,
        &app,
        "landing.landing.addblock",
        kb(json!({"lid": lid, "fields": {"CODE": "27.4.one_col_fix_text", "CONTENT": ""}})),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("BLOCK_NOT_FOUND")));
}

#[tokio::test]
async fn sandbox_b24_disk_storage_for_app_needs_an_app() {
    let fake = started().await;
    let app = install(&fake, None);
    let (s, st) = app_call(&fake, &app, "disk.storage.getForApp", json!({})).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["result"]["ENTITY_TYPE"], "restapp");
    assert_eq!(st["result"]["MODULE_ID"], "disk");
    let root = st["result"]["ROOT_OBJECT_ID"]
        .as_str()
        .expect("root")
        .to_owned();
    // Created once, then the same storage.
    let (_, again) = app_call(&fake, &app, "disk.storage.getForApp", json!({})).await;
    assert_eq!(again["result"], st["result"]);
    let (s, f) = app_call(
        &fake,
        &app,
        "disk.folder.addsubfolder",
        json!({"id": root, "data": {"NAME": "Confluence"}}),
    )
    .await;
    assert_eq!(s, 200, "{f}");
    let (s, e) = app_call(
        &fake,
        &app,
        "disk.folder.addsubfolder",
        json!({"id": root, "data": {"NAME": "confluence"}}),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("DISK_OBJ_22000")));
    // Only in an application's context.
    let hook = fake.portal().create_webhook(1, &[]).expect("hook");
    let (s, e) = hook_call(&hook, "disk.storage.getForApp", json!({})).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("ACCESS_DENIED")));
}
