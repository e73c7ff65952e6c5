//! `apiwatch check` as cron and Nagios run it: exit codes and the status
//! line, where each run starts, rotation and truncation between runs, a
//! damaged or foreign state file, two runs at once, a run killed mid-way,
//! and a bare cron environment.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{Running, apiwatch, append, benign, enumeration, perf, serial};

/// One finished run.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The single Nagios line.
    fn line(&self) -> &str {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "check prints exactly one line; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        lines[0]
    }
    fn perf(&self, k: &str) -> i64 {
        *perf(self.line())
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {:?}", self.line()))
    }
}

fn check(state: &Path, files: &[&Path], extra: &[&str]) -> Out {
    check_env(state, files, extra, &[])
}

fn check_env(state: &Path, files: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> Out {
    let o = apiwatch()
        .arg("check")
        .args(extra)
        .arg("--state")
        .arg(state)
        .args(files)
        .envs(env.iter().copied())
        .output()
        .expect("run apiwatch check");
    Out {
        code: o.status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn nlines(s: &str) -> i64 {
    s.lines().count() as i64
}

const PERF_KEYS: [&str; 8] = [
    "lines",
    "parsed",
    "malformed",
    "incidents",
    "opened",
    "closed",
    "allowlisted",
    "input_errors",
];

fn assert_status(o: &Out, code: i32, label: &str) {
    assert_eq!(
        o.code, code,
        "exit code; stdout:\n{}\nstderr:\n{}",
        o.stdout, o.stderr
    );
    assert!(
        o.line().starts_with(&format!("APIWATCH {label} - ")),
        "status line {:?}",
        o.line()
    );
    let p = perf(o.line());
    for k in PERF_KEYS {
        assert!(p.contains_key(k), "perf data lacks {k}: {:?}", o.line());
    }
}

/// CRITICAL (2) or WARNING (1), with the matching label.
fn assert_alerting(o: &Out) {
    let label = match o.code {
        1 => "WARNING",
        2 => "CRITICAL",
        c => panic!(
            "expected WARNING or CRITICAL, got exit {c}; stdout:\n{}\nstderr:\n{}",
            o.stdout, o.stderr
        ),
    };
    assert_status(o, o.code, label);
}

/// A sizeable benign log (about `mb` megabytes) to keep a run busy.
fn big_log(p: &Path, mb: usize) {
    let block = benign(99, 3600, 2000);
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
    let mut written = 0;
    while written < mb << 20 {
        f.write_all(block.as_bytes()).unwrap();
        written += block.len();
    }
    f.flush().unwrap();
}

#[test]
fn check_ok_then_critical_then_still_open() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    let b = benign(1, 36_000, 150);
    append(&log, b.as_bytes());

    let o = check(&state, &[&log], &["--from-start"]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("lines"), nlines(&b), "{}", o.line());
    assert_eq!(o.perf("parsed"), nlines(&b));
    assert_eq!(o.perf("malformed"), 0);
    assert_eq!(o.perf("opened"), 0);
    assert_eq!(o.perf("incidents"), 0);

    let attack = enumeration("203.0.113.77", 36_400, 1000, 300);
    append(&log, attack.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), 300, "only the new lines: {}", o.line());
    assert!(o.perf("opened") >= 1, "{}", o.line());
    assert!(o.perf("incidents") >= 1, "{}", o.line());
    assert!(
        o.line().contains("enumeration") && o.line().contains("203.0.113.77"),
        "names the detector and the actor: {}",
        o.line()
    );
    let first = o.code;

    // Nothing new: nothing read, but the incident is still open.
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
    assert_eq!(o.perf("opened"), 0, "{}", o.line());
    assert!(o.perf("incidents") >= 1, "{}", o.line());
    assert_eq!(o.code, first, "same status while open: {}", o.line());
    assert_alerting(&o);
    // Nagios shows the latest line only: it names what is still open.
    assert!(
        o.line()
            .contains("still open: enumeration 203.0.113.77 on GET /api/v1/customers/{int}"),
        "{}",
        o.line()
    );

    // JSON output: the alerts instead of the line (none new here).
    let o = check(&state, &[&log], &["-o", "json"]);
    assert_eq!(o.code, first);
    assert!(
        !o.stdout.contains("APIWATCH"),
        "no Nagios line with -o json: {}",
        o.stdout
    );
}

/// A log that falls silent does not hold its incidents open for ever: once
/// event time has stood still for the grace period (5 min) plus an
/// incident's quiet period on the wall clock, the incident closes, with
/// the closing time a replay would give it. `APIWATCH_NOW` stands in for
/// the wall clock.
#[test]
fn check_closes_the_incidents_of_a_silent_log() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(
        &log,
        enumeration("203.0.113.50", 7200, 5000, 300).as_bytes(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = |secs: u64, extra: &[&str]| {
        let t = (now + secs).to_string();
        let mut args = vec!["--from-start"];
        args.extend_from_slice(extra);
        check_env(&state, &[&log], &args, &[("APIWATCH_NOW", &t)])
    };
    let o = at(0, &[]);
    assert_alerting(&o);
    // Ten minutes of silence: the enumeration's 15-minute quiet period has
    // not run out, so it is still open.
    let o = at(600, &[]);
    assert_alerting(&o);
    assert_eq!(o.perf("closed"), 0, "{}", o.line());
    // 1,000 s: past the quiet period, but not past it plus the grace.
    let o = at(1000, &[]);
    assert_alerting(&o);
    assert_eq!(o.perf("closed"), 0, "the grace holds: {}", o.line());
    // A day later, nothing new: every incident closed, at its last signal
    // plus its quiet period (event time, not the wall clock).
    let o = at(86_400, &["-o", "json"]);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let alerts = crate::json_lines(o.stdout.as_bytes());
    let closed: Vec<_> = alerts.iter().filter(|a| a["event"] == "closed").collect();
    assert!(
        closed
            .iter()
            .any(|a| a["detector"] == "enumeration" && a["actor"][0] == "203.0.113.50"),
        "{alerts:?}"
    );
    // The log's last line is at 02:02 on 2 March: every closing time is
    // that plus a quiet period (at most 2 h), not the wall clock's.
    for a in &closed {
        let at = a["detected_at"].as_str().unwrap_or_default();
        assert!(
            at.starts_with("2026-03-02T0"),
            "closed at event time: {a:?}"
        );
    }
    let o = at(2 * 86_400, &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("incidents"), 0, "{}", o.line());
}

#[test]
fn check_json_prints_the_alerts() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, enumeration("203.0.113.9", 7200, 5000, 300).as_bytes());
    let o = check(&state, &[&log], &["--from-start", "-o", "json"]);
    assert!(matches!(o.code, 1 | 2), "exit {}: {}", o.code, o.stderr);
    let alerts = crate::json_lines(o.stdout.as_bytes());
    assert!(
        alerts.iter().any(|a| a["event"] == "opened"
            && a["detector"] == "enumeration"
            && a["actor"][0] == "203.0.113.9"),
        "{alerts:?}"
    );
}

