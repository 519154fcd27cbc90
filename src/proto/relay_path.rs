//! Relay paths: stand-in addresses for sessions that run through a relay.
//!
//! A session with a peer behind a NAT may run through a third node, the relay, which
//! both ends have sessions with. The session layer keys everything by address, so
//! each (relay, peer) pair gets an address of its own from the discard-only prefix
//! `100::/64` (RFC 6666), which no real datagram uses. The node sends a datagram for
//! such an address by wrapping it in a relay notice to the relay, and feeds a relayed
//! datagram in as if it came from that address.
//!
//! In: a (relay, peer) pair, or an address; the address the relay says it sees the
//! peer at. Out: the pair's stand-in address (stable while its path is kept), or the
//! pair behind an address, and the peer's address as the relay vouched for it.
//!
//! A relay can name any sender in what it forwards, and each new (relay, sender) pair
//! makes a path. So at most [`PATHS_MAX`] are kept: at the bound, a new pair first
//! pushes out the oldest paths that no session uses. Paths also expire: one that no
//! session runs on and that went unused for the sessions' idle timeout is dropped by
//! the next sweep ([`RelayPaths::handle_timeout`]), which comes an idle timeout after
//! the previous one, so an idle path goes within twice that.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::id::NodeId;
use super::time::Time;

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

/// One path: its (relay, peer) pair, when it last carried a datagram, and where the
/// relay last said it sees the peer.
#[derive(Clone, Copy, Debug)]
struct Path {
    pair: (NodeId, NodeId),
    used: Time,
    observed: Option<SocketAddr>,
}

/// The relay paths of one node; see the module docs.
#[derive(Debug)]
pub struct RelayPaths {
    by_addr: BTreeMap<SocketAddr, Path>,
    by_pair: BTreeMap<(NodeId, NodeId), SocketAddr>,
    /// The number in the next new path's address: addresses are never reused, and
    /// their order is the paths' age.
    next: u64,
    max: usize,
    /// How long a path no session runs on may go unused.
    idle: Duration,
    /// When the next sweep for idle paths is due, while there are paths.
    sweep_at: Option<Time>,
}

