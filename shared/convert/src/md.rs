//! Markdown output (CommonMark, GFM tables and task lists).
//!
//! Every function appends to a buffer it is given. Blocks that need their lines prefixed
//! (quotes, list items) or trimmed (paragraphs, headings, table cells) are first rendered
//! into a scratch buffer from a small pool, so a document costs a few allocations however
//! many nodes it has.
//!
//! Text is escaped twice over. Inline: `push_text` backslash-escapes the punctuation that
//! could open inline markup anywhere in a line (and `<`, `>`, `|`, which would open HTML, a
//! quote or a table cell). Block: a paragraph, list item or table of contents entry is
//! written line by line, and [`block_start`] escapes the one character at the start of a
//! line that would otherwise open a heading, list, rule, code block or other block there.
//! It looks at the finished line, so a marker split across text nodes and inline elements
//! (`#<em> x</em>` → `# *x*`) is seen where it ends up. Table cells and blocks flattened
//! into a line are not block starts, so they are left alone.

mod defer;

use std::borrow::Cow;

use defer::{Emph, EntityLike, entity_like, push_mark};

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
            | Table
            | Blockquote
            | Pre
            | Hr
            | Div
            | Html
            | Body
            | Xml
            | Section
            | Article
            | Dl
            | Figure
            | Details
            | Li
            | Tr
            | Td
            | Th
            | Tbody
            | Thead
            | Tfoot
            | Root
    )
}

fn is_block(e: E<'_>) -> bool {
    if e.is_ac() {
        return !semantic::is_inline_ac(e);
    }
    is_block_tag(e.tag())
}

struct Md<'c> {
    ctx: &'c Context,
    report: &'c mut Report,
    root: Nodes<'c>,
    toc: Option<Vec<(u8, String)>>,
    pool: Vec<String>,
    /// Inside the text of a link, where an embed on its own line would break the link.
    in_link: u32,
    /// Rendering text whose lines do not start blocks (table cells, blocks flattened into a
    /// line): block markers are not escaped there.
    no_blocks: u32,
    /// Inside a table cell, where a `|` in a code span would end the cell.
    in_cell: u32,
}

pub(crate) fn render(tree: &Tree<'_>, ctx: &Context, report: &mut Report, hint: usize) -> String {
    let root = tree.root();
    let mut md = Md {
        ctx,
        report,
        root,
        toc: None,
        pool: Vec::new(),
        in_link: 0,
        no_blocks: 0,
        in_cell: 0,
    };
    let mut out = String::with_capacity(hint);
    md.blocks(root, &mut out);
    // Placeholders written outside paragraphs and headings (titles, block-level inline
    // macros, table of contents entries).
    if out.contains('\0') {
        out = defer::resolve(&out, false, md.report);
    }
    out.push('\n');
    out
}

/// What each byte is to [`push_text`]: 0 plain, 1 Markdown punctuation to escape, 2 HTML
/// whitespace, 3 `&`, 4 `~`, 5 NUL. A table lookup keeps the common (plain) case to one load
/// and compare.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    let punct = b"\\`*_[]<>|";
    while i < punct.len() {
        t[punct[i] as usize] = 1;
        i += 1;
    }
    t[b' ' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t[0x0c] = 2;
    t[b'&' as usize] = 3;
    t[b'~' as usize] = 4;
    t[0] = 5;
    t
};

