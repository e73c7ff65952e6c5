//! The engine: records in, alerts out. Shared by `scan`, `tail` and `check`,
//! which differ only in where lines come from and when they stop.
//!
//! Per record: resolve the client (trusted-proxy rule), template the route,
//! hash identities into fixed-size keys, skip allowlisted actors (counted),
//! hand the [`Event`] to the shards that own its actors and route (see
//! [`shard`]), and turn findings into incident transitions. The engine runs on event time only: its clock is the highest
//! timestamp seen so far (one stray line far ahead excepted, see
//! [`Clock`]), so replays and live runs agree, and lines a few seconds out
//! of order are simply counted at their own time.

pub mod parallel;
pub mod shard;

use std::io;

use crate::actors::{ActorKey, ClientResolver, addr_label};
use serde::{Deserialize, Serialize};

use crate::alerts::escape::escape;
use crate::alerts::{
    Alert, AlertSink, DetectorKind, Identities, Incident, Incidents, Transition, incident_key,
};
use crate::allow::Allowlist;
use crate::config::Config;
use crate::detectors::{ActorRef, Finding};
use crate::event::Event;
use crate::formats::time::Clock;
use crate::formats::{Record, Timestamp};
use crate::routes::{DEFAULT_MAX_ROUTES, Router, classify};
use crate::state::stable_hash;
use shard::{Partition, SHARDS, Shard, Tagged};

const SAMPLE_LINE_BYTES: usize = 300;

/// The engine's own state in `check`'s state file (the detectors' states
/// follow it, one JSON value per shard and detector).
#[derive(Serialize)]
struct MetaOut<'a> {
    routes: Vec<crate::routes::RouteInfo>,
    routes_overflowed: u64,
    clock: Timestamp,
    /// A leap of event time not confirmed yet, and its lines so far (see
    /// [`Clock`]).
    leap: Option<Timestamp>,
    leap_lines: u8,
    last_tick: i64,
    incidents: &'a Incidents,
    silence: Silence,
    /// How many (detector header, detector state) pairs follow.
    detector_states: usize,
}

#[derive(Deserialize)]
struct MetaIn {
    routes: Vec<crate::routes::RouteInfo>,
    routes_overflowed: u64,
    clock: Timestamp,
    /// Absent from state files written before it existed.
    #[serde(default)]
    leap: Option<Timestamp>,
    #[serde(default)]
    leap_lines: u8,
    last_tick: i64,
    incidents: Incidents,
    /// Absent from state files written before it existed.
    #[serde(default)]
    silence: Silence,
    detector_states: usize,
}

/// Which detector of which shard the next state belongs to.
#[derive(Serialize, Deserialize)]
struct DetectorHead {
    detector: String,
    shard: u8,
}

/// The first stage: a parsed record becomes an [`Event`] (client resolved,
/// route templated, identities hashed, shards assigned), or nothing when
/// the actor is allowlisted. It also keeps event time.
pub struct Front {
    resolver: ClientResolver,
    pub router: Router,
    allow: Allowlist,
    clock: Clock,
    last_tick: i64,
    pub allowlisted: u64,
    /// Forwarded headers from peers that are not trusted (for a hint).
    pub proxies: crate::actors::ProxyTally,
}

/// What one record amounts to: a tick of event time to run first (at most
/// once per second), then the event, if it is not allowlisted.
pub struct Step {
    pub tick: Option<Timestamp>,
    pub event: Option<Event>,
}

impl Front {
    pub fn step(&mut self, rec: &Record<'_>) -> Step {
        let ts = self.clock.file(rec.ts);
        let clock = self.clock.now();
        let now = clock.secs();
        let tick = if now > self.last_tick {
            self.last_tick = now;
            Some(clock)
        } else {
            None
        };
        let ip = self.resolver.resolve(rec);
        self.proxies.see(&self.resolver, rec);
        let principal = identity(rec.principal);
        let api_key = identity(rec.api_key);
        let ua = if rec.user_agent.is_empty() {
            0
        } else {
            stable_hash(rec.user_agent)
        };
        if self.allow.check(ip, principal, api_key, rec.user_agent, ua) {
            self.allowlisted += 1;
            return Step { tick, event: None };
        }
        let routed = self.router.route(rec.method, rec.path, rec.query);
        let event = Event {
            ts,
            ip,
            principal,
            api_key,
            ua,
            route: routed.route,
            object: routed.object,
            page: routed.page,
            search: routed.search,
            status: rec.status,
            part: Partition::of(ip, principal, api_key, routed.route),
        };
        Step {
            tick,
            event: Some(event),
        }
    }
}

