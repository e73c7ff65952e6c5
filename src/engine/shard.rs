//! The shard boundary. Per-actor detectors need every event of one actor;
//! route-wide detectors (distributed sweep, credential stuffing) every event
//! of one route. Each event therefore carries a [`Partition`]: the shard of
//! each of its actors and of its route. A [`Shard`] holds one instance of
//! every detector and sees only what it owns.
//!
//! The number of shards is fixed ([`SHARDS`]), whatever the number of
//! threads: threads only host shards. A run on one thread and a run on many
//! therefore learn the same baselines, evict the same entries and raise the
//! same alerts. The same cut would spread shards over machines behind a
//! partitioned log bus, so no shard may assume it sees every record.

use crate::actors::{ActorKey, addr_key};
use crate::detectors::{Detector, Finding, Routes, Scope};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::hll::mix;

/// Logical shards per run.
pub const SHARDS: usize = 4;

/// Which shard owns each part of an event; [`Partition::NONE`] for a part
/// the event does not have, so that no shard is handed an event for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub addr: u8,
    pub principal: u8,
    pub api_key: u8,
    pub route: u8,
}

fn shard_of(h: u64) -> u8 {
    (mix(h) % SHARDS as u64) as u8
}

impl Partition {
    pub const NONE: u8 = u8::MAX;

    pub fn of(
        ip: Option<std::net::IpAddr>,
        principal: Option<u64>,
        api_key: Option<u64>,
        route: RouteId,
    ) -> Partition {
        Partition {
            addr: ip.map_or(Self::NONE, |ip| {
                let a = addr_key(ip);
                shard_of(a as u64 ^ (a >> 64) as u64)
            }),
            // Keyed differently from addresses: a principal hash and an
            // address need not land together.
            principal: principal.map_or(Self::NONE, |p| shard_of(p ^ 0x5052_494e)),
            api_key: api_key.map_or(Self::NONE, |k| shard_of(k ^ 0x004b_4559)),
            route: shard_of(route as u64 ^ 0x0052_4f55_5445),
        }
    }

    /// The shard of one of the event's actors.
    pub fn actor(&self, a: ActorKey) -> u8 {
        match a {
            ActorKey::Addr(_) => self.addr,
            ActorKey::Principal(_) => self.principal,
            ActorKey::ApiKey(_) => self.api_key,
        }
    }
}

/// One shard: an instance of every enabled detector.
pub struct Shard {
    pub index: u8,
    /// Fixed at [`Shard::new`]: `scopes` follows it index for index.
    pub detectors: Vec<Box<dyn Detector>>,
    /// Each detector's scope, asked once rather than per event.
    scopes: Vec<Scope>,
}

/// A finding with where it came from, for a deterministic merge: event
/// position, then detector order, then shard.
pub struct Tagged {
    pub event: u32,
    pub detector: u8,
    pub shard: u8,
    pub finding: Finding,
}

impl Shard {
    pub fn new(index: u8, detectors: Vec<Box<dyn Detector>>) -> Shard {
        let scopes = detectors.iter().map(|d| d.scope()).collect();
        Shard {
            index,
            detectors,
            scopes,
        }
    }

    /// Hand `ev` to the detectors that own a part of it. Findings are
    /// appended to `out` tagged with `pos`.
    pub fn observe(
        &mut self,
        ev: &Event,
        pos: u32,
        routes: &dyn Routes,
        scratch: &mut Vec<Finding>,
        out: &mut Vec<Tagged>,
    ) {
        let p = ev.part;
        let me = self.index;
        let (addr, principal, api_key) = (p.addr == me, p.principal == me, p.api_key == me);
        let route = p.route == me;
        if !(addr || principal || api_key || route) {
            return;
        }
        for (i, (d, scope)) in self.detectors.iter_mut().zip(&self.scopes).enumerate() {
            let mine = match scope {
                Scope::Actor(k) => {
                    (k.addr && addr) || (k.principal && principal) || (k.api_key && api_key)
                }
                Scope::Route => route,
            };
            if !mine {
                continue;
            }
            d.observe(ev, me, routes, scratch);
            if scratch.is_empty() {
                continue;
            }
            out.extend(scratch.drain(..).map(|finding| Tagged {
                event: pos,
                detector: i as u8,
                shard: me,
                finding,
            }));
        }
    }

    /// Event time moved on to `now`.
    pub fn tick(&mut self, now: Timestamp, routes: &dyn Routes, scratch: &mut Vec<Finding>) {
        for d in self.detectors.iter_mut() {
            d.tick(now, routes, scratch);
        }
        // Findings are only raised by events; a tick only moves state on.
        scratch.clear();
    }
}

/// Put findings in the order a single-threaded run produces them.
pub fn sort(findings: &mut [Tagged]) {
    findings.sort_by_key(|t| (t.event, t.detector, t.shard));
}
