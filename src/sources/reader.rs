//! Byte lines from any reader: one reused buffer, memchr splitting, a cap on
//! line length, CRLF tolerance and an unterminated last line.
//!
//! A line longer than the cap is not buffered: the reader keeps its first
//! bytes as a sample, discards the rest up to the next newline, and reports
//! it as [`Line::TooLong`], so a 10 MB line costs no more memory than a short
//! one.
//!
//! NUL bytes mark binary garbage, which is counted, not parsed. The reader
//! looks for them once per buffer fill rather than once per line, and hands
//! a line holding one out as [`Line::Binary`].

use std::io::{self, Read};

/// Default maximum line length: well above any real access-log line (ALB
/// truncates user agents at 8 KB), far below anything that hurts.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
const CHUNK: usize = 64 * 1024;
const SAMPLE: usize = 160;

pub enum Line<'a> {
    /// A line with no NUL byte in it.
    Data(&'a [u8]),
    /// A line with a NUL byte in it (binary garbage).
    Binary(&'a [u8]),
    /// An over-long line: its first bytes and its full length.
    TooLong { head: &'a [u8], len: u64 },
}

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    max_line: usize,
    /// Bytes of the stream consumed through the last line returned.
    consumed: u64,
    /// Where reading started (see [`LineReader::set_consumed`]).
    origin: u64,
    pending_err: Option<io::Error>,
    head: Vec<u8>,
    /// Leave an unterminated last line unread (a live file mid-write).
    hold_partial: bool,
    /// Where the last search for a NUL byte stopped: at the first NUL it
    /// found (`nul < searched`), or at the end of the bytes then buffered
    /// (`nul == searched`: none between where it started and there). It
    /// starts at the line asking, or where the previous one stopped, so one
    /// search over a fill's bytes replaces one per line.
    nul: usize,
    searched: usize,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; CHUNK.max(max_line.min(1 << 20) + 1)],
            start: 0,
            end: 0,
            eof: false,
            max_line: max_line.max(16),
            consumed: 0,
            origin: 0,
            pending_err: None,
            head: Vec::new(),
            hold_partial: false,
            nul: 0,
            searched: 0,
        }
    }

    /// Whether `buf[s..e]` holds a NUL byte. Lines come in order, so the
    /// search goes on from where it stopped, and covers each byte at most
    /// once per fill.
    fn has_nul(&mut self, s: usize, e: usize) -> bool {
        if self.nul < s || (self.nul == self.searched && self.searched < e) {
            // Past a NUL of an earlier line, or on from where it stopped.
            let from = if self.nul < s { s } else { self.searched };
            self.nul = memchr::memchr(0, &self.buf[from..self.end]).map_or(self.end, |p| from + p);
            self.searched = self.end;
        }
        self.nul < e
    }

    /// A complete line `buf[s..e]`, without its CR (and, opening the
    /// stream, its byte-order mark).
    fn data(&mut self, s: usize, e: usize, first: bool) -> Line<'_> {
        let binary = self.has_nul(s, e);
        let line = strip_cr(&self.buf[s..e]);
        let line = if first { strip_bom(line) } else { line };
        if binary {
            Line::Binary(line)
        } else {
            Line::Data(line)
        }
    }

    /// Don't deliver an unterminated last line: `check` and `tail` read files
    /// that are still being written, and the rest of the line comes later.
    pub fn hold_partial(mut self) -> Self {
        self.hold_partial = true;
        self
    }

    /// Stream offset just after the last line returned.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes of the lines returned so far, with their line ends, carriage
    /// returns and byte-order mark.
    pub fn bytes_read(&self) -> u64 {
        self.consumed - self.origin
    }

    /// Set the offset the stream started at (for files opened mid-way):
    /// [`LineReader::bytes_read`] counts from there.
    pub fn set_consumed(&mut self, at: u64) {
        self.consumed = at;
        self.origin = at;
    }

    /// Lines remaining in the buffer plus refills. A read error (truncated
    /// gzip) is returned once every complete line before it was delivered.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut skipping: Option<u64> = None;
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let s = self.start;
                let e = s + nl;
                self.start = e + 1;
                let first = self.consumed == 0;
                self.consumed += nl as u64 + 1;
                if let Some(skipped) = skipping {
                    self.head.truncate(SAMPLE);
                    return Ok(Some(Line::TooLong {
                        head: &self.head,
                        len: skipped + nl as u64,
                    }));
                }
                if nl > self.max_line {
                    self.head.clear();
                    self.head
                        .extend_from_slice(&self.buf[s..s + SAMPLE.min(nl)]);
                    return Ok(Some(Line::TooLong {
                        head: &self.head,
                        len: nl as u64,
                    }));
                }
                return Ok(Some(self.data(s, e, first)));
            }
            // No newline in the buffered bytes.
            let pending = self.end - self.start;
            if skipping.is_none() && pending > self.max_line {
                self.head.clear();
                self.head
                    .extend_from_slice(&self.buf[self.start..self.start + SAMPLE.min(pending)]);
                skipping = Some(0);
            }
            if let Some(s) = skipping.as_mut() {
                *s += pending as u64;
                self.consumed += pending as u64;
                self.start = 0;
                self.end = 0;
                (self.nul, self.searched) = (0, 0);
            }
            if self.eof {
                if let (Some(skipped), true) = (skipping, self.hold_partial) {
                    // An over-long line still being written: left whole for
                    // the next run, which reports it once it is complete.
                    self.consumed -= skipped;
                    return match self.pending_err.take() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
                if let Some(skipped) = skipping {
                    self.head.truncate(SAMPLE);
                    return Ok(Some(Line::TooLong {
                        head: &self.head,
                        len: skipped,
                    }));
                }
                // A last line without its end: delivered at the end of a
                // stream, but not where a read error cut it (a gzip still
                // being written): `check` goes on from the last whole line
                // and reads it whole next time.
                if self.start < self.end && !self.hold_partial && self.pending_err.is_none() {
                    let (s, e) = (self.start, self.end);
                    let first = self.consumed == 0;
                    self.consumed += (e - s) as u64;
                    self.start = e;
                    return Ok(Some(self.data(s, e, first)));
                }
                return match self.pending_err.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            // What the NUL search knows moves with the bytes; a NUL before
            // them is gone, and the search starts over.
            (self.nul, self.searched) = if self.nul >= self.start {
                (self.nul - self.start, self.searched - self.start)
            } else {
                (0, 0)
            };
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only reached when max_line exceeds the buffer: grow up to it.
            let n = (self.buf.len() * 2)
                .min(self.max_line + 1)
                .max(self.buf.len() + 1);
            self.buf.resize(n, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Deliver what we have, then the error.
                    self.eof = true;
                    self.pending_err = Some(e);
                    return Ok(());
                }
            }
        }
    }
}

