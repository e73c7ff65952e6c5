//! `apiwatch tail`: follow live logs, alerting as lines arrive.
//!
//! The engine is the same as `scan`'s; only the source differs. A tokio
//! runtime (built here, explicitly) waits for whichever comes first: a
//! filesystem notification on a watched directory, the polling interval
//! (the fallback that also covers network filesystems, where notifications
//! don't arrive), or SIGINT/SIGTERM. On a wake every follower reads what is
//! new; globs are re-expanded every few seconds to pick up new files.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::alerts::escape::escape;
use crate::config::Config;
use crate::exit::Status;
use crate::formats::{LineParser, pool};
use crate::sources::rotated;
use crate::sources::tail::{Follower, Pos, Tailed, expand_pattern};

use super::{Pump, sink};

pub struct TailArgs<'a> {
    pub inputs: &'a [String],
    pub from_start: bool,
    pub poll: bool,
}

/// Lines held per follower while its format is not known yet.
const DETECT_LINES: usize = 40;
const RESCAN: Duration = Duration::from_secs(2);

struct Followed {
    f: Follower,
    parser: Option<Box<dyn LineParser>>,
    /// First lines, kept until the format is recognised, with where each is.
    head: Vec<(Vec<u8>, Pos)>,
    /// Reading failed at the last poll (said once, not every second).
    failing: bool,
    /// Its format was not recognised (said once: it is tried again on
    /// every batch of new lines, which may yet be recognised).
    unrecognised: bool,
    /// Lines of it in no format read, until one parses (see
    /// [`Followed::judge_format`]); `None` once one has, or once said.
    unparsed: Option<u64>,
}

impl Followed {
    /// With a format named by `--format`: once [`DETECT_LINES`] of the
    /// file's lines are in no format read and none has parsed, say so, once
    /// (`scan` exits 3 for it); the file is still followed. Not at the first
    /// stray line: following from the end may start with a junk line or
    /// the rest of one being written. `parsed` and `unreadable` are the
    /// run's counts before this file's lines of this poll.
    fn judge_format(&mut self, pump: &Pump, parsed: u64, unreadable: u64, name: &str) {
        let crate::config::FormatChoice::Fixed(spec) = &pump.cfg.format else {
            return;
        };
        let Some(n) = self.unparsed.as_mut() else {
            return;
        };
        if pump.stats.parsed > parsed {
            self.unparsed = None;
            return;
        }
        *n += pump.stats.unreadable() - unreadable;
        if *n >= DETECT_LINES as u64 {
            tracing::warn!(
                input = %name,
                "Not one of its first {n} lines parsed as {}; is --format right?",
                spec.name()
            );
            self.unparsed = None;
        }
    }
}

pub fn run(cfg: Config, a: &TailArgs<'_>, out: &mut dyn Write) -> anyhow::Result<Status> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(follow(cfg, a, out))
}

/// Inputs `tail` cannot follow, refused before it starts waiting.
fn check_inputs(inputs: &[String]) -> anyhow::Result<()> {
    for i in inputs {
        if i == "-" {
            anyhow::bail!("tail follows files, not stdin; to read a stream, use `apiwatch scan -`");
        }
        let p = std::path::Path::new(i);
        if !i.contains(['*', '?', '[']) && crate::sources::is_compressed(p).unwrap_or(false) {
            anyhow::bail!(
                "{} is compressed: tail follows live logs; read archives with `apiwatch scan`",
                escape(i.as_bytes(), 300)
            );
        }
        if !i.contains(['*', '?', '[']) && p.is_dir() {
            anyhow::bail!(
                "{} is a directory; name the log files (a quoted glob such as '{}/*.log' follows new ones too)",
                escape(i.as_bytes(), 300),
                escape(i.trim_end_matches('/').as_bytes(), 300)
            );
        }
    }
    Ok(())
}

/// Why a file a glob matched is not followed: a live log is neither
/// compressed nor a rotated copy (whose lines were read under its live name;
/// following it too would read them twice).
fn not_live(p: &std::path::Path) -> Option<&'static str> {
    let base = rotated::base(p);
    if crate::sources::is_compressed(p).unwrap_or(false) {
        Some("it is compressed (scan reads archives)")
    } else if base != p.to_string_lossy() && std::path::Path::new(&base).exists() {
        // Only beside its live file: cronolog's `access_log.20260315` and
        // rotatelogs' `access_log.1710460800` are the live files.
        Some("it is a rotated copy (its lines were read under the live name)")
    } else {
        None
    }
}

