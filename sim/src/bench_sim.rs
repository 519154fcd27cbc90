//! `dswarm bench-sim`: how fast an engine simulates a swarm under a steady ping load,
//! and what it costs in memory.
//!
//! The workload, one run per `--nodes` value:
//!
//! 1. **join**: every node sends its `Bootstrap` at a seeded moment of a join window of
//!    [`JOINS_PER_SECOND`] joins a second (at least 2 s), through 3 bootstrap nodes, no
//!    multicast; then [`SETTLE`] more for the last lookups to end;
//! 2. **ping**: for `--seconds` simulated seconds, every node pings a random contact of
//!    its routing table once a second (the scenario key `pings` = nodes × seconds,
//!    spread evenly), one-way latency uniform in 5–50 ms, seeded.
//!
//! Each run is a scenario built here from TOML text and run once by [`runner::run`],
//! in a child process of its own (this binary again, with a hidden flag) so that its
//! peak memory is its own and `--timeout` can stop it. The child times the phases
//! inside that one run with the runner's marks ([`Options::marks`]): one where the
//! pings start, one at the end, and one each whole simulated second. At each it reads
//! the wall seconds since the run started, its own CPU seconds, the datagrams so far
//! and its peak RSS. The join is everything up to the first mark, building the nodes
//! included; the ping phase is the first mark to the end mark, so neither holds the
//! report's tally at the end. The figures of each phase:
//!
//! - wall and CPU seconds (the child's `utime + stime`, in ticks of 10 ms), simulated
//!   seconds per wall second;
//! - events per wall second, where an **event is a datagram handed to a node**
//!   (`messages.delivered`; multicast is off). Timer firings are not counted: the
//!   engines do not expose them;
//! - peak RSS (`VmHWM` of the child at the end) and that per node; the join's own
//!   peak is in its phase.
//!
//! The readings each simulated second say how far a run that hit `--timeout` got.
//!
//! `--json` prints each run as one JSON line. Exit 0 when every run finished, 1 when
//! one hit `--timeout` or failed, 2 on bad input.

// A benchmark measures wall time and waits on its children.
#![allow(clippy::disallowed_methods)]

use dswarm_sim::proc::{cpu_seconds, peak_rss_mib};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use dswarm_sim::runner::{self, Mark, Options};
use dswarm_sim::scenario::{self, EngineKind, Scenario};
use serde::{Deserialize, Serialize};

/// Nodes that join per simulated second: the join window is `nodes / JOINS_PER_SECOND`
/// seconds, at least [`JOIN_WINDOW_MIN`]. Three bootstrap nodes answer every join.
pub const JOINS_PER_SECOND: usize = 1_000;
/// The shortest join window.
pub const JOIN_WINDOW_MIN: Duration = Duration::from_secs(2);
/// Time after the join window for the last joins' lookups to end.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Arguments of `dswarm bench-sim`.
#[derive(Args, Debug, Clone)]
pub struct BenchSimArgs {
    /// The engine: `direct` or `turmoil`.
    #[arg(long, value_parser = parse_engine, default_value = "direct")]
    engine: EngineKind,
    /// Swarm sizes, one run each, comma-separated: `--nodes 1000,10000,100000`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000",
        value_parser = clap::value_parser!(u32).range(10..=1_000_000)
    )]
    nodes: Vec<u32>,
    /// Simulated seconds of the ping phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3_600))]
    seconds: u32,
    /// `fast` (the core's cheap keyed-hash suite) or `real` (ed25519 and x25519).
    #[arg(long, value_parser = ["fast", "real"], default_value = "fast")]
    crypto: String,
    /// The seed of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads of the direct engine (the run is the same at every count).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
    /// Wall-clock seconds one run may take (join and ping phase together); a run that
    /// takes longer is stopped and reported as not finished.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Print each run as one JSON line instead of a table row.
    #[arg(long)]
    json: bool,
    /// Run one measurement in this process and print its phases as JSON lines: what
    /// the parent process starts.
    #[arg(long, hide = true)]
    child: bool,
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    s.parse::<EngineKind>().map_err(|e| e.to_string())
}

