//! HTML output: known-safe HTML passes (without style or event attributes), `ac:` constructs
//! become plain HTML, everything is escaped.

use crate::parse::{E, N, Nodes, Tag, Tree};
use crate::semantic::{self, Ac, Body};
use crate::{Context, Report};

/// Elements that pass through (with only safe attributes).
fn passes(tag: Tag) -> bool {
    use Tag::*;
    matches!(
        tag,
        P | H1
            | H2
            | H3
            | H4
            | H5
            | H6
            | Ul
            | Ol
            | Li
            | Table
            | Thead
            | Tbody
            | Tfoot
            | Tr
            | Th
            | Td
            | Colgroup
            | Col
            | Caption
            | Blockquote
            | Pre
            | Code
            | Strong
            | B
            | Em
            | I
            | U
            | S
            | Del
            | Strike
            | Sub
            | Sup
            | Br
            | Hr
            | A
            | Span
            | Div
            | Img
            | Dl
            | Dt
            | Dd
            | Kbd
            | Mark
            | Small
            | Big
            | Ins
            | Cite
            | Q
            | Abbr
            | Details
            | Summary
            | Figure
            | Figcaption
    )
}

fn is_void(tag: Tag) -> bool {
    matches!(tag, Tag::Br | Tag::Hr | Tag::Img | Tag::Col)
}

/// Elements dropped with their content; `quiet` ones are not worth a report line.
fn dropped(tag: Tag) -> Option<bool> {
    use Tag::*;
    match tag {
        Script | Style | Iframe | Object | Embed | Form | Input | Button | Select | Textarea
        | Base => Some(false),
        Head | Meta | Link => Some(true),
        _ => None,
    }
}

/// Append `s` HTML-escaped: unescaped runs are copied as slices.
pub(crate) fn esc(s: &str, out: &mut String) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

struct Html<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    root: Nodes<'c>,
    /// The table of contents, built the first time a `toc` macro asks for it.
    toc: Option<Vec<(u8, String)>>,
    out: String,
}

pub(crate) fn render(tree: &Tree<'_>, ctx: &Context, report: &mut Report, hint: usize) -> String {
    let root = tree.root();
    let mut h = Html {
        ctx,
        report,
        root,
        toc: None,
        out: String::with_capacity(hint + hint / 8),
    };
    h.nodes(root);
    h.out
}

