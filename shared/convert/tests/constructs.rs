//! Golden tests: one storage-format fragment per construct → the exact output in each format.

use bridge_convert::{Context, to_bbcode, to_html, to_markdown};

/// (name, storage input, HTML, Markdown, BB-code)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "heading_paragraph",
        "<h2>Title &amp; more</h2><p>Hello&nbsp;<strong>bold</strong> <em>it</em> <code>x&lt;y</code></p>",
        "<h2>Title &amp; more</h2><p>Hello\u{a0}<strong>bold</strong> <em>it</em> <code>x&lt;y</code></p>",
        "## Title & more\n\nHello\u{a0}**bold** *it* `x<y`\n",
        "[B]Title & more[/B]\nHello\u{a0}[B]bold[/B] [I]it[/I] [CODE]x<y[/CODE]",
    ),
    (
        "lists",
        "<ul><li><p>one</p></li><li>two<ol start=\"3\"><li>three</li></ol></li></ul>",
        "<ul><li><p>one</p></li><li>two<ol start=\"3\"><li>three</li></ol></li></ul>",
        "- one\n- two\n\n  3. three\n",
        "[LIST]\n[*]one\n[*]two\n[LIST=1]\n[*]three\n[/LIST]\n[/LIST]",
    ),
    (
        "table",
        "<table data-layout=\"default\"><colgroup><col style=\"width: 1px;\"/></colgroup><tbody><tr><th><p>A</p></th><th>B</th></tr><tr><td colspan=\"2\">c|d</td></tr></tbody></table>",
        "<table><colgroup><col></colgroup><tbody><tr><th><p>A</p></th><th>B</th></tr><tr><td colspan=\"2\">c|d</td></tr></tbody></table>",
        "| A | B |\n| --- | --- |\n| c\\|d |  |\n",
        "[TABLE]\n[TR][TD][B]A[/B][/TD][TD][B]B[/B][/TD][/TR]\n[TR][TD]c|d[/TD][/TR]\n[/TABLE]",
    ),
    (
        "code",
        "<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">rust</ac:parameter><ac:plain-text-body><![CDATA[fn main() { a < b && c; }]]></ac:plain-text-body></ac:structured-macro>",
        "<pre><code class=\"language-rust\">fn main() { a &lt; b &amp;&amp; c; }</code></pre>",
        "```rust\nfn main() { a < b && c; }\n```\n",
        "[CODE]fn main() { a < b && c; }[/CODE]",
    ),
    (
        "noformat",
        "<ac:structured-macro ac:name=\"noformat\"><ac:plain-text-body><![CDATA[raw <b> text]]></ac:plain-text-body></ac:structured-macro>",
        "<pre><code>raw &lt;b&gt; text</code></pre>",
        "```\nraw <b> text\n```\n",
        "[CODE]raw <b> text[/CODE]",
    ),
    (
        "info",
        "<ac:structured-macro ac:name=\"info\"><ac:parameter ac:name=\"title\">Heads up</ac:parameter><ac:rich-text-body><p>Body text</p></ac:rich-text-body></ac:structured-macro>",
        "<blockquote class=\"panel panel-info\"><p><strong>Heads up</strong></p><p>Body text</p></blockquote>",
        "> **ℹ\u{fe0f} Info: Heads up**\n>\n> Body text\n",
        "[QUOTE][B]INFO: HEADS UP[/B]\nBody text\n\n[/QUOTE]",
    ),
    (
        "warning",
        "<ac:structured-macro ac:name=\"warning\"><ac:rich-text-body><p>Careful</p></ac:rich-text-body></ac:structured-macro>",
        "<blockquote class=\"panel panel-warning\"><p>Careful</p></blockquote>",
        "> **⚠\u{fe0f} Warning**\n>\n> Careful\n",
        "[QUOTE][B]WARNING[/B]\nCareful\n\n[/QUOTE]",
    ),
    (
        "expand",
        "<ac:structured-macro ac:name=\"expand\"><ac:parameter ac:name=\"title\">More</ac:parameter><ac:rich-text-body><p>Hidden</p></ac:rich-text-body></ac:structured-macro>",
        "<details><summary>More</summary><p>Hidden</p></details>",
        "**▸ More**\n\nHidden\n",
        "[B]▸ More[/B]\nHidden",
    ),
    (
        "status",
        "<p>State: <ac:structured-macro ac:name=\"status\"><ac:parameter ac:name=\"colour\">Green</ac:parameter><ac:parameter ac:name=\"title\">done</ac:parameter></ac:structured-macro></p>",
        "<p>State: <span class=\"status status-green\"><strong>DONE</strong></span></p>",
        "State: **\\[DONE\\]**\n",
        "State: [COLOR=#00875a][B]DONE[/B][/COLOR]",
    ),
    (
        "tasks",
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Ship it</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>Test <time datetime=\"2026-09-24\" /></ac:task-body></ac:task></ac:task-list>",
        "<ul class=\"task-list\"><li>☑ Ship it</li><li>☐ Test 2026-09-24</li></ul>",
        "- [x] Ship it\n- [ ] Test 2026-09-24\n",
        "[LIST]\n[*]☑ Ship it\n[*]☐ Test 2026-09-24\n[/LIST]",
    ),
    (
        "image_attachment",
        "<ac:image ac:alt=\"Logo\"><ri:attachment ri:filename=\"my logo.png\" /></ac:image>",
        "<img src=\"https://files.example/a/my%20logo.png\" alt=\"Logo\">",
        "![Logo](https://files.example/a/my%20logo.png)\n",
        "[IMG]https://files.example/a/my%20logo.png[/IMG]",
    ),
    (
        "image_url",
        "<ac:image><ri:url ri:value=\"https://example.com/a.png\" /></ac:image>",
        "<img src=\"https://example.com/a.png\" alt=\"\">",
        "![](https://example.com/a.png)\n",
        "[IMG]https://example.com/a.png[/IMG]",
    ),
    (
        "page_link",
        "<p><ac:link ac:anchor=\"Sec\"><ri:page ri:content-title=\"Home\" ri:space-key=\"DS\" /><ac:plain-text-link-body><![CDATA[Go home]]></ac:plain-text-link-body></ac:link> and <ac:link><ri:page ri:content-title=\"Missing\" /></ac:link></p>",
        "<p><a href=\"https://kb.example/home#Sec\">Go home</a> and Missing</p>",
        "[Go home](https://kb.example/home#Sec) and Missing\n",
        "[URL=https://kb.example/home#Sec]Go home[/URL] and Missing",
    ),
    (
        "attachment_link",
        "<p><ac:link><ri:attachment ri:filename=\"doc.pdf\" /></ac:link></p>",
        "<p><a href=\"https://files.example/a/doc.pdf\">doc.pdf</a></p>",
        "[doc.pdf](https://files.example/a/doc.pdf)\n",
        "[URL=https://files.example/a/doc.pdf]doc.pdf[/URL]",
    ),
    (
        "external_link",
        "<p><a href=\"https://example.com/?a=1&amp;b=2\">ext</a> <a href=\"javascript:alert(1)\">bad</a></p>",
        "<p><a href=\"https://example.com/?a=1&amp;b=2\">ext</a> <a>bad</a></p>",
        "[ext](https://example.com/?a=1&b=2) bad\n",
        "[URL=https://example.com/?a=1&b=2]ext[/URL] bad",
    ),
    (
        "mentions",
        "<p><ac:link><ri:user ri:account-id=\"557058:abc\" /></ac:link> <ac:link><ri:user ri:userkey=\"8a7f\" /></ac:link> <ac:link><ri:user ri:username=\"ghost\" /></ac:link></p>",
        "<p><strong class=\"mention\">@Ann Lee</strong> <strong class=\"mention\">@Bob</strong> <strong class=\"mention\">@ghost</strong></p>",
        "**@Ann Lee** **@Bob** **@ghost**\n",
        "[B]@Ann Lee[/B] [B]@Bob[/B] [B]@ghost[/B]",
    ),
    (
        "emoticon",
        "<p><ac:emoticon ac:name=\"tick\" /> <ac:emoticon ac:name=\"smile\" ac:emoji-fallback=\"😄\" /> <ac:emoticon ac:name=\"blah\" /></p>",
        "<p>✅ 😄 :blah:</p>",
        "✅ 😄 :blah:\n",
        "✅ 😄 :blah:",
    ),
    (
        "toc",
        "<ac:structured-macro ac:name=\"toc\" /><h1>One</h1><h2>Two</h2>",
        "<ul class=\"toc\"><li class=\"toc-h1\">One</li><li class=\"toc-h2\">Two</li></ul><h1>One</h1><h2>Two</h2>",
        "- One\n  - Two\n\n# One\n\n## Two\n",
        "[LIST]\n[*]One\n[*]Two\n[/LIST]\n\n[B]One[/B]\n\n[B]Two[/B]",
    ),
    (
        "jira",
        "<p><ac:structured-macro ac:name=\"jira\"><ac:parameter ac:name=\"key\">ABC-1</ac:parameter></ac:structured-macro></p><ac:structured-macro ac:name=\"jira\"><ac:parameter ac:name=\"jqlQuery\">project = ABC</ac:parameter></ac:structured-macro>",
        "<p>Jira: ABC-1</p><p class=\"macro-note\"><em>Jira issues: project = ABC</em></p>",
        "*Jira: ABC-1*\n\n*Jira issues: project = ABC*\n",
        "[I]Jira: ABC-1[/I]\n\n[I]Jira issues: project = ABC[/I]",
    ),
    (
        "children_excerpt",
        "<ac:structured-macro ac:name=\"children\" /><ac:structured-macro ac:name=\"excerpt\"><ac:rich-text-body><p>Summary</p></ac:rich-text-body></ac:structured-macro>",
        "<p class=\"macro-note\"><em>[children]</em></p><p>Summary</p>",
        "*\\[children\\]*\n\nSummary\n",
        "[I][\u{2060}children][/I]\nSummary",
    ),
    (
        "unknown_macro",
        "<ac:structured-macro ac:name=\"drawio\"><ac:parameter ac:name=\"diagramName\">d</ac:parameter><ac:rich-text-body><p>kept text</p></ac:rich-text-body></ac:structured-macro>",
        "<div class=\"unknown-macro\"><p><em>Macro: drawio</em></p><p>kept text</p></div>",
        "> **Macro: drawio**\n>\n> kept text\n",
        "[QUOTE][B]Macro: drawio[/B]\nkept text\n\n[/QUOTE]",
    ),
    (
        "adf_panel",
        "<ac:adf-extension><ac:adf-node type=\"panel\"><ac:adf-attribute key=\"panel-type\">error</ac:adf-attribute><ac:adf-content><p>Broken</p></ac:adf-content></ac:adf-node><ac:adf-fallback><div><p>Broken</p></div></ac:adf-fallback></ac:adf-extension>",
        "<blockquote class=\"panel panel-error\"><p>Broken</p></blockquote>",
        "> **⛔ Error**\n>\n> Broken\n",
        "[QUOTE][B]ERROR[/B]\nBroken\n\n[/QUOTE]",
    ),
    (
        "layout",
        "<ac:layout><ac:layout-section ac:type=\"two_equal\"><ac:layout-cell><p>Left</p></ac:layout-cell><ac:layout-cell><p>Right</p></ac:layout-cell></ac:layout-section></ac:layout>",
        "<p>Left</p><p>Right</p>",
        "Left\n\nRight\n",
        "Left\n\nRight",
    ),
    (
        "escaping",
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; *stars* [x]</p><script>evil()</script>",
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; *stars* [x]</p>",
        "\\<script\\>alert(1)\\</script\\> \\*stars\\* \\[x\\]\n",
        "<script>alert(1)</script> *stars* [\u{2060}x]",
    ),
];

