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
    })
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
}
