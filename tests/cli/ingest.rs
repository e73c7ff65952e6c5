//! The ingest foundation end to end through the binary: `scan --stats -o
//! json` and its summary line (lines, parsed, blank, malformed by reason,
//! formats in processing order, input errors) for gzip, rotated sets, stdin,
//! hostile bytes and format selection.

use serde_json::Value;
use tempfile::TempDir;

use crate::common::*;

fn tmp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn path_str(p: &std::path::Path) -> String {
    p.to_str().expect("utf-8 temp path").to_owned()
}

fn assert_clean_run(r: &Run, s: &Value) {
    assert_no_panic(r);
    assert_eq!(r.code, 0, "exit status; stderr:\n{}", r.stderr_str());
    assert_eq!(
        s["input_errors"],
        serde_json::json!([]),
        "no input errors expected: {s}"
    );
}

// ------------------------------------------------------------------ gzip

#[test]
fn gzip_is_recognised_by_magic_bytes_not_by_name() {
    let d = tmp();
    let body = combined_lines(30, 0);
    let gz_named_log = d.path().join("x.log");
    let plain_named_gz = d.path().join("y.gz");
    write(&gz_named_log, &gzip(body.as_bytes()));
    write(&plain_named_gz, body.as_bytes());
    for p in [&gz_named_log, &plain_named_gz] {
        let r = scan_json([p]);
        let s = r.summary();
        assert_clean_run(&r, &s);
        assert_eq!(count(&s, "lines"), 30, "{}: {s}", p.display());
        assert_eq!(count(&s, "parsed"), 30, "{}: {s}", p.display());
        assert_eq!(count(&s, "malformed"), 0, "{}: {s}", p.display());
        assert_eq!(
            count(&s, "bytes"),
            body.len() as u64,
            "{}: bytes are decompressed bytes",
            p.display()
        );
    }
}

/// `--stats` bytes are the bytes read: CRLF line ends, a byte-order mark,
/// blank lines and an unterminated last line counted as written, plain or
/// gzip, on one thread or two; `check` counts what each run read.
#[test]
fn stats_bytes_are_the_bytes_read_whatever_the_line_ends() {
    let d = tmp();
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(combined_lines(20, 0).replace('\n', "\r\n").as_bytes());
    body.extend_from_slice(b"\r\n  \n");
    body.extend_from_slice(combined_lines(3, 50).trim_end().as_bytes());
    let plain = d.path().join("crlf.log");
    let gz = d.path().join("crlf.log.gz");
    write(&plain, &body);
    write(&gz, &gzip(&body));
    for p in [&plain, &gz] {
        for threads in ["1", "2"] {
            let r = scan_json([p.as_os_str(), "--threads".as_ref(), threads.as_ref()]);
            let s = r.summary();
            assert_clean_run(&r, &s);
            assert_eq!(count(&s, "parsed"), 23, "{}: {s}", p.display());
            assert_eq!(
                count(&s, "bytes"),
                body.len() as u64,
                "{}: {s}",
                p.display()
            );
        }
    }
    let state = d.path().join("state.json");
    let check = |from_start: bool| {
        let mut cmd = apiwatch();
        cmd.args(["check", "--stats", "-o", "json", "--state"])
            .arg(&state);
        if from_start {
            cmd.arg("--from-start");
        }
        let r = run(cmd.arg(&plain));
        r.summary()
    };
    // The file is live: its unterminated last line waits for the next run.
    let last = body.len() - body.iter().rposition(|&b| b == b'\n').unwrap() - 1;
    assert_eq!(count(&check(true), "bytes"), (body.len() - last) as u64);
    let more = combined_lines(2, 60).replace('\n', "\r\n");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&plain)
        .unwrap();
    std::io::Write::write_all(&mut f, format!("\r\n{more}").as_bytes()).unwrap();
    assert_eq!(
        count(&check(false), "bytes"),
        (last + 2 + more.len()) as u64
    );
}

/// Also with the zero padding block tools leave after the last member,
/// which `gzip -d` reads as the end, not as damage.
#[test]
fn concatenated_gzip_members_are_read_as_one_stream() {
    let d = tmp();
    let a = combined_lines(40, 0);
    let b = combined_lines(25, 100);
    let mut both = gzip(a.as_bytes());
    both.extend(gzip(b.as_bytes()));
    let padded = [both.clone(), vec![0; 512]].concat();
    for (name, data) in [("both.log.gz", both), ("padded.log.gz", padded)] {
        let p = d.path().join(name);
        write(&p, &data);
        let r = scan_json([&p]);
        let s = r.summary();
        assert_clean_run(&r, &s);
        assert_eq!(count(&s, "lines"), 65, "both members counted: {s}");
        assert_eq!(count(&s, "parsed"), 65, "{s}");
    }
}

/// 2000 combined lines, gzipped.
fn big_gzip() -> Vec<u8> {
    gzip(combined_lines(2000, 0).as_bytes())
}

