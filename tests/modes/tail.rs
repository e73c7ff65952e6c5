//! `apiwatch tail` as a long-running process: prompt alerts, files that
//! appear later (by name or by glob), rotation, signals, and an idle CPU.

use std::time::{Duration, Instant};

use crate::{Running, append, benign, combined, enumeration, serial};

fn opened_by(ip: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.contains("\"event\":\"opened\"") && l.contains(ip)
}

/// The `--stats -o json` summary line a stopped run printed, as text and
/// parsed.
fn summary(t: &Running) -> (String, serde_json::Value) {
    let line = t
        .out
        .lock()
        .unwrap()
        .iter()
        .map(|(_, l)| l.clone())
        .find(|l| l.contains("\"lines\""))
        .expect("summary line");
    let v = serde_json::from_str(&line).unwrap();
    (line, v)
}

fn stop(t: &mut Running, sig: &str) -> Duration {
    t.signal(sig);
    let (code, took) = t.wait(Duration::from_secs(10));
    assert_eq!(
        code,
        Some(0),
        "exit after SIG{sig}; stderr:\n{}",
        t.stderr_text()
    );
    took
}

#[test]
fn tail_alerts_within_a_second_and_stops_on_sigterm() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    // History (an attack included) is not replayed: tail starts at the end.
    append(&log, benign(1, 3600, 50).as_bytes());
    append(&log, enumeration("203.0.113.1", 3700, 1000, 300).as_bytes());
    let mut t = Running::spawn(&["tail", "-v", "-o", "json", log.to_str().unwrap()]);
    t.started();

    for (i, ip) in ["203.0.113.2", "203.0.113.3"].into_iter().enumerate() {
        let start = 4000 + i as u64 * 600;
        append(&log, benign(10 + i as u64, start, 20).as_bytes());
        let t0 = Instant::now();
        append(
            &log,
            enumeration(ip, start + 60, 10_000 * (i as u64 + 1), 300).as_bytes(),
        );
        let (at, _) = t
            .wait_out(opened_by(ip), Duration::from_secs(5))
            .unwrap_or_else(|| {
                panic!("no alert for {ip} within 5 s; stderr:\n{}", t.stderr_text())
            });
        let latency = at.duration_since(t0);
        eprintln!("(timing) alert latency {latency:.2?}");
        assert!(
            latency < Duration::from_millis(1500),
            "alert for {ip} took {latency:?}"
        );
        // Idle for a while before the next one.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let took = stop(&mut t, "TERM");
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
    let alerts = t.json();
    assert!(
        !alerts.iter().any(|a| a["actor"][0] == "203.0.113.1"),
        "history replayed: {alerts:?}"
    );
    assert!(
        !alerts.iter().any(|a| a["event"] == "closed"),
        "tail does not close incidents when it stops: {alerts:?}"
    );
}

#[test]
fn tail_picks_up_a_file_created_later() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("later.log");
    let mut t = Running::spawn(&["tail", "-v", "-o", "json", log.to_str().unwrap()]);
    t.started();
    append(
        &log,
        enumeration("203.0.113.20", 3600, 1000, 300).as_bytes(),
    );
    assert!(
        t.wait_out(opened_by("203.0.113.20"), Duration::from_secs(4))
            .is_some(),
        "a file that appeared is read from its start; stderr:\n{}",
        t.stderr_text()
    );
    stop(&mut t, "INT");
}

#[test]
fn tail_glob_picks_up_new_files() {
    let d = tempfile::tempdir().unwrap();
    append(&d.path().join("a.log"), benign(2, 3600, 10).as_bytes());
    let pat = format!("{}/*.log", d.path().display());
    let mut t = Running::spawn(&["tail", "-v", "-o", "json", &pat]);
    // a.log is followed: the first expansion is done.
    t.wait_err("Following.", 1, Duration::from_secs(10));
    let t0 = Instant::now();
    append(
        &d.path().join("b.log"),
        enumeration("203.0.113.30", 3600, 1000, 300).as_bytes(),
    );
    let got = t.wait_out(opened_by("203.0.113.30"), Duration::from_secs(10));
    assert!(
        got.is_some(),
        "b.log (created after start) is picked up by the glob; stderr:\n{}",
        t.stderr_text()
    );
    let took = got.unwrap().0.duration_since(t0);
    eprintln!("(timing) glob pick-up {took:.2?}");
    // Re-globbed every 2 s; the margin is for a loaded CI machine (the
    // suite's other tests run beside this one on two cores).
    assert!(took < Duration::from_secs(6), "re-glob every 2 s: {took:?}");
    assert_eq!(t.err_count("Following."), 2, "{}", t.stderr_text());
    stop(&mut t, "TERM");
}

