//! HAProxy access logs in the HTTP log format (`option httplog`) and its
//! HTTPS extension, as delivered by syslog or written raw.
//!
//! `client:port [accept_date] frontend backend/server TR/Tw/Tc/Tr/Ta status
//! bytes_read req_cookie resp_cookie termination_state
//! actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue
//! {captured request headers} {captured response headers} "request line"`
//!
//! Syslog puts an RFC 3164 header (`Feb  6 12:14:14 host haproxy[pid]: `) in
//! front, and the same stream carries HAProxy's non-request messages (startup
//! notices, TLS handshake failures) and other daemons' lines: once a syslog
//! header is seen, a message that is not an access entry is
//! [`MalformedKind::NotAccess`]. The layout is configurable, so the parser
//! finds fields by shape where the documented layout varies in practice: an
//! extra token before the timers (one public sample logs the host there), 0 to
//! 2 capture groups, and trailing HTTPS fields after the request line.

#![deny(clippy::indexing_slicing)]

use super::envoy::strip_wrappers;
use super::fields::host_without_port;
use super::fields::{self, Cursor, LAYOUT};
use super::{LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// Parser for HAProxy HTTP (and TCP) logs. Stateless.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct HaproxyParser;

const NOTICE: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "syslog message that is not an HAProxy access entry",
);
const CONN_ERROR: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "connection error without a request (e.g. SSL handshake failure)",
);
const NOT_HAPROXY: Malformed = Malformed::new(
    MalformedKind::Layout,
    "line does not start with client:port [date]",
);
const BAD_TIME: Malformed = Malformed::new(
    MalformedKind::Timestamp,
    "accept date is not dd/Mon/yyyy:HH:MM:SS.mmm",
);
const BAD_CLIENT: Malformed = Malformed::new(MalformedKind::Address, "client is not address:port");
const NO_TIMERS: Malformed = Malformed::new(
    MalformedKind::Layout,
    "no TR/Tw/Tc/Tr/Ta timers after backend/server",
);
const NO_REQUEST: Malformed = Malformed::new(
    MalformedKind::Layout,
    "no quoted request line after the counters",
);

/// Messages HAProxy writes to the same log without a syslog header (when it
/// logs to stdout in raw format): they are known not to be access entries.
const NOTICE_PREFIXES: [&[u8]; 10] = [
    b"Proxy ",
    b"Connect from ",
    b"Server ",
    b"backend ",
    b"Backend ",
    b"Health check ",
    b"Stopping ",
    b"Pausing ",
    b"[WARNING]",
    b"[NOTICE]",
];

impl LineParser for HaproxyParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        parse_line(line)
    }
}

