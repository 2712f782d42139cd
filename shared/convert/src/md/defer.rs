//! Markdown that can only be chosen once its neighbours are known.
//!
//! Whether an emphasis delimiter opens or closes depends on the characters on either side of
//! it (CommonMark's flanking rules), and one side is written after it: `a<em>-</em>b` cannot
//! be `a*-*b` (the `*` would show), while `a <em>-</em> b` can. So the renderer writes
//! placeholders, a NUL byte and a letter, and [`resolve`] settles them once the text around
//! them is final (a paragraph, a heading, a line of a table cell, the whole output):
//!
//! - emphasis, strong emphasis and strikethrough delimiters ([`push_mark`]);
//! - a `~` at the edge of a text node ([`TILDE`]), escaped unless whitespace ends up on both
//!   sides of its run;
//! - a `&` at the end of a text node that the next one could complete into a character
//!   reference ([`AMP`]), escaped if it was completed.
//!
//! Text never holds a NUL: [`super::push_text`] and the writers of verbatim text put U+FFFD
//! there, which is what a CommonMark parser reads a NUL as.

use crate::Report;

/// A `~` whose neighbours are not known yet.
pub(super) const TILDE: &str = "\0~";
/// A `&` that may start a character reference with the text that follows.
pub(super) const AMP: &str = "\0&";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Emph {
    Em,
    Strong,
    Strike,
}

