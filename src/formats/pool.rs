//! Parsing on worker threads (`scan --threads N`).
//!
//! The engine's front (routing, identities) must see records in order, and
//! on two cores it shares the reading thread with parsing: for ALB and JSON
//! lines that one thread was the bottleneck while the detector workers
//! waited. Here the reading thread only cuts lines into [`Batch`]es; a
//! worker parses a batch with its own parser and hands it back with each
//! line's [`Outcome`]; the reading thread takes batches back in the order it
//! sent them, so everything after parsing happens in the same order as on
//! one thread. Only parsers that are [`costly`](LineParser::costly) are
//! used here: a CLF line is parsed about as fast as it is handed over.
//! Batch sizes follow the memory ceiling ([`ParsePool::start`]).
//!
//! A [`Record`] borrows from its line or from the parser's scratch space, so
//! it cannot cross threads. A [`Parsed`] is its owned form: every byte field
//! is a `Span` into the batch's lines or, for values the parser had to
//! rewrite (unescaped JSON strings), into the batch's arena.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::{LineParser, Malformed, MalformedKind, Record, Timestamp};

/// Lines per batch, at most.
const BATCH_LINES: usize = 2048;
/// Line bytes per batch, at most (a batch always takes one line, however
/// long).
const BATCH_BYTES: usize = 1 << 20;
/// Batches out per worker: the reading thread keeps cutting lines while the
/// workers parse.
const DEPTH_PER_WORKER: usize = 2;

/// Builds another parser like the one the reading thread uses for the
/// current input (see [`crate::modes::Pump::parser_for`]).
pub type Recipe = Box<dyn Fn() -> anyhow::Result<Box<dyn LineParser>>>;

/// What a line is before any parser looks at it.
pub enum Screen {
    /// Spaces and tabs only.
    Blank,
    /// NUL bytes: binary garbage.
    Binary,
    Text,
}

pub const BINARY: Malformed = Malformed::new(MalformedKind::Binary, "NUL bytes in line");

pub fn screen(line: &[u8]) -> Screen {
    screen_known(line, has_nul(line))
}

/// Whether `line` holds a NUL byte (binary garbage, not a log line).
pub fn has_nul(line: &[u8]) -> bool {
    memchr::memchr(0, line).is_some()
}

/// [`screen`] of a line whose reader already looked for NUL bytes.
pub fn screen_known(line: &[u8], has_nul: bool) -> Screen {
    if line.iter().all(|b| *b == b' ' || *b == b'\t') {
        Screen::Blank
    } else if has_nul {
        Screen::Binary
    } else {
        Screen::Text
    }
}

/// Where a field's bytes are: `at` is an offset into the batch's lines, or,
/// with [`IN_ARENA`] set, into its arena.
#[derive(Clone, Copy, Default)]
struct Span {
    at: u32,
    len: u32,
}

const IN_ARENA: u32 = 1 << 31;

/// A [`Record`] that owns nothing and borrows nothing: see the module notes.
#[derive(Clone, Copy)]
pub struct Parsed {
    ts: Timestamp,
    client: Option<IpAddr>,
    client_port: Option<u16>,
    status: u16,
    bytes: Option<u64>,
    duration_us: Option<u64>,
    /// The byte fields, in [`Record`]'s order.
    spans: [Span; 11],
}

/// What became of one line.
pub enum Outcome {
    Blank,
    Malformed(Malformed),
    Parsed(Parsed),
}

