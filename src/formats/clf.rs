//! The Common Log Format family: nginx and Apache `combined`/`common`, the
//! vhost variants, and the two gateways that extend it (Traefik's CLF and
//! ingress-nginx's `upstreaminfo`).
//!
//! One lenient parser, because real files drift: a vhost before the client, a
//! proxy chain (sometimes quoted) in the client position, an extra integer
//! between size and referer, a quoted `X-Forwarded-For` appended by the nginx
//! Docker image's `main` format. The anchor is the bracketed timestamp: what
//! precedes it is vhost/client/ident/user, what follows is request, status,
//! size and the optional quoted fields.

use super::fields::{self, Cursor, LAYOUT};
use super::{FormatOptions, LineParser, Malformed, MalformedKind, ParseResult, Record, time};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Combined,
    /// Requires Traefik's trailing `<count> "router" "service" <n>ms`.
    Traefik,
    /// Requires ingress-nginx's `len time [upstream] [alt] ... req_id` tail.
    Ingress,
}

pub struct ClfParser {
    variant: Variant,
    memo: time::TimeMemo,
}

const BAD_TIME: Malformed = Malformed::new(MalformedKind::Timestamp, "bad [time] field");
const ERROR_LOG: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "error-log line, not an access entry",
);
const BAD_CLIENT: Malformed =
    Malformed::new(MalformedKind::Address, "client position holds no address");

impl ClfParser {
    pub fn new(variant: Variant, _opts: &FormatOptions) -> Self {
        ClfParser {
            variant,
            memo: time::TimeMemo::clf(),
        }
    }
}

impl LineParser for ClfParser {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        parse(self.variant, line, &mut self.memo)
    }

    fn costly(&self) -> bool {
        false
    }
}

fn parse<'a>(variant: Variant, line: &'a [u8], memo: &mut time::TimeMemo) -> ParseResult<'a> {
    if fields::is_nginx_error_line(line) {
        return Err(fields::NGINX_ERROR);
    }
    let mut rec = Record::default();
    // The timestamp anchors everything: the first `[` that opens a CLF time.
    let head = Head::of(line).ok_or(LAYOUT)?;
    let mut open = head.open;
    let mut after = &line[open + 1..];
    // The same second as the line before: no scan, no parse.
    let (mut close, ts) = match memo.recall(after) {
        Some((close, ts)) => (close, Some(ts)),
        None => {
            let close = after.iter().position(|&c| c == b']').ok_or(LAYOUT)?;
            (close, memo.parse(&after[..close]))
        }
    };
    rec.ts = match ts {
        Some(t) => t,
        // Apache error-log lines start with `[Thu Oct 13 ...] [module:level]`.
        None if open == 0 => return Err(ERROR_LOG),
        // A `[` before the time (in a user name, say): the time is the
        // first bracket that holds one.
        None => {
            let (o, c, t) = later_time(line, open + 1).ok_or(BAD_TIME)?;
            (open, after, close) = (o, &line[o + 1..], c);
            t
        }
    };
    if open == head.open {
        head.prefix(line, &mut rec)?;
    } else {
        prefix(&line[..open], &mut rec)?;
    }

    let mut c = Cursor::new(&after[close + 1..]);
    let request = c.quoted().ok_or(LAYOUT)?;
    rec.set_request_line(request);
    rec.status = fields::status(c.token().ok_or(LAYOUT)?)?;
    rec.bytes = fields::uint(c.token().ok_or(LAYOUT)?);

    // Optional tail. Apache `%D`/`%I` variants put a bare integer before the
    // referer; skip it.
    c.skip_spaces();
    if matches!(c.peek(), Some(b'0'..=b'9')) && variant == Variant::Combined {
        let _ = c.token();
    }
    if c.is_empty() {
        return if variant == Variant::Combined {
            Ok(rec)
        } else {
            Err(LAYOUT)
        };
    }
    // Traefik writes an unquoted `-` for an empty referer.
    rec.referer = fields::dash(c.quoted_or_token().ok_or(LAYOUT)?);
    c.skip_spaces();
    if c.peek() == Some(b'"') {
        match c.quoted() {
            Some(ua) => rec.user_agent = fields::dash(ua),
            // A user agent cut off before its closing quote (seen in real
            // files): everything that matters came before it, so keep the
            // entry and take the agent to the end of the line.
            None if variant == Variant::Combined => {
                rec.user_agent = &c.rest[1..];
                return Ok(rec);
            }
            None => return Err(LAYOUT),
        }
    }
    match variant {
        Variant::Combined => combined_tail(c, &mut rec),
        Variant::Traefik => traefik_tail(c, &mut rec)?,
        Variant::Ingress => ingress_tail(c, &mut rec)?,
    }
    Ok(rec)
}

