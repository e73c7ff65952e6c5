//! User-defined layouts: an nginx `log_format` or Apache `LogFormat` directive
//! string compiled once into a template of literals and fields.
//!
//! Matching walks the template left to right: a literal must match exactly; a
//! field runs up to the first byte of the literal that follows it (inside
//! quotes, up to the closing quote, stepping over backslash escapes). Text
//! after the end of the template is ignored, as operators often append fields.

use anyhow::{Context, bail};
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_while, take_while_m_n, take_while1};
use nom::combinator::{map, opt};
use nom::multi::many1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use super::fields::{self, LAYOUT};
use super::{FormatOptions, LineParser, Malformed, MalformedKind, ParseResult, Record, time};

/// Which record field a template variable fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    RemoteAddr,
    RemotePort,
    Principal,
    ApiKey,
    TimeClf,
    TimeIso,
    TimeAny,
    Request,
    Method,
    RequestUri,
    Path,
    Query,
    Status,
    Bytes,
    DurationSecs,
    DurationMillis,
    DurationMicros,
    Referer,
    UserAgent,
    ForwardedFor,
    RealIp,
    Host,
    RequestId,
    Ignore,
}

#[derive(Clone, Debug)]
enum Seg {
    Lit(Vec<u8>),
    Var(Field),
}

pub struct Template {
    segs: Vec<Seg>,
}

const BAD_TIME: Malformed = Malformed::new(MalformedKind::Timestamp, "bad time field");
const NO_TIME: Malformed = Malformed::new(MalformedKind::Layout, "format has no time field");

enum Raw<'d> {
    Lit(&'d str),
    Var(String),
}

fn nginx_var(i: &str) -> IResult<&str, Raw<'_>> {
    let name = |i| take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_')(i);
    map(
        preceded(tag("$"), alt((delimited(tag("{"), name, tag("}")), name))),
        |n: &str| Raw::Var(n.to_ascii_lowercase()),
    )
    .parse(i)
}

fn apache_directive(i: &str) -> IResult<&str, Raw<'_>> {
    // `%>s`, `%{Referer}i`, `%400,501{User-agent}i`, `%!200h`, `%%`.
    let (i, _) = tag("%")(i)?;
    if let Some(rest) = i.strip_prefix('%') {
        return Ok((rest, Raw::Lit("%")));
    }
    let (i, _) =
        take_while(|c: char| c == '<' || c == '>' || c == '!' || c == ',' || c.is_ascii_digit())(
            i,
        )?;
    let (i, arg) = opt(delimited(tag("{"), is_not("}"), tag("}"))).parse(i)?;
    let (i, letter) = take_while_m_n(1, 1, |c: char| c.is_ascii_alphabetic())(i)?;
    Ok((i, Raw::Var(apache_name(letter, arg))))
}

/// Apache `%` directives translated to the nginx variable names, so that
/// `--principal-field`/`--api-key-field` speak one vocabulary.
fn apache_name(letter: &str, arg: Option<&str>) -> String {
    let header = |a: &str| format!("http_{}", a.to_ascii_lowercase().replace('-', "_"));
    match (letter, arg) {
        ("h" | "a", _) => "remote_addr".into(),
        ("u", _) => "remote_user".into(),
        ("t", None) => "apache_time".into(),
        ("t", Some(_)) => "time_any".into(),
        ("r", _) => "request".into(),
        ("s", _) => "status".into(),
        ("b" | "B", _) => "body_bytes_sent".into(),
        ("O", _) => "bytes_sent".into(),
        ("D", _) => "request_time_us".into(),
        ("T", _) => "request_time".into(),
        ("i", Some(h)) => header(h),
        ("v" | "V", _) => "host".into(),
        ("U", _) => "uri".into(),
        ("q", _) => "apache_query".into(),
        ("m", _) => "request_method".into(),
        ("L", _) => "request_id".into(),
        ("e", Some("UNIQUE_ID")) => "request_id".into(),
        _ => "ignore".into(),
    }
}

fn literal<'d>(
    stop: &'static str,
) -> impl Parser<&'d str, Output = Raw<'d>, Error = nom::error::Error<&'d str>> {
    map(is_not(stop), Raw::Lit)
}

/// A parse failure in words: where it stopped, not nom's internals.
fn nom_error(e: &nom::Err<nom::error::Error<&str>>) -> String {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) if e.input.is_empty() => {
            "it ends where a field or text was expected".to_owned()
        }
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            let near: String = e.input.chars().take(40).collect();
            format!("nothing recognised at {near:?}")
        }
        nom::Err::Incomplete(_) => "it is incomplete".to_owned(),
    }
}

