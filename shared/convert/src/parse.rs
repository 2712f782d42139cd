//! A small tolerant tokenizer and tree builder for storage format as it really comes: bare
//! fragments, undeclared `ac:`/`ri:` prefixes, HTML named entities, CDATA sections, `/>` on
//! any element, unclosed or stray tags. It never fails: whatever cannot be read as markup is
//! kept as text.
//!
//! The tree borrows from the input: names, attribute values and text are slices of it unless
//! they had to be lower-cased or had entities decoded. All nodes live in one arena, and each
//! element's children are one contiguous slice of it, so building a document costs a handful
//! of allocations rather than several per element (allocation was a quarter of the time when
//! every node owned its strings and its child vector).

use std::borrow::Cow;

/// Deeper nesting than this is flattened (children become siblings), so rendering, which
/// recurses, has a bounded stack on any input.
pub(crate) const MAX_DEPTH: usize = 96;

/// Element names the converter looks at, resolved once while parsing so that every later
/// test is a comparison of small integers instead of a string search through a name list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Tag {
    A,
    Abbr,
    Area,
    Article,
    B,
    Base,
    Big,
    Blockquote,
    Body,
    Br,
    Button,
    Caption,
    Cite,
    Code,
    Col,
    Colgroup,
    Dd,
    Del,
    Details,
    Div,
    Dl,
    Dt,
    Em,
    Embed,
    Figcaption,
    Figure,
    Form,
    H1,
    H2,
    H3,
    H4,
    H5,
    H6,
    Head,
    Hr,
    Html,
    I,
    Iframe,
    Img,
    Input,
    Ins,
    Kbd,
    Li,
    Link,
    Mark,
    Meta,
    Object,
    Ol,
    P,
    Param,
    Pre,
    Q,
    Root,
    S,
    Script,
    Section,
    Select,
    Small,
    Source,
    Span,
    Strike,
    Strong,
    Style,
    Sub,
    Summary,
    Sup,
    Table,
    Tbody,
    Td,
    Textarea,
    Tfoot,
    Th,
    Thead,
    Time,
    Tr,
    Track,
    U,
    Ul,
    Wbr,
    Xml,
    AcAdfAttribute,
    AcAdfContent,
    AcAdfExtension,
    AcAdfFallback,
    AcAdfNode,
    AcAdfParameter,
    AcCaption,
    AcDefaultParameter,
    AcEmoticon,
    AcImage,
    AcInlineCommentMarker,
    AcLayout,
    AcLayoutCell,
    AcLayoutSection,
    AcLink,
    AcLinkBody,
    AcMacro,
    AcParameter,
    AcPlaceholder,
    AcPlainTextBody,
    AcPlainTextLinkBody,
    AcRichTextBody,
    AcStructuredMacro,
    AcTask,
    AcTaskBody,
    AcTaskId,
    AcTaskList,
    AcTaskStatus,
    AcTaskUuid,
    RiAttachment,
    RiBlogPost,
    RiContentEntity,
    RiPage,
    RiSpace,
    RiUrl,
    RiUser,
    /// Any other `ac:` element.
    OtherAc,
    /// Any other `ri:` element.
    OtherRi,
    Other,
}

