//! The live engine: every node runs the live adapter's driver loop
//! ([`dswarm::live::driver::run`]) on a real UDP socket on 127.0.0.1, in real time, on
//! a multi-threaded tokio runtime; a shim at each socket ([`shim`]) applies the run's
//! [`World`] to the real datagrams.
//!
//! In: a [`SwarmConfig`] and a [`World`], as the other engines take them; commands for
//! any node. Out: what [`Engine`] promises — command ends, network counters, the trace
//! — and what the machine did to the run ([`watch`]): a run that is not reproducible
//! ([`Engine::deterministic`] is false) must at least say when it is not trustworthy.
//!
//! Simulated time `t` is the moment `epoch + t` on the host's monotonic clock, the one
//! clock every driver reads: the runner's `run_until(t)` sleeps until then, and a
//! command it starts reaches its node's driver a moment after. Nodes keep their
//! simulated addresses (the world's, IPv4 or IPv6); only the shims know the real
//! ports.
//!
//! Faults: a crash or a leave aborts the node's driver task and marks its port down
//! (what arrives for it is dropped and counted, as on the simulated engines); a
//! restart or a join spawns a new driver with a new node on the same port. Clock
//! offsets run (each node's unix time is its own); drifting clocks are refused by the
//! scenario check, as are the hostile kinds that need to tap or inject datagrams.

pub mod estimate;
mod shim;
pub mod watch;

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use dswarm::harness::{Fates, NetStats, Network as _, SwarmConfig, Trace};
use dswarm::live::driver::{self, Control, Finished, Inspect};
use dswarm::live::socket;
use dswarm::proto::{Command, CommandError, Event, NodeId, Time};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::shim::{sim_now, LiveNet, Port, ShimSocket, ENVELOPE};
use self::watch::{kernel_drops, Watch, PROBE_EVERY};
use super::drivers::{self, Drivers, Lives};
use super::tables::Tables;
use super::{Done, Engine, NodeSnapshot, Verified};
use crate::report::LiveFigures;
use crate::safety::Owned;
use crate::world::World;

/// Capacity of a node's control channel: far beyond any run, so a full one is a bug.
const CONTROL_CAPACITY: usize = 1 << 20;
/// How long a node may take to answer a snapshot before the run is stopped.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the loopback multicast probe waits for its datagram.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// How often the kernel's drop counters are read, at most (wall time).
const DROPS_EVERY: Duration = Duration::from_secs(1);

/// A command's end, as a waiter task reports it.
struct Reply {
    /// The engine's tag; `None` for a bootstrap the engine started itself.
    tag: Option<u64>,
    node: usize,
    at: Time,
    result: Result<Finished, CommandError>,
}

/// The live engine; see the module docs.
pub struct Live {
    // Drop order: the runtime is shut down by `Drop` before the rest goes.
    rt: Option<Runtime>,
    net: Arc<LiveNet>,
    world: World,
    /// The world changed since it was last published to the shims.
    dirty: bool,
    /// The logical clock: the last `run_until`.
    now: Time,
    ids: Vec<NodeId>,
    controls: Vec<mpsc::Sender<Control>>,
    events: Vec<mpsc::UnboundedReceiver<Event>>,
    tasks: Vec<Option<JoinHandle<io::Result<()>>>>,
    /// Background tasks: the segments' receivers, the lag probe, the joins.
    background: Vec<JoinHandle<()>>,
    replies: mpsc::UnboundedSender<Reply>,
    ended: mpsc::UnboundedReceiver<Reply>,
    finished: Vec<Done>,
    tables: Tables,
    /// Who left, who crashed knowing whom, who is saying goodbye.
    gone: Lives,
    /// Each node's current life: `None` while dormant.
    lives: Vec<Option<u64>>,
    trace: Trace,
    config: SwarmConfig,
    workers: usize,
    multicast: String,
    /// Every real port of the run, for the kernel's drop counters.
    ports: BTreeSet<u16>,
    drops_at_start: Option<u64>,
    drops: Option<u64>,
    /// When the drop counters were last read.
    drops_read: Option<tokio::time::Instant>,
    cpu_at_start: Option<f64>,
    estimate: Option<Duration>,
}

