//! The turmoil engine: every node runs the live adapter's own driver loop
//! ([`dswarm::live::driver::run`]) on a `turmoil-net` UDP socket, under simulated tokio
//! time, and our scheduler moves the datagrams between hosts through the [`World`].
//!
//! In: a [`SwarmConfig`] and a [`World`]; commands for any node. Out: what [`Engine`]
//! promises — command ends, network counters, the trace.
//!
//! One host per node (node `i` at the world's address for it, IPv4 or IPv6), all node tasks on one `LocalSet`
//! of one current-thread tokio runtime whose clock is paused: tokio's clock *is* the
//! simulated clock. The engine moves in fixed 1 ms steps; a step at time `T`:
//!
//! 1. sends the joins (`Command::Bootstrap`, at [`SwarmConfig::join_times`]) due by
//!    `T`, and hands every datagram due at `T` to its host;
//! 2. drains the `LocalSet` until every task waits (`run_until(sleep(1 ms))`): all node
//!    work of the step happens at `T`, and the clock stops at `T + 1 ms`;
//! 3. collects, node by node in index order, the events and command replies of the
//!    nodes that ran;
//! 4. drains every host's outbound queue once if any node sent something (the scan
//!    of every host costs about 0.5 ms at 10,000 hosts, and most steps of a swarm at
//!    rest send nothing), fans multicast out to the sender's
//!    segment (turmoil-net has none of its own), asks the world each copy's fate and
//!    queues the copies on a timing wheel, each arrival rounded up to a whole step.
//!
//! What holds: the trace depends only on the config and the world's seed. Within a
//! step the order in which tokio polls the nodes does not matter — each node has its
//! own state, RNG and channels; outbound queues are drained in host order and output
//! is collected in index order — and nothing on the path draws tokio's RNG (the
//! driver's `select!` is `biased`).
//!
//! Limits: turmoil-net keeps its network in a thread-local, so one thread holds at
//! most one `Turmoil` at a time, and it must not be built or driven inside another
//! tokio runtime.

mod host;
mod wheel;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dswarm::harness::{
    index_of, Fates, Hop, Kind, NetStats, Network as _, Routed, Router, SwarmConfig, Trace, PORT,
};
use dswarm::live::driver::{self, Control, Finished};
use dswarm::proto::{Command, CommandError, Event, Node, NodeId, Time};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, LocalSet};
use turmoil_net::shim::tokio::net::UdpSocket;
use turmoil_net::{EnterGuard, HostId, Net, Packet, Transport, UdpDatagram};

use self::host::{Failure, Hosted, Shared, SimSocket};
use self::wheel::Wheel;
use super::drivers::{self, Drivers, Lives};
use super::tables::Tables;
use super::{Done, Engine, NodeSnapshot, Verified};
use crate::world::World;

/// The fixed step: the resolution of every arrival and of every timer.
const TICK: Duration = Duration::from_millis(1);
const TICK_MICROS: u64 = 1000;
/// Capacity of a node's control channel: far beyond any run, and cheap (tokio
/// allocates channel blocks on demand), so a full channel is a bug.
const CONTROL_CAPACITY: usize = 1 << 20;

/// A command's reply still to come.
struct Pending {
    /// The engine's tag; `None` for a join.
    tag: Option<u64>,
    reply: oneshot::Receiver<Result<Finished, CommandError>>,
}