impl RelayPaths {
    /// Heap bytes of both maps (see [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::btree;
        btree::<SocketAddr, Path>(self.by_addr.len())
            + btree::<(NodeId, NodeId), SocketAddr>(self.by_pair.len())
    }

    /// Paths that keep at most `max` (see [`PATHS_MAX`]), and drop one no session runs
    /// on once it went unused for `idle` (the sessions' idle timeout).
    pub fn new(max: usize, idle: Duration) -> RelayPaths {
        RelayPaths {
            by_addr: BTreeMap::new(),
            by_pair: BTreeMap::new(),
            next: 1,
            max: max.max(1),
            idle: idle.max(Duration::from_secs(1)),
            sweep_at: None,
        }
    }

    /// The stand-in address of the path to `peer` through `relay`, made on first use,
    /// and marked used at `now`. At the bound, the oldest paths that `in_use` says no
    /// session runs on go first; if every path is in use, the oldest goes anyway.
    /// `in_use` gets a path's address and its peer.
    pub fn addr(
        &mut self,
        now: Time,
        relay: NodeId,
        peer: NodeId,
        in_use: impl Fn(SocketAddr, &NodeId) -> bool,
    ) -> SocketAddr {
        if let Some(addr) = self.by_pair.get(&(relay, peer)) {
            if let Some(path) = self.by_addr.get_mut(addr) {
                path.used = now;
            }
            return *addr;
        }
        if self.by_addr.len() >= self.max {
            let idle: Vec<SocketAddr> = self
                .by_addr
                .iter()
                .filter(|(addr, path)| !in_use(**addr, &path.pair.1))
                .map(|(addr, _)| *addr)
                .take(self.by_addr.len() + 1 - self.max)
                .collect();
            let gone = match idle.is_empty() {
                true => self.by_addr.keys().next().copied().into_iter().collect(),
                false => idle,
            };
            for addr in gone {
                self.remove(&addr);
            }
        }
        let addr = SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(PREFIX | u128::from(self.next))),
            0,
        );
        self.next += 1;
        let pair = (relay, peer);
        self.by_addr.insert(
            addr,
            Path {
                pair,
                used: now,
                observed: None,
            },
        );
        self.by_pair.insert(pair, addr);
        self.sweep_at.get_or_insert(now + self.idle);
        addr
    }

    fn remove(&mut self, addr: &SocketAddr) {
        if let Some(path) = self.by_addr.remove(addr) {
            self.by_pair.remove(&path.pair);
        }
    }

    /// Notes that the relay of path `addr` sees its peer at `observed`.
    pub fn vouch(&mut self, addr: SocketAddr, observed: SocketAddr) {
        if let Some(path) = self.by_addr.get_mut(&addr) {
            path.observed = Some(observed);
        }
    }

    /// Where the relay of path `addr` last said it sees the peer.
    pub fn observed(&self, addr: SocketAddr) -> Option<SocketAddr> {
        self.by_addr.get(&addr)?.observed
    }

    /// The (relay, peer) behind a stand-in address.
    pub fn pair(&self, addr: SocketAddr) -> Option<(NodeId, NodeId)> {
        self.by_addr.get(&addr).map(|path| path.pair)
    }

    /// When the next sweep for idle paths is due.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.sweep_at
    }

    /// Sweeps, if due: drops each path that `in_use` (as for [`RelayPaths::addr`])
    /// says no session runs on and that went unused for the idle time. Returns how
    /// many went.
    pub fn handle_timeout(
        &mut self,
        now: Time,
        in_use: impl Fn(SocketAddr, &NodeId) -> bool,
    ) -> usize {
        if self.sweep_at.is_none_or(|at| at > now) {
            return 0;
        }
        let idle: Vec<SocketAddr> = self
            .by_addr
            .iter()
            .filter(|(addr, path)| path.used + self.idle <= now && !in_use(**addr, &path.pair.1))
            .map(|(addr, _)| *addr)
            .collect();
        for addr in &idle {
            self.remove(addr);
        }
        self.sweep_at = (!self.by_addr.is_empty()).then(|| now + self.idle);
        idle.len()
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

    const T0: Time = Time::ZERO;
    const IDLE: Duration = Duration::from_secs(300);

    #[test]
    fn a_pair_keeps_its_address_and_maps_back() {
        let mut paths = RelayPaths::new(PATHS_MAX, IDLE);
        let (r, a, b) = (NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32]));
        let ra = paths.addr(T0, r, a, |_, _| true);
        let rb = paths.addr(T0, r, b, |_, _| true);
        assert_ne!(ra, rb);
        assert_eq!(paths.addr(T0, r, a, |_, _| true), ra);
        assert_eq!(paths.pair(rb), Some((r, b)));
        assert!(is_relay_path(ra) && is_relay_path(rb));
        assert!(!is_relay_path("10.0.0.1:7000".parse().unwrap()));
        assert!(!is_relay_path("[2001:db8::1]:7000".parse().unwrap()));
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn senders_a_relay_names_cannot_grow_the_paths_past_their_bound() {
        let mut paths = RelayPaths::new(4, IDLE);
        let relay = NodeId([1; 32]);
        let kept = NodeId([2; 32]);
        let kept_addr = paths.addr(T0, relay, kept, |_, _| true);
        let in_use = |_: SocketAddr, peer: &NodeId| *peer == NodeId([2; 32]);
        for i in 0..100u8 {
            paths.addr(T0, relay, NodeId([100 + i; 32]), in_use);
            assert!(paths.len() <= 4);
        }
        assert_eq!(paths.len(), 4);
        assert_eq!(
            paths.pair(kept_addr),
            Some((relay, kept)),
            "a path in use stays"
        );
        assert_eq!(paths.addr(T0, relay, kept, in_use), kept_addr);
        // An address, once given up, is never given to another pair.
        let newest = paths.addr(T0, relay, NodeId([250; 32]), in_use);
        assert_ne!(newest, kept_addr);
        assert!(paths.pair(newest).is_some());
    }

    #[test]
    fn paths_no_session_runs_on_expire_once_idle_and_the_sweeps_stop_with_them() {
        let mut paths = RelayPaths::new(PATHS_MAX, IDLE);
        let relay = NodeId([1; 32]);
        let (busy, quiet, lively) = (NodeId([2; 32]), NodeId([3; 32]), NodeId([4; 32]));
        let in_use = |_: SocketAddr, peer: &NodeId| *peer == NodeId([2; 32]);
        let busy_addr = paths.addr(T0, relay, busy, in_use);
        paths.addr(T0, relay, quiet, in_use);
        paths.addr(T0, relay, lively, in_use);
        assert_eq!(paths.poll_timeout(), Some(T0 + IDLE));
        let early = T0 + IDLE / 2;
        assert_eq!(paths.handle_timeout(early, in_use), 0, "not due");
        // `lively` carries a datagram just before the sweep: it is not idle yet.
        paths.addr(T0 + IDLE - Duration::from_secs(1), relay, lively, in_use);
        assert_eq!(paths.handle_timeout(T0 + IDLE, in_use), 1, "quiet goes");
        assert!(!paths.by_pair.contains_key(&(relay, quiet)));
        assert_eq!(paths.len(), 2);
        assert_eq!(paths.poll_timeout(), Some(T0 + IDLE * 2));
        // The next sweep takes `lively`; the path a session runs on stays however old.
        assert_eq!(paths.handle_timeout(T0 + IDLE * 2, in_use), 1);
        assert_eq!(paths.pair(busy_addr), Some((relay, busy)));
        assert_eq!(paths.handle_timeout(T0 + IDLE * 3, |_, _| false), 1);
        assert!(paths.is_empty());
        assert_eq!(paths.poll_timeout(), None, "no paths, no sweeps");
    }
}
