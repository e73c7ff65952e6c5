//! Detection quality on simulated traffic: a seeded, labelled day of a
//! telecom account API (`tests/support/sim.rs`, ~320k lines with benign
//! populations and 17 attack families) is rendered in every supported log
//! format and fed through the engine as a library (`Pump` + `VecSink`).
//!
//! What is checked, per run:
//! * every attack family is named (one of its actor strings) by at least one
//!   `opened` alert; for `nat_sweep` only alerts detected while the sweep runs
//!   (±60 s) count, because that carrier-NAT address is also a benign identity;
//! * no `opened` alert names a benign identity unless that string is also an
//!   attack actor, and no alert names the `nat_sweep` address for traffic
//!   outside the sweep (its evidence, first_seen..last_seen, must overlap the
//!   sweep ±60 s); a separate test holds the stricter rule that it is only
//!   named while the sweep runs (detected_at within the sweep ±60 s);
//! * alert volume: at most 6 events per incident id, exactly one `opened`;
//! * detection latency, allowlisting, determinism and robustness to lines a
//!   couple of seconds out of order.
//!
//! Days and scans are expensive (~0.7 s to generate, ~1.5 s to scan in
//! release), so every scan is done once and shared through `OnceLock`s.
//!
//! `cargo test --profile test-release --test detect` (add `-- --nocapture` for the
//! per-family latency and coverage report).

#[path = "../support/sim.rs"]
mod sim;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use apiwatch::alerts::sink::VecSink;
use apiwatch::alerts::{Alert, Transition};
use apiwatch::cli::{CommonArgs, OutputKind};
use apiwatch::config::Config;
use apiwatch::modes::Pump;
use apiwatch::sources::LineReader;

use sim::{Format, RouteNames, SimConfig, Truth};

// ================================================================ running

/// The `--format` name apiwatch knows each simulated gateway by (`None`:
/// the nginx `log_format` directive is given instead).
fn apiwatch_format(f: Format) -> Option<&'static str> {
    Some(match f {
        Format::Combined => "combined",
        Format::NginxCustom => return None,
        Format::Alb => "alb",
        Format::ApigwJson => "apigw-json",
        Format::CaddyJson => "caddy-json",
        Format::TraefikJson => "traefik-json",
        Format::Envoy => "envoy",
        Format::Haproxy => "haproxy",
        Format::TraefikClf => "traefik-clf",
        Format::NginxIngress => "nginx-ingress",
        Format::ElbClassic => "elb",
        // Left to detection, as a user who does not know the name would.
        Format::ApacheVhost => "auto",
        Format::NpmProxy => "auto",
        Format::EnvoyJson => "auto",
    })
}

fn render_all<'a>(events: impl IntoIterator<Item = &'a sim::Event>, fmt: Format) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 << 20);
    for e in events {
        out.extend_from_slice(sim::render(e, fmt).as_bytes());
        out.push(b'\n');
    }
    out
}

/// What one engine run produced.
struct Scan {
    alerts: Vec<Alert>,
    allowlisted: u64,
    lines: u64,
    parsed: u64,
    malformed: u64,
    malformed_reasons: String,
    /// Table entries evicted, summed over detectors and the route table.
    evicted: u64,
}

impl Scan {
    fn describe_input(&self) -> String {
        format!(
            "{} lines, {} parsed, {} malformed {}",
            self.lines, self.parsed, self.malformed, self.malformed_reasons
        )
    }
}

fn scan(bytes: &[u8], fmt: Format, config: Option<PathBuf>) -> Scan {
    scan_within(bytes, fmt, config, None)
}

/// [`scan`] with a memory ceiling (`--max-memory`).
fn scan_within(
    bytes: &[u8],
    fmt: Format,
    config: Option<PathBuf>,
    max_memory: Option<&str>,
) -> Scan {
    let args = CommonArgs {
        config,
        max_memory: max_memory.map(|s| apiwatch::config::parse_size(s).expect("a size")),
        format: apiwatch_format(fmt).map(str::to_owned),
        log_format: match fmt {
            Format::NginxCustom => Some(sim::NGINX_CUSTOM_LOG_FORMAT.to_owned()),
            _ => None,
        },
        output: Some(OutputKind::Json),
        ..Default::default()
    };
    let cfg = Config::from_args(&args).expect("valid config");
    let mut pump = Pump::new(cfg);
    let mut sink = VecSink::default();
    let (_, err) = pump
        .pump(
            fmt.name(),
            &mut LineReader::new(bytes, 65536),
            None,
            &mut sink,
        )
        .expect("pump");
    assert!(err.is_none(), "read error: {err:?}");
    pump.engine.finish(&mut sink).expect("finish");
    let malformed_reasons = pump
        .stats
        .malformed_by_reason
        .iter()
        .map(|(k, v)| format!("{k}={} {:?}", v.count, v.samples.first()))
        .collect::<Vec<_>>()
        .join("; ");
    Scan {
        evicted: pump.engine.state_report().iter().map(|r| r.2).sum(),
        alerts: sink.0,
        allowlisted: pump.engine.allowlisted(),
        lines: pump.stats.lines,
        parsed: pump.stats.parsed,
        malformed: pump.stats.malformed,
        malformed_reasons,
    }
}

