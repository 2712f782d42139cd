//! Spaces, users, and webhook registration: Cloud's undocumented admin endpoint
//! `/rest/webhooks/1.0/webhook` (deliveries unsigned, URL query kept: docs §4d), DC's
//! `/rest/api/webhooks` and the plugin path (signed with the secret: §4c).

use super::super::paging::{Query, slice};
use super::super::repr;
use super::super::webhooks_out::{Hook, HookStyle};
use super::super::{Flavor, S, errors, state};
use super::{cx, envelope, offsets};
use axum::Json;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn spaces(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let range = match offsets(&sh, &q, 25) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let keys = q.all("spaceKey");
    let st = sh.st();
    let cx = cx(&sh, &st);
    let all: Vec<Value> = st
        .spaces
        .iter()
        .filter(|s| keys.is_empty() || keys.contains(&s.key))
        .map(|s| repr::space(&cx, s.id))
        .collect();
    let (page, more) = slice(&all, range.0, range.1);
    Json(envelope(&sh, "/rest/api/space", &q, page, range, more)).into_response()
}

pub async fn space(Ax(sh): Ax<S>, Path(key): Path<String>) -> Response {
    let st = sh.st();
    match st.space_by_key(&key) {
        Some(s) => Json(repr::space(&cx(&sh, &st), s.id)).into_response(),
        None => errors::v1(StatusCode::NOT_FOUND, format!("No space with key : {key}")),
    }
}

pub async fn user(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let st = sh.st();
    let found = match sh.flavor {
        Flavor::Cloud => q.get("accountId").and_then(|a| st.user_by_account(a)),
        Flavor::DataCenter => q
            .get("key")
            .or(q.get("username"))
            .and_then(|k| st.user_by_key_or_name(k)),
    };
    match found {
        Some(u) => Json(repr::user(&cx(&sh, &st), u)).into_response(),
        None => errors::v1(StatusCode::NOT_FOUND, "No user found"),
    }
}

pub async fn current_user(Ax(sh): Ax<S>) -> Response {
    let st = sh.st();
    Json(repr::user(&cx(&sh, &st), state::API_USER)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookIn {
    #[serde(default)]
    name: String,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    configuration: Option<Value>,
    #[serde(default)]
    active: Option<Value>,
}

fn hook_json(h: &Hook) -> Value {
    json!({
        "id": h.id,
        "name": h.name,
        "url": h.url,
        "events": h.events,
        "active": h.active,
        "self": format!("/rest/webhooks/1.0/webhook/{}", h.id),
    })
}

fn register(sh: &S, body: HookIn) -> Response {
    let secret = body
        .secret
        .or_else(|| {
            body.configuration
                .as_ref()
                .and_then(|c| c["secret"].as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    let active = match body.active {
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => s != "false",
        _ => true,
    };
    let mut hook = match sh.flavor {
        Flavor::Cloud => Hook::admin(&body.url),
        Flavor::DataCenter => Hook::dc_signed(&body.url, &secret),
    };
    hook.name = body.name;
    hook.events = body.events;
    hook.active = active;
    let stored = sh.outbox.add_hook(hook);
    (StatusCode::CREATED, Json(hook_json(&stored))).into_response()
}

pub async fn create_plugin_hook(Ax(sh): Ax<S>, Json(body): Json<HookIn>) -> Response {
    register(&sh, body)
}

pub async fn create_dc_hook(Ax(sh): Ax<S>, Json(body): Json<HookIn>) -> Response {
    register(&sh, body)
}

pub async fn list_hooks(Ax(sh): Ax<S>) -> Response {
    let hooks: Vec<Value> = sh
        .outbox
        .hooks()
        .iter()
        .filter(|h| h.style != HookStyle::CloudConnect)
        .map(hook_json)
        .collect();
    match sh.flavor {
        Flavor::Cloud => Json(Value::Array(hooks)).into_response(),
        Flavor::DataCenter => {
            let size = hooks.len();
            Json(json!({"results": hooks, "start": 0, "limit": 100, "size": size})).into_response()
        }
    }
}

pub async fn delete_hook(Ax(sh): Ax<S>, Path(id): Path<u64>) -> Response {
    if sh.outbox.remove_hook(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        errors::v1(StatusCode::NOT_FOUND, format!("No webhook with id {id}"))
    }
}
