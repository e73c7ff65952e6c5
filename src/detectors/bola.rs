//! Broken object-level authorisation (BOLA): one authenticated principal, or
//! one API key, reading many other accounts' objects. Judged against the
//! population: how many distinct objects a principal normally reads in a
//! window (learned), with absolute floors.
//!
//! Support agents and store terminals legitimately read many customers, but
//! each lookup follows a search; lookups within a short time after a search
//! by the same principal are counted as explained and do not add up. An API
//! key shared by a whole app (thousands of addresses and principals behind
//! it) is judged per identity behind it, like a NAT address.

use serde::{Deserialize, Serialize};

use super::baseline::{self, Baselines};
use super::enumeration::{evidence, may_emit, should_emit};
use super::{ActorRef, Actors, Detector, Finding, Routes, Scope, Window, actor_scope_key};
use crate::actors::ActorKey;
use crate::alerts::{DetectorKind, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::BoundedMap;
use crate::state::crowd::Crowds;
use crate::state::hll::{Hll, mix};
use crate::state::lookups::{Lookup, Reuse, Ring, Scratch, analyse, distinct_since};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub windows: Vec<Window>,
    /// Distinct objects in a day (HyperLogLog) for the long window.
    pub day_floor: u64,
    /// Lookups this soon after a search are explained.
    pub search_grace_secs: i64,
    /// Distinct objects per identity behind an API key.
    pub per_identity: f64,
    pub critical_factor: f64,
    /// An API key used by more identities than this is shared, not an actor.
    pub max_key_identities: usize,
    pub ring: usize,
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            windows: vec![
                Window {
                    secs: 600,
                    distinct: 40,
                },
                Window {
                    secs: 3600,
                    distinct: 100,
                },
            ],
            day_floor: 200,
            search_grace_secs: 180,
            per_identity: 20.0,
            critical_factor: 4.0,
            max_key_identities: 16,
            ring: 256,
            quiet_secs: 1800,
        }
    }
}

const SMALL_SET: usize = 64;
/// How many times the day's floor a principal that searches much is held
/// to (see the day signal in `observe`): 1,000 at the default floor.
const SEARCHER_DAY_FACTOR: u64 = 5;
const BASELINE_ROUTE: RouteId = RouteId::MAX;

#[derive(Serialize, Deserialize)]
struct Tracker {
    ring: Ring,
    /// For baseline sampling (see [`baseline::Touched`]).
    #[serde(default)]
    touched: baseline::Touched,
    days: [(i64, Hll); 4],
    last_search: i64,
    explained: u64,
    /// The route its incident is named after: that of the lookup that
    /// first fired (until then, of the tracker's first lookup or search).
    route: RouteId,
    identities: Vec<u32>,
    severity: Option<Severity>,
    last_emit: i64,
    #[serde(default)]
    tally: super::Tally,
}

impl Tracker {
    fn new(touched: baseline::Touched, route: RouteId) -> Tracker {
        Tracker {
            ring: Ring::default(),
            touched,
            days: std::array::from_fn(|_| (i64::MIN, Hll::default())),
            last_search: i64::MIN / 2,
            explained: 0,
            route,
            identities: Vec::new(),
            severity: None,
            last_emit: i64::MIN / 2,
            tally: super::Tally::default(),
        }
    }

    /// Count `id` in the six-hour block of `now`, whose slot is cleared
    /// first if an older block held it.
    fn day_add(&mut self, now: i64, id: u64) {
        let block = now.div_euclid(6 * 3600);
        let slot = &mut self.days[block.rem_euclid(4) as usize];
        if slot.0 != block {
            *slot = (block, Hll::default());
        }
        slot.1.add(id);
    }

    /// The distinct objects of the last four six-hour blocks.
    fn day_sketch(&self, now: i64) -> Hll {
        let mut h = Hll::default();
        for (start, b) in &self.days {
            if *start > now.div_euclid(6 * 3600) - 4 {
                h.merge(b);
            }
        }
        h
    }

    /// As [`Tracker::new`], in place (keeping small allocations).
    fn reset(&mut self, touched: baseline::Touched, route: RouteId) {
        self.ring.clear();
        self.touched = touched;
        // Only the block numbers: a slot is read only while its block is
        // recent, and its registers are cleared when a block claims it.
        // Clearing them here wrote a kilobyte per tracker taken over.
        for d in &mut self.days {
            d.0 = i64::MIN;
        }
        self.last_search = i64::MIN / 2;
        self.explained = 0;
        self.route = route;
        self.identities.clear();
        self.severity = None;
        self.last_emit = i64::MIN / 2;
        self.tally = super::Tally::default();
    }
}