impl Live {
    /// Binds one socket per node (and one per multicast segment), starts the awake
    /// nodes' drivers on `workers` threads and schedules their bootstraps. Simulated
    /// time zero is the moment this returns.
    ///
    /// # Panics
    ///
    /// If the runtime or a socket cannot be made (too few file descriptors: each node
    /// takes one), or if called inside a tokio runtime.
    pub fn new(config: SwarmConfig, world: World, workers: usize) -> Live {
        let n = config.nodes;
        let workers = workers.max(1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("dswarm-live")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the live engine's runtime: {e}"));
        let (ports, groups, multicast) = {
            let _runtime = rt.enter();
            let ports: Vec<Port> = (0..n)
                .map(|i| {
                    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                    let socket =
                        socket::unicast(bind, socket::Interface::V4(Ipv4Addr::LOCALHOST), 0)
                            .unwrap_or_else(|e| {
                                panic!(
                                "cannot bind node {i}'s socket on 127.0.0.1: {e} (each live node \
                             takes a file descriptor: see `ulimit -n`)"
                            )
                            });
                    Port::new(socket)
                })
                .collect();
            let (groups, multicast) = rt.block_on(groups(world.segment_count(), &ports[0]));
            (ports, groups, multicast)
        };
        let real: Vec<SocketAddr> = ports
            .iter()
            .map(|p| {
                p.socket
                    .local_addr()
                    .expect("a bound socket has an address")
            })
            .collect();
        let tag = run_tag(config.seed, real[0].port());
        let addrs: Vec<SocketAddr> = (0..n).map(|i| world.addr_of(i)).collect();
        let mut ids = Vec::with_capacity(n);
        let mut beacons = Vec::with_capacity(n);
        let mut mailboxes = Vec::with_capacity(n);
        for i in 0..n {
            let node = config.node_at(i, &addrs);
            ids.push(node.id());
            beacons.push(node.config().discovery.multicast_group);
            mailboxes.push(node.mailbox());
        }
        let group_addrs = groups
            .iter()
            .map(|g| g.local_addr().expect("a bound group socket"))
            .collect();
        let mut port_set: BTreeSet<u16> = real.iter().map(SocketAddr::port).collect();
        port_set.extend(
            groups
                .iter()
                .filter_map(|g| g.local_addr().ok())
                .map(|a| a.port()),
        );
        let epoch = rt.block_on(async {
            // Time zero of the run: the one clock every driver reads.
            #[allow(clippy::disallowed_methods)]
            tokio::time::Instant::now()
        });
        let net = Arc::new(LiveNet {
            world: RwLock::new(Arc::new(world.share())),
            addrs,
            beacons,
            mailboxes,
            ports,
            real,
            groups: group_addrs,
            tag,
            epoch,
            keep_leaves: AtomicBool::new(false),
            leaves: Mutex::new(Vec::new()),
            delivered: AtomicU64::new(0),
            down_dropped: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            watch: Watch::default(),
        });
        let (replies, ended) = mpsc::unbounded_channel();
        let mut live = Live {
            net,
            world,
            dirty: false,
            now: Time::ZERO,
            ids,
            controls: (0..n).map(|_| mpsc::channel(1).0).collect(),
            events: (0..n).map(|_| mpsc::unbounded_channel().1).collect(),
            tasks: (0..n).map(|_| None).collect(),
            background: Vec::new(),
            replies,
            ended,
            finished: Vec::new(),
            tables: Tables::new(n),
            gone: Lives::new(n, n - config.dormant.min(n)),
            lives: vec![None; n],
            trace: Trace::new(),
            workers,
            multicast,
            ports: port_set,
            drops_at_start: None,
            drops: None,
            drops_read: None,
            cpu_at_start: crate::proc::cpu_seconds(),
            estimate: None,
            config,
            rt: Some(rt),
        };
        live.drops_at_start = kernel_drops(&live.ports);
        live.start_background(groups);
        let awake = n - live.config.dormant.min(n);
        for i in 0..n {
            if i < awake {
                let node = live.config.node_at(i, &live.net.addrs);
                live.spawn(i, node, 0);
            } else {
                // A dormant node: off the network until it joins.
                live.net.ports[i].set_down(true);
            }
        }
        live.schedule_joins(awake);
        live
    }

    /// The time the engine expects the run to take, to report beside what it took.
    pub fn set_estimate(&mut self, estimate: Duration) {
        self.estimate = Some(estimate);
    }

    fn rt(&self) -> &Runtime {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the engine")
    }

    /// The segments' receivers and the lag probe.
    fn start_background(&mut self, groups: Vec<tokio::net::UdpSocket>) {
        let rt = self.rt.as_ref().expect("the runtime");
        for group in groups {
            let net = Arc::clone(&self.net);
            self.background.push(rt.spawn(async move {
                let mut buf = vec![0; ENVELOPE + dswarm::proto::wire::MAX_DATAGRAM + 1];
                loop {
                    match group.recv_from(&mut buf).await {
                        Ok((len, _)) => net.fan_in(&buf[..len]),
                        Err(error) => {
                            tracing::warn!(%error, "live engine: a segment's receiver failed");
                            return;
                        }
                    }
                }
            }));
        }
        let net = Arc::clone(&self.net);
        self.background.push(rt.spawn(async move {
            let mut next = net.epoch + PROBE_EVERY;
            loop {
                tokio::time::sleep_until(next).await;
                let now = net.epoch + sim_now(net.epoch).since_epoch();
                let late = now.saturating_duration_since(next);
                net.watch.probe.record(late.as_micros() as u64);
                next = now.max(next) + PROBE_EVERY;
            }
        }));
    }

    /// One task sends each awake node its bootstrap at its join time.
    fn schedule_joins(&mut self, awake: usize) {
        let mut joins: Vec<(Time, usize)> = self
            .config
            .join_times()
            .into_iter()
            .enumerate()
            .take(awake)
            .map(|(i, at)| (at, i))
            .collect();
        joins.sort_unstable();
        let controls = self.controls.clone();
        let replies = self.replies.clone();
        let epoch = self.net.epoch;
        let task = self.rt().spawn(async move {
            for (at, node) in joins {
                tokio::time::sleep_until(epoch + at.since_epoch()).await;
                let (reply, rx) = oneshot::channel();
                let command = Command::Bootstrap;
                if controls[node]
                    .try_send(Control::Run { command, reply })
                    .is_ok()
                {
                    tokio::spawn(wait(rx, None, node, epoch, replies.clone()));
                }
            }
        });
        self.background.push(task);
    }

    /// Starts node `index`'s driver for its `life`-th life.
    fn spawn(&mut self, index: usize, node: dswarm::proto::Node, life: u64) {
        let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        self.controls[index] = control_tx;
        self.events[index] = event_rx;
        self.lives[index] = Some(life);
        let socket = ShimSocket {
            net: Arc::clone(&self.net),
            node: index,
        };
        let epoch = self.net.epoch;
        let task = self.rt().spawn(async move {
            driver::run(
                socket,
                None::<ShimSocket>,
                node,
                epoch,
                control_rx,
                event_tx,
            )
            .await
        });
        self.tasks[index] = Some(task);
    }

    /// The answers to `replies`, each awaited for at most [`ASK_TIMEOUT`]; `None` for
    /// one that did not come (its driver ended, or the machine is overloaded).
    fn answers<T: Send + 'static>(&self, replies: Vec<oneshot::Receiver<T>>) -> Vec<Option<T>> {
        self.rt().block_on(async move {
            let mut answers = Vec::with_capacity(replies.len());
            for reply in replies {
                let answer = tokio::time::timeout(ASK_TIMEOUT, reply).await;
                answers.push(answer.ok().and_then(Result::ok));
            }
            answers
        })
    }