/// Lines cut from an input, and once parsed, what became of each.
#[derive(Default)]
pub struct Batch {
    /// Line number of the first line (the others follow without gaps).
    pub first_no: u64,
    bytes: Vec<u8>,
    /// End offset of each line in `bytes`.
    ends: Vec<usize>,
    pub outcomes: Vec<Outcome>,
    arena: Vec<u8>,
    /// The parser that reads it (on its way to and from a worker).
    parser: Option<Box<dyn LineParser>>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The record of a parsed line of this batch.
    pub fn record(&self, p: &Parsed) -> Record<'_> {
        let s = |k: usize| {
            let Span { at, len } = p.spans[k];
            let (buf, at) = if at & IN_ARENA != 0 {
                (&self.arena, at & !IN_ARENA)
            } else {
                (&self.bytes, at)
            };
            &buf[at as usize..(at + len) as usize]
        };
        Record {
            ts: p.ts,
            client: p.client,
            client_port: p.client_port,
            forwarded_for: s(0),
            real_ip: s(1),
            method: s(2),
            path: s(3),
            query: s(4),
            status: p.status,
            bytes: p.bytes,
            duration_us: p.duration_us,
            user_agent: s(5),
            referer: s(6),
            principal: s(7),
            api_key: s(8),
            host: s(9),
            request_id: s(10),
        }
    }

    /// Ask for line `i`'s outcome to be brought into this core's cache:
    /// it was written on another core.
    pub fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(o) = self.outcomes.get(i) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let p = (o as *const Outcome).cast::<i8>();
            // SAFETY: a prefetch is only a hint and never faults, whatever
            // the address (the last two may lie past the element or the
            // vector; `wrapping_add` keeps computing them defined).
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128));
            }
        }
    }

    fn clear(&mut self) {
        // Do not keep the room a very long line took.
        if self.bytes.capacity() > 2 * BATCH_BYTES {
            self.bytes = Vec::new();
        }
        if self.arena.capacity() > 2 * BATCH_BYTES {
            self.arena = Vec::new();
        }
        self.bytes.clear();
        self.ends.clear();
        self.outcomes.clear();
        self.arena.clear();
    }

    /// Parse every line (on a worker).
    fn parse(&mut self) {
        let Batch {
            bytes,
            ends,
            outcomes,
            arena,
            parser,
            ..
        } = self;
        let parser = parser.as_mut().expect("a batch is sent with its parser");
        outcomes.clear();
        arena.clear();
        let mut start = 0;
        for &end in ends.iter() {
            let line = &bytes[start..end];
            let base = start;
            start = end;
            outcomes.push(match screen(line) {
                Screen::Blank => Outcome::Blank,
                Screen::Binary => Outcome::Malformed(BINARY),
                Screen::Text => match parser.parse(line) {
                    Ok(r) => Outcome::Parsed(keep(&r, line, base, arena)),
                    Err(m) => Outcome::Malformed(m),
                },
            });
        }
    }
}

/// The owned form of `r`, parsed from `line` (at `base` in its batch).
fn keep(r: &Record<'_>, line: &[u8], base: usize, arena: &mut Vec<u8>) -> Parsed {
    let lo = line.as_ptr() as usize;
    let hi = lo + line.len();
    let mut span = |f: &[u8]| {
        if f.is_empty() {
            return Span::default();
        }
        let p = f.as_ptr() as usize;
        if p >= lo && p + f.len() <= hi {
            Span {
                at: (base + (p - lo)) as u32,
                len: f.len() as u32,
            }
        } else {
            // Rewritten by the parser (or a constant of it).
            let at = arena.len() as u32 | IN_ARENA;
            arena.extend_from_slice(f);
            Span {
                at,
                len: f.len() as u32,
            }
        }
    };
    Parsed {
        ts: r.ts,
        client: r.client,
        client_port: r.client_port,
        status: r.status,
        bytes: r.bytes,
        duration_us: r.duration_us,
        spans: [
            span(r.forwarded_for),
            span(r.real_ip),
            span(r.method),
            span(r.path),
            span(r.query),
            span(r.user_agent),
            span(r.referer),
            span(r.principal),
            span(r.api_key),
            span(r.host),
            span(r.request_id),
        ],
    }
}

struct Worker {
    tx: SyncSender<Batch>,
    rx: Receiver<Batch>,
    handle: JoinHandle<()>,
}

/// Worker threads that parse batches, and the batches out with them.
pub struct ParsePool {
    workers: Vec<Worker>,
    /// The worker holding each batch out, oldest first.
    out: VecDeque<usize>,
    next: usize,
    filling: Batch,
    spare: Vec<Batch>,
    /// Parsers of the current input not out with a batch.
    parsers: Vec<Box<dyn LineParser>>,
    recipe: Option<Recipe>,
    batch_lines: usize,
    batch_bytes: usize,
}

