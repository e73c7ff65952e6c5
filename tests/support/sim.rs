//! Seeded, labelled synthetic traffic for one day of a telecom account API.
//!
//! `generate` builds a day of gateway access-log events (benign populations
//! plus bulk account-lookup attack families) together with a ground-truth
//! description; `render` turns one event into the exact line a given gateway
//! would write. Only `std` is used, so this file can be dropped into any
//! crate's `tests/` tree as `mod sim;`.
//!
//! Everything is deterministic for a given `SimConfig` (including the seed).
//! Rates, ranges and counts are drawn from plausible intervals using the seed,
//! so different seeds give differently shaped days.
//!
//! Actor-string conventions (what `FamilyTruth::actors`, `Label::Attack::actor`
//! and `Label::Benign::identity` hold):
//! * IPv4 addresses: dotted quad, e.g. `"185.12.7.9"`.
//! * IPv6 networks: the /64 written as `std::net::Ipv6Addr` display of the
//!   network address plus `/64`, e.g. `"2001:db8:1:2::/64"` (see
//!   `ipv6_prefix64` / `client_key`).
//! * principals (`"usr_<10 hex>"`, `"svc-recon"`, `"agent-07"`, `"store-12"`,
//!   `"svc-uptime"`) and API keys (`"ak_live_…"`, `"partner-<name>-<12 hex>"`,
//!   `"ak_ios_…"`, `"ak_android_…"`, `"ak_pos_…"`, `"ak_crm_…"`, `"ak_mon_…"`)
//!   verbatim.
//!
//! `FamilyTruth::actors[0]` is the primary actor named in the brief; further
//! entries are other strings that identify the same actor (the IPs of the
//! partner or of the API-key walker, the IP of the BOLA principal, the
//! principal of the pagination harvester / reconciliation job). An alert naming
//! any one of them names the actor. For `distributed_sweep`, `distributed_day`
//! and `credential_stuffing` the list holds every participating address and each
//! event's label carries its own address.
//!
//! Benign labels: `identity` is the NAT address for `cgnat`, the /64 for
//! `ipv6`, the principal for `support_agent` and `store_terminal`, and the
//! client IPv4 address for every other population. `Truth::benign_identities`
//! also lists the office/store IPs, every benign principal and the shared API
//! keys (mobile-app keys under the pseudo-population `"app_key"`).
//!
//! Rendering notes: time fields that gateways write at response time (ALB/ELB
//! `time`, Caddy `ts`, Traefik `time`, the HAProxy syslog header) use
//! `ts_micros + duration_us`; the others use `ts_micros`. Quote escaping follows
//! each gateway: nginx/ingress `\x22`, ALB/ELB `\"`, HAProxy `#22`, JSON
//! escaping for the JSON formats (Traefik JSON is Go-HTML-escaped, so `&`
//! becomes `\u0026`), and none at all for Envoy and Traefik CLF (those
//! gateways really write a raw `"`; a few Android UAs contain one). The API
//! Gateway `path` carries the stage prefix `/prod` plus the query string.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ===================================================================== API

/// Resource names used to build request paths (tests may rename them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteNames {
    /// `GET {p}/{customers}/{id}` and `GET {p}/{customers}/{id}/{billing}`
    pub customers: &'static str,
    pub billing: &'static str,
    /// `GET {p}/{lines}/{msisdn}/{usage}`
    pub lines: &'static str,
    pub usage: &'static str,
    /// `GET {p}/{devices}/{uuid}`
    pub devices: &'static str,
    /// `GET {p}/{accounts}?account_id=N`
    pub accounts: &'static str,
    /// `GET {p}/{orders}?page=N&per_page=20`
    pub orders: &'static str,
    /// `POST {p}/{login}` (may contain a slash, default `auth/login`)
    pub login: &'static str,
    /// `GET {p}/{search}?q=...`
    pub search: &'static str,
    /// `GET {p}/{eligibility}?msisdn=...`
    pub eligibility: &'static str,
    /// `GET {p}/{me}`
    pub me: &'static str,
}

impl Default for RouteNames {
    fn default() -> Self {
        RouteNames {
            customers: "customers",
            billing: "billing",
            lines: "lines",
            usage: "usage",
            devices: "devices",
            accounts: "accounts",
            orders: "orders",
            login: "auth/login",
            search: "search",
            eligibility: "eligibility",
            me: "me",
        }
    }
}

/// 2026-03-02T00:00:00Z
pub const DEFAULT_DAY_START: i64 = 1_772_409_600;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// Active customers of the day (default 20 000).
    pub users: u32,
    /// Scales how many app users share one carrier-NAT address (default 1).
    pub nat_multiplier: u32,
    /// Unix seconds of the start of the simulated day (UTC).
    pub day_start: i64,
    /// API path prefix, default `/api/v1` (may be empty).
    pub prefix: &'static str,
    pub names: RouteNames,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            users: 20_000,
            nat_multiplier: 1,
            day_start: DEFAULT_DAY_START,
            prefix: "/api/v1",
            names: RouteNames::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Request arrival time, unix microseconds.
    pub ts_micros: i64,
    /// The real client (after trusted-proxy resolution).
    pub client_ip: IpAddr,
    pub client_port: u16,
    /// Raw X-Forwarded-For header as received by the gateway (first element
    /// is always `client_ip`), `None` for direct/internal traffic.
    pub xff: Option<String>,
    pub method: &'static str,
    /// Path plus optional `?query`.
    pub target: String,
    pub status: u16,
    /// Response body bytes.
    pub bytes: u64,
    pub duration_us: u64,
    /// Empty string = header absent.
    pub user_agent: String,
    /// Empty string = header absent.
    pub referer: String,
    pub principal: Option<String>,
    pub api_key: Option<String>,
    pub host: String,
    /// 32 lowercase hex digits.
    pub request_id: String,
    pub label: Label,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Benign {
        population: &'static str,
        identity: String,
    },
    Attack {
        family: &'static str,
        actor: String,
    },
}

impl Label {
    pub fn is_attack(&self) -> bool {
        matches!(self, Label::Attack { .. })
    }
    pub fn family(&self) -> Option<&'static str> {
        match self {
            Label::Attack { family, .. } => Some(family),
            _ => None,
        }
    }
    pub fn population(&self) -> Option<&'static str> {
        match self {
            Label::Benign { population, .. } => Some(population),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truth {
    /// One entry per attack family, in `ATTACK_FAMILIES` order.
    pub families: Vec<FamilyTruth>,
    /// Sorted, de-duplicated (population, identity) pairs. Holds every string
    /// a benign actor could be named by: IPs, /64 prefixes, principals and
    /// shared API keys. Carrier-NAT addresses appear here too, although one of
    /// them also carries the `nat_sweep` attack during its window.
    pub benign_identities: Vec<(&'static str, String)>,
}

impl Truth {
    pub fn family(&self, name: &str) -> Option<&FamilyTruth> {
        self.families.iter().find(|f| f.family == name)
    }
    pub fn is_benign_identity(&self, s: &str) -> bool {
        self.benign_identities.iter().any(|(_, id)| id == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyTruth {
    pub family: &'static str,
    /// First and last event of the family (unix micros, inclusive).
    pub start_micros: i64,
    pub end_micros: i64,
    /// actors[0] is the primary actor; see module docs.
    pub actors: Vec<String>,
    pub must_alert: bool,
}

pub const ATTACK_FAMILIES: [&str; 17] = [
    "fast_walk",
    "random_probe",
    "query_sweep",
    "msisdn_sweep",
    "uuid_harvest",
    "shuffled_block",
    "ipv6_rotation",
    "slow_sweep",
    "low_and_slow_apikey",
    "distributed_sweep",
    "distributed_day",
    "bola",
    "pagination_harvest",
    "credential_stuffing",
    "nat_sweep",
    "partner_sync",
    "reconciliation",
];

/// Populations that label events. `Truth::benign_identities` additionally
/// uses the pseudo-population `SHARED_KEY_POPULATION` for the mobile-app API
/// keys that thousands of customers (and some attackers) send.
pub const BENIGN_POPULATIONS: [&str; 13] = [
    "cgnat",
    "support_agent",
    "store_terminal",
    "healthcheck",
    "uptime_monitor",
    "crawler",
    "family",
    "browser",
    "mistype",
    "token_resume",
    "eligibility",
    "retry_storm",
    "ipv6",
];

pub const SHARED_KEY_POPULATION: &str = "app_key";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Combined,
    NginxCustom,
    Alb,
    ApigwJson,
    CaddyJson,
    TraefikJson,
    Envoy,
    Haproxy,
    TraefikClf,
    NginxIngress,
    ElbClassic,
    /// Apache `vhost_combined` (Debian's default): `%v:%p` before combined.
    ApacheVhost,
    /// Nginx Proxy Manager's `proxy` log_format (no user field).
    NpmProxy,
    /// Envoy Gateway's default `json_format`, behind a load balancer.
    EnvoyJson,
}

impl Format {
    pub const ALL: [Format; 14] = [
        Format::Combined,
        Format::NginxCustom,
        Format::Alb,
        Format::ApigwJson,
        Format::CaddyJson,
        Format::TraefikJson,
        Format::Envoy,
        Format::Haproxy,
        Format::TraefikClf,
        Format::NginxIngress,
        Format::ElbClassic,
        Format::ApacheVhost,
        Format::NpmProxy,
        Format::EnvoyJson,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Format::Combined => "combined",
            Format::NginxCustom => "nginx_custom",
            Format::Alb => "alb",
            Format::ApigwJson => "apigw_json",
            Format::CaddyJson => "caddy_json",
            Format::TraefikJson => "traefik_json",
            Format::Envoy => "envoy",
            Format::Haproxy => "haproxy",
            Format::TraefikClf => "traefik_clf",
            Format::NginxIngress => "nginx_ingress",
            Format::ElbClassic => "elb_classic",
            Format::ApacheVhost => "apache_vhost",
            Format::NpmProxy => "npm_proxy",
            Format::EnvoyJson => "envoy_json",
        }
    }
    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == s)
    }
    /// Whether the rendered line carries the principal.
    pub fn has_principal(self) -> bool {
        matches!(
            self,
            Format::Combined
                | Format::NginxCustom
                | Format::ApigwJson
                | Format::CaddyJson
                | Format::TraefikJson
                | Format::TraefikClf
                | Format::NginxIngress
                | Format::ApacheVhost
        )
    }
    /// Whether the rendered line carries the API key.
    pub fn has_api_key(self) -> bool {
        matches!(
            self,
            Format::NginxCustom | Format::ApigwJson | Format::CaddyJson | Format::TraefikJson
        )
    }
}

pub const NGINX_CUSTOM_LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_api_key" $request_time "$http_x_forwarded_for""#;

/// `/64` prefix string of an IPv6 address, e.g. `2001:db8:1:2::/64`.
pub fn ipv6_prefix64(a: &Ipv6Addr) -> String {
    let s = a.segments();
    format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
}

/// The string a detector keyed on client address would name: dotted IPv4 or
/// the IPv6 /64.
pub fn client_key(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => ipv6_prefix64(v6),
    }
}

// ===================================================================== PRNG

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash2(a: u64, b: u64) -> u64 {
    mix64(
        mix64(a ^ 0x243F_6A88_85A3_08D3)
            .wrapping_add(b)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// SplitMix64.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn derive(seed: u64, tag: &str) -> Rng {
        let mut h = mix64(seed ^ 0x5851_F42D_4C95_7F2D);
        for b in tag.bytes() {
            h = mix64(h ^ u64::from(b)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
        Rng(h)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// [lo, hi)
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo)
        }
    }
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
    /// Number of extra successes with continuation probability p (capped).
    fn geometric(&mut self, p: f64, max: u32) -> u32 {
        let mut n = 0;
        while n < max && self.chance(p) {
            n += 1;
        }
        n
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
    fn hex(&mut self, n: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut b = Vec::with_capacity(n);
        while b.len() < n {
            let mut v = self.next_u64();
            for _ in 0..16 {
                if b.len() == n {
                    break;
                }
                b.push(DIGITS[(v & 15) as usize]);
                v >>= 4;
            }
        }
        String::from_utf8(b).expect("ascii")
    }
    fn weighted(&mut self, cum: &[f64]) -> usize {
        let total = *cum.last().unwrap_or(&0.0);
        let x = self.f64() * total;
        cum.partition_point(|&c| c <= x)
            .min(cum.len().saturating_sub(1))
    }
}

// ===================================================================== time

const DAY: f64 = 86_400.0;

/// Piecewise-linear daily intensity curve (24 hourly knots, wraps at midnight).
#[derive(Clone)]
struct Diurnal {
    knots: [f64; 25],
    cum: [f64; 24],
}

const CONSUMER_CURVE: [f64; 24] = [
    0.9, 0.55, 0.35, 0.25, 0.25, 0.4, 0.9, 1.8, 2.8, 3.4, 3.6, 3.7, 4.0, 3.8, 3.5, 3.4, 3.6, 4.0,
    4.4, 4.7, 4.6, 3.9, 2.8, 1.7,
];

impl Diurnal {
    fn new(base: &[f64; 24], rng: &mut Rng, wobble: f64) -> Diurnal {
        let shift = rng.uniform(-0.5, 0.5); // hours
        let mut knots = [0.0; 25];
        for (h, k) in knots.iter_mut().take(24).enumerate() {
            // shift the curve by a fraction of an hour (linear interpolation)
            let pos = (h as f64 - shift).rem_euclid(24.0);
            let i = pos.floor() as usize % 24;
            let f = pos - pos.floor();
            let v = base[i] * (1.0 - f) + base[(i + 1) % 24] * f;
            *k = (v * rng.uniform(1.0 - wobble, 1.0 + wobble)).max(0.01);
        }
        knots[24] = knots[0];
        let mut cum = [0.0; 24];
        let mut acc = 0.0;
        for h in 0..24 {
            acc += (knots[h] + knots[h + 1]) / 2.0;
            cum[h] = acc;
        }
        Diurnal { knots, cum }
    }
    /// Seconds since midnight.
    fn sample(&self, rng: &mut Rng) -> f64 {
        let h = rng.weighted(&self.cum);
        let (a, b) = (self.knots[h], self.knots[h + 1]);
        let r = rng.f64();
        let u = if (b - a).abs() < 1e-9 {
            r
        } else {
            ((a * a + (b * b - a * a) * r).max(0.0).sqrt() - a) / (b - a)
        };
        (h as f64 + u.clamp(0.0, 0.999_999)) * 3600.0
    }
}

struct Tm {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    us: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn tm(ts_us: i64) -> Tm {
    let secs = ts_us.div_euclid(1_000_000);
    let us = ts_us.rem_euclid(1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(mo <= 2);
    Tm {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: (sod / 60) % 60,
        s: sod % 60,
        us,
    }
}

fn clf_time(out: &mut String, ts_us: i64) {
    let t = tm(ts_us);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.d,
        MONTHS[t.mo as usize - 1],
        t.y,
        t.h,
        t.mi,
        t.s
    );
}

fn iso_us(out: &mut String, ts_us: i64) {
    let t = tm(ts_us);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.y, t.mo, t.d, t.h, t.mi, t.s, t.us
    );
}

fn iso_ms(out: &mut String, ts_us: i64) {
    let t = tm(ts_us);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.y,
        t.mo,
        t.d,
        t.h,
        t.mi,
        t.s,
        t.us / 1000
    );
}