/// A damaged gzip: exit 3, stderr names the file and the offset, the lines
/// before the damage are counted, nothing panics.
fn assert_damaged_gzip_reported(name: &str, data: &[u8]) {
    let d = tmp();
    let p = d.path().join(name);
    write(&p, data);
    let r = scan_json([&p]);
    assert_no_panic(&r);
    assert_eq!(
        r.code,
        3,
        "damaged gzip must exit 3; stderr:\n{}",
        r.stderr_str()
    );
    let err = r.stderr_str();
    assert!(
        err.contains(&path_str(&p)),
        "stderr must name the file {}:\n{err}",
        p.display()
    );
    let offset = err
        .split("compressed byte ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("stderr must give the compressed offset:\n{err}"));
    assert!(
        offset > 0 && offset <= data.len() as u64,
        "offset {offset} outside the file (len {})",
        data.len()
    );
    let s = r.summary();
    let lines = count(&s, "lines");
    assert!(
        lines > 0 && lines < 2000,
        "lines before the damage must be counted (got {lines}): {s}"
    );
    assert!(count(&s, "parsed") > 0, "{s}");
    let errors = s["input_errors"].as_array().expect("input_errors");
    assert_eq!(errors.len(), 1, "one input error: {s}");
    let e = errors[0].as_str().unwrap();
    assert!(
        e.contains(&path_str(&p)) && e.contains("compressed byte"),
        "input error names file and offset: {e}"
    );
}

#[test]
fn truncated_gzip_keeps_the_lines_before_the_cut() {
    let gz = big_gzip();
    assert_damaged_gzip_reported("cut.log.gz", &gz[..gz.len() / 2]);
}

#[test]
fn corrupt_gzip_keeps_the_lines_before_the_damage() {
    let mut gz = big_gzip();
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 16] {
        *b ^= 0xff;
    }
    assert_damaged_gzip_reported("flipped.log.gz", &gz);
}

/// Also one named like a pattern that is none (`old[2024.log`): a missing
/// file, not a bad glob that stops the run.
#[test]
fn missing_input_is_reported_and_the_others_are_still_read() {
    let d = tmp();
    let ok = d.path().join("ok.log");
    write(&ok, combined_lines(12, 0).as_bytes());
    for name in ["missing.log", "old[2024.log"] {
        let missing = d.path().join(name);
        let r = scan_json([&missing, &ok]);
        assert_no_panic(&r);
        assert_eq!(r.code, 3, "stderr:\n{}", r.stderr_str());
        assert!(r.stderr_str().contains(name), "{}", r.stderr_str());
        let s = r.summary();
        assert_eq!(count(&s, "parsed"), 12, "{s}");
        assert_eq!(format_inputs(&s), vec![path_str(&ok)]);
    }
}

/// An xz, bzip2, zstd or zip file is not taken for an unknown log format:
/// the run says what it is and how to feed it, and reads the other inputs.
#[test]
fn other_compressions_are_named_with_how_to_read_them() {
    let d = tmp();
    let ok = d.path().join("ok.log");
    write(&ok, combined_lines(12, 0).as_bytes());
    let magic: [(&str, &[u8], &str); 4] = [
        ("a.log.xz", b"\xfd7zXZ\x00\x00\x04", "xz -dc"),
        ("a.log.bz2", b"BZh91AY&SY", "bzip2 -dc"),
        ("a.log.zst", b"\x28\xb5\x2f\xfd\x24\x05", "zstd -dc"),
        ("a.zip", b"PK\x03\x04\x14\x00", "unzip -p"),
    ];
    for (name, head, cmd) in magic {
        let p = d.path().join(name);
        write(&p, head);
        let r = scan_json([&p, &ok]);
        assert_no_panic(&r);
        assert_eq!(r.code, 3, "stderr:\n{}", r.stderr_str());
        let err = r.stderr_str();
        assert!(err.contains(cmd) && !err.contains("recognise"), "{err}");
        assert_eq!(count(&r.summary(), "parsed"), 12);
    }
    // On stdin the hint is to decompress on the way in.
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "-"])
        .write_stdin(&b"\x28\xb5\x2f\xfd\x24\x05"[..]));
    assert_no_panic(&r);
    assert_eq!(r.code, 3, "stderr:\n{}", r.stderr_str());
    let err = r.stderr_str();
    assert!(
        err.contains("stdin is zstd-compressed")
            && err.contains("`zstd -dc FILE | apiwatch scan -`"),
        "{err}"
    );
    // Text that merely starts like one is read as text.
    let p = d.path().join("bz.log");
    write(&p, format!("BZh{}", combined_lines(1, 0)).as_bytes());
    let r = scan_json([&p]);
    assert!(!r.stderr_str().contains("bzip2"), "{}", r.stderr_str());
}

// ------------------------------------------------------------------ rotated sets

/// `access.log.3.gz` (oldest) .. `access.log` (newest), each with later
/// timestamps than the one before.
fn rotated_set(dir: &std::path::Path) -> Vec<String> {
    let names = [
        "access.log.3.gz",
        "access.log.2.gz",
        "access.log.1",
        "access.log",
    ];
    for (age, n) in names.iter().enumerate() {
        let body = combined_lines(10, 1000 * age as u64);
        let data = if n.ends_with(".gz") {
            gzip(body.as_bytes())
        } else {
            body.into_bytes()
        };
        write(&dir.join(n), &data);
    }
    names.iter().map(|n| path_str(&dir.join(n))).collect()
}

