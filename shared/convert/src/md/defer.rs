//! Markdown that can only be chosen once its neighbours are known.
//!
//! Whether an emphasis delimiter opens or closes depends on the characters on either side of
//! it (CommonMark's flanking rules), and one side is written after it: `a<em>-</em>b` cannot
//! be `a*-*b` (the `*` would show), while `a <em>-</em> b` can. So the renderer writes
//! placeholders, a NUL byte and a letter, and [`Resolver::resolve`] settles them once the
//! text around them is final (a paragraph, a heading, a title or table of contents entry):
//!
//! - emphasis, strong emphasis and strikethrough delimiters ([`push_mark`]);
//! - a `~` at the edge of a text node ([`TILDE`]), escaped unless whitespace ends up on both
//!   sides of its run;
//! - a `&` at the end of a text node that the next one could complete into a character
//!   reference ([`AMP`]), escaped if it was completed.
//!
//! Emphasis is written with `*`, `**` and `~~` where CommonMark (and GFM strikethrough)
//! reads that back, else with `_` or `__`, else not at all (the text stays, the report counts
//! `markdown: emphasis approximated`); see [`Emphasis::choose`]. Raw HTML (`<em>`) is not
//! used: whether Knowledge Base 2.0 keeps it is not known.
//!
//! Text never holds a NUL: [`super::push_text`] and the writers of verbatim text put U+FFFD
//! there, which is what a CommonMark parser reads a NUL as.

use crate::Report;

/// A `~` whose neighbours are not known yet.
pub(super) const TILDE: &str = "\0~";
/// A `&` that may start a character reference with the text that follows.
pub(super) const AMP: &str = "\0&";

/// Kinds of emphasis, numbered as in [`delim`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Emph {
    Em = 0,
    Strong = 1,
    Strike = 2,
}

/// Write the placeholder of the opening (`close` false) or closing delimiter of `kind`, or
/// when `literal` the delimiter itself (in its first form).
#[inline]
pub(super) fn push_mark(kind: Emph, close: bool, literal: bool, out: &mut String) {
    out.push_str(match (literal, kind, close) {
        (true, ..) => delim(kind as u8, 0),
        (false, Emph::Em, false) => "\0e",
        (false, Emph::Em, true) => "\0E",
        (false, Emph::Strong, false) => "\0s",
        (false, Emph::Strong, true) => "\0S",
        (false, Emph::Strike, false) => "\0d",
        (false, Emph::Strike, true) => "\0D",
    });
}

/// A CommonMark character reference at the start of `rest` (the text after a `&`)?
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EntityLike {
    No,
    Yes,
    /// `rest` ends where a reference could still be completed.
    Maybe,
}

/// Whether `&` + `rest` reads as a character reference: `&name;`, `&#digits;` or
/// `&#xhex;`. Any name counts, not only the HTML5 ones (a parser knows those by a table; a
/// needless `\&` only costs a byte and shows as `&`), and any number of digits.
pub(super) fn entity_like(rest: &[u8]) -> EntityLike {
    let (skip, ok): (usize, fn(&u8) -> bool) = match rest {
        [] => return EntityLike::Maybe,
        [b'#', b'x' | b'X', ..] => (2, u8::is_ascii_hexdigit),
        [b'#', ..] => (1, u8::is_ascii_digit),
        [c, ..] if c.is_ascii_alphabetic() => (0, u8::is_ascii_alphanumeric),
        _ => return EntityLike::No,
    };
    // Longer than any entity name (31) or any code point in digits.
    const MAX: usize = 40;
    let body = &rest[skip.min(rest.len())..];
    let n = body.iter().take(MAX + 1).take_while(|c| ok(c)).count();
    match body.get(n) {
        _ if n > MAX => EntityLike::No,
        None => EntityLike::Maybe,
        Some(b';') if n > 0 => EntityLike::Yes,
        _ => EntityLike::No,
    }
}