impl Template {
    /// Compile an nginx `log_format` string (the part after the name, with
    /// nginx's own quoting already removed by the user).
    pub fn nginx(directive: &str, opts: &FormatOptions) -> anyhow::Result<Template> {
        if directive.trim().is_empty() {
            bail!("the nginx log_format is empty; give it after `nginx:` or with --log-format");
        }
        let (rest, raw) = many1(alt((nginx_var, literal("$"))))
            .parse(directive)
            .map_err(|e| anyhow::anyhow!("cannot parse log_format: {}", nom_error(&e)))?;
        if !rest.is_empty() {
            bail!("cannot parse log_format near {rest:?}");
        }
        Template::compile(raw, opts).context("in --log-format")
    }

    /// Compile an Apache `LogFormat` string.
    pub fn apache(directive: &str, opts: &FormatOptions) -> anyhow::Result<Template> {
        if directive.trim().is_empty() {
            bail!("the Apache LogFormat is empty; give it after `apache:` or with --apache-format");
        }
        let directive = directive.replace("\\\"", "\"");
        let (rest, raw) = many1(alt((apache_directive, literal("%"))))
            .parse(&directive)
            .map_err(|e| anyhow::anyhow!("cannot parse LogFormat: {}", nom_error(&e)))?;
        if !rest.is_empty() {
            bail!("cannot parse LogFormat near {rest:?}");
        }
        Template::compile(raw, opts).context("in Apache LogFormat")
    }

    fn compile(raw: Vec<Raw<'_>>, opts: &FormatOptions) -> anyhow::Result<Template> {
        let principal = opts.principal_field.as_deref().unwrap_or("remote_user");
        let has = |n: &str| raw.iter().any(|r| matches!(r, Raw::Var(v) if v == n));
        let api_key = match &opts.api_key_field {
            Some(k) => Some(k.as_str()),
            None if has("http_x_api_key") => Some("http_x_api_key"),
            None => None,
        };
        for (what, name) in [("principal", Some(principal)), ("API key", api_key)] {
            if let Some(name) = name
                && name != "remote_user"
                && !has(name)
            {
                bail!("the {what} field ${name} is not in the format");
            }
        }
        let mut segs: Vec<Seg> = Vec::new();
        let push_lit = |segs: &mut Vec<Seg>, s: &[u8]| match segs.last_mut() {
            Some(Seg::Lit(l)) => l.extend_from_slice(s),
            _ => segs.push(Seg::Lit(s.to_vec())),
        };
        for r in &raw {
            match r {
                Raw::Lit(l) => push_lit(&mut segs, l.as_bytes()),
                Raw::Var(v) if v == "apache_time" => {
                    // %t prints its own brackets; tolerate a directive that
                    // wrote them around it as well.
                    let bracketed = matches!(segs.last(), Some(Seg::Lit(l)) if l.ends_with(b"["));
                    if !bracketed {
                        push_lit(&mut segs, b"[");
                    }
                    segs.push(Seg::Var(Field::TimeClf));
                    if !bracketed {
                        push_lit(&mut segs, b"]");
                    }
                }
                Raw::Var(v) => {
                    let f = if v == principal {
                        Field::Principal
                    } else if Some(v.as_str()) == api_key {
                        Field::ApiKey
                    } else {
                        field(v)
                    };
                    if matches!(segs.last(), Some(Seg::Var(_))) {
                        bail!("two variables with nothing between them cannot be split");
                    }
                    segs.push(Seg::Var(f));
                }
            }
        }
        let fields: Vec<Field> = segs
            .iter()
            .filter_map(|s| if let Seg::Var(f) = s { Some(*f) } else { None })
            .collect();
        if !fields
            .iter()
            .any(|f| matches!(f, Field::TimeClf | Field::TimeIso | Field::TimeAny))
        {
            bail!("the format has no time variable ($time_local, $time_iso8601, $msec or %t)");
        }
        if !fields
            .iter()
            .any(|f| matches!(f, Field::Request | Field::RequestUri | Field::Path))
        {
            bail!("the format has no request variable ($request, $request_uri, $uri, %r or %U)");
        }
        Ok(Template { segs })
    }
}

