//! One labelled day, three ways: `scan` in one go, `tail` following the
//! file as it is written (with a rename rotation and a copytruncate in the
//! middle), and `check` run after every chunk. They must report the same
//! incidents.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sim::{self, Format, SimConfig};
use crate::{Key, Rng, Running, apiwatch, append, json_lines, key};

/// What happens to the log, in order.
#[derive(Debug, Clone)]
enum Op {
    /// Append bytes `a..b` of the day.
    Append(usize, usize),
    /// logrotate `create`: FILE → FILE.1, a new FILE.
    Rename,
    /// logrotate `copytruncate`: copy FILE → FILE.2, truncate FILE.
    CopyTruncate,
    /// A `check` run happens here (a no-op for `tail`).
    Check,
}

/// Random chunk boundaries (mid-line, mostly), plus two rotations at line
/// boundaries about a third and two thirds through. No check runs between
/// the last append before a rotation and the rotation, so the next run has
/// to pick up the rest of the rotated file.
fn script(day: &[u8], seed: u64) -> Vec<Op> {
    let mut r = Rng::new(seed);
    let line_end = |at: usize| -> usize {
        at + day[at..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("a line end")
            + 1
    };
    let rename_at = line_end(day.len() * 35 / 100);
    let truncate_at = line_end(day.len() * 68 / 100);
    let mut cuts = BTreeSet::new();
    let mut at = 0;
    loop {
        at += r.range(150_000, 1_100_000) as usize;
        if at >= day.len() {
            break;
        }
        cuts.insert(at);
    }
    cuts.insert(rename_at);
    cuts.insert(truncate_at);
    cuts.insert(day.len());
    let mut ops = Vec::new();
    let mut start = 0;
    for c in cuts {
        ops.push(Op::Append(start, c));
        start = c;
        if c == rename_at {
            ops.push(Op::Rename);
        } else if c == truncate_at {
            ops.push(Op::CopyTruncate);
        } else {
            ops.push(Op::Check);
        }
    }
    ops
}

fn day() -> Vec<u8> {
    let t = Instant::now();
    let (events, _truth) = sim::generate(&SimConfig {
        users: 3000,
        ..Default::default()
    });
    let mut out = Vec::with_capacity(events.len() * 190);
    for e in &events {
        out.extend_from_slice(sim::render(e, Format::Combined).as_bytes());
        out.push(b'\n');
    }
    eprintln!(
        "(timing) day: {} lines, {} bytes in {:.2?}",
        events.len(),
        out.len(),
        t.elapsed()
    );
    out
}

fn split(v: &[Value]) -> (BTreeSet<Key>, BTreeSet<Key>) {
    let mut active = BTreeSet::new();
    let mut closed = BTreeSet::new();
    for a in v {
        match a["event"].as_str() {
            Some("opened") | Some("escalated") => active.insert(key(a)),
            Some("closed") => closed.insert(key(a)),
            other => panic!("unexpected event {other:?} in {a}"),
        };
    }
    (active, closed)
}

fn diff(name_a: &str, a: &BTreeSet<Key>, name_b: &str, b: &BTreeSet<Key>) -> String {
    let mut s = String::new();
    for k in a.difference(b) {
        s.push_str(&format!("  only in {name_a}: {k:?}\n"));
    }
    for k in b.difference(a) {
        s.push_str(&format!("  only in {name_b}: {k:?}\n"));
    }
    s
}

fn run_scan(dir: &Path, day: &[u8]) -> Vec<Value> {
    let t = Instant::now();
    let p = dir.join("whole.log");
    std::fs::write(&p, day).unwrap();
    let o = apiwatch()
        .args(["scan", "-o", "json"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "scan failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("(timing) scan: {:.2?}", t.elapsed());
    json_lines(&o.stdout)
}

fn truncate(p: &Path) {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(p)
        .unwrap();
}

fn run_tail(dir: &Path, day: &[u8], ops: &[Op]) -> Vec<Value> {
    let t = Instant::now();
    let log = dir.join("access.log");
    append(&log, b"");
    let log_s = log.to_str().unwrap();
    let mut tail = Running::spawn(&["tail", "-v", "-o", "json", "--poll", log_s]);
    // Started at the end of the (empty) file: only then write.
    tail.started();
    let mut r = Rng::new(7);
    for op in ops {
        match op {
            Op::Append(a, b) => {
                append(&log, &day[*a..*b]);
                std::thread::sleep(Duration::from_millis(r.range(5, 40)));
            }
            Op::Check => {}
            Op::Rename => {
                // The rest of the old file is read through the open handle,
                // whenever the follower notices: no need to wait.
                std::fs::rename(&log, dir.join("access.log.1")).unwrap();
                append(&log, b"");
            }
            Op::CopyTruncate => {
                // copytruncate loses whatever the follower had not read yet
                // (as with any tail): let it catch up first.
                tail.wait_read_all(&log, Duration::from_secs(20));
                std::fs::copy(&log, dir.join("access.log.2")).unwrap();
                truncate(&log);
                // It must see the file shrink before it grows again.
                tail.wait_err("was truncated", 1, Duration::from_secs(10));
            }
        }
    }
    tail.signal("TERM");
    let (code, _) = tail.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "tail exit; stderr:\n{}", tail.stderr_text());
    eprintln!("(timing) tail: {:.2?}", t.elapsed());
    tail.json()
}

fn run_check(dir: &Path, day: &[u8], ops: &[Op]) -> Vec<Value> {
    let t = Instant::now();
    let log = dir.join("access.log");
    let state_dir = dir.join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let state = state_dir.join("apiwatch.state");
    append(&log, b"");
    let mut all = Vec::new();
    let mut runs = 0;
    let mut slowest = Duration::ZERO;
    let mut once = |all: &mut Vec<Value>| {
        let t = Instant::now();
        let o = apiwatch()
            .args(["check", "-o", "json", "--state"])
            .arg(&state)
            .arg(&log)
            .output()
            .unwrap();
        slowest = slowest.max(t.elapsed());
        let code = o.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "check exit {code:?}; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        all.extend(json_lines(&o.stdout));
    };
    // First run on the empty file: records where it is.
    once(&mut all);
    runs += 1;
    assert!(all.is_empty(), "nothing to report yet: {all:?}");
    for op in ops {
        match op {
            Op::Append(a, b) => append(&log, &day[*a..*b]),
            Op::Check => {
                once(&mut all);
                runs += 1;
            }
            Op::Rename => {
                std::fs::rename(&log, dir.join("access.log.1")).unwrap();
                append(&log, b"");
            }
            Op::CopyTruncate => {
                std::fs::copy(&log, dir.join("access.log.2")).unwrap();
                truncate(&log);
            }
        }
    }
    eprintln!(
        "(timing) check: {runs} runs in {:.2?}, slowest {slowest:.2?}, state {} bytes",
        t.elapsed(),
        std::fs::metadata(&state).map_or(0, |m| m.len())
    );
    all
}

#[test]
fn three_modes_agree() {
    let day = day();
    let ops = script(&day, 42);
    assert!(
        ops.iter().filter(|o| matches!(o, Op::Check)).count() >= 20,
        "enough check runs: {ops:?}"
    );
    let d = tempfile::tempdir().unwrap();
    let (ds, dt, dc) = (
        d.path().join("scan"),
        d.path().join("tail"),
        d.path().join("check"),
    );
    for p in [&ds, &dt, &dc] {
        std::fs::create_dir(p).unwrap();
    }
    // tail runs on its own thread (it sleeps a lot) while scan and check run.
    let (tail_out, scan_out, check_out) = std::thread::scope(|s| {
        let h = s.spawn(|| run_tail(&dt, &day, &ops));
        let scan_out = run_scan(&ds, &day);
        let check_out = run_check(&dc, &day, &ops);
        (h.join().expect("tail driver"), scan_out, check_out)
    });
    let (scan_active, scan_closed) = split(&scan_out);
    let (tail_active, tail_closed) = split(&tail_out);
    let (check_active, check_closed) = split(&check_out);
    let ids: BTreeSet<&str> = scan_active.iter().map(|k| k.0.as_str()).collect();
    let raw = |v: &[Value]| v.iter().filter(|a| a["event"] != "closed").count();
    eprintln!(
        "scan: {} transitions ({} raw), {} incidents; tail: {} ({} raw); check: {} ({} raw)",
        scan_active.len(),
        raw(&scan_out),
        ids.len(),
        tail_active.len(),
        raw(&tail_out),
        check_active.len(),
        raw(&check_out)
    );
    assert!(
        ids.len() >= 5,
        "the day should hold several incidents, got {ids:?}"
    );
    assert!(
        scan_active == tail_active,
        "scan and tail disagree:\n{}",
        diff("scan", &scan_active, "tail", &tail_active)
    );
    assert!(
        scan_active == check_active,
        "scan and check disagree:\n{}",
        diff("scan", &scan_active, "check", &check_active)
    );
    // Closing: scan also closes what is open at end of input; tail and
    // check leave it open. Every close they report, scan reports too.
    assert!(
        tail_closed.is_subset(&scan_closed),
        "tail closed what scan did not:\n{}",
        diff("scan", &scan_closed, "tail", &tail_closed)
    );
    assert!(
        check_closed == tail_closed,
        "check and tail close differently:\n{}",
        diff("check", &check_closed, "tail", &tail_closed)
    );
    // Each incident opens exactly once in every mode.
    for (name, v) in [
        ("scan", &scan_out),
        ("tail", &tail_out),
        ("check", &check_out),
    ] {
        let mut seen = BTreeSet::new();
        for a in v.iter().filter(|a| a["event"] == "opened") {
            assert!(
                seen.insert(a["id"].as_str().unwrap().to_owned()),
                "{name} opened {} twice",
                a["id"]
            );
        }
    }
}

/// `scan` on one thread and on several prints byte-identical alerts: the
/// shards are fixed, threads only host them. The day is split over two
/// files (a rotated pair) so the pipeline is drained between inputs, and
/// one file is gzip so decompression runs alongside.
#[test]
fn scan_output_is_the_same_on_any_number_of_threads() {
    let day = day();
    let d = tempfile::tempdir().unwrap();
    let cut = day.len() / 2
        + day[day.len() / 2..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    let old = d.path().join("access.log.1.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&old).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, &day[..cut]).unwrap();
    gz.finish().unwrap();
    let cur = d.path().join("access.log");
    std::fs::write(&cur, &day[cut..]).unwrap();
    let run = |threads: &str| {
        let o = apiwatch()
            .args(["scan", "-o", "json", "--stats", "--threads", threads])
            .arg(&old)
            .arg(&cur)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).unwrap();
        // Everything but the summary line (which has timings).
        let alerts: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("\"type\":\"summary\""))
            .collect();
        alerts.join("\n")
    };
    let one = run("1");
    let opened = one.matches("\"event\":\"opened\"").count();
    assert!(
        opened >= 5,
        "the day should open several incidents, got {opened}"
    );
    for t in ["2", "3", "4"] {
        let other = run(t);
        assert!(
            other == one,
            "--threads {t} differs from --threads 1 ({} vs {} bytes)",
            other.len(),
            one.len()
        );
    }
}

/// Damaged lines are accounted for the same way on one thread and on
/// several (where worker threads parse JSON): the same counts, and the same
/// samples with the same line numbers, in line order. Blank, binary,
/// over-long (one among the lines the format is recognised from) and
/// unparsable lines are spread over a JSON file long enough to keep several
/// parse batches out at once; a CLF file (parsed on the reading thread) and
/// a file of no known format come between it and a cut-short gzip copy.
/// Batch sizes follow the memory ceiling; they must not change results
/// either.
#[test]
fn damaged_input_is_reported_the_same_on_any_number_of_threads() {
    let d = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    let start = 1_700_000_000_000u64;
    for i in 0..30_000u64 {
        text.extend_from_slice(
            format!(
                r#"{{"requestTimeEpoch":{},"ip":"203.0.113.9","httpMethod":"GET","path":"\/api\/v1\/customers\/{}","status":{},"userAgent":"python-requests/2.31.0"}}"#,
                start + i * 20,
                10_000 + i,
                if i % 9 == 0 { 404 } else { 200 }
            )
            .as_bytes(),
        );
        text.push(b'\n');
        match i % 9_973 {
            5 => text.extend_from_slice(&[b'x'; 5_000]),
            13 => text.extend_from_slice(b"   \n"),
            101 | 4_101 => text.extend_from_slice(b"{\"ip\":\"1.2.3.4\0\"}\n"),
            202 | 5_202 => text.extend_from_slice(format!("garbage line {i}\n").as_bytes()),
            _ => continue,
        }
        if i % 9_973 == 5 {
            text.push(b'\n');
        }
    }
    let json = d.path().join("a-json.log");
    std::fs::write(&json, &text).unwrap();
    let clf = d.path().join("b-clf.log");
    std::fs::write(&clf, crate::enumeration("198.51.100.7", 7_200, 50_000, 300)).unwrap();
    let junk = d.path().join("c-junk.log");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let gz = d.path().join("d-json.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &text).unwrap();
    let bytes = enc.finish().unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let run = |threads: &str| {
        let o = apiwatch()
            .args(["scan", "-o", "json", "--stats", "--max-line-bytes", "2000"])
            // The floor: the smallest batches between threads, so the most
            // batch boundaries.
            .args(["--max-memory", "32M"])
            .args(["--threads", threads])
            .args([&json, &clf, &junk, &gz])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(3),
            "a cut gzip file and an unknown format are input errors"
        );
        let mut v = json_lines(&o.stdout);
        let summary = v.pop().unwrap();
        let mut s = summary.as_object().unwrap().clone();
        for k in ["lines_per_sec", "mb_per_sec", "wall_secs"] {
            s.remove(k);
        }
        (v, Value::Object(s))
    };
    let (alerts, one) = run("1");
    assert!(!alerts.is_empty(), "the walk is reported");
    let by = &one["malformed_by_reason"];
    assert!(by.as_object().unwrap().len() >= 3, "{one}");
    for (kind, v) in by.as_object().unwrap() {
        let samples = v["samples"].as_array().unwrap();
        assert!(!samples.is_empty(), "{kind}: {one}");
        // "FILE:LINE: why: line", per file in line order.
        let at: Vec<(&str, u64)> = samples
            .iter()
            .map(|s| {
                let mut f = s.as_str().unwrap().split(':');
                (f.next().unwrap(), f.next().unwrap().parse().unwrap())
            })
            .collect();
        for w in at.windows(2) {
            assert!(w[0].0 != w[1].0 || w[0].1 < w[1].1, "{kind}: {at:?}");
        }
    }
    assert!(one["blank"].as_u64().unwrap() >= 4, "{one}");
    assert_eq!(one["formats"].as_array().unwrap().len(), 3, "{one}");
    for t in ["2", "3"] {
        let (a, s) = run(t);
        assert!(a == alerts, "--threads {t}: other alerts");
        assert_eq!(s, one, "--threads {t}: other statistics");
    }
}

/// A gzip file damaged mid-way (a run of 0xff: an invalid block, not just
/// wrong text) yields the same lines, alerts and error on any number of
/// threads, although on two the decoder runs on a thread of its own: flate2
/// drops what a call had inflated when the call meets the damage, so the
/// decoder is asked for the same amounts either way. Four copies damaged at
/// different places, each read alone (several would be merged by time).
#[test]
fn a_gzip_damaged_mid_way_reads_the_same_on_any_number_of_threads() {
    let d = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &day()).unwrap();
    let gz = enc.finish().unwrap();
    let mut invalid = 0;
    for k in 1..=4 {
        let p = d.path().join(format!("access-{k}.log.gz"));
        let mut bytes = gz.clone();
        let at = bytes.len() * k / 5;
        bytes[at..at + 64].fill(0xff);
        std::fs::write(&p, &bytes).unwrap();
        let run = |threads: &str| {
            let o = apiwatch()
                .args(["scan", "-o", "json", "--stats", "--threads", threads])
                .arg(&p)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(3), "a damaged file is an input error");
            let mut v = json_lines(&o.stdout);
            let mut summary = v.pop().unwrap();
            for key in ["lines_per_sec", "mb_per_sec", "wall_secs"] {
                summary.as_object_mut().unwrap().remove(key);
            }
            (v, summary)
        };
        let (alerts, one) = run("1");
        assert!(one["parsed"].as_u64().unwrap() > 0, "{one}");
        let error = one["input_errors"][0].as_str().unwrap();
        invalid += error.contains("corrupt deflate") as usize;
        for t in ["2", "3"] {
            let (a, s) = run(t);
            assert!(a == alerts, "damage at {k}/5, --threads {t}: other alerts");
            assert_eq!(s, one, "damage at {k}/5, --threads {t}: other statistics");
        }
    }
    assert!(invalid >= 1, "none of the copies has an invalid block");
}

