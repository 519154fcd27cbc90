//! The two engines that drive a swarm of [`Node`](dswarm::proto::Node)s through the
//! [`World`]: same nodes, same world, same scenario files.
//!
//! - [`direct`]: no tokio; event queues keyed by (time, destination, source, sequence) call each node's
//!   `handle_*` methods — the core's harness on the simulator's world. The engine for
//!   the largest runs.
//! - [`turmoil`]: every node runs the live adapter's driver loop
//!   ([`dswarm::live::driver::run`]) on a `turmoil-net` socket, all in one paused
//!   current-thread tokio runtime; our scheduler moves packets between hosts through
//!   the same [`World`] and fans multicast out.
//!
//! In: a [`SwarmConfig`] (nodes, seed, node template), the [`World`], and commands for
//! any node at any time. Out: the commands' ends ([`Done`]), network counters, and the
//! run's [`Trace`].
//!
//! Hostile nodes and the safety oracles need more: tapping and injecting datagrams,
//! commands nobody waits for, the sessions nodes open and the records they hold. The
//! direct engine has all of it; the turmoil engine has the sessions only, and the
//! scenario check refuses the hostile kinds that would need the rest there.

pub mod direct;
mod drivers;
pub mod live;
mod tables;
pub mod transfers;
pub mod turmoil;

use std::net::SocketAddr;
use std::time::Duration;

use dswarm::harness::{Fates, NetStats, Tapped, Trace};
use dswarm::proto::footprint::Footprint;
use dswarm::proto::{Command, CommandError, NodeId, QueryOutcome, Stats, Time};

use crate::safety::Owned;
use crate::world::World;

/// The end of a command started with [`Engine::start`].
#[derive(Clone, Debug)]
pub struct Done {
    /// The tag it was started with.
    pub tag: u64,
    /// The node that ran it.
    pub node: usize,
    /// When it ended (simulated).
    pub at: Time,
    /// How long it took and what came of it, or why it could not start.
    pub result: Result<(Duration, QueryOutcome), CommandError>,
}