impl Tag {
    /// The tag of a lower-case element name.
    pub(crate) fn of(name: &str) -> Tag {
        use Tag::*;
        match name {
            "a" => A,
            "abbr" => Abbr,
            "area" => Area,
            "article" => Article,
            "b" => B,
            "base" => Base,
            "big" => Big,
            "blockquote" => Blockquote,
            "body" => Body,
            "br" => Br,
            "button" => Button,
            "caption" => Caption,
            "cite" => Cite,
            "code" => Code,
            "col" => Col,
            "colgroup" => Colgroup,
            "dd" => Dd,
            "del" => Del,
            "details" => Details,
            "div" => Div,
            "dl" => Dl,
            "dt" => Dt,
            "em" => Em,
            "embed" => Embed,
            "figcaption" => Figcaption,
            "figure" => Figure,
            "form" => Form,
            "h1" => H1,
            "h2" => H2,
            "h3" => H3,
            "h4" => H4,
            "h5" => H5,
            "h6" => H6,
            "head" => Head,
            "hr" => Hr,
            "html" => Html,
            "i" => I,
            "iframe" => Iframe,
            "img" => Img,
            "input" => Input,
            "ins" => Ins,
            "kbd" => Kbd,
            "li" => Li,
            "link" => Link,
            "mark" => Mark,
            "meta" => Meta,
            "object" => Object,
            "ol" => Ol,
            "p" => P,
            "param" => Param,
            "pre" => Pre,
            "q" => Q,
            "root" => Root,
            "s" => S,
            "script" => Script,
            "section" => Section,
            "select" => Select,
            "small" => Small,
            "source" => Source,
            "span" => Span,
            "strike" => Strike,
            "strong" => Strong,
            "style" => Style,
            "sub" => Sub,
            "summary" => Summary,
            "sup" => Sup,
            "table" => Table,
            "tbody" => Tbody,
            "td" => Td,
            "textarea" => Textarea,
            "tfoot" => Tfoot,
            "th" => Th,
            "thead" => Thead,
            "time" => Time,
            "tr" => Tr,
            "track" => Track,
            "u" => U,
            "ul" => Ul,
            "wbr" => Wbr,
            "xml" => Xml,
            "ac:adf-attribute" => AcAdfAttribute,
            "ac:adf-content" => AcAdfContent,
            "ac:adf-extension" => AcAdfExtension,
            "ac:adf-fallback" => AcAdfFallback,
            "ac:adf-node" => AcAdfNode,
            "ac:adf-parameter" => AcAdfParameter,
            "ac:caption" => AcCaption,
            "ac:default-parameter" => AcDefaultParameter,
            "ac:emoticon" => AcEmoticon,
            "ac:image" => AcImage,
            "ac:inline-comment-marker" => AcInlineCommentMarker,
            "ac:layout" => AcLayout,
            "ac:layout-cell" => AcLayoutCell,
            "ac:layout-section" => AcLayoutSection,
            "ac:link" => AcLink,
            "ac:link-body" => AcLinkBody,
            "ac:macro" => AcMacro,
            "ac:parameter" => AcParameter,
            "ac:placeholder" => AcPlaceholder,
            "ac:plain-text-body" => AcPlainTextBody,
            "ac:plain-text-link-body" => AcPlainTextLinkBody,
            "ac:rich-text-body" => AcRichTextBody,
            "ac:structured-macro" => AcStructuredMacro,
            "ac:task" => AcTask,
            "ac:task-body" => AcTaskBody,
            "ac:task-id" => AcTaskId,
            "ac:task-list" => AcTaskList,
            "ac:task-status" => AcTaskStatus,
            "ac:task-uuid" => AcTaskUuid,
            "ri:attachment" => RiAttachment,
            "ri:blog-post" => RiBlogPost,
            "ri:content-entity" => RiContentEntity,
            "ri:page" => RiPage,
            "ri:space" => RiSpace,
            "ri:url" => RiUrl,
            "ri:user" => RiUser,
            n if n.starts_with("ac:") => OtherAc,
            n if n.starts_with("ri:") => OtherRi,
            _ => Other,
        }
    }

