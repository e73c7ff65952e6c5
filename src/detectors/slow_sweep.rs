//! Slow sweep: the enumeration signal stretched over hours. About a hundred
//! lookups an hour from one address, or a browser-like walk with one API key
//! from a few residential addresses, never trips a per-minute threshold.
//!
//! Two signals:
//! - *slow block*: within an hour, lookups that fill one dense block of
//!   numeric ids, built over more than ten minutes at a rate enumeration does
//!   not flag (so one fast walk is one incident, not two);
//! - *long volume*: over a day, many distinct objects (HyperLogLog) on most
//!   hours of the day, per identity behind the actor. A carrier NAT address
//!   carrying the same count of lookups for its many customers has as many
//!   principals and user agents behind it, and scattered ids.
//!
//! Actors: addresses and API keys (principals are BOLA's business).

use serde::{Deserialize, Serialize};

use super::enumeration::{evidence, may_emit, should_emit};
use super::{ActorRef, Actors, Detector, Evidence, Finding, Routes, Scope, actor_scope_key};
use crate::actors::ActorKey;
use crate::alerts::{DetectorKind, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::BoundedMap;
use crate::state::crowd::Crowds;
use crate::state::hll::{Hll, mix};
use crate::state::lookups::{BLOCK_GAP, Lookup, Ring, Scratch, analyse};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Window of the slow-block signal: `block_floor` ids within it.
    pub block_window_secs: i64,
    /// The window instead, for an actor with fewer than `block_floor`
    /// lookups in `block_window_secs` and no more than its share of them
    /// over this one (as many per `block_window_secs`): a sweep of 6 to 15
    /// lookups an hour never holds 20 ids within an hour. Only such actors
    /// are judged over it, so the faster ones cost what they did.
    pub very_slow_window_secs: i64,
    /// Ids in one dense block within that window.
    pub block_floor: u64,
    /// The block must have taken at least this long to build.
    pub min_span_secs: i64,
    /// Share of the window's lookups that must be distinct ids.
    pub min_distinct_share: f64,
    /// Faster than this many lookups in 10 minutes is enumeration's case.
    pub max_per_10min: u64,
    /// The long-volume signal. Off by default: until a fix late in its
    /// life it compared six-hour block numbers with times and never fired,
    /// and switched on it names carrier-NAT and support-agent addresses in
    /// the simulated day (their many customers read many records a day, and
    /// the identities counted behind an address undercount them). Dense
    /// slow blocks are caught either way.
    pub long_volume: bool,
    /// Distinct objects in a day for the long-volume signal.
    pub day_floor: u64,
    /// Hours of the day with lookups.
    pub min_active_hours: u32,
    /// Distinct objects per identity behind the actor.
    pub per_identity: f64,
    pub critical_factor: f64,
    /// An API key used by more identities than this (addresses and
    /// principals) is shared by an app, not one actor.
    pub max_key_identities: usize,
    pub ring: usize,
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            max_key_identities: 16,
            block_window_secs: 3600,
            very_slow_window_secs: 6 * 3600,
            block_floor: 20,
            min_span_secs: 600,
            min_distinct_share: 0.7,
            max_per_10min: 100,
            day_floor: 800,
            min_active_hours: 8,
            long_volume: false,
            per_identity: 20.0,
            critical_factor: 4.0,
            ring: 256,
            quiet_secs: 7200,
        }
    }
}

const BLOCK_HOURS: i64 = 6;
const SMALL_SET: usize = 64;

#[derive(Serialize, Deserialize)]
struct Tracker {
    ring: Ring,
    /// What only the long-volume signal needs; none while it is off.
    #[serde(default)]
    long: Option<Box<Day>>,
    severity: Option<Severity>,
    last_emit: i64,
    #[serde(default)]
    tally: super::Tally,
}

/// A tracker's day, for the long-volume signal.
#[derive(Serialize, Deserialize)]
struct Day {
    /// Four six-hour HyperLogLogs: a sliding day of distinct objects.
    days: [(i64, Hll); 4],
    /// Lookups per hour-of-day slot, with the hour each slot last held.
    hours: [(i64, u32); 24],
    /// Identities behind the actor (capped small sets of 32-bit hashes).
    principals: Vec<u32>,
    uas: Vec<u32>,
    addrs: Vec<u32>,
}

