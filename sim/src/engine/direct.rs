//! The direct engine: the core's [`Swarm`] harness on the simulator's [`World`].
//!
//! In: a [`SwarmConfig`] and a [`World`]. Out: what [`Engine`] promises. No tokio: queues keyed
//! by (time, destination, source, the source's sequence number), one a part of the
//! nodes, hold deliveries, timers and commands and call the nodes' `handle_*` methods
//! directly, on one thread or several, so time jumps from one event to the next and a
//! run costs what its events cost.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use dswarm::harness::{Fates, NetStats, Swarm, SwarmConfig, Tapped, Trace};

use dswarm::proto::{Command, Event, NodeId, QueryId, Time};

use std::any::Any;

use dswarm::proto::stream::Firewall;

use super::transfers::{TransferEnd, Transfers};
use super::{Done, Engine, NodeSnapshot, Verified};
use crate::safety::Owned;
use crate::world::World;

/// The direct engine; see the module docs.
pub struct Direct {
    swarm: Swarm<World>,
    /// Commands started and not yet ended: (node, query) to tag.
    pending: BTreeMap<(usize, QueryId), u64>,
    /// Commands that ended, and those that could not start, for the next drain.
    ended: Vec<Done>,
    /// Whether [`Engine::watch_sessions`] asked for the peers nodes verify.
    watching: bool,
    /// Peers verified since the last [`Engine::drain_verified`], when watching.
    verified: Vec<Verified>,
    /// Events drained from the swarm, reused.
    events: Vec<(Time, usize, Event)>,
}

impl Direct {
    /// Builds every node and schedules its join.
    pub fn new(config: SwarmConfig, world: World) -> Direct {
        let mut swarm = Swarm::with_network(config, world);
        // The nodes' events tell which commands ended: a drain then costs what ended
        // since the last one, not a look at every command still pending (at 100,000
        // nodes under 100,000 pings a second, ten thousand of them at every step).
        swarm.record_events();
        Direct {
            swarm,
            pending: BTreeMap::new(),
            ended: Vec::new(),
            watching: false,
            verified: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Sorts the swarm's new events: commands of ours that ended, peers verified.
    fn take_events(&mut self) {
        self.swarm.drain_events(&mut self.events);
        for (at, node, event) in self.events.drain(..) {
            match event {
                Event::QueryFinished {
                    query,
                    elapsed,
                    outcome,
                } => {
                    let Some(tag) = self.pending.remove(&(node, query)) else {
                        continue; // the join's and other commands the runner did not start
                    };
                    // The swarm keeps a copy until it is taken; the event says the same.
                    let _ = self.swarm.take_finished(node, query);
                    self.ended.push(Done {
                        tag,
                        node,
                        at,
                        result: Ok((elapsed, outcome)),
                    });
                }
                Event::PeerVerified { id, addr } if self.watching => {
                    self.verified.push(Verified {
                        at,
                        node,
                        peer: id,
                        addr,
                    });
                }
                _ => {}
            }
        }
    }

    /// Profiles the windows from now on ([`Engine::profile`]).
    pub fn start_profile(&mut self) {
        self.swarm.start_profile();
    }

    /// The harness underneath, for oracles and tests.
    pub fn swarm(&self) -> &Swarm<World> {
        &self.swarm
    }
}

impl Engine for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn threads(&self) -> usize {
        self.swarm.threads()
    }

    fn serial(&self) -> Option<&'static str> {
        self.swarm.serial()
    }

    fn profile(&self) -> Option<dswarm::harness::Profile> {
        self.swarm.profile().cloned()
    }

    fn now(&self) -> Time {
        self.swarm.now()
    }

    fn run_until(&mut self, until: Time) {
        self.swarm.run_until(until);
    }

    fn world_mut(&mut self) -> &mut World {
        self.swarm.network_mut()
    }

    fn world(&self) -> &World {
        self.swarm.network()
    }

    fn start(&mut self, node: usize, command: Command, tag: u64) {
        match self.swarm.start(node, command) {
            Ok(query) => {
                self.pending.insert((node, query), tag);
            }
            Err(error) => self.ended.push(Done {
                tag,
                node,
                at: self.swarm.now(),
                result: Err(error),
            }),
        }
    }

    fn drain_finished(&mut self, out: &mut Vec<Done>) {
        self.take_events();
        self.ended.sort_by_key(|done| (done.at, done.tag));
        out.append(&mut self.ended);
    }

    fn leave(&mut self, nodes: &[usize]) {
        // A node that is down keeps its state and never runs again: its datagrams
        // are dropped on arrival and its timers are skipped.
        for &node in nodes {
            self.swarm.set_down(node, true);
        }
    }

    fn leave_gracefully(&mut self, nodes: &[usize]) {
        for &node in nodes {
            self.swarm.leave_gracefully(node);
        }
    }