    /// Node `node`'s routing table as its events told it up to the last step.
    pub fn contacts(&self, node: usize) -> &[NodeId] {
        self.tables.contacts(node)
    }

    /// Re-raises a driver's panic, or stops on a driver that ended on its own.
    fn check_tasks(&mut self) {
        for node in 0..self.tasks.len() {
            if !self.tasks[node]
                .as_ref()
                .is_some_and(JoinHandle::is_finished)
            {
                continue;
            }
            let task = self.tasks[node].take().expect("checked");
            match self.rt().block_on(task) {
                Err(error) if error.is_panic() => {
                    tracing::error!(node, "node task panicked");
                    std::panic::resume_unwind(error.into_panic())
                }
                Err(_) => {} // aborted by the engine
                Ok(Err(error)) => panic!("node {node}'s driver failed: {error}"),
                Ok(Ok(())) => panic!("node {node}'s driver stopped"),
            }
        }
    }

    /// Takes in what happened since the last call: ended commands, node events and
    /// the datagram leaves, all at the current time.
    fn collect(&mut self) {
        let now = self.now;
        while let Ok(reply) = self.ended.try_recv() {
            if let Ok(finished) = &reply.result {
                let event = Event::QueryFinished {
                    query: finished.query,
                    elapsed: finished.elapsed,
                    outcome: finished.outcome.clone(),
                };
                self.trace.event(reply.at, reply.node, &event);
            }
            if let Some(tag) = reply.tag {
                self.finished.push(Done {
                    tag,
                    node: reply.node,
                    at: reply.at,
                    result: reply.result.map(|f| (f.elapsed, f.outcome)),
                });
            }
        }
        for node in 0..self.events.len() {
            while let Ok(event) = self.events[node].try_recv() {
                self.tables.note(now, node, &event);
                self.trace.event(now, node, &event);
            }
        }
        if self.trace.keeps() {
            let leaves =
                std::mem::take(&mut *self.net.leaves.lock().unwrap_or_else(|p| p.into_inner()));
            for leaf in leaves {
                self.trace.fold(leaf);
            }
        }
    }

