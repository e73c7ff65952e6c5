//! One validated [`Config`], built from the command line and the optional
//! TOML file before any work starts. The rest of the program reads decisions
//! from here and never sees clap types.
//!
//! Precedence: command-line flags, then the config file, then defaults.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, bail};
use ipnet::IpNet;
use serde::Deserialize;

use crate::cli::{CommonArgs, OutputKind};
use crate::detectors::DetectConfig;
use crate::formats::{FormatOptions, FormatSpec};
use crate::sources::reader::DEFAULT_MAX_LINE;

/// The longest line `--max-line-bytes` may allow.
const MAX_MAX_LINE: usize = 1 << 30;
/// The least it may allow.
const MIN_MAX_LINE: usize = 256;

/// The config file, as written (see `apiwatch.example.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub format: FormatSection,
    pub network: NetworkSection,
    pub allow: Vec<AllowEntry>,
    pub routes: Vec<RouteRule>,
    pub routing: RoutingSection,
    pub detectors: DetectConfig,
    pub limits: LimitsSection,
    pub live: LiveSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSection {
    /// Path prefixes removed before templating (API Gateway stages: "/prod").
    pub strip_prefixes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormatSection {
    pub name: Option<String>,
    pub log_format: Option<String>,
    pub apache_format: Option<String>,
    pub principal_field: Option<String>,
    pub api_key_field: Option<String>,
    pub strip_stage: Option<bool>,
    pub max_line_bytes: Option<Size>,
    /// JSON field mapping: record field -> dotted JSON path.
    pub json_fields: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_memory: Option<Size>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSection {
    /// `tail` and `check`: wall-clock seconds a log may stay silent before
    /// event time is taken to run on with the wall clock (to close quiet
    /// incidents). Default [`DEFAULT_SILENCE_GRACE_SECS`].
    pub silence_grace_secs: Option<i64>,
}

/// An allowlist entry: exactly one matcher and a reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    pub address: Option<String>,
    pub cidr: Option<String>,
    pub principal: Option<String>,
    pub api_key: Option<String>,
    /// Regular expression on the user agent.
    pub user_agent: Option<String>,
    pub reason: String,
}

/// A route override: a path template (with `{...}` placeholders or a `*`
/// prefix match) that gets a name and/or a lookup flag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub path: String,
    pub method: Option<String>,
    pub name: Option<String>,
    /// Force (true) or forbid (false) treating it as a one-record lookup.
    pub lookup: Option<bool>,
    /// A list endpoint whose pagination is watched.
    pub list: Option<bool>,
    /// A login endpoint watched for credential stuffing.
    pub login: Option<bool>,
}

#[derive(Clone, Debug)]
pub enum FormatChoice {
    Auto,
    Fixed(FormatSpec),
}

/// A compiled allowlist matcher.
#[derive(Clone, Debug)]
pub enum AllowMatch {
    Net(IpNet),
    Principal(String),
    ApiKey(String),
    UserAgent(regex::bytes::Regex),
}

#[derive(Clone, Debug)]
pub struct Allow {
    pub matcher: AllowMatch,
    pub reason: String,
}

/// Everything the run needs, decided.
#[derive(Clone, Debug)]
pub struct Config {
    pub format: FormatChoice,
    pub format_opts: FormatOptions,
    pub max_line: usize,
    pub output: OutputKind,
    pub stats: bool,
    pub trusted: Vec<IpNet>,
    pub allow: Vec<Allow>,
    pub routes: Vec<RouteRule>,
    pub strip_prefixes: Vec<String>,
    pub detect: DetectConfig,
    pub max_memory: u64,
    /// Detection threads for `scan` (0: one per core).
    pub threads: usize,
    /// See [`LiveSection::silence_grace_secs`].
    pub silence_grace_secs: i64,
}

/// Five minutes: more than nginx's longest usual buffered-log flush, so a
/// line that reaches the file late still finds its incident open.
pub const DEFAULT_SILENCE_GRACE_SECS: i64 = 300;

pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;
pub const MIN_MAX_MEMORY: u64 = 32 << 20;

