//! Command-line surface (clap derive). Nothing outside `config.rs` reads these
//! types: they are turned into one validated [`crate::config::Config`] first.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Catch bulk account-lookup abuse (enumeration, slow and distributed sweeps,
/// BOLA, pagination harvests, credential stuffing) in API gateway and
/// reverse-proxy access logs.
#[derive(Parser, Debug)]
#[command(name = "apiwatch", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr. scan and tail log at info level (the
    /// detected format, files followed), -v debug, -vv trace; check only
    /// warns, -v info, -vv debug. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay archived logs (plain, gzip, rotated sets, `-` for stdin) and
    /// report incidents.
    ///
    /// Exit 0 when every input was read in full, 3 when one could not be
    /// (missing, unrecognised, damaged gzip), 2 for bad arguments.
    Scan {
        #[command(flatten)]
        common: CommonArgs,
        /// Files, globs (quoted) or `-` for stdin. Rotated sets are read
        /// oldest first; several sets (one per gateway node) are merged in
        /// time order.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Follow live logs through rotation and truncation, alerting as lines arrive.
    ///
    /// Exit 0 when stopped by SIGINT/SIGTERM (3 if a followed file was in no
    /// known format), 2 for bad arguments (stdin, a directory, a compressed
    /// file).
    Tail {
        #[command(flatten)]
        common: CommonArgs,
        /// Read existing content first instead of starting at the end.
        #[arg(long)]
        from_start: bool,
        /// Poll instead of using filesystem notifications (network filesystems).
        #[arg(long)]
        poll: bool,
        /// Files or globs (quoted, so new files matching later are picked up).
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Cron / Nagios check: read what was appended since the last run and
    /// exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check {
        #[command(flatten)]
        common: CommonArgs,
        /// State file carried between runs (offsets and detector state).
        #[arg(long)]
        state: PathBuf,
        /// On the first run (no state file), read existing content instead of
        /// starting at the end.
        #[arg(long)]
        from_start: bool,
        /// Discard an unreadable or incompatible state file and start afresh.
        #[arg(long)]
        reset_state: bool,
        /// Log files or globs (quoted). Rotated siblings of each (`.1`,
        /// `.2.gz`, dated) are looked at too, for lines written before a
        /// rotation.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// TOML configuration file (see apiwatch.example.toml).
    #[arg(long, short = 'c', env = "APIWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: auto (default), combined, traefik-clf, nginx-ingress, alb,
    /// elb, envoy, haproxy, apigw-json, caddy-json, traefik-json, envoy-json,
    /// json, npm-proxy, npm-standard, apache-ssl, nginx:<log_format>,
    /// apache:<LogFormat>.
    #[arg(long, short = 'f')]
    pub format: Option<String>,
    /// An nginx `log_format` string, e.g. '$remote_addr - $remote_user [$time_local] "$request" ...'.
    #[arg(long, conflicts_with_all = ["format", "apache_format"])]
    pub log_format: Option<String>,
    /// An Apache `LogFormat` string, e.g. '%h %l %u %t "%r" %>s %b'.
    #[arg(long, conflicts_with = "format")]
    pub apache_format: Option<String>,
    /// Variable carrying the authenticated principal (default remote_user).
    #[arg(long, value_name = "VAR")]
    pub principal_field: Option<String>,
    /// Variable carrying the API key, e.g. http_x_api_key.
    #[arg(long, value_name = "VAR")]
    pub api_key_field: Option<String>,
    /// Strip an API Gateway stage prefix (/prod) from paths.
    #[arg(long)]
    pub strip_stage: bool,
    /// Trusted proxy address or CIDR (repeatable); replaces the default
    /// loopback + RFC 1918 list.
    #[arg(long, value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,
    /// Output: json (one object per line) or text. Default: text on a
    /// terminal, json otherwise; `check` prints its Nagios status line
    /// unless `-o json`.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<OutputKind>,
    /// Print run statistics (lines, malformed by reason, lines/s, MB/s): on
    /// stderr with text output; with JSON output (the default when stdout
    /// is not a terminal) as a last `"type":"summary"` line on stdout.
    #[arg(long)]
    pub stats: bool,
    /// Lines longer than this are skipped and counted as malformed, e.g.
    /// 1M (default 64K).
    #[arg(long, value_name = "SIZE", value_parser = crate::config::size_arg)]
    pub max_line_bytes: Option<u64>,
    /// Memory ceiling, e.g. 256M (default 256 MB, at least 32M): sets the
    /// sizes of every table of detector state.
    #[arg(long, value_name = "SIZE", value_parser = crate::config::size_arg)]
    pub max_memory: Option<u64>,
    /// `scan` only: N threads for detection (0: one per core; 1:
    /// everything on one thread; more than 4 counts as 4, one per shard).
    /// Formats that are costly to parse (JSON, ALB, ...) get N parse
    /// threads besides. Alerts are the same for any value.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Json,
    Text,
}
