//! Markdown in parts that each fit a byte limit: Knowledge Base 2.0 refuses a document whose
//! Markdown is over 1 MiB (`NOTE_MARKDOWN_TOO_LARGE`), so a longer page becomes several.
//!
//! Parts end on block boundaries: before a heading when that keeps the part at least half
//! full (and always rather than end a part with a heading), else at a blank line between
//! top-level blocks. A block larger than the limit is cut between lines; a fenced code block
//! cut that way is closed at the end of one part and reopened, with the same fence and info
//! string, at the start of the next. A line larger than the limit is cut after its last
//! space that fits, else between characters (never inside one). Without reopened fences,
//! the parts concatenate to the input exactly.

/// The most Markdown one Knowledge Base 2.0 document (`note.document.add`/`update`) takes,
/// in bytes.
pub const KB2_MARKDOWN_LIMIT: usize = 1_048_576;

/// Limits below this are raised to it: four bytes hold any UTF-8 character, so a part can
/// always take at least one.
const MIN_LIMIT: usize = 4;

pub(crate) struct Split {
    pub(crate) parts: Vec<String>,
    /// Code blocks closed at the end of a part and reopened in the next.
    pub(crate) reopened_fences: usize,
    /// Lines longer than a part could hold, cut inside.
    pub(crate) broken_lines: usize,
}

/// `markdown` in parts of at most `limit` bytes (at least 4) each, cut on block boundaries;
/// one part when it fits. See the module documentation for where cuts go.
pub fn split_markdown(markdown: &str, limit: usize) -> Vec<String> {
    split(markdown, limit).parts
}

/// An open fenced code block.
#[derive(Clone)]
struct Fence {
    /// `prefix + fence + info`, as the line that reopens it.
    reopen: String,
    /// `prefix + fence`, as the line that closes it.
    close: String,
    ch: u8,
    len: usize,
}

/// A top-level block (with the blank lines after it) and whether it is a heading.
struct Unit<'a> {
    text: &'a str,
    heading: bool,
}

fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b.is_ascii_whitespace())
}

/// ATX heading: one to six `#`, then a space, a tab or the end of the line.
fn is_heading(line: &str) -> bool {
    let b = line.as_bytes();
    let hashes = b.iter().take_while(|&&c| c == b'#').count();
    (1..=6).contains(&hashes) && b.get(hashes).is_none_or(|c| c.is_ascii_whitespace())
}

/// Length of a line's container prefix: block quote markers, list markers (with a task box)
/// and indentation, as far as a fence could follow it.
fn container_prefix(b: &[u8]) -> usize {
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        match b.get(i) {
            Some(b'>') => i += 1,
            Some(b'-' | b'*' | b'+') if b.get(i + 1) == Some(&b' ') => {
                i += 2;
                if matches!(b.get(i..i + 4), Some(b"[ ] " | b"[x] " | b"[X] ")) {
                    i += 4;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                let after = i + digits;
                if digits <= 9
                    && matches!(b.get(after), Some(b'.' | b')'))
                    && b.get(after + 1) == Some(&b' ')
                {
                    i = after + 2;
                } else {
                    return i;
                }
            }
            _ => return i,
        }
    }
}

/// The fence a line opens, if it opens one.
fn opens_fence(line: &str) -> Option<Fence> {
    let body = line.trim_end_matches(['\n', '\r']);
    let b = body.as_bytes();
    let p = container_prefix(b);
    let ch = *b.get(p)?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = b[p..].iter().take_while(|&&c| c == ch).count();
    let info = &body[p + len..];
    if len < 3 || (ch == b'`' && info.contains('`')) {
        return None;
    }
    // Continuation lines keep the quote markers; list markers become indentation.
    let prefix: String = body[..p]
        .chars()
        .map(|c| if c == '>' { '>' } else { ' ' })
        .collect();
    let fence = &body[p..p + len];
    Some(Fence {
        reopen: format!("{prefix}{fence}{info}\n"),
        close: format!("{prefix}{fence}\n"),
        ch,
        len,
    })
}

fn closes_fence(line: &str, f: &Fence) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'>') {
        i += 1;
    }
    let run = b[i..].iter().take_while(|&&c| c == f.ch).count();
    run >= f.len && b[i + run..].iter().all(|c| c.is_ascii_whitespace())
}

/// The fence state after `line`, given the state before it.
fn after_line(line: &str, open: Option<&Fence>) -> Option<Fence> {
    match open {
        Some(f) if closes_fence(line, f) => None,
        Some(f) => Some(f.clone()),
        None => opens_fence(line),
    }
}

