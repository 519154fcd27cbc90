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

use std::io::Write;
use std::time::{Duration, Instant};

use dswarm::harness::{seed_stream, Record, SwarmConfig};
use dswarm::proto::{Command, Config, CryptoSuite, NodeId, QueryOutcome, Time};
use rand_core::RngCore;

use crate::engine::direct::Direct;
use crate::engine::turmoil::Turmoil;
use crate::engine::{Done, Engine};
use crate::report::{percentile, Faults, Lookups, Messages, Pings, Protocol, Report, Tables};
use crate::scenario::{Action, CryptoKind, EngineKind, Scenario};
use crate::world::World;

/// The RNG stream of workload askers and targets within a run's seed.
const STREAM_WORKLOAD: u64 = (1 << 41) + 16;
/// Progress lines at most this often (wall time).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// How to run; see the module docs.
#[derive(Default)]
pub struct Options {
    /// Write the trace as JSON lines here.
    pub trace_jsonl: Option<Box<dyn Write>>,
    /// Keep a record of every trace entry (for determinism checks).
    pub keep_records: bool,
    /// Keep records of the trace entries with these indices only (with
    /// `keep_records`): a divergence search's close look at one stretch.
    pub keep_window: Option<std::ops::Range<u64>>,
    /// Print a progress line to stderr now and then on long runs.
    pub progress: bool,
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
    pub series: crate::html::Series,
}

/// Samples of the run over time, for the HTML report's charts: at most about
/// [`SAMPLES`] of them, at least a simulated second apart.
struct Sampler {
    every: Duration,
    next: Time,
    last: (Time, u64),
    series: crate::html::Series,
}

/// Samples per run, about.
const SAMPLES: u32 = 120;

impl Sampler {
    fn new(duration: Duration) -> Sampler {
        let every = (duration / SAMPLES).max(Duration::from_secs(1));
        Sampler {
            every,
            next: Time::ZERO + every,
            last: (Time::ZERO, 0),
            series: crate::html::Series::default(),
        }
    }

    fn tick(&mut self, engine: &mut dyn Engine) {
        let now = engine.now();
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        let t = now.since_epoch().as_secs_f64();
        let tables = engine.table_sizes();
        let mean = tables.iter().sum::<usize>() as f64 / tables.len().max(1) as f64;
        let least = tables.iter().copied().min().unwrap_or(0) as f64;
        self.series.table_fill.push((t, mean, least));
        let sent = engine.net_stats().sent;
        let span = (now - self.last.0).as_secs_f64().max(1e-9);
        let rate = sent.saturating_sub(self.last.1) as f64 / span;
        self.series.messages_per_sec.push((t, rate));
        self.last = (now, sent);
    }
}

/// What one timeline step does.
#[derive(Clone, Debug)]
enum Step {
    World(Action),
    Lookup { asker: usize, target: usize },
    Ping { node: usize },
}

/// The crypto suite a scenario runs with.
pub fn crypto_of(scenario: &Scenario) -> CryptoSuite {
    match scenario.crypto.resolve(scenario.nodes) {
        CryptoKind::Fast => CryptoSuite::Fast,
        CryptoKind::Real | CryptoKind::Auto => CryptoSuite::Real,
    }
}

/// The swarm a scenario describes, as both engines build it.
pub fn swarm_config(scenario: &Scenario) -> SwarmConfig {
    let mut node = Config::default();
    if let Some(key) = scenario.network_key {
        node.network_key = key;
    }
    node.crypto = crypto_of(scenario);
    SwarmConfig {
        nodes: scenario.nodes,
        seed: scenario.seed,
        latency_min: scenario.network.latency_min,
        latency_max: scenario.network.latency_max,
        loss: scenario.network.loss,
        segments: scenario.network.segments,
        bootstrap_nodes: scenario.network.bootstrap.min(scenario.nodes),
        join_window: scenario.network.join_window,
        node,
        configure: None,
    }
}

/// The lines printed before a run: the seed and every parameter it drew or defaulted.
pub fn parameters(scenario: &Scenario) -> String {
    let n = &scenario.network;
    let crypto = scenario.crypto.resolve(scenario.nodes).as_str();
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
    for at in &scenario.at {
        lines.push_str(&format!("\nat {:?}: {:?}", at.time, at.action));
    }
    for w in &scenario.workload {
        lines.push_str(&format!(
            "\nworkload from {:?} over {:?}: {} lookups, {} ping_closest",
            w.from, w.over, w.lookups, w.ping_closest
        ));
    }
    lines
}

fn engine_name(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Direct => "direct",
        EngineKind::Turmoil => "turmoil",
    }
}

