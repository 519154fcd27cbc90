//! One scenario run on one engine.
//!
//! In: a validated [`Scenario`] (with the command line's overrides applied) and
//! [`Options`] (trace output, record keeping, progress). Out: a [`Run`] — the
//! [`Report`] with every expectation checked, and the trace records when asked for.
//!
//! The run is a timeline fixed before it starts: the scenario's `[[at]]` events and
//! every workload command, each at its own simulated moment, with askers and targets
//! drawn from the run's seed on a stream of their own. The engine runs up to each
//! moment, the runner applies what is due, and at the end it tallies what the
//! commands returned against the global truth (every node's id).
//!
//! Record workloads need more truth than the ids: which records exist depends on how
//! earlier writes went. So their draws are fixed up front (origins, values, salts,
//! topics, picks) and resolved when the command is due, against a global oracle of
//! what was acknowledged so far: a get asks for a key whose put finished, a mutable
//! get expects at least the highest `seq` acknowledged for its record, a topic lookup
//! expects every announcer still in the swarm. Nodes that left (`leave`) issue
//! nothing more and count as announcers no more.
//!
//! Faults that change who is in the swarm — crashes, restarts and churn — are timeline
//! steps too (the `faults` module): crashed nodes are out until they restart, joiners are built
//! dormant after the scenario's nodes and come in at their moment, and the lookups
//! started once the faults have stopped and settled feed the liveness check.
//!
//! Hostile nodes ([`crate::hostile`]) neither issue workload commands nor are their
//! targets: every figure of the workloads is the honest nodes'. Their traffic is
//! sent every [`hostile::TICK`] between the timeline's moments, and the safety
//! oracles ([`crate::safety`]) watch every run, hostile or not.
//!
//! A panic anywhere in a run (the core, an engine, the world, the runner) does not end
//! the process: [`run`] catches it, stops the run there and returns the report of what
//! it had come to, with [`Report::panic`] saying what panicked where and `pass` false,
//! so a crash of the test-bed replays from its seed like any failure. On stderr it is
//! one line, `the test-bed panicked: …` (see `runner/panics.rs`, which also holds the
//! debug builds' test hook `DSWARM_TEST_PANIC_AT`).
//!
//! [`Options::marks`] asks for readings part-way: when the engine first stands at or
//! past a marked simulated moment, the runner notes the wall time and datagram counts
//! so far in a [`Mark`] and calls [`Options::on_mark`], before it applies the steps
//! due then. A mark only reads: it adds no stop of its own, so a run with marks is the
//! run without them, trace hash and all. The runner stops at every timeline moment and
//! at most a simulated second apart, so a mark at a moment of the timeline (such as a
//! workload's `from`) or at the end is read exactly there, any other up to a second
//! late; [`Mark::sim_seconds`] says where. `dswarm bench-sim` times its phases this way.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dswarm::harness::{seed_stream, PerNode, Record, SwarmConfig};
use dswarm::proto::node::{Behaviour, DEFAULT_NETWORK_KEY};
use dswarm::proto::{Config, CryptoSuite, Key, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::engine::direct::Direct;
use crate::engine::live::Live;
use crate::engine::turmoil::Turmoil;
use crate::engine::Engine;
use crate::hostile::{self, Driver, Roster};
use crate::report::{AfterFaults, Breaches, Counters, Faults, Memory, Messages, Report, Tables};
use crate::safety::Safety;

mod faults;
mod members;
mod panics;
mod progress;
mod tally;
mod transfers;

use self::faults::Faults as FaultState;
use self::members::Members;
use self::progress::{Progress, Sampler};
use self::tally::Tally;
use crate::scenario::{Action, CryptoKind, EngineKind, Scenario, Workload};
use crate::world::World;

/// The RNG stream of workload askers and targets within a run's seed.
use dswarm::harness::streams::LISTENERS as STREAM_LISTENERS;
use dswarm::harness::streams::WORKLOAD as STREAM_WORKLOAD;
/// A workload's announces spread over one topic per this many (at least one topic),
/// so that a topic's announcers mostly fit one holder's answer (`MAX_PEERS`, 11 signed
/// announcements); holders draw theirs at random, so the k answers of a lookup cover a
/// busier topic too.
const ANNOUNCES_PER_TOPIC: usize = 8;
/// One mutable put in this many writes a new version of an earlier (writer, salt).
const MUTABLE_REPEAT_ONE_IN: u64 = 2;
/// Progress lines at most this often (wall time).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// How to run; see the module docs.
#[derive(Default)]
pub struct Options {
    /// Write the trace as JSON lines here.
    pub trace_jsonl: Option<Box<dyn Write + Send>>,
    /// Keep a record of every trace entry (for determinism checks).
    pub keep_records: bool,
    /// Keep records of the trace entries with these indices only (with
    /// `keep_records`): a divergence search's close look at one stretch.
    pub keep_window: Option<std::ops::Range<u64>>,
    /// Print a progress line to stderr now and then on long runs.
    pub progress: bool,
    /// Simulated moments at which to take a [`Mark`] (see the module docs), in any
    /// order. Empty by default: no marks.
    pub marks: Vec<Duration>,
    /// Called with each mark as it is taken, for readings only the caller can make
    /// (CPU time, memory) at that moment.
    pub on_mark: Option<OnMark>,
    /// Threads the direct engine runs on (0 counts as 1). The run, trace hash and all,
    /// is the same at every count; the turmoil engine runs on one.
    pub threads: usize,
    /// Profile the direct engine's windows (the report's `windows`).
    pub profile: bool,
    /// The live engine's estimate of the run's wall time, said before it started: the
    /// report's `live.estimate_s`.
    pub estimate: Option<Duration>,
}

/// What [`Options::on_mark`] calls.
pub type OnMark = Box<dyn FnMut(&Mark)>;

/// Readings at one of [`Options::marks`].
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    /// The simulated moment asked for.
    pub at: Duration,
    /// The simulated seconds reached when it was taken: `at`, or up to a second past.
    pub sim_seconds: f64,
    /// Wall seconds since the run started, building the nodes included.
    pub wall_seconds: f64,
    /// Datagrams so far.
    pub messages: Messages,
}

