//! Distributed sweep: hundreds of addresses, each sending only a few
//! requests, jointly walking one contiguous id range on one route. No single
//! address stands out; the route's id space does.
//!
//! Per route, numeric ids are folded into buckets of 64 consecutive ids with
//! a bitmap of which were fetched and by which addresses. Real customers
//! fetch their own ids, scattered over the whole space, at their own pace,
//! so a bucket gathers hits slowly; a sweep fills run after run of buckets
//! within minutes. A bucket is dense when its hits stand far above what the
//! route's buckets gather in the time it has been held (see [`Density`]),
//! and a run of dense buckets fetched by many addresses (each contributing
//! few) is an incident that names every address seen in it.
//!
//! Two caveats, handled: recently created accounts have adjacent ids and are
//! active, so a run whose lookups carry as many distinct principals as
//! addresses (each customer reading their own record) is not a sweep. And a
//! bucket remembers only the first reader of each id: customers who read
//! their own record in a sweep's range before the sweep got there, at about
//! the time it did, leave entries in its wave. A crowd's address does little
//! else on the route but its part of the walk; so an address is named only
//! if the run holds more than half of its lookups on the route, and two of
//! them where the run's median address holds four or more. A carrier NAT
//! address, a support agent, a store terminal or a customer rereading their
//! own record does most of its lookups elsewhere. (The run itself is judged
//! by all its addresses, and names them all if none passes.) Where a
//! bucket's wave reaches back to such reads hours before the crowd's, a
//! read is also judged by the time the ids beside it were read (see
//! [`beside`]). For the same reason one address's walk through ids that
//! customers had read first can show few lookups per address; it is told
//! from a crowd by [`one_walker`]. And a crowd re-reading ids a walker read
//! first shows only the ids the walker left, in buckets whose tightest wave
//! is the walker's: where the bucket looked at is a crowd's, the run is
//! judged again without the walker (see [`Rest`]).

use serde::{Deserialize, Serialize};

use super::{ActorRef, Detector, Evidence, Finding, Routes, Scope};
use crate::alerts::{DetectorKind, IdStats, Severity};
use crate::event::Event;
use crate::formats::Timestamp;
use crate::routes::RouteId;
use crate::state::hll::mix;
use crate::state::{BoundedMap, emptied, stable_hash};

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
/// Walkers a run is judged again without, at most (see [`Rest`]).
const MAX_WALKERS: usize = 4;

#[derive(Default, Serialize, Deserialize)]
struct Bucket {
    bits: u64,
    hits: u32,
    /// Who fetched each id of the bucket, and when (one entry per id).
    entries: Vec<Entry>,
    not_found: u32,
    /// Its hits when its run was last looked at (0: not yet).
    #[serde(default)]
    looked: u32,
    /// Its hits counted towards the route's pace (see [`Density`]; it is
    /// in the pace from two): none once it is part of a reported sweep or
    /// of a walk set aside (`swept`).
    #[serde(default)]
    paced: u32,
    #[serde(default)]
    swept: bool,
    first: i64,
    last: i64,
}

/// Lookups per address and route, for telling a crowd's address (its
/// lookups all in the run) from a customer's (see the module note). A
/// two-way set-associative table of fixed size: a lookup costs a hash and
/// one cache line (a pair of slots is 64 bytes, aligned), and memory does
/// not grow with the addresses seen. A count covers the window from its
/// address's first lookup, then starts again. When both slots of a pair
/// are taken, the one with fewer lookups goes: a carrier NAT address keeps
/// its count while one-off addresses pass through. An address that lost
/// its slot counts again from one: its count can only fall short, which
/// names it as before there was this table. The slot follows from a fixed
/// hash, so every run and mode counts the same.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SavedReads", into = "SavedReads")]
struct ReadCounts {
    pairs: Vec<Pair>,
}

#[derive(Clone, Copy, Default, PartialEq, Debug)]
#[repr(align(64))]
struct Pair([Slot; 2]);

/// An empty slot has no lookups.
#[derive(Clone, Copy, Default, PartialEq, Debug, Serialize, Deserialize)]
struct Slot {
    addr: u128,
    route: RouteId,
    lookups: u32,
    /// When the count's window started.
    start: i64,
}

impl ReadCounts {
    fn new(slots: usize) -> Self {
        ReadCounts {
            pairs: vec![Pair::default(); (slots / 2).max(1).next_power_of_two()],
        }
    }

    fn pair_of(&self, route: RouteId, addr: u128) -> usize {
        let h = mix(addr as u64 ^ mix((addr >> 64) as u64 ^ route as u64));
        h as usize & (self.pairs.len() - 1)
    }

    /// Count one lookup at `now`.
    fn add(&mut self, route: RouteId, addr: u128, now: i64, window: i64) {
        let i = self.pair_of(route, addr);
        let pair = &mut self.pairs[i].0;
        let j =
            match (pair.iter()).position(|s| s.lookups > 0 && s.addr == addr && s.route == route) {
                Some(j) => j,
                None => {
                    // An empty or ended slot, else the one with fewer lookups.
                    let free = |s: &Slot| s.lookups == 0 || now - s.start > window;
                    let j = if free(&pair[0]) {
                        0
                    } else if free(&pair[1]) {
                        1
                    } else {
                        usize::from(pair[1].lookups < pair[0].lookups)
                    };
                    pair[j] = Slot {
                        addr,
                        route,
                        lookups: 0,
                        start: now,
                    };
                    j
                }
            };
        let s = &mut pair[j];
        if now - s.start > window {
            (s.lookups, s.start) = (0, now);
        }
        s.lookups = s.lookups.saturating_add(1);
    }

    /// Lookups counted for `(route, addr)` (0 when not held).
    fn get(&self, route: RouteId, addr: u128) -> u32 {
        (self.pairs[self.pair_of(route, addr)].0.iter())
            .find(|s| s.lookups > 0 && s.addr == addr && s.route == route)
            .map_or(0, |s| s.lookups)
    }

    /// Start loading the slots of `(route, addr)` into the cache.
    fn prefetch(&self, route: RouteId, addr: u128) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let pair: *const Pair = &self.pairs[self.pair_of(route, addr)];
            // SAFETY: a prefetch only hints at an address (here that of a
            // pair of the table); it reads nothing and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(pair.cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (route, addr);
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.pairs.iter().flat_map(|p| p.0.iter())
    }

    fn held(&self) -> usize {
        self.slots().filter(|s| s.lookups > 0).count()
    }

    /// Move the counts to a table of `slots` slots; where two meet in a
    /// pair, the one with more lookups stays.
    fn resized(&self, slots: usize) -> ReadCounts {
        let mut held: Vec<Slot> = self.slots().filter(|s| s.lookups > 0).copied().collect();
        held.sort_by_key(|s| s.lookups);
        let mut r = ReadCounts::new(slots);
        for s in held {
            let i = r.pair_of(s.route, s.addr);
            let pair = &mut r.pairs[i].0;
            let j = usize::from(
                pair[0].lookups > 0 && (pair[1].lookups == 0 || pair[1].lookups <= pair[0].lookups),
            );
            pair[j] = s;
        }
        r
    }
}

/// The table as saved: its size in slots and the slots in use.
#[derive(Serialize, Deserialize)]
struct SavedReads {
    len: usize,
    used: Vec<(usize, Slot)>,
}

impl From<ReadCounts> for SavedReads {
    fn from(r: ReadCounts) -> Self {
        SavedReads {
            len: r.pairs.len() * 2,
            used: (r.slots().enumerate())
                .filter(|(_, s)| s.lookups > 0)
                .map(|(i, s)| (i, *s))
                .collect(),
        }
    }
}

/// Slots a saved table may have (512 MB): a state file cannot make a
/// run allocate more.
const MAX_SAVED_SLOTS: usize = 1 << 24;