/// The scenario of one run: `nodes` nodes, the join, then `seconds` of pings.
pub fn scenario(
    engine: EngineKind,
    nodes: usize,
    seconds: u32,
    crypto: &str,
    seed: u64,
) -> Result<Scenario, scenario::ScenarioError> {
    // Built on the direct engine, then moved: a refusal then names `--engine`.
    let text = scenario_text(nodes, seconds, crypto, seed);
    scenario::parse(Path::new("bench-sim"), &text)?.with_engine(engine)
}

/// When the ping phase starts in a swarm of `nodes`.
fn ping_from(nodes: usize) -> Duration {
    join_window(nodes) + SETTLE
}

fn join_window(nodes: usize) -> Duration {
    JOIN_WINDOW_MIN.max(Duration::from_secs_f64(
        nodes as f64 / JOINS_PER_SECOND as f64,
    ))
}

/// When the run ends in a swarm of `nodes` with `seconds` of pings.
fn end(nodes: usize, seconds: u32) -> Duration {
    ping_from(nodes) + Duration::from_secs(u64::from(seconds))
}

fn scenario_text(nodes: usize, seconds: u32, crypto: &str, seed: u64) -> String {
    let from = ping_from(nodes);
    let duration = end(nodes, seconds);
    let pings = nodes as u64 * u64::from(seconds);
    let workload = format!(
        "\n[[workload]]\nfrom = \"{}ms\"\nover = \"{seconds}s\"\npings = {pings}\n",
        from.as_millis()
    );
    format!(
        "name = \"bench-sim\"\nseed = {seed}\nnodes = {nodes}\nengine = \"direct\"\n\
         crypto = \"{crypto}\"\nduration = \"{}ms\"\n\n\
         [network]\nlatency = {{ min = \"5ms\", max = \"50ms\" }}\nsegments = 0\n\
         bootstrap = 3\njoin_window = \"{}ms\"\n{workload}",
        duration.as_millis(),
        join_window(nodes).as_millis(),
    )
}

/// What a child measured of one phase of its run, or of the whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Phase {
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// Wall seconds; the join's and the whole run's include building the nodes.
    pub wall_seconds: f64,
    /// CPU seconds (user and system) of the child over the phase.
    pub cpu_seconds: f64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Pings asked for.
    pub pings_issued: u64,
    /// Pings answered.
    pub pings_answered: u64,
    /// The smallest routing table at the end of the run (not read for the join).
    pub table_min: Option<usize>,
    /// The mean routing table at the end of the run (not read for the join).
    pub table_mean: Option<f64>,
    /// The child's peak RSS at the end of the phase, MiB.
    pub peak_rss_mib: f64,
}

/// What the child read at one mark.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Reading {
    sim_seconds: f64,
    wall_seconds: f64,
    /// CPU seconds since the child started the run.
    cpu_seconds: f64,
    delivered: u64,
    sent: u64,
    peak_rss_mib: f64,
}

impl Reading {
    fn of(mark: &Mark, cpu_start: f64) -> Reading {
        Reading {
            sim_seconds: mark.sim_seconds,
            wall_seconds: mark.wall_seconds,
            cpu_seconds: (cpu_seconds().unwrap_or(0.0) - cpu_start).max(0.0),
            delivered: mark.messages.delivered,
            sent: mark.messages.sent,
            peak_rss_mib: peak_rss_mib().unwrap_or(0.0),
        }
    }

    /// The phase from the run's start to this reading.
    fn since_start(&self) -> Phase {
        Phase {
            sim_seconds: self.sim_seconds,
            wall_seconds: self.wall_seconds,
            cpu_seconds: self.cpu_seconds,
            delivered: self.delivered,
            sent: self.sent,
            peak_rss_mib: self.peak_rss_mib,
            ..Phase::default()
        }
    }

