//! AWS Application Load Balancer access logs: one space-separated line per
//! request, some fields double-quoted, written by ALB to S3.
//!
//! AWS only ever appends fields at the end of the line, so this parser reads
//! the documented fields it needs by position, tolerates lines that stop after
//! the request line (older logs have 25 fields, newer ones 33 or more) and
//! ignores anything after the last field it uses. Collections of "ALB logs"
//! also carry the other AWS load-balancer logs (NLB TLS access logs, ALB
//! connection logs); those are well-formed but carry no HTTP request, so they
//! are reported as [`MalformedKind::NotAccess`] rather than as layout errors.

#![deny(clippy::indexing_slicing)]

use super::fields::optional_quoted;
use super::fields::{self, Cursor, LAYOUT};
use super::{LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// Parser for ALB access logs. Every field borrows from the line; the only
/// state is the last time's whole seconds.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct AlbParser {
    memo: time::IsoMemo,
}

/// The `type` values of the first field (HTTP listener, TLS listener, HTTP/2,
/// gRPC over TLS, WebSocket, WebSocket over TLS).
const TYPES: [&[u8]; 6] = [b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"];

const NOT_TYPE: Malformed = Malformed::new(
    MalformedKind::Layout,
    "first field is not an ALB request type",
);
const NLB_TLS: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "NLB TLS access log line (no HTTP request)",
);
const CONN_LOG: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "ALB connection log line (no HTTP request)",
);
const BAD_TIME: Malformed = Malformed::new(MalformedKind::Timestamp, "ALB time is not ISO 8601");

impl LineParser for AlbParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        parse_line(line, &mut self.memo)
    }
}

fn parse_line<'a>(line: &'a [u8], memo: &mut time::IsoMemo) -> ParseResult<'a> {
    let mut c = Cursor::new(line);
    let kind = c.token().ok_or(LAYOUT)?;
    if !TYPES.contains(&kind) {
        return Err(classify_other(kind, c));
    }

    let mut rec = Record {
        ts: memo.parse(c.token().ok_or(LAYOUT)?).ok_or(BAD_TIME)?,
        ..Record::default()
    };
    fields::aws_middle(&mut c, &mut rec)?;

    // The request line is the last field every ALB log version has. For
    // malformed requests it degrades to "- - -" or "- http://host:80- -";
    // those are still access entries (the client did send something), so a
    // request line that does not split leaves method and path empty.
    let request = c.quoted().ok_or(LAYOUT)?;
    let url_authority_host = rec
        .set_request_line(request)
        .map_or(&b""[..], fields::target_host);

    // Everything from here on is optional: older logs stop earlier, and a
    // field that is missing leaves its Record field empty.
    rec.user_agent = fields::dash(optional_quoted(&mut c)?);
    let _ssl_cipher = optional_token(&mut c);
    let _ssl_protocol = optional_token(&mut c);
    let _target_group_arn = optional_token(&mut c);
    rec.request_id = fields::dash(optional_quoted(&mut c)?);
    let domain_name = fields::dash(optional_quoted(&mut c)?);

    // The URL's authority is the Host header the client sent; the SNI name
    // (domain_name) is only there for TLS listeners, so it is the fallback.
    rec.host = if url_authority_host.is_empty() {
        domain_name
    } else {
        url_authority_host
    };
    Ok(rec)
}

/// A line that does not start with an ALB request type: tell the other AWS
/// load-balancer logs (which share S3 buckets and collections with ALB logs)
/// apart from lines of an unknown layout.
fn classify_other(first: &[u8], mut rest: Cursor<'_>) -> Malformed {
    if first == b"tls" {
        return NLB_TLS;
    }
    // Connection log: `timestamp client_ip client_port listener_port ...`.
    // An ISO time followed by a bare address and a bare port, so a Classic
    // ELB line (time, then a name) is not mistaken for one.
    if time::parse_iso(first).is_some() {
        let addr = rest.token().and_then(fields::ip);
        let port = rest.token().and_then(fields::uint);
        if addr.is_some() && port.is_some() {
            return CONN_LOG;
        }
    }
    NOT_TYPE
}

