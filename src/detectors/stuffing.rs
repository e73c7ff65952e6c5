//! Credential stuffing: a burst of failed logins (401/403 on a login route)
//! across many addresses, the usual first step before account lookups. Like
//! the distributed sweep, the alert names the addresses taking part.
//!
//! Per login route, failures are kept in a bounded ring for the window; the
//! failure count is compared with the route's learned per-window baseline and
//! a floor, and with the share of logins that fail (real users mistype; a
//! stuffing run mostly fails).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::baseline::{self, Baselines};
use super::{ActorRef, Detector, Evidence, Finding, Routes, Scope};
use crate::alerts::{DetectorKind, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::{BoundedMap, stable_hash};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub window_secs: i64,
    /// Failed logins in the window below which nothing fires.
    pub failure_floor: u64,
    /// Share of logins in the window that failed.
    pub min_failure_ratio: f64,
    /// Distinct failing addresses.
    pub min_addresses: usize,
    pub critical_factor: f64,
    /// Failures kept per route (bounds memory under a flood).
    pub max_failures: usize,
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 600,
            failure_floor: 50,
            min_failure_ratio: 0.5,
            min_addresses: 5,
            critical_factor: 4.0,
            max_failures: 50_000,
            quiet_secs: 1800,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RouteState {
    failures: VecDeque<(i64, u128)>,
    successes: VecDeque<(i64, u128)>,
    /// When the current burst began (participants are named from here).
    burst_start: Option<i64>,
    severity: Option<Severity>,
    last_emit: i64,
    last_eval: i64,
    window_start: i64,
    window_failures: u64,
    /// A fingerprint of the addresses named by the last finding: a finding
    /// is raised again as soon as the list changes (the incident's list is
    /// the union of them all).
    #[serde(default)]
    named: u64,
    /// Sequence number of the oldest failure held (counts pops).
    #[serde(skip)]
    front_seq: u64,
    #[serde(skip)]
    burst: BurstAddrs,
}

impl RouteState {
    fn new(now: i64) -> Self {
        RouteState {
            failures: VecDeque::new(),
            successes: VecDeque::new(),
            burst_start: None,
            severity: None,
            last_emit: i64::MIN / 2,
            last_eval: i64::MIN / 2,
            window_start: now,
            window_failures: 0,
            named: 0,
            front_seq: 0,
            burst: BurstAddrs::default(),
        }
    }

    fn pop_failure(&mut self) {
        if let Some((ts, addr)) = self.failures.pop_front() {
            self.burst.forget(self.front_seq, ts, addr);
            self.front_seq += 1;
        }
    }
}

/// The addresses of the burst (failures since it began), kept up to date
/// as failures come and go. Once a burst is reported it is looked at every
/// second, and sorting all its failures at every look was most of this
/// detector's cost: now only the failures since the last look are sorted,
/// and merged in. Not saved: rebuilt at the first look after a restart.
#[derive(Default)]
struct BurstAddrs {
    /// The burst start the counts are for; `None` until built.
    start: Option<i64>,
    /// Per address, sorted: its failures since `start` still held.
    counts: Vec<(u128, u32)>,
    /// Sequence number of the first failure not counted yet.
    merged: u64,
    new: Vec<u128>,
    spare: Vec<(u128, u32)>,
}

impl BurstAddrs {
    /// A failure leaves the ring.
    fn forget(&mut self, seq: u64, ts: i64, addr: u128) {
        if seq >= self.merged || self.start.is_none_or(|s| ts < s) {
            return;
        }
        // An address down to no failures stays, at zero, until the next
        // merge drops it: removing it here would shift the whole list on
        // every failure leaving a long burst.
        if let Ok(i) = self.counts.binary_search_by_key(&addr, |c| c.0) {
            self.counts[i].1 -= 1;
        }
    }

    /// Count the failures not counted yet (those since `start`), and
    /// return every address with a failure since `start`, sorted.
    fn update(
        &mut self,
        failures: &VecDeque<(i64, u128)>,
        front_seq: u64,
        start: i64,
    ) -> impl Iterator<Item = u128> + '_ {
        if self.start != Some(start) {
            self.start = Some(start);
            self.counts.clear();
            self.merged = front_seq;
        }
        let skip = self.merged.saturating_sub(front_seq) as usize;
        self.new.clear();
        self.new.extend(
            failures
                .iter()
                .skip(skip)
                .filter(|f| f.0 >= start)
                .map(|f| f.1),
        );
        self.merged = front_seq + failures.len() as u64;
        if !self.new.is_empty() {
            self.merge();
        }
        self.counts.iter().filter(|c| c.1 > 0).map(|c| c.0)
    }

    /// Merge the sorted new addresses into the counts, dropping addresses
    /// whose count fell to zero.
    fn merge(&mut self) {
        self.new.sort_unstable();
        let old = std::mem::take(&mut self.counts);
        let mut out = std::mem::take(&mut self.spare);
        out.clear();
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < self.new.len() {
            let a = match (old.get(i), self.new.get(j)) {
                (Some(o), Some(&n)) => o.0.min(n),
                (Some(o), None) => o.0,
                (None, Some(&n)) => n,
                (None, None) => unreachable!(),
            };
            let mut c = 0;
            if old.get(i).is_some_and(|o| o.0 == a) {
                c += old[i].1;
                i += 1;
            }
            while self.new.get(j) == Some(&a) {
                c += 1;
                j += 1;
            }
            if c > 0 {
                out.push((a, c));
            }
        }
        self.spare = old;
        self.counts = out;
    }
}