async fn follow(cfg: Config, a: &TailArgs<'_>, out: &mut dyn Write) -> anyhow::Result<Status> {
    check_inputs(a.inputs).map_err(|e| e.context(crate::Usage))?;
    let mut pump = Pump::new(cfg);
    let mut sink = sink(&pump.cfg, Box::new(&mut *out), true);
    let (wake_tx, mut wake) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _watcher = if a.poll {
        None
    } else {
        watch(a.inputs, wake_tx.clone())
    };
    let interval = if a.poll || _watcher.is_none() {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let mut followed: Vec<Followed> = Vec::new();
    let mut known: Vec<PathBuf> = Vec::new();
    let mut last_scan = Instant::now() - RESCAN;
    let mut first = true;
    // Both listened for from the start: a signal that comes while the
    // backlog is read (the first pass) is acted on once it is read, not
    // left to its default action (killed, no summary) or, where the shell
    // started us with SIGINT ignored, lost.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        if last_scan.elapsed() >= RESCAN {
            last_scan = Instant::now();
            for pat in a.inputs {
                let glob = pat.contains(['*', '?', '[']);
                let found = expand_pattern(pat);
                if first && (found.is_empty() || (!glob && !std::path::Path::new(pat).exists())) {
                    // Followed once it appears; say so rather than wait in silence.
                    tracing::warn!(
                        input = %escape(pat.as_bytes(), 300),
                        "{}: waiting for it to appear.",
                        if glob { "No file matches this yet" } else { "No such file yet" }
                    );
                }
                for p in found {
                    if glob
                        && !known.contains(&p)
                        && let Some(why) = not_live(&p)
                    {
                        tracing::info!(path = %crate::alerts::escape::path(&p), "Not following: {why}.");
                        known.push(p);
                        continue;
                    }
                    if !known.contains(&p) {
                        // Files present at start begin at their end (unless
                        // --from-start); files that appear later are new.
                        let from_end = first && !a.from_start;
                        tracing::info!(path = %crate::alerts::escape::path(&p), from_end, "Following.");
                        known.push(p.clone());
                        followed.push(Followed {
                            f: Follower::new(p, from_end, pump.cfg.max_line),
                            parser: None,
                            head: Vec::new(),
                            failing: false,
                            unrecognised: false,
                            unparsed: Some(0),
                        });
                    }
                }
            }
            first = false;
        }
        let mut readable = true;
        for fw in followed.iter_mut() {
            readable &= poll_one(&mut pump, fw, sink.as_mut())?;
        }
        // A file that cannot be read is not a silent log.
        if readable {
            let grace = pump.cfg.silence_grace_secs;
            pump.engine
                .close_silent(super::wall_now(), grace, sink.as_mut())?;
        }
        sink.flush()?;
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = wake.recv() => {
                // Coalesce a burst of notifications into one pass.
                while wake.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("Stopping.");
    // Read what is there, then stop; open incidents stay open (a later run
    // or check continues them), so nothing is closed artificially. While
    // running, incidents of a log gone silent are closed once their quiet
    // period has passed on the wall clock (`Engine::close_silent`).
    for fw in followed.iter_mut() {
        poll_one(&mut pump, fw, sink.as_mut())?;
        flush_head(&mut pump, fw, sink.as_mut())?;
    }
    sink.flush()?;
    drop(sink);
    pump.report(out)?;
    out.flush()?;
    Ok(if pump.stats.input_errors.is_empty() {
        Status::Ok
    } else {
        Status::Unknown
    })
}

/// Watch the directories of the inputs; any event wakes the loop.
fn watch(
    inputs: &[String],
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .map_err(|e| tracing::warn!(error = %e, "No filesystem notifications; polling."))
    .ok()?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for i in inputs {
        let p = PathBuf::from(i);
        let mut dir = p.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        while dir.to_string_lossy().contains(['*', '?', '[']) {
            dir = dir.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        }
        if dir.as_os_str().is_empty() {
            dir = PathBuf::from(".");
        }
        if !dirs.contains(&dir) {
            if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %crate::alerts::escape::path(&dir), error = %e, "Cannot watch directory; polling it.");
            }
            dirs.push(dir);
        }
    }
    Some(w)
}

