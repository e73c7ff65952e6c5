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
        match merged(&pump, inputs) {
            Some((name, mut m)) => {
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
            }
            None => {
                for input in inputs {
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
/// rotated sets of one format. `None` reads them one after the other: a
/// single set, stdin among them (it cannot be read twice), or sets whose
/// formats differ or are not recognised (each is then reported on its own).
fn merged(pump: &Pump, inputs: &[Input]) -> Option<(String, Merged)> {
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
    let mut errors = Vec::new();
    let mut sets = Vec::new();
    let mut layout: Option<String> = None;
    for (_, files) in groups {
        let mut set = Set::new(files);
        let sample = set.head(DETECT_LINES, MAX_HEAD_LINES, cfg.max_line, &mut errors);
        let refs: Vec<&[u8]> = sample.iter().map(|v| v.as_slice()).collect();
        let (this, parser) = match &cfg.format {
            FormatChoice::Fixed(spec) => (spec.name().to_owned(), spec.build(&cfg.format_opts)),
            FormatChoice::Auto => {
                if refs.iter().all(|l| l.iter().all(u8::is_ascii_whitespace)) {
                    // Nothing to tell the format by (empty files): take the
                    // others' time order as it comes.
                    sets.push(set);
                    continue;
                }
                let Some(d) = detect(&refs, &cfg.format_opts) else {
                    tracing::warn!(
                        "An input's format is not recognised: reading the inputs one after the other, not merged in time order."
                    );
                    return None;
                };
                let mut names = vec![d.primary.name()];
                names.extend(d.fallbacks.iter().map(|f| f.name()));
                (names.join("+"), d.build(&cfg.format_opts))
            }
        };
        if layout.as_ref().is_some_and(|l| *l != this) {
            tracing::warn!(
                "Inputs are in different formats: reading them one after the other, not merged in time order."
            );
            return None;
        }
        layout = Some(this);
        set.set_parser(parser.ok()?);
        sets.push(set);
    }
    let names: Vec<String> = inputs.iter().map(Input::display).collect();
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
    Some((name, Merged::new(sets, cfg.max_line, errors)))
}
