//! `bridge_convert` on arbitrary bytes (read as lossy UTF-8): every output must come back
//! without a panic, with and without a context that resolves users, pages and attachments;
//! the Markdown split must keep every part within its (small, so that splits happen) limit
//! and, when no code block had to be reopened, concatenate to the unsplit Markdown.
#![no_main]

use std::sync::LazyLock;

use bridge_convert::{
    AttachmentTarget, Context, Format, convert, split_markdown, to_markdown, to_markdown_parts,
};
use libfuzzer_sys::fuzz_target;

static CTX: LazyLock<Context> = LazyLock::new(|| {
    let mut ctx = Context {
        attachment_base: Some("https://files.example/a/".into()),
        ..Context::default()
    };
    ctx.users.insert("u".into(), "Ann [b]Lee[/b]".into());
    ctx.pages.insert("T".into(), "https://kb.example/t".into());
    ctx.attachments.insert(
        "a.png".into(),
        AttachmentTarget {
            url: "https://b24.example/disk/1".into(),
            markdown_embed: Some("[[image fileId=1]]".into()),
        },
    );
    ctx
});

const REOPENED: &str = "markdown: code block split across parts";

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split limit, the rest is the document.
    let (limit, doc) = match data.split_first() {
        Some((&l, rest)) => (4 + usize::from(l), rest),
        None => (4, data),
    };
    let text = String::from_utf8_lossy(doc);
    let default = Context::default();
    for ctx in [&default, &*CTX] {
        for format in [Format::Html, Format::Markdown, Format::BbCode] {
            let _ = convert(&text, ctx, format);
        }
        let (parts, report) = to_markdown_parts(&text, ctx, limit);
        for p in &parts {
            assert!(p.len() <= limit, "part of {} bytes over {limit}", p.len());
        }
        if !report.items.contains_key(REOPENED) {
            assert_eq!(parts.concat(), to_markdown(&text, ctx).output);
        }
    }
    // Any text is Markdown to the splitter.
    let parts = split_markdown(&text, limit);
    for p in &parts {
        assert!(p.len() <= limit, "part of {} bytes over {limit}", p.len());
    }
});