/// Output that cannot be written fails the run (UNKNOWN) before the state
/// moves on: the next run says the same alerts instead of losing them. A
/// first run saves where it started (with no engine state), so that the
/// next, without `--from-start`, does not start from the files' ends.
#[test]
fn check_that_cannot_print_its_alerts_keeps_them_for_the_next_run() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, enumeration("203.0.113.9", 7200, 5000, 300).as_bytes());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = apiwatch()
        .args(["check", "--from-start", "-o", "json", "--state"])
        .arg(&state)
        .arg(&log)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(state.exists(), "where the run started is saved");
    append(&log, benign(2, 7600, 20).as_bytes());
    let o = check(&state, &[&log], &["-o", "json"]);
    assert!(matches!(o.code, 1 | 2), "exit {}: {}", o.code, o.stderr);
    let alerts = crate::json_lines(o.stdout.as_bytes());
    assert!(
        alerts.iter().any(|a| a["event"] == "opened"
            && a["detector"] == "enumeration"
            && a["actor"][0] == "203.0.113.9"),
        "{alerts:?}"
    );
}

#[test]
fn check_first_run_starts_at_end_unless_from_start() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let history = format!(
        "{}{}",
        benign(2, 3600, 100),
        enumeration("203.0.113.5", 3700, 1000, 300)
    );
    append(&log, history.as_bytes());

    // Installing the check does not replay history.
    let s1 = d.path().join("a.state");
    let o = check(&s1, &[&log], &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
    assert!(o.line().contains("--from-start"), "says why: {}", o.line());
    assert!(s1.exists(), "the first run writes its state");
    // What comes after it is read.
    let attack = enumeration("203.0.113.6", 4000, 70_000, 300);
    append(&log, attack.as_bytes());
    let o = check(&s1, &[&log], &[]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), 300, "{}", o.line());
    assert!(o.line().contains("203.0.113.6"), "{}", o.line());
    assert!(!o.line().contains("203.0.113.5"), "{}", o.line());

    // --from-start on a fresh state reads everything.
    let s2 = d.path().join("b.state");
    let o = check(&s2, &[&log], &["--from-start"]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), nlines(&history) + 300, "{}", o.line());
    assert!(o.line().contains("203.0.113.5"), "{}", o.line());
    // --from-start only matters for the first run.
    let o = check(&s2, &[&log], &["--from-start"]);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
}