/// Two gateway nodes behind a balancer, each with its own log. `check`,
/// run after every chunk of the day, merges the new lines of both in time
/// order as `scan` merges the whole files, so both report the same
/// incidents (read one node after the other, each run's lines would arrive
/// hours out of order and name other actors).
#[test]
fn check_merges_two_nodes_as_scan_does() {
    let day = day();
    let lines: Vec<&[u8]> = day
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.len() > 1)
        .collect();
    // The balancer: each line to one node, at random.
    let mut r = Rng::new(7);
    let node: Vec<usize> = lines.iter().map(|_| (r.next_u64() % 2) as usize).collect();
    // Chunks end where the second changes, so that a second's lines from
    // both nodes are read by the same check run (within a second, lines
    // come out node by node).
    let second = |l: &[u8]| l.splitn(5, |&b| b == b' ').nth(3).map(<[u8]>::to_vec);
    let mut cuts = Vec::new();
    let mut at = 0;
    loop {
        at += r.range(2_000, 6_000) as usize;
        while at < lines.len() && second(lines[at]) == second(lines[at - 1]) {
            at += 1;
        }
        if at >= lines.len() {
            break;
        }
        cuts.push(at);
    }
    cuts.push(lines.len());
    assert!(cuts.len() >= 5, "several check runs: {}", cuts.len());

    let d = tempfile::tempdir().unwrap();
    let logs = [
        d.path().join("node1-access.log"),
        d.path().join("node2-access.log"),
    ];
    let whole = d.path().join("whole");
    std::fs::create_dir(&whole).unwrap();
    let whole_logs = [
        whole.join("node1-access.log"),
        whole.join("node2-access.log"),
    ];
    for (i, l) in lines.iter().enumerate() {
        append(&whole_logs[node[i]], l);
    }
    for p in &logs {
        append(p, b"");
    }
    let o = apiwatch()
        .args(["scan", "-o", "json"])
        .args(&whole_logs)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let scan_out = json_lines(&o.stdout);

    let state = d.path().join("apiwatch.state");
    let mut check_out = Vec::new();
    let mut start = 0;
    // The first run records where the (empty) logs end.
    for end in std::iter::once(0).chain(cuts) {
        for i in start..end {
            append(&logs[node[i]], lines[i]);
        }
        start = end;
        let o = apiwatch()
            .args(["check", "-o", "json", "--state"])
            .arg(&state)
            .args(&logs)
            .output()
            .unwrap();
        assert!(
            matches!(o.status.code(), Some(0..=2)),
            "check: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_out.extend(json_lines(&o.stdout));
    }
    let (scan_active, _) = split(&scan_out);
    let (check_active, _) = split(&check_out);
    assert!(
        scan_active.len() >= 5,
        "the day holds several incidents: {scan_active:?}"
    );
    assert!(
        scan_active == check_active,
        "scan and check disagree on two nodes:\n{}",
        diff("scan", &scan_active, "check", &check_active)
    );
}