    /// The phase from `earlier` to this reading.
    fn since(&self, earlier: &Reading) -> Phase {
        Phase {
            sim_seconds: self.sim_seconds - earlier.sim_seconds,
            wall_seconds: self.wall_seconds - earlier.wall_seconds,
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            delivered: self.delivered - earlier.delivered,
            sent: self.sent - earlier.sent,
            peak_rss_mib: self.peak_rss_mib,
            ..Phase::default()
        }
    }
}

/// One line a child prints, each as soon as it knows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case")]
enum ChildLine {
    /// A reading each whole simulated second: how far the run got.
    At(Reading),
    /// The join: the run up to the first ping.
    Join(Phase),
    /// The ping phase: the first ping to the end.
    Ping(Phase),
    /// The whole run, as its report has it: the nodes built, both phases, the tally.
    Total(Phase),
    /// Peak RSS at the start and at the end, MiB.
    Memory { baseline_mib: f64, peak_mib: f64 },
}

/// How far a run got: the child's last reading.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Reached {
    /// Simulated seconds reached.
    pub sim_seconds: f64,
    /// Wall seconds since the run started.
    pub wall_seconds: f64,
    /// The child's peak RSS so far, MiB.
    pub peak_rss_mib: f64,
}

/// One run as the parent reports it.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRun {
    /// Always `"dswarm"`: sets these lines apart from other tools' in a comparison.
    pub tool: &'static str,
    /// `direct` or `turmoil`.
    pub engine: String,
    /// Nodes simulated.
    pub nodes: usize,
    /// `fast` or `real`.
    pub crypto: String,
    /// The run's seed.
    pub seed: u64,
    /// Whether the child's run ended within `--timeout`.
    pub finished: bool,
    /// Why not, when not.
    pub error: Option<String>,
    /// The join alone: join window plus [`SETTLE`].
    pub join: Option<Phase>,
    /// The ping phase: from the first ping to the end.
    pub ping: Option<Phase>,
    /// The whole run: building the nodes, both phases and the report's tally.
    pub total: Option<Phase>,
    /// How far the run got, at the child's last reading (each simulated second).
    pub reached: Option<Reached>,
    /// Simulated seconds per wall second of the ping phase.
    pub speed: Option<f64>,
    /// Events (datagrams delivered) per wall second of the ping phase.
    pub events_per_second: Option<f64>,
    /// Events per wall second of the join.
    pub join_events_per_second: Option<f64>,
    /// The child's peak RSS (VmHWM) at the end of its run, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Peak RSS less the child's before it built anything, per node, KiB.
    pub rss_per_node_kib: Option<f64>,
    /// The wall-clock limit of the child, seconds.
    pub timeout_seconds: u64,
}

