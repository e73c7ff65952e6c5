//! The bundled sample log and the promises the README makes about it.

use crate::common::*;

fn sample() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs/access.log")
}

/// The README's first command finds the sample's two attacks: one address
/// enumerating device UUIDs and a distributed sweep of customer ids.
#[test]
fn sample_log_shows_both_attacks() {
    let r = scan_json([sample()]);
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    let alerts: Vec<_> = r
        .json_lines()
        .into_iter()
        .filter(|v| v.get("event").is_some())
        .collect();
    let opened = |d: &str| {
        alerts
            .iter()
            .filter(|a| a["event"] == "opened" && a["detector"] == d)
            .count()
    };
    assert_eq!(opened("enumeration"), 1);
    assert_eq!(opened("distributed_sweep"), 1);
    let sweep = alerts
        .iter()
        .rev()
        .find(|a| a["detector"] == "distributed_sweep")
        .unwrap();
    assert!(
        sweep["actor"].as_array().unwrap().len() >= 100,
        "the block list names most of the 121 addresses"
    );
}

/// An incident's closing alert tells how much the actor took in all, not
/// only the window that last fired: the sample's UUID walk made 2,463
/// lookups from 00:40:35 to 00:53:35, while its last window held 188.
#[test]
fn a_closing_alert_carries_the_whole_walk() {
    let r = scan_json([sample()]);
    let closed = r
        .json_lines()
        .into_iter()
        .find(|a| a["event"] == "closed" && a["detector"] == "enumeration")
        .expect("the walk's incident closes");
    let window = closed["requests"].as_u64().unwrap();
    let total = closed["since_flagged"]["requests"].as_u64().unwrap();
    let distinct = closed["since_flagged"]["distinct_objects"]
        .as_u64()
        .unwrap();
    assert!(window < 300, "the last window: {window}");
    // The last finding is at most a minute before the walk ended.
    assert!((2_000..=2_463).contains(&total), "since flagged: {total}");
    // Nearly every id of the walk is distinct (the sketch is within ~6%).
    assert!(
        distinct as f64 >= 0.85 * total as f64,
        "{distinct} of {total}"
    );
    // Address-crowd incidents have no one actor to total.
    assert!(
        r.json_lines()
            .iter()
            .filter(|a| a["detector"] == "distributed_sweep")
            .all(|a| a.get("since_flagged").is_none())
    );
}