/// A principal or API key as its hash (none when absent). Only the hash: an
/// alert names an actor from the line that raised it (see [`Shown`]), so no
/// table of display names is kept.
fn identity(raw: &[u8]) -> Option<u64> {
    (!raw.is_empty()).then(|| stable_hash(raw))
}

/// Records in, alerts out: [`Front`], then every [`Shard`], then incidents.
/// This runs all of it on the calling thread; [`parallel`] runs the shards
/// on worker threads with the same result.
pub struct Engine {
    pub front: Front,
    shards: Vec<Shard>,
    pub incidents: Incidents,
    silence: Silence,
    scratch: Vec<Finding>,
    tagged: Vec<Tagged>,
}

/// When the log was last heard from, on the wall clock: see
/// [`Engine::close_silent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Silence {
    clock: Timestamp,
    /// Unix seconds; 0 before the first look.
    wall: i64,
    /// A record was fed since the last look (lines older than the clock
    /// leave it where it is, but the log is not silent).
    #[serde(skip)]
    fed: bool,
}

/// Tracked actors per per-actor detector (over all shards) that a memory
/// ceiling pays for: a full tracker holds ~8 KB (a ring of 256 lookups plus
/// sketches), four detectors keep per-actor trackers, and 60% of the
/// ceiling goes to them (the rest: routes, buckets, buffers).
pub fn tracker_budget(max_memory: u64) -> usize {
    ((max_memory * 6 / 10) / 4 / (8 * 1024)) as usize
}

impl Engine {
    pub fn new(cfg: &Config) -> Engine {
        let budget = tracker_budget(cfg.max_memory);
        let per_shard = (budget / SHARDS).max(64);
        Engine {
            front: Front {
                resolver: ClientResolver::new(cfg.trusted.clone()),
                router: Router::new(
                    cfg.routes.clone(),
                    cfg.strip_prefixes.clone(),
                    DEFAULT_MAX_ROUTES,
                ),
                allow: Allowlist::new(&cfg.allow),
                clock: Clock::default(),
                last_tick: i64::MIN,
                allowlisted: 0,
                proxies: Default::default(),
            },
            shards: (0..SHARDS)
                .map(|i| Shard::new(i as u8, cfg.detect.build(per_shard, budget)))
                .collect(),
            incidents: Incidents::default(),
            silence: Silence::default(),
            scratch: Vec::new(),
            tagged: Vec::new(),
        }
    }