/// Read what is new in one file; false when reading it failed.
fn poll_one(
    pump: &mut Pump,
    fw: &mut Followed,
    sink: &mut dyn crate::alerts::AlertSink,
) -> anyhow::Result<bool> {
    let name = crate::alerts::escape::path(&fw.f.path);
    let (parsed, unreadable) = (pump.stats.parsed, pump.stats.unreadable());
    let mut batch: Vec<u8> = Vec::new();
    let mut ends: Vec<(usize, Option<u64>, Pos)> = Vec::new();
    // Collect this poll's lines (one buffer, no per-line allocation).
    let read_before = fw.f.bytes_read();
    let res = fw.f.poll(&mut |t| match t {
        Tailed::Line(l, pos) => {
            batch.extend_from_slice(l);
            ends.push((batch.len(), None, pos));
        }
        Tailed::TooLong(h, n, pos) => {
            batch.extend_from_slice(h);
            ends.push((batch.len(), Some(n), pos));
        }
        Tailed::Note(n) => tracing::info!("{}", escape(n.as_bytes(), 500)),
    });
    // The bytes read, as on disk. Unlike the line readers of scan and
    // check, an unfinished last line counts as soon as it is read.
    pump.stats.bytes += fw.f.bytes_read() - read_before;
    let readable = match res {
        Ok(_) => {
            if std::mem::take(&mut fw.failing) {
                tracing::info!(input = %name, "Readable again.");
            }
            true
        }
        Err(e) => {
            if !std::mem::replace(&mut fw.failing, true) {
                tracing::warn!(input = %name, error = %e, "Read error; will retry every poll, quietly.");
            }
            false
        }
    };
    let rotated = rotated_name(&name);
    let mut start = 0;
    for (end, long, pos) in ends {
        let line = &batch[start..end];
        start = end;
        let file = file_name(&name, &rotated, pos);
        if let Some(n) = long {
            pump.stats.lines += 1;
            pump.stats
                .too_long(crate::stats::At::Line(file, pos.line), line, n);
            continue;
        }
        match fw.parser.as_mut() {
            Some(p) => {
                let nul = pool::has_nul(line);
                pump.one(file, pos.line, line, nul, p.as_mut(), sink)?
            }
            None => {
                fw.head.push((line.to_vec(), pos));
                let useful = fw
                    .head
                    .iter()
                    .filter(|(l, _)| !l.iter().all(u8::is_ascii_whitespace))
                    .count();
                if useful >= DETECT_LINES {
                    flush_head(pump, fw, sink)?;
                }
            }
        }
    }
    // Don't sit on a few lines waiting for forty: detect from what came.
    if fw.parser.is_none()
        && fw
            .head
            .iter()
            .any(|(l, _)| !l.iter().all(u8::is_ascii_whitespace))
    {
        flush_head(pump, fw, sink)?;
    }
    fw.judge_format(pump, parsed, unreadable, &name);
    Ok(readable)
}

/// How samples name a file rotated away from the path followed as `name`
/// (its line numbers are its own, not those of the new file at the path):
/// made once per poll, not per line.
fn rotated_name(name: &str) -> String {
    format!("{name} (rotated away)")
}

/// The name for a line at `pos` of the file followed as `name`.
fn file_name<'a>(name: &'a str, rotated: &'a str, pos: Pos) -> &'a str {
    if pos.rotated { rotated } else { name }
}

/// Recognise the format from the held lines and process them.
fn flush_head(
    pump: &mut Pump,
    fw: &mut Followed,
    sink: &mut dyn crate::alerts::AlertSink,
) -> anyhow::Result<()> {
    if fw.parser.is_some() || fw.head.is_empty() {
        return Ok(());
    }
    let name = crate::alerts::escape::path(&fw.f.path);
    let rotated = rotated_name(&name);
    let samples: Vec<&[u8]> = fw.head.iter().map(|(l, _)| l.as_slice()).collect();
    let mut parser = match pump.parser_for(&name, &samples) {
        Ok(p) => p,
        Err(e) => {
            // Said once per file, and its lines counted as malformed: a
            // long-running tail must neither repeat itself every 40 lines
            // nor keep a growing list of the same error.
            if !std::mem::replace(&mut fw.unrecognised, true) {
                tracing::error!("{e:#}; counting its lines as malformed until one is recognised");
                pump.stats.input_errors.push(format!("{e:#}"));
            }
            for (l, pos) in std::mem::take(&mut fw.head) {
                pump.unrecognised(file_name(&name, &rotated, pos), pos.line, &l);
            }
            return Ok(());
        }
    };
    pump.engine
        .prime_clock(parser.as_mut(), samples.iter().copied());
    for (l, pos) in std::mem::take(&mut fw.head) {
        pump.one(
            file_name(&name, &rotated, pos),
            pos.line,
            &l,
            pool::has_nul(&l),
            parser.as_mut(),
            sink,
        )?;
    }
    fw.parser = Some(parser);
    Ok(())
}