/// The timeline of a run, in order: world events and workload commands.
fn timeline(scenario: &Scenario) -> Vec<(Time, Step)> {
    let mut rng = seed_stream(scenario.seed, STREAM_WORKLOAD);
    let n = scenario.nodes as u64;
    let mut steps: Vec<(Time, Step)> = scenario
        .at
        .iter()
        .map(|at| (Time::ZERO + at.time, Step::World(at.action.clone())))
        .collect();
    for w in &scenario.workload {
        let spread = |i: usize, count: usize| {
            Time::ZERO + w.from + w.over.mul_f64(i as f64 / count.max(1) as f64)
        };
        for i in 0..w.lookups {
            let asker = (rng.next_u64() % n) as usize;
            let target = ((asker as u64 + 1 + rng.next_u64() % (n - 1)) % n) as usize;
            steps.push((spread(i, w.lookups), Step::Lookup { asker, target }));
        }
        for i in 0..w.ping_closest {
            let node = (rng.next_u64() % n) as usize;
            steps.push((spread(i, w.ping_closest), Step::Ping { node }));
        }
    }
    steps.sort_by_key(|(at, _)| *at); // stable: file order within one moment
    steps
}

/// Runs `scenario`; see the module docs.
pub fn run(scenario: &Scenario, options: Options) -> std::io::Result<Run> {
    // Wall time is measured for the report only; nothing simulated reads it.
    #[allow(clippy::disallowed_methods)]
    let wall = Instant::now();
    let config = swarm_config(scenario);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine: Box<dyn Engine> = match scenario.engine {
        EngineKind::Direct => Box::new(Direct::new(config, world)),
        EngineKind::Turmoil => Box::new(Turmoil::new(config, world)),
    };
    if let (true, Some(window)) = (options.keep_records, options.keep_window.clone()) {
        engine.trace_mut().keep_records_in(window);
    } else if options.keep_records {
        engine.trace_mut().keep_records();
    }
    if let Some(out) = options.trace_jsonl {
        engine.trace_mut().write_jsonl(out);
    }
    let ids = engine.ids();
    let end = Time::ZERO + scenario.duration;
    let steps = timeline(scenario);
    let mut tally = Tally::new(&steps);
    let mut progress = Progress::new(options.progress, wall, end);
    let mut sampler = Sampler::new(scenario.duration);
    let mut done = Vec::new();
    for (tag, (at, step)) in steps.iter().enumerate() {
        advance(engine.as_mut(), *at, &mut progress, &tally, &mut sampler);
        match step {
            Step::World(Action::Partition { shares, one_way }) => {
                engine
                    .world_mut()
                    .partition(scenario.nodes, shares, *one_way);
            }
            Step::World(Action::Heal) => engine.world_mut().heal(),
            Step::Lookup { asker, target } => {
                engine.start(*asker, Command::FindNode(ids[*target]), tag as u64);
            }
            Step::Ping { node } => engine.start(*node, Command::PingClosest(3), tag as u64),
        }
        engine.drain_finished(&mut done);
        tally.record(&done, &ids);
        done.clear();
    }
    advance(engine.as_mut(), end, &mut progress, &tally, &mut sampler);
    engine.drain_finished(&mut done);
    tally.record(&done, &ids);
    engine.trace_mut().finish_jsonl()?;

    let snapshots = engine.snapshots();
    let tables: Vec<usize> = snapshots.iter().map(|s| s.peers).collect();
    let mut protocol = Protocol::default();
    for snapshot in &snapshots {
        protocol.add(&snapshot.stats);
    }
    let net = engine.net_stats();
    let faults = engine.world().stats();
    let sim_seconds = engine.now().since_epoch().as_secs_f64();
    let wall_seconds = wall.elapsed().as_secs_f64();
    let mut report = Report {
        scenario: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed,
        nodes: scenario.nodes,
        engine: engine.name().to_string(),
        crypto: scenario.crypto.resolve(scenario.nodes).as_str().to_string(),
        sim_seconds,
        wall_seconds,
        speed: sim_seconds / wall_seconds.max(1e-9),
        trace_hash: engine.trace().hash_hex(),
        trace_entries: engine.trace().len(),
        messages: Messages {
            sent: net.sent,
            delivered: net.delivered,
            dropped: net.dropped,
        },
        faults: Faults {
            lost: faults.lost,
            partitioned: faults.partitioned,
            duplicated: faults.duplicated,
            reordered: faults.reordered,
        },
        lookups: tally.lookups(),
        pings: tally.pings(),
        tables: Tables {
            min: tables.iter().copied().min().unwrap_or(0),
            mean: tables.iter().sum::<usize>() as f64 / tables.len().max(1) as f64,
            max: tables.iter().copied().max().unwrap_or(0),
        },
        protocol,
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
    })
}