/// What a run produced.
pub struct Run {
    /// The report, expectations checked.
    pub report: Report,
    /// The trace records, when [`Options::keep_records`] asked for them.
    pub records: Vec<Record>,
    /// The trace's checkpoints (its hash every `CHECKPOINT_EVERY` entries).
    pub checkpoints: Vec<dswarm::harness::Checkpoint>,
    /// What the charts of the HTML report draw.
    pub series: crate::report::Series,
    /// The marks taken, in order of time: one per [`Options::marks`] entry the run
    /// reached.
    pub marks: Vec<Mark>,
}

/// What one timeline step does. Node and record choices are raw draws, resolved when
/// the step is due against the nodes still in the swarm and the oracle: with nobody
/// gone, `asker % nodes` is the node a draw names.
#[derive(Clone, Debug)]
enum Step {
    World(Action),
    /// A `Command::Connect` from the node draw `asker` names to another live node.
    Connect {
        asker: u64,
        target: u64,
    },
    /// A stream transfer of `bytes` from the node draw `asker` names to a listener
    /// (see [`transfers`]).
    Stream {
        asker: u64,
        target: u64,
        bytes: u64,
    },
    /// A churn departure of the live node draw `pick` names (bootstrap nodes aside),
    /// saying goodbye first when `graceful`.
    ChurnLeave {
        pick: u64,
        graceful: bool,
    },
    /// A churn arrival: dormant node `node` joins.
    ChurnJoin {
        node: usize,
    },
    Lookup {
        asker: u64,
        target: u64,
    },
    Ping {
        node: u64,
    },
    /// A single PING from the node draw `node` names to the `pick`th contact (modulo
    /// its size) of that node's routing table as it is when the step is due.
    ContactPing {
        node: u64,
        pick: u64,
    },
    /// An immutable put of the value [`value_of`] makes of `value`.
    Put {
        origin: u64,
        value: u64,
    },
    /// An immutable get of an acknowledged key.
    Get {
        origin: u64,
        pick: u64,
    },
    /// A mutable put of [`value_of`]`(value)` under [`salt_of`]`(salt)`, or, with
    /// `repeat` and an acknowledged record whose writer is still here, a new version
    /// of that record.
    MutablePut {
        origin: u64,
        repeat: Option<u64>,
        salt: u64,
        value: u64,
    },
    /// A latest-version get of an acknowledged mutable record.
    MutableGet {
        origin: u64,
        pick: u64,
    },
    Announce {
        origin: u64,
        topic: Key,
    },
    /// A lookup of a topic with acknowledged announcers still here.
    TopicLookup {
        origin: u64,
        pick: u64,
    },
}

/// A seeded value of 1 to 1,000 bytes.
fn value_of(seed: u64) -> Vec<u8> {
    bytes_of(seed, dswarm::proto::store::MAX_VALUE)
}

/// A seeded salt of 1 to 32 bytes.
fn salt_of(seed: u64) -> Vec<u8> {
    bytes_of(seed, dswarm::proto::store::MAX_SALT)
}

