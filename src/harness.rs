//! [`Swarm`]: many [`Node`]s in one thread over a seeded network model.
//!
//! In: a [`SwarmConfig`] (size, seed, latency, loss, multicast segments, bootstrap
//! nodes) and commands for any node at any time. Out: every node's events and query
//! outcomes, network counters, and a trace hash over everything that happened.
//!
//! Time jumps to the next thing that happens: one queue keyed by `(time, seq)` holds
//! deliveries, node timers and scheduled commands, so the cost of a run grows with
//! its events, not with its simulated duration. The network draws latency and loss
//! from its own RNG stream; each node gets its own stream of the run's seed, so node
//! `n` draws the same keys whatever the swarm's size. Same config, same trace hash.
//!
//! This is the core's in-process test harness, and the seed of the simulator's direct
//! engine.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::proto::node::Transmit;
use crate::proto::wire::WireContact;
use crate::proto::{
    Command, CommandError, Config, Event, Identity, Node, NodeId, QueryId, QueryOutcome, Time,
};

/// The multicast group of the simulated LAN segments.
pub const MULTICAST_GROUP: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 17760));
/// The port every simulated node serves on.
pub const PORT: u16 = 7000;
/// The wall clock every simulated node starts with (2027-01-15), in Unix seconds.
pub const UNIX_START: Duration = Duration::from_secs(1_800_000_000);

/// RNG streams of one run's seed: one per concern, so adding one does not shift another.
const STREAM_NET: u64 = 1 << 40;
const STREAM_JOIN: u64 = (1 << 40) + 1;

/// The shape of a simulated swarm.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Nodes in the swarm.
    pub nodes: usize,
    /// The run's seed: every key, latency and loss comes from it.
    pub seed: u64,
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Largest one-way latency (uniform between the two).
    pub latency_max: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Multicast segments (node `i` is on segment `i % segments`); 0 turns beacons off.
    pub segments: usize,
    /// The first this many nodes are every node's bootstrap list.
    pub bootstrap_nodes: usize,
    /// Each node sends [`Command::Bootstrap`] at a random moment of this window.
    pub join_window: Duration,
    /// The template of every node's configuration (port, bootstrap list and multicast
    /// group are filled in per node).
    pub node: Config,
    /// Adjusts node `i`'s configuration after the template is filled in (another
    /// network key for some nodes, say).
    pub configure: Option<fn(usize, &mut Config)>,
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
            configure: None,
        }
    }
}

/// A query's end, as the harness saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// When it ended.
    pub at: Time,
    /// How long it took.
    pub elapsed: Duration,
    /// What came of it.
    pub outcome: QueryOutcome,
}

/// What the simulated network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams nodes sent (a multicast send counts once per receiver).
    pub sent: u64,
    /// Datagrams delivered (handed to a node that was up).
    pub delivered: u64,
    /// Datagrams lost, addressed to nobody, or arriving at a node that was down.
    pub dropped: u64,
}

enum What {
    Deliver {
        to: usize,
        from: SocketAddr,
        payload: Vec<u8>,
    },
    Timer {
        node: usize,
    },
    Start {
        node: usize,
        command: Command,
    },
}

