//! `dswarm`: the command line of the dswarm test-bed.
//!
//! Exit codes: 0 every expectation held (for `compare`: every engine agreed); 1 an
//! expectation failed (`compare`: a figure disagreed) or the test-bed panicked in a
//! simulated run (the last line is a `reproduce:` command); 2 bad input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: a simulated swarm allocates a buffer per
/// datagram and keeps gigabytes of per-node state in small allocations. With glibc's
/// malloc the first 400 simulated seconds of `scenarios/scale-10k.toml` took 61 s of
/// CPU, with mimalloc 47 s (peak RSS 1.30 and 1.35 GB). Allocation never reaches the
/// trace: the traces are the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench_flood;
mod bench_live;
mod bench_sim;
mod bench_stream;
mod compare_cmd;
mod live;
mod pipe;
mod run;
mod shrink_cmd;
mod sweep_cmd;

/// A deterministic simulation test-bed for peer-to-peer DHT swarms.
#[derive(Parser, Debug)]
#[command(name = "dswarm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Run a scenario file: a simulated swarm, its faults and workloads, a report and
    /// a verdict.
    Run(run::RunArgs),
    /// Run many seeds of a scenario on worker threads (or one shard of them), then
    /// list the failing seeds with their reproduce lines; `sweep merge` joins shards.
    Sweep(sweep_cmd::SweepArgs),
    /// Search for a smaller scenario that still fails the same expectation on a seed.
    Shrink(shrink_cmd::ShrinkArgs),
    /// Run a scenario on several engines and check that the simulator's figures agree
    /// with the reference run's (live, or the last engine listed).
    Compare(compare_cmd::CompareArgs),
    /// Start N live nodes in this process on 127.0.0.1, finding each other by
    /// multicast, each with an HTTP API.
    Live(live::LiveArgs),
    /// Start one live node (one per process), its identity kept in a key file.
    Node(live::NodeArgs),
    /// Measure a live swarm on 127.0.0.1: formation time, CPU, memory, lookups.
    BenchLive(bench_live::BenchLiveArgs),
    /// Flood a live node with garbage and bogus handshakes; measure its memory and
    /// whether an honest node still gets through it.
    BenchFlood(bench_flood::BenchFloodArgs),
    /// Measure an engine: simulated seconds per wall second, events per second and
    /// memory of a swarm that joins, then pings random contacts once a second per node.
    BenchSim(bench_sim::BenchSimArgs),
    /// Measure a live stream on 127.0.0.1 beside TCP: goodput, CPU, connect to first
    /// byte (direct and relayed), memory per idle and busy stream.
    BenchStream(bench_stream::BenchStreamArgs),
}

/// Log lines of simulated runs carry the simulated time and the node they concern
/// (`t=12.345678s n17`), set by the engines through `dswarm::harness::set_log_context`;
/// live commands leave it at zero and print no node.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let (now, node) = dswarm::harness::log_context();
        let micros = now.as_micros();
        write!(w, "t={}.{:06}s", micros / 1_000_000, micros % 1_000_000)?;
        match node {
            Some(node) => write!(w, " n{node}"),
            None => Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if matches!(
        cli.command,
        Commands::Run(_) | Commands::Sweep(_) | Commands::Shrink(_) | Commands::Compare(_)
    ) {
        logs.with_timer(SimTime).init();
    } else {
        logs.without_time().init();
    }
    match cli.command {
        Commands::Run(args) => run::run(&args),
        Commands::Sweep(args) => sweep_cmd::run(&args),
        Commands::Shrink(args) => shrink_cmd::run(&args),
        Commands::Compare(args) => compare_cmd::run(&args),
        Commands::Live(args) => live::run_live(&args),
        Commands::Node(args) => live::run_node(&args),
        Commands::BenchLive(args) => bench_live::run(&args),
        Commands::BenchFlood(args) => bench_flood::run(&args),
        Commands::BenchSim(args) => bench_sim::run(&args),
        Commands::BenchStream(args) => bench_stream::run(&args),
    }
}
