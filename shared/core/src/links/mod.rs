//! Confluence URLs as people paste them → what they point at (DESIGN §2.1, docs §7).
//!
//! Pure: no IO. A URL whose form names the content id resolves to it directly; a Data
//! Center `/display/KEY/Title` (or `viewpage.action?spaceKey=&title=`) needs a title lookup,
//! which the caller does through the Confluence client. Only URLs on the configured site are
//! accepted; anything else is refused with a reason and must never be fetched.
//!
//! - [`resolve`]: scheme and host checks, then the path is matched with the site's base path
//!   (`/wiki`, a DC context path) stripped, then as it is (Cloud custom domains appear to
//!   drop `/wiki`), then without a leading `/wiki` (a base configured without it).
//!   The forms themselves are in `forms.rs`.
//! - [`tiny`]: the `/x/{code}` tiny-link codec.
//! - [`find_urls`]: URLs in task text (`text.rs`).

mod forms;
mod text;
pub mod tiny;

#[cfg(test)]
mod tests;

use thiserror::Error;
use url::Url;

pub use text::find_urls;

/// What a pasted link points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkTarget {
    /// A page, blog post or other content, by id.
    Content(u64),
    /// Found by title in a space (Data Center display URLs). `posting_day` (yyyy-mm-dd) for
    /// blog posts.
    Title {
        space_key: String,
        title: String,
        posting_day: Option<String>,
    },
    /// A space's home page.
    SpaceHome { space_key: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("not a URL")]
    NotAUrl,
    #[error("{host} is not the configured Confluence site")]
    ForeignHost { host: String },
    #[error("not a link to Confluence content: {0}")]
    Unrecognised(String),
}

/// The configured site, as links are matched against it.
#[derive(Clone, Debug)]
pub struct Site {
    base: Url,
    /// The base URL's non-empty path segments, still percent-encoded (`["wiki"]`,
    /// `["confluence"]`, or none).
    prefix: Vec<String>,
}

impl Site {
    /// `base` is `BRIDGE_CONFLUENCE_URL` (Cloud `https://x.atlassian.net/wiki`, DC
    /// `https://host/ctx`).
    pub fn new(base: Url) -> Self {
        let prefix = segments(&base).into_iter().map(str::to_owned).collect();
        Self { base, prefix }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }
}

/// Resolves `url` (as pasted: possibly with anchors, tracking parameters, `pageVersion`,
/// trailing slashes) against `site`.
///
/// Accepts `http` and `https` whatever the base's scheme (browsers redirect one to the
/// other), on the base's host and port only. A URL pasted without its scheme
/// (`host/wiki/x/abc`) is read as `https://` when it starts with the site's host.
///
/// ```
/// use bridge_core::links::{LinkError, LinkTarget, Site, resolve};
///
/// let site = Site::new("https://acme.atlassian.net/wiki".parse().unwrap());
/// let page = resolve("https://acme.atlassian.net/wiki/x/3YE5C", &site);
/// assert_eq!(page, Ok(LinkTarget::Content(137_986_525)));
/// let elsewhere = resolve("https://evil.example/wiki/x/3YE5C", &site);
/// assert!(matches!(elsewhere, Err(LinkError::ForeignHost { .. })));
/// ```
pub fn resolve(url: &str, site: &Site) -> Result<LinkTarget, LinkError> {
    let parsed = parse(url.trim(), site)?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(LinkError::Unrecognised(format!(
                "{other}: links are followed only over http and https"
            )));
        }
    }
    let host = parsed.host_str().unwrap_or_default();
    let same_host = site
        .base
        .host_str()
        .is_some_and(|base| base.eq_ignore_ascii_case(host));
    if !same_host || parsed.port() != site.base.port() {
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        return Err(LinkError::ForeignHost { host });
    }

    let path = segments(&parsed);
    let query = forms::Query::new(&parsed);
    let mut first_error = None;
    for candidate in candidates(&site.prefix, &path) {
        match forms::match_path(candidate, &query) {
            Ok(target) => return Ok(target),
            Err(reason) => {
                first_error.get_or_insert(reason);
            }
        }
    }
    let reason = first_error.unwrap_or_else(|| "empty path".to_owned());
    Err(LinkError::Unrecognised(format!(
        "{}: {reason}",
        parsed.path()
    )))
}

/// Parses a pasted URL; one without a scheme that starts with the site's host gets `https://`.
fn parse(text: &str, site: &Site) -> Result<Url, LinkError> {
    match Url::parse(text) {
        Ok(url) => Ok(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let host = site.base.host_str().ok_or(LinkError::NotAUrl)?;
            let starts_with_host = text
                .get(..host.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(host))
                && matches!(text.as_bytes().get(host.len()), None | Some(b'/' | b':'));
            if !starts_with_host {
                return Err(LinkError::NotAUrl);
            }
            Url::parse(&format!("https://{text}")).map_err(|_| LinkError::NotAUrl)
        }
        Err(_) => Err(LinkError::NotAUrl),
    }
}

/// The URL's non-empty path segments, percent-encoded as in the URL.
fn segments(url: &Url) -> Vec<&str> {
    url.path_segments()
        .map(|segments| segments.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// The paths to try, most specific first: without the site's base path when the URL has it,
/// as it is, and without a leading `wiki`.
fn candidates<'a>(prefix: &[String], path: &'a [&'a str]) -> Vec<&'a [&'a str]> {
    let mut out: Vec<&[&str]> = Vec::with_capacity(3);
    let has_prefix = !prefix.is_empty()
        && path.len() >= prefix.len()
        && prefix.iter().zip(path).all(|(p, s)| p == s);
    if has_prefix {
        out.push(path.get(prefix.len()..).unwrap_or_default());
    }
    out.push(path);
    if path.first() == Some(&"wiki") {
        out.push(path.get(1..).unwrap_or_default());
    }
    out
}
