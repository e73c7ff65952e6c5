//! Enumeration: one address (IPv6: one /64) fetching many distinct objects on
//! one lookup route within minutes. Covers fast sequential walks, shuffled
//! blocks, random probing of non-existent ids, query-parameter sweeps, phone
//! number sweeps and UUID harvesting.
//!
//! Three signals, any of which fires:
//! - *block*: many numeric ids packed in one dense block. Real customers
//!   behind one address (even a carrier NAT with thousands of them) fetch ids
//!   scattered over the whole id space; a sweep, in order or shuffled, and
//!   with or without the non-existent ids, fills a block. This one ignores
//!   how many people stand behind the address, so a sweep from a NAT address
//!   is still named.
//! - *volume*: distinct objects above the route's learned baseline and floor,
//!   per identity behind the address (principals, or user agents for
//!   anonymous crowds), so a NAT address is judged per customer.
//! - *probe*: a high not-found share over many distinct ids (guessing).

use serde::{Deserialize, Serialize};

use super::baseline::{self, Baselines};
use super::{
    ActorRef, Actors, Detector, Evidence, Finding, Routes, Scope, Window, actor_scope_key, id_stats,
};
use crate::actors::ActorKey;
use crate::alerts::{DetectorKind, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::BoundedMap;
use crate::state::lookups::{Analysis, Lookup, Reuse, Ring, Scratch, distinct_since};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Windows and their distinct-object floors.
    pub windows: Vec<Window>,
    /// Ids in one dense block that fire regardless of volume, per window.
    pub block_floors: Vec<u64>,
    /// Not-found share that makes many distinct ids a probe.
    pub probe_not_found_ratio: f64,
    /// Distinct ids per identity behind the address for the volume signal.
    pub per_identity: f64,
    /// Anonymous crowds: user agents per identity.
    pub ua_per_identity: u64,
    /// Critical at this multiple of the threshold.
    pub critical_factor: f64,
    /// Lookups kept per tracked (address, route).
    pub ring: usize,
    /// Minutes without a finding before an incident closes.
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            windows: vec![
                Window {
                    secs: 60,
                    distinct: 40,
                },
                Window {
                    secs: 600,
                    distinct: 120,
                },
            ],
            block_floors: vec![30, 60],
            probe_not_found_ratio: 0.5,
            per_identity: 10.0,
            ua_per_identity: 3,
            critical_factor: 4.0,
            ring: 256,
            quiet_secs: 900,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Tracker {
    ring: Ring,
    /// For baseline sampling (see [`baseline::Touched`]).
    #[serde(default)]
    touched: baseline::Touched,
    severity: Option<Severity>,
    last_emit: i64,
    #[serde(default)]
    tally: super::Tally,
}

#[derive(Serialize, Deserialize)]
pub struct Enumeration {
    #[serde(skip)]
    cfg: Config,
    trackers: BoundedMap<(u128, RouteId), Tracker>,
    baselines: Baselines,
    #[serde(skip)]
    scratch: Scratch,
    last_baseline: Vec<i64>,
    last_expire: i64,
    /// The latest event time this detector has seen.
    #[serde(default)]
    latest: i64,
    min_floor: u64,
    door: crate::state::Doorkeeper,
    /// Each lookup route's pace in this shard, by route id (see [`Pace`]).
    #[serde(default)]
    paces: Vec<Pace>,
}

/// A route's lookups a minute, in one shard: the last ten minutes' counts,
/// and their usual level (an average over about an hour). When every
/// address of a route reads many times its usual pace at once (apps
/// reconnecting after an outage), a carrier NAT address reads many times
/// its usual too, and the volume signal cannot tell its customers from one
/// harvester when no principal is logged: a window's volume threshold is
/// then raised by the route's surge over that window, leaving out the
/// address's own lookups (a harvester on a quiet route is its surge). A
/// shard sees a fixed share of the addresses, so its ratio is the route's.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Pace {
    minute: i64,
    /// Lookups in each of the last [`PACE_RECENT`] minutes, by minute
    /// modulo that (the current one still counting).
    recent: [u32; PACE_RECENT],
    usual: f32,
    /// Minutes folded into `usual`, up to [`PACE_MINUTES`].
    minutes: u32,
    /// The first second after `minute`, and its slot in `recent`: most
    /// lookups fall in the minute of the one before, and count with one
    /// comparison.
    #[serde(default)]
    until: i64,
    #[serde(default)]
    slot: u8,
}

/// User agents behind an address that fired on volume from which its alert
/// takes it for one shared by several people (see [`Evidence::shared`]).
const SHARED_USER_AGENTS: u64 = 4;

