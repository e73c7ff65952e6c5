//! An enumeration attack whose lines carry terminal escapes: the alerts must
//! still fire, and nothing the attacker wrote may reach the operator's
//! terminal raw, in JSON or in text output.

use crate::common::*;

/// 200 lookups of `/api/v1/{junk}/customers/{1000..1199}` from one address in
/// 100 s. The user agent clears the screen, sets the window title and flips
/// text direction; a path segment carries an encoded CRLF and a header; the
/// basic-auth user carries an OSC sequence. A few benign lines around it.
fn attack_log() -> Vec<u8> {
    let ua = "Mozilla/5.0 \x1b[2J\x1b]0;pwned\x07 \u{202e}gnp.exe\r";
    let user = "evil\x1b]0;u\x07";
    let mut s = String::new();
    for i in 0..200u64 {
        let status = if i % 9 == 0 { 404 } else { 200 };
        s.push_str(&format!(
            "185.220.101.4 - {user} [{}] \"GET /api/v1/%0d%0aX-Injected:%20yes/customers/{} HTTP/1.1\" {status} 312 \"-\" \"{ua}\"\n",
            clf_time(i / 2),
            1000 + i,
        ));
        if i % 20 == 0 {
            s.push_str(&combined(
                "198.51.100.20",
                i / 2,
                "/index.html",
                200,
                "Mozilla/5.0",
            ));
            s.push('\n');
        }
    }
    s.into_bytes()
}

/// Raw control bytes: C0 (except a newline), DEL, and UTF-8 encoded C1
/// controls and bidi overrides.
fn assert_printable(what: &str, out: &[u8]) {
    let bad = raw_control_bytes(out);
    assert!(
        bad.is_empty(),
        "{what}: raw control bytes at {:?}:\n{}",
        &bad[..bad.len().min(10)],
        String::from_utf8_lossy(out).escape_debug()
    );
    let text = String::from_utf8_lossy(out);
    let odd: Vec<char> = text
        .chars()
        .filter(|c| matches!(*c, '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    assert!(odd.is_empty(), "{what}: raw C1/bidi characters {odd:?}");
}

#[test]
fn escapes_in_an_attack_are_escaped_in_alerts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("attack.log");
    write(&p, &attack_log());

    // JSON lines.
    let r = run(apiwatch().args(["scan", "--stats", "-o", "json"]).arg(&p));
    assert_no_panic(&r);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    assert_printable("json stdout", &r.stdout);
    assert_printable("json stderr", &r.stderr);
    let lines = r.json_lines();
    let s = r.summary();
    assert_eq!(count(&s, "parsed"), count(&s, "lines"), "{s}");
    let alerts: Vec<_> = lines.iter().filter(|v| v.get("event").is_some()).collect();
    assert!(
        alerts
            .iter()
            .any(|a| a["event"] == "opened" && a["detector"] == "enumeration"),
        "no enumeration incident opened:\n{}",
        r.stdout_str()
    );
    // The hostile text is there, escaped (so the check above is not vacuous).
    let out = r.stdout_str();
    assert!(
        out.contains(r"\\x1B[2J\\x1B]0;pwned\\x07"),
        "escaped user agent missing from the JSON alerts:\n{out}"
    );
    assert!(
        out.contains("%0d%0aX-Injected"),
        "route/path missing:\n{out}"
    );

    // Text blocks.
    let r = run(apiwatch().args(["scan", "--stats", "-o", "text"]).arg(&p));
    assert_no_panic(&r);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr_str());
    assert_printable("text stdout", &r.stdout);
    assert_printable("text stderr", &r.stderr);
    let out = r.stdout_str();
    assert!(out.contains("OPENED"), "no incident in text output:\n{out}");
    assert!(
        out.contains(r"\x1B[2J\x1B]0;pwned\x07"),
        "escaped user agent missing from the text alerts:\n{out}"
    );
    // The encoded CRLF must stay encoded: no forged "X-Injected" line.
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("X-Injected")),
        "a forged line reached the output:\n{out}"
    );
}

/// File names are printed escaped too: a glob over a directory anyone can
/// write to may match a name carrying escapes. And raw control bytes in a
/// path (JSON logs decode `\u001b` into one) stay escaped in the route
/// template an alert prints.
#[test]
fn file_names_and_route_templates_are_escaped() {
    let d = tempfile::tempdir().unwrap();
    let evil = d.path().join("a\x1b[31mred\x07.log");
    let mut body = String::new();
    for i in 0..60u64 {
        body.push_str(&format!(
            "185.220.101.9 - - [{}] \"GET /api/\x1b[31m\u{202e}red\r/{} HTTP/1.1\" 200 10 \"-\" \"curl\"\n",
            clf_time(i),
            7000 + i
        ));
    }
    write(&evil, body.as_bytes());
    let missing = d.path().join("gone\x1b]0;t\x07.log");
    for output in ["json", "text"] {
        let r = run(apiwatch()
            .args(["-v", "scan", "--stats", "-o", output])
            .arg(&evil)
            .arg(&missing));
        assert_no_panic(&r);
        assert_eq!(r.code, 3, "{}", r.stderr_str());
        assert_printable(&format!("stdout ({output})"), &r.stdout);
        assert_printable(&format!("stderr ({output})"), &r.stderr);
        assert!(
            r.stdout_str().contains("{int}"),
            "the route is reported: {}",
            r.stdout_str()
        );
    }
    let state = d.path().join("s.state");
    let r = run(apiwatch()
        .args(["check", "--from-start", "--state"])
        .arg(&state)
        .arg(&evil)
        .arg(&missing));
    assert_eq!(r.code, 3, "{}", r.stderr_str());
    assert_printable("check stdout", &r.stdout);
    assert_printable("check stderr", &r.stderr);
}