#[test]
fn check_follows_rotation_between_runs() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let log1 = d.path().join("access.log.1");
    let log2 = d.path().join("access.log.2");
    let state = d.path().join("s.state");
    let block = |seed: u64, n: u64| benign(seed, 3600 * (seed % 20 + 1), n);

    let a = block(1, 40);
    append(&log, a.as_bytes());
    let o = check(&state, &[&log], &["--from-start"]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("lines"), nlines(&a));

    // logrotate create: more lines in the old file, rename, a new file.
    let b = block(2, 11);
    append(&log, b.as_bytes());
    std::fs::rename(&log, &log1).unwrap();
    let c = block(3, 7);
    append(&log, c.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(
        o.perf("lines"),
        nlines(&b) + nlines(&c),
        "the rest of access.log.1 plus the new access.log, nothing twice: {}",
        o.line()
    );

    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());

    // The server wrote to the old file until it reopened its log.
    let late = block(4, 5);
    append(&log1, late.as_bytes());
    let e = block(5, 6);
    append(&log, e.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), nlines(&late) + nlines(&e), "{}", o.line());

    // A second rotation shifts .1 to .2.
    let f = block(6, 8);
    append(&log, f.as_bytes());
    std::fs::rename(&log1, &log2).unwrap();
    std::fs::rename(&log, &log1).unwrap();
    let g = block(7, 9);
    append(&log, g.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), nlines(&f) + nlines(&g), "{}", o.line());

    // delaycompress: .2 becomes .2.gz: already read, not read again.
    let bytes = std::fs::read(&log2).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    std::fs::write(d.path().join("access.log.2.gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&log2).unwrap();
    let h = block(8, 3);
    append(&log, h.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), nlines(&h), "{}", o.line());
    assert_eq!(o.perf("input_errors"), 0, "{}", o.line());
}

/// A rotated log still being compressed when check runs (or a damaged
/// archive): the lines before the break are read once, the run is
/// UNKNOWN, and the next run goes on from the break instead of counting
/// them again (they were in the saved state: counted twice, 30 failed
/// logins became 50 and raised a stuffing incident that was not there).
#[test]
fn check_reads_a_gzip_cut_short_once() {
    gzip_cut_short(false);
}

/// The same with a second node's log beside it: the new lines of both are
/// merged in time order, through the merge's own bookkeeping.
#[test]
fn check_reads_a_gzip_cut_short_once_beside_another_node() {
    gzip_cut_short(true);
}