#[derive(Serialize, Deserialize)]
pub struct Bola {
    #[serde(skip)]
    cfg: Config,
    trackers: BoundedMap<ActorKey, Tracker>,
    baselines: Baselines,
    #[serde(skip)]
    scratch: Scratch,
    crowds: Crowds,
    last_baseline: Vec<i64>,
    last_expire: i64,
    /// The latest event time this detector has seen.
    #[serde(default)]
    latest: i64,
    door: crate::state::Doorkeeper,
}

impl Bola {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &Bola) {
        let _ = old;
        self.baselines.restore_config(&old.baselines);
    }

    pub fn new(cfg: Config, base: &baseline::Config, budget: usize) -> Self {
        Bola {
            last_baseline: vec![0; cfg.windows.len()],
            cfg,
            trackers: BoundedMap::new(budget),
            baselines: Baselines::new(base, baseline::cap_for(budget)),
            scratch: Scratch::default(),
            crowds: Crowds::new(budget),
            last_expire: 0,
            latest: 0,
            door: crate::state::Doorkeeper::for_table(budget, 3600),
        }
    }

    fn observe_actor(
        &mut self,
        actor: ActorKey,
        ev: &Event,
        routes: &dyn Routes,
        out: &mut Vec<Finding>,
    ) {
        let now = ev.ts.secs();
        self.latest = self.latest.max(now);
        let touched = baseline::Touched(self.latest);
        let info = routes.info(ev.route);
        // Only searches and lookups tell anything: other requests (most of a
        // principal's) neither admit nor touch a tracker.
        let lookup = ev.object.is_some() && info.lookup;
        if !ev.search && !lookup {
            return;
        }
        // Admission: a principal or key gets a tracker on its second search
        // or lookup.
        let door = &mut self.door;
        let Some(t) = self.trackers.touch_if_reusing(
            &actor,
            // A search is let in at once: the lookups right after it
            // are explained only if it is remembered.
            || ev.search || door.admit(actor_scope_key(actor), now),
            || Tracker::new(touched, ev.route),
            |t| t.reset(touched, ev.route),
        ) else {
            return;
        };
        t.touched = touched;
        if ev.search {
            t.last_search = now;
            return;
        }
        // Not a search, so a lookup (checked above).
        let Some(obj) = ev.object else { return };
        if now - t.last_search <= self.cfg.search_grace_secs {
            t.explained += 1;
            return;
        }
        let id = mix(obj.value ^ ((ev.route as u64) << 48));
        t.ring.push(
            Lookup {
                ts: now,
                id,
                who: 0,
                ua: ev.ua as u32,
                not_found: ev.not_found(),
            },
            self.cfg.ring,
        );
        t.tally.add(id);
        t.day_add(now, id);
        if let ActorKey::ApiKey(_) = actor {
            let who = ev.principal.map(|p| p as u32).or(ev
                .ip
                .map(|ip| mix(crate::actors::addr_key(ip) as u64) as u32));
            if let Some(w) = who
                && t.identities.len() < SMALL_SET
                && !t.identities.contains(&(w | 1))
            {
                t.identities.push(w | 1);
            }
        }
        let min_floor = self
            .cfg
            .windows
            .iter()
            .map(|w| w.distinct)
            .min()
            .unwrap_or(10);
        if (t.ring.len() as u64) < min_floor || !t.ring.due() {
            return;
        }
        // Marked done either way, so that the analyses keep their cadence.
        t.ring.analysed_at = t.ring.pushed;
        if !may_emit(t.severity, t.last_emit, now) {
            return;
        }
        let identities = t.identities.len().max(1) as f64;
        let mut best: Option<(Severity, String, crate::state::lookups::Analysis, i64)> = None;
        let mut last = Reuse::default();
        for (wi, w) in self.cfg.windows.iter().enumerate() {
            // The threshold is at least the floor: fewer lookups can't reach it.
            let held = t.ring.count_since(now - w.secs);
            if held < w.distinct {
                continue;
            }
            let a = last.analyse(&t.ring, now - w.secs, held, false, &mut self.scratch);
            let thr = self
                .baselines
                .threshold(BASELINE_ROUTE, wi as u8, w.distinct);
            if a.distinct >= thr && a.distinct as f64 / identities >= self.cfg.per_identity {
                let sev = if a.distinct as f64 >= self.cfg.critical_factor * thr as f64 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let why = format!(
                    "{} distinct objects read within {} s (threshold {thr}); {} lookups after a search not counted",
                    a.distinct, w.secs, t.explained
                );
                if best.as_ref().is_none_or(|(s, ..)| sev > *s) {
                    best = Some((sev, why, a, w.secs));
                }
            }
        }
        // The day signal looks past the ring: its figures, and the totals
        // since flagged, come from the day's sketch.
        let mut day_seed = None;
        if best.is_none() {
            let h = t.day_sketch(now);
            let day = h.count();
            // A support agent opens more of a customer's records minutes
            // after the search that found them, past the grace: a principal
            // whose lookups explained by a search (counted since its tracker
            // was made, not over the day) are a quarter of the day's others
            // or more is held to SEARCHER_DAY_FACTOR times the floor (a
            // review showed an agent of 115 calls a day named at 200).
            let floor = if t.explained.saturating_mul(4) >= day {
                self.cfg.day_floor.saturating_mul(SEARCHER_DAY_FACTOR)
            } else {
                self.cfg.day_floor
            };
            if day >= floor && day as f64 / identities >= self.cfg.per_identity {
                let sev = if day as f64 >= self.cfg.critical_factor * floor as f64 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let mut a = analyse(&t.ring, now - 86_400, false, &mut self.scratch);
                // The ring holds the last 256 lookups, not the day: at
                // least as many lookups as distinct objects.
                a.distinct = day;
                a.requests = a.requests.max(day);
                day_seed = Some((a.requests, h));
                best = Some((
                    sev,
                    format!("about {day} distinct objects read in a day"),
                    a,
                    86_400,
                ));
            }
        }
        let Some((sev, why, a, wsecs)) = best else {
            return;
        };
        if !should_emit(sev, t.severity, t.last_emit, now) {
            return;
        }
        if t.severity.is_none() {
            // The incident is named after the route of the lookup that
            // raised it (an actor reading across routes has one incident).
            t.route = ev.route;
        }
        let fresh = now - t.last_emit > self.cfg.quiet_secs;
        let ring = &t.ring;
        let since_flagged = Some(t.tally.fire(fresh, || {
            day_seed.unwrap_or_else(|| super::Tally::ring_seed(ring, now - wsecs))
        }));
        t.severity = Some(t.severity.map_or(sev, |p| p.max(sev)));
        t.last_emit = now;
        let mut e = evidence(&a, wsecs, why);
        e.since_flagged = since_flagged;
        e.sample_ids.clear();
        e.principals = None;
        out.push(Finding {
            detector: DetectorKind::Bola,
            severity: sev,
            scope_key: actor_scope_key(actor),
            actor: ActorRef::One(actor),
            route: t.route,
            ts: ev.ts,
            quiet_secs: self.cfg.quiet_secs,
            evidence: e,
        });
    }
}

