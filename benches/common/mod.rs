//! A tiny seeded generator of realistic API-gateway traffic for the benches.
//!
//! Deliberately independent of `tests/support/sim.rs` (so benches don't
//! change when the simulator does): one SplitMix64 stream drives a small
//! population of clients hitting a telecom-style API (customer ids, MSISDNs,
//! device UUIDs, id-bearing queries, pagination, logins, static assets), with
//! about 1.5% of the traffic from an enumerator walking customer ids, and
//! each request can be rendered in every format the parser benches cover.

#![allow(dead_code)]

use std::fmt::Write;

/// SplitMix64: small, fast, good enough for shaping traffic.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(n);
        s
    }
}

pub const METHODS_WRITE: [&str; 3] = ["POST", "PUT", "PATCH"];

pub const USER_AGENTS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Mobile Safari/537.36",
    "MyTelcoApp/5.12.1 (Android 14; Pixel 8)",
    "MyTelcoApp/5.12.0 (iOS 17.4.1; iPhone15,2)",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "PartnerSync/2.3 (+https://partner.example/bot)",
];

pub const REFERERS: [&str; 3] = [
    "https://my.telco.example/account",
    "https://my.telco.example/",
    "https://www.google.com/",
];

pub const HOST: &str = "api.telco.example";

/// One generated request, independent of any log format.
#[derive(Clone, Debug)]
pub struct Req {
    /// Microseconds since the Unix epoch.
    pub ts_us: i64,
    pub ip: String,
    pub port: u16,
    pub user: Option<String>,
    pub api_key: Option<String>,
    pub method: &'static str,
    /// Path and query.
    pub target: String,
    pub proto: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub duration_us: u64,
    pub referer: &'static str,
    pub ua: &'static str,
    pub request_id: String,
    /// Set when a proxy hop added X-Forwarded-For.
    pub xff: Option<String>,
    pub upstream: String,
}

/// A client in the population.
#[derive(Clone)]
struct Client {
    ip: String,
    ua: &'static str,
    user: Option<String>,
    api_key: Option<String>,
    customer: u64,
}

pub struct Gen {
    rng: Rng,
    clients: Vec<Client>,
    ts_us: i64,
    /// The enumerator walking customer ids, and its next id.
    scan_ip: String,
    scan_next: u64,
    mean_gap_us: u64,
}

/// 2025-03-02T00:00:00Z.
pub const START_SECS: i64 = 1_740_873_600;

