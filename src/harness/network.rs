//! The network under a [`Swarm`](super::Swarm): who a multicast reaches and what
//! becomes of each datagram.
//!
//! In: a datagram's source node, destination address and the time it is sent. Out:
//! which node receives it and from which address it seems to come (or that nobody
//! does), then the delays after which its copies arrive — none when it is lost, two
//! when it is duplicated. [`UniformNetwork`] is the core's own model (uniform latency, independent
//! loss, round-robin segments); the simulator brings a richer world through the same
//! trait.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::proto::Time;

/// The port every simulated node serves on.
pub const PORT: u16 = 7000;

/// One datagram on the wire: the node that sent it and that node's own sequence
/// number for it. Every random draw about its fate is a function of the run's seed,
/// the concern, and these two ([`keyed`]), never the next value of a stream other
/// datagrams also read: so its fate does not depend on which thread asks, or when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sending node.
    pub src: usize,
    /// The sender's sequence number for it.
    pub seq: u64,
}

/// What the network did to datagrams, by cause; each engine (and each part of a
/// parallel one) counts its own, and the counts add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fates {
    /// Lost to random loss.
    pub lost: u64,
    /// Cut by a partition.
    pub partitioned: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Given an extra delay.
    pub reordered: u64,
}

impl std::ops::AddAssign for Fates {
    fn add_assign(&mut self, other: Fates) {
        self.lost += other.lost;
        self.partitioned += other.partitioned;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// Decides the fate of every datagram of a simulated swarm. Shared by every thread of
/// a parallel swarm while a window runs, so its answers may not depend on the order
/// in which they are asked ([`Network::serial`] says when they do).
pub trait Network: Sync {
    /// The nodes a multicast from `src` reaches (its LAN segment; may include `src`,
    /// which the caller skips). Empty when there is no multicast.
    fn multicast_members(&self, src: usize) -> &[usize];
    /// The fate of `datagram` to node `dst`, sent at `now`: pushes onto `delays` the
    /// one-way delay of every copy that arrives. Nothing pushed: lost. Counts what it
    /// did in `fates`. Every delay is at least [`Network::lookahead`].
    fn fate(
        &self,
        now: Time,
        datagram: Datagram,
        dst: usize,
        delays: &mut Vec<Duration>,
        fates: &mut Fates,
    );
    /// The smallest delay [`Network::fate`] ever gives: how far a part of a parallel
    /// swarm may run ahead of the others.
    fn lookahead(&self) -> Duration;
    /// Why this network must be asked from one thread in the order datagrams are sent
    /// (state that routing changes, shared between nodes), if it must.
    fn serial(&self) -> Option<&'static str> {
        None
    }
    /// Node `index`'s address: [`addr_of`] unless the network puts nodes elsewhere
    /// (several behind one IP, say). Asked once per node when the swarm is built.
    fn addr_of(&self, index: usize) -> SocketAddr {
        addr_of(index)
    }
    /// The node at `addr` among the first `nodes`, if any: the inverse of
    /// [`Network::addr_of`].
    fn index_of(&self, addr: SocketAddr, nodes: usize) -> Option<usize> {
        index_of(addr, nodes)
    }
    /// Where a unicast datagram node `src` (bound to `src_addr`) sends to `dst` at
    /// `now` goes, and the source address its receiver sees: asked for every unicast
    /// datagram, before [`Network::fate`]. By default the node at `dst`
    /// ([`Network::index_of`]) sees `src_addr`; a network with NAT rewrites the source
    /// and filters what arrives.
    fn route(
        &self,
        now: Time,
        src: usize,
        src_addr: SocketAddr,
        dst: SocketAddr,
        nodes: usize,
    ) -> Route {
        let _ = (now, src);
        Route::unchanged(self.index_of(dst, nodes), src_addr)
    }
}

/// Where [`Network::route`] sends a unicast datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// To node `to`, which sees it come from `from`.
    Deliver {
        /// The receiving node.
        to: usize,
        /// The source address the receiver sees.
        from: SocketAddr,
    },
    /// Nobody lives at the destination address.
    Unroutable,
    /// A NAT on the way dropped it (no mapping, or its filter refused the sender).
    Filtered,
}