fn gzip_cut_short(two_nodes: bool) {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let gz_path = d.path().join("access.log.1.gz");
    let other = d.path().join("node2.log");
    let state = d.path().join("s.state");
    let a = benign(11, 3600, 40);
    append(&log, a.as_bytes());
    let mut files = vec![log.as_path()];
    if two_nodes {
        append(&other, benign(13, 3600, 10).as_bytes());
        files.push(&other);
    }
    check(&state, &files, &["--from-start"]);

    let b = benign(12, 7200, 4000);
    append(&log, b.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&log).unwrap()).unwrap();
    let full = gz.finish().unwrap();
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&gz_path, &full[..full.len() / 2]).unwrap();
    append(&log, b"");
    // The other node's new lines are read in full, merged with the cut file.
    let n2 = if two_nodes {
        let more = benign(14, 7200, 100);
        append(&other, more.as_bytes());
        nlines(&more)
    } else {
        0
    };
    let cut = check(&state, &files, &[]);
    assert_status(&cut, 3, "UNKNOWN");
    let first = cut.perf("lines") - n2;
    assert!(first > 0 && first < nlines(&b), "{}", cut.line());
    // Still cut: nothing new, nothing read twice.
    let again = check(&state, &files, &[]);
    assert_status(&again, 3, "UNKNOWN");
    assert_eq!(again.perf("lines"), 0, "{}", again.line());

    // Compressed in full: the rest, once, the line cut by the break whole.
    std::fs::write(&gz_path, &full).unwrap();
    let rest = check(&state, &files, &[]);
    assert_eq!(rest.perf("input_errors"), 0, "{}", rest.line());
    assert_eq!(first + rest.perf("lines"), nlines(&b), "{}", rest.line());
    assert_eq!(rest.perf("malformed"), 0, "{}", rest.line());
    assert_eq!(check(&state, &files, &[]).perf("lines"), 0);
}

#[test]
fn check_rereads_a_truncated_file() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    let a = benign(11, 3600, 60);
    append(&log, a.as_bytes());
    let o = check(&state, &[&log], &["--from-start"]);
    assert_eq!(o.perf("lines"), nlines(&a));

    // Truncated and shorter than before.
    let b = benign(12, 7200, 10);
    std::fs::write(&log, b.as_bytes()).unwrap();
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), nlines(&b), "from the start: {}", o.line());

    // Truncated and already longer again by the next run: still the start.
    let c = benign(13, 10_800, 200);
    assert!(c.len() > b.len());
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap()
        .write_all(c.as_bytes())
        .unwrap();
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.perf("lines"), nlines(&c), "from the start: {}", o.line());
}

#[test]
fn check_unknown_on_corrupt_state_until_reset() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, benign(3, 3600, 20).as_bytes());
    std::fs::write(&state, b"this is not a state file\n\x00\x01garbage").unwrap();

    let o = check(&state, &[&log], &[]);
    assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let l = o.line();
    assert!(l.starts_with("APIWATCH UNKNOWN - "), "{l}");
    assert!(l.contains(state.to_str().unwrap()), "names the file: {l}");
    assert!(l.contains("--reset-state"), "suggests the fix: {l}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"this is not a state file\n\x00\x01garbage",
        "an unreadable state is left alone without --reset-state"
    );

    let o = check(&state, &[&log], &["--reset-state"]);
    assert!(matches!(o.code, 0..=2), "{}\n{}", o.stdout, o.stderr);
    assert!(o.line().starts_with("APIWATCH "), "{}", o.line());
    // And from then on the state is good.
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
}

/// A directory (or a device) named as the state is UNKNOWN on one line,
/// reset or not (it could not be written after the run); an empty file is
/// no state yet.
#[test]
fn check_state_that_is_a_directory_or_empty() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, benign(3, 3600, 20).as_bytes());
    let dir = d.path().join("sdir");
    std::fs::create_dir(&dir).unwrap();
    for extra in [&[][..], &["--reset-state"][..]] {
        let o = check(&dir, &[&log], extra);
        assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
        assert_eq!(o.stdout.lines().count(), 1, "one status line: {}", o.stdout);
        let l = o.line();
        assert!(
            l.starts_with("APIWATCH UNKNOWN - ") && l.contains("is a directory"),
            "{l}"
        );
        assert!(!l.contains("--reset-state"), "{l}");
    }
    // Nor a device or socket (/dev/null reads empty), which would be
    // renamed over when the state is saved.
    let sock = d.path().join("s.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let o = check(&sock, &[&log], &["--reset-state"]);
    assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    assert!(o.line().contains("not a regular file"), "{}", o.line());
    assert!(!sock.metadata().unwrap().is_file(), "left alone");
    // A state file in a directory that is not there: said so.
    let o = check(&d.path().join("no/such/dir/s.state"), &[&log], &[]);
    assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    assert!(
        o.line().contains("no/such/dir does not exist"),
        "{}",
        o.line()
    );
    let state = d.path().join("empty.state");
    std::fs::write(&state, b"").unwrap();
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(
        o.perf("lines"),
        0,
        "a first run starts at the end: {}",
        o.line()
    );
    assert!(
        std::fs::metadata(&state).unwrap().len() > 0,
        "the state is written"
    );
}