fn ipv4(rng: &mut Rng) -> String {
    // Public-looking space, away from RFC 1918 (which is trusted-proxy space).
    let a = rng.pick(&[
        31u64, 46, 62, 77, 78, 80, 81, 82, 86, 90, 92, 94, 109, 151, 176, 185, 188, 193, 195, 212,
        213, 217,
    ]);
    format!(
        "{a}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    )
}

fn ipv6(rng: &mut Rng) -> String {
    format!(
        "2a02:{:x}:{:x}:{:x}::{:x}",
        rng.range(0x1000, 0xffff),
        rng.below(0xffff),
        rng.below(0xffff),
        rng.range(1, 0xffff)
    )
}

pub fn uuid(rng: &mut Rng) -> String {
    let h = rng.hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn msisdn(rng: &mut Rng) -> u64 {
    447_700_000_000 + rng.below(99_999_999)
}

impl Gen {
    /// `mean_gap_us`: mean time between requests (100 ms ~ 860k lines/day).
    pub fn new(seed: u64, clients: usize, mean_gap_us: u64) -> Gen {
        let mut rng = Rng::new(seed);
        let clients = (0..clients)
            .map(|i| {
                let logged_in = rng.chance(0.6);
                Client {
                    ip: if rng.chance(0.12) {
                        ipv6(&mut rng)
                    } else {
                        ipv4(&mut rng)
                    },
                    ua: rng.pick(&USER_AGENTS),
                    user: logged_in.then(|| format!("user{:06}", 100_000 + i)),
                    api_key: rng.chance(0.3).then(|| format!("key_{}", rng.hex(24))),
                    customer: rng.range(1_000_000, 9_999_999),
                }
            })
            .collect();
        let scan_ip = ipv4(&mut rng);
        let scan_next = rng.range(2_000_000, 3_000_000);
        Gen {
            rng,
            clients,
            ts_us: START_SECS * 1_000_000,
            scan_ip,
            scan_next,
            mean_gap_us,
        }
    }

    pub fn next_req(&mut self) -> Req {
        let r = &mut self.rng;
        self.ts_us += r.below(2 * self.mean_gap_us + 1) as i64;
        let scanning = r.chance(0.015);
        let c = if scanning {
            Client {
                ip: self.scan_ip.clone(),
                ua: "python-requests/2.31.0",
                user: None,
                api_key: None,
                customer: 0,
            }
        } else {
            let i = r.below(self.clients.len() as u64) as usize;
            self.clients[i].clone()
        };
        let mut method = "GET";
        let mut status = 200u16;
        let target = if scanning {
            self.scan_next += 1;
            if r.chance(0.4) {
                status = 404;
            }
            format!("/api/v1/customers/{}", self.scan_next)
        } else {
            let k = r.below(100);
            match k {
                0..=21 => format!("/api/v1/customers/{}", c.customer),
                22..=31 => format!(
                    "/api/v1/customers/{}/{}",
                    c.customer,
                    r.pick(&["billing", "invoices", "usage", "addresses", "contracts"])
                ),
                32..=41 => format!("/api/v2/subscribers/{}/balance", msisdn(r)),
                42..=47 => format!("/api/v1/devices/{}", uuid(r)),
                48..=53 => format!(
                    "/api/v1/accounts?account_id={}&fields=status,plan",
                    r.range(10_000_000, 99_999_999)
                ),
                54..=59 => format!(
                    "/api/v1/orders?page={}&limit={}",
                    r.range(1, 12),
                    r.pick(&[20, 50, 100])
                ),
                60..=62 => format!(
                    "/api/v1/search?q={}&type=customer",
                    r.pick(&["smith", "jones%20ltd", "+447700900123", "acme"])
                ),
                63..=65 => {
                    method = "POST";
                    if r.chance(0.2) {
                        status = 401;
                    }
                    "/api/v1/auth/login".to_owned()
                }
                66..=69 => {
                    method = r.pick(&METHODS_WRITE);
                    status = r.pick(&[200, 201, 204]);
                    format!("/api/v1/customers/{}/preferences", c.customer)
                }
                70..=73 => format!("/api/v1/invoices/INV-{:08}.pdf", r.range(1, 40_000_000)),
                74..=75 => format!(
                    "/api/v1/tickets/TCK-{:06}?expand=comments",
                    r.range(1, 999_999)
                ),
                76..=79 => "/api/v1/plans".to_owned(),
                80..=81 => "/health".to_owned(),
                82..=84 => "/favicon.ico".to_owned(),
                _ => format!(
                    "/static/{}",
                    r.pick(&[
                        "js/app.3f9a1c7e.js",
                        "js/vendor.8b2d4e61.js",
                        "css/main.a1b2c3d4.css",
                        "img/logo.svg",
                        "fonts/inter-var.woff2",
                    ])
                ),
            }
        };
        if !scanning && status == 200 && method == "GET" {
            status = match r.below(1000) {
                0..=29 => 404,
                30..=59 => 304,
                60..=69 => 401,
                70..=74 => 500,
                75..=77 => 503,
                _ => 200,
            };
        }
        let bytes = match status {
            304 | 204 => 0,
            404 => 61,
            _ => r.range(120, 4800),
        };
        let proxied = r.chance(0.2);
        let xff = proxied.then(|| format!("{}, 10.0.{}.{}", c.ip, r.below(4), r.range(2, 250)));
        Req {
            ts_us: self.ts_us,
            ip: c.ip.clone(),
            port: r.range(1024, 65535) as u16,
            user: c.user.clone(),
            api_key: c.api_key.clone(),
            method,
            target,
            proto: if r.chance(0.7) {
                "HTTP/1.1"
            } else {
                "HTTP/2.0"
            },
            status,
            bytes,
            duration_us: r.range(800, 90_000) + if r.chance(0.02) { 1_500_000 } else { 0 },
            referer: if r.chance(0.3) {
                r.pick(&REFERERS)
            } else {
                "-"
            },
            ua: c.ua,
            request_id: r.hex(32),
            xff,
            upstream: format!("10.244.{}.{}:8080", r.range(1, 3), r.range(10, 50)),
        }
    }
}

// ---- time rendering -------------------------------------------------------

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, min, sec, micros) of a UTC timestamp.
pub fn civil(ts_us: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ts_us.div_euclid(1_000_000);
    let us = ts_us.rem_euclid(1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, us)
}

/// `02/Mar/2025:00:00:01 +0000`
pub fn clf_time(s: &mut String, ts_us: i64) {
    let (y, mo, d, h, mi, se, _) = civil(ts_us);
    let _ = write!(
        s,
        "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{se:02} +0000",
        MONTHS[mo as usize - 1]
    );
}

/// `2025-03-02T00:00:01.123456Z` with `digits` fractional digits (0, 3, 6, 9).
pub fn iso_time(s: &mut String, ts_us: i64, digits: u32) {
    let (y, mo, d, h, mi, se, us) = civil(ts_us);
    let _ = write!(s, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}");
    match digits {
        0 => {}
        3 => {
            let _ = write!(s, ".{:03}", us / 1000);
        }
        6 => {
            let _ = write!(s, ".{us:06}");
        }
        _ => {
            let _ = write!(s, ".{us:06}{:03}", (us * 7) % 1000);
        }
    }
    s.push('Z');
}

fn secs3(us: u64) -> String {
    format!("{}.{:03}", us / 1_000_000, us % 1_000_000 / 1000)
}

fn dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

fn addr_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

// ---- formats ----------------------------------------------------------------

/// The formats rendered here, by the `--format` name apiwatch accepts (the
/// log_format / LogFormat ones carry their directive).
pub const NGINX_DIRECTIVE: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_api_key" $request_time "$http_x_forwarded_for" $request_id"#;
pub const APACHE_DIRECTIVE: &str =
    r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D %v"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Combined,
    TraefikClf,
    NginxIngress,
    NginxLogFormat,
    ApacheLogFormat,
    Alb,
    Elb,
    Envoy,
    Haproxy,
    ApigwJson,
    CaddyJson,
    TraefikJson,
    EnvoyJson,
}

