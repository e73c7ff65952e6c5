//! Learned baselines: per route (never per client), an hdrhistogram of a
//! per-actor quantity (distinct objects in a window, deepest page, failures
//! in a window). The threshold is the larger of an absolute floor and a
//! multiple of the baseline's high percentile, once the baseline has seen
//! enough actor windows to mean anything.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::routes::RouteId;
use crate::state::BoundedMap;

/// Actors sampled (the most recently active) per shard each time a
/// baseline is refreshed, from at most four times as many most recently
/// seen. Enough for a 99th percentile, and it keeps a refresh from costing
/// one analysis per tracked actor.
pub const SAMPLE_ACTORS: usize = 128;

/// When a tracker was last touched, as its detector's latest event time
/// then. That never decreases from one touch to the next, so it never
/// increases along the recency list (newest first), and a tracker's last
/// lookup is never later than it. State files written before it existed
/// give `i64::MAX`, which never ends a walk early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched(pub i64);

impl Default for Touched {
    fn default() -> Self {
        Touched(i64::MAX)
    }
}

/// How often a window's baseline is refreshed: once per window length
/// (sampling each actor once per window is plenty for a percentile), and
/// no more often than every five minutes.
pub fn refresh_every(w: &super::Window) -> i64 {
    w.secs.max(300)
}

/// When the next baseline refresh of any window falls due, after the last
/// refreshes `last`; `expire_due` is when the detector's next expiry is.
pub fn refresh_due(windows: &[super::Window], last: &[i64], expire_due: i64) -> i64 {
    windows
        .iter()
        .zip(last)
        .map(|(w, last)| last.saturating_add(refresh_every(w)))
        .fold(expire_due, i64::min)
}

/// The trackers a baseline refresh learns from: up to [`SAMPLE_ACTORS`] of
/// the `4 * SAMPLE_ACTORS` most recently seen for which `teaches` holds
/// (attackers and idle actors don't teach the baseline). The walk goes
/// newest first and stops at the first tracker `touched` before `since`:
/// none behind it can have a lookup in the window, and on a quiet API the
/// walk would otherwise touch hundreds of cold trackers per refresh.
pub fn sample<'a, K: std::hash::Hash + Eq + Clone, T>(
    trackers: &'a crate::state::BoundedMap<K, T>,
    touched: impl Fn(&T) -> Touched + 'a,
    since: i64,
    teaches: impl Fn(&T) -> bool + 'a,
) -> impl Iterator<Item = (&'a K, &'a T)> + 'a {
    trackers
        .iter_recent()
        .take(4 * SAMPLE_ACTORS)
        .take_while(move |(_, t)| touched(t).0 >= since)
        .filter(move |(_, t)| teaches(t))
        .take(SAMPLE_ACTORS)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Actor windows a baseline must hold before it can raise a threshold.
    pub warmup_samples: u64,
    /// Percentile of the baseline that normal traffic reaches.
    pub percentile: f64,
    /// How far above that percentile an actor must be.
    pub multiplier: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            warmup_samples: 200,
            percentile: 99.0,
            multiplier: 3.0,
        }
    }
}

/// One histogram per (route, window index), at most [`cap_for`] of them:
/// routes are many (up to the route table's cap) and every shard of every
/// detector keeps its own, so the least recently recorded go first.
#[derive(Serialize, Deserialize)]
pub struct Baselines {
    #[serde(skip)]
    cfg: Config,
    #[serde(with = "histograms")]
    h: BoundedMap<(RouteId, u8), Histogram<u32>>,
}

/// Histograms a detector's shard keeps for a tracker budget of `budget`:
/// half as many as trackers, from 64 to 1,024 (a histogram of large values
/// takes up to 9 KB, of the usual counts 1–2 KB). 614 at the default
/// ceiling: a few hundred lookup routes, each with its windows.
pub fn cap_for(budget: usize) -> usize {
    (budget / 2).clamp(64, 1024)
}

/// Histograms are kept in state files as their recorded (value, count)
/// pairs, sorted by key so the file is the same for the same state.
mod histograms {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Map = BoundedMap<(RouteId, u8), Histogram<u32>>;
    type Flat = Vec<((RouteId, u8), Vec<(u64, u64)>)>;

    /// Least recently recorded first, so that a restored map evicts what
    /// the original would have (files written before the cap are sorted by
    /// key, and load in that order).
    pub fn serialize<S: Serializer>(m: &Map, s: S) -> Result<S::Ok, S::Error> {
        let flat: Flat = m
            .iter_lru()
            .map(|(k, h)| {
                (
                    *k,
                    h.iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value() as u64))
                        .collect(),
                )
            })
            .collect();
        s.collect_seq(flat)
    }

    /// With the largest cap: the running configuration's is set by
    /// [`Baselines::restore_config`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        let flat: Flat = Flat::deserialize(d)?;
        let mut m = Map::new(cap_for(usize::MAX));
        for (k, pairs) in flat {
            let mut h = new_histogram();
            for (v, c) in pairs {
                h.record_n(v.clamp(1, MAX_VALUE), c.min(u32::MAX as u64) as u32)
                    .map_err(serde::de::Error::custom)?;
            }
            let mut h = Some(h);
            m.touch(&k, || h.take().expect("fresh key"));
        }
        Ok(m)
    }
}