fn bytes_of(seed: u64, max: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = 1 + (rng.next_u64() % max as u64) as usize;
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// The crypto suite a scenario runs with.
pub fn crypto_of(scenario: &Scenario) -> CryptoSuite {
    match scenario.crypto_resolved() {
        CryptoKind::Fast => CryptoSuite::Fast,
        CryptoKind::Real | CryptoKind::Auto => CryptoSuite::Real,
    }
}

/// The hostile nodes of a scenario.
pub fn roster(scenario: &Scenario) -> Roster {
    let bootstrap = scenario.network.bootstrap.min(scenario.nodes);
    let mut roster = Roster::new(scenario.seed, scenario.nodes, bootstrap, &scenario.hostile);
    if scenario.hostile.eclipsers > 0.0 {
        let total = scenario.nodes + joiners(scenario);
        let mut honest = roster.honest();
        honest.resize(total, true);
        let ids: Vec<NodeId> = (0..total)
            .map(|node| crate::hostile::eclipse::stream_id(scenario.seed, node))
            .collect();
        let honest_ids: Vec<NodeId> = (0..total)
            .filter(|&node| honest[node])
            .map(|node| ids[node])
            .collect();
        let members = Members::new(scenario.seed, total, &honest, joiners(scenario));
        let targets = eclipse_targets(&timeline(scenario), &members, &ids);
        roster.aim_eclipse(scenario.seed, &targets, &honest_ids);
    }
    roster
}

/// The keys an eclipse attacker who knows the workload goes for, in the order the
/// workload first uses them: each immutable put's key (gets read those) and each
/// lookup's target, as the draw names it with nobody departed.
fn eclipse_targets(steps: &[(Time, Step)], members: &Members, ids: &[NodeId]) -> Vec<NodeId> {
    let mut targets: Vec<NodeId> = Vec::new();
    for (_, step) in steps {
        let target = match step {
            Step::Put { value, .. } => NodeId(Key::of(&value_of(*value)).0),
            Step::Lookup { asker, target } => ids[members.pair(*asker, *target).1],
            _ => continue,
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets
}

/// The swarm a scenario describes, as both engines build it, hostile nodes included.
pub fn swarm_config(scenario: &Scenario) -> SwarmConfig {
    swarm_config_with(scenario, &roster(scenario))
}

/// [`swarm_config`] for the hostile nodes of `roster` (drawn by [`roster`]).
pub fn swarm_config_with(scenario: &Scenario, roster: &Roster) -> SwarmConfig {
    let mut node = Config::default();
    if let Some(key) = scenario.network_key {
        node.network_key = key;
    }
    node.mailbox = scenario.network.mailbox;
    node.lookup_one_per_block = scenario.network.lookup_one_per_block;
    node.lookup_disjoint_paths = scenario.network.lookup_disjoint_paths;
    let per_node = (!roster.is_empty()).then(|| {
        let behaviours: Vec<_> = (0..scenario.nodes).map(|i| roster.behaviour(i)).collect();
        let allies = roster.allies().to_vec();
        PerNode(Arc::new(move |i: usize, config: &mut Config| {
            // Nodes that join mid-run are honest.
            if let Some(&behaviour) = behaviours.get(i) {
                config.behaviour = behaviour;
                if behaviour == Behaviour::Eclipse {
                    config.allies.clone_from(&allies);
                }
            }
        }))
    });
    let joiners = joiners(scenario);
    SwarmConfig {
        nodes: scenario.nodes + joiners,
        seed: scenario.seed,
        latency_min: scenario.network.latency_min,
        latency_max: scenario.network.latency_max,
        loss: scenario.network.loss,
        segments: scenario.network.segments,
        bootstrap_nodes: scenario.network.bootstrap.min(scenario.nodes),
        join_window: scenario.network.join_window,
        node,
        crypto: crypto_of(scenario),
        crypto_of: None,
        configure: None,
        per_node,
        clock_skew: scenario.network.clock_skew,
        dormant: joiners,
        threads: 1,
        identity_seeds: Arc::new(roster.identity_seeds().clone()),
    }
}

/// How many new nodes join mid-run (churn): built dormant, after the scenario's nodes.
pub fn joiners(scenario: &Scenario) -> usize {
    scenario
        .churn
        .as_ref()
        .map_or(0, |churn| churn.joins(scenario.nodes))
}

/// The lines printed before a run: the seed and every parameter it drew or defaulted.
pub fn parameters(scenario: &Scenario) -> String {
    let n = &scenario.network;
    let crypto = scenario.crypto_resolved().as_str();
    let mut lines = format!(
        "scenario {} ({})\nseed {} nodes {} engine {} crypto {} duration {:?}\n\
         network: latency {:?}..{:?} loss {} duplicate {} reorder {} (up to {:?}) segments {} bootstrap {} join within {:?}",
        scenario.name,
        scenario.path.display(),
        scenario.seed,
        scenario.nodes,
        engine_name(scenario.engine),
        crypto,
        scenario.duration,
        n.latency_min,
        n.latency_max,
        n.loss,
        n.duplicate,
        n.reorder,
        n.reorder_delay,
        n.segments,
        n.bootstrap,
        n.join_window,
    );
    let skew = &n.clock_skew;
    if !skew.is_none() {
        lines.push_str(&format!(
            "\nclock skew: offset up to ±{:?}, drift up to ±{}",
            skew.offset_max, skew.drift_max
        ));
    }
    if !n.nat.is_none() {
        let total = scenario.nodes + joiners(scenario);
        lines.push_str(&format!(
            "\nnat: {} open, {} consistent, {} random (bootstrap nodes open)",
            n.nat.count(crate::world::nat::NatKind::Open, total),
            n.nat.count(crate::world::nat::NatKind::Consistent, total),
            n.nat.count(crate::world::nat::NatKind::Random, total),
        ));
    }
    if let Some(churn) = &scenario.churn {
        lines.push_str(&format!(
            "\nchurn from {:?} until {:?}: {} leave, {} join",
            churn.from,
            churn.until,
            churn.leaves(scenario.nodes),
            churn.joins(scenario.nodes),
        ));
    }
    for at in &scenario.at {
        match at.action {
            Action::Leave { share } => lines.push_str(&format!(
                "\nat {:?}: leave {share} ({} nodes)",
                at.time,
                Action::leave_count(share, scenario.nodes)
            )),
            _ => lines.push_str(&format!("\nat {:?}: {:?}", at.time, at.action)),
        }
    }
    let hostile = &scenario.hostile;
    if !hostile.is_empty() {
        lines.push_str("\nhostile:");
        for kind in crate::scenario::HostileKind::ALL {
            let count = hostile.count(kind, scenario.nodes);
            if count > 0 {
                lines.push_str(&format!(" {count} {}", kind.key()));
            }
        }
        let rate = |share: f64, text: String| if share > 0.0 { text } else { String::new() };
        lines.push_str(&rate(
            hostile.flooders,
            format!(", flood {}/s", hostile.flood_rate),
        ));
        lines.push_str(&rate(
            hostile.replayers,
            format!(", replay {}/s", hostile.replay_rate),
        ));
        lines.push_str(&rate(
            hostile.forgers,
            format!(", forge {}/s", hostile.forge_rate),
        ));
        lines.push_str(&rate(
            hostile.eclipsers,
            format!(
                ", eclipsers from {} addresses, {} identities per key",
                hostile.eclipse_addresses, hostile.eclipse_identities
            ),
        ));
        lines.push_str(&rate(
            hostile.sybils,
            format!(
                ", {} identities per sybil address",
                hostile.sybil_identities
            ),
        ));
    }
    for w in &scenario.workload {
        lines.push_str(&format!(
            "\nworkload from {:?} over {:?}: {} lookups, {} ping_closest",
            w.from, w.over, w.lookups, w.ping_closest
        ));
        for (key, count) in w.counts().into_iter().skip(2) {
            if count > 0 {
                lines.push_str(&format!(", {count} {key}"));
            }
        }
        if w.announces > 0 {
            lines.push_str(&format!(" (over {} topics)", topics_of(w)));
        }
    }
    lines
}

fn engine_name(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Direct => "direct",
        EngineKind::Turmoil => "turmoil",
        EngineKind::Live => "live",
    }
}

/// How many topics a workload's announces spread over.
fn topics_of(w: &Workload) -> usize {
    w.announces.div_ceil(ANNOUNCES_PER_TOPIC).max(1)
}

/// The timeline of a run, in order: world events and workload commands.
fn timeline(scenario: &Scenario) -> Vec<(Time, Step)> {
    let mut rng = seed_stream(scenario.seed, STREAM_WORKLOAD);
    let mut steps: Vec<(Time, Step)> = scenario
        .at
        .iter()
        .map(|at| (Time::ZERO + at.time, Step::World(at.action.clone())))
        .collect();
    for w in &scenario.workload {
        let spread = |i: usize, count: usize| {
            Time::ZERO + w.from + w.over.mul_f64(i as f64 / count.max(1) as f64)
        };
        // Draws in a fixed order, lookups and pings first as they always were, so a
        // scenario without records runs as it did.
        for i in 0..w.lookups {
            let (asker, target) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.lookups), Step::Lookup { asker, target }));
        }
        for i in 0..w.ping_closest {
            let node = rng.next_u64();
            steps.push((spread(i, w.ping_closest), Step::Ping { node }));
        }
        for i in 0..w.puts {
            let (origin, value) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.puts), Step::Put { origin, value }));
        }
        for i in 0..w.gets {
            let (origin, pick) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.gets), Step::Get { origin, pick }));
        }
        for i in 0..w.mutable_puts {
            let origin = rng.next_u64();
            let repeat = rng.next_u64();
            let repeat = (repeat % MUTABLE_REPEAT_ONE_IN == 0).then_some(repeat);
            let (salt, value) = (rng.next_u64(), rng.next_u64());
            let step = Step::MutablePut {
                origin,
                repeat,
                salt,
                value,
            };
            steps.push((spread(i, w.mutable_puts), step));
        }
        for i in 0..w.mutable_gets {
            let (origin, pick) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.mutable_gets), Step::MutableGet { origin, pick }));
        }
        if w.announces > 0 {
            let topics: Vec<Key> = (0..topics_of(w))
                .map(|_| {
                    let mut topic = [0; 32];
                    rng.fill_bytes(&mut topic);
                    Key(topic)
                })
                .collect();
            for i in 0..w.announces {
                let origin = rng.next_u64();
                let topic = topics[(rng.next_u64() % topics.len() as u64) as usize];
                steps.push((spread(i, w.announces), Step::Announce { origin, topic }));
            }
        }
        for i in 0..w.topic_lookups {
            let (origin, pick) = (rng.next_u64(), rng.next_u64());
            steps.push((
                spread(i, w.topic_lookups),
                Step::TopicLookup { origin, pick },
            ));
        }
        // Last, so that a scenario without them draws as it did before they existed.
        for i in 0..w.pings {
            let (node, pick) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.pings), Step::ContactPing { node, pick }));
        }
        for i in 0..w.connects {
            let (asker, target) = (rng.next_u64(), rng.next_u64());
            steps.push((spread(i, w.connects), Step::Connect { asker, target }));
        }
        for i in 0..w.streams {
            let (asker, target) = (rng.next_u64(), rng.next_u64());
            let bytes = w.stream_bytes;
            let step = Step::Stream {
                asker,
                target,
                bytes,
            };
            steps.push((spread(i, w.streams), step));
        }
    }
    steps.extend(faults::churn_steps(scenario, scenario.nodes));
    steps.sort_by_key(|(at, _)| *at); // stable: file order within one moment
    steps
}