    /// The tag of an element name as written (any case).
    fn of_raw(name: &str) -> Tag {
        if !name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Tag::of(name);
        }
        let mut buf = [0u8; 32];
        match buf.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower).map_or(Tag::Other, Tag::of)
            }
            // Longer than any name we know: only the prefix matters.
            None => match name.as_bytes().get(..3) {
                Some(p) if p.eq_ignore_ascii_case(b"ac:") => Tag::OtherAc,
                Some(p) if p.eq_ignore_ascii_case(b"ri:") => Tag::OtherRi,
                _ => Tag::Other,
            },
        }
    }

    /// `ac:` and `ri:` elements and `time`, which the semantic layer interprets.
    pub(crate) fn is_ac(self) -> bool {
        use Tag::*;
        matches!(
            self,
            Time | AcAdfAttribute
                | AcAdfContent
                | AcAdfExtension
                | AcAdfFallback
                | AcAdfNode
                | AcAdfParameter
                | AcCaption
                | AcDefaultParameter
                | AcEmoticon
                | AcImage
                | AcInlineCommentMarker
                | AcLayout
                | AcLayoutCell
                | AcLayoutSection
                | AcLink
                | AcLinkBody
                | AcMacro
                | AcParameter
                | AcPlaceholder
                | AcPlainTextBody
                | AcPlainTextLinkBody
                | AcRichTextBody
                | AcStructuredMacro
                | AcTask
                | AcTaskBody
                | AcTaskId
                | AcTaskList
                | AcTaskStatus
                | AcTaskUuid
                | OtherAc
        ) || self.is_ri()
    }

    /// Whether equal tags mean equal names (every tag but the catch-alls).
    fn is_named(self) -> bool {
        !matches!(self, Tag::OtherAc | Tag::OtherRi | Tag::Other)
    }

    pub(crate) fn is_ri(self) -> bool {
        use Tag::*;
        matches!(
            self,
            RiAttachment
                | RiBlogPost
                | RiContentEntity
                | RiPage
                | RiSpace
                | RiUrl
                | RiUser
                | OtherRi
        )
    }

    /// `h1`–`h6` → 1–6.
    pub(crate) fn heading_level(self) -> Option<u8> {
        use Tag::*;
        Some(match self {
            H1 => 1,
            H2 => 2,
            H3 => 3,
            H4 => 4,
            H5 => 5,
            H6 => 6,
            _ => return None,
        })
    }

    fn is_void(self) -> bool {
        use Tag::*;
        matches!(
            self,
            Area | Base
                | Br
                | Col
                | Embed
                | Hr
                | Img
                | Input
                | Link
                | Meta
                | Param
                | Source
                | Track
                | Wbr
        )
    }
}

/// Indices into the arena. 32 bits keep nodes small (they are moved once, from the open
/// element's pending run into the arena); [`parse`] keeps inputs short enough for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        let start32 = u32::try_from(start).unwrap_or(u32::MAX);
        let len = u32::try_from(end.saturating_sub(start)).unwrap_or(0);
        Span {
            start: start32,
            len,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// Longest input parsed as markup; anything after it is kept as text (see [`Span`]).
const MAX_MARKUP: usize = u32::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    El(El<'a>),
    /// Decoded text.
    Text(Cow<'a, str>),
    /// A CDATA section, verbatim.
    Cdata(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct El<'a> {
    /// As written, prefix kept (`ac:structured-macro`); see [`E::name`].
    name: &'a str,
    tag: Tag,
    attrs: Span,
    kids: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr<'a> {
    /// Lower-cased.
    pub name: Cow<'a, str>,
    /// Decoded.
    pub value: Cow<'a, str>,
}

/// A parsed document: the arena and the top-level nodes.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
    root: Span,
}

impl Tree<'_> {
    pub(crate) fn root(&self) -> Nodes<'_> {
        Nodes {
            tree: self,
            list: &self.nodes[self.root.range()],
        }
    }
}

/// A run of sibling nodes.
#[derive(Clone, Copy)]
pub(crate) struct Nodes<'t> {
    tree: &'t Tree<'t>,
    list: &'t [Node<'t>],
}