/// Append `s` with Markdown punctuation backslash-escaped and runs of HTML whitespace as one
/// space (as a browser shows them). For text nodes, and for attribute values, macro
/// parameters and CDATA, which are shown on one line too: no line of the output starts
/// inside them.
///
/// `&` is escaped only where it starts a character reference (`&copy;`, `&#169;`,
/// `&#xA9;`), which a parser would decode; one that the next node could complete is left to
/// [`defer`]. A run of `~` could open or close GFM strikethrough (`~x~`, `~~x~~`) unless it
/// has whitespace on both sides, which keeps it from flanking anything: such a run (`a ~ b`,
/// `x ~~ y`) is left alone, any other is escaped, `~` by `~` (pulldown-cmark lets a `~` right
/// after an escaped one delimit). A whitespace neighbour at the edge of `s` may be trimmed
/// away and a neighbour outside it is not known yet: then [`defer`] decides.
fn push_text(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match CLASS[usize::from(b[i])] {
            0 => i += 1,
            1 => {
                out.push_str(&s[last..i]);
                out.push('\\');
                last = i;
                i += 1;
            }
            3 => {
                match entity_like(&b[i + 1..]) {
                    EntityLike::No => {}
                    EntityLike::Yes => {
                        out.push_str(&s[last..i]);
                        out.push('\\');
                        last = i;
                    }
                    EntityLike::Maybe => {
                        out.push_str(&s[last..i]);
                        out.push_str(defer::AMP);
                        last = i + 1;
                    }
                }
                i += 1;
            }
            4 => {
                let end = i + b[i..].iter().take_while(|&&c| c == b'~').count();
                let ws = |c: &u8| CLASS[usize::from(*c)] == 2;
                // Each side: whitespace then more text in `s` (kept), a character that is not
                // whitespace (escape), or the edge of `s` (not known).
                let before = b[..i].iter().rev().position(|c| !ws(c));
                let after = b[end..].iter().position(|c| !ws(c));
                let tilde = match (before, after) {
                    (Some(0), _) | (_, Some(0)) => "\\~",
                    (Some(_), Some(_)) => "~",
                    _ => defer::TILDE,
                };
                if tilde != "~" {
                    out.push_str(&s[last..i]);
                    for _ in i..end {
                        out.push_str(tilde);
                    }
                    last = end;
                }
                i = end;
            }
            5 => {
                out.push_str(&s[last..i]);
                out.push('\u{fffd}');
                i += 1;
                last = i;
            }
            _ => {
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
        }
    }
    out.push_str(&s[last..]);
}

/// Where a backslash keeps a line of paragraph text (already inline-escaped, trimmed, not
/// empty) from opening a block in CommonMark/GFM: the byte offset to put it at, or `None`
/// when the line is plain paragraph text. `first`: the line starts the paragraph (else it
/// continues one, where fewer blocks can start: an ordered list only at `1`, no empty list
/// item, but a setext underline can turn the paragraph into a heading).
///
/// Leading whitespace is never looked at: paragraph lines are trimmed before this, since a
/// browser does not show the indentation of a line of HTML text. Dropping it (rather than
/// writing `&#32;`) is what keeps four spaces or a tab from opening an indented code block,
/// and what makes the marker the line's first byte.
///
/// `|` is not handled here: a table needs a delimiter row, and [`push_text`] escapes `|`
/// everywhere because a table row splits cells at any unescaped `|`. `<`, `>`, `*`, `_`
/// and `` ` `` are escaped everywhere too; they are checked anyway, as markup (not text)
/// could put them at a line start.
fn block_start(b: &[u8], first: bool) -> Option<usize> {
    let c = *b.first()?;
    let run = || b.iter().take_while(|&&x| x == c).count();
    // Space, tab or the end of the line after `i` bytes.
    let blank = |i: usize| b.get(i).is_none_or(|&x| x == b' ' || x == b'\t');
    let escape = match c {
        // ATX heading. CommonMark wants one to six `#` and then a blank, but older and
        // laxer parsers take `#x` for a heading too, and a line of text seldom starts with
        // `#`: escape it always.
        b'#' => true,
        // Block quote; HTML block (`<div`, `</p`, `<!--`, `<?`, `<![CDATA[`).
        b'>' => true,
        b'<' => b
            .get(1)
            .is_some_and(|x| x.is_ascii_alphabetic() || matches!(x, b'/' | b'!' | b'?')),
        b'-' | b'+' | b'*' | b'_' | b'=' => {
            let only = |x: &u8| *x == c || *x == b' ' || *x == b'\t';
            // Thematic break: three or more, spaces and tabs allowed between. A first line
            // may follow the `- ` of a list item (or table of contents entry), whose `-`
            // counts too: there `--` is a break.
            let least = if first && c == b'-' { 2 } else { 3 };
            // Bullet list item, empty only at the start of a paragraph.
            (c != b'_' && c != b'=' && if b.len() == 1 { first } else { blank(1) })
                || (c != b'+' && c != b'=' && b.iter().all(only)
                    && b.iter().filter(|&&x| x == c).count() >= least)
                // Setext underline: only `=` or only `-`, under a paragraph line.
                || (!first && (c == b'=' || c == b'-') && run() == b.len())
        }
        // Fenced code block: three backticks (info string without backticks) or tildes.
        b'`' => {
            let run = run();
            run >= 3 && !b[run..].contains(&b'`')
        }
        b'~' => run() >= 3,
        // Ordered list item: 1-9 digits, `.` or `)`, then blank; the backslash goes before
        // the delimiter (`1\.`). Continuing a paragraph, only a non-empty item numbered 1
        // interrupts it.
        b'0'..=b'9' => {
            let n = b.iter().take_while(|x| x.is_ascii_digit()).count();
            let ordered = n <= 9 && matches!(b.get(n), Some(b'.' | b')')) && blank(n + 1);
            let one = || b[..n - 1].iter().all(|&x| x == b'0') && b[n - 1] == b'1';
            return (ordered && (first || (b.len() > n + 1 && one()))).then_some(n);
        }
        _ => false,
    };
    escape.then_some(0)
}

