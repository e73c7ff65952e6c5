//! The recent lookups of one actor (on one route, or across routes), and the
//! statistics detectors judge them by: distinct objects, not-found share, the
//! densest block of numeric ids, and how sequential the walk was.
//!
//! A ring of at most `cap` lookups is kept per tracked actor; analysis sorts a
//! copy of the ids in a reused scratch buffer, so it allocates nothing once
//! warm. Detectors analyse every few lookups, not on every one.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::formats::Timestamp;

/// Gap (in id units) that still counts as "the same block": a sweep over
/// existing ids only, or a shuffled block partly visited, leaves gaps; random
/// customers spread over a large id space almost never come this close.
pub const BLOCK_GAP: u64 = 32;

/// Stored as a JSON array in state files: rings hold most of a state file.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(into = "LookupRow", from = "LookupRow")]
pub struct Lookup {
    pub ts: i64,
    pub id: u64,
    /// Low 32 bits of the principal hash (0 = anonymous).
    pub who: u32,
    /// Low 32 bits of the user-agent hash.
    pub ua: u32,
    pub not_found: bool,
}

type LookupRow = (i64, u64, u32, u32, bool);

impl From<Lookup> for LookupRow {
    fn from(l: Lookup) -> Self {
        (l.ts, l.id, l.who, l.ua, l.not_found)
    }
}

