//! The allowlist: partners, internal jobs and monitors the operator vouches
//! for, by address/CIDR, principal, API key or user-agent pattern, each with
//! a reason. Allowlisted requests skip the detectors but are counted per
//! entry, so the run summary shows what was waved through.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Allow, AllowMatch};
use crate::state::{BoundedMap, FastMap, stable_hash};

pub struct Allowlist {
    nets: Vec<(IpNet, usize)>,
    principals: FastMap<u64, usize>,
    keys: FastMap<u64, usize>,
    uas: Vec<(regex::bytes::Regex, usize)>,
    ua_cache: BoundedMap<u64, Option<usize>>,
    reasons: Vec<String>,
    counts: Vec<u64>,
}

impl Allowlist {
    pub fn new(entries: &[Allow]) -> Self {
        let mut a = Allowlist {
            nets: Vec::new(),
            principals: FastMap::default(),
            keys: FastMap::default(),
            uas: Vec::new(),
            ua_cache: BoundedMap::new(4096),
            reasons: Vec::new(),
            counts: vec![0; entries.len()],
        };
        for (i, e) in entries.iter().enumerate() {
            a.reasons.push(e.reason.clone());
            match &e.matcher {
                AllowMatch::Net(n) => a.nets.push((*n, i)),
                AllowMatch::Principal(p) => {
                    a.principals.insert(stable_hash(p.as_bytes()), i);
                }
                AllowMatch::ApiKey(k) => {
                    a.keys.insert(stable_hash(k.as_bytes()), i);
                }
                AllowMatch::UserAgent(r) => a.uas.push((r.clone(), i)),
            }
        }
        a
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    /// The first entry that matches, counted.
    pub fn check(
        &mut self,
        ip: Option<IpAddr>,
        principal: Option<u64>,
        key: Option<u64>,
        ua: &[u8],
        ua_hash: u64,
    ) -> bool {
        if self.reasons.is_empty() {
            return false;
        }
        let mut hit = None;
        if let Some(ip) = ip {
            hit = self
                .nets
                .iter()
                .find(|(n, _)| n.contains(&ip))
                .map(|(_, i)| *i);
        }
        if hit.is_none() {
            hit = principal.and_then(|p| self.principals.get(&p).copied());
        }
        if hit.is_none() {
            hit = key.and_then(|k| self.keys.get(&k).copied());
        }
        if hit.is_none() && !self.uas.is_empty() && !ua.is_empty() {
            let uas = &self.uas;
            let (v, _) = self.ua_cache.touch(&ua_hash, || {
                uas.iter().find(|(r, _)| r.is_match(ua)).map(|(_, i)| *i)
            });
            hit = *v;
        }
        if let Some(i) = hit {
            self.counts[i] += 1;
        }
        hit.is_some()
    }

    /// (reason, requests) per entry.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.reasons
            .iter()
            .cloned()
            .zip(self.counts.iter().copied())
            .collect()
    }
}