/// Append `line` with [`block_start`]'s backslash, if it needs one.
fn push_line(line: &str, first: bool, out: &mut String) {
    match block_start(line.as_bytes(), first) {
        Some(at) => {
            out.push_str(&line[..at]);
            out.push('\\');
            out.push_str(&line[at..]);
        }
        None => out.push_str(line),
    }
}

/// Escape the end of `out` from `start` (one line of text) as [`block_start`] says.
fn escape_block_start(out: &mut String, start: usize) {
    if let Some(at) = block_start(&out.as_bytes()[start..], true) {
        out.insert(start + at, '\\');
    }
}

/// A heading's text after `# `, on one line: hard breaks become spaces (a backslash before a
/// space would show), and a closing sequence (a run of `#` at the end, alone or after a
/// space) would be dropped as markup, so its first `#` is escaped. False when the heading
/// has no text.
fn heading_text(inner: &str, report: &mut Report, out: &mut String) -> bool {
    let mut inner: Cow<'_, str> = if inner.contains("\\\n") {
        Cow::Owned(inner.replace("\\\n", " "))
    } else {
        Cow::Borrowed(inner)
    };
    if inner.contains('\0') {
        inner = Cow::Owned(defer::resolve(&inner, false, report));
    }
    let start = out.len();
    semantic::one_line_into(&inner, out);
    let text = &out.as_bytes()[start..];
    if text.is_empty() {
        return false;
    }
    let hashes = text.iter().rev().take_while(|&&c| c == b'#').count();
    if hashes > 0 {
        let at = text.len() - hashes;
        if at == 0 || matches!(text[at - 1], b' ' | b'\t') {
            out.insert(start + at, '\\');
        }
    }
    true
}

/// `inner` (inline Markdown) as emphasis of `kind`: the delimiters' placeholders around it
/// (see [`defer`]), with any whitespace and hard breaks at its ends kept outside them:
/// delimiters must touch the text, and a hard break's backslash before a closing delimiter
/// would escape it. Empty (or blank) emphasis is written as its content alone.
fn emphasize(inner: &str, kind: Emph, out: &mut String) {
    let mut t = inner.trim_start();
    while let Some(rest) = t.strip_prefix("\\\n") {
        t = rest.trim_start();
    }
    let start = inner.len() - t.len();
    t = t.trim_end();
    // A hard break is the odd backslash at the end: text backslashes come in escaped pairs.
    while t.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
        t = t[..t.len() - 1].trim_end();
    }
    if t.is_empty() {
        out.push_str(inner);
        return;
    }
    out.push_str(&inner[..start]);
    push_mark(kind, false, out);
    out.push_str(t);
    push_mark(kind, true, out);
    out.push_str(&inner[start + t.len()..]);
}