    /// Write the engine's state (for `check`) as a sequence of JSON values:
    /// the engine's own, then a header and a state per shard and detector.
    /// Streamed, so the state is never held twice in memory.
    pub fn save(&self, w: &mut dyn io::Write) -> anyhow::Result<()> {
        let (routes, routes_overflowed) = self.front.router.save();
        let meta = MetaOut {
            routes,
            routes_overflowed,
            clock: self.front.clock.now(),
            leap: self.front.clock.leap,
            leap_lines: self.front.clock.leapt,
            last_tick: self.front.last_tick,
            incidents: &self.incidents,
            silence: self.silence,
            detector_states: self.shards.iter().map(|s| s.detectors.len()).sum(),
        };
        serde_json::to_writer(&mut *w, &meta)?;
        w.write_all(b"\n")?;
        for s in &self.shards {
            for d in &s.detectors {
                let head = DetectorHead {
                    detector: d.kind().as_str().to_owned(),
                    shard: s.index,
                };
                serde_json::to_writer(&mut *w, &head)?;
                w.write_all(b"\n")?;
                d.save(w)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Restore what [`Engine::save`] wrote. Detectors that were not running
    /// then start empty; states of detectors no longer enabled are skipped.
    pub fn load<R: io::Read>(
        &mut self,
        de: &mut serde_json::Deserializer<serde_json::de::IoRead<R>>,
    ) -> anyhow::Result<()> {
        let m = MetaIn::deserialize(&mut *de)?;
        self.front.router.load(m.routes, m.routes_overflowed);
        self.front.clock = Clock {
            now: (m.clock != Timestamp::default()).then_some(m.clock),
            leap: m.leap,
            leapt: m.leap_lines,
        };
        self.front.last_tick = m.last_tick;
        self.incidents = m.incidents;
        self.silence = m.silence;
        for _ in 0..m.detector_states {
            let head = DetectorHead::deserialize(&mut *de)?;
            // One detector's state at a time: bounded by its table sizes.
            let raw = Box::<serde_json::value::RawValue>::deserialize(&mut *de)?;
            let Some(shard) = self.shards.get_mut(head.shard as usize) else {
                anyhow::bail!(
                    "state has shard {}, this apiwatch runs {} shards",
                    head.shard,
                    self.shards.len()
                );
            };
            if let Some(d) = shard
                .detectors
                .iter_mut()
                .find(|d| d.kind().as_str() == head.detector)
            {
                d.load(&raw)
                    .map_err(|e| anyhow::anyhow!("detector {}: {e}", head.detector))?;
            }
        }
        for s in self.shards.iter_mut() {
            s.reset_due();
        }
        Ok(())
    }

    /// Before the first line: see [`Clock::prime_from`].
    pub fn prime_clock<'l>(
        &mut self,
        parser: &mut dyn crate::formats::LineParser,
        lines: impl IntoIterator<Item = &'l [u8]>,
    ) {
        self.front.clock.prime_from(parser, lines);
    }

    /// Event time: the latest timestamp seen (see [`Clock`] for lines
    /// stamped far ahead).
    pub fn clock(&self) -> Timestamp {
        self.front.clock.now()
    }

    pub fn allowlisted(&self) -> u64 {
        self.front.allowlisted
    }

    pub fn allow_counts(&self) -> Vec<(String, u64)> {
        self.front.allow.counts()
    }

    /// (entries, evictions) of every detector (summed over shards)
    /// and the route table.
    pub fn state_report(&self) -> Vec<(String, usize, u64)> {
        let mut v: Vec<(String, usize, u64)> = Vec::new();
        for s in &self.shards {
            for (i, d) in s.detectors.iter().enumerate() {
                let (n, e) = d.entries();
                if i == v.len() {
                    v.push((d.kind().as_str().to_owned(), 0, 0));
                }
                v[i].1 += n;
                v[i].2 += e;
            }
        }
        let r = &self.front.router;
        v.push(("routes".into(), r.len(), r.overflowed()));
        v
    }

    /// Process one parsed record; `line` is the raw line (for samples).
    pub fn feed(
        &mut self,
        rec: &Record<'_>,
        line: &[u8],
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        self.silence.fed = true;
        let step = self.front.step(rec);
        if let Some(now) = step.tick {
            for s in self.shards.iter_mut() {
                s.tick(now, &self.front.router, &mut self.scratch);
            }
            self.expire(now, sink)?;
        }
        let Some(ev) = step.event else {
            return Ok(());
        };
        // Only the shards that own a part of the event (one to four): asking
        // every shard cost more than handing the event over.
        let mut owners = ev.part.shards();
        while owners != 0 {
            let i = owners.trailing_zeros() as usize;
            owners &= owners - 1;
            self.shards[i].observe(
                &ev,
                0,
                &self.front.router,
                &mut self.scratch,
                &mut self.tagged,
            );
        }
        if self.tagged.is_empty() {
            return Ok(());
        }
        let mut tagged = std::mem::take(&mut self.tagged);
        shard::sort(&mut tagged);
        let r = self.apply(tagged.drain(..), line, Shown::of(rec), sink);
        self.tagged = tagged;
        r
    }

    /// Turn the findings of one event into incident transitions.
    fn apply(
        &mut self,
        findings: impl Iterator<Item = Tagged>,
        line: &[u8],
        shown: Shown,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        let sample = escape(line, SAMPLE_LINE_BYTES);
        let front = &self.front;
        for t in findings {
            let f = t.finding;
            let key = incident_key(&f, &front.router.info(f.route).label());
            let label = match f.actor {
                ActorRef::One(a) => Some(shown.label(a)),
                ActorRef::Addresses(_) => None,
            };
            if let Some((t, inc)) =
                self.incidents
                    .apply(f, key, Some(sample.clone()), shown.object.clone(), label)
            {
                let a = render(&front.router, inc, t, inc.finding.ts);
                sink.emit(&a)?;
            }
        }
        Ok(())
    }

    /// A live log gone silent (`tail`, `check`): event time stands still,
    /// so an incident would stay open until the next line. Once no record
    /// has come for `grace` seconds of wall time (`wall_now`, Unix seconds),
    /// event time is taken to run on with the wall clock from there, and
    /// incidents whose quiet period ends by then are closed, with the same
    /// closing time a replay gives them. The grace covers lines that reach
    /// the file late (buffered logging). Only incidents are closed; event
    /// time itself, and with it every detector's state, stays with the
    /// lines. Callers skip this while an input cannot be read: that is not
    /// silence.
    pub fn close_silent(
        &mut self,
        wall_now: i64,
        grace: i64,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        let clock = self.front.clock.now();
        let s = self.silence;
        // Heard from (or first look, or a wall clock set back): restart.
        if s.fed || s.wall == 0 || s.clock != clock || wall_now < s.wall {
            self.silence = Silence {
                clock,
                wall: wall_now,
                fed: false,
            };
            return Ok(());
        }
        let silent = wall_now.saturating_sub(s.wall).saturating_sub(grace);
        if silent <= 0 {
            return Ok(());
        }
        let now = Timestamp(
            clock
                .0
                .saturating_add(silent.saturating_mul(Timestamp::MICROS)),
        );
        self.expire(now, sink)
    }

    /// Close incidents quiet at event time `now`.
    fn expire(&mut self, now: Timestamp, sink: &mut dyn AlertSink) -> io::Result<()> {
        let closed = self.incidents.expire(now);
        self.emit_closed(closed, sink)
    }

    fn emit_closed(
        &self,
        closed: Vec<(Incident, Timestamp)>,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        for (inc, at) in closed {
            sink.emit(&render(&self.front.router, &inc, Transition::Closed, at))?;
        }
        Ok(())
    }

    /// End of input (scan): close every open incident.
    pub fn finish(&mut self, sink: &mut dyn AlertSink) -> io::Result<()> {
        let closed = self.incidents.close_all(self.front.clock.now());
        self.emit_closed(closed, sink)?;
        sink.flush()
    }

    /// The incidents still open, worst first (then in key order), as
    /// `check`'s status line names them: detector, who (the actor, or how
    /// many addresses) and route.
    pub fn open_incidents(&self) -> Vec<String> {
        let router = &self.front.router;
        let mut v: Vec<(crate::alerts::Severity, String)> = (self.incidents.open())
            .map(|inc| {
                let f = &inc.finding;
                let who = match &f.actor {
                    ActorRef::One(_) => inc.label.clone(),
                    ActorRef::Addresses(_) => format!("{} addresses", inc.crowd.len()),
                };
                let route = router.info(f.route).shown();
                (
                    inc.severity,
                    format!("{} {who} on {route}", f.detector.as_str()),
                )
            })
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.0));
        v.into_iter().map(|(_, s)| s).collect()
    }
}