struct Entry {
    at: Time,
    seq: u64,
    what: What,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Many nodes, one thread, one seeded network; see the module docs.
pub struct Swarm {
    config: SwarmConfig,
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    segments: Vec<Vec<usize>>,
    queue: BinaryHeap<Reverse<Entry>>,
    armed: Vec<Option<Time>>,
    seq: u64,
    now: Time,
    net_rng: ChaCha8Rng,
    trace: Sha256,
    net: NetStats,
    finished: BTreeMap<(usize, QueryId), Finished>,
    events: Option<Vec<(Time, usize, Event)>>,
    down: Vec<bool>,
    captured: Option<(usize, Vec<Captured>)>,
}

/// A datagram as delivered: its source and bytes.
pub type Captured = (SocketAddr, Vec<u8>);

impl Swarm {
    /// Builds the swarm and schedules every node's bootstrap within the join window.
    pub fn new(config: SwarmConfig) -> Swarm {
        let n = config.nodes;
        let addrs: Vec<SocketAddr> = (0..n).map(addr_of).collect();
        let bootstrap: Vec<SocketAddr> =
            addrs.iter().take(config.bootstrap_nodes).copied().collect();
        let mut segments = vec![Vec::new(); config.segments];
        let mut nodes = Vec::with_capacity(n);
        for (i, addr) in addrs.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(i as u64);
            let identity = Identity::from_rng(&mut rng);
            let mut node_config = config.node.clone();
            node_config.port = addr.port();
            node_config.bootstrap = bootstrap.iter().copied().filter(|b| b != addr).collect();
            node_config.discovery.multicast_group =
                (config.segments > 0).then_some(MULTICAST_GROUP);
            if let Some(configure) = config.configure {
                configure(i, &mut node_config);
            }
            if config.segments > 0 {
                segments[i % config.segments].push(i);
            }
            nodes.push(Node::new(
                Time::ZERO,
                UNIX_START,
                node_config,
                identity,
                rng,
            ));
        }
        let mut net_rng = ChaCha8Rng::seed_from_u64(config.seed);
        net_rng.set_stream(STREAM_NET);
        let mut join_rng = ChaCha8Rng::seed_from_u64(config.seed);
        join_rng.set_stream(STREAM_JOIN);
        let mut swarm = Swarm {
            nodes,
            addrs,
            segments,
            queue: BinaryHeap::new(),
            armed: vec![None; n],
            seq: 0,
            now: Time::ZERO,
            net_rng,
            trace: Sha256::new(),
            net: NetStats::default(),
            finished: BTreeMap::new(),
            events: None,
            down: vec![false; n],
            captured: None,
            config,
        };
        for i in 0..n {
            let at = Time::ZERO + uniform(&mut join_rng, Duration::ZERO, swarm.config.join_window);
            swarm.push(
                at,
                What::Start {
                    node: i,
                    command: Command::Bootstrap,
                },
            );
            swarm.arm(i);
        }
        swarm
    }

    /// Takes node `index` off the network (or puts it back): while down it receives
    /// nothing, its timers do not fire and it sends nothing, like a crashed process
    /// whose state is kept.
    pub fn set_down(&mut self, index: usize, down: bool) {
        self.down[index] = down;
        if !down {
            self.armed[index] = None;
            self.arm(index);
        }
    }

    /// Whether node `index` is down.
    pub fn is_down(&self, index: usize) -> bool {
        self.down[index]
    }

    /// Delivers `payload` to node `to` as if `from` had sent it, after the usual
    /// latency: how tests inject foreign or malformed datagrams.
    pub fn inject(&mut self, from: SocketAddr, to: usize, payload: Vec<u8>) {
        let latency = uniform(
            &mut self.net_rng,
            self.config.latency_min,
            self.config.latency_max,
        );
        self.push(self.now + latency, What::Deliver { to, from, payload });
    }

    /// Keeps a copy of every datagram delivered to node `index` from now on, for
    /// replaying later with [`Swarm::inject`].
    pub fn capture(&mut self, index: usize) {
        self.captured = Some((index, Vec::new()));
    }

    /// The datagrams captured since [`Swarm::capture`]: (source, bytes).
    pub fn captured(&self) -> &[Captured] {
        self.captured.as_ref().map_or(&[], |(_, c)| c.as_slice())
    }

    /// Keeps every node event from now on, for [`Swarm::events`].
    pub fn record_events(&mut self) {
        self.events.get_or_insert_with(Vec::new);
    }