/// Runs `scenario`; see the module docs. A panic anywhere in the run ends it with
/// the report so far, its `panic` set and `pass` false ([`panics`]); the error is the
/// trace file's.
pub fn run(scenario: &Scenario, options: Options) -> std::io::Result<Run> {
    // Wall time is measured for the report only; nothing simulated reads it.
    #[allow(clippy::disallowed_methods)]
    let wall = Instant::now();
    let _quiet = panics::Quiet::new();
    panics::catch(|| run_caught(scenario, options, wall))
        .unwrap_or_else(|panic| Ok(Run::bare(scenario, wall, panic)))
}

/// [`run`], whose panics the caller catches. Its own catch around the timeline keeps
/// what was tallied until a panic there, and one around the readings of the nodes
/// keeps the rest of the report when those fail too.
fn run_caught(scenario: &Scenario, options: Options, wall: Instant) -> std::io::Result<Run> {
    let roster = roster(scenario);
    let mut config = swarm_config_with(scenario, &roster);
    config.threads = options.threads.max(1);
    let total = config.nodes;
    let mut world = World::new(scenario.seed, total, &scenario.network);
    world.share_hosts(&roster.host_groups());
    let mut built = match scenario.engine {
        EngineKind::Direct => {
            let mut direct = Direct::new(config, world);
            if options.profile {
                direct.start_profile();
            }
            Built::Direct(Box::new(direct))
        }
        EngineKind::Turmoil => Built::Turmoil(Box::new(Turmoil::new(config, world))),
        EngineKind::Live => {
            let workers = config.threads;
            let mut live = Live::new(config, world, workers);
            if let Some(estimate) = options.estimate {
                live.set_estimate(estimate);
            }
            Built::Live(Box::new(live))
        }
    };
    if let (true, Some(window)) = (options.keep_records, options.keep_window.clone()) {
        built.engine().trace_mut().keep_records_in(window);
    } else if options.keep_records {
        built.engine().trace_mut().keep_records();
    }
    if let Some(out) = options.trace_jsonl {
        built.engine().trace_mut().write_jsonl(out);
    }
    let ids = built.engine().ids();
    let end = Time::ZERO + scenario.duration;
    let steps = timeline(scenario);
    let settled = faults::faults_end(scenario).map_or(Time::ZERO, |end| Time::ZERO + end)
        + AfterFaults::SETTLE;
    let nat: Vec<_> = (0..total)
        .map(|node| built.engine().world().nat_kind(node))
        .collect();
    let mut tally = Tally::new(&steps, settled, nat.clone());
    let mut honest = roster.honest();
    honest.resize(total, true); // nodes that join mid-run are honest
    let mut members = Members::new(scenario.seed, total, &honest, total - scenario.nodes);
    let mut listeners_rng = seed_stream(scenario.seed, STREAM_LISTENERS);
    let mut transfers = transfers::Transfers::new(scenario, &honest, &mut listeners_rng);
    let mut faults = FaultState::new(scenario);
    let mut progress = Progress::new(options.progress, wall, end);
    let mut sampler = Sampler::new(scenario.duration);
    let mut marks = Marks::new(options.marks, options.on_mark, wall);
    let network_key = scenario.network_key.unwrap_or(DEFAULT_NETWORK_KEY);
    let crypto = crypto_of(scenario);
    let mut watch = Watch {
        driver: Driver::new(
            scenario.seed,
            &scenario.hostile,
            &roster,
            network_key,
            crypto,
        ),
        safety: Safety::new(ids.clone(), honest.clone(), crypto.implementation()),
        panic_at: panics::panic_at(),
    };
    let mut done = Vec::new();
    let timeline = panics::catch(|| {
        watch.driver.begin(built.engine());
        watch.safety.begin(built.engine());
        transfers.begin(built.engine(), &honest);
        for (tag, (at, step)) in steps.iter().enumerate() {
            let parts = (&mut progress, &tally, &mut sampler, &mut watch, &mut marks);
            advance(built.engine(), *at, parts);
            match step {
                Step::World(Action::Partition { shares, one_way }) => {
                    // Over every node of the run, joiners included (see World::partition).
                    built.engine().world_mut().partition(shares, *one_way);
                }
                Step::World(Action::Heal) => built.engine().world_mut().heal(),
                Step::World(Action::Leave { share }) => {
                    let gone = members.leave(Action::leave_count(*share, scenario.nodes));
                    built.engine().leave(&gone);
                }
                Step::World(Action::Crash { share }) => {
                    faults.crash(*share, &mut members, built.engine());
                }
                Step::World(Action::Restart { keep_table }) => {
                    faults.restart(*keep_table, &mut members, built.engine());
                }
                Step::ChurnLeave { pick, graceful } => {
                    faults.leave(*pick, *graceful, &mut members, built.engine())
                }
                Step::ChurnJoin { node } => faults.join(*node, &mut members, built.engine()),
                Step::Stream {
                    asker,
                    target,
                    bytes,
                } => {
                    let engine = built.engine();
                    transfers.issue(tag as u64, *asker, *target, *bytes, &members, &ids, engine);
                }
                step => {
                    let contact = |node: usize, pick: u64| built.contact(node, pick);
                    if let Some((node, command)) =
                        tally.issue(tag, *at, step, &members, &ids, &contact)
                    {
                        watch.safety.note_started(tag as u64, node, &command);
                        built.engine().start(node, command, tag as u64);
                    }
                }
            }
            built.engine().drain_finished(&mut done);
            watch.safety.check_finished(&done);
            tally.record(&done, &ids, &members.departed);
            done.clear();
        }
        let engine = built.engine();
        advance(
            engine,
            end,
            (&mut progress, &tally, &mut sampler, &mut watch, &mut marks),
        );
        engine.drain_finished(&mut done);
        watch.safety.check_finished(&done);
        tally.record(&done, &ids, &members.departed);
    });
    let mut panic = timeline.err();
    if panic.is_some() {
        // What finished before the panic and was not tallied yet, if the engine still
        // says (a second panic here only prints its line).
        let _ = panics::catch(|| {
            done.clear();
            built.engine().drain_finished(&mut done);
            tally.record(&done, &ids, &members.departed);
        });
    }

    // The nodes' own figures; after a panic the nodes may not answer (a turmoil node
    // task that died), and the report keeps what the timeline tallied.
    let readings = panics::catch(|| {
        let mut safety = watch.safety.finish(built.engine());
        let (streams, corrupt, first) = std::mem::take(&mut transfers).finish(built.engine());
        safety.check_streams(corrupt, first);
        let restarted = built.restarted_known(&faults.restarted, &members.departed, &nat, &ids);
        let snapshots = built.engine().snapshots();
        // Tables of the honest nodes still in the swarm: those that left stopped
        // filling theirs, and a hostile node's table is its own business.
        let tables: Vec<usize> = snapshots
            .iter()
            .enumerate()
            .filter(|&(node, _)| !members.departed[node] && honest[node])
            .map(|(_, s)| s.peers)
            .collect();
        let memory = Memory::of(
            snapshots
                .iter()
                .enumerate()
                .filter(|&(node, _)| !members.departed[node] && honest[node])
                .map(|(_, s)| &s.footprint),
        );
        let mut protocol = Counters::default();
        let mut refused = Breaches::default();
        for (node, snapshot) in snapshots.iter().enumerate() {
            protocol.0.add(&snapshot.stats);
            if honest[node] {
                refused.0.add(&snapshot.stats);
                safety.check_relay(node, snapshot.stats.relay_readable);
            }
        }
        let tables = Tables {
            min: tables.iter().copied().min().unwrap_or(0),
            mean: tables.iter().sum::<usize>() as f64 / tables.len().max(1) as f64,
            max: tables.iter().copied().max().unwrap_or(0),
        };
        (
            safety,
            restarted,
            (tables, memory),
            protocol,
            refused,
            streams,
        )
    });
    let (safety, (known, listable, here), (tables, memory), protocol, refused, streams) = readings
        .unwrap_or_else(|second| {
            panic = Some(match panic.take() {
                Some(first) => {
                    format!("{first}; reading the nodes afterwards panicked too: {second}")
                }
                None => second,
            });
            Default::default()
        });
    faults.counts.restarted_known = known;
    faults.counts.restarted_listable = listable;
    faults.counts.restarted_here = here;
    let engine = built.engine();
    engine.trace_mut().finish_jsonl()?;
    let net = engine.net_stats();
    let world_stats = engine.world().stats(engine.fates());
    let sim_seconds = engine.now().since_epoch().as_secs_f64();
    let wall_seconds = wall.elapsed().as_secs_f64();
    let mut report = Report {
        scenario: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed,
        nodes: scenario.nodes,
        engine: engine.name().to_string(),
        threads: engine.threads(),
        serial: engine.serial().map(str::to_string),
        crypto: scenario.crypto_resolved().as_str().to_string(),
        sim_seconds,
        wall_seconds,
        speed: sim_seconds / wall_seconds.max(1e-9),
        deterministic: engine.deterministic(),
        trace_hash: engine.deterministic().then(|| engine.trace().hash_hex()),
        trace_entries: engine.trace().len(),
        messages: Messages {
            sent: net.sent,
            delivered: net.delivered,
            dropped: net.dropped,
        },
        faults: Faults {
            lost: world_stats.lost,
            partitioned: world_stats.partitioned,
            duplicated: world_stats.duplicated,
            reordered: world_stats.reordered,
            nat_dropped: world_stats.nat_dropped,
        },
        departed: members.left + faults.counts.left,
        churn: faults.counts,
        lookups: tally.lookups(),
        lookups_after_faults: tally.after_faults(),
        pings: tally.pings(),
        contact_pings: tally.contact_pings(),
        records: tally.records(),
        topics: tally.topics(),
        connect: tally.connects(),
        streams,
        tables,
        memory,
        protocol,
        hostile: roster.counts(),
        hostile_activity: watch.driver.activity(),
        hostile_refused: refused,
        safety,
        windows: engine
            .profile()
            .map(|p| crate::report::Windows::of(&p, scenario.network.latency_min)),
        live: engine.live_figures(),
        panic,
        expectations: Vec::new(),
        pass: true,
    };
    report.check(&scenario.expect);
    let records = engine.trace().records().to_vec();
    let checkpoints = engine.trace().checkpoints().to_vec();
    let mut series = sampler.series;
    series.hops = tally.hops.clone();
    series.latencies_ms = tally
        .latency
        .iter()
        .map(|l| l.as_secs_f64() * 1000.0)
        .collect();
    Ok(Run {
        report,
        records,
        checkpoints,
        series,
        marks: marks.taken,
    })
}