/// The turmoil engine; see the module docs.
pub struct Turmoil {
    // Drop order: `Drop` drops the task set inside the runtime while the network is
    // still installed; then the runtime; `guard` (the installed network) goes last.
    set: Option<LocalSet>,
    rt: Runtime,
    shared: Rc<Shared>,
    world: World,
    ids: Vec<NodeId>,
    controls: Vec<mpsc::Sender<Control>>,
    events: Vec<mpsc::UnboundedReceiver<Event>>,
    pending: Vec<Vec<Pending>>,
    /// Each node's routing table (the contacts' ids, in the order they entered), kept
    /// from its events: asking the nodes would wake their tasks and change the run.
    tables: Tables,
    /// (time, node) of every join, in order; `joins[next_join..]` are still to send.
    joins: Vec<(Time, usize)>,
    next_join: usize,
    wheel: Wheel<Packet>,
    /// The current step: the simulated time is `step` milliseconds.
    step: u64,
    trace: Trace,
    net: NetStats,
    /// What routing produced: counts and fates of the datagrams, hops, reused.
    routed: Routed,
    /// Each node's sequence number of the datagrams it sent: what their fates are
    /// drawn by.
    seqs: Vec<u64>,
    /// Every node's address, the group its beacons go to and its mailbox group: what
    /// the [`Router`] asks.
    addrs: Vec<SocketAddr>,
    beacons: Vec<Option<SocketAddr>>,
    mailboxes: Vec<Option<SocketAddr>>,
    finished: Vec<Done>,
    // Buffers reused from step to step.
    egress: Vec<Packet>,
    /// Raised by every node's socket when it sends: the hosts have something to drain.
    sent: Arc<AtomicBool>,
    due: Vec<Packet>,
    touched: Vec<usize>,
    /// Who left, who crashed knowing whom, who says goodbye this step (taken off the
    /// network at its end).
    gone: Lives,
    /// Simulated time zero on tokio's clock: every driver's epoch.
    epoch: tokio::time::Instant,
    /// Each node's host, and its driver task while it runs.
    hosts: Vec<HostId>,
    tasks: Vec<Option<JoinHandle<()>>>,
    /// Each node's current life: `None` while dormant, then 0, then one more per restart.
    lives: Vec<Option<u64>>,
    config: SwarmConfig,
    guard: EnterGuard,
}

