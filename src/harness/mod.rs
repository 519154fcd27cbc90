//! [`Swarm`]: many [`Node`]s over a seeded network model, on one thread or many.
//!
//! In: a [`SwarmConfig`] (size, seed, latency, loss, multicast segments, bootstrap
//! nodes, threads) and commands for any node at any time. Out: every node's events and
//! query outcomes, network counters, and a trace hash over everything that happened.
//!
//! Time jumps to the next thing that happens: queues of deliveries, node timers and
//! scheduled commands, so the cost of a run grows with its events, not with its
//! simulated duration. A [`Network`] decides each datagram's fate (the core's
//! [`UniformNetwork`] by default; the simulator's world model in `dswarm-sim`); each
//! node gets its own stream of the run's seed, so node `n` draws the same keys whatever
//! the swarm's size. Same config, same [`Trace`] hash.
//!
//! ## How the run stays the same at any thread count
//!
//! - The nodes are split into parts of contiguous indices: one on one thread, 8 a
//!   thread on several ([`SwarmConfig::threads`]), shared out window by window; each
//!   part has its own queue.
//! - Every event has a key that no partitioning decides: its time, the node it happens
//!   to, the node that caused it and that node's own sequence number. A node sees its
//!   inputs in key order, whichever part holds it.
//! - A datagram's fate is drawn from the seed, the concern, its sender and the sender's
//!   sequence number ([`keyed`]), not from a stream other datagrams read.
//! - The parts advance in windows no longer than the network's smallest latency (its
//!   [`Network::lookahead`]): nothing sent within a window arrives within it, so no
//!   part's window depends on another's. Windows start at the earliest pending event
//!   of the whole swarm, wherever it is. Events for other parts' nodes are handed
//!   over before the next window, and the trace leaves, node events and taps of every part
//!   are merged in (time, node) order: the order in which the trace hash is folded.
//! - Commands, and every other change from outside ([`Swarm::start`],
//!   [`Swarm::set_down`], …), happen between windows, on the caller's thread.
//!
//! One thread runs the very same windows, so one thread and eight give one hash. A
//! network without a smallest latency, or one that must be asked in order
//! ([`Network::serial`]), runs on one thread, and [`Swarm::serial`] says why.
//!
//! This is the core's in-process test harness and the simulator's direct engine.

mod clock;
mod config;
mod network;
pub mod pair;
mod parallel;
mod part;
mod queue;
mod router;
pub mod streams;
mod trace;

pub use clock::{ClockSkew, NodeClock};
pub use config::{ConfigureFn, PerNode, SwarmConfig};
pub use network::{
    addr_of, addr_of_v6, index_of, keyed, seed_stream, uniform, unit, Datagram, Fates, Network,
    Route, UniformNetwork, PORT,
};
pub use parallel::{Profile, PROFILE_THREADS};
pub use router::{Hop, Routed, Router};
pub use trace::{
    first_checkpoint_divergence, first_divergence, log_context, set_log_context, Checkpoint, Kind,
    Leaf, Record, Trace, CHECKPOINT_EVERY,
};

use std::collections::BTreeMap;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use std::time::Duration;

use crate::proto::node::Transmit;
use crate::proto::wire::WireContact;
use crate::proto::{Command, CommandError, Event, Node, NodeId, QueryId, QueryOutcome, Time};

pub use self::part::App;
use self::part::{Env, Meta, Part, Worker};

/// The multicast group of the simulated LAN segments.
pub const MULTICAST_GROUP: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 17760));
/// The multicast group of the simulated LAN segments, for nodes with an IPv6 address:
/// link-local (`ff12::/16`), on [`MULTICAST_GROUP`]'s port. A node's mailbox follows
/// its beacon group's family ([`crate::proto::discovery::mailbox_group`]).
pub const MULTICAST_GROUP_V6: SocketAddr = SocketAddr::V6(std::net::SocketAddrV6::new(
    std::net::Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0, 0x7777),
    17760,
    0,
    0,
));
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

impl std::ops::AddAssign for NetStats {
    fn add_assign(&mut self, other: NetStats) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
    }
}

/// What happens to a node: a datagram arrives, its timer fires, a command starts.
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