#[test]
fn check_unknown_on_incompatible_state_version() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, benign(4, 3600, 20).as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(br#"{"format":"apiwatch-state","version":99,"files":[],"engine":{}}"#)
        .unwrap();
    std::fs::write(&state, gz.finish().unwrap()).unwrap();

    let o = check(&state, &[&log], &[]);
    assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    let l = o.line();
    assert!(l.starts_with("APIWATCH UNKNOWN - "), "{l}");
    assert!(l.contains("version 99"), "names the version: {l}");
    assert!(l.contains(state.to_str().unwrap()), "names the file: {l}");
    assert!(l.contains("--reset-state"), "suggests the fix: {l}");

    let o = check(&state, &[&log], &["--reset-state"]);
    assert_status(&o, 0, "OK");
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
}

/// A state whose engine part cannot be loaded, discarded by
/// `--reset-state`, does not take the run's other problems with it: a glob
/// that matches nothing still makes the check UNKNOWN and says so.
#[test]
fn check_reset_of_a_bad_engine_state_keeps_the_other_problems() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, benign(4, 3600, 20).as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let v = apiwatch::sources::checkpoint::STATE_VERSION;
    gz.write_all(
        format!(r#"{{"format":"apiwatch-state","version":{v},"files":[],"engine":{{"x":1}}}}"#)
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(&state, gz.finish().unwrap()).unwrap();
    let o = check(&state, &[&log], &[]);
    assert_eq!(o.code, 3, "the engine state is bad: {}", o.line());
    let nothing = d.path().join("other-*.log");
    let o = check(&state, &[&log, &nothing], &["--reset-state"]);
    assert_eq!(o.code, 3, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    assert!(o.line().contains("no file matches"), "{}", o.line());
}

fn lock_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

#[test]
fn check_refuses_to_run_twice_at_once() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, benign(5, 3600, 20).as_bytes());
    assert!(matches!(
        check(&state, &[&log], &["--from-start"]).code,
        0..=2
    ));

    // Someone holds the lock (as a running check does).
    {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(&state))
            .unwrap();
        f.try_lock().expect("take the lock");
        let o = check(&state, &[&log], &[]);
        assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
        assert!(
            o.line()
                .starts_with("APIWATCH UNKNOWN - another apiwatch check is running"),
            "{}",
            o.line()
        );
    }
    // Released: runs again.
    assert_status(&check(&state, &[&log], &[]), 0, "OK");

    // Two real runs: the second starts while the first (on a big file)
    // holds the lock. Retried with a bigger file if the first is too quick.
    let big = d.path().join("big.log");
    let mut mb = 40;
    for attempt in 0.. {
        assert!(attempt < 4, "never managed to overlap two runs");
        big_log(&big, mb);
        let st = d.path().join(format!("pair{attempt}.state"));
        let mut first = Running::spawn(&[
            "check",
            "--from-start",
            "--state",
            st.to_str().unwrap(),
            big.to_str().unwrap(),
        ]);
        // The first run writes its pid into the lock once it holds it.
        let lock = lock_path(&st);
        let t = Instant::now();
        let pid = first.pid().to_string();
        while std::fs::read_to_string(&lock)
            .map(|s| s.trim().to_owned())
            .ok()
            .as_ref()
            != Some(&pid)
        {
            if first.child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let second = check(&st, &[&big], &["--from-start"]);
        let still_running = first.child.try_wait().unwrap().is_none();
        let (code1, _) = first.wait(Duration::from_secs(60));
        if !still_running {
            eprintln!("first run finished before the second ended; retrying bigger");
            mb *= 2;
            continue;
        }
        assert_eq!(
            second.code, 3,
            "second run while the first holds the lock: {}\n{}",
            second.stdout, second.stderr
        );
        assert!(
            second
                .line()
                .starts_with("APIWATCH UNKNOWN - another apiwatch check is running"),
            "{}",
            second.line()
        );
        assert!(
            matches!(code1, Some(0..=2)),
            "the first run completes normally: {code1:?}; stderr:\n{}",
            first.stderr_text()
        );
        break;
    }
}

