//! Watchers (docs §1.6). Cloud: `/content/{id}/notification/child-created` (page watchers) and
//! `/notification/created` (space watchers), `WatchArray{results:[{type, watcher, contentId}]}`.
//! DC: `/content/{id}/watchers` and `/space/{key}/watchers` (same item shape with DC users —
//! the DC item shape is not in the docs). Per user: `/user/watch/content/{id}` with
//! `accountId=` (Cloud) or `key=`/`username=` (DC); POST/DELETE need
//! `X-Atlassian-Token: no-check`.

use super::super::paging::{Query, slice};
use super::super::repr;
use super::super::state::{API_USER, Status};
use super::super::{Flavor, S, Shared, errors};
use super::content::visible;
use super::{cx, envelope, offsets, parse_id};
use axum::Json;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn watch_list(sh: &Shared, path: &str, q: &Query, content_id: u64, users: Vec<usize>) -> Response {
    let range = match offsets(sh, q, 200) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let st = sh.st();
    let cx = cx(sh, &st);
    let (page, more) = slice(&users, range.0, range.1);
    let results: Vec<Value> = page
        .iter()
        .map(|u| json!({"type": "watch", "watcher": repr::user(&cx, *u), "contentId": content_id}))
        .collect();
    Json(envelope(sh, path, q, results, range, more)).into_response()
}

pub async fn content_watchers(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let users: Vec<usize> = {
        let st = sh.st();
        match visible(&st, id, &[Status::Current]) {
            Ok(c) => c.watchers.iter().copied().collect(),
            Err(r) => return r,
        }
    };
    let path = match sh.flavor {
        Flavor::Cloud => format!("/rest/api/content/{id}/notification/child-created"),
        Flavor::DataCenter => format!("/rest/api/content/{id}/watchers"),
    };
    watch_list(&sh, &path, &q, id, users)
}

pub async fn space_watchers(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let users: Vec<usize> = {
        let st = sh.st();
        match visible(&st, id, &[Status::Current]) {
            Ok(c) => st
                .space(c.space_id)
                .map(|s| s.watchers.iter().copied().collect())
                .unwrap_or_default(),
            Err(r) => return r,
        }
    };
    watch_list(
        &sh,
        &format!("/rest/api/content/{id}/notification/created"),
        &q,
        id,
        users,
    )
}

pub async fn space_watchers_by_key(
    Ax(sh): Ax<S>,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let (users, space_id) = {
        let st = sh.st();
        match st.space_by_key(&key) {
            Some(s) => (s.watchers.iter().copied().collect::<Vec<_>>(), s.id),
            None => return errors::v1(StatusCode::NOT_FOUND, format!("No space with key : {key}")),
        }
    };
    watch_list(
        &sh,
        &format!("/rest/api/space/{key}/watchers"),
        &q,
        space_id,
        users,
    )
}

fn who(sh: &Shared, q: &Query) -> Result<usize, Response> {
    let st = sh.st();
    let found = match sh.flavor {
        Flavor::Cloud => q.get("accountId").map(|a| st.user_by_account(a)),
        Flavor::DataCenter => q
            .get("key")
            .or(q.get("username"))
            .map(|k| st.user_by_key_or_name(k)),
    };
    match found {
        None => Ok(API_USER),
        Some(Some(u)) => Ok(u),
        Some(None) => Err(errors::v1(StatusCode::NOT_FOUND, "No user found")),
    }
}

fn target(sh: &Shared, id: &str, raw: Option<&str>) -> Result<(u64, usize), Response> {
    let q = Query::parse(raw);
    let id = parse_id(id)?;
    let user = who(sh, &q)?;
    let st = sh.st();
    visible(&st, id, &[Status::Current])?;
    Ok((id, user))
}

pub async fn is_watching(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    match target(&sh, &id, raw.as_deref()) {
        Ok((id, user)) => {
            let watching = sh.st().get(id).is_some_and(|c| c.watchers.contains(&user));
            Json(json!({"watching": watching})).into_response()
        }
        Err(r) => r,
    }
}

fn xsrf_ok(headers: &HeaderMap) -> bool {
    headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("no-check"))
}

async fn set(
    sh: S,
    id: String,
    raw: Option<String>,
    headers: HeaderMap,
    watching: bool,
) -> Response {
    if !xsrf_ok(&headers) {
        return errors::v1(StatusCode::FORBIDDEN, "XSRF check failed");
    }
    match target(&sh, &id, raw.as_deref()) {
        Ok((id, user)) => match sh.st().set_watch(id, user, watching) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => errors::v1_bad(e.to_string()),
        },
        Err(r) => r,
    }
}

pub async fn watch(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    set(sh, id, raw, headers, true).await
}

pub async fn unwatch(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    set(sh, id, raw, headers, false).await
}
