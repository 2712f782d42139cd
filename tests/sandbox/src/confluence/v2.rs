//! REST v2 (Cloud only, `/wiki/api/v2`, docs §2): pages, blog posts, spaces, children,
//! ancestors, versions, attachments, footer comments, id→type conversion. No `expand`; bodies
//! via `body-format`; users as account ids; cursor paging with `_links.next` (site-root
//! relative, with `/wiki`) and a `Link` header.

use super::errors;
use super::paging::{Query, decode_cursor, encode_cursor, slice};
use super::repr::{adf, webui};
use super::state::{Content, Kind, State, Status, Version, tiny_code};
use super::{Flavor, S, Shared};
use axum::extract::{Path, RawQuery, State as Ax};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<S> {
    Router::new()
        .route("/api/v2/pages", get(pages))
        .route("/api/v2/pages/{id}", get(page))
        .route("/api/v2/pages/{id}/children", get(children))
        .route("/api/v2/pages/{id}/direct-children", get(children))
        .route("/api/v2/pages/{id}/descendants", get(descendants))
        .route("/api/v2/pages/{id}/ancestors", get(ancestors))
        .route("/api/v2/pages/{id}/versions", get(versions))
        .route("/api/v2/pages/{id}/attachments", get(page_attachments))
        .route("/api/v2/pages/{id}/footer-comments", get(footer_comments))
        .route("/api/v2/blogposts", get(blogposts))
        .route("/api/v2/blogposts/{id}", get(blogpost))
        .route(
            "/api/v2/blogposts/{id}/attachments",
            get(blogpost_attachments),
        )
        .route(
            "/api/v2/blogposts/{id}/footer-comments",
            get(footer_comments),
        )
        .route("/api/v2/footer-comments/{id}", get(footer_comment))
        .route(
            "/api/v2/footer-comments/{id}/children",
            get(comment_children),
        )
        .route("/api/v2/attachments/{id}", get(attachment))
        .route("/api/v2/spaces", get(spaces))
        .route("/api/v2/spaces/{id}", get(space))
        .route("/api/v2/spaces/{id}/pages", get(space_pages))
        .route("/api/v2/content/convert-ids-to-types", post(convert_ids))
}

type R = Result<Response, Response>;

fn done(r: R) -> Response {
    r.unwrap_or_else(|e| e)
}

fn account(st: &State, u: usize) -> Value {
    st.users.get(u).map_or(Value::Null, |u| json!(u.account_id))
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn version_json(st: &State, v: &Version) -> Value {
    json!({
        "createdAt": when(v.when),
        "message": v.message,
        "number": v.number,
        "minorEdit": v.minor_edit,
        "authorId": account(st, v.by),
    })
}

fn body_json(q: &Query, v: &Version) -> Result<Value, Response> {
    Ok(match q.get("body-format") {
        None => json!({}),
        Some("storage") => json!({"storage": {"representation": "storage", "value": v.body}}),
        Some("atlas_doc_format") => {
            json!({"atlas_doc_format": {"representation": "atlas_doc_format", "value": adf(&v.body)}})
        }
        Some(f @ ("view" | "export_view" | "anonymous_export_view" | "styled_view" | "editor")) => {
            json!({f: {"representation": f, "value": v.body}})
        }
        Some(other) => return Err(errors::v2_bad(format!("Invalid body-format: {other}"))),
    })
}

fn id_of(raw: &str) -> Result<u64, Response> {
    raw.trim_start_matches("att")
        .parse::<u64>()
        .map_err(|_| errors::v2_bad(format!("Invalid id: {raw}")))
}

/// Statuses a single GET or list accepts; default current (and archived, which the fake
/// does not have).
fn statuses(q: &Query) -> Vec<Status> {
    let asked = q.all("status");
    if asked.is_empty() {
        return vec![Status::Current];
    }
    let mut out = Vec::new();
    for s in asked {
        match s.as_str() {
            "current" | "archived" | "historical" | "draft" => out.push(Status::Current),
            "trashed" => out.push(Status::Trashed),
            "any" => out.extend([Status::Current, Status::Trashed]),
            _ => {}
        }
    }
    out
}

fn find<'a>(
    st: &'a State,
    id: u64,
    kinds: &[Kind],
    allowed: &[Status],
) -> Result<&'a Content, Response> {
    match st.get(id) {
        Some(c)
            if kinds.contains(&c.kind)
                && c.status != Status::Deleted
                && allowed.contains(&c.status) =>
        {
            Ok(c)
        }
        _ => Err(errors::v2_not_found()),
    }
}

