//! HTML output: known-safe HTML passes (without style or event attributes), `ac:` constructs
//! become plain HTML, everything is escaped.

use crate::parse::{El, Node};
use crate::semantic::{self, Ac, Body};
use crate::{Context, Report};

const PASS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "colgroup",
    "col",
    "caption",
    "blockquote",
    "pre",
    "code",
    "strong",
    "b",
    "em",
    "i",
    "u",
    "s",
    "del",
    "strike",
    "sub",
    "sup",
    "br",
    "hr",
    "a",
    "span",
    "div",
    "img",
    "dl",
    "dt",
    "dd",
    "kbd",
    "mark",
    "small",
    "big",
    "ins",
    "cite",
    "q",
    "abbr",
    "details",
    "summary",
    "figure",
    "figcaption",
];
const VOID: &[&str] = &["br", "hr", "img", "col"];
const DROP: &[&str] = &[
    "script", "style", "iframe", "object", "embed", "form", "input", "button", "select",
    "textarea", "head", "meta", "link", "base",
];

pub(crate) fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

struct Html<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    toc: Vec<(u8, String)>,
    out: String,
}

pub(crate) fn render(tree: &[Node], ctx: &Context, report: &mut Report) -> String {
    let mut toc = Vec::new();
    semantic::headings(tree, &mut toc);
    let mut h = Html {
        ctx,
        report,
        toc,
        out: String::new(),
    };
    h.nodes(tree);
    h.out
}

impl Html<'_> {
    fn nodes(&mut self, nodes: &[Node]) {
        for n in nodes {
            match n {
                Node::Text(t) => esc(t, &mut self.out),
                Node::Cdata(t) => esc(t, &mut self.out),
                Node::El(e) => self.element(e),
            }
        }
    }

    fn body(&mut self, body: &Body<'_>) {
        match body {
            Body::Rich(nodes) => self.nodes(nodes),
            Body::Plain(t) => {
                self.out.push_str("<pre>");
                esc(t, &mut self.out);
                self.out.push_str("</pre>");
            }
            Body::None => {}
        }
    }

    fn element(&mut self, e: &El) {
        if semantic::is_ac(e) {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.ac(ac);
        }
        let name = e.name.as_str();
        if DROP.contains(&name) {
            if name != "head" && name != "meta" && name != "link" {
                self.report.note(format!("html: <{name}> dropped"));
            }
            return;
        }
        if !PASS.contains(&name) {
            return self.nodes(&e.children);
        }
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in &e.attrs {
            let keep = match (name, k.as_str()) {
                ("a", "href") | ("img", "src") => {
                    if let Some(u) = semantic::safe_url(v) {
                        self.attr(k, &u);
                    } else {
                        self.report.note("html: unsafe URL dropped");
                    }
                    false
                }
                ("td" | "th", "colspan" | "rowspan") | ("ol", "start") | ("img", "alt") => true,
                (_, "title") => true,
                _ => false,
            };
            if keep {
                self.attr(k, v);
            }
        }
        self.out.push('>');
        if VOID.contains(&name) {
            return;
        }
        self.nodes(&e.children);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn attr(&mut self, k: &str, v: &str) {
        self.out.push(' ');
        self.out.push_str(k);
        self.out.push_str("=\"");
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
                    self.attr("class", &format!("language-{l}"));
                }
                self.out.push('>');
                self.text(&body);
                self.out.push_str("</code></pre>");
            }
            Ac::Panel { kind, title, body } => {
                self.out.push_str("<blockquote");
                self.attr("class", &format!("panel panel-{kind}"));
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
                self.attr("class", &format!("status status-{colour}"));
                self.out.push_str("><strong>");
                self.text(&text.to_uppercase());
                self.out.push_str("</strong></span>");
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let href = href.and_then(|h| semantic::safe_url(&h));
                if let Some(h) = &href {
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
            Ac::Image { src, alt, caption } => {
                if caption.is_some() {
                    self.out.push_str("<figure>");
                }
                self.out.push_str("<img");
                match semantic::safe_url(&src) {
                    Some(u) => self.attr("src", &u),
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
                let toc = std::mem::take(&mut self.toc);
                self.out.push_str("<ul class=\"toc\">");
                for (level, t) in &toc {
                    self.out.push_str("<li");
                    self.attr("class", &format!("toc-h{level}"));
                    self.out.push('>');
                    self.text(t);
                    self.out.push_str("</li>");
                }
                self.out.push_str("</ul>");
                self.toc = toc;
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
                self.out.push_str("<div");
                self.attr("class", "unknown-macro");
                self.out.push_str("><p><em>Macro: ");
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
