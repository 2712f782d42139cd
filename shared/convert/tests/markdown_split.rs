//! Markdown for Knowledge Base 2.0 in parts under a byte limit: golden splits and the
//! properties every split keeps (each part within the limit, every word kept in order).

use bridge_convert::{
    Context, KB2_MARKDOWN_LIMIT, split_markdown, to_markdown, to_markdown_parts, words,
};
use proptest::prelude::*;

const PARTS: &str = "markdown: split into parts";
const REOPENED: &str = "markdown: code block split across parts";

/// Every word of `whole` in `parts`, in order (inserted fence lines only add words).
fn keeps_words(whole: &str, parts: &[String]) -> bool {
    let got = words(&parts.concat());
    let mut it = got.iter();
    words(whole).iter().all(|w| it.any(|g| g == w))
}

fn assert_within(parts: &[String], limit: usize) {
    for (i, p) in parts.iter().enumerate() {
        assert!(p.len() <= limit, "part {i} has {} > {limit} bytes", p.len());
    }
}

#[test]
fn limit_is_kb2s() {
    assert_eq!(KB2_MARKDOWN_LIMIT, 1_048_576);
}

#[test]
fn one_part_when_it_fits() {
    let (parts, report) = to_markdown_parts("<h1>T</h1><p>x</p>", &Context::default(), 100);
    assert_eq!(parts, vec!["# T\n\nx\n".to_owned()]);
    assert!(report.is_clean());
    assert_eq!(split_markdown("", 10), vec![String::new()]);
}

#[test]
fn splits_between_blocks() {
    let md = "para one is here\n\npara two is here\n\npara three\n";
    assert_eq!(
        split_markdown(md, 40),
        vec![
            "para one is here\n\npara two is here\n\n".to_owned(),
            "para three\n".to_owned()
        ]
    );
}

#[test]
fn prefers_to_start_a_part_with_a_heading() {
    let md = "# A\n\nfirst para\n\nsecond para\n\n## B\n\nthird para, long\n";
    // "# A" … "## B\n\n" is 43 bytes and fits 50, but the next part starts with "## B".
    assert_eq!(
        split_markdown(md, 50),
        vec![
            "# A\n\nfirst para\n\nsecond para\n\n".to_owned(),
            "## B\n\nthird para, long\n".to_owned()
        ]
    );
}

#[test]
fn never_splits_inside_a_list_item_continuation() {
    let md = "- item one\n\n  continued\n\nafter\n";
    assert_eq!(
        split_markdown(md, 26),
        vec![
            "- item one\n\n  continued\n\n".to_owned(),
            "after\n".to_owned()
        ]
    );
}

#[test]
fn a_long_code_block_is_closed_and_reopened() {
    let code: String = (0..12).map(|i| format!("let x{i} = {i};\n")).collect();
    let md = format!("intro\n\n```rust\n{code}```\n\nend\n");
    let parts = split_markdown(&md, 64);
    assert_within(&parts, 64);
    assert_eq!(parts[0], "intro\n\n");
    for (i, p) in parts.iter().enumerate().skip(1).take(parts.len() - 2) {
        assert!(p.starts_with("```rust\n"), "part {i}: {p:?}");
        assert!(
            p.ends_with("```\n") || p.ends_with("```\n\n"),
            "part {i}: {p:?}"
        );
    }
    // Removing the added fence lines gives the input back.
    let mut joined = parts.concat();
    joined = joined.replace("```\n```rust\n", "");
    assert_eq!(joined, md);
}

#[test]
fn fences_in_quotes_reopen_with_their_quote_markers() {
    let body: String = (0..8).map(|i| format!("> line {i} of code\n")).collect();
    let md = format!("> **Note**\n>\n> ~~~~ sh\n{body}> ~~~~\n");
    let parts = split_markdown(&md, 80);
    assert_within(&parts, 80);
    assert!(parts.len() > 1);
    for p in &parts[1..] {
        assert!(p.starts_with("> ~~~~ sh\n"), "{p:?}");
    }
    for p in &parts {
        assert!(p.ends_with("> ~~~~\n"), "{p:?}");
    }
}

