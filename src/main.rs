//! The `apiwatch` binary: parse arguments, send logs to stderr, run, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = apiwatch::cli::Cli::parse();
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
    // Colour only on a terminal: piped stderr must stay plain text.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_target(false)
        .init();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match apiwatch::run(cli, &mut out) {
        Ok(status) => ExitCode::from(status.code()),
        // `apiwatch scan x | head` must not complain.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.downcast_ref::<apiwatch::Usage>().is_some() => {
            eprintln!("apiwatch: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("apiwatch: {e:#}");
            ExitCode::from(apiwatch::exit::Status::Unknown.code())
        }
    }
}
