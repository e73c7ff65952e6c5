//! Field-level parsers shared by the text formats: a byte cursor that walks
//! space-separated tokens, quoted strings and bracketed groups, and small
//! converters (addresses, status codes, sizes, durations).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Malformed, MalformedKind};

pub const LAYOUT: Malformed = Malformed::new(MalformedKind::Layout, "missing or misplaced field");

/// A forward-only cursor over one line.
#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    pub rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(line: &'a [u8]) -> Self {
        Cursor { rest: line }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub fn skip_spaces(&mut self) {
        while let [b' ' | b'\t', tail @ ..] = self.rest {
            self.rest = tail;
        }
    }

    /// Consume `lit` if the line continues with it.
    pub fn eat(&mut self, lit: &[u8]) -> bool {
        match self.rest.strip_prefix(lit) {
            Some(tail) => {
                self.rest = tail;
                true
            }
            None => false,
        }
    }

    /// The next space-delimited token (leading spaces skipped).
    pub fn token(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        if self.rest.is_empty() {
            return None;
        }
        let end = find_blank(self.rest).unwrap_or(self.rest.len());
        let (tok, tail) = self.rest.split_at(end);
        self.rest = tail;
        Some(tok)
    }

    /// Bytes up to (not including) `delim`; the delimiter is consumed.
    pub fn until(&mut self, delim: u8) -> Option<&'a [u8]> {
        let end = memchr::memchr(delim, self.rest)?;
        let v = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Some(v)
    }

    /// A `"..."` string. Backslash escapes (`\"`, `\\`) are skipped over but
    /// kept in the returned bytes: nginx writes `\x22`, Apache `\"`.
    pub fn quoted(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        let body = self.rest.strip_prefix(b"\"")?;
        let mut i = 0;
        loop {
            let j = find_either(&body[i..], b'"', b'\\')? + i;
            if body[j] == b'\\' {
                i = j + 2;
                if i > body.len() {
                    return None;
                }
            } else {
                self.rest = &body[j + 1..];
                return Some(&body[..j]);
            }
        }
    }

    /// A `[...]` group (no nesting).
    pub fn bracketed(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        let body = self.rest.strip_prefix(b"[")?;
        let end = memchr::memchr(b']', body)?;
        self.rest = &body[end + 1..];
        Some(&body[..end])
    }

    /// Either a quoted string or a bare token (for fields some writers quote).
    pub fn quoted_or_token(&mut self) -> Option<&'a [u8]> {
        self.skip_spaces();
        if self.peek() == Some(b'"') {
            self.quoted()
        } else {
            self.token()
        }
    }
}

/// The first space or tab in `b`.
pub fn find_blank(b: &[u8]) -> Option<usize> {
    find_either(b, b' ', b'\t')
}