impl TryFrom<SavedReads> for ReadCounts {
    type Error = String;
    fn try_from(s: SavedReads) -> Result<Self, String> {
        if !s.len.is_power_of_two()
            || !(2..=MAX_SAVED_SLOTS).contains(&s.len)
            || s.used.iter().any(|&(i, _)| i >= s.len)
        {
            return Err(format!("a read-count table of {} slots", s.len));
        }
        let mut r = ReadCounts::new(s.len);
        for (i, slot) in s.used {
            r.pairs[i / 2].0[i % 2] = slot;
        }
        Ok(r)
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct Entry {
    addr: u128,
    /// Low bits of the principal hash; 0 for an anonymous lookup.
    who: u32,
    ts: i64,
    /// Which id of the bucket ([`UNKNOWN_BIT`] in a state saved before it
    /// was kept).
    #[serde(default = "unknown_bit")]
    bit: u8,
}

/// A sweep being reported: its bucket range grows as it goes on; a run that
/// overlaps it is the same incident, one elsewhere in the id space is another.
#[derive(Serialize, Deserialize)]
struct Sweep {
    lo: u64,
    hi: u64,
    key: u64,
    severity: Severity,
    last_emit: i64,
}

#[derive(Serialize, Deserialize)]
struct RouteState {
    /// The buckets of this route in its pace (see [`Density`]), their
    /// hits, and the sum of their `first` seconds (with `buckets`, the
    /// bucket-seconds the hits were gathered over); and its buckets of
    /// reported sweeps and walks set aside (`swept`). Not saved: rebuilt
    /// from the table on load.
    #[serde(skip)]
    buckets: u64,
    #[serde(skip)]
    swept: u64,
    #[serde(skip)]
    paced: u64,
    #[serde(skip)]
    firsts: i64,
    /// The last pace trusted (see [`Density::of`]).
    #[serde(default)]
    pace: f64,
    sweeps: Vec<Sweep>,
    /// Runs recently looked at and found to be one actor's walk or
    /// customers' own records: not looked at again until they may have
    /// changed (see [`SetAside`]). One walker fills a dense bucket every few
    /// seconds, and gathering its whole run on every eighth hit cost more
    /// than all the rest of the detector.
    #[serde(default)]
    set_aside: Vec<SetAside>,
}

/// A run judged not to be a sweep. Gathering a run costs its size, so it is
/// gathered again only once it has about doubled (counted in dense-bucket
/// looks, each of which stands for at least 8 new hits), or after a hold
/// that also grows with its size (10 s for one bucket, at most 10 minutes):
/// the work per hit stays constant however long the walk. A look at a
/// bucket that on its own looks like a crowd's (see [`crowd_like`]) gathers
/// once [`REFRESH_SECS`] have passed since the run was set aside: a crowd
/// carrying on where a walker stopped is judged as it goes (every 10 s, as
/// before there was a set-aside rule), not when the hold ends.
#[derive(Clone, Serialize, Deserialize)]
struct SetAside {
    lo: u64,
    hi: u64,
    at: i64,
    hits: u64,
    looks: u64,
}

impl SetAside {
    fn expired(&self, now: i64) -> bool {
        now - self.at >= (REFRESH_SECS * self.hits as i64 / WIDTH as i64).clamp(REFRESH_SECS, 600)
    }
    fn covers(&self, key: u64) -> bool {
        self.lo <= key + 1 && key <= self.hi + 1
    }
    /// One more look at the run, at bucket `key`: true when it has grown
    /// enough to gather. A walk grows at its edge, so the range follows it.
    fn grown(&mut self, key: u64) -> bool {
        self.lo = self.lo.min(key);
        self.hi = self.hi.max(key);
        self.looks += 1;
        self.looks * 8 >= self.hits.max(8)
    }
}

const MAX_SWEEPS: usize = 64;
const MAX_SET_ASIDE: usize = 8;
/// How often a reported sweep is re-examined: each look adds the addresses
/// in the buckets still held, so the block list stays complete even when
/// old buckets are evicted under memory pressure.
const REFRESH_SECS: i64 = 10;

#[derive(Serialize, Deserialize)]
pub struct Distributed {
    #[serde(skip)]
    cfg: Config,
    /// Per route: counts and the sweeps being reported. Routes are few
    /// (the route table is capped), so this never evicts.
    routes: BoundedMap<RouteId, RouteState>,
    /// Every bucket of every route of this shard, in one table with one
    /// capacity: many busy routes cannot multiply the memory.
    buckets: BoundedMap<(RouteId, u64), Bucket>,
    /// Lookups per address and route (see [`ReadCounts`]).
    #[serde(default = "no_readers")]
    readers: ReadCounts,
    last_expire: i64,
    /// The latest event time seen (see [`Density::of`]).
    #[serde(default)]
    clock: i64,
    /// No reported sweep goes quiet before this second of event time, so
    /// the tick (at most once per second of event time) has nothing to do
    /// before it: lowered when a sweep is reported, set by the tick that
    /// looks. Kept here rather than given to the shard as
    /// [`Detector::tick_due`], which the shard asks only after a tick:
    /// `observe` moves it. Not saved: a loaded state is looked at on its
    /// first tick.
    #[serde(skip, default = "super::tick_at_once")]
    acts_at: i64,
    /// Runs gathered in this process (what the set-aside rules save).
    #[serde(skip)]
    gathers: u64,
    #[serde(skip)]
    scratch: Scratch,
}

/// Buffers a gather reuses: a reported sweep is gathered every
/// [`REFRESH_SECS`], thousands of entries each time.
#[derive(Default)]
struct Scratch {
    entries: Vec<Entry>,
    /// Each bucket of the run.
    spans: Vec<Span>,
    /// Ids and times of a suspect bucket and its neighbours, in id order.
    local: Vec<(u64, i64)>,
    near: Vec<(i64, i64)>,
    spreads: Vec<i64>,
    far: Vec<u32>,
    ts: Vec<i64>,
    who: Vec<u32>,
    many: Vec<u32>,
    /// Each address of the run with its lookups in it.
    reads: Vec<(u128, u32)>,
    packed: Vec<u64>,
    heavy: Vec<(u128, u32)>,
    /// The run's lookups per address (see [`typical`]).
    per: Vec<u32>,
}

/// A bucket of a run being gathered.
#[derive(Clone, Copy)]
struct Span {
    key: u64,
    /// Where its wave's entries are in [`Scratch::entries`].
    from: usize,
    to: usize,
    /// Whether that wave reached reads far from its bulk's (see [`beside`]).
    suspect: bool,
    dense: bool,
}

/// Read-count slots per bucket kept: a slot (32 bytes) is a sixty-fourth
/// of a full bucket's entries.
const READERS_PER_BUCKET: usize = 4;

fn no_readers() -> ReadCounts {
    ReadCounts { pairs: Vec::new() }
}

/// Entries the buffers keep room for between gathers (half a megabyte):
/// a run can be far larger (up to 64 entries in each of 8,193 buckets),
/// and its buffers are freed once it has been gathered.
const KEEP_ENTRIES: usize = 16 * 1024;

impl Scratch {
    fn trim(&mut self) {
        if self.entries.capacity() > KEEP_ENTRIES {
            *self = Scratch::default();
        }
    }
}

impl Distributed {
    /// Carry over what is not part of the saved state.
    fn restore(&mut self, old: &Distributed) {
        // A state saved before there was this table, or under another
        // memory ceiling: the counts move to a table of this run's size.
        if self.readers.pairs.len() != old.readers.pairs.len() {
            self.readers = self.readers.resized(old.readers.pairs.len() * 2);
        }
        // The routes' sums, from the buckets held (a state saved before
        // buckets kept their pace: all their hits).
        for b in self.buckets.values_mut() {
            if b.paced == 0 && !b.swept {
                b.paced = b.hits;
            }
            // A state file cannot make them exceed the bucket's hits.
            (b.paced, b.looked) = (b.paced.min(b.hits), b.looked.min(b.hits));
        }
        for st in self.routes.values_mut() {
            (st.buckets, st.swept, st.paced, st.firsts) = (0, 0, 0, 0);
        }
        for ((r, _), b) in self.buckets.iter_lru() {
            if let Some(st) = self.routes.get_mut(r) {
                st.count(b);
            }
        }
    }

    /// Forget buckets not hit within the window.
    fn expire(&mut self, now: i64) {
        let horizon = now - self.cfg.window_secs;
        for ((r, _), b) in self.buckets.expire_idle(|_, b| b.last < horizon) {
            if let Some(st) = self.routes.get_mut(&r) {
                st.forget(&b);
            }
        }
    }

    pub fn new(cfg: Config, budget: usize) -> Self {
        Distributed {
            cfg,
            routes: BoundedMap::new(crate::routes::DEFAULT_MAX_ROUTES + 64),
            buckets: BoundedMap::new(budget.max(256)),
            readers: ReadCounts::new(budget.max(256) * READERS_PER_BUCKET),
            last_expire: 0,
            clock: i64::MIN,
            acts_at: super::tick_at_once(),
            gathers: 0,
            scratch: Scratch::default(),
        }
    }
}

struct Run {
    /// Each bucket of the run with the bits of the ids fetched in it.
    bits: Vec<(u64, u64)>,
    hits: u64,
    not_found: u64,
    /// The addresses named: those of `crowd` that did at least half of
    /// their lookups on the route in the run (all of them if none did:
    /// a crowd whose addresses all read elsewhere too is still a crowd).
    addrs: Vec<u128>,
    /// Distinct addresses taking part, by which the run is judged.
    crowd: usize,
    /// Whether the run is one address's walk, with the reads of customers
    /// who happened to fetch some of its ids first: on a busy API they can
    /// be most of the run's addresses, and make the walk look like a crowd
    /// of few lookups each. See [`one_walker`].
    one_walker: bool,
    /// The addresses with at least [`WIDTH`] lookups in the run (at most
    /// [`MAX_WALKERS`], most first).
    walkers: Vec<u128>,
    /// Whether a bucket of the run is dense (with the hits it is judged by).
    dense: bool,
    principals: Vec<u32>,
    /// The first and last of the reads judged (the buckets' own first and
    /// last hits where none is left).
    first: i64,
    last: i64,
    lo: u64,
    hi: u64,
}

/// Whether one bucket, on its own, looks like part of a crowd's sweep: few
/// lookups per address, and not customers reading their own records. A
/// bucket holds at most 64 entries (one per id), so this is cheap.
fn crowd_like(b: &Bucket, max_per_address: f64) -> bool {
    let mut addrs = [0u128; WIDTH as usize];
    let mut who = [0u128; WIDTH as usize];
    let (mut n, mut m) = (0, 0);
    for e in b.entries.iter().take(WIDTH as usize) {
        addrs[n] = e.addr;
        n += 1;
        if e.who != 0 {
            who[m] = e.who as u128;
            m += 1;
        }
    }
    let distinct = |v: &mut [u128]| {
        v.sort_unstable();
        v.iter()
            .enumerate()
            .filter(|&(i, x)| i == 0 || v[i - 1] != *x)
            .count()
    };
    let addresses = distinct(&mut addrs[..n]);
    let principals = distinct(&mut who[..m]);
    addresses > 1 && n as f64 <= max_per_address * addresses as f64 && principals * 2 < addresses
}

/// Buckets a route must have (in its pace or swept) before its pace is
/// trusted: on a small or young route the sweep itself would be most of
/// it.
const WARM_BUCKETS: usize = 256;
/// Buckets the pace is measured over, at least: where sweeps have taken
/// all but a few of a route's buckets, the last pace measured stands.
const MIN_PACED: i64 = 32;

impl Bucket {
    /// Whether it counts in its route's pace (see [`Density`]).
    fn paced(&self) -> bool {
        !self.swept && self.paced >= 2
    }
}

impl RouteState {
    /// A bucket comes into the pace (its second paced hit, or loaded).
    fn count(&mut self, b: &Bucket) {
        self.swept += b.swept as u64;
        if b.paced() {
            self.buckets += 1;
            self.paced += b.paced as u64;
            self.firsts += b.first;
        }
    }

    /// A bucket leaves the table (evicted or expired) or the pace (swept).
    fn forget(&mut self, b: &Bucket) {
        self.swept -= b.swept as u64;
        if b.paced() {
            self.buckets -= 1;
            self.paced -= b.paced as u64;
            self.firsts -= b.first;
        }
    }
}

/// What a route's buckets gather from customers' own reads, by which a
/// bucket is dense. A bucket comes with its first hit; customers then read
/// their own ids at a steady pace, so its hits grow with the time it has
/// been held: one, and the route's further hits per bucket-second (its
/// pace) times that time, is what one expects of a bucket, and it is dense
/// far above that (six standard deviations of a binomial over its 64 ids,
/// and 4; at least `min_dense`). Measured per bucket-second, not per
/// bucket: on a busy API the table is full, and buckets are evicted and
/// come back with few hits; a mean per bucket was far below what a bucket
/// held all morning gathers, and customers' own reads made such a bucket
/// dense. The pace is that of the buckets with at least two hits: one-off
/// reads (typos, stale links, a flood of them) make buckets of one hit
/// that would add their time and nothing else. A reported sweep's buckets
/// (marked on each look that finds its run a crowd's) leave it: a crowd
/// sweeping most of the customers' buckets would raise what is expected
/// of every bucket until none could be dense. So do a walk's (marked on
/// each look that sets it aside): a scraper's thousands of full buckets
/// had raised it until a crowd following it was not dense. Where
/// customers read more than about 36 of a bucket's 64 ids, no bucket is
/// dense: density then tells nothing.
#[derive(Clone, Copy)]
struct Density {
    /// Hits beyond the first per bucket-second, over the buckets in the
    /// pace (0 on a route too young to tell; the last measured where
    /// sweeps have taken all but a few buckets).
    rate: f64,
    now: i64,
    min: u32,
}

impl Density {
    /// The density of a route at `now`, measuring its pace up to `clock`,
    /// the latest event time seen (never before `now`): a log older than
    /// another fed after it comes before most buckets' first hits, and
    /// measured to its own time the pace would be far too high (no bucket
    /// dense). Measured on fresh hits only, the ones that can make a
    /// bucket dense.
    fn of(st: &mut RouteState, now: i64, clock: i64, min: u32) -> Density {
        let n = st.buckets as i64;
        if n + (st.swept as i64) < WARM_BUCKETS as i64 {
            st.pace = 0.0;
        } else if n >= MIN_PACED {
            // At least a second per bucket: a route whose buckets all came
            // this second has gathered little.
            st.pace = (st.paced as i64 - n).max(0) as f64
                / (n.saturating_mul(clock) - st.firsts).max(n) as f64;
        }
        Density {
            rate: st.pace,
            now,
            min,
        }
    }

    /// Hits expected of customers in a bucket held since `first` (a line
    /// out of order can come before it).
    fn expected(&self, first: i64) -> f64 {
        (1.0 + self.rate * (self.now - first).max(0) as f64).min(WIDTH as f64)
    }

    /// What customers' reads of `ids` of the ids of a bucket held since
    /// `first` come to at most, in standard deviations `k` above what is
    /// expected. All 64, but fewer where a run is judged without its
    /// walkers (see [`Rest`]).
    fn above_in(&self, first: i64, k: f64, ids: u32) -> f64 {
        let n = ids.max(1) as f64;
        let e = self.expected(first) * n / WIDTH as f64;
        e + k * (e * (1.0 - e / n)).max(0.0).sqrt()
    }

    /// Hits from which a bucket held since `first` is dense.
    fn dense(&self, first: i64) -> u32 {
        self.dense_in(first, WIDTH as u32)
    }

    /// Hits among `ids` of the bucket's ids from which it is dense (never
    /// fewer than `min`, however few ids).
    fn dense_in(&self, first: i64, ids: u32) -> u32 {
        (self.above_in(first, 6.0, ids) + 4.0).max(self.min as f64) as u32
    }

    /// Hits among `ids` of the bucket's ids from which a bucket beside a
    /// dense one is part of its run: halfway from what is expected to dense
    /// (a sweep's edges may be half-filled), so that a run does not spread
    /// over the customers' buckets all around it.
    fn edge_in(&self, first: i64, ids: u32) -> u32 {
        let thr = self.dense_in(first, ids);
        let expected = self.expected(first) * ids as f64 / WIDTH as f64;
        ((expected as u32).saturating_add(thr) / 2)
            .max(thr / 2)
            .max(1)
    }

    /// Entries of a dense bucket held since `first` with `hits` among `ids`
    /// of its ids that are surely more than customers' own reads (four
    /// standard deviations above what is expected): the sweep's, at most.
    fn excess(&self, first: i64, hits: u32, ids: u32) -> usize {
        (hits as f64 - self.above_in(first, 4.0, ids))
            .ceil()
            .max(1.0) as usize
    }
}

/// An entry's bit when it is not known: [`beside`] does not judge it.
const UNKNOWN_BIT: u8 = u8::MAX;

fn unknown_bit() -> u8 {
    UNKNOWN_BIT
}

/// Entries on each side of an entry that [`beside`] compares it with.
const NEAR: usize = 4;
/// Buckets on each side of a suspect one whose entries [`beside`] sees.
const BESIDE_BUCKETS: u64 = 2;
/// Below this many seconds from its neighbours, an entry always stays.
const BESIDE_SECS: i64 = 120;
/// How far from the wave of the bucket inside it an edge bucket's reads
/// may be, at least (and at least that wave's own span): see [`gather`].
/// A crowd pausing longer than this between an edge bucket and the rest
/// loses the addresses that read only there; at an hour, the independent
/// simulation's customer who read its number 20 minutes before a swarm
/// passed was named.
const EDGE_PAD_SECS: i64 = 900;

/// Leave out the entries read far from the time the ids beside them were:
/// a bucket's wave is a span of time, and at the front of a crowd (where a
/// bucket holds some of its entries and a few customers' from hours before)
/// customers' reads hours off still fall in it. Only the entries of
/// `bucket` (its wave's, `kept`) are judged, against the wave's entries of
/// it and of the run's [`BESIDE_BUCKETS`] buckets on each side, in id order
/// (`local`). For each, the
/// [`NEAR`] entries on each side give a median time and a spread (the
/// median distance from it). Where they agree with one another, the ids
/// were fetched in order: the spreads are, at the median, under a
/// sixteenth of the entries' time span. Then an entry goes when it is
/// further from its neighbours' median than four times their spread and
/// [`BESIDE_SECS`]: a read hours off goes, a crowd's pause does not. Ids
/// fetched in a shuffled order are left as they are. The median stands
/// while most neighbours are the crowd's. Pushes the positions in
/// `entries` of those that go onto `far`.
fn beside(
    bucket: u64,
    kept: std::ops::Range<usize>,
    entries: &[Entry],
    local: &[(u64, i64)],
    near: &mut Vec<(i64, i64)>,
    spreads: &mut Vec<i64>,
    far: &mut Vec<u32>,
) {
    let n = local.len();
    if n <= 2 * NEAR {
        return;
    }
    // Each entry's distance from its neighbours' median, and their spread.
    near.clear();
    for p in 0..n {
        let lo = p.saturating_sub(NEAR).min(n - 1 - 2 * NEAR);
        let mut t = [0i64; 2 * NEAR];
        for (j, q) in (lo..lo + 2 * NEAR + 1).filter(|&q| q != p).enumerate() {
            t[j] = local[q].1;
        }
        t.sort_unstable();
        let mid = t[NEAR];
        let mut d = t.map(|x| (x - mid).abs());
        d.sort_unstable();
        near.push(((local[p].1 - mid).abs(), d[NEAR]));
    }
    let (first, last) =
        (local.iter()).fold((i64::MAX, i64::MIN), |(a, b), &(_, t)| (a.min(t), b.max(t)));
    spreads.clear();
    spreads.extend(near.iter().map(|&(_, d)| d));
    let median = *spreads.select_nth_unstable(n / 2).1;
    if median * 16 > last - first {
        return;
    }
    for i in kept.filter(|&i| entries[i].bit < WIDTH as u8) {
        let id = bucket * WIDTH + entries[i].bit as u64;
        if let Ok(p) = local.binary_search_by_key(&id, |&(id, _)| id)
            && near[p].0 > (4 * near[p].1).max(BESIDE_SECS)
        {
            far.push(i as u32);
        }
    }
}

/// The entries of a bucket that belong to the sweep wave: a sweep fills a
/// bucket within a short stretch of time, while customers who happen to own
/// ids in it read them at any hour. Keep the tightest span holding 80% of
/// the entries, or only the `excess` over what customers are expected to
/// have read (see [`Density::excess`]) where that is fewer (at least four;
/// of equally tight spans, the latest), widened by half its width: where
/// customers read a bucket's ids all day, a walk that has just passed is a
/// few minutes of it. True when the entries kept span more than four times
/// the tightest span of five eighths of them (half the bucket's when 80%
/// are kept) plus [`BESIDE_SECS`]: the wave reached reads far from the
/// bulk's, which [`beside`] is to judge. Only the entries `rest` keeps are
/// looked at, and of an edge bucket only those `within` the times near
/// the wave beside it (see [`gather`]).
fn wave(
    b: &Bucket,
    excess: usize,
    rest: Rest,
    within: Option<(i64, i64)>,
    ts: &mut Vec<i64>,
    out: &mut Vec<Entry>,
) -> Option<(bool, (i64, i64))> {
    // All of a bucket's entries, the usual case, as one plain copy.
    let all = rest.all() && within.is_none();
    let (after, before) = within.unwrap_or((i64::MIN, i64::MAX));
    let others = || {
        (b.entries.iter()).filter(move |e| all || rest.keeps(e) && e.ts >= after && e.ts <= before)
    };
    ts.clear();
    if all {
        ts.extend(b.entries.iter().map(|e| e.ts));
    } else {
        ts.extend(others().map(|e| e.ts));
    }
    ts.sort_unstable();
    let n = ts.len();
    if n == 0 {
        return None;
    }
    // The latest of equally tight spans: a sweep's wave is a bucket's
    // latest news.
    let tightest = |k: usize| {
        (0..=n - k)
            .rev()
            .map(|i| (ts[i], ts[i + k - 1]))
            .min_by_key(|&(lo, hi)| hi - lo)
            .expect("k <= n")
    };
    // At least four: the tightest of one or two reads says nothing.
    let keep = (n * 4).div_ceil(5).min(excess).max(n.min(4)).max(1);
    let (lo, hi) = tightest(keep);
    let slack = ((hi - lo) / 2).max(60);
    let (from, to) = (lo - slack, hi + slack);
    out.extend(others().filter(|e| e.ts >= from && e.ts <= to));
    // The span of the times kept (at least the tightest `keep`'s).
    let (first, last) = (
        ts.partition_point(|&t| t < from),
        ts.partition_point(|&t| t <= to) - 1,
    );
    let (half_lo, half_hi) = tightest((keep * 5).div_ceil(8).clamp(1, n));
    let suspect = ts[last] - ts[first] > 4 * (half_hi - half_lo) + BESIDE_SECS;
    Some((suspect, (ts[first], ts[last])))
}

/// What of a bucket a run is judged by. Usually all of it. Judged again
/// without its walkers (`but`, see [`Run::walkers`]): the entries of others from
/// the walkers' first read in the bucket on, among the ids unread by then
/// and not the walkers'. The reads before it took ids the walkers could not
/// (a bucket keeps an id's first reader): customers who read a walked
/// range all day before the walk would otherwise fill all the ids left.
#[derive(Clone, Copy)]
struct Rest<'a> {
    but: &'a [u128],
    after: i64,
    hits: u32,
    ids: u32,
    /// The ids of the entries kept, and their first and last time (what
    /// an alert says of the run).
    bits: u64,
    first: i64,
    last: i64,
}

impl<'a> Rest<'a> {
    fn of(b: &Bucket, but: &'a [u128]) -> Rest<'a> {
        let all = Rest {
            but: &[],
            after: i64::MIN,
            hits: b.hits,
            ids: WIDTH as u32,
            bits: b.bits,
            first: b.first,
            last: b.last,
        };
        if but.is_empty() {
            return all;
        }
        let theirs = |e: &&Entry| but.contains(&e.addr);
        let Some(after) = b.entries.iter().filter(theirs).map(|e| e.ts).min() else {
            return all;
        };
        let (mut taken, mut before) = (0, 0);
        let (mut bits, mut first, mut last) = (0u64, i64::MAX, i64::MIN);
        for e in &b.entries {
            if but.contains(&e.addr) {
                taken += 1;
            } else if e.ts < after {
                before += 1;
            } else {
                if e.bit < WIDTH as u8 {
                    bits |= 1 << e.bit;
                }
                (first, last) = (first.min(e.ts), last.max(e.ts));
            }
        }
        Rest {
            but,
            after,
            hits: b.hits.saturating_sub(taken + before),
            ids: (WIDTH as u32).saturating_sub(taken + before).max(1),
            bits,
            first,
            last,
        }
    }

    /// Whether it is all of the bucket (the usual case).
    fn all(&self) -> bool {
        self.but.is_empty()
    }

    fn keeps(&self, e: &Entry) -> bool {
        e.ts >= self.after && !self.but.contains(&e.addr)
    }
}

/// An address of a run is named only with at least this share of the
/// lookups of the crowd's typical address (see [`typical`]).
const TYPICAL_SHARE: u32 = 2;

/// The lookups of a run's typical address: the median over its
/// addresses. Customers whose one read lies in the range are a few among a
/// crowd's hundreds, and one heavy walker beside a crowd is one address.
fn typical(reads: &[(u128, u32)], per: &mut Vec<u32>) -> u32 {
    per.clear();
    per.extend(reads.iter().map(|&(_, n)| n));
    if per.is_empty() {
        return 1;
    }
    let mid = per.len() / 2;
    *per.select_nth_unstable(mid).1
}

fn gather(
    buckets: &BoundedMap<(RouteId, u64), Bucket>,
    readers: &ReadCounts,
    s: &mut Scratch,
    route: RouteId,
    center: u64,
    density: Density,
    but: &[u128],
) -> Run {
    let mut r = Run {
        bits: Vec::new(),
        hits: 0,
        not_found: 0,
        addrs: Vec::new(),
        crowd: 0,
        one_walker: false,
        walkers: Vec::new(),
        dense: false,
        principals: Vec::new(),
        first: i64::MAX,
        last: i64::MIN,
        lo: center,
        hi: center,
    };
    s.entries.clear();
    s.spans.clear();
    // The buckets' first and last hits: the run's times where no wave
    // kept a read.
    let mut held = (i64::MAX, i64::MIN);
    // A bucket at an edge of the run (not dense itself) is judged on its
    // reads near in time to the wave of the bucket inside it (`near`, that
    // wave's first and last read): a sweep's wave moves on from bucket to
    // bucket, and an edge bucket it only began or ended in holds mostly
    // customers' reads from any hour, whose tightest cluster would
    // otherwise be taken for its wave (on a quiet API, a customer's read of
    // the day before was named). Returns its own wave's times, or `near`
    // when it kept none.
    let mut add = |k: u64, b: &Bucket, rest: Rest, near: Option<(i64, i64)>, r: &mut Run| {
        r.bits.push((k, rest.bits));
        r.hits += rest.hits as u64;
        // Not found is counted per bucket only: prorated to the hits judged.
        r.not_found += (b.not_found as u64 * rest.hits as u64)
            .checked_div(b.hits as u64)
            .unwrap_or(0);
        let from = s.entries.len();
        let excess = density.excess(b.first, rest.hits, rest.ids);
        let dense = rest.hits >= density.dense_in(b.first, rest.ids);
        let within = near.filter(|_| !dense).map(|(lo, hi)| {
            let pad = (hi - lo).max(EDGE_PAD_SECS);
            (lo - pad, hi + pad)
        });
        let wave = wave(b, excess, rest, within, &mut s.ts, &mut s.entries);
        let suspect = wave.is_some_and(|(suspect, _)| suspect);
        // What the alert says of the run's times: those of its waves, not
        // the buckets' first and last hits (a bucket held since the day
        // before gave a sweep a `first_seen` a day early).
        if let Some((_, (first, last))) = wave {
            r.first = r.first.min(first);
            r.last = r.last.max(last);
        }
        let to = s.entries.len();
        s.spans.push(Span {
            key: k,
            from,
            to,
            suspect,
            dense,
        });
        held = (held.0.min(rest.first), held.1.max(rest.last));
        wave.map(|(_, times)| times).or(near)
    };
    // Edges of a sweep may be half-filled: extend over buckets halfway
    // from what is expected of them to dense (see [`Density::edge_in`]).
    let mut inner = None;
    if let Some(b) = buckets.get(&(route, center)) {
        inner = add(center, b, Rest::of(b, but), None, &mut r);
    }
    let middle = inner;
    let mut k = center;
    while k > 0 && center - k < MAX_WALK {
        match buckets.get(&(route, k - 1)).map(|b| (b, Rest::of(b, but))) {
            Some((b, rest)) if rest.hits >= density.edge_in(b.first, rest.ids) => {
                inner = add(k - 1, b, rest, inner, &mut r);
                k -= 1;
                r.lo = k;
            }
            _ => break,
        }
    }
    // The buckets below the center were added downwards: put them in
    // order, so that `bits` goes up and run_id_stats's sort is one pass.
    let below = r.bits.len();
    r.bits[..below].reverse();
    let mut k = center;
    inner = middle;
    while k - center < MAX_WALK {
        match buckets.get(&(route, k + 1)).map(|b| (b, Rest::of(b, but))) {
            Some((b, rest)) if rest.hits >= density.edge_in(b.first, rest.ids) => {
                inner = add(k + 1, b, rest, inner, &mut r);
                k += 1;
                r.hi = k;
            }
            _ => break,
        }
    }
    if r.first > r.last {
        (r.first, r.last) = held;
    }
    // The spans go from the center down, then up from above it.
    let at = |j: u64| if j <= center { center - j } else { (center - r.lo) + (j - center) } as usize;
    s.far.clear();
    for &Span {
        key: k,
        from,
        to,
        suspect,
        ..
    } in &s.spans
    {
        if !suspect {
            continue;
        }
        s.local.clear();
        for j in k.saturating_sub(BESIDE_BUCKETS).max(r.lo)..=(k + BESIDE_BUCKETS).min(r.hi) {
            let span = s.spans[at(j)];
            debug_assert_eq!(j, span.key);
            let known = (s.entries[span.from..span.to].iter()).filter(|e| e.bit < WIDTH as u8);
            (s.local).extend(known.map(|e| (j * WIDTH + e.bit as u64, e.ts)));
        }
        s.local.sort_unstable();
        beside(
            k,
            from..to,
            &s.entries,
            &s.local,
            &mut s.near,
            &mut s.spreads,
            &mut s.far,
        );
    }
    if !s.far.is_empty() {
        s.far.sort_unstable();
        let mut i = 0;
        s.entries.retain(|_| {
            i += 1;
            s.far.binary_search(&(i - 1)).is_err()
        });
        // The spans move with the entries left.
        let before = |i: usize| s.far.partition_point(|&f| (f as usize) < i);
        for span in &mut s.spans {
            (span.from, span.to) = (span.from - before(span.from), span.to - before(span.to));
        }
    }
    // Anonymous lookups in the wave take part. A principal takes part (with
    // its addresses) only if it read several ids of the run; one read is a
    // customer's own record that happens to lie in the range.
    // Principals are sorted on their own (4 bytes each, not 20): the
    // sorted list gives both the run's principals and those that read
    // several ids.
    // An address repeating the one before is counted, not pushed again:
    // one walker's entries come one after another, and sorting thousands
    // of copies of its address was most of a gather's cost.
    s.who.clear();
    s.reads.clear();
    for e in &s.entries {
        if e.who == 0 {
            count_reads(&mut s.reads, e.addr, 1);
        } else {
            s.who.push(e.who);
        }
    }
    s.who.sort_unstable();
    s.many.clear();
    for reads in s.who.chunk_by(|a, b| a == b) {
        r.principals.push(reads[0]);
        if reads.len() >= 3 {
            s.many.push(reads[0]);
        }
    }
    if !s.many.is_empty() {
        for e in &s.entries {
            if e.who != 0 && s.many.binary_search(&e.who).is_ok() {
                count_reads(&mut s.reads, e.addr, 1);
            }
        }
    }
    sort_merge(&mut s.reads, &mut s.packed);
    // An address is named only if the run holds at least half of its
    // lookups on the route (see the module note), and a fair share of what
    // the crowd's typical address holds: where that reads a dozen ids, an
    // address with one is a customer whose own number lies in the range,
    // read while the crowd passed (without principals nothing else tells
    // them apart).
    // At most two: addresses reading a few ids each cannot hide beside
    // heavier ones (a crowd's light half came after its heavy one).
    let least = (typical(&s.reads, &mut s.per) / TYPICAL_SHARE).clamp(1, 2);
    // Thousands of addresses, each slot a likely cache miss: ask for the
    // slots a few addresses ahead.
    for (i, &(a, here)) in s.reads.iter().enumerate() {
        if let Some(&(ahead, _)) = s.reads.get(i + 8) {
            readers.prefetch(route, ahead);
        }
        if here >= least && here * 2 > readers.get(route, a) {
            r.addrs.push(a);
        }
    }
    r.crowd = s.reads.len();
    r.dense = s.spans.iter().any(|s| s.dense);
    r.one_walker = one_walker(s);
    s.heavy.clear();
    s.heavy
        .extend(s.reads.iter().filter(|&&(_, n)| n >= WIDTH as u32));
    s.heavy.sort_unstable_by_key(|&(_, n)| std::cmp::Reverse(n));
    r.walkers
        .extend(s.heavy.iter().take(MAX_WALKERS).map(|&(a, _)| a));
    if r.addrs.is_empty() {
        r.addrs.extend(s.reads.iter().map(|&(a, _)| a));
    }
    s.trim();
    r
}

/// The buckets of a run that is a walk or a crowd's leave the route's pace
/// (see [`Density`]): what is expected of customers' buckets is measured
/// on customers' reads.
fn leave_pace(
    buckets: &mut BoundedMap<(RouteId, u64), Bucket>,
    st: &mut RouteState,
    route: RouteId,
    keys: std::ops::RangeInclusive<u64>,
) {
    for k in keys {
        if let Some(b) = buckets.get_mut(&(route, k))
            && !b.swept
        {
            st.forget(b);
            (b.paced, b.swept) = (0, true);
            st.count(b);
        }
    }
}

/// Whether the run is one address's walk among customers' reads (see
/// [`Run::one_walker`]). The address with the most entries (the walker)
/// must hold at least half of the entries of the buckets it read in; the
/// others there must have read before it reached their bucket (customers
/// who read their record earlier, not a crowd working beside it: at most
/// a quarter of the walker's entries came later); and every dense bucket
/// must be mostly the walker's (a crowd carrying on from a walk, or
/// working between two stretches of it, fills dense buckets of its own).
fn one_walker(s: &Scratch) -> bool {
    let Some(&(walker, _)) = s.reads.iter().max_by_key(|&&(_, n)| n) else {
        return false;
    };
    let (mut mine, mut all, mut beside) = (0, 0, 0);
    for span in &s.spans {
        let entries = &s.entries[span.from..span.to];
        let (its, first) = (entries.iter())
            .filter(|e| e.addr == walker)
            .fold((0, i64::MAX), |(n, t), e| (n + 1, t.min(e.ts)));
        if span.dense && its * 4 < entries.len() {
            return false;
        }
        if its > 0 {
            mine += its;
            all += entries.len();
            beside += (entries.iter())
                .filter(|e| e.addr != walker && e.ts >= first)
                .count();
        }
    }
    mine * 2 >= all && beside * 4 <= mine
}

/// `n` more lookups by `addr`: a new pair unless it is the last one's.
fn count_reads(reads: &mut Vec<(u128, u32)>, addr: u128, n: u32) {
    match reads.last_mut() {
        Some(last) if last.0 == addr => last.1 += n,
        _ => reads.push((addr, n)),
    }
}

/// Sort the pairs by address, each address once with its counts summed.
/// When the addresses share their upper 96 bits (IPv4, as keys are), the
/// lower 32 bits and the count are packed into one `u64` and those are
/// sorted: a quarter of the bytes to move, one compare instead of two.
fn sort_merge(reads: &mut Vec<(u128, u32)>, packed: &mut Vec<u64>) {
    let Some(&(first, _)) = reads.first() else {
        return;
    };
    let high = first >> 32;
    if reads.iter().all(|&(a, _)| a >> 32 == high) {
        packed.clear();
        packed.extend(
            reads
                .iter()
                .map(|&(a, n)| (a as u32 as u64) << 32 | n as u64),
        );
        packed.sort_unstable();
        reads.clear();
        for &p in packed.iter() {
            count_reads(reads, high << 32 | (p >> 32) as u128, p as u32);
        }
    } else {
        reads.sort_unstable_by_key(|&(a, _)| a);
        let mut merged = 0;
        for i in 0..reads.len() {
            if merged > 0 && reads[merged - 1].0 == reads[i].0 {
                reads[merged - 1].1 += reads[i].1;
            } else {
                reads[merged] = reads[i];
                merged += 1;
            }
        }
        reads.truncate(merged);
    }
}

/// Id statistics of a run, from the ids fetched in its buckets: the
/// lowest and highest id, the share of the range fetched, and, over the
/// ids in order (many addresses fetch them, so there is no one time order),
/// the share of steps of one, the longest run of consecutive ids and the
/// median step.
fn run_id_stats(bits: &mut [(u64, u64)]) -> Option<IdStats> {
    // Already in order from `gather`: then this is one pass.
    bits.sort_unstable();
    // Steps are counted, not listed: a sweep's steps are small (ones,
    // mostly), so the median is found by walking the counts; only longer
    // steps are kept, and selected among if the median is one of them.
    let mut small = [0u32; SMALL_STEPS];
    let mut long: Vec<u64> = Vec::new();
    let mut steps = 0usize;
    let (mut first, mut prev) = (None, None::<u64>);
    let (mut run, mut longest) = (0u64, 0u64);
    for &(k, b) in bits.iter() {
        let mut b = b;
        while b != 0 {
            let id = k * WIDTH + b.trailing_zeros() as u64;
            b &= b - 1;
            first.get_or_insert(id);
            match prev {
                Some(p) => {
                    let step = id - p;
                    match small.get_mut(step as usize) {
                        Some(c) => *c += 1,
                        None => long.push(step),
                    }
                    steps += 1;
                    run = if step == 1 { run + 1 } else { 1 };
                }
                None => run = 1,
            }
            longest = longest.max(run);
            prev = Some(id);
        }
    }
    let (min, max) = (first?, prev?);
    let n = steps as u64 + 1;
    let ones = small[1] as usize;
    // The step at position steps / 2 in sorted order (the upper median).
    let median = if steps == 0 {
        0
    } else {
        let mut rank = steps / 2;
        let mut found = None;
        for (step, &c) in small.iter().enumerate() {
            if rank < c as usize {
                found = Some(step as u64);
                break;
            }
            rank -= c as usize;
        }
        found.unwrap_or_else(|| *long.select_nth_unstable(rank).1)
    };
    let share = |x: f64| (x * 1000.0).round() / 1000.0;
    Some(IdStats {
        min,
        max,
        coverage: share(n as f64 / (max - min + 1) as f64),
        sequential_share: share(ones as f64 / steps.max(1) as f64),
        longest_run: longest,
        median_stride: median,
    })
}

/// The first second at which a sweep last reported at `last_emit` has been
/// quiet for longer than `quiet` seconds.
fn quiet_from(last_emit: i64, quiet: i64) -> i64 {
    last_emit.saturating_add(quiet).saturating_add(1)
}

/// Steps between ids shorter than this are counted in [`run_id_stats`].
const SMALL_STEPS: usize = 64;

/// Entry lists at most this long are reused from evicted buckets.
const REUSE_ENTRIES: usize = 8;

impl Detector for Distributed {
    fn kind(&self) -> DetectorKind {
        DetectorKind::DistributedSweep
    }
    fn scope(&self) -> Scope {
        Scope::Route
    }