// What a character may be to the flanking rules, as a set: CommonMark whitespace, punctuation
// (ASCII punctuation and, since 0.31, Unicode P and S), or anything else.
const W: u8 = 1;
const P: u8 = 2;
const A: u8 = 4;

/// The class of `c`. Rust has no Unicode punctuation test, so a non-ASCII character that
/// is neither alphanumeric nor a space separator may be either: both are checked.
/// `loose`: line ends may turn into `<br>` (table cells) or `[`/`]` (flattened blocks in a
/// link), so a line break is punctuation or whitespace.
fn class(c: char, loose: bool) -> u8 {
    if c.is_ascii() {
        return if loose && c == '\n' {
            W | P
        } else {
            ASCII_CLASS[c as usize]
        };
    }
    match c {
        // Letters and digits that are also symbols (So): ⓐ, 🄰.
        '\u{2460}'..='\u{24ff}' | '\u{1f100}'..='\u{1f1ff}' => P | A,
        c if c.is_alphanumeric() => A,
        '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => W,
        // Whitespace to Rust (and pulldown-cmark), not to CommonMark.
        c if c.is_whitespace() => W | A,
        _ => P | A,
    }
}

/// [`class`] of ASCII. NUL is a placeholder, which becomes `&`, `\&`, `~` or `\~`.
const ASCII_CLASS: [u8; 128] = {
    let mut t = [A; 128];
    let mut i = 0;
    while i < 128 {
        if (i as u8).is_ascii_punctuation() {
            t[i] = P;
        }
        i += 1;
    }
    t[b' ' as usize] = W;
    t[b'\t' as usize] = W;
    t[b'\n' as usize] = W;
    t[b'\r' as usize] = W;
    t[0x0c] = W;
    t[0] = P;
    t
};

fn edge(loose: bool) -> u8 {
    if loose { W | P } else { W }
}

/// The class of the character before `s` ends. Lines are trimmed, so in a `loose` text
/// whitespace back to a line break or the start is the line end's class.
fn class_before(s: &str, loose: bool) -> u8 {
    let Some(c) = s.chars().next_back() else {
        return edge(loose);
    };
    if loose && c != '\n' && c.is_whitespace() {
        let rest = s.trim_end_matches(|c: char| c != '\n' && c.is_whitespace());
        if rest.is_empty() || rest.ends_with('\n') {
            return edge(loose);
        }
    }
    class(c, loose)
}

/// The class of the character `s` starts with, as [`class_before`] (a hard break, `\` and a
/// line break, is a line end).
fn class_after(s: &str, loose: bool) -> u8 {
    let Some(c) = s.chars().next() else {
        return edge(loose);
    };
    if loose && c != '\n' && c.is_whitespace() {
        let rest = s.trim_start_matches(|c: char| c != '\n' && c.is_whitespace());
        if rest.is_empty() || rest.starts_with('\n') || rest.starts_with("\\\n") {
            return edge(loose);
        }
    }
    class(c, loose)
}

/// `f` for every combination of one class of `p` and one of `q`, or for one of them.
fn all(p: u8, q: u8, f: impl Fn(u8, u8) -> bool) -> bool {
    let mut x = p;
    while x != 0 {
        let mut y = q;
        while y != 0 {
            if !f(x & x.wrapping_neg(), y & y.wrapping_neg()) {
                return false;
            }
            y &= y - 1;
        }
        x &= x - 1;
    }
    true
}

fn any(p: u8, q: u8, f: impl Fn(u8, u8) -> bool) -> bool {
    !all(p, q, |x, y| !f(x, y))
}

// The flanking rules for a delimiter run between a character of class `p` and one of class
// `q` (single classes).
fn left(p: u8, q: u8) -> bool {
    q != W && (q != P || p != A)
}

fn right(p: u8, q: u8) -> bool {
    p != W && (p != P || q != A)
}

fn can_open(ch: u8, p: u8, q: u8) -> bool {
    left(p, q) && (ch != b'_' || !right(p, q) || p == P)
}

