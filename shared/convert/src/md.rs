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
//!
//! What depends on text written later is decided once that text is there: emphasis
//! delimiters (which open or close depending on both neighbours), a `~` or `&` at the edge
//! of a text node. They are written as placeholders and settled per paragraph, heading or
//! line by [`defer`].

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
    /// Rendering blocks that will be flattened into a line of an enclosing paragraph, which
    /// settles their placeholders (see [`defer`]) knowing what ends up around them.
    flattened: u32,
    /// How many placeholders were written: a paragraph written while this did not change
    /// has none to settle, and none are left when the resolver has settled as many.
    placeholders: usize,
    resolver: defer::Resolver,
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
        flattened: 0,
        placeholders: 0,
        resolver: defer::Resolver::default(),
    };
    let mut out = String::with_capacity(hint);
    md.blocks(root, &mut out);
    // Placeholders are settled where they are written; none should be left.
    if md.placeholders != md.resolver.settled() && out.contains('\0') {
        out = md.resolver.resolve(&out, false, md.report).to_owned();
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
fn push_text(s: &str, out: &mut String) -> usize {
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    let mut deferred = 0;
    while i < b.len() {
        match CLASS[usize::from(b[i])] {
            0 => i += 1,
            1 => {
                out.push_str(&s[last..i]);
                out.push('\\');
                last = i;
                i += 1;
            }
            2 => {
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
            _ => (i, last) = push_rare(s, i, last, &mut deferred, out),
        }
    }
    out.push_str(&s[last..]);
    deferred
}

/// [`push_text`] of the `&`, `~` or NUL at `s[i]`, with `s[last..i]` still to write: where
/// to go on and what is still to write from; placeholders written are counted in `deferred`.
#[cold]
#[inline(never)]
fn push_rare(
    s: &str,
    i: usize,
    last: usize,
    deferred: &mut usize,
    out: &mut String,
) -> (usize, usize) {
    let b = s.as_bytes();
    match b[i] {
        b'&' => match entity_like(&b[i + 1..]) {
            EntityLike::No => (i + 1, last),
            EntityLike::Yes => {
                out.push_str(&s[last..i]);
                out.push('\\');
                (i + 1, i)
            }
            EntityLike::Maybe => {
                out.push_str(&s[last..i]);
                out.push_str(defer::AMP);
                *deferred += 1;
                (i + 1, i + 1)
            }
        },
        b'~' => {
            let end = i + b[i..].iter().take_while(|&&c| c == b'~').count();
            let ws = |c: &u8| CLASS[usize::from(*c)] == 2;
            // Each side: whitespace then more text in `s` (kept), a character that is not
            // whitespace (escape), or the edge of `s` (not known).
            let before = b[..i].iter().rev().position(|c| !ws(c));
            let after = b[end..].iter().position(|c| !ws(c));
            let tilde = match (before, after) {
                (Some(0), _) | (_, Some(0)) => "\\~",
                (Some(_), Some(_)) => return (end, last),
                _ => defer::TILDE,
            };
            out.push_str(&s[last..i]);
            for _ in i..end {
                out.push_str(tilde);
            }
            if tilde == defer::TILDE {
                *deferred += end - i;
            }
            (end, end)
        }
        _ => {
            out.push_str(&s[last..i]);
            out.push('\u{fffd}');
            (i + 1, i + 1)
        }
    }
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
fn heading_text(
    inner: &str,
    resolver: Option<&mut defer::Resolver>,
    report: &mut Report,
    out: &mut String,
) -> bool {
    let inner: Cow<'_, str> = if inner.contains("\\\n") {
        Cow::Owned(inner.replace("\\\n", " "))
    } else {
        Cow::Borrowed(inner)
    };
    let inner = match resolver {
        Some(resolver) if inner.contains('\0') => resolver.resolve(&inner, false, report),
        _ => &inner,
    };
    let start = out.len();
    semantic::one_line_into(inner, out);
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
/// (see [`defer`]), or the delimiters themselves when `literal`, with any whitespace and hard
/// breaks at its ends kept outside them: delimiters must touch the text, and a hard break's
/// backslash before a closing delimiter would escape it. Empty (or blank) emphasis is
/// written as its content alone (false).
fn emphasize(inner: &str, kind: Emph, literal: bool, out: &mut String) -> bool {
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
        return false;
    }
    out.push_str(&inner[..start]);
    push_mark(kind, false, literal, out);
    out.push_str(t);
    push_mark(kind, true, literal, out);
    out.push_str(&inner[start + t.len()..]);
    true
}

/// A code span of `t`, verbatim: fenced by one backtick more than its longest run of them,
/// padded with a space where CommonMark would otherwise take a backtick or space of the
/// content as part of the fence. Line breaks become spaces (as CommonMark reads them), so
/// that no line of the paragraph starts inside the span; empty code writes nothing. A span
/// right after a backtick (the end of another span) is set off by a space, as the two runs
/// of backticks would merge into one that closes neither (and [`defer`] does the same where
/// the emphasis delimiters between two spans come to nothing). In a table cell (`in_cell`) each
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
    let mut longest = 0;
    let mut run = 0;
    let mut nul = false;
    for c in t.bytes() {
        run = if c == b'`' { run + 1 } else { 0 };
        longest = longest.max(run);
        nul |= c == 0;
    }
    // NUL would read as a placeholder (see `defer`).
    if nul {
        t = Cow::Owned(t.replace('\0', "\u{fffd}"));
    }
    if out.ends_with('`') {
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

/// Escape a text `!` at the end of `out`, about to be followed by a link's `[`, which would
/// otherwise make the link an image. One after an odd run of backslashes is escaped already.
fn escape_bang(out: &mut String) {
    if let Some(rest) = out.strip_suffix('!')
        && rest.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0
    {
        out.insert(out.len() - 1, '\\');
    }
}

/// A URL inside `(…)`: spaces and `)` would end it.
fn push_url(u: &str, spaces_only: bool, out: &mut String) {
    let mut last = 0;
    for (i, b) in u.bytes().enumerate() {
        let with = match b {
            b' ' => "%20",
            b')' if !spaces_only => "%29",
            // NUL would read as a placeholder (see `defer`).
            0 => "\u{fffd}",
            _ => continue,
        };
        out.push_str(&u[last..i]);
        out.push_str(with);
        last = i + 1;
    }
    out.push_str(&u[last..]);
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
    // NUL would read as a placeholder (see `defer`).
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
        let mut since = self.placeholders;
        for n in nodes.iter() {
            match n {
                N::El(e) if is_block(e) => {
                    self.flush(&mut para, out, &mut any, since);
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
                    since = self.placeholders;
                }
                n => self.inline_node(n, &mut para),
            }
        }
        self.flush(&mut para, out, &mut any, since);
        self.give(para);
    }

    /// End a paragraph: trailing hard breaks dropped, lines trimmed, blank ones dropped (they
    /// would end the paragraph), placeholders settled (see [`Md::settle`]; there are none if
    /// none were written `since` the paragraph began), block markers at the starts of lines
    /// escaped unless in a table cell or a block flattened into a line.
    fn flush(&mut self, para: &mut String, out: &mut String, any: &mut bool, since: usize) {
        let escape = self.no_blocks == 0;
        // Hard breaks go first, so that each line is escaped as it ends up. A hard break is the
        // odd backslash at the end of a line: text backslashes come in escaped pairs.
        let mut text = para.trim_end();
        while text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
            text = text[..text.len() - 1].trim_end();
        }
        // Then the placeholders, before any line is looked at.
        if self.flattened == 0 && self.placeholders != since {
            text = self.resolver.resolve(text, !escape, self.report);
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

    fn inlines(&mut self, nodes: Nodes<'_>, out: &mut String) {
        for n in nodes.iter() {
            self.inline_node(n, out);
        }
    }

    fn inline_node(&mut self, n: N<'_>, out: &mut String) {
        match n {
            N::Text(t) => self.text(t, out),
            N::Cdata(t) => self.text(t, out),
            N::El(e) if is_block(e) => {
                let mut tmp = self.take();
                self.no_blocks += 1;
                self.flattened += 1;
                self.block(e, &mut tmp);
                self.flattened -= 1;
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

    /// [`push_text`], counting placeholders.
    fn text(&mut self, s: &str, out: &mut String) {
        self.placeholders += push_text(s, out);
    }

    /// [`emphasize`], counting placeholders.
    fn emphasize(&mut self, inner: &str, kind: Emph, out: &mut String) {
        if emphasize(inner, kind, false, out) {
            self.placeholders += 2;
        }
    }

    fn wrap(&mut self, e: E<'_>, kind: Emph, out: &mut String) {
        let mut inner = self.take();
        self.inlines(e.children(), &mut inner);
        self.emphasize(&inner, kind, out);
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
        self.text(text, &mut t);
        t.push_str(suffix);
        self.emphasize(&t, kind, out);
        self.give(t);
    }

    /// `[text](url)`, or the text alone without a safe URL.
    fn link(&mut self, href: Option<&str>, text: &str, out: &mut String) {
        match href.and_then(semantic::safe_url) {
            Some(h) => {
                // A hard break's backslash at the end would escape the `]`: drop trailing
                // ones (the odd backslash at the end; text backslashes come in pairs).
                let mut text = text.trim();
                while text.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
                    text = text[..text.len() - 1].trim_end();
                }
                escape_bang(out);
                out.push('[');
                out.push_str(text);
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
                    self.text(e.attr("alt").unwrap_or(""), out);
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
            Body::Plain(t) => self.text(t, out),
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
                    Body::None => self.text(&fallback, &mut text),
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
                        if embed.contains('\0') {
                            out.push_str(&embed.replace('\0', "\u{fffd}"));
                        } else {
                            out.push_str(embed);
                        }
                        out.push('\n');
                    }
                    _ => {
                        out.push_str("![");
                        self.text(&alt, out);
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
            Ac::Emoji(e) | Ac::Time(e) => self.text(&e, out),
            Ac::InlineNote(t) => self.emphasize_text("", &t, "", Emph::Em, out),
            Ac::Anchor(_) => self.report.note("macro:anchor dropped"),
            Ac::Container(n) => self.inlines(n, out),
            Ac::Drop => {}
            other => {
                let mut tmp = self.take();
                self.flattened += 1;
                self.block_ac(other, &mut tmp);
                self.flattened -= 1;
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
            let resolver = (self.flattened == 0).then_some(&mut self.resolver);
            if !heading_text(&inner, resolver, self.report, out) {
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

    /// Settle the placeholders in `out[start..]`, a line (or lines) of its own outside a
    /// paragraph, unless it is to be flattened into a line (see [`Md::flattened`]).
    fn settle(&mut self, out: &mut String, start: usize) {
        if self.flattened == 0 && out[start..].contains('\0') {
            let settled = self
                .resolver
                .resolve(&out[start..], self.no_blocks > 0, self.report);
            out.truncate(start);
            out.push_str(settled);
        }
    }

    /// A title (block macros write them outside paragraphs): `text` after `prefix`, as
    /// emphasis of `kind` on a line of its own. There, whitespace (or in a table cell, `<br>`)
    /// is on both sides, so the delimiters parse back whatever the text: they are written
    /// as they are, and only the text's own placeholders are settled. Flattened into a line,
    /// a title is emphasis like any other.
    fn title(&mut self, prefix: &[&str], text: &str, kind: Emph, out: &mut String) {
        let start = out.len();
        let written = self.placeholders;
        let mut t = self.take();
        t.extend(prefix.iter().copied());
        self.text(text, &mut t);
        let literal = self.flattened == 0;
        if emphasize(&t, kind, literal, out) && !literal {
            self.placeholders += 2;
        }
        self.give(t);
        if self.placeholders != written {
            self.settle(out, start);
        }
    }

    fn block_ac(&mut self, ac: Ac<'_>, out: &mut String) {
        match ac {
            Ac::Code { lang, title, body } => {
                if let Some(t) = title {
                    self.title(&[], &t, Emph::Strong, out);
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
                let mut head = self.take();
                match title {
                    Some(t) => self.title(&[label, ": "], &t, Emph::Strong, &mut head),
                    None => self.title(&[label], "", Emph::Strong, &mut head),
                }
                self.quoted(&head, &body, out);
                self.give(head);
            }
            Ac::Expand { title, body } => {
                self.report.note("macro:expand approximated");
                self.title(&["▸ "], &title, Emph::Strong, out);
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
                    self.text(t, out);
                    // The entry is a line of its own: settle it before looking at its start.
                    self.settle(out, start);
                    if self.no_blocks == 0 {
                        escape_block_start(out, start);
                    }
                }
                self.toc = Some(toc);
            }
            Ac::Note(t) => self.title(&[], &t, Emph::Em, out),
            Ac::Unknown { name, body } => {
                let mut head = self.take();
                self.title(&["Macro: "], &name, Emph::Strong, &mut head);
                self.quoted(&head, &body, out);
                self.give(head);
            }
            Ac::Container(n) => self.blocks(n, out),
            Ac::Drop => {}
            inline => {
                let start = out.len();
                self.inline_ac(inline, out);
                self.settle(out, start);
            }
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
