//! The URL forms of docs §7, matched on a path with the site's base path already stripped.
//!
//! Cloud and Data Center forms are tried alike: their paths do not collide, DC sites have
//! been seen answering with Cloud-style `/spaces/KEY/pages/ID` URLs and Cloud still
//! redirects the DC `/display/` form. Literal segments match case-insensitively; space keys
//! and titles keep their case.

use super::{LinkTarget, tiny};
use url::Url;

/// A URL's query parameters, decoded (`+` is a space). Keys pasted from HTML as `amp;title`
/// (an unescaped `&amp;`) are read as `title`.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn new(url: &Url) -> Self {
        Self(
            url.query_pairs()
                .map(|(key, value)| {
                    let key = key.strip_prefix("amp;").unwrap_or(&key).to_owned();
                    (key, value.into_owned())
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The target of `path` (non-empty segments, percent-encoded), or why it is none.
pub(super) fn match_path(path: &[&str], query: &Query) -> Result<LinkTarget, String> {
    let by_form = match path {
        [] => Err("no path".to_owned()),
        [first, rest @ ..] if is(first, "spaces") => space_form(rest, query),
        [first, rest @ ..] if is(first, "display") => display_form(rest),
        [first, code] if is(first, "x") => tiny::decode(code)
            .map(LinkTarget::Content)
            .ok_or_else(|| format!("{code:?} is not a tiny-link code")),
        [first, ..] if is(first, "x") => Err("a tiny link has one code after /x/".to_owned()),
        [first, second, third, id, ..]
            if is(first, "rest") && is(second, "api") && is(third, "content") =>
        {
            content_id(id).map(LinkTarget::Content)
        }
        [first, second, kind, id, ..]
            if is(first, "api")
                && is(second, "v2")
                && ["pages", "blogposts", "whiteboards", "databases", "folders"]
                    .iter()
                    .any(|k| is(kind, k)) =>
        {
            content_id(id).map(LinkTarget::Content)
        }
        _ => Err("not a Confluence content URL".to_owned()),
    };
    by_form
        .or_else(|reason| match path.last() {
            Some(last) if last.to_ascii_lowercase().ends_with(".action") => {
                action_form(last, query)
            }
            _ => Err(reason),
        })
        // The generic fallback (docs §7): a `pageId` parameter names the content on any path.
        .or_else(|reason| match query.get("pageId") {
            Some(id) => content_id(id).map(LinkTarget::Content),
            None => Err(reason),
        })
}

/// `/spaces/…` (Cloud; also DC-like sites).
fn space_form(rest: &[&str], query: &Query) -> Result<LinkTarget, String> {
    match rest {
        [] => Err("no space key after /spaces/".to_owned()),
        [action] if is(action, "viewspace.action") => {
            let key = query
                .get("key")
                .or_else(|| query.get("spaceKey"))
                .ok_or("viewspace.action without a key")?;
            Ok(LinkTarget::SpaceHome {
                space_key: checked_key(key.to_owned())?,
            })
        }
        [key] => space_home(key),
        [key, overview] if is(overview, "overview") => space_home(key),
        [_, pages, rest @ ..] if is(pages, "pages") => match rest {
            [id, ..] if is_digits(id) => content_id(id).map(LinkTarget::Content),
            [edit, id, ..] if is(edit, "edit-v2") || is(edit, "edit") => {
                content_id(id).map(LinkTarget::Content)
            }
            _ => Err("no page id after /pages/".to_owned()),
        },
        [_, blog, rest @ ..] if is(blog, "blog") => blog_form(rest),
        [_, kind, id, ..]
            if ["folder", "whiteboard", "database", "embed"]
                .iter()
                .any(|k| is(kind, k)) =>
        {
            content_id(id).map(LinkTarget::Content)
        }
        _ => Err("not a page, blog post or space home URL".to_owned()),
    }
}

/// `/spaces/{KEY}/blog/…`: `{yyyy}/{mm}/{dd}/{id}/{title}` (shape UNCONFIRMED), the edit
/// forms, or an id straight after `/blog/`.
fn blog_form(rest: &[&str]) -> Result<LinkTarget, String> {
    match rest {
        [y, m, d, tail @ ..] if posting_day(y, m, d).is_some() => match tail {
            [id, ..] => content_id(id).map(LinkTarget::Content),
            [] => Err("a day's blog posts, not one post".to_owned()),
        },
        [edit, id, ..] if is(edit, "edit-v2") || is(edit, "edit") => {
            content_id(id).map(LinkTarget::Content)
        }
        [id, ..] if is_digits(id) => content_id(id).map(LinkTarget::Content),
        _ => Err("no blog post id after /blog/".to_owned()),
    }
}

/// `/display/{KEY}`, `/display/{KEY}/{Title}`, `/display/{KEY}/{yyyy}/{mm}/{dd}/{Title}`.
fn display_form(rest: &[&str]) -> Result<LinkTarget, String> {
    match rest {
        [] => Err("no space key after /display/".to_owned()),
        [key] => space_home(key),
        [key, title] => Ok(LinkTarget::Title {
            space_key: path_key(key)?,
            title: checked_title(decode(title, true))?,
            posting_day: None,
        }),
        [key, y, m, d, title] => {
            let day = posting_day(y, m, d).ok_or("not a blog post URL (yyyy/mm/dd/Title)")?;
            Ok(LinkTarget::Title {
                space_key: path_key(key)?,
                title: checked_title(decode(title, true))?,
                posting_day: Some(day),
            })
        }
        [_, y, m, d] if posting_day(y, m, d).is_some() => {
            Err("a day's blog posts, not one post".to_owned())
        }
        _ => Err("a display URL is /display/KEY/Title or /display/KEY/yyyy/mm/dd/Title".to_owned()),
    }
}

/// `….action` pages: `resumedraft.action?draftId=`, `viewpage.action?pageId=`,
/// `viewpage.action?spaceKey=&title=`.
fn action_form(action: &str, query: &Query) -> Result<LinkTarget, String> {
    if is(action, "resumedraft.action") {
        if let Some(id) = query.get("draftId").or_else(|| query.get("pageId")) {
            return content_id(id).map(LinkTarget::Content);
        }
        return Err("resumedraft.action without a draftId".to_owned());
    }
    if let Some(id) = query.get("pageId") {
        return content_id(id).map(LinkTarget::Content);
    }
    match (query.get("spaceKey"), query.get("title")) {
        (Some(key), Some(title)) => Ok(LinkTarget::Title {
            space_key: checked_key(key.to_owned())?,
            title: checked_title(title.to_owned())?,
            posting_day: None,
        }),
        _ => Err(format!("{action} without pageId, nor spaceKey and title")),
    }
}

fn space_home(key: &str) -> Result<LinkTarget, String> {
    Ok(LinkTarget::SpaceHome {
        space_key: path_key(key)?,
    })
}

fn is(segment: &str, literal: &str) -> bool {
    segment.eq_ignore_ascii_case(literal)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A content id: decimal digits only (`u64::from_str` would also take a leading `+`).
fn content_id(s: &str) -> Result<u64, String> {
    if !is_digits(s) {
        return Err(format!("{s:?} is not a content id"));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is too large for a content id"))
}

/// `yyyy-mm-dd` from blog path segments (`2024/3/5` → `2024-03-05`), or `None`.
fn posting_day(y: &str, m: &str, d: &str) -> Option<String> {
    let number = |s: &str, max_len: usize| -> Option<u32> {
        (is_digits(s) && s.len() <= max_len)
            .then(|| s.parse().ok())
            .flatten()
    };
    let year = number(y, 4).filter(|_| y.len() == 4)?;
    let month = number(m, 2).filter(|m| (1..=12).contains(m))?;
    let day = number(d, 2).filter(|d| (1..=31).contains(d))?;
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// A space key from a path segment (percent-decoded; `+` is kept: keys never hold spaces).
fn path_key(segment: &str) -> Result<String, String> {
    checked_key(decode(segment, false))
}

/// Space keys: letters and digits, personal ones `~` + a user key or name (which may hold
/// `.`, `@`, `-`, `_`). Refused: empty, too long, whitespace, control characters, `/`.
fn checked_key(key: String) -> Result<String, String> {
    let bad = key.is_empty()
        || key.len() > 255
        || key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/');
    if bad {
        return Err(format!("{key:?} is not a space key"));
    }
    Ok(key)
}

/// Titles are stored trimmed, so surrounding spaces in a URL are noise.
fn checked_title(title: String) -> Result<String, String> {
    let trimmed = title.trim();
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return Err(format!("{title:?} is not a page title"));
    }
    Ok(trimmed.to_owned())
}

/// Percent-decodes a path segment, `+` → space when `plus_is_space`; invalid UTF-8 becomes
/// U+FFFD and a `%` not followed by two hex digits stays as it is.
fn decode(segment: &str, plus_is_space: bool) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments() {
        assert_eq!(decode("A+B%2BC", true), "A B+C");
        assert_eq!(decode("A+B", false), "A+B");
        assert_eq!(decode("%D0%9F%D1%80%D0%B8", true), "При");
        assert_eq!(decode("100%", true), "100%");
        assert_eq!(decode("%zz%4", true), "%zz%4");
        assert_eq!(decode("%FF", true), "\u{fffd}");
    }

    #[test]
    fn posting_days() {
        assert_eq!(posting_day("2024", "3", "5").as_deref(), Some("2024-03-05"));
        assert_eq!(
            posting_day("2024", "12", "31").as_deref(),
            Some("2024-12-31")
        );
        for (y, m, d) in [
            ("24", "1", "1"),
            ("2024", "13", "1"),
            ("2024", "0", "1"),
            ("2024", "1", "32"),
            ("2024", "+1", "1"),
            ("2024", "001", "1"),
        ] {
            assert_eq!(posting_day(y, m, d), None, "{y}/{m}/{d}");
        }
    }

    #[test]
    fn content_ids_are_digits_only() {
        assert_eq!(content_id("0123"), Ok(123));
        assert_eq!(content_id("18446744073709551615"), Ok(u64::MAX));
        assert!(content_id("18446744073709551616").is_err());
        assert!(content_id("+1").is_err());
        assert!(content_id("").is_err());
        assert!(content_id("1a").is_err());
    }
}