impl Run {
    /// The run of `scenario` that panicked (`panic`) before it had anything to report:
    /// building the swarm, say. Every figure is zero, and the run fails.
    fn bare(scenario: &Scenario, wall: Instant, panic: String) -> Run {
        let mut report = Report {
            scenario: scenario.name.clone(),
            file: scenario.path.display().to_string(),
            seed: scenario.seed,
            nodes: scenario.nodes,
            engine: engine_name(scenario.engine).to_string(),
            crypto: scenario.crypto_resolved().as_str().to_string(),
            wall_seconds: wall.elapsed().as_secs_f64(),
            panic: Some(panic),
            ..Report::default()
        };
        report.check(&scenario.expect);
        Run {
            report,
            records: Vec::new(),
            checkpoints: Vec::new(),
            series: crate::report::Series::default(),
            marks: Vec::new(),
        }
    }
}

/// The engine of a run, kept as its own type and not only as `dyn Engine`: the `pings`
/// workload reads the asker's routing table, through the node's own API on the direct
/// engine and through the table the turmoil engine keeps from the nodes' events.
enum Built {
    Direct(Box<Direct>),
    Turmoil(Box<Turmoil>),
    Live(Box<Live>),
}

impl Built {
    /// Of the `restarted` nodes still in the swarm (not `departed`): how many some
    /// other node in the swarm holds in its routing table, of those that can be
    /// listed (not behind a NAT, by `nat`: no table may hold one that is); how many
    /// can be listed; and how many there are.
    fn restarted_known(
        &self,
        restarted: &std::collections::BTreeSet<usize>,
        departed: &[bool],
        nat: &[crate::scenario::NatKind],
        ids: &[NodeId],
    ) -> (usize, usize, usize) {
        let here: Vec<usize> = restarted
            .iter()
            .copied()
            .filter(|&n| !departed[n])
            .collect();
        let wanted: std::collections::BTreeSet<NodeId> = here
            .iter()
            .filter(|&&n| nat[n] == crate::scenario::NatKind::Open)
            .map(|&n| ids[n])
            .collect();
        if wanted.is_empty() {
            return (0, 0, here.len());
        }
        let mut known = std::collections::BTreeSet::new();
        for holder in (0..ids.len()).filter(|&n| !departed[n]) {
            let mut note = |id: NodeId| {
                if id != ids[holder] && wanted.contains(&id) {
                    known.insert(id);
                }
            };
            match self {
                Built::Direct(direct) => direct.swarm().nodes()[holder]
                    .table()
                    .iter()
                    .for_each(|c| note(c.id)),
                Built::Turmoil(_) | Built::Live(_) => {
                    self.kept_table(holder).iter().for_each(|&id| note(id))
                }
            }
        }
        (known.len(), wanted.len(), here.len())
    }

