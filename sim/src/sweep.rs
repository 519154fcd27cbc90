//! Seed sweeps: one scenario, many seeds, on several worker threads, and the summary
//! that tells which seeds failed and how to replay each.
//!
//! In: a scenario, a seed range `A..B`, a worker count, optionally a shard `I/N` of the
//! range and swarm testing ([`swarm_draw`]: each seed also switches fault families on
//! or off). Out: a [`Summary`] whose results are ordered by seed, so it is the same
//! whatever the number of workers; [`merge`] joins the summaries of the shards of one
//! sweep into the summary of the whole.
//!
//! Shards split the range by residue: seed `A + j` belongs to shard `j % N`. A cluster
//! runs shard `I` of `N` wherever it likes (a Kubernetes Indexed Job, a CI matrix) and
//! merges the files afterwards.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use crate::runner::{self, Options};
use crate::scenario::{Action, At, EngineKind, Scenario};

/// What one seed's run came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Whether every expectation held (and the test-bed did not panic).
    pub pass: bool,
    /// What failed: `panic: …` when the test-bed panicked, the expectations that
    /// failed as `name expected (measured actual)`, then `safety: …` violations.
    pub failed: Vec<String>,
    /// The run's trace hash.
    pub trace_hash: String,
    /// What swarm testing switched on for this seed (empty without `--swarm`).
    pub drawn: String,
    /// The command line that replays this run.
    pub reproduce: String,
}

/// A sweep's (or a shard's) outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The scenario file.
    pub scenario: String,
    /// The whole seed range, `A..B`.
    pub seeds: String,
    /// `I/N` for one shard, `None` for a whole sweep.
    pub shard: Option<String>,
    /// Whether swarm testing drew fault families per seed.
    pub swarm: bool,
    /// Runs done.
    pub runs: usize,
    /// Runs that passed.
    pub passed: usize,
    /// Runs that failed.
    pub failed: usize,
    /// Every run, by seed.
    pub results: Vec<SeedResult>,
}

impl Summary {
    /// The failing runs, by seed.
    pub fn failures(&self) -> impl Iterator<Item = &SeedResult> {
        self.results.iter().filter(|r| !r.pass)
    }

    /// The human summary: counts, then a table of failing seeds with their
    /// `reproduce:` lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let shard = self
            .shard
            .as_ref()
            .map_or(String::new(), |s| format!(" (shard {s})"));
        let _ = writeln!(
            out,
            "sweep {} seeds {}{shard}: {} runs, {} passed, {} failed",
            self.scenario, self.seeds, self.runs, self.passed, self.failed
        );
        if self.failed > 0 {
            let _ = writeln!(out, "failing seeds:");
            for r in self.failures() {
                let drawn = if r.drawn.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.drawn)
                };
                let _ = writeln!(out, "  seed {}{drawn}: {}", r.seed, r.failed.join("; "));
                let _ = writeln!(out, "    reproduce: {}", r.reproduce);
            }
        }
        out
    }
}

/// Parses `A..B` (B excluded, A < B).
pub fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range like 0..200"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not a seed (a whole number)"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("`{b}` is not a seed (a whole number)"))?;
    if a >= b {
        return Err(format!("the range {a}..{b} is empty"));
    }
    Ok(a..b)
}

/// Parses `I/N` (0 <= I < N).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard like 3/8"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a shard index"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: the index must be below the count"));
    }
    Ok((i, n))
}

/// The seeds of shard `i` of `n` of `range`.
pub fn shard_seeds(range: &Range<u64>, shard: Option<(u64, u64)>) -> Vec<u64> {
    match shard {
        None => range.clone().collect(),
        Some((i, n)) => range
            .clone()
            .filter(|s| (s - range.start) % n == i)
            .collect(),
    }
}

