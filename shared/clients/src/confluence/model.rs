//! Typed results, read tolerantly from the JSON the docs describe: ids as strings or numbers,
//! times with `Z` or an offset (or epoch milliseconds), optional fields absent or null.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// What kind of content an id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentKind {
    Page,
    BlogPost,
    Comment,
    Attachment,
    Other(String),
}

impl ContentKind {
    pub fn parse(s: &str) -> Self {
        match s {
            "page" => Self::Page,
            "blogpost" | "blog_post" | "blog" => Self::BlogPost,
            "comment" => Self::Comment,
            "attachment" => Self::Attachment,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Content status (v1 and v2 share the names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentStatus {
    Current,
    Trashed,
    /// Purged from the trash (usually answered 404 instead).
    Deleted,
    Archived,
    Historical,
    Draft,
    Other(String),
}

impl ContentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "current" => Self::Current,
            "trashed" => Self::Trashed,
            "deleted" => Self::Deleted,
            "archived" => Self::Archived,
            "historical" => Self::Historical,
            "draft" => Self::Draft,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A user as the flavour names them: Cloud `accountId` (+ e-mail when privacy allows), DC
/// `userKey`/`username`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserRef {
    pub account_id: Option<String>,
    pub user_key: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

impl UserRef {
    /// The stable id: Cloud `accountId`, else DC `userKey`, else `username`.
    pub fn id(&self) -> Option<&str> {
        self.account_id
            .as_deref()
            .or(self.user_key.as_deref())
            .or(self.username.as_deref())
    }

    /// A Cloud user known only by account id (v2 answers).
    pub fn account(id: &str) -> Self {
        Self {
            account_id: Some(id.to_owned()),
            ..Self::default()
        }
    }

    /// From a v1 `User` object (either flavour); `None` when it names nobody.
    pub fn from_v1(v: &Value) -> Option<Self> {
        let u = Self {
            account_id: text(v, "accountId"),
            user_key: text(v, "userKey"),
            username: text(v, "username"),
            email: text(v, "email"),
            display_name: text(v, "displayName").or_else(|| text(v, "publicName")),
        };
        u.id().is_some().then_some(u)
    }
}

/// A page or blog post as the bridge needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub id: u64,
    pub content_type: ContentKind,
    pub title: String,
    pub space_key: Option<String>,
    /// Cloud numeric space id (v2), as a string.
    pub space_id: Option<String>,
    pub status: ContentStatus,
    pub version: u32,
    pub minor_edit: bool,
    pub created_by: Option<UserRef>,
    /// Who made the current version.
    pub last_modifier: Option<UserRef>,
    /// When the current version was made.
    pub last_modified: Option<DateTime<Utc>>,
    /// Absolute web URL (`_links.base` + `_links.webui`).
    pub web_url: Option<String>,
    /// Absolute tiny link (`_links.base` + `_links.tinyui`).
    pub tiny_url: Option<String>,
    /// The parent page: Cloud v2 `parentId`, DC v1 the last of `ancestors`. `None` for a
    /// space's root page, for blog posts, and on Cloud when the parent is not a page (a
    /// folder, whiteboard, database or embed): only pages are mirrored as a tree, so such
    /// a page hangs at the top.
    pub parent_id: Option<u64>,
}

/// An attachment of a page or blog post (v2 `AttachmentBulk`, v1 attachment content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The numeric id as a string, without the `att` prefix v2 (and maybe v1) puts on it,
    /// so both APIs name an attachment the same way.
    pub id: String,
    pub file_name: String,
    pub media_type: Option<String>,
    pub file_size: Option<u64>,
    pub version: u32,
    /// The download link as the API gave it: relative to the site base (`/wiki` on Cloud,
    /// the context path on DC), e.g. `/download/attachments/{pageId}/{file}?version=1`.
    /// Fetch it with [`super::ConfluenceClient::download_attachment`].
    pub download: String,
}

/// One CQL search result (content results only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub id: u64,
    pub content_type: ContentKind,
    pub status: Option<ContentStatus>,
    pub title: String,
    pub space_key: Option<String>,
    pub version: Option<u32>,
    pub minor_edit: bool,
    pub last_modifier: Option<UserRef>,
    pub last_modified: Option<DateTime<Utc>>,
}

// --- tolerant readers ---

pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number given as a JSON number or a numeric string.
pub(crate) fn uint(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A content id: `id` as number or string (v2 attachment ids may carry an `att` prefix).
pub(crate) fn content_id(v: &Value) -> Option<u64> {
    let id = v.get("id")?;
    uint(id).or_else(|| id.as_str()?.trim_start_matches("att").parse().ok())
}

/// An attachment id without the `att` prefix v2 gives it (the same number as v1's id);
/// kept as given when the rest is not a number.
pub(crate) fn attachment_id(v: &Value) -> Option<String> {
    let id = text(v, "id")?;
    let bare = id.strip_prefix("att").unwrap_or(&id);
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        Some(bare.to_owned())
    } else {
        Some(id)
    }
}

/// A version number given as `{number: N}` or as `N`.
fn version_number(v: Option<&Value>) -> Option<u32> {
    let v = v?;
    v.get("number")
        .and_then(uint)
        .or_else(|| uint(v))
        .and_then(|n| u32::try_from(n).ok())
}

/// The `version=` query parameter of a download link (when the item says no version).
fn link_version(link: &str) -> Option<u32> {
    let (_, query) = link.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("version="))
        .and_then(|n| n.parse().ok())
}