#[test]
fn long_lines_break_at_spaces_or_between_characters() {
    let md = "word ".repeat(40);
    let parts = split_markdown(&md, 32);
    assert_within(&parts, 32);
    assert_eq!(parts.concat(), md);
    assert!(parts.iter().all(|p| p.ends_with(' ')));
    let umlauts = "ä".repeat(100);
    let parts = split_markdown(&umlauts, 7);
    assert_within(&parts, 7);
    assert_eq!(parts.concat(), umlauts);
    assert!(parts.iter().all(|p| p.chars().all(|c| c == 'ä')));
}

#[test]
fn the_report_counts_parts_and_reopened_code() {
    let code: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let storage = format!(
        "<h1>One</h1><p>{}</p><h1>Two</h1><ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">py</ac:parameter><ac:plain-text-body><![CDATA[{code}]]></ac:plain-text-body></ac:structured-macro>",
        "text ".repeat(30)
    );
    let whole = to_markdown(&storage, &Context::default()).output;
    let (parts, report) = to_markdown_parts(&storage, &Context::default(), 120);
    assert_within(&parts, 120);
    assert!(keeps_words(&whole, &parts));
    assert_eq!(report.items.get(PARTS), Some(&parts.len()));
    assert!(report.items.get(REOPENED).is_some_and(|&n| n >= 1));
    // The heading starts the part its code block starts in; the long paragraph fills the
    // first part, cut after a word.
    assert!(parts[0].starts_with("# One\n\ntext "), "{parts:#?}");
    assert!(parts[0].ends_with("text "), "{parts:#?}");
    assert!(
        parts[2].starts_with("# Two\n\n```py\nline 0\n"),
        "{parts:#?}"
    );
    assert!(parts[3].starts_with("```py\n"), "{parts:#?}");
}

/// Storage documents of short words in headings, paragraphs, lists, code and panels.
fn storage_doc() -> impl Strategy<Value = String> {
    let word = "[a-zA-Z0-9\u{e4}\u{f6}]{1,8}";
    let text = proptest::collection::vec(word, 1..30).prop_map(|w| w.join(" "));
    let block = prop_oneof![
        text.clone().prop_map(|t| format!("<p>{t}</p>")),
        text.clone().prop_map(|t| format!("<h2>{t}</h2>")),
        proptest::collection::vec(text.clone(), 1..5).prop_map(|items| format!(
            "<ul>{}</ul>",
            items.iter().map(|i| format!("<li>{i}</li>")).collect::<String>()
        )),
        proptest::collection::vec(text.clone(), 1..12).prop_map(|lines| format!(
            "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">js</ac:parameter><ac:plain-text-body><![CDATA[{}]]></ac:plain-text-body></ac:structured-macro>",
            lines.join("\n")
        )),
        text.prop_map(|t| format!(
            "<ac:structured-macro ac:name=\"info\"><ac:rich-text-body><p>{t}</p></ac:rich-text-body></ac:structured-macro>"
        )),
    ];
    proptest::collection::vec(block, 1..12).prop_map(|b| b.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parts_fit_and_keep_every_word(doc in storage_doc(), limit in 64usize..600) {
        let whole = to_markdown(&doc, &Context::default()).output;
        let (parts, report) = to_markdown_parts(&doc, &Context::default(), limit);
        for p in &parts {
            prop_assert!(p.len() <= limit, "{} > {}", p.len(), limit);
        }
        prop_assert!(keeps_words(&whole, &parts));
        if !report.items.contains_key(REOPENED) {
            prop_assert_eq!(parts.concat(), whole);
        }
        prop_assert_eq!(report.items.get(PARTS).copied().unwrap_or(1), parts.len());
    }

    /// Any text at all, any limit: parts fit and, with no fence in the input, concatenate to
    /// it.
    #[test]
    fn any_text_any_limit(md in "(#{0,3} |> |- |```|~~~|[a-z\u{e4}\u{1f600} ]{0,12}|\n){0,60}", limit in 0usize..80) {
        let parts = split_markdown(&md, limit);
        for p in &parts {
            prop_assert!(p.len() <= limit.max(4), "{} > {}", p.len(), limit);
        }
        if !md.contains("```") && !md.contains("~~~") {
            prop_assert_eq!(parts.concat(), md);
        }
    }
}
