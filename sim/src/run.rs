//! `dswarm run SCENARIO`: one scenario, one seed, one engine; a report and a verdict.
//!
//! In: a scenario file and the overrides of the command line. Out: the seed and every
//! parameter first, progress lines on long runs, a short summary, the JSON report and
//! the JSON-lines trace when asked for. Exit 0 when every expectation holds; 1 when one
//! fails, the test-bed panics (the run stops there: the summary and the report are
//! what it had come to, with the panic's message and place; see the report's `panic`)
//! or `--check-determinism` finds two runs that differ (the last line is then
//! `reproduce: dswarm run …`); 2 on bad input.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use dswarm::harness::{first_checkpoint_divergence, first_divergence, CHECKPOINT_EVERY};
use dswarm_sim::engine::live::estimate::Estimate;
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
    /// Write the HTML report here: one self-contained file with charts (lookup hops,
    /// lookup latency, table fill and datagrams over time) and the expectations.
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
    /// Write the trace (datagrams and node events) here: one JSON object per line, or
    /// with `--trace-format chrome` a Chrome/Perfetto trace-event file.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The trace's format: `jsonl` (default) or `chrome` (open it in ui.perfetto.dev:
    /// one track per node, commands as spans, datagrams as arrows).
    #[arg(long, value_parser = ["jsonl", "chrome"], default_value = "jsonl")]
    trace_format: String,
    /// Trace only what concerns these nodes (comma-separated indices): what they
    /// sent, what was sent to them, their events.
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    trace_nodes: Option<Vec<usize>>,
    /// Threads for the direct engine, or the live engine's tokio workers (default: the
    /// cores available). A direct run, trace hash and all, is the same at every count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Profile the direct engine's windows: the work of each thread, the time spent
    /// waiting, and the speedup the spread of events allows at 1 to 64 threads (printed,
    /// and the report's `windows`).
    #[arg(long)]
    profile: bool,
    /// Run twice, the second time on another thread count, and fail at the first
    /// point where the two runs differ.
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

