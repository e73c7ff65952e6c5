//! The three ways to run apiwatch (`scan`, `tail`, `check`) driven as real
//! processes against temporary files: they must find the same incidents,
//! `check` must behave as a Nagios/cron check across runs, rotations and
//! crashes, and `tail` must be prompt, survive rotation and stay idle when
//! nothing happens.

#[path = "../support/sim.rs"]
mod sim;

mod agree;
mod check;
mod tail;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("apiwatch")
}

/// `apiwatch` with an environment that cannot leak into the run.
pub fn apiwatch() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("RUST_LOG")
        .env_remove("APIWATCH_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    c
}

/// Append bytes to a file (creating it).
pub fn append(p: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    f.write_all(bytes).unwrap();
}

/// Deterministic RNG for chunk sizes and benign traffic (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// `02/Mar/2026:HH:MM:SS +0000` for `secs` seconds after 2026-03-02 00:00 UTC
/// (same day only).
fn clf_time(secs: u64) -> String {
    assert!(secs < 86_400, "stay within the day");
    format!(
        "02/Mar/2026:{:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One combined-format line.
pub fn combined(ip: &str, secs: u64, target: &str, status: u16, ua: &str) -> String {
    format!(
        "{ip} - - [{}] \"GET {target} HTTP/1.1\" {status} 512 \"-\" \"{ua}\"\n",
        clf_time(secs)
    )
}

/// An enumeration walk: `n` lines from `ip` over /api/v1/customers/{first..}
/// within two minutes, starting `start` seconds into the day.
pub fn enumeration(ip: &str, start: u64, first_id: u64, n: u64) -> String {
    let mut s = String::new();
    for i in 0..n {
        let t = start + i * 120 / n.max(1);
        s.push_str(&combined(
            ip,
            t,
            &format!("/api/v1/customers/{}", first_id + i),
            if i % 9 == 0 { 404 } else { 200 },
            "python-requests/2.31.0",
        ));
    }
    s
}

/// Benign traffic: `users` addresses each looking at their own profile and
/// customer record a few times, spread over five minutes from `start`.
pub fn benign(seed: u64, start: u64, users: u64) -> String {
    let mut r = Rng::new(seed);
    let mut s = String::new();
    let mut lines: Vec<(u64, String)> = Vec::new();
    for u in 0..users {
        let ip = format!("198.51.{}.{}", 100 + u / 200, 1 + u % 200);
        let cust = r.range(1, 9_000_000);
        for k in 0..3 {
            let t = start + r.range(0, 300);
            let target = match k {
                0 => "/api/v1/me".to_owned(),
                1 => format!("/api/v1/customers/{cust}"),
                _ => format!("/api/v1/customers/{cust}/billing"),
            };
            lines.push((
                t,
                combined(&ip, t, &target, 200, "Mozilla/5.0 (iPhone) MyTelco/5.2"),
            ));
        }
    }
    lines.sort_by_key(|l| l.0);
    for (_, l) in lines {
        s.push_str(&l);
    }
    s
}

/// Every stdout line as JSON (panics with the line if one is not).
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// What identifies one opened/escalated transition across modes.
pub type Key = (String, String, String, String, String, String);

pub fn key(v: &Value) -> Key {
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_owned()
    };
    let actors: Vec<&str> = v["actor"]
        .as_array()
        .unwrap_or_else(|| panic!("no actor in {v}"))
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    (
        s("id"),
        s("event"),
        s("detector"),
        s("severity"),
        actors.join(","),
        s("detected_at"),
    )
}

/// `lines=12 parsed=…` perf data of a Nagios line.
pub fn perf(line: &str) -> BTreeMap<String, i64> {
    let (_, data) = line
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no perf data in {line:?}"));
    data.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("bad perf item {kv:?} in {line:?}"));
            (
                k.to_owned(),
                v.parse()
                    .unwrap_or_else(|_| panic!("bad perf value {kv:?} in {line:?}")),
            )
        })
        .collect()
}

