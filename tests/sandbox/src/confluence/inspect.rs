//! The inspection API (`/_sandbox/...`: state, received requests, sent webhooks, knobs,
//! reset, and mutations that fire webhooks, so a demo can be driven with curl) and the HTML
//! page at `/` showing spaces, page trees with versions, comments and deliveries.

use super::state::{API_USER, Content, Kind, State, StateError, Status};
use super::webhooks_out::{self, Hook};
use super::{ConfluenceKnobs, S, Shared, default_hook};
use crate::common::FaultKnobs;
use crate::common::html::{escape, page};
use axum::extract::{Path, State as Ax};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

pub fn router() -> Router<S> {
    Router::new()
        .route("/", get(home))
        .route("/_sandbox/state", get(state))
        .route("/_sandbox/requests", get(requests).delete(clear_requests))
        .route("/_sandbox/webhooks", get(sent))
        .route("/_sandbox/webhooks/hooks", get(hooks).put(put_hooks))
        .route("/_sandbox/webhooks/target", post(target))
        .route("/_sandbox/webhooks/flush", post(flush))
        .route("/_sandbox/faults", get(faults).put(put_faults))
        .route("/_sandbox/knobs", get(knobs).put(put_knobs))
        .route("/_sandbox/credentials", get(credentials))
        .route("/_sandbox/reset", post(reset_route))
        .route("/_sandbox/oauth/code", post(oauth_code))
        .route("/_sandbox/spaces", post(create_space))
        .route("/_sandbox/pages", post(create_page))
        .route("/_sandbox/blogposts", post(create_blogpost))
        .route("/_sandbox/pages/{id}/edit", post(edit))
        .route("/_sandbox/pages/{id}/rename", post(rename))
        .route("/_sandbox/pages/{id}/move", post(move_page))
        .route("/_sandbox/pages/{id}/trash", post(trash))
        .route("/_sandbox/pages/{id}/restore", post(restore))
        .route("/_sandbox/pages/{id}/purge", post(purge))
        .route("/_sandbox/content/{id}/comments", post(comment))
        .route("/_sandbox/content/{id}/attachments", post(attachment))
}

pub fn reset(sh: &Shared) {
    *sh.st() = State::seeded();
    sh.log.clear();
    sh.outbox.clear();
    sh.faults.set(FaultKnobs::default());
    if let Ok(mut k) = sh.knobs.write() {
        *k = ConfluenceKnobs::default();
    }
    if let Ok(mut o) = sh.oauth.lock() {
        *o = super::oauth::OAuthServer::default();
    }
}

fn bad(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": e.to_string()})),
    )
        .into_response()
}

