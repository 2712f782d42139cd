//! What each `ac:`/`ri:` construct means, independent of the output format.

use crate::parse::{El, Node, text_of};
use crate::{Context, PageRef, Report};

/// Elements whose content is never visible text.
pub(crate) const INVISIBLE: &[&str] = &[
    "ac:parameter",
    "ac:default-parameter",
    "ac:adf-attribute",
    "ac:adf-parameter",
    "ac:adf-fallback",
    "ac:task-id",
    "ac:task-uuid",
    "ac:task-status",
    "ac:placeholder",
    "script",
    "style",
];

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
pub(crate) enum Body<'a> {
    Rich(&'a [Node]),
    Plain(String),
    None,
}

pub(crate) enum Ac<'a> {
    Code {
        lang: Option<String>,
        title: Option<String>,
        body: String,
    },
    /// info, note, warning, tip, panel, error, success.
    Panel {
        kind: String,
        title: Option<String>,
        body: Body<'a>,
    },
    Expand {
        title: String,
        body: Body<'a>,
    },
    Status {
        text: String,
        colour: String,
    },
    Link {
        href: Option<String>,
        body: Body<'a>,
        fallback: String,
    },
    Mention {
        name: String,
    },
    Image {
        src: String,
        alt: String,
        caption: Option<&'a [Node]>,
    },
    /// Emoticon, as an emoji or `:name:`.
    Emoji(String),
    Time(String),
    Tasks(Vec<(bool, &'a [Node])>),
    Toc,
    /// A construct that shows only a short note (children, include, jira query, …).
    Note(String),
    /// An inline note (single jira issue).
    InlineNote(String),
    Anchor(String),
    Unknown {
        name: String,
        body: Body<'a>,
    },
    /// Render these children as they are.
    Container(&'a [Node]),
    Drop,
}

pub(crate) fn is_ac(el: &El) -> bool {
    el.name.starts_with("ac:") || el.name.starts_with("ri:") || el.name == "time"
}

pub(crate) fn macro_name(el: &El) -> Option<String> {
    (el.name == "ac:structured-macro" || el.name == "ac:macro")
        .then(|| el.attr("ac:name").unwrap_or("").to_ascii_lowercase())
}

/// Whether an element renders inline (inside a paragraph).
pub(crate) fn is_inline_ac(el: &El) -> bool {
    match macro_name(el) {
        Some(name) => INLINE_MACROS.contains(&name.as_str()),
        None => {
            matches!(
                el.name.as_str(),
                "ac:link"
                    | "ac:image"
                    | "ac:emoticon"
                    | "time"
                    | "ac:inline-comment-marker"
                    | "ac:placeholder"
                    | "ac:plain-text-link-body"
                    | "ac:link-body"
            ) || el.name.starts_with("ri:")
        }
    }
}

fn param(el: &El, name: &str) -> Option<String> {
    el.elements()
        .find(|p| {
            (p.name == "ac:parameter" && p.attr("ac:name").unwrap_or("") == name)
                || (name.is_empty() && p.name == "ac:default-parameter")
        })
        .map(|p| {
            let t = text_of(&p.children);
            if t.trim().is_empty() {
                // A parameter holding a resource: name it.
                p.elements()
                    .next()
                    .map(|r| {
                        r.attr("ri:content-title")
                            .or(r.attr("ri:filename"))
                            .or(r.attr("ri:space-key"))
                            .or(r.attr("ri:value"))
                            .unwrap_or("")
                            .to_owned()
                    })
                    .unwrap_or_default()
            } else {
                t.trim().to_owned()
            }
        })
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn body(el: &El) -> Body<'_> {
    let bodies = el
        .elements()
        .filter(|e| e.name == "ac:rich-text-body")
        .count();
    if bodies > 1 {
        // Several bodies (seen in `details`): render the children; parameters are invisible.
        Body::Rich(&el.children)
    } else if let Some(rich) = el.child("ac:rich-text-body") {
        Body::Rich(&rich.children)
    } else if let Some(plain) = el.child("ac:plain-text-body") {
        Body::Plain(text_of(&plain.children))
    } else {
        Body::None
    }
}

pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only http(s), mailto, relative and fragment URLs pass.
pub(crate) fn safe_url(url: &str) -> Option<String> {
    let u = url.trim();
    let lower = u.to_ascii_lowercase();
    let scheme_end = lower.find(':');
    let first_sep = lower.find(['/', '?', '#']);
    let has_scheme = match (scheme_end, first_sep) {
        (Some(c), Some(s)) => c < s,
        (Some(_), None) => true,
        _ => false,
    };
    let ok = !has_scheme
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:");
    (ok && !u.is_empty()).then(|| u.to_owned())
}

fn attachment_url(filename: &str, ctx: &Context, report: &mut Report) -> String {
    match &ctx.attachment_base {
        Some(base) => format!("{base}{}", percent_encode(filename)),
        None => {
            report.note("attachment: no base URL, bare file name used");
            percent_encode(filename)
        }
    }
}

fn user_name(r: &El, ctx: &Context, report: &mut Report) -> String {
    let id = r
        .attr("ri:account-id")
        .or(r.attr("ri:userkey"))
        .or(r.attr("ri:username"))
        .unwrap_or("");
    match ctx.users.get(id) {
        Some(name) => name.clone(),
        None => {
            report.note("user: unresolved (id shown)");
            if id.is_empty() {
                "user".to_owned()
            } else {
                id.to_owned()
            }
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
pub(crate) fn classify<'a>(el: &'a El, ctx: &Context, report: &mut Report) -> Ac<'a> {
    if let Some(name) = macro_name(el) {
        return classify_macro(el, name, ctx, report);
    }
    match el.name.as_str() {
        "ac:link" => link(el, ctx, report),
        "ac:image" => image(el, ctx, report),
        "ac:emoticon" => {
            let name = el.attr("ac:name").unwrap_or("");
            match el.attr("ac:emoji-fallback").filter(|s| !s.is_empty()) {
                Some(f) => Ac::Emoji(f.to_owned()),
                None => match emoji(name) {
                    Some(e) => Ac::Emoji(e.to_owned()),
                    None => {
                        report.note(format!("emoticon: {name} shown as :name:"));
                        Ac::Emoji(format!(":{name}:"))
                    }
                },
            }
        }
        "time" => {
            let t = text_of(&el.children);
            if t.trim().is_empty() {
                Ac::Time(el.attr("datetime").unwrap_or("").to_owned())
            } else {
                Ac::Time(t)
            }
        }
        "ac:task-list" => Ac::Tasks(
            el.elements()
                .filter(|t| t.name == "ac:task")
                .map(|t| {
                    let done = t
                        .child("ac:task-status")
                        .is_some_and(|s| text_of(&s.children).trim() == "complete");
                    // Nested task lists sit in the task, beside its body.
                    let body = t.child("ac:task-body").map_or(&[][..], |b| &b.children[..]);
                    (done, body)
                })
                .collect(),
        ),
        "ac:layout" | "ac:layout-section" | "ac:layout-cell" => {
            if el.name == "ac:layout-section" {
                report.note("layout: columns flattened");
            }
            Ac::Container(&el.children)
        }
        "ac:adf-extension" => adf(el, report),
        "ac:placeholder" => {
            report.note("placeholder dropped");
            Ac::Drop
        }
        "ac:rich-text-body" | "ac:inline-comment-marker" | "ac:link-body" | "ac:task-body" => {
            Ac::Container(&el.children)
        }
        "ac:plain-text-body" | "ac:plain-text-link-body" => Ac::Container(&el.children),
        name if INVISIBLE.contains(&name) => Ac::Drop,
        name if name.starts_with("ri:") => Ac::Drop,
        name => {
            report.note(format!("element {name}: content kept"));
            Ac::Container(&el.children)
        }
    }
}

fn classify_macro<'a>(el: &'a El, name: String, ctx: &Context, report: &mut Report) -> Ac<'a> {
    let _ = ctx;
    match name.as_str() {
        "code" | "noformat" | "code-block" | "sourcecode" => {
            let lang = nonempty(param(el, "language")).or_else(|| nonempty(param(el, "lang")));
            let title = nonempty(param(el, "title"));
            match body(el) {
                Body::Plain(body) => Ac::Code { lang, title, body },
                Body::Rich(nodes) => Ac::Code {
                    lang,
                    title,
                    body: text_of(nodes),
                },
                Body::None => Ac::Code {
                    lang,
                    title,
                    body: String::new(),
                },
            }
        }
        "info" | "note" | "warning" | "tip" | "panel" | "error" | "success" => Ac::Panel {
            kind: name,
            title: nonempty(param(el, "title")),
            body: body(el),
        },
        "expand" => Ac::Expand {
            title: nonempty(param(el, "title")).unwrap_or_else(|| "Click here to expand…".into()),
            body: body(el),
        },
        "status" => Ac::Status {
            text: nonempty(param(el, "title")).unwrap_or_default(),
            colour: nonempty(param(el, "colour"))
                .or_else(|| nonempty(param(el, "color")))
                .unwrap_or_else(|| "Grey".into())
                .to_ascii_lowercase(),
        },
        "toc" | "toc-zone" => {
            report.note(format!("macro:{name} approximated"));
            if name == "toc-zone" {
                return Ac::Container(match body(el) {
                    Body::Rich(n) => n,
                    _ => &[],
                });
            }
            Ac::Toc
        }
        "anchor" => Ac::Anchor(param(el, "").unwrap_or_default()),
        "jira" => {
            report.note("macro:jira approximated");
            match nonempty(param(el, "key")) {
                Some(key) => Ac::InlineNote(format!("Jira: {key}")),
                None => Ac::Note(format!(
                    "Jira issues: {}",
                    nonempty(param(el, "jqlQuery")).unwrap_or_default()
                )),
            }
        }
        "children" | "pagetree" | "recently-updated" | "contentbylabel" | "attachments"
        | "livesearch" | "detailssummary" | "tasks-report-macro" | "blog-posts" | "gallery" => {
            report.note(format!("macro:{name} approximated"));
            Ac::Note(format!("[{name}]"))
        }
        "include" | "excerpt-include" => {
            report.note(format!("macro:{name} approximated"));
            Ac::Note(format!(
                "Included from page: {}",
                param(el, "").unwrap_or_default()
            ))
        }
        n if TRANSPARENT_MACROS.contains(&n) => {
            if n == "excerpt" {
                if param(el, "hidden").as_deref() == Some("true") {
                    report.note("macro:excerpt hidden shown");
                }
            } else {
                report.note(format!("macro:{n} body kept"));
            }
            match body(el) {
                Body::Rich(nodes) => Ac::Container(nodes),
                other => Ac::Unknown { name, body: other },
            }
        }
        _ => {
            report.note(format!("unknown macro: {name}"));
            Ac::Unknown {
                name,
                body: body(el),
            }
        }
    }
}

fn link<'a>(el: &'a El, ctx: &Context, report: &mut Report) -> Ac<'a> {
    let anchor = el.attr("ac:anchor").filter(|a| !a.is_empty());
    let body = if let Some(b) = el.child("ac:link-body") {
        Body::Rich(&b.children)
    } else if let Some(b) = el.child("ac:plain-text-link-body") {
        Body::Plain(text_of(&b.children))
    } else {
        Body::None
    };
    let body = match body {
        Body::Plain(s) if s.trim().is_empty() => Body::None,
        Body::Rich(n) if text_of(n).trim().is_empty() && !has_image(n) => Body::None,
        b => b,
    };
    let frag = anchor
        .map(|a| format!("#{}", percent_encode(a)))
        .unwrap_or_default();
    let target = el.elements().find(|e| e.name.starts_with("ri:"));
    let Some(target) = target else {
        return Ac::Link {
            href: anchor.map(|_| frag.clone()),
            body,
            fallback: anchor.unwrap_or("").to_owned(),
        };
    };
    match target.name.as_str() {
        "ri:user" => {
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
        "ri:page" | "ri:blog-post" | "ri:content-entity" => {
            let title = target.attr("ri:content-title").unwrap_or("");
            let page = PageRef {
                title,
                space_key: target.attr("ri:space-key"),
                content_id: target.attr("ri:content-id"),
            };
            let url = ctx
                .pages
                .get(title)
                .cloned()
                .or_else(|| ctx.page_resolver.as_ref().and_then(|r| r(&page)));
            if url.is_none() {
                report.note("link: page unresolved (text kept)");
            }
            Ac::Link {
                href: url.map(|u| format!("{u}{frag}")),
                body,
                fallback: if title.is_empty() {
                    page.content_id.unwrap_or("page").to_owned()
                } else {
                    title.to_owned()
                },
            }
        }
        "ri:attachment" => {
            let f = target.attr("ri:filename").unwrap_or("");
            Ac::Link {
                href: Some(attachment_url(f, ctx, report)),
                body,
                fallback: f.to_owned(),
            }
        }
        "ri:url" => Ac::Link {
            href: target.attr("ri:value").map(str::to_owned),
            body,
            fallback: target.attr("ri:value").unwrap_or("").to_owned(),
        },
        "ri:space" => {
            report.note("link: space unresolved (text kept)");
            Ac::Link {
                href: None,
                body,
                fallback: target.attr("ri:space-key").unwrap_or("").to_owned(),
            }
        }
        other => {
            report.note(format!("link: {other} target unresolved"));
            Ac::Link {
                href: None,
                body,
                fallback: String::new(),
            }
        }
    }
}