/// How far before the first alert a burst is taken to have begun, at least.
const BURST_LEAD_SECS: i64 = 120;

/// When the burst that fires at `now` began: at least [`BURST_LEAD_SECS`]
/// back, and further while earlier failures come at the burst's pace (gaps
/// of at most three times its mean gap over the lead-in, 5 to 60 s). A slow
/// start is still the burst; a customer's mistype minutes before is not.
fn burst_start(failures: &VecDeque<(i64, u128)>, now: i64) -> i64 {
    let lead = now - BURST_LEAD_SECS;
    let recent = failures
        .iter()
        .rev()
        .take_while(|f| f.0 >= lead)
        .count()
        .max(1);
    let gap = (3 * BURST_LEAD_SECS / recent as i64).clamp(5, 60);
    let mut start = lead;
    for f in failures.iter().rev().skip_while(|f| f.0 >= lead) {
        if start - f.0 > gap {
            break;
        }
        start = f.0;
    }
    start
}

#[derive(Serialize, Deserialize)]
pub struct Stuffing {
    #[serde(skip)]
    cfg: Config,
    routes: BoundedMap<RouteId, RouteState>,
    baselines: Baselines,
    /// No route's report goes quiet and no burst ends before this second of
    /// event time, so the tick (at most once per second of event time) has
    /// nothing to do before it: lowered whenever a burst's addresses are
    /// named and when a finding is raised, set by the tick that looks. Kept
    /// here rather than given to the shard as [`Detector::tick_due`], which
    /// the shard asks only after a tick: `observe` moves it. Not saved: a
    /// loaded state is looked at on its first tick.
    #[serde(skip, default = "super::tick_at_once")]
    acts_at: i64,
}

impl RouteState {
    /// The first second at which the tick changes this route's state: its
    /// report has been quiet for longer than `quiet`, or (none raised) its
    /// burst is older than `window`.
    fn acts_at(&self, quiet: i64, window: i64) -> i64 {
        match (self.severity, self.burst_start) {
            (Some(_), _) => self.last_emit.saturating_add(quiet).saturating_add(1),
            (None, Some(b)) => b.saturating_add(window).saturating_add(1),
            (None, None) => i64::MAX,
        }
    }
}

impl Stuffing {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &Stuffing) {
        let _ = old;
        self.baselines.restore_config(&old.baselines);
    }

    pub fn new(cfg: Config, base: &baseline::Config) -> Self {
        Stuffing {
            cfg,
            routes: BoundedMap::new(256),
            // One histogram per login route, and routes are capped at 256.
            baselines: Baselines::new(base, 256),
            acts_at: super::tick_at_once(),
        }
    }
}

impl Detector for Stuffing {
    fn kind(&self) -> DetectorKind {
        DetectorKind::CredentialStuffing
    }
    fn scope(&self) -> Scope {
        Scope::Route
    }