// ================================================================ shared days

struct Day {
    events: Vec<sim::Event>,
    truth: Truth,
}

/// The default day (seed 1), generated once.
fn seed1() -> &'static Day {
    static DAY: OnceLock<Day> = OnceLock::new();
    DAY.get_or_init(|| {
        let t = std::time::Instant::now();
        let (events, truth) = sim::generate(&SimConfig::default());
        eprintln!("(timing) seed 1 generated in {:.2?}", t.elapsed());
        Day { events, truth }
    })
}

/// The default day in `fmt`, scanned with the default configuration, once.
fn seed1_scan(fmt: Format) -> &'static Scan {
    static SCANS: [OnceLock<Scan>; 14] = [const { OnceLock::new() }; 14];
    let i = Format::ALL.iter().position(|f| *f == fmt).expect("known");
    SCANS[i].get_or_init(|| {
        let day = seed1();
        let t = std::time::Instant::now();
        let bytes = render_all(&day.events, fmt);
        let rendered = t.elapsed();
        let s = scan(&bytes, fmt, None);
        eprintln!(
            "(timing) seed 1 {}: render {:.2?}, scan {:.2?}",
            fmt.name(),
            rendered,
            t.elapsed() - rendered
        );
        s
    })
}

/// Days beyond the default one (combined format, default configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Seed2,
    Seed3,
    Nat5,
    /// Every resource renamed and a `/v2` prefix; the search endpoint is
    /// called `lookup`.
    Renamed,
    /// The same, but the search endpoint keeps a search-like word (`find`).
    RenamedFind,
    Busy,
    /// A busy API in a format without a principal (ALB): customers' own
    /// reads fill id ranges densely, and a walk through them must not look
    /// like a crowd.
    BusyAlb,
    /// Another busy day in a format without a principal (Envoy): customers
    /// read the populated part of an id space far more densely than the
    /// route's average bucket, and the table churns.
    BusyEnvoy,
    Quiet,
}

impl Variant {
    const ALL: [Variant; 9] = [
        Variant::Seed2,
        Variant::Seed3,
        Variant::Nat5,
        Variant::Renamed,
        Variant::RenamedFind,
        Variant::Busy,
        Variant::BusyAlb,
        Variant::BusyEnvoy,
        Variant::Quiet,
    ];

    fn sim_config(self) -> SimConfig {
        match self {
            Variant::Seed2 => SimConfig {
                seed: 2,
                ..Default::default()
            },
            Variant::Seed3 => SimConfig {
                seed: 3,
                ..Default::default()
            },
            Variant::Nat5 => SimConfig {
                nat_multiplier: 5,
                ..Default::default()
            },
            Variant::Renamed => SimConfig {
                prefix: "/v2",
                names: RouteNames {
                    customers: "subscribers",
                    billing: "invoices",
                    lines: "msisdns",
                    usage: "consumption",
                    devices: "handsets",
                    accounts: "contracts",
                    orders: "purchases",
                    login: "session/new",
                    search: "lookup",
                    eligibility: "check",
                    me: "profile",
                },
                ..Default::default()
            },
            Variant::Busy => SimConfig {
                seed: 4,
                users: 100_000,
                ..Default::default()
            },
            Variant::BusyAlb => SimConfig {
                seed: 9,
                users: 100_000,
                ..Default::default()
            },
            Variant::BusyEnvoy => SimConfig {
                seed: 11,
                users: 100_000,
                ..Default::default()
            },
            Variant::Quiet => SimConfig {
                seed: 5,
                users: 4_000,
                ..Default::default()
            },
            Variant::RenamedFind => {
                let mut c = Variant::Renamed.sim_config();
                c.names.search = "find";
                c
            }
        }
    }

    /// The layout the day is rendered in.
    fn format(self) -> Format {
        match self {
            Variant::BusyAlb => Format::Alb,
            Variant::BusyEnvoy => Format::Envoy,
            _ => Format::Combined,
        }
    }

    fn label(self) -> String {
        let c = self.sim_config();
        format!(
            "{self:?} (seed {}, users {}, nat_multiplier {}, prefix {:?}, customers route {:?}, search route {:?}), {}",
            c.seed,
            c.users,
            c.nat_multiplier,
            c.prefix,
            c.names.customers,
            c.names.search,
            self.format().name()
        )
    }
}