#[test]
fn check_killed_mid_run_leaves_previous_state() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(
        &log,
        enumeration("203.0.113.50", 3000, 1000, 300).as_bytes(),
    );
    let o = check(&state, &[&log], &["--from-start"]);
    assert_alerting(&o);
    let before = std::fs::read(&state).unwrap();

    let big = d.path().join("big.log");
    let mut mb = 40;
    let mut killed = false;
    for _ in 0..4 {
        big_log(&big, mb);
        let mut r = Running::spawn(&[
            "check",
            "--state",
            state.to_str().unwrap(),
            log.to_str().unwrap(),
            big.to_str().unwrap(),
        ]);
        // Let it get going (first run for big.log: it must read it whole).
        std::thread::sleep(Duration::from_millis(150));
        if r.child.try_wait().unwrap().is_some() {
            let _ = r.wait(Duration::from_secs(5));
            // It finished: the state moved on; start over from the old one.
            std::fs::write(&state, &before).unwrap();
            mb *= 2;
            continue;
        }
        r.signal("KILL");
        let (code, _) = r.wait(Duration::from_secs(10));
        assert_eq!(code, None, "killed by the signal");
        killed = true;
        break;
    }
    assert!(killed, "never caught a run in progress");
    // big.log is new to the state, so that run was reading it from its start
    // when it died: the state must be exactly the old one.
    assert!(
        std::fs::read(&state).unwrap() == before,
        "the state file changed under a killed run"
    );
    // The next run is not blocked by a stale lock and reads the state.
    let o = check(&state, &[&log], &[]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
    assert!(o.perf("incidents") >= 1, "still open: {}", o.line());
}

#[test]
fn check_runs_in_a_bare_cron_environment() {
    let d = tempfile::tempdir().unwrap();
    append(
        &d.path().join("access.log"),
        enumeration("203.0.113.88", 3000, 1000, 300).as_bytes(),
    );
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let run = |extra: &[&str]| {
        let o = std::process::Command::new(crate::bin())
            .env_clear()
            .env("PATH", &path)
            .current_dir(d.path())
            .stdin(Stdio::null())
            .arg("check")
            .args(extra)
            .args(["--state", "apiwatch.state", "access.log"])
            .output()
            .unwrap();
        Out {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let o = run(&["--from-start"]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), 300, "{}", o.line());
    assert!(d.path().join("apiwatch.state").exists());
    let o = run(&[]);
    assert_alerting(&o);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
    assert!(
        !o.stderr.contains("\x1b["),
        "no colour codes without a terminal: {:?}",
        o.stderr
    );
}

/// A run that finds only junk appended to a log it already knows reports
/// the junk as malformed lines; it is not an unknown format (UNKNOWN), and
/// the next run goes on from after it.
#[test]
fn check_counts_appended_junk_as_malformed() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    let a = benign(21, 3600, 60);
    append(&log, a.as_bytes());
    let o = check(&state, &[&log], &["--from-start"]);
    assert_status(&o, 0, "OK");
    append(&log, b"garbage one\ngarbage two\n\x1b[31mgarbage three\n");
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("malformed"), 3, "{}", o.line());
    let b = benign(22, 7200, 20);
    append(&log, b.as_bytes());
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("lines"), nlines(&b), "{}", o.line());
    assert_eq!(o.perf("malformed"), 0, "{}", o.line());
}