/// Top-level blocks: a new one starts at a heading, or at an unindented line after a blank
/// line, outside code blocks.
fn units(md: &str) -> Vec<Unit<'_>> {
    let mut units = Vec::new();
    let mut start = 0;
    let mut heading = false;
    let mut fence: Option<Fence> = None;
    let mut after_blank = false;
    let mut pos = 0;
    for line in md.split_inclusive('\n') {
        if fence.is_none() && pos > start {
            let unindented = !line.starts_with([' ', '\t']);
            let h = is_heading(line);
            if h || (after_blank && unindented && !is_blank(line)) {
                units.push(Unit {
                    text: &md[start..pos],
                    heading,
                });
                start = pos;
                heading = h;
            }
        } else if pos == start && fence.is_none() {
            heading = is_heading(line);
        }
        after_blank = fence.is_none() && is_blank(line);
        fence = after_line(line, fence.as_ref());
        pos += line.len();
    }
    if start < md.len() {
        units.push(Unit {
            text: &md[start..],
            heading,
        });
    }
    units
}

struct Packer {
    limit: usize,
    parts: Vec<String>,
    cur: String,
    /// Where heading blocks start in `cur` (after its start).
    headings: Vec<usize>,
    /// Where the last block in `cur` starts, when it is a heading.
    last_heading: Option<usize>,
    /// Length of `cur` when the part was started (a reopened fence, or nothing).
    fresh: usize,
    reopened_fences: usize,
    broken_lines: usize,
}

impl Packer {
    fn emit(&mut self) {
        if !self.cur.is_empty() {
            self.parts.push(std::mem::take(&mut self.cur));
        }
        self.headings.clear();
        self.last_heading = None;
        self.fresh = 0;
    }

    fn unit(&mut self, u: &Unit<'_>) {
        let start = self.cur.len();
        if start + u.text.len() <= self.limit {
            if u.heading && start > 0 {
                self.headings.push(start);
            }
            self.last_heading = u.heading.then_some(start);
            self.cur.push_str(u.text);
            return;
        }
        let oversized = u.text.len() > self.limit;
        // Keep a heading with its section: end the part before the last heading when the
        // heading is the last block (or the part stays at least half full), and what moves
        // on still fits with this block (for a block that must be cut anyway: is short).
        let moves = |h: usize| {
            let tail = start - h;
            if oversized {
                tail <= self.limit / 2
            } else {
                tail + u.text.len() <= self.limit
            }
        };
        let cut = if u.heading {
            None
        } else {
            self.last_heading.filter(|&h| moves(h)).or_else(|| {
                self.headings
                    .last()
                    .copied()
                    .filter(|&h| h >= self.limit / 2 && moves(h))
            })
        };
        match cut {
            // The part is one heading: the block that must be cut anyway follows it.
            Some(0) => {}
            Some(h) => {
                let tail = self.cur.split_off(h);
                self.emit();
                self.cur = tail;
            }
            None => self.emit(),
        }
        self.last_heading = None;
        if self.cur.len() + u.text.len() <= self.limit {
            self.cur.push_str(u.text);
        } else {
            self.oversized(u.text);
        }
    }

    /// A block larger than a part, into the current part and as many more as it takes, cut
    /// between lines.
    fn oversized(&mut self, text: &str) {
        let mut fence: Option<Fence> = None;
        for line in text.split_inclusive('\n') {
            let after = after_line(line, fence.as_ref());
            let reserve = after.as_ref().map_or(0, |f| f.close.len());
            if self.cur.len() + line.len() + reserve <= self.limit {
                self.cur.push_str(line);
            } else {
                let fresh = fence.as_ref().map_or(0, |f| f.reopen.len());
                if fresh + line.len() + reserve <= self.limit {
                    self.end_part(fence.as_ref());
                    self.cur.push_str(line);
                } else {
                    // Too long for any part: it is cut anyway, so it fills this part first.
                    // Room is kept for closing the fence it is in, or the one it opens.
                    let reserve = reserve.max(fence.as_ref().map_or(0, |f| f.close.len()));
                    self.long_line(line, fence.as_ref(), reserve);
                }
            }
            fence = after;
        }
    }