impl From<LookupRow> for Lookup {
    fn from((ts, id, who, ua, not_found): LookupRow) -> Self {
        Lookup {
            ts,
            id,
            who,
            ua,
            not_found,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "RingData")]
pub struct Ring {
    buf: VecDeque<Lookup>,
    /// Lookups ever pushed (for "analyse every k").
    pub pushed: u64,
    pub analysed_at: u64,
    /// The newest lookup's time, kept beside the buffer: baseline sampling
    /// and expiry ask it of hundreds of rings at a time, and reading it from
    /// the buffer cost a cache miss each.
    #[serde(skip)]
    last: Option<i64>,
    /// Sequence number (in `pushed`) of the newest lookup older than the
    /// one pushed before it. While that lookup is the oldest held or gone,
    /// the ring is in time order, and the lookups since a time are a
    /// suffix found by binary search: the checks on every few lookups then
    /// read a few entries, not the whole ring (a cache miss per line of
    /// it).
    #[serde(skip)]
    descent: u64,
}

/// What a state file holds of a ring.
#[derive(Deserialize)]
struct RingData {
    buf: VecDeque<Lookup>,
    pushed: u64,
    analysed_at: u64,
}

impl From<RingData> for Ring {
    fn from(d: RingData) -> Ring {
        let held = d.buf.len() as u64;
        let descent = (1..d.buf.len())
            .rev()
            .find(|&i| d.buf[i].ts < d.buf[i - 1].ts)
            .map_or(0, |i| (d.pushed.saturating_sub(held)) + i as u64);
        Ring {
            last: d.buf.back().map(|l| l.ts),
            buf: d.buf,
            pushed: d.pushed,
            analysed_at: d.analysed_at,
            descent,
        }
    }
}

impl Ring {
    pub fn push(&mut self, l: Lookup, cap: usize) {
        if self.buf.len() >= cap {
            self.buf.pop_front();
        }
        if self.last.is_some_and(|t| l.ts < t) && !self.buf.is_empty() {
            self.descent = self.pushed;
        }
        self.buf.push_back(l);
        self.last = Some(l.ts);
        self.pushed += 1;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Empty, as new, for a tracker taking over an evicted one's slot. A
    /// small buffer is kept; a large one is freed, so that recycled slots
    /// don't all come to hold full rings.
    pub fn clear(&mut self) {
        if self.buf.capacity() > 32 {
            self.buf = VecDeque::new();
        } else {
            self.buf.clear();
        }
        self.pushed = 0;
        self.analysed_at = 0;
        self.last = None;
        self.descent = 0;
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Time for another analysis: every 4 lookups while small, every
    /// len/8 once large, so a busy address costs O(1) amortised per lookup.
    pub fn due(&self) -> bool {
        self.pushed - self.analysed_at >= (self.buf.len() as u64 / 8).max(4)
    }

    /// Up to 10 distinct ids with `ts >= since`, the most recent first.
    pub fn recent_ids(&self, since: i64) -> Vec<u64> {
        let mut v = Vec::with_capacity(10);
        for l in self.buf.iter().rev().take_while(|l| l.ts >= since) {
            if v.len() == 10 {
                break;
            }
            if !v.contains(&l.id) {
                v.push(l.id);
            }
        }
        v
    }

    pub fn last_ts(&self) -> Option<i64> {
        self.last
    }

    /// Lookups with `ts >= since`: a cheap test of whether a window holds
    /// enough to be worth an [`analyse`] (a count, no copy or sort). The
    /// whole ring is counted, as `analyse` filters it: lines can arrive
    /// far out of time order (inputs read one after another).
    pub fn count_since(&self, since: i64) -> u64 {
        if self.in_order() {
            return (self.buf.len() - self.first_since(since)) as u64;
        }
        self.buf.iter().filter(|l| l.ts >= since).count() as u64
    }

    /// Lookups with `ts >= since` and an id within `reach` of `id`: a
    /// bound on the dense blocks that can hold `id` (one pass, no sort).
    pub fn count_near(&self, since: i64, id: u64, reach: u64) -> u64 {
        self.since(since)
            .filter(|l| l.id.abs_diff(id) <= reach)
            .count() as u64
    }

    /// The lookups with `ts >= since`, oldest first.
    pub fn since(&self, since: i64) -> impl Iterator<Item = &Lookup> {
        let start = if self.in_order() {
            self.first_since(since)
        } else {
            0
        };
        self.buf.range(start..).filter(move |l| l.ts >= since)
    }

    /// In a ring in time order, the first lookup with `ts >= since`. The
    /// search gallops back from the newest lookup before it halves: the
    /// windows asked for are mostly the recent end of the ring, which was
    /// just written and is in cache.
    fn first_since(&self, since: i64) -> usize {
        let b = &self.buf;
        // Invariant: every lookup from `hi` on is at or after `since`, and
        // the answer lies in lo..=hi.
        let (mut lo, mut hi) = (0, b.len());
        let mut step = 1;
        while hi > 0 {
            let i = hi.saturating_sub(step);
            if b[i].ts < since {
                lo = i + 1;
                break;
            }
            hi = i;
            step *= 2;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if b[mid].ts < since {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Whether the lookups held are in time order (see `descent`).
    fn in_order(&self) -> bool {
        // Written so that a state file with a wrong count reads as out of
        // order (the plain scan), not as an overflow.
        self.descent.saturating_add(self.buf.len() as u64) <= self.pushed
    }

    /// Drop entries older than `since`.
    pub fn expire(&mut self, since: i64) {
        while self.buf.front().is_some_and(|l| l.ts < since) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            self.last = None;
        }
    }

    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, Lookup> {
        self.buf.iter()
    }

    /// Approximate heap bytes.
    pub fn bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Lookup>()
    }
}

/// Statistics over the lookups of one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    pub requests: u64,
    pub distinct: u64,
    pub not_found: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub principals: u64,
    pub user_agents: u64,
    /// Densest block (numeric ids): count, min, max.
    pub block: Option<(u64, u64, u64)>,
    pub min: u64,
    pub max: u64,
    pub sequential_share: f64,
    pub longest_run: u64,
    pub median_stride: u64,
}

impl Analysis {
    pub fn not_found_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.not_found as f64 / self.requests as f64
        }
    }
    pub fn block_count(&self) -> u64 {
        self.block.map_or(0, |b| b.0)
    }
    /// Distinct ids per identity behind the actor (principals, or user
    /// agents divided by `ua_div` for anonymous crowds).
    pub fn per_identity(&self, ua_div: u64) -> f64 {
        let ids = self.principals.max(self.user_agents / ua_div.max(1)).max(1);
        self.distinct as f64 / ids as f64
    }
}

/// Reused buffers for analysis.
#[derive(Default)]
pub struct Scratch {
    ids: Vec<u64>,
    stack: Vec<u64>,
    strides: Vec<u64>,
    who: Vec<u32>,
    ua: Vec<u32>,
}

/// Distinct ids among the lookups with `ts >= since` (0 when there are
/// none): what a baseline refresh records, without the rest of [`analyse`].
pub fn distinct_since(ring: &Ring, since: i64, s: &mut Scratch) -> u64 {
    s.ids.clear();
    s.ids.extend(ring.since(since).map(|l| l.id));
    s.ids.sort_unstable();
    s.ids.dedup();
    s.ids.len() as u64
}

/// The last analysis of a ring over several windows. Windows ending now
/// nest, so one holding as many lookups as the window analysed before holds
/// the same lookups, and has the same analysis: a fast walk fills a ring
/// within the shortest window, and every window of it would otherwise sort
/// the same ids again.
#[derive(Default)]
pub struct Reuse(Option<(u64, Analysis)>);

impl Reuse {
    /// [`analyse`] of the `held` lookups with `ts >= since` (as
    /// [`Ring::count_since`] counts them), or the last analysis when it
    /// covered as many. Only for windows of one ring at one moment.
    pub fn analyse(
        &mut self,
        ring: &Ring,
        since: i64,
        held: u64,
        numeric: bool,
        s: &mut Scratch,
    ) -> Analysis {
        debug_assert_eq!(held, ring.count_since(since), "the window's own count");
        if let Some((n, a)) = &self.0
            && *n == held
        {
            return a.clone();
        }
        let a = analyse(ring, since, numeric, s);
        self.0 = Some((held, a.clone()));
        a
    }
}

/// Analyse the lookups with `ts >= since`. `numeric` enables the block and
/// stride statistics.
pub fn analyse(ring: &Ring, since: i64, numeric: bool, s: &mut Scratch) -> Analysis {
    s.ids.clear();
    s.strides.clear();
    s.who.clear();
    s.ua.clear();
    let mut a = Analysis {
        first_ts: i64::MAX,
        ..Default::default()
    };
    let mut prev: Option<u64> = None;
    let mut run = 0u64;
    let mut small_steps = 0u64;
    let mut steps = 0u64;
    for l in ring.since(since) {
        a.requests += 1;
        a.not_found += l.not_found as u64;
        a.first_ts = a.first_ts.min(l.ts);
        a.last_ts = a.last_ts.max(l.ts);
        s.ids.push(l.id);
        if l.who != 0 {
            s.who.push(l.who);
        }
        s.ua.push(l.ua);
        if numeric {
            if let Some(p) = prev
                && l.id != p
            {
                steps += 1;
                let d = l.id.abs_diff(p);
                s.strides.push(d);
                if l.id > p && d <= BLOCK_GAP {
                    small_steps += 1;
                    run += 1;
                    a.longest_run = a.longest_run.max(run + 1);
                } else {
                    run = 0;
                }
            }
            prev = Some(l.id);
        }
    }
    if a.requests == 0 {
        a.first_ts = 0;
        return a;
    }
    s.ids.sort_unstable();
    s.ids.dedup();
    a.distinct = s.ids.len() as u64;
    a.principals = count_distinct(&mut s.who);
    a.user_agents = count_distinct(&mut s.ua);
    if numeric {
        a.min = s.ids[0];
        a.max = *s.ids.last().expect("non-empty");
        a.block = Some(densest_block(&s.ids, &mut s.stack));
        a.sequential_share = if steps == 0 {
            0.0
        } else {
            small_steps as f64 / steps as f64
        };
        if !s.strides.is_empty() {
            let mid = s.strides.len() / 2;
            a.median_stride = *s.strides.select_nth_unstable(mid).1;
        }
    }
    a
}

/// Distinct values in `v` (which it may reorder). Behind one actor there
/// are nearly always a handful of principals and user agents: those are
/// counted in one pass, and only more than that falls back to a sort.
fn count_distinct(v: &mut [u32]) -> u64 {
    const FEW: usize = 8;
    let mut seen = [0u32; FEW];
    let mut n = 0;
    for &x in v.iter() {
        if seen[..n].contains(&x) {
            continue;
        }
        if n == FEW {
            v.sort_unstable();
            return v.chunk_by(|a, b| a == b).count() as u64;
        }
        seen[n] = x;
        n += 1;
    }
    n as u64
}

/// The largest set of consecutive sorted ids whose average gap is at most
/// [`BLOCK_GAP`]: (count, first id, last id). A shuffled walk that has only
/// visited part of its block yet, or that skips ids known not to exist,
/// leaves uneven gaps; requiring every gap to be small would miss it, while
/// the average stays small. Random ids over a large space have an average
/// gap of the space divided by their number, orders of magnitude larger.
///
/// With a_i = id_i - GAP*i the condition for i..=j is a_j <= a_i: the widest
/// such pair is found in O(n) with a stack of prefix maxima of a (`stack` is
/// scratch space).
pub fn densest_block(ids: &[u64], stack: &mut Vec<u64>) -> (u64, u64, u64) {
    let a = |i: usize| ids[i] as i128 - (BLOCK_GAP as i128) * i as i128;
    stack.clear();
    for i in 0..ids.len() {
        if stack.last().is_none_or(|&k| a(i) > a(k as usize)) {
            stack.push(i as u64);
        }
    }
    let mut best = (1u64, ids[0], ids[0]);
    for j in (0..ids.len()).rev() {
        while let Some(&k) = stack.last() {
            let i = k as usize;
            if a(i) >= a(j) {
                if i <= j && (j - i + 1) as u64 > best.0 {
                    best = ((j - i + 1) as u64, ids[i], ids[j]);
                }
                stack.pop();
            } else {
                break;
            }
        }
    }
    best
}

/// Seconds of a timestamp (detectors work in whole seconds).
pub fn secs(t: Timestamp) -> i64 {
    t.secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[u64], nf_every: usize) -> Ring {
        let mut r = Ring::default();
        for (i, id) in ids.iter().enumerate() {
            r.push(
                Lookup {
                    ts: i as i64,
                    id: *id,
                    who: 0,
                    ua: (i % 3) as u32,
                    not_found: nf_every > 0 && i % nf_every == 0,
                },
                1000,
            );
        }
        r
    }

