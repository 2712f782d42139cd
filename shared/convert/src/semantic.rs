//! What each `ac:`/`ri:` construct means, independent of the output format.
//!
//! Strings are `Cow`: most of them (macro parameters, titles, file names, user names from
//! the context) are borrowed from the tree or the context, and only what had to be built
//! (a URL with a fragment, a note) is owned.

use std::borrow::Cow;

use crate::parse::{E, N, Nodes, Tag, is_blank, text_cow, text_of};
use crate::{Context, PageRef, Report};

/// Elements whose content is never visible text.
pub(crate) fn is_invisible(tag: Tag) -> bool {
    use Tag::*;
    matches!(
        tag,
        AcParameter
            | AcDefaultParameter
            | AcAdfAttribute
            | AcAdfParameter
            | AcAdfFallback
            | AcTaskId
            | AcTaskUuid
            | AcTaskStatus
            | AcPlaceholder
            | Script
            | Style
    )
}

/// Macros rendered inline (inside a paragraph).
const INLINE_MACROS: &[&str] = &["status", "anchor", "jira", "emoticon"];

/// Macros whose body is shown as is (their chrome is dropped).
const TRANSPARENT_MACROS: &[&str] = &[
    "details",
    "section",
    "column",
    "div",
    "span",
    "center",
    "align",
    "excerpt",
    "ui-tabs",
    "ui-tab",
    "localtabgroup",
    "localtab",
    "horizontal-nav-group",
    "horizontal-nav-item",
    "multiexcerpt",
    "multiexcerpt-macro",
    "auimessage",
];

/// A body of text to show: rich nodes or plain text.
pub(crate) enum Body<'t> {
    Rich(Nodes<'t>),
    Plain(Cow<'t, str>),
    None,
}

pub(crate) enum Ac<'t> {
    Code {
        lang: Option<Cow<'t, str>>,
        title: Option<Cow<'t, str>>,
        body: Cow<'t, str>,
    },
    /// info, note, warning, tip, panel, error, success.
    Panel {
        kind: Cow<'t, str>,
        title: Option<Cow<'t, str>>,
        body: Body<'t>,
    },
    Expand {
        title: Cow<'t, str>,
        body: Body<'t>,
    },
    Status {
        text: Cow<'t, str>,
        colour: Cow<'t, str>,
    },
    Link {
        href: Option<Cow<'t, str>>,
        body: Body<'t>,
        fallback: Cow<'t, str>,
    },
    Mention {
        name: Cow<'t, str>,
    },
    Image {
        src: Cow<'t, str>,
        alt: Cow<'t, str>,
        caption: Option<Nodes<'t>>,
        /// Knowledge Base 2.0 asset markdown of a mapped attachment.
        embed: Option<&'t str>,
    },
    /// Emoticon, as an emoji or `:name:`.
    Emoji(Cow<'t, str>),
    Time(Cow<'t, str>),
    Tasks(Vec<(bool, Nodes<'t>)>),
    Toc,
    /// A construct that shows only a short note (children, include, jira query, …).
    Note(Cow<'t, str>),
    /// An inline note (single jira issue).
    InlineNote(Cow<'t, str>),
    Anchor(Cow<'t, str>),
    Unknown {
        name: Cow<'t, str>,
        body: Body<'t>,
    },
    /// Render these children as they are.
    Container(Nodes<'t>),
    Drop,
}

/// The lower-cased `ac:name` of a macro element.
pub(crate) fn macro_name<'t>(el: E<'t>) -> Option<Cow<'t, str>> {
    matches!(el.tag(), Tag::AcStructuredMacro | Tag::AcMacro).then(|| {
        let name = el.attr("ac:name").unwrap_or("");
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        }
    })
}

/// Whether an element renders inline (inside a paragraph).
pub(crate) fn is_inline_ac(el: E<'_>) -> bool {
    use Tag::*;
    match macro_name(el) {
        Some(name) => INLINE_MACROS.contains(&&*name),
        None => {
            matches!(
                el.tag(),
                AcLink
                    | AcImage
                    | AcEmoticon
                    | Time
                    | AcInlineCommentMarker
                    | AcPlaceholder
                    | AcPlainTextLinkBody
                    | AcLinkBody
            ) || el.tag().is_ri()
        }
    }
}

pub(crate) fn trim_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) if o.trim().len() == o.len() => Cow::Owned(o),
        Cow::Owned(o) => Cow::Owned(o.trim().to_owned()),
    }
}

fn param<'t>(el: E<'t>, name: &str) -> Option<Cow<'t, str>> {
    el.elements()
        .find(|p| {
            (p.tag() == Tag::AcParameter && p.attr("ac:name").unwrap_or("") == name)
                || (name.is_empty() && p.tag() == Tag::AcDefaultParameter)
        })
        .map(|p| {
            let t = text_cow(p.children());
            if t.trim().is_empty() {
                // A parameter holding a resource: name it.
                Cow::Borrowed(
                    p.elements()
                        .next()
                        .and_then(|r| {
                            r.attr("ri:content-title")
                                .or(r.attr("ri:filename"))
                                .or(r.attr("ri:space-key"))
                                .or(r.attr("ri:value"))
                        })
                        .unwrap_or(""),
                )
            } else {
                trim_cow(t)
            }
        })
}