#[test]
fn rotated_set_is_read_oldest_first_whatever_the_argument_order() {
    let d = tmp();
    let oldest_first = rotated_set(d.path());
    let p = |n: &str| path_str(&d.path().join(n));
    let r = scan_json([
        p("access.log"),
        p("access.log.2.gz"),
        p("access.log.1"),
        p("access.log.3.gz"),
    ]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(format_inputs(&s), oldest_first, "processing order: {s}");
    assert_eq!(count(&s, "lines"), 40);
    assert_eq!(count(&s, "parsed"), 40);

    let glob = format!("{}/access.log*", path_str(d.path()));
    let r = scan_json([&glob]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(format_inputs(&s), oldest_first, "glob order: {s}");
    assert_eq!(count(&s, "parsed"), 40);
}

/// A file whose name holds glob characters is read when named as it is.
#[test]
fn an_existing_file_with_glob_characters_in_its_name_is_read() {
    let d = tmp();
    let p = d.path().join("access[1].log");
    write(&p, combined_lines(9, 0).as_bytes());
    let r = scan_json([&p]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "parsed"), 9, "{s}");
}

/// Naming a file twice (directly, or by a glob and by name) reads it once.
#[test]

fn a_file_named_twice_is_read_once() {
    let d = tmp();
    let a = d.path().join("a.log");
    let b = d.path().join("b.log");
    write(&a, combined_lines(5, 0).as_bytes());
    write(&b, combined_lines(7, 100).as_bytes());
    let glob = format!("{}/*.log", path_str(d.path()));
    for args in [
        vec![path_str(&a), path_str(&b), path_str(&a)],
        vec![glob, path_str(&a)],
    ] {
        let r = scan_json(&args);
        let s = r.summary();
        assert_clean_run(&r, &s);
        assert_eq!(count(&s, "lines"), 12, "{args:?}: {s}");
        assert_eq!(
            format_inputs(&s),
            vec![path_str(&a), path_str(&b)],
            "{args:?}"
        );
    }
}

// ------------------------------------------------------------------ stdin

#[test]
fn stdin_plain_and_gzip() {
    let body = combined_lines(33, 0);
    for (what, input) in [
        ("plain", body.clone().into_bytes()),
        ("gzip", gzip(body.as_bytes())),
    ] {
        let r = run(apiwatch()
            .args(["scan", "--stats", "-o", "json", "-"])
            .write_stdin(input));
        let s = r.summary();
        assert_clean_run(&r, &s);
        assert_eq!(count(&s, "lines"), 33, "{what}: {s}");
        assert_eq!(count(&s, "parsed"), 33, "{what}: {s}");
        assert_eq!(format_inputs(&s), vec!["<stdin>".to_string()], "{what}");
    }
}

/// `-v` gives a line per input read on stderr (per merged stream, for two
/// nodes' logs), with its counts; stdout stays the alerts' alone.
#[test]
fn verbose_says_what_each_input_gave() {
    let d = tmp();
    let a = d.path().join("a.log");
    let b = d.path().join("b.log.gz");
    write(&a, format!("{}junk\n", combined_lines(7, 0)).as_bytes());
    write(&b, &gzip(combined_lines(5, 0).as_bytes()));
    let said = |r: &Run| {
        assert_no_panic(r);
        assert!(!r.stdout_str().contains("Lines read"), "{}", r.stdout_str());
        let err = r.stderr_str();
        let read: Vec<String> = (err.lines())
            .filter(|l| l.contains("Lines read."))
            .map(str::to_owned)
            .collect();
        assert_eq!(read.len(), 1, "{err}");
        read[0].clone()
    };
    let one = said(&run(apiwatch().args(["scan", "-v", "-o", "json"]).arg(&a)));
    assert!(
        one.contains(&path_str(&a)) && one.contains("lines=8 parsed=7 malformed=1"),
        "{one}"
    );
    let both = said(&run(apiwatch()
        .args(["scan", "-v", "-o", "json"])
        .arg(&a)
        .arg(&b)));
    assert!(
        both.contains(&format!(
            "{} + {} (merged by time)",
            path_str(&a),
            path_str(&b)
        )) && both.contains("lines=13 parsed=12 malformed=1"),
        "{both}"
    );
    // Without -v, no such line.
    let r = run(apiwatch().args(["scan", "-o", "json"]).arg(&a));
    assert!(!r.stderr_str().contains("Lines read"), "{}", r.stderr_str());
}

// ------------------------------------------------------------------ hostile bytes

const TEN_MB: usize = 10 * 1024 * 1024;

fn hostile_log() -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    lines.push(combined("198.51.100.7", 1, "/ok", 200, "Mozilla/5.0").into_bytes());
    // OSC 52 clipboard write, BEL, a CR forging an output line, a screen
    // clear: inside the request path of an otherwise valid line.
    lines.push(
        combined(
            "198.51.100.7",
            2,
            "/api/\x1b]52;c;ZXZpbA==\x07x\rAPIWATCH OK\x1b[2J",
            200,
            "Mozilla/5.0",
        )
        .into_bytes(),
    );
    // Invalid UTF-8 in the path.
    let mut bad_utf8 = combined("198.51.100.7", 3, "/caf@@/x", 200, "Mozilla/5.0").into_bytes();
    let at = bad_utf8.windows(2).position(|w| w == b"@@").unwrap();
    bad_utf8[at] = 0xff;
    bad_utf8[at + 1] = 0xc3;
    lines.push(bad_utf8);
    // A NUL byte.
    lines.push(combined("198.51.100.7", 4, "/n\0ul", 200, "Mozilla/5.0").into_bytes());
    // A 10 MB line in the middle.
    lines.push(vec![b'A'; TEN_MB]);
    lines.push(combined("198.51.100.7", 5, "/ok2", 200, "Mozilla/5.0").into_bytes());
    // Malformed (bad status) and hostile, so it shows up as a sample.
    lines.push(
        format!(
            "198.51.100.7 - - [{}] \"GET /s\x1b]52;c;c2FtcGxl\x07\r\x1b[31m HTTP/1.1\" 2x0 5 \"-\" \"\x1b[2J\"",
            clf_time(6)
        )
        .into_bytes(),
    );
    let mut data = lines.join(&b'\n');
    data.push(b'\n');
    // A 10 MB line without a newline at the end of the file.
    data.extend(std::iter::repeat_n(b'B', TEN_MB));
    data
}