/// Several user agents and at most one principal behind an address: it may
/// be a carrier NAT address or an office.
fn looks_shared(a: &Analysis) -> bool {
    a.user_agents >= SHARED_USER_AGENTS && a.principals <= 1
}

/// Minutes the usual pace is averaged over, and learned for before it is
/// trusted.
const PACE_MINUTES: u32 = 60;
/// Minutes of counts kept: the longest window's.
const PACE_RECENT: usize = 10;
/// A surge below this many times the usual pace raises nothing: a busy
/// minute on a quiet route is noise.
const SURGE_FROM: f64 = 3.0;
/// The most a surge raises the volume threshold by.
const SURGE_MAX: f64 = 4.0;

impl Pace {
    fn count(&mut self, now: i64) {
        if now < self.until {
            let i = self.slot as usize;
            self.recent[i] = self.recent[i].saturating_add(1);
            return;
        }
        let m = now.div_euclid(60);
        if self.until == 0 && self.minutes == 0 {
            // The route's first lookup: its minute, nothing learned yet.
            self.minute = m;
        } else if m > self.minute {
            let gap = (m - self.minute).min(PACE_MINUTES as i64);
            let done = self.recent[self.minute.rem_euclid(PACE_RECENT as i64) as usize];
            let keep = 1.0 - 1.0 / PACE_MINUTES as f32;
            self.usual = match self.minutes {
                // The first whole minute seeds the average.
                0 => done as f32,
                _ => self.usual + (done as f32 - self.usual) / PACE_MINUTES as f32,
            };
            self.usual *= keep.powi(gap as i32 - 1);
            for k in 1..=gap.min(PACE_RECENT as i64) {
                self.recent[(self.minute + k).rem_euclid(PACE_RECENT as i64) as usize] = 0;
            }
            self.minute = m;
            self.minutes = (self.minutes + gap as u32).min(PACE_MINUTES);
        }
        let i = self.minute.rem_euclid(PACE_RECENT as i64) as usize;
        self.recent[i] = self.recent[i].saturating_add(1);
        if now >= self.minute * 60 {
            (self.until, self.slot) = (self.minute * 60 + 60, i as u8);
        }
    }

    /// How many times its usual pace the route read over the last `secs`,
    /// others than `own` lookups, over [`SURGE_FROM`], at most
    /// [`SURGE_MAX`]: 1 when not (or not learned yet). One minute is the
    /// current or the last, whichever is busier (the current one has only
    /// begun).
    fn surge(&self, secs: i64, own: u64) -> f64 {
        if self.minutes < PACE_MINUTES || self.usual < 1.0 {
            return 1.0;
        }
        let n = (secs / 60).clamp(1, PACE_RECENT as i64);
        let at = |k: i64| self.recent[(self.minute - k).rem_euclid(PACE_RECENT as i64) as usize];
        let read = match n {
            1 => at(0).max(at(1)),
            _ => (0..n).map(at).sum(),
        };
        let others = read as f64 - own as f64;
        (others / (self.usual as f64 * n as f64) / SURGE_FROM).clamp(1.0, SURGE_MAX)
    }
}