    /// The binary search on a ring in time order finds what a scan of the
    /// whole ring finds, through pushes (sometimes back in time), a full
    /// ring dropping its oldest, expiry, clearing and a state-file round
    /// trip.
    #[test]
    fn lookups_since_match_a_full_scan() {
        let mut rng = crate::test_rng::Rng::new(0x853c_49e6_748f_ea9b);
        let mut next = |n: u64| rng.below(n);
        let mut r = Ring::default();
        let mut now = 1_000i64;
        let (mut ordered, mut checks) = (0, 0);
        for step in 0..30_000u64 {
            now += next(5) as i64;
            // Now and then a line from the past (inputs read in turn).
            let ts = if next(50) == 0 {
                now - next(400) as i64
            } else {
                now
            };
            let l = Lookup {
                ts,
                id: step,
                who: 0,
                ua: 0,
                not_found: false,
            };
            r.push(l, 64);
            match next(500) {
                0 => r.expire(now - next(200) as i64),
                1 => r.clear(),
                2 => r = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap(),
                _ => {}
            }
            let since = now - next(300) as i64;
            let want: Vec<u64> = r.iter().filter(|l| l.ts >= since).map(|l| l.id).collect();
            let got: Vec<u64> = r.since(since).map(|l| l.id).collect();
            assert_eq!(got, want, "step {step}");
            assert_eq!(r.count_since(since), want.len() as u64, "step {step}");
            ordered += r.in_order() as u32;
            checks += 1;
        }
        // Both paths were taken.
        assert!(
            ordered > checks / 4 && ordered < checks,
            "{ordered} of {checks}"
        );
    }

