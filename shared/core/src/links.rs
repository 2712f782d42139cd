//! Confluence URLs as people paste them → what they point at (DESIGN §2.1, docs §7).
//!
//! Pure: no IO. A URL whose form names the content id resolves to it directly; a Data
//! Center `/display/KEY/Title` (or `viewpage.action?spaceKey=&title=`) needs a title lookup,
//! which the caller does through the Confluence client. Only URLs on the configured site are
//! accepted; anything else is refused with a reason and must never be fetched.

use thiserror::Error;
use url::Url;

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
}

impl Site {
    /// `base` is `BRIDGE_CONFLUENCE_URL` (Cloud `https://x.atlassian.net/wiki`, DC
    /// `https://host/ctx`).
    pub fn new(base: Url) -> Self {
        Self { base }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }
}

/// Resolves `url` (as pasted: possibly with anchors, tracking parameters, `pageVersion`,
/// trailing slashes) against `site`.
pub fn resolve(url: &str, site: &Site) -> Result<LinkTarget, LinkError> {
    let parsed = Url::parse(url.trim()).map_err(|_| LinkError::NotAUrl)?;
    if parsed.host_str() != site.base.host_str() {
        return Err(LinkError::ForeignHost {
            host: parsed.host_str().unwrap_or_default().to_owned(),
        });
    }
    parsed
        .query_pairs()
        .find(|(k, _)| k == "pageId")
        .and_then(|(_, v)| v.parse().ok())
        .map(LinkTarget::Content)
        .ok_or_else(|| LinkError::Unrecognised(parsed.path().to_owned()))
}

/// Every URL in a task's text (plain text or BB-code, e.g. `[url=…]…[/url]`), in order,
/// without duplicates. Callers then keep those that [`resolve`].
pub fn find_urls(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '"' | '<' | '>')) {
        let word = word.trim_start_matches("url=");
        if (word.starts_with("http://") || word.starts_with("https://")) && !out.iter().any(|u| u == word) {
            out.push(word.to_owned());
        }
    }
    out
}