    /// Reads the kernel's drop counters, at most once a wall second unless `now`.
    fn read_drops(&mut self, force: bool) {
        #[allow(clippy::disallowed_methods)] // wall time: how often to read /proc
        let wall = tokio::time::Instant::now();
        if !force && self.drops_read.is_some_and(|at| wall < at + DROPS_EVERY) {
            return;
        }
        self.drops_read = Some(wall);
        if let (Some(start), Some(now)) = (self.drops_at_start, kernel_drops(&self.ports)) {
            self.drops = Some(now.saturating_sub(start));
        }
    }
}

/// Waits for a command's reply and reports it; a driver that went away (a crash, a
/// leave) never answers, and its command never ends.
async fn wait(
    rx: oneshot::Receiver<Result<Finished, CommandError>>,
    tag: Option<u64>,
    node: usize,
    epoch: tokio::time::Instant,
    replies: mpsc::UnboundedSender<Reply>,
) {
    if let Ok(result) = rx.await {
        let at = sim_now(epoch);
        let _ = replies.send(Reply {
            tag,
            node,
            at,
            result,
        });
    }
}

/// The real multicast groups of `segments` segments, one socket each, if loopback
/// multicast works here (a probe from `probe`'s socket reaches the first group);
/// else none, and why.
async fn groups(segments: usize, probe: &Port) -> (Vec<tokio::net::UdpSocket>, String) {
    if segments == 0 {
        return (Vec::new(), "none (no segments)".to_owned());
    }
    let mut groups = Vec::with_capacity(segments);
    for s in 0..segments {
        let ip = Ipv4Addr::new(239, 254, (s >> 8) as u8, (s & 0xff) as u8);
        match socket::multicast(
            SocketAddr::from((ip, 0)),
            socket::Interface::V4(Ipv4Addr::LOCALHOST),
        ) {
            Ok(group) => groups.push(group),
            Err(error) => return (Vec::new(), format!("emulated: cannot join {ip}: {error}")),
        }
    }
    let to = groups[0].local_addr().expect("a bound group socket");
    let ping = b"dswarm live multicast probe";
    if let Err(error) = probe.socket.send_to(ping, to).await {
        return (
            Vec::new(),
            format!("emulated: cannot send to {to}: {error}"),
        );
    }
    let mut buf = [0; 64];
    match tokio::time::timeout(PROBE_TIMEOUT, groups[0].recv_from(&mut buf)).await {
        Ok(Ok((len, _))) if &buf[..len] == ping => (groups, "real".to_owned()),
        Ok(Ok(_)) => (
            Vec::new(),
            "emulated: the probe came back changed".to_owned(),
        ),
        Ok(Err(error)) => (Vec::new(), format!("emulated: {error}")),
        Err(_) => (
            Vec::new(),
            format!(
                "emulated: a probe to {to} did not come back over loopback within {} ms",
                PROBE_TIMEOUT.as_millis()
            ),
        ),
    }
}