fn links(sh: &Shared, st: &State, c: &Content) -> Value {
    let key = st.space(c.space_id).map_or("", |s| s.key.as_str());
    json!({
        "webui": webui(st, Flavor::Cloud, c),
        "editui": format!("/pages/resumedraft.action?draftId={}", c.id),
        "edituiv2": format!("/spaces/{key}/pages/edit-v2/{}", c.id),
        "tinyui": format!("/x/{}", tiny_code(c.id)),
        "base": sh.base(),
    })
}

fn page_json(
    sh: &Shared,
    st: &State,
    c: &Content,
    v: &Version,
    q: &Query,
    single: bool,
) -> Result<Value, Response> {
    let historical = v.number != c.latest().number;
    let mut o = json!({
        "id": c.id.to_string(),
        "status": if historical { "historical" } else { c.status.as_str() },
        "title": v.title,
        "spaceId": c.space_id.to_string(),
        "authorId": account(st, c.created_by),
        "ownerId": account(st, c.created_by),
        "createdAt": when(c.created_at),
        "version": version_json(st, v),
        "body": body_json(q, v)?,
        "_links": links(sh, st, c),
    });
    if !single {
        o["_links"].as_object_mut().map(|l| l.remove("base"));
    }
    if c.kind == Kind::Page {
        o["parentId"] = json!(c.parent_id.map(|p| p.to_string()));
        o["parentType"] = json!(c.parent_id.map(|_| "page"));
        o["position"] = json!(c.position);
        o["lastOwnerId"] = Value::Null;
    }
    if q.get("include-version") == Some("false") {
        o.as_object_mut().map(|m| m.remove("version"));
    }
    if q.get("include-labels") == Some("true") {
        let labels: Vec<Value> = c
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| json!({"id": (1000 + i).to_string(), "name": l, "prefix": "global"}))
            .collect();
        o["labels"] = json!({"results": labels, "meta": {"hasMore": false, "cursor": null}, "_links": {"self": ""}});
    }
    if q.get("include-versions") == Some("true") {
        let vs: Vec<Value> = c
            .versions
            .iter()
            .rev()
            .take(50)
            .map(|v| version_json(st, v))
            .collect();
        o["versions"] =
            json!({"results": vs, "meta": {"hasMore": c.versions.len() > 50, "cursor": null}});
    }
    Ok(o)
}

/// `limit` (1..=250, default `default`) and the cursor offset.
fn window(q: &Query, default: usize) -> Result<(usize, usize), Response> {
    let limit = q
        .usize("limit")
        .map_err(errors::v2_bad)?
        .unwrap_or(default)
        .clamp(1, 250);
    let start = match q.get("cursor") {
        Some(c) => {
            decode_cursor(c).ok_or_else(|| errors::v2_bad(format!("Invalid cursor: {c}")))?
        }
        None => 0,
    };
    Ok((start, limit))
}