/// The first `[...]` at or after `from` that holds a CLF time: (position of
/// the `[`, of the `]` relative to the byte after it, the time).
fn later_time(line: &[u8], from: usize) -> Option<(usize, usize, super::Timestamp)> {
    let mut at = from;
    while let Some(i) = line[at..].iter().position(|&c| c == b'[') {
        let open = at + i;
        let after = &line[open + 1..];
        let close = after.iter().position(|&c| c == b']')?;
        if let Some(t) = time::parse_clf(&after[..close]) {
            return Some((open, close, t));
        }
        at = open + 1;
    }
    None
}

/// The first `[` of a line and, when what precedes it has the common shape
/// that [`simple_prefix`] reads (`address ident user `: three single spaces,
/// the last just before the `[`, no quote, comma or tab), where its first two
/// spaces are. Found in one pass, sixteen bytes at a time (SSE2), then
/// eight: the prefix is a few dozen bytes, and a search for the `[`
/// followed by a byte loop over the prefix cost 1.8% more of a combined
/// line's instructions than eight at a time (callgrind).
struct Head {
    open: usize,
    simple: Option<(usize, usize)>,
}

impl Head {
    fn of(line: &[u8]) -> Option<Head> {
        use fields::equal_bytes_exact as eq;
        let mut spaces = [0usize; 3];
        let mut n = 0;
        let mut odd = false;
        let mut at = 0;
        let mut open = None;
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        while let Some(chunk) = line.get(at..at + 16) {
            use std::arch::x86_64::*;
            // SAFETY: the cfg above guarantees SSE2 on the target; the load
            // reads the 16 bytes of `chunk`, unaligned. Bit i is byte i.
            let [bracket, odd_bytes, sp] = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast());
                let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                let odd_bytes = _mm_or_si128(_mm_or_si128(is(b'"'), is(b',')), is(b'\t'));
                [is(b'['), odd_bytes, is(b' ')].map(|m| _mm_movemask_epi8(m) as u32)
            };
            // The bytes before the first `[` (all of them without one).
            let before = (bracket & bracket.wrapping_neg()).wrapping_sub(1);
            odd |= odd_bytes & before != 0;
            let mut sp = sp & before;
            while sp != 0 {
                if n < 3 {
                    spaces[n] = at + sp.trailing_zeros() as usize;
                }
                n += 1;
                sp &= sp - 1;
            }
            if bracket != 0 {
                open = Some(at + bracket.trailing_zeros() as usize);
                break;
            }
            at += 16;
        }
        while open.is_none()
            && let Some(chunk) = line.get(at..at + 8)
        {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let bracket = eq(w, b'[');
            // The bytes before the first `[` (all of them without one).
            let before = ((bracket & bracket.wrapping_neg()) >> 7).wrapping_sub(1);
            odd |= (eq(w, b'"') | eq(w, b',') | eq(w, b'\t')) & before != 0;
            let mut sp = eq(w, b' ') & before;
            while sp != 0 {
                if n < 3 {
                    spaces[n] = at + (sp.trailing_zeros() / 8) as usize;
                }
                n += 1;
                sp &= sp - 1;
            }
            if bracket != 0 {
                open = Some(at + (bracket.trailing_zeros() / 8) as usize);
                break;
            }
            at += 8;
        }
        if open.is_none() {
            for (i, &c) in line[at..].iter().enumerate() {
                match c {
                    b'[' => {
                        open = Some(at + i);
                        break;
                    }
                    b' ' => {
                        if n < 3 {
                            spaces[n] = at + i;
                        }
                        n += 1;
                    }
                    b'"' | b',' | b'\t' => odd = true,
                    _ => {}
                }
            }
        }
        let open = open?;
        let [a, b, c] = spaces;
        // As `simple_prefix` wants the trimmed prefix: no empty token, and
        // only the one space before the `[` trimmed away.
        let simple = (!odd && n == 3 && c + 1 == open && a > 0 && b != a + 1 && b + 1 != c)
            .then_some((a, b));
        Some(Head { open, simple })
    }

    /// [`prefix`] of the bytes before the `[`.
    fn prefix<'a>(&self, line: &'a [u8], rec: &mut Record<'a>) -> Result<(), Malformed> {
        if let Some((a, b)) = self.simple
            && let Some(ip) = fields::ip(&line[..a])
        {
            rec.client = Some(ip);
            rec.principal = fields::dash(&line[b + 1..self.open - 1]);
            return Ok(());
        }
        prefix(&line[..self.open], rec)
    }
}

