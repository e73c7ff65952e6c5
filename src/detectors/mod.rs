//! Detectors: [`Event`] in, [`Finding`] out. One trait, one file per
//! detector, and no format knowledge inside any of them.
//!
//! Each detector states its shard boundary ([`Scope`]): per-actor detectors
//! only need the events of one actor, route-wide ones the events of one
//! route. That is the cut along which work is split over threads now and over
//! machines later, so no detector may assume it sees every record.
//!
//! Baselines are learned from the traffic (hdrhistograms of per-actor counts
//! per route and window), with absolute floors so a quiet API is not alarmed
//! by its first busy client. Until a baseline holds `warmup_samples` actor
//! windows, only the floors apply (the documented warm-up).

pub mod baseline;
pub mod bola;
pub mod distributed;
pub mod enumeration;
pub mod pagination;
pub mod slow_sweep;
pub mod stuffing;

use serde::{Deserialize, Serialize};

use crate::actors::ActorKey;
use crate::alerts::{DetectorKind, IdStats, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::{RouteId, RouteInfo};

/// Which events a detector must see together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All events of one actor, of the kinds the detector keys on: a shard
    /// hands it only events whose actor of such a kind it owns.
    Actor(Actors),
    /// All events of one route.
    Route,
}

/// The kinds of actor a per-actor detector keys on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actors {
    pub addr: bool,
    pub principal: bool,
    pub api_key: bool,
}

impl Actors {
    pub const ALL: Actors = Actors {
        addr: true,
        principal: true,
        api_key: true,
    };
}

/// What a detector may know about routes.
pub trait Routes {
    fn info(&self, id: RouteId) -> &RouteInfo;
}

impl Routes for crate::routes::Router {
    fn info(&self, id: RouteId) -> &RouteInfo {
        crate::routes::Router::info(self, id)
    }
}

/// Who an incident is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActorRef {
    One(ActorKey),
    /// A crowd of addresses (distributed sweep, credential stuffing).
    Addresses(Vec<u128>),
}

/// The numbers behind a finding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub window_secs: i64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub requests: u64,
    pub distinct_objects: u64,
    pub not_found: u64,
    pub ids: Option<IdStats>,
    /// Numeric sample ids (non-numeric samples are taken from lines).
    pub sample_ids: Vec<u64>,
    pub principals: Option<u64>,
    pub user_agents: Option<u64>,
    pub max_page: Option<u32>,
    /// What crossed which threshold, for the summary.
    pub reason: String,
    /// The actor's totals since it was flagged (per-actor detectors).
    #[serde(default)]
    pub since_flagged: Option<crate::alerts::Totals>,
    /// An address that fired on volume, not on a dense block, with several
    /// user agents and at most one principal behind it: perhaps a carrier
    /// NAT address or an office, which blocking would shut everyone out of.
    #[serde(default)]
    pub shared: bool,
}

/// Running totals of a tracked actor since it was flagged. The window
/// figures say why it fired; an operator also needs how much it took in
/// all, and a walk of thousands of ids would otherwise close its incident
/// saying "188 distinct objects within 60 s". Seeded with the lookups of
/// the window that fired, then every lookup after; started afresh when the
/// actor fires again after its incident has closed. Only flagged actors
/// carry the sketch.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    requests: u64,
    ids: Option<Box<crate::state::hll::Hll>>,
}

impl Tally {
    /// A lookup of `id` (as the ring holds it), pushed after the tracker
    /// was flagged.
    pub fn add(&mut self, id: u64) {
        if let Some(h) = &mut self.ids {
            self.requests += 1;
            h.add(crate::state::hll::mix(id));
        }
    }

