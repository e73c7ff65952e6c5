//! `apiwatch scan`: replay archived logs in one go. Inputs are read in the
//! order given (rotated sets oldest first); incidents still open at the end
//! of input are closed with their final evidence.

use std::io::Write;

use crate::config::Config;
use crate::exit::Status;
use crate::sources::{self, Input};

use super::{Pump, describe_input_error, sink};

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
        for input in inputs {
            let name = input.display();
            let mut opened = match sources::open(input, 0, pump.cfg.max_line) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(input = %name, error = %format!("{e:#}"), "Cannot read input.");
                    pump.stats.input_errors.push(format!("{e:#}"));
                    status = Status::Unknown;
                    continue;
                }
            };
            let before = pump.stats.lines;
            // An input whose format cannot be recognised is reported and
            // skipped; the others are still read.
            let (parser, err) = match pump.pump(&name, &mut opened.lines, None, sink.as_mut()) {
                Ok(x) => x,
                Err(e) if e.downcast_ref::<super::Unrecognised>().is_some() => {
                    tracing::error!("{e:#}");
                    pump.stats.input_errors.push(format!("{e:#}"));
                    status = Status::Unknown;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(mut p) = parser {
                pump.drain(p.as_mut(), sink.as_mut())?;
            }
            if let Some(e) = err {
                let msg = describe_input_error(
                    input,
                    &e,
                    opened.raw.get(),
                    opened.gzip,
                    pump.stats.lines - before,
                );
                tracing::error!("{msg}");
                pump.stats.input_errors.push(msg);
                status = Status::Unknown;
            }
        }
        pump.finish(sink.as_mut())?;
    }
    pump.report(out)?;
    out.flush()?;
    Ok(status)
}
