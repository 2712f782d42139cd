//! Conversion never panics and never fails, on any input.

use bridge_convert::{Context, Format, convert, split_markdown, to_markdown_parts};
use proptest::prelude::*;

const ALL: [Format; 3] = [Format::Html, Format::Markdown, Format::BbCode];

/// Pieces of storage format, so random inputs reach the interesting paths.
const PIECES: &[&str] = &[
    "<p>",
    "</p>",
    "<ac:structured-macro ac:name=\"code\">",
    "<ac:structured-macro ac:name=\"info\">",
    "<ac:structured-macro ac:name=\"x\">",
    "</ac:structured-macro>",
    "<ac:rich-text-body>",
    "</ac:rich-text-body>",
    "<ac:plain-text-body><![CDATA[",
    "]]>",
    "<ac:parameter ac:name=\"title\">",
    "</ac:parameter>",
    "<ac:link>",
    "</ac:link>",
    "<ri:page ri:content-title=\"T\"/>",
    "<ri:user ri:account-id=\"u\"/>",
    "<table><tr><td colspan=\"99999999999\">",
    "</td></tr></table>",
    "<ul><li>",
    "</li></ul>",
    "<ol start=\"-5\">",
    "<ac:task-list><ac:task><ac:task-body>",
    "</ac:task-body></ac:task></ac:task-list>",
    "&nbsp;",
    "&#0;",
    "&#xD800;",
    "&#99999999999;",
    "&",
    "<",
    ">",
    "\"",
    "'",
    "<!--",
    "-->",
    "<?xml",
    "<!DOCTYPE x>",
    "`",
    "```",
    "<ac:image>",
    "</ac:image>",
    "<time datetime=\"x\"/>",
    "<ac:emoticon ac:name=\"smile\"/>",
    "<h1>",
    "</h1>",
    "<ac:adf-extension><ac:adf-node type=\"panel\"><ac:adf-content>",
    "</ac:adf-content></ac:adf-node></ac:adf-extension>",
    "<script>",
    "</script>",
    "<a href=\"javascript:x\">",
    "</a>",
    "ü",
    "😀",
    " ",
    "\n",
    "text",
];

fn all(input: &str) {
    for f in ALL {
        let _ = convert(input, &Context::default(), f);
    }
    for limit in [0, 5, 64] {
        let (parts, _) = to_markdown_parts(input, &Context::default(), limit);
        assert!(parts.iter().all(|p| p.len() <= limit.max(4)));
        assert!(
            split_markdown(input, limit)
                .iter()
                .all(|p| p.len() <= limit.max(4))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        all(&s);
    }

    #[test]
    fn arbitrary_bytes_lossy(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        all(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn storage_pieces(parts in proptest::collection::vec(proptest::sample::select(PIECES), 0..64)) {
        all(&parts.concat());
    }
}

#[test]
fn pathological_nesting_and_truncation() {
    all(&"<ac:structured-macro ac:name=\"info\"><ac:rich-text-body>".repeat(5_000));
    all(&"<ul><li>".repeat(5_000));
    all(&"<table><tr><td>".repeat(3_000));
    all(&"<p><strong><em>".repeat(5_000));
    all("<ac:plain-text-body><![CDATA[unterminated");
    all("<a href=\"unterminated");
    all("<p x=");
    all("&#x;&#;&;&");
}
