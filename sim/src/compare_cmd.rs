//! `dswarm compare SCENARIO`: one scenario on several engines, one after another; each
//! run's own verdict, the figures side by side, and whether the simulator's agree with
//! the reference run's within the scenario's `[compare]` tolerances (see
//! `dswarm_sim::compare` for the checks and the Kolmogorov–Smirnov test).
//!
//! In: a scenario file, `--engines` (default `direct,live`; the reference is `live`
//! when listed, else the last), `--seed`. Out: the parameters, one line per run (PASS
//! or FAIL of its own `[expect]`, which does not decide the exit), the table, and with
//! `--report` the JSON `{engines, reference, reports, figures, checks, agree}`. Exit 0
//! when every check agrees (an inconclusive one counts as agreeing, and says so); 1
//! when one disagrees or a run panicked (the last line is then `reproduce: dswarm
//! compare …`); 2 on bad input: the file, a flag, an unknown engine, or an engine
//! that refuses the scenario (the error names the key), all found before anything runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use dswarm_sim::compare::{self, Agreement, Check, Figures};
use dswarm_sim::engine::live::estimate::Estimate;
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind, Scenario};
use serde::Serialize;

/// Arguments of `dswarm compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// The scenario file (TOML; see scenarios/README.md). Its `[compare]` table holds
    /// the tolerances.
    scenario: PathBuf,
    /// The engines to run, comma-separated, one after another. The reference is `live`
    /// when listed, else the last; every other engine is checked against it.
    #[arg(long, value_name = "ENGINE,ENGINE,…", default_value = "direct,live")]
    engines: String,
    /// The seed every engine runs (overrides the file's).
    #[arg(long)]
    seed: Option<u64>,
    /// Write the JSON report here: every run's report, figures and checks.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

/// How long after a workload's last command its figures may still be measured.
const WORKLOAD_TAIL: f64 = 10.0;

/// Why the reference run's figures cannot be trusted, for the table to print beside
/// every verdict (`live figures unreliable (lag)`): a live run whose machine did not
/// keep up while `scenario`'s workloads ran (a lag while the swarm formed, before
/// them, touches no figure the table compares). `None` for a run that kept up, and
/// for the simulated engines.
fn reference_warning(report: &Report, scenario: &Scenario) -> Option<String> {
    let live = report.live.as_ref()?;
    let measured = |[from, to]: [f64; 2]| {
        scenario.workload.iter().any(|w| {
            let start = w.from.as_secs_f64();
            let end = start + w.over.as_secs_f64() + WORKLOAD_TAIL;
            from < end && start < to
        })
    };
    let lagged = live.lagged.iter().any(|&stretch| measured(stretch));
    let refused = live.kernel_drops.is_some_and(|d| d > 0) || live.send_failures > 0;
    (lagged || refused).then(|| "lag".to_owned())
}

/// The JSON `--report` writes.
#[derive(Serialize)]
struct CompareReport<'a> {
    scenario: &'a str,
    seed: u64,
    engines: Vec<&'a str>,
    reference: &'a str,
    reference_warning: Option<String>,
    reports: Vec<&'a Report>,
    figures: &'a [Figures],
    checks: &'a [Check],
    /// Every check agrees (or is inconclusive) and no run panicked.
    agree: bool,
}