impl Turmoil {
    /// Builds one host and one driver task per node and schedules every join.
    ///
    /// # Panics
    ///
    /// If this thread already holds a `Turmoil` (or another installed turmoil-net
    /// network), or if called inside a tokio runtime.
    pub fn new(config: SwarmConfig, world: World) -> Turmoil {
        let n = config.nodes;
        let addrs: Vec<SocketAddr> = (0..n).map(|i| world.addr_of(i)).collect();
        let mut net = Net::new();
        let hosts: Vec<_> = addrs.iter().map(|addr| net.add_host(addr.ip())).collect();
        let guard = net.enter();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds");
        // The clock is paused from the start: this reads simulated time zero.
        #[allow(clippy::disallowed_methods)]
        let epoch = rt.block_on(async { tokio::time::Instant::now() });
        let shared = Rc::new(Shared::new(n));
        let set = LocalSet::new();
        let mut ids: Vec<NodeId> = Vec::with_capacity(n);
        let mut beacons = Vec::with_capacity(n);
        let mut mailboxes = Vec::with_capacity(n);
        for i in 0..n {
            let node = config.node_at(i, &addrs);
            ids.push(node.id());
            beacons.push(node.config().discovery.multicast_group);
            mailboxes.push(node.mailbox());
        }
        let (controls, events): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| {
                // Placeholders until each node's task starts.
                let (control_tx, _) = mpsc::channel(1);
                let (_, event_rx) = mpsc::unbounded_channel();
                (control_tx, event_rx)
            })
            .unzip();
        let awake = n - config.dormant.min(n);
        let mut joins: Vec<(Time, usize)> = config
            .join_times()
            .into_iter()
            .enumerate()
            .take(awake)
            .map(|(i, at)| (at, i))
            .collect();
        joins.sort_unstable();
        let mut turmoil = Turmoil {
            set: Some(set),
            rt,
            shared,
            world,
            ids,
            controls,
            events,
            pending: (0..n).map(|_| Vec::new()).collect(),
            tables: Tables::new(n),
            joins,
            next_join: 0,
            wheel: Wheel::new(),
            step: 0,
            trace: Trace::new(),
            net: NetStats::default(),
            routed: Routed::default(),
            seqs: vec![0; n],
            addrs,
            beacons,
            mailboxes,
            finished: Vec::new(),
            egress: Vec::new(),
            sent: Arc::new(AtomicBool::new(false)),
            due: Vec::new(),
            touched: Vec::new(),
            gone: Lives::new(n, awake),
            epoch,
            tasks: (0..n).map(|_| None).collect(),
            lives: vec![None; n],
            hosts,
            config,
            guard,
        };
        for i in 0..awake {
            let node = turmoil.config.node_at(i, &turmoil.addrs);
            turmoil.spawn(i, node, 0);
        }
        for i in awake..n {
            // A dormant node: off the network until it joins.
            turmoil.shared.set_down(i);
        }
        turmoil
    }

    /// Starts node `index`'s driver task, for its `life`-th life, with `node` on its
    /// host. A socket of its former life may still be bound until the aborted task is
    /// dropped: the new task yields until the port is free.
    fn spawn(&mut self, index: usize, node: Node, life: u64) {
        let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        self.controls[index] = control_tx;
        self.events[index] = event_rx;
        self.lives[index] = Some(life);
        let epoch = self.epoch;
        let addr = self.addrs[index];
        let sent = Arc::clone(&self.sent);
        let task = async move {
            let socket = loop {
                match UdpSocket::bind(addr).await {
                    Ok(socket) => {
                        let v6 = addr.is_ipv6();
                        break SimSocket { socket, sent, v6 };
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                        tokio::task::yield_now().await
                    }
                    Err(error) => return Err(error),
                }
            };
            // No multicast socket: the scheduler fans multicast out.
            driver::run(socket, None::<SimSocket>, node, epoch, control_rx, event_tx).await
        };
        let hosted = Hosted::new(self.hosts[index], index, Rc::clone(&self.shared), task);
        let _runtime = self.rt.enter();
        let set = self.set.as_ref().expect("the task set lives");
        self.tasks[index] = Some(set.spawn_local(hosted));
    }

    /// Node `node`'s routing table as its events told it up to the last step: the
    /// contacts' ids in the order they entered. Reading it wakes no task.
    pub fn contacts(&self, node: usize) -> &[NodeId] {
        self.tables.contacts(node)
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.wheel.len()
    }

    fn time_of(step: u64) -> Time {
        Time::from_micros(step * TICK_MICROS)
    }

    fn set(&self) -> &LocalSet {
        self.set
            .as_ref()
            .expect("the task set lives as long as the engine")
    }

    /// One 1 ms step; see the module docs.
    fn step(&mut self) {
        let now = Self::time_of(self.step);
        self.begin_step();
        self.shared.now.set(now);
        let set = self.set.as_ref().expect("the task set lives");
        // The sleep is made inside the runtime, at `now`: the tasks run until every
        // one waits, then the paused clock jumps to `now + TICK`.
        self.rt
            .block_on(set.run_until(async { tokio::time::sleep(TICK).await }));
        self.check_failure();
        self.debug_check_clock(now + TICK);
        self.collect(now);
        self.route_egress(now);
        // Their goodbyes went out this step: now they are gone.
        for node in std::mem::take(&mut self.gone.leaving) {
            self.shared.set_down(node);
        }
        self.step += 1;
    }

    /// Checks that tokio's clock reads `expected` (debug builds).
    fn debug_check_clock(&self, expected: Time) {
        #[cfg(debug_assertions)]
        {
            let _runtime = self.rt.enter(); // outside it, tokio reads the OS clock
            let clock = self.epoch.elapsed();
            debug_assert_eq!(clock, expected.since_epoch(), "the clock left the step");
        }
        #[cfg(not(debug_assertions))]
        let _ = expected;
    }

    /// The inputs of the current step, once (`snapshots` may have given them
    /// already): the joins due by now, then every datagram due now.
    fn begin_step(&mut self) {
        let now = Self::time_of(self.step);
        while let Some(&(at, node)) = self.joins.get(self.next_join) {
            if at > now {
                break;
            }
            self.next_join += 1;
            let (reply, rx) = oneshot::channel();
            let command = Command::Bootstrap;
            self.send_control(node, Control::Run { command, reply });
            self.pending[node].push(Pending {
                tag: None,
                reply: rx,
            });
        }
        if self.wheel.now() != self.step {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.wheel.pop_due(&mut due);
        let n = self.ids.len();
        for packet in due.drain(..) {
            let to = match &packet.payload {
                Transport::Udp(datagram) => {
                    index_of(SocketAddr::new(packet.dst, datagram.dst_port), n)
                }
                _ => None,
            };
            if let (Some(to), Transport::Udp(datagram)) = (to, &packet.payload) {
                if self.shared.is_down(to) {
                    // Arrived at a node that left: lost, and the trace says so.
                    self.net.dropped += 1;
                    let from = SocketAddr::new(packet.src, datagram.src_port);
                    self.trace
                        .datagram(Kind::Down, now, to, from, &datagram.payload);
                    continue;
                }
            }
            self.net.delivered += 1;
            self.guard.deliver(packet);
        }
        self.due = due;
    }

    /// Re-raises a node task's panic, or stops on a driver that ended.
    fn check_failure(&self) {
        match self.shared.take_failure() {
            None => {}
            Some(Failure::Panic(node, payload)) => {
                tracing::error!(node, "node task panicked");
                std::panic::resume_unwind(payload)
            }
            Some(Failure::Exit(node, Err(error))) => panic!("node {node}'s driver failed: {error}"),
            Some(Failure::Exit(node, Ok(()))) => panic!("node {node}'s driver stopped"),
        }
    }

    /// Traces the events and command replies of every node that ran this step.
    fn collect(&mut self, now: Time) {
        let mut touched = std::mem::take(&mut self.touched);
        self.shared.take_touched(&mut touched);
        for &node in &touched {
            while let Ok(event) = self.events[node].try_recv() {
                self.tables.note(now, node, &event);
                self.trace.event(now, node, &event);
            }
            let mut k = 0;
            while k < self.pending[node].len() {
                let result = match self.pending[node][k].reply.try_recv() {
                    Err(oneshot::error::TryRecvError::Empty) => {
                        k += 1;
                        continue;
                    }
                    Ok(result) => result,
                    // The driver went away: `check_failure` has already stopped the run.
                    Err(oneshot::error::TryRecvError::Closed) => unreachable!("node {node} ended"),
                };
                let tag = self.pending[node].remove(k).tag;
                if let Ok(finished) = &result {
                    let event = Event::QueryFinished {
                        query: finished.query,
                        elapsed: finished.elapsed,
                        outcome: finished.outcome.clone(),
                    };
                    self.trace.event(now, node, &event);
                }
                if let Some(tag) = tag {
                    self.finished.push(Done {
                        tag,
                        node,
                        at: now,
                        result: result.map(|f| (f.elapsed, f.outcome)),
                    });
                }
            }
        }
        self.touched = touched;
    }

    /// Routes everything the hosts sent this step (sent at `now`).
    fn route_egress(&mut self, now: Time) {
        // UDP only: with nothing sent every outbound queue is empty, and draining
        // them would change nothing (turmoil-net's TCP timers, which count these
        // passes, have no sockets here).
        if !self.sent.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut egress = std::mem::take(&mut self.egress);
        self.guard.egress_all(&mut egress);
        for packet in egress.drain(..) {
            self.route(now, packet);
        }
        self.egress = egress;
    }

    /// Routes one datagram a node sent, through the same [`Router`] as the direct
    /// engine, and queues every copy that arrives at its next 1 ms step.
    fn route(&mut self, now: Time, packet: Packet) {
        let n = self.ids.len();
        let Transport::Udp(datagram) = &packet.payload else {
            debug_assert!(false, "the driver speaks UDP only");
            return;
        };
        let Some(src) = index_of(SocketAddr::new(packet.src, datagram.src_port), n) else {
            debug_assert!(false, "a datagram from {} is from no node", packet.src);
            return;
        };
        let mut dst = SocketAddr::new(packet.dst, datagram.dst_port);
        // A datagram to a node of the other family came out of its sender's socket
        // addressed to that node in the socket's family ([`SimSocket`]): to the node.
        if let Some(to) = index_of(dst, n).filter(|&to| self.addrs[to].is_ipv6() != dst.is_ipv6()) {
            dst = SocketAddr::new(self.addrs[to].ip(), dst.port());
        }
        let router = Router {
            network: &self.world,
            addrs: &self.addrs,
            mailboxes: &self.mailboxes,
        };
        let seq = &mut self.seqs[src];
        let mut next_seq = || {
            *seq += 1;
            *seq
        };
        router.route(
            now,
            src,
            self.beacons[src],
            dst,
            &mut next_seq,
            &mut self.routed,
        );
        let keep = self.trace.keeps();
        for hop in self.routed.hops.drain(..) {
            let due = match hop {
                Hop::Arrive { delay, .. } => {
                    let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
                    self.step
                        .saturating_add(micros.div_ceil(TICK_MICROS).max(1))
                }
                Hop::Drop { .. } => self.step,
            };
            let at = Self::time_of(due);
            let leaf = hop.leaf(keep, &self.addrs, src, now, at, &datagram.payload);
            self.trace.fold(leaf);
            if let Hop::Arrive { to, from, .. } = hop {
                let copy = Packet {
                    src: from.ip(),
                    dst: self.addrs[to].ip(),
                    ttl: packet.ttl,
                    payload: Transport::Udp(UdpDatagram {
                        src_port: from.port(),
                        dst_port: PORT,
                        payload: datagram.payload.clone(),
                    }),
                };
                self.wheel.push(due, copy);
            }
        }
    }
}