fn state_err(e: StateError) -> Response {
    let status = match e {
        StateError::NoContent(_) | StateError::NoSpace(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text<'a>(b: &'a Value, k: &str) -> &'a str {
    b[k].as_str().unwrap_or("")
}

fn created(r: Result<(u64, u32), StateError>) -> Response {
    match r {
        Ok((id, version)) => {
            Json(json!({"id": id.to_string(), "version": version})).into_response()
        }
        Err(e) => state_err(e),
    }
}

fn done(r: Result<(), StateError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn state(Ax(sh): Ax<S>) -> Response {
    Json(&*sh.st()).into_response()
}

async fn requests(Ax(sh): Ax<S>) -> Response {
    Json(sh.log.all()).into_response()
}

async fn clear_requests(Ax(sh): Ax<S>) -> Response {
    sh.log.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn sent(Ax(sh): Ax<S>) -> Response {
    Json(sh.outbox.sent()).into_response()
}

async fn hooks(Ax(sh): Ax<S>) -> Response {
    Json(sh.outbox.hooks()).into_response()
}

async fn put_hooks(Ax(sh): Ax<S>, Json(hooks): Json<Vec<Hook>>) -> Response {
    sh.outbox.set_hooks(hooks);
    Json(sh.outbox.hooks()).into_response()
}

/// `{url, secret}`: the flavour's usual registration for every event.
async fn target(Ax(sh): Ax<S>, Json(b): Json<Value>) -> Response {
    if text(&b, "url").is_empty() {
        return bad("url is required");
    }
    sh.outbox.set_hooks(vec![default_hook(
        sh.flavor,
        text(&b, "url"),
        text(&b, "secret"),
    )]);
    Json(sh.outbox.hooks()).into_response()
}

async fn flush(Ax(sh): Ax<S>) -> Response {
    webhooks_out::flush(&sh).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn faults(Ax(sh): Ax<S>) -> Response {
    Json(sh.faults.get()).into_response()
}

async fn put_faults(Ax(sh): Ax<S>, Json(k): Json<FaultKnobs>) -> Response {
    sh.faults.set(k);
    Json(sh.faults.get()).into_response()
}

async fn knobs(Ax(sh): Ax<S>) -> Response {
    Json(sh.knobs()).into_response()
}

async fn put_knobs(Ax(sh): Ax<S>, Json(k): Json<ConfluenceKnobs>) -> Response {
    if let Ok(mut cur) = sh.knobs.write() {
        *cur = k;
    }
    Json(sh.knobs()).into_response()
}

async fn credentials(Ax(sh): Ax<S>) -> Response {
    Json(json!({
        "flavor": sh.flavor,
        "base_url": sh.base(),
        "credentials": sh.creds,
        "cloud_id": super::CLOUD_ID,
    }))
    .into_response()
}

async fn reset_route(Ax(sh): Ax<S>) -> Response {
    reset(&sh);
    StatusCode::NO_CONTENT.into_response()
}

async fn oauth_code(Ax(sh): Ax<S>, Json(b): Json<Value>) -> Response {
    let code = sh
        .oauth
        .lock()
        .map(|mut o| o.issue_code(text(&b, "redirect_uri")))
        .unwrap_or_default();
    Json(json!({"code": code})).into_response()
}

async fn create_space(Ax(sh): Ax<S>, Json(b): Json<Value>) -> Response {
    match sh
        .st()
        .create_space(text(&b, "key"), text(&b, "name"), API_USER)
    {
        Ok(id) => Json(json!({"id": id.to_string()})).into_response(),
        Err(e) => state_err(e),
    }
}

/// `{space, title, body, parent_id?}`.
async fn create_page(Ax(sh): Ax<S>, Json(b): Json<Value>) -> Response {
    let parent = id_of(&b["parent_id"]);
    created(
        sh.mutate(|s| {
            s.create_page(
                text(&b, "space"),
                text(&b, "title"),
                text(&b, "body"),
                parent,
                API_USER,
            )
        })
        .await,
    )
}

async fn create_blogpost(Ax(sh): Ax<S>, Json(b): Json<Value>) -> Response {
    created(
        sh.mutate(|s| {
            s.create_blogpost(
                text(&b, "space"),
                text(&b, "title"),
                text(&b, "body"),
                API_USER,
            )
        })
        .await,
    )
}

/// `{body, title?, message?, by?}` (`by` = user index).
async fn edit(Ax(sh): Ax<S>, Path(id): Path<u64>, Json(b): Json<Value>) -> Response {
    let by = b["by"].as_u64().map_or(API_USER, |u| u as usize);
    let title = b["title"].as_str();
    created(
        sh.mutate(|s| s.edit(id, title, text(&b, "body"), text(&b, "message"), by))
            .await,
    )
}

async fn rename(Ax(sh): Ax<S>, Path(id): Path<u64>, Json(b): Json<Value>) -> Response {
    created(
        sh.mutate(|s| s.rename(id, text(&b, "title"), API_USER))
            .await,
    )
}

/// `{parent_id?, space?}`.
async fn move_page(Ax(sh): Ax<S>, Path(id): Path<u64>, Json(b): Json<Value>) -> Response {
    let parent = id_of(&b["parent_id"]);
    let space = b["space"].as_str();
    done(
        sh.mutate(|s| Ok(((), s.move_page(id, parent, space, API_USER)?)))
            .await,
    )
}

async fn trash(Ax(sh): Ax<S>, Path(id): Path<u64>) -> Response {
    done(sh.mutate(|s| Ok(((), s.trash(id, API_USER)?))).await)
}

async fn restore(Ax(sh): Ax<S>, Path(id): Path<u64>) -> Response {
    done(sh.mutate(|s| Ok(((), s.restore(id, API_USER)?))).await)
}

async fn purge(Ax(sh): Ax<S>, Path(id): Path<u64>) -> Response {
    done(sh.mutate(|s| Ok(((), s.purge(id, API_USER)?))).await)
}

/// `{body}` on a page/blog post, or on a comment for a reply.
async fn comment(Ax(sh): Ax<S>, Path(id): Path<u64>, Json(b): Json<Value>) -> Response {
    created(
        sh.mutate(|s| s.add_comment(id, text(&b, "body"), API_USER))
            .await,
    )
}

/// `{filename, media_type, text}` or `{filename, media_type, base64}`.
async fn attachment(Ax(sh): Ax<S>, Path(id): Path<u64>, Json(b): Json<Value>) -> Response {
    let bytes = match b["base64"].as_str() {
        Some(s) => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(v) => v,
            Err(e) => return bad(e),
        },
        None => text(&b, "text").as_bytes().to_vec(),
    };
    let media = b["media_type"]
        .as_str()
        .unwrap_or("application/octet-stream");
    created(
        sh.mutate(|s| s.add_attachment(id, text(&b, "filename"), media, bytes, API_USER))
            .await,
    )
}

// --- the page for people ---

fn tree(st: &State, c: &Content, out: &mut String, depth: usize) {
    let comments = st
        .contents
        .values()
        .filter(|x| {
            x.kind == Kind::Comment && x.container_id == Some(c.id) && x.status == Status::Current
        })
        .count();
    out.push_str(&format!(
        "<li><b>{}</b> <small>id {} · v{} · {} · {} comment(s)</small>",
        escape(c.title()),
        c.id,
        c.latest().number,
        c.status.as_str(),
        comments
    ));
    let kids = st.children_of(Some(c.id), c.space_id);
    if !kids.is_empty() && depth < 50 {
        out.push_str("<ul>");
        for k in kids {
            tree(st, k, out, depth + 1);
        }
        out.push_str("</ul>");
    }
    out.push_str("</li>");
}

async fn home(Ax(sh): Ax<S>) -> Response {
    let mut body = format!(
        "<p>Flavour: <b>{:?}</b> · API base <code>{}</code> · <a href=\"/_sandbox/state\">state JSON</a> · \
         <a href=\"/_sandbox/webhooks\">sent webhooks</a> · <a href=\"/_sandbox/requests\">requests</a></p>",
        sh.flavor,
        escape(&sh.base())
    );
    {
        let st = sh.st();
        for space in &st.spaces {
            body.push_str(&format!(
                "<h2>{} — {}</h2><ul>",
                escape(&space.key),
                escape(&space.name)
            ));
            for top in st.children_of(None, space.id) {
                tree(&st, top, &mut body, 0);
            }
            body.push_str("</ul>");
            let others: Vec<&Content> = st
                .contents
                .values()
                .filter(|c| c.space_id == space.id)
                .filter(|c| {
                    c.kind == Kind::BlogPost
                        || (c.kind == Kind::Page && c.status != Status::Current)
                })
                .collect();
            if !others.is_empty() {
                body.push_str("<p>Blog posts, trashed and deleted pages:</p><ul>");
                for c in others {
                    body.push_str(&format!(
                        "<li>{} <b>{}</b> <small>id {} · v{} · {}</small></li>",
                        c.kind.as_str(),
                        escape(c.title()),
                        c.id,
                        c.latest().number,
                        c.status.as_str()
                    ));
                }
                body.push_str("</ul>");
            }
        }
    }
    body.push_str("<h2>Sent webhooks (latest 50)</h2><table><tr><th>#</th><th>event</th><th>url</th><th>status</th><th>body</th></tr>");
    for w in sh.outbox.sent().iter().rev().take(50) {
        let status = match (w.dropped, w.held, w.status) {
            (true, _, _) => "dropped".to_owned(),
            (_, true, _) => "held".to_owned(),
            (_, _, Some(s)) => s.to_string(),
            _ => w.error.clone().unwrap_or_default(),
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            w.seq,
            escape(&w.event),
            escape(&w.url),
            escape(&status),
            escape(&w.body)
        ));
    }
    body.push_str("</table><h2>Received requests (latest 50)</h2><table><tr><th>method</th><th>path</th><th>query</th><th>status</th></tr>");
    for r in sh.log.all().iter().rev().take(50) {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.method),
            escape(&r.path),
            escape(r.query.as_deref().unwrap_or("")),
            r.status
        ));
    }
    body.push_str("</table>");
    Html(page("Fake Confluence", &body)).into_response()
}
