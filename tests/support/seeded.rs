//! Proptest configuration shared by the property tests: a fixed seed unless
//! `PROPTEST_RNG_SEED` says otherwise, a case count unless `PROPTEST_CASES` does, and
//! failures kept in `proptest-regressions/` to be replayed first.

use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence, RngSeed};

/// The configuration of a test file whose default seed is `seed`.
pub fn config(seed: u64, cases: u32, regressions: &'static str) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        RngSeed::Random => RngSeed::Fixed(seed),
        fixed => fixed,
    };
    ProptestConfig {
        // `PROPTEST_CASES=N` asks for a longer (or shorter) run.
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            cases
        },
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..default
    }
}

/// How to rerun a failure of test file `name`, for assertion messages.
pub fn reproduce(seed: u64, name: &str) -> String {
    let seed = match ProptestConfig::default().rng_seed {
        RngSeed::Random => seed,
        RngSeed::Fixed(seed) => seed,
    };
    format!("reproduce: PROPTEST_RNG_SEED={seed} cargo test --test {name}")
}
