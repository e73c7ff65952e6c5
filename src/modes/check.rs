//! `apiwatch check`: a cron job or Nagios/Icinga/Sensu check. Each run reads
//! only what was appended since the last one (per-file checkpoints), carries
//! the engine's state (windows, baselines, open incidents) in the state file,
//! and exits with the Nagios status of the incidents active in what it read.
//! The new lines of several nodes' logs are merged in time order, as `scan`
//! merges whole files.
//!
//! First run (no state file): files are taken from their current end, so
//! installing the check does not replay history; `--from-start` reads them
//! whole instead.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::alerts::sink::VecSink;
use crate::alerts::{AlertSink, Transition};
use crate::cli::OutputKind;
use crate::config::Config;
use crate::exit::Status;
use crate::sources::checkpoint::{self, Checkpoint, FINGERPRINT_BYTES, FileId};
use crate::sources::{self, Input, rotated};

use super::merged::{Merge, merged, rotated_sets};
use super::{Pump, describe_input_error};

pub struct CheckArgs<'a> {
    pub inputs: &'a [String],
    pub state: &'a Path,
    pub from_start: bool,
    pub reset_state: bool,
    /// JSON alerts instead of the Nagios line.
    pub json: bool,
}

/// Run a check; every failure to run becomes UNKNOWN with one line on stdout.
pub fn run(cfg: Config, a: &CheckArgs<'_>, out: &mut dyn Write) -> anyhow::Result<Status> {
    match run_inner(cfg, a, out) {
        Ok(s) => Ok(s),
        Err(e) => {
            let msg = format!("{e:#}").replace(['\n', '|'], " ");
            writeln!(out, "APIWATCH UNKNOWN - {msg}")?;
            out.flush()?;
            tracing::error!("{msg}");
            Ok(Status::Unknown)
        }
    }
}

/// Restore the engine from a state file; returns the file checkpoints.
fn load(
    engine: &mut crate::engine::Engine,
    mut st: checkpoint::StateFile,
    path: &Path,
) -> anyhow::Result<Vec<Checkpoint>> {
    engine.load(&mut st.engine).map_err(|e| {
        anyhow::anyhow!(
            "state file {} is corrupt or incompatible (engine state: {e:#})",
            crate::alerts::escape::path(path)
        )
    })?;
    let files = std::mem::take(&mut st.files);
    st.finish()?;
    Ok(files)
}

/// A file to read this run and where to start.
struct Plan {
    path: PathBuf,
    id: FileId,
    start: u64,
    /// A named plain file, still being written: its unfinished last line
    /// is left for the next run. A rotated or compressed copy is complete.
    live: bool,
}

impl Plan {
    /// The checkpoint after reading up to `offset`. A file that was shorter
    /// than its fingerprint when planned (empty, say) and grew during the
    /// run is fingerprinted again over what was read.
    fn checkpoint(&self, offset: u64) -> Checkpoint {
        let short = (self.id.head.len() as u64) < offset.min(FINGERPRINT_BYTES as u64);
        let id = match short {
            true => FileId::of(&self.path)
                .ok()
                .filter(|n| n.dev == self.id.dev && n.ino == self.id.ino),
            false => None,
        };
        id.as_ref()
            .unwrap_or(&self.id)
            .checkpoint(&self.path, offset)
    }
}