/// Write the placeholder of the opening (`close` false) or closing delimiter of `kind`.
pub(super) fn push_mark(kind: Emph, close: bool, out: &mut String) {
    out.push('\0');
    out.push(match (kind, close) {
        (Emph::Em, false) => 'e',
        (Emph::Em, true) => 'E',
        (Emph::Strong, false) => 's',
        (Emph::Strong, true) => 'S',
        (Emph::Strike, false) => 'd',
        (Emph::Strike, true) => 'D',
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
    match c {
        '\n' if loose => W | P,
        ' ' | '\t' | '\n' | '\r' | '\x0c' => W,
        // NUL: a placeholder, which becomes `&`, `\&`, `~` or `\~`.
        '\0' => P,
        c if c.is_ascii_punctuation() => P,
        c if c.is_ascii() => A,
        // Letters and digits that are also symbols (So): ⓐ, 🄰.
        '\u{2460}'..='\u{24ff}' | '\u{1f100}'..='\u{1f1ff}' => P | A,
        c if c.is_alphanumeric() => A,
        '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}' => W,
        // Whitespace to Rust (and pulldown-cmark), not to CommonMark.
        c if c.is_whitespace() => W | A,
        _ => P | A,
    }
}

fn edge(loose: bool) -> u8 {
    if loose { W | P } else { W }
}

/// `f` for every combination of one class of `p` and one of `q`, or for one of them.
fn all(p: u8, q: u8, f: impl Fn(u8, u8) -> bool) -> bool {
    [W, P, A].into_iter().filter(|x| p & x != 0).all(|x| {
        [W, P, A]
            .into_iter()
            .filter(|y| q & y != 0)
            .all(|y| f(x, y))
    })
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

struct Emphasis<'s> {
    s: &'s str,
    loose: bool,
    marks: Vec<Mark>,
    pairs: Vec<Pair>,
    /// Per mark: its cluster (the placeholders adjacent to it) and its run.
    cluster: Vec<(u32, u32)>,
    runs: Vec<Run>,
}

impl Emphasis<'_> {
    fn kept(&self, m: usize) -> Option<&'static str> {
        let pair = self.marks[m].pair;
        (pair != NONE)
            .then(|| {
                delim(
                    self.pairs[pair as usize].kind,
                    self.pairs[pair as usize].form,
                )
            })
            .filter(|d| !d.is_empty())
    }

    /// Pair openers with closers. A pair inside one of its own kind is dropped (it adds
    /// nothing), and a closer followed at once by an opener of the same kind is dropped with
    /// it, joining the two (`*a**b*` would not parse back).
    fn pair(&mut self) {
        let mut stack: Vec<u32> = Vec::new();
        let mut live: Vec<u32> = Vec::new();
        let mut open_of_kind = [0u32; 3];
        let mut i = 0;
        while i < self.marks.len() {
            let m = self.marks[i];
            let k = usize::from(m.kind);
            if !m.close {
                let id = self.pairs.len() as u32;
                let quiet = open_of_kind[k] > 0;
                self.pairs.push(Pair {
                    kind: m.kind,
                    form: if quiet { DROP } else { 0 },
                    parent: live.last().copied().unwrap_or(NONE),
                    open: i as u32,
                    close: NONE,
                    quiet,
                });
                self.marks[i].pair = id;
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
                Some(top) if self.pairs[top as usize].kind == m.kind => {
                    if let Some(n) = self.marks.get(i + 1)
                        && !n.close
                        && n.kind == m.kind
                        && n.at == m.at + 2
                    {
                        i += 2;
                        continue;
                    }
                    stack.pop();
                    open_of_kind[k] -= 1;
                    if !self.pairs[top as usize].quiet {
                        live.pop();
                    }
                    self.pairs[top as usize].close = i as u32;
                    self.marks[i].pair = top;
                }
                // Cannot happen: placeholders are written in pairs, nested.
                _ => {}
            }
            i += 1;
        }
        for id in stack {
            let p = &mut self.pairs[id as usize];
            p.form = DROP;
            p.quiet = true;
        }
    }

    fn class_before(&self, at: usize) -> u8 {
        self.s[..at]
            .chars()
            .next_back()
            .map_or(edge(self.loose), |c| class(c, self.loose))
    }

    fn class_after(&self, at: usize) -> u8 {
        self.s[at..]
            .chars()
            .next()
            .map_or(edge(self.loose), |c| class(c, self.loose))
    }

    /// Work out the runs of the cluster of marks `a..b`.
    fn runs_of(&mut self, (a, b): (u32, u32), kept: &mut Vec<(usize, &'static str)>) {
        let (a, b) = (a as usize, b as usize);
        kept.clear();
        kept.extend((a..b).filter_map(|m| self.kept(m).map(|d| (m, d))));
        let before = self.class_before(self.marks[a].at);
        let after = self.class_after(self.marks[b - 1].at + 2);
        let mut start = 0;
        while start < kept.len() {
            let ch = kept[start].1.as_bytes()[0];
            let end = start
                + kept[start..]
                    .iter()
                    .take_while(|(_, d)| d.as_bytes()[0] == ch)
                    .count();
            let group = &kept[start..end];
            let close = self.marks[group[0].0].close;
            let mut kinds = 0u8;
            let mut ok = true;
            let mut mixed = false;
            for &(m, _) in group {
                let bit = 1 << self.marks[m].kind;
                mixed |= self.marks[m].close != close;
                ok &= kinds & bit == 0;
                kinds |= bit;
            }
            let run = Run {
                ch,
                len: group.iter().map(|(_, d)| d.len()).sum(),
                p: if start > 0 { P } else { before },
                q: if end < kept.len() { P } else { after },
                mixed,
                ok: ok && (ch != b'~' || group.len() == 1),
            };
            for &(m, _) in group {
                self.runs[m] = run;
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
        let pair = &self.pairs[id];
        let o = self.runs[pair.open as usize];
        let c = self.runs[pair.close as usize];
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
        if (o_closes || c_opens) && (o.len + c.len) % 3 == 0 && (o.len % 3 != 0 || c.len % 3 != 0) {
            return false;
        }
        if o_closes {
            let mut up = pair.parent;
            while up != NONE {
                let a = &self.pairs[up as usize];
                let d = delim(a.kind, a.form);
                if d.as_bytes().first() == Some(&ch) {
                    let len = self.runs[a.open as usize].len;
                    if (len + o.len) % 3 != 0 || o.len % 3 == 0 {
                        return false;
                    }
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
        for m in 0..self.marks.len() {
            if m + 1 == self.marks.len() || self.marks[m + 1].at != self.marks[m].at + 2 {
                for x in a..=m {
                    self.cluster[x] = (a as u32, m as u32 + 1);
                }
                a = m + 1;
            }
        }
        let mut kept = Vec::new();
        let mut m = 0;
        while m < self.marks.len() {
            let cl = self.cluster[m];
            self.runs_of(cl, &mut kept);
            m = cl.1 as usize;
        }
        // Each change can only drop or demote a pair, so this ends; a few sweeps settle any
        // real text, and the cap bounds the work on a crafted one.
        let mut settled = false;
        for _ in 0..8 {
            let mut changed = false;
            for id in 0..self.pairs.len() {
                if self.pairs[id].form == DROP || self.valid(id) {
                    continue;
                }
                let p = &mut self.pairs[id];
                p.form = if p.kind == 2 { DROP } else { p.form + 1 };
                changed = true;
                let (open, close) = (p.open as usize, p.close as usize);
                self.runs_of(self.cluster[open], &mut kept);
                self.runs_of(self.cluster[close], &mut kept);
            }
            if !changed {
                settled = true;
                break;
            }
        }
        let mut dropped = 0;
        for p in &mut self.pairs {
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

/// `s` with its placeholders settled. `loose`: `s` is a paragraph whose line ends and edges
/// may become punctuation (see [`class`]); else they are whitespace.
pub(super) fn resolve(s: &str, loose: bool, report: &mut Report) -> String {
    let b = s.as_bytes();
    let mut marks = Vec::new();
    let mut deferred = false;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == 0) {
        let at = i + off;
        let (kind, close) = match b.get(at + 1) {
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
        marks.push(Mark {
            at,
            kind,
            close,
            pair: NONE,
        });
        i = at + 2;
    }
    let mut out = String::with_capacity(s.len() + 8);
    if marks.is_empty() {
        out.push_str(s);
    } else {
        let n = marks.len();
        let mut e = Emphasis {
            s,
            loose,
            marks,
            pairs: Vec::new(),
            cluster: vec![(0, 0); n],
            runs: vec![Run::default(); n],
        };
        e.pair();
        e.choose(report);
        let mut last = 0;
        for m in 0..n {
            let at = e.marks[m].at;
            out.push_str(&s[last..at]);
            if let Some(d) = e.kept(m) {
                out.push_str(d);
            }
            last = at + 2;
        }
        out.push_str(&s[last..]);
    }
    if deferred { settle(&out, loose) } else { out }
}

/// `s` with its [`TILDE`] and [`AMP`] placeholders settled.
fn settle(s: &str, loose: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == 0) {
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
                // strikethrough.
                let before = out
                    .chars()
                    .next_back()
                    .map_or(edge(loose), |c| class(c, loose));
                let after = s[end..]
                    .chars()
                    .next()
                    .map_or(edge(loose), |c| class(c, loose));
                let escape = before != W || after != W;
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
    out
}