    #[test]
    fn sequential_walk() {
        let ids: Vec<u64> = (1000..1100).collect();
        let a = analyse(&ring(&ids, 0), 0, true, &mut Scratch::default());
        assert_eq!((a.requests, a.distinct, a.block_count()), (100, 100, 100));
        assert_eq!(a.sequential_share, 1.0);
        assert_eq!(a.longest_run, 100);
        assert_eq!(a.median_stride, 1);
        assert_eq!((a.min, a.max), (1000, 1099));
        let r = ring(&ids, 0);
        assert_eq!(r.recent_ids(0).len(), 10);
        assert_eq!(r.recent_ids(0)[0], 1099);
    }

    #[test]
    fn shuffled_block_is_still_a_block() {
        // A block visited in a scrambled order, with every fourth id missing.
        let mut ids: Vec<u64> = (0..400u64)
            .filter(|i| i % 4 != 3)
            .map(|i| 5_000 + i)
            .collect();
        let n = ids.len();
        for i in 0..n {
            ids.swap(i, (i * 7919 + 13) % n);
        }
        let a = analyse(&ring(&ids, 0), 0, true, &mut Scratch::default());
        assert_eq!(a.block_count(), 300);
        assert!(a.sequential_share < 0.5);
    }

    #[test]
    fn random_ids_have_no_block() {
        let ids: Vec<u64> = (0..300u64)
            .map(|i| crate::state::hll::mix(i) % 10_000_000)
            .collect();
        let a = analyse(&ring(&ids, 4), 0, true, &mut Scratch::default());
        assert!(a.block_count() < 5, "{}", a.block_count());
        assert!((a.not_found_ratio() - 0.25).abs() < 0.01);
        assert_eq!(a.user_agents, 3);
    }

