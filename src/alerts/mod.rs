//! Alerts: detector findings become incidents, and incidents become a few
//! transitions on stdout (opened, escalated, closed), never one per line.
//!
//! An incident is keyed by detector, actor and route. It opens on the first
//! finding, escalates when a finding's severity is higher, and closes once no
//! finding arrived for the detector's quiet period (in event time). Ids are
//! derived from the incident's key and start, so they are the same on every
//! run and in every mode.

pub mod escape;
pub mod sink;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detectors::Finding;
use crate::formats::Timestamp;
use crate::state::stable_hash;

pub use self::sink::{AlertSink, JsonSink, TextSink};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn status(self) -> crate::exit::Status {
        match self {
            Severity::Warning => crate::exit::Status::Warning,
            Severity::Critical => crate::exit::Status::Critical,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    Enumeration,
    SlowSweep,
    DistributedSweep,
    Bola,
    PaginationHarvest,
    CredentialStuffing,
}

impl DetectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Enumeration => "enumeration",
            DetectorKind::SlowSweep => "slow_sweep",
            DetectorKind::DistributedSweep => "distributed_sweep",
            DetectorKind::Bola => "bola",
            DetectorKind::PaginationHarvest => "pagination_harvest",
            DetectorKind::CredentialStuffing => "credential_stuffing",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Opened,
    Escalated,
    Closed,
}

/// What a flagged actor has done since it was flagged: an incident
/// outlives the window that raised it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Lookups since it was flagged (those of the window that flagged it
    /// included).
    pub requests: u64,
    /// Distinct objects among them (HyperLogLog: about ±6% past a few
    /// hundred, exact-ish below).
    pub distinct_objects: u64,
}

/// Id ranges and stride statistics of numeric lookups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdStats {
    pub min: u64,
    pub max: u64,
    /// Distinct ids / (max - min + 1) over the densest block.
    pub coverage: f64,
    /// Share of consecutive lookups (in time order) that stepped forward by
    /// a small stride.
    pub sequential_share: f64,
    pub longest_run: u64,
    pub median_stride: u64,
}

/// One transition of one incident: the JSON object written on stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub event: Transition,
    pub detector: DetectorKind,
    pub severity: Severity,
    pub actor_kind: String,
    pub actor: Vec<String>,
    pub route: String,
    pub first_seen: String,
    pub last_seen: String,
    pub detected_at: String,
    pub window_secs: i64,
    pub requests: u64,
    pub distinct_objects: u64,
    pub not_found_ratio: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<IdStats>,
    pub sample_ids: Vec<String>,
    pub sample_lines: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities_behind: Option<Identities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_page: Option<u32>,
    /// Per-actor incidents: the whole of it so far, beyond the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_flagged: Option<Totals>,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identities {
    pub principals: u64,
    pub user_agents: u64,
}

/// An open incident.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub severity: Severity,
    pub first_seen: Timestamp,
    pub last_signal: Timestamp,
    pub quiet_secs: i64,
    /// Up to 3 escaped log lines that produced findings.
    pub samples: Vec<String>,
    /// Up to 10 object ids seen over the incident's life.
    pub sample_ids: Vec<String>,
    /// Every address named over the incident's life (crowd incidents), sorted.
    pub crowd: Vec<u128>,
    /// The latest finding: the evidence shown in the next transition.
    pub finding: Finding,
    /// Display name of a single actor, fixed when the incident opened.
    #[serde(default)]
    pub label: String,
}

/// Open incidents, keyed by (detector, actor/route key). Rendering to text
/// is left to the caller and done only for transitions, never per finding.
#[derive(Clone, Serialize, Deserialize)]
pub struct Incidents {
    #[serde(with = "open_as_vec")]
    open: BTreeMap<(DetectorKind, u64), Incident>,
    /// Incidents opened so far per key, so that an actor that comes back
    /// after its incident closed gets a new id (`…-2`). Bounded.
    #[serde(default = "reopen_map")]
    reopened: crate::state::BoundedMap<(DetectorKind, u64), u32>,
    pub opened: u64,
    pub worst: Option<Severity>,
    /// No open incident closes before this (a lower bound), so `expire`,
    /// called on every tick of event time, usually returns at once.
    #[serde(skip, default = "min_time")]
    earliest_close: Timestamp,
}

fn min_time() -> Timestamp {
    Timestamp(i64::MIN)
}

/// JSON maps need string keys: keep open incidents as a list in state files.
mod open_as_vec {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Map = BTreeMap<(DetectorKind, u64), Incident>;

    pub fn serialize<S: Serializer>(m: &Map, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        let v: Vec<((DetectorKind, u64), Incident)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

const MAX_SAMPLE_LINES: usize = 3;
const MAX_REOPEN_KEYS: usize = 100_000;

fn reopen_map() -> crate::state::BoundedMap<(DetectorKind, u64), u32> {
    crate::state::BoundedMap::new(MAX_REOPEN_KEYS)
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents {
            open: BTreeMap::new(),
            reopened: reopen_map(),
            opened: 0,
            worst: None,
            earliest_close: min_time(),
        }
    }
}
const MAX_SAMPLE_IDS: usize = 10;

impl Incidents {
    pub fn len(&self) -> usize {
        self.open.len()
    }
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The ids of the incidents still open.
    pub fn open_ids(&self) -> impl Iterator<Item = &str> {
        self.open.values().map(|i| i.id.as_str())
    }

    /// The incidents still open.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// Worst severity among incidents still open.
    pub fn active_worst(&self) -> Option<Severity> {
        self.open.values().map(|i| i.severity).max()
    }