/// What an alert shows of the line that raised it: the object id as written,
/// and the (escaped) principal and API key. Every finding about one actor is
/// raised by a line of that actor, so its name is always at hand there.
#[derive(Default)]
pub(crate) struct Shown {
    object: Option<String>,
    principal: Option<(u64, String)>,
    api_key: Option<(u64, String)>,
}

impl Shown {
    pub(crate) fn of(rec: &Record<'_>) -> Shown {
        let name = |raw: &[u8]| identity(raw).map(|h| (h, escape(raw, 120)));
        Shown {
            object: object_text(rec),
            principal: name(rec.principal),
            api_key: name(rec.api_key),
        }
    }

    fn label(&self, a: ActorKey) -> String {
        let named = |n: &Option<(u64, String)>, h: u64| {
            n.as_ref()
                .filter(|(k, _)| *k == h)
                .map_or_else(|| format!("#{h:016x}"), |(_, s)| s.clone())
        };
        match a {
            ActorKey::Addr(x) => addr_label(x),
            ActorKey::Principal(h) => named(&self.principal, h),
            ActorKey::ApiKey(h) => named(&self.api_key, h),
        }
    }
}

/// One transition of an incident as the alert printed on stdout.
fn render(router: &Router, inc: &Incident, event: Transition, at: Timestamp) -> Alert {
    let f = &inc.finding;
    let e = &f.evidence;
    let route = router.info(f.route).shown();
    let (actor_kind, actor) = match &f.actor {
        ActorRef::One(a) => (a.kind().to_owned(), vec![inc.label.clone()]),
        ActorRef::Addresses(_) => (
            "addresses".to_owned(),
            inc.crowd.iter().map(|a| addr_label(*a)).collect(),
        ),
    };
    let who = match &f.actor {
        ActorRef::One(a) => format!("{} {}", a.kind().replace('_', " "), actor[0]),
        ActorRef::Addresses(_) => match actor.len() {
            1 => "1 address".to_owned(),
            n => format!("{n} addresses"),
        },
    };
    let advice = match f.detector {
        DetectorKind::Enumeration if e.shared => {
            "it is used by several user agents (a carrier NAT address or an office?): find the client behind it before blocking, throttle it, or allowlist it if it is a known partner"
        }
        DetectorKind::Enumeration | DetectorKind::SlowSweep => {
            "block or throttle it unless it is a known partner (then allowlist it)"
        }
        DetectorKind::DistributedSweep => {
            "block the listed addresses and require per-object authorisation on this route"
        }
        DetectorKind::Bola => "suspend these credentials and audit the records they read",
        DetectorKind::PaginationHarvest => "cap page depth and review this client",
        DetectorKind::CredentialStuffing => {
            "block the listed addresses and check the targeted accounts for takeover"
        }
    };
    Alert {
        id: inc.id.clone(),
        event,
        detector: f.detector,
        severity: inc.severity,
        actor_kind,
        summary: format!("{who}: {} on {route}; {advice}.", e.reason),
        actor,
        route,
        first_seen: inc.first_seen.rfc3339(),
        last_seen: e.last_seen.max(inc.last_signal).rfc3339(),
        detected_at: at.rfc3339(),
        window_secs: e.window_secs,
        requests: e.requests,
        distinct_objects: e.distinct_objects,
        not_found_ratio: if e.requests == 0 {
            0.0
        } else {
            ((e.not_found as f64 / e.requests as f64) * 1000.0).round() / 1000.0
        },
        ids: e.ids.clone(),
        sample_ids: inc.sample_ids.clone(),
        sample_lines: inc.samples.clone(),
        identities_behind: match (e.principals, e.user_agents) {
            (Some(p), Some(u)) => Some(Identities {
                principals: p,
                user_agents: u,
            }),
            _ => None,
        },
        max_page: e.max_page,
        since_flagged: e.since_flagged,
    }
}

