//! apiwatch: catch bulk account-lookup abuse in API gateway and reverse-proxy
//! access logs. See ARCHITECTURE.md for how the stages fit together:
//!
//! bytes ─sources─▶ lines ─formats─▶ Record ─routes/actors─▶ Event
//! ─detectors─▶ Finding ─alerts─▶ incidents on stdout.

pub mod actors;
pub mod alerts;
pub mod allow;
pub mod cli;
pub mod config;
pub mod detectors;
pub mod engine;
pub mod event;
pub mod exit;
pub mod formats;
pub mod modes;
pub mod routes;
pub mod sources;
pub mod state;
pub mod stats;
#[cfg(test)]
mod test_rng;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::Status;

/// Marks an error in the arguments or configuration (exit status 2).
#[derive(Debug)]
pub struct Usage;

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid arguments or configuration")
    }
}

/// `--threads` is shared by every command but only `scan` uses it: say so
/// rather than ignore it silently.
fn scan_only_threads(common: &cli::CommonArgs, command: &str) {
    if common.threads != 0 {
        tracing::warn!("--threads only applies to `scan`; `{command}` runs on one thread");
    }
}

fn config(common: &cli::CommonArgs) -> anyhow::Result<Config> {
    let cfg = Config::from_args(common).map_err(|e| e.context(Usage))?;
    small_ceiling(cfg.max_memory);
    Ok(cfg)
}

/// A ceiling below the default bounds memory but also shrinks every table:
/// say what that costs rather than let a user find out by a miss.
fn small_ceiling(max_memory: u64) {
    if max_memory < config::DEFAULT_MAX_MEMORY {
        tracing::warn!(
            "--max-memory {} MB is below the default 256M: the tables hold {} tracked actors per \
             detector instead of {}, so a flood of one-off addresses evicts state sooner \
             (measured: a 500-address sweep hidden in a 20 M-line address flood was caught at \
             256M, missed at 64M). The ceiling bounds memory; detection was measured at the default",
            max_memory >> 20,
            engine::tracker_budget(max_memory),
            engine::tracker_budget(config::DEFAULT_MAX_MEMORY),
        );
    }
}

/// Run one command; results go to `out` (stdout in the binary).
pub fn run(cli: Cli, out: &mut dyn std::io::Write) -> anyhow::Result<Status> {
    match cli.command {
        Command::Scan { common, inputs } => {
            let cfg = config(&common)?;
            let (inputs, problems) = sources::expand(&inputs)?;
            modes::scan::run(cfg, &inputs, &problems, out)
        }
        Command::Tail {
            common,
            from_start,
            poll,
            inputs,
        } => {
            scan_only_threads(&common, "tail");
            let cfg = config(&common)?;
            let args = modes::tail::TailArgs {
                inputs: &inputs,
                from_start,
                poll,
            };
            modes::tail::run(cfg, &args, out)
        }
        Command::Check {
            common,
            state,
            from_start,
            reset_state,
            inputs,
        } => {
            scan_only_threads(&common, "check");
            let json = common.output == Some(cli::OutputKind::Json);
            let cfg = match Config::from_args(&common) {
                Ok(c) => c,
                Err(e) => {
                    // Nagios needs its one line even for a bad configuration.
                    writeln!(
                        out,
                        "APIWATCH UNKNOWN - {}",
                        format!("{e:#}").replace(['\n', '|'], " ")
                    )?;
                    return Ok(Status::Unknown);
                }
            };
            small_ceiling(cfg.max_memory);
            let args = modes::check::CheckArgs {
                inputs: &inputs,
                state: &state,
                from_start,
                reset_state,
                json,
            };
            modes::check::run(cfg, &args, out)
        }
    }
}