/// The cursor envelope and `Link` header.
fn paged(
    sh: &Shared,
    path: &str,
    q: &Query,
    all: Vec<Value>,
    (start, limit): (usize, usize),
) -> Response {
    let (results, more) = slice(&all, start, limit);
    let base = sh.base();
    let mut l = json!({"base": base});
    let next = more.then(|| {
        let qs = q.with(
            &[
                ("limit", limit.to_string()),
                ("cursor", encode_cursor(start + limit)),
            ],
            &[],
        );
        format!("/wiki/api/v2{path}?{qs}")
    });
    if let Some(n) = &next {
        l["next"] = json!(n);
    }
    let mut r = Json(json!({"results": results, "_links": l})).into_response();
    let link = match &next {
        Some(n) => format!("<{n}>; rel=\"next\", <{base}>; rel=\"base\""),
        None => format!("<{base}>; rel=\"base\""),
    };
    if let Ok(v) = HeaderValue::from_str(&link) {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

fn sort_pages(items: &mut [&Content], sort: Option<&str>) -> Result<(), Response> {
    let (desc, key) = match sort {
        None => (false, "id"),
        Some(s) => (s.starts_with('-'), s.trim_start_matches('-')),
    };
    match key {
        "id" => items.sort_by_key(|c| c.id),
        "created-date" => items.sort_by_key(|c| (c.created_at, c.id)),
        "modified-date" => items.sort_by_key(|c| (c.modified(), c.id)),
        "title" => items.sort_by(|a, b| a.title().cmp(b.title())),
        other => return Err(errors::v2_bad(format!("Invalid sort: {other}"))),
    }
    if desc {
        items.reverse();
    }
    Ok(())
}

fn list_of(sh: &Shared, kind: Kind, path: &str, raw: Option<&str>, space_filter: Option<u64>) -> R {
    let q = Query::parse(raw);
    let win = window(&q, 25)?;
    let allowed = statuses(&q);
    let mut space_ids: Vec<u64> = Vec::new();
    for s in q.all("space-id") {
        space_ids.push(
            s.parse()
                .map_err(|_| errors::v2_bad(format!("Invalid space-id: {s}")))?,
        );
    }
    space_ids.extend(space_filter);
    let ids: Vec<String> = q.all("id");
    let st = sh.st();
    let root_only = q.get("depth") == Some("root");
    let mut items: Vec<&Content> = st
        .contents
        .values()
        .filter(|c| c.kind == kind && allowed.contains(&c.status))
        .filter(|c| space_ids.is_empty() || space_ids.contains(&c.space_id))
        .filter(|c| ids.is_empty() || ids.contains(&c.id.to_string()))
        .filter(|c| q.get("title").is_none_or(|t| c.title() == t))
        .filter(|c| {
            !root_only
                || st
                    .space(c.space_id)
                    .is_some_and(|s| s.homepage_id == Some(c.id))
        })
        .collect();
    sort_pages(&mut items, q.get("sort"))?;
    let all = items
        .iter()
        .map(|c| page_json(sh, &st, c, c.latest(), &q, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paged(sh, path, &q, all, win))
}

async fn pages(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    done(list_of(&sh, Kind::Page, "/pages", raw.as_deref(), None))
}

async fn blogposts(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    done(list_of(
        &sh,
        Kind::BlogPost,
        "/blogposts",
        raw.as_deref(),
        None,
    ))
}

async fn space_pages(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let sid = id_of(&id)?;
        if sh.st().space(sid).is_none() {
            return Err(errors::v2_not_found());
        }
        list_of(
            &sh,
            Kind::Page,
            &format!("/spaces/{sid}/pages"),
            raw.as_deref(),
            Some(sid),
        )
    })())
}

fn single(sh: &Shared, id: &str, raw: Option<&str>, kind: Kind) -> R {
    let q = Query::parse(raw);
    let id = id_of(id)?;
    let st = sh.st();
    let c = find(&st, id, &[kind], &statuses(&q))?;
    let v = match q.get("version") {
        None => c.latest(),
        Some(n) => n
            .parse::<u32>()
            .ok()
            .and_then(|n| c.version(n))
            .ok_or_else(errors::v2_not_found)?,
    };
    Ok(Json(page_json(sh, &st, c, v, &q, true)?).into_response())
}

async fn page(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done(single(&sh, &id, raw.as_deref(), Kind::Page))
}

async fn blogpost(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done(single(&sh, &id, raw.as_deref(), Kind::BlogPost))
}

fn child_json(c: &Content, with_type: bool) -> Value {
    let mut o = json!({
        "id": c.id.to_string(),
        "status": c.status.as_str(),
        "title": c.title(),
        "spaceId": c.space_id.to_string(),
        "childPosition": c.position,
    });
    if with_type {
        o["type"] = json!("page");
    }
    o
}

async fn children(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        let c = find(&st, id, &[Kind::Page], &[Status::Current])?;
        let all: Vec<Value> = st
            .children_of(Some(c.id), c.space_id)
            .iter()
            .map(|x| child_json(x, true))
            .collect();
        Ok(paged(&sh, &format!("/pages/{id}/children"), &q, all, win))
    })())
}

async fn descendants(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        find(&st, id, &[Kind::Page], &[Status::Current])?;
        let mut all = Vec::new();
        let mut stack = vec![(id, 1usize)];
        while let Some((cur, depth)) = stack.pop() {
            let c = match st.get(cur) {
                Some(c) => c,
                None => continue,
            };
            for ch in st.children_of(Some(cur), c.space_id).into_iter().rev() {
                let mut o = child_json(ch, true);
                o["parentId"] = json!(cur.to_string());
                o["depth"] = json!(depth);
                all.push(o);
                stack.push((ch.id, depth + 1));
            }
        }
        Ok(paged(
            &sh,
            &format!("/pages/{id}/descendants"),
            &q,
            all,
            win,
        ))
    })())
}

