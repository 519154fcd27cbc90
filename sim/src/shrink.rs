//! Shrinking: from a scenario that fails an expectation on a seed, a smaller scenario
//! that still fails the same expectation on the same seed.
//!
//! In: the scenario file's TOML, the seed, the expectation to keep failing (the first
//! that failed, by default; [`PANIC`] when the run panicked) and a budget of runs. Out: the smallest failing TOML found,
//! the steps taken and the runs spent.
//!
//! The search works on the TOML document itself, so it knows no key it does not need
//! to: every candidate goes through the scenario checker (one that no longer makes
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

use toml::Value;

use crate::runner::{self, Options};
use crate::scenario::{self, format_duration, parse_duration};

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

fn scale_duration(value: &mut Value, factor: f64) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let Ok(duration) = parse_duration(text) else {
        return false;
    };
    let scaled = Duration::from_micros((duration.as_micros() as f64 * factor).round() as u64);
    if scaled == duration || scaled.is_zero() {
        return false;
    }
    *value = Value::String(format_duration(scaled));
    true
}

fn table_array<'a>(doc: &'a mut Value, key: &str) -> Option<&'a mut Vec<Value>> {
    doc.get_mut(key)?.as_array_mut()
}

/// The candidates of one pass over `doc`: each a description and a changed document.
fn candidates(doc: &Value, expectation: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    // 1. Only the expectation that fails.
    if let Some(expect) = doc.get("expect").and_then(Value::as_table) {
        if expect.len() > 1 {
            let mut next = doc.clone();
            if let Some(t) = next.get_mut("expect").and_then(Value::as_table_mut) {
                t.retain(|k, _| k == expectation);
            }
            out.push((format!("keep only the expectation {expectation}"), next));
        }
    }
    // 2. Half the nodes.
    if let Some(nodes) = doc.get("nodes").and_then(Value::as_integer) {
        if nodes > 2 {
            let half = (nodes / 2).max(2);
            let mut next = doc.clone();
            next["nodes"] = Value::Integer(half);
            // A bootstrap count above the nodes would be refused: cap it.
            if let Some(b) = next.get_mut("network").and_then(|n| n.get_mut("bootstrap")) {
                if b.as_integer().is_some_and(|b| b > half) {
                    *b = Value::Integer(half);
                }
            }
            out.push((format!("nodes {nodes} -> {half}"), next));
        }
    }
    // 3. Half the timeline.
    let mut next = doc.clone();
    let mut changed = false;
    if let Some(d) = next.get_mut("duration") {
        changed |= scale_duration(d, 0.5);
    }
    if let Some(w) = next
        .get_mut("network")
        .and_then(|n| n.get_mut("join_window"))
    {
        scale_duration(w, 0.5);
    }
    for key in ["at", "workload"] {
        if let Some(entries) = table_array(&mut next, key) {
            for entry in entries.iter_mut() {
                for field in ["time", "from", "over"] {
                    if let Some(v) = entry.get_mut(field) {
                        scale_duration(v, 0.5);
                    }
                }
            }
        }
    }
    if changed {
        let was = doc.get("duration").and_then(Value::as_str).unwrap_or("?");
        let now = next.get("duration").and_then(Value::as_str).unwrap_or("?");
        out.push((format!("timeline halved: duration {was} -> {now}"), next));
    }
    // 4. Drop events and workloads one at a time.
    for key in ["at", "workload"] {
        let count = doc.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..count {
            let mut next = doc.clone();
            if let Some(entries) = table_array(&mut next, key) {
                entries.remove(i);
                if entries.is_empty() {
                    next.as_table_mut().map(|t| t.remove(key));
                }
            }
            out.push((format!("drop [[{key}]] #{}", i + 1), next));
        }
    }
    // 5. Halve workload counts.
    let count = doc
        .get("workload")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    for i in 0..count {
        let Some(entry) = doc["workload"][i].as_table() else {
            continue;
        };
        for (field, value) in entry {
            if let Some(n) = value.as_integer().filter(|&n| n > 1) {
                let mut next = doc.clone();
                next["workload"][i][field.as_str()] = Value::Integer(n / 2);
                out.push((
                    format!("[[workload]] #{} {field} {n} -> {}", i + 1, n / 2),
                    next,
                ));
            }
        }
    }
    // 6. Drop fault families.
    for family in ["loss", "duplicate", "reorder"] {
        if doc
            .get("network")
            .and_then(|n| n.get(family))
            .is_some_and(|v| v.as_float().is_some_and(|f| f > 0.0) || v.as_integer().is_some())
        {
            let mut next = doc.clone();
            if let Some(n) = next.get_mut("network").and_then(Value::as_table_mut) {
                n.remove(family);
                if family == "reorder" {
                    n.remove("reorder_delay");
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
    scenario::parse(path, text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    let mut doc: Value = toml::from_str(text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
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
        for (step, next) in candidates(&doc, &expectation) {
            if runs >= budget {
                break 'passes;
            }
            let Ok(text) = toml::to_string(&next) else {
                continue;
            };
            let Some(failed) = failures(path, &text, seed)? else {
                continue; // not a valid scenario: no run spent
            };
            runs += 1;
            if same(&failed) {
                progress(&step);
                steps.push(step);
                doc = next;
                // Start the pass again from the cheapest steps on the smaller scenario.
                continue 'passes;
            }
        }
        break; // a whole pass without a smaller failing scenario
    }
    // The shrunk file carries its seed: `dswarm run` on it alone fails again.
    if let Some(table) = doc.as_table_mut() {
        table.insert("seed".into(), Value::Integer(seed as i64));
    }
    let toml = toml::to_string(&doc).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    Ok(Shrunk {
        toml,
        expectation,
        steps,
        runs,
    })
}