impl Turmoil {
    /// The drivers' own snapshots of `nodes`, asked without moving the clock: the
    /// step's inputs (joins, datagrams due now) are handed over first and the tasks
    /// run at the current time, as the next step would run them, so asking does not
    /// change the run. (One exception: a command started right after this, at the
    /// same time, reaches its node after that node's datagrams of this step instead
    /// of before.)
    fn ask_drivers(&mut self, nodes: &[usize]) -> Vec<driver::Snapshot> {
        self.begin_step();
        let replies: Vec<_> = nodes
            .iter()
            .map(|&node| {
                let (reply, rx) = oneshot::channel();
                self.send_control(node, Control::Snapshot { reply });
                rx
            })
            .collect();
        self.shared.now.set(self.now());
        let snapshots = self.rt.block_on(self.set().run_until(async move {
            let mut snapshots = Vec::with_capacity(replies.len());
            for reply in replies {
                snapshots.push(reply.await);
            }
            snapshots
        }));
        self.check_failure();
        self.debug_check_clock(self.now());
        snapshots
            .into_iter()
            .zip(nodes)
            .map(|(snapshot, node)| snapshot.unwrap_or_else(|_| panic!("node {node} ended")))
            .collect()
    }
}

impl Drop for Turmoil {
    fn drop(&mut self) {
        // Each task's wrapper makes its host current as it drops (its socket closes
        // there); the network must still be installed, so this happens before `guard`
        // drops, and inside the runtime, whose timers the tasks hold.
        let _runtime = self.rt.enter();
        drop(self.set.take());
    }
}