fn run_inner(cfg: Config, a: &CheckArgs<'_>, out: &mut dyn Write) -> anyhow::Result<Status> {
    if a.inputs.iter().any(|i| i == "-") {
        anyhow::bail!("check reads files, not stdin (it must know where it stopped)");
    }
    let _lock = checkpoint::lock(a.state)?;
    let previous = match checkpoint::read_state(a.state) {
        Ok(s) => s,
        Err(e) if a.reset_state => {
            tracing::warn!(error = %format!("{e:#}"), "Discarding the state file (--reset-state).");
            None
        }
        Err(e) => return Err(anyhow::anyhow!("{e:#}; use --reset-state to start afresh")),
    };
    let mut first_run = previous.is_none();
    let (inputs, problems) = sources::expand(a.inputs)?;
    let mut pump = Pump::new(cfg);
    let mut status = Status::Ok;
    let old_files = match previous {
        Some(st) => match load(&mut pump.engine, st, a.state) {
            Ok(files) => files,
            Err(e) if a.reset_state => {
                tracing::warn!(error = %format!("{e:#}"), "Discarding the state file (--reset-state).");
                pump = Pump::new(pump.cfg.clone());
                first_run = true;
                Vec::new()
            }
            Err(e) => return Err(anyhow::anyhow!("{e:#}; use --reset-state to start afresh")),
        },
        None => Vec::new(),
    };
    // A glob that matches nothing is a check watching nothing: UNKNOWN.
    // (Recorded after the state is loaded: a discarded one starts a new
    // pump.)
    for p in problems {
        tracing::error!("{p}");
        pump.stats.input_errors.push(p);
        status = Status::Unknown;
    }
    // A named log that is not there, or cannot be read, is a problem to
    // report, not an OK.
    for i in &inputs {
        let Input::File(p) = i else { continue };
        let problem = if !p.exists() {
            Some("does not exist".to_owned())
        } else if p.is_dir() {
            Some("is a directory, not a log file".to_owned())
        } else {
            std::fs::File::open(p)
                .err()
                .map(|e| format!("cannot be read ({e})"))
        };
        if let Some(why) = problem {
            let msg = format!("{} {why}", crate::alerts::escape::path(p));
            tracing::error!("{msg}");
            pump.stats.input_errors.push(msg);
            status = Status::Unknown;
        }
    }
    pump.opened_before = pump.engine.incidents.opened;
    let (mut plans, unseen) = plan(&inputs, &old_files, first_run, a.from_start);
    let now = super::wall_now();
    // Where a first run starts: saved if its output fails (below).
    let starts: Vec<Checkpoint> = match first_run {
        true => (plans.iter())
            .map(|p| Checkpoint {
                seen: Some(now),
                ..p.checkpoint(p.start)
            })
            .collect(),
        false => Vec::new(),
    };
    let mut sink = VecSink::default();
    let mut checkpoints = Vec::new();
    // Several nodes' logs: their new lines merged in time order, as `scan`
    // reads them, so that both give the same alerts for the same lines.
    let files = plans.iter().map(|p| (p.path.clone(), p.start));
    if let Some(m) = merged(&pump, rotated_sets(files), true) {
        let Merge {
            name,
            mut stream,
            rest,
        } = m;
        let (read, left): (Vec<Plan>, Vec<Plan>) = plans
            .into_iter()
            .partition(|p| !rest.iter().any(|(i, _)| *i == Input::File(p.path.clone())));
        plans = left;
        pump.seen_before = read.iter().any(|p| p.start > 0);
        let failed = pump
            .pump(&name, &mut stream, None, &mut sink)
            .is_err_and(|e| {
                tracing::error!("{e:#}");
                pump.stats.input_errors.push(format!("{e:#}"));
                true
            });
        if failed {
            status = Status::Unknown;
        }
        pump.name_merged_files(&name, &stream);
        for e in std::mem::take(&mut stream.errors) {
            pump.stats.input_errors.push(super::input_error(&e));
            status = Status::Unknown;
        }
        for p in read {
            // A file not reached (never opened) keeps its old position, and
            // so does every file of a merge that failed (lines read ahead).
            let to = stream
                .reached()
                .find(|(i, _)| *i == Input::File(p.path.clone()))
                .filter(|_| !failed)
                .map_or(p.start, |r| r.1);
            tracing::debug!(input = %crate::alerts::escape::path(&p.path), from = p.start, to, "Read.");
            checkpoints.push(p.checkpoint(to));
        }
    }
    for p in plans {
        let input = Input::File(p.path.clone());
        let name = input.display();
        let (consumed, err) = read_one(&mut pump, &input, &p, &mut sink);
        if let Some(e) = err {
            tracing::error!("{e:#}");
            pump.stats.input_errors.push(format!("{e:#}"));
            status = Status::Unknown;
        }
        tracing::debug!(input = %name, from = p.start, to = consumed, "Read.");
        checkpoints.push(p.checkpoint(consumed));
    }
    // A log silent for long enough no longer holds incidents open; one
    // that could not be read is not silent.
    if pump.stats.input_errors.is_empty() {
        let grace = pump.cfg.silence_grace_secs;
        pump.engine
            .close_silent(super::wall_now(), grace, &mut sink)?;
    }
    for c in &mut checkpoints {
        c.seen = Some(now);
    }
    checkpoints.extend(keep_unseen(unseen, now));
    pump.stats.allowlisted = pump.engine.allowlisted();

    // Worst severity among incidents opened, escalated or still open.
    let emitted = sink
        .0
        .iter()
        .filter(|x| x.event != Transition::Closed)
        .map(|x| x.severity);
    let worst = emitted.chain(pump.engine.incidents.active_worst()).max();
    status = status.merge(worst.map_or(Status::Ok, |s| s.status()));
    // Said first, saved after: output that cannot be written fails the run
    // before the state moves on, so the next run reads these lines again
    // and says it then (a state saved first would lose the alerts). A
    // first run saves where it started, with no engine state: the next
    // run would otherwise start again from the files' ends, past them.
    let note = wrong_format(&pump);
    if let Some(note) = &note {
        tracing::warn!("{note}");
    }
    let said = (|| -> anyhow::Result<()> {
        if a.json {
            let mut js = crate::alerts::JsonSink::new(&mut *out, false);
            for al in &sink.0 {
                js.emit(al)?;
            }
            js.flush()?;
        } else {
            let skipped = first_run && !a.from_start;
            writeln!(
                out,
                "{}",
                nagios_line(status, &pump, &sink, skipped, note.as_deref())
            )?;
        }
        Ok(out.flush()?)
    })();
    if let Err(e) = said {
        if first_run {
            let fresh = crate::engine::Engine::new(&pump.cfg);
            checkpoint::write_state(a.state, &starts, |w| fresh.save(w))?;
        }
        return Err(e);
    }
    checkpoint::write_state(a.state, &checkpoints, |w| pump.engine.save(w))?;
    if pump.cfg.stats {
        pump.cfg.output = if a.json {
            OutputKind::Json
        } else {
            OutputKind::Text
        };
        pump.report(out)?;
    }
    out.flush()?;
    Ok(status)
}

