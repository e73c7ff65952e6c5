//! Log formats: one line of bytes in, one borrowed [`Record`] out.
//!
//! Every parser works on `&[u8]` and borrows its fields from the line (or, for
//! JSON strings that needed unescaping, from a scratch buffer the parser owns),
//! so the hot path does not allocate. A line that is not an access-log entry is
//! a [`Malformed`] outcome with a reason, never an error that stops the run.

pub mod alb;
pub mod clf;
pub mod detect;
pub mod elb;
pub mod envoy;
pub mod fields;
pub mod haproxy;
pub mod json;
pub mod logformat;
pub mod pool;
pub mod time;
#[cfg(test)]
pub mod want;

use std::net::IpAddr;

pub use self::time::Timestamp;

/// One access-log entry, normalised across formats. Byte fields are empty when
/// the format does not carry them (or logged `-`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Record<'a> {
    /// When the request happened, UTC.
    pub ts: Timestamp,
    /// The address in the client position of the line (may be a proxy).
    pub client: Option<IpAddr>,
    pub client_port: Option<u16>,
    /// Raw `X-Forwarded-For` chain, if logged.
    pub forwarded_for: &'a [u8],
    /// Raw `X-Real-IP`, if logged.
    pub real_ip: &'a [u8],
    pub method: &'a [u8],
    /// Request path without the query string (still percent-encoded).
    pub path: &'a [u8],
    /// Query string without the leading `?`.
    pub query: &'a [u8],
    /// HTTP status; 0 when the format has none (e.g. mod_ssl request log).
    pub status: u16,
    pub bytes: Option<u64>,
    pub duration_us: Option<u64>,
    pub user_agent: &'a [u8],
    pub referer: &'a [u8],
    /// Authenticated user (basic-auth user, JWT subject, ...).
    pub principal: &'a [u8],
    pub api_key: &'a [u8],
    pub host: &'a [u8],
    pub request_id: &'a [u8],
}

impl<'a> Record<'a> {
    /// Split a request target (`/a/b?x=1`, or an absolute URL as ALB logs it)
    /// into path and query.
    pub fn set_target(&mut self, target: &'a [u8]) {
        let target = fields::strip_scheme_authority(target);
        match memchr::memchr(b'?', target) {
            Some(q) => {
                self.path = &target[..q];
                self.query = &target[q + 1..];
            }
            None => {
                self.path = target;
                self.query = b"";
            }
        }
    }

    /// Fill method, path and query from a raw request line
    /// (`GET /x?y HTTP/1.1`). Returns its target, or `None` when it is not
    /// one.
    pub fn set_request_line(&mut self, line: &'a [u8]) -> Option<&'a [u8]> {
        let (method, target) = fields::split_request_line(line)?;
        self.method = method;
        self.set_target(target);
        Some(target)
    }
}

/// Why a line was skipped. Counted per kind in the run's statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedKind {
    /// Longer than the configured maximum line length; the rest was skipped.
    TooLong,
    /// Contains NUL bytes: binary garbage, not a log line.
    Binary,
    /// Does not have the layout of the format at all (missing fields).
    Layout,
    /// A timestamp that does not parse.
    Timestamp,
    /// A status code that is not three digits.
    Status,
    /// A client address that is neither an address nor `-`.
    Address,
    /// JSON that does not parse, or lacks the fields an access entry needs.
    Json,
    /// A well-formed line that is not an access-log entry (error-log line,
    /// proxy startup notice, TLS handshake failure, connection log, comment).
    NotAccess,
}

impl MalformedKind {
    /// Not a line the format knows is no request, nor one only too long to
    /// read: a log of nothing else is not in the format (see `scan`'s
    /// "is --format right?").
    pub fn unreadable(self) -> bool {
        !matches!(self, MalformedKind::TooLong | MalformedKind::NotAccess)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MalformedKind::TooLong => "too_long",
            MalformedKind::Binary => "binary",
            MalformedKind::Layout => "layout",
            MalformedKind::Timestamp => "timestamp",
            MalformedKind::Status => "status",
            MalformedKind::Address => "address",
            MalformedKind::Json => "json",
            MalformedKind::NotAccess => "not_access",
        }
    }

    pub const ALL: [MalformedKind; 8] = [
        MalformedKind::TooLong,
        MalformedKind::Binary,
        MalformedKind::Layout,
        MalformedKind::Timestamp,
        MalformedKind::Status,
        MalformedKind::Address,
        MalformedKind::Json,
        MalformedKind::NotAccess,
    ];
}

