//! Same seed, same run: at least 20 seeds of a scenario with every fault family, run
//! twice each on each engine, give identical trace hashes; different seeds give
//! different hashes.

use std::collections::BTreeSet;
use std::path::Path;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

const SEEDS: u64 = 20;

fn hashes(engine: EngineKind) {
    let mut scenario = scenario::load(Path::new("tests/data/determinism.toml")).unwrap();
    scenario.engine = engine;
    let mut seen = BTreeSet::new();
    for seed in 1..=SEEDS {
        scenario.seed = seed;
        let first = runner::run(&scenario, Options::default()).unwrap().report;
        let second = runner::run(&scenario, Options::default()).unwrap().report;
        assert_eq!(
            first.trace_hash, second.trace_hash,
            "{engine} seed {seed}: two runs differ"
        );
        assert_eq!(first.trace_entries, second.trace_entries);
        assert!(
            first.trace_entries > 1000,
            "{engine} seed {seed}: a busy run"
        );
        assert!(
            first.faults.lost > 0 && first.faults.duplicated > 0 && first.faults.partitioned > 0,
            "{engine} seed {seed}: every fault family fired: {:?}",
            first.faults
        );
        assert_eq!(first.lookups.issued, 20);
        seen.insert(first.trace_hash);
    }
    assert_eq!(
        seen.len() as u64,
        SEEDS,
        "{engine}: every seed has its own hash"
    );
}

#[test]
fn direct_engine_same_seed_same_hash() {
    hashes(EngineKind::Direct);
}

#[test]
fn turmoil_engine_same_seed_same_hash() {
    hashes(EngineKind::Turmoil);
}
