//! The inspection API (`/_sandbox/...`: state, knobs, faults, simulated user actions, reset)
//! and the HTML page at `/` showing tasks with comments, chats and knowledge bases.

use super::actions::{self, AppSpec};
use super::errors::ApiError;
use super::server::Shared;
use super::state::{Knobs, Portal, World};
use crate::common::FaultKnobs;
use crate::common::html::{escape, page};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(html))
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/portals", post(new_portal))
        .route("/_sandbox/users", post(new_user))
        .route("/_sandbox/webhooks", post(new_webhook))
        .route("/_sandbox/install", post(install))
        .route("/_sandbox/tasks", get(tasks).post(create_task))
        .route(
            "/_sandbox/tasks/{id}",
            get(task).post(update_task).delete(delete_task),
        )
        .route(
            "/_sandbox/tasks/{id}/comments",
            get(task_comments).post(comment_task),
        )
        .route("/_sandbox/chats", get(chats))
        .route("/_sandbox/messages", get(messages))
        .route("/_sandbox/notifications", get(notifications))
        .route("/_sandbox/kb", get(kb))
        .route("/_sandbox/events", get(events))
        .route("/_sandbox/events/flush", post(flush))
        .route("/_sandbox/bot-messages", post(bot_message))
        .route("/_sandbox/placements/open", post(open_placement))
        .route("/_sandbox/limits", get(limits))
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/faults", get(get_faults).put(set_faults))
        .route("/_sandbox/knobs", get(get_knobs).put(set_knobs))
        .route("/_sandbox/reset", post(reset_route))
        .with_state(app)
}

fn member(app: &Shared, q: &HashMap<String, String>) -> String {
    q.get("member_id")
        .cloned()
        .or_else(|| app.lock().default_member_id())
        .unwrap_or_default()
}

fn err(e: ApiError) -> Response {
    (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(e.classic_body()),
    )
        .into_response()
}

fn portal_json(p: &Portal) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    v["rate_limit"] = json!({"violations": p.bucket.violations, "level": p.bucket.level()});
    v
}

/// All portals (or one) as JSON.
pub fn snapshot(app: &Shared, member_id: Option<&str>) -> Value {
    let world = app.lock();
    match member_id {
        Some(m) => world.portal(m).map(portal_json).unwrap_or(Value::Null),
        None => json!({
            "base_url": world.base_url,
            "knobs": world.knobs,
            "portals": world.portals.values().map(portal_json).collect::<Vec<_>>(),
        }),
    }
}

pub fn reset(app: &Shared) {
    {
        let mut world = app.lock();
        let base_url = world.base_url.clone();
        *world = World {
            base_url,
            ..World::default()
        };
    }
    app.0.faults.set(FaultKnobs::default());
    app.0.log.clear();
    app.0.outbox.clear();
    app.clear_idempotency();
    actions::create_portal(app, None);
}

fn with_portal(
    app: &Shared,
    q: &HashMap<String, String>,
    f: impl FnOnce(&Portal) -> Value,
) -> Response {
    let m = member(app, q);
    match app.lock().portal(&m) {
        Some(p) => Json(f(p)).into_response(),
        None => (StatusCode::NOT_FOUND, "no such portal").into_response(),
    }
}