/// Swarm testing: switches fault families of `scenario` on or off for `seed`, from a
/// stream of its own, and says what it drew. Families the file already turns on stay
/// on; a drawn family gets drawn parameters.
pub fn swarm_draw(scenario: &mut Scenario, seed: u64) -> String {
    let mut rng = dswarm::harness::seed_stream(seed, STREAM_SWARM);
    let mut unit = || f64::from(rng.next_u32()) / f64::from(u32::MAX);
    let mut drawn = Vec::new();
    let network = &mut scenario.network;
    if unit() < 0.5 {
        network.loss = network.loss.max((unit() * 0.05 * 1000.0).round() / 1000.0);
        drawn.push(format!("loss={}", network.loss));
    }
    if unit() < 0.3 {
        network.duplicate = network
            .duplicate
            .max((unit() * 0.05 * 1000.0).round() / 1000.0);
        drawn.push(format!("duplicate={}", network.duplicate));
    }
    if unit() < 0.3 {
        network.reorder = network
            .reorder
            .max((unit() * 0.1 * 1000.0).round() / 1000.0);
        drawn.push(format!("reorder={}", network.reorder));
    }
    if unit() < 0.3 {
        // A partition over the middle of the run's first half, healed before the
        // workloads (which usually start later) would notice it for long.
        let duration = scenario.duration.as_secs_f64();
        let start = duration * (0.1 + 0.2 * unit());
        let heal = start + duration * (0.05 + 0.1 * unit());
        let share = ((0.2 + 0.6 * unit()) * 100.0).round() / 100.0;
        scenario.at.push(At {
            time: Duration::from_secs_f64(start),
            action: Action::Partition {
                shares: vec![share, 1.0 - share],
                one_way: false,
            },
        });
        scenario.at.push(At {
            time: Duration::from_secs_f64(heal),
            action: Action::Heal,
        });
        scenario.at.sort_by_key(|a| a.time);
        drawn.push(format!("partition={share} {start:.1}s..{heal:.1}s"));
    }
    // What the other engine does not run (hostile kinds, drifting clocks) keeps a
    // scenario on its engine (the draw is made all the same, so no other draw moves).
    let other = match scenario.engine {
        EngineKind::Direct => EngineKind::Turmoil,
        EngineKind::Turmoil => EngineKind::Direct,
        // Never into or out of real time.
        EngineKind::Live => EngineKind::Live,
    };
    if unit() < 0.5 && scenario.clone().with_engine(other).is_ok() {
        scenario.engine = other;
        drawn.push(format!("engine={}", scenario.engine));
    }
    drawn.join(" ")
}

/// The RNG stream of swarm testing's draws (apart from the runs' own streams).
use dswarm::harness::streams::SWARM as STREAM_SWARM;

/// Runs one seed, the direct engine on `threads` threads.
pub fn run_seed(
    base: &Scenario,
    seed: u64,
    swarm: bool,
    threads: usize,
) -> Result<SeedResult, String> {
    let mut scenario = base.clone();
    scenario.seed = seed;
    let drawn = if swarm {
        swarm_draw(&mut scenario, seed)
    } else {
        String::new()
    };
    // Faults drawn by swarm testing are not flags of `dswarm run`: such a run
    // replays through the sweep itself, on its one seed.
    let reproduce = if drawn.is_empty() {
        format!("dswarm run {} --seed {seed}", base.path.display())
    } else {
        format!(
            "dswarm sweep {} --seeds {seed}..{} --swarm",
            base.path.display(),
            seed + 1
        )
    };
    let options = Options {
        progress: false,
        threads,
        ..Options::default()
    };
    let run = runner::run(&scenario, options).map_err(|e| format!("seed {seed}: {e}"))?;
    let report = run.report;
    // A seed on which the test-bed panicked fails, the panic first: the figures after
    // it are the run's so far.
    let mut failed: Vec<String> = report.panic.iter().map(|p| format!("panic: {p}")).collect();
    failed.extend(report.expectations.iter().filter(|v| !v.pass).map(|v| {
        let actual = v.actual.map_or("nothing".to_string(), |a| format!("{a}"));
        format!("{} {} (measured {actual})", v.name, v.expected)
    }));
    failed.extend(
        report
            .safety
            .violations
            .iter()
            .map(|v| format!("safety: {v}")),
    );
    Ok(SeedResult {
        seed,
        pass: report.pass,
        failed,
        trace_hash: report.trace_hash.unwrap_or_default(),
        drawn,
        reproduce,
    })
}