fn nonempty(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|s| !s.trim().is_empty())
}

fn body(el: E<'_>) -> Body<'_> {
    let mut rich = el.elements().filter(|e| e.tag() == Tag::AcRichTextBody);
    let first = rich.next();
    match first {
        // Several bodies (seen in `details`): render the children; parameters are invisible.
        Some(_) if rich.next().is_some() => Body::Rich(el.children()),
        Some(r) => Body::Rich(r.children()),
        None => match el.child(Tag::AcPlainTextBody) {
            Some(plain) => Body::Plain(text_cow(plain.children())),
            None => Body::None,
        },
    }
}

pub(crate) fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent_encode_into(s, &mut out);
    out
}

/// Only http(s), mailto, relative and fragment URLs pass.
pub(crate) fn safe_url(url: &str) -> Option<&str> {
    let u = url.trim();
    if u.is_empty() {
        return None;
    }
    // A scheme is whatever precedes a `:` that comes before any `/`, `?` or `#`.
    let has_scheme = u
        .bytes()
        .find(|b| matches!(b, b':' | b'/' | b'?' | b'#'))
        .is_some_and(|b| b == b':');
    let starts = |prefix: &str| {
        u.as_bytes()
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    let ok = !has_scheme || starts("http://") || starts("https://") || starts("mailto:");
    ok.then_some(u)
}

/// URL (and KB 2.0 embed, when mapped) of an attachment by file name.
fn attachment<'t>(
    filename: &str,
    ctx: &'t Context,
    report: &mut Report,
) -> (Cow<'t, str>, Option<&'t str>) {
    if let Some(target) = ctx.attachments.get(filename) {
        return (Cow::Borrowed(&target.url), target.markdown_embed.as_deref());
    }
    if !ctx.attachments.is_empty() {
        // The worker maps every attachment it uploaded; one it did not is worth a look.
        report.note("attachment: not in the attachment map");
    }
    let url = match &ctx.attachment_base {
        Some(base) => {
            let mut url = String::with_capacity(base.len() + filename.len() + 8);
            url.push_str(base);
            percent_encode_into(filename, &mut url);
            url
        }
        None => {
            report.note("attachment: no base URL, bare file name used");
            percent_encode(filename)
        }
    };
    (Cow::Owned(url), None)
}

fn user_name<'t>(r: E<'t>, ctx: &'t Context, report: &mut Report) -> Cow<'t, str> {
    let id = r
        .attr("ri:account-id")
        .or(r.attr("ri:userkey"))
        .or(r.attr("ri:username"))
        .unwrap_or("");
    match ctx.users.get(id) {
        Some(name) => Cow::Borrowed(name),
        None => {
            report.note("user: unresolved (id shown)");
            Cow::Borrowed(if id.is_empty() { "user" } else { id })
        }
    }
}

fn emoji(name: &str) -> Option<&'static str> {
    Some(match name {
        "smile" => "🙂",
        "sad" => "🙁",
        "cheeky" => "😛",
        "laugh" => "😀",
        "wink" => "😉",
        "thumbs-up" => "👍",
        "thumbs-down" => "👎",
        "information" => "ℹ️",
        "tick" => "✅",
        "cross" => "❌",
        "warning" => "⚠️",
        "plus" => "➕",
        "minus" => "➖",
        "question" => "❓",
        "light-on" => "💡",
        "light-off" => "💡",
        "yellow-star" | "blue-star" | "green-star" | "red-star" => "⭐",
        "heart" => "❤️",
        "broken-heart" => "💔",
        _ => return None,
    })
}