/// Incident ids depend on what the incident is about, not on which lines
/// came first: a tail started in the middle of a file names the same ids
/// for the same actor. (A distributed sweep's id also carries where in the
/// id space it was first seen, which depends on where reading started.)
#[test]
fn incident_ids_do_not_depend_on_where_reading_started() {
    let ids = |r: &Run| -> Vec<String> {
        let mut v: Vec<String> = r
            .json_lines()
            .into_iter()
            .filter(|a| a["event"] == "opened" && a["actor_kind"] != "addresses")
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let whole = scan_json([sample()]);
    let text = std::fs::read_to_string(sample()).unwrap();
    let rest: String = text.lines().skip(400).map(|l| format!("{l}\n")).collect();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("rest.log");
    write(&p, rest.as_bytes());
    let part = scan_json([&p]);
    assert!(!ids(&whole).is_empty());
    assert_eq!(ids(&whole), ids(&part));
}

/// A closed stderr (`apiwatch scan x 2>&1 | true`): no panic (exit 101),
/// the exit code still tells what happened.
#[test]
fn a_closed_stderr_does_not_crash_the_run() {
    let sample = sample();
    let sample = sample.to_str().unwrap();
    let cases: [(&[&str], i32); 4] = [
        (&["scan", "no-such.log"], 3),
        (&["scan", "--max-memory", "1K", "x"], 2),
        (&["scan", "--stats", "-o", "text", sample], 0),
        (&["scan", "-v", sample], 0),
    ];
    for (args, code) in cases {
        let (read, write) = std::io::pipe().unwrap();
        drop(read);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_apiwatch"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(write)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

/// Bad arguments and bad configuration exit 2, as the README says.
#[test]
fn usage_errors_exit_2() {
    let r = run(apiwatch().args(["scan", "-f", "bogus"]).arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(r.stderr_str().contains("unknown format"));
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("c.toml");
    write(&cfg, b"[format]\nnmae = \"combined\"\n");
    let r = run(apiwatch()
        .args(["scan", "--config"])
        .arg(&cfg)
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(r.stderr_str().contains("nmae"), "{}", r.stderr_str());
    // A share written as a percentage would switch the signal off.
    for (table, key) in [
        ("credential_stuffing", "min_failure_ratio = 50"),
        ("enumeration", "probe_not_found_ratio = -3"),
        ("baseline", "percentile = 150.0"),
        ("baseline", "multiplier = -1.0"),
        // Nor may a ring or a quiet period switch a detector off.
        ("enumeration", "ring = 0"),
        ("slow_sweep", "quiet_secs = -100"),
    ] {
        write(&cfg, format!("[detectors.{table}]\n{key}\n").as_bytes());
        let r = run(apiwatch()
            .args(["scan", "--config"])
            .arg(&cfg)
            .arg(sample()));
        assert_eq!(r.code, 2, "{key}: {}", r.stderr_str());
        let name = key.split(' ').next().unwrap();
        assert!(r.stderr_str().contains(name), "{}", r.stderr_str());
    }
    // A route rule that can never match a template, and one that matched
    // no route seen (a typo): refused, and said.
    write(
        &cfg,
        b"[[routes]]\npath = \"api/v1/internal/*\"\nlookup = false\n",
    );
    let r = run(apiwatch()
        .args(["scan", "--config"])
        .arg(&cfg)
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("must start with /"),
        "{}",
        r.stderr_str()
    );
    for (path, said) in [("/api/v1/custmers/*", true), ("/api/v1/customers/*", false)] {
        write(
            &cfg,
            format!("[[routes]]\npath = \"{path}\"\nname = \"x\"\n").as_bytes(),
        );
        let r = run(apiwatch()
            .args(["scan", "-o", "json", "--config"])
            .arg(&cfg)
            .arg(sample()));
        assert_eq!(r.code, 0, "{}", r.stderr_str());
        let err = r.stderr_str();
        assert_eq!(
            err.contains("No route seen matched") && err.contains(path),
            said,
            "{err}"
        );
    }
    // A ceiling above the machine's memory (a G typed for an M): the
    // tables are sized from it at start.
    let r = run(apiwatch()
        .args(["scan", "--max-memory", "1000000G"])
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("more than this machine's memory"),
        "{}",
        r.stderr_str()
    );
    let r = run(apiwatch()
        .args(["scan", "--max-line-bytes", "2000000000"])
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("between 256 and 1073741824"),
        "{}",
        r.stderr_str()
    );
    // 0 is not "unlimited": it would skip every line.
    let r = run(apiwatch()
        .args(["scan", "--max-line-bytes", "0"])
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    let r = run(apiwatch()
        .args(["scan", "--max-line-bytes", "1X"])
        .arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(r.stderr_str().contains("bad size"), "{}", r.stderr_str());
}

/// The line cap takes sizes as `--max-memory` does, on the command line
/// and in the config file (a number or a string): a cap below a line's
/// length skips it, one above reads it.
#[test]
fn line_cap_takes_sizes() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("a.log");
    let line = "10.0.0.1 - - [02/Mar/2026:00:00:03 +0000] \"GET /x HTTP/1.1\" 200 5 \"-\" \"t\"\n";
    let long = format!(
        "10.0.0.1 - - [02/Mar/2026:00:00:04 +0000] \"GET /{} HTTP/1.1\" 200 5 \"-\" \"t\"\n",
        "a".repeat(2000)
    );
    write(&log, format!("{line}{long}{line}").as_bytes());
    let malformed = |args: &[&str], config: Option<&str>| {
        let mut c = apiwatch();
        c.args(["scan", "--stats", "-o", "json", "--format", "combined"])
            .args(args);
        if let Some(text) = config {
            let p = d.path().join("c.toml");
            write(&p, text.as_bytes());
            c.arg("--config").arg(p);
        }
        let r = run(c.arg(&log));
        assert_eq!(r.code, 0, "{args:?} {config:?}: {}", r.stderr_str());
        let summary: serde_json::Value =
            serde_json::from_str(r.stdout_str().lines().last().unwrap()).unwrap();
        summary["malformed"].as_u64().unwrap()
    };
    assert_eq!(malformed(&["--max-line-bytes", "1K"], None), 1);
    assert_eq!(malformed(&["--max-line-bytes", "4K"], None), 0);
    assert_eq!(malformed(&["--max-line-bytes", "1024"], None), 1);
    assert_eq!(
        malformed(&[], Some("[format]\nmax_line_bytes = \"1K\"\n")),
        1
    );
    assert_eq!(malformed(&[], Some("[format]\nmax_line_bytes = 4096\n")), 0);
    // A negative or non-numeric value is a configuration error that says
    // what is wanted.
    let p = d.path().join("bad.toml");
    write(&p, b"[format]\nmax_line_bytes = -5\n");
    let r = run(apiwatch().arg("scan").arg("--config").arg(&p).arg(&log));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(
        r.stderr_str()
            .contains("expected a number of bytes or a size"),
        "{}",
        r.stderr_str()
    );
    // The command line wins over the file.
    assert_eq!(
        malformed(
            &["--max-line-bytes", "4k"],
            Some("[format]\nmax_line_bytes = \"1K\"\n")
        ),
        0
    );
}

/// `check` runs under Nagios, which reads exit 2 as CRITICAL: its argument
/// errors are UNKNOWN (3) with a status line; other commands keep 2.
/// `check`'s status line names the incidents this run spoke of, and says
/// how many more are still open (they count towards its exit code).
#[test]
fn check_says_how_many_quiet_incidents_are_still_open() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("access.log");
    let state = d.path().join("s.state");
    let text = std::fs::read_to_string(sample()).unwrap();
    let head: String = text.lines().take(3000).map(|l| format!("{l}\n")).collect();
    write(&log, head.as_bytes());
    let check = || {
        run(apiwatch()
            .args(["check", "--from-start", "--state"])
            .arg(&state)
            .arg(&log))
    };
    let first = check();
    assert!(
        first.stdout_str().contains("2 incidents: "),
        "{}",
        first.stdout_str()
    );
    write(&log, text.as_bytes());
    let second = check();
    let out = second.stdout_str();
    assert_eq!(second.code, 2, "{out}");
    // The walk said nothing more in the new lines; the sweep did.
    assert!(
        out.starts_with("APIWATCH CRITICAL - 1 incident: distributed_sweep")
            && out.contains("; 1 more still open |"),
        "{out}"
    );
}

/// A setting in error is named as the user wrote it (the config file's
/// key, not a flag they did not give), and a TOML error fits `check`'s one
/// status line, with its position.
#[test]
fn config_errors_name_the_setting_and_fit_one_line() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("c.toml");
    write(&cfg, b"[limits]\nmax_memory = \"1K\"\n");
    let r = run(apiwatch().arg("scan").arg("-c").arg(&cfg).arg(sample()));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr_str()
            .contains("[limits] max_memory must be at least 32M"),
        "{}",
        r.stderr_str()
    );
    write(&cfg, b"# tuning\n[detectors.enumeration]\nwindows = 5\n");
    let state = d.path().join("s.state");
    let r = run(apiwatch()
        .arg("check")
        .arg("--state")
        .arg(&state)
        .arg("-c")
        .arg(&cfg)
        .arg(sample()));
    assert_eq!(r.code, 3);
    let out = r.stdout_str();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("(line 3, column 11): invalid type"), "{out}");
    assert!(!out.contains('^'), "no caret diagram: {out}");
}

#[test]
fn check_argument_errors_are_unknown_for_nagios() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("s.state");
    for (args, names) in [
        (
            vec!["check".to_owned(), sample().display().to_string()],
            "--state",
        ),
        (
            vec![
                "check".to_owned(),
                "--bogus".to_owned(),
                "--state".to_owned(),
                state.display().to_string(),
                sample().display().to_string(),
            ],
            "--bogus",
        ),
    ] {
        let r = run(apiwatch().args(&args));
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr_str());
        let out = r.stdout_str();
        assert!(
            out.starts_with("APIWATCH UNKNOWN - invalid arguments: ") && out.contains(names),
            "{args:?}: {out}"
        );
        assert_eq!(out.lines().count(), 1, "{out}");
    }
    let r = run(apiwatch().args(["scan", "--bogus"]).arg(sample()));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(r.stdout.is_empty());
    let r = run(apiwatch().args(["check", "--help"]));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
}