/// Runs `seeds` on `jobs` worker threads; `progress` is called after each run with
/// (done, failed). The results come back ordered by seed. The cores are split between
/// seeds and each run's threads, so that the two never ask for more than there are:
/// each of the `jobs` runs at once gets `cores / jobs` threads (at least one).
pub fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    swarm: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SeedResult>, String> {
    let next = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<u64, SeedResult>> = Mutex::new(BTreeMap::new());
    let error: Mutex<Option<String>> = Mutex::new(None);
    let failed = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, seeds.len().max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs).max(1);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else {
                    break;
                };
                match run_seed(scenario, seed, swarm, threads) {
                    Ok(result) => {
                        if !result.pass {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                        all.insert(seed, result);
                        let done = all.len();
                        drop(all);
                        progress(done, failed.load(Ordering::Relaxed));
                    }
                    Err(e) => {
                        error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        next.store(seeds.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(results.into_values().collect())
}

/// The summary of `results`.
pub fn summarize(
    scenario: &Scenario,
    range: &Range<u64>,
    shard: Option<(u64, u64)>,
    swarm: bool,
    results: Vec<SeedResult>,
) -> Summary {
    let passed = results.iter().filter(|r| r.pass).count();
    Summary {
        scenario: scenario.path.display().to_string(),
        seeds: format!("{}..{}", range.start, range.end),
        shard: shard.map(|(i, n)| format!("{i}/{n}")),
        swarm,
        runs: results.len(),
        passed,
        failed: results.len() - passed,
        results,
    }
}

/// Joins the shard summaries of one sweep. They must name the same scenario, range
/// and swarm setting and not repeat a seed; a missing shard is reported, not fatal.
pub fn merge(parts: Vec<Summary>) -> Result<(Summary, Vec<String>), String> {
    let Some(first) = parts.first() else {
        return Err("nothing to merge".into());
    };
    let (scenario, seeds, swarm) = (first.scenario.clone(), first.seeds.clone(), first.swarm);
    let mut by_seed = BTreeMap::new();
    let mut shards = BTreeMap::new();
    for part in &parts {
        if part.scenario != scenario || part.seeds != seeds || part.swarm != swarm {
            return Err(format!(
                "summaries of different sweeps: {} {} swarm={} vs {} {} swarm={}",
                scenario, seeds, swarm, part.scenario, part.seeds, part.swarm
            ));
        }
        if let Some(shard) = &part.shard {
            shards.insert(shard.clone(), ());
        }
        for r in &part.results {
            if by_seed.insert(r.seed, r.clone()).is_some() {
                return Err(format!("seed {} appears in two summaries", r.seed));
            }
        }
    }
    let range = parse_range(&seeds)?;
    let mut warnings = Vec::new();
    let missing = range.clone().filter(|s| !by_seed.contains_key(s)).count();
    if missing > 0 {
        warnings.push(format!(
            "{missing} seeds of {seeds} are in no summary (a shard missing?)"
        ));
    }
    let results: Vec<SeedResult> = by_seed.into_values().collect();
    let passed = results.iter().filter(|r| r.pass).count();
    Ok((
        Summary {
            scenario,
            seeds,
            shard: None,
            swarm,
            runs: results.len(),
            passed,
            failed: results.len() - passed,
            results,
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_shards_parse_and_cover_every_seed_once() {
        assert_eq!(parse_range("0..200"), Ok(0..200));
        assert!(parse_range("5..5").is_err());
        assert!(parse_range("a..b").is_err());
        assert!(parse_range("7").is_err());
        assert_eq!(parse_shard("3/8"), Ok((3, 8)));
        assert!(parse_shard("8/8").is_err());
        assert!(parse_shard("0/0").is_err());
        let range = 10..47;
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| shard_seeds(&range, Some((i, 4))))
            .collect();
        all.sort_unstable();
        assert_eq!(all, range.collect::<Vec<_>>());
    }
}