/// Interpret a `ac:`/`ri:`/`time` element.
pub(crate) fn classify<'t>(el: E<'t>, ctx: &'t Context, report: &mut Report) -> Ac<'t> {
    if let Some(name) = macro_name(el) {
        return classify_macro(el, name, report);
    }
    match el.tag() {
        Tag::AcLink => link(el, ctx, report),
        Tag::AcImage => image(el, ctx, report),
        Tag::AcEmoticon => {
            let name = el.attr("ac:name").unwrap_or("");
            match el.attr("ac:emoji-fallback").filter(|s| !s.is_empty()) {
                Some(f) => Ac::Emoji(Cow::Borrowed(f)),
                None => match emoji(name) {
                    Some(e) => Ac::Emoji(Cow::Borrowed(e)),
                    None => {
                        report.note_parts(&["emoticon: ", name, " shown as :name:"]);
                        Ac::Emoji(Cow::Owned(format!(":{name}:")))
                    }
                },
            }
        }
        Tag::Time => {
            let t = text_cow(el.children());
            if t.trim().is_empty() {
                Ac::Time(Cow::Borrowed(el.attr("datetime").unwrap_or("")))
            } else {
                Ac::Time(t)
            }
        }
        Tag::AcTaskList => Ac::Tasks(
            el.elements()
                .filter(|t| t.tag() == Tag::AcTask)
                .map(|t| {
                    let done = t
                        .child(Tag::AcTaskStatus)
                        .is_some_and(|s| text_cow(s.children()).trim() == "complete");
                    // Nested task lists sit in the task, beside its body.
                    let body = t
                        .child(Tag::AcTaskBody)
                        .map_or(Nodes::empty_like(el.children()), |b| b.children());
                    (done, body)
                })
                .collect(),
        ),
        Tag::AcLayout | Tag::AcLayoutSection | Tag::AcLayoutCell => {
            if el.tag() == Tag::AcLayoutSection {
                report.note("layout: columns flattened");
            }
            Ac::Container(el.children())
        }
        Tag::AcAdfExtension => adf(el, report),
        Tag::AcPlaceholder => {
            report.note("placeholder dropped");
            Ac::Drop
        }
        Tag::AcRichTextBody
        | Tag::AcInlineCommentMarker
        | Tag::AcLinkBody
        | Tag::AcTaskBody
        | Tag::AcPlainTextBody
        | Tag::AcPlainTextLinkBody => Ac::Container(el.children()),
        tag if is_invisible(tag) || tag.is_ri() => Ac::Drop,
        _ => {
            report.note_parts(&["element ", &el.name(), ": content kept"]);
            Ac::Container(el.children())
        }
    }
}

fn classify_macro<'t>(el: E<'t>, name: Cow<'t, str>, report: &mut Report) -> Ac<'t> {
    match &*name {
        "code" | "noformat" | "code-block" | "sourcecode" => {
            let lang = nonempty(param(el, "language")).or_else(|| nonempty(param(el, "lang")));
            let title = nonempty(param(el, "title"));
            let body = match body(el) {
                Body::Plain(body) => body,
                Body::Rich(nodes) => Cow::Owned(text_of(nodes)),
                Body::None => Cow::Borrowed(""),
            };
            Ac::Code { lang, title, body }
        }
        "info" | "note" | "warning" | "tip" | "panel" | "error" | "success" => Ac::Panel {
            title: nonempty(param(el, "title")),
            body: body(el),
            kind: name,
        },
        "expand" => Ac::Expand {
            title: nonempty(param(el, "title")).unwrap_or(Cow::Borrowed("Click here to expand…")),
            body: body(el),
        },
        "status" => {
            let colour = nonempty(param(el, "colour"))
                .or_else(|| nonempty(param(el, "color")))
                .unwrap_or(Cow::Borrowed("Grey"));
            Ac::Status {
                text: nonempty(param(el, "title")).unwrap_or_default(),
                colour: if colour.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(colour.to_ascii_lowercase())
                } else {
                    colour
                },
            }
        }
        "toc" | "toc-zone" => {
            report.note_parts(&["macro:", &name, " approximated"]);
            if name == "toc-zone" {
                return Ac::Container(match body(el) {
                    Body::Rich(n) => n,
                    _ => Nodes::empty_like(el.children()),
                });
            }
            Ac::Toc
        }
        "anchor" => Ac::Anchor(param(el, "").unwrap_or_default()),
        "jira" => {
            report.note("macro:jira approximated");
            match nonempty(param(el, "key")) {
                Some(key) => Ac::InlineNote(Cow::Owned(format!("Jira: {key}"))),
                None => Ac::Note(Cow::Owned(format!(
                    "Jira issues: {}",
                    nonempty(param(el, "jqlQuery")).unwrap_or_default()
                ))),
            }
        }
        "children" | "pagetree" | "recently-updated" | "contentbylabel" | "attachments"
        | "livesearch" | "detailssummary" | "tasks-report-macro" | "blog-posts" | "gallery" => {
            report.note_parts(&["macro:", &name, " approximated"]);
            Ac::Note(Cow::Owned(format!("[{name}]")))
        }
        "include" | "excerpt-include" => {
            report.note_parts(&["macro:", &name, " approximated"]);
            Ac::Note(Cow::Owned(format!(
                "Included from page: {}",
                param(el, "").unwrap_or_default()
            )))
        }
        n if TRANSPARENT_MACROS.contains(&n) => {
            if n == "excerpt" {
                if param(el, "hidden").as_deref() == Some("true") {
                    report.note("macro:excerpt hidden shown");
                }
            } else {
                report.note_parts(&["macro:", n, " body kept"]);
            }
            match body(el) {
                Body::Rich(nodes) => Ac::Container(nodes),
                other => Ac::Unknown { name, body: other },
            }
        }
        _ => {
            report.note_parts(&["unknown macro: ", &name]);
            Ac::Unknown {
                body: body(el),
                name,
            }
        }
    }
}