/// A glob wide enough to match rotated copies (`z.log*`): the copy renamed
/// away is read through the live name's handle, not followed again from its
/// start, and a compressed one is not read as text. Stdin, a directory and
/// a compressed file named are refused at once, not waited on; a file or
/// glob not there yet is waited for, with a warning.
#[test]
fn tail_glob_skips_rotated_and_compressed_copies() {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("z.log");
    append(&live, benign(5, 3600, 10).as_bytes());
    let pat = format!("{}/z.log*", d.path().display());
    let mut t = Running::spawn(&["tail", "-v", "--stats", "-o", "json", &pat]);
    t.wait_err("Following.", 1, Duration::from_secs(10));
    let body = benign(6, 3700, 20);
    append(&live, body.as_bytes());
    std::fs::rename(&live, d.path().join("z.log.1")).unwrap();
    let after = benign(7, 3800, 20);
    append(&live, after.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, benign(8, 3900, 20).as_bytes()).unwrap();
    std::fs::write(d.path().join("z.log.2.gz"), gz.finish().unwrap()).unwrap();
    // Two rescans (every 2 s) see z.log.1 and z.log.2.gz.
    t.wait_err("Not following", 2, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    stop(&mut t, "TERM");
    let (summary, v) = summary(&t);
    let n = |s: &str| s.lines().count() as u64;
    assert_eq!(
        v["lines"].as_u64(),
        Some(n(&body) + n(&after)),
        "each appended line read once: {summary}\n{}",
        t.stderr_text()
    );
    assert_eq!(t.err_count("Following."), 1, "{}", t.stderr_text());

    let gz = d.path().join("z.log.2.gz");
    let xz = d.path().join("old.log.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00\x00\x04").unwrap();
    for (arg, says) in [
        ("-", "not stdin"),
        (d.path().to_str().unwrap(), "is a directory"),
        (gz.to_str().unwrap(), "is compressed"),
        (xz.to_str().unwrap(), "is compressed"),
    ] {
        let mut t = Running::spawn(&["tail", arg]);
        let (code, _) = t.wait(Duration::from_secs(10));
        assert_eq!(code, Some(2), "{arg}: {}", t.stderr_text());
        assert!(t.stderr_text().contains(says), "{}", t.stderr_text());
    }

    // A file or glob not there yet is waited for, and said to be.
    let missing = d.path().join("later.log");
    let none = format!("{}/none*.log", d.path().display());
    let mut t = Running::spawn(&["tail", missing.to_str().unwrap(), &none]);
    t.wait_err("waiting for it to appear", 2, Duration::from_secs(10));
    stop(&mut t, "TERM");
}

/// A followed file in no known format: said once (not every 40 lines),
/// every line counted, as malformed, and the run ends with exit 3.
#[test]
fn tail_says_once_that_a_file_is_not_recognised() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("nums.log");
    // CRLF line ends: the bytes counted are the bytes read, ends and all.
    let nums: String = (1..=1000).map(|i| format!("{i}\r\n")).collect();
    append(&log, nums.as_bytes());
    let args = ["tail", "--from-start", "--stats", "-o", "json"];
    let mut t = Running::spawn(&[&args[..], &[log.to_str().unwrap()]].concat());
    t.wait_err("recognise", 1, Duration::from_secs(10));
    append(&log, nums.as_bytes());
    std::thread::sleep(Duration::from_millis(1500));
    t.signal("TERM");
    // As `scan`: an input that could not be read in full is exit 3.
    assert_eq!(t.wait(Duration::from_secs(10)).0, Some(3));
    assert_eq!(t.err_count("recognise"), 1, "{}", t.stderr_text());
    let (summary, v) = summary(&t);
    assert_eq!(v["lines"].as_u64(), Some(2000), "{summary}");
    assert_eq!(v["malformed"].as_u64(), Some(2000), "{summary}");
    assert_eq!(
        v["bytes"].as_u64(),
        Some(2 * nums.len() as u64),
        "{summary}"
    );
    assert_eq!(v["input_errors"].as_array().map(Vec::len), Some(1));
}