/// A skipped line: the kind of problem and a short static explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub kind: MalformedKind,
    pub why: &'static str,
}

impl Malformed {
    pub const fn new(kind: MalformedKind, why: &'static str) -> Self {
        Malformed { kind, why }
    }
}

pub type ParseResult<'a> = Result<Record<'a>, Malformed>;

/// A compiled line parser. One instance per input; it may keep scratch space.
pub trait LineParser: Send {
    /// Parse one line (without its line terminator).
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a>;

    /// Whether a line costs enough to parse that `scan` should parse on
    /// worker threads ([`pool`]). Handing a line to another core and back
    /// costs about as much as parsing a CLF line: measured, that made gzip
    /// 6% slower and plain CLF no faster, while JSON went 16% faster.
    fn costly(&self) -> bool {
        true
    }
}

/// Options that shape how formats map fields, from the CLI or config file.
#[derive(Clone, Debug, Default)]
pub struct FormatOptions {
    /// nginx variable (e.g. `remote_user`, `http_x_user`) holding the principal.
    pub principal_field: Option<String>,
    /// nginx variable (e.g. `http_x_api_key`) holding the API key.
    pub api_key_field: Option<String>,
    /// Strip an API Gateway stage prefix such as `/prod` from paths.
    pub strip_stage: bool,
    /// Extra JSON field mapping: record field name -> dotted JSON path.
    pub json_fields: Vec<(String, String)>,
}

/// Every format apiwatch knows, by the name shown to users and in `--format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatSpec {
    /// nginx `combined` / Apache `combined`, `common`, `vhost_combined` and
    /// their usual trailing extensions; one lenient parser.
    Combined,
    /// Traefik's CLF variant (request count, router, service, duration).
    TraefikClf,
    /// ingress-nginx `upstreaminfo`.
    NginxIngress,
    /// An nginx `log_format` directive string.
    NginxLogFormat(String),
    /// An Apache `LogFormat` directive string.
    ApacheLogFormat(String),
    /// Nginx Proxy Manager's `proxy` and `standard` layouts.
    NpmProxy,
    NpmStandard,
    /// Apache mod_ssl's request log (`[%t] %h %{SSL_PROTOCOL}x ...`).
    ApacheSsl,
    Alb,
    ElbClassic,
    Envoy,
    Haproxy,
    /// AWS API Gateway JSON access logs (REST, HTTP and WebSocket APIs).
    ApigwJson,
    CaddyJson,
    TraefikJson,
    /// Envoy / Envoy Gateway `json_format` access logs.
    EnvoyJson,
    /// JSON lines with a user-given field mapping only.
    Json,
}

impl FormatSpec {
    /// Short name, as printed by auto-detection and accepted by `--format`.
    pub fn name(&self) -> &str {
        match self {
            FormatSpec::Combined => "combined",
            FormatSpec::TraefikClf => "traefik-clf",
            FormatSpec::NginxIngress => "nginx-ingress",
            FormatSpec::NginxLogFormat(_) => "nginx-log-format",
            FormatSpec::ApacheLogFormat(_) => "apache-log-format",
            FormatSpec::NpmProxy => "npm-proxy",
            FormatSpec::NpmStandard => "npm-standard",
            FormatSpec::ApacheSsl => "apache-ssl",
            FormatSpec::Alb => "alb",
            FormatSpec::ElbClassic => "elb",
            FormatSpec::Envoy => "envoy",
            FormatSpec::Haproxy => "haproxy",
            FormatSpec::ApigwJson => "apigw-json",
            FormatSpec::CaddyJson => "caddy-json",
            FormatSpec::TraefikJson => "traefik-json",
            FormatSpec::EnvoyJson => "envoy-json",
            FormatSpec::Json => "json",
        }
    }

