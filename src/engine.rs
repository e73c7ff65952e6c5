//! The engine: records in, alerts out. Shared by `scan`, `tail` and `check`,
//! which differ only in where lines come from and when they stop.
//!
//! Per record: resolve the client (trusted-proxy rule), template the route,
//! hash identities into fixed-size keys, skip allowlisted actors (counted),
//! hand the [`Event`] to every detector, and turn findings into incident
//! transitions. The engine runs on event time only: its clock is the highest
//! timestamp seen so far, so replays and live runs agree, and lines a few
//! seconds out of order are simply counted at their own time.

use std::io;

use crate::actors::{ActorKey, ClientResolver, addr_label};
use serde::{Deserialize, Serialize};

use crate::alerts::escape::escape;
use crate::alerts::{
    Alert, AlertSink, DetectorKind, Identities, Incident, Incidents, Transition, incident_key,
};
use crate::allow::Allowlist;
use crate::config::Config;
use crate::detectors::{ActorRef, Detector, Finding};
use crate::event::Event;
use crate::formats::{Record, Timestamp};
use crate::routes::{DEFAULT_MAX_ROUTES, Router, classify};
use crate::state::{BoundedMap, stable_hash};

/// Display names of principals and API keys, by their hash (escaped).
const MAX_NAMES: usize = 100_000;
const SAMPLE_LINE_BYTES: usize = 300;

/// Everything the engine knows, for `check`'s state file.
#[derive(Serialize, Deserialize)]
pub struct EngineState {
    routes: Vec<crate::routes::RouteInfo>,
    routes_overflowed: u64,
    names: BoundedMap<u64, String>,
    clock: Timestamp,
    last_tick: i64,
    incidents: Incidents,
    /// (detector name, its state), in the configured detector order.
    detectors: Vec<(String, Box<serde_json::value::RawValue>)>,
}

pub struct Engine {
    resolver: ClientResolver,
    router: Router,
    detectors: Vec<Box<dyn Detector>>,
    pub incidents: Incidents,
    allow: Allowlist,
    names: BoundedMap<u64, String>,
    clock: Timestamp,
    last_tick: i64,
    findings: Vec<Finding>,
    pub events: u64,
    pub allowlisted: u64,
}

impl Engine {
    pub fn new(cfg: &Config) -> Engine {
        // Tracked actors per detector from the memory ceiling: a full
        // tracker holds ~8 KB (a ring of 256 lookups plus sketches), four
        // detectors keep per-actor trackers, and 60% of the ceiling goes to
        // them (the rest: routes, names, buckets, buffers).
        let budget = ((cfg.max_memory * 6 / 10) / 4 / (8 * 1024)).max(1024) as usize;
        Engine {
            resolver: ClientResolver::new(cfg.trusted.clone()),
            router: Router::new(
                cfg.routes.clone(),
                cfg.strip_prefixes.clone(),
                DEFAULT_MAX_ROUTES,
            ),
            detectors: cfg.detect.build(budget),
            incidents: Incidents::default(),
            allow: Allowlist::new(&cfg.allow),
            names: BoundedMap::new(MAX_NAMES),
            clock: Timestamp::default(),
            last_tick: i64::MIN,
            findings: Vec::new(),
            events: 0,
            allowlisted: 0,
        }
    }

    /// Snapshot the engine's state.
    pub fn save(&self) -> serde_json::Result<EngineState> {
        let (routes, routes_overflowed) = self.router.save();
        let mut detectors = Vec::new();
        for d in &self.detectors {
            detectors.push((d.kind().as_str().to_owned(), d.save()?));
        }
        Ok(EngineState {
            routes,
            routes_overflowed,
            names: self.names.clone(),
            clock: self.clock,
            last_tick: self.last_tick,
            incidents: self.incidents.clone(),
            detectors,
        })
    }