fn assert_no_terminal_bytes(what: &str, b: &[u8]) {
    let bad: Vec<(usize, u8)> = b
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(**c, 0x1b | 0x07 | b'\r' | 0x00))
        .map(|(i, c)| (i, *c))
        .take(10)
        .collect();
    assert!(
        bad.is_empty(),
        "{what} carries raw ESC/BEL/CR/NUL at {bad:?}:\n{}",
        String::from_utf8_lossy(b).escape_debug()
    );
}

#[test]
fn hostile_lines_are_counted_and_never_echoed_raw() {
    let d = tmp();
    let p = d.path().join("hostile.log");
    let data = hostile_log();
    write(&p, &data);

    let r = scan_json([&p]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "lines"), 8, "{s}");
    assert_eq!(count(&s, "parsed"), 4, "{s}");
    assert_eq!(malformed_kind(&s, "too_long"), 2, "{s}");
    assert_eq!(malformed_kind(&s, "binary"), 1, "{s}");
    assert_eq!(malformed_kind(&s, "status"), 1, "{s}");
    assert_eq!(count(&s, "malformed"), 4, "{s}");
    assert_eq!(count(&s, "bytes"), data.len() as u64, "{s}");
    // json_lines() (inside summary()) already parsed every stdout line.
    assert_no_terminal_bytes("json stdout", &r.stdout);
    assert_no_terminal_bytes("json stderr", &r.stderr);
    let samples = s["malformed_by_reason"].to_string();
    assert!(
        samples.contains(r"\\x1B]52;c;c2FtcGxl\\x07\\r\\x1B[31m"),
        "the hostile sample is shown escaped: {samples}"
    );

    let r = run(apiwatch().args(["scan", "--stats", "-o", "text"]).arg(&p));
    assert_no_panic(&r);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    assert_no_terminal_bytes("text stdout", &r.stdout);
    assert_no_terminal_bytes("text stderr", &r.stderr);
    let err = r.stderr_str();
    assert!(
        err.contains(r"\x1B]52;c;c2FtcGxl\x07\r\x1B[31m"),
        "text --stats shows the hostile sample, escaped:\n{err}"
    );
    for l in err.lines() {
        assert!(
            l.len() < 1000,
            "a sample line is not capped: {} bytes",
            l.len()
        );
    }
}

// ------------------------------------------------------------------ line endings, empty

#[test]
fn crlf_empty_and_blank_inputs() {
    let d = tmp();
    let crlf = d.path().join("crlf.log");
    write(&crlf, combined_lines(9, 0).replace('\n', "\r\n").as_bytes());
    let r = scan_json([&crlf]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!((count(&s, "lines"), count(&s, "parsed")), (9, 9), "{s}");

    let empty = d.path().join("empty.log");
    write(&empty, b"");
    let r = scan_json([&empty]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "lines"), 0, "{s}");
    assert_eq!(count(&s, "malformed"), 0, "{s}");

    let blank = d.path().join("blank.log");
    write(&blank, b"   \n\t\n\n \t \n");
    let r = scan_json([&blank]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "lines"), 4, "{s}");
    assert_eq!(count(&s, "blank"), 4, "{s}");
    assert_eq!(count(&s, "malformed"), 0, "{s}");
    assert_eq!(count(&s, "parsed"), 0, "{s}");
}

/// A file that starts with more blank lines than detection samples must
/// still be read to the end.
#[test]