impl Default for Day {
    fn default() -> Self {
        Day {
            days: std::array::from_fn(|_| (i64::MIN, Hll::default())),
            hours: [(i64::MIN, 0); 24],
            principals: Vec::new(),
            uas: Vec::new(),
            addrs: Vec::new(),
        }
    }
}

impl Tracker {
    fn new() -> Self {
        Tracker {
            ring: Ring::default(),
            long: None,
            severity: None,
            last_emit: i64::MIN / 2,
            tally: super::Tally::default(),
        }
    }

    /// As [`Tracker::new`], in place (keeping small allocations).
    fn reset(&mut self) {
        self.ring.clear();
        if let Some(d) = &mut self.long {
            for slot in &mut d.days {
                *slot = (i64::MIN, Hll::default());
            }
            d.hours = [(i64::MIN, 0); 24];
            d.principals.clear();
            d.uas.clear();
            d.addrs.clear();
        }
        self.severity = None;
        self.last_emit = i64::MIN / 2;
        self.tally = super::Tally::default();
    }
}

impl Day {
    /// The distinct objects of the last day (and up to six hours more).
    fn day_sketch(&self, now: i64) -> Hll {
        let mut h = Hll::default();
        // Slots hold six-hour block numbers, not times: the current block
        // and the three before it.
        let block = now.div_euclid(BLOCK_HOURS * 3600);
        for (start, b) in &self.days {
            if *start > block - 4 {
                h.merge(b);
            }
        }
        h
    }

    /// Lookups in the hours of the last day.
    fn day_lookups(&self, now: i64) -> u64 {
        let hour = now.div_euclid(3600);
        self.hours
            .iter()
            .filter(|(h, _)| *h > hour - 24)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// The first hour of the last day with lookups (as an hour number).
    fn first_hour(&self, now: i64) -> Option<i64> {
        let hour = now.div_euclid(3600);
        self.hours
            .iter()
            .filter(|(h, n)| *h > hour - 24 && *n > 0)
            .map(|(h, _)| *h)
            .min()
    }

    fn active_hours(&self, now: i64) -> u32 {
        let hour = now.div_euclid(3600);
        self.hours
            .iter()
            .filter(|(h, n)| *h > hour - 24 && *n >= 3)
            .count() as u32
    }
}

fn add_small(v: &mut Vec<u32>, x: u32) {
    if x != 0 && v.len() < SMALL_SET && !v.contains(&x) {
        v.push(x);
    }
}

#[derive(Serialize, Deserialize)]
pub struct SlowSweep {
    #[serde(skip)]
    cfg: Config,
    trackers: BoundedMap<(ActorKey, RouteId), Tracker>,
    #[serde(skip)]
    scratch: Scratch,
    crowds: Crowds,
    last_expire: i64,
    door: crate::state::Doorkeeper,
}

impl SlowSweep {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &SlowSweep) {
        let _ = old;
    }

    pub fn new(cfg: Config, budget: usize) -> Self {
        SlowSweep {
            cfg,
            trackers: BoundedMap::new(budget),
            scratch: Scratch::default(),
            crowds: Crowds::new(budget),
            last_expire: 0,
            door: crate::state::Doorkeeper::for_table(budget, 3600),
        }
    }

