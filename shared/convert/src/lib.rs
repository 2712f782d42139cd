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
//! per output writes it. The tree borrows its text from the input and lives in one arena, so
//! this costs little: HTML converts at about half the speed of lol_html's bare pass-through
//! rewrite of the same input (see `benches/convert.rs`). A lol_html streaming path for HTML
//! would not be faster: sanitising needs a handler on every element, and lol_html with a
//! no-op handler on every element runs at about a fifth of its pass-through speed; and
//! constructs such as a macro's parameters, a link's target and body, or a task list need
//! their children before they can be written, which a stream does not give.
//!
//! Markdown for Knowledge Base 2.0 is also available in parts that fit its 1 MiB limit
//! ([`to_markdown_parts`]). BB-code output keeps page text from turning into B24 markup.

mod bb;
mod html;
mod md;
mod parse;
mod semantic;
mod split;

pub use split::{KB2_MARKDOWN_LIMIT, split_markdown};

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
    /// Used for attachments missing from `attachments`.
    pub attachment_base: Option<String>,
    /// Attachment file name (as `ri:filename` gives it) → where the mirror put it. Links to
    /// and images of a mapped attachment use its URL; when the map is not empty, an
    /// attachment missing from it is counted in the report.
    pub attachments: BTreeMap<String, AttachmentTarget>,
}

/// Where one attachment of the page lives on the B24 side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentTarget {
    /// What links to and images of the attachment point at.
    pub url: String,
    /// Knowledge Base 2.0 asset markdown for the uploaded file (`note.file.add` answers it as
    /// `assetMarkdown`, for example `[[image fileId=5001]]`). In Markdown output an image of
    /// this attachment becomes this text on its own line instead of `![alt](url)`, because
    /// KB 2.0 shows its own files only through it.
    pub markdown_embed: Option<String>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("users", &self.users.len())
            .field("pages", &self.pages.len())
            .field("page_resolver", &self.page_resolver.is_some())
            .field("attachment_base", &self.attachment_base)
            .field("attachments", &self.attachments.len())
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
    /// Count one `what`. Allocates only the first time a key is seen: most documents note
    /// the same few things many times.
    pub(crate) fn note(&mut self, what: &str) {
        self.add(what, 1);
    }

    pub(crate) fn add(&mut self, what: &str, n: usize) {
        match self.items.get_mut(what) {
            Some(count) => *count += n,
            None => {
                self.items.insert(what.to_owned(), n);
            }
        }
    }

    /// [`Report::note`] of the concatenation of `parts`, built on the stack when it is short.
    pub(crate) fn note_parts(&mut self, parts: &[&str]) {
        let mut buf = [0u8; 160];
        let mut len = 0;
        for p in parts {
            let Some(dst) = buf.get_mut(len..len + p.len()) else {
                return self.note(&parts.concat());
            };
            dst.copy_from_slice(p.as_bytes());
            len += p.len();
        }
        match std::str::from_utf8(&buf[..len]) {
            Ok(key) => self.note(key),
            Err(_) => self.note(&parts.concat()),
        }
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
    let output = html::render(&tree, ctx, &mut report, storage.len());
    Converted { output, report }
}

/// Markdown (CommonMark with GFM tables and task lists) for Knowledge Base 2.0.
pub fn to_markdown(storage: &str, ctx: &Context) -> Converted {
    let tree = parse::parse(storage);
    let mut report = Report::default();
    let output = md::render(&tree, ctx, &mut report, storage.len());
    Converted { output, report }
}

/// Markdown for Knowledge Base 2.0 in parts of at most `limit` bytes (at least 4) each (one
/// part when it fits), for documents over the `note.document` limit ([`KB2_MARKDOWN_LIMIT`]). Parts end
/// on block boundaries, preferably before a heading (see [`split_markdown`]). When more than
/// one part was made, the report says how many under `"markdown: split into parts"`, and
/// counts code blocks that had to be closed and reopened.
pub fn to_markdown_parts(storage: &str, ctx: &Context, limit: usize) -> (Vec<String>, Report) {
    let Converted { output, mut report } = to_markdown(storage, ctx);
    if output.len() <= limit {
        return (vec![output], report);
    }
    let split = split::split(&output, limit);
    if split.parts.len() > 1 {
        report.add("markdown: split into parts", split.parts.len());
    }
    if split.reopened_fences > 0 {
        report.add(
            "markdown: code block split across parts",
            split.reopened_fences,
        );
    }
    if split.broken_lines > 0 {
        report.add(
            "markdown: line longer than the limit broken",
            split.broken_lines,
        );
    }
    (split.parts, report)
}

/// Bitrix24 BB-code for chat messages and comments.
pub fn to_bbcode(storage: &str, ctx: &Context) -> Converted {
    let tree = parse::parse(storage);
    let mut report = Report::default();
    let output = bb::render(&tree, ctx, &mut report, storage.len());
    Converted { output, report }
}

/// Words of the visible text of a storage-format body (maximal alphanumeric runs of each
/// text node): text and CDATA outside tags,
/// excluding macro parameters, ADF attributes and fallbacks, task ids/status, placeholders,
/// scripts and styles. Used to check that conversion keeps every text run.
pub fn visible_words(storage: &str) -> Vec<String> {
    let mut text = String::new();
    semantic::visible_text(parse::parse(storage).root(), &mut text);
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
    parse::text_of(parse::parse(html).root())
}