impl Detector for Bola {
    fn kind(&self) -> DetectorKind {
        DetectorKind::Bola
    }
    fn scope(&self) -> Scope {
        // Principals, and API keys (a key's crowd is counted by its shard).
        Scope::Actor(Actors {
            addr: false,
            principal: true,
            api_key: true,
        })
    }

    fn observe(&mut self, ev: &Event, shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>) {
        // Crowds are keyed by API key: the key's shard counts them.
        let key_mine = ev.part.api_key == shard;
        if key_mine {
            self.crowds.see(ev);
        }
        // A principal is the actor when there is one; an API key otherwise,
        // unless a crowd shares it (a mobile app's key).
        if let Some(p) = ev.principal_key() {
            if ev.part.principal == shard {
                self.observe_actor(p, ev, routes, out);
            }
        } else if let Some(k) = ev.api_key_key()
            && key_mine
            && self.crowds.size(ev.api_key.expect("has key")) <= self.cfg.max_key_identities
        {
            self.observe_actor(k, ev, routes, out);
        }
    }

    fn tick_due(&self) -> i64 {
        let expire_due = self.last_expire.saturating_add(300);
        super::baseline::refresh_due(&self.cfg.windows, &self.last_baseline, expire_due)
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        for (wi, w) in self.cfg.windows.iter().enumerate() {
            // Sampling each actor once per window length (at least every
            // five minutes) is plenty for a percentile.
            if now - self.last_baseline[wi] < super::baseline::refresh_every(w) {
                continue;
            }
            self.last_baseline[wi] = now;
            let mut vals = Vec::new();
            let teaches = |t: &Tracker| {
                t.severity.is_none() && t.ring.last_ts().is_some_and(|l| l >= now - w.secs)
            };
            for (_, t) in
                super::baseline::sample(&self.trackers, |t| t.touched, now - w.secs, teaches)
            {
                let d = distinct_since(&t.ring, now - w.secs, &mut self.scratch);
                if d > 0 {
                    vals.push(d);
                }
            }
            for v in vals {
                self.baselines.record(BASELINE_ROUTE, wi as u8, v);
            }
        }
        if now - self.last_expire >= 300 {
            self.last_expire = now;
            self.trackers.expire_idle(|_, t| {
                t.ring.last_ts().is_none_or(|l| l < now - 86_400) && now - t.last_search > 86_400
            });
        }
    }