    /// Parse a `--format` value. `nginx:<directive>` and `apache:<directive>`
    /// carry a directive string inline.
    pub fn from_name(name: &str) -> Option<FormatSpec> {
        if let Some(d) = name.strip_prefix("nginx:") {
            return Some(FormatSpec::NginxLogFormat(d.to_owned()));
        }
        if let Some(d) = name.strip_prefix("apache:") {
            return Some(FormatSpec::ApacheLogFormat(d.to_owned()));
        }
        Some(match name {
            "combined" | "nginx" | "nginx-combined" | "apache" | "apache-combined" | "common"
            | "clf" => FormatSpec::Combined,
            "traefik-clf" | "traefik" => FormatSpec::TraefikClf,
            "nginx-ingress" | "ingress-nginx" | "upstreaminfo" => FormatSpec::NginxIngress,
            "alb" | "aws-alb" => FormatSpec::Alb,
            "elb" | "elb-classic" => FormatSpec::ElbClassic,
            "envoy" => FormatSpec::Envoy,
            "haproxy" => FormatSpec::Haproxy,
            "apigw-json" | "apigw" | "api-gateway" => FormatSpec::ApigwJson,
            "caddy-json" | "caddy" => FormatSpec::CaddyJson,
            "traefik-json" => FormatSpec::TraefikJson,
            "envoy-json" => FormatSpec::EnvoyJson,
            "json" => FormatSpec::Json,
            "npm-proxy" => FormatSpec::NpmProxy,
            "npm-standard" => FormatSpec::NpmStandard,
            "apache-ssl" => FormatSpec::ApacheSsl,
            _ => return None,
        })
    }

    /// The names `--format` accepts, for help and error messages.
    pub const NAMES: &'static str = "auto, combined, traefik-clf, nginx-ingress, alb, elb, envoy, \
         haproxy, apigw-json, caddy-json, traefik-json, envoy-json, json, npm-proxy, npm-standard, \
         apache-ssl, nginx:<log_format>, apache:<LogFormat>";

    /// Build a parser for this format.
    pub fn build(&self, opts: &FormatOptions) -> anyhow::Result<Box<dyn LineParser>> {
        Ok(match self {
            FormatSpec::Combined => Box::new(clf::ClfParser::new(clf::Variant::Combined, opts)),
            FormatSpec::TraefikClf => Box::new(clf::ClfParser::new(clf::Variant::Traefik, opts)),
            FormatSpec::NginxIngress => Box::new(clf::ClfParser::new(clf::Variant::Ingress, opts)),
            FormatSpec::NginxLogFormat(d) => Box::new(logformat::Template::nginx(d, opts)?),
            FormatSpec::ApacheLogFormat(d) => Box::new(logformat::Template::apache(d, opts)?),
            FormatSpec::NpmProxy => {
                Box::new(logformat::Template::nginx(logformat::NPM_PROXY, opts)?)
            }
            FormatSpec::NpmStandard => {
                Box::new(logformat::Template::nginx(logformat::NPM_STANDARD, opts)?)
            }
            FormatSpec::ApacheSsl => Box::new(logformat::Template::apache(
                logformat::APACHE_SSL_REQUEST,
                opts,
            )?),
            FormatSpec::Alb => Box::new(alb::AlbParser::default()),
            FormatSpec::ElbClassic => Box::new(elb::ElbParser::default()),
            FormatSpec::Envoy => Box::new(envoy::EnvoyParser::default()),
            FormatSpec::Haproxy => Box::new(haproxy::HaproxyParser::default()),
            FormatSpec::ApigwJson => Box::new(json::JsonParser::new(json::Preset::Apigw, opts)),
            FormatSpec::CaddyJson => Box::new(json::JsonParser::new(json::Preset::Caddy, opts)),
            FormatSpec::TraefikJson => Box::new(json::JsonParser::new(json::Preset::Traefik, opts)),
            FormatSpec::EnvoyJson => Box::new(json::JsonParser::new(json::Preset::Envoy, opts)),
            FormatSpec::Json => Box::new(json::JsonParser::new(json::Preset::Custom, opts)),
        })
    }
}

/// The contents of every file under `../shared/real-logs/<dir>/` for each
/// format directory `keep` accepts, or None (with a note that the test
/// skipped) when the real logs are not beside the checkout.
#[cfg(test)]
pub(crate) fn real_logs(keep: impl Fn(&str) -> bool) -> Option<Vec<Vec<u8>>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/real-logs");
    let Ok(formats) = std::fs::read_dir(dir) else {
        eprintln!("SKIPPED: ../shared/real-logs not found (looked at {dir})");
        return None;
    };
    let mut out = Vec::new();
    for f in formats.flatten() {
        if !f.path().is_dir() || !keep(&f.file_name().to_string_lossy()) {
            continue;
        }
        for file in std::fs::read_dir(f.path()).unwrap().flatten() {
            out.push(std::fs::read(file.path()).unwrap());
        }
    }
    Some(out)
}
