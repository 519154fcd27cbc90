//! [`Swarm`]: many [`Node`]s in one thread over a seeded network model.
//!
//! In: a [`SwarmConfig`] (size, seed, latency, loss, multicast segments, bootstrap
//! nodes) and commands for any node at any time. Out: every node's events and query
//! outcomes, network counters, and a trace hash over everything that happened.
//!
//! Time jumps to the next thing that happens: one queue keyed by `(time, seq)` holds
//! deliveries, node timers and scheduled commands, so the cost of a run grows with
//! its events, not with its simulated duration. A [`Network`] decides each datagram's
//! fate (the core's [`UniformNetwork`] by default; the simulator's world model in
//! `dswarm-sim`); each node gets its own stream of the run's seed, so node `n` draws
//! the same keys whatever the swarm's size. Same config, same [`Trace`] hash.
//!
//! This is the core's in-process test harness and the simulator's direct engine.

mod clock;
mod config;
mod network;
pub mod pair;
mod queue;
pub mod streams;
mod trace;

pub use clock::{ClockSkew, NodeClock};
pub use config::{ConfigureFn, PerNode, SwarmConfig};
pub use network::{
    addr_of, index_of, seed_stream, uniform, unit, Network, Route, UniformNetwork, PORT,
};
pub use trace::{
    first_checkpoint_divergence, first_divergence, log_context, set_log_context, Checkpoint, Kind,
    Record, Trace, CHECKPOINT_EVERY,
};

use std::collections::BTreeMap;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use std::time::Duration;

use crate::proto::node::Transmit;
use crate::proto::wire::WireContact;
use crate::proto::{Command, CommandError, Event, Node, NodeId, QueryId, QueryOutcome, Time};

use self::queue::Queue;

/// The multicast group of the simulated LAN segments.
pub const MULTICAST_GROUP: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 17760));
/// The wall clock every simulated node starts with (2027-01-15), in Unix seconds.
pub const UNIX_START: Duration = Duration::from_secs(1_800_000_000);

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

/// Many nodes, one thread, one seeded network; see the module docs.
pub struct Swarm<N: Network = UniformNetwork> {
    config: SwarmConfig,
    network: N,
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    queue: Queue,
    armed: Vec<Option<Time>>,
    now: Time,
    trace: Trace,
    net: NetStats,
    finished: BTreeMap<(usize, QueryId), Finished>,
    events: Option<Vec<(Time, usize, Event)>>,
    down: Vec<bool>,
    captured: Option<(usize, Vec<Captured>)>,
    /// Nodes whose datagrams are tapped (empty: none), and what was tapped.
    tapped: Vec<bool>,
    taps: Vec<Tapped>,
    delays: Vec<Duration>,
    /// Each node's clocks.
    clocks: Vec<NodeClock>,
    /// Each node's current life: 0 until it restarts; `None` while dormant.
    lives: Vec<Option<u64>>,
}

/// A datagram as delivered: its source and bytes.
pub type Captured = (SocketAddr, Vec<u8>);

/// A datagram a tapped node received or sent ([`Swarm::tap`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tapped {
    /// The tapped node.
    pub node: usize,
    /// Whether the node sent it (else it received it).
    pub sent: bool,
    /// When it was delivered or sent.
    pub at: Time,
    /// Its source address.
    pub src: SocketAddr,
    /// Its destination address.
    pub dst: SocketAddr,
    /// Its bytes.
    pub payload: Vec<u8>,
}

impl Swarm {
    /// Builds the swarm on the core's [`UniformNetwork`] and schedules every node's
    /// bootstrap within the join window.
    pub fn new(config: SwarmConfig) -> Swarm {
        let network = config.uniform_network();
        Swarm::with_network(config, network)
    }
}