/// Loopback, RFC 1918 and IPv6 unique-local/link-local. Not 100.64.0.0/10:
/// carrier-grade NAT addresses are real clients.
pub const DEFAULT_TRUSTED: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl Config {
    pub fn from_args(a: &CommonArgs) -> anyhow::Result<Config> {
        let file = match &a.config {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let f = &file.format;
        let format = if let Some(d) = a
            .log_format
            .as_ref()
            .or(f.log_format.as_ref())
            .filter(|_| a.format.is_none())
        {
            FormatChoice::Fixed(FormatSpec::NginxLogFormat(d.clone()))
        } else if let Some(d) = a
            .apache_format
            .as_ref()
            .or(f.apache_format.as_ref())
            .filter(|_| a.format.is_none())
        {
            FormatChoice::Fixed(FormatSpec::ApacheLogFormat(d.clone()))
        } else {
            match a.format.as_deref().or(f.name.as_deref()).unwrap_or("auto") {
                "auto" => FormatChoice::Auto,
                name => FormatChoice::Fixed(FormatSpec::from_name(name).with_context(|| {
                    format!("unknown format {name:?}; known: {}", FormatSpec::NAMES)
                })?),
            }
        };
        let format_opts = FormatOptions {
            principal_field: a.principal_field.clone().or(f.principal_field.clone()),
            api_key_field: a.api_key_field.clone().or(f.api_key_field.clone()),
            strip_stage: a.strip_stage || f.strip_stage.unwrap_or(false),
            json_fields: f
                .json_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        for k in f.json_fields.keys() {
            if crate::formats::json::Target::from_name(k).is_none() {
                bail!("unknown field {k:?} in [format.json_fields]");
            }
        }
        // The generic JSON format reads only the fields it is told of, and
        // an entry without a time cannot be read at all.
        if matches!(format, FormatChoice::Fixed(FormatSpec::Json)) {
            if f.json_fields.is_empty() {
                bail!(
                    "format json reads the fields named in the config file's [format.json_fields] \
                     (time, client, method, uri, status, ...) and none are named; name them, or use \
                     a gateway's JSON format (apigw-json, caddy-json, traefik-json, envoy-json)"
                );
            }
            if !f.json_fields.keys().any(|k| k == "time" || k == "time_ms") {
                bail!(
                    "[format.json_fields] names no time field (time or time_ms): no entry could be read"
                );
            }
        }
        // Validate the directive now, so a typo fails before reading input.
        if let FormatChoice::Fixed(spec) = &format {
            spec.build(&format_opts)?;
        }
        let trusted_src: Vec<String> = if !a.trusted_proxy.is_empty() {
            a.trusted_proxy.clone()
        } else if let Some(t) = &file.network.trusted_proxies {
            t.clone()
        } else {
            DEFAULT_TRUSTED.iter().map(|s| s.to_string()).collect()
        };
        let trusted = trusted_src
            .iter()
            .map(|s| parse_net(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let allow = file
            .allow
            .iter()
            .enumerate()
            .map(|(i, e)| {
                compile_allow(e)
                    .with_context(|| format!("[[allow]] entry {} (reason {:?})", i + 1, e.reason))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let output = a.output.unwrap_or(if std::io::stdout().is_terminal() {
            OutputKind::Text
        } else {
            OutputKind::Json
        });
        // Errors name the setting where the user gave it.
        let (mm_name, max_memory) = match (a.max_memory, file.limits.max_memory) {
            (Some(n), _) => ("--max-memory", n),
            (None, Some(Size(n))) => ("[limits] max_memory", n),
            (None, None) => ("", DEFAULT_MAX_MEMORY),
        };
        if max_memory < MIN_MAX_MEMORY {
            bail!(
                "{mm_name} must be at least 32M (fixed buffers alone take about 10 MB); got {max_memory} bytes"
            );
        }
        // The tables are sized from the ceiling when the run starts: a G
        // typed for an M must not take the host's memory.
        if let Some(total) = physical_memory()
            && max_memory > total
        {
            bail!(
                "{mm_name} of {} MB is more than this machine's memory ({} MB); the tables are sized from it at start",
                max_memory >> 20,
                total >> 20
            );
        }
        file.detectors.validate()?;
        // Templates are paths: a rule without the leading slash can never
        // match one.
        if let Some(r) = file.routes.iter().find(|r| !r.path.starts_with('/')) {
            bail!(
                "[[routes]] path {:?} must start with / (rules match templates such as /api/v1/customers/{{int}}, or a prefix ending in *)",
                r.path
            );
        }
        let silence_grace_secs = file
            .live
            .silence_grace_secs
            .unwrap_or(DEFAULT_SILENCE_GRACE_SECS);
        if silence_grace_secs < 0 {
            bail!("[live] silence_grace_secs must not be negative");
        }
        let ml_name = if a.max_line_bytes.is_some() {
            "--max-line-bytes"
        } else {
            "[format] max_line_bytes"
        };
        let max_line = match (a.max_line_bytes, f.max_line_bytes) {
            (Some(n), _) | (None, Some(Size(n))) => usize::try_from(n).unwrap_or(usize::MAX),
            (None, None) => DEFAULT_MAX_LINE,
        };
        // Parsed fields are located by 32-bit offsets (formats::pool).
        // Below a few hundred bytes no access-log line fits, and every
        // line would be skipped as too long: a run that reports nothing.
        if !(MIN_MAX_LINE..=MAX_MAX_LINE).contains(&max_line) {
            bail!(
                "{ml_name} must be between {MIN_MAX_LINE} and {MAX_MAX_LINE} (1 GiB); got {max_line}"
            );
        }
        Ok(Config {
            format,
            format_opts,
            max_line,
            output,
            stats: a.stats,
            trusted,
            allow,
            routes: file.routes.clone(),
            strip_prefixes: file.routing.strip_prefixes.clone(),
            detect: file.detectors,
            max_memory,
            threads: a.threads,
            silence_grace_secs,
        })
    }
}

fn load_file(p: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read config {}", crate::alerts::escape::path(p)))?;
    toml::from_str(&text).map_err(|e| {
        // toml's own message draws the line with a caret under it: fine
        // on a terminal, but `check` has one status line to say it in.
        let at = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map_or(String::new(), |before| {
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" (line {line}, column {col})")
            });
        anyhow::anyhow!(
            "invalid config {}{at}: {}",
            crate::alerts::escape::path(p),
            e.message().trim()
        )
    })
}

fn parse_net(s: &str) -> anyhow::Result<IpNet> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    // An address with a prefix length the address family cannot have
    // (10.0.0.0/33) is said as such, not as bad address syntax.
    if let Some((addr, len)) = s.split_once('/')
        && let (Ok(ip), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>())
    {
        let (family, max) = if ip.is_ipv4() {
            ("IPv4", 32)
        } else {
            ("IPv6", 128)
        };
        if len > max {
            bail!("{s:?}: a prefix length of {len} is more than an {family} address has ({max})");
        }
    }
    let ip: IpAddr = s
        .parse()
        .with_context(|| format!("not an address or CIDR: {s:?}"))?;
    Ok(IpNet::from(ip))
}

fn compile_allow(e: &AllowEntry) -> anyhow::Result<Allow> {
    let mut m = Vec::new();
    if let Some(a) = &e.address {
        m.push(AllowMatch::Net(parse_net(a)?));
    }
    if let Some(c) = &e.cidr {
        m.push(AllowMatch::Net(parse_net(c)?));
    }
    if let Some(p) = &e.principal {
        m.push(AllowMatch::Principal(p.clone()));
    }
    if let Some(k) = &e.api_key {
        m.push(AllowMatch::ApiKey(k.clone()));
    }
    if let Some(u) = &e.user_agent {
        m.push(AllowMatch::UserAgent(
            regex::bytes::Regex::new(u).with_context(|| format!("bad user_agent pattern {u:?}"))?,
        ));
    }
    if m.len() != 1 {
        bail!(
            "each [[allow]] entry needs exactly one of address, cidr, principal, api_key, user_agent"
        );
    }
    if e.reason.trim().is_empty() {
        bail!("each [[allow]] entry needs a reason");
    }
    Ok(Allow {
        matcher: m.pop().expect("one matcher"),
        reason: e.reason.clone(),
    })
}

/// A size in a config file, in bytes: a number, or a string that
/// [`parse_size`] reads (`"256M"`).
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of bytes or a size such as \"1M\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Size, E> {
                Ok(Size(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Size, E> {
                u64::try_from(n)
                    .map(Size)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Size, E> {
                parse_size(s)
                    .map(Size)
                    .map_err(|e| E::custom(format!("{e:#}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// [`parse_size`] for the command line's size options.
pub fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| format!("{e:#}"))
}

/// `256M`, `1G`, `500000K`, or plain bytes.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_uppercase();
            let m = match unit.trim_end_matches(['B', 'I']) {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                _ => bail!("bad size {s:?}"),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .with_context(|| format!("bad size {s:?}"))?;
    n.checked_mul(mult)
        .with_context(|| format!("size {s:?} is too large"))
}

/// The machine's memory in bytes (`MemTotal` of /proc/meminfo), where
/// there is one to read.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("12Q").is_err());
        assert_eq!(parse_size("64K").unwrap(), 65536);
        // Too large for 64 bits: an error, not a wrapped or panicking
        // multiplication.
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn prefix_lengths_beyond_the_family_are_named() {
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_net("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
        for (s, want) in [
            ("10.0.0.0/33", "more than an IPv4 address has (32)"),
            ("2001:db8::/129", "more than an IPv6 address has (128)"),
            ("10.0.0.300", "not an address or CIDR"),
        ] {
            let e = format!("{:#}", parse_net(s).unwrap_err());
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn allow_entries_need_one_matcher_and_a_reason() {
        let e = AllowEntry {
            address: None,
            cidr: None,
            principal: None,
            api_key: Some("k".into()),
            user_agent: None,
            reason: "partner".into(),
        };
        assert!(matches!(
            compile_allow(&e).unwrap().matcher,
            AllowMatch::ApiKey(_)
        ));
        let e = AllowEntry {
            reason: "".into(),
            ..e
        };
        assert!(compile_allow(&e).is_err());
    }

    #[test]
    fn example_config_parses() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/apiwatch.example.toml"
        ))
        .unwrap();
        let f: FileConfig = toml::from_str(&text).unwrap();
        assert!(!f.allow.is_empty());
        for a in &f.allow {
            compile_allow(a).unwrap();
        }
        f.detectors.validate().unwrap();
    }

    /// Settings that would switch a detector off, make its incidents flap
    /// or outgrow the memory ceiling are refused, each naming its key.
    #[test]
    fn detector_settings_out_of_range_are_refused() {
        for (toml_text, key) in [
            ("[detectors.enumeration]\nring = 0", "ring"),
            ("[detectors.bola]\nring = 100000000", "ring"),
            ("[detectors.enumeration]\nquiet_secs = -100", "quiet_secs"),
            (
                "[detectors.enumeration]\nblock_floors = [30]",
                "block_floors",
            ),
            (
                "[detectors.enumeration]\nblock_floors = [0, 0]",
                "block_floors",
            ),
            (
                "[detectors.distributed_sweep]\nmin_addresses = 0",
                "min_addresses",
            ),
            ("[detectors.distributed_sweep]\nmin_dense = 65", "min_dense"),
            (
                "[detectors.credential_stuffing]\nwindow_secs = 0",
                "window_secs",
            ),
            (
                "[detectors.pagination_harvest]\ndepth_floor = 0",
                "depth_floor",
            ),
            (
                "[detectors.slow_sweep]\nblock_window_secs = 0",
                "block_window_secs",
            ),
            ("[detectors.bola]\nwindows = []", "at least one window"),
        ] {
            let f: FileConfig = toml::from_str(toml_text).unwrap();
            let e = f.detectors.validate().expect_err(toml_text).to_string();
            assert!(e.contains(key), "{toml_text}: {e}");
        }
        let f: FileConfig = toml::from_str("[detectors.enumeration]\nquiet_secs = 2").unwrap();
        f.detectors.validate().unwrap();
    }
}
