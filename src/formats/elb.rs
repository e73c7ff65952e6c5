//! AWS Classic Load Balancer (ELB) access logs: one space-separated line per
//! request or TCP connection, written by ELB to S3.
//!
//! `timestamp elb client:port backend:port request_processing_time
//! backend_processing_time response_processing_time elb_status_code
//! backend_status_code received_bytes sent_bytes "request" "user_agent"
//! ssl_cipher ssl_protocol`. Unlike ALB there is no leading type field, and
//! logs written before 2015 end after the request line, so everything after it
//! is optional. TCP and SSL listeners log `-` statuses and a `"- - - "`
//! request: those are still connections a client made, so they become records
//! with status 0 and no path instead of being dropped.

#![deny(clippy::indexing_slicing)]

use super::fields::{self, Cursor, LAYOUT};
use super::{LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// Parser for Classic Load Balancer access logs. Stateless.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct ElbParser;

const COMMENT: Malformed = Malformed::new(MalformedKind::NotAccess, "comment line");
const BAD_TIME: Malformed =
    Malformed::new(MalformedKind::Timestamp, "ELB timestamp is not ISO 8601");
const NOT_ELB: Malformed = Malformed::new(
    MalformedKind::Layout,
    "line does not start with an ELB timestamp",
);
const TRUNCATED: Malformed = Malformed::new(
    MalformedKind::Layout,
    "unterminated quoted field (truncated line)",
);

impl LineParser for ElbParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        parse_line(line)
    }
}