/// Runs `dswarm bench-sim`.
pub fn run(args: &BenchSimArgs) -> ExitCode {
    if args.child {
        return child(args);
    }
    // Check every scenario before the first run: bad input is exit 2, up front.
    for &nodes in &args.nodes {
        if let Err(error) = scenario(
            args.engine,
            nodes as usize,
            args.seconds,
            &args.crypto,
            args.seed,
        ) {
            eprintln!("error: bench-sim --nodes {nodes}: {}", error.message);
            return ExitCode::from(2);
        }
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the dswarm binary: {e}");
            return ExitCode::from(2);
        }
    };
    println!("# nproc {}", nproc());
    if !args.json {
        println!(
            "{:<8} {:>7} | {:>6} {:>8} | {:>6} {:>8} {:>8} {:>9} {:>10} {:>10} | {:>9} {:>8} | {:>13} | status",
            "engine", "nodes", "join s", "join wall", "ping s", "wall", "cpu", "sim-s/s", "events", "events/s",
            "peak MiB", "KiB/node", "pings ok/all"
        );
    }
    let mut all_finished = true;
    for &nodes in &args.nodes {
        eprintln!(
            "bench-sim: {} engine, {nodes} nodes, {} s of pings (limit {} s wall)",
            args.engine, args.seconds, args.timeout
        );
        let run = measure(&exe, args, nodes as usize);
        all_finished &= run.finished;
        if args.json {
            match serde_json::to_string(&run) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: {e}"),
            }
        } else {
            print_row(&run);
        }
    }
    if all_finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_row(run: &BenchRun) {
    let f = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let join = run.join.as_ref();
    let ping = run.ping.as_ref();
    let status = match (&run.error, run.finished) {
        (_, true) => "ok".to_owned(),
        (Some(error), false) => format!("NOT FINISHED: {error}"),
        (None, false) => "NOT FINISHED".to_owned(),
    };
    println!(
        "{:<8} {:>7} | {:>6} {:>8} | {:>6} {:>8} {:>8} {:>9} {:>10} {:>10} | {:>9} {:>8} | {:>13} | {status}",
        run.engine,
        run.nodes,
        f(join.map(|p| p.sim_seconds), 1),
        f(join.map(|p| p.wall_seconds), 2),
        f(ping.map(|p| p.sim_seconds), 1),
        f(ping.map(|p| p.wall_seconds), 2),
        f(ping.map(|p| p.cpu_seconds), 2),
        f(run.speed, 2),
        ping.map_or("-".to_owned(), |p| p.delivered.to_string()),
        f(run.events_per_second, 0),
        f(run.peak_rss_mib, 1),
        f(run.rss_per_node_kib, 1),
        ping.map_or("-".to_owned(), |p| format!("{}/{}", p.pings_answered, p.pings_issued)),
    );
}

/// Runs one measurement in a child process and gathers what it printed, stopping it
/// at `--timeout`.
fn measure(exe: &Path, args: &BenchSimArgs, nodes: usize) -> BenchRun {
    let mut run = BenchRun {
        tool: "dswarm",
        engine: args.engine.to_string(),
        nodes,
        crypto: args.crypto.clone(),
        seed: args.seed,
        finished: false,
        error: None,
        join: None,
        ping: None,
        total: None,
        reached: None,
        speed: None,
        events_per_second: None,
        join_events_per_second: None,
        peak_rss_mib: None,
        rss_per_node_kib: None,
        timeout_seconds: args.timeout,
    };
    let spawned = Command::new(exe)
        .args(["bench-sim", "--child", "--engine", args.engine.as_str()])
        .args(["--threads", &args.threads.to_string()])
        .args([
            "--nodes",
            &nodes.to_string(),
            "--seconds",
            &args.seconds.to_string(),
        ])
        .args(["--crypto", &args.crypto, "--seed", &args.seed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            run.error = Some(format!("cannot start {}: {e}", exe.display()));
            return run;
        }
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                run.error = Some(format!("waiting for the run: {e}"));
                break None;
            }
        }
    };
    let _ = reader.join();
    for line in rx.try_iter() {
        match serde_json::from_str::<ChildLine>(&line) {
            Ok(ChildLine::At(reading)) => {
                run.reached = Some(Reached {
                    sim_seconds: reading.sim_seconds,
                    wall_seconds: reading.wall_seconds,
                    peak_rss_mib: reading.peak_rss_mib,
                });
            }
            Ok(ChildLine::Join(phase)) => run.join = Some(phase),
            Ok(ChildLine::Ping(phase)) => run.ping = Some(phase),
            Ok(ChildLine::Total(phase)) => run.total = Some(phase),
            Ok(ChildLine::Memory {
                baseline_mib,
                peak_mib,
            }) => {
                run.peak_rss_mib = Some(peak_mib);
                run.rss_per_node_kib = Some((peak_mib - baseline_mib) * 1024.0 / nodes as f64);
            }
            Err(_) => eprintln!("{line}"),
        }
    }
    if let Some(ping) = &run.ping {
        run.speed = Some(ping.sim_seconds / ping.wall_seconds.max(1e-9));
        run.events_per_second = Some(ping.delivered as f64 / ping.wall_seconds.max(1e-9));
    }
    if let Some(join) = &run.join {
        run.join_events_per_second = Some(join.delivered as f64 / join.wall_seconds.max(1e-9));
    }
    match status {
        Some(status) if status.success() && run.ping.is_some() => run.finished = true,
        Some(status) => {
            run.error
                .get_or_insert_with(|| format!("the run failed ({status})"));
        }
        None => {
            run.error.get_or_insert_with(|| {
                let phase = if run.join.is_some() {
                    "ping phase"
                } else {
                    "join"
                };
                let reached = run.reached.map_or(String::new(), |r| {
                    format!(
                        ", at {:.1} of {:.1} simulated s, peak RSS {:.0} MiB",
                        r.sim_seconds,
                        end(nodes, args.seconds).as_secs_f64(),
                        r.peak_rss_mib
                    )
                });
                format!(
                    "stopped after {} s wall, in the {phase}{reached}",
                    args.timeout
                )
            });
        }
    }
    run
}