/// What precedes `[time]`: `[vhost[:port]] client ident user`, where the
/// client may be a (quoted) comma-separated proxy chain, a hostname, `unix:`
/// or missing ident/user altogether (seen in real files).
fn prefix<'a>(pre: &'a [u8], rec: &mut Record<'a>) -> Result<(), Malformed> {
    let pre = trim(pre);
    if pre.is_empty() {
        return Err(LAYOUT);
    }
    if simple_prefix(pre, rec) {
        return Ok(());
    }
    general_prefix(pre, rec)
}

/// Any prefix [`prefix`] accepts (after trimming).
fn general_prefix<'a>(pre: &'a [u8], rec: &mut Record<'a>) -> Result<(), Malformed> {
    let mut toks: [&[u8]; 16] = [b""; 16];
    let mut n = 0;
    let mut c = Cursor::new(pre);
    while let Some(t) = c.quoted_or_token() {
        if n == toks.len() {
            return Err(LAYOUT);
        }
        toks[n] = t;
        n += 1;
    }
    // ident and user are the last two tokens when there are at least three
    // (or two with a plain address first).
    let mut client_end = n;
    if n >= 3 || (n == 2 && !ends_chain(toks[0])) {
        if n >= 3 {
            rec.principal = fields::dash(toks[n - 1]);
            client_end = n - 2;
        } else {
            client_end = 1;
            rec.principal = fields::dash(toks[1]);
        }
    }
    let area = &toks[..client_end];
    let mut first = 0;
    // A vhost precedes the client when the first token is not an address and
    // more tokens follow; `host:port` is the Apache `%v:%p` form.
    if area.len() >= 2 && !ends_chain(area[0]) && fields::ip(area[0]).is_none() {
        let vh = area[0];
        rec.host = match memchr::memrchr(b':', vh) {
            Some(p) if fields::uint(&vh[p + 1..]).is_some() => &vh[..p],
            _ => vh,
        };
        first = 1;
    }
    let clients = &area[first..];
    let Some(last) = clients.last() else {
        return Err(LAYOUT);
    };
    let last = last.strip_suffix(b",").unwrap_or(last);
    // The rightmost entry is the peer that connected; a chain before it is
    // the forwarded-for list the trusted-proxy rule will walk.
    let last_entry = match memchr::memrchr(b',', last) {
        Some(p) => trim(&last[p + 1..]),
        None => last,
    };
    match fields::ip_port(last_entry) {
        Some((ip, port)) => {
            rec.client = Some(ip);
            rec.client_port = port;
        }
        None if is_named_client(last_entry) => {}
        None => return Err(BAD_CLIENT),
    }
    if clients.len() > 1 || memchr::memchr(b',', last).is_some() {
        // The whole client area as it was written (tokens are contiguous).
        let start = clients[0].as_ptr() as usize - pre.as_ptr() as usize;
        let end = last.as_ptr() as usize + last.len() - pre.as_ptr() as usize;
        rec.forwarded_for = &pre[start..end];
    }
    Ok(())
}

