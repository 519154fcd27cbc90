//! One run at any thread count: the direct engine gives the same trace hash, the same
//! counters and the same verdicts on 1, 2 and 3 threads, on scenarios with every fault
//! family, with churn, crashes and restarts, and with hostile nodes.

use std::path::Path;

use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

fn run(file: &str, seed: u64, threads: usize) -> Report {
    let mut scenario = scenario::load(Path::new(file)).unwrap();
    scenario.engine = EngineKind::Direct;
    scenario.seed = seed;
    let options = Options {
        threads,
        ..Options::default()
    };
    runner::run(&scenario, options).unwrap().report
}

/// Runs `file` at `seed` on 1, 2 and 3 threads and checks that the three runs are one.
fn same_at_every_thread_count(file: &str, seed: u64) -> Report {
    let one = run(file, seed, 1);
    assert_eq!(one.threads, 1);
    assert!(one.trace_entries > 1000, "{file}: a busy run");
    for threads in [2, 3] {
        let many = run(file, seed, threads);
        assert_eq!(
            many.threads, threads,
            "{file}: ran on the threads asked for"
        );
        assert_eq!(
            (&many.trace_hash, many.trace_entries),
            (&one.trace_hash, one.trace_entries),
            "{file} seed {seed}: {threads} threads and one give another trace"
        );
        // Everything the report says but the wall time.
        let json = |r: &Report| {
            let mut v = serde_json::to_value(r).unwrap();
            for key in ["wall_seconds", "speed", "threads"] {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        };
        assert_eq!(json(&many), json(&one), "{file}: the reports differ");
    }
    one
}

#[test]
fn every_fault_family_gives_one_trace_at_any_thread_count() {
    for seed in [1, 2, 3] {
        let report = same_at_every_thread_count("tests/data/determinism.toml", seed);
        let faults = report.faults;
        assert!(
            faults.lost > 0
                && faults.duplicated > 0
                && faults.reordered > 0
                && faults.partitioned > 0,
            "every fault family fired: {faults:?}"
        );
    }
}

#[test]
fn churn_crashes_and_restarts_give_one_trace_at_any_thread_count() {
    let report = same_at_every_thread_count("tests/data/threads-churn.toml", 4);
    assert!(
        report.churn.joined > 0 && report.churn.left > 0,
        "{:?}",
        report.churn
    );
    assert!(
        report.churn.crashed > 0 && report.churn.restarted > 0,
        "{:?}",
        report.churn
    );
}

#[test]
fn hostile_nodes_give_one_trace_at_any_thread_count() {
    let report = same_at_every_thread_count("tests/data/hostile-small.toml", 1);
    let activity = &report.hostile_activity;
    assert!(
        activity.flood_hellos > 0 && activity.replays > 0,
        "{activity:?}"
    );
}