fn parse_line(line: &[u8]) -> ParseResult<'_> {
    let (had_header, msg) = split_syslog(strip_wrappers(line));
    // With a syslog header anything that is not an access entry is some
    // other message of a well-formed log stream, not a damaged line.
    let not_entry = |why: Malformed| {
        if had_header || NOTICE_PREFIXES.iter().any(|p| msg.starts_with(p)) {
            NOTICE
        } else {
            why
        }
    };

    let mut c = Cursor::new(msg);
    let client = c.token().ok_or_else(|| not_entry(NOT_HAPROXY))?;
    c.skip_spaces();
    if memchr::memchr(b':', client).is_none() || c.peek() != Some(b'[') {
        return Err(not_entry(NOT_HAPROXY));
    }
    let date = c.bracketed().ok_or_else(|| not_entry(NOT_HAPROXY))?;
    let mut rec = Record::default();
    (rec.client, rec.client_port) = client_port(client)?;
    // HAProxy logs the accept date in local time without a zone; there is no
    // way to know the offset, so it is taken as UTC (as time::parse_clf does).
    rec.ts = time::parse_clf(date).ok_or(BAD_TIME)?;

    let frontend = c.token().ok_or(LAYOUT)?;
    // `client [date] frontend/bind: SSL handshake failure` and friends: the
    // connection failed before any request was read.
    if frontend.ends_with(b":") {
        return Err(CONN_ERROR);
    }
    let backend = c.token().ok_or(LAYOUT)?;
    if memchr::memchr(b'/', backend).is_none() {
        return Err(LAYOUT);
    }

    // Custom log-formats sometimes add a field here (one public sample logs
    // the Host header); the timers are recognised by their shape instead.
    let tok = c.token().ok_or(NO_TIMERS)?;
    let (extra, timers) = match Timers::parse(tok) {
        Some(t) => (&b""[..], t),
        None => (tok, c.token().and_then(Timers::parse).ok_or(NO_TIMERS)?),
    };
    // The last timer is the total time (Ta, or Tt in tcplog / older
    // versions); -1 means the session was aborted before it could be timed.
    rec.duration_us = timers
        .total
        .and_then(|ms| u64::try_from(ms).ok())
        .and_then(|ms| ms.checked_mul(1000));

    if timers.count == 3 {
        // TCP log format (`option tcplog`): a connection, not a request.
        // `Tw/Tc/Tt bytes_read termination_state conns queues`, all required
        // so that an HTTP line cut inside its timers is not taken for one.
        rec.bytes = Some(c.token().and_then(size).ok_or(LAYOUT)?);
        let _termination = c.token().ok_or(LAYOUT)?;
        counters(&mut c)?;
        return Ok(rec);
    }

    rec.status = status(c.token().ok_or(LAYOUT)?)?;
    rec.bytes = size(c.token().ok_or(LAYOUT)?);
    let _req_cookie = c.token().ok_or(LAYOUT)?;
    let _resp_cookie = c.token().ok_or(LAYOUT)?;
    let _termination = c.token().ok_or(LAYOUT)?;
    counters(&mut c)?;

    // Up to two capture groups; captured values are `|`-separated and HAProxy
    // escapes `{`, `|`, `}` and `"` inside them, so the group ends at the
    // first `}`. The first group holds the captured request headers.
    let mut first_capture: Option<&[u8]> = None;
    for _ in 0..2 {
        c.skip_spaces();
        let Some(body) = c.rest.strip_prefix(b"{") else {
            break;
        };
        let end = memchr::memchr(b'}', body).ok_or(LAYOUT)?;
        let (group, tail) = body.split_at(end);
        c.rest = tail.get(1..).unwrap_or_default();
        first_capture.get_or_insert(group);
    }

    // The request line. HAProxy does not backslash-escape it (it writes
    // `#22` for a quote), so it ends at the next quote, not where
    // Cursor::quoted would stop. A missing closing quote means syslog cut
    // the line at its length limit (1024 bytes by default): the method and
    // the start of a long URL are still worth keeping.
    c.skip_spaces();
    let body = c.rest.strip_prefix(b"\"").ok_or(NO_REQUEST)?;
    let request = match memchr::memchr(b'"', body) {
        Some(end) => body.get(..end).unwrap_or(body),
        None => body,
    };
    // `"<BADREQ>"` (unparseable request) leaves method and path empty but
    // is still an access entry.
    rec.set_request_line(request);

    // Host: the extra token when it is a host, else the first captured
    // request header when it looks like one (`capture request header Host`
    // is the usual first capture). Trailing HTTPS fields are ignored.
    let extra = fields::dash(extra);
    let captured = first_capture
        .map(|g| g.split(|&b| b == b'|').next().unwrap_or_default())
        .unwrap_or_default();
    rec.host = if looks_like_host(extra) {
        host_without_port(extra)
    } else if looks_like_host(captured) {
        host_without_port(captured)
    } else {
        b""
    };
    Ok(rec)
}

/// `actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue`: only
/// their shape matters, as an anchor for what follows.
fn counters(c: &mut Cursor<'_>) -> Result<(), Malformed> {
    let conns = c.token().ok_or(LAYOUT)?;
    let queues = c.token().ok_or(LAYOUT)?;
    let slashes = |b: &[u8]| b.iter().filter(|&&x| x == b'/').count();
    if slashes(conns) == 4 && slashes(queues) == 1 {
        Ok(())
    } else {
        Err(LAYOUT)
    }
}