fn link<'t>(el: E<'t>, ctx: &'t Context, report: &mut Report) -> Ac<'t> {
    let anchor = el.attr("ac:anchor").filter(|a| !a.is_empty());
    let body = if let Some(b) = el.child(Tag::AcLinkBody) {
        Body::Rich(b.children())
    } else if let Some(b) = el.child(Tag::AcPlainTextLinkBody) {
        Body::Plain(text_cow(b.children()))
    } else {
        Body::None
    };
    let body = match body {
        Body::Plain(s) if s.trim().is_empty() => Body::None,
        Body::Rich(n) if is_blank(n) && !has_image(n) => Body::None,
        b => b,
    };
    let with_fragment = |url: Cow<'t, str>| match anchor {
        None => url,
        Some(a) => {
            let mut u = url.into_owned();
            u.push('#');
            percent_encode_into(a, &mut u);
            Cow::Owned(u)
        }
    };
    let Some(target) = el.elements().find(|e| e.tag().is_ri()) else {
        return Ac::Link {
            href: anchor.map(|_| with_fragment(Cow::Borrowed(""))),
            body,
            fallback: Cow::Borrowed(anchor.unwrap_or("")),
        };
    };
    match target.tag() {
        Tag::RiUser => {
            let name = user_name(target, ctx, report);
            match body {
                Body::None => Ac::Mention { name },
                body => Ac::Link {
                    href: None,
                    body,
                    fallback: name,
                },
            }
        }
        Tag::RiPage | Tag::RiBlogPost | Tag::RiContentEntity => {
            let title = target.attr("ri:content-title").unwrap_or("");
            let page = PageRef {
                title,
                space_key: target.attr("ri:space-key"),
                content_id: target.attr("ri:content-id"),
            };
            let url = match ctx.pages.get(title) {
                Some(u) => Some(Cow::Borrowed(u.as_str())),
                None => ctx
                    .page_resolver
                    .as_ref()
                    .and_then(|r| r(&page))
                    .map(Cow::Owned),
            };
            if url.is_none() {
                report.note("link: page unresolved (text kept)");
            }
            Ac::Link {
                href: url.map(with_fragment),
                body,
                fallback: Cow::Borrowed(if title.is_empty() {
                    page.content_id.unwrap_or("page")
                } else {
                    title
                }),
            }
        }
        Tag::RiAttachment => {
            let f = target.attr("ri:filename").unwrap_or("");
            let (url, _) = attachment(f, ctx, report);
            Ac::Link {
                href: Some(url),
                body,
                fallback: Cow::Borrowed(f),
            }
        }
        Tag::RiUrl => Ac::Link {
            href: target.attr("ri:value").map(Cow::Borrowed),
            body,
            fallback: Cow::Borrowed(target.attr("ri:value").unwrap_or("")),
        },
        Tag::RiSpace => {
            report.note("link: space unresolved (text kept)");
            Ac::Link {
                href: None,
                body,
                fallback: Cow::Borrowed(target.attr("ri:space-key").unwrap_or("")),
            }
        }
        _ => {
            report.note_parts(&["link: ", &target.name(), " target unresolved"]);
            Ac::Link {
                href: None,
                body,
                fallback: Cow::Borrowed(""),
            }
        }
    }
}