fn new_histogram() -> Histogram<u32> {
    Histogram::new(2).expect("static histogram precision")
}

/// Values above this are clamped (counts, not latencies).
const MAX_VALUE: u64 = 10_000_000;

impl Baselines {
    /// At most `cap` histograms (see [`cap_for`]).
    pub fn new(cfg: &Config, cap: usize) -> Self {
        Baselines {
            cfg: cfg.clone(),
            h: BoundedMap::new(cap),
        }
    }

    pub fn record(&mut self, route: RouteId, window: u8, value: u64) {
        let (h, _) = self.h.touch(&(route, window), new_histogram);
        let _ = h.record(value.clamp(1, MAX_VALUE));
    }

    /// The threshold for (route, window): `max(floor, multiplier x pXX)`.
    pub fn threshold(&self, route: RouteId, window: u8, floor: u64) -> u64 {
        match self.h.get(&(route, window)) {
            Some(h) if h.len() >= self.cfg.warmup_samples => {
                let p = h.value_at_percentile(self.cfg.percentile);
                floor.max((p as f64 * self.cfg.multiplier).ceil() as u64)
            }
            _ => floor,
        }
    }

    pub fn len(&self) -> usize {
        self.h.len()
    }

    /// After loading from a state file: take the running configuration.
    pub fn restore_config(&mut self, from: &Baselines) {
        self.cfg = from.cfg.clone();
        self.h.set_capacity(from.h.capacity());
    }
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many routes record, a shard keeps at most its cap of
    /// histograms, the most recently recorded; a state-file round trip
    /// keeps them, their order, and (once the running configuration is
    /// restored) the cap.
    #[test]
    fn histograms_are_capped_and_survive_a_round_trip() {
        let cfg = Config {
            warmup_samples: 1,
            ..Config::default()
        };
        let mut b = Baselines::new(&cfg, 8);
        for route in 0..100u32 {
            for w in 0..3u8 {
                b.record(route, w, 10 + route as u64);
            }
            assert!(b.len() <= 8);
        }
        // The newest (route, window) pairs are the ones kept.
        assert_eq!(b.threshold(99, 2, 1), 327);
        assert_eq!(b.threshold(97, 2, 1), 321);
        assert_eq!(b.threshold(97, 0, 1), 1);
        let json = serde_json::to_string(&b).unwrap();
        let mut back: Baselines = serde_json::from_str(&json).unwrap();
        back.restore_config(&b);
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        // The restored map evicts what the original would have.
        b.record(5, 0, 1);
        back.record(5, 0, 1);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_eq!(back.threshold(97, 1, 1), 1);
    }

    /// The growing histogram answers every percentile as one sized for
    /// `MAX_VALUE` from the start does, and stays small while the values
    /// are small.
    #[test]
    fn growing_histograms_answer_as_full_ones() {
        let mut rng = crate::test_rng::Rng::new(0x5851_f42d_4c95_7f2d);
        for spread in [10, 300, 5_000, MAX_VALUE] {
            let mut grown = new_histogram();
            let mut full = Histogram::<u32>::new_with_bounds(1, MAX_VALUE, 2).unwrap();
            for _ in 0..5_000 {
                // Mostly small, now and then up to `spread`.
                let v = if rng.below(10) == 0 {
                    rng.below(spread)
                } else {
                    rng.below(spread.min(50))
                };
                grown.record(v.clamp(1, MAX_VALUE)).unwrap();
                full.record(v.clamp(1, MAX_VALUE)).unwrap();
            }
            for p in [0.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
                assert_eq!(
                    grown.value_at_percentile(p),
                    full.value_at_percentile(p),
                    "spread {spread}, p{p}"
                );
            }
            if spread <= 300 {
                assert!(grown.distinct_values() * 4 <= full.distinct_values());
            }
        }
    }

    /// A tracker touched lately whose last lookup is old (a BOLA actor
    /// browsing search pages) must not end the walk: only one touched
    /// before the window does.
    #[test]
    fn sampling_walks_past_recent_trackers_with_old_lookups() {
        // (touched, last lookup)
        let mut m = crate::state::BoundedMap::new(16);
        m.touch(&1, || (Touched(500), 500)); // oldest: touched before the window
        m.touch(&2, || (Touched(1_000), 990)); // in the window
        m.touch(&3, || (Touched(1_010), 100)); // touched lately, lookup old
        m.touch(&4, || (Touched(i64::MAX), 995)); // from an old state file
        let keys: Vec<i32> = sample(&m, |t| t.0, 900, |t| t.1 >= 900)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(keys, [4, 2]);
    }

    #[test]
    fn floor_until_warm_then_learned() {
        let mut b = Baselines::new(
            &Config {
                warmup_samples: 100,
                percentile: 99.0,
                multiplier: 3.0,
            },
            64,
        );
        assert_eq!(b.threshold(1, 0, 40), 40);
        for i in 0..99 {
            b.record(1, 0, 10 + i % 5);
        }
        assert_eq!(b.threshold(1, 0, 5), 5, "still warming up");
        for _ in 0..10 {
            b.record(1, 0, 30);
        }
        // p99 is 30 now: 3 x 30 = 90 beats the floor.
        assert_eq!(b.threshold(1, 0, 40), 90);
        assert_eq!(b.threshold(2, 0, 40), 40, "baselines are per route");
    }
}
