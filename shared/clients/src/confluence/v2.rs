//! REST v2 (Cloud, `/api/v2/…`): page and blog post reads, space id → key, title lookups.
//! No `expand`; users are account ids; lists page by cursor (`_links.next` / `Link`).

use super::error::ConfluenceError;
use super::http::Http;
use super::model::{self, Attachment, ContentKind, Page};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// Statuses asked for after a plain read answered 404, so trashed and archived content
/// reads with its status; purged content stays 404.
const ANY_STATUS: [&str; 4] = ["current", "archived", "trashed", "deleted"];
/// Attachments asked for per listing page: the documented maximum (default 50).
const ATTACHMENT_LIMIT: usize = 250;

fn endpoint(kind: &ContentKind) -> &'static str {
    match kind {
        ContentKind::BlogPost => "blogposts",
        _ => "pages",
    }
}

/// GET `/pages/{id}` (then with every status, then as a blog post) with `extra` query.
async fn single(
    http: &Http,
    id: u64,
    extra: &[(&str, String)],
) -> Result<(Value, ContentKind), ConfluenceError> {
    let what = format!("GET page {id}");
    let url = http.url(&format!("/api/v2/pages/{id}"), extra);
    match http.get(url, &what).await {
        Ok(a) => return Ok((a.body, ContentKind::Page)),
        Err(e) if !e.is_not_found() => return Err(e),
        Err(_) => {}
    }
    for kind in [ContentKind::Page, ContentKind::BlogPost] {
        let mut q: Vec<(&str, String)> = extra.to_vec();
        q.extend(ANY_STATUS.iter().map(|s| ("status", (*s).to_owned())));
        let url = http.url(&format!("/api/v2/{}/{id}", endpoint(&kind)), &q);
        match http.get(url, &what).await {
            Ok(a) => return Ok((a.body, kind)),
            Err(e) if !e.is_not_found() => return Err(e),
            Err(_) => {}
        }
    }
    Err(ConfluenceError::NotFound { what })
}

pub(crate) async fn page(
    http: &Http,
    spaces: &Mutex<HashMap<String, String>>,
    id: u64,
    web_base: &str,
) -> Result<Page, ConfluenceError> {
    let (body, kind) = single(http, id, &[]).await?;
    let mut page = model::page_from_v2(&body, kind, web_base)
        .ok_or_else(|| ConfluenceError::decode("page", "no page id in the answer"))?;
    if let Some(space_id) = page.space_id.clone() {
        page.space_key = space_key(http, spaces, &space_id).await?;
    }
    Ok(page)
}

pub(crate) async fn body_storage(http: &Http, id: u64) -> Result<String, ConfluenceError> {
    let (body, _) = single(http, id, &[("body-format", "storage".into())]).await?;
    body.pointer("/body/storage/value")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConfluenceError::decode("page body", "no body.storage.value"))
}

/// The key of a space by its v2 id (cached: keys do not change).
async fn space_key(
    http: &Http,
    cache: &Mutex<HashMap<String, String>>,
    space_id: &str,
) -> Result<Option<String>, ConfluenceError> {
    if let Some(k) = cache.lock().ok().and_then(|c| c.get(space_id).cloned()) {
        return Ok(Some(k));
    }
    let url = http.url(&format!("/api/v2/spaces/{space_id}"), &[]);
    let key = match http.get(url, "GET space").await {
        Ok(a) => model::text(&a.body, "key"),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    if let (Some(k), Ok(mut c)) = (&key, cache.lock()) {
        c.insert(space_id.to_owned(), k.clone());
    }
    Ok(key)
}

/// The id of the space with `key` (`GET /spaces?keys=`).
async fn space_id(http: &Http, key: &str) -> Result<Option<String>, ConfluenceError> {
    let url = http.url("/api/v2/spaces", &[("keys", key.to_owned())]);
    let answer = http.get(url, "GET spaces").await?;
    Ok(answer
        .body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| model::text(s, "key").as_deref() == Some(key))
        .and_then(|s| model::text(s, "id")))
}