/// The identifier text of a request (last id-like path segment or query
/// value), escaped: sample ids for non-numeric objects.
fn object_text(rec: &Record<'_>) -> Option<String> {
    let seg = rec
        .path
        .split(|&b| b == b'/')
        .rev()
        .find(|s| classify(s).is_some())
        .or_else(|| {
            rec.query
                .split(|&b| b == b'&')
                .filter_map(|p| p.split(|&b| b == b'=').nth(1))
                .find(|v| classify(v).is_some())
        })?;
    Some(escape(seg, 80))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alert names a principal or key from its line, escaped; a hash the
    /// line does not carry is shown as the hash.
    #[test]
    fn actors_are_named_from_the_line_that_raised_the_alert() {
        let rec = Record {
            principal: b"eve\x1b[2J",
            api_key: b"k-1",
            path: b"/api/v1/customers/42",
            ..Default::default()
        };
        let shown = Shown::of(&rec);
        let p = shown.label(ActorKey::Principal(stable_hash(b"eve\x1b[2J")));
        assert!(p.starts_with("eve") && !p.contains('\x1b'), "{p}");
        assert_eq!(shown.label(ActorKey::ApiKey(stable_hash(b"k-1"))), "k-1");
        assert_eq!(shown.label(ActorKey::ApiKey(7)), format!("#{:016x}", 7));
        assert_eq!(shown.object.as_deref(), Some("42"));
    }

    /// `check` carries a leap of event time not yet confirmed over to the
    /// next run: a run that ends on the first line of the next day's log
    /// and one that goes on from it file the following lines alike.
    #[test]
    fn a_pending_leap_of_event_time_is_kept_in_the_state() {
        use crate::alerts::sink::VecSink;
        let cfg = Config::from_args(&crate::cli::CommonArgs::default()).unwrap();
        let feed = |e: &mut Engine, secs: i64| {
            let rec = Record {
                ts: Timestamp::from_secs(secs),
                client: Some("203.0.113.9".parse().unwrap()),
                method: b"GET",
                path: b"/api/v1/me",
                status: 200,
                ..Default::default()
            };
            e.feed(&rec, b"-", &mut VecSink::default()).unwrap();
        };
        let (t0, days) = (1_770_000_000, 2 * 86_400);
        let mut e = Engine::new(&cfg);
        feed(&mut e, t0);
        feed(&mut e, t0 + days);
        assert_eq!(e.clock(), Timestamp::from_secs(t0), "a lone leap waits");
        let mut saved = Vec::new();
        e.save(&mut saved).unwrap();
        let mut next = Engine::new(&cfg);
        let mut de = serde_json::Deserializer::from_reader(&saved[..]);
        next.load(&mut de).unwrap();
        feed(&mut next, t0 + days + 1);
        assert_eq!(next.clock(), Timestamp::from_secs(t0), "two lines so far");
        feed(&mut next, t0 + days + 2);
        assert_eq!(next.clock(), Timestamp::from_secs(t0 + days + 2));
    }

    /// `close_silent`: lines keep a log from being silent even when they
    /// are older than event time; once silent for longer than the grace,
    /// an incident closes at its last signal plus its quiet period.
    #[test]
    fn a_silent_log_closes_its_incidents_and_a_heard_one_does_not() {
        use crate::alerts::sink::VecSink;
        let cfg = Config::from_args(&crate::cli::CommonArgs::default()).unwrap();
        let mut e = Engine::new(&cfg);
        let mut sink = VecSink::default();
        let t0 = 1_770_000_000;
        let feed = |e: &mut Engine, secs: i64, path: &str, sink: &mut VecSink| {
            let rec = Record {
                ts: Timestamp::from_secs(secs),
                client: Some("203.0.113.9".parse().unwrap()),
                method: b"GET",
                path: path.as_bytes(),
                status: 200,
                ..Default::default()
            };
            e.feed(&rec, b"-", sink).unwrap();
        };
        for i in 0..80 {
            feed(
                &mut e,
                t0,
                &format!("/api/v1/customers/{}", 1000 + i),
                &mut sink,
            );
        }
        let opened = sink.0.len();
        assert!(opened >= 1 && sink.0.iter().all(|a| a.event == Transition::Opened));
        let closed = |s: &VecSink| s.0.iter().filter(|a| a.event == Transition::Closed).count();
        // First look; then a line every 10,000 s, older than event time.
        let mut wall = 5_000;
        e.close_silent(wall, 300, &mut sink).unwrap();
        for _ in 0..3 {
            wall += 10_000;
            feed(&mut e, t0 - 60, "/api/v1/me", &mut sink);
            e.close_silent(wall, 300, &mut sink).unwrap();
        }
        assert_eq!(closed(&sink), 0, "heard from: not silent");
        // 1,000 s of silence: the 900 s quiet period is over only once the
        // 300 s grace is counted too.
        e.close_silent(wall + 1_000, 300, &mut sink).unwrap();
        assert_eq!(closed(&sink), 0, "within the grace");
        e.close_silent(wall + 1_300, 300, &mut sink).unwrap();
        assert_eq!(closed(&sink), opened);
        let at = Timestamp::from_secs(t0 + 900);
        assert!(
            sink.0
                .iter()
                .any(|a| a.event == Transition::Closed && a.detected_at == at.rfc3339())
        );
    }
}
