//! Several logs of the same period read as one stream, in time order.
//!
//! Two gateway nodes behind a balancer each write their own access log. Read
//! one after the other, the second node's lines arrive hours behind event
//! time: every actor's windows then mix its lookups from both ends of the
//! day, which names busy but honest clients (measured: 14 support agents on
//! the simulated day split over two nodes). `scan` therefore merges
//! independent inputs (each a rotated set, read oldest first) line by line
//! on the timestamp of each line, like `sort -m`, and so does each `check`
//! run with the lines appended since the last one.
//!
//! Each set gets its own parser, only to read timestamps. A line that does
//! not parse (blank, malformed, over-long) keeps the time of the line before
//! it in its set, so it comes out where it was, and so does a line stamped
//! far ahead of its set unless the lines after it confirm it (see
//! [`Clock`](crate::formats::time::Clock)). Ties go to the set named
//! first. Read errors end that file, as they do when reading one by one, and
//! are handed back for the run's report.

use std::collections::VecDeque;
use std::io;

use super::{Input, Line, LineReader, Opened, open, resume};
use crate::formats::LineParser;
use crate::formats::time::Clock;

/// Where [`crate::modes::Pump::pump`] takes lines from: one reader, or
/// several merged.
pub trait LineSource {
    fn next_line(&mut self) -> io::Result<Option<Line<'_>>>;

    /// [`LineSource::next_line`], and where the line came from when that
    /// is not simply the next line of one input (a merged stream).
    fn next_line_from(&mut self, from: &mut Option<Origin>) -> io::Result<Option<Line<'_>>> {
        *from = None;
        self.next_line()
    }

    /// Bytes of the lines handed out so far, exactly (line ends as
    /// written, a byte-order mark, an unterminated last line).
    fn bytes_read(&self) -> u64;
}

impl<R: io::Read> LineSource for LineReader<R> {
    fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        LineReader::next_line(self)
    }

    fn bytes_read(&self) -> u64 {
        LineReader::bytes_read(self)
    }
}

/// Where a line of a merged stream came from: its set, the file of the
/// set (in the order opened) and its line number there (from where reading
/// started in it). Malformed-line samples name the file and line from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub set: u32,
    pub file: u32,
    pub line: u64,
}

/// A line's file (of its set, in the order opened) and line number there.
type FileLine = (u32, u64);

/// A line held by the merge (copied out of its reader, which moves on).
enum Held {
    Data(Vec<u8>),
    TooLong(Vec<u8>, u64),
}

/// A file that could not be read to its end, for the run's report.
pub struct InputError {
    pub input: Input,
    /// It could not be opened at all (else it broke off part-way).
    pub unopened: bool,
    pub error: io::Error,
    /// Raw (compressed, for gzip) bytes read when it happened.
    pub raw: u64,
    pub gzip: bool,
    /// Lines of that file read before it.
    pub lines: u64,
}

/// One rotated set: its files oldest first, each with the offset to start
/// from (0, or where `check`'s last run stopped).
pub struct Set {
    rest: VecDeque<(Input, u64)>,
    current: Option<(Input, Opened, u64)>,
    /// Lines read ahead (to recognise the format) and not yet handed out,
    /// with the bytes each took in its file and where it is.
    ahead: VecDeque<(Held, u64, FileLine)>,
    /// The line this set offers next, its bytes, its time (event-time
    /// micros) and where it is.
    next: Option<(Held, u64, i64, FileLine)>,
    last_ts: i64,
    /// The set's own event time: a stray line stamped far ahead is merged
    /// where it stands, not held back until every other set has caught up.
    clock: Clock,
    parser: Option<Box<dyn LineParser>>,
    /// Files of the set opened so far.
    opened: Vec<Input>,
    /// Files read to their end, or to a read error, with the offset
    /// reached (for `check`).
    pub reached: Vec<(Input, u64)>,
    /// Resuming (`check`): in the newest file (the live one), leave an
    /// unterminated last line for next time.
    resuming: bool,
}

impl Set {
    /// Files read whole.
    pub fn new(inputs: Vec<Input>) -> Set {
        Set {
            resuming: false,
            ..Set::resuming(inputs.into_iter().map(|i| (i, 0)).collect())
        }
    }