fn field(name: &str) -> Field {
    match name {
        "remote_addr" | "binary_remote_addr" | "realip_remote_addr" => Field::RemoteAddr,
        "remote_port" => Field::RemotePort,
        "remote_user" => Field::Ignore, // only when it is not the principal
        "time_local" => Field::TimeClf,
        "time_iso8601" => Field::TimeIso,
        "msec" | "time_any" => Field::TimeAny,
        "request" => Field::Request,
        "request_method" => Field::Method,
        "request_uri" => Field::RequestUri,
        "uri" | "document_uri" => Field::Path,
        "args" | "query_string" | "apache_query" => Field::Query,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::Bytes,
        "request_time" => Field::DurationSecs,
        "request_time_ms" => Field::DurationMillis,
        "request_time_us" => Field::DurationMicros,
        "http_referer" => Field::Referer,
        "http_user_agent" => Field::UserAgent,
        "http_x_forwarded_for" | "proxy_add_x_forwarded_for" => Field::ForwardedFor,
        "http_x_real_ip" => Field::RealIp,
        "host" | "http_host" | "server_name" => Field::Host,
        "request_id" | "http_x_request_id" => Field::RequestId,
        _ => Field::Ignore,
    }
}

impl LineParser for Template {
    fn parse<'a>(&'a mut self, line: &'a [u8]) -> ParseResult<'a> {
        if fields::is_nginx_error_line(line) {
            return Err(fields::NGINX_ERROR);
        }
        let mut rec = Record::default();
        let mut rest = line;
        let mut have_time = false;
        for (i, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Lit(l) => rest = rest.strip_prefix(l.as_slice()).ok_or(LAYOUT)?,
                Seg::Var(f) => {
                    let quoted =
                        i > 0 && matches!(&self.segs[i - 1], Seg::Lit(l) if l.ends_with(b"\""));
                    let next = match self.segs.get(i + 1) {
                        Some(Seg::Lit(l)) => l.first().copied(),
                        _ => None,
                    };
                    let end = match next {
                        None => rest.len(),
                        Some(b'"') if quoted => quoted_end(rest).ok_or(LAYOUT)?,
                        Some(b) => memchr::memchr(b, rest).ok_or(LAYOUT)?,
                    };
                    let v = &rest[..end];
                    rest = &rest[end..];
                    have_time |= assign(&mut rec, *f, v)?;
                }
            }
        }
        if !have_time {
            return Err(NO_TIME);
        }
        Ok(rec)
    }
}

fn quoted_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let j = memchr::memchr2(b'"', b'\\', &b[i..])? + i;
        if b[j] == b'"' {
            return Some(j);
        }
        i = j + 2;
        if i > b.len() {
            return None;
        }
    }
}

/// Store one field; returns true when it set the time.
fn assign<'a>(rec: &mut Record<'a>, f: Field, v: &'a [u8]) -> Result<bool, Malformed> {
    let d = fields::dash(v);
    match f {
        Field::RemoteAddr => match fields::ip_port(v) {
            Some((ip, port)) => {
                rec.client = Some(ip);
                rec.client_port = rec.client_port.or(port);
            }
            None if d.is_empty() => {}
            None => {
                // A chain in $remote_addr position (real_ip setups).
                let last = v.rsplit(|&b| b == b',').next().unwrap_or(v);
                let last = last.strip_prefix(b" ").unwrap_or(last);
                let (ip, _) = fields::ip_port(last).ok_or(Malformed::new(
                    MalformedKind::Address,
                    "client position holds no address",
                ))?;
                rec.client = Some(ip);
                rec.forwarded_for = v;
            }
        },
        Field::RemotePort => rec.client_port = fields::uint(d).and_then(|p| u16::try_from(p).ok()),
        Field::Principal => rec.principal = d,
        Field::ApiKey => rec.api_key = d,
        Field::TimeClf => {
            rec.ts = time::parse_clf(v).ok_or(BAD_TIME)?;
            return Ok(true);
        }
        Field::TimeIso => {
            rec.ts = time::parse_iso(v).ok_or(BAD_TIME)?;
            return Ok(true);
        }
        Field::TimeAny => {
            rec.ts = time::parse_any(v).ok_or(BAD_TIME)?;
            return Ok(true);
        }
        Field::Request => {
            rec.set_request_line(v);
        }
        Field::Method => rec.method = d,
        Field::RequestUri => rec.set_target(d),
        Field::Path => rec.path = d,
        Field::Query => rec.query = d.strip_prefix(b"?").unwrap_or(d),
        Field::Status => rec.status = fields::status(v)?,
        Field::Bytes => rec.bytes = fields::uint(d),
        Field::DurationSecs => rec.duration_us = fields::seconds_to_micros(d),
        Field::DurationMillis => rec.duration_us = fields::uint(d).map(|m| m * 1000),
        Field::DurationMicros => rec.duration_us = fields::uint(d),
        Field::Referer => rec.referer = d,
        Field::UserAgent => rec.user_agent = d,
        Field::ForwardedFor => rec.forwarded_for = d,
        Field::RealIp => rec.real_ip = d,
        Field::Host => rec.host = d,
        Field::RequestId => rec.request_id = d,
        Field::Ignore => {}
    }
    Ok(false)
}

