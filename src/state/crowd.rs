//! Who stands behind an API key: the distinct addresses and principals seen
//! using it, on any route. A key shared by a whole mobile app has thousands
//! behind it and is no more one actor than a carrier NAT address is; a
//! partner's or an attacker's key has a handful.

use super::BoundedMap;
use crate::event::Event;
use crate::state::hll::mix;

/// Identities counted per key before it is simply "many".
pub const MANY: usize = 64;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Crowds {
    map: BoundedMap<u64, Vec<u32>>,
}

impl Crowds {
    pub fn new(cap: usize) -> Self {
        Crowds {
            map: BoundedMap::new(cap),
        }
    }

    /// Record the identity behind this event's API key, if it has one.
    pub fn see(&mut self, ev: &Event) {
        let Some(key) = ev.api_key else { return };
        let who = match (ev.principal, ev.ip) {
            (Some(p), _) => mix(p) as u32 | 1,
            (None, Some(ip)) => mix(crate::actors::addr_key(ip) as u64) as u32 & !1,
            (None, None) => return,
        };
        let (v, _) = self.map.touch(&key, Vec::new);
        if v.len() < MANY && !v.contains(&who) {
            v.push(who);
        }
    }

    /// Distinct identities seen behind `key` (capped at [`MANY`]).
    pub fn size(&self, key: u64) -> usize {
        self.map.get(&key).map_or(0, Vec::len)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