fn iso_s(out: &mut String, ts_us: i64) {
    let t = tm(ts_us);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    );
}

/// Go's RFC3339Nano: trailing zeros of the fraction trimmed.
fn rfc3339_nano(out: &mut String, ts_us: i64, extra_ns: u32) {
    let t = tm(ts_us);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.y, t.mo, t.d, t.h, t.mi, t.s
    );
    let ns = t.us * 1000 + extra_ns % 1000;
    if ns != 0 {
        let frac = format!("{ns:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
}

// ===================================================================== world

struct World {
    cust_lo: u64,
    cust_hi: u64,
    cust_salt: u64,
    cust_permille: u64,
    acct_offset: u64,
    msisdn_base: u64,
    msisdn_n: u64,
    msisdn_salt: u64,
    msisdn_permille: u64,
    dev_n: u64,
    dev_salt: u64,
    orders_last_page: u32,
}

impl World {
    fn new(rng: &mut Rng) -> World {
        let cust_lo = 1_000_000 + rng.range(0, 60) * 1000;
        let span = 380_000 + rng.range(0, 40) * 1000;
        World {
            cust_lo,
            cust_hi: cust_lo + span,
            cust_salt: rng.next_u64(),
            cust_permille: rng.range(830, 875),
            acct_offset: 49_000_000 + rng.range(0, 900) * 1000,
            msisdn_base: 447_700_900_000,
            msisdn_n: 100_000,
            msisdn_salt: rng.next_u64(),
            msisdn_permille: rng.range(640, 780),
            dev_n: 250_000 + rng.range(0, 100_000),
            dev_salt: rng.next_u64(),
            orders_last_page: rng.range(380, 470) as u32,
        }
    }
    fn cust_exists(&self, id: u64) -> bool {
        id >= self.cust_lo
            && id < self.cust_hi
            && hash2(self.cust_salt, id) % 1000 < self.cust_permille
    }
    fn any_customer(&self, rng: &mut Rng) -> u64 {
        loop {
            let id = rng.range(self.cust_lo, self.cust_hi);
            if self.cust_exists(id) {
                return id;
            }
        }
    }
    fn missing_customer(&self, rng: &mut Rng) -> u64 {
        loop {
            let id = rng.range(self.cust_lo, self.cust_hi);
            if !self.cust_exists(id) {
                return id;
            }
        }
    }
    /// Start of a run of `n` consecutive existing customer ids.
    fn customer_run(&self, rng: &mut Rng, n: u64) -> u64 {
        loop {
            let id = rng.range(self.cust_lo, self.cust_hi - n);
            if (id..id + n).all(|i| self.cust_exists(i)) {
                return id;
            }
        }
    }
    fn acct_of(&self, cust: u64) -> u64 {
        cust + self.acct_offset
    }
    fn acct_exists(&self, acct: u64) -> bool {
        acct >= self.acct_offset && self.cust_exists(acct - self.acct_offset)
    }
    fn msisdn_exists(&self, m: u64) -> bool {
        m >= self.msisdn_base
            && m < self.msisdn_base + self.msisdn_n
            && hash2(self.msisdn_salt, m) % 1000 < self.msisdn_permille
    }
    fn any_msisdn(&self, rng: &mut Rng) -> u64 {
        loop {
            let m = self.msisdn_base + rng.below(self.msisdn_n);
            if self.msisdn_exists(m) {
                return m;
            }
        }
    }
    fn msisdn_run(&self, rng: &mut Rng, n: u64) -> u64 {
        loop {
            let m = self.msisdn_base + rng.below(self.msisdn_n - n);
            if (m..m + n).all(|x| self.msisdn_exists(x)) {
                return m;
            }
        }
    }
    fn device_uuid(&self, idx: u64) -> String {
        uuid_from(
            hash2(self.dev_salt, idx),
            hash2(self.dev_salt ^ 0xD1CE, idx),
        )
    }
}

/// `IpAddr::to_string` without the formatting machinery (hot path).
fn ip_string(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                let o = *o;
                if o >= 100 {
                    s.push((b'0' + o / 100) as char);
                }
                if o >= 10 {
                    s.push((b'0' + (o / 10) % 10) as char);
                }
                s.push((b'0' + o % 10) as char);
            }
            s
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

fn uuid_from(hi: u64, lo: u64) -> String {
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

// ===================================================================== requests

enum Req {
    Customer(u64),
    Billing(u64),
    Usage {
        msisdn: u64,
        plus: bool,
    },
    Device {
        uuid: String,
        exists: bool,
    },
    Account {
        id: u64,
        style: u8,
    },
    Orders {
        page: u32,
        per_page: u32,
    },
    Login {
        ok: bool,
    },
    Search(String),
    Eligibility {
        msisdn: String,
        valid: bool,
    },
    Me,
    Health,
    Docs(&'static str),
    Static {
        path: &'static str,
        size: u64,
        cached: bool,
    },
    Robots,
}

const HOST_API: &str = "api.example.com";
const HOST_WEB: &str = "my.example.com";
const HOST_DOCS: &str = "developer.example.com";

const STATIC_ASSETS: [(&str, u64); 6] = [
    ("/static/js/app.3f9c2a1b.js", 184_223),
    ("/static/js/vendor.8d01e6f2.js", 512_904),
    ("/static/css/app.c41d77e0.css", 38_112),
    ("/static/img/logo.svg", 4_211),
    ("/static/fonts/inter-var.woff2", 98_516),
    ("/favicon.ico", 15_086),
];

const DOCS_PAGES: [&str; 40] = [
    "",
    "getting-started",
    "authentication",
    "api-keys",
    "api/customers",
    "api/customers/billing",
    "api/lines",
    "api/lines/usage",
    "api/devices",
    "api/accounts",
    "api/orders",
    "api/search",
    "api/eligibility",
    "api/auth",
    "errors",
    "rate-limits",
    "pagination",
    "webhooks",
    "webhooks/events",
    "sdks",
    "sdks/python",
    "sdks/java",
    "sdks/node",
    "sdks/go",
    "changelog",
    "changelog/2025-09",
    "changelog/2025-10",
    "changelog/2025-11",
    "changelog/2025-12",
    "changelog/2026-01",
    "changelog/2026-02",
    "guides/number-porting",
    "guides/esim",
    "guides/sandbox",
    "guides/migrating-v0",
    "faq",
    "status-codes",
    "terms",
    "v0/customers",
    "v0/lines",
];

struct Resp {
    method: &'static str,
    target: String,
    host: &'static str,
    status: u16,
    bytes: u64,
    dur_us: u64,
}

// ===================================================================== clients

#[derive(Clone)]
struct Client {
    ip: IpAddr,
    port: u16,
    ua: String,
    principal: Option<String>,
    key: Option<String>,
    referer: String,
    behind_lb: bool,
    label: Label,
}

struct Cust {
    id: u64,
    principal: String,
    msisdns: Vec<u64>,
    device: u64,
    plus: bool,
}

const RESIDENTIAL: [(u8, u8, u8); 16] = [
    (2, 24, 31),
    (5, 64, 81),
    (31, 48, 55),
    (81, 96, 111),
    (82, 0, 47),
    (86, 128, 191),
    (90, 192, 223),
    (92, 0, 31),
    (94, 0, 15),
    (109, 144, 159),
    (176, 24, 27),
    (212, 56, 59),
    (213, 104, 107),
    (151, 224, 231),
    (188, 28, 31),
    (217, 32, 47),
];

const PROXY_POOL: [(u8, u8, u8); 12] = [
    (37, 0, 63),
    (46, 0, 63),
    (77, 64, 127),
    (79, 96, 127),
    (89, 0, 63),
    (95, 128, 191),
    (103, 0, 255),
    (112, 0, 127),
    (177, 0, 127),
    (187, 0, 127),
    (190, 0, 127),
    (201, 0, 127),
];

const DATACENTER: [(u8, u8, u8); 10] = [
    (45, 33, 90),
    (104, 16, 31),
    (138, 68, 199),
    (159, 65, 223),
    (167, 71, 99),
    (185, 0, 255),
    (193, 0, 255),
    (51, 15, 91),
    (35, 180, 250),
    (3, 8, 250),
];

fn app_ua(rng: &mut Rng) -> (String, bool) {
    const VERS: [&str; 7] = [
        "6.4.2", "6.4.2", "6.4.1", "6.4.0", "6.3.5", "6.2.0", "5.9.8",
    ];
    let ver = *rng.pick(&VERS);
    if rng.chance(0.48) {
        const IOS: [&str; 9] = [
            "17.3.1", "17.4", "17.2.1", "17.1.2", "16.7.5", "16.6.1", "17.4.1", "18.0", "15.8",
        ];
        let os = *rng.pick(&IOS);
        let ua = if rng.chance(0.75) {
            format!(
                "TelcoApp/{ver} (iPhone{},{}; iOS {os}; Scale/{}.00)",
                rng.range(11, 17),
                rng.range(1, 6),
                rng.range(2, 4)
            )
        } else {
            format!(
                "TelcoApp/{ver} CFNetwork/{} Darwin/{}.{}.0",
                rng.pick(&["1494.0.7", "1490.0.4", "1485", "1410.0.3", "1568.100.1"]),
                rng.range(22, 24),
                rng.range(0, 5)
            )
        };
        (ua, true)
    } else {
        const MODELS: [&str; 14] = [
            "SM-S918B",
            "SM-A546B",
            "SM-G991B",
            "Pixel 7",
            "Pixel 8 Pro",
            "Pixel 6a",
            "M2101K9G",
            "CPH2449",
            "moto g54 5G",
            "SM-A256B",
            "2201117TG",
            "XQ-DQ54",
            "SM-S911B",
            "Nokia G42",
        ];
        let model = *rng.pick(&MODELS);
        let os = rng.range(10, 15);
        let ua = if rng.chance(0.004) {
            // a handful of builds put the marketing name in quotes
            format!(
                "Dalvik/2.1.0 (Linux; U; Android {os}; \"Galaxy A54\" Build/UP1A) TelcoApp/{ver}"
            )
        } else if rng.chance(0.6) {
            format!("TelcoApp/{ver} (Android {os}; {model}) okhttp/4.12.0")
        } else {
            format!(
                "Dalvik/2.1.0 (Linux; U; Android {os}; {model} Build/{}.{}.{:03}) TelcoApp/{ver}",
                rng.pick(&["UP1A", "TP1A", "TQ3A", "SP1A", "AP2A"]),
                rng.range(220_000, 240_000),
                rng.range(1, 20)
            )
        };
        (ua, false)
    }
}

/// A current browser UA (reduced Chrome UA etc.).
fn browser_ua(rng: &mut Rng) -> String {
    let chrome = rng.range(139, 146);
    let ff = rng.range(140, 149);
    match rng.below(100) {
        0..=37 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"
        ),
        38..=49 => format!(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"
        ),
        50..=59 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36 Edg/{chrome}.0.{}.{}",
            rng.range(3000, 3600),
            rng.range(40, 120)
        ),
        60..=69 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{ff}.0) Gecko/20100101 Firefox/{ff}.0"
        ),
        70..=79 => format!(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{}.{} Safari/605.1.15",
            rng.pick(&["18", "26"]),
            rng.range(0, 4)
        ),
        80..=91 => {
            let v = rng.range(0, 4);
            format!(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{v} Mobile/15E148 Safari/604.1"
            )
        }
        92..=97 => format!(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Mobile Safari/537.36"
        ),
        _ => format!("Mozilla/5.0 (X11; Linux x86_64; rv:{ff}.0) Gecko/20100101 Firefox/{ff}.0"),
    }
}

/// A "fake-useragent"-style random browser UA with full version numbers, as
/// rotated by scraping tools (huge variety, often outdated).
fn fake_ua(rng: &mut Rng) -> String {
    let major = rng.range(96, 146);
    let build = rng.range(4500, 7700);
    let patch = rng.range(0, 250);
    match rng.below(6) {
        0 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} Safari/537.36"
        ),
        1 => format!(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} Safari/537.36",
            rng.range(1, 8)
        ),
        2 => format!(
            "Mozilla/5.0 (Windows NT {}; Win64; x64; rv:{}.0) Gecko/20100101 Firefox/{}.0",
            rng.pick(&["10.0", "6.1", "6.3"]),
            major - 10,
            major - 10
        ),
        3 => format!(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} Safari/537.36"
        ),
        4 => format!(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.{build}.{patch} Safari/537.36 Edg/{major}.0.{}.{}",
            rng.range(1000, 3600),
            rng.range(10, 120)
        ),
        _ => format!(
            "Mozilla/5.0 (iPhone; CPU iPhone OS {}_{} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{}.{} Mobile/15E148 Safari/604.1",
            rng.range(14, 18),
            rng.range(0, 7),
            rng.range(14, 18),
            rng.range(0, 7)
        ),
    }
}

const SURNAMES: [&str; 24] = [
    "smith",
    "jones",
    "williams",
    "taylor",
    "brown",
    "davies",
    "evans",
    "wilson",
    "thomas",
    "johnson",
    "roberts",
    "robinson",
    "thompson",
    "wright",
    "walker",
    "white",
    "edwards",
    "hughes",
    "green",
    "hall",
    "o%27brien",
    "patel",
    "khan",
    "m%C3%BCller",
];
const FIRSTNAMES: [&str; 16] = [
    "john", "sarah", "david", "emma", "james", "olivia", "michael", "amelia", "daniel", "sophie",
    "mohammed", "chloe", "zo%C3%AB", "liam", "grace", "tom",
];

// ===================================================================== generator