/// What the runner needs of an engine; see the module docs.
pub trait Engine {
    /// The engine's name, as scenario files spell it.
    fn name(&self) -> &'static str;
    /// The threads it runs the nodes on.
    fn threads(&self) -> usize {
        1
    }
    /// Why it runs on one thread though more were asked for, if it does.
    fn serial(&self) -> Option<&'static str> {
        None
    }
    /// How its windows spread their work, when it keeps a profile.
    fn profile(&self) -> Option<dswarm::harness::Profile> {
        None
    }
    /// Whether a run on it is a function of its seed: the simulated engines are, the
    /// live engine is not.
    fn deterministic(&self) -> bool {
        true
    }
    /// What the live engine measured of the machine; `None` on the others.
    fn live_figures(&mut self) -> Option<crate::report::LiveFigures> {
        None
    }
    /// The simulated time.
    fn now(&self) -> Time;
    /// Runs everything due up to `until`, then sets the clock to it.
    fn run_until(&mut self, until: Time);
    /// The world, to change it mid-run (partitions, heals).
    fn world_mut(&mut self) -> &mut World;
    /// The world.
    fn world(&self) -> &World;
    /// Starts `command` on node `node` now (or at the engine's next step); its end is
    /// reported by [`Engine::drain_finished`] under `tag`.
    fn start(&mut self, node: usize, command: Command, tag: u64);
    /// Appends to `out` every command that ended since the last call, in the order
    /// they ended.
    fn drain_finished(&mut self, out: &mut Vec<Done>);
    /// Takes `nodes` off the network for good, now: silently, like a process killed
    /// mid-run. They receive nothing and send nothing from now on, their commands
    /// never end, and [`Engine::snapshots`] shows them as they were when they left.
    fn leave(&mut self, nodes: &[usize]);
    /// Takes `nodes` off the network for good, now, each saying goodbye first: the
    /// core's goodbye goes to every peer it has a session with, then it is gone as
    /// with [`Engine::leave`].
    fn leave_gracefully(&mut self, _nodes: &[usize]) {
        unsupported(self.name(), "graceful leaves")
    }
    /// Crashes `nodes` now: silently, like [`Engine::leave`], and their state is lost
    /// — a [`Engine::restart`] brings each back as a new process. By default a crash
    /// is a leave (an engine that cannot restart loses nothing more by it).
    fn crash(&mut self, nodes: &[usize]) {
        self.leave(nodes);
    }
    /// Brings crashed `nodes` back now: the same identity, a new process with no
    /// sessions and no queries (what the crashed one started never ends), which
    /// bootstraps again: from the swarm's bootstrap nodes with an empty routing table,
    /// or, with `keep_table`, from the contacts its table held when it crashed.
    fn restart(&mut self, _nodes: &[usize], _keep_table: bool) {
        unsupported(self.name(), "restarting crashed nodes")
    }
    /// Brings dormant `nodes` (built to join mid-run) into the swarm now: each starts
    /// and bootstraps from the swarm's bootstrap nodes.
    fn join(&mut self, _nodes: &[usize]) {
        unsupported(self.name(), "nodes joining mid-run")
    }
    /// Every node's id, by index.
    fn ids(&self) -> Vec<NodeId>;
    /// The network's counters.
    fn net_stats(&self) -> NetStats;
    /// What the world did to datagrams, by cause.
    fn fates(&self) -> Fates;
    /// The run's trace.
    fn trace(&self) -> &Trace;
    /// The run's trace, to keep records or write it out.
    fn trace_mut(&mut self) -> &mut Trace;
    /// Every node's routing table size and counters, by index.
    fn snapshots(&mut self) -> Vec<NodeSnapshot>;

    /// Every node's count of verified peers in its routing table, by index.
    fn table_sizes(&mut self) -> Vec<usize> {
        self.snapshots().iter().map(|s| s.peers).collect()
    }

    /// Starts keeping the sessions nodes open, for [`Engine::drain_verified`].
    fn watch_sessions(&mut self);

    /// Moves every session opened since the last call (or since
    /// [`Engine::watch_sessions`]) to `out`, in the order they opened.
    fn drain_verified(&mut self, out: &mut Vec<Verified>);

    /// Calls `f` with every record each node still in the swarm holds for others;
    /// `false` (and no call) when the engine cannot look into its nodes.
    fn scan_stores(&mut self, _f: &mut dyn FnMut(usize, Owned)) -> bool {
        false
    }

    /// Starts keeping a copy of every unicast datagram node `node` receives or sends,
    /// for [`Engine::take_tapped`].
    fn tap(&mut self, _node: usize) {
        unsupported(self.name(), "tapping datagrams")
    }

    /// Moves everything tapped since the last call to `out`, in order.
    fn take_tapped(&mut self, _out: &mut Vec<Tapped>) {}

    /// Sends `payload` from node `src` to `dst` now, through the world, as if the node
    /// had sent it; nothing if the node left.
    fn send_from(&mut self, _src: usize, _dst: SocketAddr, _payload: Vec<u8>) {
        unsupported(self.name(), "injecting datagrams")
    }

    /// Starts `command` on node `node` now, unless it left; its end is not reported.
    fn start_detached(&mut self, _node: usize, _command: Command) {
        unsupported(self.name(), "commands of hostile nodes")
    }

    /// Runs the `streams` workload's program ([`transfers::Transfers`]) on `nodes`,
    /// and has `listeners` listen for streams, open to anyone.
    fn stream_setup(&mut self, _nodes: &[usize], _listeners: &[usize]) {
        unsupported(self.name(), "streams")
    }

    /// Starts a transfer of `bytes` from node `node` to `peer`, tagged `tag`: its
    /// program connects, then opens a stream (see [`transfers`]).
    fn stream_start(&mut self, _node: usize, _peer: NodeId, _bytes: u64, _tag: u64) {
        unsupported(self.name(), "streams")
    }

    /// The transfers that ended, with their openers, and the sinks' wrong bytes with
    /// the first one's description.
    fn stream_ends(&mut self) -> (Vec<(usize, transfers::TransferEnd)>, u64, Option<String>) {
        (Vec::new(), 0, None)
    }
}

/// An engine asked for what it does not do: the scenario check should have refused the
/// scenario.
fn unsupported(engine: &str, what: &str) -> ! {
    panic!("the {engine} engine does not support {what}; the scenario check refuses such runs")
}

/// A session a node opened: the peer whose key the handshake proved, at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// When it opened.
    pub at: Time,
    /// The node that opened it.
    pub node: usize,
    /// The proven peer.
    pub peer: NodeId,
    /// The address the handshake ran with.
    pub addr: SocketAddr,
}

/// One node at the end of a run (or whenever asked).
#[derive(Clone, Debug)]
pub struct NodeSnapshot {
    /// Verified peers in its routing table.
    pub peers: usize,
    /// Its counters.
    pub stats: Stats,
    /// What it holds in memory, by part.
    pub footprint: Footprint,
}