    /// The tracker fires. `fresh`: no incident of it can be open (its last
    /// finding is older than the detector's quiet time), so the totals
    /// start here, from `seed`: the lookups of the window that fired and
    /// their distinct ids (see [`Tally::ring_seed`]).
    pub fn fire(
        &mut self,
        fresh: bool,
        seed: impl FnOnce() -> (u64, crate::state::hll::Hll),
    ) -> crate::alerts::Totals {
        if self.ids.is_none() || fresh {
            let (n, h) = seed();
            self.requests = n;
            self.ids = Some(Box::new(h));
        }
        let distinct = self.ids.as_ref().map_or(0, |h| h.count());
        crate::alerts::Totals {
            requests: self.requests,
            // An estimate: never more than the lookups counted.
            distinct_objects: distinct.min(self.requests),
        }
    }

    /// A seed for [`Tally::fire`]: the ring's lookups since `since`.
    pub fn ring_seed(
        ring: &crate::state::lookups::Ring,
        since: i64,
    ) -> (u64, crate::state::hll::Hll) {
        let mut h = crate::state::hll::Hll::default();
        let mut n = 0;
        for l in ring.since(since) {
            n += 1;
            h.add(crate::state::hll::mix(l.id));
        }
        (n, h)
    }
}

/// A detector's verdict on an actor (or route) at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub detector: DetectorKind,
    pub severity: Severity,
    /// Stable key of the actor or crowd; with the route it keys the incident.
    pub scope_key: u64,
    pub actor: ActorRef,
    pub route: RouteId,
    pub ts: Timestamp,
    pub quiet_secs: i64,
    pub evidence: Evidence,
}

pub trait Detector: Send {
    fn kind(&self) -> DetectorKind;
    fn scope(&self) -> Scope;
    /// See one event (allowlisted events never arrive here). `shard` is the
    /// shard this instance serves: a per-actor detector handles only the
    /// actors of the event that `ev.part` assigns to it. Route-wide
    /// detectors are only handed events of routes their shard owns.
    fn observe(&mut self, ev: &Event, shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>);
    /// Event time moved on to `now` (called at most once per second of
    /// event time, and not before [`Detector::tick_due`]): expire state,
    /// refresh baselines, evaluate crowds.
    fn tick(&mut self, now: Timestamp, routes: &dyn Routes, out: &mut Vec<Finding>);
    /// The first second of event time at which [`Detector::tick`] would do
    /// anything, as its state stands: the shard skips the calls before it
    /// (a tick every second of event time, to detectors that act every few
    /// minutes, cost more than what they do). Only for a detector whose due
    /// time depends on nothing [`Detector::observe`] changes, since the
    /// shard asks again only after a tick; the default is every tick. A
    /// detector whose due time `observe` moves (distributed sweep,
    /// credential stuffing) keeps it itself and returns from `tick` at once
    /// before it.
    fn tick_due(&self) -> i64 {
        tick_at_once()
    }
    /// Entries held and evicted, for the memory report.
    fn entries(&self) -> (usize, u64);
    /// Write the detector's state as JSON, for `check`'s state file
    /// (streamed: a state of many trackers is never held twice in memory).
    fn save(&self, w: &mut dyn std::io::Write) -> serde_json::Result<()>;
    /// Restore state saved by [`Detector::save`]; thresholds stay as
    /// configured now.
    fn load(&mut self, v: &serde_json::value::RawValue) -> anyhow::Result<()>;
}

/// `save`/`load` for a detector struct that derives serde, skipping its
/// config (and scratch buffers), which are restored from the running one.
#[macro_export]
macro_rules! persist_detector {
    ($t:ty) => {
        fn save(&self, w: &mut dyn std::io::Write) -> serde_json::Result<()> {
            serde_json::to_writer(w, self)
        }
        fn load(&mut self, v: &serde_json::value::RawValue) -> anyhow::Result<()> {
            let mut d: $t = serde_json::from_str(v.get())?;
            d.cfg = self.cfg.clone();
            d.restore(self);
            *self = d;
            Ok(())
        }
    };
}