/// Split off a syslog header if there is one: optional `<PRI>`, an RFC 3164
/// time (`Feb  6 12:14:14`, day space-padded) or an RFC 3339 one (rsyslog's
/// high-precision format), an optional hostname (absent when HAProxy logs to
/// stdout itself), and a tag `name[pid]:` or `name:`.
fn split_syslog(line: &[u8]) -> (bool, &[u8]) {
    let mut c = Cursor::new(line);
    if let Some(tail) = c.rest.strip_prefix(b"<") {
        let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        match tail.get(n..).and_then(|t| t.strip_prefix(b">")) {
            Some(after) if (1..=3).contains(&n) => c.rest = after,
            _ => return (false, line),
        }
    }
    let Some(first) = c.token() else {
        return (false, line);
    };
    let timed = if time::parse_iso(first).is_some() {
        true
    } else {
        let day = c.token().unwrap_or_default();
        let clock = c.token().unwrap_or_default();
        is_month(first) && is_day(day) && is_clock(clock)
    };
    if !timed {
        return (false, line);
    }
    // host then tag, or the tag alone.
    for _ in 0..2 {
        let Some(tok) = c.token() else {
            return (false, line);
        };
        if is_tag(tok) {
            c.skip_spaces();
            return (true, c.rest);
        }
    }
    (false, line)
}

fn is_month(b: &[u8]) -> bool {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS.contains(&b)
}

fn is_day(b: &[u8]) -> bool {
    (1..=2).contains(&b.len()) && b.iter().all(u8::is_ascii_digit)
}

fn is_clock(b: &[u8]) -> bool {
    matches!(b, [h1, h2, b':', m1, m2, b':', s1, s2]
        if [h1, h2, m1, m2, s1, s2].iter().all(|d| d.is_ascii_digit()))
}

/// `name[pid]:` or `name:`.
fn is_tag(b: &[u8]) -> bool {
    let Some(b) = b.strip_suffix(b":") else {
        return false;
    };
    let name = match b.strip_suffix(b"]") {
        Some(inner) => {
            let Some(open) = memchr::memrchr(b'[', inner) else {
                return false;
            };
            let (name, pid) = inner.split_at(open);
            let pid = pid.get(1..).unwrap_or_default();
            if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
                return false;
            }
            name
        }
        None => b,
    };
    !name.is_empty()
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
}

/// `ip:port`, `[v6]:port`, unbracketed `v6:port` (HAProxy writes `%ci:%cp`),
/// or `-:port` / `unix:n` when there is no IP client.
fn client_port(b: &[u8]) -> Result<(Option<std::net::IpAddr>, Option<u16>), Malformed> {
    let p = memchr::memrchr(b':', b).ok_or(BAD_CLIENT)?;
    let (addr, port) = b.split_at(p);
    let port = port
        .get(1..)
        .and_then(fields::uint)
        .and_then(|p| u16::try_from(p).ok());
    match addr {
        b"-" | b"unix" => Ok((None, port)),
        _ => match (fields::ip(addr), port) {
            (Some(a), Some(port)) => Ok((Some(a), Some(port))),
            _ => Err(BAD_CLIENT),
        },
    }
}

/// The slash-separated timers: five for HTTP logs, three for TCP logs.
struct Timers {
    count: usize,
    total: Option<i64>,
}

impl Timers {
    fn parse(b: &[u8]) -> Option<Timers> {
        let mut count = 0;
        let mut total = None;
        for part in b.split(|&c| c == b'/') {
            total = Some(signed(part)?);
            count += 1;
        }
        matches!(count, 3 | 5).then_some(Timers { count, total })
    }
}

