//! `bridgectl convert`: preview what a Confluence page becomes in B24 before mirroring or
//! migrating it. Pure: reads the file (or standard input), converts, prints.

use crate::Io;
use crate::args::{ConvertArgs, ConvertTarget};
use anyhow::Context as _;
use bridge_convert::{Context, Format, convert};

pub fn run(args: &ConvertArgs, json: bool, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let mut bytes = Vec::new();
    if args.file == "-" {
        io.input
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file))?;
    }
    let input = String::from_utf8_lossy(&bytes);
    let ctx = Context {
        attachment_base: args.attachment_base.clone(),
        ..Context::default()
    };
    let format = match args.to {
        ConvertTarget::Html => Format::Html,
        ConvertTarget::Markdown => Format::Markdown,
        ConvertTarget::Bbcode => Format::BbCode,
    };
    let converted = convert(&input, &ctx, format);
    if json {
        let value = serde_json::json!({
            "output": converted.output,
            "report": converted.report.items,
        });
        writeln!(io.out, "{value}")?;
    } else {
        write!(io.out, "{}", converted.output)?;
        if !converted.output.ends_with('\n') {
            writeln!(io.out)?;
        }
        if converted.report.is_clean() {
            eprintln!("report: everything converted faithfully");
        } else {
            eprintln!("report: approximated or dropped");
            eprint!("{}", converted.report);
        }
    }
    Ok(0)
}
