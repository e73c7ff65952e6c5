//! Every file under `../shared/real-logs/*/` (byte-exact copies of upstream
//! log fixtures) against the reviewed expectations in
//! `tests/real_logs_expected.toml`: the detected format, the number of lines,
//! and exactly which lines are skipped as malformed and why.
//!
//! Detection and parsing go through the library the same way `src/modes`
//! does: the first 40 lines (over-long ones as empty samples) pick the format,
//! then every line is parsed by one parser instance, in order. Blank lines
//! (only spaces and tabs) are skipped, lines with NUL bytes are `binary`.
//!
//! To draft a new expectation file after adding logs, run with
//! `REAL_LOGS_DRAFT=/tmp/draft.toml`; then review every malformed line by eye
//! before copying entries over (a real access line that fails is a parser bug,
//! not an expectation).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use apiwatch::alerts::escape::escape;
use apiwatch::formats::detect::detect;
use apiwatch::formats::{FormatOptions, MalformedKind};
use apiwatch::sources::reader::DEFAULT_MAX_LINE;
use apiwatch::sources::{Input, Line, open};
use serde::Deserialize;

const REAL_LOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/real-logs");
const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/real_logs_expected.toml");
/// As in `src/modes/mod.rs`.
const DETECT_LINES: usize = 40;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    file: Vec<FileExpectation>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileExpectation {
    /// Relative to `real-logs/`.
    path: String,
    /// `Detected::primary.name()`, or `none` for an input with no content.
    format: String,
    /// Lines as the reader splits them (an unterminated last line counts).
    lines: u64,
    #[serde(default)]
    malformed: Vec<BadLine>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct BadLine {
    line: u64,
    kind: String,
    /// Why the line is skipped (reviewed by a person).
    why: String,
    /// Set when the line is a genuine access entry that should parse: a
    /// known parser bug, tolerated either way so the suite stays green
    /// until it is fixed.
    #[serde(default)]
    bug: Option<String>,
}

/// What the library made of one file.
struct Observed {
    format: String,
    lines: u64,
    blank: u64,
    /// (line number, kind, escaped start of the line)
    malformed: Vec<(u64, &'static str, String)>,
}

enum Owned {
    Data(Vec<u8>),
    TooLong,
}

fn observe(path: &Path) -> Result<Observed, String> {
    let input = Input::File(path.to_owned());
    let mut opened =
        open(&input, 0, DEFAULT_MAX_LINE).map_err(|e| format!("cannot open: {e:#}"))?;
    let mut all = Vec::new();
    loop {
        match opened.lines.next_line() {
            Ok(Some(Line::Data(d) | Line::Binary(d))) => all.push(Owned::Data(d.to_vec())),
            Ok(Some(Line::TooLong { .. })) => all.push(Owned::TooLong),
            Ok(None) => break,
            Err(e) => return Err(format!("read error after {} lines: {e}", all.len())),
        }
    }
    let head: Vec<&[u8]> = all
        .iter()
        .take(DETECT_LINES)
        .map(|l| match l {
            Owned::Data(d) => d.as_slice(),
            Owned::TooLong => b"".as_slice(),
        })
        .collect();
    let has_long = all
        .iter()
        .take(DETECT_LINES)
        .any(|l| matches!(l, Owned::TooLong));
    if !has_long && head.iter().all(|l| l.iter().all(u8::is_ascii_whitespace)) {
        // Nothing to detect from. The pump stops here, which is only right
        // when the whole input is blank.
        if all.len() > DETECT_LINES {
            return Err(format!(
                "the first {DETECT_LINES} lines are blank: detection has nothing to go on"
            ));
        }
        return Ok(Observed {
            format: "none".into(),
            lines: all.len() as u64,
            blank: all.len() as u64,
            malformed: Vec::new(),
        });
    }
    let opts = FormatOptions::default();
    let Some(d) = detect(&head, &opts) else {
        return Ok(Observed {
            format: "undetected".into(),
            lines: all.len() as u64,
            blank: 0,
            malformed: Vec::new(),
        });
    };
    let mut parser = d.build(&opts).map_err(|e| format!("build parser: {e:#}"))?;
    let mut malformed = Vec::new();
    let mut blank = 0;
    for (i, l) in all.iter().enumerate() {
        let n = i as u64 + 1;
        let line = match l {
            Owned::TooLong => {
                malformed.push((n, MalformedKind::TooLong.as_str(), String::new()));
                continue;
            }
            Owned::Data(d) => d.as_slice(),
        };
        if line.iter().all(|b| *b == b' ' || *b == b'\t') {
            blank += 1;
            continue;
        }
        if line.contains(&0) {
            malformed.push((n, MalformedKind::Binary.as_str(), escape(line, 120)));
            continue;
        }
        if let Err(m) = parser.parse(line) {
            malformed.push((n, m.kind.as_str(), escape(line, 120)));
        }
    }
    Ok(Observed {
        format: d.primary.name().to_owned(),
        lines: all.len() as u64,
        blank,
        malformed,
    })
}

/// `real-logs/<dir>/<file>` for every file one level down, sorted.
fn walk(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("read real-logs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let dname = d.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .expect("read format dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let fname = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((format!("{dname}/{fname}"), f));
        }
    }
    out
}

fn toml_str(s: &str) -> String {
    // TOML basic strings share JSON's escapes for what we emit.
    serde_json::to_string(s).unwrap()
}

fn draft(observed: &[(String, Result<Observed, String>)]) -> String {
    let mut s = String::from("# DRAFT: review every malformed line before use.\n");
    for (rel, o) in observed {
        let Ok(o) = o else { continue };
        let _ = writeln!(
            s,
            "\n[[file]]\npath = {}\nformat = {}\nlines = {}",
            toml_str(rel),
            toml_str(&o.format),
            o.lines
        );
        if o.malformed.is_empty() {
            s.push_str("malformed = []\n");
            continue;
        }
        s.push_str("malformed = [\n");
        for (n, kind, text) in &o.malformed {
            let _ = writeln!(s, "  # {text}");
            let _ = writeln!(
                s,
                "  {{ line = {n}, kind = {}, why = \"TODO\" }},",
                toml_str(kind)
            );
        }
        s.push_str("]\n");
    }
    s
}

#[test]
fn real_logs_match_reviewed_expectations() {
    let root = Path::new(REAL_LOGS);
    if !root.is_dir() {
        eprintln!("SKIPPED: ../shared/real-logs not found (looked at {REAL_LOGS})");
        return;
    }
    let on_disk = walk(root);
    assert!(!on_disk.is_empty(), "no files under {REAL_LOGS}/*/");
    let observed: Vec<(String, Result<Observed, String>)> = on_disk
        .iter()
        .map(|(rel, p)| (rel.clone(), observe(p)))
        .collect();

    if let Ok(path) = std::env::var("REAL_LOGS_DRAFT") {
        std::fs::write(&path, draft(&observed)).expect("write draft");
        eprintln!("wrote a draft expectation file to {path}");
    }

    let text = std::fs::read_to_string(EXPECTED).expect("read tests/real_logs_expected.toml");
    let expected: ExpectedFile = toml::from_str(&text).expect("parse real_logs_expected.toml");
    let mut by_path: BTreeMap<&str, &FileExpectation> = BTreeMap::new();
    for f in &expected.file {
        assert!(
            by_path.insert(f.path.as_str(), f).is_none(),
            "{} is listed twice in real_logs_expected.toml",
            f.path
        );
        for b in &f.malformed {
            assert!(
                MalformedKind::ALL.iter().any(|k| k.as_str() == b.kind),
                "{}:{}: unknown kind {:?}",
                f.path,
                b.line,
                b.kind
            );
            assert!(
                !b.why.trim().is_empty() && b.why != "TODO",
                "{}:{}: give a reason",
                f.path,
                b.line
            );
        }
    }

    let mut diff = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for (rel, o) in &observed {
        seen.insert(rel.as_str());
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(diff, "{rel}: {e}");
                continue;
            }
        };
        let Some(exp) = by_path.get(rel.as_str()) else {
            let _ = writeln!(
                diff,
                "{rel}: on disk but not in real_logs_expected.toml (detected {}, {} lines, {} malformed)",
                o.format,
                o.lines,
                o.malformed.len()
            );
            for (n, kind, text) in &o.malformed {
                let _ = writeln!(diff, "    {n}: {kind}: {text}");
            }
            continue;
        };
        if exp.format != o.format {
            let _ = writeln!(
                diff,
                "{rel}: format: expected {}, detected {}",
                exp.format, o.format
            );
        }
        if exp.lines != o.lines {
            let _ = writeln!(
                diff,
                "{rel}: lines: expected {}, read {}",
                exp.lines, o.lines
            );
        }
        let want: BTreeMap<u64, &str> = exp
            .malformed
            .iter()
            .map(|b| (b.line, b.kind.as_str()))
            .collect();
        let got: BTreeMap<u64, (&str, &str)> = o
            .malformed
            .iter()
            .map(|(n, k, t)| (*n, (*k, t.as_str())))
            .collect();
        for (n, (kind, text)) in &got {
            match want.get(n) {
                None => {
                    let _ = writeln!(diff, "{rel}:{n}: + now malformed ({kind}): {text}");
                }
                Some(w) if w != kind => {
                    let _ = writeln!(
                        diff,
                        "{rel}:{n}: ~ kind changed: expected {w}, got {kind}: {text}"
                    );
                }
                Some(_) => {}
            }
        }
        for b in &exp.malformed {
            match (&b.bug, got.get(&b.line)) {
                (Some(bug), Some(_)) => {
                    eprintln!(
                        "KNOWN ISSUE still present: {rel}:{}: {} ({bug})",
                        b.line, b.kind
                    );
                    continue;
                }
                (Some(_), None) => {
                    eprintln!(
                        "known issue fixed? {rel}:{} now parses: drop its entry from real_logs_expected.toml",
                        b.line
                    );
                    continue;
                }
                (None, _) => {}
            }
            if !got.contains_key(&b.line) {
                let _ = writeln!(
                    diff,
                    "{rel}:{}: - expected malformed ({}: {}) but it parsed",
                    b.line, b.kind, b.why
                );
            }
        }
    }
    for f in &expected.file {
        if !seen.contains(f.path.as_str()) {
            let _ = writeln!(
                diff,
                "{}: in real_logs_expected.toml but not on disk",
                f.path
            );
        }
    }
    assert!(
        diff.is_empty(),
        "real logs differ from tests/real_logs_expected.toml:\n{diff}"
    );
}

