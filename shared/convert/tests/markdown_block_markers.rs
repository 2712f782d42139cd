//! Markdown output keeps text that looks like a block marker at the start of a line from
//! opening a block: golden cases for each marker, and properties checked with a CommonMark
//! (+ GFM tables, task lists, strikethrough) parser.

use bridge_convert::{Context, html_text, to_markdown};
use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag};

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
    ("fence_tildes", "<p>~~~</p>", "\\~~~\n"),
    (
        "fence_tildes_after_break",
        "<p>a<br/>~~~ b</p>",
        "a\\\n\\~~~ b\n",
    ),
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
];

/// Inline markup around and between them.
const INLINE: &[&str] = &[
    "<br/>",
    "<span>",
    "</span>",
    "<code># x</code>",
    "<code>a|b</code>",
    "<code>`</code>",
    "<code>\n- y</code>",
    "<code>1. </code>",
];

/// Inline markup whose own delimiters can change the text (emphasis next to punctuation
/// stays literal), checked for block structure only.
const EMPHASIS: &[&str] = &[
    "<em>",
    "</em>",
    "<strong>",
    "</strong>",
    "<s>",
    "</s>",
    "~",
    "~~~",
];

fn pieces(with_emphasis: bool) -> impl Strategy<Value = String> {
    let mut all: Vec<&'static str> = MARKERS.iter().chain(INLINE).copied().collect();
    if with_emphasis {
        all.extend(EMPHASIS);
    }
    proptest::collection::vec(proptest::sample::select(all), 1..24).prop_map(|v| v.concat())
}

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
    fn random_text_stays_in_its_block(content in pieces(true)) {
        check(&content, false)?;
    }

    /// And its text comes through: no marker eaten as markup, no backslash shown.
    #[test]
    fn random_text_is_kept(content in pieces(true)) {
        check(&content, true)?;
    }
}
