//! `dswarm sweep SCENARIO --seeds A..B [--jobs J] [--shard I/N] [--swarm] [--report F]`
//! and `dswarm sweep merge FILE…`: the command line over [`dswarm_sim::sweep`].
//!
//! Out: a progress bar on stderr (done, failed, rate, ETA; hidden when stderr is not a
//! terminal), then the summary and a table of failing seeds with their `reproduce:`
//! lines on stdout, and the JSON summary when asked for (always, for a shard). Exit 0
//! when every seed passed, 1 when one failed (a seed on which the test-bed panicked
//! fails, `panic: …` first among its failures; the sweep goes on), 2 on bad input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use dswarm_sim::scenario;
use dswarm_sim::sweep::{self, Summary};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `dswarm sweep`.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    merge: Option<MergeCommand>,
    /// The scenario file.
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// The seeds, `A..B` (B excluded).
    #[arg(long, required = true, value_parser = sweep::parse_range)]
    seeds: Option<std::ops::Range<u64>>,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// Run only shard I of N of the seeds (seed A+j is in shard j % N); writes its
    /// summary for `dswarm sweep merge`.
    #[arg(long, value_parser = sweep::parse_shard, value_name = "I/N")]
    shard: Option<(u64, u64)>,
    /// Swarm testing: each seed also switches fault families (loss, duplication,
    /// reordering, a partition, the engine) on or off, and says what it drew.
    #[arg(long)]
    swarm: bool,
    /// Write the JSON summary here.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
}

#[derive(Subcommand, Debug, Clone)]
enum MergeCommand {
    /// Merge the JSON summaries of a sweep's shards.
    Merge {
        /// The shard summaries.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged JSON summary here.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
    },
}

fn write_summary(path: &std::path::Path, summary: &Summary) -> Result<(), ExitCode> {
    let text = serde_json::to_string_pretty(summary).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    std::fs::write(path, text + "\n").map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitCode::from(2)
    })
}

fn verdict(summary: &Summary) -> ExitCode {
    print!("{}", summary.text());
    if summary.failed == 0 {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        ExitCode::from(1)
    }
}

/// Runs `dswarm sweep`.
pub fn run(args: &SweepArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: &SweepArgs) -> Result<ExitCode, ExitCode> {
    if let Some(MergeCommand::Merge { files, report }) = &args.merge {
        return merge(files, report.as_ref());
    }
    let (Some(path), Some(range)) = (&args.scenario, &args.seeds) else {
        eprintln!("error: a scenario and --seeds A..B are needed");
        return Err(ExitCode::from(2));
    };
    let scenario = scenario::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    if scenario.engine == scenario::EngineKind::Live {
        eprintln!(
            "error: {}: a sweep runs seeds side by side, and a live run needs the machine's \
             cores to itself: run each seed with `dswarm run --seed N`, or set engine = \
             \"direct\"",
            path.display()
        );
        return Err(ExitCode::from(2));
    }
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let seeds = sweep::shard_seeds(range, args.shard);
    let report = args.report.clone().or_else(|| {
        args.shard.map(|(i, n)| {
            let stem = path
                .file_stem()
                .map_or("sweep".into(), |s| s.to_string_lossy());
            PathBuf::from(format!("sweep-{stem}-shard-{i}-of-{n}.json"))
        })
    });
    println!(
        "sweep {}: {} seeds of {}..{}{} on {jobs} workers{}",
        path.display(),
        seeds.len(),
        range.start,
        range.end,
        args.shard
            .map_or(String::new(), |(i, n)| format!(" (shard {i}/{n})")),
        if args.swarm { ", swarm testing" } else { "" }
    );
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg}, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(250));
    let progress = |done: usize, failed: usize| {
        bar.set_position(done as u64);
        bar.set_message(format!("{failed} failed"));
    };
    let results = sweep::run_seeds(&scenario, &seeds, jobs, args.swarm, &progress);
    bar.finish();
    let results = results.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let summary = sweep::summarize(&scenario, range, args.shard, args.swarm, results);
    if let Some(report) = &report {
        write_summary(report, &summary)?;
        println!("summary written to {}", report.display());
    }
    Ok(verdict(&summary))
}

fn merge(files: &[PathBuf], report: Option<&PathBuf>) -> Result<ExitCode, ExitCode> {
    let mut parts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            eprintln!("error: cannot read {}: {e}", file.display());
            ExitCode::from(2)
        })?;
        let part: Summary = serde_json::from_str(&text).map_err(|e| {
            eprintln!("error: {} is not a sweep summary: {e}", file.display());
            ExitCode::from(2)
        })?;
        parts.push(part);
    }
    let (summary, warnings) = sweep::merge(parts).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    for warning in warnings {
        println!("warning: {warning}");
    }
    if let Some(report) = report {
        write_summary(report, &summary)?;
    }
    Ok(verdict(&summary))
}
