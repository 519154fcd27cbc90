//! NAT in the simulated world: which nodes sit behind which kind of NAT, the mappings
//! their datagrams open, and the filters that decide what may come back in.
//!
//! In: every unicast datagram's source node and destination address, at the moment it
//! is sent. Out: the node that receives it and the source address it sees, or a drop.
//!
//! Each NATed node has a public IP of its own in 100.64.0.0/10 (node `i` at
//! [`public_ip`]`(i)`), outside the 10.x range of the nodes' own (private) addresses:
//!
//! - **open**: reachable at its own address; what it sends shows its own address.
//! - **consistent** (endpoint-independent mapping, address-dependent filtering): one
//!   public port for every destination; a datagram to that port gets in only from an IP
//!   the node has sent to within [`NAT_TIMEOUT`].
//! - **random** (symmetric): a new public port for every destination IP:port; a
//!   datagram to that port gets in only from exactly that IP:port.
//!
//! A mapping lives while the node sends through it: one unused for [`NAT_TIMEOUT`] is
//! gone, and the next datagram opens a new one on a new port. A NATed node's private
//! address is reachable from nobody. Ports come from a stream of the seed of their own,
//! drawn only when a mapping opens, so a world without NAT draws nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dswarm::harness::{seed_stream, Route};
use dswarm::proto::Time;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

pub use crate::scenario::{NatKind, NatSpec};

/// How long a mapping, or a filter's permission, outlives the last datagram the node
/// sent through it.
pub const NAT_TIMEOUT: Duration = Duration::from_secs(30);

/// The RNG streams of NAT within a run's seed: who is behind what, and the ports.
use dswarm::harness::streams::{NAT_KIND as STREAM_NAT_KIND, NAT_PORT as STREAM_NAT_PORT};
/// The lowest public port a mapping gets.
const PORT_MIN: u16 = 1024;

/// Node `index`'s public IP, when it is behind a NAT: counted from 100.64.0.1,
/// skipping last octets 0 and 255 as [`dswarm::harness::addr_of`] does.
pub fn public_ip(index: usize) -> IpAddr {
    let index = u32::try_from(index).expect("fewer than 2^22 nodes");
    let (subnet, host) = (index / 254, index % 254 + 1);
    IpAddr::V4(Ipv4Addr::from(0x6440_0000u32 + (subnet << 8) + host))
}

/// The node whose public IP `ip` is, if it is one: the inverse of [`public_ip`].
pub fn node_of_public(ip: IpAddr) -> Option<usize> {
    let IpAddr::V4(v4) = ip else {
        return None;
    };
    let offset = u32::from(v4).checked_sub(0x6440_0000)?;
    if offset >= 1 << 22 {
        return None; // beyond 100.64.0.0/10
    }
    let (subnet, host) = (offset >> 8, offset & 0xff);
    if host == 0 || host == 255 {
        return None;
    }
    Some((subnet * 254 + host - 1) as usize)
}

#[derive(Clone, Copy, Debug)]
struct Mapping {
    port: u16,
    last_out: Time,
}

impl Mapping {
    fn alive(&self, now: Time) -> bool {
        now.saturating_since(self.last_out) <= NAT_TIMEOUT
    }
}

/// Who a public address belongs to: the node, and for a symmetric NAT the one
/// destination its mapping was opened for.
#[derive(Clone, Copy, Debug)]
struct Owner {
    node: usize,
    peer: Option<SocketAddr>,
}

/// The NATs of one run; see the module docs.
#[derive(Clone, Debug)]
pub struct Nat {
    kinds: Vec<NatKind>,
    /// Whether any node is behind a NAT (asked for every datagram).
    on: bool,
    consistent: BTreeMap<usize, Mapping>,
    random: BTreeMap<(usize, SocketAddr), Mapping>,
    owners: BTreeMap<SocketAddr, Owner>,
    /// Consistent nodes' filters: (node, remote IP) → when the node last sent there.
    permits: BTreeMap<(usize, IpAddr), Time>,
    ports: ChaCha8Rng,
    /// Datagrams dropped: at a filter, at an expired or unknown mapping, or sent to a
    /// NATed node's private address.
    pub dropped: u64,
}