/// Many nodes, one seeded network, any number of threads; see the module docs.
pub struct Swarm<N: Network = UniformNetwork> {
    config: SwarmConfig,
    network: N,
    nodes: Vec<Node>,
    meta: Vec<Meta>,
    addrs: Vec<SocketAddr>,
    mailboxes: Vec<Option<SocketAddr>>,
    parts: Vec<Part>,
    /// Nodes per part.
    chunk: usize,
    /// Threads the parts run on.
    threads: usize,
    /// Windows run so far.
    windows: u64,
    /// Why the swarm runs on one thread though more were asked for, if it does.
    serial: Option<&'static str>,
    lookahead: Duration,
    now: Time,
    trace: Trace,
    finished: BTreeMap<(usize, QueryId), Finished>,
    events: Option<Vec<(Time, usize, Event)>>,
    down: Vec<bool>,
    captured: Option<(usize, Vec<Captured>)>,
    /// Nodes whose datagrams are tapped (empty: none), and what was tapped.
    tapped: Vec<bool>,
    taps: Vec<Tapped>,
    /// Each node's clocks.
    clocks: Vec<NodeClock>,
    /// Each node's current life: 0 until it restarts; `None` while dormant.
    lives: Vec<Option<u64>>,
    profile: Option<Profile>,
    /// The threads besides the caller's that run parts, started at the first window
    /// shared out and kept until the swarm is dropped.
    pool: Option<rayon_core::ThreadPool>,
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

/// Runs `f` on a [`Worker`] of node `$node`'s part, borrowing the swarm's fields apart.
macro_rules! with_worker {
    ($swarm:expr, $node:expr, |$w:ident| $body:expr) => {{
        let swarm = &mut *$swarm;
        let env = Env {
            network: &swarm.network,
            addrs: &swarm.addrs,
            mailboxes: &swarm.mailboxes,
            clocks: &swarm.clocks,
            down: &swarm.down,
            tapped: &swarm.tapped,
            captured: swarm.captured.as_ref().map(|(node, _)| *node),
            keep: swarm.trace.keeps(),
            recording: swarm.events.is_some(),
            chunk: swarm.chunk,
        };
        let p = env.part_of($node);
        let part = &mut swarm.parts[p];
        part.now = swarm.now;
        let range = part.lo..(part.lo + swarm.chunk).min(swarm.nodes.len());
        let mut $w = Worker {
            env: &env,
            part,
            nodes: &mut swarm.nodes[range.clone()],
            meta: &mut swarm.meta[range],
        };
        let result = $body;
        swarm.merge_part(p);
        result
    }};
}

impl<N: Network> Swarm<N> {
    /// Builds the swarm on `network` and schedules every node's bootstrap within the
    /// join window.
    pub fn with_network(config: SwarmConfig, network: N) -> Swarm<N> {
        let n = config.nodes;
        let addrs: Vec<SocketAddr> = (0..n).map(|i| network.addr_of(i)).collect();
        let nodes: Vec<Node> = (0..n).map(|i| config.node_at(i, &addrs)).collect();
        let mailboxes = nodes.iter().map(Node::mailbox).collect();
        let joins = config.join_times();
        let clocks = (0..n).map(|i| config.clock(i)).collect();
        let awake = n - config.dormant.min(n);
        let lookahead = network.lookahead();
        let serial = if config.threads <= 1 {
            None
        } else if let Some(why) = network.serial() {
            Some(why)
        } else if lookahead.is_zero() {
            Some("the network's smallest latency is 0, so no part may run ahead of another")
        } else {
            None
        };
        let threads = if serial.is_some() {
            1
        } else {
            config.threads.clamp(1, n.max(1))
        };
        // One part on one thread; on several, many small ones that the threads share
        // out window by window.
        let parts = if threads == 1 {
            1
        } else {
            (threads * parallel::PARTS_PER_THREAD).min(n)
        };
        let chunk = n.div_ceil(parts.max(1)).max(1);
        let parts = (0..n.div_ceil(chunk).max(1))
            .map(|index| Part {
                index,
                lo: index * chunk,
                ..Part::default()
            })
            .collect();
        let mut swarm = Swarm {
            network,
            nodes,
            meta: (0..n).map(|_| Meta::default()).collect(),
            addrs,
            mailboxes,
            parts,
            chunk,
            threads,
            windows: 0,
            serial,
            lookahead,
            now: Time::ZERO,
            trace: Trace::new(),
            finished: BTreeMap::new(),
            events: None,
            down: vec![false; n],
            captured: None,
            tapped: Vec::new(),
            taps: Vec::new(),
            clocks,
            lives: vec![Some(0); n],
            profile: None,
            pool: None,
            config,
        };
        for node in awake..n {
            swarm.down[node] = true;
            swarm.lives[node] = None;
        }
        for (i, at) in joins.into_iter().enumerate().take(awake) {
            with_worker!(&mut swarm, i, |w| {
                w.push_own(
                    at,
                    i,
                    What::Start {
                        node: i,
                        command: Command::Bootstrap,
                    },
                );
                w.arm(i);
            });
        }
        swarm
    }