    #[test]
    fn distinct_count_with_and_without_the_sort() {
        for (n, modulo) in [
            (0u32, 1u32),
            (50, 1),
            (50, 8),
            (50, 9),
            (300, 40),
            (300, 300),
        ] {
            let mut v: Vec<u32> = (0..n).map(|i| (i * 7919) % modulo).collect();
            let mut want = v.clone();
            want.sort_unstable();
            want.dedup();
            assert_eq!(
                count_distinct(&mut v),
                want.len() as u64,
                "{n} mod {modulo}"
            );
        }
    }

    #[test]
    fn densest_block_matches_brute_force() {
        let mut st = Vec::new();
        for seed in 0..200u64 {
            let n = 1 + (seed % 40) as usize;
            let mut ids: Vec<u64> = (0..n as u64)
                .map(|i| crate::state::hll::mix(seed * 1000 + i) % 3000)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let mut best = 1;
            for i in 0..ids.len() {
                for j in i..ids.len() {
                    if ids[j] - ids[i] <= BLOCK_GAP * (j - i) as u64 {
                        best = best.max(j - i + 1);
                    }
                }
            }
            let (c, lo, hi) = densest_block(&ids, &mut st);
            assert_eq!(c as usize, best, "seed {seed}");
            assert!(hi - lo <= BLOCK_GAP * (c - 1));
        }
    }

    #[test]
    fn densest_block_by_average_gap() {
        let mut st = Vec::new();
        // 30 ids 50 apart (avg gap 50 > 32) then 40 ids 20 apart.
        let mut ids: Vec<u64> = (0..30).map(|i| i * 50).collect();
        ids.extend((0..40).map(|i| 10_000 + i * 20));
        assert_eq!(densest_block(&ids, &mut st), (40, 10_000, 10_780));
        // Uneven gaps that average below 32 form one block.
        let ids: Vec<u64> = (0..100u64).map(|i| i * 30 + (i % 3) * 9).collect();
        assert_eq!(densest_block(&ids, &mut st).0, 100);
        assert_eq!(densest_block(&[7], &mut st), (1, 7, 7));
    }

