//! A scenario run from your own code: the simulator as a library. The scenario is
//! TOML text in this file, in the same format as the files of `scenarios/` (every
//! key is in `scenarios/README.md`): 80 simulated nodes on two LAN segments find each
//! other, are cut in two halves for 20 s (lookups run across the cut meanwhile), are
//! healed, and then look each other up and ping their closest peers. `dswarm_sim::scenario::parse` checks the text,
//! `dswarm_sim::runner::run` runs it (what `dswarm run` calls), and the example prints
//! what the report says: the figures, each expectation and whether it held, the trace
//! hash, and the line that replays the run bit for bit. Saved to a file, the same
//! text runs the same under `dswarm run FILE --seed N`, trace hash and all.
//!
//!     cargo run --release -p dswarm-sim --example scenario
//!     cargo run --release -p dswarm-sim --example scenario -- --seed 7
//!
//! In: an optional `--seed N` (default: the scenario's seed, 1). Out: the report's
//! summary on stdout; exit 0 when every expectation holds, 1 when one fails, 2 on a
//! bad argument or scenario.

use std::path::Path;
use std::process::ExitCode;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario;

/// What `parse` calls the text in its error messages (line numbers count from the
/// first line of [`SCENARIO`]).
const NAME: &str = "sim/examples/scenario.rs:SCENARIO";

/// The scenario: the same keys as a file under `scenarios/`.
const SCENARIO: &str = r#"
name = "example-partition-heal"
seed = 1
nodes = 80
engine = "turmoil"      # every node runs the live adapter's driver loop
duration = "110s"

[network]
latency = { min = "5ms", max = "40ms" }
segments = 2            # multicast beacons reach the nodes of one segment
bootstrap = 3           # and 3 bootstrap nodes join the segments up

[[at]]
time = "20s"
partition = [0.5, 0.5]

[[at]]
time = "40s"
heal = true

# Lookups during the cut: counted in the report, no expectation on them.
[[workload]]
from = "25s"
over = "10s"
lookups = 100

# Lookups and pings once the tables have mended (60 s after the heal).
[[workload]]
from = "100s"
over = "8s"
lookups = 200
ping_closest = 40

[expect]
lookup_success_after_faults = ">= 0.99"
lookup_hops_p95 = "<= 3"
ping_success = ">= 0.95"
"#;

fn main() -> ExitCode {
    let seed = match seed_argument() {
        Ok(seed) => seed,
        Err(message) => {
            eprintln!("error: {message}\nusage: scenario [--seed N]");
            return ExitCode::from(2);
        }
    };
    let mut scenario = match scenario::parse(Path::new(NAME), SCENARIO) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let reproduce = format!(
        "cargo run --release -p dswarm-sim --example scenario -- --seed {}",
        scenario.seed
    );

    // The seed and every parameter, as `dswarm run` prints them.
    println!("{}", runner::parameters(&scenario));
    let options = Options {
        // One thread: the turmoil engine runs on one anyway. The trace hash is the
        // same at every thread count.
        threads: 1,
        ..Options::default()
    };
    // The error is the trace file's; this run writes none.
    let run = runner::run(&scenario, options).expect("a run without a trace file");
    let report = &run.report;

    let after = &report.lookups_after_faults;
    println!(
        "\n{} nodes, {:.0} simulated s in {:.2} s of wall time",
        report.nodes, report.sim_seconds, report.wall_seconds
    );
    println!(
        "datagrams: {} sent, {} delivered, {} cut by the partition",
        report.messages.sent, report.messages.delivered, report.faults.partitioned
    );
    println!(
        "routing tables: {} to {} verified peers, {:.1} on average",
        report.tables.min, report.tables.max, report.tables.mean
    );
    println!(
        "lookups: {} of {} found their target; after the heal {} of {}",
        report.lookups.succeeded, report.lookups.issued, after.succeeded, after.issued
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    println!(
        "lookup latency (the cut's too): p50 {}, p99 {}; pings of the 3 closest: {} of {} answered, rtt p50 {}",
        ms(report.lookups.latency_ms_p50),
        ms(report.lookups.latency_ms_p99),
        report.pings.succeeded,
        report.pings.issued,
        ms(report.pings.rtt_ms_p50)
    );

    println!("\nexpectations:");
    for verdict in &report.expectations {
        let actual = verdict
            .actual
            .map_or("nothing to measure".to_string(), |a| format!("{a:.3}"));
        let mark = if verdict.pass { "holds" } else { "FAILS" };
        println!(
            "  {:<28} {:<8} actual {actual:<8} {mark}",
            verdict.name, verdict.expected
        );
    }
    if let Some(panic) = &report.panic {
        println!("the test-bed panicked: {panic}");
    }
    if !report.safety.holds() {
        println!("a safety oracle found a violation: see report.safety");
    }

    match &report.trace_hash {
        Some(hash) => println!("\ntrace hash: {hash}"),
        None => println!(
            "\ntrace hash: none (a {} run is not reproducible)",
            report.engine
        ),
    }
    println!("reproduce: {reproduce}");
    if report.pass {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        ExitCode::from(1)
    }
}

/// `--seed N` from the command line, if given.
fn seed_argument() -> Result<Option<u64>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, n] if flag == "--seed" => {
            n.parse().map(Some).map_err(|e| format!("--seed {n}: {e}"))
        }
        other => Err(format!("unexpected arguments {other:?}")),
    }
}
