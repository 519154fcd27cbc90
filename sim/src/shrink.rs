//! Shrinking: from a scenario that fails an expectation on a seed, a smaller scenario
//! that still fails the same expectation on the same seed.
//!
//! In: the scenario file's TOML, the seed, the expectation to keep failing (the first
//! that failed, by default; [`PANIC`] when the run panicked) and a budget of runs. Out: the smallest failing TOML found,
//! the steps taken and the runs spent.
//!
//! The search edits the file's typed form ([`crate::scenario::raw::File`]), so a
//! candidate keeps every key the search does not touch; every candidate goes through the scenario checker (one that no longer makes
//! sense, say a workload after the shortened end, is skipped without a run) and then
//! through a run. Greedy passes, cheapest wins first, until a pass changes nothing:
//!
//! 1. drop the other expectations (the shrunk file checks one thing);
//! 2. halve the nodes;
//! 3. halve the timeline (duration, join window, event and workload times);
//! 4. drop each `[[at]]` event, then each `[[workload]]`;
//! 5. halve each workload count;
//! 6. drop each fault family of `[network]` (loss, duplication, reordering).

use std::path::Path;
use std::time::Duration;

use crate::runner::{self, Options};
use crate::scenario::leaf::{Count, Dur, Seed, Whole};
use crate::scenario::raw::File;
use crate::scenario::{self, format_duration};

/// The name a run that panicked fails under, before its expectations: shrinking a
/// crash of the test-bed keeps it crashing (`--expect panic`, or by default).
pub const PANIC: &str = "panic";

/// What a shrink found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing scenario, as TOML.
    pub toml: String,
    /// The expectation it fails.
    pub expectation: String,
    /// What each accepted step did, in order.
    pub steps: Vec<String>,
    /// Runs spent (the first, confirming run included).
    pub runs: usize,
}

/// Why there was nothing to shrink.
#[derive(Debug)]
pub enum ShrinkError {
    /// The file does not parse or check.
    Scenario(String),
    /// The run passes (or does not fail the expectation asked for).
    Passes(String),
    /// A run could not be done.
    Run(String),
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Scenario(e) | ShrinkError::Run(e) => f.write_str(e),
            ShrinkError::Passes(e) => write!(f, "nothing to shrink: {e}"),
        }
    }
}

/// Runs `text` (as if it were the file at `path`) on `seed`; the expectations that
/// failed, each with whether it had anything to measure, or `None` when the text is
/// not a valid scenario.
fn failures(
    path: &Path,
    text: &str,
    seed: u64,
) -> Result<Option<Vec<(String, bool)>>, ShrinkError> {
    let Ok(mut scenario) = scenario::parse(path, text) else {
        return Ok(None);
    };
    scenario.seed = seed;
    let options = Options {
        progress: false,
        // Shrinking runs one candidate at a time: on every core.
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Options::default()
    };
    let run = runner::run(&scenario, options).map_err(|e| ShrinkError::Run(e.to_string()))?;
    // A panic of the test-bed fails as the pseudo-expectation `panic`, first.
    let panicked = run
        .report
        .panic
        .is_some()
        .then(|| (PANIC.to_string(), true));
    Ok(Some(
        panicked
            .into_iter()
            .chain(
                run.report
                    .expectations
                    .iter()
                    .filter(|v| !v.pass)
                    .map(|v| (v.name.clone(), v.actual.is_some())),
            )
            .collect(),
    ))
}

/// `value` times `factor`; `false` (and unchanged) when it is missing, or scaling
/// changes nothing or makes it zero.
fn scale_duration(value: Option<&mut Dur>, factor: f64) -> bool {
    let Some(Dur(duration)) = value else {
        return false;
    };
    let scaled = Duration::from_micros((duration.as_micros() as f64 * factor).round() as u64);
    if scaled == *duration || scaled.is_zero() {
        return false;
    }
    *duration = scaled;
    true
}