/// The first byte of `b` that is `x` or `y`. Sixteen bytes at a time
/// (SSE2), then eight, then one: fields run from a status code to a user
/// agent of a few hundred bytes, mostly too short for a call into `memchr`
/// to pay off. With the same for the prefix (`clf.rs`), a combined line
/// took 4% fewer instructions than with `memchr2` and eight bytes at a
/// time (callgrind, 100 k lines of the bench log).
#[inline]
pub fn find_either(b: &[u8], x: u8, y: u8) -> Option<usize> {
    #[cfg_attr(
        not(all(target_arch = "x86_64", target_feature = "sse2")),
        allow(unused_mut)
    )]
    let mut at = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = b.get(at..at + 16) {
        use std::arch::x86_64::*;
        // SAFETY: the cfg above guarantees SSE2 on the target; the load
        // reads the 16 bytes of `chunk`, unaligned.
        let hits = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            _mm_movemask_epi8(_mm_or_si128(is(x), is(y))) as u32
        };
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize);
        }
        at += 16;
    }
    find_by_word(
        b,
        at,
        |w| equal_bytes(w, x) | equal_bytes(w, y),
        |c| c == x || c == y,
    )
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` equal to `c`. Only the lowest flag is
/// exact (bytes above a true one may be flagged wrongly), and an OR of
/// such masks keeps that: its lowest flag is the lowest of their true ones.
pub fn equal_bytes(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The high bit of each byte of `w` equal to `c`, every one exact: no
/// borrow crosses from byte to byte (each adds at most 0x7f + 0x7f).
pub fn equal_bytes_exact(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

/// The high bit of each byte of `w` below `c` (at most 0x80), with the
/// same exactness as [`equal_bytes`].
pub fn bytes_below(w: u64, c: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(c)) & !w & HIGH
}

/// The first position at or after `from` whose byte `word` flags (in
/// eight-byte words, little-endian, lowest flag taken) or, in the last
/// few bytes, `byte` accepts: both must describe the same bytes.
#[inline]
pub fn find_by_word(
    b: &[u8],
    mut from: usize,
    word: impl Fn(u64) -> u64,
    byte: impl Fn(u8) -> bool,
) -> Option<usize> {
    while let Some(chunk) = b.get(from..from + 8) {
        let hits = word(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if hits != 0 {
            return Some(from + (hits.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    b.get(from..)?
        .iter()
        .position(|&c| byte(c))
        .map(|n| from + n)
}

/// An nginx error-log line (`2021/12/01 13:53:33 [error] ...`), which some
/// setups write into the access log.
pub fn is_nginx_error_line(l: &[u8]) -> bool {
    l.len() > 20
        && l[4] == b'/'
        && l[7] == b'/'
        && l[10] == b' '
        && l[13] == b':'
        && l[..4].iter().all(u8::is_ascii_digit)
        && l[20..].starts_with(b"[")
}

pub const NGINX_ERROR: Malformed = Malformed::new(
    MalformedKind::NotAccess,
    "nginx error-log line, not an access entry",
);

/// `-` (the universal "absent") becomes empty.
pub fn dash(b: &[u8]) -> &[u8] {
    if b == b"-" { b"" } else { b }
}

/// A three-digit HTTP status (`-` and `0` give 0).
pub fn status(b: &[u8]) -> Result<u16, Malformed> {
    const BAD: Malformed = Malformed::new(MalformedKind::Status, "status is not a 3-digit code");
    match b {
        b"-" | b"0" | b"000" => Ok(0),
        [a, b2, c] if a.is_ascii_digit() && b2.is_ascii_digit() && c.is_ascii_digit() => {
            Ok((a - b'0') as u16 * 100 + (b2 - b'0') as u16 * 10 + (c - b'0') as u16)
        }
        _ => Err(BAD),
    }
}

/// A decimal integer; `-` is `None`, junk is `None` too (sizes are optional).
pub fn uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u64;
    }
    Some(v)
}

/// Decimal seconds (`0.012`, `-1` = not measured) to microseconds.
pub fn seconds_to_micros(b: &[u8]) -> Option<u64> {
    if b.first() == Some(&b'-') {
        return None;
    }
    // A few bytes ("0.001"): a plain loop, not a call into memchr.
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b""[..]),
    };
    let mut v = uint(int)?.checked_mul(1_000_000)?;
    let mut scale = 100_000;
    for &c in frac.iter().take(6) {
        if !c.is_ascii_digit() {
            return None;
        }
        v += (c - b'0') as u64 * scale;
        scale /= 10;
    }
    Some(v)
}

/// An IPv4 or IPv6 address (IPv6 may be bracketed; a zone id is dropped).
pub fn ip(b: &[u8]) -> Option<IpAddr> {
    let b = b
        .strip_prefix(b"[")
        .and_then(|x| x.strip_suffix(b"]"))
        .unwrap_or(b);
    if b.len() < 2 || b.len() > 45 {
        return None;
    }
    // Most addresses are IPv4: try that first (it stops at the first byte
    // that is neither a digit nor a dot), and only then look for a colon.
    if let Some(v4) = ipv4(b) {
        return Some(IpAddr::V4(v4));
    }
    if !b.contains(&b':') {
        return None;
    }
    let b = match b.iter().position(|&c| c == b'%') {
        Some(p) => &b[..p],
        None => b,
    };
    ipv6(b).map(|a| match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    })
}

/// An IPv6 address exactly as `Ipv6Addr::from_str` reads one, by hand:
/// up to eight groups of one to four hex digits, one `::` standing for at
/// least one zero group, and an IPv4 address as the last two groups. The
/// standard parser's general machinery cost ten times this, and a
/// carrier's mobile clients are mostly IPv6.
fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    let mut head = [0u16; 8];
    let mut at = 0;
    let (n, v4) = v6_groups(b, &mut at, &mut head);
    if n == 8 {
        return (at == b.len()).then(|| Ipv6Addr::from(head));
    }
    // An IPv4 part ends the address: only eight groups may precede it.
    if v4 || b.get(at..at + 2) != Some(b"::") {
        return None;
    }
    at += 2;
    let mut tail = [0u16; 7];
    let (m, _) = v6_groups(b, &mut at, &mut tail[..7 - n]);
    if at != b.len() {
        return None;
    }
    head[8 - m..].copy_from_slice(&tail[..m]);
    Some(Ipv6Addr::from(head))
}

/// Groups from `b[*at..]` into `out`, each after a `:` but the first,
/// until one does not parse (the position stays before its `:`). An IPv4
/// address is tried wherever two groups are left and a group ends at a dot. Returns how many
/// groups were read and whether the last two were an IPv4 address.
fn v6_groups(b: &[u8], at: &mut usize, out: &mut [u16]) -> (usize, bool) {
    let limit = out.len();
    for i in 0..limit {
        let start = if i == 0 {
            *at
        } else if b.get(*at) == Some(&b':') {
            *at + 1
        } else {
            return (i, false);
        };
        let mut v = 0u16;
        let mut end = start;
        while end - start < 4
            && let Some(&c) = b.get(end)
            && HEX[c as usize] < 16
        {
            v = v << 4 | u16::from(HEX[c as usize]);
            end += 1;
        }
        // An IPv4 part's first octet (one to three digits, all hex digits)
        // stops the group at its dot: only then is it worth trying.
        if i + 1 < limit
            && b.get(end) == Some(&b'.')
            && let Some((v4, end)) = v6_ipv4(b, start)
        {
            out[i] = u16::from_be_bytes([v4[0], v4[1]]);
            out[i + 1] = u16::from_be_bytes([v4[2], v4[3]]);
            *at = end;
            return (i + 2, true);
        }
        if end == start {
            return (i, false);
        }
        out[i] = v;
        *at = end;
    }
    (limit, false)
}

/// Each byte's value as a hex digit; 0xff for a byte that is not one.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// A dotted quad inside an IPv6 address, as the standard parser reads it
/// (unlike [`ipv4`]: no leading zeros): its octets and where it ends.
fn v6_ipv4(b: &[u8], at: usize) -> Option<([u8; 4], usize)> {
    dotted_quad(b, at, false)
}

/// An IPv4 address: four octets of one to three digits, leading zeros
/// taken (logs never write them, and nothing is gained by refusing them).
fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    match dotted_quad(b, 0, true)? {
        (octets, end) if end == b.len() => Some(Ipv4Addr::from(octets)),
        _ => None,
    }
}

/// Four dot-separated octets from `b[at..]`, and where they end. Octet by
/// octet, each digit read where it must be: no loop over the bytes with a
/// branch for what each one is.
#[inline(always)]
fn dotted_quad(b: &[u8], mut at: usize, leading_zeros: bool) -> Option<([u8; 4], usize)> {
    let digit = |i: usize| b.get(i).map_or(10, |c| c.wrapping_sub(b'0'));
    let mut octets = [0u8; 4];
    for (k, o) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let first = digit(at);
        if first > 9 {
            return None;
        }
        let mut v = u32::from(first);
        at += 1;
        let d = digit(at);
        if d <= 9 {
            if first == 0 && !leading_zeros {
                return None;
            }
            v = v * 10 + u32::from(d);
            at += 1;
            let d = digit(at);
            if d <= 9 {
                v = v * 10 + u32::from(d);
                at += 1;
            }
        }
        *o = u8::try_from(v).ok()?;
    }
    Some((octets, at))
}

/// `addr:port`, `[v6]:port`, or an unbracketed `v6:port` (split on the last
/// colon, as AWS's own Athena schema does). A bare address gives no port.
pub fn ip_port(b: &[u8]) -> Option<(IpAddr, Option<u16>)> {
    if let Some(a) = ip(b) {
        return Some((a, None));
    }
    let p = memchr::memrchr(b':', b)?;
    let port = uint(&b[p + 1..]).filter(|&p| p <= 65_535)? as u16;
    Some((ip(&b[..p])?, Some(port)))
}

/// Split `METHOD target PROTOCOL` (the protocol is optional: HTTP/0.9, and
/// targets with spaces as ALB logs them keep everything up to the last space).
pub fn split_request_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    // The method: one to 24 letters, then a space.
    let mut sp = 0;
    while sp < line.len().min(25) && line[sp].is_ascii_alphabetic() {
        sp += 1;
    }
    if sp == 0 || sp > 24 || line.get(sp) != Some(&b' ') {
        return None;
    }
    let method = &line[..sp];
    let mut target = &line[sp + 1..];
    // The protocol is after the last space. Most lines end in
    // " HTTP/x.y": seen there at once, without walking back.
    let n = target.len();
    if n >= 9
        && target[n - 9] == b' '
        && target[n - 8..n - 3] == *b"HTTP/"
        && target[n - 3..].iter().all(|&c| c != b' ')
    {
        target = &target[..n - 9];
    } else if let Some(p) = target.iter().rposition(|&c| c == b' ')
        && (target[p + 1..].starts_with(b"HTTP/") || target[p + 1..] == b"-"[..])
    {
        target = &target[..p];
    }
    if target.is_empty() || target == b"-" {
        return None;
    }
    Some((method, target))
}

/// Where the first `://` of `t` is. The colon of a scheme comes a few bytes
/// in: finding colons and looking past each costs less than setting up a
/// substring search on every line.
fn scheme_separator(t: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b':', t).find(|&p| t[p + 1..].starts_with(b"//"))
}