/// A v2 `AttachmentBulk`. `Err` names what is missing: an attachment without an id or a
/// download link cannot be mirrored, and must not vanish silently from a listing.
pub(crate) fn attachment_from_v2(a: &Value) -> Result<Attachment, &'static str> {
    let download = text(a, "downloadLink")
        .or_else(|| a.get("_links").and_then(|l| text(l, "download")))
        .ok_or("an attachment without downloadLink")?;
    Ok(Attachment {
        id: attachment_id(a).ok_or("an attachment without id")?,
        file_name: text(a, "title").unwrap_or_default(),
        media_type: text(a, "mediaType"),
        file_size: a.get("fileSize").and_then(uint),
        version: version_number(a.get("version"))
            .or_else(|| link_version(&download))
            .unwrap_or(0),
        download,
    })
}

/// A v1 attachment content item (`title` = file name, `extensions.{mediaType,fileSize}`,
/// `metadata.mediaType`, `_links.download`); same contract as [`attachment_from_v2`].
pub(crate) fn attachment_from_v1(a: &Value) -> Result<Attachment, &'static str> {
    let download = a
        .get("_links")
        .and_then(|l| text(l, "download"))
        .ok_or("an attachment without _links.download")?;
    let ext = a.get("extensions");
    Ok(Attachment {
        id: attachment_id(a).ok_or("an attachment without id")?,
        file_name: text(a, "title").unwrap_or_default(),
        media_type: ext
            .and_then(|e| text(e, "mediaType"))
            .or_else(|| a.get("metadata").and_then(|m| text(m, "mediaType"))),
        file_size: ext.and_then(|e| e.get("fileSize")).and_then(uint),
        version: version_number(a.get("version"))
            .or_else(|| link_version(&download))
            .unwrap_or(0),
        download,
    })
}

