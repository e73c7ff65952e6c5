//! Envoy access logs in Envoy's default text format (also what Ambassador /
//! Emissary and Istio's text mode write), possibly wrapped by the container
//! runtime that collected them.
//!
//! `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
//! %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%
//! %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
//! "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
//! "%UPSTREAM_HOST%"`
//!
//! The default format has no downstream address: the only trace of the client
//! is `X-Forwarded-For`, which is passed on raw in `forwarded_for` so the
//! engine can pick the client with its trusted-proxy rule. Istio's text format
//! inserts three fields after the response flags and appends the downstream
//! addresses; it is recognised too, and there the downstream remote address
//! is the client position. JSON access logs (Envoy Gateway's `json_format`)
//! are a different format, handled by the JSON parser.

#![deny(clippy::indexing_slicing)]

use super::fields::{self, Cursor, LAYOUT, TRUNCATED};
use super::fields::{host_without_port, optional_quoted};
use super::{LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// Parser for Envoy's default text access log. Its only state is a buffer
/// for lines unwrapped from a Docker json-file envelope.
#[derive(Clone, Debug, Default)]
pub struct EnvoyParser {
    unwrapped: Vec<u8>,
}

const JSON_LINE: Malformed = Malformed::new(
    MalformedKind::Layout,
    "JSON line, not Envoy text format (envoy-json, or a docker json-file wrapper)",
);
const NOT_ENVOY: Malformed = Malformed::new(
    MalformedKind::Layout,
    "line does not start with [START_TIME]",
);
const BAD_TIME: Malformed = Malformed::new(MalformedKind::Timestamp, "START_TIME is not ISO 8601");

/// Istio puts at most three fields (`%RESPONSE_CODE_DETAILS%
/// %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`, or
/// in Istio < 1.8 two quoted ones) between the flags and the byte counts.
const MAX_INSERTED: usize = 3;

impl LineParser for EnvoyParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        // Docker's json-file driver (and Kubernetes log shippers) wrap each
        // line as {"log"|"message": "<line>\n", ...}: unescape it into our
        // buffer and parse that. Rare, so a small allocation is fine here.
        let body = strip_wrappers(line);
        if body.first() == Some(&b'{') {
            #[derive(serde::Deserialize)]
            struct Envelope {
                message: Option<String>,
                log: Option<String>,
            }
            if let Ok(Envelope { message, log }) = serde_json::from_slice::<Envelope>(body)
                && let Some(inner) = message.or(log)
            {
                self.unwrapped.clear();
                self.unwrapped
                    .extend_from_slice(inner.trim_end_matches(['\n', '\r']).as_bytes());
                return parse_line(&self.unwrapped);
            }
        }
        parse_line(line)
    }
}

/// Remove the prefixes container tooling adds in front of a log line:
///
/// - containerd / CRI-O (`kubectl logs` files under `/var/log/pods`):
///   `<RFC3339Nano> stdout F <line>`. A `P` (partial) tag means the line was
///   split by the runtime; the fragment is returned unchanged, so it fails
///   to parse and is counted instead of being read as a whole entry.
/// - `docker compose logs`: `<service>  | <line>`, with the ANSI colours
///   compose adds on a terminal.
///
/// Lines without such a prefix are returned unchanged. Shared by the other
/// text parsers, since any of them can run in a container.
pub fn strip_wrappers(line: &[u8]) -> &[u8] {
    strip_compose(strip_cri(line))
}

fn strip_cri(line: &[u8]) -> &[u8] {
    // Cheap rejection first: this runs on every line of every text format.
    if !line.first().is_some_and(u8::is_ascii_digit) {
        return line;
    }
    let Some(sp) = memchr::memchr(b' ', line) else {
        return line;
    };
    let (ts, rest) = line.split_at(sp);
    if time::parse_iso(ts).is_none() {
        return line;
    }
    let Some(rest) = rest
        .strip_prefix(b" stdout ")
        .or_else(|| rest.strip_prefix(b" stderr "))
    else {
        return line;
    };
    // The tag is a `:`-separated list whose first element is F or P. The
    // payload follows a single space and keeps any leading spaces of its own.
    let tag_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let (tag, payload) = rest.split_at(tag_end);
    let full = tag.split(|&b| b == b':').next() == Some(b"F");
    if full {
        payload.strip_prefix(b" ").unwrap_or(payload)
    } else {
        line
    }
}