/// A format named with `--format` that no line read this run is in: the
/// status stays OK (nothing was detected; an UNKNOWN would hide incidents
/// and stick while a log only gets junk) but the line says so, as `scan`
/// exits 3 for it. Right format, no such note.
#[test]
fn check_says_when_no_line_parsed_in_the_forced_format() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let a = benign(24, 3600, 60);
    append(&log, a.as_bytes());
    for (format, note) in [("alb", true), ("combined", false)] {
        let state = d.path().join(format!("{format}.state"));
        // With `-o json` there is no status line: stderr says it.
        let o = check(
            &state,
            &[&log],
            &["--from-start", "-o", "json", "--format", format],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stderr.contains("is --format right?"),
            note,
            "{}",
            o.stderr
        );
        std::fs::remove_file(&state).unwrap();
        let o = check(&state, &[&log], &["--from-start", "--format", format]);
        assert_status(&o, 0, "OK");
        let want = format!(
            "not one line read this run parsed as {format} ({} malformed; is --format right?)",
            nlines(&a)
        );
        assert_eq!(o.line().contains(&want), note, "{}", o.line());
        assert_eq!(o.stderr.contains(&want), note, "{}", o.stderr);
        assert_eq!(
            o.perf("parsed"),
            if note { 0 } else { nlines(&a) },
            "{}",
            o.line()
        );
    }
    // A log that parsed in an earlier run and only got junk in this one is
    // not in the wrong format: no note.
    let state = d.path().join("combined.state");
    append(&log, b"garbage one\ngarbage two\n");
    let o = check(&state, &[&log], &["--format", "combined"]);
    assert_status(&o, 0, "OK");
    assert_eq!(o.perf("malformed"), 2, "{}", o.line());
    assert!(!o.line().contains("--format right"), "{}", o.line());
    assert!(!o.stderr.contains("--format right"), "{}", o.stderr);
}

/// New lines of a log read before that open with more lines of another
/// kind than format detection looks at (an error log's, 1,500 of them) are
/// counted as malformed and read past in the same run: the attack after
/// them is reported now, not by the next run.
#[test]
fn check_reads_past_a_run_of_foreign_lines() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(&log, benign(23, 3600, 60).as_bytes());
    assert_status(&check(&state, &[&log], &["--from-start"]), 0, "OK");
    let errors: String = (0..1500)
        .map(|i| format!("2026/03/02 01:00:00 [error] 1#1: *{i} upstream timed out\n"))
        .collect();
    append(&log, errors.as_bytes());
    append(
        &log,
        enumeration("203.0.113.77", 7200, 5000, 300).as_bytes(),
    );
    let o = check(&state, &[&log], &[]);
    assert_status(&o, 2, "CRITICAL");
    assert!(o.line().contains("203.0.113.77"), "{}", o.line());
    assert_eq!(o.perf("malformed"), 1500, "{}", o.line());
    assert_eq!(o.perf("parsed"), 300, "{}", o.line());
}

/// A check that cannot see one of its logs is UNKNOWN, not OK: a log that is
/// gone, a directory named by mistake, a glob that matches nothing (a typo,
/// or a rotation scheme that changed). The readable log is still read.
#[test]
fn check_unknown_when_a_named_log_cannot_be_read() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, benign(6, 3600, 20).as_bytes());
    let dir = d.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let glob = d.path().join("nomatch*.log");
    let missing = d.path().join("gone.log");
    for (bad, says) in [
        (&dir, "is a directory"),
        (&glob, "no file matches"),
        (&missing, "does not exist"),
    ] {
        let state = d.path().join("s.state");
        let _ = std::fs::remove_file(&state);
        for run in 0..2 {
            let o = check(&state, &[&log, bad.as_path()], &["--from-start"]);
            assert_eq!(o.code, 3, "run {run}: {}\n{}", o.stdout, o.stderr);
            let l = o.line();
            assert!(l.starts_with("APIWATCH UNKNOWN - "), "{l}");
            assert!(l.contains(says), "{says}: {l}");
            if run == 0 {
                assert_eq!(o.perf("lines"), nlines(&benign(6, 3600, 20)), "{l}");
            }
        }
    }
}