    fn observe(&mut self, ev: &Event, _shard: u8, routes: &dyn Routes, out: &mut Vec<Finding>) {
        let (Some(obj), Some(ip)) = (ev.object, ev.ip) else {
            return;
        };
        if !obj.kind.numeric() || !routes.info(ev.route).lookup {
            return;
        }
        let now = ev.ts.secs();
        if now - self.last_expire >= 600 {
            self.last_expire = now;
            self.expire(now);
        }
        let key = obj.value / WIDTH;
        let bit = 1u64 << (obj.value % WIDTH);
        let addr = crate::actors::addr_key(ip);
        self.readers.add(ev.route, addr, now, self.cfg.window_secs);
        let (b, mut victim) = self.buckets.touch(&(ev.route, key), || Bucket {
            first: now,
            ..Default::default()
        });
        if let Some((_, v)) = &mut victim
            && v.entries.capacity() <= REUSE_ENTRIES
        {
            // Buckets come and go all the time (an address flood): reuse
            // the evicted one's list. Only a short one, or every bucket
            // slot would come to hold a full 64-entry list.
            b.entries = emptied(std::mem::take(&mut v.entries));
        }
        b.last = b.last.max(now);
        let fresh = b.bits & bit == 0;
        if fresh {
            b.bits |= bit;
            b.hits += 1;
            b.not_found += ev.not_found() as u32;
            b.entries.push(Entry {
                addr,
                who: ev.principal.map_or(0, |p| p as u32 | 1),
                ts: now,
                bit: (obj.value % WIDTH) as u8,
            });
        }
        if fresh && !b.swept {
            b.paced += 1;
        }
        let (hits, first, looked, paced) = (b.hits, b.first, b.looked, b.paced);
        if let Some(((r, _), v)) = victim
            && let Some(o) = self.routes.get_mut(&r)
        {
            o.forget(&v);
        }
        let (st, _) = self.routes.touch(&ev.route, || RouteState {
            buckets: 0,
            swept: 0,
            paced: 0,
            firsts: 0,
            pace: 0.0,
            sweeps: Vec::new(),
            set_aside: Vec::new(),
        });
        self.clock = self.clock.max(now);
        if !fresh {
            return;
        }
        let density = Density::of(st, now, self.clock, self.cfg.min_dense);
        // Into the pace with its second hit, one more after (see
        // [`Density`]); a swept bucket's `paced` stays at 0.
        match paced {
            2 => {
                st.buckets += 1;
                st.paced += 2;
                st.firsts += first;
            }
            3.. => st.paced += 1,
            _ => {}
        }
        // Look at the run when a bucket turns dense and every 8 hits after:
        // a single walker fills buckets one after another, and re-walking the
        // run on every hit would be quadratic. (Counted from the last look,
        // not from the threshold, which moves as the bucket ages.)
        let look =
            hits >= density.dense(first) && (looked == 0 || hits >= looked.saturating_add(8));
        // A sweep already reported here is refreshed at most once every
        // REFRESH_SECS (and then on its next hit, not 8 hits later).
        let refreshed = look
            && (st.sweeps.iter())
                .any(|s| s.lo <= key + 1 && key <= s.hi + 1 && now - s.last_emit < REFRESH_SECS);
        if !look || refreshed {
            return;
        }
        if let Some(b) = self.buckets.get_mut(&(ev.route, key)) {
            b.looked = hits;
        }
        st.set_aside.retain(|s| !s.expired(now));
        if let Some(i) = st.set_aside.iter().position(|s| s.covers(key)) {
            // At most once per REFRESH_SECS: a crowd working next to a huge
            // walk must not make every one of its looks gather the walk.
            let crowd = now - st.set_aside[i].at >= REFRESH_SECS
                && self
                    .buckets
                    .get(&(ev.route, key))
                    .is_some_and(|b| crowd_like(b, self.cfg.max_per_address));
            if !crowd && !st.set_aside[i].grown(key) {
                return;
            }
            st.set_aside.remove(i);
        }
        let (buckets, readers, scratch) = (&self.buckets, &self.readers, &mut self.scratch);
        let mut gather = |but: &[u128]| {
            self.gathers += 1;
            gather(buckets, readers, scratch, ev.route, key, density, but)
        };
        let mut r = gather(&[]);
        let cfg = &self.cfg;
        let walk =
            |r: &Run| r.hits as f64 / r.crowd.max(1) as f64 > cfg.max_per_address || r.one_walker;
        let own = |r: &Run| r.principals.len() * 2 >= r.crowd;
        // A crowd re-reading ids that a walker read first adds only the ids
        // the walker left (a bucket keeps an id's first reader), and the
        // walker's wave hides it. Where the run is a walk and the bucket
        // looked at a crowd's, the run is judged again without the walker's
        // reads: a crowd if what others read since is dense and big enough
        // on its own (else the walk stays set aside, not gathered twice on
        // every look).
        let big =
            |r: &Run| r.hits >= cfg.min_hits && r.crowd.min(r.addrs.len()) >= cfg.min_addresses;
        if walk(&r)
            && !own(&r)
            && !r.walkers.is_empty()
            && (buckets.get(&(ev.route, key))).is_some_and(|b| crowd_like(b, cfg.max_per_address))
        {
            let without = gather(&r.walkers);
            if without.dense && !walk(&without) && !own(&without) && big(&without) {
                r = without;
            }
        }
        let per_addr = r.hits as f64 / r.crowd.max(1) as f64;
        let own_records = own(&r);
        // Only a run that is one actor's walk or customers' own records is
        // set aside for a while: one still too small to judge is looked at
        // again on its next dense hit, since a short sweep may have only a
        // few of those left. On a busy API customers read many ids of a
        // walk first (a bucket keeps an id's first reader), so a walk can
        // show few lookups per address: see [`one_walker`].
        if walk(&r) || own_records {
            // Only a walk: one address's (see [`one_walker`]) or one with an
            // address of WIDTH lookups or more in it. A run of a few busy
            // carrier NAT addresses, more than max_per_address each, is
            // customers' reads.
            if (r.one_walker || !r.walkers.is_empty()) && !own_records {
                leave_pace(&mut self.buckets, st, ev.route, r.lo..=r.hi);
            }
            if st.set_aside.len() >= MAX_SET_ASIDE {
                st.set_aside.remove(0);
            }
            st.set_aside.push(SetAside {
                lo: r.lo,
                hi: r.hi,
                at: now,
                hits: r.hits,
                looks: 0,
            });
            return;
        }
        // Too few named (a walker and some customers whose reads it
        // passed) is no crowd either.
        if !big(&r) {
            return;
        }
        leave_pace(&mut self.buckets, st, ev.route, r.lo..=r.hi);
        let sev = if r.crowd >= cfg.critical_addresses {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let sweep = match st
            .sweeps
            .iter_mut()
            .position(|s| s.lo <= r.hi + 1 && r.lo <= s.hi + 1)
        {
            Some(i) => &mut st.sweeps[i],
            None => {
                if st.sweeps.len() >= MAX_SWEEPS {
                    st.sweeps.remove(0);
                }
                // The route is added by the incident key; the bucket where
                // the run started when first seen tells this sweep from
                // another on the same route (two sweeps can run at once).
                let mut k = [0u8; 12];
                k[..4].copy_from_slice(b"dsw:");
                k[4..].copy_from_slice(&r.lo.to_le_bytes());
                st.sweeps.push(Sweep {
                    lo: r.lo,
                    hi: r.hi,
                    key: stable_hash(&k),
                    severity: sev,
                    last_emit: i64::MIN / 2,
                });
                st.sweeps.last_mut().expect("pushed")
            }
        };
        // The range grows even when the report waits: looks at the
        // buckets it took then wait for the refresh, not gather the run.
        sweep.lo = sweep.lo.min(r.lo);
        sweep.hi = sweep.hi.max(r.hi);
        let first = sweep.last_emit == i64::MIN / 2;
        if !(first || sev > sweep.severity || now - sweep.last_emit >= REFRESH_SECS) {
            return;
        }
        sweep.severity = sweep.severity.max(sev);
        sweep.last_emit = now;
        self.acts_at = self.acts_at.min(quiet_from(now, cfg.quiet_secs));
        let scope_key = sweep.key;
        let ids = run_id_stats(&mut r.bits);
        let (lo, hi) = ids
            .as_ref()
            .map_or((r.lo * WIDTH, r.hi * WIDTH + WIDTH - 1), |s| (s.min, s.max));
        let why = format!(
            "{} ids in {lo}..{hi} fetched by {} addresses, {:.1} lookups each",
            r.hits, r.crowd, per_addr
        );
        out.push(Finding {
            detector: DetectorKind::DistributedSweep,
            severity: sev,
            scope_key,
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
                ids,
                sample_ids: Vec::new(),
                principals: Some(r.principals.len() as u64),
                user_agents: None,
                max_page: None,
                reason: why,
                since_flagged: None,
                shared: false,
            },
        });
    }

