//! Bitrix24 BB-code output ([B], [I], [U], [S], [URL], [IMG], [CODE], [QUOTE], [LIST],
//! [TABLE], [USER]-free mentions). BB-code has no escape for `[`; text is kept as is.

use crate::parse::{El, Node, text_of};
use crate::semantic::{self, Ac, Body};
use crate::{Context, Report};

const BLOCK: &[&str] = &[
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
    "tr",
    "blockquote",
    "pre",
    "hr",
    "div",
    "section",
    "figure",
    "dl",
    "dt",
    "dd",
    "details",
];

struct Bb<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    toc: Vec<(u8, String)>,
    out: String,
}

pub(crate) fn render(tree: &[Node], ctx: &Context, report: &mut Report) -> String {
    let mut toc = Vec::new();
    semantic::headings(tree, &mut toc);
    let mut bb = Bb {
        ctx,
        report,
        toc,
        out: String::new(),
    };
    bb.nodes(tree);
    tidy(&bb.out)
}

/// Trim lines outside `[CODE]` and collapse runs of blank lines.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    let mut in_code = false;
    for line in s.lines() {
        let l = if in_code { line } else { line.trim() };
        if l.contains("[CODE]") {
            in_code = true;
        }
        if l.contains("[/CODE]") {
            in_code = false;
        }
        if l.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(l);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

impl Bb<'_> {
    fn nodes(&mut self, nodes: &[Node]) {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(&semantic::collapse_ws(t)),
                Node::Cdata(t) => self.out.push_str(t),
                Node::El(e) => self.element(e),
            }
        }
    }

    fn block_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn wrap(&mut self, e: &El, tag: &str) {
        self.out.push_str(&format!("[{tag}]"));
        self.nodes(&e.children);
        let close = tag.split('=').next().unwrap_or(tag);
        self.out.push_str(&format!("[/{close}]"));
    }

    fn element(&mut self, e: &El) {
        if semantic::is_ac(e) {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.ac(ac);
        }
        let name = e.name.as_str();
        match name {
            "strong" | "b" => self.wrap(e, "B"),
            "em" | "i" | "cite" => self.wrap(e, "I"),
            "u" => self.wrap(e, "U"),
            "s" | "del" | "strike" => self.wrap(e, "S"),
            "br" => self.out.push('\n'),
            "hr" => {
                self.block_break();
                self.out.push_str("----------\n");
            }
            "a" => match e.attr("href").and_then(semantic::safe_url) {
                Some(h) => {
                    self.out
                        .push_str(&format!("[URL={}]", h.replace(']', "%5D")));
                    self.nodes(&e.children);
                    self.out.push_str("[/URL]");
                }
                None => self.nodes(&e.children),
            },
            "img" => {
                if let Some(src) = e.attr("src").and_then(semantic::safe_url) {
                    self.out.push_str(&format!("[IMG]{src}[/IMG]"));
                }
            }
            "code" | "kbd" => {
                self.out.push_str("[CODE]");
                self.out.push_str(&text_of(&e.children));
                self.out.push_str("[/CODE]");
            }
            "pre" => {
                self.block_break();
                self.out.push_str("[CODE]");
                self.out.push_str(&text_of(&e.children));
                self.out.push_str("[/CODE]\n");
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.block_break();
                self.out.push('\n');
                self.wrap(e, "B");
                self.out.push('\n');
            }
            "blockquote" => {
                self.block_break();
                self.wrap(e, "QUOTE");
                self.out.push('\n');
            }
            "ul" | "ol" => {
                self.block_break();
                self.out.push_str(if name == "ol" {
                    "[LIST=1]\n"
                } else {
                    "[LIST]\n"
                });
                for child in &e.children {
                    match child {
                        Node::El(li) if li.name == "li" => {
                            self.out.push_str("[*]");
                            let start = self.out.len();
                            self.nodes(&li.children);
                            let item = self.out.split_off(start);
                            self.out.push_str(item.trim());
                            self.out.push('\n');
                        }
                        other => self.nodes(std::slice::from_ref(other)),
                    }
                }
                self.out.push_str("[/LIST]\n");
            }
            "table" => {
                self.block_break();
                self.out.push_str("[TABLE]\n");
                let mut rows = Vec::new();
                collect_rows(e, &mut rows, 0);
                for row in rows {
                    self.out.push_str("[TR]");
                    for cell in row.elements().filter(|c| c.name == "td" || c.name == "th") {
                        if cell.attr("colspan").is_some() || cell.attr("rowspan").is_some() {
                            self.report.note("table: merged cells approximated");
                        }
                        self.out.push_str("[TD]");
                        let start = self.out.len();
                        self.nodes(&cell.children);
                        let text = self.out.split_off(start);
                        let text = text
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .collect::<Vec<_>>()
                            .join("\n");
                        if cell.name == "th" && !text.is_empty() {
                            self.out.push_str(&format!("[B]{text}[/B]"));
                        } else {
                            self.out.push_str(&text);
                        }
                        self.out.push_str("[/TD]");
                    }
                    self.out.push_str("[/TR]\n");
                }
                self.out.push_str("[/TABLE]\n");
            }
            "script" | "style" => self.report.note(format!("html: <{name}> dropped")),
            _ if BLOCK.contains(&name) => {
                self.block_break();
                self.nodes(&e.children);
                self.out.push_str("\n\n");
            }
            _ => self.nodes(&e.children),
        }
    }

    fn body(&mut self, body: &Body<'_>) {
        match body {
            Body::Rich(n) => self.nodes(n),
            Body::Plain(t) => {
                self.out.push_str("[CODE]");
                self.out.push_str(t);
                self.out.push_str("[/CODE]\n");
            }
            Body::None => {}
        }
    }

    fn ac(&mut self, ac: Ac<'_>) {
        match ac {
            Ac::Code { lang, title, body } => {
                if lang.is_some() {
                    self.report.note("code: language dropped (BB-code)");
                }
                self.block_break();
                if let Some(t) = title {
                    self.out.push_str(&format!("[B]{t}[/B]\n"));
                }
                self.out.push_str("[CODE]");
                self.out.push_str(&body);
                self.out.push_str("[/CODE]\n");
            }
            Ac::Panel { kind, title, body } => {
                self.report.note(format!("panel:{kind} as quote"));
                self.block_break();
                self.out.push_str("[QUOTE]");
                let label = match title {
                    Some(t) => format!("{kind}: {t}"),
                    None => kind,
                };
                self.out
                    .push_str(&format!("[B]{}[/B]\n", label.to_uppercase()));
                self.body(&body);
                self.out.push_str("[/QUOTE]\n");
            }
            Ac::Expand { title, body } => {
                self.report.note("macro:expand approximated");
                self.block_break();
                self.out.push_str(&format!("[B]▸ {title}[/B]\n"));
                self.body(&body);
                self.out.push('\n');
            }
            Ac::Status { text, colour } => {
                let c = match colour.as_str() {
                    "red" => "#de350b",
                    "yellow" => "#ff991f",
                    "green" => "#00875a",
                    "blue" => "#0052cc",
                    "purple" => "#5243aa",
                    _ => "#6b778c",
                };
                self.out.push_str(&format!(
                    "[COLOR={c}][B]{}[/B][/COLOR]",
                    text.to_uppercase()
                ));
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let href = href.and_then(|h| semantic::safe_url(&h));
                if let Some(h) = &href {
                    self.out
                        .push_str(&format!("[URL={}]", h.replace(']', "%5D")));
                }
                match body {
                    Body::None => self.out.push_str(&fallback),
                    Body::Plain(t) => self.out.push_str(&t),
                    Body::Rich(n) => self.nodes(n),
                }
                if href.is_some() {
                    self.out.push_str("[/URL]");
                }
            }
            Ac::Mention { name } => self.out.push_str(&format!("[B]@{name}[/B]")),
            Ac::Image {
                src,
                alt: _,
                caption,
            } => {
                if let Some(s) = semantic::safe_url(&src) {
                    self.out.push_str(&format!("[IMG]{s}[/IMG]"));
                }
                if let Some(c) = caption {
                    self.out.push(' ');
                    self.nodes(c);
                }
            }
            Ac::Emoji(e) | Ac::Time(e) => self.out.push_str(&e),
            Ac::InlineNote(t) => self.out.push_str(&format!("[I]{t}[/I]")),
            Ac::Tasks(tasks) => {
                self.block_break();
                self.out.push_str("[LIST]\n");
                for (done, body) in tasks {
                    self.out.push_str(if done { "[*]☑ " } else { "[*]☐ " });
                    let start = self.out.len();
                    self.nodes(body);
                    let item = self.out.split_off(start);
                    self.out.push_str(item.trim());
                    self.out.push('\n');
                }
                self.out.push_str("[/LIST]\n");
            }
            Ac::Toc => {
                self.block_break();
                let toc = self.toc.clone();
                self.out.push_str("[LIST]\n");
                for (_, t) in toc {
                    self.out.push_str(&format!("[*]{t}\n"));
                }
                self.out.push_str("[/LIST]\n");
            }
            Ac::Note(t) => {
                self.block_break();
                self.out.push_str(&format!("[I]{t}[/I]\n"));
            }
            Ac::Anchor(_) => self.report.note("macro:anchor dropped"),
            Ac::Unknown { name, body } => {
                self.block_break();
                self.out.push_str(&format!("[QUOTE][B]Macro: {name}[/B]\n"));
                self.body(&body);
                self.out.push_str("[/QUOTE]\n");
            }
            Ac::Container(n) => self.nodes(n),
            Ac::Drop => {}
        }
    }
}

fn collect_rows<'a>(e: &'a El, rows: &mut Vec<&'a El>, depth: usize) {
    for c in e.elements() {
        match c.name.as_str() {
            "tr" => rows.push(c),
            "thead" | "tbody" | "tfoot" if depth < 2 => collect_rows(c, rows, depth + 1),
            _ => {}
        }
    }
}
