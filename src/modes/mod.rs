//! The three ways to run the engine. They share [`Pump`]: open an input,
//! pick its format, feed every line through the parser into the engine, and
//! account for what was read. The modes differ only in where lines come
//! from, when they stop, and how the result maps to an exit status.

pub mod check;
mod merged;
pub mod scan;
pub mod tail;

use std::io::Write;

use anyhow::Context;

use crate::alerts::escape::escape;
use crate::alerts::{AlertSink, JsonSink, TextSink};
use crate::cli::OutputKind;
use crate::config::{Config, FormatChoice};
use crate::engine::Engine;
use crate::engine::parallel::Parallel;
use crate::formats::detect::detect;
use crate::formats::pool::{self, Outcome, ParsePool, Recipe, Screen};
use crate::formats::{FormatSpec, LineParser, Record};
use crate::sources::merge::Origin;
use crate::sources::{Input, Line, LineSource};
use crate::stats::{At, Stats};

/// Non-blank lines read to recognise a format.
pub(crate) const DETECT_LINES: usize = 40;
/// Non-blank lines read at most to recognise a format when none of the
/// first [`DETECT_LINES`] is in one (1,280: doubled from 40).
const MAX_DETECT_LINES: usize = DETECT_LINES << 5;
/// Line bytes beyond which detection does not read further (the lines
/// held count against the memory ceiling's smallest setting).
const MAX_DETECT_BYTES: usize = 2 << 20;
/// Lines (blank or not) buffered at most while looking for them.
pub(crate) const MAX_HEAD_LINES: usize = 100_000;

/// Whether to read twice as far as `want` non-blank lines to recognise the
/// format: a log may open with lines of another kind (an error log's, a
/// banner). Only when detecting, while none of `samples` is in a known
/// format, and within [`MAX_DETECT_LINES`] and [`MAX_DETECT_BYTES`].
pub(crate) fn look_further(cfg: &Config, want: usize, samples: &[&[u8]]) -> bool {
    let bytes: usize = samples.iter().map(|l| l.len()).sum();
    matches!(cfg.format, FormatChoice::Auto)
        && want < MAX_DETECT_LINES
        && bytes < MAX_DETECT_BYTES
        && detect(samples, &cfg.format_opts).is_none()
}

/// What [`Pump::pump`] leaves: the parser (for `tail` to keep using, and
/// for draining the worker threads), and a reader failure part-way, if any
/// (every line before it was processed).
pub type Pumped = (Option<Box<dyn LineParser>>, Option<std::io::Error>);