fn variant_run(v: Variant) -> &'static (Truth, Scan) {
    static RUNS: [OnceLock<(Truth, Scan)>; Variant::ALL.len()] =
        [const { OnceLock::new() }; Variant::ALL.len()];
    let i = Variant::ALL.iter().position(|x| *x == v).expect("known");
    RUNS[i].get_or_init(|| {
        let t = std::time::Instant::now();
        let (events, truth) = sim::generate(&v.sim_config());
        let bytes = render_all(&events, v.format());
        drop(events);
        let s = scan(&bytes, v.format(), None);
        eprintln!("(timing) {v:?}: generate+render+scan {:.2?}", t.elapsed());
        (truth, s)
    })
}

// ================================================================ judging

fn micros(rfc3339: &str) -> i64 {
    apiwatch::formats::time::parse_iso(rfc3339.as_bytes())
        .unwrap_or_else(|| panic!("bad timestamp {rfc3339:?}"))
        .0
}

/// How far outside its first/last event the `nat_sweep` window reaches.
const NAT_SLACK_MICROS: i64 = 60_000_000;

fn short(a: &Alert) -> String {
    let actors: Vec<&str> = a.actor.iter().take(4).map(String::as_str).collect();
    let more = a.actor.len().saturating_sub(actors.len());
    format!(
        "[detected {} {:?} {} {:?} {}; seen {} .. {}] actor({}) {:?}{} route {} req {} distinct {}: {}",
        a.detected_at,
        a.event,
        a.detector.as_str(),
        a.severity,
        a.id,
        a.first_seen,
        a.last_seen,
        a.actor_kind,
        actors,
        if more > 0 {
            format!(" +{more}")
        } else {
            String::new()
        },
        a.route,
        a.requests,
        a.distinct_objects,
        a.summary.chars().take(200).collect::<String>()
    )
}

struct Caught {
    latency_secs: f64,
    detectors: BTreeSet<&'static str>,
    /// Of a family with many actors: how many of them some alert named.
    named: usize,
}

struct Verdict {
    caught: BTreeMap<&'static str, Caught>,
    /// Families no opened alert named.
    misses: Vec<String>,
    /// Alerts naming a benign identity (one entry per identity and event).
    benign_hits: Vec<String>,
    /// Later events of a distributed sweep naming a few benign addresses,
    /// at most one in a hundred of those they name: customers who read
    /// their own record in the swept range once, while a day-long crowd
    /// of thousands passed, cannot be told from its members (see the
    /// README's known limits). Reported, not failed.
    tolerated: Vec<String>,
    /// Opened alerts naming neither an attack actor nor a benign identity.
    unattributed: Vec<String>,
}

/// Benign addresses a distributed sweep's later event may name (see
/// [`Verdict::tolerated`]): the busy API without principals names 9.
const MAX_TOLERATED: usize = 12;