/// Runs the engine up to `until` in slices of simulated time, printing progress.
fn advance(
    engine: &mut dyn Engine,
    until: Time,
    progress: &mut Progress,
    tally: &Tally,
    sampler: &mut Sampler,
) {
    const SLICE: Duration = Duration::from_secs(1);
    while engine.now() < until {
        let next = (engine.now() + SLICE).min(until);
        engine.run_until(next);
        progress.tick(engine.now(), tally);
        sampler.tick(engine);
    }
}

struct Progress {
    on: bool,
    wall: Instant,
    last: Duration,
    end: Time,
}

impl Progress {
    fn new(on: bool, wall: Instant, end: Time) -> Progress {
        Progress {
            on,
            wall,
            last: Duration::ZERO,
            end,
        }
    }

    fn tick(&mut self, now: Time, tally: &Tally) {
        if !self.on {
            return;
        }
        let elapsed = self.wall.elapsed();
        if elapsed < self.last + PROGRESS_EVERY {
            return;
        }
        self.last = elapsed;
        eprintln!(
            "  simulated {:.1} / {:.1} s, {:.1} s wall, lookups {} done of {} started",
            now.since_epoch().as_secs_f64(),
            self.end.since_epoch().as_secs_f64(),
            elapsed.as_secs_f64(),
            tally.lookups_done,
            tally.lookups_started,
        );
    }
}

/// What the workload commands came to.
struct Tally {
    /// By tag: the lookup's target, or `None` for a ping or world event.
    targets: Vec<Option<usize>>,
    lookups_started: u64,
    lookups_done: u64,
    lookups_found: u64,
    hops: Vec<u32>,
    latency: Vec<Duration>,
    pings_started: u64,
    pings_ok: u64,
    rtts: Vec<Duration>,
}

impl Tally {
    fn new(steps: &[(Time, Step)]) -> Tally {
        let targets = steps
            .iter()
            .map(|(_, s)| match s {
                Step::Lookup { target, .. } => Some(*target),
                _ => None,
            })
            .collect();
        let count = |f: fn(&Step) -> bool| steps.iter().filter(|(_, s)| f(s)).count() as u64;
        Tally {
            targets,
            lookups_started: count(|s| matches!(s, Step::Lookup { .. })),
            lookups_done: 0,
            lookups_found: 0,
            hops: Vec::new(),
            latency: Vec::new(),
            pings_started: count(|s| matches!(s, Step::Ping { .. })),
            pings_ok: 0,
            rtts: Vec::new(),
        }
    }

    fn record(&mut self, done: &[Done], ids: &[NodeId]) {
        for d in done {
            let target = self.targets.get(d.tag as usize).copied().flatten();
            match (&d.result, target) {
                (Ok((elapsed, QueryOutcome::Found(result))), Some(target)) => {
                    self.lookups_done += 1;
                    self.hops.push(u32::from(result.hops));
                    self.latency.push(*elapsed);
                    if result.closest.first().map(|c| c.id) == Some(ids[target]) {
                        self.lookups_found += 1;
                    }
                }
                (_, Some(_)) => self.lookups_done += 1,
                (Ok((_, QueryOutcome::PingedClosest(results))), None) => {
                    let answered: Vec<Duration> = results.iter().filter_map(|r| r.rtt).collect();
                    if !results.is_empty() && answered.len() == results.len() {
                        self.pings_ok += 1;
                    }
                    self.rtts.extend(answered);
                }
                (_, None) => {}
            }
        }
    }

    fn lookups(&mut self) -> Lookups {
        self.hops.sort_unstable();
        self.latency.sort_unstable();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        Lookups {
            issued: self.lookups_started,
            succeeded: self.lookups_found,
            failed: self.lookups_done - self.lookups_found,
            unfinished: self.lookups_started - self.lookups_done,
            hops_p50: percentile(&self.hops, 0.5),
            hops_p95: percentile(&self.hops, 0.95),
            latency_ms_p50: ms(percentile(&self.latency, 0.5)),
            latency_ms_p99: ms(percentile(&self.latency, 0.99)),
        }
    }

    fn pings(&mut self) -> Pings {
        self.rtts.sort_unstable();
        Pings {
            issued: self.pings_started,
            succeeded: self.pings_ok,
            rtt_ms_p50: percentile(&self.rtts, 0.5).map(|d| d.as_secs_f64() * 1000.0),
        }
    }
}