/// Runs `dswarm compare`.
pub fn run(args: &CompareArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// `--engines`: each name through `EngineKind::from_str`, no name twice, at least two.
fn parse_engines(text: &str) -> Result<Vec<EngineKind>, String> {
    let mut engines: Vec<EngineKind> = Vec::new();
    for name in text.split(',').map(str::trim) {
        let engine = name
            .parse::<EngineKind>()
            .map_err(|e| format!("--engines: {e}"))?;
        if engines.contains(&engine) {
            return Err(format!("--engines: {engine} is listed twice"));
        }
        engines.push(engine);
    }
    if engines.len() < 2 {
        return Err(format!(
            "--engines: {text:?} names one engine; a comparison needs two or more, \
             like --engines direct,turmoil"
        ));
    }
    Ok(engines)
}

/// One run's line: its own verdict, and why it failed.
fn verdict_line(report: &Report) -> String {
    let wall = format!(
        "simulated {:.1} s in {:.2} s wall",
        report.sim_seconds, report.wall_seconds
    );
    if report.pass {
        return format!("{}: PASS ({wall})", report.engine);
    }
    let mut why: Vec<String> = report
        .expectations
        .iter()
        .filter(|v| !v.pass)
        .map(|v| {
            let actual = v
                .actual
                .map_or("nothing measured".to_owned(), |a| format!("{a}"));
            format!("{} {actual}, expected {}", v.name, v.expected)
        })
        .collect();
    if !report.safety.violations.is_empty() {
        why.push("safety violated".to_owned());
    }
    if let Some(panic) = &report.panic {
        why.push(format!("the test-bed panicked: {panic}"));
    }
    format!("{}: FAIL ({}; {wall})", report.engine, why.join("; "))
}

fn run_inner(args: &CompareArgs) -> Result<ExitCode, ExitCode> {
    let mut scenario = scenario::load(&args.scenario).map_err(bad_input)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let engines = parse_engines(&args.engines).map_err(bad_input)?;
    // Every refusal before anything runs: a long run first and a refusal after it
    // would waste the wait.
    let scenarios: Vec<Scenario> = engines
        .iter()
        .map(|&engine| scenario.clone().with_engine(engine))
        .collect::<Result<_, _>>()
        .map_err(bad_input)?;
    let names: Vec<&str> = engines.iter().map(|engine| engine.as_str()).collect();
    let reference = compare::reference_index(&names).unwrap_or(0);
    let mut report_file = args
        .report
        .as_ref()
        .map(|path| {
            File::create(path).map(BufWriter::new).map_err(|e| {
                bad_input(format!(
                    "cannot write the report to {}: {e}",
                    path.display()
                ))
            })
        })
        .transpose()?;
    let reproduce = format!(
        "dswarm compare {} --engines {} --seed {}",
        args.scenario.display(),
        names.join(","),
        scenario.seed
    );

    println!("{}", runner::parameters(&scenario));
    println!(
        "comparing engines {} against {} (the reference)",
        names.join(", "),
        names[reference]
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reports = Vec::with_capacity(scenarios.len());
    let mut figures = Vec::with_capacity(scenarios.len());
    // A direct run that came first is the live run's estimate; else it makes its own.
    let mut direct_run = None;
    for scenario in &scenarios {
        let estimate = match (scenario.engine, &direct_run) {
            (EngineKind::Live, Some(direct)) => Some(Estimate::from_run(scenario, direct, threads)),
            (EngineKind::Live, None) => {
                Some(Estimate::dry_run(scenario, threads).map_err(bad_input)?)
            }
            _ => None,
        };
        if let Some(estimate) = &estimate {
            println!("{}", estimate.lines(scenario.nodes));
        }
        let options = Options {
            progress: !args.quiet,
            threads,
            estimate: estimate.map(|e| e.wall),
            ..Options::default()
        };
        let run = runner::run(scenario, options).map_err(bad_input)?;
        println!("{}", verdict_line(&run.report));
        if let Some(live) = run.report.live.as_ref().filter(|l| !l.warnings.is_empty()) {
            println!(
                "  warning: the machine did not keep up: {}",
                live.warnings.join("; ")
            );
        }
        figures.push(Figures::of(&run.report, &run.series));
        if scenario.engine == EngineKind::Direct {
            reports.push(run.report.clone());
            direct_run = Some(run);
        } else {
            reports.push(run.report);
        }
    }

    let spec = &scenario.compare;
    let checks: Vec<Check> = figures
        .iter()
        .enumerate()
        .filter(|&(index, _)| index != reference)
        .flat_map(|(_, sim)| compare::check(sim, &figures[reference], spec))
        .collect();
    let warning = reference_warning(&reports[reference], &scenarios[reference]);
    println!();
    print!(
        "{}",
        compare::table(&figures, reference, &checks, spec, warning.as_deref())
    );
    let panicked = reports.iter().any(|report| report.panic.is_some());
    let agree = compare::all_agree(&checks) && !panicked;

    if let Some(file) = &mut report_file {
        let json = CompareReport {
            scenario: &scenario.name,
            seed: scenario.seed,
            engines: names.clone(),
            reference: names[reference],
            reference_warning: warning.clone(),
            reports: reports.iter().collect(),
            figures: &figures,
            checks: &checks,
            agree,
        };
        let written = serde_json::to_writer_pretty(&mut *file, &json)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(file))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            return Err(bad_input(format!("writing the report: {e}")));
        }
    }

    let inconclusive = checks
        .iter()
        .filter(|check| check.verdict == Agreement::Inconclusive)
        .count();
    if agree {
        if inconclusive > 0 {
            println!(
                "AGREE ({inconclusive} of {} checks inconclusive: fewer than {} samples)",
                checks.len(),
                spec.min_lookups
            );
        } else {
            println!("AGREE");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for check in checks.iter().filter(|c| c.verdict == Agreement::Disagree) {
        println!(
            "DISAGREE: {} of {} against {}: {} beyond {}",
            check.figure,
            check.engine,
            check.reference,
            check
                .statistic
                .map_or("-".to_owned(), |s| format!("{s:.4}")),
            format_args!("{:.4}", check.tolerance),
        );
    }
    if panicked {
        println!("DISAGREE: a run panicked (see its line above)");
    }
    println!("reproduce: {reproduce}");
    Ok(ExitCode::from(1))
}