/// `http://host:80/x?y` → `/x?y`; a plain path is returned unchanged.
pub fn strip_scheme_authority(t: &[u8]) -> &[u8] {
    if t.first() == Some(&b'/') {
        return t;
    }
    let Some(p) = scheme_separator(t) else {
        return t;
    };
    let after = &t[p + 3..];
    match memchr::memchr2(b'/', b'?', after) {
        Some(s) if after[s] == b'/' => &after[s..],
        Some(s) => &after[s..],
        None => b"/",
    }
}

/// Host without its port: `h.example:443` → `h.example`, `[v6]:443` →
/// `[v6]`; a bare IPv6 address (several colons) is left whole.
pub fn host_without_port(h: &[u8]) -> &[u8] {
    if h.first() == Some(&b'[') {
        return match memchr::memchr(b']', h) {
            Some(e) => h.get(..=e).unwrap_or(h),
            None => h,
        };
    }
    match (memchr::memchr(b':', h), memchr::memrchr(b':', h)) {
        (Some(p), Some(q)) if p == q => h.get(..p).unwrap_or(h),
        _ => h,
    }
}

/// The host of an absolute request target (`https://h.example:443/x` →
/// `h.example`), without userinfo or port; empty when there is none.
pub fn target_host(target: &[u8]) -> &[u8] {
    let Some(p) = scheme_separator(target) else {
        return b"";
    };
    let after = target.get(p + 3..).unwrap_or_default();
    let end = memchr::memchr2(b'/', b'?', after).unwrap_or(after.len());
    let authority = after.get(..end).unwrap_or_default();
    let authority = match memchr::memrchr(b'@', authority) {
        Some(at) => authority.get(at + 1..).unwrap_or_default(),
        None => authority,
    };
    host_without_port(authority)
}