    fn tick(&mut self, now: Timestamp, _routes: &dyn Routes, _out: &mut Vec<Finding>) {
        let now = now.secs();
        if now < self.acts_at {
            return;
        }
        // A sweep that went quiet is forgotten; a later one is a new incident.
        let quiet = self.cfg.quiet_secs;
        let mut due = i64::MAX;
        for st in self.routes.values_mut() {
            st.sweeps.retain(|s| now - s.last_emit <= quiet);
            for s in &st.sweeps {
                due = due.min(quiet_from(s.last_emit, quiet));
            }
        }
        self.acts_at = due;
    }

    crate::persist_detector!(Distributed);

    fn entries(&self) -> (usize, u64) {
        (
            self.buckets.len() + self.readers.held(),
            self.buckets.evicted(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Router;

    /// The packed sort gives what counting in an ordered map gives, whether
    /// the upper halves are shared (IPv4, one IPv6 prefix) or not.
    #[test]
    fn sort_merge_matches_an_ordered_count() {
        let mut rng = crate::test_rng::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut next = || rng.next();
        let mut packed = Vec::new();
        for case in 0..300 {
            let n = (next() % 200) as usize;
            // IPv4 keys (mapped), IPv6 /64 keys, and the two mixed. Few
            // distinct values, so there are duplicates; some IPv4 keys with
            // their top bit set.
            let addrs: Vec<u128> = (0..n)
                .map(|_| {
                    let v4 = match case % 3 {
                        0 => true,
                        1 => false,
                        _ => next() % 2 == 0,
                    };
                    let v = next() % 50;
                    if v4 {
                        crate::actors::addr_key(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                            (v as u32) << (next() % 2 * 31),
                        )))
                    } else {
                        (0x2001_0db8u128 << 96) | (v as u128) << 64
                    }
                })
                .collect();
            let mut want = std::collections::BTreeMap::<u128, u32>::new();
            let mut got = Vec::new();
            for a in addrs {
                let n = (next() % 3 + 1) as u32;
                *want.entry(a).or_default() += n;
                got.push((a, n));
            }
            sort_merge(&mut got, &mut packed);
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "case {case}");
        }
    }