/// One node, seen through its tree.
#[derive(Clone, Copy)]
pub(crate) enum N<'t> {
    El(E<'t>),
    Text(&'t str),
    Cdata(&'t str),
}

/// An element, seen through its tree.
#[derive(Clone, Copy)]
pub(crate) struct E<'t> {
    tree: &'t Tree<'t>,
    el: &'t El<'t>,
}

impl<'t> Nodes<'t> {
    /// No nodes (of the same tree as `other`).
    pub(crate) fn empty_like(other: Nodes<'t>) -> Self {
        Nodes {
            tree: other.tree,
            list: &[],
        }
    }

    /// The `i`-th node alone.
    pub(crate) fn one(self, i: usize) -> Nodes<'t> {
        Nodes {
            tree: self.tree,
            list: self.list.get(i..=i).unwrap_or(&[]),
        }
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = N<'t>> + 't {
        let tree = self.tree;
        self.list.iter().map(move |n| match n {
            Node::El(el) => N::El(E { tree, el }),
            Node::Text(t) => N::Text(t),
            Node::Cdata(t) => N::Cdata(t),
        })
    }

    pub(crate) fn elements(self) -> impl Iterator<Item = E<'t>> + 't {
        let tree = self.tree;
        self.list.iter().filter_map(move |n| match n {
            Node::El(el) => Some(E { tree, el }),
            _ => None,
        })
    }
}

impl<'t> E<'t> {
    /// Lower-cased; borrows unless the input had upper case.
    pub(crate) fn name(self) -> Cow<'t, str> {
        lower(self.el.name)
    }

    pub(crate) fn tag(self) -> Tag {
        self.el.tag
    }

    pub(crate) fn attrs(self) -> &'t [Attr<'t>] {
        &self.tree.attrs[self.el.attrs.range()]
    }

    pub(crate) fn attr(self, name: &str) -> Option<&'t str> {
        self.attrs()
            .iter()
            .find(|a| a.name == name)
            .map(|a| &*a.value)
    }

    pub(crate) fn children(self) -> Nodes<'t> {
        Nodes {
            tree: self.tree,
            list: &self.tree.nodes[self.el.kids.range()],
        }
    }

    /// Direct child elements.
    pub(crate) fn elements(self) -> impl Iterator<Item = E<'t>> + 't {
        self.children().elements()
    }

    pub(crate) fn child(self, tag: Tag) -> Option<E<'t>> {
        self.elements().find(|e| e.tag() == tag)
    }

    /// Whether this is a `ac:`/`ri:` construct (or `time`), which the semantic layer
    /// interprets, as opposed to plain HTML.
    pub(crate) fn is_ac(self) -> bool {
        self.tag().is_ac()
    }
}

/// An element whose end tag has not been seen yet.
struct Open<'a> {
    name: &'a str,
    tag: Tag,
    attrs: Span,
    /// Where its children start in `pending`.
    first: usize,
}

struct Builder<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<Attr<'a>>,
    /// Children of the open elements, innermost last; an element's run moves into `nodes`
    /// as one slice when it closes.
    pending: Vec<Node<'a>>,
    open: Vec<Open<'a>>,
}

