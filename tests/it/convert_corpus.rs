//! The storage-format converter over the whole development corpus (`../shared/corpus/`):
//! every file converts to every output, and keeps every text run.
//!
//! "Keeps every text run" is checked on words, precisely: the input's words are the maximal
//! runs of alphanumeric characters in each text or CDATA node of the visible text — outside
//! tags, excluding macro parameters, ADF attributes and fallbacks, task ids and statuses,
//! placeholders, scripts and styles ([`bridge_convert::visible_words`]). The output's stream
//! is its alphanumeric characters (for HTML, those of its text: tags skipped, entities
//! decoded). Every input word must occur in that stream, in input order, each occurrence
//! after the previous match, so a word that is dropped (not merely re-punctuated: `H<sub>2
//! </sub>O` may become `H2O`) fails. The exclusions above are the only constructs allowed to
//! lose text; the generated table of contents and macro notes only add text.

use std::path::{Path, PathBuf};

use bridge_convert::{
    Context, Format, convert, html_text, to_markdown, to_markdown_parts, visible_words, words,
};

fn corpus_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/storage-format");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
}

/// The input words not found, in order, in the output's alphanumeric stream.
fn lost_words(want: &[String], output_text: &str) -> Vec<String> {
    let stream: String = output_text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let mut pos = 0;
    let mut lost = Vec::new();
    for w in want {
        match stream[pos..].find(w.as_str()) {
            Some(p) => pos += p + w.len(),
            None => lost.push(w.clone()),
        }
    }
    lost
}

#[test]
fn corpus_converts_and_keeps_every_word() {
    let files = corpus_files();
    assert!(
        files.len() >= 100,
        "corpus not found or incomplete: {} files",
        files.len()
    );
    let ctx = Context::default();
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let input = String::from_utf8_lossy(&bytes);
        let want = visible_words(&input);
        for format in [Format::Html, Format::Markdown, Format::BbCode] {
            let out = convert(&input, &ctx, format);
            assert!(
                !out.output.is_empty() || want.is_empty(),
                "{file:?} {format:?}: empty output"
            );
            let text = match format {
                Format::Html => html_text(&out.output),
                _ => out.output,
            };
            let lost = lost_words(&want, &text);
            if !lost.is_empty() {
                failures.push(format!(
                    "{} ({format:?}) lost {} of {} words, first: {}",
                    file.file_name().unwrap_or_default().to_string_lossy(),
                    lost.len(),
                    want.len(),
                    lost.iter().take(8).cloned().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Markdown for Knowledge Base 2.0 split well below the real limit (so that corpus pages
/// split, often inside code blocks and long paragraphs): every part fits, and the parts hold
/// every word of the unsplit Markdown in order (a reopened code fence only adds words).
#[test]
fn corpus_markdown_splits_fit_and_keep_every_word() {
    let ctx = Context::default();
    let mut failures = Vec::new();
    let mut split_files = 0;
    for file in &corpus_files() {
        let bytes = std::fs::read(file).expect("read corpus file");
        let input = String::from_utf8_lossy(&bytes);
        let whole = to_markdown(&input, &ctx).output;
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        for limit in [200, 1024] {
            let (parts, report) = to_markdown_parts(&input, &ctx, limit);
            if let Some(p) = parts.iter().find(|p| p.len() > limit) {
                failures.push(format!(
                    "{name} (limit {limit}): a part of {} bytes",
                    p.len()
                ));
            }
            let got = words(&parts.concat());
            let mut it = got.iter();
            let lost: Vec<_> = words(&whole)
                .into_iter()
                .filter(|w| !it.any(|g| g == w))
                .take(8)
                .collect();
            if !lost.is_empty() {
                failures.push(format!("{name} (limit {limit}) lost {}", lost.join(" ")));
            }
            let counted = report.items.get("markdown: split into parts").copied();
            if parts.len() > 1 {
                split_files += 1;
                if counted != Some(parts.len()) {
                    failures.push(format!(
                        "{name}: {} parts, report says {counted:?}",
                        parts.len()
                    ));
                }
            }
        }
    }
    assert!(
        split_files > 50,
        "only {split_files} splits: limits too high to test"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `bridgectl convert - --to markdown --json`, in-process, with the body on standard input.
#[tokio::test]
async fn bridgectl_convert_previews_from_stdin() {
    use bridge_cli::{Cli, Io};
    use clap::Parser;

    let config = bridge_core::Config::from_vars(vec![(
        "BRIDGE_SECRET_KEY".to_owned(),
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=".to_owned(),
    )])
    .unwrap();
    let cli =
        Cli::try_parse_from(["bridgectl", "--json", "convert", "-", "--to", "markdown"]).unwrap();
    let input = "<h1>Title</h1><ac:structured-macro ac:name=\"drawio\"><ac:rich-text-body><p>kept</p></ac:rich-text-body></ac:structured-macro>";
    let mut out = Vec::new();
    let mut inp = std::io::Cursor::new(input.as_bytes().to_vec());
    let mut io = Io {
        out: &mut out,
        input: &mut inp,
    };
    let code = bridge_cli::execute(cli, config, &mut io).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["output"], "# Title\n\n> **Macro: drawio**\n>\n> kept\n");
    assert_eq!(v["report"]["unknown macro: drawio"], 1);
}
