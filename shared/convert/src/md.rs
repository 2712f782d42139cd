//! Markdown output (CommonMark, GFM tables and task lists).

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
    "table",
    "blockquote",
    "pre",
    "hr",
    "div",
    "html",
    "body",
    "xml",
    "section",
    "article",
    "dl",
    "figure",
    "details",
    "li",
    "tr",
    "td",
    "th",
    "tbody",
    "thead",
    "tfoot",
    "root",
];

struct Md<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    toc: Vec<(u8, String)>,
}

pub(crate) fn render(tree: &[Node], ctx: &Context, report: &mut Report) -> String {
    let mut toc = Vec::new();
    semantic::headings(tree, &mut toc);
    let mut md = Md { ctx, report, toc };
    let mut out = md.blocks(tree);
    out.push('\n');
    out
}

fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn escaped(s: &str) -> String {
    let mut o = String::new();
    esc(s, &mut o);
    o
}

fn is_block(e: &El) -> bool {
    if semantic::is_ac(e) {
        return !semantic::is_inline_ac(e);
    }
    BLOCK.contains(&e.name.as_str())
}

fn prefix_lines(s: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in s.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let p = if i == 0 { first } else { rest };
        if line.is_empty() {
            out.push_str(p.trim_end());
        } else {
            out.push_str(p);
            out.push_str(line);
        }
    }
    if s.is_empty() {
        out.push_str(first.trim_end());
    }
    out
}

