//! Timestamps: every format's time field to one UTC instant in microseconds.
//!
//! Hand-written rather than chrono/time parsing because this runs once per line
//! on the hot path and the layouts are fixed; the calendar arithmetic is the
//! well-known days-from-civil algorithm.

use std::fmt;

/// Microseconds since the Unix epoch, UTC. Ordered, cheap to copy.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MICROS: i64 = 1_000_000;

    pub fn from_secs(s: i64) -> Self {
        Timestamp(s * Self::MICROS)
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(Self::MICROS)
    }
    pub fn add_secs(self, s: i64) -> Self {
        Timestamp(self.0 + s * Self::MICROS)
    }

    /// RFC 3339 in UTC, with microseconds only when there are any.
    pub fn rfc3339(self) -> String {
        let secs = self.secs();
        let micros = self.0.rem_euclid(Self::MICROS);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
        if micros == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z")
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// How far (seconds) a line may be stamped past event time and move it on
/// at once: a day, so that a quiet API's hours of silence are just time
/// passing. A line further ahead must be confirmed: see [`Clock`].
pub const MAX_LEAP_SECS: i64 = 86_400;

/// Lines in a row stamped that far ahead (none of them far before the
/// first) that confirm a leap.
pub const CONFIRM_LINES: u8 = 3;

/// Event time: the latest timestamp seen, moved on by the lines, but not
/// thrown forward by a stray line. A line stamped more than
/// [`MAX_LEAP_SECS`] past the clock (a host whose clock is years off, a
/// garbled field) is filed at the clock's time, unless it and the lines
/// right after it, [`CONFIRM_LINES`] in all, agree (the next day's archive,
/// a log resuming after a long outage): then the clock moves on to them.
/// Without this, one line dated years ahead would leave every later line
/// "in the past" for the rest of a run: nothing expired, incidents held
/// open, a sweep's later buckets judged apart from its first. The limit: a
/// burst of that many stray lines in a row is taken as the new time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// `None` before the first line.
    pub now: Option<Timestamp>,
    /// The first of the lines in a row that leapt, not confirmed yet.
    pub leap: Option<Timestamp>,
    /// How many lines in a row have leapt so far.
    pub leapt: u8,
}

impl Clock {
    /// The time to file a line stamped `ts` at; moves the clock on.
    pub fn file(&mut self, ts: Timestamp) -> Timestamp {
        let max = MAX_LEAP_SECS * Timestamp::MICROS;
        let Some(now) = self.now else {
            self.now = Some(ts);
            return ts;
        };
        if ts.0.saturating_sub(now.0) <= max {
            (self.leap, self.leapt) = (None, 0);
            self.now = Some(now.max(ts));
            return ts;
        }
        match self.leap {
            // Not far before the first leap: the same new time.
            Some(l) if ts.0 >= l.0.saturating_sub(max) => self.leapt += 1,
            _ => (self.leap, self.leapt) = (Some(ts), 1),
        }
        if self.leapt < CONFIRM_LINES {
            return now;
        }
        (self.leap, self.leapt) = (None, 0);
        self.now = Some(ts);
        ts
    }

    /// Before the first line: start from `sample` (the times of the first
    /// lines, as read for format detection) when its first line stands far
    /// ahead of the rest: from the earliest of the rest. A stray first line
    /// would otherwise set the clock itself; any other start is left to the
    /// first line, as before.
    pub fn prime(&mut self, sample: &mut [Timestamp]) {
        let Some(&first) = sample.first() else { return };
        if self.now.is_some() {
            return;
        }
        let max = MAX_LEAP_SECS * Timestamp::MICROS;
        sample.sort_unstable();
        let median = sample[sample.len() / 2];
        if first.0.saturating_sub(median.0) > max {
            // The earliest time near the median: the stray line is then
            // filed (and merged) before the lines that follow it, rather
            // than holding them back until the median.
            let earliest = sample.iter().find(|t| median.0.saturating_sub(t.0) <= max);
            self.now = Some(*earliest.unwrap_or(&median));
        }
    }