struct Gen<'a> {
    cfg: &'a SimConfig,
    seed: u64,
    w: World,
    p: String,
    day0_us: i64,
    consumer: Diurnal,
    events: Vec<Event>,
    rid: Rng,
    used4: HashSet<u32>,
    used64: HashSet<u32>,
    used_cust: HashSet<u64>,
    benign: BTreeSet<(&'static str, String)>,
    fam_actors: Vec<(&'static str, Vec<String>)>,
    nats: Vec<(IpAddr, f64)>,
    ios_key: String,
    android_key: String,
    gw_error_rate: f64,
}

pub fn generate(cfg: &SimConfig) -> (Vec<Event>, Truth) {
    let mut g = Gen::new(cfg);
    g.benign_all();
    g.attacks_all();
    g.finish()
}

impl<'a> Gen<'a> {
    fn new(cfg: &'a SimConfig) -> Gen<'a> {
        let seed = cfg.seed;
        let mut wr = Rng::derive(seed, "world");
        let w = World::new(&mut wr);
        let mut dr = Rng::derive(seed, "diurnal");
        let consumer = Diurnal::new(&CONSUMER_CURVE, &mut dr, 0.12);
        let p = cfg.prefix.trim_end_matches('/').to_string();
        let mut kr = Rng::derive(seed, "keys");
        let ios_key = format!("ak_ios_{}", kr.hex(24));
        let android_key = format!("ak_android_{}", kr.hex(24));
        let gw_error_rate = kr.uniform(0.0002, 0.0008);
        Gen {
            cfg,
            seed,
            w,
            p,
            day0_us: cfg.day_start * 1_000_000,
            consumer,
            events: Vec::with_capacity(340_000),
            rid: Rng::derive(seed, "request-id"),
            used4: HashSet::new(),
            used64: HashSet::new(),
            used_cust: HashSet::new(),
            benign: BTreeSet::new(),
            fam_actors: Vec::new(),
            nats: Vec::new(),
            ios_key,
            android_key,
            gw_error_rate,
        }
    }

    fn rng(&self, tag: &str) -> Rng {
        Rng::derive(self.seed, tag)
    }

    fn users(&self) -> f64 {
        f64::from(self.cfg.users)
    }

    // ------------------------------------------------------------ addresses

    fn alloc_v4_in(&mut self, rng: &mut Rng, a: u8, b_lo: u8, b_hi: u8) -> IpAddr {
        for _ in 0..10_000 {
            let b = rng.range(u64::from(b_lo), u64::from(b_hi) + 1) as u8;
            let c = rng.below(256) as u8;
            let d = rng.range(1, 255) as u8;
            let v = u32::from_be_bytes([a, b, c, d]);
            if self.used4.insert(v) {
                return IpAddr::V4(Ipv4Addr::from(v));
            }
        }
        panic!("address pool exhausted");
    }

    fn alloc_v4(&mut self, rng: &mut Rng, pool: &[(u8, u8, u8)]) -> IpAddr {
        let (a, lo, hi) = *rng.pick(pool);
        self.alloc_v4_in(rng, a, lo, hi)
    }

    fn alloc_v4_c(&mut self, rng: &mut Rng, a: u8, b: u8, c: u8) -> IpAddr {
        for _ in 0..10_000 {
            let d = rng.range(2, 254) as u8;
            let v = u32::from_be_bytes([a, b, c, d]);
            if self.used4.insert(v) {
                return IpAddr::V4(Ipv4Addr::from(v));
            }
        }
        panic!("address pool exhausted");
    }

    /// A fresh 2001:db8:X:Y::/64 (returned as the network address segments).
    fn alloc_v6_net(&mut self, rng: &mut Rng) -> (u16, u16) {
        loop {
            let x = rng.range(1, 0x10000) as u16;
            let y = rng.range(1, 0x10000) as u16;
            if self.used64.insert((u32::from(x) << 16) | u32::from(y)) {
                return (x, y);
            }
        }
    }

    fn v6_addr(rng: &mut Rng, net: (u16, u16)) -> IpAddr {
        let iid = rng.next_u64() | 1;
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            net.0,
            net.1,
            (iid >> 48) as u16,
            (iid >> 32) as u16,
            (iid >> 16) as u16,
            iid as u16,
        ))
    }

    fn new_cust(&mut self, rng: &mut Rng) -> Cust {
        let mut tries = 0;
        let id = loop {
            let id = self.w.any_customer(rng);
            tries += 1;
            // ids are unique per customer unless the configured user count
            // approaches the size of the customer base
            if self.used_cust.insert(id) || tries > 64 {
                break id;
            }
        };
        let n_lines = 1 + rng.geometric(0.22, 2) as usize;
        let msisdns = (0..n_lines).map(|_| self.w.any_msisdn(rng)).collect();
        Cust {
            id,
            principal: format!("usr_{}", rng.hex(10)),
            msisdns,
            device: rng.below(self.w.dev_n),
            plus: rng.chance(0.12),
        }
    }

    // ------------------------------------------------------------ responses

    fn path(&self, rest: &str) -> String {
        let mut s = String::with_capacity(self.p.len() + rest.len() + 1);
        s.push_str(&self.p);
        s.push('/');
        s.push_str(rest);
        s
    }

    fn respond(&self, rng: &mut Rng, req: &Req) -> Resp {
        let n = &self.cfg.names;
        let ms = |rng: &mut Rng, median: f64, sigma: f64| -> u64 {
            (rng.lognormal(median * 1000.0, sigma)
                .clamp(200.0, 30_000_000.0)) as u64
        };
        let (method, target, host, mut status, mut bytes, mut dur, api) = match req {
            Req::Customer(id) => {
                let t = self.path(&format!("{}/{}", n.customers, id));
                if self.w.cust_exists(*id) {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        620 + hash2(self.w.cust_salt ^ 1, *id) % 900,
                        ms(rng, 24.0, 0.45),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 404, 74, ms(rng, 8.0, 0.4), true)
                }
            }
            Req::Billing(id) => {
                let t = self.path(&format!("{}/{}/{}", n.customers, id, n.billing));
                if self.w.cust_exists(*id) {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        1_300 + hash2(self.w.cust_salt ^ 2, *id) % 2_600,
                        ms(rng, 65.0, 0.5),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 404, 74, ms(rng, 9.0, 0.4), true)
                }
            }
            Req::Usage { msisdn, plus } => {
                let t = if *plus {
                    self.path(&format!("{}/%2B{}/{}", n.lines, msisdn, n.usage))
                } else {
                    self.path(&format!("{}/{}/{}", n.lines, msisdn, n.usage))
                };
                if self.w.msisdn_exists(*msisdn) {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        420 + hash2(self.w.msisdn_salt ^ 3, *msisdn) % 1_400 + rng.below(40),
                        ms(rng, 38.0, 0.5),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 404, 70, ms(rng, 9.0, 0.4), true)
                }
            }
            Req::Device { uuid, exists } => {
                let t = self.path(&format!("{}/{}", n.devices, uuid));
                if *exists {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        360 + rng.below(280),
                        ms(rng, 20.0, 0.45),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 404, 68, ms(rng, 7.0, 0.4), true)
                }
            }
            Req::Account { id, style } => {
                let q = match style {
                    1 => format!("account_id={id}&include=contacts"),
                    2 => format!("fields=full&account_id={id}"),
                    3 => format!(
                        "account_id={id}&_={}",
                        1_772_000_000_000u64 + rng.below(1_000_000_000)
                    ),
                    _ => format!("account_id={id}"),
                };
                let t = self.path(&format!("{}?{}", n.accounts, q));
                if self.w.acct_exists(*id) {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        540 + hash2(self.w.cust_salt ^ 4, *id) % 700,
                        ms(rng, 30.0, 0.45),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 404, 73, ms(rng, 9.0, 0.4), true)
                }
            }
            Req::Orders { page, per_page } => {
                let t = self.path(&format!("{}?page={}&per_page={}", n.orders, page, per_page));
                let last = self.w.orders_last_page * 20 / (*per_page).max(1);
                let (b, d) = if *page <= last {
                    (
                        u64::from(*per_page) * (330 + rng.below(90)) + 60,
                        ms(rng, 45.0 + f64::from(*page).sqrt() * 3.0, 0.4),
                    )
                } else {
                    (44 + rng.below(4), ms(rng, 18.0, 0.3))
                };
                ("GET", t, HOST_API, 200, b, d, true)
            }
            Req::Login { ok } => {
                let t = self.path(n.login);
                if *ok {
                    (
                        "POST",
                        t,
                        HOST_API,
                        200,
                        1_180 + rng.below(60),
                        ms(rng, 210.0, 0.3),
                        true,
                    )
                } else {
                    ("POST", t, HOST_API, 401, 61, ms(rng, 190.0, 0.3), true)
                }
            }
            Req::Search(q) => {
                let t = self.path(&format!("{}?q={}", n.search, q));
                let hits = rng.below(12);
                (
                    "GET",
                    t,
                    HOST_API,
                    200,
                    48 + hits * (210 + rng.below(60)),
                    ms(rng, 140.0, 0.55),
                    true,
                )
            }
            Req::Eligibility { msisdn, valid } => {
                let t = self.path(&format!("{}?msisdn={}", n.eligibility, msisdn));
                if *valid {
                    (
                        "GET",
                        t,
                        HOST_API,
                        200,
                        96 + rng.below(60),
                        ms(rng, 85.0, 0.5),
                        true,
                    )
                } else {
                    ("GET", t, HOST_API, 400, 83, ms(rng, 4.0, 0.4), true)
                }
            }
            Req::Me => (
                "GET",
                self.path(n.me),
                HOST_API,
                200,
                310 + rng.below(200),
                ms(rng, 12.0, 0.4),
                true,
            ),
            Req::Health => (
                "GET",
                "/health".to_string(),
                HOST_API,
                200,
                15,
                ms(rng, 0.9, 0.3),
                false,
            ),
            Req::Docs(page) => {
                let t = format!("/docs/{page}");
                if page.starts_with("v0/") {
                    ("GET", t, HOST_DOCS, 404, 3_112, ms(rng, 3.0, 0.4), false)
                } else {
                    (
                        "GET",
                        t,
                        HOST_DOCS,
                        200,
                        9_000
                            + hash2(
                                7,
                                page.len() as u64 * 31
                                    + u64::from(page.bytes().map(u32::from).sum::<u32>()),
                            ) % 40_000,
                        ms(rng, 6.0, 0.5),
                        false,
                    )
                }
            }
            Req::Static { path, size, cached } => {
                if *cached {
                    (
                        "GET",
                        path.to_string(),
                        HOST_WEB,
                        304,
                        0,
                        ms(rng, 0.8, 0.4),
                        false,
                    )
                } else {
                    (
                        "GET",
                        path.to_string(),
                        HOST_WEB,
                        200,
                        *size,
                        ms(rng, 2.5, 0.6),
                        false,
                    )
                }
            }
            Req::Robots => (
                "GET",
                "/robots.txt".to_string(),
                HOST_DOCS,
                200,
                68,
                ms(rng, 0.8, 0.3),
                false,
            ),
        };
        if api && rng.chance(self.gw_error_rate) {
            let (s, b, d) = match rng.below(3) {
                0 => (502, 150, ms(rng, 40.0, 0.5)),
                1 => (503, 162, ms(rng, 2.0, 0.5)),
                _ => (504, 160, 30_000_000),
            };
            status = s;
            bytes = b;
            dur = d;
        }
        Resp {
            method,
            target,
            host,
            status,
            bytes,
            dur_us: dur,
        }
    }

    fn xff_for(&mut self, ip: IpAddr) -> String {
        let r = self.rid.below(100);
        let mut s = ip_string(&ip);
        match r {
            0..=6 => {
                s.push_str(",10.0.0.");
                s.push((b'5' + self.rid.below(3) as u8) as char);
            }
            7..=12 => {
                s.push_str(", 10.0.1.");
                s.push((b'5' + self.rid.below(3) as u8) as char);
            }
            _ => {}
        }
        s
    }

    /// Emit one event at `t` seconds after midnight. `auth` controls whether
    /// the client's principal is attached.
    fn emit(&mut self, rng: &mut Rng, t: f64, cl: &Client, req: &Req, auth: bool) {
        if !(0.0..DAY).contains(&t) {
            return;
        }
        let r = self.respond(rng, req);
        self.push(t, cl, r, auth);
    }

    fn push(&mut self, t: f64, cl: &Client, r: Resp, auth: bool) {
        let xff = if cl.behind_lb {
            Some(self.xff_for(cl.ip))
        } else {
            None
        };
        let request_id = self.rid.hex(32);
        self.events.push(Event {
            ts_micros: self.day0_us + (t * 1e6) as i64,
            client_ip: cl.ip,
            client_port: cl.port,
            xff,
            method: r.method,
            target: r.target,
            status: r.status,
            bytes: r.bytes,
            duration_us: r.dur_us,
            user_agent: cl.ua.clone(),
            referer: cl.referer.clone(),
            principal: if auth { cl.principal.clone() } else { None },
            api_key: cl.key.clone(),
            host: r.host.to_string(),
            request_id,
            label: cl.label.clone(),
        });
    }

    fn benign_label(&mut self, pop: &'static str, identity: String) -> Label {
        self.benign.insert((pop, identity.clone()));
        Label::Benign {
            population: pop,
            identity,
        }
    }

    // ------------------------------------------------------------ sessions

    /// A mobile-app session; returns the time after the last request.
    fn app_session(
        &mut self,
        rng: &mut Rng,
        mut t: f64,
        cl: &Client,
        c: &Cust,
        login: bool,
        stale: bool,
    ) -> f64 {
        if login {
            if rng.chance(0.05) {
                self.emit(rng, t, cl, &Req::Login { ok: false }, false);
                t += rng.uniform(4.0, 25.0);
            }
            self.emit(rng, t, cl, &Req::Login { ok: true }, false);
            t += rng.uniform(0.3, 1.4);
        }
        self.emit(rng, t, cl, &Req::Me, true);
        t += rng.uniform(0.02, 0.5);
        self.emit(rng, t, cl, &Req::Customer(c.id), true);
        t += rng.uniform(0.02, 0.5);
        if rng.chance(0.7) {
            let m = c.msisdns[0];
            self.emit(
                rng,
                t,
                cl,
                &Req::Usage {
                    msisdn: m,
                    plus: c.plus,
                },
                true,
            );
            t += rng.uniform(0.05, 0.8);
        }
        if stale {
            // stale cache: a closed / migrated account id
            let old = self.w.missing_customer(rng);
            self.emit(rng, t, cl, &Req::Customer(old), true);
            t += rng.uniform(0.05, 0.5);
        }
        // navigation inside the app
        let screens = rng.geometric(0.55, 6);
        for _ in 0..screens {
            t += rng.exp(20.0) + 1.0;
            match rng.below(10) {
                0..=3 => self.emit(rng, t, cl, &Req::Billing(c.id), true),
                4..=5 => {
                    let m = *rng.pick(&c.msisdns);
                    self.emit(
                        rng,
                        t,
                        cl,
                        &Req::Usage {
                            msisdn: m,
                            plus: c.plus,
                        },
                        true,
                    )
                }
                6 => {
                    let uuid = self.w.device_uuid(c.device);
                    self.emit(rng, t, cl, &Req::Device { uuid, exists: true }, true)
                }
                7 => {
                    self.emit(
                        rng,
                        t,
                        cl,
                        &Req::Orders {
                            page: 1,
                            per_page: 20,
                        },
                        true,
                    );
                    if rng.chance(0.3) {
                        t += rng.uniform(2.0, 15.0);
                        self.emit(
                            rng,
                            t,
                            cl,
                            &Req::Orders {
                                page: 2,
                                per_page: 20,
                            },
                            true,
                        );
                    }
                }
                _ => self.emit(rng, t, cl, &Req::Customer(c.id), true),
            }
        }
        t
    }

    fn web_session(
        &mut self,
        rng: &mut Rng,
        mut t: f64,
        cl: &Client,
        c: &Cust,
        first: bool,
        login: bool,
    ) -> f64 {
        let mut cl = cl.clone();
        cl.referer = "https://my.example.com/".to_string();
        let n_assets = if first {
            STATIC_ASSETS.len()
        } else {
            3 + rng.below(3) as usize
        };
        for (path, size) in STATIC_ASSETS.iter().take(n_assets) {
            let cached = !first && rng.chance(0.85);
            self.emit(
                rng,
                t,
                &cl,
                &Req::Static {
                    path,
                    size: *size,
                    cached,
                },
                false,
            );
            t += rng.uniform(0.01, 0.15);
        }
        cl.referer = "https://my.example.com/login".to_string();
        if login {
            t += rng.uniform(3.0, 20.0);
            if rng.chance(0.07) {
                self.emit(rng, t, &cl, &Req::Login { ok: false }, false);
                t += rng.uniform(5.0, 30.0);
            }
            self.emit(rng, t, &cl, &Req::Login { ok: true }, false);
            t += rng.uniform(0.3, 1.0);
        }
        cl.referer = "https://my.example.com/dashboard".to_string();
        self.emit(rng, t, &cl, &Req::Me, true);
        t += rng.uniform(0.05, 0.4);
        self.emit(rng, t, &cl, &Req::Customer(c.id), true);
        t += rng.uniform(0.05, 0.4);
        self.emit(
            rng,
            t,
            &cl,
            &Req::Account {
                id: self.w.acct_of(c.id),
                style: 1,
            },
            true,
        );
        let pages = rng.geometric(0.6, 7);
        for _ in 0..pages {
            t += rng.exp(35.0) + 2.0;
            match rng.below(8) {
                0..=2 => {
                    cl.referer = "https://my.example.com/billing".to_string();
                    self.emit(rng, t, &cl, &Req::Billing(c.id), true)
                }
                3..=4 => {
                    cl.referer = "https://my.example.com/usage".to_string();
                    let m = *rng.pick(&c.msisdns);
                    self.emit(
                        rng,
                        t,
                        &cl,
                        &Req::Usage {
                            msisdn: m,
                            plus: false,
                        },
                        true,
                    )
                }
                5 => {
                    cl.referer = "https://my.example.com/orders".to_string();
                    let pp = if rng.chance(0.7) { 20 } else { 50 };
                    self.emit(
                        rng,
                        t,
                        &cl,
                        &Req::Orders {
                            page: 1,
                            per_page: pp,
                        },
                        true,
                    );
                    if rng.chance(0.35) {
                        t += rng.uniform(3.0, 20.0);
                        self.emit(
                            rng,
                            t,
                            &cl,
                            &Req::Orders {
                                page: 2,
                                per_page: pp,
                            },
                            true,
                        );
                    }
                }
                6 => {
                    cl.referer = "https://my.example.com/profile".to_string();
                    self.emit(rng, t, &cl, &Req::Customer(c.id), true)
                }
                _ => {
                    cl.referer = "https://my.example.com/dashboard".to_string();
                    self.emit(rng, t, &cl, &Req::Me, true)
                }
            }
        }
        t
    }

    fn app_key(&self, ios: bool) -> String {
        if ios {
            self.ios_key.clone()
        } else {
            self.android_key.clone()
        }
    }

    // ------------------------------------------------------------ benign

    fn benign_all(&mut self) {
        let u = self.users();
        let mut r = self.rng("population-sizes");
        let n_cgnat = (u * r.uniform(0.45, 0.52)) as u64;
        let n_browser = (u * r.uniform(0.18, 0.23)) as u64;
        let n_v6 = (u * r.uniform(0.06, 0.09)) as u64;
        let n_token = (u * r.uniform(0.05, 0.07)) as u64;
        let n_mistype = (u * r.uniform(0.015, 0.025)) as u64;
        let n_family = ((u * r.uniform(0.008, 0.012)) as u64).max(3);
        let n_retry = ((u * r.uniform(0.0008, 0.0014)) as u64).max(4);
        let n_elig = (u * r.uniform(0.12, 0.17)) as u64;
        self.benign
            .insert((SHARED_KEY_POPULATION, self.ios_key.clone()));
        self.benign
            .insert((SHARED_KEY_POPULATION, self.android_key.clone()));
        self.pop_cgnat(n_cgnat);
        self.pop_browser(n_browser);
        self.pop_ipv6(n_v6);
        self.pop_token_resume(n_token);
        self.pop_mistype(n_mistype);
        self.pop_family(n_family);
        self.pop_retry_storm(n_retry);
        self.pop_eligibility(n_elig);
        self.pop_support_agents();
        self.pop_store_terminals();
        self.pop_healthcheck();
        self.pop_uptime();
        self.pop_crawler();
    }

    fn pop_cgnat(&mut self, n_users: u64) {
        let mut r = self.rng("cgnat");
        let per_nat = r.uniform(500.0, 1100.0) * f64::from(self.cfg.nat_multiplier.max(1));
        let n_nat = ((n_users as f64 / per_nat).round() as usize).max(2);
        let n_carriers = (r.range(2, 4) as usize).min(n_nat);
        let mut nats = Vec::new();
        let mut cum = Vec::new();
        let mut acc = 0.0;
        for _ in 0..n_nat {
            let ip = self.alloc_v4_in(&mut r, 100, 64, 127);
            let wgt = r.uniform(0.5, 2.0);
            acc += wgt;
            cum.push(acc);
            nats.push((ip, wgt));
        }
        let nat_labels: Vec<Label> = nats
            .iter()
            .map(|(ip, _)| self.benign_label("cgnat", ip.to_string()))
            .collect();
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            self.benign.insert(("cgnat", c.principal.clone()));
            let (ua, ios) = app_ua(&mut r);
            let key = self.app_key(ios);
            let home = r.weighted(&cum);
            let sessions = 1 + r.geometric(0.55, 9);
            for _ in 0..sessions {
                let t = self.consumer.sample(&mut r);
                let nat = if r.chance(0.8) {
                    home
                } else {
                    // another address of the same carrier pool
                    let carrier = home % n_carriers;
                    let k = (n_nat - carrier).div_ceil(n_carriers);
                    carrier + n_carriers * r.below(k as u64) as usize
                };
                let ip = nats[nat].0;
                let label = nat_labels[nat].clone();
                let cl = Client {
                    ip,
                    port: r.range(1024, 65536) as u16,
                    ua: ua.clone(),
                    principal: Some(c.principal.clone()),
                    key: Some(key.clone()),
                    referer: String::new(),
                    behind_lb: true,
                    label,
                };
                let login = r.chance(0.2);
                let stale = r.chance(0.04);
                self.app_session(&mut r, t, &cl, &c, login, stale);
            }
        }
        self.nats = nats;
    }

    fn pop_browser(&mut self, n_users: u64) {
        let mut r = self.rng("browser");
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("browser", ip.to_string());
            self.benign.insert(("browser", c.principal.clone()));
            let mut cl = Client {
                ip,
                port: 0,
                ua: browser_ua(&mut r),
                principal: Some(c.principal.clone()),
                key: None,
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let sessions = 1 + r.geometric(0.35, 4);
            for s in 0..sessions {
                cl.port = r.range(49152, 65536) as u16;
                let t = self.consumer.sample(&mut r);
                let login = s == 0 || r.chance(0.5);
                self.web_session(&mut r, t, &cl, &c, s == 0, login);
            }
        }
    }

    fn pop_ipv6(&mut self, n_users: u64) {
        let mut r = self.rng("ipv6");
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            let net = self.alloc_v6_net(&mut r);
            let addrs: Vec<IpAddr> = (0..1 + r.geometric(0.45, 3))
                .map(|_| Self::v6_addr(&mut r, net))
                .collect();
            let id = ipv6_prefix64(match &addrs[0] {
                IpAddr::V6(a) => a,
                IpAddr::V4(_) => unreachable!(),
            });
            let label = self.benign_label("ipv6", id);
            self.benign.insert(("ipv6", c.principal.clone()));
            let app = r.chance(0.6);
            let (ua, key) = if app {
                let (ua, ios) = app_ua(&mut r);
                (ua, Some(self.app_key(ios)))
            } else {
                (browser_ua(&mut r), None)
            };
            let sessions = 1 + r.geometric(0.5, 6);
            for s in 0..sessions {
                let cl = Client {
                    ip: *r.pick(&addrs),
                    port: r.range(32768, 61000) as u16,
                    ua: ua.clone(),
                    principal: Some(c.principal.clone()),
                    key: key.clone(),
                    referer: String::new(),
                    behind_lb: true,
                    label: label.clone(),
                };
                let t = self.consumer.sample(&mut r);
                if app {
                    let login = r.chance(0.2);
                    self.app_session(&mut r, t, &cl, &c, login, false);
                } else {
                    let login = s == 0 || r.chance(0.5);
                    self.web_session(&mut r, t, &cl, &c, s == 0, login);
                }
            }
        }
    }

    fn pop_token_resume(&mut self, n_users: u64) {
        let mut r = self.rng("token_resume");
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("token_resume", ip.to_string());
            self.benign.insert(("token_resume", c.principal.clone()));
            let (ua, ios) = app_ua(&mut r);
            let cl0 = Client {
                ip,
                port: 0,
                ua,
                principal: Some(c.principal.clone()),
                key: Some(self.app_key(ios)),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let sessions = 1 + r.geometric(0.5, 6);
            for _ in 0..sessions {
                let mut cl = cl0.clone();
                cl.port = r.range(1024, 65536) as u16;
                let t = self.consumer.sample(&mut r);
                self.app_session(&mut r, t, &cl, &c, false, false);
            }
        }
    }

    fn pop_mistype(&mut self, n_users: u64) {
        let mut r = self.rng("mistype");
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("mistype", ip.to_string());
            self.benign.insert(("mistype", c.principal.clone()));
            let mut cl = Client {
                ip,
                port: r.range(49152, 65536) as u16,
                ua: browser_ua(&mut r),
                principal: Some(c.principal.clone()),
                key: None,
                referer: "https://my.example.com/dashboard".to_string(),
                behind_lb: true,
                label,
            };
            let sessions = 1 + r.geometric(0.45, 3);
            let mut misses = 1 + r.below(3);
            for s in 0..sessions {
                let t = self.consumer.sample(&mut r);
                let mut t = self.web_session(&mut r, t, &cl, &c, s == 0, true);
                while misses > 0 && (s + 1 == sessions || r.chance(0.5)) {
                    misses -= 1;
                    t += r.uniform(5.0, 90.0);
                    cl.referer = "https://my.example.com/lookup".to_string();
                    match r.below(3) {
                        0 => {
                            // typo: two digits swapped / one digit off, not existing
                            let mut bad = c.id + 1 + r.below(9) * 10_u64.pow(r.below(5) as u32);
                            while self.w.cust_exists(bad) {
                                bad += 1;
                            }
                            self.emit(&mut r, t, &cl, &Req::Customer(bad), true);
                        }
                        1 => {
                            let old = self.w.missing_customer(&mut r);
                            self.emit(
                                &mut r,
                                t,
                                &cl,
                                &Req::Account {
                                    id: self.w.acct_of(old),
                                    style: 0,
                                },
                                true,
                            );
                        }
                        _ => {
                            let mut m = c.msisdns[0] + 1 + r.below(20);
                            while self.w.msisdn_exists(m) {
                                m += 1;
                            }
                            self.emit(
                                &mut r,
                                t,
                                &cl,
                                &Req::Usage {
                                    msisdn: m,
                                    plus: false,
                                },
                                true,
                            );
                        }
                    }
                    if r.chance(0.6) {
                        // then they correct it
                        t += r.uniform(4.0, 30.0);
                        self.emit(&mut r, t, &cl, &Req::Customer(c.id), true);
                    }
                }
            }
        }
    }

    fn pop_family(&mut self, n_fam: u64) {
        let mut r = self.rng("family");
        for _ in 0..n_fam {
            let n_lines = r.range(2, 6);
            let m0 = self.w.msisdn_run(&mut r, n_lines);
            let id0 = loop {
                let id = self.w.customer_run(&mut r, n_lines);
                if (id..id + n_lines).all(|i| !self.used_cust.contains(&i)) {
                    break id;
                }
            };
            for i in id0..id0 + n_lines {
                self.used_cust.insert(i);
            }
            let principal = format!("usr_{}", r.hex(10));
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("family", ip.to_string());
            self.benign.insert(("family", principal.clone()));
            let (ua, ios) = app_ua(&mut r);
            let mut cl = Client {
                ip,
                port: r.range(1024, 65536) as u16,
                ua,
                principal: Some(principal),
                key: Some(self.app_key(ios)),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let plus = r.chance(0.15);
            let wake = r.uniform(6.0, 8.5) * 3600.0;
            let sleep = r.uniform(21.5, 23.9) * 3600.0;
            let interval = r.uniform(900.0, 3000.0);
            let mut t = wake + r.uniform(0.0, interval);
            self.emit(&mut r, t - 2.0, &cl, &Req::Login { ok: true }, false);
            while t < sleep {
                for k in 0..n_lines {
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Usage {
                            msisdn: m0 + k,
                            plus,
                        },
                        true,
                    );
                    t += r.uniform(0.03, 0.4);
                }
                t += interval * r.uniform(0.9, 1.1);
                if r.chance(0.1) {
                    cl.port = r.range(1024, 65536) as u16;
                }
            }
            // owner looks at the members' accounts a few times a day
            let views = 1 + r.below(4);
            for _ in 0..views {
                let mut t = r.uniform(wake, sleep);
                self.emit(&mut r, t, &cl, &Req::Me, true);
                for k in 0..n_lines {
                    t += r.uniform(1.0, 8.0);
                    if r.chance(0.5) {
                        self.emit(
                            &mut r,
                            t,
                            &cl,
                            &Req::Account {
                                id: self.w.acct_of(id0 + k),
                                style: 0,
                            },
                            true,
                        );
                    } else {
                        self.emit(&mut r, t, &cl, &Req::Customer(id0 + k), true);
                    }
                }
                if r.chance(0.4) {
                    t += r.uniform(2.0, 10.0);
                    self.emit(&mut r, t, &cl, &Req::Billing(id0), true);
                }
            }
        }
    }

    fn pop_retry_storm(&mut self, n_users: u64) {
        let mut r = self.rng("retry_storm");
        for _ in 0..n_users {
            let c = self.new_cust(&mut r);
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("retry_storm", ip.to_string());
            self.benign.insert(("retry_storm", c.principal.clone()));
            let (ua, ios) = app_ua(&mut r);
            let cl = Client {
                ip,
                port: r.range(1024, 65536) as u16,
                ua,
                principal: Some(c.principal.clone()),
                key: Some(self.app_key(ios)),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            for _ in 0..1 + r.geometric(0.5, 3) {
                let t = self.consumer.sample(&mut r);
                self.app_session(&mut r, t, &cl, &c, false, false);
            }
            for _ in 0..1 + r.geometric(0.4, 2) {
                let mut t = self.consumer.sample(&mut r);
                let n = r.range(30, 110);
                let which = r.below(3);
                let fail_until = n * r.range(40, 90) / 100;
                for i in 0..n {
                    let req = match which {
                        0 => Req::Customer(c.id),
                        1 => Req::Usage {
                            msisdn: c.msisdns[0],
                            plus: c.plus,
                        },
                        _ => Req::Me,
                    };
                    let mut resp = self.respond(&mut r, &req);
                    if i < fail_until && r.chance(0.85) {
                        resp.status = *r.pick(&[503, 503, 504, 502]);
                        resp.bytes = 160;
                        resp.dur_us = if resp.status == 504 {
                            10_000_000
                        } else {
                            r.range(800, 4000)
                        };
                    }
                    if t < DAY {
                        self.push(t, &cl, resp, true);
                    }
                    t += r.uniform(0.3, 2.5);
                }
            }
        }
    }

    fn pop_eligibility(&mut self, n: u64) {
        let mut r = self.rng("eligibility");
        for _ in 0..n {
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            let label = self.benign_label("eligibility", ip.to_string());
            let cl = Client {
                ip,
                port: r.range(49152, 65536) as u16,
                ua: browser_ua(&mut r),
                principal: None,
                key: None,
                referer: "https://www.example.com/switch".to_string(),
                behind_lb: true,
                label,
            };
            let mut t = self.consumer.sample(&mut r);
            let numbers = 1 + r.geometric(0.12, 2);
            for _ in 0..numbers {
                let prefix = *r.pick(&["4474", "4475", "4478", "4479", "4473"]);
                let num = format!("{prefix}{:08}", r.below(100_000_000));
                if r.chance(0.05) {
                    // typo'd number, too short
                    let bad = num[..num.len() - 1].to_string();
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Eligibility {
                            msisdn: bad,
                            valid: false,
                        },
                        false,
                    );
                    t += r.uniform(5.0, 25.0);
                }
                let shown = if r.chance(0.2) {
                    format!("%2B{num}")
                } else {
                    num
                };
                self.emit(
                    &mut r,
                    t,
                    &cl,
                    &Req::Eligibility {
                        msisdn: shown.clone(),
                        valid: true,
                    },
                    false,
                );
                if r.chance(0.25) {
                    t += r.uniform(1.0, 40.0);
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Eligibility {
                            msisdn: shown,
                            valid: true,
                        },
                        false,
                    );
                }
                t += r.uniform(10.0, 120.0);
            }
        }
    }

    fn search_query(&self, rng: &mut Rng, cust: u64) -> String {
        match rng.below(10) {
            0..=3 => rng.pick(&SURNAMES).to_string(),
            4..=5 => format!("{}+{}", rng.pick(&FIRSTNAMES), rng.pick(&SURNAMES)),
            6 => format!(
                "{}{}+{}{}{}",
                rng.pick(&["SW", "N", "E", "M", "B", "LS", "G", "EH"]),
                rng.range(1, 20),
                rng.range(1, 10),
                (b'A' + rng.below(26) as u8) as char,
                (b'A' + rng.below(26) as u8) as char
            ),
            7 => format!("07700{}", 900_000 + rng.below(100_000)),
            8 => format!("{cust}"),
            _ => format!("{}&limit=20", rng.pick(&SURNAMES)),
        }
    }

    fn pop_support_agents(&mut self) {
        let mut r = self.rng("support_agent");
        let n_agents = r.range(12, 19);
        let n_offices = r.range(2, 4);
        let offices: Vec<IpAddr> = (0..n_offices)
            .map(|_| self.alloc_v4_c(&mut r, 203, 0, 113))
            .collect();
        for o in &offices {
            self.benign.insert(("support_agent", o.to_string()));
        }
        let crm_key = format!("ak_crm_{}", r.hex(20));
        self.benign.insert(("support_agent", crm_key.clone()));
        for a in 0..n_agents {
            let principal = format!("agent-{:02}", a + 1);
            let label = self.benign_label("support_agent", principal.clone());
            let ip = *r.pick(&offices);
            let mut cl = Client {
                ip,
                port: r.range(49152, 65536) as u16,
                ua: browser_ua(&mut r),
                principal: Some(principal),
                key: Some(crm_key.clone()),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let shift_start =
                *r.pick(&[7.0, 8.0, 8.0, 9.0, 9.0, 10.0, 12.0]) * 3600.0 + r.uniform(-600.0, 900.0);
            let shift_len = r.uniform(7.5, 8.5) * 3600.0;
            let lunch_at = shift_start + r.uniform(3.5, 4.5) * 3600.0;
            let lunch_len = r.uniform(1800.0, 3600.0);
            let n_cust = r.range(200, 420);
            let gap = (shift_len - lunch_len) / n_cust as f64;
            let mut t = shift_start;
            self.emit(&mut r, t, &cl, &Req::Login { ok: true }, false);
            for _ in 0..n_cust {
                t += r.exp(gap * 0.8) + gap * 0.2;
                if t > lunch_at && t < lunch_at + lunch_len {
                    t = lunch_at + lunch_len;
                }
                let case = r.range(100_000, 999_999);
                cl.referer = format!("https://crm.example.internal/case/{case}");
                let cust = if r.chance(0.02) {
                    self.w.missing_customer(&mut r)
                } else {
                    self.w.any_customer(&mut r)
                };
                for _ in 0..1 + r.geometric(0.25, 2) {
                    let q = self.search_query(&mut r, cust);
                    self.emit(&mut r, t, &cl, &Req::Search(q), true);
                    t += r.uniform(3.0, 25.0);
                }
                self.emit(&mut r, t, &cl, &Req::Customer(cust), true);
                t += r.uniform(2.0, 40.0);
                if r.chance(0.65) {
                    self.emit(&mut r, t, &cl, &Req::Billing(cust), true);
                    t += r.uniform(5.0, 60.0);
                }
                if r.chance(0.3) {
                    let m = self.w.any_msisdn(&mut r);
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Usage {
                            msisdn: m,
                            plus: false,
                        },
                        true,
                    );
                    t += r.uniform(5.0, 40.0);
                }
                if r.chance(0.1) {
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Account {
                            id: self.w.acct_of(cust),
                            style: 0,
                        },
                        true,
                    );
                }
            }
        }
    }

    fn pop_store_terminals(&mut self) {
        let mut r = self.rng("store_terminal");
        let n_stores = r.range(30, 61);
        let pos_key = format!("ak_pos_{}", r.hex(20));
        self.benign.insert(("store_terminal", pos_key.clone()));
        let ver = format!("{}.{}.{}", r.range(3, 5), r.range(0, 10), r.range(0, 20));
        for s in 0..n_stores {
            let principal = format!("store-{:02}", s + 1);
            let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
            self.benign.insert(("store_terminal", ip.to_string()));
            let label = self.benign_label("store_terminal", principal.clone());
            let cl = Client {
                ip,
                port: r.range(49152, 65536) as u16,
                ua: format!("StorePOS/{ver} (Windows NT 10.0; Win64; x64) Electron/29.1.0"),
                principal: Some(principal),
                key: Some(pos_key.clone()),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let (open, close) = if r.chance(0.6) {
                (9.0, 17.5)
            } else {
                (10.0, 20.0)
            };
            let n = r.range(50, 151);
            let t0 = open * 3600.0 - r.uniform(60.0, 900.0);
            self.emit(&mut r, t0, &cl, &Req::Login { ok: true }, false);
            let mut times: Vec<f64> = (0..n).map(|_| r.uniform(open, close) * 3600.0).collect();
            times.sort_by(f64::total_cmp);
            for mut t in times {
                let cust = self.w.any_customer(&mut r);
                let q = self.search_query(&mut r, cust);
                self.emit(&mut r, t, &cl, &Req::Search(q), true);
                t += r.uniform(4.0, 30.0);
                self.emit(&mut r, t, &cl, &Req::Customer(cust), true);
                t += r.uniform(5.0, 60.0);
                if r.chance(0.5) {
                    self.emit(&mut r, t, &cl, &Req::Billing(cust), true);
                    t += r.uniform(5.0, 60.0);
                }
                if r.chance(0.2) {
                    let m = format!("{}", self.w.any_msisdn(&mut r));
                    self.emit(
                        &mut r,
                        t,
                        &cl,
                        &Req::Eligibility {
                            msisdn: m,
                            valid: true,
                        },
                        true,
                    );
                    t += r.uniform(5.0, 30.0);
                }
                if r.chance(0.1) {
                    let uuid = self.w.device_uuid(r.below(self.w.dev_n));
                    self.emit(&mut r, t, &cl, &Req::Device { uuid, exists: true }, true);
                }
            }
        }
    }

    fn pop_healthcheck(&mut self) {
        let mut r = self.rng("healthcheck");
        let n = r.range(2, 4);
        for _ in 0..n {
            let c = r.range(0, 4) as u8;
            let ip = self.alloc_v4_c(&mut r, 10, 0, c);
            let label = self.benign_label("healthcheck", ip.to_string());
            let cl = Client {
                ip,
                port: r.range(30000, 60000) as u16,
                ua: "ELB-HealthChecker/2.0".to_string(),
                principal: None,
                key: None,
                referer: String::new(),
                behind_lb: false,
                label,
            };
            let mut t = r.uniform(0.0, 10.0);
            while t < DAY {
                let mut resp = self.respond(&mut r, &Req::Health);
                if r.chance(0.0002) {
                    resp.status = 503;
                    resp.bytes = 19;
                }
                self.push(t, &cl, resp, false);
                t += 10.0 + r.uniform(-0.02, 0.02);
            }
        }
    }

    fn pop_uptime(&mut self) {
        let mut r = self.rng("uptime_monitor");
        let n_ips = r.range(1, 3);
        let ips: Vec<IpAddr> = (0..n_ips)
            .map(|_| self.alloc_v4(&mut r, &DATACENTER))
            .collect();
        let key = format!("ak_mon_{}", r.hex(16));
        self.benign.insert(("uptime_monitor", key.clone()));
        self.benign
            .insert(("uptime_monitor", "svc-uptime".to_string()));
        let cust = self.w.any_customer(&mut r);
        let ua = if r.chance(0.5) {
            "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)".to_string()
        } else {
            "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)".to_string()
        };
        let labels: Vec<Label> = ips
            .iter()
            .map(|ip| self.benign_label("uptime_monitor", ip.to_string()))
            .collect();
        let mut t = r.uniform(0.0, 60.0);
        let mut i = 0usize;
        while t < DAY {
            let ip = ips[i % ips.len()];
            let label = labels[i % ips.len()].clone();
            let cl = Client {
                ip,
                port: r.range(32768, 61000) as u16,
                ua: ua.clone(),
                principal: Some("svc-uptime".to_string()),
                key: Some(key.clone()),
                referer: String::new(),
                behind_lb: true,
                label,
            };
            self.emit(&mut r, t, &cl, &Req::Customer(cust), true);
            t += 60.0 + r.uniform(-0.3, 0.3);
            i += 1;
        }
    }

    fn pop_crawler(&mut self) {
        let mut r = self.rng("crawler");
        let mut bots: Vec<(IpAddr, &'static str)> = Vec::new();
        for _ in 0..r.range(2, 5) {
            let c = r.range(64, 80) as u8;
            let ip = self.alloc_v4_c(&mut r, 66, 249, c);
            bots.push((
                ip,
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ));
        }
        for _ in 0..r.range(1, 4) {
            let ip = self.alloc_v4_c(&mut r, 157, 55, 39);
            bots.push((
                ip,
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            ));
        }
        let n = r.range(1500, 3200);
        let labels: Vec<Label> = bots
            .iter()
            .map(|(ip, _)| self.benign_label("crawler", ip.to_string()))
            .collect();
        for _ in 0..n {
            let b = r.below(bots.len() as u64) as usize;
            let (ip, ua) = bots[b];
            let label = labels[b].clone();
            let cl = Client {
                ip,
                port: r.range(32768, 61000) as u16,
                ua: ua.to_string(),
                principal: None,
                key: None,
                referer: String::new(),
                behind_lb: true,
                label,
            };
            let t = r.uniform(0.0, DAY);
            if r.chance(0.02) {
                self.emit(&mut r, t, &cl, &Req::Robots, false);
            } else {
                let page = *r.pick(&DOCS_PAGES);
                self.emit(&mut r, t, &cl, &Req::Docs(page), false);
            }
        }
    }

    // ------------------------------------------------------------ attacks

    fn attack_client(&self, ip: IpAddr, ua: String, family: &'static str, actor: String) -> Client {
        Client {
            ip,
            port: 0,
            ua,
            principal: None,
            key: None,
            referer: String::new(),
            behind_lb: true,
            label: Label::Attack { family, actor },
        }
    }

    fn register(&mut self, family: &'static str, actors: Vec<String>) {
        self.fam_actors.push((family, actors));
    }

    /// Random start of a window of `len` seconds inside [lo_h, hi_h] hours.
    fn window(rng: &mut Rng, lo_h: f64, hi_h: f64, len: f64) -> f64 {
        let lo = lo_h * 3600.0;
        let hi = (hi_h * 3600.0 - len).max(lo);
        rng.uniform(lo, hi)
    }

    fn attacks_all(&mut self) {
        self.fast_walk();
        self.random_probe();
        self.query_sweep();
        self.msisdn_sweep();
        self.uuid_harvest();
        self.shuffled_block();
        self.ipv6_rotation();
        self.slow_sweep();
        self.low_and_slow_apikey();
        self.distributed_sweep();
        self.distributed_day();
        self.bola();
        self.pagination_harvest();
        self.credential_stuffing();
        self.nat_sweep();
        self.partner_sync();
        self.reconciliation();
    }

    fn script_ua(rng: &mut Rng) -> String {
        rng.pick(&[
            "python-requests/2.31.0",
            "python-requests/2.32.3",
            "Go-http-client/1.1",
            "curl/8.5.0",
            "axios/1.6.7",
            "Java/17.0.9",
            "python-httpx/0.27.0",
            "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        ])
        .to_string()
    }

    fn fast_walk(&mut self) {
        let mut r = self.rng("fast_walk");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = Self::script_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "fast_walk", ip.to_string());
        let rate = r.uniform(5.0, 20.0);
        let dur = r.uniform(150.0, 420.0);
        let start = Self::window(&mut r, 0.5, 23.5, dur);
        let mut id = r.range(self.w.cust_lo, self.w.cust_hi - 10_000);
        let mut t = start;
        cl.port = r.range(32768, 61000) as u16;
        while t < start + dur {
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            id += 1;
            t += r.exp(1.0 / rate);
            if r.chance(0.01) {
                cl.port = r.range(32768, 61000) as u16;
            }
        }
        self.register("fast_walk", vec![ip.to_string()]);
    }

    fn random_probe(&mut self) {
        let mut r = self.rng("random_probe");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = r
            .pick(&[
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Fuzz Faster U Fool v2.1.0-dev",
                "python-httpx/0.27.0",
                "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
            ])
            .to_string();
        let mut cl = self.attack_client(ip, ua, "random_probe", ip.to_string());
        cl.port = r.range(32768, 61000) as u16;
        let rate = r.uniform(1.0, 4.0);
        let dur = r.uniform(600.0, 2100.0);
        let start = Self::window(&mut r, 0.2, 23.8, dur);
        let mut t = start;
        while t < start + dur {
            let id = r.range(1_000_000, 10_000_000);
            if r.chance(0.1) {
                self.emit(&mut r, t, &cl, &Req::Billing(id), false);
            } else {
                self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            }
            t += r.exp(1.0 / rate);
        }
        self.register("random_probe", vec![ip.to_string()]);
    }

    fn query_sweep(&mut self) {
        let mut r = self.rng("query_sweep");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = Self::script_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "query_sweep", ip.to_string());
        cl.port = r.range(32768, 61000) as u16;
        let style = r.below(4) as u8;
        let rate = r.uniform(1.5, 4.0);
        let dur = r.uniform(600.0, 1500.0);
        let start = Self::window(&mut r, 0.5, 23.5, dur);
        let mut id = self
            .w
            .acct_of(r.range(self.w.cust_lo, self.w.cust_hi - 10_000));
        let mut t = start;
        while t < start + dur {
            self.emit(&mut r, t, &cl, &Req::Account { id, style }, false);
            id += 1;
            t += r.exp(1.0 / rate);
        }
        self.register("query_sweep", vec![ip.to_string()]);
    }

    fn msisdn_sweep(&mut self) {
        let mut r = self.rng("msisdn_sweep");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = Self::script_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "msisdn_sweep", ip.to_string());
        cl.port = r.range(32768, 61000) as u16;
        let plus = r.chance(0.3);
        let rate = r.uniform(1.0, 4.0);
        let dur = r.uniform(900.0, 1800.0);
        let start = Self::window(&mut r, 0.5, 23.5, dur);
        let mut m = self.w.msisdn_base + r.below(self.w.msisdn_n - 10_000);
        let mut t = start;
        while t < start + dur {
            self.emit(&mut r, t, &cl, &Req::Usage { msisdn: m, plus }, false);
            m += 1;
            t += r.exp(1.0 / rate);
        }
        self.register("msisdn_sweep", vec![ip.to_string()]);
    }

    fn uuid_harvest(&mut self) {
        let mut r = self.rng("uuid_harvest");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = Self::script_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "uuid_harvest", ip.to_string());
        cl.port = r.range(32768, 61000) as u16;
        let rate = r.uniform(2.0, 6.0);
        let dur = r.uniform(500.0, 1100.0);
        let start = Self::window(&mut r, 0.5, 23.5, dur);
        let stale = r.uniform(0.02, 0.08);
        let mut t = start;
        while t < start + dur {
            let (uuid, exists) = if r.chance(stale) {
                (uuid_from(r.next_u64(), r.next_u64()), false)
            } else {
                (self.w.device_uuid(r.below(self.w.dev_n)), true)
            };
            self.emit(&mut r, t, &cl, &Req::Device { uuid, exists }, false);
            t += r.exp(1.0 / rate);
        }
        self.register("uuid_harvest", vec![ip.to_string()]);
    }

    fn shuffled_block(&mut self) {
        let mut r = self.rng("shuffled_block");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let mut cl = self.attack_client(ip, String::new(), "shuffled_block", ip.to_string());
        let block = r.range(1800, 2400);
        let lo = r.range(self.w.cust_lo, self.w.cust_hi - block);
        let mut ids: Vec<u64> = (lo..lo + block)
            .filter(|&i| self.w.cust_exists(i))
            .collect();
        r.shuffle(&mut ids);
        let rate = r.uniform(1.0, 3.0);
        let dur = ids.len() as f64 / rate;
        let start = Self::window(&mut r, 0.5, 23.5, dur * 1.2);
        let mut seen = HashSet::new();
        let mut t = start;
        for id in ids {
            let ua = loop {
                let ua = fake_ua(&mut r);
                if seen.insert(ua.clone()) {
                    break ua;
                }
            };
            cl.ua = ua;
            cl.port = r.range(32768, 61000) as u16;
            cl.referer = if r.chance(0.5) {
                "https://my.example.com/".to_string()
            } else {
                String::new()
            };
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            t += r.exp(1.0 / rate);
        }
        self.register("shuffled_block", vec![ip.to_string()]);
    }

    fn ipv6_rotation(&mut self) {
        let mut r = self.rng("ipv6_rotation");
        let net = self.alloc_v6_net(&mut r);
        let probe = Self::v6_addr(&mut r, net);
        let actor = client_key(&probe);
        let ua = Self::script_ua(&mut r);
        let mut cl = self.attack_client(probe, ua, "ipv6_rotation", actor.clone());
        let rate = r.uniform(2.0, 6.0);
        let dur = r.uniform(300.0, 800.0);
        let start = Self::window(&mut r, 0.5, 23.5, dur);
        let mut id = r.range(self.w.cust_lo, self.w.cust_hi - 10_000);
        let mut t = start;
        while t < start + dur {
            cl.ip = Self::v6_addr(&mut r, net);
            cl.port = r.range(32768, 61000) as u16;
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            id += 1;
            t += r.exp(1.0 / rate);
        }
        self.register("ipv6_rotation", vec![actor]);
    }

    fn slow_sweep(&mut self) {
        let mut r = self.rng("slow_sweep");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = browser_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "slow_sweep", ip.to_string());
        let per_hour = r.uniform(80.0, 120.0);
        let dur = r.uniform(16.0, 20.0) * 3600.0;
        let start = Self::window(&mut r, 0.0, 24.0, dur);
        let mut id = r.range(self.w.cust_lo, self.w.cust_hi - 10_000);
        let mut t = start;
        while t < start + dur {
            cl.port = r.range(32768, 61000) as u16;
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            id += if r.chance(0.8) { 1 } else { r.range(2, 4) };
            t += r.exp(3600.0 / per_hour);
        }
        self.register("slow_sweep", vec![ip.to_string()]);
    }

    fn low_and_slow_apikey(&mut self) {
        let mut r = self.rng("low_and_slow_apikey");
        let key = format!("ak_live_{}", r.hex(24));
        let n_ips = r.range(3, 6);
        let ips: Vec<IpAddr> = (0..n_ips)
            .map(|_| self.alloc_v4(&mut r, &RESIDENTIAL))
            .collect();
        let mut cl = self.attack_client(ips[0], String::new(), "low_and_slow_apikey", key.clone());
        cl.key = Some(key.clone());
        let per_hour = r.uniform(60.0, 120.0);
        let dur = r.uniform(10.0, 16.0) * 3600.0;
        let start = Self::window(&mut r, 1.0, 24.0, dur);
        let mut id = r.range(self.w.cust_lo, self.w.cust_hi - 10_000);
        let mut t = start;
        while t < start + dur {
            let hour = ((t - start) / 3600.0) as usize;
            cl.ip = ips[(hour + usize::from(r.chance(0.15))) % ips.len()];
            cl.ua = fake_ua(&mut r);
            cl.port = r.range(49152, 65536) as u16;
            cl.referer = "https://my.example.com/account".to_string();
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            id += if r.chance(0.85) { 1 } else { 2 };
            t += r.exp(3600.0 / per_hour);
        }
        let mut actors = vec![key];
        actors.extend(ips.iter().map(|i| i.to_string()));
        self.register("low_and_slow_apikey", actors);
    }

    /// Spread a contiguous walk over many addresses: each address does
    /// `per_addr` lookups in a short burst at a random moment of the window;
    /// ids are handed out in time order.
    fn distributed(
        &mut self,
        family: &'static str,
        n_addr: u64,
        per_addr: (u64, u64),
        start: f64,
        len: f64,
    ) {
        let mut r = self.rng(family);
        let mut reqs: Vec<(f64, usize)> = Vec::new();
        let mut clients = Vec::new();
        for a in 0..n_addr as usize {
            let ip = self.alloc_v4(&mut r, &PROXY_POOL);
            let mut cl = self.attack_client(ip, fake_ua(&mut r), family, ip.to_string());
            cl.port = r.range(1024, 65536) as u16;
            clients.push(cl);
            let k = r.range(per_addr.0, per_addr.1 + 1);
            let mut t = start + r.uniform(0.0, len);
            for _ in 0..k {
                reqs.push((t, a));
                t += r.uniform(0.5, 12.0);
            }
        }
        reqs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let first = r.range(self.w.cust_lo, self.w.cust_hi - 20_000);
        let billing = r.chance(0.3);
        for (id, (t, a)) in (first..).zip(reqs) {
            let cl = clients[a].clone();
            let req = if billing {
                Req::Billing(id)
            } else {
                Req::Customer(id)
            };
            self.emit(&mut r, t, &cl, &req, false);
        }
        let actors = clients.iter().map(|c| c.ip.to_string()).collect();
        self.register(family, actors);
    }

    fn distributed_sweep(&mut self) {
        let mut r = self.rng("distributed_sweep/plan");
        let n = r.range(300, 501);
        let len = r.uniform(1800.0, 3300.0);
        let start = Self::window(&mut r, 0.5, 23.5, len + 60.0);
        self.distributed("distributed_sweep", n, (1, 5), start, len);
    }

    fn distributed_day(&mut self) {
        let mut r = self.rng("distributed_day/plan");
        let n = r.range(2000, 4001);
        let start = r.uniform(0.0, 1800.0);
        let end = DAY - r.uniform(120.0, 1800.0);
        self.distributed("distributed_day", n, (1, 3), start, end - start);
    }

    fn bola(&mut self) {
        let mut r = self.rng("bola");
        let c = self.new_cust(&mut r);
        let ip = self.alloc_v4(&mut r, &RESIDENTIAL);
        let (ua, ios) = app_ua(&mut r);
        let mut cl = self.attack_client(ip, ua, "bola", c.principal.clone());
        cl.principal = Some(c.principal.clone());
        cl.key = Some(self.app_key(ios));
        cl.port = r.range(1024, 65536) as u16;
        let rate = r.uniform(1.0, 3.0);
        let dur = r.uniform(600.0, 1200.0);
        let start = Self::window(&mut r, 1.0, 23.5, dur + 30.0);
        let mut t = self.app_session(&mut r, start, &cl, &c, true, false);
        let end = t + dur;
        let mut id = c.id.saturating_sub(r.range(0, 3000)).max(self.w.cust_lo);
        let billing_p = r.uniform(0.3, 0.7);
        while t < end {
            t += r.exp(1.0 / rate);
            if id != c.id {
                if r.chance(billing_p) {
                    self.emit(&mut r, t, &cl, &Req::Billing(id), true);
                } else {
                    self.emit(&mut r, t, &cl, &Req::Customer(id), true);
                }
            }
            id += 1;
        }
        self.register("bola", vec![c.principal.clone(), ip.to_string()]);
    }

    fn pagination_harvest(&mut self) {
        let mut r = self.rng("pagination_harvest");
        let ip = self.alloc_v4(&mut r, &DATACENTER);
        let ua = Self::script_ua(&mut r);
        let principal = format!("usr_{}", r.hex(10));
        let mut cl = self.attack_client(ip, ua, "pagination_harvest", ip.to_string());
        cl.principal = Some(principal.clone());
        cl.port = r.range(32768, 61000) as u16;
        let last = r.range(520, 900) as u32;
        let rate = r.uniform(0.5, 2.0);
        let dur = f64::from(last) / rate;
        let start = Self::window(&mut r, 0.5, 23.5, dur * 1.3);
        let mut t = start;
        self.emit(&mut r, t - 1.5, &cl, &Req::Login { ok: true }, false);
        for page in 1..=last {
            self.emit(&mut r, t, &cl, &Req::Orders { page, per_page: 20 }, true);
            t += r.exp(1.0 / rate);
        }
        self.register("pagination_harvest", vec![ip.to_string(), principal]);
    }

    fn credential_stuffing(&mut self) {
        let mut r = self.rng("credential_stuffing");
        let n = r.range(200, 401);
        let len = r.uniform(480.0, 720.0);
        let start = Self::window(&mut r, 0.5, 23.5, len + 60.0);
        let uas: Vec<String> = (0..r.range(3, 8)).map(|_| fake_ua(&mut r)).collect();
        let success = r.uniform(0.005, 0.02);
        let mut actors = Vec::new();
        for _ in 0..n {
            let ip = if r.chance(0.7) {
                self.alloc_v4(&mut r, &PROXY_POOL)
            } else {
                self.alloc_v4(&mut r, &DATACENTER)
            };
            let mut cl = self.attack_client(
                ip,
                r.pick(&uas).clone(),
                "credential_stuffing",
                ip.to_string(),
            );
            cl.port = r.range(1024, 65536) as u16;
            cl.referer = if r.chance(0.5) {
                "https://my.example.com/login".to_string()
            } else {
                String::new()
            };
            let k = r.range(1, 9);
            let mut t = start + r.uniform(0.0, len);
            for _ in 0..k {
                let ok = r.chance(success);
                self.emit(&mut r, t, &cl, &Req::Login { ok }, false);
                t += r.uniform(0.5, 8.0);
            }
            actors.push(ip.to_string());
        }
        self.register("credential_stuffing", actors);
    }

    fn nat_sweep(&mut self) {
        let mut r = self.rng("nat_sweep");
        // the busiest carrier NAT address
        let ip = self
            .nats
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|x| x.0)
            .expect("cgnat generated first");
        let ua = format!("okhttp/{}", r.pick(&["4.9.3", "4.10.0", "3.14.9"]));
        let mut cl = self.attack_client(ip, ua, "nat_sweep", ip.to_string());
        cl.key = Some(self.android_key.clone());
        let rate = r.uniform(1.0, 4.0);
        let dur = r.uniform(900.0, 2400.0);
        let start = Self::window(&mut r, 10.0, 20.5, dur);
        let mut id = r.range(self.w.cust_lo, self.w.cust_hi - 10_000);
        let mut t = start;
        while t < start + dur {
            cl.port = r.range(1024, 65536) as u16;
            self.emit(&mut r, t, &cl, &Req::Customer(id), false);
            id += 1;
            t += r.exp(1.0 / rate);
        }
        self.register("nat_sweep", vec![ip.to_string()]);
    }

    fn partner_sync(&mut self) {
        let mut r = self.rng("partner_sync");
        let name = *r.pick(&["acmemvno", "northwind", "bluejay", "contoso"]);
        let key = format!("partner-{name}-{}", r.hex(12));
        let ips: Vec<IpAddr> = (0..2)
            .map(|_| self.alloc_v4_c(&mut r, 198, 51, 100))
            .collect();
        let n = r.range(3000, 8001);
        let lo = r.range(self.w.cust_lo, self.w.cust_hi - 3 * n);
        let mut ids = Vec::with_capacity(n as usize);
        let mut id = lo;
        while (ids.len() as u64) < n {
            if self.w.cust_exists(id) && r.chance(0.7) {
                ids.push(id);
            }
            id += 1;
        }
        let rate = r.uniform(2.0, 5.0);
        let start = Self::window(&mut r, 0.5, 3.0, 0.0);
        let ua = format!(
            "{}Sync/2.{}.{} (+https://{name}.example.net/sync)",
            name,
            r.range(0, 9),
            r.range(0, 9)
        );
        // two workers, each taking half of the list
        let half = ids.len() / 2;
        for (w, chunk) in [&ids[..half], &ids[half..]].into_iter().enumerate() {
            let mut cl = self.attack_client(ips[w], ua.clone(), "partner_sync", key.clone());
            cl.key = Some(key.clone());
            cl.port = r.range(32768, 61000) as u16;
            let mut t = start + r.uniform(0.0, 5.0);
            for &id in chunk {
                self.emit(&mut r, t, &cl, &Req::Customer(id), false);
                t += r.exp(2.0 / rate);
            }
        }
        self.register(
            "partner_sync",
            vec![key, ips[0].to_string(), ips[1].to_string()],
        );
    }

    fn reconciliation(&mut self) {
        let mut r = self.rng("reconciliation");
        let c = r.range(0, 8) as u8;
        let ip = self.alloc_v4_c(&mut r, 10, 20, c);
        let mut cl = self.attack_client(
            ip,
            "recon-job/1.4.2 (Java/17.0.10)".to_string(),
            "reconciliation",
            ip.to_string(),
        );
        cl.principal = Some("svc-recon".to_string());
        cl.behind_lb = false;
        cl.port = r.range(32768, 61000) as u16;
        let n = r.range(2000, 6001);
        let rate = r.uniform(2.0, 6.0);
        let dur = n as f64 / rate;
        let start = if r.chance(0.6) {
            Self::window(&mut r, 1.0, 5.5, dur * 1.2)
        } else {
            Self::window(&mut r, 20.5, 23.9, dur * 1.2)
        };
        let first = self.w.acct_of(r.range(self.w.cust_lo, self.w.cust_hi - n));
        let mut t = start;
        for acct in first..first + n {
            self.emit(&mut r, t, &cl, &Req::Account { id: acct, style: 0 }, true);
            t += r.exp(1.0 / rate);
        }
        self.register(
            "reconciliation",
            vec![ip.to_string(), "svc-recon".to_string()],
        );
    }

    // ------------------------------------------------------------ finish

    fn finish(mut self) -> (Vec<Event>, Truth) {
        let mut r = self.rng("gateway-interleave");
        let p = r.uniform(0.005, 0.015);
        let events = std::mem::take(&mut self.events);
        // several gateways append to one file: a few lines land up to 3 s early/late
        let mut keys: Vec<(i64, i64, u32)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let k = if r.chance(p) {
                    e.ts_micros + r.range(0, 3_000_001) as i64 - 1_500_000
                } else {
                    e.ts_micros
                };
                (k, e.ts_micros, i as u32)
            })
            .collect();
        keys.sort_unstable();
        let mut slots: Vec<Option<Event>> = events.into_iter().map(Some).collect();
        let events: Vec<Event> = keys
            .iter()
            .map(|k| slots[k.2 as usize].take().expect("each index once"))
            .collect();
        drop(slots);

        let mut families = Vec::new();
        for fam in ATTACK_FAMILIES {
            let mut lo = i64::MAX;
            let mut hi = i64::MIN;
            for e in &events {
                if e.label.family() == Some(fam) {
                    lo = lo.min(e.ts_micros);
                    hi = hi.max(e.ts_micros);
                }
            }
            let actors = self
                .fam_actors
                .iter()
                .find(|(f, _)| *f == fam)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
            families.push(FamilyTruth {
                family: fam,
                start_micros: lo,
                end_micros: hi,
                actors,
                must_alert: true,
            });
        }
        let truth = Truth {
            families,
            benign_identities: std::mem::take(&mut self.benign).into_iter().collect(),
        };
        (events, truth)
    }
}

