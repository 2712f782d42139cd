//! Query strings and the two paging styles: v1 offset (`start`/`limit`, `_links.next`
//! relative to `_links.base`) and cursors (v2 and Cloud search: opaque `cursor`, `_links.next`
//! site-root-relative with `/wiki`, v2 also a `Link` header).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A parsed query string that keeps repeated keys.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (also `key[]`), repeated or comma-separated.
    pub fn all(&self, key: &str) -> Vec<String> {
        let bracket = format!("{key}[]");
        self.0
            .iter()
            .filter(|(k, _)| k == key || *k == bracket)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>, String> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| format!("{key} must be a non-negative integer, got {v:?}")),
        }
    }

    /// The query with `replace` keys set (others kept, in order), `drop` keys removed.
    pub fn with(&self, replace: &[(&str, String)], drop: &[&str]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if drop.contains(&k.as_str()) || replace.iter().any(|(r, _)| r == k) {
                continue;
            }
            out.append_pair(k, v);
        }
        for (k, v) in replace {
            out.append_pair(k, v);
        }
        out.finish()
    }
}

/// One page of an offset listing: the items and whether more follow.
pub fn slice<T: Clone>(items: &[T], start: usize, limit: usize) -> (Vec<T>, bool) {
    let end = start.saturating_add(limit).min(items.len());
    let page = if start < items.len() {
        items[start..end].to_vec()
    } else {
        Vec::new()
    };
    (page, end < items.len())
}

/// An opaque cursor for an offset (clients must not parse it).
pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "sandbox-cursor:{offset}:{}",
        offset.wrapping_mul(2_654_435_761) % 9973
    ))
}

pub fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let mut parts = s.strip_prefix("sandbox-cursor:")?.split(':');
    let offset: usize = parts.next()?.parse().ok()?;
    let check: usize = parts.next()?.parse().ok()?;
    (check == offset.wrapping_mul(2_654_435_761) % 9973).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(75)), Some(75));
        assert_eq!(decode_cursor("abc"), None);
    }

    #[test]
    fn query_keeps_repeats_and_brackets() {
        let q = Query::parse(Some("status=current&status[]=trashed,draft&limit=5"));
        assert_eq!(q.all("status"), ["current", "trashed", "draft"]);
        assert_eq!(
            q.with(&[("limit", "9".into())], &["status", "status[]"]),
            "limit=9"
        );
    }
}