    /// Close `fence` (room for it was kept), emit the part, start the next one reopening it.
    /// A fence whose lines alone nearly fill a part is not reopened: the code continues as
    /// text rather than the split never ending.
    fn end_part(&mut self, fence: Option<&Fence>) {
        // Reopened, the fence must leave room for a character, a line end and its close.
        let fence = fence.filter(|f| f.reopen.len() + f.close.len() + 1 + MIN_LIMIT <= self.limit);
        if let Some(f) = fence {
            if !self.cur.ends_with('\n') {
                self.cur.push('\n');
            }
            self.cur.push_str(&f.close);
        }
        self.emit();
        if let Some(f) = fence {
            self.cur.push_str(&f.reopen);
            self.fresh = self.cur.len();
            self.reopened_fences += 1;
        }
    }

    /// A line that does not fit a part: in pieces, each ending after its last space that
    /// fits; in a part of its own, where no space fits, between characters.
    fn long_line(&mut self, line: &str, fence: Option<&Fence>, reserve: usize) {
        self.broken_lines += 1;
        let mut rest = line;
        while !rest.is_empty() {
            if self.cur.len() + rest.len() + reserve <= self.limit {
                self.cur.push_str(rest);
                return;
            }
            let fresh = self.cur.len() <= self.fresh;
            let room = self.limit.saturating_sub(self.cur.len() + reserve + 1);
            let piece = if room >= MIN_LIMIT {
                cut_at(rest, room, !fresh)
            } else {
                None
            };
            match piece {
                Some(piece) => {
                    self.cur.push_str(piece);
                    rest = &rest[piece.len()..];
                    self.end_part(fence);
                }
                None if fresh => {
                    // No fence fits around the line (end_part keeps room for one it
                    // reopens, so this is a part with nothing in it): cut it bare.
                    if !self.cur.is_empty() {
                        self.cur.clear();
                        self.reopened_fences = self.reopened_fences.saturating_sub(1);
                    }
                    let piece = cut_at(rest, self.limit, false).unwrap_or(rest);
                    self.cur.push_str(piece);
                    rest = &rest[piece.len()..];
                    self.emit();
                }
                None => self.end_part(fence),
            }
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes (`max` ≥ 4) that ends after a space,
/// or (unless `need_space`) on a character boundary; `None` when there is none.
fn cut_at(s: &str, max: usize, need_space: bool) -> Option<&str> {
    if s.len() <= max {
        return Some(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s[..end].rfind(' ') {
        Some(sp) if sp > 0 => Some(&s[..=sp]),
        _ if need_space || end == 0 => None,
        _ => Some(&s[..end]),
    }
}

pub(crate) fn split(md: &str, limit: usize) -> Split {
    let limit = limit.max(MIN_LIMIT);
    let mut p = Packer {
        limit,
        parts: Vec::new(),
        cur: String::new(),
        headings: Vec::new(),
        last_heading: None,
        fresh: 0,
        reopened_fences: 0,
        broken_lines: 0,
    };
    if md.len() <= limit {
        p.parts.push(md.to_owned());
    } else {
        for u in units(md) {
            p.unit(&u);
        }
        p.emit();
    }
    Split {
        parts: p.parts,
        reopened_fences: p.reopened_fences,
        broken_lines: p.broken_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_headings_blank_lines_and_fences() {
        let md = "# A\ntext\n\n- item\n\n  more\n\n```\ncode\n\nx\n```\n\nend\n## B\n";
        let got: Vec<_> = units(md).iter().map(|u| (u.text, u.heading)).collect();
        assert_eq!(
            got,
            vec![
                ("# A\ntext\n\n", true),
                ("- item\n\n  more\n\n", false),
                ("```\ncode\n\nx\n```\n\n", false),
                ("end\n", false),
                ("## B\n", true),
            ]
        );
    }

    #[test]
    fn fences_in_containers() {
        let f = opens_fence("> - [ ] ```rust\n").unwrap();
        assert_eq!(f.reopen, ">       ```rust\n");
        assert_eq!(f.close, ">       ```\n");
        assert!(closes_fence(">       ````\n", &f));
        assert!(!closes_fence("> ``\n", &f));
        assert!(opens_fence("12. ~~~\n").is_some());
        assert!(opens_fence("``` a ` b\n").is_none());
        assert!(opens_fence("---\n").is_none());
        assert!(opens_fence("text ```\n").is_none());
    }

    #[test]
    fn cut_at_prefers_spaces_and_char_boundaries() {
        assert_eq!(cut_at("abc def ghi", 9, true), Some("abc def "));
        assert_eq!(cut_at("abcdefghi", 4, false), Some("abcd"));
        assert_eq!(cut_at("abcdefghi", 4, true), None);
        assert_eq!(cut_at("ääää", 5, false), Some("ää"));
    }
}