    /// The threads the swarm runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Why the swarm runs on one thread though [`SwarmConfig::threads`] asked for more,
    /// if it does.
    pub fn serial(&self) -> Option<&'static str> {
        self.serial
    }

    /// Measures from now on how the work of each window spreads over the nodes, for
    /// [`Swarm::profile`].
    pub fn start_profile(&mut self) {
        for part in &mut self.parts {
            part.load = Some(Vec::new());
        }
        self.profile = Some(Profile {
            threads: self.threads,
            ..Profile::default()
        });
    }

    /// The windows' profile since [`Swarm::start_profile`].
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
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
            self.meta[index].armed = None;
            with_worker!(self, index, |w| w.arm(index));
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
        with_worker!(self, index, |w| {
            let local = w.local(index);
            w.node(index).leave(local);
            w.after(index);
        });
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
        self.mailboxes[index] = self.nodes[index].mailbox();
        // Query ids start again with the new node: forget the old one's endings.
        self.finished.retain(|&(node, _), _| node != index);
        self.down[index] = false;
        self.meta[index].armed = None;
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

    /// Delivers `payload` to node `to` as if `from` had sent it, after the smallest
    /// latency: how tests inject foreign or malformed datagrams.
    pub fn inject(&mut self, from: SocketAddr, to: usize, payload: Vec<u8>) {
        let at = self.now + self.config.latency_min.max(self.lookahead);
        with_worker!(self, to, |w| w.push_own(
            at,
            to,
            What::Deliver { to, from, payload }
        ));
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
        with_worker!(self, src, |w| w.route(src, Transmit { dst, payload }));
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
        let mut net = NetStats::default();
        for part in &self.parts {
            net += part.routed.net;
        }
        net
    }

    /// What the network did to datagrams, by cause.
    pub fn fates(&self) -> Fates {
        let mut fates = Fates::default();
        for part in &self.parts {
            fates += part.routed.fates;
        }
        fates
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
        with_worker!(self, node, |w| {
            let local = w.local(node);
            let result = w.node(node).start(local, command);
            w.after(node);
            result
        })
    }

    /// Runs `app` on node `node` from now on: it sees every event the node produces
    /// (see [`App`]). Replaces an earlier one.
    pub fn set_app(&mut self, node: usize, app: Box<dyn App>) {
        self.meta[node].app = Some(app);
    }

    /// Calls `f` with node `node`, its time and its program, and sends what the node
    /// has to send after it.
    pub fn act<T>(
        &mut self,
        node: usize,
        f: impl FnOnce(Time, &mut Node, Option<&mut dyn App>) -> T,
    ) -> T {
        with_worker!(self, node, |w| {
            let local = w.local(node);
            let at = node - w.part.lo;
            let app = w.meta[at].app.as_deref_mut();
            let result = f(local, &mut w.nodes[at], app);
            w.after(node);
            result
        })
    }

    /// Every node's program, by node.
    pub fn apps(&self) -> impl Iterator<Item = (usize, &dyn App)> + '_ {
        self.meta
            .iter()
            .enumerate()
            .filter_map(|(i, meta)| meta.app.as_deref().map(|app| (i, app)))
    }

    /// Hands node `node` what a former life of it published ([`Node::restore`]).
    pub fn restore(&mut self, node: usize, owned: Vec<Command>) -> usize {
        with_worker!(self, node, |w| {
            let local = w.local(node);
            let taken = w.node(node).restore(local, owned);
            w.after(node);
            taken
        })
    }

    /// Runs a command on node `node` and runs windows until it finishes or `limit` of
    /// simulated time has passed.
    pub fn run_command(
        &mut self,
        node: usize,
        command: Command,
        limit: Duration,
    ) -> Option<Finished> {
        let query = self.start(node, command).ok()?;
        let deadline = self.now + limit;
        while self.finished(node, query).is_none() && self.step_until(deadline) {}
        self.finished(node, query).cloned()
    }

    /// Runs everything due up to and including `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Time) {
        self.run_windows(until, false);
        self.now = self.now.max(until);
    }

    /// Runs the next window; `false` once nothing is left.
    pub fn step(&mut self) -> bool {
        self.step_until(Time::MAX)
    }

    /// Runs the next window if anything is due up to `until`; whether one ran.
    fn step_until(&mut self, until: Time) -> bool {
        self.run_windows(until, true)
    }

    /// The earliest pending event of the whole swarm.
    fn next_at(&self) -> Option<Time> {
        self.parts.iter().filter_map(|p| p.queue.peek_at()).min()
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
