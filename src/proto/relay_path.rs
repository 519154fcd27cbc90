//! Relay paths: stand-in addresses for sessions that run through a relay.
//!
//! A session with a peer behind a NAT may run through a third node, the relay, which
//! both ends have sessions with. The session layer keys everything by address, so
//! each (relay, peer) pair gets an address of its own from the discard-only prefix
//! `100::/64` (RFC 6666), which no real datagram uses. The node sends a datagram for
//! such an address by wrapping it in a relay notice to the relay, and feeds a relayed
//! datagram in as if it came from that address.
//!
//! In: a (relay, peer) pair, or an address. Out: the pair's stand-in address (stable
//! while its path is kept), or the pair behind an address.
//!
//! A relay can name any sender in what it forwards, and each new (relay, sender) pair
//! makes a path. So at most [`PATHS_MAX`] are kept: at the bound, a new pair first
//! pushes out the oldest paths that no session uses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::id::NodeId;

/// The first 64 bits of every relay path address: `100::/64`.
const PREFIX: u128 = 0x0100_0000_0000_0000 << 64;

/// The most relay paths kept: as many as a node keeps sessions
/// ([`SessionConfig::sessions_max`](super::session::SessionConfig::sessions_max)).
pub const PATHS_MAX: usize = 4096;

/// Whether `addr` is a relay path's stand-in address rather than a real one.
pub fn is_relay_path(addr: SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V6(ip) => u128::from(ip) >> 64 == PREFIX >> 64,
        IpAddr::V4(_) => false,
    }
}

/// The relay paths of one node; see the module docs.
#[derive(Debug)]
pub struct RelayPaths {
    by_addr: BTreeMap<SocketAddr, (NodeId, NodeId)>,
    by_pair: BTreeMap<(NodeId, NodeId), SocketAddr>,
    /// The number in the next new path's address: addresses are never reused, and
    /// their order is the paths' age.
    next: u64,
    max: usize,
}

impl Default for RelayPaths {
    fn default() -> Self {
        RelayPaths::with_max(PATHS_MAX)
    }
}

impl RelayPaths {
    /// Heap bytes of both maps (see [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::btree;
        btree::<SocketAddr, (NodeId, NodeId)>(self.by_addr.len())
            + btree::<(NodeId, NodeId), SocketAddr>(self.by_pair.len())
    }

    /// Paths that keep at most `max` (see [`PATHS_MAX`]).
    pub fn with_max(max: usize) -> RelayPaths {
        RelayPaths {
            by_addr: BTreeMap::new(),
            by_pair: BTreeMap::new(),
            next: 1,
            max: max.max(1),
        }
    }

    /// The stand-in address of the path to `peer` through `relay`, made on first use.
    /// At the bound, the oldest paths that `in_use` says no session runs on go first;
    /// if every path is in use, the oldest goes anyway. `in_use` gets a path's address
    /// and its peer.
    pub fn addr(
        &mut self,
        relay: NodeId,
        peer: NodeId,
        in_use: impl Fn(SocketAddr, &NodeId) -> bool,
    ) -> SocketAddr {
        if let Some(addr) = self.by_pair.get(&(relay, peer)) {
            return *addr;
        }
        if self.by_addr.len() >= self.max {
            let idle: Vec<SocketAddr> = self
                .by_addr
                .iter()
                .filter(|(addr, (_, peer))| !in_use(**addr, peer))
                .map(|(addr, _)| *addr)
                .take(self.by_addr.len() + 1 - self.max)
                .collect();
            let gone = match idle.is_empty() {
                true => self.by_addr.keys().next().copied().into_iter().collect(),
                false => idle,
            };
            for addr in gone {
                if let Some(pair) = self.by_addr.remove(&addr) {
                    self.by_pair.remove(&pair);
                }
            }
        }
        let addr = SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(PREFIX | u128::from(self.next))),
            0,
        );
        self.next += 1;
        self.by_addr.insert(addr, (relay, peer));
        self.by_pair.insert((relay, peer), addr);
        addr
    }

    /// The (relay, peer) behind a stand-in address.
    pub fn pair(&self, addr: SocketAddr) -> Option<(NodeId, NodeId)> {
        self.by_addr.get(&addr).copied()
    }

    /// How many paths exist.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether none exists.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_keeps_its_address_and_maps_back() {
        let mut paths = RelayPaths::default();
        let (r, a, b) = (NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32]));
        let ra = paths.addr(r, a, |_, _| true);
        let rb = paths.addr(r, b, |_, _| true);
        assert_ne!(ra, rb);
        assert_eq!(paths.addr(r, a, |_, _| true), ra);
        assert_eq!(paths.pair(rb), Some((r, b)));
        assert!(is_relay_path(ra) && is_relay_path(rb));
        assert!(!is_relay_path("10.0.0.1:7000".parse().unwrap()));
        assert!(!is_relay_path("[2001:db8::1]:7000".parse().unwrap()));
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn senders_a_relay_names_cannot_grow_the_paths_past_their_bound() {
        let mut paths = RelayPaths::with_max(4);
        let relay = NodeId([1; 32]);
        let kept = NodeId([2; 32]);
        let kept_addr = paths.addr(relay, kept, |_, _| true);
        let in_use = |_: SocketAddr, peer: &NodeId| *peer == NodeId([2; 32]);
        for i in 0..100u8 {
            paths.addr(relay, NodeId([100 + i; 32]), in_use);
            assert!(paths.len() <= 4);
        }
        assert_eq!(paths.len(), 4);
        assert_eq!(
            paths.pair(kept_addr),
            Some((relay, kept)),
            "a path in use stays"
        );
        assert_eq!(paths.addr(relay, kept, in_use), kept_addr);
        // An address, once given up, is never given to another pair.
        let newest = paths.addr(relay, NodeId([250; 32]), in_use);
        assert_ne!(newest, kept_addr);
        assert!(paths.pair(newest).is_some());
    }
}
