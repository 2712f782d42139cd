//! URLs in a task's text: plain text, BB-code (`[url]…[/url]`, `[url=…]…[/url]`), HTML-ish
//! markup and Markdown links.

use std::collections::HashSet;

/// Every `http(s)://` URL in a task's text, in order, without duplicates. Callers then keep
/// those that [`resolve`](super::resolve).
///
/// A URL ends at whitespace, at a character URLs do not hold unencoded (`<>"[]{}|\^` and the
/// backtick), at typographic quotes (`«»“”„‘’`), or at the quote it was opened with (`'…'`).
/// In running text, trailing sentence punctuation (`.,;:!?'*…`) is dropped, and so is a
/// trailing `)` without its `(` (`(see https://…/Page)`), while `https://…/Title_(draft)`
/// keeps its own; a URL whose end is marked (quoted, or in BB-code) keeps them. HTML
/// entities end a URL (`&quot;`, `&gt;`…) except `&amp;`, which is read as `&`.
pub fn find_urls(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut from = 0;
    while let Some((start, host_at)) = next_scheme(text, from) {
        let opener = text.get(..start).and_then(|head| head.chars().next_back());
        let end = url_end(text, host_at, opener);
        from = end.max(host_at);
        // Between quotes or in BB-code (`[url=…]`, `[url]…[/url]`) the URL's end is marked, so
        // its last characters are its own.
        let marked = matches!(opener, Some('"' | '\'' | '=' | ']'));
        let Some(url) = text.get(start..end).map(|raw| clean(raw, !marked)) else {
            continue;
        };
        let has_host = url
            .get(host_at - start..)
            .is_some_and(|rest| rest.chars().next().is_some_and(|c| c != '/'));
        if has_host && seen.insert(url.clone()) {
            out.push(url);
        }
    }
    out
}

/// The next `http://` or `https://` (any case) at or after byte `from`: (its start, the
/// index right after `://`).
fn next_scheme(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let starts = |at: usize, pattern: &str| {
        bytes
            .get(at..at + pattern.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(pattern.as_bytes()))
    };
    (from..bytes.len()).find_map(|at| {
        if starts(at, "http://") {
            Some((at, at + 7))
        } else if starts(at, "https://") {
            Some((at, at + 8))
        } else {
            None
        }
    })
}

/// Where the URL whose host starts at `host_at` ends (exclusive byte index).
fn url_end(text: &str, host_at: usize, opener: Option<char>) -> usize {
    let closer = match opener {
        Some('\'') => Some('\''),
        Some('"') => Some('"'),
        _ => None,
    };
    let rest = text.get(host_at..).unwrap_or_default();
    // An IPv6 literal host (`http://[::1]:8090/`) holds brackets.
    let skip = if rest.starts_with('[') {
        rest.find(']').map_or(0, |i| i + 1)
    } else {
        0
    };
    let tail = rest.get(skip..).unwrap_or_default();
    let len = tail
        .char_indices()
        .find(|&(_, c)| Some(c) == closer || ends_url(c))
        .map_or(tail.len(), |(i, _)| i);
    host_at + skip + len
}

fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '<' | '>'
                | '"'
                | '['
                | ']'
                | '{'
                | '}'
                | '|'
                | '\\'
                | '^'
                | '`'
                | '«'
                | '»'
                | '“'
                | '”'
                | '„'
                | '‘'
                | '’'
        )
}

/// Cuts HTML entities and (when `strip_punctuation`) trailing punctuation, and reads `&amp;`
/// as `&`.
fn clean(raw: &str, strip_punctuation: bool) -> String {
    let mut url = raw;
    for entity in [
        "&quot;", "&lt;", "&gt;", "&#39;", "&#34;", "&#x27;", "&nbsp;", "&#160;",
    ] {
        if let Some(at) = url.find(entity) {
            url = url.get(..at).unwrap_or_default();
        }
    }
    if strip_punctuation {
        url = strip_trailing_punctuation(url);
    }
    url.replace("&amp;", "&")
}

/// Drops trailing `.,;:!?'*…`, and `)` while the URL has more `)` than `(`. Linear: the
/// parentheses are counted once.
fn strip_trailing_punctuation(url: &str) -> &str {
    let mut unbalanced = url
        .matches(')')
        .count()
        .saturating_sub(url.matches('(').count());
    let mut url = url;
    while let Some(last) = url.chars().next_back() {
        let drop = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '…' => true,
            ')' if unbalanced > 0 => {
                unbalanced -= 1;
                true
            }
            _ => false,
        };
        if !drop {
            break;
        }
        url = url.get(..url.len() - last.len_utf8()).unwrap_or_default();
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_punctuation() {
        let text = "See https://x.atlassian.net/wiki/x/3YE5C, then (https://x.atlassian.net/wiki/spaces/A/pages/1/T).\n\
                    Also https://x.atlassian.net/wiki/spaces/A/pages/2/Title_(draft)! and http://dc/display/A/B+C;";
        assert_eq!(
            find_urls(text),
            [
                "https://x.atlassian.net/wiki/x/3YE5C",
                "https://x.atlassian.net/wiki/spaces/A/pages/1/T",
                "https://x.atlassian.net/wiki/spaces/A/pages/2/Title_(draft)",
                "http://dc/display/A/B+C",
            ]
        );
    }

    #[test]
    fn bb_code() {
        let text = "[url=https://h/wiki/x/U4I]the page[/url] and [URL]https://h/wiki/x/iADiE[/URL] \
                    and [url=\"https://h/wiki/x/elyKDQ\"]q[/url] again [url]https://h/wiki/x/U4I[/url]";
        assert_eq!(
            find_urls(text),
            [
                "https://h/wiki/x/U4I",
                "https://h/wiki/x/iADiE",
                "https://h/wiki/x/elyKDQ"
            ]
        );
    }

    #[test]
    fn html_and_markdown() {
        let text = r#"<p><a href="https://h/pages/viewpage.action?pageId=1&amp;pageVersion=2">x</a>
            <a href='https://h/display/K/It's+Here'>y</a> [md](https://h/x/3YE5C)
            &lt;https://h/x/U4I&gt; «https://h/x/iADiE» “https://h/x/FgAXPg”</p>
            [url=https://h/display/K/Version+1.]v1.[/url] <a href="https://h/display/K/Why?">"#;
        assert_eq!(
            find_urls(text),
            [
                "https://h/pages/viewpage.action?pageId=1&pageVersion=2",
                "https://h/display/K/It",
                "https://h/x/3YE5C",
                "https://h/x/U4I",
                "https://h/x/iADiE",
                "https://h/x/FgAXPg",
                "https://h/display/K/Version+1.",
                "https://h/display/K/Why?",
            ]
        );
    }

    #[test]
    fn schemes_hosts_and_oddities() {
        assert_eq!(
            find_urls("HTTPS://H/x/A and https:// and https:///x"),
            ["HTTPS://H/x/A"]
        );
        assert_eq!(
            find_urls("http://[::1]:8090/x/A]"),
            ["http://[::1]:8090/x/A"]
        );
        assert_eq!(
            find_urls("https://h/a?u=https://h/b"),
            ["https://h/a?u=https://h/b"]
        );
        assert_eq!(
            find_urls("Ссылка:https://h/display/K/Привет+мир."),
            ["https://h/display/K/Привет+мир"]
        );
        assert!(find_urls("").is_empty());
        assert!(find_urls("no links here, http:/ nor ftp://h/x").is_empty());
    }
}
