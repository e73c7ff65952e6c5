//! Helpers shared by the CLI tests: run the binary, split its output, read
//! the `--stats` summary line.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use assert_cmd::Command;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

/// The `apiwatch` binary with an environment that cannot leak into the run.
pub fn apiwatch() -> Command {
    let mut c = Command::cargo_bin("apiwatch").expect("apiwatch binary");
    c.env_remove("RUST_LOG")
        .env_remove("APIWATCH_CONFIG")
        .env_remove("NO_COLOR")
        .timeout(std::time::Duration::from_secs(60));
    c
}

/// What one run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Every stdout line, parsed as JSON (panics, showing the line, if one
    /// is not).
    pub fn json_lines(&self) -> Vec<Value> {
        let text = std::str::from_utf8(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not UTF-8 ({e}); stderr:\n{}", self.stderr_str())
        });
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "stdout does not end with a newline: {:?}",
            tail(text)
        );
        text.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}"))
            })
            .collect()
    }

    /// The `"type":"summary"` object (last stdout line with `--stats -o json`).
    pub fn summary(&self) -> Value {
        let lines = self.json_lines();
        let last = lines.last().unwrap_or_else(|| {
            panic!(
                "no stdout at all (exit {}); stderr:\n{}",
                self.code,
                self.stderr_str()
            )
        });
        assert_eq!(
            last["type"], "summary",
            "last stdout line is not the summary: {last}"
        );
        last.clone()
    }
}

fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(200);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Run a prepared command to completion (never panics on exit status).
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run apiwatch");
    Run {
        code: out.status.code().unwrap_or_else(|| {
            panic!(
                "apiwatch died from a signal; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        }),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// `apiwatch scan --stats -o json <args...>`.
pub fn scan_json<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run(apiwatch()
        .args(["scan", "--stats", "-o", "json"])
        .args(args))
}

/// Assert that a run did not panic (the Rust panic message on stderr).
pub fn assert_no_panic(r: &Run) {
    let e = r.stderr_str();
    assert!(
        !e.contains("panicked at") && !e.contains("RUST_BACKTRACE"),
        "apiwatch panicked:\n{e}"
    );
}

/// Counts from the summary, as u64.
pub fn count(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("summary field {key} missing or not a count: {s}"))
}

/// The count of one malformed kind (0 when absent).
pub fn malformed_kind(s: &Value, kind: &str) -> u64 {
    s["malformed_by_reason"][kind]["count"]
        .as_u64()
        .unwrap_or(0)
}

/// Input names in processing order, from the summary's `formats` list.
pub fn format_inputs(s: &Value) -> Vec<String> {
    s["formats"]
        .as_array()
        .unwrap_or_else(|| panic!("summary has no formats list: {s}"))
        .iter()
        .map(|pair| pair[0].as_str().expect("input name").to_owned())
        .collect()
}

/// Gzip `data` as one member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `[dd/Mon/yyyy:HH:MM:SS +0000]` body for seconds after 2026-03-02T00:00:00Z
/// (same day only, which is all the tests need).
pub fn clf_time(secs: u64) -> String {
    assert!(secs < 86_400);
    format!(
        "02/{}/2026:{:02}:{:02}:{:02} +0000",
        MONTHS[2],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One nginx `combined` line.
pub fn combined(ip: &str, secs: u64, path: &str, status: u16, ua: &str) -> String {
    format!(
        "{ip} - - [{}] \"GET {path} HTTP/1.1\" {status} 512 \"-\" \"{ua}\"",
        clf_time(secs)
    )
}

/// `n` ordinary combined lines starting at `start` seconds, one per second,
/// newline-terminated.
pub fn combined_lines(n: usize, start: u64) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&combined(
            &format!("198.51.100.{}", i % 200 + 1),
            start + i as u64 % 80_000,
            &format!("/static/page{}.html", i % 7),
            200,
            "Mozilla/5.0 (X11; Linux x86_64)",
        ));
        s.push('\n');
    }
    s
}

/// Bytes that must never reach a terminal from a log line.
pub fn raw_control_bytes(b: &[u8]) -> Vec<(usize, u8)> {
    b.iter()
        .enumerate()
        .filter(|(_, c)| (**c < 0x20 && **c != b'\n') || **c == 0x7f)
        .map(|(i, c)| (i, *c))
        .collect()
}