fn can_close(ch: u8, p: u8, q: u8) -> bool {
    right(p, q) && (ch != b'_' || !left(p, q) || q == P)
}

const NONE: u32 = u32::MAX;
/// Forms of a pair: 0 `*`, `**`, `~~`; 1 `_`, `__`; [`DROP`] no delimiters.
const DROP: u8 = 2;

#[derive(Clone, Copy)]
struct Mark {
    /// Byte offset of the placeholder.
    at: usize,
    kind: u8,
    close: bool,
    /// The pair it belongs to, or [`NONE`] when it writes nothing.
    pair: u32,
}

struct Pair {
    kind: u8,
    form: u8,
    /// The nearest enclosing pair that is not [`Pair::quiet`].
    parent: u32,
    open: u32,
    close: u32,
    /// Dropped without loss (inside a pair of its own kind, or never closed).
    quiet: bool,
}

/// The delimiter run a kept mark is part of, after the forms chosen so far.
#[derive(Clone, Copy, Default)]
struct Run {
    /// The run's first mark.
    first: usize,
    ch: u8,
    len: usize,
    /// Classes of the characters before and after the run.
    p: u8,
    q: u8,
    /// Openers and closers (of different pairs, `*a***b**`): the opener's pair is to change.
    mixed: bool,
    /// One delimiter of each kind; a `~~` on its own.
    ok: bool,
}

fn delim(kind: u8, form: u8) -> &'static str {
    match (kind, form) {
        (0, 0) => "*",
        (0, 1) => "_",
        (1, 0) => "**",
        (1, 1) => "__",
        (2, 0) => "~~",
        _ => "",
    }
}

/// The working space of [`Resolver`], kept from one text to the next.
#[derive(Default)]
struct Bufs {
    marks: Vec<Mark>,
    pairs: Vec<Pair>,
    /// Per mark: its cluster (the placeholders adjacent to it) and its run.
    cluster: Vec<(u32, u32)>,
    runs: Vec<Run>,
    kept: Vec<(usize, &'static str)>,
    stack: Vec<u32>,
    live: Vec<u32>,
}

struct Emphasis<'s> {
    s: &'s str,
    loose: bool,
    b: Bufs,
}