/// A code span of `t`, verbatim: fenced by one backtick more than its longest run of them,
/// padded with a space where CommonMark would otherwise take a backtick or space of the
/// content as part of the fence. Line breaks become spaces (as CommonMark reads them), so
/// that no line of the paragraph starts inside the span; empty code writes nothing. A span
/// right after a backtick (the end of another span) is set off by a space, as the two runs
/// of backticks would merge into one that closes neither (emphasis delimiters between the
/// two may be dropped, see [`defer`]). In a table cell (`in_cell`) each
/// `|` is written `\|`: GFM splits a row at every unescaped `|`, code spans included, and
/// takes the backslash out again before reading the span.
fn code_span(t: &str, in_cell: bool, out: &mut String) {
    if t.is_empty() {
        return;
    }
    let mut t: Cow<'_, str> = if t.contains(['\n', '\r']) {
        Cow::Owned(t.replace("\r\n", " ").replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(t)
    };
    if in_cell && t.contains('|') {
        t = Cow::Owned(t.replace('|', "\\|"));
    }
    if t.contains('\0') {
        t = Cow::Owned(t.replace('\0', "\u{fffd}"));
    }
    let mut longest = 0;
    let mut run = 0;
    for c in t.bytes() {
        run = if c == b'`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    // Emphasis placeholders in between may come to nothing.
    let mut end = out.as_bytes();
    while let [rest @ .., 0, b'e' | b'E' | b's' | b'S' | b'd' | b'D'] = end {
        end = rest;
    }
    if end.last() == Some(&b'`') {
        out.push(' ');
    }
    let b = t.as_bytes();
    let pad = b[0] == b'`'
        || b[b.len() - 1] == b'`'
        || (b[0] == b' ' && b[b.len() - 1] == b' ' && b.iter().any(|&c| c != b' '));
    out.extend(std::iter::repeat_n('`', longest + 1));
    if pad {
        out.push(' ');
    }
    out.push_str(&t);
    if pad {
        out.push(' ');
    }
    out.extend(std::iter::repeat_n('`', longest + 1));
}

/// A URL inside `(…)`: spaces and `)` would end it.
fn push_url(u: &str, spaces_only: bool, out: &mut String) {
    for c in u.chars() {
        match c {
            ' ' => out.push_str("%20"),
            ')' if !spaces_only => out.push_str("%29"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

fn prefix_lines(s: &str, first: &str, rest: &str, out: &mut String) {
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
}

fn fence(body: &str, lang: &str, out: &mut String) {
    let mut longest = 0;
    let mut run = 0;
    for c in body.bytes() {
        run = if c == b'`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let n = (longest + 1).max(3);
    out.extend(std::iter::repeat_n('`', n));
    // A backtick in the info string would make the fence text, a line break end it.
    if !lang.contains(['`', '\n', '\r', '\0']) {
        out.push_str(lang);
    }
    out.push('\n');
    let body = body.trim_end_matches('\n');
    if body.contains('\0') {
        out.push_str(&body.replace('\0', "\u{fffd}"));
    } else {
        out.push_str(body);
    }
    out.push('\n');
    out.extend(std::iter::repeat_n('`', n));
}

impl Md<'_> {
    fn take(&mut self) -> String {
        self.pool.pop().unwrap_or_default()
    }

    fn give(&mut self, mut s: String) {
        s.clear();
        self.pool.push(s);
    }

    /// Blocks separated by blank lines; inline runs between them become paragraphs.
    fn blocks(&mut self, nodes: Nodes<'_>, out: &mut String) {
        let mut any = false;
        let mut para = self.take();
        for n in nodes.iter() {
            match n {
                N::El(e) if is_block(e) => {
                    flush(&mut para, out, &mut any, self.no_blocks == 0, self.report);
                    let mark = out.len();
                    if any {
                        out.push_str("\n\n");
                    }
                    let start = out.len();
                    self.block(e, out);
                    if out[start..].trim().is_empty() {
                        out.truncate(mark);
                    } else {
                        any = true;
                    }
                }
                n => self.inline_node(n, &mut para),
            }
        }
        flush(&mut para, out, &mut any, self.no_blocks == 0, self.report);
        self.give(para);
    }

    fn inlines(&mut self, nodes: Nodes<'_>, out: &mut String) {
        for n in nodes.iter() {
            self.inline_node(n, out);
        }
    }

    fn inline_node(&mut self, n: N<'_>, out: &mut String) {
        match n {
            N::Text(t) => push_text(t, out),
            N::Cdata(t) => push_text(t, out),
            N::El(e) if is_block(e) => {
                let mut tmp = self.take();
                self.no_blocks += 1;
                self.block(e, &mut tmp);
                self.no_blocks -= 1;
                out.push(' ');
                semantic::one_line_into(&tmp, out);
                out.push(' ');
                self.give(tmp);
            }
            N::El(e) if e.is_ac() => {
                let ac = semantic::classify(e, self.ctx, self.report);
                self.inline_ac(ac, out);
            }
            N::El(e) => self.inline_html(e, out),
        }
    }

    fn wrap(&mut self, e: E<'_>, kind: Emph, out: &mut String) {
        let mut inner = self.take();
        self.inlines(e.children(), &mut inner);
        emphasize(&inner, kind, out);
        self.give(inner);
    }

    /// [`emphasize`] `text`, escaped.
    fn emphasize_text(
        &mut self,
        prefix: &str,
        text: &str,
        suffix: &str,
        kind: Emph,
        out: &mut String,
    ) {
        let mut t = self.take();
        t.push_str(prefix);
        push_text(text, &mut t);
        t.push_str(suffix);
        emphasize(&t, kind, out);
        self.give(t);
    }

    /// `[text](url)`, or the text alone without a safe URL.
    fn link(&mut self, href: Option<&str>, text: &str, out: &mut String) {
        match href.and_then(semantic::safe_url) {
            Some(h) => {
                out.push('[');
                out.push_str(text.trim());
                out.push_str("](");
                push_url(h, false, out);
                out.push(')');
            }
            None => out.push_str(text),
        }
    }

    fn inline_html(&mut self, e: E<'_>, out: &mut String) {
        match e.tag() {
            Tag::Strong | Tag::B => self.wrap(e, Emph::Strong, out),
            Tag::Em | Tag::I | Tag::Cite => self.wrap(e, Emph::Em, out),
            Tag::S | Tag::Del | Tag::Strike => self.wrap(e, Emph::Strike, out),
            Tag::Code | Tag::Kbd => code_span(&text_cow(e.children()), self.in_cell > 0, out),
            Tag::Br => out.push_str("\\\n"),
            Tag::A => {
                let mut text = self.take();
                self.in_link += 1;
                self.inlines(e.children(), &mut text);
                self.in_link -= 1;
                self.link(e.attr("href"), &text, out);
                self.give(text);
            }
            Tag::Img => {
                if let Some(src) = e.attr("src").and_then(semantic::safe_url) {
                    out.push_str("![");
                    push_text(e.attr("alt").unwrap_or(""), out);
                    out.push_str("](");
                    push_url(src, true, out);
                    out.push(')');
                }
            }
            Tag::Script | Tag::Style => {
                self.report.note_parts(&["html: <", &e.name(), "> dropped"]);
            }
            Tag::U => {
                self.report.note("underline dropped");
                self.inlines(e.children(), out);
            }
            _ => self.inlines(e.children(), out),
        }
    }

    fn inline_body(&mut self, body: &Body<'_>, out: &mut String) {
        match body {
            Body::Rich(n) => self.inlines(*n, out),
            Body::Plain(t) => push_text(t, out),
            Body::None => {}
        }
    }

    fn inline_ac(&mut self, ac: Ac<'_>, out: &mut String) {
        match ac {
            Ac::Status { text, .. } => {
                self.report.note("macro:status approximated");
                self.emphasize_text("\\[", &text.to_uppercase(), "\\]", Emph::Strong, out);
            }
            Ac::Link {
                href,
                body,
                fallback,
            } => {
                let mut text = self.take();
                self.in_link += 1;
                match body {
                    Body::None => push_text(&fallback, &mut text),
                    b => self.inline_body(&b, &mut text),
                }
                self.in_link -= 1;
                self.link(href.as_deref(), &text, out);
                self.give(text);
            }
            Ac::Mention { name } => self.emphasize_text("@", &name, "", Emph::Strong, out),
            Ac::Image {
                src,
                alt,
                caption,
                embed,
            } => {
                match embed {
                    // KB 2.0 recognises its asset markdown only on a line of its own.
                    Some(embed) if self.in_link == 0 => {
                        out.push('\n');
                        // NUL would read as a placeholder (see `defer`).
                        out.push_str(&embed.replace('\0', "\u{fffd}"));
                        out.push('\n');
                    }
                    _ => {
                        out.push_str("![");
                        push_text(&alt, out);
                        out.push_str("](");
                        push_url(&src, true, out);
                        out.push(')');
                    }
                }
                if let Some(c) = caption {
                    if !out.ends_with('\n') {
                        out.push(' ');
                    }
                    self.inlines(c, out);
                }
            }
            Ac::Emoji(e) | Ac::Time(e) => push_text(&e, out),
            Ac::InlineNote(t) => self.emphasize_text("", &t, "", Emph::Em, out),
            Ac::Anchor(_) => self.report.note("macro:anchor dropped"),
            Ac::Container(n) => self.inlines(n, out),
            Ac::Drop => {}
            other => {
                let mut tmp = self.take();
                self.block_ac(other, &mut tmp);
                semantic::one_line_into(&tmp, out);
                self.give(tmp);
            }
        }
    }

    fn block(&mut self, e: E<'_>, out: &mut String) {
        if e.is_ac() {
            let ac = semantic::classify(e, self.ctx, self.report);
            return self.block_ac(ac, out);
        }
        if let Some(level) = e.tag().heading_level() {
            let mut inner = self.take();
            self.inlines(e.children(), &mut inner);
            let start = out.len();
            out.extend(std::iter::repeat_n('#', usize::from(level)));
            out.push(' ');
            if !heading_text(&inner, self.report, out) {
                out.truncate(start);
            }
            self.give(inner);
            return;
        }
        match e.tag() {
            Tag::Ul | Tag::Ol => self.list(e, out),
            Tag::Hr => out.push_str("---"),
            Tag::Pre => fence(&text_cow(e.children()), "", out),
            Tag::Blockquote => {
                let mut inner = self.take();
                self.blocks(e.children(), &mut inner);
                prefix_lines(&inner, "> ", "> ", out);
                self.give(inner);
            }
            Tag::Table => self.table(e, out),
            _ => self.blocks(e.children(), out),
        }
    }

    fn list(&mut self, e: E<'_>, out: &mut String) {
        let ordered = e.tag() == Tag::Ol;
        let mut n: u64 = e
            .attr("start")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1);
        let mut first = true;
        let children = e.children();
        let mut marker = String::new();
        let mut indent = String::new();
        for (i, child) in children.iter().enumerate() {
            let mut body = self.take();
            match child {
                N::El(li) if li.tag() == Tag::Li => {
                    self.blocks(li.children(), &mut body);
                    marker.clear();
                    if ordered {
                        use std::fmt::Write;
                        let _ = write!(marker, "{n}. ");
                    } else {
                        marker.push_str("- ");
                    }
                    n = n.saturating_add(1);
                    indent.clear();
                    indent.extend(std::iter::repeat_n(' ', marker.len()));
                    if !first {
                        out.push('\n');
                    }
                    prefix_lines(&body, &marker, &indent, out);
                    first = false;
                }
                _ => {
                    self.blocks(children.one(i), &mut body);
                    if !body.trim().is_empty() {
                        if !first {
                            out.push('\n');
                        }
                        out.push_str(&body);
                        first = false;
                    }
                }
            }
            self.give(body);
        }
    }

    fn table(&mut self, e: E<'_>, out: &mut String) {
        let mut rows: Vec<E<'_>> = Vec::new();
        collect_rows(e, &mut rows, 0);
        // All cell texts in one buffer; a cell is a range of it, a row a range of cells.
        let mut text = self.take();
        let mut cells: Vec<(usize, usize)> = Vec::new();
        let mut row_ends: Vec<usize> = Vec::with_capacity(rows.len());
        let mut merged = false;
        let mut tmp = self.take();
        for row in rows {
            for cell in row
                .elements()
                .filter(|c| matches!(c.tag(), Tag::Td | Tag::Th))
            {
                tmp.clear();
                self.no_blocks += 1;
                self.in_cell += 1;
                self.blocks(cell.children(), &mut tmp);
                self.in_cell -= 1;
                self.no_blocks -= 1;
                let joined: Cow<'_, str> = if tmp.contains("\\\n") {
                    Cow::Owned(tmp.replace("\\\n", "\n"))
                } else {
                    Cow::Borrowed(&tmp)
                };
                let start = text.len();
                for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if text.len() > start {
                        text.push_str("<br>");
                    }
                    text.push_str(line);
                }
                cells.push((start, text.len()));
                let span: usize = cell
                    .attr("colspan")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1);
                if span > 1 || cell.attr("rowspan").is_some_and(|r| r.trim() != "1") {
                    merged = true;
                }
                for _ in 1..span.min(64) {
                    cells.push((0, 0));
                }
            }
            row_ends.push(cells.len());
        }
        self.give(tmp);
        if merged {
            self.report.note("table: merged cells approximated");
        }
        let mut cols = 0;
        let mut row_start = 0;
        for &end in &row_ends {
            cols = cols.max(end - row_start);
            row_start = end;
        }
        if cols > 0 {
            let start = out.len();
            let mut row_start = 0;
            for (i, &end) in row_ends.iter().enumerate() {
                let row = &cells[row_start..end];
                out.push('|');
                for c in 0..cols {
                    out.push(' ');
                    if let Some(&(a, b)) = row.get(c) {
                        out.push_str(&text[a..b]);
                    }
                    out.push_str(" |");
                }
                out.push('\n');
                if i == 0 {
                    out.push('|');
                    for _ in 0..cols {
                        out.push_str(" --- |");
                    }
                    out.push('\n');
                }
                row_start = end;
            }
            let end = start + out[start..].trim_end().len();
            out.truncate(end);
        }
        self.give(text);
    }

    fn body_blocks(&mut self, body: &Body<'_>, out: &mut String) {
        match body {
            Body::Rich(n) => self.blocks(*n, out),
            Body::Plain(t) => fence(t, "", out),
            Body::None => {}
        }
    }

    /// `> **head**`, a quoted blank line, then the quoted body.
    fn quoted(&mut self, head: &str, body: &Body<'_>, out: &mut String) {
        let mut inner = self.take();
        inner.push_str(head);
        inner.push_str("\n\n");
        self.body_blocks(body, &mut inner);
        prefix_lines(&inner, "> ", "> ", out);
        self.give(inner);
    }

    fn block_ac(&mut self, ac: Ac<'_>, out: &mut String) {
        match ac {
            Ac::Code { lang, title, body } => {
                if let Some(t) = title {
                    self.emphasize_text("", &t, "", Emph::Strong, out);
                    out.push_str("\n\n");
                }
                fence(&body, lang.as_deref().unwrap_or(""), out);
            }
            Ac::Panel { kind, title, body } => {
                self.report.note_parts(&["panel:", &kind, " as blockquote"]);
                let label = match &*kind {
                    "info" => "ℹ️ Info",
                    "note" => "📝 Note",
                    "warning" => "⚠️ Warning",
                    "tip" => "💡 Tip",
                    "error" => "⛔ Error",
                    "success" => "✅ Success",
                    _ => "Panel",
                };
                let mut text = self.take();
                text.push_str(label);
                if let Some(t) = title {
                    text.push_str(": ");
                    push_text(&t, &mut text);
                }
                let mut head = self.take();
                emphasize(&text, Emph::Strong, &mut head);
                self.quoted(&head, &body, out);
                self.give(head);
                self.give(text);
            }
            Ac::Expand { title, body } => {
                self.report.note("macro:expand approximated");
                self.emphasize_text("▸ ", &title, "", Emph::Strong, out);
                out.push_str("\n\n");
                self.body_blocks(&body, out);
            }
            Ac::Tasks(tasks) => {
                for (i, (done, body)) in tasks.into_iter().enumerate() {
                    let mut b = self.take();
                    self.blocks(body, &mut b);
                    if i > 0 {
                        out.push('\n');
                    }
                    let marker = if done { "- [x] " } else { "- [ ] " };
                    prefix_lines(&b, marker, "      ", out);
                    self.give(b);
                }
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
                // Two spaces per level below the top one, but at most one level deeper than
                // the entry before: four spaces more would be read as an indented code block
                // (at the top) or as more text of that entry.
                let top = toc.iter().map(|(l, _)| *l).min().unwrap_or(1);
                let mut depth = 0;
                for (i, (l, t)) in toc.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        depth = usize::from(l - top).min(depth + 1);
                    }
                    out.extend(std::iter::repeat_n(' ', 2 * depth));
                    out.push_str("- ");
                    let start = out.len();
                    push_text(t, out);
                    // The entry is a line of its own: settle it before looking at its start.
                    if out[start..].contains('\0') {
                        let entry = defer::resolve(&out[start..], self.no_blocks > 0, self.report);
                        out.truncate(start);
                        out.push_str(&entry);
                    }
                    if self.no_blocks == 0 {
                        escape_block_start(out, start);
                    }
                }
                self.toc = Some(toc);
            }
            Ac::Note(t) => self.emphasize_text("", &t, "", Emph::Em, out),
            Ac::Unknown { name, body } => {
                let mut head = self.take();
                self.emphasize_text("Macro: ", &name, "", Emph::Strong, &mut head);
                self.quoted(&head, &body, out);
                self.give(head);
            }
            Ac::Container(n) => self.blocks(n, out),
            Ac::Drop => {}
            inline => self.inline_ac(inline, out),
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

/// End a paragraph: trailing hard breaks dropped, lines trimmed, blank ones dropped (they
/// would end the paragraph), block markers at their starts escaped when `escape`.
fn flush(para: &mut String, out: &mut String, any: &mut bool, escape: bool, report: &mut Report) {
    // Hard breaks go first, so that each line is escaped as it ends up. A hard break is the
    // odd backslash at the end of a line: text backslashes come in escaped pairs.
    let mut text = para.trim_end();
    while text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
        text = text[..text.len() - 1].trim_end();
    }
    // Then the placeholders, before any line is looked at.
    let resolved;
    if text.contains('\0') {
        resolved = defer::resolve(text, !escape, report);
        text = &resolved;
    }
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push('\n');
        } else if *any {
            out.push_str("\n\n");
        }
        *any = true;
        if escape {
            push_line(line, i == 0, out);
        } else {
            out.push_str(line);
        }
    }
    para.clear();
}