/// Thresholds and windows of every detector (`[detectors.*]` in the config).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub enumeration: enumeration::Config,
    pub slow_sweep: slow_sweep::Config,
    pub distributed_sweep: distributed::Config,
    pub bola: bola::Config,
    pub pagination_harvest: pagination::Config,
    pub credential_stuffing: stuffing::Config,
    pub baseline: baseline::Config,
}

impl DetectConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, w) in [
            ("enumeration", &self.enumeration.windows),
            ("bola", &self.bola.windows),
        ] {
            if w.is_empty() {
                anyhow::bail!("[detectors.{name}] windows needs at least one window");
            }
            if w.iter()
                .any(|w| w.secs < 10 || w.secs > 86_400 || w.distinct < 2)
            {
                anyhow::bail!("[detectors.{name}] windows must be 10 s .. 1 day with floors >= 2");
            }
        }
        // Shares are fractions: `50` meant as 50% would switch a signal
        // off without a word.
        let shares = [
            (
                "enumeration",
                "probe_not_found_ratio",
                self.enumeration.probe_not_found_ratio,
            ),
            (
                "slow_sweep",
                "min_distinct_share",
                self.slow_sweep.min_distinct_share,
            ),
            (
                "credential_stuffing",
                "min_failure_ratio",
                self.credential_stuffing.min_failure_ratio,
            ),
        ];
        for (name, key, v) in shares {
            if !(0.0..=1.0).contains(&v) {
                anyhow::bail!(
                    "[detectors.{name}] {key} is a share from 0 to 1 (0.5 for half), not {v}"
                );
            }
        }
        let b = &self.baseline;
        if b.percentile.is_nan() || b.percentile <= 0.0 || b.percentile > 100.0 {
            anyhow::bail!(
                "[detectors.baseline] percentile must be above 0 and at most 100, not {}",
                b.percentile
            );
        }
        let positive = [
            ("baseline", "multiplier", b.multiplier),
            (
                "enumeration",
                "critical_factor",
                self.enumeration.critical_factor,
            ),
            ("enumeration", "per_identity", self.enumeration.per_identity),
            (
                "slow_sweep",
                "critical_factor",
                self.slow_sweep.critical_factor,
            ),
            ("slow_sweep", "per_identity", self.slow_sweep.per_identity),
            ("bola", "critical_factor", self.bola.critical_factor),
            ("bola", "per_identity", self.bola.per_identity),
            (
                "pagination_harvest",
                "critical_factor",
                self.pagination_harvest.critical_factor,
            ),
            (
                "credential_stuffing",
                "critical_factor",
                self.credential_stuffing.critical_factor,
            ),
            (
                "distributed_sweep",
                "max_per_address",
                self.distributed_sweep.max_per_address,
            ),
        ];
        for (name, key, v) in positive {
            if v.is_nan() || v <= 0.0 || v.is_infinite() {
                anyhow::bail!("[detectors.{name}] {key} must be a positive number, not {v}");
            }
        }
        let e = &self.enumeration;
        if e.block_floors.len() != e.windows.len() || e.block_floors.iter().any(|&f| f < 2) {
            anyhow::bail!(
                "[detectors.enumeration] block_floors needs one floor of at least 2 per window \
                 ({} windows, floors {:?})",
                e.windows.len(),
                e.block_floors
            );
        }
        for (name, key, v, lo, hi) in self.ranges() {
            if !(lo..=hi).contains(&v) {
                anyhow::bail!("[detectors.{name}] {key} must be {lo} to {hi}, not {v}");
            }
        }
        Ok(())
    }

    /// The integer settings and the values that make sense for them: 0 or
    /// a negative time would switch a detector off or make its incidents
    /// flap without a word, and the memory ceiling sizes the tables for
    /// rings of at most 256 lookups. (section, key, value, lowest, highest)
    #[rustfmt::skip]
    fn ranges(&self) -> Vec<(&'static str, &'static str, i128, i128, i128)> {
        type Keys = Vec<(&'static str, i128, i128, i128)>;
        const WEEK: i128 = 7 * 86_400;
        const DAY: i128 = 86_400;
        const MANY: i128 = 1 << 32;
        let (e, s, b) = (&self.enumeration, &self.slow_sweep, &self.bola);
        let (p, c, d) = (&self.pagination_harvest, &self.credential_stuffing, &self.distributed_sweep);
        let groups: [(&'static str, Keys); 6] = [
            ("enumeration", vec![
                ("ring",               e.ring as i128,               16, 256),
                ("quiet_secs",         e.quiet_secs as i128,          1, WEEK),
                ("ua_per_identity",    e.ua_per_identity as i128,     1, MANY),
            ]),
            ("slow_sweep", vec![
                ("ring",               s.ring as i128,               16, 256),
                ("quiet_secs",         s.quiet_secs as i128,          1, WEEK),
                ("block_window_secs",  s.block_window_secs as i128,  60, WEEK),
                ("very_slow_window_secs", s.very_slow_window_secs as i128, 60, WEEK),
                ("block_floor",        s.block_floor as i128,         2, MANY),
                ("min_span_secs",      s.min_span_secs as i128,       0, WEEK),
                ("max_per_10min",      s.max_per_10min as i128,       1, MANY),
                ("day_floor",          s.day_floor as i128,           2, MANY),
                ("min_active_hours",   s.min_active_hours as i128,    1, 24),
                ("max_key_identities", s.max_key_identities as i128,  1, 1024),
            ]),
            ("bola", vec![
                ("ring",               b.ring as i128,               16, 256),
                ("quiet_secs",         b.quiet_secs as i128,          1, WEEK),
                ("day_floor",          b.day_floor as i128,           2, MANY),
                ("search_grace_secs",  b.search_grace_secs as i128,   0, DAY),
                ("max_key_identities", b.max_key_identities as i128,  1, 1024),
            ]),
            ("pagination_harvest", vec![
                ("window_secs",        p.window_secs as i128,        10, WEEK),
                ("depth_floor",        p.depth_floor as i128,         2, MANY),
                ("min_pages",          p.min_pages as i128,           2, MANY),
                ("quiet_secs",         p.quiet_secs as i128,          1, WEEK),
            ]),
            ("credential_stuffing", vec![
                ("window_secs",        c.window_secs as i128,        10, DAY),
                ("failure_floor",      c.failure_floor as i128,       1, MANY),
                ("min_addresses",      c.min_addresses as i128,       2, MANY),
                ("max_failures",       c.max_failures as i128,      100, 1_000_000),
                ("quiet_secs",         c.quiet_secs as i128,          1, WEEK),
            ]),
            ("distributed_sweep", vec![
                ("window_secs",        d.window_secs as i128,        60, WEEK),
                // A bucket holds 64 ids: more could never be dense.
                ("min_dense",          d.min_dense as i128,           2, 64),
                ("min_hits",           d.min_hits as i128,            2, MANY),
                ("min_addresses",      d.min_addresses as i128,       2, MANY),
                ("critical_addresses", d.critical_addresses as i128,  2, MANY),
                ("quiet_secs",         d.quiet_secs as i128,          1, WEEK),
            ]),
        ];
        groups
            .into_iter()
            .flat_map(|(name, keys)| keys.into_iter().map(move |(k, v, lo, hi)| (name, k, v, lo, hi)))
            .collect()
    }

    /// Build the detector set of one shard. `budget` is the number of
    /// tracked actors each per-actor detector may keep (from --max-memory,
    /// split over the shards); `route_budget` the entries a route-wide
    /// detector may keep per route (a route lives in one shard only).
    pub fn build(&self, budget: usize, route_budget: usize) -> Vec<Box<dyn Detector>> {
        let mut v: Vec<Box<dyn Detector>> = Vec::new();
        if self.enumeration.enabled {
            v.push(Box::new(enumeration::Enumeration::new(
                self.enumeration.clone(),
                &self.baseline,
                budget,
            )));
        }
        if self.slow_sweep.enabled {
            v.push(Box::new(slow_sweep::SlowSweep::new(
                self.slow_sweep.clone(),
                budget,
            )));
        }
        if self.distributed_sweep.enabled {
            v.push(Box::new(distributed::Distributed::new(
                self.distributed_sweep.clone(),
                route_budget,
            )));
        }
        if self.bola.enabled {
            v.push(Box::new(bola::Bola::new(
                self.bola.clone(),
                &self.baseline,
                budget,
            )));
        }
        if self.pagination_harvest.enabled {
            v.push(Box::new(pagination::Pagination::new(
                self.pagination_harvest.clone(),
                &self.baseline,
                budget,
            )));
        }
        if self.credential_stuffing.enabled {
            v.push(Box::new(stuffing::Stuffing::new(
                self.credential_stuffing.clone(),
                &self.baseline,
            )));
        }
        v
    }
}

/// A window length with its absolute floor of distinct objects.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub secs: i64,
    /// Distinct objects below which nothing fires, whatever the baseline.
    pub distinct: u64,
}