impl Fmt {
    pub const ALL: [Fmt; 13] = [
        Fmt::Combined,
        Fmt::TraefikClf,
        Fmt::NginxIngress,
        Fmt::NginxLogFormat,
        Fmt::ApacheLogFormat,
        Fmt::Alb,
        Fmt::Elb,
        Fmt::Envoy,
        Fmt::Haproxy,
        Fmt::ApigwJson,
        Fmt::CaddyJson,
        Fmt::TraefikJson,
        Fmt::EnvoyJson,
    ];

    /// Short label for the benchmark id.
    pub fn label(self) -> &'static str {
        match self {
            Fmt::Combined => "combined",
            Fmt::TraefikClf => "traefik-clf",
            Fmt::NginxIngress => "nginx-ingress",
            Fmt::NginxLogFormat => "nginx-log-format",
            Fmt::ApacheLogFormat => "apache-log-format",
            Fmt::Alb => "alb",
            Fmt::Elb => "elb",
            Fmt::Envoy => "envoy",
            Fmt::Haproxy => "haproxy",
            Fmt::ApigwJson => "apigw-json",
            Fmt::CaddyJson => "caddy-json",
            Fmt::TraefikJson => "traefik-json",
            Fmt::EnvoyJson => "envoy-json",
        }
    }

    /// The value given to `FormatSpec::from_name`.
    pub fn spec_name(self) -> String {
        match self {
            Fmt::NginxLogFormat => format!("nginx:{NGINX_DIRECTIVE}"),
            Fmt::ApacheLogFormat => format!("apache:{APACHE_DIRECTIVE}"),
            f => f.label().to_owned(),
        }
    }
}

/// JSON string contents (our generated values never need more than this).
fn js(s: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
}

fn uuid_of(rid: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &rid[0..8],
        &rid[8..12],
        &rid[12..16],
        &rid[16..20],
        &rid[20..32]
    )
}