async fn ancestors(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        find(&st, id, &[Kind::Page], &[Status::Current, Status::Trashed])?;
        // Highest ancestor first (docs §2).
        let all: Vec<Value> = st
            .ancestors(id)
            .iter()
            .map(|a| json!({"id": a.id.to_string(), "type": "page"}))
            .collect();
        Ok(paged(&sh, &format!("/pages/{id}/ancestors"), &q, all, win))
    })())
}

async fn versions(Ax(sh): Ax<S>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        let c = find(&st, id, &[Kind::Page], &[Status::Current, Status::Trashed])?;
        let all: Vec<Value> = c
            .versions
            .iter()
            .rev()
            .map(|v| {
                let mut o = version_json(&st, v);
                o["page"] = json!({"id": c.id.to_string(), "title": v.title});
                o
            })
            .collect();
        Ok(paged(&sh, &format!("/pages/{id}/versions"), &q, all, win))
    })())
}

/// `AttachmentBulk`; `single` adds `_links.base` as single-object answers have it (list
/// items carry only `webui` and `download`, the envelope has the base).
fn attachment_json(sh: &Shared, st: &State, a: &Content, single: bool) -> Value {
    let data = a.attachment.as_ref();
    let download = super::repr::download(Flavor::Cloud, a, a.latest());
    let mut o = json!({
        "id": format!("att{}", a.id),
        "status": a.status.as_str(),
        "title": a.title(),
        "createdAt": when(a.created_at),
        "mediaType": data.map(|d| d.media_type.clone()),
        "mediaTypeDescription": data.map(|d| d.media_type.clone()),
        "comment": data.map(|d| d.comment.clone()),
        "fileId": data.map(|d| d.file_id.clone()),
        "fileSize": data.map(|d| d.size),
        "webuiLink": webui(st, Flavor::Cloud, a),
        "downloadLink": download,
        "version": version_json(st, a.latest()),
        "_links": {"webui": webui(st, Flavor::Cloud, a), "download": download},
    });
    if single {
        o["_links"]["base"] = json!(sh.base());
    }
    let container = a.container_id.and_then(|c| st.get(c));
    match container.map(|c| c.kind) {
        Some(Kind::BlogPost) => o["blogPostId"] = json!(a.container_id.map(|c| c.to_string())),
        _ => o["pageId"] = json!(a.container_id.map(|c| c.to_string())),
    }
    o
}

/// `GET /pages/{id}/attachments` and `/blogposts/{id}/attachments`: v2 has no type
/// polymorphism (docs §2), so each endpoint knows only its own kind and answers 404 for
/// the other's ids.
fn attachments_of(sh: &Shared, kind: Kind, id: &str, raw: Option<&str>) -> R {
    let q = Query::parse(raw);
    let win = window(&q, 50)?;
    let id = id_of(id)?;
    let st = sh.st();
    let c = find(&st, id, &[kind], &[Status::Current])?;
    let all: Vec<Value> = super::repr::children(&st, c, Kind::Attachment)
        .into_iter()
        .filter(|a| q.get("filename").is_none_or(|f| a.title() == f))
        .filter(|a| {
            q.get("mediaType")
                .is_none_or(|m| a.attachment.as_ref().is_some_and(|d| d.media_type == m))
        })
        .map(|a| attachment_json(sh, &st, a, false))
        .collect();
    let endpoint = if kind == Kind::Page {
        "pages"
    } else {
        "blogposts"
    };
    Ok(paged(
        sh,
        &format!("/{endpoint}/{id}/attachments"),
        &q,
        all,
        win,
    ))
}

async fn page_attachments(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    done(attachments_of(&sh, Kind::Page, &id, raw.as_deref()))
}

async fn blogpost_attachments(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    done(attachments_of(&sh, Kind::BlogPost, &id, raw.as_deref()))
}

async fn attachment(Ax(sh): Ax<S>, Path(id): Path<String>) -> Response {
    done((|| {
        let id = id_of(&id)?;
        let st = sh.st();
        let a = find(&st, id, &[Kind::Attachment], &[Status::Current])?;
        Ok(Json(attachment_json(&sh, &st, a, true)).into_response())
    })())
}

