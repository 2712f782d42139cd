//! CQL query building (docs §3). Values go into double-quoted literals with backslash
//! escaping: backslash first (`\` → `\\`), then `"` → `\"`. The whole query is URL-encoded by
//! the HTTP layer (it is a query parameter), never here.

use chrono::{DateTime, Utc};

/// `s` escaped for use inside a double-quoted CQL literal.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            // A raw line break would end nothing in CQL but breaks some parsers; a space
            // matches the same words.
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as a double-quoted CQL literal.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// A date literal in the commonly accepted `"yyyy/MM/dd HH:mm"` form (minute precision,
/// read in the API user's time zone by the server — callers overlap generously).
pub fn date_literal(at: DateTime<Utc>) -> String {
    format!("\"{}\"", at.format("%Y/%m/%d %H:%M"))
}

/// Pages and blog posts modified at or after `since` (minute precision), newest last.
pub fn modified_since(since: DateTime<Utc>) -> String {
    format!(
        "type in (page, blogpost) and lastmodified >= {} order by lastmodified asc",
        date_literal(since)
    )
}

/// Same as [`modified_since`], newest first. With offset paging, an edit made while a sweep
/// pages moves that page to the front, so already-read positions shift: in this order only
/// content edited during the sweep can be skipped (and the next sweep finds it), never older
/// content.
pub fn modified_since_newest_first(since: DateTime<Utc>) -> String {
    format!(
        "type in (page, blogpost) and lastmodified >= {} order by lastmodified desc",
        date_literal(since)
    )
}

/// The page titled exactly `title` in space `space_key`.
pub fn page_by_title(space_key: &str, title: &str) -> String {
    format!(
        "type = page and space = {} and title = {}",
        quote(space_key),
        quote(title)
    )
}

/// Removes search highlighting (`@@@hl@@@term@@@endhl@@@`) from a title or excerpt.
pub fn strip_highlight(s: &str) -> String {
    s.replace("@@@hl@@@", "").replace("@@@endhl@@@", "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backslash_is_escaped_before_quotes() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(quote(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(escape(r#"\""#), r#"\\\""#);
    }

    #[test]
    fn dates_have_minute_precision() {
        let t = Utc.with_ymd_and_hms(2024, 1, 31, 9, 5, 59).unwrap();
        assert_eq!(date_literal(t), "\"2024/01/31 09:05\"");
        assert_eq!(
            modified_since(t),
            "type in (page, blogpost) and lastmodified >= \"2024/01/31 09:05\" order by lastmodified asc"
        );
    }

    #[test]
    fn highlight_is_stripped() {
        assert_eq!(strip_highlight("@@@hl@@@Run@@@endhl@@@book"), "Runbook");
    }
}