    crate::persist_detector!(Bola);

    fn entries(&self) -> (usize, u64) {
        (self.trackers.len(), self.trackers.evicted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker taken over keeps nothing of its day: its slots' stale
    /// registers are neither read nor carried into the new actor's blocks.
    #[test]
    fn a_reset_tracker_starts_its_day_empty() {
        let now = 1_000 * 86_400;
        let mut t = Tracker::new(baseline::Touched(now), 0);
        for i in 0..500 {
            t.day_add(now - 3_600 * (i % 20) as i64, mix(i));
        }
        assert!(t.day_sketch(now).count() > 400);
        t.reset(baseline::Touched(now), 1);
        assert_eq!(t.day_sketch(now).count(), 0);
        for (i, back) in [0, 6, 12, 18].into_iter().enumerate() {
            t.day_add(now - 3_600 * back, mix(10_000 + i as u64));
        }
        assert_eq!(t.day_sketch(now).count(), 4);
    }

    /// A request of principal 7 for `path`, routed by a real router.
    fn request(router: &mut crate::routes::Router, ts: i64, path: &str) -> Event {
        let r = router.route(b"GET", path.as_bytes(), b"");
        Event {
            ts: Timestamp::from_secs(ts),
            ip: Some(std::net::IpAddr::from([10, 0, 0, 1])),
            principal: Some(7),
            api_key: None,
            ua: 1,
            route: r.route,
            object: r.object,
            page: None,
            search: r.search,
            status: 200,
            part: crate::engine::shard::Partition::default(),
        }
    }

    /// Requests that are neither lookups nor searches keep no tracker, and
    /// the incident is named after the route of the lookup that raised it,
    /// not of whatever request came first.
    #[test]
    fn only_lookups_and_searches_are_tracked() {
        let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
        let mut b = Bola::new(Config::default(), &baseline::Config::default(), 64);
        let mut out = Vec::new();
        for ts in 0..5 {
            let ev = request(&mut router, ts, "/api/v1/me");
            b.observe(&ev, 0, &router, &mut out);
        }
        assert_eq!(b.entries().0, 0, "no tracker for a principal's own page");
        // Two lookups on the usage route (the second makes the tracker),
        // then a walk over customers.
        for ts in [10, 11] {
            let ev = request(&mut router, ts, "/api/v1/lines/34600000001/usage");
            b.observe(&ev, 0, &router, &mut out);
        }
        for i in 0..60 {
            let ev = request(
                &mut router,
                20 + i,
                &format!("/api/v1/customers/{}", 5000 + i * 7),
            );
            assert!(router.info(ev.route).lookup);
            b.observe(&ev, 0, &router, &mut out);
        }
        assert_eq!(b.entries().0, 1);
        let first = out.first().expect("the walk is flagged");
        assert_eq!(router.info(first.route).template, "/api/v1/customers/{int}");
        assert!(out.iter().all(|f| f.route == first.route));
    }

    /// A support agent's first request is a search, and the lookups right
    /// after it are explained: the search itself must make the tracker
    /// (the admission filter would otherwise swallow it).
    #[test]
    fn a_first_search_explains_the_lookups_after_it() {
        let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
        let mut b = Bola::new(Config::default(), &baseline::Config::default(), 64);
        let mut out = Vec::new();
        let r = router.route(b"GET", b"/api/v1/customers", b"q=smith");
        let search = Event {
            search: r.search,
            route: r.route,
            object: r.object,
            ..request(&mut router, 0, "/api/v1/me")
        };
        assert!(search.search, "a query by criteria is a search");
        b.observe(&search, 0, &router, &mut out);
        for i in 0..60 {
            let ev = request(
                &mut router,
                1 + i * 2,
                &format!("/api/v1/customers/{}", 5000 + i * 7),
            );
            b.observe(&ev, 0, &router, &mut out);
        }
        assert!(
            out.is_empty(),
            "{:?}",
            out.first().map(|f| &f.evidence.reason)
        );
    }

    /// A principal reading another customer's record about once a minute
    /// (10 in 10 minutes, 60 in an hour: under the floors of 40 and 100) is
    /// not reported on those windows, but is once it has read 200 in the
    /// day; one re-reading its own five records all day is not.
    #[test]
    fn a_slow_reader_of_many_customers_is_reported_in_a_day() {
        let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
        let mut b = Bola::new(Config::default(), &baseline::Config::default(), 64);
        let mut out = Vec::new();
        for i in 0..300i64 {
            let own = request(&mut router, i * 60, &format!("/api/v1/customers/{}", i % 5));
            b.observe(&own, 0, &router, &mut out);
        }
        assert!(out.is_empty(), "own records: {}", out[0].evidence.reason);
        let start = 100_000;
        for i in 0..300i64 {
            let path = format!("/api/v1/customers/{}", 9_000 + i * 13);
            b.observe(
                &request(&mut router, start + i * 60, &path),
                0,
                &router,
                &mut out,
            );
        }
        let f = out.first().expect("the slow reader is reported");
        assert!(
            f.evidence.reason.contains("in a day"),
            "{}",
            f.evidence.reason
        );
        let after = f.ts.secs() - start;
        // 200 distinct with its own five, give or take the sketch's error.
        assert!((185 * 60..=215 * 60).contains(&after), "after {after} s");
    }

    /// A support agent's day: 140 calls, each a search, the customer
    /// opened at once, then two of the customer's orders opened three and
    /// a half minutes on, past the search's grace. The 280 orders are more
    /// than the day's floor, but half as many lookups followed a search:
    /// held to five times the floor, the agent is not named.
    #[test]
    fn a_support_agent_opening_records_minutes_after_a_search_is_not_named() {
        let mut router = crate::routes::Router::new(Vec::new(), Vec::new(), 100);
        let mut b = Bola::new(Config::default(), &baseline::Config::default(), 64);
        let mut out = Vec::new();
        for call in 0..140i64 {
            let t0 = call * 280;
            let r = router.route(b"GET", b"/api/v1/customers", b"q=smith");
            let search = Event {
                search: r.search,
                route: r.route,
                object: r.object,
                ..request(&mut router, t0, "/api/v1/me")
            };
            b.observe(&search, 0, &router, &mut out);
            let customer = format!("/api/v1/customers/{}", 5_000 + call * 7);
            b.observe(
                &request(&mut router, t0 + 10, &customer),
                0,
                &router,
                &mut out,
            );
            for k in 0..2 {
                let order = format!("/api/v1/orders/{}", 90_000 + call * 11 + k);
                let ev = request(&mut router, t0 + 215 + 20 * k, &order);
                b.observe(&ev, 0, &router, &mut out);
            }
        }
        assert!(out.is_empty(), "{}", out[0].evidence.reason);
    }

    /// A tracker taking over an evicted one's slot is as good as new.
    #[test]
    fn a_reset_tracker_is_a_new_one() {
        let mut t = Tracker::new(baseline::Touched(5), 3);
        for i in 0..300 {
            t.ring.push(
                Lookup {
                    ts: i,
                    id: i as u64,
                    who: 0,
                    ua: 9,
                    not_found: false,
                },
                256,
            );
            t.days[(i % 4) as usize] = (i, Hll::default());
            t.days[(i % 4) as usize].1.add(mix(i as u64));
            t.identities.push(i as u32);
        }
        (t.last_search, t.explained) = (40, 12);
        (t.severity, t.last_emit) = (Some(Severity::Warning), 77);
        t.reset(baseline::Touched(600), 8);
        // Unclaimed day slots keep their old registers, unread (see
        // `a_reset_tracker_starts_its_day_empty`); all the rest is new.
        assert!(t.days.iter().all(|d| d.0 == i64::MIN));
        for d in &mut t.days {
            d.1 = Hll::default();
        }
        let json = |t: &Tracker| serde_json::to_string(t).unwrap();
        assert_eq!(json(&t), json(&Tracker::new(baseline::Touched(600), 8)));
        assert_eq!(t.ring.last_ts(), None);
    }
}