    #[test]
    fn distinct_since_agrees_with_analyse() {
        let mut r = Ring::default();
        for i in 0..300u64 {
            r.push(
                Lookup {
                    ts: i as i64,
                    id: i % 37 + (i / 100) * 1000,
                    who: 0,
                    ua: 1,
                    not_found: false,
                },
                256,
            );
        }
        let mut s = Scratch::default();
        for since in [0, 100, 250, 299, 400] {
            let a = analyse(&r, since, true, &mut s);
            assert_eq!(
                distinct_since(&r, since, &mut s),
                a.distinct,
                "since {since}"
            );
        }
        assert_eq!(distinct_since(&r, 400, &mut s), 0);
    }

    /// Windows analysed one after another, in any order, give what each
    /// analysed alone gives, also in a ring out of time order and when a
    /// window holds the same lookups as the one before.
    #[test]
    fn a_reused_analysis_is_the_windows_own() {
        let mut rng = crate::test_rng::Rng::new(0x9e37_79b9_7f4a_7c15);
        for round in 0..200 {
            let mut r = Ring::default();
            let mut now = 10_000i64;
            for _ in 0..rng.below(300) + 1 {
                // Mostly forward, at times back (inputs read one by one).
                now += rng.below(20) as i64 - if rng.below(10) == 0 { 50 } else { 0 };
                r.push(
                    Lookup {
                        ts: now,
                        id: rng.below(400),
                        who: rng.below(3) as u32,
                        ua: rng.below(5) as u32,
                        not_found: rng.below(4) == 0,
                    },
                    256,
                );
            }
            let mut s = Scratch::default();
            let mut reuse = Reuse::default();
            for _ in 0..4 {
                let since = now - [0, 30, 60, 600, 5000][rng.below(5) as usize];
                let held = r.count_since(since);
                let numeric = round % 2 == 0;
                assert_eq!(
                    reuse.analyse(&r, since, held, numeric, &mut s),
                    analyse(&r, since, numeric, &mut s),
                    "round {round}, since {since}"
                );
            }
        }
    }

    /// The bound the slow sweep checks before an analysis: a dense block
    /// holding an id has no more ids than the lookups within
    /// `BLOCK_GAP * (held - 1)` of it. Tried on walks (shuffled, with gaps)
    /// mixed with scattered ids, for the id of every lookup held.
    #[test]
    fn a_block_holding_an_id_lies_within_reach_of_it() {
        let mut rng = crate::test_rng::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut s = Scratch::default();
        let mut tight = 0;
        for round in 0..300 {
            let mut r = Ring::default();
            let base = rng.below(1_000_000);
            let step = 1 + rng.below(40);
            let n = rng.below(300) + 1;
            for i in 0..n {
                let id = if rng.below(3) == 0 {
                    rng.below(2_000_000)
                } else {
                    base + (i * step) % 900 + rng.below(step)
                };
                let l = Lookup {
                    ts: i as i64,
                    id,
                    who: 0,
                    ua: 0,
                    not_found: false,
                };
                r.push(l, 256);
            }
            let since = rng.below(n) as i64;
            let held = r.count_since(since);
            let a = analyse(&r, since, true, &mut s);
            let Some((count, lo, hi)) = a.block else {
                continue;
            };
            for l in r.since(since) {
                if l.id < lo || l.id > hi {
                    continue;
                }
                let near = r.count_near(since, l.id, BLOCK_GAP * held.saturating_sub(1));
                assert!(
                    near >= count,
                    "round {round}: {near} near {}, block of {count}",
                    l.id
                );
                tight += (near == count) as u32;
            }
        }
        assert!(tight > 0, "the bound is met exactly at times");
    }

    #[test]
    fn last_time_follows_pushes_expiry_and_state_files() {
        let mut r = ring(&[5, 6, 7], 0);
        assert_eq!(r.last_ts(), Some(2));
        let back: Ring = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.last_ts(), Some(2));
        assert_eq!(back.len(), 3);
        r.expire(2);
        assert_eq!(r.last_ts(), Some(2), "the newest is still there");
        r.expire(3);
        assert_eq!(r.last_ts(), None);
    }

    #[test]
    fn window_filter() {
        let ids: Vec<u64> = (0..100).collect();
        let a = analyse(&ring(&ids, 0), 90, true, &mut Scratch::default());
        assert_eq!(a.requests, 10);
    }
}