/// Files that come and go between runs lose no lines and count none twice:
/// a node missing for a run, a node left out of the arguments once, a log
/// renamed away from under a glob, a file empty at the last run and then
/// written and rotated, and an over-long line still being written.
#[test]
fn check_keeps_its_place_in_files_that_come_and_go() {
    let d = tempfile::tempdir().unwrap();
    let (n1, n2) = (d.path().join("n1.log"), d.path().join("n2.log"));
    let state = d.path().join("s.state");
    let block = |seed: u64, n: u64| benign(seed, 3600 * (seed % 20 + 1), n);
    append(&n1, b"");
    append(&n2, b"");
    assert_status(&check(&state, &[&n1, &n2], &[]), 0, "OK");
    let (a, b) = (block(1, 30), block(2, 20));
    append(&n1, a.as_bytes());
    append(&n2, b.as_bytes());
    let o = check(&state, &[&n1, &n2], &[]);
    assert_eq!(o.perf("lines"), nlines(&a) + nlines(&b), "{}", o.line());

    // n2 moved away for a run (UNKNOWN), then back with more lines.
    let away = d.path().join("away");
    std::fs::rename(&n2, &away).unwrap();
    let o = check(&state, &[&n1, &n2], &[]);
    assert_status(&o, 3, "UNKNOWN");
    assert!(
        !o.stderr.contains("WARN"),
        "said once, as an error: {}",
        o.stderr
    );
    std::fs::rename(&away, &n2).unwrap();
    let c = block(3, 9);
    append(&n2, c.as_bytes());
    let o = check(&state, &[&n1, &n2], &[]);
    assert_eq!(
        o.perf("lines"),
        nlines(&c),
        "only the new lines: {}",
        o.line()
    );

    // n2 left out of one run, then named again.
    let e = block(4, 7);
    append(&n2, e.as_bytes());
    assert_eq!(check(&state, &[&n1], &[]).perf("lines"), 0);
    let o = check(&state, &[&n1, &n2], &[]);
    assert_eq!(o.perf("lines"), nlines(&e), "{}", o.line());

    // Through a glob: n2 renamed by a rotation without `create`; its
    // unread tail is in n2.log.1, which the glob does not match.
    let f = block(5, 11);
    append(&n2, f.as_bytes());
    std::fs::rename(&n2, d.path().join("n2.log.1")).unwrap();
    let glob = d.path().join("n*.log");
    let o = check(&state, &[&glob], &[]);
    assert_eq!(o.perf("lines"), nlines(&f), "{}", o.line());

    // Empty at the last run, then written and rotated before the next.
    let n3 = d.path().join("n3.log");
    append(&n3, b"");
    assert_eq!(check(&state, &[&n1, &n3], &[]).perf("lines"), 0);
    let g = block(6, 5);
    append(&n3, g.as_bytes());
    std::fs::rename(&n3, d.path().join("n3.log.1")).unwrap();
    append(&n3, b"");
    let o = check(&state, &[&n1, &n3], &[]);
    assert_eq!(o.perf("lines"), nlines(&g), "{}", o.line());

    // A line unfinished when its file was rotated is read with the
    // rotated copy (it will not be finished any more).
    let j = block(8, 3);
    append(&n3, j.as_bytes());
    append(
        &n3,
        b"203.0.113.9 - - [02/Mar/2026:05:00:00 +0000] \"GET /cut",
    );
    let o = check(&state, &[&n1, &n3], &[]);
    assert_eq!(
        o.perf("lines"),
        nlines(&j),
        "the unfinished line waits: {}",
        o.line()
    );
    std::fs::rename(&n3, d.path().join("n3.log.2")).unwrap();
    append(&n3, b"");
    let o = check(&state, &[&n1, &n3], &[]);
    assert_eq!(o.perf("lines"), 1, "then it is read: {}", o.line());

    // An over-long line still being written: one line, once complete.
    let long = "x".repeat(100_000);
    append(&n1, long.as_bytes());
    let o = check(&state, &[&n1], &["--stats"]);
    assert_eq!(o.perf("lines"), 0, "{}", o.line());
    append(&n1, b"x\n");
    let h = block(7, 4);
    append(&n1, h.as_bytes());
    let o = check(&state, &[&n1], &[]);
    assert_eq!(o.perf("lines"), nlines(&h) + 1, "{}", o.line());
    assert_eq!(o.perf("malformed"), 1, "{}", o.line());
}

/// `--stats` counts the incidents this run opened, as the status line
/// does, not every run's since the state file began.
#[test]
fn check_stats_count_this_runs_incidents() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    append(
        &log,
        enumeration("203.0.113.50", 3600, 5000, 200).as_bytes(),
    );
    let o = check(&state, &[&log], &["--from-start", "--stats"]);
    assert_alerting(&o);
    let opened = o.perf("opened");
    assert!(opened >= 1, "{}", o.line());
    assert!(
        o.stderr.contains(&format!("incidents opened: {opened}\n")),
        "{}",
        o.stderr
    );
    let o = check(&state, &[&log], &["--stats"]);
    assert_eq!(o.perf("opened"), 0, "{}", o.line());
    assert!(o.stderr.contains("incidents opened: 0\n"), "{}", o.stderr);
}
