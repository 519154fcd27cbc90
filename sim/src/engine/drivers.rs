//! The comings and goings of nodes on the engines whose nodes run the live driver loop
//! (turmoil, live), written once: leaving, crashing, restarting, joining, and the
//! snapshots of nodes that left.
//!
//! In: an engine that can ask its drivers for snapshots, take a node off the network,
//! send a driver a control and start a node's next life ([`Drivers`]), and its
//! [`Lives`]. Out: the [`Engine`](super::Engine) methods of the same names, as free
//! functions the two engines call.

use std::net::SocketAddr;

use dswarm::harness::SwarmConfig;
use dswarm::live::driver::{self, Control};

use super::NodeSnapshot;

/// What an engine keeps of its nodes' lives.
#[derive(Debug)]
pub(super) struct Lives {
    /// Each node that left (or has not joined yet), as it was when it left.
    pub(super) departed: Vec<Option<NodeSnapshot>>,
    /// The addresses in a crashed node's routing table when it crashed.
    pub(super) saved: Vec<Vec<SocketAddr>>,
    /// Nodes saying goodbye: the engine takes them off the network at the end of its
    /// next step.
    pub(super) leaving: Vec<usize>,
}

impl Lives {
    /// `nodes` nodes, the first `awake` on the network, the others dormant.
    pub(super) fn new(nodes: usize, awake: usize) -> Lives {
        let dormant = NodeSnapshot {
            peers: 0,
            stats: Default::default(),
            footprint: Default::default(),
        };
        Lives {
            departed: (0..nodes)
                .map(|i| (i >= awake).then(|| dormant.clone()))
                .collect(),
            saved: vec![Vec::new(); nodes],
            leaving: Vec::new(),
        }
    }

    /// Of `nodes`, those still here.
    fn here(&self, nodes: &[usize]) -> Vec<usize> {
        nodes
            .iter()
            .copied()
            .filter(|&node| self.departed[node].is_none())
            .collect()
    }
}

/// What the shared functions need of an engine.
pub(super) trait Drivers {
    fn lives(&mut self) -> &mut Lives;
    fn config(&self) -> &SwarmConfig;
    /// Every node's simulated address, by index (the world's).
    fn addrs(&self) -> &[SocketAddr];
    /// The drivers' own snapshots of `nodes`, in order.
    fn ask(&mut self, nodes: &[usize]) -> Vec<driver::Snapshot>;
    /// Takes node `node` off the network now, for good (until a revival).
    fn take_down(&mut self, node: usize);
    /// Queues `control` for node `node`'s driver.
    fn send_control(&self, node: usize, control: Control);
    /// Node `node` runs again from now as a new process knowing `bootstrap`, and
    /// bootstraps.
    fn revive(&mut self, node: usize, bootstrap: Vec<SocketAddr>);
}

fn snapshot_of(snapshot: driver::Snapshot) -> NodeSnapshot {
    NodeSnapshot {
        peers: snapshot.peers.len(),
        stats: snapshot.stats,
        footprint: snapshot.footprint,
    }
}

/// Every node's snapshot: asked of the drivers still running, kept for those that left.
pub(super) fn snapshots(engine: &mut impl Drivers) -> Vec<NodeSnapshot> {
    let nodes = engine.config().nodes;
    let here = engine.lives().here(&(0..nodes).collect::<Vec<_>>());
    let mut asked = engine.ask(&here).into_iter().map(snapshot_of);
    let lives = engine.lives();
    (0..nodes)
        .map(|node| match &lives.departed[node] {
            Some(snapshot) => snapshot.clone(),
            None => asked.next().expect("one snapshot per node still here"),
        })
        .collect()
}

/// Keeps the snapshot of each of `nodes` still here (their counters belong in the
/// report) and returns those nodes.
fn depart(engine: &mut impl Drivers, nodes: &[usize]) -> Vec<usize> {
    let here = engine.lives().here(nodes);
    let snapshots = engine.ask(&here);
    let lives = engine.lives();
    for (&node, snapshot) in here.iter().zip(snapshots) {
        lives.departed[node] = Some(snapshot_of(snapshot));
    }
    here
}

/// [`Engine::leave`](super::Engine::leave).
pub(super) fn leave(engine: &mut impl Drivers, nodes: &[usize]) {
    for node in depart(engine, nodes) {
        engine.take_down(node);
    }
}

/// [`Engine::leave_gracefully`](super::Engine::leave_gracefully): each says goodbye
/// now and is taken off at the end of the engine's next step.
pub(super) fn leave_gracefully(engine: &mut impl Drivers, nodes: &[usize]) {
    for node in depart(engine, nodes) {
        engine.send_control(node, Control::Leave);
        engine.lives().leaving.push(node);
    }
}

/// [`Engine::crash`](super::Engine::crash), keeping the addresses of each node's
/// routing table for a restart with `keep_table`.
pub(super) fn crash(engine: &mut impl Drivers, nodes: &[usize]) {
    let here = engine.lives().here(nodes);
    let snapshots = engine.ask(&here);
    for (node, snapshot) in here.into_iter().zip(snapshots) {
        let lives = engine.lives();
        lives.saved[node] = snapshot.peers.iter().map(|c| c.addr).collect();
        lives.departed[node] = Some(snapshot_of(snapshot));
        engine.take_down(node);
    }
}

/// [`Engine::restart`](super::Engine::restart).
pub(super) fn restart(engine: &mut impl Drivers, nodes: &[usize], keep_table: bool) {
    for &node in nodes {
        let mut bootstrap = Vec::new();
        if keep_table {
            bootstrap = std::mem::take(&mut engine.lives().saved[node]);
        }
        for b in bootstrap_addrs(engine.config(), engine.addrs(), node) {
            if !bootstrap.contains(&b) {
                bootstrap.push(b);
            }
        }
        engine.lives().departed[node] = None;
        engine.revive(node, bootstrap);
    }
}

/// [`Engine::join`](super::Engine::join).
pub(super) fn join(engine: &mut impl Drivers, nodes: &[usize]) {
    for &node in nodes {
        let bootstrap = bootstrap_addrs(engine.config(), engine.addrs(), node);
        engine.lives().departed[node] = None;
        engine.revive(node, bootstrap);
    }
}

/// The swarm's bootstrap nodes' addresses (every node's is in `addrs`), but node
/// `node`'s own.
fn bootstrap_addrs(config: &SwarmConfig, addrs: &[SocketAddr], node: usize) -> Vec<SocketAddr> {
    (0..config.bootstrap_nodes.min(config.nodes))
        .filter(|&b| b != node)
        .map(|b| addrs[b])
        .collect()
}