/// Numeric-id statistics for evidence, from a lookup analysis.
pub fn id_stats(a: &crate::state::lookups::Analysis) -> Option<IdStats> {
    let (n, lo, hi) = a.block?;
    Some(IdStats {
        min: a.min,
        max: a.max,
        coverage: n as f64 / ((hi - lo) as f64 + 1.0),
        sequential_share: (a.sequential_share * 1000.0).round() / 1000.0,
        longest_run: a.longest_run,
        median_stride: a.median_stride,
    })
}

/// A due time at which the next tick acts whatever the state: the default,
/// and what a loaded state starts with.
pub fn tick_at_once() -> i64 {
    i64::MIN
}

/// Stable key for an actor.
pub fn actor_scope_key(a: ActorKey) -> u64 {
    let (tag, v): (u8, u128) = match a {
        ActorKey::Addr(x) => (1, x),
        ActorKey::Principal(x) => (2, x as u128),
        ActorKey::ApiKey(x) => (3, x as u128),
    };
    let mut b = [0u8; 17];
    b[0] = tag;
    b[1..].copy_from_slice(&v.to_le_bytes());
    crate::state::stable_hash(&b)
}

/// Events for detector tests.
#[cfg(test)]
pub mod testing {
    use crate::engine::shard::Partition;
    use crate::event::Event;
    use crate::formats::Timestamp;
    use crate::routes::Router;

