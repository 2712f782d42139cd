//! CQL search (docs §3): `/rest/api/search` (SearchResult envelope with `totalSize`,
//! `cqlQuery`, highlighted `title`/`excerpt`) and `/rest/api/content/search` (ContentArray).
//! DC pages by `start`/`limit`; Cloud by an opaque `cursor` in `_links.next` (a `start` is
//! still honoured on the first call).

use super::super::cql::{self, Eval};
use super::super::paging::{Query, decode_cursor, encode_cursor, slice};
use super::super::repr::{self, Expand, plain_text, when};
use super::super::state::{Content, Kind};
use super::super::{Flavor, S, Shared, errors, state};
use super::{cx, offsets};
use axum::Json;
use axum::extract::{RawQuery, State as Ax};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

struct Found {
    ids: Vec<u64>,
    terms: Vec<String>,
    start: usize,
    limit: usize,
}

fn run(sh: &Shared, q: &Query) -> Result<Found, Response> {
    let Some(raw) = q.get("cql").filter(|c| !c.trim().is_empty()) else {
        return Err(errors::v1_bad("The CQL query parameter is required"));
    };
    let parsed = cql::parse(raw)
        .map_err(|e| errors::v1_bad(format!("Could not parse cql : {raw} ({e})")))?;
    let (mut start, limit) = offsets(sh, q, 25)?;
    if let Some(c) = q.get("cursor") {
        start = decode_cursor(c).ok_or_else(|| errors::v1_bad(format!("Invalid cursor: {c}")))?;
    }
    let st = sh.st();
    let eval = Eval {
        st: &st,
        me: state::API_USER,
        now: chrono::Utc::now(),
    };
    let ids = eval.run(&parsed).iter().map(|c| c.id).collect();
    let mut terms = Vec::new();
    if let Some(f) = &parsed.filter {
        cql::text_terms(f, &mut terms);
    }
    Ok(Found {
        ids,
        terms,
        start,
        limit,
    })
}

/// `_links` with `next`/`prev` in the flavour's paging style.
fn links(sh: &Shared, path: &str, q: &Query, f: &Found, more: bool) -> Value {
    let base = sh.base();
    let mut l = json!({"base": base, "context": sh.context_path(), "self": format!("{base}{path}?{}", q.with(&[], &[]))});
    let page = |start: usize| -> String {
        match sh.flavor {
            Flavor::Cloud => q.with(
                &[
                    ("limit", f.limit.to_string()),
                    ("cursor", encode_cursor(start)),
                ],
                &["start"],
            ),
            Flavor::DataCenter => q.with(
                &[("limit", f.limit.to_string()), ("start", start.to_string())],
                &[],
            ),
        }
    };
    if more {
        l["next"] = json!(format!("{path}?{}", page(f.start + f.limit)));
    }
    if f.start > 0 {
        l["prev"] = json!(format!("{path}?{}", page(f.start.saturating_sub(f.limit))));
    }
    l
}

fn highlight(text: &str, terms: &[String]) -> String {
    text.split(' ')
        .map(|w| {
            let bare: String = w
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            if !bare.is_empty()
                && terms
                    .iter()
                    .any(|t| !t.is_empty() && bare.starts_with(t.as_str()))
            {
                format!("@@@hl@@@{w}@@@endhl@@@")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn excerpt_mode(q: &Query) -> &str {
    q.get("excerpt").unwrap_or("highlight")
}

fn result_item(
    sh: &Shared,
    cx: &repr::Ctx,
    c: &Content,
    ex: &Expand,
    q: &Query,
    terms: &[String],
) -> Value {
    let mut text: String = plain_text(c.body()).chars().take(300).collect();
    let mut title = c.title().to_owned();
    if excerpt_mode(q).starts_with("highlight") {
        text = highlight(&text, terms);
        title = highlight(&title, terms);
    }
    if excerpt_mode(q) == "none" {
        text = String::new();
    }
    let space = cx.st.space(c.space_id);
    let webui = repr::webui(cx.st, sh.flavor, c);
    let space_url = match sh.flavor {
        Flavor::Cloud => format!("/spaces/{}", space.map_or("", |s| s.key.as_str())),
        Flavor::DataCenter => format!("/display/{}", space.map_or("", |s| s.key.as_str())),
    };
    let parent = match c.kind {
        Kind::Page => cx
            .st
            .ancestors(c.id)
            .last()
            .map(|p| (p.title().to_owned(), repr::webui(cx.st, sh.flavor, p))),
        _ => c
            .container_id
            .and_then(|p| cx.st.get(p))
            .map(|p| (p.title().to_owned(), repr::webui(cx.st, sh.flavor, p))),
    };
    let mut item = json!({
        "content": repr::content(cx, c, None, ex, false),
        "title": title,
        "excerpt": text,
        "url": webui,
        "resultGlobalContainer": {"title": space.map_or("", |s| s.name.as_str()), "displayUrl": space_url},
        "breadcrumbs": [],
        "entityType": "content",
        "iconCssClass": format!("aui-icon content-type-{}", c.kind.as_str()),
        "lastModified": when(sh.flavor, c.modified()),
        "friendlyLastModified": c.modified().format("%b %d, %Y").to_string(),
        "score": 0.0,
    });
    if let Some((t, u)) = parent {
        item["resultParentContainer"] = json!({"title": t, "displayUrl": u});
    }
    item
}

pub async fn search(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let started = std::time::Instant::now();
    let q = Query::parse(raw.as_deref());
    let f = match run(&sh, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let ex = Expand::parse(q.get("expand")).sub("content");
    let (page, more) = slice(&f.ids, f.start, f.limit);
    let st = sh.st();
    let cx = cx(&sh, &st);
    let results: Vec<Value> = page
        .iter()
        .filter_map(|id| st.get(*id))
        .map(|c| result_item(&sh, &cx, c, &ex, &q, &f.terms))
        .collect();
    Json(json!({
        "size": results.len(),
        "results": results,
        "start": f.start,
        "limit": f.limit,
        "totalSize": f.ids.len(),
        "cqlQuery": q.get("cql").unwrap_or(""),
        "searchDuration": started.elapsed().as_millis() as u64,
        "archivedResultCount": 0,
        "_links": links(&sh, "/rest/api/search", &q, &f, more),
    }))
    .into_response()
}

pub async fn content_search(Ax(sh): Ax<S>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let f = match run(&sh, &q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let ex = Expand::parse(q.get("expand"));
    let (page, more) = slice(&f.ids, f.start, f.limit);
    let st = sh.st();
    let cx = cx(&sh, &st);
    let results: Vec<Value> = page
        .iter()
        .filter_map(|id| st.get(*id))
        .map(|c| repr::content(&cx, c, None, &ex, false))
        .collect();
    Json(json!({
        "size": results.len(),
        "results": results,
        "start": f.start,
        "limit": f.limit,
        "cqlQuery": q.get("cql").unwrap_or(""),
        "_links": links(&sh, "/rest/api/content/search", &q, &f, more),
    }))
    .into_response()
}