    fn observe(&mut self, ev: &Event, _shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>) {
        if !routes.info(ev.route).login {
            return;
        }
        let now = ev.ts.secs();
        let cfg = &self.cfg;
        let (st, _) = self.routes.touch(&ev.route, || RouteState::new(now));
        // Tumbling windows feed the baseline of failures per window.
        if now - st.window_start >= cfg.window_secs {
            if st.severity.is_none() {
                self.baselines.record(ev.route, 0, st.window_failures);
            }
            st.window_start = now;
            st.window_failures = 0;
        }
        let failed = ev.status == 401 || ev.status == 403;
        match ev.addr() {
            Some(crate::actors::ActorKey::Addr(a)) if failed => {
                if st.failures.len() >= cfg.max_failures {
                    st.pop_failure();
                }
                st.failures.push_back((now, a));
                st.window_failures += 1;
            }
            Some(crate::actors::ActorKey::Addr(a)) if ev.success() => {
                st.successes.push_back((now, a))
            }
            _ => {}
        }
        let horizon = now - cfg.window_secs;
        while st.failures.front().is_some_and(|f| f.0 < horizon) {
            st.pop_failure();
        }
        while st.successes.front().is_some_and(|s| s.0 < horizon)
            || st.successes.len() > cfg.max_failures
        {
            st.successes.pop_front();
        }
        let fails = st.failures.len() as u64;
        let thr = self.baselines.threshold(ev.route, 0, cfg.failure_floor);
        // Looked at every 5 s, and every second once reported, so that the
        // addresses joining late are named too.
        let every = if st.severity.is_some() { 1 } else { 5 };
        if !failed || fails < thr || now - st.last_eval < every {
            return;
        }
        st.last_eval = now;
        let ratio = fails as f64 / (fails + st.successes.len() as u64) as f64;
        if ratio < cfg.min_failure_ratio {
            return;
        }
        // Name the addresses of the burst: failures since it began (with a
        // short lead-in), minus addresses that also logged in successfully
        // in the window (people who mistyped, or a NAT full of customers).
        let start = *st
            .burst_start
            .get_or_insert_with(|| burst_start(&st.failures, now));
        self.acts_at = self
            .acts_at
            .min(st.acts_at(cfg.quiet_secs, cfg.window_secs));
        // The successes are looked up in the burst's addresses, not the
        // other way round: a busy login route holds thousands of successes
        // in its window, and sorting those every few seconds was most of
        // this detector's cost.
        let mut addrs: Vec<u128> = st.burst.update(&st.failures, st.front_seq, start).collect();
        let mut logged_in = vec![false; addrs.len()];
        for s in &st.successes {
            if let Ok(i) = addrs.binary_search(&s.1) {
                logged_in[i] = true;
            }
        }
        let mut flags = logged_in.iter();
        addrs.retain(|_| flags.next() == Some(&false));
        if addrs.len() < cfg.min_addresses {
            return;
        }
        let sev = if fails as f64 >= cfg.critical_factor * thr as f64 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let named = addrs.iter().fold(addrs.len() as u64, |h, &a| {
            h ^ crate::state::hll::mix(a as u64 ^ (a >> 64) as u64)
        });
        if !super::enumeration::should_emit(sev, st.severity, st.last_emit, now)
            && named == st.named
        {
            return;
        }
        st.severity = Some(st.severity.map_or(sev, |p| p.max(sev)));
        st.last_emit = now;
        st.named = named;
        self.acts_at = self
            .acts_at
            .min(st.acts_at(cfg.quiet_secs, cfg.window_secs));
        let first = st.failures.front().map_or(now, |f| f.0);
        let why = format!(
            "{fails} failed logins in {} s from {} addresses, {:.0}% of logins failing (threshold {thr})",
            cfg.window_secs,
            addrs.len(),
            ratio * 100.0
        );
        out.push(Finding {
            detector: DetectorKind::CredentialStuffing,
            severity: sev,
            scope_key: stable_hash(b"credential_stuffing"),
            actor: ActorRef::Addresses(addrs),
            route: ev.route,
            ts: ev.ts,
            quiet_secs: cfg.quiet_secs,
            evidence: Evidence {
                window_secs: cfg.window_secs,
                first_seen: Timestamp::from_secs(first),
                last_seen: ev.ts,
                requests: fails,
                reason: why,
                ..Default::default()
            },
        });
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        if now < self.acts_at {
            return;
        }
        let mut due = i64::MAX;
        for st in self.routes.values_mut() {
            if st.severity.is_some() && now - st.last_emit > self.cfg.quiet_secs {
                st.severity = None;
            }
            if st.severity.is_none()
                && st
                    .burst_start
                    .is_some_and(|b| now - b > self.cfg.window_secs)
            {
                st.burst_start = None;
                // The burst's address counts go with it (a flood of
                // failures from many addresses left them large).
                st.burst = BurstAddrs::default();
            }
            due = due.min(st.acts_at(self.cfg.quiet_secs, self.cfg.window_secs));
        }
        self.acts_at = due;
    }