impl Emphasis<'_> {
    fn kept(&self, m: usize) -> Option<&'static str> {
        let pair = self.b.marks[m].pair;
        (pair != NONE)
            .then(|| {
                delim(
                    self.b.pairs[pair as usize].kind,
                    self.b.pairs[pair as usize].form,
                )
            })
            .filter(|d| !d.is_empty())
    }

    /// Pair openers with closers. A pair inside one of its own kind is dropped (it adds
    /// nothing), and a closer followed at once by an opener of the same kind is dropped with
    /// it, joining the two (`*a**b*` would not parse back).
    fn pair(&mut self) {
        let mut stack = std::mem::take(&mut self.b.stack);
        let mut live = std::mem::take(&mut self.b.live);
        stack.clear();
        live.clear();
        let mut open_of_kind = [0u32; 3];
        let mut i = 0;
        while i < self.b.marks.len() {
            let m = self.b.marks[i];
            let k = usize::from(m.kind);
            if !m.close {
                let id = self.b.pairs.len() as u32;
                let quiet = open_of_kind[k] > 0;
                self.b.pairs.push(Pair {
                    kind: m.kind,
                    form: if quiet { DROP } else { 0 },
                    parent: live.last().copied().unwrap_or(NONE),
                    open: i as u32,
                    close: NONE,
                    quiet,
                });
                self.b.marks[i].pair = id;
                stack.push(id);
                open_of_kind[k] += 1;
                if !quiet {
                    live.push(id);
                }
                i += 1;
                continue;
            }
            let top = stack.last().copied();
            match top {
                Some(top) if self.b.pairs[top as usize].kind == m.kind => {
                    if let Some(n) = self.b.marks.get(i + 1)
                        && !n.close
                        && n.kind == m.kind
                        && n.at == m.at + 2
                    {
                        i += 2;
                        continue;
                    }
                    stack.pop();
                    open_of_kind[k] -= 1;
                    if !self.b.pairs[top as usize].quiet {
                        live.pop();
                    }
                    self.b.pairs[top as usize].close = i as u32;
                    self.b.marks[i].pair = top;
                }
                // Cannot happen: placeholders are written in pairs, nested.
                _ => {}
            }
            i += 1;
        }
        for &id in &stack {
            let p = &mut self.b.pairs[id as usize];
            p.form = DROP;
            p.quiet = true;
        }
        self.b.stack = stack;
        self.b.live = live;
    }

    /// Work out the runs of the cluster of marks `a..b`.
    fn runs_of(&mut self, (a, b): (u32, u32), kept: &mut Vec<(usize, &'static str)>) {
        let (a, b) = (a as usize, b as usize);
        kept.clear();
        kept.extend((a..b).filter_map(|m| self.kept(m).map(|d| (m, d))));
        let before = class_before(&self.s[..self.b.marks[a].at], self.loose);
        let after = class_after(&self.s[self.b.marks[b - 1].at + 2..], self.loose);
        let mut start = 0;
        while start < kept.len() {
            let ch = kept[start].1.as_bytes()[0];
            let end = start
                + kept[start..]
                    .iter()
                    .take_while(|(_, d)| d.as_bytes()[0] == ch)
                    .count();
            let group = &kept[start..end];
            let close = self.b.marks[group[0].0].close;
            let mut kinds = 0u8;
            let mut ok = true;
            let mut mixed = false;
            for &(m, _) in group {
                let bit = 1 << self.b.marks[m].kind;
                mixed |= self.b.marks[m].close != close;
                ok &= kinds & bit == 0;
                kinds |= bit;
            }
            let run = Run {
                first: group[0].0,
                ch,
                len: group.iter().map(|(_, d)| d.len()).sum(),
                p: if start > 0 { P } else { before },
                q: if end < kept.len() { P } else { after },
                mixed,
                ok: ok && (ch != b'~' || group.len() == 1),
            };
            for &(m, _) in group {
                self.b.runs[m] = run;
            }
            start = end;
        }
    }

    /// Whether CommonMark reads the pair's delimiters as one emphasis: each run opens
    /// (closes) whatever the unknown classes are; if a run could do both, the rule of three
    /// does not stop the two matching, and an opener that could close does not close an
    /// enclosing opener of the same character instead (it may when that rule stops it, in
    /// both its CommonMark and its pulldown-cmark reading).
    ///
    /// A closer that shares its run with a later pair's opener is left to that pair to
    /// change (to the other character, or none): `*a*__b__*c*` rather than `ab*c*`. So a
    /// pair is taken for valid here while that stands; the later pair is not, and changes.
    fn valid(&self, id: usize) -> bool {
        let pair = &self.b.pairs[id];
        let o = self.b.runs[pair.open as usize];
        let c = self.b.runs[pair.close as usize];
        if c.mixed {
            return !o.mixed;
        }
        let ch = o.ch;
        if o.mixed
            || !o.ok
            || !c.ok
            || !all(o.p, o.q, |p, q| can_open(ch, p, q))
            || !all(c.p, c.q, |p, q| can_close(ch, p, q))
        {
            return false;
        }
        let o_closes = any(o.p, o.q, |p, q| can_close(ch, p, q));
        let c_opens = any(c.p, c.q, |p, q| can_open(ch, p, q));
        // The rule of three: a run that can both open and close does not match one when
        // their lengths add up to a multiple of 3, unless both are multiples of 3.
        let sum = (o.len + c.len).is_multiple_of(3);
        if (o_closes || c_opens) && sum && !(o.len.is_multiple_of(3) && c.len.is_multiple_of(3)) {
            return false;
        }
        if o_closes {
            let mut up = pair.parent;
            while up != NONE {
                let a = &self.b.pairs[up as usize];
                let d = delim(a.kind, a.form);
                let run = self.b.runs[a.open as usize];
                // Not its own run (`***x***`), and not stopped by the rule of three in either
                // reading (pulldown-cmark's only exempts a closer of a multiple of 3).
                if d.as_bytes().first() == Some(&ch)
                    && run.first != o.first
                    && (!(run.len + o.len).is_multiple_of(3) || o.len.is_multiple_of(3))
                {
                    return false;
                }
                up = a.parent;
            }
        }
        true
    }

    /// Choose each pair's form: `*`-style first, then `_`-style, then none, until every pair
    /// left parses back.
    fn choose(&mut self, report: &mut Report) {
        // Clusters of adjacent placeholders.
        let mut a = 0;
        for m in 0..self.b.marks.len() {
            if m + 1 == self.b.marks.len() || self.b.marks[m + 1].at != self.b.marks[m].at + 2 {
                for x in a..=m {
                    self.b.cluster[x] = (a as u32, m as u32 + 1);
                }
                a = m + 1;
            }
        }
        let mut kept = std::mem::take(&mut self.b.kept);
        let mut m = 0;
        while m < self.b.marks.len() {
            let cl = self.b.cluster[m];
            self.runs_of(cl, &mut kept);
            m = cl.1 as usize;
        }
        // Each change can only drop or demote a pair, so this ends; a few sweeps settle any
        // real text, and the cap bounds the work on a crafted one.
        let mut settled = false;
        for _ in 0..8 {
            let mut changed = false;
            for id in 0..self.b.pairs.len() {
                if self.b.pairs[id].form == DROP || self.valid(id) {
                    continue;
                }
                let p = &mut self.b.pairs[id];
                p.form = if p.kind == 2 { DROP } else { p.form + 1 };
                changed = true;
                let (open, close) = (p.open as usize, p.close as usize);
                self.runs_of(self.b.cluster[open], &mut kept);
                self.runs_of(self.b.cluster[close], &mut kept);
            }
            if !changed {
                settled = true;
                break;
            }
        }
        self.b.kept = kept;
        let mut dropped = 0;
        for p in &mut self.b.pairs {
            if !settled {
                p.form = DROP;
            }
            if p.form == DROP && !p.quiet {
                dropped += 1;
            }
        }
        if dropped > 0 {
            report.add("markdown: emphasis approximated", dropped);
        }
    }
}

