//! Markdown output keeps text that looks like a block marker at the start of a line from
//! opening a block, and inline text that looks like markup (`~`, character references) from
//! being read as such, and writes emphasis in a form that parses back: golden cases for
//! each, and properties checked with a CommonMark (+ GFM tables, task lists, strikethrough)
//! parser.

use bridge_convert::{Context, html_text, to_markdown};
use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// (name, storage input, Markdown)
const CASES: &[(&str, &str, &str)] = &[
    // ATX heading: `#` at a line start is always escaped.
    ("atx", "<p># a</p>", "\\# a\n"),
    ("atx_no_space", "<p>#<em>x</em></p>", "\\#*x*\n"),
    ("atx_split_by_em", "<p>#<em> x</em></p>", "\\# *x*\n"),
    ("atx_split_by_span", "<p><span>#</span> x</p>", "\\# x\n"),
    ("atx_after_break", "<p>a<br/># b</p>", "a\\\n\\# b\n"),
    ("atx_leading_space", "<p>   ## b</p>", "\\## b\n"),
    (
        "hash_inside_strong_is_not_a_heading",
        "<p><strong>#</strong> not a heading</p>",
        "**#** not a heading\n",
    ),
    ("hash_mid_line", "<p>C# and #tag</p>", "C# and #tag\n"),
    // Block quote and HTML block: `>` and `<` are escaped everywhere.
    ("quote", "<p>&gt; a</p>", "\\> a\n"),
    ("quote_after_break", "<p>a<br/>&gt;b</p>", "a\\\n\\>b\n"),
    ("html_block", "<p>&lt;div&gt;x</p>", "\\<div\\>x\n"),
    (
        "html_comment",
        "<p>&lt;!-- c --&gt;</p>",
        "\\<!-- c --\\>\n",
    ),
    // Bullet list items.
    ("bullet_dash", "<p>- a</p>", "\\- a\n"),
    ("bullet_plus", "<p>+ a</p>", "\\+ a\n"),
    ("bullet_star", "<p>* a</p>", "\\* a\n"),
    ("bullet_tab", "<p>-&#9;a</p>", "\\- a\n"),
    ("bullet_after_break", "<p>a<br/>- b</p>", "a\\\n\\- b\n"),
    ("bullet_empty", "<p>-</p>", "\\-\n"),
    // An empty item cannot interrupt a paragraph, so a lone `+` there stays.
    ("bullet_empty_after_break", "<p>a<br/>+</p>", "a\\\n+\n"),
    (
        "dash_not_a_marker",
        "<p>-a, a - b, +1</p>",
        "-a, a - b, +1\n",
    ),
    // Ordered list items: the delimiter is escaped.
    ("ordered_dot", "<p>1. a</p>", "1\\. a\n"),
    ("ordered_paren", "<p>1) a</p>", "1\\) a\n"),
    (
        "ordered_other_number",
        "<p>2024. A year</p>",
        "2024\\. A year\n",
    ),
    ("ordered_after_break", "<p>a<br/>1. b</p>", "a\\\n1\\. b\n"),
    (
        "ordered_zero_padded_after_break",
        "<p>a<br/>01. b</p>",
        "a\\\n01\\. b\n",
    ),
    // Continuing a paragraph, only an item numbered 1 interrupts it.
    (
        "ordered_two_after_break",
        "<p>a<br/>2. b</p>",
        "a\\\n2. b\n",
    ),
    (
        "ordered_too_long",
        "<p>1234567890. a</p>",
        "1234567890. a\n",
    ),
    ("not_ordered", "<p>1.5 kg, 3.a</p>", "1.5 kg, 3.a\n"),
    // Thematic breaks.
    ("rule_dashes", "<p>---</p>", "\\---\n"),
    ("rule_spaced", "<p>-- -</p>", "\\-- -\n"),
    ("rule_spaced_list_like", "<p>- - -</p>", "\\- - -\n"),
    ("rule_stars", "<p>***</p>", "\\*\\*\\*\n"),
    ("rule_underscores", "<p>___</p>", "\\_\\_\\_\n"),
    // Setext underlines, under a paragraph line only.
    ("setext_equals", "<p>a<br/>===</p>", "a\\\n\\===\n"),
    ("setext_dashes", "<p>a<br/>--</p>", "a\\\n\\--\n"),
    ("setext_single_dash", "<p>a<br/>-</p>", "a\\\n\\-\n"),
    ("equals_first_line", "<p>== a</p>", "== a\n"),
    // Fences.
    ("fence_backticks", "<p>```rust</p>", "\\`\\`\\`rust\n"),
    // Every `~` of the run: after an escaped `~`, `~~` could close strikethrough.
    ("fence_tildes", "<p>~~~</p>", "\\~\\~\\~\n"),
    (
        "fence_tildes_after_break",
        "<p>a<br/>~~~ b</p>",
        "a\\\n\\~\\~\\~ b\n",
    ),
    // Two cannot open a code block, and with whitespace on both sides no strikethrough.
    ("two_tildes", "<p>~~ a</p>", "~~ a\n"),
    // Indented code: leading whitespace is dropped (not shown in HTML either).
    ("indent_spaces", "<p>    code</p>", "code\n"),
    ("indent_tab_after_break", "<p>a<br/>&#9;b</p>", "a\\\nb\n"),
    // Tables: `|` is escaped; cells are not block starts, so nothing else is.
    (
        "table_pipe",
        "<table><tr><td>| a</td></tr></table>",
        "| \\| a |\n| --- |\n",
    ),
    (
        "table_cells_unescaped",
        "<table><tr><td># a</td><td>1. b</td><td>- c</td><td>a<br/>---</td></tr></table>",
        "| # a | 1. b | - c | a<br>--- |\n| --- | --- | --- | --- |\n",
    ),
    (
        "table_code_pipe",
        "<table><tr><td><code>a|b</code></td></tr></table>",
        "| `a\\|b` |\n| --- |\n",
    ),
    // Containers: the marker is at the start of the item's or quote's content.
    (
        "list_items",
        "<ul><li># a</li><li>1. b</li><li><p>- c</p></li></ul>",
        "- \\# a\n- 1\\. b\n- \\- c\n",
    ),
    ("ordered_item", "<ol><li>2) b</li></ol>", "1. 2\\) b\n"),
    (
        "blockquote",
        "<blockquote><p>&gt; a</p><p>+ b</p></blockquote>",
        "> \\> a\n>\n> \\+ b\n",
    ),
    (
        "task",
        "<ac:task-list><ac:task><ac:task-status>incomplete</ac:task-status><ac:task-body># x</ac:task-body></ac:task></ac:task-list>",
        "- [ ] \\# x\n",
    ),
    (
        "panel_body",
        "<ac:structured-macro ac:name=\"info\"><ac:rich-text-body><p>1. x</p></ac:rich-text-body></ac:structured-macro>",
        "> **ℹ\u{fe0f} Info**\n>\n> 1\\. x\n",
    ),
    (
        "dashes_after_list_marker",
        "<ul><li>--</li></ul>",
        "- \\--\n",
    ),
    ("dashes_paragraph", "<p>--</p>", "\\--\n"),
    // Trailing hard breaks are dropped before the line is looked at.
    ("marker_before_trailing_break", "<p>+<br/></p>", "\\+\n"),
    (
        "backslash_before_trailing_break",
        "<p>a\\<br/></p>",
        "a\\\\\n",
    ),
    // Headings: the text is not a block start, but a closing sequence would be dropped.
    ("heading_hash_inside", "<h2>C# # a</h2>", "## C# # a\n"),
    ("heading_closing_sequence", "<h2>Use #</h2>", "## Use \\#\n"),
    ("heading_only_hash", "<h2>##</h2>", "## \\##\n"),
    ("heading_break", "<h2>a<br/>b</h2>", "## a b\n"),
    (
        "toc_entry",
        "<ac:structured-macro ac:name=\"toc\" /><h1>1. Intro</h1>",
        "- 1\\. Intro\n\n# 1. Intro\n",
    ),
    (
        "toc_levels",
        "<ac:structured-macro ac:name=\"toc\" /><h3>a</h3><h2>b</h2><h4>c</h4>",
        "- a\n- b\n  - c\n\n### a\n\n## b\n\n#### c\n",
    ),
    // Links: a line break inside the text starts a line too.
    (
        "link_text_after_break",
        "<p><a href=\"https://x.example/\">a<br/># b</a></p>",
        "[a\\\n\\# b](https://x.example/)\n",
    ),
    (
        "plain_link_body_newline",
        "<p><ac:link><ri:page ri:content-title=\"T\"/><ac:plain-text-link-body><![CDATA[a\n# b]]></ac:plain-text-link-body></ac:link></p>",
        "a # b\n",
    ),
    // Code spans and blocks are verbatim.
    (
        "code_span",
        "<p><code># x</code> <code>1. y</code></p>",
        "`# x` `1. y`\n",
    ),
    (
        "code_span_newline",
        "<p><code>x\n# y</code></p>",
        "`x # y`\n",
    ),
    (
        "code_span_backticks",
        "<p><code>a`b</code> <code>`</code> <code></code>c</p>",
        "``a`b`` `` ` `` c\n",
    ),
    (
        "code_spans_adjacent",
        "<p><code>a</code><code>b</code></p>",
        "`a` `b`\n",
    ),
    (
        "code_block",
        "<ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[# x\n- y\n    z]]></ac:plain-text-body></ac:structured-macro>",
        "```\n# x\n- y\n    z\n```\n",
    ),
    (
        "code_language_with_backtick",
        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">a`b</ac:parameter><ac:plain-text-body><![CDATA[# x]]></ac:plain-text-body></ac:structured-macro>",
        "```\n# x\n```\n",
    ),
    ("pre", "<pre>1. a\n&gt; b</pre>", "```\n1. a\n> b\n```\n"),
];