fn optional_token<'a>(c: &mut Cursor<'a>) -> &'a [u8] {
    c.token().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::formats::want::{NONE, Want};

    fn parse(line: &str) -> ParseResult<'_> {
        parse_line(line.as_bytes(), &mut time::IsoMemo::default())
    }

    /// A full-length (30 field) line shaped like the ones AWS writes.
    const HTTPS_LINE: &str = "https 2024-03-05T08:15:30.123456Z app/shop-prod/4f1e2d3c4b5a6978 \
        203.0.113.7:51234 10.1.2.3:8080 0.002 0.145 0.001 200 200 512 2048 \
        \"GET https://api.shop.example:443/v2/orders/981?expand=items&page=2 HTTP/1.1\" \
        \"okhttp/4.9.3\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 \
        arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/orders/0a1b2c3d4e5f6a7b \
        \"Root=1-65e6d4a2-0123456789abcdef01234567\" \"api.shop.example\" \
        \"arn:aws:acm:eu-west-1:111122223333:certificate/abcd\" 3 2024-03-05T08:15:29.975000Z \
        \"forward\" \"-\" \"-\" \"10.1.2.3:8080\" \"200\" \"-\" \"-\" TID_0a0b0c0d0e0f";

    fn check(line: &str, w: &Want) {
        let r = parse(line).unwrap_or_else(|e| panic!("{e:?} for {line}"));
        crate::formats::want::check(&r, line, w);
    }

    #[test]
    fn access_entries() {
        let cases: &[(&str, Want)] = &[
            (
                HTTPS_LINE,
                Want {
                    ts: "2024-03-05T08:15:30.123456Z",
                    client: Some("203.0.113.7"),
                    port: Some(51234),
                    method: "GET",
                    path: "/v2/orders/981",
                    query: "expand=items&page=2",
                    status: 200,
                    bytes: Some(2048),
                    duration: Some(148_000),
                    ua: "okhttp/4.9.3",
                    host: "api.shop.example",
                    request_id: "Root=1-65e6d4a2-0123456789abcdef01234567",
                    ..NONE
                },
            ),
            // 25 fields (the oldest layout), plain HTTP, WAF-blocked: no
            // target, all timings -1, no SNI.
            (
                "http 2021-11-02T23:59:59.000001Z app/edge/0011223344556677 198.51.100.20:40000 - \
                 -1 -1 -1 403 - 180 0 \"POST http://198.51.100.1:80/wp-login.php HTTP/1.1\" \
                 \"Mozilla/5.0 (X11; Linux x86_64)\" - - - \"Root=1-6181d0ff-aaaabbbbccccddddeeeeffff\" \
                 \"-\" \"-\" 0 2021-11-02T23:59:59.000000Z \"waf\" \"-\" \"-\"",
                Want {
                    ts: "2021-11-02T23:59:59.000001Z",
                    client: Some("198.51.100.20"),
                    port: Some(40000),
                    method: "POST",
                    path: "/wp-login.php",
                    query: "",
                    status: 403,
                    bytes: Some(0),
                    duration: None,
                    ua: "Mozilla/5.0 (X11; Linux x86_64)",
                    host: "198.51.100.1",
                    request_id: "Root=1-6181d0ff-aaaabbbbccccddddeeeeffff",
                    ..NONE
                },
            ),
            // Unbracketed IPv6 client, h2, a quoted field glued to the next
            // one (`"-"7`), as one AWS sample has it.
            (
                "h2 2022-06-30T12:00:00.5Z app/x/1 2001:db8:4::17:60001 10.0.0.9:443 0.000 0.010 0.000 \
                 204 204 77 0 \"DELETE https://[2001:db8::1]:443/items/7 HTTP/2.0\" \"-\" \
                 TLS_AES_128_GCM_SHA256 TLSv1.3 arn:tg \"Root=1-2\" \"-\" \"-\"7 2022-06-30T12:00:00.4Z \
                 \"forward\" \"-\" \"-\"",
                Want {
                    ts: "2022-06-30T12:00:00.500000Z",
                    client: Some("2001:db8:4::17"),
                    port: Some(60001),
                    method: "DELETE",
                    path: "/items/7",
                    query: "",
                    status: 204,
                    bytes: Some(0),
                    duration: Some(10_000),
                    ua: "",
                    host: "[2001:db8::1]",
                    request_id: "Root=1-2",
                    ..NONE
                },
            ),
            // Malformed request: still an access entry, host from SNI.
            (
                "https 2023-01-01T00:00:01.000000Z app/x/1 192.0.2.55:1234 - -1 -1 -1 400 - 0 0 \
                 \"- - -\" \"-\" - - - \"-\" \"shop.example\" \"-\" - 2023-01-01T00:00:01.000000Z \
                 \"-\" \"-\" \"-\" \"-\" \"-\" \"-\" \"-\"",
                Want {
                    ts: "2023-01-01T00:00:01Z",
                    client: Some("192.0.2.55"),
                    port: Some(1234),
                    method: "",
                    path: "",
                    query: "",
                    status: 400,
                    bytes: Some(0),
                    duration: None,
                    ua: "",
                    host: "shop.example",
                    request_id: "",
                    ..NONE
                },
            ),
            // The other malformed shape, `"- http://host:80- -"`, and a
            // bracketed IPv6 client; the line stops after the user agent.
            (
                "ws 2023-01-01T00:00:02Z app/x/1 [2001:db8::9]:5555 - -1 -1 -1 400 - 10 0 \
                 \"- http://chat.example:80- -\" \"-\"",
                Want {
                    ts: "2023-01-01T00:00:02Z",
                    client: Some("2001:db8::9"),
                    port: Some(5555),
                    method: "",
                    path: "",
                    query: "",
                    status: 400,
                    bytes: Some(0),
                    duration: None,
                    ua: "",
                    host: "",
                    request_id: "",
                    ..NONE
                },
            ),
            // A request target with a space in it (ALB logs it raw) and a
            // request line that is the last field of the line.
            (
                "http 2023-05-05T05:05:05.050505Z app/x/1 - - 0.001 0.002 0.003 301 - 99 120 \
                 \"GET http://10.9.8.7:80/cgi?x=a b;c HTTP/1.1\"",
                Want {
                    ts: "2023-05-05T05:05:05.050505Z",
                    client: None,
                    port: None,
                    method: "GET",
                    path: "/cgi",
                    query: "x=a b;c",
                    status: 301,
                    bytes: Some(120),
                    duration: Some(6_000),
                    ua: "",
                    host: "10.9.8.7",
                    request_id: "",
                    ..NONE
                },
            ),
        ];
        for (line, want) in cases {
            check(line, want);
        }
    }

    #[test]
    fn trailing_fields_are_ignored() {
        let longer =
            format!("{HTTPS_LINE} \"rewritten.example\" \"/new\" \"TransformSuccess\" x y z");
        let a = parse(HTTPS_LINE).unwrap();
        let b = parse(&longer).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn other_aws_logs_are_not_access() {
        let nlb = "tls 2.0 2024-02-02T10:00:00 net/front/0123 abcd 198.51.100.4:3000 10.0.0.1:443 \
                   12 4 300 900 - arn:cert - ECDHE-RSA-AES128-SHA tlsv12 - front.example h2 h2 \
                   \"h2\",\"http/1.1\" 2024-02-02T09:59:58";
        assert_eq!(parse(nlb).unwrap_err(), NLB_TLS);
        let conn = "2024-02-02T10:00:00.123456Z 198.51.100.4 3000 443 TLSv1.3 TLS_AES_128_GCM_SHA256 \
                    2.5 \"-\" - - - TID_77";
        assert_eq!(parse(conn).unwrap_err(), CONN_LOG);
        assert_eq!(parse(conn).unwrap_err().kind, MalformedKind::NotAccess);
    }

    #[test]
    fn junk_and_truncated_lines_are_errors() {
        let cases: &[(&str, MalformedKind)] = &[
            ("", MalformedKind::Layout),
            ("   ", MalformedKind::Layout),
            ("hello world", MalformedKind::Layout),
            ("{\"type\":\"https\"}", MalformedKind::Layout),
            // A Classic ELB line is not an ALB line.
            (
                "2015-05-13T23:39:43.945958Z my-elb 1.2.3.4:2817 10.0.0.1:80 0.1 0.1 0.1 200 200 0 5 \
                 \"GET / HTTP/1.1\"",
                MalformedKind::Layout,
            ),
            ("https", MalformedKind::Layout),
            ("https not-a-time app/x/1", MalformedKind::Timestamp),
            (
                "https 2024-03-05T08:15:30Z app/x/1 somehost:80 - 0 0 0 200",
                MalformedKind::Address,
            ),
            (
                "https 2024-03-05T08:15:30Z app/x/1 1.2.3.4:80 - 0 0 0 2000 200 1 2 \"GET / HTTP/1.1\"",
                MalformedKind::Status,
            ),
            // Cut before or inside the request line.
            (
                "https 2024-03-05T08:15:30Z app/x/1 1.2.3.4:80 - 0 0 0 200 200 1 2",
                MalformedKind::Layout,
            ),
            (
                "https 2024-03-05T08:15:30Z app/x/1 1.2.3.4:80 - 0 0 0 200 200 1 2 \"GET /x HT",
                MalformedKind::Layout,
            ),
            // Cut inside a trailing quoted field.
            (
                "https 2024-03-05T08:15:30Z app/x/1 1.2.3.4:80 - 0 0 0 200 200 1 2 \"GET / HTTP/1.1\" \"curl",
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
        for i in 0..=line.len() {
            let _ = parse_line(&line[..i], &mut time::IsoMemo::default());
        }
        // Cut before the request line closes: always an error.
        let req_end = HTTPS_LINE.find("HTTP/1.1\"").unwrap() + "HTTP/1.1".len();
        for i in 0..=req_end {
            assert!(
                parse_line(&line[..i], &mut time::IsoMemo::default()).is_err(),
                "prefix {i} parsed"
            );
        }
    }

    #[test]
    fn mutated_lines_do_not_panic() {
        let mut rng = crate::test_rng::Rng::new(0x9E37_79B9_7F4A_7C15u64);
        let alphabet = b" \"-:[]./?0123456789aZ\\\x00\xff";
        for _ in 0..5_000 {
            let l = crate::test_rng::mutated(&mut rng, HTTPS_LINE.as_bytes(), alphabet);
            let _ = parse_line(&l, &mut time::IsoMemo::default());
        }
    }

    /// One parser reading the ALB files under `../shared/real-logs` line
    /// after line (the remembered second carries over) gives what a fresh
    /// parser gives for each line alone.
    #[test]
    fn remembered_time_agrees_on_real_logs() {
        let Some(files) = super::super::real_logs(|name| name == "alb") else {
            return;
        };
        let mut lines = 0;
        for text in files {
            let mut p = AlbParser::default();
            for line in text.split(|&b| b == b'\n') {
                let alone = parse_line(line, &mut time::IsoMemo::default());
                assert_eq!(p.parse(line), alone, "{}", String::from_utf8_lossy(line));
                lines += alone.is_ok() as usize;
            }
        }
        assert!(lines > 10, "{lines} lines parsed");
    }

    #[test]
    fn parser_trait_object() {
        let mut p: Box<dyn LineParser> = Box::new(AlbParser::default());
        let r = p.parse(HTTPS_LINE.as_bytes()).unwrap();
        assert_eq!(r.status, 200);
    }
}
