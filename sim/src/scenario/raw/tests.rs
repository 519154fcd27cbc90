use std::path::{Path, PathBuf};

use super::super::keys::Table;
use super::*;

#[test]
fn the_tables_keys_are_the_types_fields() {
    assert_eq!(Table::Top.keys()[..3], ["name", "seed", "nodes"]);
    assert_eq!(Table::Latency.keys(), ["min", "max"]);
    assert_eq!(Table::Expect.keys(), Metric::NAMES);
    let mut workload: Workload = toml::from_str("from = \"1s\"").unwrap();
    let counts: Vec<&str> = workload.counts_mut().iter().map(|(key, _)| *key).collect();
    let keys = Table::Workload.keys();
    assert_eq!(counts, keys[2..2 + counts.len()]);
    assert_eq!(keys[2 + counts.len()..], ["stream_bytes", "listeners"]);
}

/// Every shipped scenario reads as a [`File`], and what it writes back checks as the
/// same scenario.
#[test]
fn every_shipped_scenario_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["scenarios", "benches/compare"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 15, "found only {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = crate::scenario::parse(&path, &text).unwrap();
        let file = File::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written = file.to_toml().unwrap();
        let again = crate::scenario::parse(&path, &written)
            .unwrap_or_else(|e| panic!("{e}\n---\n{written}"));
        assert_eq!(scenario, again, "{}", path.display());
        assert_eq!(File::from_toml(&written).unwrap(), file);
    }
}

#[test]
fn unknown_keys_and_large_seeds() {
    let error =
        File::from_toml("name = \"x\"\nnodes = 5\nduration = \"1s\"\nnodez = 1\n").unwrap_err();
    assert_eq!(error.path().to_string(), "nodez");
    let file = File::from_toml(&format!("seed = \"{}\"", u64::MAX)).unwrap();
    assert_eq!(file.seed, Some(Seed(u64::MAX)));
    let written = file.to_toml().unwrap();
    assert_eq!(
        File::from_toml(&written).unwrap().seed,
        Some(Seed(u64::MAX))
    );
}

/// `[compare]` writes back as it was read, so `shrink` keeps a file's tolerances.
#[test]
fn the_compare_table_round_trips() {
    let text = "name = \"x\"\nnodes = 5\nduration = \"10s\"\n\n[compare]\nsuccess = 0.02\n\
                hops_p95 = 2\nlatency_alpha = 0.05\nlatency_d = 0.1\nmin_lookups = 20\n";
    let file = File::from_toml(text).unwrap();
    let compare = file.compare.clone().expect("a [compare] table");
    assert_eq!(compare.hops_p95, Some(Count(2)));
    assert_eq!(compare.latency_d, Some(Probability(0.1)));
    let written = file.to_toml().unwrap();
    assert_eq!(File::from_toml(&written).unwrap(), file, "{written}");
    assert_eq!(
        crate::scenario::parse(Path::new("x.toml"), &written).unwrap(),
        crate::scenario::parse(Path::new("x.toml"), text).unwrap()
    );
}