fn fence(body: &str, lang: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let f = "`".repeat((longest + 1).max(3));
    format!("{f}{lang}\n{}\n{f}", body.trim_end_matches('\n'))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Md<'_> {
    fn blocks(&mut self, nodes: &[Node]) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut para = String::new();
        for n in nodes {
            match n {
                Node::El(e) if is_block(e) => {
                    flush(&mut para, &mut out);
                    let b = self.block(e);
                    if !b.trim().is_empty() {
                        out.push(b);
                    }
                }
                n => para.push_str(&self.inline_node(n)),
            }
        }
        flush(&mut para, &mut out);
        out.join("\n\n")
    }

    fn inlines(&mut self, nodes: &[Node]) -> String {
        nodes.iter().map(|n| self.inline_node(n)).collect()
    }

    fn inline_node(&mut self, n: &Node) -> String {
        match n {
            Node::Text(t) => escaped(&semantic::collapse_ws(t)),
            Node::Cdata(t) => escaped(t),
            Node::El(e) if is_block(e) => {
                format!(" {} ", one_line(&self.block(e)))
            }
            Node::El(e) if semantic::is_ac(e) => {
                let ac = semantic::classify(e, self.ctx, self.report);
                self.inline_ac(ac)
            }
            Node::El(e) => self.inline_html(e),
        }
    }

    fn wrap(&mut self, e: &El, mark: &str) -> String {
        let inner = self.inlines(&e.children);
        let t = inner.trim();
        if t.is_empty() {
            return inner;
        }
        let lead = if inner.starts_with(' ') { " " } else { "" };
        let trail = if inner.ends_with(' ') { " " } else { "" };
        format!("{lead}{mark}{t}{mark}{trail}")
    }

    fn inline_html(&mut self, e: &El) -> String {
        match e.name.as_str() {
            "strong" | "b" => self.wrap(e, "**"),
            "em" | "i" | "cite" => self.wrap(e, "*"),
            "s" | "del" | "strike" => self.wrap(e, "~~"),
            "code" | "kbd" => {
                let t = text_of(&e.children);
                let f = if t.contains('`') { "``" } else { "`" };
                format!("{f}{t}{f}")
            }
            "br" => "\\\n".to_owned(),
            "a" => {
                let text = self.inlines(&e.children);
                match e.attr("href").and_then(semantic::safe_url) {
                    Some(h) => format!(
                        "[{}]({})",
                        text.trim(),
                        h.replace(' ', "%20").replace(')', "%29")
                    ),
                    None => text,
                }
            }
            "img" => match e.attr("src").and_then(semantic::safe_url) {
                Some(src) => format!("![{}]({src})", escaped(e.attr("alt").unwrap_or(""))),
                None => String::new(),
            },
            "script" | "style" => {
                self.report.note(format!("html: <{}> dropped", e.name));
                String::new()
            }
            "u" => {
                self.report.note("underline dropped");
                self.inlines(&e.children)
            }
            _ => self.inlines(&e.children),
        }
    }

    fn inline_body(&mut self, body: &Body<'_>) -> String {
        match body {
            Body::Rich(n) => self.inlines(n),
            Body::Plain(t) => escaped(t),
            Body::None => String::new(),
        }
    }

    fn inline_ac(&mut self, ac: Ac<'_>) -> String {
        match ac {
            Ac::Status { text, colour: _ } => {
                self.report.note("macro:status approximated");
                format!("**\\[{}\\]**", escaped(&text.to_uppercase()))
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let text = match body {
                    Body::None => escaped(&fallback),
                    b => self.inline_body(&b),
                };
                match href.and_then(|h| semantic::safe_url(&h)) {
                    Some(h) => format!(
                        "[{}]({})",
                        text.trim(),
                        h.replace(' ', "%20").replace(')', "%29")
                    ),
                    None => text,
                }
            }
            Ac::Mention { name } => format!("**@{}**", escaped(&name)),
            Ac::Image { src, alt, caption } => {
                let mut s = format!("![{}]({})", escaped(&alt), src.replace(' ', "%20"));
                if let Some(c) = caption {
                    s.push(' ');
                    s.push_str(&self.inlines(c));
                }
                s
            }
            Ac::Emoji(e) | Ac::Time(e) => escaped(&e),
            Ac::InlineNote(t) => format!("*{}*", escaped(&t)),
            Ac::Anchor(_) => {
                self.report.note("macro:anchor dropped");
                String::new()
            }
            Ac::Container(n) => self.inlines(n),
            Ac::Drop => String::new(),
            other => one_line(&self.block_ac(other)),
        }
    }

    fn block(&mut self, e: &El) -> String {
        if semantic::is_ac(e) {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.block_ac(ac);
        }
        let name = e.name.as_str();
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes()[1] - b'0';
                let t = one_line(&self.inlines(&e.children));
                if t.is_empty() {
                    return String::new();
                }
                format!("{} {t}", "#".repeat(level.into()))
            }
            "ul" | "ol" => self.list(e),
            "hr" => "---".to_owned(),
            "pre" => fence(&text_of(&e.children), ""),
            "blockquote" => {
                let inner = self.blocks(&e.children);
                prefix_lines(&inner, "> ", "> ")
            }
            "table" => self.table(e),
            _ => self.blocks(&e.children),
        }
    }

    fn list(&mut self, e: &El) -> String {
        let ordered = e.name == "ol";
        let mut n: u64 = e
            .attr("start")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1);
        let mut items = Vec::new();
        for child in &e.children {
            match child {
                Node::El(li) if li.name == "li" => {
                    let body = self.blocks(&li.children);
                    let marker = if ordered {
                        format!("{n}. ")
                    } else {
                        "- ".to_owned()
                    };
                    n = n.saturating_add(1);
                    let indent = " ".repeat(marker.len());
                    items.push(prefix_lines(&body, &marker, &indent));
                }
                other => {
                    let t = self.blocks(std::slice::from_ref(other));
                    if !t.trim().is_empty() {
                        items.push(t);
                    }
                }
            }
        }
        items.join("\n")
    }

    fn table(&mut self, e: &El) -> String {
        let mut rows: Vec<&El> = Vec::new();
        collect_rows(e, &mut rows, 0);
        let mut grid: Vec<Vec<String>> = Vec::new();
        let mut merged = false;
        for row in rows {
            let mut cells = Vec::new();
            for cell in row.elements().filter(|c| c.name == "td" || c.name == "th") {
                let text = self.blocks(&cell.children).replace("\\\n", "\n");
                let text = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("<br>");
                cells.push(text);
                let span: usize = cell
                    .attr("colspan")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1);
                if span > 1 || cell.attr("rowspan").is_some_and(|r| r.trim() != "1") {
                    merged = true;
                }
                for _ in 1..span.min(64) {
                    cells.push(String::new());
                }
            }
            grid.push(cells);
        }
        if merged {
            self.report.note("table: merged cells approximated");
        }
        let cols = grid.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return String::new();
        }
        let mut out = String::new();
        for (i, row) in grid.iter().enumerate() {
            out.push('|');
            for c in 0..cols {
                out.push(' ');
                out.push_str(row.get(c).map_or("", String::as_str));
                out.push_str(" |");
            }
            out.push('\n');
            if i == 0 {
                out.push('|');
                out.push_str(&" --- |".repeat(cols));
                out.push('\n');
            }
        }
        out.trim_end().to_owned()
    }

    fn body_blocks(&mut self, body: &Body<'_>) -> String {
        match body {
            Body::Rich(n) => self.blocks(n),
            Body::Plain(t) => fence(t, ""),
            Body::None => String::new(),
        }
    }

    fn block_ac(&mut self, ac: Ac<'_>) -> String {
        match ac {
            Ac::Code { lang, title, body } => {
                let code = fence(&body, lang.as_deref().unwrap_or(""));
                match title {
                    Some(t) => format!("**{}**\n\n{code}", escaped(&t)),
                    None => code,
                }
            }
            Ac::Panel { kind, title, body } => {
                self.report.note(format!("panel:{kind} as blockquote"));
                let label = match kind.as_str() {
                    "info" => "ℹ️ Info",
                    "note" => "📝 Note",
                    "warning" => "⚠️ Warning",
                    "tip" => "💡 Tip",
                    "error" => "⛔ Error",
                    "success" => "✅ Success",
                    _ => "Panel",
                };
                let head = match title {
                    Some(t) => format!("**{label}: {}**", escaped(&t)),
                    None => format!("**{label}**"),
                };
                let inner = self.body_blocks(&body);
                prefix_lines(&format!("{head}\n\n{inner}"), "> ", "> ")
            }
            Ac::Expand { title, body } => {
                self.report.note("macro:expand approximated");
                let inner = self.body_blocks(&body);
                format!("**▸ {}**\n\n{inner}", escaped(&title))
            }
            Ac::Tasks(tasks) => {
                let mut items = Vec::new();
                for (done, body) in tasks {
                    let b = self.blocks(body);
                    let marker = if done { "- [x] " } else { "- [ ] " };
                    items.push(prefix_lines(&b, marker, "      "));
                }
                items.join("\n")
            }
            Ac::Toc => {
                let toc = self.toc.clone();
                toc.iter()
                    .map(|(l, t)| {
                        format!(
                            "{}- {}",
                            "  ".repeat(usize::from(l.saturating_sub(1))),
                            escaped(t)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Ac::Note(t) => format!("*{}*", escaped(&t)),
            Ac::Unknown { name, body } => {
                let inner = self.body_blocks(&body);
                let head = format!("**Macro: {}**", escaped(&name));
                prefix_lines(&format!("{head}\n\n{inner}"), "> ", "> ")
            }
            Ac::Container(n) => self.blocks(n),
            Ac::Drop => String::new(),
            inline => self.inline_ac(inline),
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

fn flush(para: &mut String, out: &mut Vec<String>) {
    let t = para.lines().map(str::trim).collect::<Vec<_>>().join("\n");
    let mut t = t.trim();
    while let Some(rest) = t.strip_suffix('\\') {
        if rest.ends_with('\\') {
            break;
        }
        t = rest.trim_end();
    }
    if !t.is_empty() {
        out.push(t.to_owned());
    }
    para.clear();
}