fn leading_blank_lines_do_not_hide_the_rest_of_the_file() {
    let d = tmp();
    let p = d.path().join("padded.log");
    let mut body = "\n".repeat(45);
    body.push_str(&combined_lines(12, 0));
    write(&p, body.as_bytes());
    let r = scan_json([&p]);
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "lines"), 57, "{s}");
    assert_eq!(count(&s, "blank"), 45, "{s}");
    assert_eq!(
        count(&s, "parsed"),
        12,
        "the access lines after the blank head: {s}"
    );
}

/// A file that opens with more lines of another kind (an nginx error log's)
/// than detection samples: the format is still recognised, further on,
/// and those lines are counted as malformed.
#[test]
fn a_head_of_other_lines_does_not_hide_the_format() {
    let d = tmp();
    let p = d.path().join("mixed.log");
    let mut body = String::new();
    for i in 0..100 {
        body.push_str(&format!(
            "2021/12/01 13:53:33 [error] 31#31: *46 open() \"/x{i}\" failed (2: No such file or directory), client: 172.17.0.1\n"
        ));
    }
    body.push_str(&combined_lines(30, 0));
    write(&p, body.as_bytes());
    let r = scan_json([&p]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    let s = r.summary();
    assert_eq!(count(&s, "parsed"), 30, "{s}");
    assert_eq!(count(&s, "malformed"), 100, "{s}");
    // Also as one of two nodes merged in time order.
    let other = d.path().join("node2.log");
    write(&other, combined_lines(20, 5).as_bytes());
    let r = scan_json([&p, &other]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    assert!(
        !r.stderr_str().contains("not recognised"),
        "{}",
        r.stderr_str()
    );
    let s = r.summary();
    assert_eq!(count(&s, "parsed"), 50, "{s}");
}

// ------------------------------------------------------------------ format choice

#[test]
fn unrecognised_format_names_the_file_and_escapes_its_first_line() {
    let d = tmp();
    let p = d.path().join("notes.txt");
    let mut text = String::from("lorem \x1b[31mipsum\x07 dolor\r sit\n");
    let words = ["amet", "zebra", "quux", "consectetur", "42", "x=y"];
    let mut seed = 7u32;
    for _ in 0..60 {
        for _ in 0..8 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            text.push_str(words[(seed >> 16) as usize % words.len()]);
            text.push(' ');
        }
        text.push('\n');
    }
    write(&p, text.as_bytes());
    let r = scan_json([&p]);
    assert_no_panic(&r);
    assert_ne!(r.code, 0, "an unrecognisable input must not exit 0");
    let err = r.stderr_str();
    assert!(err.contains(&path_str(&p)), "stderr names the file:\n{err}");
    assert!(
        err.contains(r"lorem \x1B[31mipsum\x07 dolor\r sit"),
        "stderr shows the first line, escaped:\n{err}"
    );
    assert!(
        !r.stderr.contains(&0x1b) && !r.stderr.contains(&0x07),
        "raw escape bytes on stderr:\n{}",
        err.escape_debug()
    );
}

/// A forced format no line is in: every line counted as malformed, and the
/// run is not a clean one (exit 3, the input named in the errors), as for
/// a format that cannot be recognised. For a JSON format too, whose
/// non-JSON lines in a JSON log are skipped like other malformed lines.
#[test]
fn forced_wrong_format_counts_every_line_malformed() {
    let d = tmp();
    let p = d.path().join("combined.log");
    write(&p, combined_lines(21, 0).as_bytes());
    for format in [
        "alb",
        "caddy-json",
        "apigw-json",
        "traefik-json",
        "envoy-json",
    ] {
        let r = run(apiwatch()
            .args(["scan", "--stats", "-o", "json", "--format", format])
            .arg(&p));
        let s = r.summary();
        assert_no_panic(&r);
        assert_eq!(r.code, 3, "{format}: {}", r.stderr_str());
        let want = format!(
            "not one line of {} parsed as {format} (21 lines malformed; is --format right?)",
            path_str(&p)
        );
        assert!(r.stderr_str().contains(&want), "{}", r.stderr_str());
        assert!(
            s["input_errors"][0].as_str().unwrap().contains(&want),
            "{s}"
        );
        assert_eq!(count(&s, "lines"), 21, "{s}");
        assert_eq!(count(&s, "parsed"), 0, "{s}");
        assert_eq!(count(&s, "malformed"), 21, "{s}");
        let by_reason: u64 = s["malformed_by_reason"]
            .as_object()
            .expect("malformed_by_reason")
            .values()
            .map(|v| v["count"].as_u64().unwrap())
            .sum();
        assert_eq!(by_reason, 21, "reasons add up: {s}");
        assert_eq!(s["formats"][0][1], format, "{s}");
    }
}

/// Two nodes' logs merged under a format named with `--format`, one of
/// them in another format: that file is named on stderr, the other is
/// not, and the run is clean (it goes by the merged stream as a whole).
#[test]
fn forced_format_names_the_merged_file_that_parses_nothing() {
    let d = tmp();
    let clf = combined_lines(30, 0);
    let alb: String = (0..30)
        .map(|i| format!("http 2026-03-02T00:00:{i:02}.681538Z app/alb/50dc 203.0.113.9:36078 10.0.2.28:8080 0.001 0.000 0.000 200 200 163 245 \"GET https://api.example.com:443/health HTTP/1.1\" \"curl/8\" - - arn:aws:tg \"Root=1-1\" \"-\" \"-\" 0 2026-03-02T00:00:03.680000Z \"forward\" \"-\" \"-\" \"10.0.2.28:8080\" \"200\" \"-\" \"-\"\n"))
        .collect();
    // ALB is parsed on the parse workers with two threads; combined is not.
    for (format, good, bad) in [("combined", &clf, &alb), ("alb", &alb, &clf)] {
        let good_p = d.path().join(format!("{format}-node-a.log"));
        let bad_p = d.path().join(format!("{format}-node-b.log"));
        write(&good_p, good.as_bytes());
        let bad_lines: String = bad.lines().take(7).map(|l| format!("{l}\n")).collect();
        write(&bad_p, bad_lines.as_bytes());
        for threads in ["1", "2"] {
            let r = run(apiwatch()
                .args(["scan", "--stats", "-o", "json", "--format", format])
                .args(["--threads", threads])
                .arg(&good_p)
                .arg(&bad_p));
            assert_no_panic(&r);
            assert_eq!(r.code, 0, "{}", r.stderr_str());
            let err = r.stderr_str();
            let said: Vec<&str> = (err.lines())
                .filter(|l| l.contains("is --format right?"))
                .collect();
            assert_eq!(said.len(), 1, "{format} {threads}: {err}");
            let want = format!("Not one of its lines parsed as {format} (7 malformed)");
            assert!(
                said[0].contains(&path_str(&bad_p)) && said[0].contains(&want),
                "{err}"
            );
            assert_eq!(count(&r.summary(), "parsed"), 30);
        }
    }
    // A file of blank lines, or of lines the format knows are no request
    // (nginx's error log beside its access log), is not named.
    let quiet = d.path().join("quiet-node.log");
    write(
        &quiet,
        b"\n   \n2026/03/02 01:00:00 [error] 1#1: *1 upstream timed out\n",
    );
    let good_p = d.path().join("combined-node-a.log");
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "--format", "combined"])
        .arg(&good_p)
        .arg(&quiet));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert!(
        !r.stderr_str().contains("--format right"),
        "{}",
        r.stderr_str()
    );
    assert_eq!(malformed_kind(&r.summary(), "not_access"), 1);
}

