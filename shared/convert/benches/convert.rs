//! Throughput over `../shared/corpus/storage-format`: each output format against lol_html's
//! own pass-through rewrite of the same files in the same run (the ratio is what to watch;
//! target ≥ 0.3×), and against pandoc's HTML → HTML. Run with
//! `cargo bench -p bridge-convert --bench convert`.
//!
//! pandoc (the Debian package; `apt-get install pandoc`) is a separate process, so it is
//! measured on the whole corpus at once: the files are concatenated into one temporary file
//! and `pandoc -f html -t html FILE` runs once per round (output read from its pipe and
//! dropped), best of three rounds. Its start-up is thus paid once per 229 KB rather than
//! once per file; it is printed too (a run on an empty file), and not subtracted. Without
//! pandoc on the `PATH` the comparison is skipped with a line saying so.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let mut ours = Vec::new();
    for format in [Format::Html, Format::Markdown, Format::BbCode] {
        let mbs = measure(&docs, min, |d| {
            black_box(convert(d, &ctx, format));
        });
        println!(
            "convert {format:<9?}: {mbs:8.1} MB/s  ratio {:.2}x of pass-through, {:.2}x of the handler rewrite",
            mbs / passthrough,
            mbs / handlers
        );
        ours.push((format, mbs));
    }
    pandoc(&docs, &ours);
}

/// Seconds of one `pandoc -f html -t html file`, or why it could not run.
fn pandoc_run(file: &Path) -> Result<f64, String> {
    let start = Instant::now();
    let out = Command::new("pandoc")
        .args(["-f", "html", "-t", "html"])
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("pandoc exited with {}", out.status));
    }
    black_box(out.stdout);
    Ok(secs)
}

fn pandoc(docs: &[String], ours: &[(Format, f64)]) {
    let version = Command::new("pandoc")
        .arg("--version")
        .stderr(Stdio::null())
        .output();
    let version = match version {
        Ok(v) if v.status.success() => String::from_utf8_lossy(&v.stdout)
            .lines()
            .next()
            .unwrap_or("pandoc")
            .to_owned(),
        _ => {
            println!("pandoc not found, skipped (apt-get install pandoc to compare)");
            return;
        }
    };
    let dir = std::env::temp_dir();
    let corpus = dir.join(format!("bridge-convert-bench-{}.html", std::process::id()));
    let empty = dir.join(format!(
        "bridge-convert-bench-{}-empty.html",
        std::process::id()
    ));
    let all = docs.concat();
    let written = std::fs::write(&corpus, &all).and_then(|()| std::fs::write(&empty, ""));
    let result = written.map_err(|e| e.to_string()).and_then(|()| {
        let startup = pandoc_run(&empty)?;
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            best = best.min(pandoc_run(&corpus)?);
        }
        Ok((startup, best))
    });
    let _ = std::fs::remove_file(&corpus);
    let _ = std::fs::remove_file(&empty);
    match result {
        Ok((startup, secs)) => {
            let mbs = all.len() as f64 / secs / 1e6;
            println!(
                "{version} html→html: {mbs:8.2} MB/s  (whole corpus in one run, best of 3: {:.0} ms; start-up alone {:.0} ms)",
                secs * 1e3,
                startup * 1e3
            );
            for (format, ours) in ours {
                println!("convert {format:<9?}: {:.0}x pandoc", ours / mbs);
            }
        }
        Err(e) => println!("pandoc failed, skipped: {e}"),
    }
}