/// `-1`, `42`, or `+42` (`option logasap` prefixes totals that were not
/// final when the line was written).
fn signed(b: &[u8]) -> Option<i64> {
    match b {
        [b'-', digits @ ..] => fields::uint(digits)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        [b'+', digits @ ..] => fields::uint(digits).and_then(|v| i64::try_from(v).ok()),
        _ => fields::uint(b).and_then(|v| i64::try_from(v).ok()),
    }
}

/// bytes_read, possibly `+`-prefixed under `option logasap`.
fn size(b: &[u8]) -> Option<u64> {
    fields::uint(b.strip_prefix(b"+").unwrap_or(b))
}

/// HAProxy writes `-1` when no response was sent (client aborted).
fn status(b: &[u8]) -> Result<u16, Malformed> {
    if b == b"-1" { Ok(0) } else { fields::status(b) }
}

/// A captured or logged value that can be a Host header: host characters
/// only, and not a bare number (a captured Content-Length, say). Rules out
/// the other common first captures (User-Agent, Referer).
fn looks_like_host(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 255
        && b.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
        && !b.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::formats::want::{NONE, Want};

    fn parse(line: &str) -> ParseResult<'_> {
        parse_line(line.as_bytes())
    }

    const LINE: &str = "Mar  4 21:07:13 lb-2 haproxy[2214]: 198.51.100.77:52110 \
        [04/Mar/2024:21:07:13.481] public~ api_back/api-3 2/0/1/34/37 200 1893 - - ---- \
        12/12/4/2/0 0/0 {shop.example:443|okhttp/4.12} {nginx} \
        \"GET /orders/5521/invoice.pdf?download=1 HTTP/1.1\"";

    fn check(line: &str, w: &Want) {
        let r = parse(line).unwrap_or_else(|e| panic!("{e:?} for {line}"));
        crate::formats::want::check(&r, line, w);
    }

    const BASE: Want = Want {
        ts: "2024-03-04T21:07:13.481000Z",
        client: Some("198.51.100.77"),
        port: Some(52110),
        method: "GET",
        path: "/orders/5521/invoice.pdf",
        query: "download=1",
        status: 200,
        bytes: Some(1893),
        duration: Some(37_000),
        host: "shop.example",
        ..NONE
    };

    #[test]
    fn http_log_with_syslog_header() {
        check(LINE, &BASE);
    }

    #[test]
    fn header_variants() {
        let msg = LINE.split_once("]: ").unwrap().1;
        let variants = [
            msg.to_string(),
            format!("Mar 14 21:07:13 lb-2 haproxy[2214]: {msg}"),
            format!("Mar  4 21:07:13 lb-2 haproxy: {msg}"),
            format!("<134>Mar  4 21:07:13 haproxy[1]: {msg}"),
            format!("2024-03-04T21:07:13.481516+00:00 lb-2 haproxy[2214]: {msg}"),
            format!("2024-03-04T21:07:13.5Z stdout F {msg}"),
        ];
        for v in &variants {
            check(v, &BASE);
        }
    }

    #[test]
    fn layout_variants() {
        // `-:port` client, an extra host token before the timers, no captures.
        check(
            "Apr 30 08:00:01 edge haproxy[77]: -:41022 [30/Apr/2023:08:00:01.002] www-https~ \
             app/web-1 portal.example.org 0/0/2/20/22 302 411 - - ---- 3/3/0/0/0 0/0 \"GET /login HTTP/1.1\"",
            &Want {
                ts: "2023-04-30T08:00:01.002000Z",
                client: None,
                port: Some(41022),
                method: "GET",
                path: "/login",
                query: "",
                status: 302,
                bytes: Some(411),
                duration: Some(22_000),
                host: "portal.example.org",
                ..NONE
            },
        );
        // No server chosen, -1 timers, a User-Agent as the first capture
        // (not a host), an empty second group.
        check(
            "10.20.30.40:5000 [01/Jan/2022:00:00:00.000] fe be/<NOSRV> 0/-1/-1/-1/0 503 221 - - SC-- \
             1/1/0/0/0 0/0 {Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101} {} \"HEAD / HTTP/1.0\"",
            &Want {
                ts: "2022-01-01T00:00:00Z",
                client: Some("10.20.30.40"),
                port: Some(5000),
                method: "HEAD",
                path: "/",
                query: "",
                status: 503,
                bytes: Some(221),
                duration: Some(0),
                host: "",
                ..NONE
            },
        );
        // Bad request, aborted session (Ta = -1), unbracketed IPv6 client.
        check(
            "2001:db8:1::5:60000 [15/Aug/2021:10:11:12.999] fe~ fe/<NOSRV> -1/-1/-1/-1/-1 400 0 - - CR-- \
             5/1/0/0/0 0/0 \"<BADREQ>\"",
            &Want {
                ts: "2021-08-15T10:11:12.999000Z",
                client: Some("2001:db8:1::5"),
                port: Some(60000),
                method: "",
                path: "",
                query: "",
                status: 400,
                bytes: Some(0),
                duration: None,
                host: "",
                ..NONE
            },
        );
        // HTTPS format: trailing TLS fields, `{host}` capture, logasap `+`.
        check(
            "Jun  1 00:00:00 lb haproxy[9]: 192.0.2.1:443 [01/Jun/2025:00:00:00.010] https-in~ \
             static/s1 1/0/2/3/+6 200 +512 - - ---- 1/1/1/1/0 0/0 {cdn.example} {} \
             \"GET /a.css?v=3 HTTP/2.0\" 0/0/0/0/1 cdn.example/TLSv1.3/TLS_AES_128_GCM_SHA256",
            &Want {
                ts: "2025-06-01T00:00:00.010000Z",
                client: Some("192.0.2.1"),
                port: Some(443),
                method: "GET",
                path: "/a.css",
                query: "v=3",
                status: 200,
                bytes: Some(512),
                duration: Some(6_000),
                host: "cdn.example",
                ..NONE
            },
        );
        // Request line cut by syslog's length limit, raw backslashes, status -1.
        check(
            "192.0.2.9:1 [02/Feb/2020:02:02:02.202] fe be/s 0/0/0/-1/5 -1 0 - - CD-- 1/1/1/1/0 0/0 \
             \"GET /x\\y?q=\\\"",
            &Want {
                ts: "2020-02-02T02:02:02.202000Z",
                client: Some("192.0.2.9"),
                port: Some(1),
                method: "GET",
                path: "/x\\y",
                query: "q=\\",
                status: 0,
                bytes: Some(0),
                duration: Some(5_000),
                host: "",
                ..NONE
            },
        );
        check(
            "192.0.2.9:1 [02/Feb/2020:02:02:02.202] fe be/s 0/0/0/1/5 200 10 - - ---- 1/1/1/1/0 0/0 \
             \"GET /very/long/path/that/was/cu",
            &Want {
                ts: "2020-02-02T02:02:02.202000Z",
                client: Some("192.0.2.9"),
                port: Some(1),
                method: "GET",
                path: "/very/long/path/that/was/cu",
                query: "",
                status: 200,
                bytes: Some(10),
                duration: Some(5_000),
                host: "",
                ..NONE
            },
        );
        // TCP log format: a connection with no status or request.
        check(
            "192.0.2.10:2000 [03/Mar/2021:03:03:03.303] tcp-in pg/db1 0/1/250 4096 -- 1/1/1/1/0 0/0",
            &Want {
                ts: "2021-03-03T03:03:03.303000Z",
                client: Some("192.0.2.10"),
                port: Some(2000),
                method: "",
                path: "",
                query: "",
                status: 0,
                bytes: Some(4096),
                duration: Some(250_000),
                host: "",
                ..NONE
            },
        );
    }

    #[test]
    fn non_request_lines_are_not_access() {
        let cases: &[(&str, Malformed)] = &[
            (
                "Mar  4 21:00:00 lb-2 haproxy[1]: Proxy api_back started.",
                NOTICE,
            ),
            (
                "Mar  4 21:00:00 lb-2 haproxy[1]: Connect from 192.0.2.1:5000 to 10.0.0.1:80 (fe/HTTP)",
                NOTICE,
            ),
            (
                "Mar  4 21:00:00 lb-2 sshd[881]: Accepted publickey for ops from 192.0.2.3 port 2222",
                NOTICE,
            ),
            ("Mar  4 21:00:00 lb-2 kernel: eth0: link up", NOTICE),
            ("Mar  4 21:00:00 lb-2 haproxy[1]: ", NOTICE),
            ("Proxy stats started.", NOTICE),
            ("[WARNING]  (1) : config : missing timeouts", NOTICE),
            (
                "Mar  4 21:00:05 lb-2 haproxy[7]: 192.0.2.44:50001 [04/Mar/2024:21:00:04.100] public/1: SSL handshake failure",
                CONN_ERROR,
            ),
            (
                "192.0.2.44:50002 [04/Mar/2024:21:00:04.200] public/1: Stopped a TLSv1 heartbeat attack (CVE-2014-0160)",
                CONN_ERROR,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line).map(|_| ()).unwrap_err(), *want, "{line}");
        }
    }

    #[test]
    fn junk_and_truncated_lines_are_errors() {
        let cases: &[(&str, MalformedKind)] = &[
            ("", MalformedKind::Layout),
            ("hello", MalformedKind::Layout),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 5",
                MalformedKind::Layout,
            ),
            (
                "192.0.2.1:80 [31/Foo/2024:00:00:00.000] fe be/s 0/0/0/0/0 200 1 - - ---- 1/1/1/1/0 0/0 \"GET / HTTP/1.1\"",
                MalformedKind::Timestamp,
            ),
            (
                "host:80 [01/Jan/2024:00:00:00.000] fe be/s 0/0/0/0/0 200 1 - - ---- 1/1/1/1/0 0/0 \"GET / HTTP/1.1\"",
                MalformedKind::Address,
            ),
            (
                "192.0.2.1:99999 [01/Jan/2024:00:00:00.000] fe be/s",
                MalformedKind::Address,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe be/s 0/0/0/0/0 20 1 - - ---- 1/1/1/1/0 0/0 \"GET / HTTP/1.1\"",
                MalformedKind::Status,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe be/s x y 0/0/0/0/0",
                MalformedKind::Layout,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe be/s 0/0/0/0/0 200 1 - - ---- 1/1/1/1/0 0/0",
                MalformedKind::Layout,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe be/s 0/0/0/0/0 200 1 - - ---- 1/1/1/1/0 0/0 {abc",
                MalformedKind::Layout,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe be/s 0/0/0/0/0 200 1 - - ---- 1/1/1/1/0",
                MalformedKind::Layout,
            ),
            (
                "192.0.2.1:80 [01/Jan/2024:00:00:00.000] fe",
                MalformedKind::Layout,
            ),
            ("192.0.2.1:80 [01/Jan/2024:00:0", MalformedKind::Layout),
        ];
        for (line, kind) in cases {
            assert_eq!(parse(line).map(|_| ()).unwrap_err().kind, *kind, "{line}");
        }
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        let line = LINE.as_bytes();
        // Before the request line opens the entry is incomplete.
        let req_start = LINE.find("\"GET").unwrap();
        for i in 0..=line.len() {
            let r = parse_line(&line[..i]);
            if i <= req_start {
                assert!(r.is_err(), "prefix {i} parsed");
            }
        }
    }

    #[test]
    fn mutated_lines_do_not_panic() {
        let mut rng = crate::test_rng::Rng::new(0xDEAD_BEEF_CAFE_F00Du64);
        let alphabet = b" \"-:[]./?0123456789aZ{}|<>+\\\x00\xff";
        for _ in 0..5_000 {
            let l = crate::test_rng::mutated(&mut rng, LINE.as_bytes(), alphabet);
            let _ = parse_line(&l);
        }
    }
}
