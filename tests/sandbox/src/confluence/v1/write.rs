//! v1 writes: `POST /content` (page, blogpost, comment with `container`/`ancestors`),
//! `PUT /content/{id}` (next `version.number` required, else 409; `status: current` on trashed
//! content restores it), `DELETE /content/{id}` (trash; with `status=trashed`, purge). They
//! fire the same webhooks as in-process changes.

use super::super::paging::Query;
use super::super::repr::{self, Expand};
use super::super::state::{API_USER, Kind, StateError, Status};
use super::super::{S, Shared, errors};
use super::{cx, parse_id};
use axum::Json;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

fn state_error(e: StateError) -> Response {
    match e {
        StateError::NoContent(id) => errors::v1_not_found(&id.to_string()),
        StateError::NoSpace(k) => {
            errors::v1(StatusCode::NOT_FOUND, format!("No space with key : {k}"))
        }
        e => errors::v1_bad(e.to_string()),
    }
}

fn storage(body: &Value) -> Option<String> {
    body["body"]["storage"]["value"].as_str().map(str::to_owned)
}

fn id_in(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn answer(sh: &Shared, id: u64) -> Response {
    let st = sh.st();
    match st.get(id) {
        Some(c) => Json(repr::content(
            &cx(sh, &st),
            c,
            None,
            &Expand::of(&[
                "space",
                "history",
                "version",
                "body.storage",
                "ancestors",
                "container",
            ]),
            true,
        ))
        .into_response(),
        None => errors::v1_not_found(&id.to_string()),
    }
}

pub async fn create(Ax(sh): Ax<S>, Json(body): Json<Value>) -> Response {
    let title = body["title"].as_str().unwrap_or("").to_owned();
    let text = storage(&body).unwrap_or_default();
    let space = body["space"]["key"].as_str().unwrap_or("").to_owned();
    let result = match body["type"].as_str().unwrap_or("page") {
        "page" => {
            if title.is_empty() {
                return errors::v1_bad("A page must have a title");
            }
            let parent = body["ancestors"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| id_in(&a["id"]));
            sh.mutate(|s| s.create_page(&space, &title, &text, parent, API_USER))
                .await
        }
        "blogpost" => {
            sh.mutate(|s| s.create_blogpost(&space, &title, &text, API_USER))
                .await
        }
        "comment" => {
            let on = body["ancestors"]
                .as_array()
                .and_then(|a| a.last())
                .and_then(|a| id_in(&a["id"]))
                .or_else(|| id_in(&body["container"]["id"]));
            let Some(on) = on else {
                return errors::v1_bad("A comment needs a container");
            };
            sh.mutate(|s| s.add_comment(on, &text, API_USER)).await
        }
        other => return errors::v1_bad(format!("Cannot create content of type {other}")),
    };
    match result {
        Ok((id, _)) => answer(&sh, id),
        Err(e) => state_error(e),
    }
}

pub async fn update(Ax(sh): Ax<S>, Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let (status, latest, kind, cur_title, cur_body) = match sh.st().get(id) {
        Some(c) if c.status != Status::Deleted => (
            c.status,
            c.latest().number,
            c.kind,
            c.title().to_owned(),
            c.body().to_owned(),
        ),
        _ => return errors::v1_not_found(&id.to_string()),
    };
    if status == Status::Trashed && body["status"].as_str() == Some("current") {
        return match sh.mutate(|s| Ok(((), s.restore(id, API_USER)?))).await {
            Ok(()) => answer(&sh, id),
            Err(e) => state_error(e),
        };
    }
    let wanted = body["version"]["number"].as_u64().unwrap_or(0);
    if wanted != u64::from(latest) + 1 {
        return errors::v1(
            StatusCode::CONFLICT,
            format!("Version must be incremented on update. Current version is: {latest}"),
        );
    }
    let title = body["title"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or(cur_title.clone());
    let text = storage(&body).unwrap_or(cur_body);
    let message = body["version"]["message"].as_str().unwrap_or("").to_owned();
    let new_title = (kind != Kind::Comment && title != cur_title).then_some(title);
    let r = sh
        .mutate(|s| s.edit(id, new_title.as_deref(), &text, &message, API_USER))
        .await;
    match r {
        Ok(_) => answer(&sh, id),
        Err(e) => state_error(e),
    }
}

pub async fn delete(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let r = if q.get("status") == Some("trashed") {
        sh.mutate(|s| Ok(((), s.purge(id, API_USER)?))).await
    } else {
        sh.mutate(|s| Ok(((), s.trash(id, API_USER)?))).await
    };
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(StateError::Invalid(_)) => errors::v1_not_found(&id.to_string()),
        Err(e) => state_error(e),
    }
}
