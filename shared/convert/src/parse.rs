//! A small tolerant tokenizer and tree builder for storage format as it really comes: bare
//! fragments, undeclared `ac:`/`ri:` prefixes, HTML named entities, CDATA sections, `/>` on
//! any element, unclosed or stray tags. It never fails: whatever cannot be read as markup is
//! kept as text.

/// Deeper nesting than this is flattened (children become siblings), so rendering, which
/// recurses, has a bounded stack on any input.
pub(crate) const MAX_DEPTH: usize = 96;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    El(El),
    /// Decoded text.
    Text(String),
    /// A CDATA section, verbatim.
    Cdata(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct El {
    /// Lower-cased, prefix kept (`ac:structured-macro`).
    pub name: String,
    /// Names lower-cased, values decoded.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl El {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Direct child elements.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &El> {
        self.children.iter().filter_map(|n| match n {
            Node::El(e) => Some(e),
            _ => None,
        })
    }

    pub(crate) fn child(&self, name: &str) -> Option<&El> {
        self.elements().find(|e| e.name == name)
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Parse a storage-format body into a forest.
pub(crate) fn parse(input: &str) -> Vec<Node> {
    let mut stack: Vec<El> = vec![El::default()];
    let b = input.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i = input[i..].find('<').map_or(b.len(), |p| p + i);
            continue;
        }
        let rest = &input[i..];
        let next = b.get(i + 1).copied().unwrap_or(0);
        let markup = next == b'!' || next == b'?' || next == b'/' || next.is_ascii_alphabetic();
        if !markup {
            i += 1;
            continue;
        }
        push_text(&mut stack, &input[text_start..i]);
        if rest.starts_with("<!--") {
            i = find_from(input, i + 4, "-->").map_or(b.len(), |p| p + 3);
        } else if rest.starts_with("<![CDATA[") {
            let start = i + 9;
            let end = find_from(input, start, "]]>").unwrap_or(b.len());
            top(&mut stack)
                .children
                .push(Node::Cdata(input[start..end].to_owned()));
            i = (end + 3).min(b.len());
        } else if next == b'!' || next == b'?' {
            i = find_from(input, i, ">").map_or(b.len(), |p| p + 1);
        } else if next == b'/' {
            let (name, after) = read_name(input, i + 2);
            i = find_from(input, after, ">").map_or(b.len(), |p| p + 1);
            close(&mut stack, &name);
        } else {
            let (name, after) = read_name(input, i + 1);
            let (attrs, self_closing, after) = read_attrs(input, after);
            i = after;
            let el = El {
                name,
                attrs,
                children: Vec::new(),
            };
            if el.name == "script" || el.name == "style" {
                // Raw text: skip to the end tag; the renderer drops the element.
                if !self_closing {
                    let end_tag = format!("</{}", el.name);
                    let lower = input[i..].to_ascii_lowercase();
                    i = lower
                        .find(&end_tag)
                        .and_then(|p| find_from(input, i + p, ">"))
                        .map_or(b.len(), |p| p + 1);
                }
                top(&mut stack).children.push(Node::El(el));
            } else if self_closing || VOID.contains(&el.name.as_str()) || stack.len() > MAX_DEPTH {
                top(&mut stack).children.push(Node::El(el));
            } else {
                stack.push(el);
            }
        }
        text_start = i;
    }
    push_text(&mut stack, &input[text_start.min(b.len())..]);
    while stack.len() > 1 {
        pop(&mut stack);
    }
    stack.pop().map(|r| r.children).unwrap_or_default()
}

fn top(stack: &mut [El]) -> &mut El {
    // The root is never popped while parsing, so the stack is never empty.
    let last = stack.len() - 1;
    &mut stack[last]
}

fn pop(stack: &mut Vec<El>) {
    if let Some(el) = stack.pop() {
        top(stack).children.push(Node::El(el));
    }
}

fn close(stack: &mut Vec<El>, name: &str) {
    if let Some(pos) = stack.iter().skip(1).rposition(|e| e.name == name) {
        let depth = pos + 1;
        while stack.len() > depth {
            pop(stack);
        }
    }
}

fn push_text(stack: &mut [El], raw: &str) {
    if raw.is_empty() {
        return;
    }
    let text = decode_entities(raw);
    let children = &mut top(stack).children;
    if let Some(Node::Text(prev)) = children.last_mut() {
        prev.push_str(&text);
    } else {
        children.push(Node::Text(text));
    }
}

fn find_from(s: &str, from: usize, pat: &str) -> Option<usize> {
    s.get(from..)?.find(pat).map(|p| p + from)
}

fn read_name(s: &str, from: usize) -> (String, usize) {
    let b = s.as_bytes();
    let mut i = from;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    (s[from..i].to_ascii_lowercase(), i)
}

type Attrs = Vec<(String, String)>;

fn read_attrs(s: &str, from: usize) -> (Attrs, bool, usize) {
    let b = s.as_bytes();
    let mut attrs = Vec::new();
    let mut i = from;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, false, i);
        }
        match b[i] {
            b'>' => return (attrs, false, i + 1),
            b'/' if b.get(i + 1) == Some(&b'>') => return (attrs, true, i + 2),
            b'/' | b'=' | b'"' | b'\'' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = s[i + 1..].find(q as char).map_or(b.len(), |p| p + i + 1);
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
        attrs.push((name, value));
    }
}

/// Decode numeric references and the HTML named entities seen in storage format; unknown
/// ones stay as they are.
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
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
            Some((c, len)) => {
                out.push_str(&c.text());
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
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

impl Ent {
    fn text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Ent::Char(c) => c.to_string().into(),
            Ent::Str(s) => (*s).into(),
        }
    }
}

/// Plain text of a subtree (text and CDATA), skipping macro parameters.
pub(crate) fn text_of(nodes: &[Node]) -> String {
    let mut out = String::new();
    collect_text(nodes, &mut out);
    out
}

fn collect_text(nodes: &[Node], out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) | Node::Cdata(t) => out.push_str(t),
            Node::El(e) if e.name == "ac:parameter" || e.name == "ac:adf-attribute" => {}
            Node::El(e) => collect_text(&e.children, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_entities_cdata_and_self_closing() {
        let t = parse(
            "<p>a&nbsp;b &amp; &bogus; &#x41;</p><ri:page ri:content-title=\"T&auml;\"/><ac:x><![CDATA[<x>]]></ac:x>",
        );
        assert_eq!(t.len(), 3);
        let Node::El(p) = &t[0] else { panic!() };
        assert_eq!(text_of(&p.children), "a\u{a0}b & &bogus; A");
        let Node::El(page) = &t[1] else { panic!() };
        assert_eq!(page.attr("ri:content-title"), Some("Tä"));
        assert!(page.children.is_empty());
        let Node::El(x) = &t[2] else { panic!() };
        assert_eq!(x.children, vec![Node::Cdata("<x>".into())]);
    }

    #[test]
    fn stray_and_unclosed_tags() {
        let t = parse("a < b </q><p>x<b>y</p>z<");
        assert_eq!(text_of(&t), "a < b xyz<");
        let deep = "<div>".repeat(10_000);
        let t = parse(&deep);
        assert!(!t.is_empty());
    }
}
