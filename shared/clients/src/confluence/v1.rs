//! REST v1 (`/rest/api/…`): every read on Data Center; CQL search and watchers on Cloud.
//! Offset paging (`start`/`limit`) on DC, cursors in `_links.next` on Cloud search — both
//! followed through `_links.next`, which is trusted over the requested `limit`.

use super::error::ConfluenceError;
use super::http::Http;
use super::model::{self, Attachment, Page, SearchHit, UserRef};
use bridge_core::config::ConfluenceFlavor;
use serde_json::Value;
use url::Url;

/// Expansions for a page read: space key, version (with its author), history (creator),
/// ancestors (the parent page is the last one).
const PAGE_EXPAND: &str = "space,version,history,ancestors";
/// Attachments asked for per listing page (the server may clamp it; `next` is trusted).
const ATTACHMENT_LIMIT: usize = 200;
/// Expansions on search results, so a hit carries its space and version.
const SEARCH_EXPAND: &str = "content.space,content.version";
/// More pages than this in one listing means the server loops; stop.
pub(crate) const MAX_PAGES: usize = 10_000;

fn results(body: &Value) -> &[Value] {
    body.get("results")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// GET `/rest/api/content/{id}` with `expand`, trying `status=trashed` after a 404 so a
/// trashed page reads as trashed; purged content stays 404 ([`ConfluenceError::NotFound`]).
async fn content(http: &Http, id: u64, expand: &str) -> Result<Value, ConfluenceError> {
    let path = format!("/rest/api/content/{id}");
    let what = format!("GET content {id}");
    let url = http.url(&path, &[("expand", expand.to_owned())]);
    match http.get(url, &what).await {
        Err(e) if e.is_not_found() => {
            let url = http.url(
                &path,
                &[("expand", expand.to_owned()), ("status", "trashed".into())],
            );
            Ok(http.get(url, &what).await?.body)
        }
        other => Ok(other?.body),
    }
}

pub(crate) async fn page(http: &Http, id: u64, web_base: &str) -> Result<Page, ConfluenceError> {
    let body = content(http, id, PAGE_EXPAND).await?;
    model::page_from_v1(&body, web_base)
        .ok_or_else(|| ConfluenceError::decode("content", "no content id in the answer"))
}

pub(crate) async fn body_storage(http: &Http, id: u64) -> Result<String, ConfluenceError> {
    let body = content(http, id, "body.storage").await?;
    body.pointer("/body/storage/value")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConfluenceError::decode("content body", "no body.storage.value"))
}

/// The current page titled exactly `title` in `space_key` (`GET /rest/api/content` with
/// `spaceKey`, `title`, `type=page`), for DC `/display/KEY/Title` URLs. With `posting_day`
/// (`yyyy-mm-dd`) the blog post of that day instead (`type=blogpost&postingDay=`), for DC
/// `/display/KEY/yyyy/mm/dd/Title` URLs.
pub(crate) async fn find_by_title(
    http: &Http,
    space_key: &str,
    title: &str,
    posting_day: Option<&str>,
    web_base: &str,
) -> Result<Option<Page>, ConfluenceError> {
    let mut query = vec![
        ("spaceKey", space_key.to_owned()),
        ("title", title.to_owned()),
        (
            "type",
            if posting_day.is_some() {
                "blogpost"
            } else {
                "page"
            }
            .into(),
        ),
        ("expand", PAGE_EXPAND.into()),
    ];
    if let Some(day) = posting_day {
        query.push(("postingDay", day.to_owned()));
    }
    let url = http.url("/rest/api/content", &query);
    let answer = match http.get(url, "find content by title").await {
        // An unknown space is answered 404.
        Err(e) if e.is_not_found() => return Ok(None),
        other => other?,
    };
    let base = answer
        .body
        .pointer("/_links/base")
        .and_then(Value::as_str)
        .unwrap_or(web_base)
        .to_owned();
    Ok(results(&answer.body)
        .iter()
        .filter_map(|c| model::page_from_v1(c, &base))
        .find(|p| p.title == title))
}

/// Who watches a page: Cloud `…/notification/child-created`, DC `…/watchers` (paged).
pub(crate) async fn watchers(
    http: &Http,
    flavor: ConfluenceFlavor,
    page_id: u64,
) -> Result<Vec<UserRef>, ConfluenceError> {
    let path = match flavor {
        ConfluenceFlavor::Cloud => {
            format!("/rest/api/content/{page_id}/notification/child-created")
        }
        ConfluenceFlavor::DataCenter => format!("/rest/api/content/{page_id}/watchers"),
    };
    let mut url = http.url(&path, &[("limit", "200".into())]);
    let mut out: Vec<UserRef> = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = http.get(url.clone(), "GET watchers").await?;
        for item in results(&answer.body) {
            let user = item
                .get("watcher")
                .and_then(UserRef::from_v1)
                .or_else(|| item.get("user").and_then(UserRef::from_v1))
                .or_else(|| UserRef::from_v1(item));
            if let Some(u) = user
                && !out.iter().any(|o| o.id() == u.id())
            {
                out.push(u);
            }
        }
        match http.next_url(&url, &answer)? {
            Some(next) if next != url && !results(&answer.body).is_empty() => url = next,
            _ => return Ok(out),
        }
    }
    Ok(out)
}

