//! The simulated world: a seeded network model that decides every datagram's fate.
//!
//! In: the run's seed, the node count and the scenario's `[network]` table; then one
//! question per datagram copy — "node `src` sends to node `dst` now: what happens?" —
//! and mid-run changes (partitions, heals). Out: the delays after which the copies
//! arrive (none: lost; two: duplicated), and the multicast segment of every node.
//!
//! Each concern draws from its own source so that switching one fault on does not move
//! another: a link's latency is a pure function of the seed and the two addresses
//! (uniform in the scenario's range, the same both ways), and loss, duplication and
//! reordering each have their own RNG stream of the seed, drawn only while that fault
//! is on. Partition groups come from a fourth stream, shuffled once per partition over
//! every node of the run (churn's joiners too, joined yet or not).
//!
//! Addresses: node `i` lives at [`addr_of`]`(i)`, except that [`World::share_hosts`]
//! can put groups of nodes behind one IP (sybils), each on a port of its own; such a
//! group shares its host's latency and multicast segment too.
//!
//! IPv6 (`network.ipv6`): a seeded share of the nodes (drawn from their own stream)
//! live at [`addr_of_v6`]`(i)` instead, each in a /64 of its own, beacon to an IPv6
//! group and keep their mailboxes in `ff1e::/16`. The world routes between the
//! families as if every host were dual-stack: each node has one address, of one
//! family, and reaches every other node's. What the share tests is the core on IPv6
//! addresses: contacts, address blocks, sessions and records. NATed nodes stay IPv4
//! (the NAT model maps to IPv4 public addresses): the scenario check refuses `ipv6`
//! with a NAT.
//!
//! NAT ([`nat`]): nodes behind a NAT are seen at public addresses of their mappings
//! and reached only through them; [`World`]'s [`Network::route`] asks it for every
//! unicast datagram. Multicast within a segment does not cross a NAT and is unchanged.

pub mod nat;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use dswarm::harness::{
    addr_of, addr_of_v6, index_of, keyed, seed_stream, uniform, unit, Datagram, Fates, Network,
    Route, PORT,
};
use dswarm::proto::Time;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use self::nat::{Nat, NatKind};
use crate::scenario::NetworkSpec;

/// RNG streams of the world within a run's seed ([`dswarm::harness::streams`]).
use dswarm::harness::streams::{
    DUPLICATE as STREAM_DUPLICATE, IPV6 as STREAM_IPV6, LOSS as STREAM_LOSS,
    PARTITION as STREAM_PARTITION, REORDER as STREAM_REORDER,
};
/// Salt of the per-link latency hash.
const LINK_SALT: u64 = 0x6c69_6e6b_6c61_7465;

/// The network model of one run; see the module docs.
#[derive(Debug)]
pub struct World {
    seed: u64,
    spec: NetworkSpec,
    segments: Vec<Vec<usize>>,
    /// Partition group of every node while a partition holds.
    groups: Option<Vec<u8>>,
    one_way: bool,
    /// The concerns of a datagram's fate: each datagram draws from these at its own
    /// place ([`keyed`]).
    loss: ChaCha8Rng,
    duplicate: ChaCha8Rng,
    reorder: ChaCha8Rng,
    partition: ChaCha8Rng,
    /// The node whose IP each node uses (itself, unless it shares one).
    hosts: Vec<usize>,
    /// Addresses of nodes that share an IP, and which node each is.
    shared: BTreeMap<SocketAddr, usize>,
    /// Whether each node's address is IPv6 (`network.ipv6`).
    v6: Arc<Vec<bool>>,
    /// The nodes' NATs and their mappings: state that every datagram through a NAT
    /// changes, so a world with NATs is asked from one thread ([`Network::serial`]) —
    /// or, on the live engine, under this lock, shared by every copy [`World::share`]
    /// makes.
    nat: Arc<Mutex<Nat>>,
}

/// What the world did to datagrams, by cause: the engine's [`Fates`] and the NATs'
/// drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Lost to random loss.
    pub lost: u64,
    /// Cut by a partition.
    pub partitioned: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Given an extra delay.
    pub reordered: u64,
    /// Dropped by a NAT: refused by its filter, sent to a mapping that expired or
    /// never was, or to a NATed node's private address.
    pub nat_dropped: u64,
}

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Clone for World {
    /// A copy with NATs of its own (see [`World::share`]).
    fn clone(&self) -> World {
        World {
            nat: Arc::new(Mutex::new(self.nat().clone())),
            ..self.share()
        }
    }
}