impl Nat {
    /// The NATs of `nodes` nodes for the run's `seed`: a seeded shuffle of the nodes
    /// past the first `open_first` (the bootstrap nodes, always open) puts the counts
    /// of [`NatSpec::count`] (of all `nodes`) behind consistent, then random NATs.
    pub fn new(seed: u64, nodes: usize, open_first: usize, spec: &NatSpec) -> Nat {
        let mut kinds = vec![NatKind::Open; nodes];
        if !spec.is_none() {
            let mut rng = seed_stream(seed, STREAM_NAT_KIND);
            let mut order: Vec<usize> = (open_first.min(nodes)..nodes).collect();
            for i in (1..order.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let consistent = spec.count(NatKind::Consistent, nodes).min(order.len());
            let random = spec
                .count(NatKind::Random, nodes)
                .min(order.len() - consistent);
            for &node in &order[..consistent] {
                kinds[node] = NatKind::Consistent;
            }
            for &node in &order[consistent..consistent + random] {
                kinds[node] = NatKind::Random;
            }
        }
        Nat {
            on: kinds.iter().any(|&kind| kind != NatKind::Open),
            kinds,
            consistent: BTreeMap::new(),
            random: BTreeMap::new(),
            owners: BTreeMap::new(),
            permits: BTreeMap::new(),
            ports: seed_stream(seed, STREAM_NAT_PORT),
            dropped: 0,
        }
    }

    /// Node `node`'s NAT.
    pub fn kind(&self, node: usize) -> NatKind {
        self.kinds[node]
    }

    /// Whether any node is behind a NAT.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The routing of one unicast datagram; `index_of` finds the node at a private
    /// address. See the module docs.
    pub fn route(
        &mut self,
        now: Time,
        src: usize,
        src_addr: SocketAddr,
        dst: SocketAddr,
        index_of: impl Fn(SocketAddr) -> Option<usize>,
    ) -> Route {
        // Who lives at the destination: a public mapping, or a node's own address.
        let (to, mapped) = match self.owners.get(&dst).copied() {
            Some(owner) => (owner.node, Some(owner)),
            None => match index_of(dst) {
                Some(to) if self.kinds[to] == NatKind::Open => (to, None),
                Some(_) => {
                    // A private address behind a NAT: nobody outside reaches it.
                    self.dropped += 1;
                    return Route::Filtered;
                }
                None => return Route::Unroutable,
            },
        };
        // The way out: the sender's mapping for this destination.
        let from = self.outbound(now, src, src_addr, dst);
        if let Some(owner) = mapped {
            if !self.inbound(now, owner, dst, from) {
                self.dropped += 1;
                return Route::Filtered;
            }
        }
        Route::Deliver { to, from }
    }

    /// The public source address of a datagram `src` sends to `dst` now, opening or
    /// refreshing its mapping (and, behind a consistent NAT, its filter's permission).
    fn outbound(
        &mut self,
        now: Time,
        src: usize,
        src_addr: SocketAddr,
        dst: SocketAddr,
    ) -> SocketAddr {
        let ip = public_ip(src);
        match self.kinds[src] {
            NatKind::Open => src_addr,
            NatKind::Consistent => {
                self.permits.insert((src, dst.ip()), now);
                let port = match self.consistent.get(&src).copied() {
                    Some(m) if m.alive(now) => m.port,
                    old => {
                        if let Some(old) = old {
                            self.owners.remove(&SocketAddr::new(ip, old.port));
                        }
                        self.open_port(ip, src, None)
                    }
                };
                self.consistent.insert(
                    src,
                    Mapping {
                        port,
                        last_out: now,
                    },
                );
                SocketAddr::new(ip, port)
            }
            NatKind::Random => {
                let port = match self.random.get(&(src, dst)).copied() {
                    Some(m) if m.alive(now) => m.port,
                    old => {
                        if let Some(old) = old {
                            self.owners.remove(&SocketAddr::new(ip, old.port));
                        }
                        self.open_port(ip, src, Some(dst))
                    }
                };
                self.random.insert(
                    (src, dst),
                    Mapping {
                        port,
                        last_out: now,
                    },
                );
                SocketAddr::new(ip, port)
            }
        }
    }

    /// Draws a free public port on `ip` for a new mapping of `node`.
    fn open_port(&mut self, ip: IpAddr, node: usize, peer: Option<SocketAddr>) -> u16 {
        loop {
            let span = u64::from(u16::MAX - PORT_MIN) + 1;
            let port = PORT_MIN + (self.ports.next_u64() % span) as u16;
            let addr = SocketAddr::new(ip, port);
            if let std::collections::btree_map::Entry::Vacant(slot) = self.owners.entry(addr) {
                slot.insert(Owner { node, peer });
                return port;
            }
        }
    }

    /// Whether `owner`'s NAT lets a datagram from `from` in through public address
    /// `dst`; an expired mapping is closed here.
    fn inbound(&mut self, now: Time, owner: Owner, dst: SocketAddr, from: SocketAddr) -> bool {
        let node = owner.node;
        match owner.peer {
            None => {
                let alive = self.consistent.get(&node).is_some_and(|m| m.alive(now));
                if !alive {
                    self.consistent.remove(&node);
                    self.owners.remove(&dst);
                    return false;
                }
                self.permits
                    .get(&(node, from.ip()))
                    .is_some_and(|&last| now.saturating_since(last) <= NAT_TIMEOUT)
            }
            Some(peer) => {
                let alive = self.random.get(&(node, peer)).is_some_and(|m| m.alive(now));
                if !alive {
                    self.random.remove(&(node, peer));
                    self.owners.remove(&dst);
                    return false;
                }
                peer == from
            }
        }
    }
}

#[cfg(test)]
mod tests;