/// A format named with `--format` that the file's first lines are not in:
/// said once (after forty of them), and the file still followed (exit 0 on
/// SIGTERM, as its lines may yet parse); with the right format, nothing
/// said, not even when following begins with a stray line.
#[test]
fn tail_says_when_the_forced_format_parses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, benign(31, 3600, 30).as_bytes());
    for (format, said) in [("alb", 1), ("combined", 0)] {
        let args = [
            "tail",
            "--from-start",
            "--stats",
            "-o",
            "json",
            "--format",
            format,
        ];
        let mut t = Running::spawn(&[&args[..], &[log.to_str().unwrap()]].concat());
        if said > 0 {
            t.wait_err("is --format right?", 1, Duration::from_secs(10));
        } else {
            std::thread::sleep(Duration::from_millis(1500));
        }
        stop(&mut t, "TERM");
        assert_eq!(
            t.err_count("is --format right?"),
            said,
            "{}",
            t.stderr_text()
        );
        let (summary, v) = summary(&t);
        assert_eq!(v["parsed"].as_u64() == Some(0), said > 0, "{summary}");
    }
    // Following from the end, a stray line first (the rest of one being
    // written, say), then lines in the format: nothing said.
    let args = ["tail", "--stats", "-o", "json", "--format", "combined"];
    let mut t = Running::spawn(&[&args[..], &[log.to_str().unwrap()]].concat());
    t.wait_err("Following", 1, Duration::from_secs(10));
    append(&log, b"junk A\n");
    std::thread::sleep(Duration::from_millis(700));
    append(&log, benign(32, 7200, 5).as_bytes());
    std::thread::sleep(Duration::from_millis(1000));
    stop(&mut t, "TERM");
    assert_eq!(t.err_count("is --format right?"), 0, "{}", t.stderr_text());
    let (summary, v) = summary(&t);
    assert_eq!(v["malformed"].as_u64(), Some(1), "{summary}");
}

/// Rename rotation (the rest of the old file is read first), then delete and
/// recreate, with notifications (no --poll): every line counted once.
#[test]
fn tail_survives_rename_and_recreate() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, benign(3, 3600, 30).as_bytes());
    let mut t = Running::spawn(&["tail", "-v", "--stats", "-o", "json", log.to_str().unwrap()]);
    t.started();
    let mut expect = 0;
    let mut add = |p: &std::path::Path, s: String| {
        expect += s.lines().count() as u64;
        append(p, s.as_bytes());
    };
    add(&log, benign(4, 4000, 5));
    std::thread::sleep(Duration::from_millis(300));
    // Written just before the rename: still unread when the follower
    // notices the rename.
    add(&log, benign(5, 4400, 4));
    std::fs::rename(&log, d.path().join("access.log.1")).unwrap();
    add(&log, benign(7, 5200, 2));
    // "rotated" or, if it looked between the rename and the new file,
    // "appeared".
    t.wait_err("was rotated|appeared", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&log).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    add(&log, enumeration("203.0.113.40", 5600, 1000, 300));
    assert!(
        t.wait_out(opened_by("203.0.113.40"), Duration::from_secs(5))
            .is_some(),
        "the recreated file is followed; stderr:\n{}",
        t.stderr_text()
    );
    stop(&mut t, "TERM");
    let out = t.json();
    let summary = out.last().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(summary["lines"], expect, "every line once: {summary}");
}

/// logrotate `create` + nginx: after the rename and the new file, the server
/// keeps writing to the renamed file until its postrotate USR1 makes it
/// reopen. Those lines are in access.log.1 and must not be lost.
#[test]
fn tail_reads_late_writes_to_a_renamed_file() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let old = d.path().join("access.log.1");
    append(&log, b"");
    let mut t = Running::spawn(&["tail", "-v", "--stats", "-o", "json", log.to_str().unwrap()]);
    t.started();
    let a = benign(4, 4000, 5);
    append(&log, a.as_bytes());
    // logrotate: rename, create.
    std::fs::rename(&log, &old).unwrap();
    append(&log, b"");
    t.wait_err("was rotated|appeared", 1, Duration::from_secs(5));
    // nginx has not reopened yet: it writes an attack to the old file...
    append(
        &old,
        enumeration("203.0.113.41", 4400, 1000, 300).as_bytes(),
    );
    std::thread::sleep(Duration::from_millis(500));
    // ...then reopens and writes to the new one.
    let b = benign(5, 4600, 4);
    append(&log, b.as_bytes());
    std::thread::sleep(Duration::from_millis(1500));
    stop(&mut t, "TERM");
    let out = t.json();
    let summary = out.last().expect("a summary line");
    assert_eq!(
        summary["lines"],
        (a.lines().count() + 300 + b.lines().count()) as u64,
        "every line of access.log.1 and access.log: {summary}"
    );
    assert!(
        out.iter().any(|x| x["actor"][0] == "203.0.113.41"),
        "the attack written to the renamed file is seen"
    );
}