fn ctx() -> Context {
    let mut ctx = Context::default();
    ctx.users.insert("557058:abc".into(), "Ann Lee".into());
    ctx.users.insert("8a7f".into(), "Bob".into());
    ctx.pages
        .insert("Home".into(), "https://kb.example/home".into());
    ctx.attachment_base = Some("https://files.example/a/".into());
    ctx
}

#[test]
fn every_construct_in_every_format() {
    let ctx = ctx();
    let mut failures = Vec::new();
    for (name, input, html, md, bb) in CASES {
        let got = (
            to_html(input, &ctx).output,
            to_markdown(input, &ctx).output,
            to_bbcode(input, &ctx).output,
        );
        for (fmt, got, want) in [
            ("html", &got.0, html),
            ("markdown", &got.1, md),
            ("bbcode", &got.2, bb),
        ] {
            if got != want {
                failures.push(format!("{name} ({fmt}):\n  got  {got:?}\n  want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn report_counts_approximations() {
    let ctx = ctx();
    let input = "<ac:structured-macro ac:name=\"jira\"><ac:parameter ac:name=\"key\">A-1</ac:parameter></ac:structured-macro>\
                 <ac:structured-macro ac:name=\"jira\"><ac:parameter ac:name=\"key\">A-2</ac:parameter></ac:structured-macro>\
                 <ac:structured-macro ac:name=\"foo\"><ac:plain-text-body><![CDATA[body]]></ac:plain-text-body></ac:structured-macro>\
                 <p><ac:link><ri:user ri:account-id=\"nobody\"/></ac:link></p>";
    let r = to_markdown(input, &ctx).report;
    assert_eq!(r.items.get("macro:jira approximated"), Some(&2));
    assert_eq!(r.items.get("unknown macro: foo"), Some(&1));
    assert_eq!(r.items.get("user: unresolved (id shown)"), Some(&1));
    let clean = to_html("<p>plain</p>", &ctx).report;
    assert!(clean.is_clean());
}

#[test]
fn page_resolver_and_missing_context() {
    let ctx = Context {
        page_resolver: Some(Box::new(|p| {
            Some(format!(
                "https://kb/{}/{}",
                p.space_key.unwrap_or("-"),
                p.title
            ))
        })),
        ..Context::default()
    };
    let out = to_html(
        "<ac:link><ri:page ri:space-key=\"DS\" ri:content-title=\"Intro\"/></ac:link>",
        &ctx,
    );
    assert_eq!(out.output, "<a href=\"https://kb/DS/Intro\">Intro</a>");
    let bare = to_markdown(
        "<ac:image><ri:attachment ri:filename=\"a b.png\"/></ac:image>",
        &Context::default(),
    );
    assert_eq!(bare.output, "![a b.png](a%20b.png)\n");
    assert_eq!(
        bare.report
            .items
            .get("attachment: no base URL, bare file name used"),
        Some(&1)
    );
}

#[test]
fn code_fence_longer_than_backticks_in_body() {
    let input = "<ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[a ``` b]]></ac:plain-text-body></ac:structured-macro>";
    assert_eq!(
        to_markdown(input, &Context::default()).output,
        "````\na ``` b\n````\n"
    );
}

#[test]
fn html_output_escapes_attributes_and_drops_unsafe() {
    let input = "<p><a href=\"https://x/&quot;onmouseover=&quot;a\" onclick=\"x()\">t</a><img src=\"data:image/png;base64,AA\" /><span style=\"color: red\">c</span></p>";
    let out = to_html(input, &Context::default());
    assert_eq!(
        out.output,
        "<p><a href=\"https://x/&quot;onmouseover=&quot;a\">t</a><img><span>c</span></p>"
    );
    assert_eq!(out.report.items.get("html: unsafe URL dropped"), Some(&1));
}