impl Route {
    /// To node `to`, if anybody lives there, seeing the sender's own address `from`:
    /// the route of a network without NAT.
    pub fn unchanged(to: Option<usize>, from: SocketAddr) -> Route {
        match to {
            Some(to) => Route::Deliver { to, from },
            None => Route::Unroutable,
        }
    }
}

/// Uniform latency in `[min, max]`, independent loss, and `segments` multicast
/// segments (node `i` on segment `i % segments`); each datagram's draws are keyed by
/// its sender and sequence number on one stream of the seed.
#[derive(Clone, Debug)]
pub struct UniformNetwork {
    latency_min: Duration,
    latency_max: Duration,
    loss: f64,
    segments: Vec<Vec<usize>>,
    rng: ChaCha8Rng,
}

/// The RNG stream of [`UniformNetwork`] within a run's seed.
use super::streams::NET as STREAM_NET;

impl UniformNetwork {
    /// The network of `nodes` nodes for one run's `seed`.
    pub fn new(
        seed: u64,
        nodes: usize,
        latency: (Duration, Duration),
        loss: f64,
        segments: usize,
    ) -> UniformNetwork {
        let mut members = vec![Vec::new(); segments];
        if segments > 0 {
            for i in 0..nodes {
                members[i % segments].push(i);
            }
        }
        UniformNetwork {
            latency_min: latency.0,
            latency_max: latency.1,
            loss,
            segments: members,
            rng: seed_stream(seed, STREAM_NET),
        }
    }
}

impl Network for UniformNetwork {
    fn multicast_members(&self, src: usize) -> &[usize] {
        match self.segments.len() {
            0 => &[],
            n => &self.segments[src % n],
        }
    }

    fn fate(
        &self,
        _now: Time,
        datagram: Datagram,
        _dst: usize,
        delays: &mut Vec<Duration>,
        fates: &mut Fates,
    ) {
        let mut rng = keyed(&self.rng, datagram);
        // Two draws whatever the loss: turning loss on moves no latency.
        let (lose, latency) = (
            unit(&mut rng),
            uniform(&mut rng, self.latency_min, self.latency_max),
        );
        if self.loss > 0.0 && lose < self.loss {
            fates.lost += 1;
            return;
        }
        delays.push(latency);
    }

    fn lookahead(&self) -> Duration {
        self.latency_min
    }
}

/// Node `index`'s address: counted from 10.0.0.1, port [`PORT`], skipping every
/// address whose last octet is 0 or 255 (turmoil-net, like many stacks, treats a
/// `.255` destination as a broadcast).
pub fn addr_of(index: usize) -> SocketAddr {
    let index = u32::try_from(index).expect("fewer than 2^24 nodes");
    let (subnet, host) = (index / 254, index % 254 + 1);
    let ip = 0x0A00_0000u32 + (subnet << 8) + host;
    SocketAddr::from((Ipv4Addr::from(ip), PORT))
}

/// The first 32 bits of every simulated IPv6 address (a unique local prefix, fd00::/8).
const V6_PREFIX: [u16; 2] = [0xfd00, 0x00d5];

/// Node `index`'s IPv6 address, for a network that gives it one: in a /64 of its own,
/// `fd00:d5:<index / 2^16>:<index % 2^16>::1`, port [`PORT`]. Each node its own /64,
/// as each host of a real IPv6 network has: the core counts a /64 as one address block,
/// and a swarm whose nodes shared one would look like one host's sybils.
pub fn addr_of_v6(index: usize) -> SocketAddr {
    let index = u32::try_from(index).expect("fewer than 2^24 nodes");
    let (hi, lo) = ((index >> 16) as u16, index as u16);
    let ip = Ipv6Addr::new(V6_PREFIX[0], V6_PREFIX[1], hi, lo, 0, 0, 0, 1);
    SocketAddr::from((ip, PORT))
}