/// The candidates of one pass over `file`: each a description and a changed file.
fn candidates(file: &File, expectation: &str) -> Vec<(String, File)> {
    let mut out = Vec::new();
    // 1. Only the expectation that fails.
    if file.expect.0.len() > 1 {
        let mut next = file.clone();
        next.expect
            .0
            .retain(|(metric, _)| metric.name() == expectation);
        out.push((format!("keep only the expectation {expectation}"), next));
    }
    // 2. Half the nodes.
    let nodes = file.nodes.map_or(0, |nodes| nodes.0);
    if nodes > 2 {
        let half = (nodes / 2).max(2);
        let mut next = file.clone();
        next.nodes = Some(Whole(half));
        // A bootstrap count above the nodes would be refused: cap it.
        if let Some(bootstrap) = next.network.as_mut().and_then(|n| n.bootstrap.as_mut()) {
            bootstrap.0 = bootstrap.0.min(half as u64);
        }
        out.push((format!("nodes {nodes} -> {half}"), next));
    }
    // 3. Half the timeline.
    let mut next = file.clone();
    if scale_duration(next.duration.as_mut(), 0.5) {
        scale_duration(
            next.network.as_mut().and_then(|n| n.join_window.as_mut()),
            0.5,
        );
        for at in &mut next.at {
            scale_duration(at.time.as_mut(), 0.5);
        }
        for workload in &mut next.workload {
            scale_duration(workload.from.as_mut(), 0.5);
            scale_duration(workload.over.as_mut(), 0.5);
        }
        let written = |file: &File| {
            file.duration
                .map_or(String::new(), |d| format_duration(d.0))
        };
        let (was, now) = (written(file), written(&next));
        out.push((format!("timeline halved: duration {was} -> {now}"), next));
    }
    // 4. Drop events and workloads one at a time.
    for i in 0..file.at.len() {
        let mut next = file.clone();
        next.at.remove(i);
        out.push((format!("drop [[at]] #{}", i + 1), next));
    }
    for i in 0..file.workload.len() {
        let mut next = file.clone();
        next.workload.remove(i);
        out.push((format!("drop [[workload]] #{}", i + 1), next));
    }
    // 5. Halve workload counts.
    for (i, workload) in file.workload.iter().enumerate() {
        for (field, count) in workload.clone().counts_mut() {
            if let Some(Count(n)) = count.filter(|n| n.0 > 1) {
                let mut next = file.clone();
                for (key, count) in next.workload[i].counts_mut() {
                    if key == field {
                        *count = Some(Count(n / 2));
                    }
                }
                out.push((
                    format!("[[workload]] #{} {field} {n} -> {}", i + 1, n / 2),
                    next,
                ));
            }
        }
    }
    // 6. Drop fault families.
    let network = file.network.clone().unwrap_or_default();
    let families = [
        ("loss", network.loss),
        ("duplicate", network.duplicate),
        ("reorder", network.reorder),
    ];
    for (family, value) in families {
        if value.is_some_and(|share| share.0 > 0.0) {
            let mut next = file.clone();
            if let Some(n) = next.network.as_mut() {
                match family {
                    "loss" => n.loss = None,
                    "duplicate" => n.duplicate = None,
                    _ => {
                        n.reorder = None;
                        n.reorder_delay = None;
                    }
                }
            }
            out.push((format!("no {family}"), next));
        }
    }
    out
}

/// Shrinks the scenario in `text` (from `path`) failing on `seed`, spending at most
/// `budget` runs. `expectation` names the failure to keep; by default, the first that
/// fails. `progress` hears of every accepted step.
pub fn shrink(
    path: &Path,
    text: &str,
    seed: u64,
    expectation: Option<&str>,
    budget: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Shrunk, ShrinkError> {
    let parsed = scenario::parse(path, text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    if parsed.engine == scenario::EngineKind::Live {
        return Err(ShrinkError::Scenario(
            "shrink replays a failing seed, and live runs do not replay: set engine = \"direct\" \
             or \"turmoil\""
                .to_owned(),
        ));
    }
    let mut file = File::from_toml(text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    let failed = failures(path, text, seed)?.unwrap_or_default();
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    let expectation = match expectation {
        Some(name) if names.contains(&name) => name.to_string(),
        Some(name) => {
            return Err(ShrinkError::Passes(format!(
                "seed {seed} does not fail {name} (it fails: {})",
                if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                }
            )))
        }
        None => names
            .first()
            .map(|n| n.to_string())
            .ok_or_else(|| ShrinkError::Passes(format!("seed {seed} passes")))?,
    };
    // A failure with a measurement stays one: a candidate that fails only because it
    // no longer measures anything (its workload gone) is another failure.
    let measured = failed.iter().any(|(n, m)| *n == expectation && *m);
    let same = |failed: &[(String, bool)]| {
        failed
            .iter()
            .any(|(n, m)| *n == expectation && (*m || !measured))
    };
    let mut runs = 1;
    let mut steps = Vec::new();
    'passes: loop {
        for (step, next) in candidates(&file, &expectation) {
            if runs >= budget {
                break 'passes;
            }
            let Ok(text) = next.to_toml() else {
                continue;
            };
            let Some(failed) = failures(path, &text, seed)? else {
                continue; // not a valid scenario: no run spent
            };
            runs += 1;
            if same(&failed) {
                progress(&step);
                steps.push(step);
                file = next;
                // Start the pass again from the cheapest steps on the smaller scenario.
                continue 'passes;
            }
        }
        break; // a whole pass without a smaller failing scenario
    }
    // The shrunk file carries its seed: `dswarm run` on it alone fails again.
    file.seed = Some(Seed(seed));
    let toml = file.to_toml().map_err(ShrinkError::Scenario)?;
    Ok(Shrunk {
        toml,
        expectation,
        steps,
        runs,
    })
}