/// Parse a storage-format body.
pub(crate) fn parse(full: &str) -> Tree<'_> {
    let mut cut = full.len().min(MAX_MARKUP);
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    let (input, beyond) = full.split_at(cut);
    let mut t = Builder {
        nodes: Vec::with_capacity(input.len() / 24 + 8),
        attrs: Vec::with_capacity(input.len() / 48 + 8),
        pending: Vec::with_capacity(64),
        open: Vec::with_capacity(16),
    };
    let b = input.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    // Whether the pending text has an `&`, so text without one is never searched again.
    let mut amp = false;
    while i < b.len() {
        if b[i] != b'<' {
            i = scan_text(b, i, &mut amp);
            continue;
        }
        let next = b.get(i + 1).copied().unwrap_or(0);
        let markup = next == b'!' || next == b'?' || next == b'/' || next.is_ascii_alphabetic();
        if !markup {
            i += 1;
            continue;
        }
        t.push_text(&input[text_start..i], amp);
        amp = false;
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = find_from(input, i + 4, "-->").map_or(b.len(), |p| p + 3);
        } else if rest.starts_with(b"<![CDATA[") {
            let start = i + 9;
            let end = find_from(input, start, "]]>").unwrap_or(b.len());
            t.pending.push(Node::Cdata(&input[start..end]));
            i = (end + 3).min(b.len());
        } else if next == b'!' || next == b'?' {
            i = find_byte(b, i, b'>').map_or(b.len(), |p| p + 1);
        } else if next == b'/' {
            let (name, after) = read_name(input, i + 2);
            i = find_byte(b, after, b'>').map_or(b.len(), |p| p + 1);
            t.close(Tag::of_raw(name), name);
        } else {
            let (name, after) = read_name(input, i + 1);
            let tag = Tag::of_raw(name);
            let (attrs, self_closing, after) = t.read_attrs(input, after);
            i = after;
            if tag == Tag::Script || tag == Tag::Style {
                // Raw text: skip to the end tag; the renderers drop the element.
                if !self_closing {
                    let end_tag: &[u8] = if tag == Tag::Script {
                        b"</script"
                    } else {
                        b"</style"
                    };
                    i = find_ascii_ci(b, i, end_tag)
                        .and_then(|p| find_byte(b, p, b'>'))
                        .map_or(b.len(), |p| p + 1);
                }
                t.leaf(name, tag, attrs);
            } else if self_closing || tag.is_void() || t.open.len() >= MAX_DEPTH {
                t.leaf(name, tag, attrs);
            } else {
                t.open.push(Open {
                    name,
                    tag,
                    attrs,
                    first: t.pending.len(),
                });
            }
        }
        text_start = i;
    }
    t.push_text(&input[text_start.min(b.len())..], amp);
    while !t.open.is_empty() {
        t.pop();
    }
    if !beyond.is_empty() {
        t.pending.push(Node::Text(Cow::Borrowed(beyond)));
    }
    let start = t.nodes.len();
    t.nodes.append(&mut t.pending);
    Tree {
        root: Span::new(start, t.nodes.len()),
        nodes: t.nodes,
        attrs: t.attrs,
    }
}

impl<'a> Builder<'a> {
    fn leaf(&mut self, name: &'a str, tag: Tag, attrs: Span) {
        self.pending.push(Node::El(El {
            name,
            tag,
            attrs,
            kids: Span::default(),
        }));
    }

    fn pop(&mut self) {
        let Some(o) = self.open.pop() else { return };
        let start = self.nodes.len();
        self.nodes.extend(self.pending.drain(o.first..));
        self.pending.push(Node::El(El {
            name: o.name,
            tag: o.tag,
            attrs: o.attrs,
            kids: Span::new(start, self.nodes.len()),
        }));
    }

    fn close(&mut self, tag: Tag, name: &str) {
        let found = self
            .open
            .iter()
            .rposition(|o| o.tag == tag && (tag.is_named() || o.name.eq_ignore_ascii_case(name)));
        if let Some(pos) = found {
            while self.open.len() > pos {
                self.pop();
            }
        }
    }

    fn push_text(&mut self, raw: &'a str, amp: bool) {
        if raw.is_empty() {
            return;
        }
        let text = if amp {
            decode_entities(raw)
        } else {
            Cow::Borrowed(raw)
        };
        let first = self.open.last().map_or(0, |o| o.first);
        if self.pending.len() > first
            && let Some(Node::Text(prev)) = self.pending.last_mut()
        {
            prev.to_mut().push_str(&text);
            return;
        }
        self.pending.push(Node::Text(text));
    }

    fn read_attrs(&mut self, s: &'a str, from: usize) -> (Span, bool, usize) {
        let start = self.attrs.len();
        let (self_closing, end) = self.read_attr_list(s, from);
        (Span::new(start, self.attrs.len()), self_closing, end)
    }

    fn read_attr_list(&mut self, s: &'a str, from: usize) -> (bool, usize) {
        let b = s.as_bytes();
        let mut i = from;
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                return (false, i);
            }
            match b[i] {
                b'>' => return (false, i + 1),
                b'/' if b.get(i + 1) == Some(&b'>') => return (true, i + 2),
                b'/' | b'=' | b'"' | b'\'' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let name_start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let name = lower(&s[name_start..i]);
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = Cow::Borrowed("");
            if b.get(i) == Some(&b'=') {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end = find_byte(b, i + 1, q).unwrap_or(b.len());
                        value = decode_entities(&s[i + 1..end]);
                        i = (end + 1).min(b.len());
                    }
                    _ => {
                        let vstart = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = decode_entities(&s[vstart..i]);
                    }
                }
            }
            self.attrs.push(Attr { name, value });
        }
    }
}

