//! `dswarm shrink SCENARIO --seed N [--budget RUNS] [--expect NAME] [--out FILE]`: the
//! command line over [`dswarm_sim::shrink`].
//!
//! Out: each accepted step as it is found, then the shrunk scenario written as TOML and
//! its `reproduce:` line. Exit 0 when a scenario was written, 2 on bad input or when
//! the seed does not fail.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use dswarm_sim::shrink;

/// Arguments of `dswarm shrink`.
#[derive(Args, Debug, Clone)]
pub struct ShrinkArgs {
    /// The failing scenario file.
    scenario: PathBuf,
    /// The seed that fails.
    #[arg(long)]
    seed: u64,
    /// Most runs to spend.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    budget: u32,
    /// The expectation that must keep failing (default: the first that fails).
    #[arg(long)]
    expect: Option<String>,
    /// Where to write the shrunk scenario (default: `<name>-shrunk-seed<N>.toml` in
    /// the current directory).
    #[arg(long, value_name = "FILE.toml")]
    out: Option<PathBuf>,
}

/// Runs `dswarm shrink`.
pub fn run(args: &ShrinkArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.scenario) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.scenario.display());
            return ExitCode::from(2);
        }
    };
    println!(
        "shrinking {} on seed {} (at most {} runs)",
        args.scenario.display(),
        args.seed,
        args.budget
    );
    let mut progress = |step: &str| println!("  still fails after: {step}");
    let shrunk = match shrink::shrink(
        &args.scenario,
        &text,
        args.seed,
        args.expect.as_deref(),
        args.budget as usize,
        &mut progress,
    ) {
        Ok(shrunk) => shrunk,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args
            .scenario
            .file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy());
        PathBuf::from(format!("{stem}-shrunk-seed{}.toml", args.seed))
    });
    let header = format!(
        "# Shrunk by `dswarm shrink {} --seed {}` in {} runs: fails {}.\n",
        args.scenario.display(),
        args.seed,
        shrunk.runs,
        shrunk.expectation
    );
    if let Err(e) = std::fs::write(&out, header + &shrunk.toml) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    println!(
        "{} steps in {} runs; the shrunk scenario still fails {}",
        shrunk.steps.len(),
        shrunk.runs,
        shrunk.expectation
    );
    println!("written to {}", out.display());
    println!(
        "reproduce: dswarm run {} --seed {}",
        out.display(),
        args.seed
    );
    ExitCode::SUCCESS
}