    /// Files read from the given offsets (see [`super::resume`]).
    pub fn resuming(inputs: Vec<(Input, u64)>) -> Set {
        Set {
            rest: inputs.into(),
            current: None,
            ahead: VecDeque::new(),
            next: None,
            last_ts: i64::MIN,
            clock: Clock::default(),
            parser: None,
            opened: Vec::new(),
            reached: Vec::new(),
            resuming: true,
        }
    }

    /// The next raw line of the set, the bytes it took and where it is,
    /// opening its next file as needed, copied into `spare` (the previous
    /// line's buffer: no allocation per line). Files that cannot be opened
    /// or read are recorded in `errors`.
    fn pull(
        &mut self,
        max_line: usize,
        errors: &mut Vec<InputError>,
        mut spare: Vec<u8>,
    ) -> Option<(Held, u64, FileLine)> {
        if let Some(h) = self.ahead.pop_front() {
            return Some(h);
        }
        loop {
            if self.current.is_none() {
                let (input, start) = self.rest.pop_front()?;
                // The newest file of a set is the live one.
                let opened = if self.resuming {
                    resume(&input, start, max_line, self.rest.is_empty())
                } else {
                    open(&input, start, max_line)
                };
                match opened {
                    Ok(o) => {
                        self.opened.push(input.clone());
                        self.current = Some((input, o, 0));
                    }
                    Err(e) => {
                        errors.push(InputError {
                            input,
                            unopened: true,
                            error: io::Error::other(format!("{e:#}")),
                            raw: 0,
                            gzip: false,
                            lines: 0,
                        });
                        continue;
                    }
                }
            }
            let (input, o, n) = self.current.as_mut().expect("opened above");
            let before = o.lines.consumed();
            let held = match o.lines.next_line() {
                Ok(Some(Line::Data(d) | Line::Binary(d))) => {
                    spare.clear();
                    spare.extend_from_slice(d);
                    Held::Data(spare)
                }
                Ok(Some(Line::TooLong { head, len })) => {
                    spare.clear();
                    spare.extend_from_slice(head);
                    Held::TooLong(spare, len)
                }
                Ok(None) => {
                    self.reached.push((input.clone(), o.lines.consumed()));
                    self.current = None;
                    continue;
                }
                Err(error) => {
                    // Its lines up to the break were handed out: `check`
                    // goes on from there, not from where it started, or
                    // it would count them again on every run.
                    self.reached.push((input.clone(), o.lines.consumed()));
                    errors.push(InputError {
                        input: input.clone(),
                        unopened: false,
                        error,
                        raw: o.raw.get(),
                        gzip: o.gzip,
                        lines: *n,
                    });
                    self.current = None;
                    continue;
                }
            };
            *n += 1;
            // The file being read is the one opened last.
            let at = ((self.opened.len() - 1) as u32, *n);
            return Some((held, o.lines.consumed() - before, at));
        }
    }

    /// Read ahead until `want` non-blank lines (or the end): the sample to
    /// recognise this set's format from.
    pub fn head(
        &mut self,
        want: usize,
        max_lines: usize,
        max_line: usize,
        errors: &mut Vec<InputError>,
    ) -> Vec<Vec<u8>> {
        let mut useful = 0;
        let mut pulled = Vec::new();
        while useful < want && pulled.len() < max_lines {
            let Some(h) = self.pull(max_line, errors, Vec::new()) else {
                break;
            };
            if let (Held::Data(d), ..) = &h
                && !d.iter().all(u8::is_ascii_whitespace)
            {
                useful += 1;
            }
            pulled.push(h);
        }
        let sample = pulled
            .iter()
            .filter_map(|(h, ..)| match h {
                Held::Data(d) => Some(d.clone()),
                Held::TooLong(..) => None,
            })
            .collect();
        self.ahead.extend(pulled);
        sample
    }

    /// The parser that reads this set's timestamps; the lines read ahead
    /// prime its clock (see [`Clock::prime`]).
    pub fn set_parser(&mut self, mut p: Box<dyn LineParser>) {
        let ahead = self.ahead.iter().filter_map(|(h, ..)| match h {
            Held::Data(d) => Some(d.as_slice()),
            Held::TooLong(..) => None,
        });
        self.clock.prime_from(p.as_mut(), ahead);
        self.parser = Some(p);
    }