fn strip_compose(line: &[u8]) -> &[u8] {
    let rest = skip_sgr(line);
    let name_len = rest
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        .count();
    let Some((_, rest)) = rest.split_at_checked(name_len) else {
        return line;
    };
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let Some((_, rest)) = rest.split_at_checked(spaces) else {
        return line;
    };
    if name_len == 0 || spaces == 0 {
        return line;
    }
    let Some(rest) = rest.strip_prefix(b"|") else {
        return line;
    };
    let rest = skip_sgr(rest);
    match rest {
        [] => rest,
        [b' ', payload @ ..] => payload,
        _ => line,
    }
}

/// Skip ANSI SGR sequences (`ESC [ digits/semicolons m`).
fn skip_sgr(mut b: &[u8]) -> &[u8] {
    while let Some(tail) = b.strip_prefix(b"\x1b[") {
        let n = tail
            .iter()
            .take_while(|&&c| c.is_ascii_digit() || c == b';')
            .count();
        match tail.get(n..).and_then(|t| t.strip_prefix(b"m")) {
            Some(after) => b = after,
            None => break,
        }
    }
    b
}

fn parse_line(line: &[u8]) -> ParseResult<'_> {
    let mut c = Cursor::new(strip_wrappers(line));
    c.skip_spaces();
    if c.peek() == Some(b'{') {
        return Err(JSON_LINE);
    }
    // Ambassador / Emissary prefix their access lines with `ACCESS `.
    if c.eat(b"ACCESS") {
        c.skip_spaces();
    }
    let start = c.bracketed().ok_or(NOT_ENVOY)?;
    let mut rec = Record {
        ts: time::parse_iso(start).ok_or(BAD_TIME)?,
        ..Record::default()
    };

    // TCP proxy entries log `"- - -"` and response code 0: the connection
    // is still an entry, it just has no method or path.
    let request = c.quoted().ok_or(LAYOUT)?;
    rec.set_request_line(request);
    rec.status = fields::status(c.token().ok_or(LAYOUT)?)?;
    let _flags = c.token().ok_or(LAYOUT)?;

    // The default format continues with BYTES_RECEIVED, always a number.
    // Istio's format inserts non-numeric fields first; skip them.
    let mut inserted = 0;
    loop {
        c.skip_spaces();
        match c.peek() {
            None => return Err(LAYOUT),
            Some(b'"') => {
                c.quoted().ok_or(TRUNCATED)?;
            }
            Some(_) => {
                let mut look = c;
                let tok = look.token().unwrap_or_default();
                if fields::uint(tok).is_some() {
                    break;
                }
                c = look;
            }
        }
        inserted += 1;
        if inserted > MAX_INSERTED {
            return Err(LAYOUT);
        }
    }
    let _received = c.token().ok_or(LAYOUT)?;
    rec.bytes = fields::uint(c.token().ok_or(LAYOUT)?);
    rec.duration_us = fields::uint(c.token().ok_or(LAYOUT)?).and_then(|ms| ms.checked_mul(1000));

    // Everything after the duration is optional: trimmed custom formats are
    // common, and a missing field just leaves its Record field empty.
    let _upstream_service_time = c.token();
    rec.forwarded_for = fields::dash(optional_quoted(&mut c)?);
    rec.user_agent = fields::dash(optional_quoted(&mut c)?);
    rec.request_id = fields::dash(optional_quoted(&mut c)?);
    rec.host = host_without_port(fields::dash(optional_quoted(&mut c)?));
    let _upstream_host = optional_quoted(&mut c)?;

    if inserted > 0 {
        // Istio: %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
        // %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ...
        let _cluster = c.token();
        let _upstream_local = c.token();
        let _downstream_local = c.token();
        if let Some((addr, port)) = c.token().and_then(fields::ip_port) {
            rec.client = Some(addr);
            rec.client_port = port;
        }
    }
    Ok(rec)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::formats::want::{NONE, Want};

    fn parse(line: &str) -> ParseResult<'_> {
        parse_line(line.as_bytes())
    }

    const LINE: &str = "[2024-07-19T09:41:02.318Z] \"GET /v1/accounts/7731/statements?month=2024-06 HTTP/1.1\" \
        200 - 0 18342 57 55 \"203.0.113.50, 10.4.0.2\" \"python-requests/2.31.0\" \
        \"6f0c1a2e-93d4-4c55-8a1b-2f7e0d9c4b11\" \"bank.example:8443\" \"10.4.3.21:9000\"";

    fn check(line: &str, w: &Want) {
        let r = parse(line).unwrap_or_else(|e| panic!("{e:?} for {line}"));
        crate::formats::want::check(&r, line, w);
    }

    const BASE: Want = Want {
        ts: "2024-07-19T09:41:02.318000Z",
        xff: "203.0.113.50, 10.4.0.2",
        client: None,
        port: None,
        method: "GET",
        path: "/v1/accounts/7731/statements",
        query: "month=2024-06",
        status: 200,
        bytes: Some(18342),
        duration: Some(57_000),
        ua: "python-requests/2.31.0",
        host: "bank.example",
        request_id: "6f0c1a2e-93d4-4c55-8a1b-2f7e0d9c4b11",
        ..NONE
    };

    #[test]
    fn default_format() {
        check(LINE, &BASE);
    }

    #[test]
    fn wrapped_lines() {
        let wrapped = [
            format!("ACCESS {LINE}"),
            format!("2024-07-19T11:41:02.318455120+02:00 stdout F {LINE}"),
            format!("2024-07-19T09:41:02.318455120Z stderr F ACCESS {LINE}"),
            format!("gateway-1  | {LINE}"),
            format!("\x1b[36mgateway-1  |\x1b[0m {LINE}"),
        ];
        for line in &wrapped {
            check(line, &BASE);
        }
    }

    #[test]
    fn other_entries() {
        // TCP proxy entry: no request, code 0, flags list, no headers.
        check(
            "[2023-02-03T04:05:06.007Z] \"- - -\" 0 UF,URX 120 0 3 - \"-\" \"-\" \"-\" \"-\" \"10.0.0.5:5432\"",
            &Want {
                ts: "2023-02-03T04:05:06.007000Z",
                xff: "",
                client: None,
                port: None,
                method: "",
                path: "",
                query: "",
                status: 0,
                bytes: Some(0),
                duration: Some(3_000),
                ua: "",
                host: "",
                request_id: "",
                ..NONE
            },
        );
        // HTTP/2, IPv6 XFF, IPv6 upstream, no upstream service time.
        check(
            "[2023-02-03T04:05:07.100Z] \"POST /rpc.Echo/Say HTTP/2\" 503 UH 44 91 0 - \
             \"[2001:db8::77]\" \"grpc-go/1.60.0\" \"req-9\" \"[2001:db8::1]:443\" \"tcp://[2001:db8::2]:50051\"",
            &Want {
                ts: "2023-02-03T04:05:07.100000Z",
                xff: "[2001:db8::77]",
                client: None,
                port: None,
                method: "POST",
                path: "/rpc.Echo/Say",
                query: "",
                status: 503,
                bytes: Some(91),
                duration: Some(0),
                ua: "grpc-go/1.60.0",
                host: "[2001:db8::1]",
                request_id: "req-9",
                ..NONE
            },
        );
        // Istio text format: extra fields after the flags, downstream
        // addresses at the end.
        check(
            "[2024-01-01T00:00:00.250Z] \"PUT /api/users/12 HTTP/1.1\" 404 NR route_not_found - \"-\" \
             31 0 1 - \"-\" \"curl/8.4.0\" \"r-1\" \"users.svc\" \"-\" - - 10.8.0.4:8080 10.8.1.9:41234 - -",
            &Want {
                ts: "2024-01-01T00:00:00.250000Z",
                xff: "",
                client: Some("10.8.1.9"),
                port: Some(41234),
                method: "PUT",
                path: "/api/users/12",
                query: "",
                status: 404,
                bytes: Some(0),
                duration: Some(1_000),
                ua: "curl/8.4.0",
                host: "users.svc",
                request_id: "r-1",
                ..NONE
            },
        );
        // A trimmed custom format that stops after the duration.
        let r = parse("[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 200 - 0 5 9").unwrap();
        assert_eq!(
            (r.status, r.bytes, r.duration_us),
            (200, Some(5), Some(9_000))
        );
        assert!(r.user_agent.is_empty() && r.host.is_empty());
    }

    #[test]
    fn strip_wrappers_shapes() {
        assert_eq!(
            strip_wrappers(b"2024-01-01T00:00:00.1Z stdout F x y"),
            b"x y"
        );
        assert_eq!(
            strip_wrappers(b"2024-01-01T00:00:00.1Z stdout F  lead"),
            b" lead"
        );
        assert_eq!(strip_wrappers(b"2024-01-01T00:00:00.1Z stdout F:x z"), b"z");
        // Partial lines and lookalikes are left alone.
        let partial = b"2024-01-01T00:00:00.1Z stdout P [2024-01-01T";
        assert_eq!(strip_wrappers(partial), partial);
        let elb = b"2015-05-13T23:39:43.945958Z my-elb 1.2.3.4:2817";
        assert_eq!(strip_wrappers(elb), elb);
        let clf = b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1";
        assert_eq!(strip_wrappers(clf), clf);
        assert_eq!(strip_wrappers(b"web  | "), b"");
        assert_eq!(strip_wrappers(b"web  |x"), b"web  |x");
        assert_eq!(strip_wrappers(b" | x"), b" | x");
        assert_eq!(strip_wrappers(b""), b"");
        assert_eq!(strip_wrappers(b"\x1b[1"), b"\x1b[1");
    }

    #[test]
    fn docker_json_envelope_is_unwrapped() {
        let mut p = EnvoyParser::default();
        let l = br#"{"message":"ACCESS [2019-04-10T03:49:34.451Z] \"GET /httpbin/status/501 HTTP/1.1\" 501 - 0 0 180 179 \"172.17.0.3\" \"curl/7.59.0\" \"413bf460\" \"httpbin.org\" \"10.0.0.1:80\"\n","stream":"stdout"}"#;
        let r = p.parse(l).unwrap();
        assert_eq!((r.status, r.path), (501, &b"/httpbin/status/501"[..]));
        assert_eq!(r.forwarded_for, b"172.17.0.3");
        // An envelope around something else is still an error.
        assert!(p.parse(br#"{"message":"hello"}"#).is_err());
    }

    #[test]
    fn junk_and_truncated_lines_are_errors() {
        let cases: &[(&str, Malformed)] = &[
            ("", NOT_ENVOY),
            ("ACCESS", NOT_ENVOY),
            (
                "{\"start_time\":\"2024-01-01T00:00:00Z\",\"method\":\"GET\"}",
                JSON_LINE,
            ),
            (
                "2024-01-01T00:00:00.1+01:00 stdout F {\"method\":\"GET\"}",
                JSON_LINE,
            ),
            (
                "2024-01-01T00:00:00.1Z stdout P [2024-01-01T00:00:00Z] \"GET",
                NOT_ENVOY,
            ),
            ("[yesterday] \"GET / HTTP/1.1\" 200 - 0 0 0", BAD_TIME),
            ("[2024-01-01T00:00:00Z] GET / HTTP/1.1 200 - 0 0 0", LAYOUT),
            ("[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 200", LAYOUT),
            (
                "[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 200 - 0 0",
                LAYOUT,
            ),
            (
                "[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 200 - a b c d e",
                LAYOUT,
            ),
            (
                "[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 200 - 0 0 1 - \"1.2.3.4\" \"curl",
                TRUNCATED,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).map(|_| ()).unwrap_err(), *want, "{line}");
        }
        assert_eq!(
            parse("[2024-01-01T00:00:00Z] \"GET / HTTP/1.1\" 2000 - 0 0 1")
                .unwrap_err()
                .kind,
            MalformedKind::Status
        );
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let line = LINE.as_bytes();
        // Until the duration starts the line is incomplete and must not parse.
        let dur_start = LINE.find(" 57 ").unwrap() + 1;
        for i in 0..=line.len() {
            let r = parse_line(&line[..i]);
            if i <= dur_start {
                assert!(r.is_err(), "prefix {i} parsed");
            }
        }
    }

    #[test]
    fn mutated_lines_do_not_panic() {
        let mut rng = crate::test_rng::Rng::new(0x1234_5678_9ABC_DEF1u64);
        let alphabet = b" \"-:[]./?0123456789aZ|{\\\x1b\x00\xff";
        let base = format!("2024-07-19T09:41:02.318455120Z stdout F ACCESS {LINE}");
        for _ in 0..5_000 {
            let l = crate::test_rng::mutated(&mut rng, base.as_bytes(), alphabet);
            let _ = parse_line(&l);
            let _ = strip_wrappers(&l);
        }
    }
}