    fn observe_actor(
        &mut self,
        actor: ActorKey,
        ev: &Event,
        numeric: bool,
        out: &mut Vec<Finding>,
    ) {
        let obj = ev.object.expect("lookup has an object");
        let now = ev.ts.secs();
        let cap = self.cfg.ring;
        let key = (actor, ev.route);
        // Admission: an actor gets a tracker on its second lookup.
        let door = &mut self.door;
        let Some(t) = self.trackers.touch_if_reusing(
            &key,
            || door.admit(actor_scope_key(actor) ^ ev.route as u64, now),
            Tracker::new,
            Tracker::reset,
        ) else {
            return;
        };
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
        // The day's sketches, hour counts and identities serve only the
        // long-volume signal: nothing to keep while it is off.
        if self.cfg.long_volume {
            let d = t.long.get_or_insert_with(Box::default);
            let block = now.div_euclid(BLOCK_HOURS * 3600);
            let slot = &mut d.days[(block.rem_euclid(4)) as usize];
            if slot.0 != block {
                *slot = (block, Hll::default());
            }
            slot.1.add(mix(obj.value));
            let hour = now.div_euclid(3600);
            let hs = &mut d.hours[hour.rem_euclid(24) as usize];
            if hs.0 != hour {
                *hs = (hour, 0);
            }
            hs.1 += 1;
            add_small(&mut d.principals, ev.principal.unwrap_or(0) as u32);
            add_small(&mut d.uas, ev.ua as u32 | 1);
            // Addresses behind an actor only tell something about an API key.
            if let ActorKey::ApiKey(_) = actor
                && let Some(ip) = ev.ip
            {
                add_small(
                    &mut d.addrs,
                    mix(crate::actors::addr_key(ip) as u64) as u32 | 1,
                );
            }
        }
        if (t.ring.len() as u64) < self.cfg.block_floor.min(10) || !t.ring.due() {
            return;
        }
        // Marked done either way, so that the analyses keep their cadence.
        t.ring.analysed_at = t.ring.pushed;
        if !may_emit(t.severity, t.last_emit, now) {
            return;
        }
        let cfg = &self.cfg;
        let mut fired: Option<(Severity, String, Evidence)> = None;
        // The long-volume signal looks past the ring: its figures, and the
        // totals since flagged, come from the day's hour counts and sketches.
        let mut day_seed = None;
        // Slow block. An actor faster than that is enumeration's case:
        // asked first, it spares most analyses of busy actors.
        let recent = t.ring.count_since(now - 600);
        // The very slow window only for an actor slow over all of it too:
        // one that walked fast a while ago and is quiet now would be judged
        // on its whole ring at every look, for nothing enumeration had not
        // said (callgrind: 5.6% more instructions on the bench log).
        let slow = cfg.very_slow_window_secs.max(cfg.block_window_secs);
        let per_slow = cfg.block_floor * (slow / cfg.block_window_secs) as u64;
        let window = if t.ring.count_since(now - cfg.block_window_secs) < cfg.block_floor
            && t.ring.count_since(now - slow) <= per_slow
        {
            slow
        } else {
            cfg.block_window_secs
        };
        let since = now - window;
        // No block of `block_floor` ids in fewer lookups: skip the analysis.
        // Nor without `block_floor` lookups near this one: the block must
        // hold this id (be growing), and a block of n ids spans at most
        // BLOCK_GAP * (n - 1), n being at most the lookups held. Customers
        // behind a busy address fetch ids far apart, so most of their
        // analyses end here, after one pass instead of a sort.
        let held = t.ring.count_since(since);
        if numeric
            && recent <= cfg.max_per_10min
            && held >= cfg.block_floor
            && t.ring
                .count_near(since, obj.value, BLOCK_GAP * held.saturating_sub(1))
                >= cfg.block_floor
        {
            let a = analyse(&t.ring, since, true, &mut self.scratch);
            let (n, lo, hi) = a.block.unwrap_or((0, 0, 0));
            let distinct_share = a.distinct as f64 / a.requests.max(1) as f64;
            // The block itself must be built slowly and still be growing:
            // a fast sweep whose tail lingers in the window is enumeration's
            // incident (and over), not a slow one.
            let (mut b_first, mut b_last, mut b_n) = (i64::MAX, i64::MIN, 0u64);
            for l in t.ring.since(since).filter(|l| l.id >= lo && l.id <= hi) {
                b_first = b_first.min(l.ts);
                b_last = b_last.max(l.ts);
                b_n += 1;
            }
            let b_span = b_last.saturating_sub(b_first);
            let avg_per_10min = b_n as f64 * 600.0 / b_span.max(600) as f64;
            let growing = obj.value >= lo && obj.value <= hi;
            if n >= cfg.block_floor
                && growing
                && b_span >= cfg.min_span_secs
                && recent <= cfg.max_per_10min
                && avg_per_10min <= cfg.max_per_10min as f64
                && distinct_share >= cfg.min_distinct_share
            {
                let sev = if n as f64 >= cfg.critical_factor * cfg.block_floor as f64 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let why = format!(
                    "{n} ids in one dense block ({lo}..{hi}) fetched slowly over {} min",
                    b_span / 60
                );
                let mut e = evidence(&a, window, why.clone());
                e.sample_ids = t.ring.recent_ids(since);
                fired = Some((sev, why, e));
            }
        }
        // Long volume.
        if let Some(d) = t.long.as_deref().filter(|_| fired.is_none()) {
            let active = d.active_hours(now);
            // Counting the day's sketch is the costly part: only once the
            // cheap condition holds.
            let sketch = (active >= cfg.min_active_hours).then(|| d.day_sketch(now));
            let day = sketch.as_ref().map_or(0, Hll::count);
            let identities = match actor {
                ActorKey::ApiKey(_) => d.addrs.len().max(d.principals.len()),
                _ => d.principals.len().max(d.uas.len() / 3),
            }
            .max(1) as f64;
            if day >= cfg.day_floor
                && active >= cfg.min_active_hours
                && day as f64 / identities >= cfg.per_identity
            {
                let sev = if day as f64 >= cfg.critical_factor * cfg.day_floor as f64 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let a = analyse(&t.ring, now - 24 * 3600, numeric, &mut self.scratch);
                let why = format!(
                    "about {day} distinct objects over {active} active hours in a day, {identities:.0} {} behind it",
                    if identities == 1.0 {
                        "identity"
                    } else {
                        "identities"
                    }
                );
                let mut e = evidence(&a, 24 * 3600, why.clone());
                // The ring holds the last 256 lookups, not the day: the
                // day's figures come from its hour counts and sketches,
                // and id statistics of a part of it would mislead.
                e.distinct_objects = day;
                e.requests = d.day_lookups(now).max(day);
                e.ids = None;
                if let Some(h) = d.first_hour(now) {
                    e.first_seen = e.first_seen.min(Timestamp::from_secs(h * 3600));
                }
                e.principals = Some(d.principals.len() as u64);
                e.user_agents = Some(d.uas.len() as u64);
                day_seed = sketch.map(|h| (e.requests, h));
                fired = Some((sev, why, e));
            }
        }
        let Some((sev, _why, mut ev_)) = fired else {
            return;
        };
        if !should_emit(sev, t.severity, t.last_emit, now) {
            return;
        }
        let fresh = now - t.last_emit > cfg.quiet_secs;
        let (ring, window) = (&t.ring, ev_.window_secs);
        let totals = t.tally.fire(fresh, || {
            day_seed.unwrap_or_else(|| super::Tally::ring_seed(ring, now - window))
        });
        ev_.since_flagged = Some(totals);
        t.severity = Some(t.severity.map_or(sev, |p| p.max(sev)));
        t.last_emit = now;
        out.push(Finding {
            detector: DetectorKind::SlowSweep,
            severity: sev,
            scope_key: actor_scope_key(actor),
            actor: ActorRef::One(actor),
            route: ev.route,
            ts: ev.ts,
            quiet_secs: cfg.quiet_secs,
            evidence: ev_,
        });
    }
}