#[test]
fn block_markers_are_escaped_at_line_starts() {
    let ctx = Context::default();
    let mut failures = Vec::new();
    for (name, input, want) in CASES {
        let got = to_markdown(input, &ctx).output;
        if got != *want {
            failures.push(format!("{name}:\n  got  {got:?}\n  want {want:?}"));
        }
        // A single paragraph of storage format stays one paragraph.
        if input.starts_with("<p>") && input.matches("<p>").count() == 1 {
            let (blocks, _) = parsed(want);
            if blocks != ["paragraph"] {
                failures.push(format!("{name}: {want:?} parses as {blocks:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Inline escaping and emphasis: (name, storage input, Markdown, emphasis dropped as
/// approximated).
const INLINE_CASES: &[(&str, &str, &str, usize)] = &[
    // `~`: escaped unless whitespace is on both sides of its run, which keeps it from
    // opening or closing strikethrough.
    (
        "tilde_strikethrough_like",
        "<p>~x~ and ~~y~~</p>",
        "\\~x\\~ and \\~\\~y\\~\\~\n",
        0,
    ),
    ("tilde_spaced", "<p>a ~ b, x ~~ y</p>", "a ~ b, x ~~ y\n", 0),
    (
        "tilde_path",
        "<p>cd ~/src, ~5 min</p>",
        "cd \\~/src, \\~5 min\n",
        0,
    ),
    (
        "tilde_own_node_spaced",
        "<p>a <span>~</span> b</p>",
        "a ~ b\n",
        0,
    ),
    (
        "tilde_own_node_touching",
        "<p>a<span>~</span>b</p>",
        "a\\~b\n",
        0,
    ),
    (
        "tilde_after_strike",
        "<p><s>a</s>~ b</p>",
        "~~a~~\\~ b\n",
        0,
    ),
    ("tilde_at_paragraph_start", "<p>~~ a</p>", "~~ a\n", 0),
    (
        "tilde_cell_edge",
        "<table><tr><td>~ a</td></tr></table>",
        "| \\~ a |\n| --- |\n",
        0,
    ),
    // `&`: escaped only where it starts a character reference.
    (
        "entity_like_text",
        "<p>&amp;copy; &amp;#169; &amp;#xA9; &amp;amp;</p>",
        "\\&copy; \\&#169; \\&#xA9; \\&amp;\n",
        0,
    ),
    (
        "ampersand_plain",
        "<p>Q&amp;A, R&amp;D, a &amp; b, AT&amp;T. &amp;#; &amp;x y;</p>",
        "Q&A, R&D, a & b, AT&T. &#; &x y;\n",
        0,
    ),
    ("ampersand_heading_end", "<h2>Q&amp;A</h2>", "## Q&A\n", 0),
    (
        "entity_across_nodes",
        "<p>&amp;<span>copy;</span> &amp;#<span>169;</span></p>",
        "\\&copy; \\&#169;\n",
        0,
    ),
    (
        "entity_across_dropped_emphasis",
        "<p>&amp;<em>copy</em>; x&amp;<em>-</em>y</p>",
        "&*copy*; x&-y\n",
        1,
    ),
    (
        "entity_in_code",
        "<p><code>&amp;copy;</code></p>",
        "`&copy;`\n",
        0,
    ),
    // Emphasis: kept where CommonMark reads it back, else dropped (and reported).
    ("em_punct_between_words", "<p>a<em>-</em>b</p>", "a-b\n", 1),
    ("em_punct_spaced", "<p>a <em>-</em> b</p>", "a *-* b\n", 0),
    (
        "em_quoted",
        "<p>say <em>\"hi\"</em>. <em>(x)</em></p>",
        "say *\"hi\"*. *(x)*\n",
        0,
    ),
    (
        "em_quoted_before_word",
        "<p><em>\"hi\"</em>x</p>",
        "\"hi\"x\n",
        1,
    ),
    ("em_unicode_punct", "<p><em>“q”</em>x</p>", "“q”x\n", 1),
    (
        "em_intraword",
        "<p>un<em>believ</em>able при<em>вет</em></p>",
        "un*believ*able при*вет*\n",
        0,
    ),
    (
        "em_in_strong_intraword",
        "<p><strong>foo<em>bar</em>baz</strong></p>",
        "**foo*bar*baz**\n",
        0,
    ),
    (
        "strong_em_same_extent",
        "<p>a<strong><em>b</em></strong>c</p>",
        "a***b***c\n",
        0,
    ),
    ("em_edge_spaces", "<p>x<em> a </em>b</p>", "x *a* b\n", 0),
    (
        "em_edge_nbsp",
        "<p>x<em>a&nbsp;</em>b</p>",
        "x*a*\u{a0}b\n",
        0,
    ),
    (
        "em_hard_break_at_end",
        "<p><em>a<br/></em>b</p>",
        "*a*\\\nb\n",
        0,
    ),
    ("em_only_break", "<p>a<em><br/></em>b</p>", "a\\\nb\n", 0),
    ("em_adjacent", "<p><em>a</em><em>b</em></p>", "*ab*\n", 0),
    (
        "em_nested_in_em",
        "<p><em>a<em>b</em></em></p>",
        "*ab*\n",
        0,
    ),
    (
        "strong_then_em",
        "<p><strong>a</strong><em>b</em></p>",
        "**a**_b_\n",
        0,
    ),
    (
        "em_strong_em",
        "<p><em>a</em><strong>b</strong><em>c</em></p>",
        "*a*__b__*c*\n",
        0,
    ),
    (
        "strike_punct_between_words",
        "<p>x<s>-</s>y</p>",
        "x-y\n",
        1,
    ),
    ("strike_adjacent", "<p><s>a</s><s>b</s></p>", "~~ab~~\n", 0),
    (
        "code_spans_meet_where_emphasis_is_dropped",
        "<p><em><code>a</code><em><code>b</code></em></em></p>",
        "*`a` `b`*\n",
        0,
    ),
    (
        "status_in_word",
        "<p>a<ac:structured-macro ac:name=\"status\"><ac:parameter ac:name=\"title\">ok</ac:parameter></ac:structured-macro>b</p>",
        "a\\[OK\\]b\n",
        1,
    ),
];

/// Text as shown: its runs of whitespace as one space, trimmed.
fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of a Markdown document as a parser shows it: text and code, line breaks and
/// block ends as spaces, normalized.
fn shown_text(md: &str) -> String {
    let mut text = String::new();
    for event in Parser::new_ext(md, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::InlineHtml(h) if &*h == "<br>" => text.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell,
            ) => text.push(' '),
            _ => {}
        }
    }
    normalize(&text)
}

/// The text of storage format as shown, with line breaks as spaces.
fn storage_text(storage: &str) -> String {
    normalize(&html_text(&storage.replace("<br/>", " ")))
}

#[test]
fn inline_text_is_escaped_and_emphasis_parses_back() {
    let ctx = Context::default();
    let mut failures = Vec::new();
    for (name, input, want, approximated) in INLINE_CASES {
        let got = to_markdown(input, &ctx);
        if got.output != *want {
            failures.push(format!("{name}:\n  got  {:?}\n  want {want:?}", got.output));
        }
        let dropped = got
            .report
            .items
            .get("markdown: emphasis approximated")
            .copied()
            .unwrap_or(0);
        if dropped != *approximated {
            failures.push(format!(
                "{name}: {dropped} emphasis approximated, want {approximated}"
            ));
        }
        let (shown, stored) = (shown_text(want), storage_text(input));
        // Macros add text of their own, and adjacent code spans are set apart by a space;
        // the rest shows exactly the stored text.
        if !input.contains("<ac:") && !input.contains("</code><") && shown != stored {
            failures.push(format!("{name}: {want:?} shows {shown:?}, not {stored:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH
}

/// The blocks a Markdown text parses into (in document order, nested ones included) and its
/// text (text and code, no whitespace).
fn parsed(md: &str) -> (Vec<&'static str>, String) {
    let mut blocks = Vec::new();
    let mut text = String::new();
    for event in Parser::new_ext(md, options()) {
        match event {
            Event::Start(tag) => {
                let block = match tag {
                    Tag::Emphasis
                    | Tag::Strong
                    | Tag::Strikethrough
                    | Tag::Link { .. }
                    | Tag::Image { .. } => continue,
                    Tag::Paragraph => "paragraph",
                    Tag::Heading { .. } => "heading",
                    Tag::BlockQuote(_) => "quote",
                    Tag::CodeBlock(_) => "code block",
                    Tag::HtmlBlock => "html block",
                    Tag::List(_) => "list",
                    Tag::Item => "item",
                    Tag::Table(_) => "table",
                    Tag::TableHead => "table head",
                    Tag::TableRow => "table row",
                    Tag::TableCell => "table cell",
                    _ => "other block",
                };
                blocks.push(block);
            }
            Event::Rule => blocks.push("rule"),
            Event::Text(t) | Event::Code(t) => {
                text.extend(t.chars().filter(|c| !c.is_whitespace()));
            }
            _ => {}
        }
    }
    (blocks, text)
}

/// Text pieces of storage format that look like block markers where a line starts.
const MARKERS: &[&str] = &[
    "#",
    "## ",
    "> ",
    ">",
    "-",
    "- ",
    "+",
    "+ ",
    "* ",
    "*",
    "_",
    "=",
    "==",
    "---",
    "- - -",
    "***",
    "___",
    "1.",
    "1. ",
    "1) ",
    "01. ",
    "2. ",
    "123456789. ",
    "```",
    "`",
    "    ",
    "\t",
    "&#9;",
    " ",
    "\n",
    "&nbsp;",
    "&lt;div&gt;",
    "&lt;!--",
    "&lt;/p&gt;",
    "&lt;",
    "&gt;",
    "|",
    "| a |",
    "|---|",
    "[x]: /u",
    "[^1]: n",
    "[ ] ",
    "\\",
    "!",
    "a",
    "word",
    "x y",
    ":",
    ".",
    ")",
    "~",
    "~~~",
    "&amp;copy;",
    "&amp;#169;",
    "&amp;#xA9;",
    "&amp;",
    "copy;",
];

/// Inline markup around and between them, emphasis included (unbalanced: the parser closes
/// what is left open).
const INLINE: &[&str] = &[
    "<br/>",
    "<span>",
    "</span>",
    "<code># x</code>",
    "<code>a|b</code>",
    "<code>`</code>",
    "<code>\n- y</code>",
    "<code>1. </code>",
    "<em>",
    "</em>",
    "<strong>",
    "</strong>",
    "<s>",
    "</s>",
];

fn pieces() -> impl Strategy<Value = String> {
    let all: Vec<&'static str> = MARKERS.iter().chain(INLINE).copied().collect();
    proptest::collection::vec(proptest::sample::select(all), 1..24).prop_map(|v| v.concat())
}

/// Inline text for [`random_inline_text_shows_exactly`]: `~` runs, text that looks like
/// character references (whole, or split across nodes), punctuation and words that
/// emphasis can touch.
const INLINE_TEXT: &[&str] = &[
    "a",
    "word",
    "x y",
    "9",
    "é",
    "я",
    " ",
    "  ",
    "-",
    ".",
    ",",
    "(",
    ")",
    "\"",
    "'",
    "“",
    "”",
    "!",
    "?",
    "/",
    "*",
    "_",
    "\\",
    "#",
    "`",
    "|",
    "[",
    "]",
    "&lt;",
    "&gt;",
    "&nbsp;",
    "~",
    "~~",
    "~~~",
    "a~b",
    "~/x",
    "&amp;",
    "&amp;copy;",
    "&amp;#169;",
    "&amp;#xA9;",
    "&amp;amp;",
    "&amp;#",
    "&amp;#x",
    "&amp;x",
    "Q&amp;A",
    "copy;",
    "#169;",
    "#xA9;",
    "A9;",
    ";",
    "<br/>",
];

/// Elements around runs of [`INLINE_TEXT`] (or none).
const INLINE_WRAP: &[(&str, &str)] = &[
    ("<em>", "</em>"),
    ("<strong>", "</strong>"),
    ("<s>", "</s>"),
    ("<i>", "</i>"),
    ("<b>", "</b>"),
    ("<del>", "</del>"),
    ("<span>", "</span>"),
    ("", ""),
];

fn inline_text() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(INLINE_TEXT).prop_map(str::to_owned);
    let tree = leaf.prop_recursive(3, 32, 6, |inner| {
        (
            proptest::sample::select(INLINE_WRAP),
            proptest::collection::vec(inner, 1..6),
        )
            .prop_map(|((open, close), parts)| format!("{open}{}{close}", parts.concat()))
    });
    proptest::collection::vec(tree, 1..8).prop_map(|v| v.concat())
}

/// Blocks around [`inline_text`]: one that starts lines, a heading, a list item, a table
/// cell (line ends become `<br>`), a quote, a task.
const INLINE_BLOCKS: &[(&str, &str)] = &[
    ("<p>", "</p>"),
    ("<h2>", "</h2>"),
    ("<ul><li>", "</li></ul>"),
    ("<table><tr><td>", "</td></tr></table>"),
    ("<blockquote><p>", "</p></blockquote>"),
    (
        "<ac:task-list><ac:task><ac:task-status>complete</ac:task-status><ac:task-body>",
        "</ac:task-body></ac:task></ac:task-list>",
    ),
];

/// Each wrapper of a random text, the blocks its Markdown must parse into, and how often the
/// text is shown.
const WRAPPERS: &[(&str, &str, &[&str], usize)] = &[
    ("<p>", "</p>", &["paragraph"], 1),
    ("<h2>", "</h2>", &["heading"], 1),
    ("<ul><li>", "</li></ul>", &["list", "item"], 1),
    ("<ol start=\"7\"><li>", "</li></ol>", &["list", "item"], 1),
    (
        "<blockquote><p>",
        "</p></blockquote>",
        &["quote", "paragraph"],
        1,
    ),
    (
        "<table><tr><td>",
        "</td></tr></table>",
        &["table", "table head", "table cell"],
        1,
    ),
    (
        "<ac:task-list><ac:task><ac:task-status>complete</ac:task-status><ac:task-body>",
        "</ac:task-body></ac:task></ac:task-list>",
        &["list", "item"],
        1,
    ),
    (
        "<ac:structured-macro ac:name=\"toc\"/><h3>",
        "</h3>",
        &["list", "item", "heading"],
        2,
    ),
];

fn check(content: &str, compare_text: bool) -> Result<(), TestCaseError> {
    let want_text: String = html_text(content)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if want_text.is_empty() {
        // Nothing to show: the block is dropped.
        return Ok(());
    }
    for (open, close, want_blocks, copies) in WRAPPERS {
        let storage = format!("{open}{content}{close}");
        let md = to_markdown(&storage, &Context::default()).output;
        let (blocks, text) = parsed(&md);
        prop_assert_eq!(
            &blocks,
            want_blocks,
            "storage {:?}\nmarkdown {:?}",
            storage,
            md
        );
        if compare_text {
            prop_assert_eq!(
                &text,
                &want_text.repeat(*copies),
                "storage {:?}\nmarkdown {:?}",
                storage,
                md
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// A paragraph stays one paragraph (a heading one heading, a list item one item, a cell
    /// one cell), whatever its text.
    #[test]
    fn random_text_stays_in_its_block(content in pieces()) {
        check(&content, false)?;
    }

    /// And its text comes through: no marker eaten as markup, no backslash shown.
    #[test]
    fn random_text_is_kept(content in pieces()) {
        check(&content, true)?;
    }

    /// Inline text with `~`, character-reference-like text and emphasis next to
    /// punctuation shows exactly (up to runs of whitespace) the stored text: no `~` taken
    /// for strikethrough, no reference decoded, no delimiter shown or lost.
    #[test]
    fn random_inline_text_shows_exactly(content in inline_text()) {
        check_exact(&content)?;
    }
}

/// [`random_inline_text_shows_exactly`] of `content`.
fn check_exact(content: &str) -> Result<(), TestCaseError> {
    let want = storage_text(content);
    if want.is_empty() {
        return Ok(());
    }
    for (open, close) in INLINE_BLOCKS {
        let storage = format!("{open}{content}{close}");
        let md = to_markdown(&storage, &Context::default()).output;
        prop_assert_eq!(
            shown_text(&md),
            want.clone(),
            "storage {:?}\nmarkdown {:?}",
            storage,
            md
        );
    }
    Ok(())
}

/// Inputs [`random_inline_text_shows_exactly`] once failed on.
#[test]
fn inline_text_regressions() {
    for content in [
        // A table cell trims the whitespace around a line break (`<br>` in the cell), which
        // then stands next to the delimiters.
        "<em><b>a<br/></b><b>&nbsp;-</b></em>",
        "<span>a ~~</span><em> <s><br/>-</s></em>",
        // `~~~` starting a line: escaping only the first `~` leaves a `~~` that can close.
        "<s><em>-<br/></em>~~~ a</s>",
    ] {
        check_exact(content).unwrap();
    }
}

/// (name, storage input, Markdown, links, images, text shown) for links and images next to
/// text: a `!` before a link's `[` would make it an image, and a hard break's backslash at
/// the end of link text would escape its `]`.
const LINK_CASES: &[(&str, &str, &str, usize, usize, &str)] = &[
    (
        "bang_before_link",
        "<p>a!<a href=\"u\">y</a></p>",
        "a\\![y](u)\n",
        1,
        0,
        "a!y",
    ),
    (
        "bang_before_link_in_span",
        "<p><span>a!</span><a href=\"u\">y</a></p>",
        "a\\![y](u)\n",
        1,
        0,
        "a!y",
    ),
    (
        "escaped_backslash_then_bang_before_link",
        "<p>a\\!<a href=\"u\">y</a></p>",
        "a\\\\\\![y](u)\n",
        1,
        0,
        "a\\!y",
    ),
    (
        "bang_before_link_in_strong",
        "<p>a!<strong><a href=\"u\">y</a></strong></p>",
        "a!**[y](u)**\n",
        1,
        0,
        "a!y",
    ),
    (
        "bang_not_before_link",
        "<p>a! <a href=\"u\">y</a> b!</p>",
        "a! [y](u) b!\n",
        1,
        0,
        "a! y b!",
    ),
    (
        "bang_before_image",
        "<p>a!<img src=\"s\" alt=\"i\"/></p>",
        "a!![i](s)\n",
        0,
        1,
        "a!i",
    ),
    (
        "bang_before_unsafe_link",
        "<p>a!<a href=\"javascript:x\">y</a></p>",
        "a!y\n",
        0,
        0,
        "a!y",
    ),
    (
        "link_text_ends_in_break",
        "<p><a href=\"u\">a<br/></a></p>",
        "[a](u)\n",
        1,
        0,
        "a",
    ),
    (
        "link_text_break_inside",
        "<p><a href=\"u\">a<br/>b</a> c</p>",
        "[a\\\nb](u) c\n",
        1,
        0,
        "a b c",
    ),
    (
        "link_text_em_ends_in_break",
        "<p><a href=\"u\"><em>a<br/></em></a></p>",
        "[*a*](u)\n",
        1,
        0,
        "a",
    ),
    (
        "break_outside_link_kept",
        "<p><a href=\"u\">a</a><br/>b</p>",
        "[a](u)\\\nb\n",
        1,
        0,
        "a b",
    ),
];

#[test]
fn links_parse_back() {
    let ctx = Context::default();
    let mut failures = Vec::new();
    for (name, input, want, links, images, text) in LINK_CASES {
        let got = to_markdown(input, &ctx).output;
        if got != *want {
            failures.push(format!("{name}:\n  got  {got:?}\n  want {want:?}"));
        }
        let (mut l, mut i) = (0, 0);
        for event in Parser::new_ext(&got, options()) {
            match event {
                Event::Start(Tag::Link { .. }) => l += 1,
                Event::Start(Tag::Image { .. }) => i += 1,
                _ => {}
            }
        }
        if (l, i) != (*links, *images) {
            failures.push(format!(
                "{name}: {got:?} has {l} links, {i} images; want {links}, {images}"
            ));
        }
        let shown = shown_text(&got);
        if shown != *text {
            failures.push(format!("{name}: {got:?} shows {shown:?}, not {text:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
