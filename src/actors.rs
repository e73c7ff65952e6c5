//! Actors: who a request is attributed to. Every request can count against
//! up to three keys: its client address (IPv6 aggregated to the /64 a single
//! subscriber gets, so rotating inside it does not help), its authenticated
//! principal, and its API key.
//!
//! The client address is taken from `X-Forwarded-For` / `X-Real-IP` by the
//! trusted-proxy rule: walk the chain from the right, skipping proxies we
//! trust, and take the first address we don't. Only trusted proxies can
//! append to the chain, so anything left of that point is client-controlled.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::formats::{Record, fields};

/// An actor key: small, fixed-size, hashable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ActorKey {
    /// IPv4 (as mapped IPv6) or an IPv6 /64 prefix.
    Addr(u128),
    Principal(u64),
    ApiKey(u64),
}

impl ActorKey {
    pub fn kind(self) -> &'static str {
        match self {
            ActorKey::Addr(a) if is_v4(a) => "address",
            ActorKey::Addr(_) => "prefix",
            ActorKey::Principal(_) => "principal",
            ActorKey::ApiKey(_) => "api_key",
        }
    }
}

fn is_v4(a: u128) -> bool {
    Ipv6Addr::from(a).to_ipv4_mapped().is_some()
}

/// The address key: IPv4 as is, IPv6 masked to its /64.
pub fn addr_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !((1u128 << 64) - 1),
        },
    }
}

/// How an address key is shown: `203.0.113.7` or `2001:db8:1:2::/64`.
pub fn addr_label(a: u128) -> String {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => format!("{v6}/64"),
    }
}

/// The trusted-proxy rule.
pub struct ClientResolver {
    /// Trusted networks as (network, mask) pairs, split by family: checked
    /// for every record, so a few integer compares rather than `IpNet`'s
    /// general containment test. IPv4 networks match IPv4 addresses only,
    /// IPv6 networks IPv6 addresses only, as with `IpNet::contains`.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl ClientResolver {
    pub fn new(trusted: Vec<IpNet>) -> Self {
        let mut r = ClientResolver {
            v4: Vec::new(),
            v6: Vec::new(),
        };
        for n in trusted {
            match n {
                IpNet::V4(n) => {
                    let mask = u32::from(n.netmask());
                    r.v4.push((u32::from(n.network()) & mask, mask));
                }
                IpNet::V6(n) => {
                    let mask = u128::from(n.netmask());
                    r.v6.push((u128::from(n.network()) & mask, mask));
                }
            }
        }
        r
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }

    /// The client address of a record.
    pub fn resolve(&self, rec: &Record<'_>) -> Option<IpAddr> {
        let peer = rec.client;
        // Without a trusted peer, forwarded headers are the client's own
        // words. Formats that log no peer (Envoy's default) only have XFF.
        let peer_trusted = peer.is_none_or(|p| self.is_trusted(p));
        if !peer_trusted {
            return peer;
        }
        if !rec.forwarded_for.is_empty() {
            let mut leftmost = None;
            for part in rec.forwarded_for.rsplit(|&b| b == b',') {
                let part = trim(part);
                let Some((ip, _)) = fields::ip_port(part) else {
                    continue;
                };
                if Some(ip) == peer && leftmost.is_none() {
                    // The chain as logged by CLF writers includes the peer.
                    leftmost = Some(ip);
                    continue;
                }
                if !self.is_trusted(ip) {
                    return Some(ip);
                }
                leftmost = Some(ip);
            }
            if leftmost.is_some() {
                return leftmost;
            }
        }
        if !rec.real_ip.is_empty()
            && let Some((ip, _)) = fields::ip_port(trim(rec.real_ip))
        {
            return Some(ip);
        }
        peer
    }
}

/// Lines whose forwarded headers were not believed because their peer is
/// not a trusted proxy. When most lines are like that and come from a few
/// peers, those peers are almost surely the user's CDN or load balancer,
/// missing from `--trusted-proxy`: every client behind one then looks like
/// one huge actor. Said once, at the end of a run.
#[derive(Default)]
pub struct ProxyTally {
    with_peer: u64,
    untrusted: u64,
    /// The first few such peers and their lines (a CDN has few).
    peers: Vec<(IpAddr, u64)>,
}

const TALLY_PEERS: usize = 8;