    /// [`prime`](Self::prime) from the times `parser` reads in `lines`
    /// (the lines read to recognise the format).
    pub fn prime_from<'l>(
        &mut self,
        parser: &mut dyn super::LineParser,
        lines: impl IntoIterator<Item = &'l [u8]>,
    ) {
        let mut sample: Vec<Timestamp> = lines
            .into_iter()
            .filter_map(|l| parser.parse(l).ok().map(|r| r.ts))
            .collect();
        self.prime(&mut sample);
    }

    /// Event time (the epoch before the first line).
    pub fn now(&self) -> Timestamp {
        self.now.unwrap_or_default()
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn month(b: &[u8]) -> Option<u32> {
    if b.len() != 3 {
        return None;
    }
    let l = [b[0] | 0x20, b[1] | 0x20, b[2] | 0x20];
    Some(match &l {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

fn checked(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64)
}

/// Fraction digits after a `.` or `,`: returns (micros, bytes consumed).
fn fraction(b: &[u8]) -> (i64, usize) {
    let mut micros = 0i64;
    let mut n = 0;
    while n < b.len() && b[n].is_ascii_digit() {
        if n < 6 {
            micros = micros * 10 + (b[n] - b'0') as i64;
        }
        n += 1;
    }
    let mut k = n.min(6);
    while k < 6 {
        micros *= 10;
        k += 1;
    }
    (micros, n)
}

/// `+hhmm`, `-hh:mm`, `Z`: offset in seconds east of UTC.
fn offset(b: &[u8]) -> Option<i64> {
    match b {
        b"Z" | b"z" | b"" => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                4 => (digits(&rest[..2])?, digits(&rest[2..])?),
                5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
                2 => (digits(rest)?, 0),
                _ => return None,
            };
            let s = (h * 3600 + m * 60) as i64;
            Some(if *sign == b'-' { -s } else { s })
        }
        _ => None,
    }
}

/// CLF time `10/Oct/2000:13:55:36 -0700`, optionally with a fraction after the
/// seconds (HAProxy's `06/Feb/2009:12:14:14.655`, which has no zone: UTC).
pub fn parse_clf(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return None;
    }
    let d = digits(&b[0..2])?;
    let mo = month(&b[3..6])?;
    let y = digits(&b[7..11])? as i64;
    let h = digits(&b[12..14])?;
    let mi = digits(&b[15..17])?;
    let s = digits(&b[18..20])?;
    let mut rest = &b[20..];
    let mut micros = 0;
    if let [b'.' | b',', tail @ ..] = rest {
        let (m, n) = fraction(tail);
        micros = m;
        rest = &tail[n..];
    }
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let off = offset(rest)?;
    let secs = checked(y, mo, d, h, mi, s)? - off;
    Some(Timestamp(secs * Timestamp::MICROS + micros))
}

/// A time parser that remembers the last text it parsed and its value.
/// Consecutive lines mostly share their second (a busy gateway writes
/// thousands per second), and comparing 26 bytes costs a fraction of the
/// calendar arithmetic.
pub struct TimeMemo {
    parse: fn(&[u8]) -> Option<Timestamp>,
    /// Where the parsed texts hold their two digits of seconds, if the
    /// parse function is linear in them (see [`TimeMemo::parse`]).
    seconds_at: Option<usize>,
    key: [u8; 32],
    /// The remembered text's length; none before a text has parsed (an
    /// empty text must not match an empty key).
    len: Option<u8>,
    ts: Timestamp,
}

impl TimeMemo {
    /// A memo for one parse function (this module's `parse_*`).
    pub fn new(parse: fn(&[u8]) -> Option<Timestamp>) -> Self {
        TimeMemo {
            parse,
            seconds_at: None,
            key: [0; 32],
            len: None,
            ts: Timestamp::default(),
        }
    }

    /// A memo of [`parse_clf`], whose seconds are bytes 18 and 19.
    pub fn clf() -> Self {
        TimeMemo {
            seconds_at: Some(18),
            ..TimeMemo::new(parse_clf)
        }
    }

    /// When `text` opens with the remembered time and then `]`: the time's
    /// length and value, found without looking for the bracket. Exact for
    /// a caller that takes the time up to the first `]`, since no text
    /// this module's parsers accept holds one.
    pub fn recall(&self, text: &[u8]) -> Option<(usize, Timestamp)> {
        let n = usize::from(self.len?);
        (text.len() > n && text[n] == b']' && text[..n] == self.key[..n]).then_some((n, self.ts))
    }

