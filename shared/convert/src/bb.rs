//! Bitrix24 BB-code output ([B], [I], [U], [S], [URL], [IMG], [CODE], [QUOTE], [LIST],
//! [TABLE], [USER]-free mentions).
//!
//! Text from the page must never turn into markup: see [`push_text`] for how.

use crate::parse::{E, N, Nodes, Tag, Tree, text_cow};
use crate::semantic::{self, Ac, Body};
use crate::{Context, Report};

fn is_block_tag(tag: Tag) -> bool {
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
            | Tr
            | Blockquote
            | Pre
            | Hr
            | Div
            | Section
            | Figure
            | Dl
            | Dt
            | Dd
            | Details
    )
}

struct Bb<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    root: Nodes<'c>,
    toc: Option<Vec<(u8, String)>>,
    out: String,
    scratch: String,
}

pub(crate) fn render(tree: &Tree<'_>, ctx: &Context, report: &mut Report, hint: usize) -> String {
    let root = tree.root();
    let mut bb = Bb {
        ctx,
        report,
        root,
        toc: None,
        out: String::with_capacity(hint),
        scratch: String::new(),
    };
    bb.nodes(root);
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
    let end = out.trim_end().len();
    out.truncate(end);
    out
}

/// U+2060 WORD JOINER: invisible, zero width, and (unlike U+200B) no line-break opportunity.
///
/// BB-code has no escape character, and Bitrix24 documents none (its formatting pages list
/// the tags only; there is no `[noparse]` and no `[[` convention). Its parsers (the PHP
/// `CTextParser` and the chat's own) only recognise a tag when its name follows the `[`
/// directly (`\[b\]`, `\[url\s*=`, `\[user\s*=`, `\[disk …`, `\[\*\]`), so one invisible
/// character after a `[` that would start a tag keeps the text as it reads while no parser
/// sees a tag. HTML entities (`&#91;`) would show literally in chat, which is plain text
/// with BB-code, and a backslash would stay visible.
const WJ: char = '\u{2060}';

/// What each byte is to [`push_text`]: 0 plain, 1 may start markup, 2 HTML whitespace.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'[' as usize] = 1;
    t[b'#' as usize] = 1;
    t[b'>' as usize] = 1;
    t[b' ' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t[0x0c] = 2;
    t
};

/// Whether the byte at `i` (a `[`, `#` or `>`) starts something B24 reads as markup, so a
/// [`WJ`] must follow it: `[` before a tag name, a closing `/` or the list item `*`, or at
/// the very end (the next text node could supply the name); `#BR#` (a line break); `>>`
/// (a quote line).
fn starts_markup(b: &[u8], i: usize) -> bool {
    match b[i] {
        b'[' => {
            let j = if b.get(i + 1) == Some(&b'/') {
                i + 2
            } else {
                i + 1
            };
            b.get(j)
                .is_none_or(|&n| n.is_ascii_alphabetic() || n == b'*')
        }
        b'#' => b
            .get(i + 1..i + 4)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"br#")),
        b'>' => b.get(i + 1) == Some(&b'>'),
        _ => false,
    }
}