impl<N: Network> Swarm<N> {
    /// Builds the swarm on `network` and schedules every node's bootstrap within the
    /// join window.
    pub fn with_network(config: SwarmConfig, network: N) -> Swarm<N> {
        let n = config.nodes;
        let addrs: Vec<SocketAddr> = (0..n).map(|i| network.addr_of(i)).collect();
        let nodes: Vec<Node> = (0..n).map(|i| config.node_at(i, &addrs)).collect();
        let joins = config.join_times();
        let clocks = (0..n).map(|i| config.clock(i)).collect();
        let awake = n - config.dormant.min(n);
        let mut swarm = Swarm {
            network,
            nodes,
            addrs,
            queue: Queue::default(),
            armed: vec![None; n],
            now: Time::ZERO,
            trace: Trace::new(),
            net: NetStats::default(),
            finished: BTreeMap::new(),
            events: None,
            down: vec![false; n],
            captured: None,
            tapped: Vec::new(),
            taps: Vec::new(),
            delays: Vec::with_capacity(2),
            clocks,
            lives: vec![Some(0); n],
            config,
        };
        for node in awake..n {
            swarm.down[node] = true;
            swarm.lives[node] = None;
        }
        for (i, at) in joins.into_iter().enumerate().take(awake) {
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

    /// The network model.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// The network model, to change it mid-run (partitions, say).
    pub fn network_mut(&mut self) -> &mut N {
        &mut self.network
    }

    /// The trace, to keep records or write it out.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
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

    /// Node `index` says goodbye to every peer it has a session with
    /// ([`Node::leave`]), its goodbyes go out, and it goes down for good.
    pub fn leave_gracefully(&mut self, index: usize) {
        if self.down[index] {
            return;
        }
        let local = self.local(index);
        self.nodes[index].leave(local);
        self.after(index);
        self.down[index] = true;
    }

    /// Brings node `index` (down: crashed, or dormant) back as a new process: a new
    /// [`Node`] with the same identity, an empty routing table, no sessions and no
    /// queries, knowing `bootstrap` (`None`: the swarm's bootstrap nodes), which runs
    /// [`Command::Bootstrap`] now. Its clocks run on from where they were; what its
    /// former self started never ends.
    pub fn revive(&mut self, index: usize, bootstrap: Option<Vec<SocketAddr>>) {
        debug_assert!(self.down[index], "only a node that is down comes back");
        let addr = self.addrs[index];
        let bootstrap = bootstrap.unwrap_or_else(|| self.bootstrap_addrs(index));
        // A dormant node's first life starts now; a crashed node begins its next one.
        let life = self.lives[index].map_or(0, |life| life + 1);
        self.lives[index] = Some(life);
        self.nodes[index] = self
            .config
            .build_life(index, addr, bootstrap, life, self.now);
        // Query ids start again with the new node: forget the old one's endings.
        self.finished.retain(|&(node, _), _| node != index);
        self.down[index] = false;
        self.armed[index] = None;
        let _ = self.start(index, Command::Bootstrap);
    }

    /// The swarm's bootstrap nodes' addresses, but node `index`'s own: its bootstrap
    /// list.
    pub fn bootstrap_addrs(&self, index: usize) -> Vec<SocketAddr> {
        let addr = self.addrs[index];
        (0..self.config.bootstrap_nodes.min(self.nodes.len()))
            .map(|b| self.addrs[b])
            .filter(|b| *b != addr)
            .collect()
    }

    /// The addresses of node `index`'s routing table contacts, closest buckets last:
    /// what a process that saved its peers would bootstrap from.
    pub fn table_addrs(&self, index: usize) -> Vec<SocketAddr> {
        self.nodes[index].table().iter().map(|c| c.addr).collect()
    }

    /// Node `index`'s clocks.
    pub fn clock(&self, index: usize) -> NodeClock {
        self.clocks[index]
    }

    /// Node `index`'s monotonic time now.
    fn local(&self, index: usize) -> Time {
        self.clocks[index].local(self.now)
    }

    /// Delivers `payload` to node `to` as if `from` had sent it, after the smallest
    /// latency: how tests inject foreign or malformed datagrams.
    pub fn inject(&mut self, from: SocketAddr, to: usize, payload: Vec<u8>) {
        let latency = self.config.latency_min;
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

    /// Keeps a copy of every unicast datagram node `index` receives or sends from now
    /// on (not those [`Swarm::send_from`] sends for it), for [`Swarm::take_tapped`]:
    /// what a test-bed's replaying node has seen.
    pub fn tap(&mut self, index: usize) {
        if self.tapped.is_empty() {
            self.tapped = vec![false; self.nodes.len()];
        }
        self.tapped[index] = true;
    }

    /// Moves everything tapped since the last call to `out`, in the order it happened.
    pub fn take_tapped(&mut self, out: &mut Vec<Tapped>) {
        out.append(&mut self.taps);
    }

    /// Sends `payload` from node `src` to `dst` now, as if the node had sent it:
    /// through the network, counted and traced like any datagram. How a test-bed makes
    /// a node send what its protocol never would (floods, replays). A node that is down
    /// sends nothing.
    pub fn send_from(&mut self, src: usize, dst: SocketAddr, payload: Vec<u8>) {
        if self.down[src] {
            return;
        }
        self.route(src, Transmit { dst, payload });
    }

    /// Moves the events recorded since [`Swarm::record_events`] (or the last call) to
    /// `out`: how a long run watches events without keeping them all.
    pub fn drain_events(&mut self, out: &mut Vec<(Time, usize, Event)>) {
        if let Some(events) = &mut self.events {
            out.append(events);
        }
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
        self.trace.hash_hex()
    }

    /// How query `query` of node `node` ended, once it has.
    pub fn finished(&self, node: usize, query: QueryId) -> Option<&Finished> {
        self.finished.get(&(node, query))
    }

    /// How query `query` of node `node` ended, once it has, handed over and forgotten:
    /// a driver that reads each ending once keeps the map small over millions of
    /// lookups.
    pub fn take_finished(&mut self, node: usize, query: QueryId) -> Option<Finished> {
        self.finished.remove(&(node, query))
    }

    /// Starts a command on node `node` now.
    pub fn start(&mut self, node: usize, command: Command) -> Result<QueryId, CommandError> {
        let local = self.local(node);
        let result = self.nodes[node].start(local, command);
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
        self.queue.peek_at()
    }

    /// Runs the next moment at which anything happens; `false` once nothing is left.
    pub fn step(&mut self) -> bool {
        let Some((at, what)) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        let target = match &what {
            What::Deliver { to, .. } => *to,
            What::Timer { node } | What::Start { node, .. } => *node,
        };
        if self.down[target] {
            if let What::Deliver { to, from, payload } = &what {
                // Arrived at a node that is down: lost, and the trace says so.
                self.net.dropped += 1;
                self.trace.datagram(Kind::Down, now, *to, *from, payload);
            }
            if let What::Timer { .. } = what {
                self.armed[target] = None;
            }
            return true;
        }
        set_log_context(now, Some(target));
        let node = match what {
            What::Deliver { to, from, payload } => {
                self.net.delivered += 1;
                if let Some((node, captured)) = &mut self.captured {
                    if *node == to {
                        captured.push((from, payload.clone()));
                    }
                }
                if self.tapped.get(to).copied().unwrap_or(false) {
                    self.taps.push(Tapped {
                        node: to,
                        sent: false,
                        at: now,
                        src: from,
                        dst: self.addrs[to],
                        payload: payload.clone(),
                    });
                }
                let local = self.local(to);
                self.nodes[to].handle_datagram(local, from, &payload);
                to
            }
            What::Timer { node } => {
                if self.armed[node] != Some(at) {
                    return true; // superseded by an earlier deadline
                }
                self.armed[node] = None;
                let local = self.local(node);
                self.nodes[node].handle_timeout(local);
                node
            }
            What::Start { node, command } => {
                // Scheduled commands report through events; a refusal is dropped here.
                let local = self.local(node);
                let _ = self.nodes[node].start(local, command);
                node
            }
        };
        self.after(node);
        true
    }

    fn push(&mut self, at: Time, what: What) {
        self.queue.push(at, what);
    }

    /// Makes sure a timer entry fires no later than the node's deadline. A deadline
    /// that moved later keeps the earlier entry: the node is woken early, which its
    /// contract allows, and re-armed then. That keeps one entry per node in the queue
    /// instead of one per change of deadline.
    fn arm(&mut self, node: usize) {
        let Some(at) = self.nodes[node].poll_timeout() else {
            return;
        };
        // The node's deadline is on its own clock; the queue runs on the simulation's.
        let at = self.clocks[node].global(at);
        if self.armed[node].is_none_or(|armed| at < armed) {
            self.armed[node] = Some(at);
            self.push(at, What::Timer { node });
        }
    }

    /// Collects what node `index` produced after an input.
    fn after(&mut self, index: usize) {
        while let Some(transmit) = self.nodes[index].poll_transmit() {
            if self.tapped.get(index).copied().unwrap_or(false) && !transmit.dst.ip().is_multicast()
            {
                self.taps.push(Tapped {
                    node: index,
                    sent: true,
                    at: self.now,
                    src: self.addrs[index],
                    dst: transmit.dst,
                    payload: transmit.payload.clone(),
                });
            }
            self.route(index, transmit);
        }
        while let Some(event) = self.nodes[index].poll_event() {
            self.trace.event(self.now, index, &event);
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
        if transmit.dst.ip().is_multicast() {
            let members = self.network.multicast_members(src);
            if members.is_empty() {
                self.net.sent += 1;
                self.drop_datagram(src, transmit.dst, &transmit.payload);
                return;
            }
            let members = members.to_vec();
            let from = self.addrs[src];
            // The beacon group reaches the whole segment; any other group (a mailbox)
            // only the members listening there.
            let beacons = self.nodes[src].config().discovery.multicast_group == Some(transmit.dst);
            let listens = |to: usize| beacons || self.nodes[to].mailbox() == Some(transmit.dst);
            let members: Vec<usize> = members
                .into_iter()
                .filter(|&to| to != src && listens(to))
                .collect();
            for to in members {
                self.net.sent += 1;
                self.transmit(src, from, to, transmit.payload.as_slice());
            }
            return;
        }
        self.net.sent += 1;
        let nodes = self.nodes.len();
        let src_addr = self.addrs[src];
        match self
            .network
            .route(self.now, src, src_addr, transmit.dst, nodes)
        {
            Route::Deliver { to, from } => self.transmit(src, from, to, transmit.payload),
            Route::Unroutable | Route::Filtered => {
                self.drop_datagram(src, transmit.dst, &transmit.payload)
            }
        }
    }

    /// Sends one copy (or none, or duplicates, as the network decides) of `payload`
    /// from `src`, seen as coming from `from`, to `to`; the last copy takes the buffer
    /// itself.
    fn transmit(
        &mut self,
        src: usize,
        from: SocketAddr,
        to: usize,
        payload: impl Into<Vec<u8>> + AsRef<[u8]>,
    ) {
        let mut delays = std::mem::take(&mut self.delays);
        delays.clear();
        self.network.fate(self.now, src, to, &mut delays);
        if delays.is_empty() {
            self.drop_datagram(src, self.addrs[to], payload.as_ref());
        }
        let mut payload = Some(payload);
        for (copy, delay) in delays.iter().enumerate() {
            if copy > 0 {
                self.net.sent += 1; // a duplicate is one more datagram on the wire
            }
            let at = self.now + *delay;
            let bytes = payload.as_ref().map_or(&[][..], |p| p.as_ref());
            self.trace
                .datagram_sent(Kind::Deliver, self.now, at, src, self.addrs[to], bytes);
            let payload = if copy + 1 == delays.len() {
                payload.take().map(Into::into).unwrap_or_default()
            } else {
                bytes.to_vec()
            };
            self.push(at, What::Deliver { to, from, payload });
        }
        self.delays = delays;
    }

    fn drop_datagram(&mut self, src: usize, dst: SocketAddr, payload: &[u8]) {
        self.net.dropped += 1;
        self.trace.datagram(Kind::Drop, self.now, src, dst, payload);
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
