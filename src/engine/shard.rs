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

    /// The shards that own a part of the event, a bit each (by index).
    pub fn shards(&self) -> u32 {
        [self.addr, self.principal, self.api_key, self.route]
            .into_iter()
            .filter(|&s| s != Self::NONE)
            .fold(0, |m, s| m | 1 << s)
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
    /// Fixed at [`Shard::new`]: `wants` is computed from their scopes.
    pub detectors: Vec<Box<dyn Detector>>,
    /// For each set of event parts a shard may own (a bit each: address,
    /// principal, API key, route), the detectors that must see the event,
    /// as a bit per detector. Asked once rather than testing every
    /// detector's scope for every event in every shard.
    wants: [u32; 16],
    /// Per detector, the event second from which its next tick is due
    /// ([`Detector::tick_due`], asked after each tick it is given).
    due: Vec<i64>,
}

/// Bits of the parts of an event a shard owns, indexing [`Shard::wants`].
const OWNS_ADDR: usize = 1;
const OWNS_PRINCIPAL: usize = 2;
const OWNS_API_KEY: usize = 4;
const OWNS_ROUTE: usize = 8;

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
        assert!(detectors.len() <= 32, "a bit per detector");
        let mut wants = [0u32; 16];
        for (owns, want) in wants.iter_mut().enumerate() {
            let has = |bit: usize| owns & bit != 0;
            for (i, d) in detectors.iter().enumerate() {
                let mine = match d.scope() {
                    Scope::Actor(k) => {
                        (k.addr && has(OWNS_ADDR))
                            || (k.principal && has(OWNS_PRINCIPAL))
                            || (k.api_key && has(OWNS_API_KEY))
                    }
                    Scope::Route => has(OWNS_ROUTE),
                };
                *want |= (mine as u32) << i;
            }
        }
        Shard {
            index,
            due: vec![i64::MIN; detectors.len()],
            detectors,
            wants,
        }
    }

    /// Hand `ev` to the detectors that own a part of it. Findings are
    /// appended to `out` tagged with `pos`.
    #[inline]
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
        let bit = |part: u8, bit: usize| if part == me { bit } else { 0 };
        let owns = bit(p.addr, OWNS_ADDR)
            | bit(p.principal, OWNS_PRINCIPAL)
            | bit(p.api_key, OWNS_API_KEY)
            | bit(p.route, OWNS_ROUTE);
        // Most events have two or three parts, so most shards own none of
        // an event: decided here, without a call.
        let want = self.wants[owns];
        if want != 0 {
            self.dispatch(want, ev, pos, routes, scratch, out);
        }
    }

    /// The detectors in `want` (a bit each) see `ev`.
    #[inline(never)]
    fn dispatch(
        &mut self,
        mut want: u32,
        ev: &Event,
        pos: u32,
        routes: &dyn Routes,
        scratch: &mut Vec<Finding>,
        out: &mut Vec<Tagged>,
    ) {
        let me = self.index;
        while want != 0 {
            let i = want.trailing_zeros() as usize;
            want &= want - 1;
            self.detectors[i].observe(ev, me, routes, scratch);
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

    /// Detector state was replaced (a state file loaded): every detector's
    /// next tick is due again.
    pub fn reset_due(&mut self) {
        self.due.fill(i64::MIN);
    }

    /// Event time moved on to `now`.
    pub fn tick(&mut self, now: Timestamp, routes: &dyn Routes, scratch: &mut Vec<Finding>) {
        let secs = now.secs();
        for (d, due) in self.detectors.iter_mut().zip(self.due.iter_mut()) {
            if secs >= *due {
                d.tick(now, routes, scratch);
                *due = d.tick_due();
            }
        }
        // Findings are only raised by events; a tick only moves state on.
        scratch.clear();
    }
}

/// Put findings in the order a single-threaded run produces them.
pub fn sort(findings: &mut [Tagged]) {
    findings.sort_by_key(|t| (t.event, t.detector, t.shard));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::DetectorKind;
    use crate::detectors::{Actors, Finding};

    /// A detector that only notes which events it was handed, by a
    /// finding carrying the event's time in `scope_key` and its own
    /// number in `quiet_secs`.
    struct Probe(Scope, i64);

    impl Detector for Probe {
        fn kind(&self) -> DetectorKind {
            DetectorKind::Enumeration
        }
        fn scope(&self) -> Scope {
            self.0
        }
        fn observe(&mut self, ev: &Event, _: u8, _: &dyn Routes, out: &mut Vec<Finding>) {
            out.push(Finding {
                detector: DetectorKind::Enumeration,
                severity: crate::alerts::Severity::Warning,
                scope_key: ev.ts.secs() as u64,
                actor: crate::detectors::ActorRef::Addresses(Vec::new()),
                route: ev.route,
                ts: ev.ts,
                quiet_secs: self.1,
                evidence: Default::default(),
            });
        }
        fn tick(&mut self, _: Timestamp, _: &dyn Routes, _: &mut Vec<Finding>) {}
        fn entries(&self) -> (usize, u64) {
            (0, 0)
        }
        fn save(&self, _: &mut dyn std::io::Write) -> serde_json::Result<()> {
            Ok(())
        }
        fn load(&mut self, _: &serde_json::value::RawValue) -> anyhow::Result<()> {
            Ok(())
        }
    }

    /// The shards an event is handed to are those that own one of its
    /// parts, whichever parts it has.
    #[test]
    fn an_event_goes_to_the_shards_owning_its_parts() {
        let none = Partition::NONE;
        let choices = [0u8, 1, 2, 3, none];
        for a in choices {
            for p in choices {
                for k in choices {
                    for r in 0..SHARDS as u8 {
                        let part = Partition {
                            addr: a,
                            principal: p,
                            api_key: k,
                            route: r,
                        };
                        let want = (0..SHARDS as u8)
                            .filter(|&s| [a, p, k, r].contains(&s))
                            .fold(0, |m, s| m | 1 << s);
                        assert_eq!(part.shards(), want, "{part:?}");
                    }
                }
            }
        }
    }

    /// Every detector sees exactly the events of which its shard owns a
    /// part the detector keys on, in detector order, for every way the
    /// parts of an event can fall on the shards.
    #[test]
    fn a_shard_hands_each_event_to_the_detectors_of_the_parts_it_owns() {
        let actor = |addr, principal, api_key| {
            Scope::Actor(Actors {
                addr,
                principal,
                api_key,
            })
        };
        let scopes = [
            actor(true, false, false),
            Scope::Route,
            actor(false, true, false),
            actor(false, false, true),
            actor(true, true, true),
            actor(true, false, true),
        ];
        let detectors = || -> Vec<Box<dyn Detector>> {
            (0..scopes.len())
                .map(|i| Box::new(Probe(scopes[i], i as i64)) as Box<dyn Detector>)
                .collect()
        };
        let mut shard = Shard::new(1, detectors());
        let router = crate::routes::Router::new(vec![], vec![], 10);
        let parts = [0u8, 1, Partition::NONE];
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let mut n = 0;
        for addr in parts {
            for principal in parts {
                for api_key in parts {
                    for route in [0u8, 1] {
                        n += 1;
                        let ev = Event {
                            ts: Timestamp::from_secs(n),
                            ip: None,
                            principal: None,
                            api_key: None,
                            ua: 0,
                            route: 0,
                            object: None,
                            page: None,
                            search: false,
                            status: 200,
                            part: Partition {
                                addr,
                                principal,
                                api_key,
                                route,
                            },
                        };
                        out.clear();
                        shard.observe(&ev, 7, &router, &mut scratch, &mut out);
                        let seen: Vec<u8> = out.iter().map(|t| t.detector).collect();
                        let want: Vec<u8> = (0..scopes.len() as u8)
                            .filter(|&i| match scopes[i as usize] {
                                Scope::Actor(k) => {
                                    (k.addr && addr == 1)
                                        || (k.principal && principal == 1)
                                        || (k.api_key && api_key == 1)
                                }
                                Scope::Route => route == 1,
                            })
                            .collect();
                        assert_eq!(seen, want, "{:?}", ev.part);
                        for t in &out {
                            assert_eq!(t.finding.quiet_secs, t.detector as i64);
                            assert_eq!((t.event, t.shard), (7, 1));
                        }
                    }
                }
            }
        }
    }
}
