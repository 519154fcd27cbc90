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
//! while the node runs), or the pair behind an address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::id::NodeId;

/// The first 64 bits of every relay path address: `100::/64`.
const PREFIX: u128 = 0x0100_0000_0000_0000 << 64;

/// Whether `addr` is a relay path's stand-in address rather than a real one.
pub fn is_relay_path(addr: SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V6(ip) => u128::from(ip) >> 64 == PREFIX >> 64,
        IpAddr::V4(_) => false,
    }
}

/// The relay paths of one node; see the module docs.
#[derive(Debug, Default)]
pub struct RelayPaths {
    by_addr: BTreeMap<SocketAddr, (NodeId, NodeId)>,
    by_pair: BTreeMap<(NodeId, NodeId), SocketAddr>,
}

impl RelayPaths {
    /// Heap bytes of both maps (see [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::btree;
        btree::<SocketAddr, (NodeId, NodeId)>(self.by_addr.len())
            + btree::<(NodeId, NodeId), SocketAddr>(self.by_pair.len())
    }

    /// The stand-in address of the path to `peer` through `relay`, made on first use.
    pub fn addr(&mut self, relay: NodeId, peer: NodeId) -> SocketAddr {
        if let Some(addr) = self.by_pair.get(&(relay, peer)) {
            return *addr;
        }
        let n = self.by_addr.len() as u128 + 1;
        let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::from(PREFIX | n)), 0);
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
        let ra = paths.addr(r, a);
        let rb = paths.addr(r, b);
        assert_ne!(ra, rb);
        assert_eq!(paths.addr(r, a), ra);
        assert_eq!(paths.pair(rb), Some((r, b)));
        assert!(is_relay_path(ra) && is_relay_path(rb));
        assert!(!is_relay_path("10.0.0.1:7000".parse().unwrap()));
        assert!(!is_relay_path("[2001:db8::1]:7000".parse().unwrap()));
        assert_eq!(paths.len(), 2);
    }
}