/// Append page text so that it reads the same and B24 finds no markup in it; with
/// `collapse`, runs of HTML whitespace become one space (as a browser shows them).
fn push_text(s: &str, collapse: bool, out: &mut String) {
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match CLASS[usize::from(b[i])] {
            0 => i += 1,
            1 => {
                let split = starts_markup(b, i);
                i += 1;
                if split {
                    out.push_str(&s[last..i]);
                    out.push(WJ);
                    last = i;
                }
            }
            _ if collapse => {
                let mut j = i + 1;
                while j < b.len() && CLASS[usize::from(b[j])] == 2 {
                    j += 1;
                }
                if b[i] != b' ' || j > i + 1 {
                    out.push_str(&s[last..i]);
                    out.push(' ');
                    last = j;
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out.push_str(&s[last..]);
}

/// Append the content of a `[CODE]` block: shown verbatim by B24, so only a `[/CODE]` in it
/// (which would end the block early) is broken up. Nothing else is touched, so code copied
/// out of the chat still works.
fn push_code(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut last = 0;
    for (i, _) in s.match_indices('[') {
        if b.get(i + 1..i + 6)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"/code"))
        {
            out.push_str(&s[last..=i]);
            out.push(WJ);
            last = i + 1;
        }
    }
    out.push_str(&s[last..]);
}

/// The end of `out` from `start` on, trimmed as a whole.
fn trim_tail(out: &mut String, start: usize) {
    let end = start + out[start..].trim_end().len();
    out.truncate(end);
    let lead = out[start..].len() - out[start..].trim_start().len();
    if lead > 0 {
        out.drain(start..start + lead);
    }
}

/// A URL inside `[URL=…]` or `[IMG]…[/IMG]`: brackets would end or start a tag.
fn push_url(u: &str, out: &mut String) {
    for c in u.chars() {
        match c {
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            c => out.push(c),
        }
    }
}

impl Bb<'_> {
    fn nodes(&mut self, nodes: Nodes<'_>) {
        for n in nodes.iter() {
            match n {
                N::Text(t) => push_text(t, true, &mut self.out),
                N::Cdata(t) => push_text(t, false, &mut self.out),
                N::El(e) => self.element(e),
            }
        }
    }

    fn text(&mut self, t: &str) {
        push_text(t, false, &mut self.out);
    }

    fn block_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn wrap(&mut self, e: E<'_>, open: &str, close: &str) {
        self.out.push_str(open);
        self.nodes(e.children());
        self.out.push_str(close);
    }

    fn code(&mut self, t: &str) {
        self.out.push_str("[CODE]");
        push_code(t, &mut self.out);
        self.out.push_str("[/CODE]");
    }

    fn element(&mut self, e: E<'_>) {
        if e.is_ac() {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.ac(ac);
        }
        let tag = e.tag();
        if tag.heading_level().is_some() {
            self.block_break();
            self.out.push('\n');
            self.wrap(e, "[B]", "[/B]");
            self.out.push('\n');
            return;
        }
        match tag {
            Tag::Strong | Tag::B => self.wrap(e, "[B]", "[/B]"),
            Tag::Em | Tag::I | Tag::Cite => self.wrap(e, "[I]", "[/I]"),
            Tag::U => self.wrap(e, "[U]", "[/U]"),
            Tag::S | Tag::Del | Tag::Strike => self.wrap(e, "[S]", "[/S]"),
            Tag::Br => self.out.push('\n'),
            Tag::Hr => {
                self.block_break();
                self.out.push_str("----------\n");
            }
            Tag::A => match e.attr("href").and_then(semantic::safe_url) {
                Some(h) => {
                    self.out.push_str("[URL=");
                    push_url(h, &mut self.out);
                    self.out.push(']');
                    self.nodes(e.children());
                    self.out.push_str("[/URL]");
                }
                None => self.nodes(e.children()),
            },
            Tag::Img => {
                if let Some(src) = e.attr("src").and_then(semantic::safe_url) {
                    self.out.push_str("[IMG]");
                    push_url(src, &mut self.out);
                    self.out.push_str("[/IMG]");
                }
            }
            Tag::Code | Tag::Kbd => self.code(&text_cow(e.children())),
            Tag::Pre => {
                self.block_break();
                self.code(&text_cow(e.children()));
                self.out.push('\n');
            }
            Tag::Blockquote => {
                self.block_break();
                self.wrap(e, "[QUOTE]", "[/QUOTE]");
                self.out.push('\n');
            }
            Tag::Ul | Tag::Ol => {
                self.block_break();
                self.out.push_str(if tag == Tag::Ol {
                    "[LIST=1]\n"
                } else {
                    "[LIST]\n"
                });
                let children = e.children();
                for (i, child) in children.iter().enumerate() {
                    match child {
                        N::El(li) if li.tag() == Tag::Li => {
                            self.out.push_str("[*]");
                            let start = self.out.len();
                            self.nodes(li.children());
                            trim_tail(&mut self.out, start);
                            self.out.push('\n');
                        }
                        _ => self.nodes(children.one(i)),
                    }
                }
                self.out.push_str("[/LIST]\n");
            }
            Tag::Table => self.table(e),
            Tag::Script | Tag::Style => {
                self.report.note_parts(&["html: <", &e.name(), "> dropped"]);
            }
            t if is_block_tag(t) => {
                self.block_break();
                self.nodes(e.children());
                self.out.push_str("\n\n");
            }
            _ => self.nodes(e.children()),
        }
    }

    fn table(&mut self, e: E<'_>) {
        self.block_break();
        self.out.push_str("[TABLE]\n");
        let mut rows = Vec::new();
        collect_rows(e, &mut rows, 0);
        for row in rows {
            self.out.push_str("[TR]");
            for cell in row
                .elements()
                .filter(|c| matches!(c.tag(), Tag::Td | Tag::Th))
            {
                if cell.attr("colspan").is_some() || cell.attr("rowspan").is_some() {
                    self.report.note("table: merged cells approximated");
                }
                self.out.push_str("[TD]");
                let start = self.out.len();
                self.nodes(cell.children());
                // Re-flow the cell's text: its lines trimmed, blank ones dropped.
                let mut text = std::mem::take(&mut self.scratch);
                text.clear();
                text.push_str(&self.out[start..]);
                self.out.truncate(start);
                let bold = cell.tag() == Tag::Th && text.lines().any(|l| !l.trim().is_empty());
                if bold {
                    self.out.push_str("[B]");
                }
                let mut first = true;
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if !first {
                        self.out.push('\n');
                    }
                    self.out.push_str(line);
                    first = false;
                }
                if bold {
                    self.out.push_str("[/B]");
                }
                self.scratch = text;
                self.out.push_str("[/TD]");
            }
            self.out.push_str("[/TR]\n");
        }
        self.out.push_str("[/TABLE]\n");
    }

    fn body(&mut self, body: &Body<'_>) {
        match body {
            Body::Rich(n) => self.nodes(*n),
            Body::Plain(t) => {
                self.code(t);
                self.out.push('\n');
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
                    self.out.push_str("[B]");
                    self.text(&t);
                    self.out.push_str("[/B]\n");
                }
                self.code(&body);
                self.out.push('\n');
            }
            Ac::Panel { kind, title, body } => {
                self.report.note_parts(&["panel:", &kind, " as quote"]);
                self.block_break();
                self.out.push_str("[QUOTE][B]");
                self.text(&kind.to_uppercase());
                if let Some(t) = title {
                    self.out.push_str(": ");
                    self.text(&t.to_uppercase());
                }
                self.out.push_str("[/B]\n");
                self.body(&body);
                self.out.push_str("[/QUOTE]\n");
            }
            Ac::Expand { title, body } => {
                self.report.note("macro:expand approximated");
                self.block_break();
                self.out.push_str("[B]▸ ");
                self.text(&title);
                self.out.push_str("[/B]\n");
                self.body(&body);
                self.out.push('\n');
            }
            Ac::Status { text, colour } => {
                let c = match &*colour {
                    "red" => "#de350b",
                    "yellow" => "#ff991f",
                    "green" => "#00875a",
                    "blue" => "#0052cc",
                    "purple" => "#5243aa",
                    _ => "#6b778c",
                };
                self.out.push_str("[COLOR=");
                self.out.push_str(c);
                self.out.push_str("][B]");
                self.text(&text.to_uppercase());
                self.out.push_str("[/B][/COLOR]");
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let href = href.as_deref().and_then(semantic::safe_url);
                if let Some(h) = href {
                    self.out.push_str("[URL=");
                    push_url(h, &mut self.out);
                    self.out.push(']');
                }
                match body {
                    Body::None => self.text(&fallback),
                    Body::Plain(t) => self.text(&t),
                    Body::Rich(n) => self.nodes(n),
                }
                if href.is_some() {
                    self.out.push_str("[/URL]");
                }
            }
            Ac::Mention { name } => {
                self.out.push_str("[B]@");
                self.text(&name);
                self.out.push_str("[/B]");
            }
            Ac::Image { src, caption, .. } => {
                if let Some(s) = semantic::safe_url(&src) {
                    self.out.push_str("[IMG]");
                    push_url(s, &mut self.out);
                    self.out.push_str("[/IMG]");
                }
                if let Some(c) = caption {
                    self.out.push(' ');
                    self.nodes(c);
                }
            }
            Ac::Emoji(e) | Ac::Time(e) => self.text(&e),
            Ac::InlineNote(t) => {
                self.out.push_str("[I]");
                self.text(&t);
                self.out.push_str("[/I]");
            }
            Ac::Tasks(tasks) => {
                self.block_break();
                self.out.push_str("[LIST]\n");
                for (done, body) in tasks {
                    self.out.push_str(if done { "[*]☑ " } else { "[*]☐ " });
                    let start = self.out.len();
                    self.nodes(body);
                    trim_tail(&mut self.out, start);
                    self.out.push('\n');
                }
                self.out.push_str("[/LIST]\n");
            }
            Ac::Toc => {
                self.block_break();
                let toc = match self.toc.take() {
                    Some(toc) => toc,
                    None => {
                        let mut toc = Vec::new();
                        semantic::headings(self.root, &mut toc);
                        toc
                    }
                };
                self.out.push_str("[LIST]\n");
                for (_, t) in &toc {
                    self.out.push_str("[*]");
                    self.text(t);
                    self.out.push('\n');
                }
                self.out.push_str("[/LIST]\n");
                self.toc = Some(toc);
            }
            Ac::Note(t) => {
                self.block_break();
                self.out.push_str("[I]");
                self.text(&t);
                self.out.push_str("[/I]\n");
            }
            Ac::Anchor(_) => self.report.note("macro:anchor dropped"),
            Ac::Unknown { name, body } => {
                self.block_break();
                self.out.push_str("[QUOTE][B]Macro: ");
                self.text(&name);
                self.out.push_str("[/B]\n");
                self.body(&body);
                self.out.push_str("[/QUOTE]\n");
            }
            Ac::Container(n) => self.nodes(n),
            Ac::Drop => {}
        }
    }
}

fn collect_rows<'t>(e: E<'t>, rows: &mut Vec<E<'t>>, depth: usize) {
    for c in e.elements() {
        match c.tag() {
            Tag::Tr => rows.push(c),
            Tag::Thead | Tag::Tbody | Tag::Tfoot if depth < 2 => collect_rows(c, rows, depth + 1),
            _ => {}
        }
    }
}
