//! Distributed sweep: hundreds of addresses, each sending only a few
//! requests, jointly walking one contiguous id range on one route. No single
//! address stands out; the route's id space does.
//!
//! Per route, numeric ids are folded into buckets of 64 consecutive ids with
//! a bitmap of which were fetched and by which addresses. Real customers
//! fetch their own ids, scattered over the whole space, so a bucket holds a
//! handful of hits at most; a sweep fills run after run of buckets. A bucket
//! is dense when its hits stand far above the route's mean occupancy, and a
//! run of dense buckets fetched by many addresses (each contributing few) is
//! an incident that names every address seen in it.
//!
//! One caveat, handled: recently created accounts have adjacent ids and are
//! active, so a run whose lookups carry as many distinct principals as
//! addresses (each customer reading their own record) is not a sweep.

use serde::{Deserialize, Serialize};

use super::{ActorRef, Detector, Evidence, Finding, Routes, Scope};
use crate::alerts::{DetectorKind, IdStats, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::{BoundedMap, stable_hash};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// How long a bucket remembers its hits (a sweep may take a day).
    pub window_secs: i64,
    /// Minimum hits for a bucket of 64 ids to be dense.
    pub min_dense: u32,
    /// Hits in a run of dense buckets before it is an incident.
    pub min_hits: u64,
    /// Distinct addresses in the run.
    pub min_addresses: usize,
    /// Average lookups per address at most (more is one actor's walk).
    pub max_per_address: f64,
    /// Critical from this many addresses.
    pub critical_addresses: usize,
    pub quiet_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            window_secs: 86_400,
            min_dense: 20,
            min_hits: 40,
            min_addresses: 10,
            max_per_address: 8.0,
            critical_addresses: 100,
            quiet_secs: 3600,
        }
    }
}

const WIDTH: u64 = 64;
const MAX_WALK: u64 = 4096;

#[derive(Default)]
struct Bucket {
    bits: u64,
    hits: u32,
    addrs: Vec<u128>,
    principals: Vec<u32>,
    not_found: u32,
    first: i64,
    last: i64,
}

struct RouteState {
    buckets: BoundedMap<u64, Bucket>,
    hits: u64,
    severity: Option<Severity>,
    last_emit: i64,
    last_expire: i64,
}

pub struct Distributed {
    cfg: Config,
    routes: BoundedMap<RouteId, RouteState>,
    budget: usize,
}

impl Distributed {
    pub fn new(cfg: Config, budget: usize) -> Self {
        Distributed {
            cfg,
            routes: BoundedMap::new(256),
            budget: budget.max(1024),
        }
    }
}

struct Run {
    hits: u64,
    not_found: u64,
    addrs: Vec<u128>,
    principals: Vec<u32>,
    first: i64,
    last: i64,
    lo: u64,
    hi: u64,
}

fn dense_threshold(st: &RouteState, min: u32) -> u32 {
    let n = st.buckets.len().max(1) as f64;
    let mean = st.hits as f64 / n;
    (mean + 6.0 * mean.sqrt() + 4.0).max(min as f64) as u32
}

fn gather(st: &RouteState, center: u64, thr: u32) -> Run {
    let mut r = Run {
        hits: 0,
        not_found: 0,
        addrs: Vec::new(),
        principals: Vec::new(),
        first: i64::MAX,
        last: i64::MIN,
        lo: center,
        hi: center,
    };
    let add = |b: &Bucket, r: &mut Run| {
        r.hits += b.hits as u64;
        r.not_found += b.not_found as u64;
        r.addrs.extend_from_slice(&b.addrs);
        r.principals.extend_from_slice(&b.principals);
        r.first = r.first.min(b.first);
        r.last = r.last.max(b.last);
    };
    // Edges of a sweep may be half-filled: extend over buckets at half the
    // dense threshold.
    let edge = (thr / 2).max(1);
    if let Some(b) = st.buckets.get(&center) {
        add(b, &mut r);
    }
    let mut k = center;
    while k > 0 && center - k < MAX_WALK {
        match st.buckets.get(&(k - 1)) {
            Some(b) if b.hits >= edge => {
                add(b, &mut r);
                k -= 1;
                r.lo = k;
            }
            _ => break,
        }
    }
    let mut k = center;
    while k - center < MAX_WALK {
        match st.buckets.get(&(k + 1)) {
            Some(b) if b.hits >= edge => {
                add(b, &mut r);
                k += 1;
                r.hi = k;
            }
            _ => break,
        }
    }
    r.addrs.sort_unstable();
    r.addrs.dedup();
    r.principals.sort_unstable();
    r.principals.dedup();
    r
}