impl Enumeration {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &Enumeration) {
        let _ = old;
        self.baselines.restore_config(&old.baselines);
    }

    pub fn new(cfg: Config, base: &baseline::Config, budget: usize) -> Self {
        let min_floor = cfg
            .windows
            .iter()
            .map(|w| w.distinct / 2)
            .chain(cfg.block_floors.iter().copied())
            .min()
            .unwrap_or(10)
            .max(2);
        Enumeration {
            last_baseline: vec![0; cfg.windows.len()],
            paces: Vec::new(),
            last_expire: 0,
            latest: 0,
            door: crate::state::Doorkeeper::for_table(budget, 600),
            trackers: BoundedMap::new(budget),
            baselines: Baselines::new(base, baseline::cap_for(budget)),
            scratch: Scratch::default(),
            min_floor,
            cfg,
        }
    }

    /// Judge one window; returns (severity, reason, whether on volume) when
    /// it fires. The volume threshold is raised by the route's `surge` (see
    /// [`Pace`]).
    fn judge(
        cfg: &Config,
        baselines: &Baselines,
        a: &Analysis,
        wi: usize,
        route: RouteId,
        surge: f64,
    ) -> Option<(Severity, String, bool)> {
        let w = cfg.windows[wi];
        let block_floor = cfg.block_floors.get(wi).copied().unwrap_or(w.distinct);
        let threshold = baselines.threshold(route, wi as u8, w.distinct);
        let crit = cfg.critical_factor;
        let block = a.block_count();
        if block >= block_floor {
            let sev = if block as f64 >= crit * block_floor as f64 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            return Some((
                sev,
                format!(
                    "{block} ids in one dense block within {} s (floor {block_floor})",
                    w.secs
                ),
                false,
            ));
        }
        // Only an address that looks shared is given the route's surge: a
        // crowd of single-client harvesters would raise each other's.
        let surge = match looks_shared(a) {
            true => surge,
            false => 1.0,
        };
        let volume = (threshold as f64 * surge).ceil() as u64;
        if a.distinct >= volume && a.per_identity(cfg.ua_per_identity) >= cfg.per_identity {
            let sev = if a.distinct as f64 >= crit * volume as f64 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            return Some((
                sev,
                format!(
                    "{} distinct objects within {} s (threshold {volume}{})",
                    a.distinct,
                    w.secs,
                    match volume > threshold {
                        true => format!(
                            ", raised from {threshold}: the route reads at {:.1} times its usual pace",
                            surge * SURGE_FROM
                        ),
                        false => String::new(),
                    }
                ),
                true,
            ));
        }
        let probe_floor = threshold / 2;
        if a.distinct >= probe_floor && a.not_found_ratio() >= cfg.probe_not_found_ratio {
            let sev = if a.distinct as f64 >= crit * probe_floor as f64 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            return Some((
                sev,
                format!(
                    "{} distinct objects within {} s, {:.0}% not found (probing)",
                    a.distinct,
                    w.secs,
                    a.not_found_ratio() * 100.0
                ),
                false,
            ));
        }
        None
    }
}

/// Build the evidence of a lookup analysis.
pub fn evidence(a: &Analysis, window_secs: i64, reason: String) -> Evidence {
    Evidence {
        window_secs,
        first_seen: Timestamp::from_secs(a.first_ts),
        last_seen: Timestamp::from_secs(a.last_ts),
        requests: a.requests,
        distinct_objects: a.distinct,
        not_found: a.not_found,
        ids: id_stats(a),
        sample_ids: Vec::new(),
        principals: Some(a.principals),
        user_agents: Some(a.user_agents),
        max_page: None,
        reason,
        since_flagged: None,
        shared: false,
    }
}

/// How often a tracker that is on emits again without escalating.
const REEMIT_SECS: i64 = 60;

/// Emit when a tracker starts firing, escalates, or once a minute while on.
pub fn should_emit(sev: Severity, prev: Option<Severity>, last_emit: i64, now: i64) -> bool {
    prev.is_none_or(|p| sev > p) || now - last_emit >= REEMIT_SECS
}

/// Whether any analysis now could emit (see [`should_emit`]): a tracker
/// already critical cannot escalate, so within a minute of its last
/// finding it has nothing to say. A fast walk is critical for its whole
/// length, and analysing it every few lookups only to drop the result was
/// a tenth of the per-actor detectors' work. A skipped analysis counts as
/// done, so the analyses that follow fall on the same lookups as before
/// and the findings are the same.
pub fn may_emit(prev: Option<Severity>, last_emit: i64, now: i64) -> bool {
    prev != Some(Severity::Critical) || now - last_emit >= REEMIT_SECS
}