/// The common prefix, `address ident user`, read in one pass: three
/// tokens between single spaces, none quoted or holding a comma or tab, the
/// first an address. What the general reading below makes of such a prefix
/// (the user is the principal, the address the client, no port, no chain);
/// false, with `rec` untouched, for anything else.
fn simple_prefix<'a>(pre: &'a [u8], rec: &mut Record<'a>) -> bool {
    let mut spaces = [0usize; 2];
    let mut n = 0;
    for (i, &c) in pre.iter().enumerate() {
        match c {
            b' ' => {
                if n == 2 {
                    return false;
                }
                spaces[n] = i;
                n += 1;
            }
            b'"' | b',' | b'\t' => return false,
            _ => {}
        }
    }
    let [a, b] = spaces;
    // Empty tokens (two spaces in a row) are left to the general reading.
    if n != 2 || a == 0 || b == a + 1 || b + 1 == pre.len() {
        return false;
    }
    let Some(ip) = fields::ip(&pre[..a]) else {
        return false;
    };
    rec.client = Some(ip);
    rec.principal = fields::dash(&pre[b + 1..]);
    true
}

fn ends_chain(t: &[u8]) -> bool {
    t.last() == Some(&b',')
}

/// Hostnames (`HostnameLookups on`), `unix:` sockets, `localhost`, `-`: an
/// access entry whose client is not an address.
fn is_named_client(t: &[u8]) -> bool {
    !t.is_empty()
        && t.len() <= 253
        && t.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-._:/".contains(c))
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', tail @ ..] = b {
        b = tail;
    }
    while let [head @ .., b' ' | b'\t'] = b {
        b = head;
    }
    b
}

fn combined_tail<'a>(mut c: Cursor<'a>, rec: &mut Record<'a>) {
    // nginx Docker `main`: a third quoted field with X-Forwarded-For; some
    // pipelines write `X-Forwarded-For="..."` instead.
    c.skip_spaces();
    c.eat(b"X-Forwarded-For=");
    if c.peek() == Some(b'"')
        && let Some(xff) = c.quoted()
    {
        let xff = fields::dash(xff);
        if xff
            .first()
            .is_some_and(|b| b.is_ascii_hexdigit() || *b == b'[')
        {
            rec.forwarded_for = xff;
        }
    }
}

fn traefik_tail<'a>(c: Cursor<'a>, rec: &mut Record<'a>) -> Result<(), Malformed> {
    let rest = trim(c.rest);
    let ms = rest.strip_suffix(b"ms").ok_or(LAYOUT)?;
    let start = memchr::memrchr(b' ', ms).map_or(0, |p| p + 1);
    rec.duration_us = Some(fields::uint(&ms[start..]).ok_or(LAYOUT)? * 1000);
    Ok(())
}