fn judge(truth: &Truth, alerts: &[Alert], skip: &[&str]) -> Verdict {
    let benign: HashMap<&str, &str> = truth
        .benign_identities
        .iter()
        .map(|(p, id)| (id.as_str(), *p))
        .collect();
    let attack: HashSet<&str> = truth
        .families
        .iter()
        .flat_map(|f| f.actors.iter().map(String::as_str))
        .collect();
    let nat = truth.family("nat_sweep").expect("nat_sweep family");
    let nat_window = (nat.start_micros - NAT_SLACK_MICROS)..=(nat.end_micros + NAT_SLACK_MICROS);
    let opened: Vec<(&Alert, i64)> = alerts
        .iter()
        .filter(|a| a.event == Transition::Opened)
        .map(|a| (a, micros(&a.detected_at)))
        .collect();

    let mut caught = BTreeMap::new();
    let mut misses = Vec::new();
    for f in &truth.families {
        if skip.contains(&f.family) {
            continue;
        }
        let acts: HashSet<&str> = f.actors.iter().map(String::as_str).collect();
        let hits: Vec<&(&Alert, i64)> = opened
            .iter()
            .filter(|(a, _)| a.actor.iter().any(|x| acts.contains(x.as_str())))
            .filter(|(_, t)| f.family != "nat_sweep" || nat_window.contains(t))
            .collect();
        let Some(first) = hits.iter().map(|(_, t)| *t).min() else {
            misses.push(format!(
                "{} (actors {:?}{}, {} .. {})",
                f.family,
                &f.actors[..f.actors.len().min(3)],
                if f.actors.len() > 3 {
                    format!(" +{}", f.actors.len() - 3)
                } else {
                    String::new()
                },
                apiwatch::formats::Timestamp(f.start_micros).rfc3339(),
                apiwatch::formats::Timestamp(f.end_micros).rfc3339(),
            ));
            continue;
        };
        let named: HashSet<&str> = alerts
            .iter()
            .flat_map(|a| a.actor.iter().map(String::as_str))
            .filter(|x| acts.contains(x))
            .collect();
        caught.insert(
            f.family,
            Caught {
                latency_secs: (first - f.start_micros) as f64 / 1e6,
                detectors: hits.iter().map(|(a, _)| a.detector.as_str()).collect(),
                named: named.len(),
            },
        );
    }

    let mut benign_hits = Vec::new();
    let mut tolerated = Vec::new();
    let mut unattributed = Vec::new();
    // Every event: an incident's later events can name more addresses
    // (credential stuffing and distributed sweeps name them as they go).
    for a in alerts {
        let hits_before = benign_hits.len();
        let mut any_attack = false;
        for x in &a.actor {
            let x = x.as_str();
            if attack.contains(x) {
                any_attack = true;
            }
            if let Some(pop) = benign.get(x)
                && !attack.contains(x)
            {
                benign_hits.push(format!(
                    "benign {x:?} ({pop}) named by {}: {}",
                    a.detector.as_str(),
                    short(a)
                ));
            } else if nat.actors.iter().any(|n| n == x)
                && !(micros(&a.first_seen) <= *nat_window.end()
                    && micros(&a.last_seen) >= *nat_window.start())
            {
                benign_hits.push(format!(
                    "carrier-NAT {x:?} (nat_sweep address) named by {} for traffic outside the sweep: {}",
                    a.detector.as_str(),
                    short(a)
                ));
            }
        }
        let new = benign_hits.len() - hits_before;
        if a.event != Transition::Opened
            && a.detector.as_str() == "distributed_sweep"
            && new * 100 <= a.actor.len()
            && new <= MAX_TOLERATED
        {
            tolerated.extend(benign_hits.drain(hits_before..));
        }
        if a.event == Transition::Opened
            && !any_attack
            && !a.actor.iter().any(|x| benign.contains_key(x.as_str()))
        {
            unattributed.push(short(a));
        }
    }
    Verdict {
        caught,
        misses,
        benign_hits,
        tolerated,
        unattributed,
    }
}

fn report(label: &str, truth: &Truth, s: &Scan, v: &Verdict) -> String {
    let opened = s
        .alerts
        .iter()
        .filter(|a| a.event == Transition::Opened)
        .count();
    let mut r = format!(
        "== {label}: {}; {} alert events, {} opened\n",
        s.describe_input(),
        s.alerts.len(),
        opened
    );
    for (fam, c) in &v.caught {
        let total = truth.family(fam).map_or(0, |f| f.actors.len());
        r += &format!(
            "  caught {fam:22} latency {:>8.1} s by {:?}{}\n",
            c.latency_secs,
            c.detectors,
            if total > 5 {
                format!(" (named {}/{total} actors)", c.named)
            } else {
                String::new()
            }
        );
    }
    for m in &v.misses {
        r += &format!("  MISSED {m}\n");
    }
    for b in &v.benign_hits {
        r += &format!("  BENIGN {b}\n");
    }
    if !v.tolerated.is_empty() {
        r += &format!(
            "  (note) {} benign addresses among the many a distributed sweep's later events name\n",
            v.tolerated.len()
        );
    }
    for u in v.unattributed.iter().take(5) {
        r += &format!("  (note) names no known identity: {u}\n");
    }
    if v.unattributed.len() > 5 {
        r += &format!("  (note) ... {} such alerts in all\n", v.unattributed.len());
    }
    r
}

/// Every family named, no benign identity named; returns the report on
/// failure.
fn check_day(label: &str, truth: &Truth, s: &Scan) -> Result<String, String> {
    let v = judge(truth, &s.alerts, &[]);
    let r = report(label, truth, s, &v);
    if v.misses.is_empty() && v.benign_hits.is_empty() {
        Ok(r)
    } else {
        Err(format!(
            "{r}misses: {:?}\nbenign hits: {:?}",
            v.misses, v.benign_hits
        ))
    }
}

fn assert_day(label: &str, truth: &Truth, s: &Scan) {
    match check_day(label, truth, s) {
        Ok(r) => eprint!("{r}"),
        Err(e) => panic!("{e}"),
    }
}

// ================================================================ every format

fn every_family(fmt: Format) {
    let s = seed1_scan(fmt);
    assert_day(&format!("seed 1, {}", fmt.name()), &seed1().truth, s);
}

macro_rules! per_format {
    ($($name:ident => $fmt:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                every_family($fmt);
            }
        )*
    };
}