/// A long-running apiwatch child whose stdout and stderr lines are collected
/// (with arrival times) by background threads.
/// Lines a child process wrote, each with when it was read.
pub type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

pub struct Running {
    pub child: Child,
    pub out: Lines,
    pub err: Lines,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn collect(r: impl std::io::Read + Send + 'static) -> (Lines, std::thread::JoinHandle<()>) {
    let v = Arc::new(Mutex::new(Vec::new()));
    let v2 = v.clone();
    let h = std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            v2.lock().unwrap().push((Instant::now(), l));
        }
    });
    (v, h)
}

impl Running {
    pub fn spawn(args: &[&str]) -> Running {
        let mut child = apiwatch()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn apiwatch");
        let (out, h1) = collect(child.stdout.take().unwrap());
        let (err, h2) = collect(child.stderr.take().unwrap());
        Running {
            child,
            out,
            err,
            threads: vec![h1, h2],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_text(&self) -> String {
        self.err
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stderr lines containing `needle` (any of `|`-separated needles).
    pub fn err_count(&self, needle: &str) -> usize {
        self.err
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| needle.split('|').any(|n| l.contains(n)))
            .count()
    }

    /// Wait until the follower is set up: "Following." is logged just before
    /// the file is opened (and its end taken), so give it a moment more.
    pub fn started(&self) {
        self.wait_err("Following.", 1, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
    }

    /// How far this process has read `path` (the largest file position of
    /// any descriptor it holds on it), from /proc.
    pub fn read_position(&self, path: &Path) -> Option<u64> {
        let want = std::fs::canonicalize(path).ok()?;
        let pid = self.pid();
        let mut best = None;
        for e in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
            if std::fs::read_link(e.path()).ok().as_ref() != Some(&want) {
                continue;
            }
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                e.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            let pos = info
                .lines()
                .find_map(|l| l.strip_prefix("pos:"))
                .and_then(|v| v.trim().parse::<u64>().ok());
            best = best.max(pos);
        }
        best
    }

    /// Wait until this process has read `path` up to its current size.
    pub fn wait_read_all(&self, path: &Path, timeout: Duration) {
        let size = std::fs::metadata(path).unwrap().len();
        let t = Instant::now();
        while self.read_position(path).is_none_or(|p| p < size) {
            assert!(
                t.elapsed() < timeout,
                "{} not read to its end ({size}) within {timeout:?}: at {:?}",
                path.display(),
                self.read_position(path)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until at least `n` stderr lines contain `needle`.
    pub fn wait_err(&self, needle: &str, n: usize, timeout: Duration) {
        let t = Instant::now();
        while self.err_count(needle) < n {
            assert!(
                t.elapsed() < timeout,
                "apiwatch did not log {needle:?} (x{n}) within {timeout:?}; stderr:\n{}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The first stdout line satisfying `pred`, with its arrival time.
    pub fn wait_out(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<(Instant, String)> {
        let t = Instant::now();
        loop {
            if let Some(x) = self.out.lock().unwrap().iter().find(|(_, l)| pred(l)) {
                return Some(x.clone());
            }
            if t.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Wait for exit (killing the child after `timeout`); returns the exit
    /// code (None if killed by a signal) and how long it took.
    pub fn wait(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                for h in self.threads.drain(..) {
                    let _ = h.join();
                }
                return (st.code(), t.elapsed());
            }
            if t.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                for h in self.threads.drain(..) {
                    let _ = h.join();
                }
                panic!(
                    "apiwatch did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every stdout line as JSON.
    pub fn json(&self) -> Vec<Value> {
        let text: String = self
            .out
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        json_lines(text.as_bytes())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a follower behind when a test fails.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Timing-sensitive tests (latency, CPU, lock races) take this so the heavy
/// ones don't starve them on a small machine.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}