impl Detector for Distributed {
    fn kind(&self) -> DetectorKind {
        DetectorKind::DistributedSweep
    }
    fn scope(&self) -> Scope {
        Scope::Route
    }

    fn observe(&mut self, ev: &Event, routes: &dyn Routes, out: &mut Vec<Finding>) {
        let (Some(obj), Some(ip)) = (ev.object, ev.ip) else {
            return;
        };
        if !obj.kind.numeric() || !routes.info(ev.route).lookup {
            return;
        }
        let now = ev.ts.secs();
        let budget = self.budget;
        let (st, _) = self.routes.touch(&ev.route, || RouteState {
            buckets: BoundedMap::new(budget),
            hits: 0,
            severity: None,
            last_emit: i64::MIN / 2,
            last_expire: now,
        });
        let key = obj.value / WIDTH;
        let bit = 1u64 << (obj.value % WIDTH);
        let addr = crate::actors::addr_key(ip);
        let (b, victim) = st.buckets.touch(&key, || Bucket {
            first: now,
            ..Default::default()
        });
        b.last = b.last.max(now);
        if !b.addrs.contains(&addr) && b.addrs.len() < WIDTH as usize {
            b.addrs.push(addr);
        }
        let fresh = b.bits & bit == 0;
        if fresh {
            b.bits |= bit;
            b.hits += 1;
            b.not_found += ev.not_found() as u32;
            if let Some(p) = ev.principal {
                if !b.principals.contains(&(p as u32)) && b.principals.len() < WIDTH as usize {
                    b.principals.push(p as u32);
                }
            }
        }
        let hits = b.hits;
        if let Some((_, v)) = victim {
            st.hits -= v.hits as u64;
        }
        if fresh {
            st.hits += 1;
        }
        if now - st.last_expire >= 600 {
            st.last_expire = now;
            let horizon = now - self.cfg.window_secs;
            for (_, b) in st.buckets.drain_where(|_, b| b.last < horizon) {
                st.hits -= b.hits as u64;
            }
        }
        let thr = dense_threshold(st, self.cfg.min_dense);
        if !fresh || hits < thr {
            return;
        }
        let r = gather(st, key, thr);
        let cfg = &self.cfg;
        let per_addr = r.hits as f64 / r.addrs.len().max(1) as f64;
        let own_records = r.principals.len() * 2 >= r.addrs.len();
        if r.hits < cfg.min_hits
            || r.addrs.len() < cfg.min_addresses
            || per_addr > cfg.max_per_address
            || own_records
        {
            return;
        }
        let sev = if r.addrs.len() >= cfg.critical_addresses {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let grown = now - st.last_emit >= 60;
        if !(st.severity.is_none_or(|p| sev > p) || grown) {
            return;
        }
        st.severity = Some(st.severity.map_or(sev, |p| p.max(sev)));
        st.last_emit = now;
        let (lo, hi) = (r.lo * WIDTH, r.hi * WIDTH + WIDTH - 1);
        let why = format!(
            "{} ids in {lo}..{hi} fetched by {} addresses, {:.1} lookups each",
            r.hits,
            r.addrs.len(),
            per_addr
        );
        let span = (hi - lo + 1) as f64;
        out.push(Finding {
            detector: DetectorKind::DistributedSweep,
            severity: sev,
            scope_key: stable_hash(b"distributed_sweep"),
            actor: ActorRef::Addresses(r.addrs.clone()),
            route: ev.route,
            ts: ev.ts,
            quiet_secs: cfg.quiet_secs,
            evidence: Evidence {
                window_secs: cfg.window_secs,
                first_seen: Timestamp::from_secs(r.first),
                last_seen: Timestamp::from_secs(r.last),
                requests: r.hits,
                distinct_objects: r.hits,
                not_found: r.not_found,
                ids: Some(IdStats {
                    min: lo,
                    max: hi,
                    coverage: ((r.hits as f64 / span) * 1000.0).round() / 1000.0,
                    sequential_share: 0.0,
                    longest_run: 0,
                    median_stride: 0,
                }),
                sample_ids: Vec::new(),
                principals: Some(r.principals.len() as u64),
                user_agents: None,
                max_page: None,
                reason: why,
            },
        });
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        // An incident that went quiet may open again later as a new one.
        let quiet = self.cfg.quiet_secs;
        for st in self.routes.values_mut() {
            if st.severity.is_some() && now - st.last_emit > quiet {
                st.severity = None;
            }
        }
    }

    fn entries(&self) -> (usize, u64) {
        let mut n = 0;
        let mut e = self.routes.evicted();
        for (_, st) in self.routes.iter_lru() {
            n += st.buckets.len();
            e += st.buckets.evicted();
        }
        (n, e)
    }
}
