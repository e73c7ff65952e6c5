//! Pagination harvest: one actor paging a list endpoint far deeper than
//! normal clients ever go (`?page=1..500`, `?offset=`, or a long chain of
//! cursors). Depth is compared with the route's learned depth baseline and
//! an absolute floor.

use serde::{Deserialize, Serialize};

use super::baseline::{self, Baselines};
use super::{ActorRef, Actors, Detector, Evidence, Finding, Routes, Scope, actor_scope_key};
use crate::actors::ActorKey;
use crate::alerts::{DetectorKind, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::{Page, RouteId};
use crate::state::BoundedMap;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub window_secs: i64,
    /// Pages (or distinct cursors) below which nothing fires.
    pub depth_floor: u32,
    /// Distinct pages fetched (not one deep link).
    pub min_pages: u32,
    pub critical_factor: f64,
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 3600,
            depth_floor: 50,
            min_pages: 20,
            critical_factor: 4.0,
            quiet_secs: 1800,
        }
    }
}

const MAX_CURSORS: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Tracker {
    first: i64,
    last: i64,
    requests: u64,
    max_page: u32,
    pages: u32,
    /// Bitmap of page numbers seen (first 4096 pages) to count distinct.
    seen: Vec<u64>,
    cursors: Vec<u64>,
    severity: Option<Severity>,
    last_emit: i64,
}

#[derive(Serialize, Deserialize)]
pub struct Pagination {
    #[serde(skip)]
    cfg: Config,
    trackers: BoundedMap<(ActorKey, RouteId), Tracker>,
    baselines: Baselines,
    last_expire: i64,
}

impl Pagination {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &Pagination) {
        let _ = old;
        self.baselines.restore_config(&old.baselines);
    }

    pub fn new(cfg: Config, base: &baseline::Config, budget: usize) -> Self {
        Pagination {
            cfg,
            trackers: BoundedMap::new(budget / 4),
            baselines: Baselines::new(base, baseline::cap_for(budget)),
            last_expire: 0,
        }
    }
}

impl Detector for Pagination {
    fn kind(&self) -> DetectorKind {
        DetectorKind::PaginationHarvest
    }
    fn scope(&self) -> Scope {
        Scope::Actor(Actors::ALL)
    }

    fn observe(&mut self, ev: &Event, shard: u8, _routes: &dyn Routes, out: &mut Vec<Finding>) {
        let (Some(page), Some(actor)) = (ev.page, ev.primary_actor()) else {
            return;
        };
        if ev.part.actor(actor) != shard {
            return;
        }
        let now = ev.ts.secs();
        let (t, victim) = self.trackers.touch(&(actor, ev.route), || Tracker {
            first: now,
            last: now,
            requests: 0,
            max_page: 0,
            pages: 0,
            seen: vec![0; 64],
            cursors: Vec::new(),
            severity: None,
            last_emit: i64::MIN / 2,
        });
        if now - t.first > self.cfg.window_secs && t.severity.is_none() {
            // A new window for a returning actor.
            *t = Tracker {
                first: now,
                seen: vec![0; 64],
                cursors: Vec::new(),
                ..*t
            };
            t.requests = 0;
            t.max_page = 0;
            t.pages = 0;
        }
        t.last = now;
        t.requests += 1;
        match page {
            Page::Number(n) => {
                t.max_page = t.max_page.max(n);
                let i = n as usize;
                if i < 4096 {
                    if t.seen[i / 64] & (1 << (i % 64)) == 0 {
                        t.seen[i / 64] |= 1 << (i % 64);
                        t.pages += 1;
                    }
                } else {
                    t.pages += 1;
                }
            }
            Page::Cursor(c) => {
                if !t.cursors.contains(&c) && t.cursors.len() < MAX_CURSORS {
                    t.cursors.push(c);
                    t.pages += 1;
                    t.max_page = t.max_page.max(t.cursors.len() as u32);
                }
            }
        }
        let depth = t.max_page;
        let (first, pages, requests) = (t.first, t.pages, t.requests);
        let (sev0, last_emit) = (t.severity, t.last_emit);
        if let Some((_, v)) = victim {
            self.baselines.record(ev.route, 0, v.max_page as u64);
        }
        let thr = self
            .baselines
            .threshold(ev.route, 0, self.cfg.depth_floor as u64) as u32;
        if depth < thr || pages < self.cfg.min_pages {
            return;
        }
        let sev = if depth as f64 >= self.cfg.critical_factor * thr as f64 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        if !super::enumeration::should_emit(sev, sev0, last_emit, now) {
            return;
        }
        let t = self.trackers.get_mut(&(actor, ev.route)).expect("touched");
        t.severity = Some(sev0.map_or(sev, |p| p.max(sev)));
        t.last_emit = now;
        out.push(Finding {
            detector: DetectorKind::PaginationHarvest,
            severity: sev,
            scope_key: actor_scope_key(actor),
            actor: ActorRef::One(actor),
            route: ev.route,
            ts: ev.ts,
            quiet_secs: self.cfg.quiet_secs,
            evidence: Evidence {
                window_secs: self.cfg.window_secs,
                first_seen: Timestamp::from_secs(first),
                last_seen: ev.ts,
                requests,
                distinct_objects: pages as u64,
                max_page: Some(depth),
                reason: format!("paged to depth {depth} ({pages} distinct pages; threshold {thr})"),
                ..Default::default()
            },
        });
    }

    fn tick_due(&self) -> i64 {
        self.last_expire.saturating_add(300)
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        if now - self.last_expire < 300 {
            return;
        }
        self.last_expire = now;
        let w = self.cfg.window_secs;
        for ((_, route), t) in self.trackers.expire_idle(|_, t| t.last < now - w) {
            if t.severity.is_none() {
                self.baselines.record(route, 0, t.max_page as u64);
            }
        }
    }

    crate::persist_detector!(Pagination);

    fn entries(&self) -> (usize, u64) {
        (self.trackers.len(), self.trackers.evicted())
    }
}