/// The run's tag on the wire: the seed, this process and the first node's port, so
/// that runs side by side on one host drop each other's datagrams.
fn run_tag(seed: u64, port: u16) -> u64 {
    let mut z = seed ^ (u64::from(std::process::id()) << 32) ^ u64::from(port);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Drop for Live {
    fn drop(&mut self) {
        for task in self.tasks.iter().flatten() {
            task.abort();
        }
        for task in &self.background {
            task.abort();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drivers for Live {
    fn lives(&mut self) -> &mut Lives {
        &mut self.gone
    }

    fn config(&self) -> &SwarmConfig {
        &self.config
    }

    fn addrs(&self) -> &[SocketAddr] {
        &self.net.addrs
    }

    /// Asks all at once; a node that does not answer within [`ASK_TIMEOUT`] stops the
    /// run (the machine is overloaded).
    fn ask(&mut self, nodes: &[usize]) -> Vec<driver::Snapshot> {
        let replies: Vec<_> = nodes
            .iter()
            .map(|&node| {
                let (reply, rx) = oneshot::channel();
                self.send_control(node, Control::Snapshot { reply });
                rx
            })
            .collect();
        let answers = self.answers(replies);
        self.check_tasks();
        answers
            .into_iter()
            .zip(nodes)
            .map(|(answer, node)| {
                answer.unwrap_or_else(|| {
                    panic!(
                        "node {node} did not answer a snapshot within {} s: its driver \
                         ended, or the machine is overloaded",
                        ASK_TIMEOUT.as_secs()
                    )
                })
            })
            .collect()
    }

    /// Its driver stops; what arrives for it is dropped.
    fn take_down(&mut self, node: usize) {
        self.net.ports[node].set_down(true);
        if let Some(task) = self.tasks[node].take() {
            task.abort();
        }
    }

    fn send_control(&self, node: usize, control: Control) {
        if let Err(error) = self.controls[node].try_send(control) {
            // Its driver ended: `check_tasks` stops the run with the reason.
            tracing::warn!(node, %error, "live engine: a control did not reach its node");
        }
    }

    /// Its port forgets what was held for the old life; a new driver starts on it.
    fn revive(&mut self, node: usize, bootstrap: Vec<SocketAddr>) {
        let life = self.lives[node].map_or(0, |life| life + 1);
        let fresh = self
            .config
            .build_life(node, self.net.addrs[node], bootstrap, life, self.now);
        if let Some(old) = self.tasks[node].take() {
            old.abort();
        }
        let port = &self.net.ports[node];
        port.flush();
        port.set_down(false);
        self.tables.clear(node);
        self.spawn(node, fresh, life);
        let (reply, rx) = oneshot::channel();
        self.send_control(
            node,
            Control::Run {
                command: Command::Bootstrap,
                reply,
            },
        );
        self.rt()
            .spawn(wait(rx, None, node, self.net.epoch, self.replies.clone()));
    }
}

impl Engine for Live {
    fn name(&self) -> &'static str {
        "live"
    }

    fn threads(&self) -> usize {
        self.workers
    }

    fn deterministic(&self) -> bool {
        false
    }

    fn live_figures(&mut self) -> Option<LiveFigures> {
        self.read_drops(true);
        let mut figures = self.net.watch.figures(self.drops);
        figures.workers = self.workers;
        figures.multicast = self.multicast.clone();
        figures.estimate_s = self.estimate.map_or(0.0, |e| e.as_secs_f64());
        if let (Some(start), Some(now)) = (self.cpu_at_start, crate::proc::cpu_seconds()) {
            figures.cpu_s = now - start;
            let node_seconds = self.ids.len() as f64 * self.now.since_epoch().as_secs_f64();
            figures.cpu_per_node_s = figures.cpu_s / node_seconds.max(1e-9);
        }
        Some(figures)
    }

    fn now(&self) -> Time {
        self.now
    }

    /// Sleeps until `until` on the run's clock, then takes in what happened.
    fn run_until(&mut self, until: Time) {
        if self.dirty {
            self.net.publish(self.world.share());
            self.dirty = false;
        }
        // The runner asks for records after the engine is built: from the first step
        // on, every hop's leaf is kept.
        let keep = self.trace.keeps();
        self.net.keep_leaves.store(keep, Ordering::Relaxed);
        let at = self.net.epoch + until.since_epoch();
        // Made inside the runtime: a timer needs its driver.
        self.rt()
            .block_on(async move { tokio::time::sleep_until(at).await });
        let late = sim_now(self.net.epoch).saturating_since(until);
        self.net.watch.runner.record(late.as_micros() as u64);
        self.now = self.now.max(until);
        self.check_tasks();
        self.collect();
        for node in std::mem::take(&mut self.gone.leaving) {
            // Their goodbyes went out: now they are gone.
            self.take_down(node);
        }
        self.read_drops(false);
    }

    fn world_mut(&mut self) -> &mut World {
        self.dirty = true;
        &mut self.world
    }

    fn world(&self) -> &World {
        &self.world
    }

    fn start(&mut self, node: usize, command: Command, tag: u64) {
        if self.dirty {
            self.net.publish(self.world.share());
            self.dirty = false;
        }
        let (reply, rx) = oneshot::channel();
        self.send_control(node, Control::Run { command, reply });
        self.rt().spawn(wait(
            rx,
            Some(tag),
            node,
            self.net.epoch,
            self.replies.clone(),
        ));
    }

    fn start_detached(&mut self, node: usize, command: Command) {
        let (reply, _) = oneshot::channel();
        self.send_control(node, Control::Run { command, reply });
    }

    fn drain_finished(&mut self, out: &mut Vec<Done>) {
        let start = out.len();
        out.append(&mut self.finished);
        out[start..].sort_by_key(|done| (done.at, done.tag));
    }

    fn leave(&mut self, nodes: &[usize]) {
        drivers::leave(self, nodes);
    }

    fn leave_gracefully(&mut self, nodes: &[usize]) {
        drivers::leave_gracefully(self, nodes);
    }

    fn crash(&mut self, nodes: &[usize]) {
        drivers::crash(self, nodes);
    }

    fn restart(&mut self, nodes: &[usize], keep_table: bool) {
        drivers::restart(self, nodes, keep_table);
    }

    fn join(&mut self, nodes: &[usize]) {
        drivers::join(self, nodes);
    }

    fn ids(&self) -> Vec<NodeId> {
        self.ids.clone()
    }

    fn net_stats(&self) -> NetStats {
        self.net.net_stats()
    }

    fn fates(&self) -> Fates {
        let mut fates = Fates::default();
        for port in &self.net.ports {
            fates += port.routed().fates;
        }
        fates
    }

    fn trace(&self) -> &Trace {
        &self.trace
    }

    fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    fn snapshots(&mut self) -> Vec<NodeSnapshot> {
        drivers::snapshots(self)
    }

    fn table_sizes(&mut self) -> Vec<usize> {
        self.tables.sizes()
    }

    fn watch_sessions(&mut self) {
        self.tables.watch_sessions();
    }

    fn drain_verified(&mut self, out: &mut Vec<Verified>) {
        self.tables.drain_verified(out);
    }

    /// Asks every driver still running for a copy of the records its node holds.
    fn scan_stores(&mut self, f: &mut dyn FnMut(usize, Owned)) -> bool {
        let here: Vec<usize> = (0..self.ids.len())
            .filter(|&node| self.gone.departed[node].is_none())
            .collect();
        let replies: Vec<_> = here
            .iter()
            .map(|&node| {
                let (reply, rx) = oneshot::channel();
                let look = move |node: &dswarm::proto::Node, _: Time| {
                    let records: Vec<Owned> = node.stored_records().map(Owned::of).collect();
                    let _ = reply.send(records);
                };
                self.send_control(node, Control::Inspect(Inspect(Box::new(look))));
                rx
            })
            .collect();
        let answers = self.answers(replies);
        for (node, answer) in here.into_iter().zip(answers) {
            let Some(records) = answer else {
                panic!(
                    "node {node} did not show its records within {} s",
                    ASK_TIMEOUT.as_secs()
                )
            };
            records.into_iter().for_each(|record| f(node, record));
        }
        true
    }
}