/// AWS load balancers' `client:port`: IPv6 unbracketed, split on the last
/// colon as AWS's own Athena schema does; `-` for none.
const BAD_AWS_CLIENT: Malformed =
    Malformed::new(MalformedKind::Address, "client is not address:port");

/// `addr:port` as ALB writes it; `-` when the client is unknown.
///
/// IPv6 clients are written without brackets (`2001:db8::1:4711`), and
/// `ip_port` would read that whole string as one valid IPv6 address.
/// ALB always logs a port, so the last colon is split off first, as AWS's own
/// Athena schema does.
pub fn aws_client_port(b: &[u8]) -> Result<(Option<IpAddr>, Option<u16>), Malformed> {
    if b == b"-" {
        return Ok((None, None));
    }
    if b.first() != Some(&b'[')
        && let Some(p) = memchr::memrchr(b':', b)
    {
        let (addr, port) = b.split_at(p);
        let port = port.strip_prefix(b":").and_then(uint);
        let port = port.and_then(|p| u16::try_from(p).ok());
        if let (Some(a), Some(port)) = (ip(addr), port) {
            return Ok((Some(a), Some(port)));
        }
    }
    match ip_port(b) {
        Some((a, port)) => Ok((Some(a), port)),
        None => Err(BAD_AWS_CLIENT),
    }
}

