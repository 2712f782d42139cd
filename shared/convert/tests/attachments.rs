//! Attachments mapped per file by the mirror worker (`Context::attachments`): links and images
//! use the mapped URL; in Markdown an image with a Knowledge Base 2.0 embed becomes that embed
//! on its own line. Unmapped attachments keep `attachment_base` (or the bare name) and are
//! counted.

use bridge_convert::{AttachmentTarget, Context, to_bbcode, to_html, to_markdown};

const INPUT: &str = "<p>Intro <ac:image ac:alt=\"Diagram\"><ri:attachment ri:filename=\"diagram.png\"/></ac:image> after</p>\
<p><ac:link><ri:attachment ri:filename=\"spec.pdf\"/></ac:link> \
<ac:link><ri:attachment ri:filename=\"diagram.png\"/><ac:plain-text-link-body><![CDATA[see diagram]]></ac:plain-text-link-body></ac:link></p>\
<ac:image><ri:attachment ri:filename=\"other.png\"/></ac:image>";

fn ctx() -> Context {
    let mut ctx = Context {
        attachment_base: Some("https://files.example/a/".into()),
        ..Context::default()
    };
    ctx.attachments.insert(
        "diagram.png".into(),
        AttachmentTarget {
            url: "https://b24.example/disk/diagram.png".into(),
            markdown_embed: Some("[[image fileId=5001]]".into()),
        },
    );
    ctx.attachments.insert(
        "spec.pdf".into(),
        AttachmentTarget {
            url: "https://b24.example/disk/77".into(),
            markdown_embed: None,
        },
    );
    ctx
}

const UNMAPPED: &str = "attachment: not in the attachment map";

#[test]
fn html_uses_mapped_urls() {
    let out = to_html(INPUT, &ctx());
    assert_eq!(
        out.output,
        "<p>Intro <img src=\"https://b24.example/disk/diagram.png\" alt=\"Diagram\"> after</p>\
         <p><a href=\"https://b24.example/disk/77\">spec.pdf</a> \
         <a href=\"https://b24.example/disk/diagram.png\">see diagram</a></p>\
         <img src=\"https://files.example/a/other.png\" alt=\"other.png\">"
    );
    assert_eq!(out.report.items.get(UNMAPPED), Some(&1));
}

#[test]
fn markdown_embeds_mapped_images_on_their_own_line() {
    let out = to_markdown(INPUT, &ctx());
    assert_eq!(
        out.output,
        "Intro\n[[image fileId=5001]]\nafter\n\n\
         [spec.pdf](https://b24.example/disk/77) [see diagram](https://b24.example/disk/diagram.png)\n\n\
         ![other.png](https://files.example/a/other.png)\n"
    );
    assert_eq!(out.report.items.get(UNMAPPED), Some(&1));
}

#[test]
fn bbcode_uses_mapped_urls() {
    let out = to_bbcode(INPUT, &ctx());
    assert_eq!(
        out.output,
        "Intro [IMG]https://b24.example/disk/diagram.png[/IMG] after\n\n\
         [URL=https://b24.example/disk/77]spec.pdf[/URL] \
         [URL=https://b24.example/disk/diagram.png]see diagram[/URL]\n\n\
         [IMG]https://files.example/a/other.png[/IMG]"
    );
    assert_eq!(out.report.items.get(UNMAPPED), Some(&1));
}

#[test]
fn markdown_embed_with_caption_and_inside_a_link() {
    let input = "<ac:image><ri:attachment ri:filename=\"diagram.png\"/><ac:caption><p>Fig. 1</p></ac:caption></ac:image>\
                 <p><a href=\"https://x.example/\"><ac:image><ri:attachment ri:filename=\"diagram.png\"/></ac:image></a></p>";
    assert_eq!(
        to_markdown(input, &ctx()).output,
        // Inside a link the embed would break the link: the image stays an image.
        "[[image fileId=5001]]\nFig. 1\n\n\
         [![diagram.png](https://b24.example/disk/diagram.png)](https://x.example/)\n"
    );
}

#[test]
fn without_a_map_nothing_changes() {
    let ctx = Context {
        attachment_base: Some("https://files.example/a/".into()),
        ..Context::default()
    };
    let out = to_markdown(INPUT, &ctx);
    assert!(
        out.output
            .contains("![Diagram](https://files.example/a/diagram.png)")
    );
    assert!(out.report.is_clean(), "{}", out.report);
    let bare = to_html(INPUT, &Context::default());
    assert_eq!(
        bare.report
            .items
            .get("attachment: no base URL, bare file name used"),
        Some(&4)
    );
}