impl World {
    /// The world of `nodes` nodes for the run's `seed`. Node `i` is on multicast
    /// segment `i % segments`, so the first nodes (the bootstrap nodes) sit on
    /// different segments.
    pub fn new(seed: u64, nodes: usize, spec: &NetworkSpec) -> World {
        let hosts: Vec<usize> = (0..nodes).collect();
        World {
            seed,
            spec: spec.clone(),
            segments: Self::segments_of(&hosts, spec.segments),
            hosts,
            shared: BTreeMap::new(),
            v6: Arc::new(Self::ipv6_nodes(seed, nodes, spec.ipv6)),
            groups: None,
            one_way: false,
            loss: seed_stream(seed, STREAM_LOSS),
            duplicate: seed_stream(seed, STREAM_DUPLICATE),
            reorder: seed_stream(seed, STREAM_REORDER),
            partition: seed_stream(seed, STREAM_PARTITION),
            nat: Arc::new(Mutex::new(Nat::new(seed, nodes, spec.bootstrap, &spec.nat))),
        }
    }

    /// A copy of this world that shares its NATs (their mappings and counters) with
    /// it, where [`Clone`] copies them: what the live engine hands to its sockets'
    /// threads after a partition or a heal, while datagrams keep crossing the NATs.
    pub fn share(&self) -> World {
        World {
            seed: self.seed,
            spec: self.spec.clone(),
            segments: self.segments.clone(),
            groups: self.groups.clone(),
            one_way: self.one_way,
            loss: self.loss.clone(),
            duplicate: self.duplicate.clone(),
            reorder: self.reorder.clone(),
            partition: self.partition.clone(),
            hosts: self.hosts.clone(),
            shared: self.shared.clone(),
            v6: Arc::clone(&self.v6),
            nat: Arc::clone(&self.nat),
        }
    }

    /// Which of `nodes` nodes have IPv6 addresses: `share` of them (rounded), drawn by
    /// a seeded shuffle of their own stream, so that no other draw moves. A share of 0
    /// draws nothing.
    fn ipv6_nodes(seed: u64, nodes: usize, share: f64) -> Vec<bool> {
        let mut v6 = vec![false; nodes];
        let count = ((share * nodes as f64).round() as usize).min(nodes);
        if count == 0 {
            return v6;
        }
        let mut rng = seed_stream(seed, STREAM_IPV6);
        let mut order: Vec<usize> = (0..nodes).collect();
        // A partial Fisher-Yates shuffle: the first `count` places are the draw.
        for i in 0..count {
            let j = i + (rng.next_u64() % (nodes - i) as u64) as usize;
            order.swap(i, j);
            v6[order[i]] = true;
        }
        v6
    }

    /// Whether node `node` has an IPv6 address.
    pub fn is_ipv6(&self, node: usize) -> bool {
        self.v6[node]
    }

    /// Node `node`'s own address, of its family: where it lives unless it shares
    /// another node's IP.
    fn home(&self, node: usize) -> SocketAddr {
        match self.v6[node] {
            true => addr_of_v6(node),
            false => addr_of(node),
        }
    }

    /// The node that lives at `addr` by [`index_of`], if its family is that node's
    /// and it has not moved behind another IP.
    fn resident(v6: &[bool], hosts: &[usize], addr: SocketAddr, nodes: usize) -> Option<usize> {
        index_of(addr, nodes).filter(|&node| v6[node] == addr.is_ipv6() && hosts[node] == node)
    }

    /// How many multicast segments the world has (0: none).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The multicast segment node `node` is on, if the world has segments.
    pub fn segment_of(&self, node: usize) -> Option<usize> {
        let segments = self.segments.len();
        (segments > 0).then(|| self.hosts[node] % segments)
    }

    /// Node `node`'s NAT.
    pub fn nat_kind(&self, node: usize) -> NatKind {
        self.nat().kind(node)
    }

