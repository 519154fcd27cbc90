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
//! Each run is a scenario built here from TOML text and run by [`runner::run`], in a
//! child process of its own (this binary again, with a hidden flag) so that its peak
//! memory is its own and `--timeout` can stop it. The child runs the join alone first,
//! then join and ping together: the simulation is deterministic, so both runs do the
//! same join, and the ping phase costs the difference. Its figures:
//!
//! - wall and CPU seconds (the child's `utime + stime`), simulated seconds per wall
//!   second;
//! - events per wall second, where an **event is a datagram handed to a node**
//!   (`messages.delivered`; multicast is off). Timer firings are not counted: the
//!   engines do not expose them;
//! - peak RSS (`VmHWM` of the child, after both runs) and that per node.
//!
//! `--json` prints each run as one JSON line. Exit 0 when every run finished, 1 when
//! one hit `--timeout` or failed, 2 on bad input.

// A benchmark measures wall time and waits on its children.
#![allow(clippy::disallowed_methods)]

use crate::bench_live::{cpu_seconds, peak_rss_mib};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
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

fn scenario_text(nodes: usize, seconds: u32, crypto: &str, seed: u64) -> String {
    let from = ping_from(nodes);
    // A run of the join alone ends where the pings would start; it has no workload.
    let (duration, workload) = if seconds == 0 {
        (from, String::new())
    } else {
        let pings = nodes as u64 * u64::from(seconds);
        (
            from + Duration::from_secs(u64::from(seconds)),
            format!(
                "\n[[workload]]\nfrom = \"{}ms\"\nover = \"{seconds}s\"\npings = {pings}\n",
                from.as_millis()
            ),
        )
    };
    format!(
        "name = \"bench-sim\"\nseed = {seed}\nnodes = {nodes}\nengine = \"direct\"\n\
         crypto = \"{crypto}\"\nduration = \"{}ms\"\n\n\
         [network]\nlatency = {{ min = \"5ms\", max = \"50ms\" }}\nsegments = 0\n\
         bootstrap = 3\njoin_window = \"{}ms\"\n{workload}",
        duration.as_millis(),
        join_window(nodes).as_millis(),
    )
}

/// What a child measured of one scenario run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Phase {
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// Wall seconds, building the nodes included.
    pub wall_seconds: f64,
    /// CPU seconds (user and system) of the child over the run.
    pub cpu_seconds: f64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Pings asked for, and answered.
    pub pings_issued: u64,
    /// Pings answered.
    pub pings_answered: u64,
    /// The smallest and the mean routing table at the end.
    pub table_min: usize,
    /// The mean routing table.
    pub table_mean: f64,
}

impl Phase {
    fn of(report: &Report, cpu_seconds: f64) -> Phase {
        Phase {
            sim_seconds: report.sim_seconds,
            wall_seconds: report.wall_seconds,
            cpu_seconds,
            delivered: report.messages.delivered,
            sent: report.messages.sent,
            pings_issued: report.contact_pings.issued,
            pings_answered: report.contact_pings.answered,
            table_min: report.tables.min,
            table_mean: report.tables.mean,
        }
    }

    /// The part of `self` that `earlier` (a run of a prefix of it) did not do.
    fn minus(&self, earlier: &Phase) -> Phase {
        Phase {
            sim_seconds: self.sim_seconds - earlier.sim_seconds,
            wall_seconds: (self.wall_seconds - earlier.wall_seconds).max(0.0),
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            delivered: self.delivered.saturating_sub(earlier.delivered),
            sent: self.sent.saturating_sub(earlier.sent),
            pings_issued: self.pings_issued,
            pings_answered: self.pings_answered,
            table_min: self.table_min,
            table_mean: self.table_mean,
        }
    }
}

/// One line a child prints: a phase done, or its memory at the end.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case")]
enum ChildLine {
    /// The join run.
    Join(Phase),
    /// The join and ping run.
    Full(Phase),
    /// Peak RSS at the start and at the end, MiB.
    Memory { baseline_mib: f64, peak_mib: f64 },
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
    /// Whether both of the child's runs ended within `--timeout`.
    pub finished: bool,
    /// Why not, when not.
    pub error: Option<String>,
    /// The join alone: join window plus [`SETTLE`].
    pub join: Option<Phase>,
    /// The ping phase: the full run less the join.
    pub ping: Option<Phase>,
    /// Simulated seconds per wall second of the ping phase.
    pub speed: Option<f64>,
    /// Events (datagrams delivered) per wall second of the ping phase.
    pub events_per_second: Option<f64>,
    /// Events per wall second of the join.
    pub join_events_per_second: Option<f64>,
    /// The child's peak RSS (VmHWM) after both runs, MiB.
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
        speed: None,
        events_per_second: None,
        join_events_per_second: None,
        peak_rss_mib: None,
        rss_per_node_kib: None,
        timeout_seconds: args.timeout,
    };
    let spawned = Command::new(exe)
        .args(["bench-sim", "--child", "--engine", args.engine.as_str()])
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
    let mut full = None;
    for line in rx.try_iter() {
        match serde_json::from_str::<ChildLine>(&line) {
            Ok(ChildLine::Join(phase)) => run.join = Some(phase),
            Ok(ChildLine::Full(phase)) => full = Some(phase),
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
    if let (Some(join), Some(full)) = (&run.join, &full) {
        let ping = full.minus(join);
        run.speed = Some(ping.sim_seconds / ping.wall_seconds.max(1e-9));
        run.events_per_second = Some(ping.delivered as f64 / ping.wall_seconds.max(1e-9));
        run.ping = Some(ping);
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
                format!("stopped after {} s wall, in the {phase}", args.timeout)
            });
        }
    }
    run
}

/// The child: the join alone, then join and pings, each a line on stdout as it ends.
fn child(args: &BenchSimArgs) -> ExitCode {
    let baseline_mib = peak_rss_mib().unwrap_or(0.0);
    let [nodes] = args.nodes[..] else {
        eprintln!("error: bench-sim --child takes one --nodes value");
        return ExitCode::from(2);
    };
    let nodes = nodes as usize;
    for (seconds, full) in [(0, false), (args.seconds, true)] {
        let scenario = match scenario(args.engine, nodes, seconds, &args.crypto, args.seed) {
            Ok(scenario) => scenario,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        let cpu = cpu_seconds().unwrap_or(0.0);
        let report = match runner::run(&scenario, Options::default()) {
            Ok(run) => run.report,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let phase = Phase::of(&report, cpu_seconds().unwrap_or(0.0) - cpu);
        let line = if full {
            ChildLine::Full(phase)
        } else {
            ChildLine::Join(phase)
        };
        println!(
            "{}",
            serde_json::to_string(&line).expect("a phase serialises")
        );
    }
    let line = ChildLine::Memory {
        baseline_mib,
        peak_mib: peak_rss_mib().unwrap_or(0.0),
    };
    println!(
        "{}",
        serde_json::to_string(&line).expect("memory serialises")
    );
    ExitCode::SUCCESS
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