    /// Restore a snapshot taken by [`Engine::save`]. Detectors that were not
    /// running then start empty; state of detectors no longer enabled is
    /// dropped.
    pub fn load(&mut self, st: EngineState) -> anyhow::Result<()> {
        self.router.load(st.routes, st.routes_overflowed);
        self.names = st.names;
        self.clock = st.clock;
        self.last_tick = st.last_tick;
        self.incidents = st.incidents;
        for (name, v) in st.detectors {
            if let Some(d) = self
                .detectors
                .iter_mut()
                .find(|d| d.kind().as_str() == name)
            {
                d.load(&v)
                    .map_err(|e| anyhow::anyhow!("detector {name}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Event time: the latest timestamp seen.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    pub fn allow_counts(&self) -> Vec<(String, u64)> {
        self.allow.counts()
    }

    /// (entries, evictions) of every detector, the route table and names.
    pub fn state_report(&self) -> Vec<(String, usize, u64)> {
        let mut v: Vec<(String, usize, u64)> = self
            .detectors
            .iter()
            .map(|d| {
                let (n, e) = d.entries();
                (d.kind().as_str().to_owned(), n, e)
            })
            .collect();
        v.push(("routes".into(), self.router.len(), self.router.overflowed()));
        v.push(("names".into(), self.names.len(), self.names.evicted()));
        v
    }

    /// Process one parsed record; `line` is the raw line (for samples).
    pub fn feed(
        &mut self,
        rec: &Record<'_>,
        line: &[u8],
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        self.events += 1;
        if rec.ts > self.clock {
            self.clock = rec.ts;
        }
        let now = self.clock.secs();
        if now > self.last_tick {
            self.last_tick = now;
            self.tick(sink)?;
        }
        let ip = self.resolver.resolve(rec);
        let principal = self.name(rec.principal);
        let api_key = self.name(rec.api_key);
        let ua = if rec.user_agent.is_empty() {
            0
        } else {
            stable_hash(rec.user_agent)
        };
        if self.allow.check(ip, principal, api_key, rec.user_agent, ua) {
            self.allowlisted += 1;
            return Ok(());
        }
        let routed = self.router.route(rec.method, rec.path, rec.query);
        let ev = Event {
            ts: rec.ts,
            ip,
            principal,
            api_key,
            ua,
            route: routed.route,
            object: routed.object,
            page: routed.page,
            search: routed.search,
            status: rec.status,
        };
        for d in self.detectors.iter_mut() {
            d.observe(&ev, &self.router, &mut self.findings);
        }
        if self.findings.is_empty() {
            return Ok(());
        }
        let sample = escape(line, SAMPLE_LINE_BYTES);
        let object_text = object_text(rec);
        let findings = std::mem::take(&mut self.findings);
        for f in findings {
            let key = incident_key(&f, &self.router.info(f.route).label());
            if let Some((t, inc)) =
                self.incidents
                    .apply(f, key, Some(sample.clone()), object_text.clone())
            {
                let a = render(&self.names, &self.router, inc, t, inc.finding.ts);
                sink.emit(&a)?;
            }
        }
        Ok(())
    }

    /// Advance detectors and close quiet incidents.
    fn tick(&mut self, sink: &mut dyn AlertSink) -> io::Result<()> {
        for d in self.detectors.iter_mut() {
            d.tick(self.clock, &self.router, &mut self.findings);
        }
        self.findings.clear();
        let closed = self.incidents.expire(self.clock);
        self.emit_closed(closed, sink)?;
        Ok(())
    }

    fn emit_closed(
        &self,
        closed: Vec<(Incident, Timestamp)>,
        sink: &mut dyn AlertSink,
    ) -> io::Result<()> {
        for (inc, at) in closed {
            sink.emit(&render(
                &self.names,
                &self.router,
                &inc,
                Transition::Closed,
                at,
            ))?;
        }
        Ok(())
    }

    /// End of input (scan): close every open incident.
    pub fn finish(&mut self, sink: &mut dyn AlertSink) -> io::Result<()> {
        let closed = self.incidents.close_all(self.clock);
        self.emit_closed(closed, sink)?;
        sink.flush()
    }

    fn name(&mut self, raw: &[u8]) -> Option<u64> {
        if raw.is_empty() {
            return None;
        }
        let h = stable_hash(raw);
        self.names.touch(&h, || escape(raw, 120));
        Some(h)
    }
}

fn actor_label(names: &BoundedMap<u64, String>, a: ActorKey) -> String {
    match a {
        ActorKey::Addr(x) => addr_label(x),
        ActorKey::Principal(h) | ActorKey::ApiKey(h) => names
            .get(&h)
            .cloned()
            .unwrap_or_else(|| format!("#{h:016x}")),
    }
}

/// One transition of an incident as the alert printed on stdout.
fn render(
    names: &BoundedMap<u64, String>,
    router: &Router,
    inc: &Incident,
    event: Transition,
    at: Timestamp,
) -> Alert {
    let f = &inc.finding;
    let e = &f.evidence;
    let route = router.info(f.route).label();
    let (actor_kind, actor) = match &f.actor {
        ActorRef::One(a) => (a.kind().to_owned(), vec![actor_label(names, *a)]),
        ActorRef::Addresses(_) => (
            "addresses".to_owned(),
            inc.crowd.iter().map(|a| addr_label(*a)).collect(),
        ),
    };
    let who = match &f.actor {
        ActorRef::One(a) => format!("{} {}", a.kind().replace('_', " "), actor[0]),
        ActorRef::Addresses(_) => format!("{} addresses", actor.len()),
    };
    let advice = match f.detector {
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