/// The binary, given every real log in one run, must count what the library
/// walk above counts (so the expectations describe what users see).
#[test]
fn binary_agrees_with_the_library_walk_on_real_logs() {
    let root = Path::new(REAL_LOGS);
    if !root.is_dir() {
        eprintln!("SKIPPED: ../shared/real-logs not found (looked at {REAL_LOGS})");
        return;
    }
    let files = walk(root);
    let mut lines = 0;
    let mut blank = 0;
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut formats: BTreeMap<String, String> = BTreeMap::new();
    for (_, p) in &files {
        let o = observe(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        lines += o.lines;
        blank += o.blank;
        for (_, k, _) in &o.malformed {
            *by_kind.entry(k).or_default() += 1;
        }
        formats.insert(p.display().to_string(), o.format);
    }
    let r = crate::common::scan_json(files.iter().map(|(_, p)| p));
    crate::common::assert_no_panic(&r);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    let s = r.summary();
    assert_eq!(s["lines"].as_u64(), Some(lines), "lines: {s}");
    assert_eq!(s["blank"].as_u64(), Some(blank), "blank: {s}");
    let got: BTreeMap<String, u64> = s["malformed_by_reason"]
        .as_object()
        .expect("malformed_by_reason")
        .iter()
        .map(|(k, v)| (k.clone(), v["count"].as_u64().unwrap()))
        .collect();
    let want: BTreeMap<String, u64> = by_kind.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want, "malformed by reason");
    let mut bin_formats = BTreeMap::new();
    for pair in s["formats"].as_array().expect("formats") {
        let name = pair[0].as_str().unwrap().to_owned();
        let desc = pair[1].as_str().unwrap();
        let primary = desc.split(' ').next().unwrap().to_owned();
        bin_formats.insert(name, primary);
    }
    formats.retain(|_, f| f != "none");
    assert_eq!(bin_formats, formats, "format per input");
}