fn has_image(nodes: Nodes<'_>) -> bool {
    nodes
        .elements()
        .any(|e| matches!(e.tag(), Tag::AcImage | Tag::Img) || has_image(e.children()))
}

fn image<'t>(el: E<'t>, ctx: &'t Context, report: &mut Report) -> Ac<'t> {
    let caption = el.child(Tag::AcCaption).map(|c| c.children());
    let alt = el.attr("ac:alt").or(el.attr("ac:title")).unwrap_or("");
    if let Some(a) = el.child(Tag::RiAttachment) {
        let f = a.attr("ri:filename").unwrap_or("");
        let (src, embed) = attachment(f, ctx, report);
        return Ac::Image {
            src,
            alt: Cow::Borrowed(if alt.is_empty() { f } else { alt }),
            caption,
            embed,
        };
    }
    if let Some(u) = el.child(Tag::RiUrl) {
        return Ac::Image {
            src: Cow::Borrowed(u.attr("ri:value").unwrap_or("")),
            alt: Cow::Borrowed(alt),
            caption,
            embed: None,
        };
    }
    report.note("image: no source, dropped");
    Ac::Drop
}

fn adf<'t>(el: E<'t>, report: &mut Report) -> Ac<'t> {
    let node = el.child(Tag::AcAdfNode);
    let content = node.and_then(|n| n.child(Tag::AcAdfContent));
    let kind = node.and_then(|n| n.attr("type")).unwrap_or("");
    match (node, content) {
        (Some(n), Some(c)) if kind == "panel" => {
            let panel_type = n
                .elements()
                .find(|a| a.tag() == Tag::AcAdfAttribute && a.attr("key") == Some("panel-type"))
                .map(|a| trim_cow(text_cow(a.children())))
                .filter(|s| !s.is_empty())
                .unwrap_or(Cow::Borrowed("info"));
            Ac::Panel {
                kind: panel_type,
                title: None,
                body: Body::Rich(c.children()),
            }
        }
        (Some(_), Some(c)) => {
            report.note_parts(&["adf-extension: ", kind, " content kept"]);
            Ac::Container(c.children())
        }
        (Some(n), None) => {
            // Nested nodes (decision lists): render the node's content generically.
            match el.child(Tag::AcAdfFallback) {
                Some(f) => {
                    report.note_parts(&["adf-extension: ", kind, " fallback used"]);
                    Ac::Container(f.children())
                }
                None => {
                    report.note_parts(&["adf-extension: ", kind, " content kept"]);
                    Ac::Container(n.children())
                }
            }
        }
        (None, _) => match el.child(Tag::AcAdfFallback) {
            Some(f) => {
                report.note("adf-extension: fallback used");
                Ac::Container(f.children())
            }
            None => Ac::Container(el.children()),
        },
    }
}

/// Headings of the whole document, for the table of contents.
pub(crate) fn headings(nodes: Nodes<'_>, out: &mut Vec<(u8, String)>) {
    for e in nodes.elements() {
        if let Some(level) = e.tag().heading_level() {
            let mut t = String::new();
            one_line_into(&text_of(e.children()), &mut t);
            if !t.is_empty() {
                out.push((level, t));
            }
        } else if !is_invisible(e.tag()) {
            headings(e.children(), out);
        }
    }
}

/// The words of `s` separated by single spaces.
pub(crate) fn one_line_into(s: &str, out: &mut String) {
    for (i, w) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
}

/// Visible words of a subtree, for [`crate::visible_words`].
pub(crate) fn visible_text(nodes: Nodes<'_>, out: &mut String) {
    for n in nodes.iter() {
        match n {
            N::Text(t) | N::Cdata(t) => {
                out.push(' ');
                out.push_str(t);
                out.push(' ');
            }
            N::El(e) => {
                if !is_invisible(e.tag()) {
                    visible_text(e.children(), out);
                }
            }
        }
    }
}