/// One gateway's JSON read as another's: no entry has any of the named
/// format's fields, so the run is not a clean one either, while entries
/// of the right gateway that are no request (Caddy's start-up notices)
/// leave it clean. The generic `json` format with no fields named is
/// refused before reading.
#[test]
fn forced_wrong_json_gateway_is_not_a_clean_run() {
    let d = tmp();
    let apigw = d.path().join("apigw.log");
    let lines: String = (0..12)
        .map(|i| {
            format!(
                "{{\"requestId\":\"r{i}\",\"ip\":\"203.0.113.{i}\",\"requestTime\":\"08/Mar/2026:02:49:{i:02} +0000\",\"httpMethod\":\"GET\",\"path\":\"/api/v1/customers/{i}\",\"status\":\"200\"}}\n"
            )
        })
        .collect();
    write(&apigw, lines.as_bytes());
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "--format", "caddy-json"])
        .arg(&apigw));
    assert_no_panic(&r);
    assert_eq!(r.code, 3, "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("is --format right?"),
        "{}",
        r.stderr_str()
    );
    assert_eq!(malformed_kind(&r.summary(), "json"), 12);
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "--format", "apigw-json"])
        .arg(&apigw));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert_eq!(count(&r.summary(), "parsed"), 12);
    // Caddy's own notices only (a restart, no request yet): clean.
    let caddy = d.path().join("caddy.log");
    write(
        &caddy,
        b"{\"level\":\"info\",\"ts\":1646861401.5,\"msg\":\"maxprocs: Leaving GOMAXPROCS=2\"}\n\
          {\"level\":\"info\",\"ts\":1646861401.6,\"logger\":\"admin\",\"msg\":\"admin endpoint started\"}\n",
    );
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "--format", "caddy-json"])
        .arg(&caddy));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert_eq!(malformed_kind(&r.summary(), "not_access"), 2);
    let r = run(apiwatch()
        .args(["scan", "-o", "json", "--format", "json"])
        .arg(&apigw));
    assert_eq!(r.code, 2, "{}", r.stderr_str());
    assert!(
        r.stderr_str().contains("[format.json_fields]"),
        "{}",
        r.stderr_str()
    );
    // A mapping must name a time field; with one, the entries parse.
    let cfg = d.path().join("fields.toml");
    let fields = "client = \"ip\"\nuri = \"path\"\nmethod = \"httpMethod\"\nstatus = \"status\"\n";
    for (time, code) in [("", 2), ("time = \"requestTime\"\n", 0)] {
        write(
            &cfg,
            format!("[format.json_fields]\n{time}{fields}").as_bytes(),
        );
        let r = run(apiwatch()
            .args([
                "scan", "--stats", "-o", "json", "--format", "json", "--config",
            ])
            .arg(&cfg)
            .arg(&apigw));
        assert_eq!(r.code, code, "{}", r.stderr_str());
        if code == 0 {
            assert_eq!(count(&r.summary(), "parsed"), 12);
        } else {
            assert!(
                r.stderr_str().contains("names no time field"),
                "{}",
                r.stderr_str()
            );
        }
    }
}

