//! Page text never becomes BB-code markup in B24: a U+2060 WORD JOINER follows every `[`
//! that would start a tag (and splits `#BR#` and `>>`), so the text reads the same while no
//! B24 parser sees a tag. Code blocks are left verbatim except for a `[/CODE]` inside them.

use bridge_convert::{Context, to_bbcode};
use proptest::prelude::*;

const WJ: char = '\u{2060}';

fn bb(storage: &str) -> String {
    to_bbcode(storage, &Context::default()).output
}

/// Whether `s` holds something a B24 BB-code parser would take for the start of a tag.
fn has_tag_start(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'[' && {
            let j = if b.get(i + 1) == Some(&b'/') {
                i + 2
            } else {
                i + 1
            };
            b.get(j)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'*')
        }
    })
}

#[test]
fn every_b24_tag_in_text_is_broken_up() {
    let tags = [
        "[b]x[/b]",
        "[B]x[/B]",
        "[i]x[/i]",
        "[u]x[/u]",
        "[s]x[/s]",
        "[url=https://evil.example]x[/url]",
        "[url]https://evil.example[/url]",
        "[user=1]Boss[/user]",
        "[user=all]",
        "[img]https://evil.example/a.png[/img]",
        "[code]x[/code]",
        "[quote]x[/quote]",
        "[color=#ff0000]x[/color]",
        "[size=30]x[/size]",
        "[list][*]a[/list]",
        "[*]",
        "[table][tr][td]x[/td][/tr][/table]",
        "[disk file id=5]",
        "[chat=12]x[/chat]",
        "[br]",
        "[send=/wiki x]go[/send]",
        "[context=chat1/2]x[/context]",
    ];
    for tag in tags {
        let out = bb(&format!("<p>{tag}</p>"));
        assert!(!has_tag_start(&out), "{tag} → {out:?}");
        assert_eq!(out.replace(WJ, ""), tag, "visible text changed");
    }
}

#[test]
fn exact_escapes() {
    assert_eq!(
        bb("<p>see [b]bold[/b] and [1], [ ], a[0], [*]</p>"),
        "see [\u{2060}b]bold[\u{2060}/b] and [1], [ ], a[0], [\u{2060}*]"
    );
    assert_eq!(
        bb("<p>one#BR#two &gt;&gt;quote</p>"),
        "one#\u{2060}BR#two >\u{2060}>quote"
    );
}

#[test]
fn tag_split_across_text_nodes_is_broken_up() {
    // `[` ends one text node and `b]` starts the next: the output text would join them.
    assert_eq!(bb("<p>[<span>b]x</span></p>"), "[\u{2060}b]x");
    assert_eq!(bb("<p>[/<span>b]</span></p>"), "[\u{2060}/b]");
}

#[test]
fn markup_in_titles_names_and_links() {
    let mut ctx = Context::default();
    ctx.users.insert("u1".into(), "[b]Eve[/b]".into());
    let input = "<ac:structured-macro ac:name=\"expand\"><ac:parameter ac:name=\"title\">[url=x]t[/url]</ac:parameter><ac:rich-text-body><p><ac:link><ri:user ri:account-id=\"u1\"/></ac:link> <a href=\"https://x.example/[b]\">[i]l[/i]</a></p></ac:rich-text-body></ac:structured-macro>";
    let out = to_bbcode(input, &ctx).output;
    assert_eq!(
        out,
        "[B]▸ [\u{2060}url=x]t[\u{2060}/url][/B]\n[B]@[\u{2060}b]Eve[\u{2060}/b][/B] [URL=https://x.example/%5Bb%5D][\u{2060}i]l[\u{2060}/i][/URL]"
    );
}

#[test]
fn code_is_verbatim_except_its_end_tag() {
    let input = "<ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[a[i] = [b]; // [/code] [/CODE]]]></ac:plain-text-body></ac:structured-macro>";
    assert_eq!(
        bb(input),
        "[CODE]a[i] = [b]; // [\u{2060}/code] [\u{2060}/CODE][/CODE]"
    );
    assert_eq!(
        bb("<p><code>x[/code]</code></p>"),
        "[CODE]x[\u{2060}/code][/CODE]"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the text, the output of a paragraph holding it has no tag start, and reads
    /// the same (HTML whitespace collapsed, ends trimmed) once the joiners are removed.
    #[test]
    fn paragraph_text_reads_the_same_and_has_no_tags(
        text in "[a-zA-Z0-9 \\[\\]/*=#>\u{e4}\u{2060}-]{0,60}"
    ) {
        let html_text = text.replace('&', "&amp;").replace('<', "&lt;");
        let out = bb(&format!("<p>{html_text}</p>"));
        prop_assert!(!has_tag_start(&out), "{:?} → {:?}", text, out);
        let want: String = text.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(out.replace(WJ, ""), want.replace(WJ, ""));
    }
}
