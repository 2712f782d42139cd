use bridge_convert::{Context, to_markdown};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
#[test]
fn scratch() {
    let inputs = std::fs::read_to_string("/tmp/scratch/in.txt").unwrap();
    for input in inputs.lines() {
        let r;
        let md = if let Some(raw) = input.strip_prefix("MD:") {
            r = None;
            raw.replace("\\n", "\n")
        } else {
            let c = to_markdown(input, &Context::default());
            r = Some(c.report);
            c.output
        };
        let mut h = String::new();
        for ev in Parser::new_ext(
            &md,
            Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH,
        ) {
            match ev {
                Event::Text(t) => h.push_str(&t),
                Event::Code(t) => {
                    h.push('`');
                    h.push_str(&t);
                    h.push('`')
                }
                Event::Start(Tag::Emphasis) => h.push_str("<em>"),
                Event::End(TagEnd::Emphasis) => h.push_str("</em>"),
                Event::Start(Tag::Strong) => h.push_str("<b>"),
                Event::End(TagEnd::Strong) => h.push_str("</b>"),
                Event::Start(Tag::Strikethrough) => h.push_str("<s>"),
                Event::End(TagEnd::Strikethrough) => h.push_str("</s>"),
                Event::HardBreak => h.push_str("<br>"),
                Event::SoftBreak => h.push_str("⏎"),
                Event::Start(Tag::Paragraph) | Event::End(TagEnd::Paragraph) => {}
                e => h.push_str(&format!("{e:?}")),
            }
        }
        println!(
            "{input}\n  md   {md:?}\n  html {h}\n  rep  {:?}",
            r.map(|r| r.items)
        );
    }
}
