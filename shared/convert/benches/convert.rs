//! Throughput over `../shared/corpus/storage-format`: each output format against lol_html's
//! own pass-through rewrite of the same files in the same run (the ratio is what to watch;
//! target ≥ 0.3×). Run with `cargo bench -p bridge-convert`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bridge_convert::{Context, Format, convert};

fn corpus() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/storage-format");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

/// MB/s of `f` over the corpus, best of several rounds of at least `min` each.
fn measure(docs: &[String], min: Duration, mut f: impl FnMut(&str)) -> f64 {
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let mut passes = 0u32;
        while start.elapsed() < min {
            for d in docs {
                f(d);
            }
            passes += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max(bytes as f64 * f64::from(passes) / secs / 1e6);
    }
    best
}

fn main() {
    let docs = corpus();
    assert!(!docs.is_empty(), "corpus not found");
    let bytes: usize = docs.iter().map(String::len).sum();
    let min = Duration::from_millis(300);
    println!("corpus: {} files, {bytes} bytes", docs.len());

    let passthrough = measure(&docs, min, |d| {
        let out = lol_html::rewrite_str(d, lol_html::RewriteStrSettings::new());
        black_box(out.ok());
    });
    println!("lol_html pass-through rewrite: {passthrough:8.1} MB/s");
    let handlers = measure(&docs, min, |d| {
        let settings = lol_html::RewriteStrSettings::new()
            .append_element_content_handler(lol_html::element!("*", |_el| Ok(())));
        black_box(lol_html::rewrite_str(d, settings).ok());
    });
    println!(
        "lol_html no-op handler on every element: {handlers:8.1} MB/s  ({:.2}x of pass-through)",
        handlers / passthrough
    );
    let ctx = Context::default();
    for format in [Format::Html, Format::Markdown, Format::BbCode] {
        let mbs = measure(&docs, min, |d| {
            black_box(convert(d, &ctx, format));
        });
        println!(
            "convert {format:<9?}: {mbs:8.1} MB/s  ratio {:.2}x of pass-through, {:.2}x of the handler rewrite",
            mbs / passthrough,
            mbs / handlers
        );
    }
}