/// `--threads` is accepted by every command (it is a common option) but
/// only `scan` uses it: the others say so on stderr, and still run.
#[test]
fn threads_outside_scan_is_reported_not_silently_ignored() {
    let d = tempfile::tempdir().unwrap();
    let r = run(apiwatch()
        .args(["check", "--from-start", "--threads", "2", "--state"])
        .arg(d.path().join("s.state"))
        .arg(sample()));
    assert!(matches!(r.code, 0..=2), "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("--threads only applies to `scan`"),
        "{}",
        r.stderr_str()
    );
    let r = run(apiwatch().args(["scan", "--threads", "2"]).arg(sample()));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert!(
        !r.stderr_str().contains("only applies"),
        "{}",
        r.stderr_str()
    );
}

#[test]
fn a_ceiling_below_the_default_says_what_it_costs() {
    let r = run(apiwatch()
        .args(["scan", "--max-memory", "64M", "-o", "json"])
        .arg(sample()));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    let err = r.stderr_str();
    assert!(
        err.contains("--max-memory 64 MB is below the default 256M")
            && err.contains("1228 tracked actors per detector instead of 4915"),
        "{err}"
    );
    let default = run(apiwatch().args(["scan", "-o", "json"]).arg(sample()));
    assert!(
        !default.stderr_str().contains("below the default"),
        "{}",
        default.stderr_str()
    );
    // The warning goes to stderr only; the sample's incidents are still
    // reported on stdout.
    assert_eq!(r.stdout, default.stdout);
}