impl Drivers for Turmoil {
    fn lives(&mut self) -> &mut Lives {
        &mut self.gone
    }

    fn config(&self) -> &SwarmConfig {
        &self.config
    }

    fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    fn ask(&mut self, nodes: &[usize]) -> Vec<driver::Snapshot> {
        self.ask_drivers(nodes)
    }

    /// Its task is never polled again.
    fn take_down(&mut self, node: usize) {
        self.shared.set_down(node);
    }

    /// Queues `control` for node `node`'s driver; it sees it at the next step.
    fn send_control(&self, node: usize, control: Control) {
        self.controls[node]
            .try_send(control)
            .unwrap_or_else(|error| panic!("node {node}'s control channel: {error}"));
    }

    /// Node `index` runs again from now as a new process ([`SwarmConfig::build_life`])
    /// knowing `bootstrap`, and bootstraps.
    fn revive(&mut self, index: usize, bootstrap: Vec<SocketAddr>) {
        let life = self.lives[index].map_or(0, |life| life + 1);
        let now = self.now();
        let node = self
            .config
            .build_life(index, self.addrs[index], bootstrap, life, now);
        if let Some(old) = self.tasks[index].take() {
            old.abort();
        }
        self.tables.clear(index);
        self.pending[index].clear();
        self.shared.set_up(index);
        self.spawn(index, node, life);
        let (reply, rx) = oneshot::channel();
        self.send_control(
            index,
            Control::Run {
                command: Command::Bootstrap,
                reply,
            },
        );
        self.pending[index].push(Pending {
            tag: None,
            reply: rx,
        });
    }
}