/// An instant: RFC 3339 (`Z` or `+02:00`), `+0200` offsets, a local time without zone (read
/// as UTC), or epoch milliseconds.
pub(crate) fn instant(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(ms) = v.as_i64() {
        return DateTime::from_timestamp_millis(ms);
    }
    let s = v.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    s.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

/// `base` + `rel` for web links; `rel` kept when already absolute.
pub(crate) fn absolute(base: Option<&str>, rel: Option<String>) -> Option<String> {
    let rel = rel?;
    if rel.starts_with("http://") || rel.starts_with("https://") {
        return Some(rel);
    }
    let base = base?.trim_end_matches('/');
    Some(format!("{base}{rel}"))
}

/// A v1 `Content` object (either flavour) as a [`Page`]; `web_base` stands in for a missing
/// `_links.base`.
pub(crate) fn page_from_v1(c: &Value, web_base: &str) -> Option<Page> {
    let id = content_id(c)?;
    let version = c.get("version");
    let history = c.get("history");
    let links = c.get("_links");
    let base = links
        .and_then(|l| text(l, "base"))
        .unwrap_or_else(|| web_base.to_owned());
    Some(Page {
        id,
        content_type: ContentKind::parse(&text(c, "type").unwrap_or_else(|| "page".into())),
        title: text(c, "title").unwrap_or_default(),
        space_key: c.get("space").and_then(|s| text(s, "key")),
        space_id: c.get("space").and_then(|s| text(s, "id")),
        status: ContentStatus::parse(&text(c, "status").unwrap_or_else(|| "current".into())),
        version: version
            .and_then(|v| v.get("number"))
            .and_then(uint)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        minor_edit: version
            .and_then(|v| v.get("minorEdit"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_by: history
            .and_then(|h| h.get("createdBy"))
            .and_then(UserRef::from_v1),
        last_modifier: version
            .and_then(|v| v.get("by"))
            .and_then(UserRef::from_v1)
            .or_else(|| {
                history
                    .and_then(|h| h.get("lastUpdated"))
                    .and_then(|l| l.get("by"))
                    .and_then(UserRef::from_v1)
            }),
        last_modified: version
            .and_then(|v| v.get("when"))
            .and_then(instant)
            .or_else(|| {
                history
                    .and_then(|h| h.get("lastUpdated"))
                    .and_then(|l| l.get("when"))
                    .and_then(instant)
            }),
        web_url: absolute(Some(&base), links.and_then(|l| text(l, "webui"))),
        tiny_url: absolute(Some(&base), links.and_then(|l| text(l, "tinyui"))),
        parent_id: v1_parent(c),
    })
}

/// The direct parent page from `expand=ancestors` (root first, so the parent is last).
/// Only a page's ancestors are its parent pages (a comment's are comments); an ancestor
/// without a `type` is taken as a page, the only kind pages have above them.
fn v1_parent(c: &Value) -> Option<u64> {
    if text(c, "type").is_some_and(|t| t != "page") {
        return None;
    }
    let last = c.get("ancestors")?.as_array()?.last()?;
    if text(last, "type").is_some_and(|t| t != "page") {
        return None;
    }
    content_id(last)
}

/// v2 `parentId` when `parentType` is `page`. Other parent types (folder, whiteboard,
/// database, embed) are not pages, so the page counts as top-level. A missing `parentType`
/// is read as a page: answers older than that field could only have page parents.
fn v2_parent(c: &Value) -> Option<u64> {
    let id = c.get("parentId").and_then(uint)?;
    match text(c, "parentType").as_deref() {
        None | Some("page") => Some(id),
        Some(_) => None,
    }
}

/// A v2 `PageSingle`/`BlogPostSingle` as a [`Page`] (space key filled in by the caller).
pub(crate) fn page_from_v2(c: &Value, kind: ContentKind, web_base: &str) -> Option<Page> {
    let id = content_id(c)?;
    let version = c.get("version");
    let links = c.get("_links");
    let base = links
        .and_then(|l| text(l, "base"))
        .unwrap_or_else(|| web_base.to_owned());
    Some(Page {
        id,
        content_type: kind,
        title: text(c, "title").unwrap_or_default(),
        space_key: None,
        space_id: text(c, "spaceId"),
        status: ContentStatus::parse(&text(c, "status").unwrap_or_else(|| "current".into())),
        version: version
            .and_then(|v| v.get("number"))
            .and_then(uint)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        minor_edit: version
            .and_then(|v| v.get("minorEdit"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_by: text(c, "authorId").map(|a| UserRef::account(&a)),
        last_modifier: version
            .and_then(|v| text(v, "authorId"))
            .map(|a| UserRef::account(&a)),
        last_modified: version.and_then(|v| v.get("createdAt")).and_then(instant),
        web_url: absolute(Some(&base), links.and_then(|l| text(l, "webui"))),
        tiny_url: absolute(Some(&base), links.and_then(|l| text(l, "tinyui"))),
        parent_id: v2_parent(c),
    })
}

/// A search result (`/rest/api/search` item with `content`, or a plain content item from
/// `/rest/api/content/search`); `None` for non-content results (spaces, users).
pub(crate) fn hit_from_search(r: &Value) -> Option<SearchHit> {
    let content = match r.get("content") {
        Some(c) if c.is_object() => c,
        _ if r.get("entityType").is_some() => return None,
        _ => r,
    };
    let id = content_id(content)?;
    let version = content.get("version");
    let title = text(content, "title")
        .or_else(|| text(r, "title"))
        .map(|t| super::cql::strip_highlight(&t))
        .unwrap_or_default();
    let space_key = content
        .get("space")
        .and_then(|s| text(s, "key"))
        .or_else(|| {
            // `resultGlobalContainer.displayUrl` is `/spaces/KEY` (Cloud) or `/display/KEY`.
            let url = r
                .get("resultGlobalContainer")
                .and_then(|g| text(g, "displayUrl"))?;
            let key = url.rsplit('/').next()?;
            (!key.is_empty()).then(|| key.to_owned())
        });
    Some(SearchHit {
        id,
        content_type: ContentKind::parse(&text(content, "type").unwrap_or_else(|| "page".into())),
        status: text(content, "status").map(|s| ContentStatus::parse(&s)),
        title,
        space_key,
        version: version
            .and_then(|v| v.get("number"))
            .and_then(uint)
            .and_then(|n| u32::try_from(n).ok()),
        minor_edit: version
            .and_then(|v| v.get("minorEdit"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        last_modifier: version.and_then(|v| v.get("by")).and_then(UserRef::from_v1),
        last_modified: version
            .and_then(|v| v.get("when"))
            .and_then(instant)
            .or_else(|| r.get("lastModified").and_then(instant)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_in_every_documented_shape() {
        let z = instant(&json!("2024-05-01T10:00:00.000Z")).unwrap();
        assert_eq!(instant(&json!("2024-05-01T12:00:00.000+02:00")), Some(z));
        assert_eq!(instant(&json!("2024-05-01T12:00:00.000+0200")), Some(z));
        assert_eq!(instant(&json!(z.timestamp_millis())), Some(z));
    }

    #[test]
    fn ids_as_numbers_or_strings() {
        assert_eq!(
            content_id(&json!({"id": "5000000001"})),
            Some(5_000_000_001)
        );
        assert_eq!(content_id(&json!({"id": 42})), Some(42));
        assert_eq!(content_id(&json!({"id": "att77"})), Some(77));
    }

    #[test]
    fn search_items_with_or_without_content_wrapper() {
        let wrapped = json!({"content": {"id": "7", "type": "blogpost", "title": "T", "version": {"number": 3, "when": "2024-05-01T10:00:00Z"}}, "title": "@@@hl@@@T@@@endhl@@@", "entityType": "content", "resultGlobalContainer": {"displayUrl": "/display/DOC"}});
        let h = hit_from_search(&wrapped).unwrap();
        assert_eq!(
            (h.id, h.version, h.space_key.as_deref()),
            (7, Some(3), Some("DOC"))
        );
        assert_eq!(h.content_type, ContentKind::BlogPost);
        assert!(hit_from_search(&json!({"entityType": "space", "space": {"key": "X"}})).is_none());
        let plain = json!({"id": 8, "type": "page", "title": "P"});
        assert_eq!(hit_from_search(&plain).unwrap().id, 8);
    }

    #[test]
    fn parents_from_v2_parent_type_and_v1_ancestors() {
        let v2 = |parent: Value, kind: Value| {
            let p = json!({"id": "9", "parentId": parent, "parentType": kind});
            page_from_v2(&p, ContentKind::Page, "https://x/wiki")
                .unwrap()
                .parent_id
        };
        assert_eq!(v2(json!("5000000001"), json!("page")), Some(5_000_000_001));
        assert_eq!(v2(json!(null), json!(null)), None);
        for not_a_page in ["folder", "whiteboard", "database", "embed"] {
            assert_eq!(v2(json!("7"), json!(not_a_page)), None, "{not_a_page}");
        }
        let no_type = json!({"id": "9", "parentId": "7"});
        let p = page_from_v2(&no_type, ContentKind::Page, "https://x/wiki").unwrap();
        assert_eq!(p.parent_id, Some(7));

        let v1 = |c: Value| page_from_v1(&c, "https://dc/c").unwrap().parent_id;
        let chain = json!([{"id": "1", "type": "page"}, {"id": "2", "type": "page"}]);
        assert_eq!(
            v1(json!({"id": "3", "type": "page", "ancestors": chain})),
            Some(2)
        );
        assert_eq!(
            v1(json!({"id": "3", "type": "page", "ancestors": []})),
            None
        );
        assert_eq!(v1(json!({"id": "3", "type": "page"})), None, "not expanded");
        let reply =
            json!({"id": "4", "type": "comment", "ancestors": [{"id": "3", "type": "comment"}]});
        assert_eq!(v1(reply), None);
    }

    #[test]
    fn attachments_from_v2_and_v1_items() {
        let v2 = json!({"id": "att5000000007", "title": "a b.pdf", "mediaType": "application/pdf",
            "fileSize": 12, "version": {"number": 3},
            "downloadLink": "/download/attachments/9/a%20b.pdf?version=3&api=v2",
            "_links": {"download": "/ignored"}});
        let a = attachment_from_v2(&v2).unwrap();
        assert_eq!(
            a,
            Attachment {
                id: "5000000007".into(),
                file_name: "a b.pdf".into(),
                media_type: Some("application/pdf".into()),
                file_size: Some(12),
                version: 3,
                download: "/download/attachments/9/a%20b.pdf?version=3&api=v2".into(),
            }
        );
        let only_links = json!({"id": "att8", "title": "x", "_links": {"download": "/download/attachments/9/x?version=2"}});
        let a = attachment_from_v2(&only_links).unwrap();
        assert_eq!(
            (a.id.as_str(), a.version),
            ("8", 2),
            "version from the link"
        );
        assert!(attachment_from_v2(&json!({"id": "att8", "title": "x"})).is_err());

        let v1 = json!({"id": "77", "type": "attachment", "title": "s.png",
            "version": {"number": 1}, "metadata": {"mediaType": "image/png"},
            "extensions": {"fileSize": "4"}, "_links": {"download": "/download/attachments/9/s.png?version=1"}});
        let a = attachment_from_v1(&v1).unwrap();
        assert_eq!(
            (
                a.id.as_str(),
                a.media_type.as_deref(),
                a.file_size,
                a.version
            ),
            ("77", Some("image/png"), Some(4), 1)
        );
        let odd = json!({"id": "attachment-x", "_links": {"download": "/d"}});
        assert_eq!(attachment_from_v1(&odd).unwrap().id, "attachment-x");
    }
}