#[test]
fn tail_reads_what_is_there_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, b"");
    let mut t = Running::spawn(&["tail", "-v", "-o", "json", "--poll", log.to_str().unwrap()]);
    t.started();
    append(
        &log,
        enumeration("203.0.113.60", 3600, 1000, 300).as_bytes(),
    );
    t.signal("TERM");
    let (code, took) = t.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        t.json().iter().any(|a| a["actor"][0] == "203.0.113.60"),
        "lines written just before SIGTERM are processed"
    );
}

/// SIGINT while the backlog is still being read (`--from-start` over a
/// large file) stops the run as it does later: the backlog is read, the
/// summary printed, exit 0. It was left to its default action (killed, no
/// summary) until the first pass was over.
#[test]
fn tail_stops_cleanly_on_sigint_while_reading_its_backlog() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let day = benign(3, 3600, 2000);
    let mut lines = 0;
    while lines < 400_000 {
        append(&log, day.as_bytes());
        lines += day.lines().count();
    }
    let mut t = Running::spawn(&[
        "tail",
        "--from-start",
        "--stats",
        "-o",
        "json",
        "--poll",
        log.to_str().unwrap(),
    ]);
    t.wait_err("Following.", 1, Duration::from_secs(10));
    stop(&mut t, "INT");
    let (_, s) = summary(&t);
    assert_eq!(s["lines"], lines, "the backlog is read in full: {s}");
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks as f64 / hz
}

#[test]
fn tail_is_idle_when_nothing_happens() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    append(&log, benign(8, 3600, 200).as_bytes());
    let mut a = Running::spawn(&["tail", "-v", "-o", "json", log.to_str().unwrap()]);
    let mut b = Running::spawn(&["tail", "-v", "-o", "json", "--poll", log.to_str().unwrap()]);
    a.wait_err("Following.", 1, Duration::from_secs(10));
    b.wait_err("Following.", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let (ca, cb) = (cpu_secs(a.pid()), cpu_secs(b.pid()));
    eprintln!("(timing) idle CPU over 3 s: notify {ca:.2} s, poll {cb:.2} s");
    assert!(ca < 0.2, "idle tail used {ca} s of CPU in 3 s");
    assert!(cb < 0.2, "idle tail --poll used {cb} s of CPU in 3 s");
    stop(&mut a, "TERM");
    stop(&mut b, "TERM");
}

/// A log that falls silent does not hold its incidents open: once event
/// time has stood still on the wall clock for the grace period plus an
/// incident's quiet period, tail closes it (here with no grace and a
/// 2-second quiet period, so the test need not wait minutes).
#[test]
fn tail_closes_incidents_when_the_log_falls_silent() {
    let _g = serial();
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let cfg = d.path().join("apiwatch.toml");
    std::fs::write(
        &cfg,
        "[live]\nsilence_grace_secs = 0\n[detectors.enumeration]\nquiet_secs = 2\n",
    )
    .unwrap();
    append(&log, benign(1, 3600, 20).as_bytes());
    let mut t = Running::spawn(&[
        "tail",
        "-v",
        "-o",
        "json",
        "-c",
        cfg.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    t.started();
    // A burst within one second: event time stops where the incident
    // opened, so only the wall clock can see its quiet period pass.
    let ip = "203.0.113.60";
    let burst: String = (0..80)
        .map(|i| {
            combined(
                ip,
                3700,
                &format!("/api/v1/customers/{}", 1000 + i),
                200,
                "curl/8.5",
            )
        })
        .collect();
    append(&log, burst.as_bytes());
    t.wait_out(opened_by(ip), Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no alert for {ip}; stderr:\n{}", t.stderr_text()));
    // No more lines: every enumeration incident opened must close.
    let ids = |event: &str| -> Vec<String> {
        let mut v: Vec<String> = t
            .json()
            .iter()
            .filter(|a| a["event"] == event && a["detector"] == "enumeration")
            .map(|a| a["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids("closed") != ids("opened") {
        assert!(
            Instant::now() < deadline,
            "opened {:?} but closed only {:?}; stderr:\n{}",
            ids("opened"),
            ids("closed"),
            t.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(&mut t, "TERM");
}