async fn state(State(app): State<Shared>, Query(q): Q) -> Response {
    Json(snapshot(&app, q.get("member_id").map(String::as_str))).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewPortal {
    domain: Option<String>,
}

async fn new_portal(State(app): State<Shared>, Json(b): Json<NewPortal>) -> Response {
    Json(json!({"member_id": actions::create_portal(&app, b.domain.as_deref())})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewUser {
    name: String,
    last_name: String,
    email: String,
    admin: bool,
}

async fn new_user(State(app): State<Shared>, Query(q): Q, Json(b): Json<NewUser>) -> Response {
    let m = member(&app, &q);
    let id = app
        .lock()
        .portal_mut(&m)
        .map(|p| p.add_user(&b.name, &b.last_name, &b.email, b.admin, "", "employee"));
    Json(json!({"id": id})).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewWebhook {
    user_id: Option<u64>,
    scopes: Vec<String>,
}

async fn new_webhook(
    State(app): State<Shared>,
    Query(q): Q,
    Json(b): Json<NewWebhook>,
) -> Response {
    let scopes: Vec<&str> = b.scopes.iter().map(String::as_str).collect();
    match actions::create_webhook(&app, &member(&app, &q), b.user_id.unwrap_or(1), &scopes) {
        Ok(w) => Json(w).into_response(),
        Err(e) => err(e),
    }
}

async fn install(State(app): State<Shared>, Query(q): Q, Json(spec): Json<AppSpec>) -> Response {
    match actions::install_app(&app, &member(&app, &q), spec) {
        Ok(i) => Json(i).into_response(),
        Err(e) => err(e),
    }
}

async fn tasks(State(app): State<Shared>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| json!(p.tasks.values().collect::<Vec<_>>()))
}

async fn task(State(app): State<Shared>, Path(id): Path<u64>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| json!(p.tasks.get(&id)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserAction {
    user_id: Option<u64>,
    fields: Value,
    text: String,
    bot_id: u64,
    dialog: Option<String>,
}

async fn create_task(
    State(app): State<Shared>,
    Query(q): Q,
    Json(b): Json<UserAction>,
) -> Response {
    match actions::user_creates_task(&app, &member(&app, &q), b.user_id.unwrap_or(1), &b.fields) {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => err(e),
    }
}

async fn update_task(
    State(app): State<Shared>,
    Path(id): Path<u64>,
    Query(q): Q,
    Json(b): Json<UserAction>,
) -> Response {
    match actions::user_updates_task(
        &app,
        &member(&app, &q),
        b.user_id.unwrap_or(1),
        id,
        &b.fields,
    ) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => err(e),
    }
}

async fn delete_task(State(app): State<Shared>, Path(id): Path<u64>, Query(q): Q) -> Response {
    let user = q.get("user_id").and_then(|u| u.parse().ok()).unwrap_or(1);
    match actions::user_deletes_task(&app, &member(&app, &q), user, id) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => err(e),
    }
}

async fn task_comments(State(app): State<Shared>, Path(id): Path<u64>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| {
        let chat = p.tasks.get(&id).map(|t| t.chat_id);
        json!({
            "comments": p.comments.iter().filter(|c| c.task_id == id).collect::<Vec<_>>(),
            "chat_messages": p.messages.iter().filter(|m| Some(m.chat_id) == chat).collect::<Vec<_>>(),
        })
    })
}

async fn comment_task(
    State(app): State<Shared>,
    Path(id): Path<u64>,
    Query(q): Q,
    Json(b): Json<UserAction>,
) -> Response {
    match actions::user_comments_task(&app, &member(&app, &q), b.user_id.unwrap_or(1), id, &b.text)
    {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => err(e),
    }
}

async fn bot_message(
    State(app): State<Shared>,
    Query(q): Q,
    Json(b): Json<UserAction>,
) -> Response {
    let m = member(&app, &q);
    match actions::user_writes_bot(
        &app,
        &m,
        b.user_id.unwrap_or(1),
        b.bot_id,
        b.dialog.as_deref(),
        &b.text,
    ) {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => err(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenPlacement {
    client_id: String,
    user_id: Option<u64>,
    placement: String,
    options: Value,
}

async fn open_placement(
    State(app): State<Shared>,
    Query(q): Q,
    Json(b): Json<OpenPlacement>,
) -> Response {
    let m = member(&app, &q);
    match actions::open_placement(
        &app,
        &m,
        &b.client_id,
        b.user_id.unwrap_or(1),
        &b.placement,
        b.options,
    )
    .await
    {
        Ok(r) => Json(r).into_response(),
        Err(e) => err(e),
    }
}

async fn chats(State(app): State<Shared>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| json!(p.chats.values().collect::<Vec<_>>()))
}

async fn messages(State(app): State<Shared>, Query(q): Q) -> Response {
    let chat: Option<u64> = q.get("chat_id").and_then(|c| c.parse().ok());
    with_portal(&app, &q, |p| {
        json!(
            p.messages
                .iter()
                .filter(|m| chat.is_none_or(|c| c == m.chat_id))
                .collect::<Vec<_>>()
        )
    })
}

async fn notifications(State(app): State<Shared>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| json!(p.notifications))
}

async fn kb(State(app): State<Shared>, Query(q): Q) -> Response {
    with_portal(&app, &q, |p| {
        json!({
            "landing": {"sites": p.sites.values().collect::<Vec<_>>(), "folders": p.folders.values().collect::<Vec<_>>(),
                        "landings": p.landings.values().collect::<Vec<_>>(), "blocks": p.blocks.values().collect::<Vec<_>>()},
            "notes": {"collections": p.collections.values().collect::<Vec<_>>(), "documents": p.documents.values().collect::<Vec<_>>(),
                      "files": p.note_files.values().collect::<Vec<_>>(), "available": !p.kb2_disabled},
            "disk": p.disk.values().collect::<Vec<_>>(),
            "storages": p.storages,
        })
    })
}

async fn events(State(app): State<Shared>, Query(q): Q) -> Response {
    let deliveries = app.0.outbox.deliveries();
    with_portal(&app, &q, |p| {
        json!({"bindings": p.bindings, "offline": p.offline_events, "placements": p.placements,
               "bots": p.bots.values().collect::<Vec<_>>(), "commands": p.commands, "deliveries": deliveries})
    })
}

async fn flush(State(app): State<Shared>) -> Response {
    app.0.outbox.flush_held();
    Json(json!({"ok": true})).into_response()
}

async fn limits(State(app): State<Shared>) -> Response {
    let world = app.lock();
    let portals: Vec<Value> = world
        .portals
        .values()
        .map(|p| json!({"member_id": p.member_id, "violations": p.bucket.violations, "level": p.bucket.level()}))
        .collect();
    let total: u64 = world.portals.values().map(|p| p.bucket.violations).sum();
    Json(json!({"config": world.knobs.limits, "violations": total, "portals": portals}))
        .into_response()
}

async fn requests(State(app): State<Shared>) -> Response {
    Json(app.0.log.all()).into_response()
}

async fn get_faults(State(app): State<Shared>) -> Response {
    Json(app.0.faults.get()).into_response()
}

async fn set_faults(State(app): State<Shared>, Json(k): Json<FaultKnobs>) -> Response {
    app.0.faults.set(k);
    Json(app.0.faults.get()).into_response()
}

async fn get_knobs(State(app): State<Shared>) -> Response {
    Json(app.lock().knobs.clone()).into_response()
}

async fn set_knobs(State(app): State<Shared>, Json(k): Json<Knobs>) -> Response {
    app.lock().knobs = k;
    Json(app.lock().knobs.clone()).into_response()
}

async fn reset_route(State(app): State<Shared>) -> Response {
    reset(&app);
    Json(json!({"ok": true})).into_response()
}

fn user_name(p: &Portal, id: u64) -> String {
    p.users
        .get(&id)
        .map_or_else(|| format!("user {id}"), |u| u.full_name())
}

fn portal_html(p: &Portal) -> String {
    let mut s = format!(
        "<h2>Portal {} <small>(member_id {})</small></h2><h3>Tasks</h3>",
        escape(&p.domain),
        escape(&p.member_id)
    );
    if p.tasks.is_empty() {
        s.push_str("<p>No tasks.</p>");
    }
    for t in p.tasks.values() {
        s.push_str(&format!(
            "<div class=\"task\"><h4>#{} {}</h4><p>Responsible: {} · status {} · chat {}</p><pre>{}</pre>",
            t.id,
            escape(&t.title),
            escape(&user_name(p, t.responsible_id)),
            t.status,
            t.chat_id,
            escape(&t.description)
        ));
        if !t.uf.is_empty() {
            s.push_str("<ul>");
            for (k, v) in &t.uf {
                s.push_str(&format!(
                    "<li>{}: {}</li>",
                    escape(k),
                    escape(&v.to_string())
                ));
            }
            s.push_str("</ul>");
        }
        s.push_str("<table><tr><th>When</th><th>Who</th><th>Comment</th></tr>");
        for c in p.comments.iter().filter(|c| c.task_id == t.id) {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.date),
                escape(&user_name(p, c.author_id)),
                escape(&c.message)
            ));
        }
        for m in p.messages.iter().filter(|m| m.chat_id == t.chat_id) {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.date),
                escape(&user_name(p, m.author_id)),
                escape(&m.text)
            ));
        }
        s.push_str("</table></div>");
    }
    s.push_str("<h3>Chats</h3><table><tr><th>Chat</th><th>Kind</th><th>Messages</th></tr>");
    for c in p.chats.values().filter(|c| c.kind != "task") {
        let msgs: Vec<String> = p
            .messages
            .iter()
            .filter(|m| m.chat_id == c.id)
            .map(|m| {
                format!(
                    "<b>{}</b>: {}",
                    escape(&user_name(p, m.author_id)),
                    escape(&m.text)
                )
            })
            .collect();
        s.push_str(&format!(
            "<tr><td>chat{} {}</td><td>{}</td><td>{}</td></tr>",
            c.id,
            escape(&c.name),
            escape(&c.kind),
            msgs.join("<br>")
        ));
    }
    s.push_str("</table><h3>Notifications</h3><ul>");
    for n in &p.notifications {
        s.push_str(&format!(
            "<li>to {}: {}</li>",
            escape(&user_name(p, n.user_id)),
            escape(&n.message)
        ));
    }
    s.push_str("</ul><h3>Knowledge base 2.0</h3>");
    for c in p.collections.values() {
        s.push_str(&format!("<h4>{}</h4>", escape(&c.name)));
        s.push_str(&doc_tree(p, c.id, None));
    }
    s.push_str("<h3>Classic knowledge base (landing)</h3>");
    for site in p.sites.values() {
        s.push_str(&format!(
            "<h4>{} ({})</h4><ul>",
            escape(&site.title),
            escape(&site.site_type)
        ));
        for l in p.landings.values().filter(|l| l.site_id == site.id) {
            let folder = l
                .folder_id
                .and_then(|f| p.folders.get(&f))
                .map(|f| f.title.clone())
                .unwrap_or_default();
            let blocks: Vec<String> = p
                .blocks
                .values()
                .filter(|b| b.lid == l.id)
                .map(|b| escape(&b.content))
                .collect();
            s.push_str(&format!(
                "<li>{} / {} {}<pre>{}</pre></li>",
                escape(&folder),
                escape(&l.title),
                if l.active { "(published)" } else { "(draft)" },
                blocks.join("\n")
            ));
        }
        s.push_str("</ul>");
    }
    s
}

fn doc_tree(p: &Portal, cid: u64, parent: Option<u64>) -> String {
    let docs: Vec<_> = p
        .documents
        .values()
        .filter(|d| d.collection_id == cid && d.parent_id == parent)
        .collect();
    if docs.is_empty() {
        return String::new();
    }
    let mut s = String::from("<ul>");
    for d in docs {
        s.push_str(&format!(
            "<li><b>{}</b><pre>{}</pre>{}</li>",
            escape(&d.title),
            escape(&d.markdown),
            doc_tree(p, cid, Some(d.id))
        ));
    }
    s.push_str("</ul>");
    s
}

async fn html(State(app): State<Shared>) -> Html<String> {
    let world = app.lock();
    let body: String = world.portals.values().map(portal_html).collect();
    Html(page("Fake Bitrix24", &body))
}
