//! `apiwatch scan`: replay archived logs in one go. A rotated set is read
//! oldest first; several sets (two gateway nodes' logs, say) are merged line
//! by line in time order (see [`sources::merge`]), so that the engine sees
//! the period once, in order. Incidents still open at the end of input are
//! closed with their final evidence.

use std::io::Write;

use crate::alerts::AlertSink;
use crate::config::{Config, FormatChoice};
use crate::exit::Status;
use crate::formats::detect::detect;
use crate::sources::merge::{InputError, Merged, Set};
use crate::sources::{self, Input, rotated};

use super::{DETECT_LINES, MAX_HEAD_LINES, Pump, describe_input_error, sink};

pub fn run(
    cfg: Config,
    inputs: &[Input],
    problems: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<Status> {
    let threads = cfg.threads;
    let mut pump = Pump::new(cfg);
    pump.start_threads(threads);
    let mut status = Status::Ok;
    for p in problems {
        tracing::error!("{p}");
        pump.stats.input_errors.push(p.clone());
        status = Status::Unknown;
    }
    {
        let mut sink = sink(&pump.cfg, Box::new(&mut *out), false);
        let rest = match merged(&pump, inputs) {
            Some((name, mut m, rest)) => {
                read(&mut pump, &name, &mut m, sink.as_mut(), &mut status)?;
                // One format line per file, as when read one by one.
                let formats = &mut pump.stats.formats;
                if let Some(i) = formats.iter().position(|(n, _)| *n == name) {
                    let (_, f) = formats.remove(i);
                    formats.extend(m.opened().map(|input| (input.display(), f.clone())));
                }
                for e in std::mem::take(&mut m.errors) {
                    report(&mut pump, &e, &mut status);
                }
                rest
            }
            None => inputs.to_vec(),
        };
        for input in &rest {
            let name = input.display();
            let mut opened = match sources::open(input, 0, pump.cfg.max_line) {
                Ok(o) => o,
                Err(e) => {
                    let e = InputError {
                        input: input.clone(),
                        unopened: true,
                        error: std::io::Error::other(format!("{e:#}")),
                        raw: 0,
                        gzip: false,
                        lines: 0,
                    };
                    report(&mut pump, &e, &mut status);
                    continue;
                }
            };
            let before = pump.stats.lines;
            let err = read(
                &mut pump,
                &name,
                &mut opened.lines,
                sink.as_mut(),
                &mut status,
            )?;
            if let Some(error) = err {
                let e = InputError {
                    input: input.clone(),
                    unopened: false,
                    error,
                    raw: opened.raw.get(),
                    gzip: opened.gzip,
                    lines: pump.stats.lines - before,
                };
                report(&mut pump, &e, &mut status);
            }
        }
        pump.finish(sink.as_mut())?;
    }
    pump.report(out)?;
    out.flush()?;
    Ok(status)
}

/// Feed one source through the engine. An input whose format cannot be
/// recognised is reported and skipped; the others are still read. Returns
/// the read error that ended the source early, if any.
fn read<S: sources::LineSource>(
    pump: &mut Pump,
    name: &str,
    lines: &mut S,
    sink: &mut dyn AlertSink,
    status: &mut Status,
) -> anyhow::Result<Option<std::io::Error>> {
    let (parser, err) = match pump.pump(name, lines, None, sink) {
        Ok(x) => x,
        Err(e) if e.downcast_ref::<super::Unrecognised>().is_some() => {
            tracing::error!("{e:#}");
            pump.stats.input_errors.push(format!("{e:#}"));
            *status = Status::Unknown;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if let Some(mut p) = parser {
        pump.drain(p.as_mut(), sink)?;
    }
    Ok(err)
}

fn report(pump: &mut Pump, e: &InputError, status: &mut Status) {
    let msg = if e.unopened {
        tracing::error!(input = %e.input.display(), error = %e.error, "Cannot read input.");
        e.error.to_string()
    } else {
        let msg = describe_input_error(&e.input, &e.error, e.raw, e.gzip, e.lines);
        tracing::error!("{msg}");
        msg
    };
    pump.stats.input_errors.push(msg);
    *status = Status::Unknown;
}

/// The inputs as one stream merged in time order, when there are several
/// rotated sets of one format; with them, the inputs left to read one by one
/// after it (sets in another format, or not recognised, which are then
/// reported on their own). `None` reads everything one after the other: a
/// single set, stdin among the inputs (it cannot be read twice), or fewer
/// than two sets of any one format.
fn merged(pump: &Pump, inputs: &[Input]) -> Option<(String, Merged, Vec<Input>)> {
    let mut groups: Vec<(String, Vec<Input>)> = Vec::new();
    for input in inputs {
        let Input::File(p) = input else {
            if inputs.len() > 1 {
                tracing::warn!(
                    "stdin cannot be read twice: reading the inputs one after the other, not merged in time order."
                );
            }
            return None;
        };
        let base = rotated::base(p);
        match groups.last_mut() {
            Some((b, v)) if *b == base => v.push(input.clone()),
            _ => groups.push((base, vec![input.clone()])),
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let cfg = &pump.cfg;
    /// What a set read ahead turned out to be.
    enum Layout {
        /// Nothing to tell it by (empty files): it joins any merge.
        Blank,
        Unrecognised,
        /// A format (with its fallbacks) and the parser to read its times.
        Known(String, Box<dyn crate::formats::LineParser>),
    }
    let mut candidates = Vec::new();
    for (_, files) in groups {
        let mut set = Set::new(files.clone());
        let mut errors = Vec::new();
        let sample = set.head(DETECT_LINES, MAX_HEAD_LINES, cfg.max_line, &mut errors);
        let refs: Vec<&[u8]> = sample.iter().map(|v| v.as_slice()).collect();
        let found = match &cfg.format {
            FormatChoice::Fixed(spec) => {
                Some((spec.name().to_owned(), spec.build(&cfg.format_opts)))
            }
            FormatChoice::Auto if refs.iter().all(|l| l.iter().all(u8::is_ascii_whitespace)) => {
                candidates.push((files, set, Layout::Blank, errors));
                continue;
            }
            FormatChoice::Auto => detect(&refs, &cfg.format_opts).map(|d| {
                let mut names = vec![d.primary.name()];
                names.extend(d.fallbacks.iter().map(|f| f.name()));
                (names.join("+"), d.build(&cfg.format_opts))
            }),
        };
        let layout = match found {
            Some((name, Ok(parser))) => Layout::Known(name, parser),
            _ => Layout::Unrecognised,
        };
        candidates.push((files, set, layout, errors));
    }
    // The format most sets share (the first named of equals).
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, _, layout, _) in &candidates {
        if let Layout::Known(l, _) = layout {
            match counts.iter_mut().find(|(x, _)| x == l) {
                Some((_, n)) => *n += 1,
                None => counts.push((l, 1)),
            }
        }
    }
    let best = counts.iter().rev().max_by_key(|c| c.1).copied();
    let Some((best, 2..)) = best else {
        let mixed = counts.len() > 1
            || candidates
                .iter()
                .any(|c| matches!(c.2, Layout::Unrecognised));
        if mixed {
            tracing::warn!(
                "Inputs are in different formats: reading them one after the other, not merged in time order."
            );
        }
        return None;
    };
    let best = best.to_owned();
    let (mut sets, mut errors, mut names, mut rest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (files, mut set, layout, errs) in candidates {
        match layout {
            Layout::Known(l, parser) if l == best => set.set_parser(parser),
            Layout::Blank => {}
            _ => {
                rest.extend(files);
                continue;
            }
        }
        names.extend(files.iter().map(Input::display));
        sets.push(set);
        errors.extend(errs);
    }
    if !rest.is_empty() {
        tracing::warn!(
            "{} input(s) in another format (or not recognised) are read after the others, not merged in time order.",
            rest.len()
        );
    }
    // Malformed-line samples name this and number lines in the merged
    // stream (the sample's text finds the line).
    let name = if names.len() <= 4 {
        format!("{} (merged by time)", names.join(" + "))
    } else {
        format!(
            "{} + {} more files (merged by time)",
            names[..3].join(" + "),
            names.len() - 3
        )
    };
    tracing::info!(
        sets = sets.len(),
        "Reading {name} as one stream, merged in time order."
    );
    Some((name, Merged::new(sets, cfg.max_line, errors), rest))
}