    fn crash(&mut self, nodes: &[usize]) {
        // The node object stays, down, until a restart replaces it: its table is what
        // a process that saved its peers would find on disk.
        for &node in nodes {
            self.swarm.set_down(node, true);
        }
        // Its queries die with it: they never end.
        self.pending.retain(|&(node, _), _| !nodes.contains(&node));
    }

    fn restart(&mut self, nodes: &[usize], keep_table: bool) {
        for &node in nodes {
            // A process that saved its peers knows them and its configured bootstrap
            // nodes both.
            let bootstrap = keep_table.then(|| {
                let mut addrs = self.swarm.table_addrs(node);
                for b in self.swarm.bootstrap_addrs(node) {
                    if !addrs.contains(&b) {
                        addrs.push(b);
                    }
                }
                addrs
            });
            self.swarm.revive(node, bootstrap);
        }
    }

    fn join(&mut self, nodes: &[usize]) {
        for &node in nodes {
            self.swarm.revive(node, None);
        }
    }

    fn ids(&self) -> Vec<NodeId> {
        self.swarm.ids()
    }

    fn net_stats(&self) -> NetStats {
        self.swarm.net_stats()
    }

    fn fates(&self) -> Fates {
        self.swarm.fates()
    }

    fn trace(&self) -> &Trace {
        self.swarm.trace()
    }

    fn trace_mut(&mut self) -> &mut Trace {
        self.swarm.trace_mut()
    }

    fn watch_sessions(&mut self) {
        self.watching = true;
    }

    fn drain_verified(&mut self, out: &mut Vec<Verified>) {
        self.take_events();
        out.append(&mut self.verified);
    }

    fn scan_stores(&mut self, f: &mut dyn FnMut(usize, Owned)) -> bool {
        for (index, node) in self.swarm.nodes().iter().enumerate() {
            if self.swarm.is_down(index) {
                continue;
            }
            for record in node.stored_records() {
                f(index, Owned::of(record));
            }
        }
        true
    }

    fn tap(&mut self, node: usize) {
        self.swarm.tap(node);
    }

    fn take_tapped(&mut self, out: &mut Vec<Tapped>) {
        self.swarm.take_tapped(out);
    }

    fn send_from(&mut self, src: usize, dst: SocketAddr, payload: Vec<u8>) {
        self.swarm.send_from(src, dst, payload);
    }

    fn start_detached(&mut self, node: usize, command: Command) {
        // A node that left runs nothing; a hostile node's refusal (no peers yet, too
        // many waiting) is its own business.
        if !self.swarm.is_down(node) {
            let _ = self.swarm.start(node, command);
        }
    }

    fn stream_setup(&mut self, nodes: &[usize], listeners: &[usize]) {
        for &node in nodes {
            self.swarm.set_app(node, Box::<Transfers>::default());
        }
        for &node in listeners {
            self.swarm
                .act(node, |_, node, _| node.listen(Firewall::Open));
        }
    }

    fn stream_start(&mut self, node: usize, peer: NodeId, bytes: u64, tag: u64) {
        if self.swarm.is_down(node) {
            return;
        }
        self.swarm.act(node, |now, node, app| {
            let app: Option<&mut dyn Any> = app.map(|app| app as &mut dyn Any);
            if let Some(transfers) = app.and_then(|app| app.downcast_mut::<Transfers>()) {
                transfers.start(now, node, peer, bytes, tag);
            }
        });
    }

    fn stream_ends(&mut self) -> (Vec<(usize, TransferEnd)>, u64, Option<String>) {
        let mut ends = Vec::new();
        let (mut corrupt, mut first) = (0, None);
        for (node, app) in self.swarm.apps() {
            let app: &dyn Any = app;
            let Some(transfers) = app.downcast_ref::<Transfers>() else {
                continue;
            };
            ends.extend(transfers.ended.iter().map(|end| (node, end.clone())));
            corrupt += transfers.corrupt;
            if let (None, Some((stream, offset))) = (&first, transfers.first_corrupt) {
                first = Some(format!(
                    "node {node} read a wrong byte at offset {offset} of stream {stream}"
                ));
            }
        }
        (ends, corrupt, first)
    }

    /// Read off the tables alone: the progress line asks every few seconds, and a
    /// whole snapshot (a footprint walks every session) costs a few percent of a run.
    fn table_sizes(&mut self) -> Vec<usize> {
        self.swarm.nodes().iter().map(|n| n.table().len()).collect()
    }

    fn snapshots(&mut self) -> Vec<NodeSnapshot> {
        self.swarm
            .nodes()
            .iter()
            .map(|n| NodeSnapshot {
                peers: n.table().len(),
                stats: n.stats(),
                footprint: n.footprint(),
            })
            .collect()
    }
}