/// Decide, per file, where to start; oldest files first. Also returns the
/// checkpoints of files not found this run.
fn plan(
    inputs: &[Input],
    old: &[Checkpoint],
    first_run: bool,
    from_start: bool,
) -> (Vec<Plan>, Vec<Checkpoint>) {
    let named: Vec<PathBuf> = inputs
        .iter()
        .filter_map(|i| {
            if let Input::File(p) = i {
                Some(p.clone())
            } else {
                None
            }
        })
        .collect();
    // Also look at rotated siblings of each named file (access.log.1,
    // access.log-2026…gz): the rest of a file rotated since the last run
    // lives there.
    // And at those of files read before that are gone from where they
    // were and not named now: a glob no longer matches a log renamed by a
    // rotation without `create`, but the rest of it is still news.
    let gone = old
        .iter()
        .map(|c| &c.path)
        .filter(|p| !named.contains(p) && !p.exists());
    let mut candidates = named.clone();
    for p in named.iter().chain(gone) {
        for s in siblings(p) {
            if !candidates.contains(&s) {
                candidates.push(s);
            }
        }
    }
    let mut used: HashSet<usize> = HashSet::new();
    let mut plans = Vec::new();
    for path in rotated::order(candidates) {
        let Ok(id) = FileId::of(&path) else {
            // A named file was reported above; this is only its detail.
            if named.contains(&path) {
                tracing::debug!(path = %crate::alerts::escape::path(&path), "Cannot read file; will look again next run.");
            }
            continue;
        };
        // The same file: same inode and start, or the same start elsewhere
        // (renamed, or compressed after rotation).
        // Fingerprint matches first; an inode alone only for a file that
        // was empty then (it has no fingerprint), last.
        let free = |i: &usize| !used.contains(i);
        let same_inode = old
            .iter()
            .position(|c| c.dev == id.dev && c.ino == id.ino && id.matches(c))
            .filter(free);
        let same_content = || {
            old.iter()
                .enumerate()
                .position(|(i, c)| free(&i) && id.matches(c))
        };
        let was_empty = || {
            old.iter()
                .enumerate()
                .position(|(i, c)| free(&i) && c.fp_len == 0 && id.same_file(c))
        };
        let hit = same_inode.or_else(same_content).or_else(was_empty);
        let start = match hit {
            Some(i) => {
                used.insert(i);
                let c = &old[i];
                if !id.gzip && id.size < c.offset {
                    tracing::warn!(path = %crate::alerts::escape::path(&path), "File was truncated; reading it from the start.");
                    0
                } else {
                    c.offset
                }
            }
            // A sibling we never tracked is history, not news.
            None if !named.contains(&path) => continue,
            None if first_run && !from_start => {
                if id.gzip {
                    // Already rotated and compressed: history.
                    continue;
                }
                id.size
            }
            None => 0,
        };
        let live = named.contains(&path) && !id.gzip;
        plans.push(Plan {
            path,
            id,
            start,
            live,
        });
    }
    let unseen = old
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, c)| c.clone())
        .collect();
    (plans, unseen)
}