per_format! {
    every_family_caught_no_benign_flagged_combined => Format::Combined,
    every_family_caught_no_benign_flagged_nginx_custom => Format::NginxCustom,
    every_family_caught_no_benign_flagged_alb => Format::Alb,
    every_family_caught_no_benign_flagged_apigw_json => Format::ApigwJson,
    every_family_caught_no_benign_flagged_caddy_json => Format::CaddyJson,
    every_family_caught_no_benign_flagged_traefik_json => Format::TraefikJson,
    every_family_caught_no_benign_flagged_envoy => Format::Envoy,
    every_family_caught_no_benign_flagged_haproxy => Format::Haproxy,
    every_family_caught_no_benign_flagged_traefik_clf => Format::TraefikClf,
    every_family_caught_no_benign_flagged_nginx_ingress => Format::NginxIngress,
    every_family_caught_no_benign_flagged_elb_classic => Format::ElbClassic,
    every_family_caught_no_benign_flagged_apache_vhost => Format::ApacheVhost,
    every_family_caught_no_benign_flagged_npm_proxy => Format::NpmProxy,
    every_family_caught_no_benign_flagged_envoy_json => Format::EnvoyJson,
}

/// At the smallest memory ceiling allowed (32 MB), every table and
/// baseline holds a fraction of what it holds at the default: the day's
/// busiest routes and actors push others out. Attackers must stay visible
/// and the benign quiet all the same.
#[test]
fn every_family_caught_no_benign_flagged_at_the_memory_floor() {
    let day = seed1();
    let bytes = render_all(&day.events, Format::Combined);
    let s = scan_within(&bytes, Format::Combined, None, Some("32M"));
    let roomy = seed1_scan(Format::Combined);
    // Measured: 146 k evictions against 50 k at the default ceiling.
    assert!(
        s.evicted > 2 * roomy.evicted,
        "the floor should press on the tables: {} evictions against {} at the default",
        s.evicted,
        roomy.evicted
    );
    assert_day("seed 1, combined, --max-memory 32M", &day.truth, &s);
}

// ================================================================ latency

const FAST: [&str; 8] = [
    "fast_walk",
    "random_probe",
    "query_sweep",
    "msisdn_sweep",
    "uuid_harvest",
    "shuffled_block",
    "ipv6_rotation",
    "nat_sweep",
];

fn latency_budget(family: &str) -> Option<f64> {
    if FAST.contains(&family) {
        Some(60.0)
    } else if family == "bola" || family == "distributed_sweep" {
        Some(120.0)
    } else if family == "slow_sweep" {
        Some(15.0 * 60.0)
    } else {
        None
    }
}

fn check_latency(fmt: Format, class: &[&str]) -> Vec<String> {
    let truth = &seed1().truth;
    let v = judge(truth, &seed1_scan(fmt).alerts, &[]);
    let mut late = Vec::new();
    for f in &truth.families {
        if !class.contains(&f.family) {
            continue;
        }
        let Some(budget) = latency_budget(f.family) else {
            continue;
        };
        match v.caught.get(f.family) {
            None => late.push(format!("{}: {} never detected", fmt.name(), f.family)),
            Some(c) if c.latency_secs > budget => late.push(format!(
                "{}: {} detected after {:.1} s (budget {budget} s) by {:?}",
                fmt.name(),
                f.family,
                c.latency_secs,
                c.detectors
            )),
            Some(c) => eprintln!(
                "{}: {:22} {:>7.1} s (budget {budget} s)",
                fmt.name(),
                f.family,
                c.latency_secs
            ),
        }
    }
    late
}

/// Latency of the first opened alert naming the family (detected_at minus
/// the family's first event), on combined and Caddy JSON.
fn assert_latency(class: &[&str]) {
    let mut late = check_latency(Format::Combined, class);
    late.extend(check_latency(Format::CaddyJson, class));
    assert!(late.is_empty(), "late or missed:\n{}", late.join("\n"));
}

#[test]
fn fast_families_detected_within_60s() {
    assert_latency(&FAST);
}

#[test]
fn bola_and_distributed_sweep_detected_within_120s() {
    assert_latency(&["bola", "distributed_sweep"]);
}

#[test]
fn slow_sweep_detected_within_15min() {
    assert_latency(&["slow_sweep"]);
}

// ================================================================ generalisation

fn variant(v: Variant) {
    let (truth, s) = variant_run(v);
    assert_day(&v.label(), truth, s);
}

/// One test per day beyond the default one.
macro_rules! per_variant {
    ($($name:ident => $v:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                variant($v);
            }
        )*
    };
}

