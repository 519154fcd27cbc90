//! `dswarm run SCENARIO`: one scenario, one seed, one engine; a report and a verdict.
//!
//! In: a scenario file and the overrides of the command line. Out: the seed and every
//! parameter first, progress lines on long runs, a short summary, the JSON report and
//! the JSON-lines trace when asked for. Exit 0 when every expectation holds; 1 when one
//! fails or `--check-determinism` finds two runs that differ (the last line is then
//! `reproduce: dswarm run …`); 2 on bad input.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use dswarm::harness::first_divergence;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

/// Arguments of `dswarm run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The scenario file (TOML; see scenarios/README.md).
    scenario: PathBuf,
    /// The run's seed (overrides the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Nodes to simulate (overrides the file's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    nodes: Option<u32>,
    /// The engine (overrides the file's).
    #[arg(long, value_parser = parse_engine)]
    engine: Option<EngineKind>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Write every trace entry (datagrams and node events) here, one JSON object per line.
    #[arg(long, value_name = "FILE.jsonl")]
    trace: Option<PathBuf>,
    /// Run twice and fail at the first point where the two runs differ.
    #[arg(long)]
    check_determinism: bool,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    s.parse::<EngineKind>().map_err(|e| e.to_string())
}

fn create(path: &PathBuf, what: &str) -> Result<BufWriter<File>, ExitCode> {
    File::create(path).map(BufWriter::new).map_err(|e| {
        eprintln!("error: cannot write the {what} to {}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// Runs `dswarm run`.
pub fn run(args: &RunArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: &RunArgs) -> Result<ExitCode, ExitCode> {
    let mut scenario = scenario::load(&args.scenario).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let mut reproduce = format!("dswarm run {}", args.scenario.display());
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    reproduce.push_str(&format!(" --seed {}", scenario.seed));
    if let Some(nodes) = args.nodes {
        scenario = scenario.with_nodes(nodes as usize).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        reproduce.push_str(&format!(" --nodes {nodes}"));
    }
    if let Some(engine) = args.engine {
        scenario.engine = engine;
        reproduce.push_str(&format!(" --engine {engine}"));
    }
    let report_file = args
        .report
        .as_ref()
        .map(|p| create(p, "report"))
        .transpose()?;
    let trace_file = args
        .trace
        .as_ref()
        .map(|p| create(p, "trace"))
        .transpose()?;

    println!("{}", runner::parameters(&scenario));
    let options = Options {
        trace_jsonl: trace_file.map(|f| Box::new(f) as Box<dyn Write>),
        keep_records: args.check_determinism,
        progress: !args.quiet,
    };
    let first = runner::run(&scenario, options).map_err(|e| {
        eprintln!("error: writing the trace: {e}");
        ExitCode::from(2)
    })?;
    let report = &first.report;
    print!("{}", report.summary());

    let mut deterministic = true;
    if args.check_determinism {
        println!("checking determinism: running seed {} again", scenario.seed);
        let options = Options {
            keep_records: true,
            progress: !args.quiet,
            ..Options::default()
        };
        let second = runner::run(&scenario, options).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        match first_divergence(&first.records, &second.records) {
            None if second.report.trace_hash == report.trace_hash => println!(
                "determinism: both runs have trace {} ({} entries)",
                report.trace_hash, report.trace_entries
            ),
            None => {
                deterministic = false;
                println!(
                    "NONDETERMINISTIC: same entries but trace {} vs {}",
                    report.trace_hash, second.report.trace_hash
                );
            }
            Some((index, left, right)) => {
                deterministic = false;
                let show = |r: Option<&dswarm::harness::Record>| {
                    r.map_or("(the trace ends here)".to_string(), |r| r.to_string())
                };
                println!("NONDETERMINISTIC: the runs diverge at trace entry {index}");
                println!("  first run:  {}", show(left));
                println!("  second run: {}", show(right));
            }
        }
    }

    if let Some(mut file) = report_file {
        let written = serde_json::to_writer_pretty(&mut file, report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(file))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            eprintln!("error: writing the report: {e}");
            return Err(ExitCode::from(2));
        }
    }
    if report.pass && deterministic {
        println!("PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAIL");
        println!("reproduce: {reproduce}");
        Ok(ExitCode::from(1))
    }
}