/// The checkpoints of files not found this run, kept for a while (see
/// [`Checkpoint::seen`]): the most recently seen first, at most
/// [`checkpoint::MAX_UNSEEN`].
fn keep_unseen(mut unseen: Vec<Checkpoint>, now: i64) -> Vec<Checkpoint> {
    // One of an empty file is only recognised by its inode, which a new
    // file may have taken since: not worth keeping.
    unseen.retain(|c| c.fp_len > 0);
    for c in &mut unseen {
        c.seen.get_or_insert(now);
    }
    unseen.retain(|c| now - c.seen.unwrap_or(now) <= checkpoint::KEEP_UNSEEN_SECS);
    unseen.sort_by_key(|c| std::cmp::Reverse(c.seen));
    unseen.truncate(checkpoint::MAX_UNSEEN);
    unseen
}

fn siblings(p: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let rest = n.strip_prefix(name)?;
            (rest.starts_with('.') || rest.starts_with('-')).then(|| dir.join(&n))
        })
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Read one file from its start offset; returns the offset reached (at a
/// line boundary: a line still being written is left for the next run) and
/// what stopped it early. A file that breaks off part-way (a damaged gzip,
/// or one still being compressed) is kept at the point reached: its lines
/// up to there went into the engine, whose state is saved, and reading
/// them again next run would count them twice.
fn read_one(
    pump: &mut Pump,
    input: &Input,
    p: &Plan,
    sink: &mut VecSink,
) -> (u64, Option<anyhow::Error>) {
    let opened = match sources::resume(input, p.start, pump.cfg.max_line, p.live) {
        Ok(o) => o,
        Err(e) => return (p.start, Some(e)),
    };
    let gzip = opened.gzip;
    let raw = opened.raw.clone();
    let mut lines = opened.lines;
    let name = input.display();
    let before = pump.stats.lines;
    pump.seen_before = p.start > 0;
    match pump.pump(&name, &mut lines, None, sink) {
        // Not recognised, or the output failed: nothing is taken as read.
        Err(e) => (p.start, Some(e)),
        Ok((_, None)) => (lines.consumed(), None),
        Ok((_, Some(e))) => {
            let e = describe_input_error(input, &e, raw.get(), gzip, pump.stats.lines - before);
            (lines.consumed(), Some(anyhow::anyhow!(e)))
        }
    }
}

/// Not one line read in the format named with `--format`, this run or any
/// run before (no route was ever learned), as `scan` exits 3 for. The
/// status stays what the incidents make it (an UNKNOWN would hide them);
/// the status line and stderr say it. A log that parsed before and only
/// got junk this run is not the wrong format.
fn wrong_format(pump: &Pump) -> Option<String> {
    let s = &pump.stats;
    let never = pump.engine.front.router.is_empty();
    match &pump.cfg.format {
        crate::config::FormatChoice::Fixed(spec)
            if never && s.parsed == 0 && s.unreadable() > 0 =>
        {
            Some(format!(
                "not one line read this run parsed as {} ({} malformed; is --format right?)",
                spec.name(),
                s.unreadable()
            ))
        }
        _ => None,
    }
}

/// "1 incident", "2 incidents".
fn incidents(n: usize) -> String {
    format!("{n} incident{}", if n == 1 { "" } else { "s" })
}

/// `APIWATCH WARNING - 1 incident: enumeration 45.1.2.3 on GET /x/{int} | lines=… `
/// `skipped`: a first run, which started at the end of the logs (said when
/// there is nothing else to say: a `lines=0` would puzzle); `note`: see
/// [`wrong_format`].
fn nagios_line(
    status: Status,
    pump: &Pump,
    sink: &VecSink,
    skipped: bool,
    note: Option<&str>,
) -> String {
    let mut seen = HashSet::new();
    let mut parts = Vec::new();
    for a in sink.0.iter().rev() {
        if a.event != Transition::Closed && seen.insert(a.id.clone()) {
            let who = match a.actor.len() {
                1 => a.actor[0].clone(),
                n => format!("{n} addresses"),
            };
            parts.push(format!("{} {} on {}", a.detector.as_str(), who, a.route));
        }
    }
    let active = pump.engine.incidents.len();
    let opened = sink
        .0
        .iter()
        .filter(|a| a.event == Transition::Opened)
        .count();
    let closed = sink
        .0
        .iter()
        .filter(|a| a.event == Transition::Closed)
        .count();
    let head = if let (Status::Unknown, Some(e)) = (status, pump.stats.input_errors.first()) {
        // Nagios shows stdout: say why the check could not run fully.
        let more = pump.stats.input_errors.len() - 1;
        let mut h = e.replace('\n', " ");
        if more > 0 {
            h.push_str(&format!(" (and {more} more input errors)"));
        }
        if !parts.is_empty() {
            h.push_str(&format!("; {}", incidents(parts.len())));
        }
        h
    } else if parts.is_empty() {
        if active > 0 {
            // Nagios shows the latest line only: name them, worst first.
            let open = pump.engine.open_incidents();
            let more = match open.len() {
                n if n > 5 => format!("; {} more", n - 5),
                _ => String::new(),
            };
            let shown: Vec<&str> = open.iter().take(5).map(String::as_str).collect();
            format!(
                "{} still open: {}{more}",
                incidents(active),
                shown.join("; ")
            )
        } else if skipped {
            "no incidents (first run: the logs are read from their end on; \
             --from-start reads them whole)"
                .to_owned()
        } else {
            "no incidents".to_owned()
        }
    } else {
        let n = parts.len();
        let shown: Vec<String> = parts.into_iter().rev().take(5).collect();
        // Open incidents this run said nothing about still count towards
        // the status: say that they are there.
        let quiet = pump
            .engine
            .incidents
            .open_ids()
            .filter(|id| !seen.contains(*id))
            .count();
        let quiet = if quiet > 0 {
            format!("; {quiet} more still open")
        } else {
            String::new()
        };
        format!("{}: {}{quiet}", incidents(n), shown.join("; "))
    };
    let s = &pump.stats;
    let mut head = head;
    if let Some(note) = note {
        head.push_str(&format!("; {note}"));
    }
    let head = head.replace('|', "/");
    format!(
        "APIWATCH {} - {head} | lines={} parsed={} malformed={} incidents={active} opened={opened} closed={closed} allowlisted={} input_errors={}",
        status.label(),
        s.lines,
        s.parsed,
        s.malformed,
        s.allowlisted,
        s.input_errors.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checkpoints of files gone from a run are kept a week, the most
    /// recently seen first, and never more than a bounded number.
    #[test]
    fn unseen_checkpoints_are_kept_for_a_while_and_bounded() {
        let now = 10_000_000;
        let cp = |i: u64, seen: Option<i64>| Checkpoint {
            path: PathBuf::from(format!("f{i}")),
            dev: 1,
            ino: i,
            fp_len: 1,
            fp: 0,
            offset: 5,
            gzip: false,
            seen,
        };
        let mut v: Vec<Checkpoint> = (0..1000)
            .map(|i| cp(i, Some(now - i as i64 * 60)))
            .collect();
        v.push(cp(5000, None));
        v.push(Checkpoint {
            fp_len: 0,
            ..cp(5002, Some(now))
        });
        v.push(cp(5001, Some(now - checkpoint::KEEP_UNSEEN_SECS - 1)));
        let kept = keep_unseen(v, now);
        assert_eq!(kept.len(), checkpoint::MAX_UNSEEN);
        let unknown = kept.iter().find(|c| c.ino == 5000).expect("kept");
        assert_eq!(unknown.seen, Some(now), "unknown: taken as seen now");
        assert_eq!((kept[0].ino, kept[1].ino), (0, 5000));
        assert!(kept.iter().all(|c| c.ino != 5001), "over a week: dropped");
        assert!(
            kept.iter().all(|c| c.ino != 5002),
            "no fingerprint: dropped"
        );
        assert!(kept.windows(2).all(|w| w[0].seen >= w[1].seen));
    }
}