    crate::persist_detector!(Stuffing);

    fn entries(&self) -> (usize, u64) {
        let n = self.routes.iter_lru().map(|(_, s)| s.failures.len()).sum();
        (n, self.routes.evicted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::shard::Partition;
    use crate::routes::Router;

    fn login(router: &mut Router, ts: i64, addr: u32, status: u16) -> Event {
        let r = router.route(b"POST", b"/api/v1/auth/login", b"");
        Event {
            ts: Timestamp::from_secs(ts),
            ip: Some(std::net::IpAddr::from(addr.to_be_bytes())),
            principal: None,
            api_key: None,
            ua: 0,
            route: r.route,
            object: None,
            page: None,
            search: false,
            status,
            part: Partition::default(),
        }
    }

    /// Every address the findings name, sorted, once each.
    fn named(out: &[Finding]) -> Vec<u128> {
        let mut named: Vec<u128> = Vec::new();
        for f in out {
            let ActorRef::Addresses(a) = &f.actor else {
                panic!("a crowd")
            };
            named.extend(a);
        }
        named.sort_unstable();
        named.dedup();
        named
    }

    /// The tick does nothing before a report can have gone quiet or a
    /// burst ended: the same findings and state as ticking in full every
    /// second, through bursts of failed logins that stop and start again,
    /// with customers logging in all along.
    #[test]
    fn ticks_before_a_burst_can_end_change_nothing() {
        let cfg = Config {
            quiet_secs: 120,
            ..Config::default()
        };
        let base = baseline::Config::default();
        let mut rng = crate::test_rng::Rng::new(0x2d35_8dcc_aa6c_78a5);
        let mut burst = 0;
        let (skipped, found) = crate::detectors::testing::ticks_match_full_ticks(
            Stuffing::new(cfg.clone(), &base),
            Stuffing::new(cfg, &base),
            |d| d.acts_at,
            |d| d.acts_at = i64::MIN,
            1..12_000,
            1,
            |t, router| {
                // Bursts from 300 addresses, and some from too few to name.
                if burst == 0 && rng.below(400) == 0 {
                    burst = [300, 3][rng.below(2) as usize];
                } else if burst > 0 && rng.below(90) == 0 {
                    burst = 0;
                }
                let mut evs = Vec::new();
                // And now and then one that is over in a second, but for a
                // straggler: reported once, then never looked at again.
                if t % 1_000 == 500 && burst == 0 {
                    for a in 0..300 {
                        evs.push(login(router, t, 0x0a03_0000 + a, 401));
                    }
                }
                if t % 1_000 == 506 && burst == 0 {
                    evs.push(login(router, t, 0x0a03_0000, 401));
                }
                for _ in 0..if burst > 0 { 3 } else { 0 } {
                    let addr = 0x0a01_0000 + rng.below(burst) as u32;
                    evs.push(login(router, t, addr, 401));
                }
                if t % 4 == 0 {
                    evs.push(login(router, t, 0x0a02_0000 + rng.below(50) as u32, 200));
                }
                evs
            },
        );
        assert!(found >= 10, "bursts reported: {found}");
        assert!(skipped > 6_000, "ticks skipped: {skipped}");
    }

    /// Everyone named: a burst that builds up for minutes before it crosses
    /// the floor, and addresses that join after the first alert. A customer
    /// who mistyped minutes before the burst is not named.
    #[test]
    fn the_whole_burst_is_named_and_an_earlier_mistype_is_not() {
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let mut d = Stuffing::new(Config::default(), &baseline::Config::default());
        let mut out = Vec::new();
        let mistyper = 0x0a00_0001;
        d.observe(
            &login(&mut router, 1_000, mistyper, 401),
            0,
            &router,
            &mut out,
        );
        assert!(router.info(0).login);
        // 120 failures, one address each, 3 s apart, from 5 minutes later.
        for i in 0..120u32 {
            let ts = 1_300 + 3 * i as i64;
            d.observe(
                &login(&mut router, ts, 0x0707_0000 + i, 401),
                0,
                &router,
                &mut out,
            );
        }
        assert!(!out.is_empty(), "the burst is reported");
        let named = named(&out);
        let addr = |a: u32| crate::actors::addr_key(std::net::IpAddr::from(a.to_be_bytes()));
        let burst: Vec<u128> = (0..120u32).map(|i| addr(0x0707_0000 + i)).collect();
        let missing: Vec<_> = burst.iter().filter(|a| !named.contains(a)).collect();
        assert!(missing.is_empty(), "{} of 120 not named", missing.len());
        // The first finding named only the lead-in: later ones the rest.
        let ActorRef::Addresses(first) = &out[0].actor else {
            panic!("a crowd")
        };
        assert!(first.len() < 120, "{}", first.len());
        assert!(
            !named.contains(&addr(mistyper)),
            "the mistype is not the burst"
        );
        // Findings come again as the crowd grows, at most once a second.
        assert!(out.windows(2).all(|w| w[1].ts.secs() > w[0].ts.secs()));
    }

    /// An address of the burst that also logged in successfully in the
    /// window (a customer who mistyped, or a NAT full of them) is not named;
    /// the rest of the burst is.
    #[test]
    fn an_address_that_also_logged_in_is_not_named() {
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let mut d = Stuffing::new(Config::default(), &baseline::Config::default());
        let mut out = Vec::new();
        let addr = |a: u32| crate::actors::addr_key(std::net::IpAddr::from(a.to_be_bytes()));
        for i in 0..150u32 {
            let ts = 1_000 + 2 * i as i64;
            let a = 0x0707_0000 + i;
            // Every tenth address of the burst also got in, a second before.
            if i % 10 == 0 {
                d.observe(&login(&mut router, ts - 1, a, 200), 0, &router, &mut out);
            }
            d.observe(&login(&mut router, ts, a, 401), 0, &router, &mut out);
        }
        assert!(!out.is_empty(), "the burst is reported");
        let named = named(&out);
        for i in 0..150u32 {
            let a = addr(0x0707_0000 + i);
            // The last address's failure may come after the last look.
            if i % 10 == 0 {
                assert!(!named.contains(&a), "address {i} logged in");
            } else if i < 140 {
                assert!(named.contains(&a), "address {i} is not named");
            }
        }
    }
}

#[cfg(test)]
mod burst_tests {
    use super::*;

    /// The kept counts name the same addresses as filtering and sorting the
    /// ring afresh, through pushes, pops from the front, out-of-order times
    /// and a burst start that moves.
    #[test]
    fn burst_addresses_match_a_fresh_sort() {
        let mut st = RouteState::new(0);
        let mut rng = crate::test_rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: u64| rng.below(n);
        let mut start = 100;
        for step in 0..20_000i64 {
            let ts = step / 4 + next(20) as i64 - 10;
            st.failures.push_back((ts, next(300) as u128 + (1 << 100)));
            while st.failures.len() > 500 || next(3) == 0 && !st.failures.is_empty() {
                st.pop_failure();
            }
            if step % 997 == 0 {
                start = ts - next(50) as i64;
            }
            if next(7) == 0 {
                // Looked at twice: the second time with failures gone and
                // none new (addresses down to no failures must not be named).
                for look in 0..2 {
                    if look == 1 {
                        for _ in 0..next(40) {
                            st.pop_failure();
                        }
                    }
                    let got: Vec<u128> =
                        st.burst.update(&st.failures, st.front_seq, start).collect();
                    let mut want: Vec<u128> = st
                        .failures
                        .iter()
                        .filter(|f| f.0 >= start)
                        .map(|f| f.1)
                        .collect();
                    want.sort_unstable();
                    want.dedup();
                    assert_eq!(got, want, "step {step}, look {look}");
                }
            }
        }
    }
}