/// An enumeration alert about an address with several user agents behind
/// it (a carrier NAT address, an office) does not advise blocking it
/// outright; one about a single client does.
#[test]
fn advice_for_a_shared_address_is_not_to_block_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    let mut lines = String::new();
    for k in 0..200u64 {
        let (m, s) = (k / 60, k % 60);
        for (ip, uas) in [("203.0.113.7", 6), ("198.51.100.9", 1)] {
            let id = 1_000_000 + k * 997 + if uas == 1 { 500 } else { 0 };
            lines += &format!(
                "{ip} - - [02/Mar/2026:10:{m:02}:{s:02} +0000] \"GET /api/v1/customers/{id} HTTP/1.1\" 200 512 \"-\" \"app/{}\"\n",
                k % uas
            );
        }
    }
    std::fs::write(&log, lines).expect("write log");
    let r = scan_json([&log]);
    let alerts = r.json_lines();
    let summary = |ip: &str| -> String {
        let a = alerts
            .iter()
            .find(|a| a["detector"] == "enumeration" && a["actor"][0] == ip)
            .unwrap_or_else(|| panic!("no enumeration alert for {ip}: {alerts:?}"));
        a["summary"].as_str().expect("summary").to_owned()
    };
    let shared = summary("203.0.113.7");
    assert!(shared.contains("several user agents"), "{shared}");
    assert!(!shared.contains("block or throttle it"), "{shared}");
    let single = summary("198.51.100.9");
    assert!(single.contains("block or throttle it"), "{single}");
}