#[test]
fn nginx_log_format_with_api_key_and_request_time() {
    let d = tmp();
    let p = d.path().join("custom.log");
    let mut body = String::new();
    for i in 0..200u64 {
        body.push_str(&format!(
            "203.0.113.9 - - [{}] \"GET /api/v1/customers/{} HTTP/1.1\" 200 312 \"-\" \"curl/8.0\" \"ak_live_walker42\" 0.{:03}\n",
            clf_time(i / 2),
            1000 + i,
            i % 1000
        ));
    }
    write(&p, body.as_bytes());
    let directive = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_api_key" $request_time"#;
    let r = run(apiwatch()
        .args(["scan", "--stats", "-o", "json", "--log-format", directive])
        .args(["--api-key-field", "http_x_api_key"])
        .arg(&p));
    let s = r.summary();
    assert_clean_run(&r, &s);
    assert_eq!(count(&s, "lines"), 200, "{s}");
    assert_eq!(count(&s, "parsed"), count(&s, "lines"), "{s}");
    assert_eq!(s["formats"][0][1], "nginx-log-format", "{s}");
    // What the engine kept, by table: the walker has an enumeration tracker.
    assert!(
        s["state"]["enumeration"]["entries"].as_u64().unwrap() >= 1,
        "{s}"
    );
    assert_eq!(s["state"]["routes"]["evicted"], 0, "{s}");
    // The key reached the engine: some incident is attributed to it.
    let alerts = r.json_lines();
    assert!(
        alerts.iter().any(|a| a["actor_kind"] == "api_key"
            && a["actor"]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == "ak_live_walker42"))),
        "no alert names the API key taken from $http_x_api_key:\n{}",
        r.stdout_str()
    );
}

// ------------------------------------------------------------------ stdout vs stderr

#[test]
fn stdout_carries_only_json_and_logs_go_to_stderr() {
    let d = tmp();
    let p = d.path().join("a.log");
    let mut body = combined_lines(50, 0);
    body.push_str("this line is not an access entry\n");
    write(&p, body.as_bytes());
    let missing = d.path().join("missing.log");
    // -vv: info and debug logs, which must all go to stderr.
    let r = run(apiwatch()
        .args(["-vv", "scan", "--stats", "-o", "json"])
        .arg(&p)
        .arg(&missing));
    assert_no_panic(&r);
    assert_eq!(r.code, 3, "missing input → 3; stderr:\n{}", r.stderr_str());
    let lines = r.json_lines();
    assert!(!lines.is_empty());
    for v in &lines {
        assert!(v.is_object(), "stdout line is not an object: {v}");
    }
    let err = r.stderr_str();
    assert!(
        err.contains("Detected log format"),
        "info log expected on stderr with -vv:\n{err}"
    );
    assert!(err.contains("missing.log"), "error log on stderr:\n{err}");
    let out = r.stdout_str();
    assert!(
        !out.contains("Detected log format") && !out.contains("INFO") && !out.contains("ERROR"),
        "log output leaked to stdout:\n{out}"
    );
}

/// `apiwatch ... 2>errors.txt`: stderr is a file, not a terminal, so the
/// log lines must not carry ANSI colour sequences.
#[test]

fn piped_stderr_carries_no_ansi_colour_codes() {
    let d = tmp();
    let gz = big_gzip();
    let p = d.path().join("cut.log.gz");
    write(&p, &gz[..gz.len() / 3]);
    let r = scan_json([&p]);
    assert_no_panic(&r);
    assert_eq!(r.code, 3);
    assert!(
        !r.stderr.contains(&0x1b),
        "stderr (a pipe) carries ANSI escapes:\n{}",
        r.stderr_str().escape_debug()
    );
}