    /// Apply a finding. Returns the transition to emit (opened or
    /// escalated) with the incident, if any.
    pub fn apply(
        &mut self,
        f: Finding,
        key: u64,
        line: Option<String>,
        object_text: Option<String>,
        label: Option<String>,
    ) -> Option<(Transition, &Incident)> {
        let k = (f.detector, key);
        let mut transition = None;
        let inc = match self.open.entry(k) {
            std::collections::btree_map::Entry::Vacant(v) => {
                // Derived from the incident key and how many incidents that
                // key has opened: the same on every run and in every mode,
                // unaffected by lines a few seconds out of order, and new
                // when an actor comes back after its incident closed.
                let (n, _) = self.reopened.touch(&k, || 0);
                *n += 1;
                let id = format!("{}-{:016x}-{n}", f.detector.as_str(), key);
                self.opened += 1;
                self.worst = self.worst.max(Some(f.severity));
                transition = Some(Transition::Opened);
                self.earliest_close = self.earliest_close.min(f.ts.add_secs(f.quiet_secs));
                v.insert(Incident {
                    id,
                    severity: f.severity,
                    first_seen: f.evidence.first_seen,
                    last_signal: f.ts,
                    quiet_secs: f.quiet_secs,
                    samples: Vec::new(),
                    sample_ids: Vec::new(),
                    crowd: Vec::new(),
                    finding: f,
                    label: label.unwrap_or_default(),
                })
            }
            std::collections::btree_map::Entry::Occupied(o) => {
                let inc = o.into_mut();
                if f.severity > inc.severity {
                    inc.severity = f.severity;
                    self.worst = self.worst.max(Some(f.severity));
                    transition = Some(Transition::Escalated);
                }
                inc.last_signal = inc.last_signal.max(f.ts);
                inc.first_seen = inc.first_seen.min(f.evidence.first_seen);
                inc.finding = f;
                inc
            }
        };
        if let Some(l) = line
            && inc.samples.len() < MAX_SAMPLE_LINES
            && !inc.samples.contains(&l)
        {
            inc.samples.push(l);
        }
        let ids = inc
            .finding
            .evidence
            .sample_ids
            .iter()
            .map(|v| v.to_string())
            .chain(object_text);
        for id in ids {
            if inc.sample_ids.len() < MAX_SAMPLE_IDS && !inc.sample_ids.contains(&id) {
                inc.sample_ids.push(id);
            }
        }
        if let crate::detectors::ActorRef::Addresses(v) = &inc.finding.actor {
            // Participant lists only grow: the block list needs everyone.
            // Both lists are sorted (a sweep refreshes every few seconds
            // with its whole crowd), so merge rather than sort again.
            inc.crowd = merge_sorted(&inc.crowd, v);
        }
        transition.map(|t| (t, &*inc))
    }

    /// Close incidents quiet for their quiet period by `now`; each closes at
    /// its last signal plus the quiet period. Sorted by key (deterministic).
    pub fn expire(&mut self, now: Timestamp) -> Vec<(Incident, Timestamp)> {
        if now <= self.earliest_close {
            return Vec::new();
        }
        let done: Vec<(DetectorKind, u64)> = self
            .open
            .iter()
            .filter(|(_, i)| i.last_signal.add_secs(i.quiet_secs) < now)
            .map(|(k, _)| *k)
            .collect();
        let closed = done
            .into_iter()
            .filter_map(|k| self.open.remove(&k))
            .map(|i| {
                let at = i.last_signal.add_secs(i.quiet_secs);
                (i, at)
            })
            .collect();
        self.earliest_close = self
            .open
            .values()
            .map(|i| i.last_signal.add_secs(i.quiet_secs))
            .min()
            .unwrap_or(Timestamp(i64::MAX));
        closed
    }

    /// Close everything (end of a scan) at event time `now`.
    pub fn close_all(&mut self, now: Timestamp) -> Vec<(Incident, Timestamp)> {
        std::mem::take(&mut self.open)
            .into_values()
            .map(|i| (i, now))
            .collect()
    }
}

/// The union of two sorted, deduplicated lists, sorted and deduplicated.
fn merge_sorted(a: &[u128], b: &[u128]) -> Vec<u128> {
    debug_assert!(a.is_sorted() && b.is_sorted());
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        out.push(x);
        i += (a[i] == x) as usize;
        j += (b[j] == x) as usize;
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The incident key for a finding: detector scope (actor or crowd) and the
/// route, by its template rather than its table position, so the key is the
/// same whatever lines were read first (a tail started mid-file, a check
/// with old state).
pub fn incident_key(f: &Finding, route_label: &str) -> u64 {
    let mut buf = Vec::with_capacity(16 + route_label.len());
    buf.extend_from_slice(&f.scope_key.to_le_bytes());
    buf.extend_from_slice(route_label.as_bytes());
    stable_hash(&buf)
}

#[cfg(test)]
mod tests {
    use super::merge_sorted;

    #[test]
    fn merging_crowds_keeps_one_sorted_copy_of_each() {
        let cases: [(&[u128], &[u128]); 4] = [
            (&[], &[]),
            (&[1, 5, 9], &[]),
            (&[1, 5, 9], &[0, 5, 10, 11]),
            (&[2, 3], &[2, 3]),
        ];
        for (a, b) in cases {
            let mut want: Vec<u128> = a.iter().chain(b).copied().collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(merge_sorted(a, b), want);
        }
    }
}