/// The node index of `addr`, if it is one of the first `nodes` nodes' addresses: its
/// IPv4 address ([`addr_of`]) or its IPv6 one ([`addr_of_v6`]). A network that gives
/// each node one of the two says which ([`Network::index_of`]).
pub fn index_of(addr: SocketAddr, nodes: usize) -> Option<usize> {
    let v4 = match addr {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(v6) => {
            let s = v6.ip().segments();
            if v6.port() != PORT || s[..2] != V6_PREFIX || s[4..] != [0, 0, 0, 1] {
                return None;
            }
            let index = (usize::from(s[2]) << 16) | usize::from(s[3]);
            return (index < nodes && addr_of_v6(index) == addr).then_some(index);
        }
    };
    if v4.port() != PORT {
        return None;
    }
    let offset = u32::from(*v4.ip()).checked_sub(0x0A00_0000)?;
    let (subnet, host) = (offset >> 8, offset & 0xff);
    if host == 0 || host == 255 {
        return None;
    }
    let index = (subnet * 254 + host - 1) as usize;
    (index < nodes).then_some(index)
}

/// Stream `stream` of the run's `seed`: every concern of a run draws from its own.
pub fn seed_stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The draws of one datagram about one concern: `stream` (a stream of the run's seed,
/// [`seed_stream`]) at the position that belongs to `datagram`'s sender and sequence
/// number. The same datagram gets the same draws whoever asks, whenever.
pub fn keyed(stream: &ChaCha8Rng, datagram: Datagram) -> ChaCha8Rng {
    let src = u128::try_from(datagram.src).expect("a node index fits in 128 bits");
    assert!(
        src < 1 << 24 && datagram.seq < 1 << 40,
        "fewer than 2^24 nodes and 2^40 datagrams a node"
    );
    let mut rng = stream.clone();
    // A ChaCha block (16 words) of its own for every datagram.
    rng.set_word_pos((src << 40 | u128::from(datagram.seq)) << 4);
    rng
}

/// A uniform draw from `[0, 1)`.
pub fn unit(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw from `[min, max]`, in whole microseconds.
pub fn uniform(rng: &mut impl RngCore, min: Duration, max: Duration) -> Duration {
    let (lo, hi) = (min.as_micros() as u64, max.as_micros() as u64);
    if hi <= lo {
        return min;
    }
    Duration::from_micros(lo + rng.next_u64() % (hi - lo + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_network_and_broadcast_octets_and_map_back() {
        for index in [0, 1, 253, 254, 255, 507, 508, 100_000] {
            let addr = addr_of(index);
            let SocketAddr::V4(v4) = addr else { panic!() };
            let last = v4.ip().octets()[3];
            assert!(last != 0 && last != 255, "{addr}");
            assert_eq!(index_of(addr, 100_001), Some(index));
        }
        assert_eq!(addr_of(0).to_string(), "10.0.0.1:7000");
        assert_eq!(addr_of(254).to_string(), "10.0.1.1:7000");
        assert_eq!(index_of("10.0.0.255:7000".parse().unwrap(), 1000), None);
        assert_eq!(index_of("10.0.0.5:7001".parse().unwrap(), 1000), None);
        assert_eq!(index_of(addr_of(10), 10), None);
    }

    #[test]
    fn ipv6_addresses_put_each_node_in_its_own_64_and_map_back() {
        use crate::proto::table::IpBlock;
        let mut blocks = std::collections::BTreeSet::new();
        for index in [0, 1, 65_535, 65_536, 100_000, (1 << 24) - 1] {
            let addr = addr_of_v6(index);
            assert!(addr.is_ipv6(), "{addr}");
            assert_eq!(index_of(addr, 1 << 24), Some(index), "{addr}");
            assert!(
                blocks.insert(IpBlock::of(&addr, 32, 64)),
                "{addr}: a /64 of its own"
            );
        }
        assert_eq!(addr_of_v6(0).to_string(), "[fd00:d5::1]:7000");
        assert_eq!(addr_of_v6(65_537).to_string(), "[fd00:d5:1:1::1]:7000");
        assert_eq!(index_of(addr_of_v6(10), 10), None);
        assert_eq!(index_of("[fd00:d5::2]:7000".parse().unwrap(), 10), None);
        assert_eq!(index_of("[fd00:d5::1]:7001".parse().unwrap(), 10), None);
    }
}
