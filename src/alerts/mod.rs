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
    pub samples: Vec<String>,
    /// The latest rendered alert (its event field is rewritten per emit).
    pub last: Alert,
}

/// Open incidents, keyed by (detector, actor/route key).
#[derive(Default, Serialize, Deserialize)]
pub struct Incidents {
    open: BTreeMap<(DetectorKind, u64), Incident>,
    pub opened: u64,
    pub worst: Option<Severity>,
}

const MAX_SAMPLE_LINES: usize = 3;

impl Incidents {
    pub fn len(&self) -> usize {
        self.open.len()
    }
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Worst severity among incidents still open.
    pub fn active_worst(&self) -> Option<Severity> {
        self.open.values().map(|i| i.severity).max()
    }

    /// Apply a finding, rendered as `alert`. Returns the transition to
    /// emit, if any.
    pub fn apply(
        &mut self,
        f: &Finding,
        key: u64,
        line: Option<String>,
        mut alert: Alert,
    ) -> Option<Alert> {
        let k = (f.detector, key);
        match self.open.get_mut(&k) {
            None => {
                let id = format!(
                    "{}-{}-{:08x}",
                    f.detector.as_str(),
                    f.evidence.first_seen.secs(),
                    (key >> 32) as u32
                );
                alert.id = id.clone();
                alert.event = Transition::Opened;
                let samples: Vec<String> = line.into_iter().collect();
                alert.sample_lines = samples.clone();
                self.opened += 1;
                self.worst = self.worst.max(Some(f.severity));
                self.open.insert(
                    k,
                    Incident {
                        id,
                        severity: f.severity,
                        first_seen: f.evidence.first_seen,
                        last_signal: f.ts,
                        quiet_secs: f.quiet_secs,
                        samples,
                        last: alert.clone(),
                    },
                );
                Some(alert)
            }
            Some(inc) => {
                inc.last_signal = inc.last_signal.max(f.ts);
                if let Some(l) = line {
                    if inc.samples.len() < MAX_SAMPLE_LINES && !inc.samples.contains(&l) {
                        inc.samples.push(l);
                    }
                }
                alert.id = inc.id.clone();
                alert.first_seen = inc.first_seen.min(f.evidence.first_seen).rfc3339();
                alert.sample_lines = inc.samples.clone();
                merge_actors(&mut alert, &inc.last);
                merge_samples(&mut alert, &inc.last);
                let escalate = f.severity > inc.severity;
                inc.last = alert.clone();
                if escalate {
                    inc.severity = f.severity;
                    self.worst = self.worst.max(Some(f.severity));
                    alert.event = Transition::Escalated;
                    inc.last.event = Transition::Escalated;
                    Some(alert)
                } else {
                    None
                }
            }
        }
    }

    /// Close incidents quiet since before `now - quiet`. Sorted by key, so
    /// the output order is deterministic.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Alert> {
        let done: Vec<(DetectorKind, u64)> = self
            .open
            .iter()
            .filter(|(_, i)| i.last_signal.add_secs(i.quiet_secs) < now)
            .map(|(k, _)| *k)
            .collect();
        done.into_iter()
            .filter_map(|k| self.open.remove(&k))
            .map(|i| {
                let at = i.last_signal.add_secs(i.quiet_secs);
                close(i, at)
            })
            .collect()
    }

    /// Close everything (end of a scan) at event time `now`.
    pub fn close_all(&mut self, now: Timestamp) -> Vec<Alert> {
        std::mem::take(&mut self.open)
            .into_values()
            .map(|i| close(i, now))
            .collect()
    }
}

/// The closing transition, stamped with the time the incident ended.
fn close(inc: Incident, at: Timestamp) -> Alert {
    let mut a = inc.last;
    a.detected_at = at.rfc3339();
    a.event = Transition::Closed;
    a.severity = inc.severity;
    a.sample_lines = inc.samples;
    a
}

/// Sample ids accumulate (up to 10) over the incident's life.
fn merge_samples(a: &mut Alert, prev: &Alert) {
    let mut v = prev.sample_ids.clone();
    for s in &a.sample_ids {
        if v.len() < 10 && !v.contains(s) {
            v.push(s.clone());
        }
    }
    a.sample_ids = v;
}

/// Participant lists only grow over an incident's life (the operator needs
/// the whole block list at close).
fn merge_actors(a: &mut Alert, prev: &Alert) {
    if a.actor_kind == "addresses" {
        let mut all: Vec<String> = prev.actor.iter().chain(a.actor.iter()).cloned().collect();
        all.sort();
        all.dedup();
        a.actor = all;
    }
}

/// The incident key for a finding: detector + actor + route, stable.
pub fn incident_key(f: &Finding) -> u64 {
    let mut buf = Vec::with_capacity(40);
    buf.extend_from_slice(&f.scope_key.to_le_bytes());
    buf.extend_from_slice(&f.route.to_le_bytes());
    stable_hash(&buf)
}