    /// The read counts: exact while an address holds its slot; a third
    /// address in a full pair takes the slot with fewer lookups and counts
    /// from one; a count whose window has ended starts again; the table
    /// survives saving, refuses a size no run makes, and moves, counts
    /// and all, to a table of another size.
    #[test]
    fn read_counts_count_evict_and_move() {
        let mut r = ReadCounts::new(64);
        let first = r.pair_of(3, 10);
        // Three addresses of the same pair of slots.
        let same: Vec<u128> = (11..100_000u128)
            .filter(|&a| r.pair_of(3, a) == first)
            .take(2)
            .collect();
        let (a, b, c) = (10u128, same[0], same[1]);
        for t in 0..5 {
            r.add(3, a, 100 + t, 1_000);
        }
        r.add(3, b, 200, 1_000);
        r.add(4, a, 200, 1_000);
        assert_eq!((r.get(3, a), r.get(3, b), r.get(4, a)), (5, 1, 1));
        r.add(3, c, 300, 1_000);
        assert_eq!(
            (r.get(3, a), r.get(3, b), r.get(3, c)),
            (5, 0, 1),
            "b had fewer lookups"
        );
        r.add(3, a, 1_050, 1_000);
        assert_eq!(r.get(3, a), 6, "within the window from its first lookup");
        r.add(3, a, 1_200, 1_000);
        assert_eq!(r.get(3, a), 1, "a count whose window ended starts again");

        let mut d = Distributed::new(Config::default(), 1024);
        for i in 0..500u128 {
            d.readers.add(1, i, 1_000 + i as i64, 86_400);
            d.readers.add(1, i, 2_000, 86_400);
        }
        let mut saved = Vec::new();
        d.save(&mut saved).expect("saved");
        let v: Box<serde_json::value::RawValue> = serde_json::from_slice(&saved).expect("json");
        let mut same_size = Distributed::new(Config::default(), 1024);
        same_size.load(&v).expect("loaded");
        assert_eq!(same_size.readers.pairs, d.readers.pairs);
        let mut larger = Distributed::new(Config::default(), 8192);
        larger.load(&v).expect("loaded");
        assert_eq!(larger.readers.pairs.len() * 2, 8192 * READERS_PER_BUCKET);
        assert!((0..500u128).all(|i| larger.readers.get(1, i) == d.readers.get(1, i)));
        let huge = serde_json::json!({"len": 1u64 << 40, "used": []});
        assert!(serde_json::from_value::<ReadCounts>(huge).is_err());
    }