    /// Node `node`'s routing table as the engines whose nodes run the live driver keep
    /// it from the nodes' events; empty on the direct engine, which asks the node.
    fn kept_table(&self, node: usize) -> &[NodeId] {
        match self {
            Built::Direct(_) => &[],
            Built::Turmoil(turmoil) => turmoil.contacts(node),
            Built::Live(live) => live.contacts(node),
        }
    }

    fn engine(&mut self) -> &mut dyn Engine {
        match self {
            Built::Direct(direct) => direct.as_mut(),
            Built::Turmoil(turmoil) => turmoil.as_mut(),
            Built::Live(live) => live.as_mut(),
        }
    }

    /// The `pick`th contact (modulo their number) of node `node`'s routing table now,
    /// in the table's own order; `None` when the table is empty.
    fn contact(&self, node: usize, pick: u64) -> Option<NodeId> {
        match self {
            Built::Direct(direct) => {
                let table = direct.swarm().nodes()[node].table();
                let len = table.len() as u64;
                (len > 0).then(|| {
                    let at = (pick % len) as usize;
                    table
                        .iter()
                        .nth(at)
                        .expect("`at` is below the table's length")
                        .id
                })
            }
            Built::Turmoil(_) | Built::Live(_) => {
                let table = self.kept_table(node);
                let len = table.len() as u64;
                (len > 0).then(|| table[(pick % len) as usize])
            }
        }
    }
}