impl ProxyTally {
    pub fn see(&mut self, resolver: &ClientResolver, rec: &Record<'_>) {
        let Some(peer) = rec.client else { return };
        self.with_peer += 1;
        if (rec.forwarded_for.is_empty() && rec.real_ip.is_empty()) || resolver.is_trusted(peer) {
            return;
        }
        self.untrusted += 1;
        if let Some((_, n)) = self.peers.iter_mut().find(|(p, _)| *p == peer) {
            *n += 1;
        } else if self.peers.len() < TALLY_PEERS {
            self.peers.push((peer, 1));
        }
    }

    /// The warning, when at least 1,000 lines had a peer, half or more of
    /// them carried forwarded headers from untrusted peers, and at most
    /// eight peers sent 90% of those.
    pub fn hint(&self) -> Option<String> {
        let top: u64 = self.peers.iter().map(|p| p.1).sum();
        if self.with_peer < 1000
            || self.untrusted * 2 < self.with_peer
            || top * 10 < self.untrusted * 9
        {
            return None;
        }
        let mut peers = self.peers.clone();
        peers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let list: Vec<String> = peers.iter().map(|p| p.0.to_string()).collect();
        Some(format!(
            "{}% of lines carry X-Forwarded-For or X-Real-IP from {} peer address(es) that are not trusted proxies ({}): each such peer is taken as the client, so everyone behind it counts as one actor. If they are your CDN or load balancer, add them with --trusted-proxy (or [network] trusted_proxies)",
            self.untrusted * 100 / self.with_peer,
            peers.len(),
            list.join(", ")
        ))
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'"', t @ ..] = b {
        b = t;
    }
    while let [h @ .., b' ' | b'"'] = b {
        b = h;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TRUSTED;

    fn resolver() -> ClientResolver {
        ClientResolver::new(DEFAULT_TRUSTED.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn rec<'a>(peer: Option<&str>, xff: &'a str) -> Record<'a> {
        Record {
            client: peer.map(|p| p.parse().unwrap()),
            forwarded_for: xff.as_bytes(),
            ..Default::default()
        }
    }

    #[test]
    fn trusted_check_agrees_with_ipnet() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "172.16.0.0/12", "192.168.1.7/24", "0.0.0.0/0"]
            .iter()
            .chain(["fc00::/7", "2001:db8:1::/48", "::1/128"].iter())
            .map(|s| s.parse().unwrap())
            .collect();
        let addrs: Vec<IpAddr> = [
            "10.1.2.3",
            "11.0.0.1",
            "172.31.255.255",
            "172.32.0.0",
            "192.168.1.200",
            "192.168.2.1",
            "::ffff:10.0.0.1",
            "fd12::1",
            "fe80::1",
            "2001:db8:1:ff::9",
            "2001:db8:2::1",
            "::1",
            "::2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for k in 0..nets.len() {
            // Each net alone, and all but the catch-all.
            for set in [&nets[k..=k], &nets[..3]] {
                let r = ClientResolver::new(set.to_vec());
                for a in &addrs {
                    let want = set.iter().any(|n| n.contains(a));
                    assert_eq!(r.is_trusted(*a), want, "{a} in {set:?}");
                }
            }
        }
    }

    #[test]
    fn rightmost_untrusted_wins() {
        let r = resolver();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            r.resolve(&rec(Some("10.0.0.5"), "6.6.6.6, 198.51.100.7, 10.0.0.9")),
            ip("198.51.100.7")
        );
        // An untrusted peer's own XFF is not believed.
        assert_eq!(
            r.resolve(&rec(Some("203.0.113.1"), "1.1.1.1")),
            ip("203.0.113.1")
        );
        // Carrier NAT is a real client, not a proxy.
        assert_eq!(
            r.resolve(&rec(Some("10.0.0.5"), "100.64.3.4")),
            ip("100.64.3.4")
        );
        // Envoy: no peer, client only in XFF; bracketed v6 with port.
        assert_eq!(
            r.resolve(&rec(None, "[2001:db8::1]:443,10.0.0.2")),
            ip("2001:db8::1")
        );
        // All trusted: the leftmost.
        assert_eq!(
            r.resolve(&rec(Some("127.0.0.1"), "10.1.1.1, 10.2.2.2")),
            ip("10.1.1.1")
        );
        // CLF chain including the peer.
        assert_eq!(
            r.resolve(&rec(Some("127.0.0.1"), "10.0.0.2, 81.2.69.143, 127.0.0.1")),
            ip("81.2.69.143")
        );
    }

    #[test]
    fn ipv6_is_aggregated_to_64() {
        let a = addr_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = addr_key("2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(addr_label(a), "2001:db8:1:2::/64");
        assert_eq!(
            addr_label(addr_key("192.0.2.1".parse().unwrap())),
            "192.0.2.1"
        );
    }
}