per_variant! {
    generalises_to_seed_2 => Variant::Seed2,
    generalises_to_seed_3 => Variant::Seed3,
    generalises_to_crowded_carrier_nat => Variant::Nat5,
    generalises_to_a_busy_api => Variant::Busy,
    generalises_to_a_busy_api_without_principals => Variant::BusyAlb,
    generalises_to_a_busy_api_without_principals_in_envoy => Variant::BusyEnvoy,
    generalises_to_a_quiet_api => Variant::Quiet,
    generalises_to_renamed_routes => Variant::Renamed,
    generalises_to_renamed_routes_with_a_search_word => Variant::RenamedFind,
}

// ================================================================ alert volume

/// Every run the volume checks look at (scans shared with the other tests).
fn all_runs() -> Vec<(String, &'static Truth, &'static Scan)> {
    let mut v = Vec::new();
    for fmt in Format::ALL {
        v.push((
            format!("seed 1 {}", fmt.name()),
            &seed1().truth,
            seed1_scan(fmt),
        ));
    }
    for x in Variant::ALL {
        let (t, s) = variant_run(x);
        v.push((x.label(), t, s));
    }
    v
}

fn volume_problems(
    label: &str,
    alerts: &[Alert],
    max_events: usize,
    one_opened: bool,
) -> Vec<String> {
    let mut by_id: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by_id.entry(a.id.as_str()).or_default().push(a);
    }
    let mut bad = Vec::new();
    for (id, evs) in by_id {
        let opened = evs.iter().filter(|a| a.event == Transition::Opened).count();
        if evs.len() > max_events || (one_opened && opened != 1) {
            let seq: Vec<String> = evs
                .iter()
                .map(|a| format!("{:?}@{}", a.event, a.detected_at))
                .collect();
            bad.push(format!(
                "{label}: incident {id} ({} on {:?}, route {}): {} events, {opened} opened: {}",
                evs[0].detector.as_str(),
                &evs[0].actor[..evs[0].actor.len().min(3)],
                evs[0].route,
                evs.len(),
                seq.join(", ")
            ));
        }
    }
    bad
}