/// The fields ALB and Classic ELB share after their timestamp, up to the
/// request line: load balancer, `client:port`, backend, the three
/// processing times, the two statuses and the byte counts.
pub fn aws_middle<'a>(c: &mut Cursor<'a>, rec: &mut super::Record<'a>) -> Result<(), Malformed> {
    let _balancer = c.token().ok_or(LAYOUT)?;
    (rec.client, rec.client_port) = aws_client_port(c.token().ok_or(LAYOUT)?)?;
    let _backend = c.token().ok_or(LAYOUT)?;
    // Each processing time is -1 when the request never reached that stage
    // (WAF block, no healthy backend, client gone, malformed request): a
    // partial sum would understate the latency, so only a complete triple
    // gives a duration.
    let request_time = c.token().ok_or(LAYOUT)?;
    let backend_time = c.token().ok_or(LAYOUT)?;
    let response_time = c.token().ok_or(LAYOUT)?;
    rec.duration_us = match (
        seconds_to_micros(request_time),
        seconds_to_micros(backend_time),
        seconds_to_micros(response_time),
    ) {
        (Some(a), Some(b), Some(c)) => a.checked_add(b).and_then(|ab| ab.checked_add(c)),
        _ => None,
    };
    // `-` for a TCP listener's status: `status` maps it to 0.
    rec.status = status(c.token().ok_or(LAYOUT)?)?;
    let _backend_status = c.token().ok_or(LAYOUT)?;
    let _received = c.token().ok_or(LAYOUT)?;
    rec.bytes = uint(c.token().ok_or(LAYOUT)?);
    Ok(())
}

/// Trailing fields may be missing; a quote left open means a cut line.
pub const TRUNCATED: Malformed =
    Malformed::new(MalformedKind::Layout, "truncated line (unterminated quote)");