/// Whether every delimiter can be written in its first form, each checked alone: each
/// stands alone (no other placeholder next to it), each pair is nested in no pair of its
/// kind, each opener surely opens and each closer surely closes, and an opener inside
/// another pair cannot close. Most emphasis is so (`a *word* b`, `**Note:** c`), and is
/// settled without working out runs.
fn simple(s: &str, marks: &[Mark], loose: bool) -> bool {
    let mut open = [0u8; 3];
    let mut depth = 0;
    for (i, m) in marks.iter().enumerate() {
        if i > 0 && marks[i - 1].at + 2 == m.at {
            return false;
        }
        let p = class_before(&s[..m.at], loose);
        let q = class_after(&s[m.at + 2..], loose);
        let ch = delim(m.kind, 0).as_bytes()[0];
        if m.close {
            if depth == 0 || open[depth - 1] != m.kind || !all(p, q, |p, q| can_close(ch, p, q)) {
                return false;
            }
            depth -= 1;
        } else {
            if open[..depth].contains(&m.kind)
                || !all(p, q, |p, q| can_open(ch, p, q))
                || (depth > 0 && any(p, q, |p, q| can_close(ch, p, q)))
            {
                return false;
            }
            open[depth] = m.kind;
            depth += 1;
        }
    }
    depth == 0
}

/// Settles placeholders, reusing its buffers from one text to the next.
#[derive(Default)]
pub(super) struct Resolver {
    /// Placeholders settled so far.
    settled_count: usize,
    bufs: Bufs,
    emphasized: String,
    settled: String,
}

impl Resolver {
    /// How many placeholders [`Resolver::resolve`] has settled.
    pub(super) fn settled(&self) -> usize {
        self.settled_count
    }