    /// A lookup of customer `id` from address 10.0.`addr`, routed by a real
    /// router (route 0 is the customers lookup route).
    fn run(events: impl Iterator<Item = (i64, u16, u64)>) -> (Distributed, Vec<Finding>) {
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let mut d = Distributed::new(Config::default(), 1024);
        let mut out = Vec::new();
        for (ts, addr, id) in events {
            let ev = crate::detectors::testing::lookup(&mut router, ts, ip(addr), id);
            assert!(router.info(ev.route).lookup);
            d.observe(&ev, 0, &router, &mut out);
        }
        (d, out)
    }

    /// A short, fast sweep: 20 addresses take turns over two buckets in
    /// under ten seconds. The first look (20 hits) is too small to judge;
    /// it must not stop the later looks that see the whole sweep.
    #[test]
    fn a_short_sweep_is_not_hidden_by_an_early_small_look() {
        let base = 64 * 1000;
        let (_, out) =
            run((0..128u64).map(|i| (1_000 + (i / 16) as i64, (i % 20) as u16, base + i)));
        assert!(!out.is_empty(), "the sweep is reported");
        let ActorRef::Addresses(a) = &out[out.len() - 1].actor else {
            panic!("a crowd")
        };
        assert_eq!(a.len(), 20);
    }

    /// A walker probes a range, then a crowd of 1,000 addresses (one lookup
    /// each) carries on right where it stopped. The walk is set aside, but
    /// the crowd's buckets must still be looked at and the sweep reported.
    #[test]
    fn a_crowd_continuing_a_set_aside_walk_is_reported() {
        let base = 64 * 1000;
        let walk = || (0..3_200u64).map(|i| (1_000 + (i / 53) as i64, 7u16, base + i));
        let crowd =
            (0..1_000u64).map(|j| (1_061 + (j / 10) as i64, 1_000 + j as u16, base + 3_200 + j));
        let (d, out) = run(walk().chain(crowd));
        // The crowd's ~100 looks in 100 s gather at most every 10 s (as a
        // set-aside walk, then as a reported sweep), not on every look.
        let (walk_only, _) = run(walk());
        let crowd_gathers = d.gathers - walk_only.gathers;
        assert!(crowd_gathers <= 30, "{crowd_gathers} gathers for the crowd");
        let named = out
            .iter()
            .filter_map(|f| match &f.actor {
                ActorRef::Addresses(a) => Some(a.len()),
                _ => None,
            })
            .max();
        assert!(named.is_some_and(|n| n >= 400), "sweep reported: {named:?}");
    }

    /// The id statistics are those of the ids fetched, not of the buckets
    /// they fall in: 60 consecutive ids from 1,000 are 1000..1059, all
    /// fetched, in steps of one. (Two seconds apart, so that the last look,
    /// 8 hits after the one before, is not within a refresh of it.)
    #[test]
    fn id_statistics_are_those_of_the_ids_fetched() {
        let (_, out) = run((0..60u64).map(|i| (1_000 + 2 * i as i64, i as u16, 1_000 + i)));
        let ids = out
            .last()
            .expect("reported")
            .evidence
            .ids
            .clone()
            .expect("ids");
        assert_eq!((ids.min, ids.max), (1_000, 1_059));
        assert_eq!(ids.coverage, 1.0);
        assert_eq!(ids.sequential_share, 1.0);
        assert_eq!((ids.longest_run, ids.median_stride), (60, 1));
        let mut bits = vec![(2, 0b1), (1, 0b101)];
        let s = run_id_stats(&mut bits).unwrap();
        // Steps 2 and 62: the upper median of two.
        assert_eq!(
            (s.min, s.max, s.longest_run, s.median_stride),
            (64, 128, 1, 62)
        );
        assert_eq!(s.coverage, (3.0f64 / 65.0 * 1000.0).round() / 1000.0);
    }