/// Render one request as a line of `fmt` (no trailing newline).
pub fn render(q: &Req, fmt: Fmt) -> String {
    let mut s = String::with_capacity(400);
    let end_us = q.ts_us + q.duration_us as i64;
    let user = dash(q.user.as_deref());
    let req_line = format!("{} {} {}", q.method, q.target, q.proto);
    match fmt {
        Fmt::Combined | Fmt::NginxLogFormat | Fmt::NginxIngress | Fmt::ApacheLogFormat => {
            let _ = write!(s, "{} - {user} [", q.ip);
            clf_time(&mut s, q.ts_us);
            let _ = write!(
                s,
                "] \"{req_line}\" {} {} \"{}\" \"{}\"",
                q.status, q.bytes, q.referer, q.ua
            );
            match fmt {
                Fmt::NginxLogFormat => {
                    let _ = write!(
                        s,
                        " \"{}\" {} \"{}\" {}",
                        dash(q.api_key.as_deref()),
                        secs3(q.duration_us),
                        dash(q.xff.as_deref()),
                        q.request_id
                    );
                }
                Fmt::ApacheLogFormat => {
                    let _ = write!(s, " {} {HOST}", q.duration_us);
                }
                Fmt::NginxIngress => {
                    let _ = write!(
                        s,
                        " {} {} [prod-telco-api-8080] [] {} {} {} {} {}",
                        q.target.len() + 180,
                        secs3(q.duration_us),
                        q.upstream,
                        q.bytes,
                        secs3(q.duration_us.saturating_sub(600)),
                        q.status,
                        q.request_id
                    );
                }
                _ => {}
            }
        }
        Fmt::TraefikClf => {
            let _ = write!(s, "{} - {user} [", q.ip);
            clf_time(&mut s, q.ts_us);
            let _ = write!(
                s,
                "] \"{req_line}\" {} {} \"{}\" \"{}\" {} \"api@file\" \"http://{}\" {}ms",
                q.status,
                q.bytes,
                q.referer,
                q.ua,
                (q.ts_us / 250_000) % 10_000_000,
                q.upstream,
                q.duration_us / 1000
            );
        }
        Fmt::Alb => {
            s.push_str(if q.proto == "HTTP/2.0" {
                "h2 "
            } else {
                "https "
            });
            iso_time(&mut s, end_us, 6);
            let _ = write!(
                s,
                " app/api-prod-alb/50dc6c495c0c9188 {} {} 0.001 {} 0.000 {} {} {} {} \"{} https://{HOST}:443{} {}\" \"{}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/api-prod/73e2d6bc24d8a067 \"Root=1-{:08x}-{}\" \"{HOST}\" \"arn:aws:acm:eu-west-2:123456789012:certificate/8f2b1c3e-4d5a-4e6f-9a0b-1c2d3e4f5a6b\" 10 ",
                addr_port(&q.ip, q.port),
                q.upstream,
                secs3(q.duration_us),
                q.status,
                q.status,
                q.target.len() + 200,
                q.bytes + 230,
                q.method,
                q.target,
                q.proto,
                q.ua,
                q.ts_us / 1_000_000,
                &q.request_id[8..32],
            );
            iso_time(&mut s, q.ts_us - q.ts_us % 1000, 6);
            let _ = write!(
                s,
                " \"forward\" \"-\" \"-\" \"{}\" \"{}\" \"-\" \"-\" TID_{}",
                q.upstream, q.status, q.request_id
            );
        }
        Fmt::Elb => {
            iso_time(&mut s, end_us, 6);
            let _ = write!(
                s,
                " api-prod {} {} 0.000041 {}{:03} 0.000029 {} {} {} {} \"{} https://{HOST}:443{} HTTP/1.1\" \"{}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2",
                addr_port(&q.ip, q.port),
                q.upstream,
                secs3(q.duration_us),
                q.duration_us % 1000,
                q.status,
                q.status,
                if q.method == "GET" { 0 } else { 150 },
                q.bytes,
                q.method,
                q.target,
                q.ua
            );
        }
        Fmt::Envoy => {
            s.push('[');
            iso_time(&mut s, q.ts_us, 3);
            let flags = match q.status {
                503 => "UF",
                _ => "-",
            };
            let ms = q.duration_us / 1000;
            let xff = q.xff.clone().unwrap_or_else(|| q.ip.clone());
            let _ = write!(
                s,
                "] \"{} {} {}\" {} {flags} {} {} {ms} {} \"{xff}\" \"{}\" \"{}\" \"{HOST}\" \"{}\"",
                q.method,
                q.target,
                if q.proto == "HTTP/2.0" {
                    "HTTP/2"
                } else {
                    "HTTP/1.1"
                },
                q.status,
                if q.method == "GET" { 0 } else { 74 },
                q.bytes,
                ms.saturating_sub(1),
                q.ua,
                uuid_of(&q.request_id),
                q.upstream
            );
        }
        Fmt::Haproxy => {
            let (_, mo, d, h, mi, se, _) = civil(end_us);
            let (ay, amo, ad, ah, ami, ase, aus) = civil(q.ts_us);
            let ta = q.duration_us / 1000;
            let _ = write!(
                s,
                "{} {d:>2} {h:02}:{mi:02}:{se:02} lb-edge-1 haproxy[2211]: {} [{ad:02}/{}/{ay:04}:{ah:02}:{ami:02}:{ase:02}.{:03}] https-in~ api_back/api{} 0/0/1/{}/{} {} {} - - ---- 212/212/70/17/0 0/0 {{{HOST}|{}}} \"{req_line}\"",
                MONTHS[mo as usize - 1],
                addr_port(&q.ip, q.port),
                MONTHS[amo as usize - 1],
                aus / 1000,
                1 + q.port % 4,
                ta.saturating_sub(1),
                ta,
                q.status,
                q.bytes + 210,
                q.ua
            );
        }
        Fmt::ApigwJson => {
            let mut t = String::new();
            clf_time(&mut t, q.ts_us);
            let kv = |s: &mut String, k: &str, v: &str| {
                if !s.is_empty() {
                    s.push(',');
                } else {
                    s.push('{');
                }
                let _ = write!(s, "\"{k}\":\"");
                js(s, v);
                s.push('"');
            };
            kv(&mut s, "requestId", &uuid_of(&q.request_id));
            kv(&mut s, "ip", &q.ip);
            kv(&mut s, "caller", "-");
            kv(&mut s, "user", user);
            kv(&mut s, "requestTime", &t);
            kv(&mut s, "httpMethod", q.method);
            kv(&mut s, "resourcePath", "/{proxy+}");
            kv(&mut s, "path", &format!("/prod{}", q.target));
            kv(&mut s, "status", &q.status.to_string());
            kv(&mut s, "protocol", q.proto);
            kv(&mut s, "responseLength", &q.bytes.to_string());
            kv(&mut s, "apiKey", dash(q.api_key.as_deref()));
            kv(&mut s, "userAgent", q.ua);
            s.push('}');
        }
        Fmt::CaddyJson => {
            let ts = end_us as f64 / 1e6;
            let (remote_ip, remote_port) = match &q.xff {
                Some(_) => ("10.0.0.5".to_owned(), 41234),
                None => (q.ip.clone(), q.port),
            };
            let _ = write!(
                s,
                "{{\"level\":\"info\",\"ts\":{ts:.6},\"logger\":\"http.log.access\",\"msg\":\"handled request\",\"request\":{{\"remote_ip\":\"{remote_ip}\",\"remote_port\":\"{remote_port}\",\"client_ip\":\"{}\",\"proto\":\"{}\",\"method\":\"{}\",\"host\":\"{HOST}\",\"uri\":\"",
                q.ip, q.proto, q.method
            );
            js(&mut s, &q.target);
            s.push_str("\",\"headers\":{\"User-Agent\":[\"");
            js(&mut s, q.ua);
            s.push_str("\"],\"Accept\":[\"application/json\"]");
            if q.referer != "-" {
                let _ = write!(s, ",\"Referer\":[\"{}\"]", q.referer);
            }
            if let Some(k) = &q.api_key {
                let _ = write!(s, ",\"X-Api-Key\":[\"{k}\"]");
            }
            if let Some(x) = &q.xff {
                let _ = write!(
                    s,
                    ",\"X-Forwarded-For\":[\"{x}\"],\"X-Forwarded-Proto\":[\"https\"]"
                );
            }
            let _ = write!(
                s,
                "}},\"tls\":{{\"resumed\":false,\"version\":772,\"cipher_suite\":4865,\"proto\":\"h2\",\"server_name\":\"{HOST}\"}}}},\"bytes_read\":0,\"user_id\":\"{}\",\"duration\":{:.6},\"size\":{},\"status\":{},\"resp_headers\":{{\"Server\":[\"Caddy\"],\"Content-Type\":[\"application/json\"]}}}}",
                q.user.as_deref().unwrap_or(""),
                q.duration_us as f64 / 1e6,
                q.bytes,
                q.status
            );
        }
        Fmt::TraefikJson => {
            let dur_ns = q.duration_us * 1000 + 417;
            let overhead = (dur_ns / 10).min(180_000);
            let _ = write!(
                s,
                "{{\"ClientAddr\":\"{}\",\"ClientHost\":\"{}\",\"ClientPort\":\"{}\",\"ClientUsername\":\"{user}\",\"DownstreamContentSize\":{b},\"DownstreamStatus\":{st},\"Duration\":{dur_ns},\"OriginContentSize\":{b},\"OriginDuration\":{},\"OriginStatus\":{st},\"Overhead\":{overhead},\"RequestAddr\":\"{HOST}\",\"RequestContentSize\":0,\"RequestCount\":{},\"RequestHost\":\"{HOST}\",\"RequestMethod\":\"{}\",\"RequestPath\":\"",
                addr_port(&q.ip, q.port),
                q.ip,
                q.port,
                dur_ns - overhead,
                (q.ts_us / 250_000) % 10_000_000,
                q.method,
                b = q.bytes,
                st = q.status,
            );
            js(&mut s, &q.target);
            let _ = write!(
                s,
                "\",\"RequestPort\":\"-\",\"RequestProtocol\":\"{}\",\"RequestScheme\":\"https\",\"RetryAttempts\":0,\"RouterName\":\"api@file\",\"ServiceAddr\":\"{up}\",\"ServiceName\":\"api@file\",\"ServiceURL\":\"http://{up}\",\"StartLocal\":\"",
                q.proto,
                up = q.upstream
            );
            iso_time(&mut s, q.ts_us, 9);
            s.push_str("\",\"StartUTC\":\"");
            iso_time(&mut s, q.ts_us, 9);
            s.push_str("\",\"TLSCipher\":\"TLS_AES_128_GCM_SHA256\",\"TLSVersion\":\"1.3\",\"downstream_Content-Type\":\"application/json\",\"entryPointName\":\"websecure\",\"level\":\"info\",\"msg\":\"\"");
            if q.referer != "-" {
                let _ = write!(s, ",\"request_Referer\":\"{}\"", q.referer);
            }
            s.push_str(",\"request_User-Agent\":\"");
            js(&mut s, q.ua);
            s.push('"');
            if let Some(k) = &q.api_key {
                let _ = write!(s, ",\"request_X-Api-Key\":\"{k}\"");
            }
            s.push_str(",\"time\":\"");
            iso_time(&mut s, end_us, 0);
            s.push_str("\"}");
        }
        Fmt::EnvoyJson => {
            s.push_str("{\"start_time\":\"");
            iso_time(&mut s, q.ts_us, 3);
            let _ = write!(s, "\",\"method\":\"{}\",\"path\":\"", q.method);
            js(&mut s, &q.target);
            let _ = write!(
                s,
                "\",\"protocol\":\"{}\",\"response_code\":{},\"response_flags\":\"-\",\"bytes_received\":0,\"bytes_sent\":{},\"duration\":{},\"upstream_service_time\":\"{}\",\"x-forwarded-for\":\"{}\",\"user-agent\":\"",
                if q.proto == "HTTP/2.0" {
                    "HTTP/2"
                } else {
                    "HTTP/1.1"
                },
                q.status,
                q.bytes,
                q.duration_us / 1000,
                (q.duration_us / 1000).saturating_sub(1),
                q.xff.clone().unwrap_or_else(|| q.ip.clone())
            );
            js(&mut s, q.ua);
            let _ = write!(
                s,
                "\",\"x-request-id\":\"{}\",\":authority\":\"{HOST}\",\"upstream_host\":\"{}\",\"upstream_cluster\":\"httproute/prod/api/rule/0\",\"downstream_remote_address\":\"{}\"}}",
                uuid_of(&q.request_id),
                q.upstream,
                addr_port(&q.ip, q.port),
            );
        }
    }
    s
}

/// `n` lines of `fmt` from `seed`.
pub fn lines(fmt: Fmt, n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut g = Gen::new(seed, 2_000, 100_000);
    (0..n)
        .map(|_| render(&g.next_req(), fmt).into_bytes())
        .collect()
}