    /// The value of `b` (as long as the remembered text) when it differs
    /// from that text in its seconds only, remembering it. A line of a
    /// quiet log rarely shares its second with the one before but mostly
    /// its minute: on 1 M lines of the bench log a fifth of the lines
    /// missed the memo, and this cut 0.8% of the instructions (callgrind).
    /// [`checked`] is linear in the seconds and takes 0 to 60.
    fn next_second(&mut self, b: &[u8]) -> Option<Timestamp> {
        let at = self.seconds_at?;
        let (head, tail) = (b.get(..at)?, b.get(at + 2..)?);
        if head != &self.key[..at] || tail != &self.key[at + 2..b.len()] {
            return None;
        }
        let secs = |d: &[u8]| match d {
            [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(i64::from((a - b'0') * 10 + (c - b'0'))),
            _ => None,
        };
        let (new, old) = (secs(&b[at..at + 2])?, secs(&self.key[at..at + 2])?);
        if new > 60 {
            return None;
        }
        let t = Timestamp(self.ts.0 + (new - old) * Timestamp::MICROS);
        self.key[at..at + 2].copy_from_slice(&b[at..at + 2]);
        self.ts = t;
        Some(t)
    }

    /// The parse function's value for `b`, remembering the last text that
    /// parsed.
    pub fn parse(&mut self, b: &[u8]) -> Option<Timestamp> {
        if self.len.is_some_and(|n| usize::from(n) == b.len()) {
            if b == &self.key[..b.len()] {
                return Some(self.ts);
            }
            if let Some(t) = self.next_second(b) {
                return Some(t);
            }
        }
        let t = (self.parse)(b)?;
        if b.len() <= self.key.len() {
            self.key[..b.len()].copy_from_slice(b);
            self.len = Some(b.len() as u8);
            self.ts = t;
        }
        Some(t)
    }
}

/// ISO 8601 / RFC 3339: `2019-10-11T15:01:12.376735Z`, `...+01:00`, a space
/// instead of `T`, or no zone at all (taken as UTC).
pub fn parse_iso(b: &[u8]) -> Option<Timestamp> {
    let secs = iso_seconds(b)?;
    iso_finish(secs, &b[ISO_SECONDS..])
}

/// Bytes of an ISO time up to its whole seconds (`2019-10-11T15:01:12`).
const ISO_SECONDS: usize = 19;

/// The first [`ISO_SECONDS`] bytes of an ISO time as Unix seconds, before
/// any zone offset.
fn iso_seconds(b: &[u8]) -> Option<i64> {
    if b.len() < ISO_SECONDS || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b' ' && b[10] != b't' {
        return None;
    }
    let y = digits(&b[0..4])? as i64;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let s = digits(&b[17..19])?;
    checked(y, mo, d, h, mi, s)
}

/// The rest of an ISO time after its whole seconds: fraction and zone.
fn iso_finish(secs: i64, mut rest: &[u8]) -> Option<Timestamp> {
    let mut micros = 0;
    if let [b'.' | b',', tail @ ..] = rest {
        let (m, n) = fraction(tail);
        micros = m;
        rest = &tail[n..];
    }
    let off = offset(rest)?;
    Some(Timestamp((secs - off) * Timestamp::MICROS + micros))
}

/// [`parse_iso`] for a stream of times: the seconds part of the last one
/// is remembered, since load balancers write microseconds (every text is
/// new) but consecutive lines mostly share their second.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsoMemo {
    key: [u8; ISO_SECONDS],
    /// None until a seconds part has parsed.
    secs: Option<i64>,
}

impl IsoMemo {
    pub fn parse(&mut self, b: &[u8]) -> Option<Timestamp> {
        let head = b.get(..ISO_SECONDS)?;
        let secs = match self.secs {
            Some(s) if head == self.key => s,
            _ => {
                let s = iso_seconds(b)?;
                self.key.copy_from_slice(head);
                self.secs = Some(s);
                s
            }
        };
        iso_finish(secs, &b[ISO_SECONDS..])
    }
}

/// Unix epoch as decimal seconds (`1646861401.5241024`, nginx `$msec`), or as
/// integer milliseconds / microseconds / nanoseconds told apart by magnitude.
pub fn parse_epoch(b: &[u8]) -> Option<Timestamp> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    if int.is_empty() || int.len() > 19 || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: i64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    let mut micros = 0;
    if let Some(f) = frac {
        let (m, n) = fraction(f);
        if n != f.len() {
            return None;
        }
        micros = m;
    }
    Some(match int.len() {
        0..=11 => Timestamp(v * Timestamp::MICROS + micros),
        12..=14 => Timestamp(v * 1000),
        15..=17 => Timestamp(v),
        _ => Timestamp(v / 1000),
    })
}