fn parse_line(line: &[u8]) -> ParseResult<'_> {
    let mut c = Cursor::new(line);
    c.skip_spaces();
    // Hand-edited or tool-annotated log files carry `#` comments (one of the
    // public samples does); they are not entries and not damage either.
    if c.peek() == Some(b'#') {
        return Err(COMMENT);
    }
    let first = c.token().ok_or(LAYOUT)?;
    let ts = match time::parse_iso(first) {
        Some(ts) => ts,
        // Something that starts like a date but does not parse is a broken
        // timestamp; anything else (an ALB `https ...` line, prose) is a
        // different layout altogether.
        None if first.first().is_some_and(u8::is_ascii_digit) => return Err(BAD_TIME),
        None => return Err(NOT_ELB),
    };
    let mut rec = Record {
        ts,
        ..Record::default()
    };
    fields::aws_middle(&mut c, &mut rec)?;

    let request = c.quoted().ok_or(LAYOUT)?;
    // `"- - - "` (TCP) does not split: method and path stay empty.
    if let Some(target) = rec.set_request_line(request) {
        rec.host = fields::target_host(target);
    }

    c.skip_spaces();
    rec.user_agent = match c.peek() {
        None => b"",
        Some(b'"') => fields::dash(c.quoted().ok_or(TRUNCATED)?),
        Some(_) => fields::dash(c.token().unwrap_or_default()),
    };
    // ssl_cipher and ssl_protocol carry nothing the Record has.
    Ok(rec)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(line: &str) -> ParseResult<'_> {
        parse_line(line.as_bytes())
    }

    const HTTPS_LINE: &str = "2016-08-10T14:22:31.409123Z shop-frontend 198.51.100.23:60211 \
        10.0.3.17:8443 0.000041 0.210500 0.000029 201 201 1432 87 \
        \"POST https://shop.example:443/api/carts/55/items?src=web HTTP/1.1\" \
        \"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2";

    #[allow(clippy::type_complexity)]
    #[test]
    fn access_entries() {
        // (line, ts, client, port, method, path, query, status, bytes, duration, ua, host)
        let cases: &[(
            &str,
            &str,
            Option<&str>,
            Option<u16>,
            &str,
            &str,
            &str,
            u16,
            Option<u64>,
            Option<u64>,
            &str,
            &str,
        )] = &[
            (
                HTTPS_LINE,
                "2016-08-10T14:22:31.409123Z",
                Some("198.51.100.23"),
                Some(60211),
                "POST",
                "/api/carts/55/items",
                "src=web",
                201,
                Some(87),
                Some(210_570),
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)",
                "shop.example",
            ),
            // TCP listener: `-` statuses, `"- - - "` request.
            (
                "2016-08-10T14:22:32.000001Z shop-frontend 203.0.113.9:1024 10.0.3.17:5432 \
                 0.000900 0.000011 0.000040 - - 310 4096 \"- - - \" \"-\" - -",
                "2016-08-10T14:22:32.000001Z",
                Some("203.0.113.9"),
                Some(1024),
                "",
                "",
                "",
                0,
                Some(4096),
                Some(951),
                "",
                "",
            ),
            // Pre-2015 layout (ends after the request), no backend, -1 timings,
            // unbracketed IPv6 client.
            (
                "2014-01-02T03:04:05.678901Z legacy 2001:db8::42:33000 - -1 -1 -1 503 0 0 0 \
                 \"GET http://legacy.example:80/health HTTP/1.1\"",
                "2014-01-02T03:04:05.678901Z",
                Some("2001:db8::42"),
                Some(33000),
                "GET",
                "/health",
                "",
                503,
                Some(0),
                None,
                "",
                "legacy.example",
            ),
        ];
        for &(line, ts, client, port, method, path, query, status, bytes, dur, ua, host) in cases {
            let r = parse(line).unwrap_or_else(|e| panic!("{e:?} for {line}"));
            assert_eq!(r.ts.rfc3339(), ts, "{line}");
            assert_eq!(r.client, client.map(|c| c.parse().unwrap()), "{line}");
            assert_eq!(r.client_port, port, "{line}");
            assert_eq!(r.method, method.as_bytes(), "{line}");
            assert_eq!(r.path, path.as_bytes(), "{line}");
            assert_eq!(r.query, query.as_bytes(), "{line}");
            assert_eq!(r.status, status, "{line}");
            assert_eq!(r.bytes, bytes, "{line}");
            assert_eq!(r.duration_us, dur, "{line}");
            assert_eq!(r.user_agent, ua.as_bytes(), "{line}");
            assert_eq!(r.host, host.as_bytes(), "{line}");
            assert!(r.request_id.is_empty());
        }
    }

    #[test]
    fn comments_are_not_access() {
        assert_eq!(parse("# TCP lines follow").unwrap_err(), COMMENT);
        assert_eq!(parse("  #").unwrap_err(), COMMENT);
    }

    #[test]
    fn junk_and_truncated_lines_are_errors() {
        let cases: &[(&str, MalformedKind)] = &[
            ("", MalformedKind::Layout),
            ("GET / HTTP/1.1", MalformedKind::Layout),
            // An ALB line: leading type field.
            (
                "https 2016-08-10T14:22:31Z app/x/1 1.2.3.4:5 - 0 0 0 200 200 1 2 \"GET / HTTP/1.1\"",
                MalformedKind::Layout,
            ),
            (
                "2016-13-10T14:22:31Z elb 1.2.3.4:5",
                MalformedKind::Timestamp,
            ),
            (
                "2016-08-10T14:22:31Z elb not-an-ip:5 - 0 0 0 200 200 1 2 \"GET / HTTP/1.1\"",
                MalformedKind::Address,
            ),
            (
                "2016-08-10T14:22:31Z elb 1.2.3.4:5 - 0 0 0 2x0 200 1 2 \"GET / HTTP/1.1\"",
                MalformedKind::Status,
            ),
            (
                "2016-08-10T14:22:31Z elb 1.2.3.4:5 - 0 0 0 200 200 1 2",
                MalformedKind::Layout,
            ),
            (
                "2016-08-10T14:22:31Z elb 1.2.3.4:5 - 0 0 0 200 200 1 2 \"GET / HTTP/1.1",
                MalformedKind::Layout,
            ),
            (
                "2016-08-10T14:22:31Z elb 1.2.3.4:5 - 0 0 0 200 200 1 2 \"GET / HTTP/1.1\" \"curl/8",
                MalformedKind::Layout,
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(parse(line).map(|_| ()).unwrap_err().kind, *kind, "{line}");
        }
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let line = HTTPS_LINE.as_bytes();
        let req_end = HTTPS_LINE.find("HTTP/1.1\"").unwrap() + "HTTP/1.1".len();
        for i in 0..=line.len() {
            let r = parse_line(&line[..i]);
            if i <= req_end {
                assert!(r.is_err(), "prefix {i} parsed");
            }
        }
    }

    #[test]
    fn mutated_lines_do_not_panic() {
        let mut rng = crate::test_rng::Rng::new(0x2545_F491_4F6C_DD1Du64);
        let alphabet = b" \"-:[]./?0123456789aZ#\\\x00\xff";
        for _ in 0..5_000 {
            let l = crate::test_rng::mutated(&mut rng, HTTPS_LINE.as_bytes(), alphabet);
            let _ = parse_line(&l);
        }
    }
}