#[test]
fn at_most_six_events_per_incident() {
    let mut bad = Vec::new();
    for (label, _, s) in all_runs() {
        bad.extend(volume_problems(&label, &s.alerts, 6, false));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn exactly_one_opened_per_incident_id() {
    let mut bad = Vec::new();
    for (label, _, s) in all_runs() {
        bad.extend(volume_problems(&label, &s.alerts, usize::MAX, true));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ================================================================ nat window

/// eval.py's rule: the carrier-NAT address of `nat_sweep` may only be named
/// by alerts detected while the sweep runs (±60 s).
#[test]
fn nat_address_named_only_while_the_sweep_runs() {
    let mut bad = Vec::new();
    for (label, truth, s) in all_runs() {
        let nat = truth.family("nat_sweep").expect("nat_sweep");
        let window = (nat.start_micros - NAT_SLACK_MICROS)..=(nat.end_micros + NAT_SLACK_MICROS);
        for a in s.alerts.iter().filter(|a| a.event == Transition::Opened) {
            if a.actor.iter().any(|x| nat.actors.contains(x))
                && !window.contains(&micros(&a.detected_at))
            {
                bad.push(format!(
                    "{label}: sweep {} .. {}: {}",
                    apiwatch::formats::Timestamp(nat.start_micros).rfc3339(),
                    apiwatch::formats::Timestamp(nat.end_micros).rfc3339(),
                    short(a)
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ================================================================ allowlist

#[test]
fn allowlisted_partner_and_reconciliation_are_silent() {
    let day = seed1();
    let truth = &day.truth;
    let partner = truth.family("partner_sync").expect("partner_sync");
    let recon = truth.family("reconciliation").expect("reconciliation");
    let key = partner
        .actors
        .iter()
        .find(|a| a.starts_with("partner-"))
        .expect("partner API key");
    let principal = recon
        .actors
        .iter()
        .find(|a| a.parse::<std::net::IpAddr>().is_err())
        .expect("reconciliation principal");
    let addr = recon
        .actors
        .iter()
        .find(|a| a.parse::<std::net::IpAddr>().is_ok())
        .expect("reconciliation address");
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        r#"
[[allow]]
api_key = "{key}"
reason = "partner nightly sync"

[[allow]]
principal = "{principal}"
reason = "billing reconciliation job"

[[allow]]
address = "{addr}"
reason = "reconciliation host"
"#
    )
    .expect("write config");
    file.flush().expect("flush config");

    let fmt = Format::NginxCustom;
    let bytes = render_all(&day.events, fmt);
    let s = scan(&bytes, fmt, Some(file.path().to_owned()));

    let silenced: HashSet<&str> = partner
        .actors
        .iter()
        .chain(&recon.actors)
        .map(String::as_str)
        .collect();
    let loud: Vec<String> = s
        .alerts
        .iter()
        .filter(|a| a.actor.iter().any(|x| silenced.contains(x.as_str())))
        .map(short)
        .collect();
    let v = judge(truth, &s.alerts, &["partner_sync", "reconciliation"]);
    let r = report("seed 1, nginx_custom, allowlist", truth, &s, &v);
    eprintln!("{r}  allowlisted requests: {}", s.allowlisted);
    assert!(
        loud.is_empty() && v.misses.is_empty() && v.benign_hits.is_empty() && s.allowlisted > 0,
        "{r}allowlisted requests: {}\nalerts naming allowlisted actors: {loud:#?}\nmisses: {:?}\nbenign hits: {:?}",
        s.allowlisted,
        v.misses,
        v.benign_hits
    );
}

// ================================================================ determinism

fn json_lines(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| serde_json::to_string(a).expect("json"))
        .collect()
}

#[test]
fn same_day_scanned_twice_gives_identical_json() {
    let bytes = render_all(&seed1().events, Format::Combined);
    let a = json_lines(&scan(&bytes, Format::Combined, None).alerts);
    let b = json_lines(&scan(&bytes, Format::Combined, None).alerts);
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "alert count differs between runs");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "alert {i} differs between runs");
    }
    // ...and the shared scan (another Pump, maybe another thread) agrees.
    let c = json_lines(&seed1_scan(Format::Combined).alerts);
    assert!(a == c, "the shared scan of the same day differs");
}

/// SplitMix64, for a reproducible shuffle.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Each line moved by up to ±2 s of event time: lines are sorted by their
/// timestamp plus a uniform jitter in [-2 s, +2 s].
fn jittered_order(events: &[sim::Event]) -> Vec<&sim::Event> {
    let mut rng = Mix(0xA11CE);
    let mut keyed: Vec<(i64, usize)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.ts_micros + (rng.next() % 4_000_001) as i64 - 2_000_000, i))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| &events[i]).collect()
}

#[test]
fn lines_out_of_order_by_two_seconds_give_the_same_incidents() {
    let day = seed1();
    let order = jittered_order(&day.events);
    let moved = order
        .iter()
        .zip(&day.events)
        .filter(|(a, b)| !std::ptr::eq(**a, *b))
        .count();
    let bytes = render_all(order.iter().copied(), Format::Combined);
    let shuffled = scan(&bytes, Format::Combined, None);
    let base = seed1_scan(Format::Combined);
    if let Err(e) = same_incidents(&base.alerts, &shuffled.alerts) {
        panic!("{moved} lines moved; {e}");
    }
}

/// The same (id, event, detector, severity) transitions in both runs.
fn same_incidents(clean: &[Alert], other: &[Alert]) -> Result<(), String> {
    type Key = (String, String, String, String);
    let keys = |alerts: &[Alert]| -> BTreeSet<Key> {
        alerts
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    format!("{:?}", a.event),
                    a.detector.as_str().to_owned(),
                    format!("{:?}", a.severity),
                )
            })
            .collect()
    };
    let (x, y) = (keys(clean), keys(other));
    let only_clean: Vec<&Key> = x.difference(&y).collect();
    let only_other: Vec<&Key> = y.difference(&x).collect();
    if only_clean.is_empty() && only_other.is_empty() {
        return Ok(());
    }
    Err(format!(
        "(id, event, detector, severity) only in the clean run: {only_clean:#?}\nonly in the other: {only_other:#?}"
    ))
}