impl ParsePool {
    /// `threads` workers, with at most about `in_flight` bytes of batches
    /// out or kept for reuse.
    pub fn start(threads: usize, in_flight: usize) -> ParsePool {
        let threads = threads.max(1);
        // Batches out, the one being filled and one spare; half of a
        // batch's share for its lines, half for their outcomes.
        let share = in_flight / (threads * DEPTH_PER_WORKER + 2) / 2;
        let batch_lines = (share / std::mem::size_of::<Outcome>()).clamp(64, BATCH_LINES);
        let batch_bytes = share.clamp(16 << 10, BATCH_BYTES);
        let workers = (0..threads)
            .map(|i| {
                let (tx, wrx) = sync_channel::<Batch>(DEPTH_PER_WORKER);
                let (wtx, rx) = sync_channel::<Batch>(DEPTH_PER_WORKER);
                let handle = std::thread::Builder::new()
                    .name(format!("parse-worker-{i}"))
                    .spawn(move || {
                        while let Ok(mut b) = wrx.recv() {
                            b.parse();
                            if wtx.send(b).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawning a parse worker thread");
                Worker { tx, rx, handle }
            })
            .collect();
        ParsePool {
            workers,
            out: VecDeque::new(),
            next: 0,
            filling: Batch::default(),
            spare: Vec::new(),
            parsers: Vec::new(),
            recipe: None,
            batch_lines,
            batch_bytes,
        }
    }

    /// A new input: its lines are parsed with parsers from `recipe`. Every
    /// line of the previous input must have been taken back.
    pub fn begin(&mut self, recipe: Recipe) {
        // Else they would be counted under the new input's name.
        assert!(self.is_idle(), "lines of the previous input still out");
        self.parsers.clear();
        self.recipe = Some(recipe);
    }

    /// Stop taking lines (until the next [`begin`](Self::begin)): for inputs
    /// whose parser was not made here.
    pub fn end(&mut self) {
        assert!(self.is_idle(), "lines still out");
        self.recipe = None;
        self.parsers.clear();
    }

    /// Whether lines are taken ([`begin`](Self::begin) was called).
    pub fn taking(&self) -> bool {
        self.recipe.is_some()
    }

    /// Nothing cut and not yet taken back.
    fn is_idle(&self) -> bool {
        self.out.is_empty() && self.filling.is_empty()
    }

    /// Add a line. True when the batch being filled is full: then
    /// [`send`](Self::send) it.
    pub fn push(&mut self, line_no: u64, line: &[u8]) -> bool {
        let b = &mut self.filling;
        if b.ends.is_empty() {
            b.first_no = line_no;
        }
        b.bytes.extend_from_slice(line);
        b.ends.push(b.bytes.len());
        b.ends.len() >= self.batch_lines || b.bytes.len() >= self.batch_bytes
    }

    /// Send the batch being filled (if any) to the next worker.
    pub fn send(&mut self) -> anyhow::Result<()> {
        if self.filling.is_empty() {
            return Ok(());
        }
        let parser = match self.parsers.pop() {
            Some(p) => p,
            None => (self.recipe.as_ref().expect("begin() gave a recipe"))()?,
        };
        let next = self.spare.pop().unwrap_or_default();
        let mut b = std::mem::replace(&mut self.filling, next);
        b.parser = Some(parser);
        let w = self.next;
        self.next = (self.next + 1) % self.workers.len();
        self.workers[w].tx.send(b).map_err(|_| worker_died())?;
        self.out.push_back(w);
        Ok(())
    }

    /// Whether so many batches are out that the oldest should be taken back
    /// before more lines are cut.
    pub fn due(&self) -> bool {
        self.out.len() >= self.workers.len() * DEPTH_PER_WORKER
    }

    /// Whether any batch is out.
    pub fn waiting(&self) -> bool {
        !self.out.is_empty()
    }

    /// The oldest batch out, parsed (waits for it). Hand it back with
    /// [`recycle`](Self::recycle).
    pub fn take(&mut self) -> anyhow::Result<Batch> {
        let w = self.out.pop_front().expect("a batch is out");
        let mut b = self.workers[w].rx.recv().map_err(|_| worker_died())?;
        // Every batch out is of the current input (see `begin`).
        self.parsers.extend(b.parser.take());
        Ok(b)
    }

    /// Keep a taken batch's buffers for the next one.
    pub fn recycle(&mut self, mut b: Batch) {
        b.clear();
        self.spare.push(b);
    }
}

impl Drop for ParsePool {
    fn drop(&mut self) {
        for w in self.workers.drain(..) {
            drop(w.tx);
            // Unblock a worker waiting to hand back a batch.
            drop(w.rx);
            let _ = w.handle.join();
        }
    }
}

fn worker_died() -> anyhow::Error {
    anyhow::anyhow!("a parse worker thread stopped unexpectedly")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{FormatOptions, FormatSpec};

    /// Parse `lines` through the pool and inline; both must give the same
    /// records and the same malformed reasons, in order.
    fn same_as_inline(spec: FormatSpec, lines: &[&[u8]]) {
        let opts = FormatOptions::default();
        let mut inline = spec.build(&opts).unwrap();
        let mut pool = ParsePool::start(2, 1 << 20);
        let s2 = spec.clone();
        pool.begin(Box::new(move || s2.build(&FormatOptions::default())));
        let mut batches = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if pool.push(i as u64 + 1, l) {
                pool.send().unwrap();
            }
            // Small batches too: send every third line.
            if i % 3 == 2 {
                pool.send().unwrap();
            }
            while pool.due() {
                batches.push(pool.take().unwrap());
            }
        }
        pool.send().unwrap();
        while pool.waiting() {
            batches.push(pool.take().unwrap());
        }
        let mut n = 0;
        for b in &batches {
            assert_eq!(b.first_no, n as u64 + 1, "batches come back in order");
            for (i, o) in b.outcomes.iter().enumerate() {
                assert_eq!(b.line(i), lines[n]);
                let want = match screen(lines[n]) {
                    Screen::Blank => None,
                    Screen::Binary => Some(Err(BINARY)),
                    Screen::Text => Some(inline.parse(lines[n])),
                };
                match (o, want) {
                    (Outcome::Blank, None) => {}
                    (Outcome::Malformed(m), Some(Err(w))) => assert_eq!(*m, w),
                    (Outcome::Parsed(p), Some(Ok(w))) => assert_eq!(b.record(p), w),
                    _ => panic!("line {n} differs: {:?}", String::from_utf8_lossy(lines[n])),
                }
                n += 1;
            }
        }
        assert_eq!(n, lines.len());
    }

    #[test]
    fn pooled_parsing_gives_the_records_of_inline_parsing() {
        let combined: Vec<&[u8]> = vec![
            br#"1.2.3.4 - alice [08/Dec/2021:09:16:05 +0000] "GET /v1/customers/123?x=1 HTTP/1.1" 200 414 "-" "curl/8""#,
            b"",
            b"   \t",
            b"not a log line",
            b"1.2.3.4 - - [08/Dec/2021:09:16:05 +0000] \"GET /\0 HTTP/1.1\" 200 1 \"-\" \"-\"",
            br#"2001:db8::1 - - [08/Dec/2021:09:16:06 +0000] "POST /login HTTP/1.1" 401 0 "https://x/" "Mozilla/5.0""#,
        ];
        same_as_inline(FormatSpec::Combined, &combined);
        // JSON strings with escapes are rewritten by the parser: they must
        // come back from the arena.
        let json: Vec<&[u8]> = vec![
            br#"{"requestTimeEpoch":1638954965000,"ip":"10.0.0.1","httpMethod":"GET","path":"\/v1\/customers\/7","status":200,"userAgent":"a \"quoted\" agent","principalId":"u\u00e9"}"#,
            br#"{"requestTimeEpoch":1638954966000,"ip":"10.0.0.2","httpMethod":"GET","path":"/v1/customers/8","status":404}"#,
            br#"{"broken":"#,
        ];
        same_as_inline(FormatSpec::ApigwJson, &json);
    }

    #[test]
    fn a_long_line_does_not_keep_its_room() {
        let mut pool = ParsePool::start(1, 1 << 20);
        pool.begin(Box::new(|| {
            FormatSpec::Combined.build(&FormatOptions::default())
        }));
        pool.push(1, &vec![b'x'; 3 * BATCH_BYTES]);
        pool.send().unwrap();
        let b = pool.take().unwrap();
        assert!(matches!(b.outcomes[..], [Outcome::Malformed(_)]));
        pool.recycle(b);
        assert!(
            pool.spare
                .iter()
                .all(|b| b.bytes.capacity() <= 2 * BATCH_BYTES)
        );
        assert_eq!(
            pool.parsers.len(),
            1,
            "the parser is kept for the next batch"
        );
    }
}