impl Detector for SlowSweep {
    fn kind(&self) -> DetectorKind {
        DetectorKind::SlowSweep
    }
    fn scope(&self) -> Scope {
        Scope::Actor(Actors {
            addr: true,
            principal: false,
            api_key: true,
        })
    }

    fn observe(&mut self, ev: &Event, shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>) {
        // Crowds are keyed by API key: the key's shard counts them.
        let key_mine = ev.part.api_key == shard;
        if key_mine {
            self.crowds.see(ev);
        }
        let Some(obj) = ev.object else { return };
        if !routes.info(ev.route).lookup {
            return;
        }
        let numeric = obj.kind.numeric();
        if let Some(a) = ev.addr()
            && ev.part.addr == shard
        {
            self.observe_actor(a, ev, numeric, out);
        }
        // A key shared by a crowd (a mobile app's key) is not an actor.
        if let Some(k) = ev.api_key_key()
            && key_mine
            && self.crowds.size(ev.api_key.expect("has key")) <= self.cfg.max_key_identities
        {
            self.observe_actor(k, ev, numeric, out);
        }
    }

    fn tick_due(&self) -> i64 {
        self.last_expire.saturating_add(300)
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        if now - self.last_expire >= 300 {
            self.last_expire = now;
            self.trackers
                .expire_idle(|_, t| t.ring.last_ts().is_none_or(|l| l < now - 24 * 3600));
        }
    }

    crate::persist_detector!(SlowSweep);

