//! `apiwatch scan`: replay archived logs in one go. A rotated set is read
//! oldest first; several sets (two gateway nodes' logs, say) are merged line
//! by line in time order (see [`sources::merge`]), so that the engine sees
//! the period once, in order. Incidents still open at the end of input are
//! closed with their final evidence.

use std::io::Write;

use crate::alerts::AlertSink;
use crate::config::{Config, FormatChoice};
use crate::exit::Status;
use crate::sources::merge::InputError;
use crate::sources::{self, Input};

use super::merged::{Merge, merged, rotated_sets};
use super::{Pump, sink};

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
        let rest = match sets(inputs).and_then(|g| merged(&pump, g, false)) {
            Some(Merge {
                name,
                mut stream,
                rest,
            }) => {
                read(&mut pump, &name, &mut stream, sink.as_mut(), &mut status)?;
                pump.name_merged_files(&name, &stream);
                for e in std::mem::take(&mut stream.errors) {
                    report(&mut pump, &e, &mut status);
                }
                rest.into_iter().map(|(i, _)| i).collect()
            }
            None => inputs.to_vec(),
        };
        for input in &rest {
            let name = input.display();
            let ahead = pump.inflate_ahead();
            let mut opened = match sources::open_with(input, 0, pump.cfg.max_line, ahead) {
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
    let router = &pump.engine.front.router;
    if !router.is_empty() {
        for path in router.unmatched_rules() {
            tracing::warn!(
                rule = %crate::alerts::escape::escape(path.as_bytes(), 200),
                "No route seen matched this [[routes]] rule; is its path right?"
            );
        }
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
    let (parsed, unreadable) = (pump.stats.parsed, pump.stats.unreadable());
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
    // Lines, and not one of them in the format named with `--format`: the
    // wrong format, surely, not a clean run. (Auto-detection already
    // refuses a log none of whose first lines it can read; lines a format
    // knows are not requests, such as a proxy's notices, are the format's.)
    let bad = pump.stats.unreadable() - unreadable;
    if let FormatChoice::Fixed(spec) = &pump.cfg.format
        && bad > 0
        && pump.stats.parsed == parsed
        && err.is_none()
    {
        let lines = if bad == 1 { "line" } else { "lines" };
        let e = format!(
            "not one line of {name} parsed as {} ({bad} {lines} malformed; is --format right?)",
            spec.name()
        );
        tracing::error!("{e}");
        pump.stats.input_errors.push(e);
        *status = Status::Unknown;
    }
    Ok(err)
}

fn report(pump: &mut Pump, e: &InputError, status: &mut Status) {
    pump.stats.input_errors.push(super::input_error(e));
    *status = Status::Unknown;
}

/// The inputs as rotated sets, to be merged; `None` when stdin is among
/// them (it cannot be read twice).
fn sets(inputs: &[Input]) -> Option<Vec<Vec<(Input, u64)>>> {
    let mut files = Vec::new();
    for input in inputs {
        let Input::File(p) = input else {
            if inputs.len() > 1 {
                tracing::warn!(
                    "stdin cannot be read twice: reading the inputs one after the other, not merged in time order."
                );
            }
            return None;
        };
        files.push((p.clone(), 0));
    }
    Some(rotated_sets(files))
}