/// The current page titled exactly `title` in `space_key` (`GET /pages?space-id=&title=`).
pub(crate) async fn find_by_title(
    http: &Http,
    spaces: &Mutex<HashMap<String, String>>,
    space_key: &str,
    title: &str,
    web_base: &str,
) -> Result<Option<Page>, ConfluenceError> {
    let Some(sid) = space_id(http, space_key).await? else {
        return Ok(None);
    };
    if let Ok(mut c) = spaces.lock() {
        c.insert(sid.clone(), space_key.to_owned());
    }
    let mut url = http.url(
        "/api/v2/pages",
        &[
            ("space-id", sid),
            ("title", title.to_owned()),
            ("status", "current".into()),
        ],
    );
    for _ in 0..super::v1::MAX_PAGES {
        let answer = http.get(url.clone(), "find page by title").await?;
        let base = answer
            .body
            .pointer("/_links/base")
            .and_then(Value::as_str)
            .unwrap_or(web_base)
            .to_owned();
        let items = answer
            .body
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(mut p) = items
            .iter()
            .filter_map(|c| model::page_from_v2(c, ContentKind::Page, &base))
            .find(|p| p.title == title)
        {
            p.space_key = Some(space_key.to_owned());
            return Ok(Some(p));
        }
        match http.next_url(&url, &answer)? {
            Some(next) if next != url && !items.is_empty() => url = next,
            _ => break,
        }
    }
    Ok(None)
}

/// Every current page of a space (`GET /spaces/{id}/pages`, cursor paging).
pub(crate) async fn pages_in_space(
    http: &Http,
    spaces: &Mutex<HashMap<String, String>>,
    space_key: &str,
    limit: usize,
    web_base: &str,
) -> Result<Vec<Page>, ConfluenceError> {
    let Some(sid) = space_id(http, space_key).await? else {
        return Err(ConfluenceError::NotFound {
            what: format!("space {space_key}"),
        });
    };
    if let Ok(mut c) = spaces.lock() {
        c.insert(sid.clone(), space_key.to_owned());
    }
    let mut url = http.url(
        &format!("/api/v2/spaces/{sid}/pages"),
        &[("limit", limit.clamp(1, 250).to_string())],
    );
    let mut out = Vec::new();
    for _ in 0..super::v1::MAX_PAGES {
        let answer = http.get(url.clone(), "list space pages").await?;
        let base = answer
            .body
            .pointer("/_links/base")
            .and_then(Value::as_str)
            .unwrap_or(web_base)
            .to_owned();
        let items = answer
            .body
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.extend(
            items
                .iter()
                .filter_map(|c| model::page_from_v2(c, ContentKind::Page, &base))
                .map(|mut p| {
                    p.space_key = Some(space_key.to_owned());
                    p
                }),
        );
        match http.next_url(&url, &answer)? {
            Some(next) if next != url && !items.is_empty() => url = next,
            _ => break,
        }
    }
    Ok(out)
}

/// The attachments of a page (`GET /pages/{id}/attachments`, cursor paging); when the id is
/// no page (404) those of the blog post with that id (`/blogposts/{id}/attachments`), so
/// callers holding only an id need not know its kind.
pub(crate) async fn attachments(http: &Http, id: u64) -> Result<Vec<Attachment>, ConfluenceError> {
    let what = format!("GET attachments of {id}");
    for kind in [ContentKind::Page, ContentKind::BlogPost] {
        let url = http.url(
            &format!("/api/v2/{}/{id}/attachments", endpoint(&kind)),
            &[("limit", ATTACHMENT_LIMIT.to_string())],
        );
        match attachment_pages(http, url, &what).await {
            Err(e) if e.is_not_found() => {}
            other => return other,
        }
    }
    Err(ConfluenceError::NotFound { what })
}

async fn attachment_pages(
    http: &Http,
    mut url: url::Url,
    what: &str,
) -> Result<Vec<Attachment>, ConfluenceError> {
    let mut out = Vec::new();
    for _ in 0..super::v1::MAX_PAGES {
        let answer = http.get(url.clone(), what).await?;
        let items = answer
            .body
            .get("results")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for item in items {
            out.push(
                model::attachment_from_v2(item).map_err(|r| ConfluenceError::decode(what, r))?,
            );
        }
        match http.next_url(&url, &answer)? {
            Some(next) if next != url && !items.is_empty() => url = next,
            _ => break,
        }
    }
    Ok(out)
}

/// The page or blog post holding attachment `id` (`GET /attachments/{id}`: `pageId` or
/// `blogPostId`); `None` when it has neither.
pub(crate) async fn attachment_container(
    http: &Http,
    id: u64,
) -> Result<Option<u64>, ConfluenceError> {
    // Whether Cloud's attachment ids carry an `att` prefix is UNCONFIRMED: both are tried.
    let what = format!("GET attachment {id}");
    let body = match http
        .get(http.url(&format!("/api/v2/attachments/{id}"), &[]), &what)
        .await
    {
        Err(e) if e.is_not_found() => {
            http.get(
                http.url(&format!("/api/v2/attachments/att{id}"), &[]),
                &what,
            )
            .await?
            .body
        }
        other => other?.body,
    };
    Ok(["pageId", "blogPostId"].iter().find_map(|k| {
        body.get(*k).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }))
}
