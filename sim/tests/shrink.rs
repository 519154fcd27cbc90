//! `dswarm shrink` as a user drives it: a scenario with an impossible expectation
//! shrinks to a smaller scenario that fails the same expectation when run again.

use std::process::Command;

mod cli;

use cli::{dswarm, temp};

#[test]
fn an_impossible_expectation_shrinks_to_a_smaller_scenario_that_fails_again() {
    let out_file = temp("shrunk.toml");
    let out = dswarm(&[
        "shrink",
        "tests/data/tiny-fails.toml",
        "--seed",
        "5",
        "--budget",
        "40",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("still fails after: nodes 12 -> 6"), "{text}");
    let shrunk = std::fs::read_to_string(&out_file).unwrap();
    let doc: toml::Value = toml::from_str(&shrunk).expect("valid TOML");
    assert!(doc["nodes"].as_integer().unwrap() < 12, "{shrunk}");
    assert_eq!(doc["seed"].as_integer(), Some(5));
    let expect = doc["expect"].as_table().unwrap();
    assert_eq!(expect.keys().collect::<Vec<_>>(), ["lookup_hops_p95"]);
    // Its reproduce line fails the same expectation, with something measured.
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("reproduce: "))
        .expect("a reproduce line");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let again = dswarm(&args);
    assert_eq!(again.status.code(), Some(1));
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.contains("FAIL lookup_hops_p95 < 0 (measured 0"),
        "{again}"
    );
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let out = dswarm(&[
        "shrink",
        "tests/data/tiny.toml",
        "--seed",
        "5",
        "--budget",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to shrink: seed 5 passes"), "{err}");
}

#[test]
fn a_run_that_panics_shrinks_as_the_failure_panic() {
    if !cfg!(debug_assertions) {
        return; // the test hook DSWARM_TEST_PANIC_AT is off in release builds
    }
    let out_file = temp("panic.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args([
            "shrink",
            "tests/data/tiny.toml",
            "--seed",
            "5",
            "--budget",
            "6",
        ])
        .args(["--out", out_file.to_str().unwrap()])
        .env("DSWARM_TEST_PANIC_AT", "8")
        .env_remove("RUST_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dswarm runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("still fails panic"), "{text}");
    // The expectations are not what fails: they go first.
    assert!(
        text.contains("still fails after: keep only the expectation panic"),
        "{text}"
    );
    let shrunk = std::fs::read_to_string(&out_file).unwrap();
    let doc: toml::Value = toml::from_str(&shrunk).expect("valid TOML");
    assert!(doc["nodes"].as_integer().unwrap() < 12, "{shrunk}");
}