/// Any of the above, tried in a cheap order.
pub fn parse_any(b: &[u8]) -> Option<Timestamp> {
    if b.len() >= 19 && b[4] == b'-' {
        parse_iso(b)
    } else if b.len() >= 20 && b[2] == b'/' {
        parse_clf(b)
    } else {
        parse_epoch(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ISO memo gives what parsing gives, line after line: the same
    /// second with other fractions and zones, a bad text in between, a text
    /// cut short, a bad tail after a remembered second.
    #[test]
    fn iso_memo_agrees_with_parsing() {
        let texts: [&[u8]; 10] = [
            b"2026-03-02T10:00:01.123456Z",
            b"2026-03-02T10:00:01.999999Z",
            b"2026-03-02T10:00:01+01:00",
            b"2026-03-02T10:00:01",
            b"2026-03-02T10:00:0x.1Z",
            b"2026-03-02T10:00:01.5Zjunk",
            b"2026-03-02T10:00:0",
            b"2026-02-30T10:00:01Z",
            b"2026-03-02 10:00:02,25",
            b"2026-03-02T10:00:01.000001Z",
        ];
        let mut m = IsoMemo::default();
        for t in texts {
            assert_eq!(m.parse(t), parse_iso(t), "{}", String::from_utf8_lossy(t));
        }
        assert_eq!(
            parse_iso(b"2026-03-02T10:00:01.5+01:00"),
            Some(Timestamp(
                (parse_iso(b"2026-03-02T09:00:01Z").unwrap().0) + 500_000
            ))
        );
    }

    /// The memo gives what parsing gives, for repeats, changes, a bad text
    /// in between (not remembered) and texts too long to remember.
    #[test]
    fn time_memo_agrees_with_parsing() {
        let texts: [&[u8]; 9] = [
            b"02/Mar/2026:10:00:01 +0100",
            b"02/Mar/2026:10:00:01 +0100",
            b"02/Mar/2026:10:00:01 +0000",
            b"02/Mar/2026:10:00:0x +0000",
            b"02/Mar/2026:10:00:01 +0000",
            b"06/Feb/2009:12:14:14.655",
            b"06/Feb/2009:12:14:14.655123456789 +0000",
            b"06/Feb/2009:12:14:14.655123456789 +0000",
            b"02/Mar/2026:10:00:01 +0100",
        ];
        // A fresh memo remembers nothing, not even the empty text.
        assert_eq!(TimeMemo::clf().parse(b""), None);
        assert_eq!(TimeMemo::new(parse_any).parse(b""), None);
        assert_eq!(TimeMemo::clf().recall(b"]"), None);
        let mut m = TimeMemo::clf();
        for t in texts {
            assert_eq!(m.parse(t), parse_clf(t), "{}", String::from_utf8_lossy(t));
        }
        assert_eq!(m.parse(b""), None);
        let last = b"02/Mar/2026:10:00:01 +0100";
        let ts = parse_clf(last);
        assert_eq!(
            m.recall(b"02/Mar/2026:10:00:01 +0100] \"GET"),
            Some((26, ts.unwrap()))
        );
        for other in [
            &b"02/Mar/2026:10:00:01 +0100"[..],
            b"02/Mar/2026:10:00:01 +01000]",
            b"02/Mar/2026:10:00:02 +0100]",
        ] {
            assert_eq!(m.recall(other), None);
        }
    }

    /// Texts differing from the one before in their seconds only (any two
    /// digits, or not digits) get the value `parse_clf` gives them, with
    /// and without a fraction, and across a change of minute or zone.
    #[test]
    fn memo_steps_seconds_as_parse_clf_does() {
        let mut m = TimeMemo::clf();
        let mut rng = crate::test_rng::Rng::new(7);
        let forms = [
            "02/Mar/2026:10:59:{} +0100",
            "31/Dec/2025:23:59:{}.250 -0030",
        ];
        let mut seen = 0;
        for _ in 0..20_000 {
            let x = rng.next();
            let form = forms[x.is_multiple_of(7) as usize];
            let form = if x.is_multiple_of(101) {
                &form.replace(":59:", ":58:")
            } else {
                form
            };
            let sec = match x % 13 {
                0 => "6x".to_owned(),
                1 => " 5".to_owned(),
                _ => format!("{:02}", (x >> 8) % 100),
            };
            let t = form.replace("{}", &sec);
            let want = parse_clf(t.as_bytes());
            seen += want.is_some() as u32;
            assert_eq!(m.parse(t.as_bytes()), want, "{t}");
        }
        assert!(seen > 10_000, "{seen} valid texts");
    }

    fn filed(stamps: &[i64]) -> (Vec<i64>, i64) {
        let mut c = Clock::default();
        let at = stamps
            .iter()
            .map(|&s| c.file(Timestamp::from_secs(s)).secs())
            .collect();
        (at, c.now().secs())
    }

    #[test]
    fn one_stray_line_does_not_throw_the_clock_forward() {
        let year = 365 * 86_400;
        let (at, now) = filed(&[1000, 1001, 1000 + 70 * year, 1002, 1003]);
        assert_eq!(at, [1000, 1001, 1001, 1002, 1003]);
        assert_eq!(now, 1003);
        // Nor do a few in a row, nor stray lines that disagree.
        let strays = [1000 + 9 * year, 1000 + 9 * year + 5, 1004];
        let (at, now) = filed(&[&[1000][..], &strays].concat());
        assert_eq!(at, [1000, 1000, 1000, 1004]);
        assert_eq!(now, 1004);
        let strays = [1000 + 9 * year, 1000 + 3 * year, 1000 + 5 * year, 1005];
        let (at, now) = filed(&[&[1000][..], &strays].concat());
        assert_eq!(at, [1000, 1000, 1000, 1000, 1005]);
        assert_eq!(now, 1005);
    }

    #[test]
    fn a_stray_first_line_is_told_by_the_lines_after_it() {
        let year = 365 * 86_400;
        let stamps = [1000 + 70 * year, 1000, 1001, 1003, 1002];
        let mut sample: Vec<Timestamp> = stamps.iter().map(|&s| Timestamp::from_secs(s)).collect();
        let mut c = Clock::default();
        c.prime(&mut sample);
        let at: Vec<i64> = stamps
            .iter()
            .map(|&s| c.file(Timestamp::from_secs(s)).secs())
            .collect();
        assert_eq!(at, [1000, 1000, 1001, 1003, 1002]);
        // A first line in line with the rest starts the clock itself.
        let mut c = Clock::default();
        c.prime(&mut [1000, 1300, 1200].map(Timestamp::from_secs));
        assert_eq!(c.now, None);
        // Extreme times (a JSON number saturated) neither overflow nor
        // wrap round into a start at the far end.
        let mut c = Clock::default();
        c.prime(&mut [Timestamp(i64::MAX), Timestamp(i64::MIN), Timestamp(0)]);
        assert_eq!(c.now, Some(Timestamp(0)));
        assert_eq!(c.file(Timestamp(i64::MIN)), Timestamp(i64::MIN));
        assert_eq!(c.file(Timestamp(i64::MAX)), Timestamp(0));
        assert_eq!(c.now(), Timestamp(0));
    }

    #[test]
    fn a_confirmed_leap_moves_the_clock() {
        let gap = 4 * 86_400;
        let (at, now) = filed(&[1000, 1000 + gap, 1000 + gap - 3, 1001 + gap, 1002 + gap]);
        assert_eq!(at, [1000, 1000, 1000, 1001 + gap, 1002 + gap]);
        assert_eq!(now, 1002 + gap);
        // A quiet log: hours between lines are time passing, and older
        // lines do not move the clock back.
        let hours: Vec<i64> = (0..6).map(|h| 1000 + h * 5 * 3600).collect();
        let (at, now) = filed(&hours);
        assert_eq!(at, hours);
        assert_eq!(now, hours[5]);
        let (at, now) = filed(&[1000, 1000 + MAX_LEAP_SECS, 990]);
        assert_eq!(at, [1000, 1000 + MAX_LEAP_SECS, 990]);
        assert_eq!(now, 1000 + MAX_LEAP_SECS);
    }

    #[test]
    fn clf_with_zone() {
        let t = parse_clf(b"10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(t.rfc3339(), "2000-10-10T20:55:36Z");
        let t = parse_clf(b"01/Jan/2024:00:10:00 +0330").unwrap();
        assert_eq!(t.rfc3339(), "2023-12-31T20:40:00Z");
    }

    #[test]
    fn haproxy_millis_without_zone() {
        let t = parse_clf(b"06/Feb/2009:12:14:14.655").unwrap();
        assert_eq!(t.rfc3339(), "2009-02-06T12:14:14.655000Z");
    }

    #[test]
    fn iso_variants() {
        let t = parse_iso(b"2019-10-11T15:01:12.376735Z").unwrap();
        assert_eq!(t.rfc3339(), "2019-10-11T15:01:12.376735Z");
        let t = parse_iso(b"2025-12-31T17:37:40.493035218+01:00").unwrap();
        assert_eq!(t.rfc3339(), "2025-12-31T16:37:40.493035Z");
        assert!(parse_iso(b"2019-13-11T15:01:12Z").is_none());
        assert!(parse_iso(b"2019-10-11T15:01:12+5").is_none());
    }

    #[test]
    fn epochs() {
        assert_eq!(
            parse_epoch(b"1646861401.5241024").unwrap().0,
            1_646_861_401_524_102
        );
        assert_eq!(
            parse_epoch(b"1686411388000").unwrap().0,
            1_686_411_388_000_000
        );
        assert!(parse_epoch(b"12a").is_none());
    }

    #[test]
    fn round_trip_civil() {
        for days in [-800_000i64, -1, 0, 1, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