    /// `s` with its placeholders settled. `loose`: `s` is a paragraph whose line ends and
    /// edges may become punctuation (see [`class`]); else they are whitespace.
    pub(super) fn resolve(&mut self, s: &str, loose: bool, report: &mut Report) -> &str {
        let mut b = std::mem::take(&mut self.bufs);
        b.marks.clear();
        let bytes = s.as_bytes();
        let mut deferred = false;
        let mut i = 0;
        while let Some(off) = s[i..].find('\0') {
            let at = i + off;
            self.settled_count += 1;
            let (kind, close) = match bytes.get(at + 1) {
                Some(b'e') => (0, false),
                Some(b'E') => (0, true),
                Some(b's') => (1, false),
                Some(b'S') => (1, true),
                Some(b'd') => (2, false),
                Some(b'D') => (2, true),
                _ => {
                    deferred = true;
                    i = at + 1;
                    continue;
                }
            };
            b.marks.push(Mark {
                at,
                kind,
                close,
                pair: NONE,
            });
            i = at + 2;
        }
        let out = &mut self.emphasized;
        out.clear();
        out.reserve(s.len());
        if b.marks.is_empty() {
            out.push_str(s);
        } else if simple(s, &b.marks, loose) {
            let mut last = 0;
            for m in &b.marks {
                out.push_str(&s[last..m.at]);
                out.push_str(delim(m.kind, 0));
                last = m.at + 2;
            }
            out.push_str(&s[last..]);
        } else {
            let n = b.marks.len();
            b.pairs.clear();
            b.cluster.clear();
            b.cluster.resize(n, (0, 0));
            b.runs.clear();
            b.runs.resize(n, Run::default());
            let mut e = Emphasis { s, loose, b };
            e.pair();
            e.choose(report);
            let mut last = 0;
            for m in 0..n {
                let at = e.b.marks[m].at;
                out.push_str(&s[last..at]);
                match e.kept(m) {
                    Some(d) => out.push_str(d),
                    // Two code spans brought together would merge their backtick runs.
                    None if out.ends_with('`') && bytes.get(at + 2) == Some(&b'`') => {
                        out.push(' ');
                    }
                    None => {}
                }
                last = at + 2;
            }
            out.push_str(&s[last..]);
            b = e.b;
        }
        self.bufs = b;
        if !deferred {
            return &self.emphasized;
        }
        self.settled.clear();
        settle(&self.emphasized, loose, &mut self.settled);
        &self.settled
    }
}

/// `s` with its [`TILDE`] and [`AMP`] placeholders settled.
fn settle(s: &str, loose: bool, out: &mut String) {
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = s[i..].find('\0') {
        let at = i + off;
        match b.get(at + 1) {
            Some(b'&') => {
                out.push_str(&s[last..at]);
                if entity_like(&b[at + 2..]) == EntityLike::Yes {
                    out.push('\\');
                }
                out.push('&');
                last = at + 2;
                i = last;
            }
            Some(b'~') => {
                out.push_str(&s[last..at]);
                let mut end = at;
                while b[end..].starts_with(TILDE.as_bytes()) {
                    end += 2;
                }
                // A run of `~` with whitespace on both sides can neither open nor close
                // strikethrough. But three at the start of a line would open a code block,
                // and escaping the first (`block_start`) leaves a run after a `~`, which can
                // close: escape them all.
                let before = class_before(out, loose);
                let after = class_after(&s[end..], loose);
                let line = out.trim_end_matches(|c: char| c != '\n' && c.is_whitespace());
                let fence = end - at >= 6 && (line.is_empty() || line.ends_with('\n'));
                let escape = before != W || after != W || fence;
                for _ in (at..end).step_by(2) {
                    if escape {
                        out.push('\\');
                    }
                    out.push('~');
                }
                last = end;
                i = end;
            }
            _ => i = at + 1,
        }
    }
    out.push_str(&s[last..]);
}