    /// Take the set's next line and its time.
    fn advance(&mut self, max_line: usize, errors: &mut Vec<InputError>) {
        let spare = match self.next.take() {
            Some((Held::Data(v) | Held::TooLong(v, _), ..)) => v,
            None => Vec::new(),
        };
        self.next = self.pull(max_line, errors, spare).map(|(h, bytes, at)| {
            if let (Held::Data(d), Some(p)) = (&h, self.parser.as_mut())
                && let Ok(rec) = p.parse(d)
            {
                self.last_ts = self.clock.file(rec.ts).0;
            }
            let ts = self.last_ts;
            (h, bytes, ts, at)
        });
    }
}

/// Several sets merged into one stream of lines in time order.
pub struct Merged {
    sets: Vec<Set>,
    /// The set whose line was handed out last: it moves on at the next call
    /// (its line is borrowed until then).
    last: Option<usize>,
    started: bool,
    max_line: usize,
    /// Bytes of the lines handed out.
    handed: u64,
    /// Files that could not be opened or read to the end.
    pub errors: Vec<InputError>,
}

impl Merged {
    /// `sets` already read ahead (see [`Set::head`]) and given parsers.
    pub fn new(sets: Vec<Set>, max_line: usize, errors: Vec<InputError>) -> Merged {
        Merged {
            sets,
            last: None,
            started: false,
            max_line,
            handed: 0,
            errors,
        }
    }
}

impl Merged {
    /// The files opened, set by set (for the run's list of formats).
    pub fn opened(&self) -> impl Iterator<Item = &Input> {
        self.sets.iter().flat_map(|s| s.opened.iter())
    }

    /// The files read to their end, with the offset reached in each.
    pub fn reached(&self) -> impl Iterator<Item = &(Input, u64)> {
        self.sets.iter().flat_map(|s| s.reached.iter())
    }

    /// The file a line came from.
    pub fn file_of(&self, o: Origin) -> Option<&Input> {
        self.sets.get(o.set as usize)?.opened.get(o.file as usize)
    }
}

impl LineSource for Merged {
    fn bytes_read(&self) -> u64 {
        self.handed
    }

    fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.next_line_from(&mut None)
    }

    fn next_line_from(&mut self, from: &mut Option<Origin>) -> io::Result<Option<Line<'_>>> {
        if !self.started {
            self.started = true;
            for s in self.sets.iter_mut() {
                s.advance(self.max_line, &mut self.errors);
            }
        } else if let Some(i) = self.last {
            self.sets[i].advance(self.max_line, &mut self.errors);
        }
        // Few sets: a scan beats a heap. Ties go to the set named first.
        let mut best: Option<(usize, i64)> = None;
        for (i, s) in self.sets.iter().enumerate() {
            if let Some((_, _, ts, _)) = &s.next
                && best.is_none_or(|(_, b)| *ts < b)
            {
                best = Some((i, *ts));
            }
        }
        let Some((i, _)) = best else {
            self.last = None;
            return Ok(None);
        };
        self.last = Some(i);
        let Some((held, bytes, _, (file, line))) = &self.sets[i].next else {
            unreachable!("the set chosen has a line");
        };
        self.handed += bytes;
        *from = Some(Origin {
            set: i as u32,
            file: *file,
            line: *line,
        });
        Ok(Some(match held {
            // Held lines are copies: looked at again for NUL bytes.
            Held::Data(d) if memchr::memchr(0, d).is_some() => Line::Binary(d),
            Held::Data(d) => Line::Data(d),
            Held::TooLong(head, len) => Line::TooLong { head, len: *len },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::FormatOptions;
    use crate::formats::detect::detect;

    fn clf(ts: &str, path: &str) -> String {
        format!("10.0.0.1 - - [{ts} +0000] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"t\"\n")
    }

    fn set_of(dir: &std::path::Path, name: &str, body: &str) -> Set {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        let mut s = Set::new(vec![Input::File(p)]);
        let mut errors = Vec::new();
        let sample = s.head(40, 1000, 1 << 16, &mut errors);
        let refs: Vec<&[u8]> = sample.iter().map(|v| v.as_slice()).collect();
        let d = detect(&refs, &FormatOptions::default()).expect("recognised");
        s.set_parser(d.build(&FormatOptions::default()).unwrap());
        s
    }

    fn drain(m: &mut Merged) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = m.next_line().unwrap() {
            out.push(match l {
                Line::Data(d) | Line::Binary(d) => String::from_utf8_lossy(d).into_owned(),
                Line::TooLong { len, .. } => format!("too long {len}"),
            });
        }
        out
    }

    #[test]
    fn lines_come_out_in_time_order_and_unparsed_lines_stay_in_place() {
        let d = tempfile::tempdir().unwrap();
        let a = [
            clf("01/Mar/2026:00:00:01", "/a1"),
            clf("01/Mar/2026:00:00:03", "/a3"),
            "garbage after a3\n".into(),
            clf("01/Mar/2026:00:00:05", "/a5"),
        ]
        .concat();
        let b = [
            clf("01/Mar/2026:00:00:02", "/b2"),
            clf("01/Mar/2026:00:00:03", "/b3"),
            "\n".into(),
            clf("01/Mar/2026:00:00:04", "/b4"),
        ]
        .concat();
        let sets = vec![set_of(d.path(), "a.log", &a), set_of(d.path(), "b.log", &b)];
        let mut m = Merged::new(sets, 1 << 16, Vec::new());
        let got: Vec<String> = drain(&mut m)
            .iter()
            .map(|l| match l.strip_prefix("10.0.0.1 ") {
                Some(_) => l.split_whitespace().nth(6).unwrap_or("").to_owned(),
                None => l.trim().to_owned(),
            })
            .collect();
        // Ties (second 3) go to the set named first; the garbage line keeps
        // a3's time and the blank line b3's.
        assert_eq!(
            got,
            [
                "/a1",
                "/b2",
                "/a3",
                "garbage after a3",
                "/b3",
                "",
                "/b4",
                "/a5"
            ],
            "{got:?}"
        );
        assert!(m.errors.is_empty());
    }

    /// `check`: each file from where the last run stopped; an unfinished
    /// last line is left for the next run, and the offset reached says so.
    #[test]
    fn resumed_sets_start_at_their_offsets_and_leave_a_partial_line() {
        let d = tempfile::tempdir().unwrap();
        let old = clf("01/Mar/2026:00:00:01", "/a-old");
        let a = [old.clone(), clf("01/Mar/2026:00:00:04", "/a4")].concat();
        let pa = d.path().join("a.log");
        std::fs::write(&pa, format!("{a}10.0.0.1 - - [01/Mar/2026:00:00:0")).unwrap();
        let pb = d.path().join("b.log");
        std::fs::write(&pb, clf("01/Mar/2026:00:00:02", "/b2")).unwrap();
        let mut sets = Vec::new();
        for (p, start) in [(&pa, old.len() as u64), (&pb, 0)] {
            let mut s = Set::resuming(vec![(Input::File(p.clone()), start)]);
            s.head(40, 1000, 1 << 16, &mut Vec::new());
            s.set_parser(Box::new(crate::formats::clf::ClfParser::new(
                crate::formats::clf::Variant::Combined,
                &FormatOptions::default(),
            )));
            sets.push(s);
        }
        let mut m = Merged::new(sets, 1 << 16, Vec::new());
        let got = drain(&mut m);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("/b2") && got[1].contains("/a4"), "{got:?}");
        let reached: Vec<u64> = m.reached().map(|r| r.1).collect();
        assert_eq!(
            reached,
            [a.len() as u64, std::fs::metadata(&pb).unwrap().len()]
        );
    }

    #[test]
    fn an_unreadable_file_is_reported_and_the_rest_is_read() {
        let d = tempfile::tempdir().unwrap();
        let mut s = set_of(d.path(), "a.log", &clf("01/Mar/2026:00:00:01", "/a1"));
        s.rest
            .push_back((Input::File(d.path().join("missing.log")), 0));
        let b = set_of(d.path(), "b.log", &clf("01/Mar/2026:00:00:02", "/b2"));
        let mut m = Merged::new(vec![s, b], 1 << 16, Vec::new());
        assert_eq!(drain(&mut m).len(), 2);
        assert_eq!(m.errors.len(), 1);
        assert!(matches!(&m.errors[0].input, Input::File(p) if p.ends_with("missing.log")));
    }
}