    /// An anonymous lookup of customer `id` from `ip` at second `ts`, on
    /// a route `router` templates (and learns is a lookup route), owned
    /// by shard 0 in every part.
    pub fn lookup(router: &mut Router, ts: i64, ip: std::net::IpAddr, id: u64) -> Event {
        let path = format!("/api/v1/customers/{id}");
        let r = router.route(b"GET", path.as_bytes(), b"");
        Event {
            ts: Timestamp::from_secs(ts),
            ip: Some(ip),
            principal: None,
            api_key: None,
            ua: 1,
            route: r.route,
            object: r.object,
            page: None,
            search: false,
            status: 200,
            part: Partition::default(),
        }
    }

    /// Two copies of a detector over the same events, second by second:
    /// `a` ticked as the shard ticks it (its tick may return early, before
    /// `due`), `b` made to tick in full every second (`force`). Their
    /// findings must agree, and their saved states every `compare_every`
    /// seconds. Returns the ticks `a` had nothing to do in, and the
    /// findings.
    pub fn ticks_match_full_ticks<D: super::Detector>(
        mut a: D,
        mut b: D,
        due: impl Fn(&D) -> i64,
        force: impl Fn(&mut D),
        seconds: std::ops::Range<i64>,
        compare_every: i64,
        mut events: impl FnMut(i64, &mut Router) -> Vec<Event>,
    ) -> (u32, usize) {
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let (mut oa, mut ob) = (Vec::new(), Vec::new());
        let (mut skipped, mut found) = (0, 0);
        let state = |d: &D| {
            let mut v = Vec::new();
            d.save(&mut v).unwrap();
            v
        };
        for t in seconds {
            for ev in events(t, &mut router) {
                a.observe(&ev, 0, &router, &mut oa);
                b.observe(&ev, 0, &router, &mut ob);
            }
            if t < due(&a) {
                skipped += 1;
            }
            a.tick(Timestamp::from_secs(t), &router, &mut oa);
            force(&mut b);
            b.tick(Timestamp::from_secs(t), &router, &mut ob);
            assert!(oa == ob, "findings differ at {t}");
            found += oa.len();
            oa.clear();
            ob.clear();
            if t % compare_every == 0 {
                assert!(state(&a) == state(&b), "states differ at {t}");
            }
        }
        (skipped, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::hll::Hll;

    /// A tick before [`Detector::tick_due`] changes nothing and finds
    /// nothing, for every detector, through hours of lookups from a few
    /// addresses (trackers made, sampled for baselines, expired); and the
    /// detectors that skip ticks do skip most of them.
    #[test]
    fn ticks_before_they_are_due_change_nothing() {
        let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
        let mut detectors = DetectConfig::default().build(64, 256);
        let mut rng = crate::test_rng::Rng::new(0x1f83_d9ab_fb41_bd6b);
        let mut out = Vec::new();
        let mut skipped = vec![0u32; detectors.len()];
        let state = |d: &dyn Detector| {
            let mut v = Vec::new();
            d.save(&mut v).unwrap();
            v
        };
        for t in 1..11_000i64 {
            // Bursts and silences: actors come, go idle and expire.
            if (t / 1800) % 3 != 2 {
                for _ in 0..rng.below(3) {
                    let ip = std::net::IpAddr::from([10, 0, 0, rng.below(6) as u8]);
                    let ev = testing::lookup(&mut router, t, ip, rng.below(5000));
                    for d in detectors.iter_mut() {
                        d.observe(&ev, 0, &router, &mut out);
                    }
                    out.clear();
                }
            }
            for (i, d) in detectors.iter_mut().enumerate() {
                if t < d.tick_due() {
                    // The state is compared on every third such tick, to
                    // keep the test quick.
                    let before = (t % 3 == 0).then(|| state(d.as_ref()));
                    d.tick(Timestamp::from_secs(t), &router, &mut out);
                    assert!(out.is_empty());
                    if let Some(before) = before {
                        assert!(before == state(d.as_ref()), "{:?} at {t}", d.kind());
                    }
                    skipped[i] += 1;
                } else {
                    d.tick(Timestamp::from_secs(t), &router, &mut out);
                    out.clear();
                }
            }
        }
        let skipping = skipped.iter().filter(|&&n| n > 10_000).count();
        assert_eq!(skipping, 4, "{skipped:?}");
    }

    /// Totals start from the window that fired, grow with every lookup
    /// after, and start afresh for a new incident.
    #[test]
    fn a_tally_runs_from_the_window_that_fired() {
        let mut t = Tally::default();
        t.add(1); // not flagged yet: not counted
        let seed = |n: u64| {
            move || {
                let mut h = Hll::default();
                (0..n).for_each(|i| h.add(crate::state::hll::mix(1000 + i)));
                (n, h)
            }
        };
        assert_eq!(t.fire(false, seed(40)).requests, 40);
        for id in 0..100 {
            t.add(id % 50);
        }
        let s = t.fire(false, seed(7));
        assert_eq!(s.requests, 140, "the seed is taken once per incident");
        assert!((85..=95).contains(&s.distinct_objects), "{s:?}");
        assert_eq!(t.fire(true, seed(7)).requests, 7, "a new incident");
    }
}