/// Wall-clock Unix seconds, for [`Engine::close_silent`](crate::engine::Engine::close_silent).
/// `APIWATCH_NOW` (Unix seconds) stands in for the clock, so that tests can
/// show what a run after hours of silence does.
pub fn wall_now() -> i64 {
    if let Some(n) = std::env::var("APIWATCH_NOW")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return n;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Everything a run carries from input to input.
pub struct Pump {
    pub cfg: Config,
    pub engine: Engine,
    pub stats: Stats,
    /// Detection on worker threads (`scan`), else on this thread.
    pub parallel: Option<Parallel>,
    /// Parsing on worker threads (`scan`), else on this thread.
    pool: Option<ParsePool>,
    /// An input whose format was recognised before (`check` reading what
    /// was appended): new lines that match no format are malformed lines
    /// of that input, not an unknown format.
    pub seen_before: bool,
    /// Incidents opened before this run (`check`'s earlier runs): the
    /// report counts this run's.
    pub opened_before: u64,
    /// Where the line being read came from, in a merged stream.
    from: Option<Origin>,
    /// Where each line queued for the parse workers came from, in a merged
    /// stream (in the order queued, as they come back).
    queued_from: std::collections::VecDeque<Origin>,
    /// Per file of a merged stream (by set, then file), to say which file
    /// parsed nothing (see [`Pump::name_merged_files`]).
    merged_counts: Vec<Vec<FileCounts>>,
}

/// Lines of one file of a merged stream that parsed, and that did not and
/// are not of a kind the format knows is no request (see
/// [`crate::formats::MalformedKind::unreadable`]): blank lines and a
/// proxy's notices are neither.
#[derive(Clone, Copy, Default)]
struct FileCounts {
    parsed: u64,
    unreadable: u64,
}

/// The counts of the merged stream's file at `o`.
fn file_counts(counts: &mut Vec<Vec<FileCounts>>, o: Origin) -> &mut FileCounts {
    let (set, file) = (o.set as usize, o.file as usize);
    if counts.len() <= set {
        counts.resize_with(set + 1, Vec::new);
    }
    let files = &mut counts[set];
    if files.len() <= file {
        files.resize(file + 1, FileCounts::default());
    }
    &mut files[file]
}

const UNRECOGNISED: crate::formats::Malformed = crate::formats::Malformed::new(
    crate::formats::MalformedKind::Layout,
    "matches no known log format",
);

/// An input whose log format could not be recognised.
#[derive(Debug)]
pub struct Unrecognised(pub String);

impl std::fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unrecognised {}

impl Pump {
    pub fn new(cfg: Config) -> Pump {
        let engine = Engine::new(&cfg);
        Pump {
            cfg,
            engine,
            stats: Stats::default(),
            parallel: None,
            pool: None,
            seen_before: false,
            opened_before: 0,
            from: None,
            queued_from: Default::default(),
            merged_counts: Vec::new(),
        }
    }

    /// Where line `line_no` of the input called `name` is, for a sample:
    /// in a merged stream, where the line read came from.
    fn at<'a>(&self, name: &'a str, line_no: u64) -> At<'a> {
        match self.from {
            Some(o) => At::Merged(o),
            None => At::Line(name, line_no),
        }
    }

    /// Run detection on `threads` worker threads (0: one per core; at most
    /// one per shard), and parse costly formats on as many more. One
    /// thread keeps everything on the calling thread.
    pub fn start_threads(&mut self, threads: usize) {
        let n = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(crate::engine::shard::SHARDS);
        if n > 1 {
            // Batches between threads: a sixteenth of the memory ceiling
            // each way (2 MB at the 32 MB floor). Detector tables are sized
            // the same whatever the thread count, so alerts do not change.
            let in_flight = (self.cfg.max_memory / 16) as usize;
            self.parallel = Some(Parallel::start(&mut self.engine, n, in_flight));
            self.pool = Some(ParsePool::start(n, in_flight));
        }
    }

    /// Whether gzip inputs are inflated on a thread of their own: when the
    /// run has threads at all (`scan --threads 1` keeps to one).
    pub fn inflate_ahead(&self) -> bool {
        self.parallel.is_some()
    }

    /// Merge everything the workers still hold (before the parser that read
    /// those lines goes away).
    pub fn drain(
        &mut self,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> anyhow::Result<()> {
        if let Some(p) = self.parallel.as_mut() {
            p.drain(&mut self.engine, parser, sink)
                .context("writing alerts")?;
        }
        Ok(())
    }

    /// End of input: stop the workers and close every open incident.
    pub fn finish(&mut self, sink: &mut dyn AlertSink) -> anyhow::Result<()> {
        self.pool = None;
        if let Some(p) = self.parallel.take() {
            p.stop(&mut self.engine)?;
        }
        self.engine.finish(sink).context("writing alerts")
    }

    /// Build the parser for an input, detecting the format from `samples`
    /// when the format is `auto`.
    pub fn parser_for(
        &mut self,
        name: &str,
        samples: &[&[u8]],
    ) -> anyhow::Result<Box<dyn LineParser>> {
        let opts = self.cfg.format_opts.clone();
        let recipe: Recipe = match &self.cfg.format {
            FormatChoice::Fixed(spec) => {
                self.stats
                    .formats
                    .push((name.to_owned(), spec.name().to_owned()));
                let spec = spec.clone();
                Box::new(move || spec.build(&opts))
            }
            FormatChoice::Auto => {
                let Some(d) = detect(samples, &self.cfg.format_opts) else {
                    let first = samples
                        .iter()
                        .find(|l| !l.is_empty())
                        .copied()
                        .unwrap_or(b"");
                    return Err(Unrecognised(format!(
                        "cannot recognise the log format of {name}; first line: \"{}\"; name it with --format ({})",
                        escape(first, 200),
                        FormatSpec::NAMES
                    ))
                    .into());
                };
                tracing::info!(input = %name, format = %d.describe(), "Detected log format.");
                self.stats.formats.push((name.to_owned(), d.describe()));
                Box::new(move || d.build(&opts))
            }
        };
        let parser = recipe()?;
        if let Some(pool) = self.pool.as_mut() {
            if parser.costly() {
                pool.begin(recipe);
            } else {
                pool.end();
            }
        }
        Ok(parser)
    }

    /// Read every line of `lines`, detecting the format first if needed.
    /// Returns the parser (so `tail` can keep using it) or, when the reader
    /// failed part-way, the error after all lines before it were processed.
    pub fn pump<S: LineSource>(
        &mut self,
        name: &str,
        lines: &mut S,
        parser: Option<Box<dyn LineParser>>,
        sink: &mut dyn AlertSink,
    ) -> anyhow::Result<Pumped> {
        let (read, parsed, malformed) = (self.stats.lines, self.stats.parsed, self.stats.malformed);
        let pumped = self.pump_lines(name, lines, parser, sink);
        // However reading ended, the next input is not a merged stream's.
        self.from = None;
        // Bytes as the source counts them: line ends as written, a
        // byte-order mark, an unterminated last line.
        self.stats.bytes += lines.bytes_read();
        tracing::debug!(
            input = %name,
            lines = self.stats.lines - read,
            parsed = self.stats.parsed - parsed,
            malformed = self.stats.malformed - malformed,
            bytes = lines.bytes_read(),
            "Lines read."
        );
        pumped
    }

    fn pump_lines<S: LineSource>(
        &mut self,
        name: &str,
        lines: &mut S,
        parser: Option<Box<dyn LineParser>>,
        sink: &mut dyn AlertSink,
    ) -> anyhow::Result<Pumped> {
        let mut line_no = 0u64;
        let mut parser = parser;
        if parser.is_some()
            && let Some(pool) = self.pool.as_mut()
        {
            // Not made by parser_for: parse on this thread.
            pool.end();
        }
        // An input known from before (`check`) whose new lines open with
        // lines of no known format: those are counted as malformed and the
        // lines after them looked at, window by window, so that what comes
        // after (an attack) is read in this run.
        let mut warned = false;
        while parser.is_none() {
            // Buffer the first lines (again for each window of lines of no
            // known format, above) to recognise the format.
            let mut head: Vec<Vec<u8>> = Vec::new();
            let mut head_from: Vec<Option<Origin>> = Vec::new();
            let mut too_long: Vec<(u64, Vec<u8>, u64)> = Vec::new();
            let mut err = None;
            let mut useful = 0;
            let mut want = DETECT_LINES;
            let mut ended = false;
            // Blank lines don't count towards the sample (a file may start
            // with many); the buffer is still bounded.
            loop {
                while useful < want && head.len() < MAX_HEAD_LINES && !ended {
                    let mut from = None;
                    match lines.next_line_from(&mut from) {
                        Ok(Some(Line::Data(d) | Line::Binary(d))) => {
                            if !d.iter().all(u8::is_ascii_whitespace) {
                                useful += 1;
                            }
                            head.push(d.to_vec());
                            head_from.push(from);
                        }
                        Ok(Some(Line::TooLong { head: h, len })) => {
                            too_long.push((head.len() as u64, h.to_vec(), len));
                            head.push(Vec::new());
                            head_from.push(from);
                        }
                        Ok(None) => ended = true,
                        Err(e) => {
                            err = Some(e);
                            ended = true;
                        }
                    }
                }
                let samples: Vec<&[u8]> = head.iter().map(|v| v.as_slice()).collect();
                if ended || head.len() >= MAX_HEAD_LINES || !look_further(&self.cfg, want, &samples)
                {
                    break;
                }
                want *= 2;
            }
            let samples: Vec<&[u8]> = head.iter().map(|v| v.as_slice()).collect();
            // Nothing but blank or over-long lines (or nothing at all): no
            // format to recognise; account for them and stop. Damaged input
            // that broke off before a recognisable line reports the damage,
            // not an unknown format.
            let detected = if useful == 0 && head.len() < MAX_HEAD_LINES {
                None
            } else {
                match self.parser_for(name, &samples) {
                    Ok(p) => Some(p),
                    Err(_) if err.is_some() => None,
                    Err(e) if self.seen_before => {
                        if !std::mem::replace(&mut warned, true) {
                            tracing::warn!("{e:#}; counting these lines as malformed");
                        }
                        None
                    }
                    Err(e) => return Err(e),
                }
            };
            let Some(mut p) = detected else {
                for (i, l) in head.iter().enumerate() {
                    line_no += 1;
                    self.from = head_from[i];
                    match too_long.iter().find(|t| t.0 == i as u64) {
                        Some((_, h, len)) => {
                            self.stats.lines += 1;
                            self.stats.too_long(self.at(name, line_no), h, *len);
                        }
                        None => self.unrecognised(name, line_no, l),
                    }
                }
                if ended || !self.seen_before || useful == 0 {
                    return Ok((None, err));
                }
                continue;
            };
            self.engine.prime_clock(p.as_mut(), samples.iter().copied());
            for (i, l) in head.iter().enumerate() {
                line_no += 1;
                self.from = head_from[i];
                if let Some((_, h, len)) = too_long.iter().find(|t| t.0 == i as u64) {
                    self.settle(name, p.as_mut(), sink, true)?;
                    self.stats.lines += 1;
                    self.stats.too_long(self.at(name, line_no), h, *len);
                    continue;
                }
                self.one(name, line_no, l, pool::has_nul(l), p.as_mut(), sink)?;
            }
            if let Some(e) = err {
                self.settle(name, p.as_mut(), sink, true)?;
                return Ok((Some(p), Some(e)));
            }
            parser = Some(p);
        }
        let mut p = parser.expect("set above");
        let mut from = None;
        loop {
            let got = lines.next_line_from(&mut from);
            self.from = from;
            match got {
                Ok(Some(Line::Data(d))) => {
                    line_no += 1;
                    self.one(name, line_no, d, false, p.as_mut(), sink)?;
                }
                Ok(Some(Line::Binary(d))) => {
                    line_no += 1;
                    self.one(name, line_no, d, true, p.as_mut(), sink)?;
                }
                Ok(Some(Line::TooLong { head, len })) => {
                    line_no += 1;
                    // Reported in line order, after the lines before it.
                    self.settle(name, p.as_mut(), sink, true)?;
                    self.stats.lines += 1;
                    self.stats.too_long(self.at(name, line_no), head, len);
                }
                Ok(None) => {
                    self.settle(name, p.as_mut(), sink, true)?;
                    return Ok((Some(p), None));
                }
                Err(e) => {
                    self.settle(name, p.as_mut(), sink, true)?;
                    return Ok((Some(p), Some(e)));
                }
            }
        }
    }

    /// Account for a line of an input in no known format: blank, or
    /// malformed (`tail` tries the format again on later lines).
    pub fn unrecognised(&mut self, name: &str, line_no: u64, line: &[u8]) {
        self.stats.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            self.stats.blank += 1;
        } else {
            self.stats
                .malformed(UNRECOGNISED, self.at(name, line_no), line);
        }
    }

    /// Account for one line and feed it. With parse workers (`scan`) the
    /// line is only queued: it is parsed and fed, in order, when its batch
    /// comes back, and [`Pump::pump`] settles every queued line before it
    /// returns. `tail` and `check` have no parse workers. `has_nul`: the
    /// line holds a NUL byte (the reader looks once per buffer fill).
    #[inline]
    pub fn one(
        &mut self,
        name: &str,
        line_no: u64,
        line: &[u8],
        has_nul: bool,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> anyhow::Result<()> {
        let at = self.at(name, line_no);
        let st = &mut self.stats;
        st.lines += 1;
        if let Some(pool) = self.pool.as_mut().filter(|p| p.taking()) {
            if let Some(o) = self.from {
                self.queued_from.push_back(o);
            }
            if pool.push(line_no, line) {
                pool.send()?;
                self.settle(name, parser, sink, false)?;
            }
            return Ok(());
        }
        let mut parsed = false;
        let bad = match pool::screen_known(line, has_nul) {
            Screen::Blank => {
                st.blank += 1;
                None
            }
            Screen::Binary => Some(pool::BINARY),
            Screen::Text => match parser.parse(line) {
                Ok(rec) => {
                    (st.parsed, parsed) = (st.parsed + 1, true);
                    if feed(&mut self.engine, &mut self.parallel, &rec, line, sink)? {
                        self.send_batch(parser, sink)?;
                    }
                    None
                }
                Err(m) => Some(m),
            },
        };
        if let Some(m) = bad {
            self.stats.malformed(m, at, line);
        }
        if let Some(o) = self.from {
            let c = file_counts(&mut self.merged_counts, o);
            c.parsed += parsed as u64;
            c.unreadable += bad.is_some_and(|m| m.kind.unreadable()) as u64;
        }
        Ok(())
    }

    /// Account for and feed the lines parsed on worker threads, in order:
    /// all of them (`all`), or the oldest batches until few enough are out.
    fn settle(
        &mut self,
        name: &str,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
        all: bool,
    ) -> anyhow::Result<()> {
        let Some(mut pool) = self.pool.take() else {
            return Ok(());
        };
        let r = self.settle_from(&mut pool, name, parser, sink, all);
        self.pool = Some(pool);
        r
    }

    fn settle_from(
        &mut self,
        pool: &mut ParsePool,
        name: &str,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
        all: bool,
    ) -> anyhow::Result<()> {
        if all {
            pool.send()?;
        }
        while pool.waiting() && (all || pool.due()) {
            let b = pool.take()?;
            for (i, o) in b.outcomes.iter().enumerate() {
                b.prefetch(i + 4);
                let line = b.line(i);
                // Lines of a merged stream were queued with where they came
                // from; no others were.
                let at = match self.queued_from.pop_front() {
                    Some(o) => At::Merged(o),
                    None => At::Line(name, b.first_no + i as u64),
                };
                if let At::Merged(from) = at {
                    let c = file_counts(&mut self.merged_counts, from);
                    match o {
                        Outcome::Parsed(_) => c.parsed += 1,
                        Outcome::Malformed(m) => c.unreadable += m.kind.unreadable() as u64,
                        Outcome::Blank => {}
                    }
                }
                match o {
                    Outcome::Blank => self.stats.blank += 1,
                    Outcome::Malformed(m) => self.stats.malformed(*m, at, line),
                    Outcome::Parsed(p) => {
                        self.stats.parsed += 1;
                        let rec = b.record(p);
                        if feed(&mut self.engine, &mut self.parallel, &rec, line, sink)? {
                            self.send_batch(parser, sink)?;
                        }
                    }
                }
            }
            pool.recycle(b);
        }
        Ok(())
    }

    /// Hand the full batch of events to the detector workers.
    fn send_batch(
        &mut self,
        parser: &mut dyn LineParser,
        sink: &mut dyn AlertSink,
    ) -> anyhow::Result<()> {
        if let Some(par) = self.parallel.as_mut() {
            par.send(&mut self.engine, parser, sink)
                .context("writing alerts")?;
        }
        Ok(())
    }

    /// After reading a merged stream called `name`: one format line per
    /// file in `--stats`, as when read one by one.
    pub fn name_merged_files(&mut self, name: &str, m: &crate::sources::merge::Merged) {
        self.stats
            .name_merged(|o| m.file_of(o).map_or_else(|| name.to_owned(), Input::display));
        // A file of several none of whose lines parse in the format named
        // with `--format` is said (the run's exit code goes by the merged
        // stream as a whole, as `scan` of one file goes by that file).
        // When none of the stream parses, the stream is named instead.
        let counts = std::mem::take(&mut self.merged_counts);
        let any_parsed = counts.iter().flatten().any(|c| c.parsed > 0);
        if let FormatChoice::Fixed(spec) = &self.cfg.format
            && any_parsed
        {
            for (set, per_file) in counts.iter().enumerate() {
                for (file, c) in per_file.iter().enumerate() {
                    let o = Origin {
                        set: set as u32,
                        file: file as u32,
                        line: 0,
                    };
                    if let (true, Some(input)) = (c.parsed == 0 && c.unreadable > 0, m.file_of(o)) {
                        tracing::warn!(
                            input = %input.display(),
                            "Not one of its lines parsed as {} ({} malformed); is --format right?",
                            spec.name(),
                            c.unreadable
                        );
                    }
                }
            }
        }
        let formats = &mut self.stats.formats;
        if let Some(i) = formats.iter().position(|(n, _)| n == name) {
            let (_, f) = formats.remove(i);
            formats.extend(m.opened().map(|input| (input.display(), f.clone())));
        }
    }

    /// Incidents opened in this run.
    fn opened(&self) -> u64 {
        self.engine
            .incidents
            .opened
            .saturating_sub(self.opened_before)
    }

    /// Print `--stats` (stderr text, or a summary JSON line on stdout with
    /// JSON output).
    pub fn report(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        if let Some(h) = self.engine.front.proxies.hint() {
            tracing::warn!("{h}");
        }
        self.stats.allowlisted = self.engine.allowlisted();
        if !self.cfg.stats {
            return Ok(());
        }
        match self.cfg.output {
            OutputKind::Json => {
                let mut v = self.stats.to_json();
                v["incidents_opened"] = self.opened().into();
                v["allowlist"] = serde_json::to_value(self.engine.allow_counts())?;
                // {"bola": {"entries": N, "evicted": M}, ..., "routes": ...}
                v["state"] = self
                    .engine
                    .state_report()
                    .into_iter()
                    .map(|(table, entries, evicted)| {
                        (
                            table,
                            serde_json::json!({"entries": entries, "evicted": evicted}),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                serde_json::to_writer(&mut *out, &v)?;
                out.write_all(b"\n")?;
            }
            OutputKind::Text => {
                let mut s = self.stats.render_text();
                s.push_str(&format!("incidents opened: {}\n", self.opened()));
                for (reason, n) in self.engine.allow_counts() {
                    s.push_str(&format!("allowlisted ({reason}): {n}\n"));
                }
                // Not `eprint!`, which panics when stderr is closed.
                let _ = std::io::stderr().write_all(s.as_bytes());
            }
        }
        Ok(())
    }
}

/// Run one record through the engine, or queue it for the detector
/// workers. True when their batch is full (see [`Pump::send_batch`]).
fn feed(
    engine: &mut Engine,
    parallel: &mut Option<Parallel>,
    rec: &Record<'_>,
    line: &[u8],
    sink: &mut dyn AlertSink,
) -> anyhow::Result<bool> {
    match parallel.as_mut() {
        None => {
            engine.feed(rec, line, sink).context("writing alerts")?;
            Ok(false)
        }
        Some(par) => Ok(par.push(engine, rec, line)),
    }
}

/// The alert sink for the configured output on `w`.
pub fn sink<'w>(cfg: &Config, w: Box<dyn Write + 'w>, eager: bool) -> Box<dyn AlertSink + 'w> {
    match cfg.output {
        OutputKind::Json => Box::new(JsonSink::new(w, eager)),
        OutputKind::Text => Box::new(TextSink::new(w, eager)),
    }
}

/// Describe a reader failure for the user: which input, where.
/// Log a file that could not be read (to its end), and return the message
/// for the run's report.
pub fn input_error(e: &crate::sources::merge::InputError) -> String {
    if e.unopened {
        tracing::error!(input = %e.input.display(), error = %e.error, "Cannot read input.");
        e.error.to_string()
    } else {
        let msg = describe_input_error(&e.input, &e.error, e.raw, e.gzip, e.lines);
        tracing::error!("{msg}");
        msg
    }
}

pub fn describe_input_error(
    input: &Input,
    e: &std::io::Error,
    raw_offset: u64,
    gzip: bool,
    lines: u64,
) -> String {
    if gzip {
        format!(
            "{}: gzip data damaged or truncated near compressed byte {raw_offset} ({e}); {lines} lines before it were read",
            input.display()
        )
    } else {
        format!(
            "{}: read error at byte {raw_offset} ({e}); {lines} lines before it were read",
            input.display()
        )
    }
}