/// A CQL search, read page by page (`GET /rest/api/search`).
pub struct CqlSearch {
    pub(crate) client: super::ConfluenceClient,
    pub(crate) next: Option<Url>,
    pub(crate) pages: usize,
    /// A bad `next` link, reported by the call after the page that carried it.
    pub(crate) pending: Option<ConfluenceError>,
}

impl CqlSearch {
    pub(crate) fn new(client: super::ConfluenceClient, cql: &str, limit: usize) -> Self {
        let url = client.inner.http.url(
            "/rest/api/search",
            &[
                ("cql", cql.to_owned()),
                ("limit", limit.clamp(1, 1000).to_string()),
                ("expand", SEARCH_EXPAND.into()),
            ],
        );
        Self {
            client,
            next: Some(url),
            pages: 0,
            pending: None,
        }
    }

    /// The next page of content results, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SearchHit>>, ConfluenceError> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        self.pages += 1;
        let http = &self.client.inner.http;
        let answer = http.get(url.clone(), "CQL search").await?;
        let items = results(&answer.body);
        let hits: Vec<SearchHit> = items.iter().filter_map(model::hit_from_search).collect();
        let next = match http.next_url(&url, &answer) {
            Ok(Some(n)) => Some(n),
            // DC may omit `next` but say `totalSize`: continue by offset.
            Ok(None) => offset_next(&url, &answer.body, items.len()),
            Err(e) => {
                self.pending = Some(e);
                None
            }
        };
        self.next = next.filter(|n| *n != url && !items.is_empty() && self.pages < MAX_PAGES);
        Ok(Some(hits))
    }

    /// Every result of every page.
    pub async fn collect_all(mut self) -> Result<Vec<SearchHit>, ConfluenceError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}

fn offset_next(url: &Url, body: &Value, got: usize) -> Option<Url> {
    let total = body.get("totalSize").and_then(model::uint)?;
    let start = body.get("start").and_then(model::uint).unwrap_or(0);
    let next_start = start + u64::try_from(got).ok()?;
    if got == 0 || next_start >= total {
        return None;
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "start" && k != "cursor")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut next = url.clone();
    {
        let mut q = next.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        q.append_pair("start", &next_start.to_string());
    }
    Some(next)
}

/// Every current page of a space (`GET /rest/api/content?spaceKey=&type=page`, offset
/// paging through `_links.next`).
pub(crate) async fn pages_in_space(
    http: &Http,
    space_key: &str,
    limit: usize,
    web_base: &str,
) -> Result<Vec<Page>, ConfluenceError> {
    let mut url = http.url(
        "/rest/api/content",
        &[
            ("spaceKey", space_key.to_owned()),
            ("type", "page".into()),
            ("start", "0".into()),
            ("limit", limit.clamp(1, 1000).to_string()),
            ("expand", PAGE_EXPAND.into()),
        ],
    );
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = http.get(url.clone(), "list space pages").await?;
        let base = answer
            .body
            .pointer("/_links/base")
            .and_then(Value::as_str)
            .unwrap_or(web_base)
            .to_owned();
        let items = results(&answer.body);
        out.extend(items.iter().filter_map(|c| model::page_from_v1(c, &base)));
        let next = match http.next_url(&url, &answer)? {
            Some(n) => Some(n),
            None => offset_next(&url, &answer.body, items.len()),
        };
        match next {
            Some(n) if n != url && !items.is_empty() => url = n,
            _ => break,
        }
    }
    Ok(out)
}

/// The attachments of a page or blog post (`GET /rest/api/content/{id}/child/attachment`,
/// offset paging through `_links.next`). `expand=version` because the listing's default
/// expansions are not documented.
pub(crate) async fn attachments(http: &Http, id: u64) -> Result<Vec<Attachment>, ConfluenceError> {
    let what = format!("GET attachments of {id}");
    let mut url = http.url(
        &format!("/rest/api/content/{id}/child/attachment"),
        &[
            ("start", "0".into()),
            ("limit", ATTACHMENT_LIMIT.to_string()),
            ("expand", "version".into()),
        ],
    );
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = http.get(url.clone(), &what).await?;
        let items = results(&answer.body);
        for item in items {
            out.push(
                model::attachment_from_v1(item).map_err(|r| ConfluenceError::decode(&what, r))?,
            );
        }
        let next = match http.next_url(&url, &answer)? {
            Some(n) => Some(n),
            None => offset_next(&url, &answer.body, items.len()),
        };
        match next {
            Some(n) if n != url && !items.is_empty() => url = n,
            _ => break,
        }
    }
    Ok(out)
}

/// The page or blog post holding attachment `id` (`expand=container`).
pub(crate) async fn attachment_container(
    http: &Http,
    id: u64,
) -> Result<Option<u64>, ConfluenceError> {
    let body = content(http, id, "container").await?;
    Ok(body.get("container").and_then(|c| {
        c.get("id").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }))
}