impl Detector for Enumeration {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Enumeration
    }
    fn scope(&self) -> Scope {
        Scope::Actor(Actors {
            addr: true,
            principal: false,
            api_key: false,
        })
    }

    fn observe(&mut self, ev: &Event, shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>) {
        let (Some(obj), Some(ActorKey::Addr(addr))) = (ev.object, ev.addr()) else {
            return;
        };
        if ev.part.addr != shard {
            return;
        }
        let info = routes.info(ev.route);
        if !info.lookup {
            return;
        }
        let now = ev.ts.secs();
        self.latest = self.latest.max(now);
        let r = ev.route as usize;
        if r >= self.paces.len() {
            self.paces.resize(r + 1, Pace::default());
        }
        self.paces[r].count(now);
        let touched = baseline::Touched(self.latest);
        let cap = self.cfg.ring;
        // Admission: an address gets a tracker on its second lookup.
        let door = &mut self.door;
        let Some(t) = self.trackers.touch_if(
            &(addr, ev.route),
            || {
                door.admit(
                    addr as u64 ^ ((addr >> 64) as u64) ^ ((ev.route as u64) << 40),
                    now,
                )
            },
            || Tracker {
                ring: Ring::default(),
                touched,
                severity: None,
                last_emit: i64::MIN / 2,
                tally: super::Tally::default(),
            },
        ) else {
            return;
        };
        t.touched = touched;
        t.ring.push(
            Lookup {
                ts: now,
                id: obj.value,
                who: ev.principal.unwrap_or(0) as u32,
                ua: ev.ua as u32,
                not_found: ev.not_found(),
            },
            cap,
        );
        t.tally.add(obj.value);
        // Analyse every few lookups, and not before anything could fire.
        if (t.ring.len() as u64) < self.min_floor || !t.ring.due() {
            return;
        }
        // Marked done either way, so that the analyses keep their cadence.
        t.ring.analysed_at = t.ring.pushed;
        if !may_emit(t.severity, t.last_emit, now) {
            return;
        }
        let numeric = obj.kind.numeric();
        let mut best: Option<(Severity, String, Analysis, i64, bool)> = None;
        let mut last = Reuse::default();
        for (wi, w) in self.cfg.windows.iter().enumerate() {
            // Nothing fires on fewer lookups than the smaller of the block
            // floor and the probe floor (half the threshold, which is at
            // least the window's floor): skip the analysis, most windows of
            // most actors hold far fewer.
            let block_floor = self.cfg.block_floors.get(wi).copied().unwrap_or(w.distinct);
            let held = t.ring.count_since(now - w.secs);
            if held < block_floor.min(w.distinct / 2).max(1) {
                continue;
            }
            let a = last.analyse(&t.ring, now - w.secs, held, numeric, &mut self.scratch);
            let surge = self.paces[r].surge(w.secs, held);
            if let Some((sev, why, volume)) =
                Self::judge(&self.cfg, &self.baselines, &a, wi, ev.route, surge)
                && best.as_ref().is_none_or(|b| sev > b.0)
            {
                best = Some((sev, why, a, w.secs, volume));
            }
        }
        let Some((sev, why, a, wsecs, volume)) = best else {
            return;
        };
        if !should_emit(sev, t.severity, t.last_emit, now) {
            return;
        }
        let samples = if numeric {
            t.ring.recent_ids(now - wsecs)
        } else {
            Vec::new()
        };
        let fresh = now - t.last_emit > self.cfg.quiet_secs;
        let since_flagged = Some(
            t.tally
                .fire(fresh, || super::Tally::ring_seed(&t.ring, now - wsecs)),
        );
        t.severity = Some(t.severity.map_or(sev, |p| p.max(sev)));
        t.last_emit = now;
        let actor = ActorKey::Addr(addr);
        out.push(Finding {
            detector: DetectorKind::Enumeration,
            severity: sev,
            scope_key: actor_scope_key(actor),
            actor: ActorRef::One(actor),
            route: ev.route,
            ts: ev.ts,
            quiet_secs: self.cfg.quiet_secs,
            evidence: Evidence {
                sample_ids: samples,
                since_flagged,
                shared: volume && looks_shared(&a),
                ..evidence(&a, wsecs, why)
            },
        });
    }

    fn tick_due(&self) -> i64 {
        let expire_due = self.last_expire.saturating_add(60);
        super::baseline::refresh_due(&self.cfg.windows, &self.last_baseline, expire_due)
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        let longest = self.cfg.windows.iter().map(|w| w.secs).max().unwrap_or(600);
        // Baselines: every window length, record each actor's distinct count.
        for (wi, w) in self.cfg.windows.iter().enumerate() {
            // Sampling each actor once per window length (at least every
            // five minutes) is plenty for a percentile.
            if now - self.last_baseline[wi] < super::baseline::refresh_every(w) {
                continue;
            }
            self.last_baseline[wi] = now;
            let mut rec: Vec<(RouteId, u64)> = Vec::new();
            let teaches = |t: &Tracker| {
                t.severity.is_none() && t.ring.last_ts().is_some_and(|l| l >= now - w.secs)
            };
            for ((_, route), t) in
                super::baseline::sample(&self.trackers, |t| t.touched, now - w.secs, teaches)
            {
                let d = distinct_since(&t.ring, now - w.secs, &mut self.scratch);
                if d > 0 {
                    rec.push((*route, d));
                }
            }
            for (r, d) in rec {
                self.baselines.record(r, wi as u8, d);
            }
        }
        // Forget actors idle for longer than the longest window.
        if now - self.last_expire >= 60 {
            self.last_expire = now;
            self.trackers
                .expire_idle(|_, t| t.ring.last_ts().is_none_or(|l| l < now - longest));
        }
    }

    crate::persist_detector!(Enumeration);

    fn entries(&self) -> (usize, u64) {
        (self.trackers.len(), self.trackers.evicted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Router;

    /// A walk of `n` ids from one address, four lookups a second, and the
    /// findings it draws with `critical_factor` set as given.
    fn walk(critical_factor: f64, n: u64) -> Vec<Finding> {
        let cfg = Config {
            critical_factor,
            ..Config::default()
        };
        let mut d = Enumeration::new(cfg, &baseline::Config::default(), 1024);
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let mut out = Vec::new();
        for i in 0..n {
            let ts = 1_000 + (i / 4) as i64;
            let ip = std::net::IpAddr::from([192, 0, 2, 7]);
            let ev = crate::detectors::testing::lookup(&mut router, ts, ip, 10_000 + i);
            d.observe(&ev, 0, &router, &mut out);
        }
        out
    }

    /// A walk critical from its first finding is analysed less (nothing
    /// can be reported within a minute of a finding) but re-emits on the
    /// very lookups the same walk kept at warning does, with the same
    /// figures: a skipped analysis keeps the cadence of the others.
    #[test]
    fn a_critical_walk_re_emits_where_a_warning_one_does() {
        let (crit, warn) = (walk(1e-9, 2_000), walk(1e9, 2_000));
        assert!(crit.len() >= 5, "{} findings", crit.len());
        assert!(crit.iter().all(|f| f.severity == Severity::Critical));
        assert!(warn.iter().all(|f| f.severity == Severity::Warning));
        let at = |v: &[Finding]| -> Vec<(Timestamp, u64)> {
            v.iter().map(|f| (f.ts, f.evidence.requests)).collect()
        };
        assert_eq!(at(&crit), at(&warn));
    }

    /// A carrier NAT address without principals (nine user agents) reading
    /// 60 scattered customers in a minute: alone on a route at its usual
    /// pace it is named; in the minute every address reads twelve times its
    /// usual pace (apps reconnecting after an outage), it is not; twelve
    /// minutes into a log (the route's pace not learned yet, at real
    /// timestamps) it is. A single client is never given the surge.
    #[test]
    fn a_nat_address_in_a_route_wide_surge_is_not_named() {
        let epoch = 1_700_000_000;
        for (at, surge, uas, named) in [
            (7_140, false, 9, true),
            (7_140, true, 9, false),
            (720, false, 9, true),
            (7_140, true, 1, true),
        ] {
            let mut d = Enumeration::new(Config::default(), &baseline::Config::default(), 1024);
            let mut router = Router::new(Vec::new(), Vec::new(), 100);
            let mut rng = crate::test_rng::Rng::new(0x5eed_0001);
            let mut evs = Vec::new();
            // Two hours of customers, 30 lookups a minute from 2,000
            // addresses, twelve times that in the surge's minute; and the
            // NAT address's minute.
            for s in 0..7_200i64 {
                let n = if surge && (at..at + 60).contains(&s) {
                    12
                } else {
                    1
                };
                for _ in 0..n * (s % 2 == 0) as i64 {
                    let a = rng.below(2_000) as u32;
                    let ip = std::net::IpAddr::from((0x0a00_0000 + a).to_be_bytes());
                    let id = 1_000_000 + rng.below(1_000_000);
                    evs.push(crate::detectors::testing::lookup(
                        &mut router,
                        epoch + s,
                        ip,
                        id,
                    ));
                }
            }
            for k in 0..60u64 {
                let ip = std::net::IpAddr::from([100, 64, 0, 1]);
                let ts = epoch + at + k as i64;
                let mut e =
                    crate::detectors::testing::lookup(&mut router, ts, ip, 2_000_000 + k * 7_919);
                e.ua = k % uas;
                evs.push(e);
            }
            evs.sort_by_key(|e| e.ts);
            let mut out = Vec::new();
            for e in &evs {
                d.observe(e, 0, &router, &mut out);
            }
            let nat = out
                .iter()
                .filter(|f| f.evidence.reason.contains("distinct objects"));
            assert_eq!(
                nat.count() > 0,
                named,
                "at {at} s, surge {surge}, {uas} user agents"
            );
        }
    }

    /// Skipping an analysis when `may_emit` says no loses nothing: no
    /// finding it could make would be emitted; and it says no only then.
    #[test]
    fn an_analysis_is_skipped_only_when_nothing_could_be_emitted() {
        let sevs = [Severity::Warning, Severity::Critical];
        for prev in [None, Some(Severity::Warning), Some(Severity::Critical)] {
            for since in [0, 1, 30, 59, 60, 61, 600] {
                let (last, now) = (1_000, 1_000 + since);
                let any = sevs.iter().any(|&s| should_emit(s, prev, last, now));
                assert_eq!(may_emit(prev, last, now), any, "{prev:?}, {since} s");
            }
        }
    }
}
