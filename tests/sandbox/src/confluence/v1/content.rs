//! v1 content reads: one item (with `status`, `version`, `expand`), listings, children,
//! descendants, history, versions, attachment downloads.

use super::super::errors;
use super::super::paging::{Query, slice};
use super::super::repr::{self, Expand};
use super::super::state::{Content, Kind, State, Status};
use super::super::{S, Shared};
use super::{cx, envelope, offsets, parse_id};
use axum::Json;
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Spec: default expansions of GET /content/{id}.
const DEFAULT_EXPAND: &str = "space,history,version";
const MAX_EXPANSIONS: usize = 8;

fn kind_of(raw: &str) -> Option<Kind> {
    match raw {
        "page" => Some(Kind::Page),
        "blogpost" => Some(Kind::BlogPost),
        "comment" => Some(Kind::Comment),
        "attachment" => Some(Kind::Attachment),
        _ => None,
    }
}

/// The statuses asked for (`status=current,trashed`, `any`); default `current`.
pub(in super::super) fn statuses(q: &Query) -> Vec<Status> {
    let asked = q.all("status");
    if asked.is_empty() {
        return vec![Status::Current];
    }
    let mut out = Vec::new();
    for s in asked {
        match s.as_str() {
            "any" => out.extend([Status::Current, Status::Trashed]),
            "current" | "historical" | "draft" => out.push(Status::Current),
            "trashed" => out.push(Status::Trashed),
            // `deleted` (purged) content is gone: asking for it finds nothing.
            _ => {}
        }
    }
    out
}

pub(super) fn expand(q: &Query, default: Option<&str>) -> Result<Expand, Response> {
    let ex = Expand::parse(q.get("expand").or(default));
    if ex.len() > MAX_EXPANSIONS {
        return Err(errors::v1_bad(format!(
            "Too many expansions: at most {MAX_EXPANSIONS} are allowed"
        )));
    }
    Ok(ex)
}

/// The content if it exists and is visible with the asked statuses (purged = 404).
pub(super) fn visible<'a>(
    st: &'a State,
    id: u64,
    allowed: &[Status],
) -> Result<&'a Content, Response> {
    match st.get(id) {
        Some(c) if c.status != Status::Deleted && allowed.contains(&c.status) => Ok(c),
        _ => Err(errors::v1_not_found(&id.to_string())),
    }
}

pub async fn get_one(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let ex = match expand(&q, Some(DEFAULT_EXPAND)) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let st = sh.st();
    let c = match visible(&st, id, &statuses(&q)) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let at = match q.get("version").map(str::parse::<u32>) {
        None => None,
        Some(Ok(n)) => match c.version(n) {
            Some(v) => Some(v),
            None => return errors::v1_not_found(&id.to_string()),
        },
        Some(Err(_)) => return errors::v1_bad("version must be a number"),
    };
    Json(repr::content(&cx(&sh, &st), c, at, &ex, true)).into_response()
}

pub async fn list(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let (ex, range) = match (expand(&q, None), offsets(&sh, &q, 25)) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let kind = match q.get("type").unwrap_or("page") {
        "page" => Kind::Page,
        "blogpost" => Kind::BlogPost,
        other => return errors::v1_bad(format!("Type {other} is not supported here")),
    };
    let allowed = statuses(&q);
    let st = sh.st();
    let space_id = match q.get("spaceKey") {
        Some(k) => match st.space_by_key(k) {
            Some(s) => Some(s.id),
            None => return errors::v1(StatusCode::NOT_FOUND, format!("No space with key : {k}")),
        },
        None => None,
    };
    let items: Vec<&Content> = st
        .contents
        .values()
        .filter(|c| c.kind == kind && allowed.contains(&c.status))
        .filter(|c| space_id.is_none_or(|s| c.space_id == s))
        .filter(|c| q.get("title").is_none_or(|t| c.title() == t))
        .filter(|c| {
            q.get("postingDay")
                .is_none_or(|d| c.created_at.format("%Y-%m-%d").to_string() == d)
        })
        .collect();
    let (page, more) = slice(&items, range.0, range.1);
    let cx = cx(&sh, &st);
    let results = page
        .iter()
        .map(|c| repr::content(&cx, c, None, &ex, false))
        .collect();
    Json(envelope(&sh, "/rest/api/content", &q, results, range, more)).into_response()
}

fn child_items<'a>(st: &'a State, c: &Content, kind: Kind, depth_all: bool) -> Vec<&'a Content> {
    match (kind, depth_all) {
        (Kind::Comment, true) => st
            .contents
            .values()
            .filter(|x| {
                x.kind == Kind::Comment
                    && x.status == Status::Current
                    && x.container_id == Some(c.id)
            })
            .collect(),
        (Kind::Page, true) => {
            let mut ids = st.descendants(c.id);
            ids.sort_unstable();
            ids.into_iter()
                .filter_map(|i| st.get(i))
                .filter(|x| x.kind == Kind::Page && x.status == Status::Current)
                .collect()
        }
        _ => repr::children(st, c, kind),
    }
}

