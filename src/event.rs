//! The event: what the detectors see of a request. Small, owned and `Copy`;
//! no format knowledge and no strings, just keys, the route and the object.

use std::net::IpAddr;

use crate::actors::{ActorKey, addr_key};
use crate::engine::shard::Partition;
use crate::formats::Timestamp;
use crate::routes::{ObjectId, Page, RouteId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub ts: Timestamp,
    /// The resolved client address (after the trusted-proxy rule).
    pub ip: Option<IpAddr>,
    pub principal: Option<u64>,
    pub api_key: Option<u64>,
    /// Hash of the user agent (0 when absent).
    pub ua: u64,
    pub route: RouteId,
    pub object: Option<ObjectId>,
    pub page: Option<Page>,
    /// A search by criteria (explains the lookups that follow it).
    pub search: bool,
    pub status: u16,
    /// Which shard owns each of its actors and its route.
    pub part: Partition,
}

impl Event {
    pub fn addr(&self) -> Option<ActorKey> {
        self.ip.map(|ip| ActorKey::Addr(addr_key(ip)))
    }
    pub fn principal_key(&self) -> Option<ActorKey> {
        self.principal.map(ActorKey::Principal)
    }
    pub fn api_key_key(&self) -> Option<ActorKey> {
        self.api_key.map(ActorKey::ApiKey)
    }
    /// The most specific identity: principal, else API key, else address.
    pub fn primary_actor(&self) -> Option<ActorKey> {
        self.principal_key().or(self.api_key_key()).or(self.addr())
    }
    /// 404 and 410: the object does not exist (any more).
    pub fn not_found(&self) -> bool {
        self.status == 404 || self.status == 410
    }
    pub fn success(&self) -> bool {
        (200..400).contains(&self.status)
    }
}