fn find_from(s: &str, from: usize, pat: &str) -> Option<usize> {
    s.get(from..)?.find(pat).map(|p| p + from)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of `x` that equals `byte` (exact for the lowest such byte, which is
/// all the callers use).
fn bytes_equal(x: u64, byte: u8) -> u64 {
    let y = x ^ (ONES * u64::from(byte));
    y.wrapping_sub(ONES) & !y & HIGHS
}

/// The next `<` at or after `i` (or the end), noting whether an `&` came first (or close
/// after, which only costs a needless look for entities). Eight bytes at a time: text runs
/// are too short for a memchr call per run to pay, and too long for a byte loop to be free.
fn scan_text(b: &[u8], mut i: usize, amp: &mut bool) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if bytes_equal(x, b'&') != 0 {
            *amp = true;
        }
        let lt = bytes_equal(x, b'<');
        if lt != 0 {
            return i + (lt.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b'<' {
        *amp |= b[i] == b'&';
        i += 1;
    }
    i
}

fn find_byte(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let hit = bytes_equal(u64::from_le_bytes(word), byte);
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c == byte).map(|p| p + i)
}

/// First occurrence of `needle` (lower-case ASCII) at or after `from`, ignoring ASCII case.
fn find_ascii_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    while let Some(p) = find_byte(hay, i, needle[0]) {
        if hay
            .get(p..p + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn read_name(s: &str, from: usize) -> (&str, usize) {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    (&s[from..i], i)
}

/// Decode numeric references and the HTML named entities seen in storage format; unknown
/// ones stay as they are. Borrows when there is nothing to decode.
pub(crate) fn decode_entities(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find('&') else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut rest = &s[first..];
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1);
        let decoded = match end {
            Some(e) if rest.as_bytes()[e] == b';' && e > 1 => {
                entity(&rest[1..e]).map(|c| (c, e + 1))
            }
            _ => None,
        };
        match decoded {
            Some((Ent::Char(c), len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            Some((Ent::Str(s), len)) => {
                out.push_str(s);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<Ent> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        }?;
        let c = char::from_u32(code)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{fffd}');
        return Some(Ent::Char(c));
    }
    let s = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "ndash" => "–",
        "mdash" => "—",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "hellip" => "…",
        "laquo" => "«",
        "raquo" => "»",
        "bull" => "•",
        "middot" => "·",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "para" => "¶",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "shy" => "\u{ad}",
        "zwj" => "\u{200d}",
        "zwnj" => "\u{200c}",
        "larr" => "←",
        "rarr" => "→",
        "uarr" => "↑",
        "darr" => "↓",
        "harr" => "↔",
        "rArr" => "⇒",
        "auml" => "ä",
        "ouml" => "ö",
        "uuml" => "ü",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "szlig" => "ß",
        "eacute" => "é",
        "egrave" => "è",
        "ecirc" => "ê",
        "agrave" => "à",
        "aacute" => "á",
        "acirc" => "â",
        "ccedil" => "ç",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "ntilde" => "ñ",
        "Eacute" => "É",
        "iexcl" => "¡",
        "iquest" => "¿",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "micro" => "µ",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "thinsp" => "\u{2009}",
        _ => return None,
    };
    Some(Ent::Str(s))
}

enum Ent {
    Char(char),
    Str(&'static str),
}

/// Plain text of a subtree (text and CDATA), skipping macro parameters.
pub(crate) fn text_of(nodes: Nodes<'_>) -> String {
    let mut out = String::new();
    collect_text(nodes, &mut out);
    out
}

/// Like [`text_of`], but borrows when the text is a single node (the common case: a macro
/// parameter, a plain-text body).
pub(crate) fn text_cow<'t>(nodes: Nodes<'t>) -> Cow<'t, str> {
    match nodes.list {
        [] => Cow::Borrowed(""),
        [Node::Text(t)] => Cow::Borrowed(&**t),
        [Node::Cdata(t)] => Cow::Borrowed(*t),
        _ => Cow::Owned(text_of(nodes)),
    }
}

fn skipped(e: E<'_>) -> bool {
    matches!(e.tag(), Tag::AcParameter | Tag::AcAdfAttribute)
}

fn collect_text(nodes: Nodes<'_>, out: &mut String) {
    for n in nodes.iter() {
        match n {
            N::Text(t) | N::Cdata(t) => out.push_str(t),
            N::El(e) if skipped(e) => {}
            N::El(e) => collect_text(e.children(), out),
        }
    }
}

/// Whether [`text_of`] would be blank (empty or only whitespace).
pub(crate) fn is_blank(nodes: Nodes<'_>) -> bool {
    nodes.iter().all(|n| match n {
        N::Text(t) | N::Cdata(t) => t.trim().is_empty(),
        N::El(e) if skipped(e) => true,
        N::El(e) => is_blank(e.children()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_entities_cdata_and_self_closing() {
        let tree = parse(
            "<p>a&nbsp;b &amp; &bogus; &#x41;</p><ri:page ri:content-title=\"T&auml;\"/><ac:x><![CDATA[<x>]]></ac:x>",
        );
        let t: Vec<_> = tree.root().iter().collect();
        assert_eq!(t.len(), 3);
        let N::El(p) = t[0] else { panic!() };
        assert_eq!(text_of(p.children()), "a\u{a0}b & &bogus; A");
        let N::El(page) = t[1] else { panic!() };
        assert_eq!(page.attr("ri:content-title"), Some("Tä"));
        assert!(page.children().list.is_empty());
        let N::El(x) = t[2] else { panic!() };
        assert_eq!(x.tag(), Tag::OtherAc);
        assert_eq!(x.children().list, &[Node::Cdata("<x>")]);
    }

    #[test]
    fn stray_and_unclosed_tags() {
        let t = parse("a < b </q><p>x<b>y</p>z<");
        assert_eq!(text_of(t.root()), "a < b xyz<");
        let deep = "<div>".repeat(10_000);
        let t = parse(&deep);
        assert!(!t.root().list.is_empty());
    }

    proptest::proptest! {
        /// The word-at-a-time scans agree with a byte loop.
        #[test]
        fn scans_agree_with_a_byte_loop(
            b in proptest::collection::vec(proptest::sample::select(b"ab<&\"'>\xc3\xa4".to_vec()), 0..40),
            from in 0usize..45,
        ) {
            let naive = b.get(from..).and_then(|t| t.iter().position(|&c| c == b'<')).map(|p| p + from);
            let mut amp = false;
            let got = scan_text(&b, from, &mut amp);
            proptest::prop_assert_eq!(got, naive.unwrap_or(b.len().max(from)));
            let naive_amp = b.get(from..got).is_some_and(|t| t.contains(&b'&'));
            proptest::prop_assert!(amp || !naive_amp);
            for q in [b'"', b'\'', b'>'] {
                let naive = b.get(from..).and_then(|t| t.iter().position(|&c| c == q)).map(|p| p + from);
                proptest::prop_assert_eq!(find_byte(&b, from, q), naive);
            }
        }
    }

    #[test]
    fn names_are_lower_cased_and_borrowed_when_they_already_are() {
        let t = parse("<P CLASS=x>a</p><script>x</SCRIPT >y");
        let els: Vec<_> = t.root().elements().collect();
        assert_eq!(els[0].name(), "p");
        assert_eq!(els[0].tag(), Tag::P);
        assert_eq!(els[0].attr("class"), Some("x"));
        assert_eq!(els[1].tag(), Tag::Script);
        assert_eq!(text_of(t.root()), "ay");
        let plain = parse("<p>x</p>");
        let N::El(p) = plain.root().iter().next().unwrap() else {
            panic!()
        };
        assert!(matches!(p.name(), Cow::Borrowed("p")));
        assert!(matches!(p.children().list[0], Node::Text(Cow::Borrowed(_))));
    }
}