fn list_children(
    sh: &Shared,
    id: &str,
    kind: &str,
    raw: Option<&str>,
    descendants: bool,
) -> Response {
    let q = Query::parse(raw);
    let id = match parse_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(kind) = kind_of(kind) else {
        return errors::v1_bad(format!("Unsupported child type: {kind}"));
    };
    let (ex, range) = match (expand(&q, None), offsets(sh, &q, 25)) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let st = sh.st();
    let parent = match visible(&st, id, &[Status::Current]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let depth_all = descendants || q.get("depth") == Some("all");
    let items = child_items(&st, parent, kind, depth_all);
    let (page, more) = slice(&items, range.0, range.1);
    let cx = cx(sh, &st);
    let results = page
        .iter()
        .map(|c| repr::content(&cx, c, None, &ex, false))
        .collect();
    let which = if descendants { "descendant" } else { "child" };
    let path = format!("/rest/api/content/{id}/{which}/{}", kind.as_str());
    Json(envelope(sh, &path, &q, results, range, more)).into_response()
}

pub async fn children(
    Ax(sh): Ax<S>,
    Path((id, kind)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    list_children(&sh, &id, &kind, raw.as_deref(), false)
}

pub async fn descendants(
    Ax(sh): Ax<S>,
    Path((id, kind)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    list_children(&sh, &id, &kind, raw.as_deref(), true)
}

pub async fn child_grouped(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let ex = Expand::parse(q.get("expand"));
    let st = sh.st();
    let c = match visible(&st, id, &[Status::Current]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut out =
        json!({"_links": {"base": sh.base(), "context": sh.context_path()}, "_expandable": {}});
    for kind in [Kind::Page, Kind::Comment, Kind::Attachment] {
        let name = kind.as_str();
        if ex.has(name) {
            let items = repr::children(&st, c, kind);
            let cx = cx(&sh, &st);
            let results: Vec<Value> = items
                .iter()
                .map(|x| repr::content(&cx, x, None, &ex.sub(name), false))
                .collect();
            out[name] = json!({"results": results, "start": 0, "limit": 25, "size": results.len()});
        } else {
            out["_expandable"][name] = json!(format!("/rest/api/content/{id}/child/{name}"));
        }
    }
    Json(out).into_response()
}

pub async fn history(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let st = sh.st();
    let c = match visible(&st, id, &[Status::Current, Status::Trashed]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut keys = vec!["history", "history.lastUpdated"];
    let extra = q.get("expand").unwrap_or("").to_owned();
    let extra: Vec<String> = extra
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| format!("history.{s}"))
        .collect();
    keys.extend(extra.iter().map(String::as_str));
    let full = repr::content(&cx(&sh, &st), c, None, &Expand::of(&keys), false);
    Json(full["history"].clone()).into_response()
}

pub async fn versions(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let range = match offsets(&sh, &q, 200) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let ex = Expand::parse(q.get("expand"));
    let st = sh.st();
    let c = match visible(&st, id, &[Status::Current, Status::Trashed]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let newest_first: Vec<_> = c.versions.iter().rev().collect();
    let (page, more) = slice(&newest_first, range.0, range.1);
    let cx = cx(&sh, &st);
    let results = page.iter().map(|v| repr::version(&cx, c, v, &ex)).collect();
    let path = format!("/rest/api/content/{id}/version");
    Json(envelope(&sh, &path, &q, results, range, more)).into_response()
}

pub async fn one_version(
    Ax(sh): Ax<S>,
    Path((id, n)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let ex = Expand::parse(q.get("expand"));
    let st = sh.st();
    let c = match visible(&st, id, &[Status::Current, Status::Trashed]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match n.parse::<u32>().ok().and_then(|n| c.version(n)) {
        Some(v) => Json(repr::version(&cx(&sh, &st), c, v, &ex)).into_response(),
        None => errors::v1(
            StatusCode::NOT_FOUND,
            format!("No version {n} of content {id}"),
        ),
    }
}

/// `GET /content/{id}/child/attachment/{attachmentId}/download` → 302 to the binary.
pub async fn attachment_redirect(
    Ax(sh): Ax<S>,
    Path((id, att)): Path<(String, String)>,
) -> Response {
    let (Ok(id), Ok(att)) = (parse_id(&id), parse_id(att.trim_start_matches("att"))) else {
        return errors::v1_bad("ids must be numbers");
    };
    let st = sh.st();
    match st.get(att) {
        Some(a)
            if a.kind == Kind::Attachment
                && a.container_id == Some(id)
                && a.status == Status::Current =>
        {
            let to = format!("{}{}", sh.base(), repr::download(sh.flavor, a, a.latest()));
            (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
        }
        _ => errors::v1_not_found(&att.to_string()),
    }
}

/// The binary of an attachment (same auth as the API).
pub async fn download(Ax(sh): Ax<S>, Path((container, file)): Path<(String, String)>) -> Response {
    let Ok(container) = container.parse::<u64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let st = sh.st();
    let found = st.contents.values().find(|c| {
        c.kind == Kind::Attachment
            && c.status == Status::Current
            && c.container_id == Some(container)
            && c.title() == file
    });
    match found.and_then(|c| c.attachment.as_ref()) {
        Some(a) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, a.media_type.clone())],
            a.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
