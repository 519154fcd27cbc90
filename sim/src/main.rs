//! `dswarm`: the command line of the dswarm test-bed.
//!
//! Exit codes: 0 every expectation held; 1 an expectation failed (the last line is a
//! `reproduce:` command); 2 bad input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_live;
mod live;
mod swarm;

/// A deterministic simulation test-bed for peer-to-peer DHT swarms.
#[derive(Parser, Debug)]
#[command(name = "dswarm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Simulate a swarm in-process: bootstrap, then FIND_NODE lookups of existing ids,
    /// checked against a global oracle.
    Swarm(swarm::SwarmArgs),
    /// Start N live nodes in this process on 127.0.0.1, finding each other by
    /// multicast, each with an HTTP API.
    Live(live::LiveArgs),
    /// Start one live node (one per process), its identity kept in a key file.
    Node(live::NodeArgs),
    /// Measure a live swarm on 127.0.0.1: formation time, CPU, memory, lookups.
    BenchLive(bench_live::BenchLiveArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let cli = Cli::parse();
    match cli.command {
        Commands::Swarm(args) => swarm::run(&args),
        Commands::Live(args) => live::run_live(&args),
        Commands::Node(args) => live::run_node(&args),
        Commands::BenchLive(args) => bench_live::run(&args),
    }
}