/// A host whose clock is wrong, or a garbled time field: four lines
/// stamped decades ahead, the first of them the log's first line. Event
/// time keeps
/// following the other lines (`formats::time::Clock`), so the day gives
/// the clean day's incidents, none split, held open or dated in the future.
/// (Before, the first stray line left every later line "in the past": a
/// distributed sweep was reported as two incidents and never escalated.)
#[test]
fn lines_stamped_decades_ahead_change_no_incident() {
    let day = seed1();
    let quarter = day.events.len() / 4;
    let decades = 30 * 365 * 86_400 * 1_000_000;
    let mut bytes = Vec::new();
    for (i, e) in day.events.iter().enumerate() {
        if i % quarter == 0 {
            let mut stray = e.clone();
            stray.ts_micros += decades;
            bytes.extend_from_slice(sim::render(&stray, Format::Combined).as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(sim::render(e, Format::Combined).as_bytes());
        bytes.push(b'\n');
    }
    let s = scan(&bytes, Format::Combined, None);
    let clean = seed1_scan(Format::Combined);
    if let Err(e) = same_incidents(&clean.alerts, &s.alerts) {
        panic!("{e}");
    }
    let year = |t: &str| t[..4].to_owned();
    let last = clean.alerts.iter().map(|a| year(&a.detected_at)).max();
    let future: Vec<&Alert> = s
        .alerts
        .iter()
        .filter(|a| Some(year(&a.detected_at)) > last || Some(year(&a.last_seen)) > last)
        .collect();
    assert!(future.is_empty(), "dated in the future: {future:#?}");
}

/// Two gateway nodes behind a balancer, each with its own log, named on
/// one command line (node 1's rotated set, then node 2's). Read one after
/// the other, the second node's lines would arrive a day behind event time
/// and mix into every actor's windows (14 support agents named when this
/// was measured); `scan` merges the sets in time order instead.
#[test]
fn two_nodes_logs_scanned_together_are_merged_in_time_order() {
    let day = seed1();
    let dir = tempfile::tempdir().expect("temp dir");
    let (n1, n2) = (dir.path().join("node1"), dir.path().join("node2"));
    std::fs::create_dir_all(&n1).unwrap();
    std::fs::create_dir_all(&n2).unwrap();
    // Node 1's log rotated mid-day (`access.log.1` then `access.log`).
    let half = day.events.len() / 2;
    let mut files: Vec<Vec<u8>> = vec![Vec::new(); 3];
    for (i, e) in day.events.iter().enumerate() {
        let f = match (i % 2, i < half) {
            (0, true) => 0,
            (0, false) => 1,
            _ => 2,
        };
        files[f].extend_from_slice(sim::render(e, Format::Combined).as_bytes());
        files[f].push(b'\n');
    }
    std::fs::write(n1.join("access.log.1"), &files[0]).unwrap();
    std::fs::write(n1.join("access.log"), &files[1]).unwrap();
    std::fs::write(n2.join("access.log"), &files[2]).unwrap();
    drop(files);
    let alerts = scan_files(&[
        n1.join("access.log"),
        n2.join("access.log"),
        n1.join("access.log.1"),
    ]);
    assert_like_one_file(&day.truth, &alerts);
}

/// The alerts of `scan` (two threads) over `files`, as named.
fn scan_files(files: &[PathBuf]) -> Vec<Alert> {
    let args = CommonArgs {
        output: Some(OutputKind::Json),
        threads: 2,
        ..Default::default()
    };
    let cfg = Config::from_args(&args).expect("valid config");
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let inputs = apiwatch::sources::expand(&names).expect("inputs").0;
    let mut out = Vec::new();
    let status = apiwatch::modes::scan::run(cfg, &inputs, &[], &mut out).expect("scan");
    assert_eq!(status, apiwatch::exit::Status::Ok);
    out.split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"id\""))
        .map(|l| serde_json::from_slice(l).expect("alert json"))
        .collect()
}

/// Every family caught, no benign identity named, and as many incidents
/// of each detector as the day read from one file. (Not the same ids:
/// lines of one second come out node by node, not in the order the single
/// file had, and a BOLA incident takes its route from the actor's first
/// line.)
fn assert_like_one_file(truth: &Truth, alerts: &[Alert]) {
    let v = judge(truth, alerts, &[]);
    assert!(
        v.misses.is_empty() && v.benign_hits.is_empty(),
        "misses: {:?}\nbenign hits: {:?}",
        v.misses,
        v.benign_hits
    );
    let one = seed1_scan(Format::Combined);
    let per_detector = |a: &[Alert]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for x in a {
            m.entry(x.detector.as_str().to_owned())
                .or_default()
                .insert(x.id.clone());
        }
        m.into_iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>()
    };
    assert_eq!(per_detector(alerts), per_detector(&one.alerts));
}

/// Two nodes merged, the second's log opening with a line stamped decades
/// ahead: merged where it stands (its set's clock starts from the lines
/// after it), not held back until the other node is done, which read the
/// nodes one after the other.
#[test]
fn a_node_log_opening_with_a_stray_future_line_is_still_merged() {
    let day = seed1();
    let dir = tempfile::tempdir().expect("temp dir");
    let (n1, n2) = (dir.path().join("n1.log"), dir.path().join("n2.log"));
    let mut files: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut stray = day.events[1].clone();
    stray.ts_micros += 30 * 365 * 86_400 * 1_000_000;
    files[1].extend_from_slice(sim::render(&stray, Format::Combined).as_bytes());
    files[1].push(b'\n');
    for (i, e) in day.events.iter().enumerate() {
        files[i % 2].extend_from_slice(sim::render(e, Format::Combined).as_bytes());
        files[i % 2].push(b'\n');
    }
    std::fs::write(&n1, &files[0]).unwrap();
    std::fs::write(&n2, &files[1]).unwrap();
    drop(files);
    assert_like_one_file(&day.truth, &scan_files(&[n1, n2]));
}