impl Engine for Turmoil {
    fn name(&self) -> &'static str {
        "turmoil"
    }

    fn now(&self) -> Time {
        Self::time_of(self.step)
    }

    /// Runs whole steps until the clock reaches `until` (rounded up to a step).
    fn run_until(&mut self, until: Time) {
        while Self::time_of(self.step) < until {
            self.step();
        }
    }

    fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    fn world(&self) -> &World {
        &self.world
    }

    fn start(&mut self, node: usize, command: Command, tag: u64) {
        let (reply, rx) = oneshot::channel();
        self.send_control(node, Control::Run { command, reply });
        self.pending[node].push(Pending {
            tag: Some(tag),
            reply: rx,
        });
    }

    fn drain_finished(&mut self, out: &mut Vec<Done>) {
        let start = out.len();
        out.append(&mut self.finished);
        out[start..].sort_by_key(|done| (done.at, done.tag));
    }

    fn ids(&self) -> Vec<NodeId> {
        self.ids.clone()
    }

    fn net_stats(&self) -> NetStats {
        let mut net = self.net;
        net += self.routed.net;
        net
    }

    fn fates(&self) -> Fates {
        self.routed.fates
    }

    fn trace(&self) -> &Trace {
        &self.trace
    }

    fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    fn watch_sessions(&mut self) {
        self.tables.watch_sessions();
    }

    fn drain_verified(&mut self, out: &mut Vec<Verified>) {
        self.tables.drain_verified(out);
    }

    /// Kept from the nodes' events: asking them would wake their tasks.
    fn table_sizes(&mut self) -> Vec<usize> {
        self.tables.sizes()
    }

    /// Asks every driver still running; a node that left shows as it was when it
    /// left.
    fn snapshots(&mut self) -> Vec<NodeSnapshot> {
        drivers::snapshots(self)
    }

    fn crash(&mut self, nodes: &[usize]) {
        drivers::crash(self, nodes);
    }

    /// Aborts each crashed node's task (its socket closes when the task drops) and
    /// starts a new one with a new node on the same host.
    fn restart(&mut self, nodes: &[usize], keep_table: bool) {
        drivers::restart(self, nodes, keep_table);
    }

    fn join(&mut self, nodes: &[usize]) {
        drivers::join(self, nodes);
    }

    /// Each says goodbye in the next step and is taken off the network at its end.
    fn leave_gracefully(&mut self, nodes: &[usize]) {
        drivers::leave_gracefully(self, nodes);
    }

    /// Stops polling the nodes' tasks and drops whatever arrives for them.
    fn leave(&mut self, nodes: &[usize]) {
        drivers::leave(self, nodes);
    }
}