    fn nat(&self) -> std::sync::MutexGuard<'_, Nat> {
        self.nat
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Node `i` on segment `hosts[i] % segments`.
    fn segments_of(hosts: &[usize], segments: usize) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); segments];
        if segments > 0 {
            for (i, host) in hosts.iter().enumerate() {
                members[host % segments].push(i);
            }
        }
        members
    }

    /// Puts each group of nodes behind one IP address, its first node's: the group's
    /// `k`-th node serves on port [`PORT`]` + k`. The nodes of a group share the first
    /// node's latency to everyone and its multicast segment. Groups must not overlap,
    /// and no bootstrap node may move (a group's first node keeps its address).
    pub fn share_hosts(&mut self, groups: &[Vec<usize>]) {
        for group in groups {
            let Some(&host) = group.first() else {
                continue;
            };
            let ip = self.home(host).ip();
            for (k, &node) in group.iter().enumerate() {
                let port = PORT + u16::try_from(k).expect("fewer than 2^16 identities per host");
                self.hosts[node] = host;
                self.shared.insert(SocketAddr::new(ip, port), node);
            }
        }
        self.segments = Self::segments_of(&self.hosts, self.spec.segments);
    }

    /// The node whose IP node `node` uses: itself unless it shares one.
    pub fn host(&self, node: usize) -> usize {
        self.hosts[node]
    }

    /// The one-way latency of the link between `a` and `b` (the same both ways); nodes
    /// behind one IP have their host's latency.
    pub fn link_latency(&self, a: usize, b: usize) -> Duration {
        let (a, b) = (self.hosts[a], self.hosts[b]);
        let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
        let min = self.spec.latency_min.as_micros() as u64;
        let max = self.spec.latency_max.as_micros() as u64;
        if max <= min {
            return self.spec.latency_min;
        }
        let h = mix(mix(self.seed ^ LINK_SALT) ^ (lo << 32 | hi));
        Duration::from_micros(min + h % (max - min + 1))
    }

    /// Splits every node of the world into groups of the given shares, drawn by a
    /// seeded shuffle; with `one_way`, datagrams from a lower group to a higher one
    /// are lost and the other direction flows.
    ///
    /// Every node: the world is built for the run's whole count, so nodes that join
    /// mid-run (churn's joiners, dormant until then) are shuffled in with the rest,
    /// and one that joins while the partition holds is in the group the shuffle gave
    /// it. The shares are of that whole count; without joiners it is the scenario's
    /// `nodes`, and the groups are what they always were.
    pub fn partition(&mut self, shares: &[f64], one_way: bool) {
        let nodes = self.hosts.len();
        let mut order: Vec<usize> = (0..nodes).collect();
        for i in (1..order.len()).rev() {
            let j = (self.partition.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut groups = vec![0u8; nodes];
        let mut start = 0;
        let mut cumulative = 0.0;
        for (g, share) in shares.iter().enumerate() {
            cumulative += share;
            let end = if g + 1 == shares.len() {
                nodes
            } else {
                ((cumulative * nodes as f64).round() as usize).min(nodes)
            };
            for &node in &order[start..end.max(start)] {
                groups[node] = g as u8;
            }
            start = end.max(start);
        }
        self.groups = Some(groups);
        self.one_way = one_way;
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups = None;
        self.one_way = false;
    }

    /// Node `node`'s partition group, while a partition holds.
    pub fn group(&self, node: usize) -> Option<u8> {
        self.groups.as_ref().map(|g| g[node])
    }

    /// Whether a datagram from `src` to `dst` would cross a partition.
    pub fn cut(&self, src: usize, dst: usize) -> bool {
        match &self.groups {
            None => false,
            Some(groups) if self.one_way => groups[src] < groups[dst],
            Some(groups) => groups[src] != groups[dst],
        }
    }

    /// What the world did so far, given what the engine counted of the datagrams'
    /// fates.
    pub fn stats(&self, fates: Fates) -> WorldStats {
        WorldStats {
            lost: fates.lost,
            partitioned: fates.partitioned,
            duplicated: fates.duplicated,
            reordered: fates.reordered,
            nat_dropped: self.nat().dropped,
        }
    }
}

impl Network for World {
    fn multicast_members(&self, src: usize) -> &[usize] {
        match self.segments.len() {
            0 => &[],
            n => &self.segments[self.hosts[src] % n],
        }
    }

    fn addr_of(&self, index: usize) -> SocketAddr {
        let host = self.hosts[index];
        if host == index {
            return self.home(index);
        }
        // A node behind another's IP: find its port (groups are small).
        let ip = self.home(host).ip();
        self.shared
            .range(SocketAddr::new(ip, PORT)..=SocketAddr::new(ip, u16::MAX))
            .find(|(_, &node)| node == index)
            .map(|(addr, _)| *addr)
            .expect("a node that shares an IP has an address there")
    }

    /// Also the node behind a public NAT address, on any port: who really lives there.
    fn index_of(&self, addr: SocketAddr, nodes: usize) -> Option<usize> {
        if let Some(node) = nat::node_of_public(addr.ip()) {
            return (node < nodes && self.nat().kind(node) != NatKind::Open).then_some(node);
        }
        if let Some(&node) = self.shared.get(&addr) {
            return (node < nodes).then_some(node);
        }
        // Nobody lives any longer at the address of a node that moved behind another IP,
        // nor at a node's address of the other family.
        Self::resident(&self.v6, &self.hosts, addr, nodes)
    }

    fn route(
        &self,
        now: Time,
        src: usize,
        src_addr: SocketAddr,
        dst: SocketAddr,
        nodes: usize,
    ) -> Route {
        let mut nat = self.nat();
        if !nat.is_on() {
            drop(nat);
            return Route::unchanged(Network::index_of(self, dst, nodes), src_addr);
        }
        let (hosts, shared, v6) = (&self.hosts, &self.shared, &self.v6);
        let index_of = |addr: SocketAddr| match shared.get(&addr) {
            Some(&node) => (node < nodes).then_some(node),
            None => Self::resident(v6, hosts, addr, nodes),
        };
        nat.route(now, src, src_addr, dst, index_of)
    }

    fn serial(&self) -> Option<&'static str> {
        self.nat()
            .is_on()
            .then_some("NAT mappings are state every datagram through a NAT changes")
    }

    fn lookahead(&self) -> Duration {
        self.spec.latency_min
    }

    fn fate(
        &self,
        _now: Time,
        datagram: Datagram,
        dst: usize,
        delays: &mut Vec<Duration>,
        fates: &mut Fates,
    ) {
        let src = datagram.src;
        if self.cut(src, dst) {
            fates.partitioned += 1;
            return;
        }
        if self.spec.loss > 0.0 && unit(&mut keyed(&self.loss, datagram)) < self.spec.loss {
            fates.lost += 1;
            return;
        }
        let base = self.link_latency(src, dst);
        let copies = if self.spec.duplicate > 0.0
            && unit(&mut keyed(&self.duplicate, datagram)) < self.spec.duplicate
        {
            fates.duplicated += 1;
            2
        } else {
            1
        };
        let mut reorder = (self.spec.reorder > 0.0).then(|| keyed(&self.reorder, datagram));
        for _ in 0..copies {
            let mut delay = base;
            if let Some(rng) = &mut reorder {
                if unit(rng) < self.spec.reorder {
                    fates.reordered += 1;
                    delay += uniform(rng, Duration::ZERO, self.spec.reorder_delay);
                }
            }
            delays.push(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn spec() -> NetworkSpec {
        NetworkSpec {
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(80),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(20),
            segments: 4,
            bootstrap: 3,
            join_window: Duration::from_secs(2),
            ..NetworkSpec::default()
        }
    }

    fn fates(world: &World, n: usize, counts: &mut Fates) -> Vec<Vec<Duration>> {
        (0..n)
            .map(|i| {
                let mut d = Vec::new();
                let datagram = Datagram {
                    src: i % 10,
                    seq: i as u64,
                };
                world.fate(Time::ZERO, datagram, (i * 7 + 1) % 10, &mut d, counts);
                d
            })
            .collect()
    }

    #[test]
    fn link_latency_is_symmetric_in_range_and_seeded() {
        let w = World::new(7, 100, &spec());
        for (a, b) in [(0, 1), (3, 99), (50, 2)] {
            let l = w.link_latency(a, b);
            assert_eq!(l, w.link_latency(b, a));
            assert!((Duration::from_millis(5)..=Duration::from_millis(80)).contains(&l));
        }
        let other = World::new(8, 100, &spec());
        let differ = (0..50).filter(|&i| w.link_latency(i, i + 1) != other.link_latency(i, i + 1));
        assert!(differ.count() > 40);
    }

    #[test]
    fn turning_on_loss_does_not_move_the_latency_of_delivered_datagrams() {
        let clean = World::new(3, 10, &spec());
        let lossy = World::new(
            3,
            10,
            &NetworkSpec {
                loss: 0.3,
                ..spec()
            },
        );
        let mut counts = Fates::default();
        let (a, b) = (
            fates(&clean, 1000, &mut counts),
            fates(&lossy, 1000, &mut counts),
        );
        let mut lost = 0;
        for (x, y) in a.iter().zip(&b) {
            if y.is_empty() {
                lost += 1;
            } else {
                assert_eq!(x, y);
            }
        }
        assert!((200..400).contains(&lost), "{lost} of 1000 lost at 30 %");
    }

    #[test]
    fn a_datagrams_fate_is_the_same_in_whatever_order_datagrams_are_asked_about() {
        let w = World::new(
            2,
            10,
            &NetworkSpec {
                loss: 0.2,
                duplicate: 0.2,
                reorder: 0.3,
                ..spec()
            },
        );
        let datagrams: Vec<Datagram> = (0..400)
            .map(|i| Datagram {
                src: i % 10,
                seq: i as u64 / 10,
            })
            .collect();
        let ask = |order: &mut dyn Iterator<Item = &Datagram>| {
            let mut counts = Fates::default();
            let fates: BTreeMap<(usize, u64), Vec<Duration>> = order
                .map(|&d| {
                    let mut delays = Vec::new();
                    w.fate(Time::ZERO, d, (d.src + 3) % 10, &mut delays, &mut counts);
                    ((d.src, d.seq), delays)
                })
                .collect();
            (fates, counts)
        };
        let forward = ask(&mut datagrams.iter());
        let backward = ask(&mut datagrams.iter().rev());
        assert_eq!(forward, backward);
        let (fates, counts) = forward;
        assert!(counts.lost > 40 && counts.duplicated > 30 && counts.reordered > 50);
        // Each datagram draws its own fate: the delays of one link vary.
        let link: BTreeSet<&Vec<Duration>> = fates
            .iter()
            .filter(|((src, _), d)| *src == 1 && d.len() == 1)
            .map(|(_, d)| d)
            .collect();
        assert!(link.len() > 3, "{link:?}");
    }

    #[test]
    fn a_world_with_nats_is_asked_from_one_thread_and_its_lookahead_is_the_smallest_latency() {
        let open = World::new(1, 10, &spec());
        assert_eq!(open.serial(), None);
        assert_eq!(open.lookahead(), Duration::from_millis(5));
        let nat = nat::NatSpec {
            open: 0.5,
            consistent: 0.5,
            random: 0.0,
        };
        let natted = World::new(1, 10, &NetworkSpec { nat, ..spec() });
        assert!(natted.serial().is_some_and(|why| why.contains("NAT")));
    }

    #[test]
    fn duplication_and_reordering_follow_their_rates() {
        let s = NetworkSpec {
            duplicate: 0.1,
            reorder: 0.2,
            ..spec()
        };
        let w = World::new(1, 10, &s);
        let mut counts = Fates::default();
        let all = fates(&w, 10_000, &mut counts);
        let twice = all.iter().filter(|d| d.len() == 2).count();
        assert!((800..1200).contains(&twice), "{twice}");
        let stats = w.stats(counts);
        assert_eq!(stats.duplicated as usize, twice);
        assert!(
            (2000..2800).contains(&(stats.reordered as usize)),
            "{stats:?}"
        );
    }

    #[test]
    fn partitions_cut_both_ways_or_one_way_and_heal() {
        let mut w = World::new(5, 100, &spec());
        w.partition(&[0.5, 0.5], false);
        let in_zero = (0..100).filter(|&i| w.group(i) == Some(0)).count();
        assert_eq!(in_zero, 50);
        let a = (0..100).find(|&i| w.group(i) == Some(0)).unwrap();
        let b = (0..100).find(|&i| w.group(i) == Some(1)).unwrap();
        assert!(w.cut(a, b) && w.cut(b, a));
        w.partition(&[0.5, 0.5], true);
        let a = (0..100).find(|&i| w.group(i) == Some(0)).unwrap();
        let b = (0..100).find(|&i| w.group(i) == Some(1)).unwrap();
        assert!(w.cut(a, b) && !w.cut(b, a));
        let mut d = Vec::new();
        let mut counts = Fates::default();
        let datagram = Datagram { src: a, seq: 1 };
        w.fate(Time::ZERO, datagram, b, &mut d, &mut counts);
        assert!(d.is_empty());
        w.heal();
        w.fate(Time::ZERO, datagram, b, &mut d, &mut counts);
        assert_eq!(d.len(), 1);
        assert_eq!(counts.partitioned, 1);
    }

    #[test]
    fn a_partition_puts_nodes_that_join_later_in_a_group_too() {
        // 100 nodes of which the last 30 join mid-run: all 100 are in a group.
        let mut w = World::new(5, 100, &spec());
        w.partition(&[0.7, 0.3], false);
        let in_zero = (0..100).filter(|&i| w.group(i) == Some(0)).count();
        assert_eq!(in_zero, 70);
        let (a, b) = (0..100)
            .flat_map(|a| (70..100).map(move |b| (a, b)))
            .find(|&(a, b)| w.group(a) != w.group(b))
            .unwrap();
        assert!(w.cut(a, b) && w.cut(b, a));
    }

    #[test]
    fn multicast_reaches_the_own_segment() {
        let w = World::new(1, 10, &spec());
        assert_eq!(w.multicast_members(1), &[1, 5, 9]);
        let none = World::new(
            1,
            10,
            &NetworkSpec {
                segments: 0,
                ..spec()
            },
        );
        assert!(none.multicast_members(1).is_empty());
    }
}
