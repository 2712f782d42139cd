//! Confluence storage format → HTML (classic B24 knowledge base), Markdown (Knowledge Base
//! 2.0) and BB-code (chat, comments, previews).
//!
//! Pure: no IO, no clock, no global state. Everything the conversion needs from outside
//! (user names, page URLs, where attachments live) comes in a [`Context`]; everything that
//! could not be rendered faithfully is counted in the [`Report`]. Conversion never fails and
//! never panics: input that is not markup is kept as text.
//!
//! One intermediate step serves all outputs: a tolerant tokenizer builds a small tree
//! (`parse`), `semantic` turns each `ac:`/`ri:` construct into one meaning, and one renderer
//! per output writes it.

mod bb;
mod html;
mod md;
mod parse;
mod semantic;

use std::collections::BTreeMap;
use std::fmt;

/// A page a link points at, as storage format names it (by title, rarely by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRef<'a> {
    pub title: &'a str,
    pub space_key: Option<&'a str>,
    /// `ri:content-id` when the link carries one.
    pub content_id: Option<&'a str>,
}

/// Resolves a page reference to a URL (for example to the mirrored page).
pub type PageResolver = Box<dyn Fn(&PageRef<'_>) -> Option<String> + Send + Sync>;

/// What the conversion needs from outside. Every part is optional: without it the
/// construct degrades (a mention shows its id, a page link becomes plain text) and the
/// report says so.
#[derive(Default)]
pub struct Context {
    /// Cloud account id, DC user key or DC username → display name.
    pub users: BTreeMap<String, String>,
    /// Page title → URL (checked before `page_resolver`).
    pub pages: BTreeMap<String, String>,
    pub page_resolver: Option<PageResolver>,
    /// Prefix for attachment URLs; the percent-encoded file name is appended. Without it,
    /// attachment links and images use the bare file name and the report counts them.
    pub attachment_base: Option<String>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("users", &self.users.len())
            .field("pages", &self.pages.len())
            .field("page_resolver", &self.page_resolver.is_some())
            .field("attachment_base", &self.attachment_base)
            .finish()
    }
}

/// Every construct that was approximated or dropped, with how often.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// For example `"macro:jira approximated" → 2`, `"unknown macro: drawio" → 1`.
    pub items: BTreeMap<String, usize>,
}

impl Report {
    pub(crate) fn note(&mut self, what: impl Into<String>) {
        *self.items.entry(what.into()).or_default() += 1;
    }

    /// True when everything was rendered faithfully.
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (what, n) in &self.items {
            writeln!(f, "{n:>5}  {what}")?;
        }
        Ok(())
    }
}

/// The output and what it could not render faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub output: String,
    pub report: Report,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Html,
    Markdown,
    BbCode,
}

/// Convert to `format`.
pub fn convert(storage: &str, ctx: &Context, format: Format) -> Converted {
    match format {
        Format::Html => to_html(storage, ctx),
        Format::Markdown => to_markdown(storage, ctx),
        Format::BbCode => to_bbcode(storage, ctx),
    }
}

/// HTML for the classic knowledge base; every text and attribute value is escaped, only
/// known-safe elements and attributes pass, links only with safe schemes.
pub fn to_html(storage: &str, ctx: &Context) -> Converted {
    let tree = parse::parse(storage);
    let mut report = Report::default();
    let output = html::render(&tree, ctx, &mut report);
    Converted { output, report }
}

/// Markdown (CommonMark with GFM tables and task lists) for Knowledge Base 2.0.
pub fn to_markdown(storage: &str, ctx: &Context) -> Converted {
    let tree = parse::parse(storage);
    let mut report = Report::default();
    let output = md::render(&tree, ctx, &mut report);
    Converted { output, report }
}

/// Bitrix24 BB-code for chat messages and comments.
pub fn to_bbcode(storage: &str, ctx: &Context) -> Converted {
    let tree = parse::parse(storage);
    let mut report = Report::default();
    let output = bb::render(&tree, ctx, &mut report);
    Converted { output, report }
}

/// Words of the visible text of a storage-format body (maximal alphanumeric runs of each
/// text node): text and CDATA outside tags,
/// excluding macro parameters, ADF attributes and fallbacks, task ids/status, placeholders,
/// scripts and styles. Used to check that conversion keeps every text run.
pub fn visible_words(storage: &str) -> Vec<String> {
    fn walk(nodes: &[parse::Node], out: &mut String) {
        for n in nodes {
            match n {
                parse::Node::Text(t) | parse::Node::Cdata(t) => {
                    out.push(' ');
                    out.push_str(t);
                    out.push(' ');
                }
                parse::Node::El(e) => {
                    if !semantic::INVISIBLE.contains(&e.name.as_str()) {
                        walk(&e.children, out);
                    }
                }
            }
        }
    }
    let mut text = String::new();
    walk(&parse::parse(storage), &mut text);
    words(&text)
}

/// Words of plain text: maximal runs of alphanumeric characters.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The text of an HTML output (tags skipped, entities decoded), for checks.
pub fn html_text(html: &str) -> String {
    parse::text_of(&parse::parse(html))
}