fn comment_json(st: &State, c: &Content, q: &Query) -> Result<Value, Response> {
    let mut o = json!({
        "id": c.id.to_string(),
        "status": c.status.as_str(),
        "title": c.title(),
        "version": version_json(st, c.latest()),
        "body": body_json(q, c.latest())?,
        "_links": {"webui": webui(st, Flavor::Cloud, c)},
    });
    let container = c.container_id.and_then(|id| st.get(id));
    match container.map(|x| x.kind) {
        Some(Kind::BlogPost) => o["blogPostId"] = json!(c.container_id.map(|x| x.to_string())),
        _ => o["pageId"] = json!(c.container_id.map(|x| x.to_string())),
    }
    if let Some(p) = c.parent_id {
        o["parentCommentId"] = json!(p.to_string());
    }
    Ok(o)
}

async fn footer_comments(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        let c = find(&st, id, &[Kind::Page, Kind::BlogPost], &[Status::Current])?;
        let all = super::repr::children(&st, c, Kind::Comment)
            .into_iter()
            .filter(|x| x.parent_id.is_none())
            .map(|x| comment_json(&st, x, &q))
            .collect::<Result<Vec<_>, _>>()?;
        let kind = if c.kind == Kind::Page {
            "pages"
        } else {
            "blogposts"
        };
        Ok(paged(
            &sh,
            &format!("/{kind}/{id}/footer-comments"),
            &q,
            all,
            win,
        ))
    })())
}

async fn footer_comment(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let id = id_of(&id)?;
        let st = sh.st();
        let c = find(&st, id, &[Kind::Comment], &[Status::Current])?;
        Ok(Json(comment_json(&st, c, &q)?).into_response())
    })())
}

async fn comment_children(
    Ax(sh): Ax<S>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let id = id_of(&id)?;
        let st = sh.st();
        let c = find(&st, id, &[Kind::Comment], &[Status::Current])?;
        let all = super::repr::children(&st, c, Kind::Comment)
            .into_iter()
            .map(|x| comment_json(&st, x, &q))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(paged(
            &sh,
            &format!("/footer-comments/{id}/children"),
            &q,
            all,
            win,
        ))
    })())
}

fn space_json(st: &State, s: &super::state::Space) -> Value {
    json!({
        "id": s.id.to_string(),
        "key": s.key,
        "name": s.name,
        "type": s.kind,
        "status": "current",
        "authorId": account(st, super::state::API_USER),
        "createdAt": when(s.created_at),
        "homepageId": s.homepage_id.map(|h| h.to_string()),
        "description": null,
        "icon": null,
        "_links": {"webui": format!("/spaces/{}", s.key)},
    })
}

async fn spaces(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    done((|| {
        let q = Query::parse(raw.as_deref());
        let win = window(&q, 25)?;
        let keys = q.all("keys");
        let ids = q.all("ids");
        let types = q.all("type");
        let st = sh.st();
        let all: Vec<Value> = st
            .spaces
            .iter()
            .filter(|s| keys.is_empty() || keys.contains(&s.key))
            .filter(|s| ids.is_empty() || ids.contains(&s.id.to_string()))
            .filter(|s| types.is_empty() || types.contains(&s.kind))
            .map(|s| space_json(&st, s))
            .collect();
        Ok(paged(&sh, "/spaces", &q, all, win))
    })())
}

async fn space(Ax(sh): Ax<S>, Path(id): Path<String>) -> Response {
    done((|| {
        let id = id_of(&id)?;
        let st = sh.st();
        let s = st.space(id).ok_or_else(errors::v2_not_found)?;
        Ok(Json(space_json(&st, s)).into_response())
    })())
}

async fn convert_ids(Ax(sh): Ax<S>, Json(body): Json<Value>) -> Response {
    let st = sh.st();
    let mut results = serde_json::Map::new();
    for raw in body["contentIds"].as_array().into_iter().flatten() {
        let key = match raw {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let kind = key
            .parse::<u64>()
            .ok()
            .and_then(|id| st.get(id))
            .filter(|c| c.status != Status::Deleted)
            .map(|c| match c.kind {
                Kind::Comment => "footer-comment",
                Kind::BlogPost => "blogpost",
                k => k.as_str(),
            });
        results.insert(key, kind.map_or(Value::Null, |k| json!(k)));
    }
    Json(json!({"results": results})).into_response()
}