impl Html<'_> {
    fn nodes(&mut self, nodes: Nodes<'_>) {
        for n in nodes.iter() {
            match n {
                N::Text(t) | N::Cdata(t) => esc(t, &mut self.out),
                N::El(e) => self.element(e),
            }
        }
    }

    fn body(&mut self, body: &Body<'_>) {
        match body {
            Body::Rich(nodes) => self.nodes(*nodes),
            Body::Plain(t) => {
                self.out.push_str("<pre>");
                esc(t, &mut self.out);
                self.out.push_str("</pre>");
            }
            Body::None => {}
        }
    }

    fn element(&mut self, e: E<'_>) {
        if e.is_ac() {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.ac(ac);
        }
        let tag = e.tag();
        if let Some(quiet) = dropped(tag) {
            if !quiet {
                self.report.note_parts(&["html: <", &e.name(), "> dropped"]);
            }
            return;
        }
        if !passes(tag) {
            return self.nodes(e.children());
        }
        let name = e.name();
        self.out.push('<');
        self.out.push_str(&name);
        for a in e.attrs() {
            let (k, v) = (&*a.name, &*a.value);
            let keep = match (tag, k) {
                (Tag::A, "href") | (Tag::Img, "src") => {
                    if let Some(u) = semantic::safe_url(v) {
                        self.attr(k, u);
                    } else {
                        self.report.note("html: unsafe URL dropped");
                    }
                    false
                }
                (Tag::Td | Tag::Th, "colspan" | "rowspan")
                | (Tag::Ol, "start")
                | (Tag::Img, "alt")
                | (_, "title") => true,
                _ => false,
            };
            if keep {
                self.attr(k, v);
            }
        }
        self.out.push('>');
        if is_void(tag) {
            return;
        }
        self.nodes(e.children());
        self.out.push_str("</");
        self.out.push_str(&name);
        self.out.push('>');
    }

    fn attr(&mut self, k: &str, v: &str) {
        self.out.push(' ');
        self.out.push_str(k);
        self.out.push_str("=\"");
        esc(v, &mut self.out);
        self.out.push('"');
    }

    /// A `class` attribute of `prefix` followed by `v`.
    fn class(&mut self, prefix: &str, v: &str) {
        self.out.push_str(" class=\"");
        self.out.push_str(prefix);
        esc(v, &mut self.out);
        self.out.push('"');
    }

    fn text(&mut self, t: &str) {
        esc(t, &mut self.out);
    }

    fn ac(&mut self, ac: Ac<'_>) {
        match ac {
            Ac::Code { lang, title, body } => {
                if let Some(t) = title {
                    self.out.push_str("<p><strong>");
                    self.text(&t);
                    self.out.push_str("</strong></p>");
                }
                self.out.push_str("<pre><code");
                if let Some(l) = lang {
                    self.class("language-", &l);
                }
                self.out.push('>');
                self.text(&body);
                self.out.push_str("</code></pre>");
            }
            Ac::Panel { kind, title, body } => {
                self.out.push_str("<blockquote");
                self.class("panel panel-", &kind);
                self.out.push('>');
                if let Some(t) = title {
                    self.out.push_str("<p><strong>");
                    self.text(&t);
                    self.out.push_str("</strong></p>");
                }
                self.body(&body);
                self.out.push_str("</blockquote>");
            }
            Ac::Expand { title, body } => {
                self.out.push_str("<details><summary>");
                self.text(&title);
                self.out.push_str("</summary>");
                self.body(&body);
                self.out.push_str("</details>");
            }
            Ac::Status { text, colour } => {
                self.out.push_str("<span");
                self.class("status status-", &colour);
                self.out.push_str("><strong>");
                self.text(&text.to_uppercase());
                self.out.push_str("</strong></span>");
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let href = href.as_deref().and_then(semantic::safe_url);
                if let Some(h) = href {
                    self.out.push_str("<a");
                    self.attr("href", h);
                    self.out.push('>');
                }
                match body {
                    Body::None => self.text(&fallback),
                    Body::Plain(t) => self.text(&t),
                    b @ Body::Rich(_) => self.body(&b),
                }
                if href.is_some() {
                    self.out.push_str("</a>");
                }
            }
            Ac::Mention { name } => {
                self.out.push_str("<strong class=\"mention\">@");
                self.text(&name);
                self.out.push_str("</strong>");
            }
            Ac::Image {
                src, alt, caption, ..
            } => {
                if caption.is_some() {
                    self.out.push_str("<figure>");
                }
                self.out.push_str("<img");
                match semantic::safe_url(&src) {
                    Some(u) => self.attr("src", u),
                    None => self.report.note("html: unsafe URL dropped"),
                }
                self.attr("alt", &alt);
                self.out.push('>');
                if let Some(c) = caption {
                    self.out.push_str("<figcaption>");
                    self.nodes(c);
                    self.out.push_str("</figcaption></figure>");
                }
            }
            Ac::Emoji(e) | Ac::Time(e) | Ac::InlineNote(e) => self.text(&e),
            Ac::Tasks(tasks) => {
                self.out.push_str("<ul class=\"task-list\">");
                for (done, body) in tasks {
                    self.out.push_str("<li>");
                    self.out.push_str(if done { "☑ " } else { "☐ " });
                    self.nodes(body);
                    self.out.push_str("</li>");
                }
                self.out.push_str("</ul>");
            }
            Ac::Toc => {
                let toc = match self.toc.take() {
                    Some(toc) => toc,
                    None => {
                        let mut toc = Vec::new();
                        semantic::headings(self.root, &mut toc);
                        toc
                    }
                };
                self.out.push_str("<ul class=\"toc\">");
                for (level, t) in &toc {
                    self.out.push_str("<li class=\"toc-h");
                    self.out.push(char::from(b'0' + level));
                    self.out.push_str("\">");
                    self.text(t);
                    self.out.push_str("</li>");
                }
                self.out.push_str("</ul>");
                self.toc = Some(toc);
            }
            Ac::Note(t) => {
                self.out.push_str("<p class=\"macro-note\"><em>");
                self.text(&t);
                self.out.push_str("</em></p>");
            }
            Ac::Anchor(a) => {
                self.out.push_str("<a");
                self.attr("id", &a);
                self.out.push_str("></a>");
            }
            Ac::Unknown { name, body } => {
                self.out
                    .push_str("<div class=\"unknown-macro\"><p><em>Macro: ");
                self.text(&name);
                self.out.push_str("</em></p>");
                self.body(&body);
                self.out.push_str("</div>");
            }
            Ac::Container(nodes) => self.nodes(nodes),
            Ac::Drop => {}
        }
    }
}