/// A UTF-8 byte-order mark opening a file (logs written on Windows) is not
/// part of its first line.
fn strip_bom(l: &[u8]) -> &[u8] {
    l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l)
}

fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Data(d) => String::from_utf8_lossy(d).into_owned(),
                Line::Binary(d) => format!("BINARY({})", String::from_utf8_lossy(d)),
                Line::TooLong { head, len } => format!("LONG({len},{})", head.len()),
            });
        }
        out
    }

    #[test]
    fn a_byte_order_mark_opening_the_stream_is_dropped() {
        for text in [&b"\xEF\xBB\xBFa\n\xEF\xBB\xBFb\n"[..], b"\xEF\xBB\xBFa"] {
            let mut r = LineReader::new(text, 64);
            let mut lines = Vec::new();
            while let Some(Line::Data(d)) = r.next_line().unwrap() {
                lines.push(d.to_vec());
            }
            assert_eq!(lines[0], b"a");
            if lines.len() > 1 {
                assert_eq!(lines[1], b"\xEF\xBB\xBFb", "only the stream's first");
            }
            assert_eq!(r.consumed(), text.len() as u64);
        }
    }

    /// `check` leaves an unterminated last line for the next run, an
    /// over-long one too; once complete, it is one over-long line.
    #[test]
    fn held_partial_lines_are_left_whole_however_long() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 500));
        let mut r = LineReader::new(&text[..], 64).hold_partial();
        assert!(matches!(r.next_line().unwrap(), Some(Line::Data(b"ok"))));
        assert!(r.next_line().unwrap().is_none());
        assert_eq!(r.consumed(), 3, "the partial line is not consumed");
        text.extend(b"xx\nnext\n");
        let mut r = LineReader::new(&text[3..], 64).hold_partial();
        r.set_consumed(3);
        assert!(matches!(
            r.next_line().unwrap(),
            Some(Line::TooLong { len: 502, .. })
        ));
        assert!(matches!(r.next_line().unwrap(), Some(Line::Data(b"next"))));
        assert_eq!(r.consumed(), text.len() as u64);
    }

    #[test]
    fn splits_crlf_and_unterminated_last_line() {
        assert_eq!(collect(b"a\r\nb\n\nc", 100), vec!["a", "b", "", "c"]);
        assert!(collect(b"", 100).is_empty());
    }

    #[test]
    fn skips_long_lines_with_a_bounded_buffer() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        input.extend_from_slice(b"\nafter\n");
        input.extend(std::iter::repeat_n(b'y', 300_000));
        let out = collect(&input, 1000);
        assert_eq!(
            out,
            vec![
                "ok".to_string(),
                "LONG(10485760,160)".into(),
                "after".into(),
                "LONG(300000,160)".into()
            ]
        );
        let mut r = LineReader::new(&input[..], 1000);
        while r.next_line().unwrap().is_some() {}
        assert!(r.buf.len() <= 1 << 17, "buffer grew to {}", r.buf.len());
        assert_eq!(r.consumed(), input.len() as u64);
    }

    /// Hands out its bytes in pieces of random size.
    struct Pieces<'a>(&'a [u8], crate::test_rng::Rng);
    impl Read for Pieces<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = b
                .len()
                .min(self.0.len())
                .min(1 + self.1.below(300) as usize);
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The search for NUL bytes, once per fill, marks exactly the lines
    /// that hold one, whatever the pieces the stream comes in, the line
    /// lengths (over-long ones included) and where the buffer is compacted.
    #[test]
    fn lines_with_nul_bytes_are_marked_binary_and_only_those() {
        let mut rng = crate::test_rng::Rng::new(0x0dd5_1e55_b1a5_7ed5);
        let mut binary = 0;
        for _ in 0..300 {
            let mut text = Vec::new();
            let mut want = Vec::new();
            for _ in 0..rng.below(400) {
                let len = match rng.below(20) {
                    0 => rng.below(3000) as usize,
                    _ => rng.below(120) as usize,
                };
                let mut line: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
                for _ in 0..[0, 0, 0, 1, 3][rng.below(5) as usize] {
                    if !line.is_empty() {
                        let at = rng.below(line.len() as u64) as usize;
                        line[at] = 0;
                    }
                }
                text.extend_from_slice(&line);
                text.push(b'\n');
                want.push(line);
            }
            let max = 16 + rng.below(2000) as usize;
            let seed = rng.next();
            let mut r = LineReader::new(Pieces(&text, crate::test_rng::Rng::new(seed)), max);
            for w in &want {
                match r.next_line().unwrap().expect("a line") {
                    Line::Data(d) => {
                        assert_eq!(d, &w[..]);
                        assert!(memchr::memchr(0, w).is_none());
                    }
                    Line::Binary(d) => {
                        assert_eq!(d, &w[..]);
                        assert!(memchr::memchr(0, w).is_some());
                        binary += 1;
                    }
                    Line::TooLong { len, .. } => assert!(w.len() > max && len == w.len() as u64),
                }
            }
            assert!(r.next_line().unwrap().is_none());
        }
        assert!(binary > 1000, "{binary}");
    }

    struct Failing<'a>(&'a [u8]);
    impl Read for Failing<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
            }
            let n = b.len().min(self.0.len()).min(3);
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_error_comes_after_the_lines_before_it() {
        let mut r = LineReader::new(Failing(b"one\ntwo\nthr"), 100);
        let mut got = Vec::new();
        let err = loop {
            match r.next_line() {
                Ok(Some(Line::Data(d))) => got.push(String::from_utf8_lossy(d).into_owned()),
                Ok(Some(Line::TooLong { .. } | Line::Binary(_))) => unreachable!(),
                Ok(None) => panic!("error expected"),
                Err(e) => break e,
            }
        };
        // The piece the error cut off is not a line: `check` goes on from
        // the end of "two" and reads it whole once the file is.
        assert_eq!(got, vec!["one", "two"]);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(r.consumed(), 8);
    }
}