fn has_image(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::El(e) => e.name == "ac:image" || e.name == "img" || has_image(&e.children),
        _ => false,
    })
}

fn image<'a>(el: &'a El, ctx: &Context, report: &mut Report) -> Ac<'a> {
    let caption = el.child("ac:caption").map(|c| &c.children[..]);
    let alt = el.attr("ac:alt").or(el.attr("ac:title")).unwrap_or("");
    if let Some(a) = el.child("ri:attachment") {
        let f = a.attr("ri:filename").unwrap_or("");
        let alt = if alt.is_empty() { f } else { alt };
        return Ac::Image {
            src: attachment_url(f, ctx, report),
            alt: alt.to_owned(),
            caption,
        };
    }
    if let Some(u) = el.child("ri:url") {
        return Ac::Image {
            src: u.attr("ri:value").unwrap_or("").to_owned(),
            alt: alt.to_owned(),
            caption,
        };
    }
    report.note("image: no source, dropped");
    Ac::Drop
}

fn adf<'a>(el: &'a El, report: &mut Report) -> Ac<'a> {
    let node = el.child("ac:adf-node");
    let content = node.and_then(|n| n.child("ac:adf-content"));
    let kind = node.and_then(|n| n.attr("type")).unwrap_or("").to_owned();
    match (node, content) {
        (Some(n), Some(c)) if kind == "panel" => {
            let panel_type = n
                .elements()
                .find(|a| a.name == "ac:adf-attribute" && a.attr("key") == Some("panel-type"))
                .map(|a| text_of(&a.children).trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "info".into());
            Ac::Panel {
                kind: panel_type,
                title: None,
                body: Body::Rich(&c.children),
            }
        }
        (Some(_), Some(c)) => {
            report.note(format!("adf-extension: {kind} content kept"));
            Ac::Container(&c.children)
        }
        (Some(n), None) => {
            // Nested nodes (decision lists): render the node's content generically.
            match el.child("ac:adf-fallback") {
                Some(f) => {
                    report.note(format!("adf-extension: {kind} fallback used"));
                    Ac::Container(&f.children)
                }
                None => {
                    report.note(format!("adf-extension: {kind} content kept"));
                    Ac::Container(&n.children)
                }
            }
        }
        (None, _) => match el.child("ac:adf-fallback") {
            Some(f) => {
                report.note("adf-extension: fallback used");
                Ac::Container(&f.children)
            }
            None => Ac::Container(&el.children),
        },
    }
}

/// Headings of the whole document, for the table of contents.
pub(crate) fn headings(nodes: &[Node], out: &mut Vec<(u8, String)>) {
    for n in nodes {
        if let Node::El(e) = n {
            let b = e.name.as_bytes();
            if b.len() == 2 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) {
                let t = text_of(&e.children)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                if !t.is_empty() {
                    out.push((b[1] - b'0', t));
                }
            } else if !INVISIBLE.contains(&e.name.as_str()) {
                headings(&e.children, out);
            }
        }
    }
}

pub(crate) fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}