    fn entries(&self) -> (usize, u64) {
        (self.trackers.len(), self.trackers.evicted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The long-volume signal on real (epoch) times: one address reading
    /// 50 scattered records an hour for 20 hours is named once switched
    /// on, and never while off (the default). Its day sketch once compared
    /// block numbers with times, and stayed empty for any date after 1970.
    #[test]
    fn long_volume_fires_on_epoch_times_when_switched_on() {
        let run = |long_volume: bool| {
            let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
            let cfg = Config {
                long_volume,
                ..Config::default()
            };
            let mut d = SlowSweep::new(cfg, 64);
            let mut out = Vec::new();
            let mut x = 7u64;
            let t0 = 1_772_409_600; // 2026-03-02T00:00:00Z
            for i in 0..1000i64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = 1_000_000 + (x >> 33) % 5_000_000;
                let ip = std::net::IpAddr::from([198, 51, 100, 7]);
                let ev = crate::detectors::testing::lookup(&mut router, t0 + i * 72, ip, id);
                d.observe(&ev, 0, &router, &mut out);
            }
            out
        };
        let on = run(true);
        assert!(!on.is_empty(), "a day of scattered lookups is named");
        assert!(
            on[0].evidence.reason.contains("active hours"),
            "{}",
            on[0].evidence.reason
        );
        let e = &on[0].evidence;
        // The day's figures, not the ring's last 256 lookups.
        assert!(
            e.requests >= e.distinct_objects && e.requests > 256,
            "{} {}",
            e.requests,
            e.distinct_objects
        );
        assert!(e.ids.is_none());
        assert_eq!(e.first_seen, Timestamp::from_secs(1_772_409_600));
        let totals = on[0].evidence.since_flagged.expect("totals");
        assert!(
            totals.requests >= on[0].evidence.distinct_objects.min(800),
            "{totals:?}"
        );
        assert!(run(false).is_empty());
    }

    /// A sweep of one lookup every six minutes (ten an hour, never 20 ids
    /// within an hour) is reported once 20 of its ids lie in the very slow
    /// window, a little over two hours in; a reader of as many ids
    /// scattered over the id space is not.
    #[test]
    fn a_very_slow_sweep_is_reported() {
        let run = |scattered: bool| {
            let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
            let mut d = SlowSweep::new(Config::default(), 64);
            let mut out = Vec::new();
            for i in 0..60u64 {
                let id = if scattered {
                    1_000_000 + i * 7_919
                } else {
                    1_000_000 + i
                };
                let ip = std::net::IpAddr::from([198, 51, 100, 8]);
                let ev =
                    crate::detectors::testing::lookup(&mut router, 10_000 + i as i64 * 360, ip, id);
                d.observe(&ev, 0, &router, &mut out);
            }
            out
        };
        let sweep = run(false);
        let f = sweep.first().expect("the very slow sweep is reported");
        let after = f.ts.secs() - 10_000;
        assert!((19 * 360..=24 * 360).contains(&after), "after {after} s");
        assert_eq!(f.evidence.window_secs, 6 * 3600);
        assert!(run(true).is_empty(), "scattered reads are no block");
    }

    /// A tracker taking over an evicted one's slot is as good as new.
    #[test]
    fn a_reset_tracker_is_a_new_one() {
        let mut t = Tracker::new();
        for i in 0..300 {
            t.ring.push(
                Lookup {
                    ts: i,
                    id: i as u64,
                    who: 7,
                    ua: 9,
                    not_found: i % 3 == 0,
                },
                256,
            );
            let d = t.long.get_or_insert_with(Box::default);
            d.days[(i % 4) as usize] = (i, Hll::default());
            d.days[(i % 4) as usize].1.add(mix(i as u64));
            d.hours[(i % 24) as usize] = (i, 3);
            add_small(&mut d.principals, i as u32 + 1);
            add_small(&mut d.uas, 5);
            add_small(&mut d.addrs, 6);
        }
        t.severity = Some(Severity::Critical);
        t.last_emit = 99;
        t.reset();
        let json = |t: &Tracker| serde_json::to_string(t).unwrap();
        // The day's part is kept (reset) for the next actor, as allocations are.
        let mut fresh = Tracker::new();
        fresh.long = Some(Box::default());
        assert_eq!(json(&t), json(&fresh));
        assert_eq!(t.ring.last_ts(), None);
    }
}
