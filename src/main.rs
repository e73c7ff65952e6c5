//! The `apiwatch` binary: parse arguments, send logs to stderr, run, exit.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Whether the command line asks for `check` (its first word that is not
/// an option).
fn is_check() -> bool {
    std::env::args_os()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .is_some_and(|a| a == "check")
}

fn main() -> ExitCode {
    let cli = match apiwatch::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && is_check() => {
            // Nagios reads exit 2 as CRITICAL: a check that cannot run is
            // UNKNOWN (3), with a status line like every other check error.
            let _ = e.print();
            // The message up to its first blank line (before the usage),
            // on one line: "... not provided: --state <STATE>".
            let msg = e.to_string();
            let words: Vec<&str> = msg
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = words.join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            let _ = writeln!(
                std::io::stdout(),
                "APIWATCH UNKNOWN - invalid arguments: {}",
                // `|` starts Nagios performance data.
                apiwatch::alerts::escape::escape(first.as_bytes(), 300).replace('|', "/")
            );
            return ExitCode::from(apiwatch::exit::Status::Unknown.code());
        }
        Err(e) => e.exit(),
    };
    // scan and tail say on stderr what they are doing (the detected format,
    // files followed); check stays quiet unless something is wrong, because
    // cron mails whatever a job prints.
    let quiet_by_default = matches!(cli.command, apiwatch::cli::Command::Check { .. });
    let levels = if quiet_by_default {
        ["warn", "info", "debug", "trace"]
    } else {
        ["info", "debug", "trace", "trace"]
    };
    let level = if cli.quiet {
        "error"
    } else {
        levels[cli.verbose.min(3) as usize]
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("apiwatch={level}")));
    // Colour only on a terminal (piped stderr must stay plain text), and
    // not when NO_COLOR is set to anything (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(filter)
        .with_target(false)
        // A closed stderr: tracing would report the failed write with
        // `eprintln!`, which panics. The exit code still tells.
        .log_internal_errors(false)
        .init();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match apiwatch::run(cli, &mut out) {
        Ok(status) => ExitCode::from(status.code()),
        // `apiwatch scan x | head` must not complain. (A check whose
        // output was not read did not report: its exit code says so.)
        Err(e)
            if !is_check()
                && e.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.downcast_ref::<apiwatch::Usage>().is_some() => {
            say(&e);
            ExitCode::from(2)
        }
        Err(e) => {
            say(&e);
            ExitCode::from(apiwatch::exit::Status::Unknown.code())
        }
    }
}

/// The error on stderr; not `eprintln!`, which panics when stderr is a
/// closed pipe (`apiwatch scan x 2>&1 | true`): the exit code still says it.
fn say(e: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "apiwatch: {e:#}");
}