/// The hostile nodes' driver and the safety oracles, ticked as the run goes; and the
/// test hook's moment ([`panics::panic_at`]).
struct Watch {
    driver: Driver,
    safety: Safety,
    panic_at: Option<Time>,
}

/// The marks a run still has to take, and those it took.
struct Marks {
    /// Still to take, latest first.
    pending: Vec<Duration>,
    on_mark: Option<OnMark>,
    wall: Instant,
    taken: Vec<Mark>,
}

impl Marks {
    fn new(mut at: Vec<Duration>, on_mark: Option<OnMark>, wall: Instant) -> Marks {
        at.sort_unstable_by(|a, b| b.cmp(a));
        Marks {
            pending: at,
            on_mark,
            wall,
            taken: Vec::new(),
        }
    }

    /// Takes every pending mark at or before the engine's time.
    fn take_due(&mut self, engine: &dyn Engine) {
        while let Some(&at) = self.pending.last() {
            if engine.now() < Time::ZERO + at {
                return;
            }
            self.pending.pop();
            let net = engine.net_stats();
            let mark = Mark {
                at,
                sim_seconds: engine.now().since_epoch().as_secs_f64(),
                wall_seconds: self.wall.elapsed().as_secs_f64(),
                messages: Messages {
                    sent: net.sent,
                    delivered: net.delivered,
                    dropped: net.dropped,
                },
            };
            if let Some(on_mark) = &mut self.on_mark {
                on_mark(&mark);
            }
            self.taken.push(mark);
        }
    }
}

/// Runs the engine up to `until` in slices of simulated time, printing progress and
/// taking marks; while hostile nodes act, in ticks of [`hostile::TICK`] within each
/// slice.
fn advance(
    engine: &mut dyn Engine,
    until: Time,
    (progress, tally, sampler, watch, marks): (
        &mut Progress,
        &Tally,
        &mut Sampler,
        &mut Watch,
        &mut Marks,
    ),
) {
    const SLICE: Duration = Duration::from_secs(1);
    marks.take_due(engine);
    while engine.now() < until {
        let next = (engine.now() + SLICE).min(until);
        if watch.driver.is_active() {
            while engine.now() < next {
                engine.run_until((engine.now() + hostile::TICK).min(next));
                watch.driver.tick(engine);
            }
        } else {
            engine.run_until(next);
        }
        marks.take_due(engine);
        if watch.panic_at.is_some_and(|at| engine.now() >= at) {
            panic!(
                "{}: a deliberate panic at {:?} simulated",
                panics::TEST_PANIC_AT,
                engine.now().since_epoch()
            );
        }
        watch.safety.tick(engine);
        progress.tick(engine.now(), tally);
        sampler.tick(engine);
    }
}