/// The child: one run, marked where the pings start, at the end and each whole
/// simulated second; each line on stdout as soon as it is known.
fn child(args: &BenchSimArgs) -> ExitCode {
    let baseline_mib = peak_rss_mib().unwrap_or(0.0);
    let [nodes] = args.nodes[..] else {
        eprintln!("error: bench-sim --child takes one --nodes value");
        return ExitCode::from(2);
    };
    let nodes = nodes as usize;
    let scenario = match scenario(args.engine, nodes, args.seconds, &args.crypto, args.seed) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (from, end) = (ping_from(nodes), end(nodes, args.seconds));
    let mut marks: Vec<Duration> = (1..end.as_secs()).map(Duration::from_secs).collect();
    marks.extend([from, end]);
    marks.sort();
    marks.dedup(); // `from` may be a whole second: one reading, one join line
                   // The readings at `from` and at `end`, for the phases.
    let phases: Rc<RefCell<(Option<Reading>, Option<Reading>)>> = Rc::default();
    let cpu_start = cpu_seconds().unwrap_or(0.0);
    let on_mark = {
        let phases = Rc::clone(&phases);
        move |mark: &Mark| {
            let reading = Reading::of(mark, cpu_start);
            print_line(&ChildLine::At(reading));
            let mut phases = phases.borrow_mut();
            if mark.at == from {
                phases.0 = Some(reading);
                print_line(&ChildLine::Join(reading.since_start()));
            }
            if mark.at == end {
                phases.1 = Some(reading);
            }
        }
    };
    let options = Options {
        marks,
        on_mark: Some(Box::new(on_mark)),
        threads: args.threads as usize,
        ..Options::default()
    };
    let report = match runner::run(&scenario, options) {
        Ok(run) => run.report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let peak_mib = peak_rss_mib().unwrap_or(0.0);
    let with_tally = |phase: Phase| Phase {
        pings_issued: report.contact_pings.issued,
        pings_answered: report.contact_pings.answered,
        table_min: Some(report.tables.min),
        table_mean: Some(report.tables.mean),
        ..phase
    };
    let (Some(start), Some(stop)) = *phases.borrow() else {
        eprintln!("error: the run took no reading where the pings start or at its end");
        return ExitCode::from(1);
    };
    print_line(&ChildLine::Ping(with_tally(stop.since(&start))));
    print_line(&ChildLine::Total(with_tally(Phase {
        sim_seconds: report.sim_seconds,
        wall_seconds: report.wall_seconds,
        cpu_seconds: (cpu_seconds().unwrap_or(0.0) - cpu_start).max(0.0),
        delivered: report.messages.delivered,
        sent: report.messages.sent,
        peak_rss_mib: peak_mib,
        ..Phase::default()
    })));
    print_line(&ChildLine::Memory {
        baseline_mib,
        peak_mib,
    });
    ExitCode::SUCCESS
}

fn print_line(line: &ChildLine) {
    println!(
        "{}",
        serde_json::to_string(line).expect("a child line serialises")
    );
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
