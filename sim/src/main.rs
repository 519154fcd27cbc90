//! `dswarm`: the command line of the dswarm test-bed.
//!
//! Exit codes: 0 every expectation held; 1 an expectation failed (the last line is a
//! `reproduce:` command); 2 bad input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    }
}