/// A trailing quoted field that may be missing (end of line). A field that
/// opens a quote and never closes it means the line was cut short. ALB once
/// wrote a quoted field directly followed by the next one (`"-"1`), which the
/// cursor reads as two fields because `quoted` stops at the closing quote.
pub fn optional_quoted<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], Malformed> {
    c.skip_spaces();
    match c.peek() {
        None => Ok(b""),
        Some(b'"') => c.quoted().ok_or(TRUNCATED),
        // Not quoted: take the bare token rather than misreading the rest.
        Some(_) => Ok(c.token().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colon-led search finds the first `://` as a substring search
    /// does, on every string of up to seven bytes over the bytes that matter.
    #[test]
    fn scheme_separator_is_the_first_colon_slash_slash() {
        let alphabet = [b':', b'/', b'a'];
        for len in 0..=7u32 {
            for mut n in 0..3usize.pow(len) {
                let t: Vec<u8> = (0..len)
                    .map(|_| {
                        let c = alphabet[n % 3];
                        n /= 3;
                        c
                    })
                    .collect();
                assert_eq!(
                    scheme_separator(&t),
                    memchr::memmem::find(&t, b"://"),
                    "{}",
                    String::from_utf8_lossy(&t)
                );
            }
        }
    }

    /// Each byte flag of the exact comparison against a byte-wise one, for
    /// every byte to look for and every byte value, beside neighbours that
    /// set off borrows in the inexact one (the byte itself, one above it).
    #[test]
    fn equal_bytes_exact_flags_exactly_the_equal_bytes() {
        for c in 0..=255u8 {
            for v in 0..=255u8 {
                let bytes = [v, c, v ^ 1, c ^ 1, 0x80, c, v, 0];
                let w = u64::from_le_bytes(bytes);
                let want = bytes
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &b)| m | (u64::from(b == c) << (8 * i + 7)));
                assert_eq!(equal_bytes_exact(w, c), want, "{c:#x} {v:#x}");
            }
        }
    }

    /// The IPv4 reader against its definition: four dot-separated octets
    /// of one to three digits each, none above 255 (leading zeros taken,
    /// as logs never write them and nothing is gained by refusing them),
    /// on edge shapes and on random strings of digits and dots.
    #[test]
    fn ipv4_reads_four_octets_of_up_to_three_digits() {
        let spec = |t: &[u8]| -> Option<Ipv4Addr> {
            let parts: Vec<&[u8]> = t.split(|&c| c == b'.').collect();
            let mut o = [0u8; 4];
            if parts.len() != 4 {
                return None;
            }
            for (i, p) in parts.iter().enumerate() {
                if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                o[i] = std::str::from_utf8(p).ok()?.parse().ok()?;
            }
            Some(Ipv4Addr::from(o))
        };
        for t in [
            "1.2.3.4",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3.256",
            "01.002.3.4",
            "0001.2.3.4",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3",
            "1.2.3.4.5",
            "99999999999.1.1.1",
            "1.2.3.99999999999",
            "1.2.3.-4",
            "",
        ] {
            assert_eq!(ipv4(t.as_bytes()), spec(t.as_bytes()), "{t}");
        }
        let mut rng = crate::test_rng::Rng::new(0x6a09_e667_f3bc_c908);
        let alphabet = b"0123456789012345.25.x";
        let mut valid = 0;
        for _ in 0..200_000 {
            // Half near-addresses (parts of 0 to 4 digits), half anything.
            let t: Vec<u8> = if rng.below(2) == 0 {
                let parts: Vec<String> = (0..4)
                    .map(|_| {
                        let digits = rng.below(5) as u32;
                        let v = rng.below(10u64.pow(digits).max(1));
                        if digits == 0 {
                            String::new()
                        } else {
                            format!("{v:0w$}", w = digits as usize)
                        }
                    })
                    .collect();
                parts.join(".").into_bytes()
            } else {
                let len = rng.below(18) as usize;
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect()
            };
            let want = spec(&t);
            assert_eq!(ipv4(&t), want, "{}", String::from_utf8_lossy(&t));
            valid += want.is_some() as u32;
        }
        assert!(valid > 2_000, "the strings include addresses: {valid}");
    }

    /// The hand IPv6 reader against the standard parser: on shapes chosen
    /// for their edges, on random strings of the bytes addresses are made
    /// of, and on printed random addresses (runs of zeros, so `::`, and
    /// IPv4 tails) with one byte changed.
    #[test]
    fn ipv6_agrees_with_the_standard_parser() {
        let check = |t: &[u8]| {
            let want = std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.parse::<Ipv6Addr>().ok());
            assert_eq!(ipv6(t), want, "{}", String::from_utf8_lossy(t));
            want.is_some()
        };
        for t in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "::1.2.3.4",
            "1::1.2.3.4",
            "12345::",
            "::00000",
            "::0000",
            "::01.2.3.4",
            "::1.2.3.256",
            "::1.2.3.04",
            ":::",
            "1:::2",
            "1::2::3",
            "fe80::1",
            "FE80::ABCD:0:1",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:1.2.3.4::",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3",
            "::1.2.3.4.5",
            "1:",
            ":1",
            "1:2",
            "::g",
            "::1234.1.1.1",
            "1:2:3:4:5:6:7::8",
            "::1:2:3:4:5:6:7",
            "::1:2:3:4:5:6:7:8",
            "0:0:0:0:0:ffff:10.0.0.1",
        ] {
            check(t.as_bytes());
        }
        let mut rng = crate::test_rng::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next();
        let alphabet = b"0123456789abcdefABCDEF::::...g";
        let mut valid = 0;
        for _ in 0..300_000 {
            let len = (next() % 24) as usize;
            let t: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            valid += check(&t) as usize;
        }
        for _ in 0..100_000 {
            let mut g = [0u16; 8];
            for v in g.iter_mut() {
                let r = next();
                *v = if r % 3 == 0 {
                    0
                } else {
                    (r >> 8) as u16 >> (r % 13)
                };
            }
            let mut t = Ipv6Addr::from(g).to_string().into_bytes();
            if next() % 4 == 0 {
                // An IPv4 tail in place of the last two groups.
                let cut = t.iter().rposition(|&c| c == b':').unwrap_or(0);
                let c2 = t[..cut].iter().rposition(|&c| c == b':').unwrap_or(0);
                let r = next();
                t.truncate(c2 + 1);
                t.extend(
                    format!(
                        "{}.{}.{}.{}",
                        r & 255,
                        r >> 8 & 255,
                        r >> 16 & 15,
                        r >> 24 & 255
                    )
                    .bytes(),
                );
            }
            valid += check(&t) as usize;
            if !t.is_empty() {
                let i = (next() % t.len() as u64) as usize;
                t[i] = alphabet[(next() % alphabet.len() as u64) as usize];
                check(&t);
            }
        }
        assert!(valid > 100_000, "{valid} valid addresses tried");
    }

    /// The block-at-a-time search against a byte loop, on strings of bytes
    /// next to a space or tab in value (0x00, 0x01, 0x08, 0x0a, 0x1f, 0x21,
    /// 0x80, 0xa0, 0xff) as well as blanks, at every length and alignment.
    #[test]
    fn find_blank_agrees_with_a_byte_loop() {
        let alphabet = [b' ', b'\t', b'a', 0, 1, 8, 10, 0x1f, 0x21, 0x80, 0xa0, 0xff];
        let mut rng = crate::test_rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..50_000 {
            let x = rng.next();
            let len = (x % 72) as usize;
            // Blanks are rare in most strings, so that long runs are tried.
            let v: Vec<u8> = (0..len)
                .map(|i| {
                    let r = x.rotate_left(i as u32 * 5) as usize;
                    let b = alphabet[r % alphabet.len()];
                    if (b == b' ' || b == b'\t') && !r.is_multiple_of(7) {
                        b'a'
                    } else {
                        b
                    }
                })
                .collect();
            let want = v.iter().position(|&c| c == b' ' || c == b'\t');
            assert_eq!(find_blank(&v), want, "{v:?}");
        }
    }

    #[test]
    fn cursor_walks_tokens_and_groups() {
        let mut c =
            Cursor::new(br#"1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.0" 200"#);
        assert_eq!(c.token(), Some(&b"1.2.3.4"[..]));
        assert_eq!(c.token(), Some(&b"-"[..]));
        assert_eq!(c.token(), Some(&b"bob"[..]));
        assert_eq!(c.bracketed(), Some(&b"10/Oct/2000:13:55:36 -0700"[..]));
        assert_eq!(c.quoted(), Some(&br#"GET /a\"b HTTP/1.0"#[..]));
        assert_eq!(c.token(), Some(&b"200"[..]));
        assert_eq!(c.token(), None);
    }

    #[test]
    fn unterminated_quote_is_none() {
        assert_eq!(Cursor::new(b"\"abc").quoted(), None);
        assert_eq!(Cursor::new(b"\"abc\\").quoted(), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(ip(b"10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip(b"256.0.0.1"), None);
        assert_eq!(ip(b"1.2.3"), None);
        assert_eq!(ip(b"2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(ip(b"::ffff:1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(
            ip_port(b"[2001:db8::1]:443"),
            Some(("2001:db8::1".parse().unwrap(), Some(443)))
        );
        assert_eq!(
            ip_port(b"2001:db8::1:443").map(|x| x.1),
            Some(None),
            "a bare v6 parses whole"
        );
        assert_eq!(ip_port(b"1.2.3.4:99999"), None);
        assert_eq!(
            ip_port(b"1.2.3.4:80"),
            Some(("1.2.3.4".parse().unwrap(), Some(80)))
        );
    }

    /// The request-line split against its definition (the first space ends
    /// the method; the last space starts the protocol), on random lines of
    /// letters, spaces, slashes and protocol pieces.
    #[test]
    fn request_line_split_agrees_with_its_definition() {
        let spec = |line: &[u8]| -> Option<(Vec<u8>, Vec<u8>)> {
            let sp = line.iter().position(|&c| c == b' ')?;
            let method = &line[..sp];
            if method.is_empty() || method.len() > 24 || !method.iter().all(u8::is_ascii_alphabetic)
            {
                return None;
            }
            let mut target = &line[sp + 1..];
            if let Some(p) = target.iter().rposition(|&c| c == b' ')
                && (target[p + 1..].starts_with(b"HTTP/") || target[p + 1..] == b"-"[..])
            {
                target = &target[..p];
            }
            if target.is_empty() || target == b"-" {
                return None;
            }
            Some((method.to_vec(), target.to_vec()))
        };
        let mut rng = crate::test_rng::Rng::new(0x9b05_688c_2b3e_6c1f);
        let pieces: [&[u8]; 10] = [
            b"GET",
            b" ",
            b"/a",
            b"HTTP/1.1",
            b"HTTP/2",
            b"-",
            b"x",
            b"1",
            b"\t",
            b"ABCDEFGHIJKL",
        ];
        let mut split = 0;
        for _ in 0..100_000 {
            let mut line = Vec::new();
            if rng.below(2) == 0 {
                line.extend_from_slice(b"GET /");
            }
            for _ in 0..rng.below(9) {
                line.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize]);
            }
            let got = split_request_line(&line).map(|(m, t)| (m.to_vec(), t.to_vec()));
            assert_eq!(got, spec(&line), "{}", String::from_utf8_lossy(&line));
            split += got.is_some() as u32;
        }
        assert!(split > 5_000, "{split}");
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            split_request_line(b"GET /a?b HTTP/1.1"),
            Some((&b"GET"[..], &b"/a?b"[..]))
        );
        assert_eq!(
            split_request_line(b"GET /a b HTTP/1.1"),
            Some((&b"GET"[..], &b"/a b"[..]))
        );
        assert_eq!(split_request_line(b"GET /"), Some((&b"GET"[..], &b"/"[..])));
        assert_eq!(split_request_line(b"- - -"), None);
        assert_eq!(split_request_line(b"\\x16\\x03 x"), None);
        assert_eq!(strip_scheme_authority(b"https://h:443/p?q"), b"/p?q");
        assert_eq!(strip_scheme_authority(b"http://h:80"), b"/");
    }

    #[test]
    fn numbers() {
        assert_eq!(status(b"404"), Ok(404));
        assert!(status(b"40").is_err());
        assert_eq!(seconds_to_micros(b"0.012"), Some(12_000));
        assert_eq!(seconds_to_micros(b"-1"), None);
        assert_eq!(uint(b"-"), None);
    }
}