/// Nginx Proxy Manager's two bundled formats (`proxy` and `standard`).
pub const NPM_PROXY: &str = r#"[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer""#;
pub const NPM_STANDARD: &str = r#"[$time_local] $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] "$http_user_agent" "$http_referer""#;
/// Apache mod_ssl's `ssl_request_log` example layout (no status code).
pub const APACHE_SSL_REQUEST: &str = r#"%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(api: Option<&str>, principal: Option<&str>) -> FormatOptions {
        FormatOptions {
            api_key_field: api.map(Into::into),
            principal_field: principal.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn nginx_custom_with_api_key_and_time() {
        let mut t = Template::nginx(
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_api_key" $request_time"#,
            &opts(None, None),
        )
        .unwrap();
        let line = br#"198.51.100.9 - bob [02/Mar/2026:10:00:00 +0000] "GET /api/v1/lines/447700900123/usage HTTP/1.1" 200 512 "-" "App/1.0" "k-123" 0.015"#;
        let r = t.parse(line).unwrap();
        assert_eq!(r.api_key, b"k-123");
        assert_eq!(r.principal, b"bob");
        assert_eq!(r.duration_us, Some(15_000));
        assert_eq!(r.path, b"/api/v1/lines/447700900123/usage");
        assert_eq!(r.user_agent, b"App/1.0");
    }

    #[test]
    fn principal_from_header_and_missing_field_is_an_error() {
        let d = r#"$remote_addr [$time_local] "$request" $status "$http_x_user""#;
        let mut t = Template::nginx(d, &opts(None, Some("http_x_user"))).unwrap();
        let r = t
            .parse(br#"10.1.1.1 [02/Mar/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 "carol""#)
            .unwrap();
        assert_eq!(r.principal, b"carol");
        assert!(Template::nginx(d, &opts(Some("http_x_api_key"), None)).is_err());
        assert!(Template::nginx("$remote_addr $status", &opts(None, None)).is_err());
    }

    /// Errors a user can act on, not the parser's internals.
    #[test]
    fn empty_or_broken_formats_are_explained() {
        let o = opts(None, None);
        let e = |r: anyhow::Result<Template>| format!("{:#}", r.err().expect("an error"));
        assert!(e(Template::nginx("", &o)).contains("is empty"));
        assert!(e(Template::apache("  ", &o)).contains("is empty"));
        let m = e(Template::nginx("$", &o));
        assert!(!m.contains("IsNot") && !m.contains("code:"), "{m}");
    }

    #[test]
    fn apache_directive() {
        let mut t = Template::apache(
            r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D \"%{X-Api-Key}i\""#,
            &opts(Some("http_x_api_key"), None),
        )
        .unwrap();
        let r = t
            .parse(br#"1.2.3.4 - - [02/Mar/2026:10:00:00 +0000] "GET /a\"b HTTP/1.1" 200 - "-" "UA \"x\"" 1234 "key9""#)
            .unwrap();
        assert_eq!(r.duration_us, Some(1234));
        assert_eq!(r.api_key, b"key9");
        assert_eq!(r.user_agent, br#"UA \"x\""#);
    }

    #[test]
    fn npm_and_ssl_presets() {
        let mut t = Template::nginx(NPM_PROXY, &opts(None, None)).unwrap();
        let r = t.parse(br#"[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http openresty.local "/sdfdsf" [Client 1.2.3.4] [Length 192] [Gzip 3.10] [Sent-to openresty] "Mozilla/5.0" "-""#).unwrap();
        assert_eq!(
            (r.status, r.path, r.host),
            (404, &b"/sdfdsf"[..], &b"openresty.local"[..])
        );
        assert_eq!(r.client, Some("1.2.3.4".parse().unwrap()));
        let mut t = Template::apache(APACHE_SSL_REQUEST, &opts(None, None)).unwrap();
        let r = t.parse(br#"[10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE "GET /x?y=1 HTTP/1.1" 1375"#).unwrap();
        assert_eq!((r.status, r.bytes, r.query), (0, Some(1375), &b"y=1"[..]));
    }

    #[test]
    fn no_panic_on_prefixes() {
        let mut t = Template::nginx(NPM_PROXY, &opts(None, None)).unwrap();
        let l = br#"[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http openresty.local "/sdfdsf" [Client 1.2.3.4] [Length 192] [Gzip 3.10] [Sent-to openresty] "Mozilla/5.0" "-""#;
        for i in 0..l.len() {
            let _ = t.parse(&l[..i]);
        }
    }
}