    /// The events recorded since [`Swarm::record_events`]: (time, node index, event).
    pub fn events(&self) -> &[(Time, usize, Event)] {
        self.events.as_deref().unwrap_or(&[])
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SwarmConfig {
        &self.config
    }

    /// The simulated time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Every node, by index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node `index`'s address.
    pub fn addr(&self, index: usize) -> SocketAddr {
        self.addrs[index]
    }

    /// The network's counters.
    pub fn net_stats(&self) -> NetStats {
        self.net
    }

    /// A digest of every datagram delivered or dropped (time, source, destination,
    /// bytes) and every node event, in order. Same config, same hash.
    pub fn trace_hash(&self) -> String {
        let digest = self.trace.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How query `query` of node `node` ended, once it has.
    pub fn finished(&self, node: usize, query: QueryId) -> Option<&Finished> {
        self.finished.get(&(node, query))
    }

    /// Starts a command on node `node` now.
    pub fn start(&mut self, node: usize, command: Command) -> Result<QueryId, CommandError> {
        let result = self.nodes[node].start(self.now, command);
        self.after(node);
        result
    }

    /// Runs a command on node `node` and steps until it finishes or `limit` of
    /// simulated time has passed.
    pub fn run_command(
        &mut self,
        node: usize,
        command: Command,
        limit: Duration,
    ) -> Option<Finished> {
        let query = self.start(node, command).ok()?;
        let deadline = self.now + limit;
        while self.finished(node, query).is_none()
            && self.next_at().is_some_and(|at| at <= deadline)
        {
            self.step();
        }
        self.finished(node, query).cloned()
    }

    /// Runs everything due up to and including `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Time) {
        while self.next_at().is_some_and(|at| at <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    fn next_at(&self) -> Option<Time> {
        self.queue.peek().map(|Reverse(e)| e.at)
    }

    /// Runs the next moment at which anything happens; `false` once nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(Reverse(entry)) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(entry.at);
        let now = self.now;
        let target = match &entry.what {
            What::Deliver { to, .. } => *to,
            What::Timer { node } | What::Start { node, .. } => *node,
        };
        if self.down[target] {
            if let What::Deliver { to, from, payload } = &entry.what {
                // Arrived at a node that is down: lost, and the trace says so.
                self.net.dropped += 1;
                self.record(b'L', now, *to, *from, payload);
            }
            if let What::Timer { .. } = entry.what {
                self.armed[target] = None;
            }
            return true;
        }
        let node = match entry.what {
            What::Deliver { to, from, payload } => {
                self.net.delivered += 1;
                if let Some((node, captured)) = &mut self.captured {
                    if *node == to {
                        captured.push((from, payload.clone()));
                    }
                }
                self.nodes[to].handle_datagram(now, from, &payload);
                to
            }
            What::Timer { node } => {
                if self.armed[node] != Some(entry.at) {
                    return true; // superseded by an earlier deadline
                }
                self.armed[node] = None;
                self.nodes[node].handle_timeout(now);
                node
            }
            What::Start { node, command } => {
                // Scheduled commands report through events; a refusal is dropped here.
                let _ = self.nodes[node].start(now, command);
                node
            }
        };
        self.after(node);
        true
    }

    fn push(&mut self, at: Time, what: What) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            at,
            seq: self.seq,
            what,
        }));
    }

    /// Makes sure a timer entry fires no later than the node's deadline. A deadline
    /// that moved later keeps the earlier entry: the node is woken early, which its
    /// contract allows, and re-armed then. That keeps one entry per node in the queue
    /// instead of one per change of deadline.
    fn arm(&mut self, node: usize) {
        let Some(at) = self.nodes[node].poll_timeout() else {
            return;
        };
        if self.armed[node].is_none_or(|armed| at < armed) {
            self.armed[node] = Some(at);
            self.push(at, What::Timer { node });
        }
    }

    /// Collects what node `index` produced after an input.
    fn after(&mut self, index: usize) {
        while let Some(transmit) = self.nodes[index].poll_transmit() {
            self.route(index, transmit);
        }
        while let Some(event) = self.nodes[index].poll_event() {
            self.trace.update(self.now.as_micros().to_be_bytes());
            self.trace.update((index as u64).to_be_bytes());
            self.trace.update(format!("{event:?}").as_bytes());
            if let Event::QueryFinished {
                query,
                elapsed,
                outcome,
            } = &event
            {
                let finished = Finished {
                    at: self.now,
                    elapsed: *elapsed,
                    outcome: outcome.clone(),
                };
                self.finished.insert((index, *query), finished);
            }
            if let Some(events) = &mut self.events {
                events.push((self.now, index, event));
            }
        }
        self.arm(index);
    }

    fn route(&mut self, src: usize, transmit: Transmit) {
        let from = self.addrs[src];
        if transmit.dst.ip().is_multicast() {
            if self.segments.is_empty() {
                self.net.sent += 1;
                self.drop_datagram(src, transmit.dst, &transmit.payload);
                return;
            }
            let segment = src % self.segments.len();
            for k in 0..self.segments[segment].len() {
                let to = self.segments[segment][k];
                if to != src {
                    self.net.sent += 1;
                    self.transmit(src, from, to, transmit.payload.clone());
                }
            }
            return;
        }
        self.net.sent += 1;
        match index_of(transmit.dst, self.nodes.len()) {
            Some(to) => self.transmit(src, from, to, transmit.payload),
            None => self.drop_datagram(src, transmit.dst, &transmit.payload),
        }
    }

    fn transmit(&mut self, src: usize, from: SocketAddr, to: usize, payload: Vec<u8>) {
        let lost = self.config.loss > 0.0 && unit(&mut self.net_rng) < self.config.loss;
        if lost {
            self.drop_datagram(src, self.addrs[to], &payload);
            return;
        }
        let latency = uniform(
            &mut self.net_rng,
            self.config.latency_min,
            self.config.latency_max,
        );
        let at = self.now + latency;
        self.record(b'D', at, src, self.addrs[to], &payload);
        self.push(at, What::Deliver { to, from, payload });
    }

    fn drop_datagram(&mut self, src: usize, dst: SocketAddr, payload: &[u8]) {
        self.net.dropped += 1;
        self.record(b'X', self.now, src, dst, payload);
    }

    fn record(&mut self, kind: u8, at: Time, src: usize, dst: SocketAddr, payload: &[u8]) {
        self.trace.update([kind]);
        self.trace.update(at.as_micros().to_be_bytes());
        self.trace.update((src as u64).to_be_bytes());
        match dst {
            SocketAddr::V4(v4) => self.trace.update(v4.ip().octets()),
            SocketAddr::V6(v6) => self.trace.update(v6.ip().octets()),
        }
        self.trace.update(dst.port().to_be_bytes());
        self.trace.update((payload.len() as u64).to_be_bytes());
        self.trace.update(payload);
    }

    /// The global oracle of a lookup by node `asker`: of the `k` ids closest to
    /// `target` among all nodes but the asker, how many `found` holds, and how many
    /// the oracle holds (fewer than `k` only in tiny swarms).
    pub fn recall(
        &self,
        asker: usize,
        target: &NodeId,
        found: &[WireContact],
        k: usize,
    ) -> (usize, usize) {
        let asker = self.nodes[asker].id();
        let mut oracle: Vec<NodeId> = self.ids().into_iter().filter(|id| *id != asker).collect();
        oracle.sort_unstable_by_key(|id| id.distance(target));
        oracle.truncate(k);
        let hits = oracle
            .iter()
            .filter(|id| found.iter().any(|c| c.id == **id))
            .count();
        (hits, oracle.len())
    }

    /// The ids of every node, with their indices, for oracles.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(Node::id).collect()
    }
}

/// Node `index`'s address: 10.0.0.0/8 counted from 10.0.0.1, port [`PORT`].
pub fn addr_of(index: usize) -> SocketAddr {
    let ip = 0x0A00_0001u32 + u32::try_from(index).expect("fewer than 2^24 nodes");
    SocketAddr::from((Ipv4Addr::from(ip), PORT))
}

fn index_of(addr: SocketAddr, nodes: usize) -> Option<usize> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    if v4.port() != PORT {
        return None;
    }
    let index = u32::from(*v4.ip()).checked_sub(0x0A00_0001)? as usize;
    (index < nodes).then_some(index)
}

/// A uniform draw from `[0, 1)`.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw from `[min, max]`, in whole microseconds.
fn uniform(rng: &mut ChaCha8Rng, min: Duration, max: Duration) -> Duration {
    let (lo, hi) = (min.as_micros() as u64, max.as_micros() as u64);
    if hi <= lo {
        return min;
    }
    Duration::from_micros(lo + rng.next_u64() % (hi - lo + 1))
}