    /// The id statistics from counted steps are those of the steps listed
    /// and sorted, on runs of dense, sparse and mixed buckets, whatever
    /// order the buckets come in.
    #[test]
    fn id_statistics_match_their_definition() {
        let mut rng = crate::test_rng::Rng::new(0x3c6e_f372_fe94_f82b);
        for round in 0..2_000 {
            let buckets = 1 + rng.below(40);
            let mut bits: Vec<(u64, u64)> = (0..buckets)
                .map(|k| {
                    // Full, empty, one id, or random: steps of one, of
                    // hundreds, and everything between.
                    let b = match rng.below(4) {
                        0 => u64::MAX,
                        1 => 0,
                        2 => 1 << rng.below(64),
                        _ => rng.next() & rng.next(),
                    };
                    (k * (1 + rng.below(3)) + round, b)
                })
                .collect();
            bits.sort_unstable();
            bits.dedup_by_key(|b| b.0);
            let ids: Vec<u64> = bits
                .iter()
                .flat_map(|&(k, b)| {
                    (0..64)
                        .filter(move |i| b >> i & 1 == 1)
                        .map(move |i| k * WIDTH + i)
                })
                .collect();
            // Shuffled: the function must not depend on the order given.
            for i in (1..bits.len()).rev() {
                bits.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let got = run_id_stats(&mut bits);
            let Some(s) = got else {
                assert!(ids.is_empty());
                continue;
            };
            let mut steps: Vec<u64> = ids.windows(2).map(|w| w[1] - w[0]).collect();
            let ones = steps.iter().filter(|&&x| x == 1).count();
            let mut longest = 1;
            let mut run = 1;
            for &x in &steps {
                run = if x == 1 { run + 1 } else { 1 };
                longest = longest.max(run);
            }
            steps.sort_unstable();
            let median = steps.get(steps.len() / 2).copied().unwrap_or(0);
            assert_eq!((s.min, s.max), (ids[0], *ids.last().unwrap()));
            assert_eq!(
                (s.longest_run, s.median_stride),
                (longest, median),
                "{bits:?}"
            );
            let share = |x: f64| (x * 1000.0).round() / 1000.0;
            assert_eq!(
                s.sequential_share,
                share(ones as f64 / steps.len().max(1) as f64)
            );
        }
    }

    /// The tick does nothing before a reported sweep can have gone quiet:
    /// the same findings and state as ticking in full every second, through
    /// crowd sweeps that stop, go quiet and start again, some within the
    /// quiet time of the last (the same incident) and some after it.
    #[test]
    fn ticks_before_a_sweep_can_go_quiet_change_nothing() {
        let cfg = Config {
            quiet_secs: 120,
            ..Config::default()
        };
        let mut rng = crate::test_rng::Rng::new(0x5851_f42d_4c95_7f2d);
        let (mut sweeping, mut next) = (false, 64 * 1_000);
        let (skipped, found) = crate::detectors::testing::ticks_match_full_ticks(
            Distributed::new(cfg.clone(), 1024),
            Distributed::new(cfg, 1024),
            |d| d.acts_at,
            |d| d.acts_at = i64::MIN,
            1..12_000,
            3,
            |t, router| {
                // Sweeps of a minute or so, then pauses of minutes.
                sweeping = if sweeping {
                    rng.below(60) != 0
                } else {
                    rng.below(200) == 0
                };
                let mut evs = Vec::new();
                let lookup = crate::detectors::testing::lookup;
                for _ in 0..if sweeping { 6 } else { 0 } {
                    let ip = std::net::IpAddr::from([10, 1, 0, rng.below(200) as u8]);
                    evs.push(lookup(router, t, ip, next));
                    next += 1;
                }
                // Customers reading their own records, anywhere.
                let ip = std::net::IpAddr::from([10, 2, rng.below(250) as u8, 1]);
                evs.push(lookup(router, t, ip, rng.below(1 << 24)));
                evs
            },
        );
        assert!(found >= 20, "sweeps reported: {found}");
        assert!(skipped > 6_000, "ticks skipped: {skipped}");
    }

    /// One fast walker is set aside after a look, and is not a sweep.
    #[test]
    fn one_walker_is_set_aside_and_not_a_sweep() {
        let (d, out) = run((0..2_000u64).map(|i| (1_000 + (i / 100) as i64, 7, 64_000 + i)));
        assert!(out.is_empty());
        let st = d.routes.get(&0).expect("route state");
        // One entry that followed the walk to its last bucket, so the run
        // was not gathered again at every new bucket.
        assert_eq!(st.set_aside.len(), 1, "the walk was set aside once");
        let s = &st.set_aside[0];
        assert!(s.lo <= 64_000 / WIDTH + 1 && s.hi >= (64_000 + 1_999) / WIDTH - 1);
        assert!(s.looks > 0);
    }

    /// The addresses a finding names, over all findings.
    fn named(out: &[Finding]) -> std::collections::BTreeSet<u128> {
        out.iter()
            .flat_map(|f| match &f.actor {
                ActorRef::Addresses(a) => a.clone(),
                _ => panic!("a crowd"),
            })
            .collect()
    }

    /// Address 10.0.`addr` of the tests, and its key.
    fn ip(addr: u16) -> std::net::IpAddr {
        std::net::IpAddr::from([10, 0, (addr >> 8) as u8, addr as u8])
    }

    fn key(addr: u16) -> u128 {
        crate::actors::addr_key(ip(addr))
    }

    /// A crowd of 40 addresses, each reading 12 ids of a 480-id block in
    /// turn over 8 minutes, and 10 customers without principals who read
    /// their own number in the block once while it passes (one of them twice
    /// as the same id): the crowd is named, the customers are not (each
    /// holds one lookup, the crowd's typical address twelve).
    #[test]
    fn customers_reading_once_beside_a_crowd_of_heavier_addresses_are_not_named() {
        let base = 64 * 3_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for i in 0..480u64 {
            evs.push((1_000 + i as i64, 100 + (i % 40) as u16, base + i));
        }
        for c in 0..10u64 {
            // Ids the crowd reads later: the customer's read is the entry.
            let id = base + 200 + 23 * c;
            evs.push((1_150 + 10 * c as i64, 500 + c as u16, id));
            if c == 0 {
                evs.push((1_160, 500, id));
            }
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        let (crowd, _) = crowd_named(&out, 100..140);
        let (customers, _) = crowd_named(&out, 500..510);
        assert!(crowd >= 36, "{crowd} of the crowd named");
        assert_eq!(customers, 0, "customers named");
    }

    /// A crowd of 40 addresses walks 256 ids in four minutes. Address 900
    /// (a carrier NAT: 300 lookups all over the id space) and address 901
    /// (a customer reading their own record three times) each read an id
    /// in the range a little before the crowd got there, within the wave;
    /// neither is named. The crowd is.
    #[test]
    fn customers_reading_in_the_wave_are_not_named() {
        let base = 64 * 2_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for i in 0..300u64 {
            evs.push((i as i64 * 30, 900, 7 + i * 997));
        }
        evs.push((10_050, 900, base + 100));
        for t in [10_150, 10_160, 10_180] {
            evs.push((t, 901, base + 200));
        }
        for i in 0..256u64 {
            evs.push((10_000 + i as i64, (i % 40) as u16, base + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        let named = named(&out);
        assert!(!out.is_empty(), "the sweep is reported");
        assert!(
            (0..40).all(|a| named.contains(&key(a))),
            "the crowd is named"
        );
        assert!(
            !named.contains(&key(900)),
            "the carrier NAT address is named"
        );
        assert!(!named.contains(&key(901)), "the customer is named");
    }

    /// On a quiet route, eight customers read their own records in one
    /// bucket within 45 minutes; a day later a crowd of 40 addresses sweeps
    /// down from the top of that bucket (four of its ids) through the three
    /// below it. The bucket is an edge of the run, and its customers' reads
    /// are its tightest cluster: taken for its wave, they were named (as an
    /// independent simulation's customer was, a day after its read). Only
    /// the reads near the wave of the bucket inside it count: the crowd is
    /// named, the customers are not.
    #[test]
    fn customers_in_an_edge_bucket_a_day_before_are_not_named() {
        let base = 64 * 4_000;
        let edge = base + 3 * 64;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for c in 0..8u64 {
            evs.push((1_000 + c as i64 * 330, 500 + c as u16, edge + 2 + 3 * c));
        }
        let day = 86_400 + 1_000;
        let ids = (edge + 60..edge + 64).rev().chain((base..edge).rev());
        for (i, id) in ids.enumerate() {
            evs.push((day + i as i64, (i % 40) as u16, id));
        }
        let (_, out) = run(evs.into_iter());
        let named = named(&out);
        assert!(!out.is_empty(), "the sweep is reported");
        assert!((0..40).all(|a| named.contains(&key(a))), "the crowd");
        let customers = (500..508).filter(|&a| named.contains(&key(a))).count();
        assert_eq!(customers, 0, "customers named");
        // Nor is the sweep said to have begun with their reads.
        let first = out.iter().map(|f| f.evidence.first_seen.secs()).min();
        assert!(first >= Some(day), "first seen {first:?}");
    }

    /// A crowd that starts in the top quarter of a bucket (8 addresses, 16
    /// ids), pauses 14 minutes, then sweeps the three buckets below: the
    /// edge bucket's reads are within [`EDGE_PAD_SECS`] of the wave beside
    /// it, and its 8 addresses are named (with ten minutes, a review found
    /// none of them named).
    #[test]
    fn a_crowd_pausing_after_an_edge_bucket_is_named() {
        let base = 64 * 5_000;
        let edge = base + 3 * 64;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for (i, id) in (edge + 48..edge + 64).rev().enumerate() {
            evs.push((1_000 + 2 * i as i64, 200 + (i % 8) as u16, id));
        }
        for (i, id) in (base..edge).rev().enumerate() {
            evs.push((1_000 + 840 + i as i64, (i % 40) as u16, id));
        }
        let (_, out) = run(evs.into_iter());
        let named = named(&out);
        assert!((0..40).all(|a| named.contains(&key(a))), "the crowd");
        let first = (200..208).filter(|&a| named.contains(&key(a))).count();
        assert_eq!(first, 8, "of the crowd's first 8 named");
    }

    /// One walker takes the free ids of a bucket and a half where 26
    /// customers had read their own records (each three times) over the
    /// hours before: a third of the first bucket's entries, so its wave
    /// spans those hours. Early readers and a walker are no crowd: nothing
    /// is reported.
    #[test]
    fn one_walker_among_early_readers_is_not_a_crowd() {
        let base = 64 * 3_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        let owned: Vec<u64> = (0..20)
            .map(|c| c * 3)
            .chain([66, 70, 75, 80, 84, 88])
            .collect();
        for (c, &id) in owned.iter().enumerate() {
            for k in 0..3 {
                evs.push((c as i64 * 1_000 + k * 60, 100 + c as u16, base + id));
            }
        }
        for i in (0..91u64).filter(|i| !owned.contains(i)) {
            evs.push((40_000 + i as i64 / 2, 7, base + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        assert!(out.is_empty(), "{:?}", named(&out));
    }

    /// One heavy address among a crowd is no walk with customers around
    /// it: it reads the odd ids of two buckets while 64 addresses read the
    /// even ones, one each, at the same time. Half of the entries are the
    /// heavy address's, but the others came while it was there: a crowd,
    /// reported (set aside by a rule that looked at the share alone).
    #[test]
    fn a_crowd_working_beside_a_heavy_address_is_reported() {
        let base = 64 * 6_000;
        let evs = (0..128u64).map(|i| {
            let who = if i % 2 == 1 { 7 } else { 100 + (i / 2) as u16 };
            (1_000 + i as i64, who, base + i)
        });
        let (_, out) = run(evs);
        let named = named(&out);
        assert!(!out.is_empty(), "the crowd is reported");
        let crowd = (100..164).filter(|&a| named.contains(&key(a))).count();
        assert!(crowd >= 40, "{crowd} of the crowd named");
    }

    /// A walker reads ten buckets, then, later, ten more beyond a stretch
    /// of six that a crowd of 384 addresses (one lookup each) took in
    /// between. The walker holds most of the run's entries and its reads
    /// reach across the crowd's, but the crowd's buckets are dense and
    /// hardly the walker's: reported.
    #[test]
    fn a_crowd_between_two_stretches_of_a_walk_is_reported() {
        let base = 64 * 7_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for i in (0..64 * 10u64).chain(64 * 16..64 * 26) {
            evs.push((1_000 + i as i64, 7, base + i));
        }
        for i in 64 * 10..64 * 16u64 {
            evs.push((1_200 + (i - 640) as i64 / 4, 1_000 + i as u16, base + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        let named = named(&out);
        assert!(!out.is_empty(), "the crowd is reported");
        let crowd = (64 * 10..64 * 16u16).filter(|&i| named.contains(&key(1_000 + i)));
        assert!(crowd.count() >= 300, "the crowd is named");
    }

    /// A crowd of 192 addresses, one lookup each, walks three buckets in
    /// order, an id every 10 s. Five customers in each bucket (ids 3, 9,
    /// 15, 40 and 60 of it) had read their own record hours before, once
    /// each. When the crowd's front makes a bucket dense (20 hits), five of
    /// its 20 entries are the customers': the bucket's wave reaches back
    /// hours. The ids beside theirs were read hours later, and none of them
    /// is named (fails without [`beside`]). The crowd is.
    #[test]
    fn reads_hours_from_the_ids_beside_them_are_not_the_crowd() {
        let base = 64 * 4_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        let owned: Vec<u64> = (0..3)
            .flat_map(|k| [3, 9, 15, 40, 60].map(|o| 64 * k + o))
            .collect();
        for (c, &id) in owned.iter().enumerate() {
            evs.push((2_000 + c as i64 * 600, 500 + c as u16, base + id));
        }
        for i in (0..192u64).filter(|i| !owned.contains(i)) {
            evs.push((20_000 + i as i64 * 10, i as u16, base + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        let named = named(&out);
        // The crowd up to its last look: the refreshes come every 10 s
        // of a sweep's hits, the last lookups after the last of them.
        let missed: Vec<u16> = (0..150u16)
            .filter(|&i| !owned.contains(&(i as u64)) && !named.contains(&key(i)))
            .collect();
        assert!(missed.is_empty(), "the crowd is named, but for {missed:?}");
        let customers: Vec<u16> = (500..515).filter(|&c| named.contains(&key(c))).collect();
        assert!(customers.is_empty(), "customers named: {customers:?}");
    }

    /// Reads are judged against the ids beside them only as far as those
    /// agree: a crowd of 256 addresses, one lookup each, that fetches its
    /// range in a shuffled order, and one that walks in order but pauses
    /// for five minutes halfway, are named up to their last look.
    #[test]
    fn a_shuffled_or_pausing_crowd_is_named_in_full() {
        let mut rng = crate::test_rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        let base = 64 * 5_000;
        let mut ids: Vec<u64> = (0..256).collect();
        for i in (1..ids.len()).rev() {
            ids.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let shuffled: Vec<(i64, u16, u64)> = (ids.iter().enumerate())
            .map(|(t, &i)| (10_000 + t as i64 * 5, t as u16, base + i))
            .collect();
        let pausing: Vec<(i64, u16, u64)> = (0..256u64)
            .map(|i| {
                let pause = if i >= 128 { 300 } else { 0 };
                (10_000 + i as i64 * 5 + pause, i as u16, base + i)
            })
            .collect();
        for (what, evs) in [("shuffled", shuffled), ("pausing", pausing)] {
            let (_, out) = run(evs.into_iter());
            let named = named(&out);
            // Up to the last look: refreshes come every 10 s.
            let missed: Vec<u16> = (0..230u16).filter(|&a| !named.contains(&key(a))).collect();
            assert!(missed.is_empty(), "{what}: {missed:?} not named");
        }
    }

    /// A crowd whose every address also did twenty lookups elsewhere on the
    /// route (to hide among customers) is still a crowd: the sweep is
    /// reported, and names them all since none would be named otherwise.
    #[test]
    fn a_crowd_reading_elsewhere_too_is_still_reported() {
        let base = 64 * 6_000;
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        for a in 0..40u16 {
            for k in 0..20u64 {
                evs.push((
                    1_000 + k as i64 * 100 + a as i64,
                    a,
                    7 + (a as u64 * 20 + k) * 997,
                ));
            }
        }
        for i in 0..256u64 {
            evs.push((10_000 + i as i64, (i % 40) as u16, base + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        assert!(!out.is_empty(), "the sweep is reported");
        let named = named(&out);
        assert!(
            (0..40).all(|a| named.contains(&key(a))),
            "the crowd is named"
        );
    }

    /// A busy API's day, over the morning: in 300 buckets, customers read
    /// their own records (40% of the ids, every twenty minutes or so: the
    /// buckets stay in the table); all over the id space, one-off reads
    /// (typos, stale links) make buckets that the table keeps only for a
    /// while. Those make most of the table, with one hit each, so a mean
    /// per bucket was far below what one of the 300 gathered by noon, and
    /// the customers of the fullest were reported as a crowd. From noon a
    /// crowd (addresses from 60,000, `per_addr` lookups each) walks `ids`
    /// free ids of the 300 buckets, from the tenth, in `secs` seconds.
    fn busy_day(ids: usize, per_addr: usize, secs: i64) -> Vec<(i64, u16, u64)> {
        let base = 64 * 20_000;
        let mut rng = crate::test_rng::Rng::new(11);
        let mut evs: Vec<(i64, u16, u64)> = Vec::new();
        let owned = |id: u64| mix(id) % 10 < 4;
        for id in (0..300 * 64).filter(|&id| owned(id)) {
            let mut t = rng.below(1_200) as i64;
            while t < 43_200 {
                evs.push((t, (id * 7_919 % 50_000) as u16, base + id));
                t += 600 + rng.below(1_200) as i64;
            }
        }
        for t in 0..43_200 {
            let id = 64 * 1_000_000 + rng.below(1 << 30);
            evs.push((t, 50_000 + rng.below(10_000) as u16, id));
        }
        let free = (64 * 10..).filter(|&id| !owned(id)).take(ids);
        for (i, id) in free.enumerate() {
            let t = 43_200 + i as i64 * secs / ids as i64;
            evs.push((t, 60_000 + (i / per_addr) as u16, base + id));
        }
        evs.sort_by_key(|e| e.0);
        evs
    }

    #[test]
    fn customers_on_a_busy_route_are_no_crowd() {
        let (d, out) = run(busy_day(0, 1, 1).into_iter());
        assert!(d.buckets.evicted() > 10_000, "the table churns");
        assert!(out.is_empty(), "{} named", named(&out).len());
    }

    /// The crowd's addresses named, and the others.
    fn crowd_named(out: &[Finding], crowd: std::ops::Range<u16>) -> (usize, usize) {
        let named = named(out);
        let of_crowd = crowd.filter(|&a| named.contains(&key(a))).count();
        (of_crowd, named.len() - of_crowd)
    }

    #[test]
    fn a_crowd_on_a_busy_route_is_reported() {
        let (_, out) = run(busy_day(384, 1, 300).into_iter());
        let (crowd, others) = crowd_named(&out, 60_000..60_384);
        assert!(crowd >= 320, "{crowd} of the crowd named");
        assert!(others <= 10, "{others} customers named");
    }

    /// A busy day's customers, then a walker (address 7) reading three of
    /// every five ids of 100 buckets beyond theirs, then, 45 minutes later, a
    /// crowd of 427 addresses (three ids each) re-reading all ids of 20 of
    /// those buckets. The walker read most of the crowd's ids first, so its
    /// wave is each bucket's tightest and its hits put the run's lookups
    /// per address far above a crowd's. Judged without the walker, the ids
    /// it left are the crowd's: named.
    #[test]
    fn a_crowd_rereading_a_walked_range_is_reported() {
        let mut evs = busy_day(0, 1, 1);
        let base = 64 * 20_000 + 64 * 400;
        let walk = 43_200;
        for i in (0..64 * 100u64).filter(|i| i % 5 < 3) {
            evs.push((walk + i as i64 / 4, 7, base + i));
        }
        for i in 0..64 * 20u64 {
            let t = walk + 2_700 + i as i64 * 2;
            evs.push((t, 60_000 + (i / 3) as u16, base + 64 * 40 + i));
        }
        evs.sort_by_key(|e| e.0);
        let (_, out) = run(evs.into_iter());
        // An address is named when at least half its lookups are in the
        // run (see the module note), here the ids it read first: two of
        // its three ids in two of five addresses (171).
        let (crowd, others) = crowd_named(&out, 60_000..60_427);
        assert!(crowd >= 150, "{crowd} of the crowd named");
        assert!(others <= 1, "{others} others named");
    }

    /// A crowd sweeping most of the customers' buckets (10,000 ids, three
    /// each, over an hour and a half): its hits would raise what is
    /// expected of every bucket until none could be dense, and the end of
    /// the sweep would go unreported. The addresses of its last quarter are
    /// named.
    #[test]
    fn a_crowd_sweeping_most_of_a_busy_route_is_reported_to_its_end() {
        let (_, out) = run(busy_day(10_000, 3, 5_000).into_iter());
        let last = 60_000 + 10_000 / 3 * 3 / 4;
        let (crowd, _) = crowd_named(&out, last..60_000 + 10_000 / 3);
        let (customers, _) = crowd_named(&out, 0..50_000);
        assert!(crowd >= 790, "{crowd} of the last 834 addresses named");
        assert!(customers <= 10, "{customers} customers named");
    }

    /// Saved and loaded half-way (as `check` does between runs), the
    /// detector reports what it reports in one go: the route's pace is
    /// rebuilt from the buckets.
    #[test]
    fn a_busy_route_saved_and_loaded_reports_the_same() {
        let evs = busy_day(10_000, 3, 5_000);
        let (_, whole) = run(evs.iter().copied());
        let mut router = Router::new(Vec::new(), Vec::new(), 100);
        let mut d = Distributed::new(Config::default(), 1024);
        let mut out = Vec::new();
        let half = evs.len() / 2 + 30_000;
        for (i, &(ts, addr, id)) in evs.iter().enumerate() {
            if i == half {
                let mut saved = Vec::new();
                d.save(&mut saved).expect("saved");
                let v: Box<serde_json::value::RawValue> =
                    serde_json::from_slice(&saved).expect("json");
                d = Distributed::new(Config::default(), 1024);
                d.load(&v).expect("loaded");
            }
            let ev = crate::detectors::testing::lookup(&mut router, ts, ip(addr), id);
            d.observe(&ev, 0, &router, &mut out);
        }
        assert!(!whole.is_empty());
        assert_eq!(named(&out), named(&whole));
        assert_eq!(out.len(), whole.len());
    }

    /// Where sweeps have taken all but a few of a route's buckets, the
    /// pace last measured stands: with none, every bucket held all day
    /// would be dense from `min_dense` hits (customers' own reads).
    #[test]
    fn the_last_pace_stands_when_sweeps_took_most_buckets() {
        let mut st = RouteState {
            buckets: 300,
            swept: 0,
            paced: 300 * 26,
            firsts: 300 * 100,
            pace: 0.0,
            sweeps: Vec::new(),
            set_aside: Vec::new(),
        };
        let d = Density::of(&mut st, 43_300, 43_300, 20);
        assert!((d.expected(100) - 26.0).abs() < 0.01, "{}", d.expected(100));
        (st.buckets, st.swept, st.paced, st.firsts) = (20, 280, 20 * 26, 20 * 100);
        let after = Density::of(&mut st, 43_300, 43_300, 20);
        assert_eq!(after.rate, d.rate);
        assert!(after.dense(100) >= 50, "{}", after.dense(100));
        // A young route (fewer than 256 buckets in all) has no pace yet.
        (st.buckets, st.swept) = (100, 100);
        assert_eq!(Density::of(&mut st, 43_300, 43_300, 20).dense(100), 20);
    }

    /// A log older than the one fed before it (another node's, say) is
    /// measured at the latest time seen: at its own, most buckets' first
    /// hits would lie ahead of it, the pace would be hits per second, and
    /// no bucket could be dense.
    #[test]
    fn an_older_log_fed_later_keeps_the_pace() {
        let mut st = RouteState {
            buckets: 300,
            swept: 0,
            paced: 300 * 26,
            firsts: 300 * 50_000,
            pace: 0.0,
            sweeps: Vec::new(),
            set_aside: Vec::new(),
        };
        let d = Density::of(&mut st, 10_000, 60_000, 20);
        assert!((d.rate - 0.0025).abs() < 1e-9, "{}", d.rate);
        assert!(d.dense(5_000) < 40, "{}", d.dense(5_000));
    }
}
