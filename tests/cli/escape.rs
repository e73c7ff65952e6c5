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