// ===================================================================== render

fn esc_nginx(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\x22"),
            b'\\' => out.push_str("\\x5C"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
}

fn esc_backslash(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
}

fn esc_json(out: &mut String, s: &str, html: bool) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn esc_haproxy(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'"' | b'#' | b'{' | b'}' | b'|' => {
                let _ = write!(out, "#{b:02X}");
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "#{b:02X}");
            }
        }
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn rid_num(ev: &Event, k: u64) -> u64 {
    let v = u64::from_str_radix(ev.request_id.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    hash2(v, k)
}

fn uuid_of(rid: &str) -> String {
    if rid.len() >= 32 {
        format!(
            "{}-{}-{}-{}-{}",
            &rid[..8],
            &rid[8..12],
            &rid[12..16],
            &rid[16..20],
            &rid[20..32]
        )
    } else {
        rid.to_string()
    }
}

fn is_h2(ev: &Event) -> bool {
    ev.user_agent.starts_with("Mozilla/5.0 (") && !ev.user_agent.contains("compatible;")
}

fn proto(ev: &Event) -> &'static str {
    if is_h2(ev) { "HTTP/2.0" } else { "HTTP/1.1" }
}

fn secs3(us: u64) -> String {
    format!("{}.{:03}", us / 1_000_000, (us / 1000) % 1000)
}