/// Runs the scenario again and compares: first the trace hashes, then the
/// checkpoints (the hash every `CHECKPOINT_EVERY` entries) to find the stretch where
/// the runs part, then both runs once more recording that stretch only, to name the
/// first entry that differs with both versions. Memory stays bounded on long runs.
fn check_determinism(
    scenario: &scenario::Scenario,
    first: &runner::Run,
    threads: usize,
    quiet: bool,
) -> Result<bool, ExitCode> {
    // The second run on another thread count: one if the first ran on several, else two.
    let other = if first.report.threads > 1 { 1 } else { 2 };
    let rerun = |window: Option<std::ops::Range<u64>>, threads: usize| {
        let options = Options {
            keep_records: window.is_some(),
            keep_window: window,
            progress: !quiet,
            threads,
            ..Options::default()
        };
        runner::run(scenario, options).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })
    };
    println!(
        "checking determinism: running seed {} again on {other} thread(s)",
        scenario.seed
    );
    let second = rerun(None, other)?;
    let (a, b) = (&first.report, &second.report);
    let hash = |r: &dswarm_sim::report::Report| r.trace_hash.clone().unwrap_or_default();
    if a.trace_hash == b.trace_hash && a.trace_entries == b.trace_entries {
        println!(
            "determinism: both runs have trace {} ({} entries, {} checkpoints agree)",
            hash(a),
            a.trace_entries,
            first.checkpoints.len()
        );
        return Ok(true);
    }
    let (start, end) = match first_checkpoint_divergence(&first.checkpoints, &second.checkpoints) {
        Some(at) => (at - CHECKPOINT_EVERY, at),
        None => {
            let shared = first.checkpoints.len().min(second.checkpoints.len()) as u64;
            (
                shared * CHECKPOINT_EVERY,
                a.trace_entries.max(b.trace_entries),
            )
        }
    };
    println!(
        "NONDETERMINISTIC: trace {} vs {}; the runs part between entries {start} and {end}: recording that stretch of both",
        hash(a),
        hash(b)
    );
    let (left, right) = (
        rerun(Some(start..end), threads)?,
        rerun(Some(start..end), other)?,
    );
    match first_divergence(&left.records, &right.records) {
        Some((index, l, r)) => {
            let show = |r: Option<&dswarm::harness::Record>| {
                r.map_or("(the trace ends here)".to_string(), |r| r.to_string())
            };
            println!(
                "NONDETERMINISTIC: the runs diverge at trace entry {}",
                start + index as u64
            );
            println!("  one run:     {}", show(l));
            println!("  another run: {}", show(r));
        }
        None => println!(
            "NONDETERMINISTIC: the recorded stretches agree this time (the difference moves between runs)"
        ),
    }
    Ok(false)
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
        scenario = scenario.with_engine(engine).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        reproduce.push_str(&format!(" --engine {engine}"));
    }
    if scenario.engine == EngineKind::Live && args.check_determinism {
        eprintln!(
            "error: --check-determinism: the live engine's runs are not reproducible (real \
             sockets, real time); check the direct or turmoil engine instead"
        );
        return Err(ExitCode::from(2));
    }
    let report_file = args
        .report
        .as_ref()
        .map(|p| create(p, "report"))
        .transpose()?;
    let html_file = args
        .html
        .as_ref()
        .map(|p| create(p, "HTML report"))
        .transpose()?;
    let trace_file = args
        .trace
        .as_ref()
        .map(|p| create(p, "trace"))
        .transpose()?;
    if let Some(nodes) = &args.trace_nodes {
        if let Some(bad) = nodes.iter().find(|&&n| n >= scenario.nodes) {
            eprintln!(
                "error: --trace-nodes: node {bad} is not in a swarm of {} nodes",
                scenario.nodes
            );
            return Err(ExitCode::from(2));
        }
    }
    // A plain JSON-lines trace streams as the run goes; a filtered or Chrome trace is
    // written from the records afterwards.
    let streamed = args.trace_format == "jsonl" && args.trace_nodes.is_none();

    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |t| t as usize,
    );
    println!("{}", runner::parameters(&scenario));
    let estimate = if scenario.engine == EngineKind::Live {
        let estimate = Estimate::dry_run(&scenario, threads).map_err(|e| {
            eprintln!("error: the live engine's dry run: {e}");
            ExitCode::from(2)
        })?;
        println!("{}", estimate.lines(scenario.nodes));
        Some(estimate.wall)
    } else {
        None
    };
    let mut trace_file = trace_file;
    let options = Options {
        trace_jsonl: if streamed {
            trace_file
                .take()
                .map(|f| Box::new(f) as Box<dyn Write + Send>)
        } else {
            None
        },
        keep_records: trace_file.is_some(),
        keep_window: None,
        progress: !args.quiet,
        threads,
        profile: args.profile,
        estimate,
        ..Options::default()
    };
    let first = runner::run(&scenario, options).map_err(|e| {
        eprintln!("error: writing the trace: {e}");
        ExitCode::from(2)
    })?;
    let report = &first.report;
    print!("{}", report.summary());
    if let Some(mut file) = trace_file {
        let nodes = args.trace_nodes.as_deref();
        let written = if args.trace_format == "chrome" {
            dswarm_sim::chrome::write(&mut file, &first.records, nodes, scenario.nodes)
        } else {
            first
                .records
                .iter()
                .filter(|r| dswarm_sim::chrome::concerns(r, nodes, scenario.nodes))
                .try_for_each(|r| writeln!(file, "{}", r.to_jsonl()))
                .and_then(|()| file.flush())
        };
        if let Err(e) = written {
            eprintln!("error: writing the trace: {e}");
            return Err(ExitCode::from(2));
        }
    }

    let mut deterministic = true;
    if args.check_determinism {
        deterministic = check_determinism(&scenario, &first, threads, args.quiet)?;
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
    if let Some(mut file) = html_file {
        let page = dswarm_sim::html::render(report, &first.series, &reproduce);
        if let Err(e) = file.write_all(page.as_bytes()).and_then(|()| file.flush()) {
            eprintln!("error: writing the HTML report: {e}");
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
