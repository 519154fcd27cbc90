//! [`SwarmConfig`]: the shape of a simulated swarm, and how each of its nodes is built.
//!
//! In: the swarm's size, seed, network figures, node template and per-node tweaks.
//! Out: node `i` as every engine builds it — its identity and RNG from stream `i` of
//! the seed, its configuration from the template, its clocks from the clock skew —
//! and the moments at which the nodes join.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::clock::{ClockSkew, NodeClock};
use super::network::{addr_of, seed_stream, uniform, UniformNetwork};
use super::{streams, MULTICAST_GROUP, MULTICAST_GROUP_V6};
use crate::proto::{Config, CryptoSuite, Identity, Node, Time};

/// The shape of a simulated swarm.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Nodes in the swarm.
    pub nodes: usize,
    /// The run's seed: every key, latency and loss comes from it.
    pub seed: u64,
    /// Smallest one-way latency ([`UniformNetwork`] only).
    pub latency_min: Duration,
    /// Largest one-way latency, uniform between the two ([`UniformNetwork`] only).
    pub latency_max: Duration,
    /// Probability that a datagram is lost ([`UniformNetwork`] only).
    pub loss: f64,
    /// Multicast segments; 0 turns beacons off. [`UniformNetwork`] puts node `i` on
    /// segment `i % segments`; another [`Network`] decides for itself.
    pub segments: usize,
    /// The first this many nodes are every node's bootstrap list.
    pub bootstrap_nodes: usize,
    /// Each node sends [`Command::Bootstrap`] at a random moment of this window.
    pub join_window: Duration,
    /// The template of every node's configuration (port, bootstrap list and multicast
    /// group are filled in per node).
    pub node: Config,
    /// The crypto suite of every node: [`CryptoSuite::Fast`] for very large runs.
    pub crypto: CryptoSuite,
    /// Node `i`'s suite instead, for a swarm that mixes suites (whose nodes of
    /// different suites never talk).
    pub crypto_of: Option<fn(usize) -> CryptoSuite>,
    /// Adjusts node `i`'s configuration after the template is filled in (another
    /// network key for some nodes, say).
    pub configure: Option<fn(usize, &mut Config)>,
    /// Like `configure`, after it, but a closure that may carry data of its own
    /// (which nodes of this run misbehave, say).
    pub per_node: Option<PerNode>,
    /// How far the nodes' clocks stray from the simulation's; none by default.
    pub clock_skew: ClockSkew,
    /// The last this many of `nodes` are dormant: built (their ids are known) but off
    /// the network, not joining until [`Swarm::revive`] brings them in. Nodes that join
    /// mid-run. They are never bootstrap nodes.
    pub dormant: usize,
    /// Threads the direct engine runs the nodes on (at least 1). The run is the same,
    /// trace hash and all, at every thread count; a network that must be asked in
    /// order ([`Network::serial`](super::Network::serial)) or has no smallest
    /// latency runs on one.
    pub threads: usize,
    /// Nodes whose identity is not their stream's: node index to the identity's
    /// secret seed (hostile identities ground near chosen keys, say). The node's
    /// stream is drawn from as before, so its other draws do not move.
    pub identity_seeds: Arc<BTreeMap<usize, [u8; 32]>>,
}

/// Adjusts node `i`'s configuration: [`SwarmConfig::per_node`].
#[derive(Clone)]
pub struct PerNode(pub Arc<ConfigureFn>);

/// What [`PerNode`] calls: node index, its configuration.
pub type ConfigureFn = dyn Fn(usize, &mut Config) + Send + Sync;

impl fmt::Debug for PerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PerNode(..)")
    }
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            nodes: 100,
            seed: 0,
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(50),
            loss: 0.0,
            segments: 0,
            bootstrap_nodes: 3,
            join_window: Duration::from_secs(2),
            node: Config::default(),
            crypto: CryptoSuite::Real,
            crypto_of: None,
            configure: None,
            per_node: None,
            clock_skew: ClockSkew::default(),
            dormant: 0,
            threads: 1,
            identity_seeds: Arc::default(),
        }
    }
}

impl SwarmConfig {
    /// Node `index` of this swarm, as every engine builds it: its identity and RNG
    /// from stream `index` of the seed (so node `n` draws the same keys whatever the
    /// swarm's size), its configuration from the template.
    pub fn node(&self, index: usize) -> Node {
        self.build(index, addr_of(index), addr_of)
    }

    /// Node `index` as [`SwarmConfig::node`] builds it, but at `addrs[index]`, with
    /// the bootstrap nodes at their places in `addrs` (every node's address, by index).
    pub fn node_at(&self, index: usize, addrs: &[SocketAddr]) -> Node {
        self.build(index, addrs[index], |b| addrs[b])
    }

    fn build(&self, index: usize, addr: SocketAddr, addr_of: impl Fn(usize) -> SocketAddr) -> Node {
        let bootstrap = (0..self.bootstrap_nodes.min(self.nodes))
            .map(addr_of)
            .filter(|b| *b != addr)
            .collect();
        self.build_life(index, addr, bootstrap, 0, Time::ZERO)
    }

    /// Node `index`'s clocks.
    pub fn clock(&self, index: usize) -> NodeClock {
        self.clock_skew.clock(self.seed, index)
    }

    /// Node `index` as it starts its `life`-th life (0: the first) at simulated time
    /// `now`, at `addr`, knowing `bootstrap`: the same identity in every life (from
    /// stream `index`), but each later life draws from an RNG stream of its own, so a
    /// restarted node does not replay its first life's ephemeral keys.
    pub fn build_life(
        &self,
        index: usize,
        addr: SocketAddr,
        bootstrap: Vec<SocketAddr>,
        life: u64,
        now: Time,
    ) -> Node {
        let mut rng = seed_stream(self.seed, streams::node(index));
        let mut identity = Identity::from_rng(&mut rng);
        if let Some(&seed) = self.identity_seeds.get(&index) {
            identity = Identity::from_seed(seed);
        }
        if life > 0 {
            rng = seed_stream(self.seed, streams::life(index, life));
        }
        let mut config = self.node.clone();
        config.port = addr.port();
        config.address = Some(addr);
        config.bootstrap = bootstrap;
        let group = match addr {
            SocketAddr::V4(_) => MULTICAST_GROUP,
            SocketAddr::V6(_) => MULTICAST_GROUP_V6,
        };
        config.discovery.multicast_group = (self.segments > 0).then_some(group);
        if let Some(configure) = self.configure {
            configure(index, &mut config);
        }
        if let Some(PerNode(per_node)) = &self.per_node {
            per_node(index, &mut config);
        }
        let clock = self.clock(index);
        let local = clock.local(now);
        let unix = clock.unix_at(local);
        let suite = self.crypto_of.map_or(self.crypto, |of| of(index));
        Node::with_suite(local, unix, config, identity, rng, suite)
    }

    /// When each node sends its [`Command::Bootstrap`]: a seeded moment of the join
    /// window, node by node.
    pub fn join_times(&self) -> Vec<Time> {
        let mut rng = seed_stream(self.seed, streams::JOIN);
        (0..self.nodes)
            .map(|_| Time::ZERO + uniform(&mut rng, Duration::ZERO, self.join_window))
            .collect()
    }

    /// The core's own network for this configuration.
    pub fn uniform_network(&self) -> UniformNetwork {
        UniformNetwork::new(
            self.seed,
            self.nodes,
            (self.latency_min, self.latency_max),
            self.loss,
            self.segments,
        )
    }
}