fn secs6(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn backend(ev: &Event) -> String {
    let h = rid_num(ev, 11);
    format!("10.0.{}.{}:8080", 2 + h % 2, 11 + (h >> 8) % 30)
}

fn request_len(ev: &Event) -> u64 {
    let mut n = 120 + ev.target.len() as u64 + ev.user_agent.len() as u64 + ev.host.len() as u64;
    if ev.api_key.is_some() {
        n += 45;
    }
    if ev.principal.is_some() {
        n += 260; // bearer token
    }
    if ev.method == "POST" {
        n += 150;
    }
    n
}

fn template_of(target: &str) -> String {
    let path = target.split('?').next().unwrap_or("");
    let mut out = String::new();
    for seg in path.split('/').skip(1) {
        out.push('/');
        let raw = seg.strip_prefix("%2B").unwrap_or(seg);
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(if raw.len() >= 10 { "{msisdn}" } else { "{id}" });
        } else if seg.len() == 36 && seg.bytes().filter(|&b| b == b'-').count() == 4 {
            out.push_str("{uuid}");
        } else {
            out.push_str(seg);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn addr_port(ip: &IpAddr, port: u16, bracket_v6: bool) -> String {
    match ip {
        IpAddr::V6(a) if bracket_v6 => format!("[{a}]:{port}"),
        _ => format!("{ip}:{port}"),
    }
}

/// One log line (no trailing newline) exactly as the given gateway writes it.
pub fn render(ev: &Event, fmt: Format) -> String {
    let mut s = String::with_capacity(384);
    let end_us = ev.ts_micros + ev.duration_us as i64;
    match fmt {
        Format::Combined | Format::NginxCustom | Format::NginxIngress => {
            let _ = write!(s, "{} - ", ev.client_ip);
            match &ev.principal {
                Some(p) => esc_nginx(&mut s, p),
                None => s.push('-'),
            }
            s.push_str(" [");
            clf_time(&mut s, ev.ts_micros);
            s.push_str("] \"");
            esc_nginx(
                &mut s,
                &format!("{} {} {}", ev.method, ev.target, proto(ev)),
            );
            let _ = write!(s, "\" {} {} \"", ev.status, ev.bytes);
            esc_nginx(&mut s, dash(&ev.referer));
            s.push_str("\" \"");
            esc_nginx(&mut s, dash(&ev.user_agent));
            s.push('"');
            if fmt == Format::NginxCustom {
                s.push_str(" \"");
                esc_nginx(&mut s, ev.api_key.as_deref().unwrap_or("-"));
                let _ = write!(s, "\" {} \"", secs3(ev.duration_us));
                esc_nginx(&mut s, ev.xff.as_deref().unwrap_or("-"));
                s.push('"');
            } else if fmt == Format::NginxIngress {
                let h = rid_num(ev, 21);
                let up = format!("10.244.{}.{}:8080", 1 + h % 3, 10 + (h >> 8) % 40);
                let urt = ev.duration_us.saturating_sub(300 + (h >> 16) % 700);
                let _ = write!(
                    s,
                    " {} {} [prod-telco-api-8080] [] ",
                    request_len(ev),
                    secs3(ev.duration_us)
                );
                if (h >> 24).is_multiple_of(400) {
                    // nginx retried another upstream after a 502
                    let up2 = format!("10.244.{}.{}:8080", 1 + (h >> 4) % 3, 10 + (h >> 12) % 40);
                    let _ = write!(
                        s,
                        "{up2}, {up} 0, {} 0.001, {} 502, {} ",
                        ev.bytes,
                        secs3(urt),
                        ev.status
                    );
                } else {
                    let _ = write!(s, "{up} {} {} {} ", ev.bytes, secs3(urt), ev.status);
                }
                s.push_str(&ev.request_id);
            }
        }
        Format::ApacheVhost => {
            let _ = write!(s, "{}:443 {} - ", ev.host, ev.client_ip);
            match &ev.principal {
                Some(p) => esc_backslash(&mut s, p),
                None => s.push('-'),
            }
            s.push_str(" [");
            clf_time(&mut s, ev.ts_micros);
            s.push_str("] \"");
            esc_backslash(
                &mut s,
                &format!("{} {} {}", ev.method, ev.target, proto(ev)),
            );
            let _ = write!(s, "\" {} ", ev.status);
            // Apache's %b: `-` for an empty body.
            if ev.bytes == 0 {
                s.push('-');
            } else {
                let _ = write!(s, "{}", ev.bytes);
            }
            s.push_str(" \"");
            esc_backslash(&mut s, dash(&ev.referer));
            s.push_str("\" \"");
            esc_backslash(&mut s, dash(&ev.user_agent));
            s.push('"');
        }
        Format::NpmProxy => {
            s.push('[');
            clf_time(&mut s, ev.ts_micros);
            let _ = write!(
                s,
                "] - {} {} - {} https {} \"",
                ev.status, ev.status, ev.method, ev.host
            );
            esc_nginx(&mut s, &ev.target);
            let _ = write!(
                s,
                "\" [Client {}] [Length {}] [Gzip -] [Sent-to {}] \"",
                ev.client_ip,
                ev.bytes,
                backend(ev)
            );
            esc_nginx(&mut s, dash(&ev.user_agent));
            s.push_str("\" \"");
            esc_nginx(&mut s, dash(&ev.referer));
            s.push('"');
        }
        Format::EnvoyJson => {
            let h = rid_num(ev, 83);
            s.push_str("{\"start_time\":\"");
            iso_ms(&mut s, ev.ts_micros);
            let _ = write!(
                s,
                "\",\"method\":\"{}\",\"x-envoy-origin-path\":\"",
                ev.method
            );
            esc_json(&mut s, &ev.target, false);
            let _ = write!(
                s,
                "\",\"protocol\":\"{}\",\"response_code\":{},\"response_flags\":\"-\",\"bytes_received\":0,\"bytes_sent\":{},\"duration\":{},\"x-forwarded-for\":",
                if is_h2(ev) { "HTTP/2" } else { "HTTP/1.1" },
                ev.status,
                ev.bytes,
                ev.duration_us / 1000
            );
            // Behind a load balancer: the peer is the balancer, the client
            // is the last entry it appended.
            let xff = ev.xff.clone().unwrap_or_else(|| ev.client_ip.to_string());
            s.push('"');
            esc_json(&mut s, &xff, false);
            s.push_str("\",\"user-agent\":");
            if ev.user_agent.is_empty() {
                s.push_str("null");
            } else {
                s.push('"');
                esc_json(&mut s, &ev.user_agent, false);
                s.push('"');
            }
            let _ = write!(
                s,
                ",\"x-request-id\":\"{}\",\":authority\":\"{}\",\"upstream_host\":\"{}\",\"downstream_remote_address\":\"10.0.{}.{}:{}\",\"route_name\":null}}",
                uuid_of(&ev.request_id),
                ev.host,
                backend(ev),
                h % 2,
                10 + (h >> 8) % 20,
                ev.client_port
            );
        }
        Format::Alb => {
            let h = rid_num(ev, 31);
            let h2 = is_h2(ev);
            let be = backend(ev);
            let _ = write!(s, "{} ", if h2 { "h2" } else { "https" });
            iso_us(&mut s, end_us);
            let _ = write!(
                s,
                " app/api-prod-alb/50dc6c495c0c9188 {} {} 0.{:03} {} 0.000 {} {} {} {} \"",
                addr_port(&ev.client_ip, ev.client_port, false),
                be,
                h % 2,
                secs3(ev.duration_us),
                ev.status,
                ev.status,
                request_len(ev),
                ev.bytes + 230
            );
            esc_backslash(
                &mut s,
                &format!(
                    "{} https://{}:443{} {}",
                    ev.method,
                    ev.host,
                    ev.target,
                    proto(ev)
                ),
            );
            s.push_str("\" \"");
            esc_backslash(&mut s, dash(&ev.user_agent));
            let _ = write!(
                s,
                "\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/api-prod/73e2d6bc24d8a067 \"Root=1-{:08x}-{}\" \"{}\" \"{}\" {} ",
                ev.ts_micros / 1_000_000,
                ev.request_id.get(8..32).unwrap_or(&ev.request_id),
                ev.host,
                if (h >> 8).is_multiple_of(3) {
                    "session-reused"
                } else {
                    "arn:aws:acm:eu-west-2:123456789012:certificate/8f2b1c3e-4d5a-4e6f-9a0b-1c2d3e4f5a6b"
                },
                if ev.host == HOST_API { 10 } else { 20 }
            );
            iso_us(&mut s, ev.ts_micros - (ev.ts_micros % 1000));
            let _ = write!(
                s,
                " \"forward\" \"-\" \"-\" \"{be}\" \"{}\" \"-\" \"-\" TID_{}",
                ev.status, &ev.request_id
            );
        }
        Format::ElbClassic => {
            let h = rid_num(ev, 41);
            iso_us(&mut s, end_us);
            let _ = write!(
                s,
                " api-prod {} {} 0.0000{:02} {} 0.0000{:02} {} {} {} {} \"",
                addr_port(&ev.client_ip, ev.client_port, false),
                backend(ev),
                20 + h % 70,
                secs6(ev.duration_us),
                10 + (h >> 8) % 50,
                ev.status,
                ev.status,
                if ev.method == "POST" { 150 } else { 0 },
                ev.bytes
            );
            esc_backslash(
                &mut s,
                &format!(
                    "{} https://{}:443{} HTTP/1.1",
                    ev.method, ev.host, ev.target
                ),
            );
            s.push_str("\" \"");
            esc_backslash(&mut s, dash(&ev.user_agent));
            s.push_str("\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2");
        }
        Format::ApigwJson => {
            let sp = if rid_num(ev, 51).is_multiple_of(3) {
                " "
            } else {
                ""
            };
            let kv = |s: &mut String, k: &str, v: &str, first: bool| {
                if !first {
                    s.push(',');
                }
                let _ = write!(s, "\"{k}\":{sp}\"");
                esc_json(s, v, false);
                s.push('"');
            };
            let mut t = String::new();
            clf_time(&mut t, ev.ts_micros);
            s.push('{');
            kv(&mut s, "requestId", &uuid_of(&ev.request_id), true);
            kv(&mut s, "ip", &ev.client_ip.to_string(), false);
            kv(&mut s, "caller", "-", false);
            kv(
                &mut s,
                "user",
                ev.principal.as_deref().unwrap_or("-"),
                false,
            );
            kv(&mut s, "requestTime", &t, false);
            kv(&mut s, "httpMethod", ev.method, false);
            kv(&mut s, "resourcePath", &template_of(&ev.target), false);
            kv(&mut s, "path", &format!("/prod{}", ev.target), false);
            kv(&mut s, "status", &ev.status.to_string(), false);
            kv(&mut s, "protocol", proto(ev), false);
            kv(&mut s, "responseLength", &ev.bytes.to_string(), false);
            kv(
                &mut s,
                "apiKey",
                ev.api_key.as_deref().unwrap_or("-"),
                false,
            );
            kv(&mut s, "userAgent", dash(&ev.user_agent), false);
            s.push('}');
        }
        Format::CaddyJson => {
            let h = rid_num(ev, 61);
            let ts = end_us as f64 / 1e6;
            let mut tsf = format!("{ts:.6}");
            while tsf.ends_with('0') && !tsf.ends_with(".0") {
                tsf.pop();
            }
            let (remote_ip, remote_port) = if ev.xff.is_some() {
                (
                    format!("10.0.0.{}", 5 + h % 3),
                    (32768 + (h >> 8) % 28000) as u16,
                )
            } else {
                (ev.client_ip.to_string(), ev.client_port)
            };
            let _ = write!(
                s,
                "{{\"level\":\"info\",\"ts\":{tsf},\"logger\":\"http.log.access\",\"msg\":\"handled request\",\"request\":{{\"remote_ip\":\"{remote_ip}\",\"remote_port\":\"{remote_port}\",\"client_ip\":\"{}\",\"proto\":\"{}\",\"method\":\"{}\",\"host\":\"",
                ev.client_ip,
                proto(ev),
                ev.method
            );
            esc_json(&mut s, &ev.host, false);
            s.push_str("\",\"uri\":\"");
            esc_json(&mut s, &ev.target, false);
            s.push_str("\",\"headers\":{\"User-Agent\":[\"");
            esc_json(&mut s, &ev.user_agent, false);
            s.push_str("\"],\"Accept\":[\"application/json\"]");
            if !ev.referer.is_empty() {
                s.push_str(",\"Referer\":[\"");
                esc_json(&mut s, &ev.referer, false);
                s.push_str("\"]");
            }
            if let Some(k) = &ev.api_key {
                s.push_str(",\"X-Api-Key\":[\"");
                esc_json(&mut s, k, false);
                s.push_str("\"]");
            }
            if let Some(x) = &ev.xff {
                s.push_str(",\"X-Forwarded-For\":[\"");
                esc_json(&mut s, x, false);
                s.push_str("\"],\"X-Forwarded-Proto\":[\"https\"]");
            }
            if ev.principal.is_some() {
                s.push_str(",\"Authorization\":[\"REDACTED\"]");
            }
            let _ = write!(
                s,
                "}},\"tls\":{{\"resumed\":{},\"version\":772,\"cipher_suite\":4865,\"proto\":\"{}\",\"server_name\":\"",
                (h >> 16).is_multiple_of(3),
                if is_h2(ev) { "h2" } else { "http/1.1" }
            );
            esc_json(&mut s, &ev.host, false);
            let _ = write!(
                s,
                "\"}}}},\"bytes_read\":{},\"user_id\":\"",
                if ev.method == "POST" {
                    58 + (h >> 20) % 30
                } else {
                    0
                }
            );
            esc_json(&mut s, ev.principal.as_deref().unwrap_or(""), false);
            let _ = write!(
                s,
                "\",\"duration\":{},\"size\":{},\"status\":{},\"resp_headers\":{{\"Server\":[\"Caddy\"],\"Content-Type\":[\"{}\"]}}}}",
                secs_f(ev.duration_us),
                ev.bytes,
                ev.status,
                content_type(ev)
            );
        }
        Format::TraefikJson => {
            let h = rid_num(ev, 71);
            let dur_ns = ev.duration_us * 1000 + h % 1000;
            let overhead = (30_000 + (h >> 10) % 150_000).min(dur_ns / 2);
            let be = backend(ev);
            let _ = write!(
                s,
                "{{\"ClientAddr\":\"{}\",\"ClientHost\":\"{}\",\"ClientPort\":\"{}\",\"ClientUsername\":\"",
                addr_port(&ev.client_ip, ev.client_port, true),
                ev.client_ip,
                ev.client_port
            );
            esc_json(&mut s, ev.principal.as_deref().unwrap_or("-"), true);
            let _ = write!(
                s,
                "\",\"DownstreamContentSize\":{b},\"DownstreamStatus\":{st},\"Duration\":{dur_ns},\"OriginContentSize\":{b},\"OriginDuration\":{},\"OriginStatus\":{st},\"Overhead\":{overhead},\"RequestAddr\":\"",
                dur_ns - overhead,
                b = ev.bytes,
                st = ev.status
            );
            esc_json(&mut s, &ev.host, true);
            let _ = write!(
                s,
                "\",\"RequestContentSize\":{},\"RequestCount\":{},\"RequestHost\":\"",
                if ev.method == "POST" {
                    58 + (h >> 20) % 30
                } else {
                    0
                },
                (ev.ts_micros / 250_000) % 10_000_000
            );
            esc_json(&mut s, &ev.host, true);
            let _ = write!(
                s,
                "\",\"RequestMethod\":\"{}\",\"RequestPath\":\"",
                ev.method
            );
            esc_json(&mut s, &ev.target, true);
            let _ = write!(
                s,
                "\",\"RequestPort\":\"-\",\"RequestProtocol\":\"{}\",\"RequestScheme\":\"https\",\"RetryAttempts\":0,\"RouterName\":\"api@file\",\"ServiceAddr\":\"{be}\",\"ServiceName\":\"api@file\",\"ServiceURL\":\"http://{be}\",\"StartLocal\":\"",
                proto(ev)
            );
            rfc3339_nano(&mut s, ev.ts_micros, (h >> 30) as u32 % 1000);
            s.push_str("\",\"StartUTC\":\"");
            rfc3339_nano(&mut s, ev.ts_micros, (h >> 30) as u32 % 1000);
            let _ = write!(
                s,
                "\",\"TLSCipher\":\"TLS_AES_128_GCM_SHA256\",\"TLSVersion\":\"1.3\",\"downstream_Content-Type\":\"{}\",\"entryPointName\":\"websecure\",\"level\":\"info\",\"msg\":\"\"",
                content_type(ev)
            );
            if !ev.referer.is_empty() {
                s.push_str(",\"request_Referer\":\"");
                esc_json(&mut s, &ev.referer, true);
                s.push('"');
            }
            if !ev.user_agent.is_empty() {
                s.push_str(",\"request_User-Agent\":\"");
                esc_json(&mut s, &ev.user_agent, true);
                s.push('"');
            }
            if let Some(k) = &ev.api_key {
                s.push_str(",\"request_X-Api-Key\":\"");
                esc_json(&mut s, k, true);
                s.push('"');
            }
            s.push_str(",\"time\":\"");
            iso_s(&mut s, end_us);
            s.push_str("\"}");
        }
        Format::Envoy => {
            let h = rid_num(ev, 81);
            s.push('[');
            iso_ms(&mut s, ev.ts_micros);
            let flags = match ev.status {
                503 => "UF",
                504 => "UT",
                _ => "-",
            };
            let dur_ms = ev.duration_us / 1000;
            let ust = if flags == "-" {
                dur_ms.saturating_sub(h % 2).to_string()
            } else {
                "-".to_string()
            };
            let envoy_proto = if is_h2(ev) { "HTTP/2" } else { "HTTP/1.1" };
            let xff = ev.xff.clone().unwrap_or_else(|| ev.client_ip.to_string());
            let _ = write!(
                s,
                "] \"{} {} {}\" {} {} {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\"",
                ev.method,
                ev.target,
                envoy_proto,
                ev.status,
                flags,
                if ev.method == "POST" {
                    58 + (h >> 20) % 30
                } else {
                    0
                },
                ev.bytes,
                dur_ms,
                ust,
                xff,
                dash(&ev.user_agent),
                uuid_of(&ev.request_id),
                ev.host,
                backend(ev)
            );
        }
        Format::Haproxy => {
            let h = rid_num(ev, 91);
            let lb = 1 + h % 2;
            let pid = if lb == 1 { 2211 } else { 2378 };
            let t = tm(end_us);
            let _ = write!(
                s,
                "{} {:>2} {:02}:{:02}:{:02} lb-edge-{lb} haproxy[{pid}]: {} [",
                MONTHS[t.mo as usize - 1],
                t.d,
                t.h,
                t.mi,
                t.s,
                addr_port(&ev.client_ip, ev.client_port, false)
            );
            let a = tm(ev.ts_micros);
            let _ = write!(
                s,
                "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}] https-in~ api_back/api{} ",
                a.d,
                MONTHS[a.mo as usize - 1],
                a.y,
                a.h,
                a.mi,
                a.s,
                a.us / 1000,
                1 + (h >> 4) % 4
            );
            let tr_req = (h >> 8) % 2;
            let tc = (h >> 9) % 2;
            let ta = (ev.duration_us / 1000).max(tr_req + tc);
            let tr = ta - tr_req - tc;
            let term = match ev.status {
                503 => "SC--",
                504 => "sH--",
                _ => "----",
            };
            let ac = 40 + (h >> 12) % 300;
            let _ = write!(
                s,
                "{tr_req}/0/{tc}/{tr}/{ta} {} {} - - {term} {ac}/{}/{}/{}/0 0/0 {{",
                ev.status,
                ev.bytes + 210,
                ac.saturating_sub((h >> 20) % 5),
                ac / 3,
                ac / 12,
            );
            esc_haproxy(&mut s, &ev.host);
            s.push('|');
            esc_haproxy(&mut s, &ev.user_agent);
            s.push_str("} \"");
            esc_haproxy(
                &mut s,
                &format!("{} {} {}", ev.method, ev.target, proto(ev)),
            );
            s.push('"');
        }
        Format::TraefikClf => {
            let _ = write!(
                s,
                "{} - {} [",
                ev.client_ip,
                ev.principal.as_deref().unwrap_or("-")
            );
            clf_time(&mut s, ev.ts_micros);
            let _ = write!(
                s,
                "] \"{} {} {}\" {} {} \"{}\" \"{}\" {} \"api@file\" \"http://{}\" {}ms",
                ev.method,
                ev.target,
                proto(ev),
                ev.status,
                ev.bytes,
                dash(&ev.referer),
                dash(&ev.user_agent),
                (ev.ts_micros / 250_000) % 10_000_000,
                backend(ev),
                ev.duration_us / 1000
            );
        }
    }
    s
}

fn secs_f(us: u64) -> String {
    let mut v = format!(
        "{}.{:06}{:03}",
        us / 1_000_000,
        us % 1_000_000,
        (us * 7) % 1000
    );
    while v.ends_with('0') && !v.ends_with(".0") {
        v.pop();
    }
    v
}

fn content_type(ev: &Event) -> &'static str {
    if ev.target.ends_with(".js") {
        "application/javascript"
    } else if ev.target.ends_with(".css") {
        "text/css"
    } else if ev.target.ends_with(".svg") {
        "image/svg+xml"
    } else if ev.target.ends_with(".woff2") {
        "font/woff2"
    } else if ev.target.ends_with(".ico") {
        "image/x-icon"
    } else if ev.target.starts_with("/docs") {
        "text/html; charset=utf-8"
    } else if ev.target == "/robots.txt" || ev.target == "/health" {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    }
}