fn ingress_tail<'a>(mut c: Cursor<'a>, rec: &mut Record<'a>) -> Result<(), Malformed> {
    let _request_length = fields::uint(c.token().ok_or(LAYOUT)?).ok_or(LAYOUT)?;
    rec.duration_us = fields::seconds_to_micros(c.token().ok_or(LAYOUT)?);
    c.bracketed().ok_or(LAYOUT)?;
    // Upstream lists may contain ", "; the request id is the last token.
    let rest = trim(c.rest);
    let p = memchr::memrchr(b' ', rest).ok_or(LAYOUT)?;
    let id = &rest[p + 1..];
    if id.len() != 32 || !id.iter().all(u8::is_ascii_hexdigit) {
        return Err(LAYOUT);
    }
    rec.request_id = id;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: Variant, l: &str) -> ParseResult<'_> {
        parse(v, l.as_bytes(), &mut time::TimeMemo::clf())
    }

    /// The one-pass prefix reading against the general one, on each
    /// prefix given and on every copy with one byte replaced by a byte the
    /// readings treat specially. Returns how many the one-pass reading took.
    fn simple_prefix_agrees(prefixes: &[Vec<u8>]) -> usize {
        let mut taken = 0;
        let mut check = |pre: &[u8]| {
            // The one-pass head of a line with this prefix reads it as the
            // general reading does.
            let mut line = pre.to_vec();
            line.extend_from_slice(b"[10/Oct/2000:13:55:36 -0700] x");
            let head = Head::of(&line).expect("a bracket");
            let open = line.iter().position(|&c| c == b'[').expect("a bracket");
            assert_eq!(head.open, open, "{}", String::from_utf8_lossy(&line));
            let (mut fast, mut slow) = (Record::default(), Record::default());
            assert_eq!(
                head.prefix(&line, &mut fast),
                prefix(&line[..open], &mut slow),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(fast, slow, "{}", String::from_utf8_lossy(&line));
            // And it takes the one-pass reading whenever that applies: a
            // prefix simple_prefix takes, with one space before the `[`.
            let mut r = Record::default();
            let applies = open == pre.len()
                && pre.ends_with(b" ")
                && !pre.ends_with(b"  ")
                && trim(pre).len() + 1 == pre.len()
                && simple_prefix(trim(pre), &mut r);
            assert!(
                !applies || head.simple.is_some(),
                "{}",
                String::from_utf8_lossy(&line)
            );
            let pre = trim(pre);
            let mut fast = Record::default();
            if pre.is_empty() || !simple_prefix(pre, &mut fast) {
                assert_eq!(fast, Record::default(), "{}", String::from_utf8_lossy(pre));
                return;
            }
            taken += 1;
            let mut slow = Record::default();
            general_prefix(pre, &mut slow).unwrap();
            assert_eq!(fast, slow, "{}", String::from_utf8_lossy(pre));
        };
        for pre in prefixes {
            check(pre);
            for i in 0..pre.len() {
                for b in [b' ', b'"', b',', b'\t', b':', b'a', b'.', b'1', b'-', b'['] {
                    let mut m = pre.clone();
                    m[i] = b;
                    check(&m);
                }
            }
        }
        taken
    }

    #[test]
    fn simple_prefix_agrees_with_the_general_reading() {
        let prefixes: Vec<Vec<u8>> = [
            "203.0.113.7 - alice ",
            "203.0.113.7 - - ",
            "::1 - - ",
            "2001:db8::7 - bob",
            "[2001:db8::7]:443 - bob",
            "10.0.0.1:8080 - bob",
            "example.com 10.0.0.2 - -",
            "localhost - -",
            "1.2.3.4 x y z",
            "1.2.3.4  - -",
            "1.2.3.4 - ",
            "1.2.3.4 x  ",
            "1.2.3.4  x ",
            " 1.2.3.4 - - ",
            "1.2.3.4 - -  ",
            "1.2.3.4 - alice\t",
            "203.0.113.7 - a-very-long-user-name-that-spans-words ",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        assert!(simple_prefix_agrees(&prefixes) > 0);
    }

    /// Every prefix of the CLF-family files under `../shared/real-logs`.
    #[test]
    fn simple_prefix_agrees_on_real_logs() {
        let clf = |name: &str| {
            ["apache", "nginx", "traefik-clf"]
                .iter()
                .any(|p| name.starts_with(p))
        };
        let Some(files) = super::super::real_logs(clf) else {
            return;
        };
        let mut prefixes = Vec::new();
        for text in files {
            // The remembered time carries from line to line: each line
            // read in turn by one parser reads as it does on its own.
            let mut parser = ClfParser::new(Variant::Combined, &FormatOptions::default());
            for line in text.split(|&b| b == b'\n') {
                if let Some(open) = line.iter().position(|&c| c == b'[') {
                    prefixes.push(line[..open].to_vec());
                }
                let alone = parse(Variant::Combined, line, &mut time::TimeMemo::clf());
                assert_eq!(
                    parser.parse(line),
                    alone,
                    "{}",
                    String::from_utf8_lossy(line)
                );
            }
        }
        assert!(prefixes.len() > 100, "{} prefixes", prefixes.len());
        assert!(simple_prefix_agrees(&prefixes) > 100);
    }

    #[test]
    fn nginx_combined() {
        let r = p(
            Variant::Combined,
            r#"203.0.113.7 - alice [02/Mar/2026:10:00:01 +0100] "GET /api/v1/customers/1234?x=1 HTTP/1.1" 404 153 "https://r/" "curl/8.0""#,
        )
        .unwrap();
        assert_eq!(r.client, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(r.principal, b"alice");
        assert_eq!(r.ts.rfc3339(), "2026-03-02T09:00:01Z");
        assert_eq!(
            (r.method, r.path, r.query),
            (&b"GET"[..], &b"/api/v1/customers/1234"[..], &b"x=1"[..])
        );
        assert_eq!((r.status, r.bytes), (404, Some(153)));
        assert_eq!(
            (r.referer, r.user_agent),
            (&b"https://r/"[..], &b"curl/8.0"[..])
        );
    }

    #[test]
    fn common_and_vhost_and_chain() {
        let r = p(
            Variant::Combined,
            r#"::1 - - [02/Mar/2026:10:00:01 +0000] "GET / HTTP/1.0" 200 -"#,
        )
        .unwrap();
        assert_eq!((r.status, r.bytes), (200, None));
        let r = p(
            Variant::Combined,
            r#"example.com 10.0.0.2, 10.0.0.1, 81.2.69.143 - - [07/Dec/2016:11:05:07 +0100] "GET /o HTTP/1.1" 200 571 "-" "UA""#,
        )
        .unwrap();
        assert_eq!(r.host, b"example.com");
        assert_eq!(r.client, Some("81.2.69.143".parse().unwrap()));
        assert_eq!(r.forwarded_for, b"10.0.0.2, 10.0.0.1, 81.2.69.143");
        let r = p(Variant::Combined, r#"localhost:443 178.20.184.42 1j0 jsmith [26/Jul/2023:00:01:26 -0700] "GET /s HTTP/2.0" 200 17 "-" "M" 116075"#).unwrap();
        assert_eq!((r.host, r.principal), (&b"localhost"[..], &b"jsmith"[..]));
        assert_eq!(r.client, Some("178.20.184.42".parse().unwrap()));
    }

    /// An empty `[]` holds no time, also as the first line a parser reads
    /// (a fresh memo remembers nothing, not even an empty text).
    #[test]
    fn empty_brackets_hold_no_time() {
        let opts = FormatOptions::default();
        let first = |l: &str| {
            ClfParser::new(Variant::Combined, &opts)
                .parse(l.as_bytes())
                .map(|r| (r.ts, r.principal.to_vec()))
        };
        assert_eq!(
            first(r#"10.0.0.1 - - [] "GET / HTTP/1.1" 200 5"#),
            Err(BAD_TIME)
        );
        assert_eq!(first(r#"[] x"#), Err(ERROR_LOG));
        let r = first(r#"10.0.0.1 - user[] [02/Mar/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5"#)
            .unwrap();
        assert_eq!(
            (r.0.rfc3339().as_str(), &r.1[..]),
            ("2026-03-02T10:00:01Z", &b"user[]"[..])
        );
    }

    /// A `[` in the user name is not the time; a line whose only brackets
    /// hold no time is still a timestamp error.
    #[test]
    fn bracket_in_user_name() {
        let r = p(
            Variant::Combined,
            r#"203.0.113.7 - [ops] [02/Mar/2026:10:00:01 +0000] "GET /a HTTP/1.1" 200 5 "-" "UA""#,
        )
        .unwrap();
        assert_eq!((r.principal, r.path), (&b"[ops]"[..], &b"/a"[..]));
        assert_eq!(r.ts.rfc3339(), "2026-03-02T10:00:01Z");
        let e = p(
            Variant::Combined,
            r#"203.0.113.7 - [ops] [yesterday] "GET /a HTTP/1.1" 200 5"#,
        )
        .unwrap_err();
        assert_eq!(e, BAD_TIME);
    }

    #[test]
    fn nginx_main_forwarded_for() {
        let r = p(Variant::Combined, r#"10.0.0.5 - - [02/Mar/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "UA" "198.51.100.4, 10.0.0.9""#).unwrap();
        assert_eq!(r.forwarded_for, b"198.51.100.4, 10.0.0.9");
    }

    #[test]
    fn unterminated_user_agent_keeps_the_entry() {
        let r = p(Variant::Combined, r#"1.2.3.4 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1"#).unwrap();
        assert_eq!((r.status, r.path), (200, &b"/x"[..]));
        assert_eq!(r.user_agent, b"Mozilla/5.0 (compatible; Googlebot/2.1");
    }

    #[test]
    fn garbage_request_is_still_an_entry() {
        let r = p(
            Variant::Combined,
            r#"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] "\x16\x03\x01" 400 157 "-" "-""#,
        )
        .unwrap();
        assert_eq!((r.status, r.path), (400, &b""[..]));
    }

    #[test]
    fn rejects() {
        assert_eq!(p(Variant::Combined, "").unwrap_err(), LAYOUT);
        assert_eq!(
            p(
                Variant::Combined,
                "[Thu Oct 13 12:24:49.880562 2022] [auth_basic:error] x"
            )
            .unwrap_err(),
            ERROR_LOG
        );
        assert_eq!(
            p(
                Variant::Combined,
                r#"1.2.3.4 - - [29/Foo/2023:10:26:06 -0700] "GET / HTTP/1.1" 200 1"#
            )
            .unwrap_err(),
            BAD_TIME
        );
        assert_eq!(
            p(
                Variant::Combined,
                r#"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] "GET / HTTP/1.1" 2x0 1"#
            )
            .unwrap_err()
            .kind,
            MalformedKind::Status
        );
        assert!(
            p(
                Variant::Traefik,
                r#"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] "GET / HTTP/1.1" 200 1 "-" "-""#
            )
            .is_err()
        );
    }

    #[test]
    fn traefik_and_ingress() {
        let r = p(Variant::Traefik, r#"89.160.20.156 - - [28/Feb/2018:17:30:33 +0000] "GET /en/ HTTP/2.0" 200 2814 - "Mozilla" 13 "Host-1" "http://172.19.0.6:14008" 247ms"#).unwrap();
        assert_eq!(r.duration_us, Some(247_000));
        assert_eq!(r.referer, b"");
        let r = p(Variant::Ingress, r#"192.168.64.1 - - [07/Feb/2020:11:49:15 +0000] "GET /products/42 HTTP/1.1" 200 59 "-" "curl/7.54.0" 91 0.001 [default-web-8080] [] 172.17.0.5:8080, 172.17.0.6:8080 59, 0 0.000, 0.001 200, 502 68fa971ce4dfce685fdc01c877bfa645"#).unwrap();
        assert_eq!(r.duration_us, Some(1000));
        assert_eq!(r.request_id, b"68fa971ce4dfce685fdc01c877bfa645");
    }

    #[test]
    fn no_panic_on_prefixes() {
        let l = br#"example.com 10.0.0.2, 1.2.3.4 - u [07/Dec/2016:11:05:07 +0100] "GET /o?x HTTP/1.1" 200 571 "-" "UA" 9 0.1 [u] [] a 1 2 3 68fa971ce4dfce685fdc01c877bfa645"#;
        for i in 0..l.len() {
            for v in [Variant::Combined, Variant::Traefik, Variant::Ingress] {
                let _ = parse(v, &l[..i], &mut time::TimeMemo::clf());
            }
        }
    }
}