/// Behind a CDN that is not in `--trusted-proxy`, every line's peer is a CDN
/// address and its X-Forwarded-For is not believed: the run says so, names
/// the peers and the option, and is silent once they are trusted.
#[test]
fn untrusted_cdn_peers_are_pointed_out() {
    let d = tmp();
    let p = d.path().join("cdn.log");
    let mut body = String::new();
    for i in 0..2_000u64 {
        let peer = if i % 2 == 0 {
            "151.101.1.1"
        } else {
            "151.101.2.2"
        };
        body.push_str(&format!(
            "{peer} - - [{}] \"GET /api/v1/customers/{} HTTP/1.1\" 200 512 \"-\" \"app/1.0\" \"198.51.{}.{}\"\n",
            clf_time(i / 4),
            1_000 + i * 7919 % 100_000,
            i % 200,
            1 + i % 250
        ));
    }
    write(&p, body.as_bytes());
    let r = scan_json([&p]);
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    let err = r.stderr_str();
    assert!(
        err.contains("not trusted proxies (151.101.1.1, 151.101.2.2)")
            && err.contains("--trusted-proxy"),
        "{err}"
    );
    let r = run(apiwatch()
        .args(["scan", "-o", "json", "--trusted-proxy", "151.101.0.0/16"])
        .arg(&p));
    assert_eq!(r.code, 0, "{}", r.stderr_str());
    assert!(
        !r.stderr_str().contains("not trusted proxies"),
        "{}",
        r.stderr_str()
    );
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs/access.log");
    let r = run(apiwatch().args(["scan", "-o", "json"]).arg(sample));
    assert!(
        !r.stderr_str().contains("not trusted proxies"),
        "{}",
        r.stderr_str()
    );
}

/// Two nodes' logs and a file of no known format named together: the two
/// logs are still merged in time order, the odd one is read after them and
/// reported, and nothing is lost.
#[test]
fn an_odd_input_does_not_stop_the_others_being_merged() {
    let d = tmp();
    let a = d.path().join("node1.log");
    let b = d.path().join("node2.log");
    let junk = d.path().join("notes.txt");
    write(&a, combined_lines(30, 0).as_bytes());
    write(&b, combined_lines(20, 0).as_bytes());
    write(&junk, b"this is not a log\nneither is this\n");
    let r = scan_json([&a, &junk, &b]);
    assert_eq!(r.code, 3, "{}", r.stderr_str());
    let err = r.stderr_str();
    assert!(err.contains("as one stream, merged in time order"), "{err}");
    assert!(err.contains("read after the others"), "{err}");
    assert!(err.contains("notes.txt: not recognised"), "{err}");
    assert!(err.contains("cannot recognise the log format"), "{err}");
    let s = r.summary();
    assert_eq!(count(&s, "parsed"), 50, "{s}");
    assert_eq!(format_inputs(&s), vec![path_str(&a), path_str(&b)], "{s}");
}

/// Malformed-line samples of two nodes' logs merged in time order name the
/// file and its line, not a line of the merged stream: for CLF, parsed on
/// the reading thread, and for API Gateway JSON, parsed on worker threads
/// (`--threads 2`) and read ahead to recognise the format.
#[test]
fn merged_inputs_name_the_file_and_line_of_a_malformed_sample() {
    let d = tmp();
    let (a, b) = (d.path().join("node1.log"), d.path().join("node2.log"));
    let cut = |text: String, at: usize, bad: &str| {
        let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
        v.insert(at - 1, bad.to_owned());
        v.join("\n") + "\n"
    };
    write(
        &a,
        cut(combined_lines(60, 0), 45, "junk from node one").as_bytes(),
    );
    write(
        &b,
        cut(combined_lines(30, 5), 7, "junk from node two").as_bytes(),
    );
    let json = |i: usize, secs: u64| {
        format!(
            r#"{{"requestId":"r{i}","ip":"198.51.100.{}","requestTime":"{}","httpMethod":"GET","path":"/v1/items/{i}","status":"200","responseLength":"10","userAgent":"curl/8"}}"#,
            i % 200 + 1,
            clf_time(secs)
        )
    };
    let (ja, jb) = (d.path().join("gw1.log"), d.path().join("gw2.log"));
    let lines = |n: usize, start: u64| (0..n).map(|i| json(i, start + i as u64) + "\n").collect();
    write(
        &ja,
        cut(lines(3000, 0), 2500, "{\"broken\": json").as_bytes(),
    );
    write(&jb, cut(lines(100, 0), 3, "not json at all").as_bytes());
    for threads in ["1", "2"] {
        // The samples of a scan of two files, sorted.
        let samples = |x: &std::path::Path, y: &std::path::Path| {
            let r = scan_json([
                x.as_os_str(),
                y.as_os_str(),
                "--threads".as_ref(),
                threads.as_ref(),
            ]);
            assert!(
                r.stderr_str().contains("merged in time order"),
                "{}",
                r.stderr_str()
            );
            let s = r.summary();
            let mut v: Vec<String> = (s["malformed_by_reason"].as_object().expect("reasons"))
                .values()
                .flat_map(|k| k["samples"].as_array().expect("samples").clone())
                .map(|x| x.as_str().expect("text").to_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            samples(&a, &b),
            [
                format!(
                    "{}:45: missing or misplaced field: junk from node one",
                    path_str(&a)
                ),
                format!(
                    "{}:7: missing or misplaced field: junk from node two",
                    path_str(&b)
                ),
            ],
        );
        let got = samples(&ja, &jb);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with(&format!("{}:2500: ", path_str(&ja))),
            "{got:?}"
        );
        assert!(
            got[1].starts_with(&format!("{}:3: ", path_str(&jb))),
            "{got:?}"
        );
    }
}
