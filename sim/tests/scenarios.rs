//! The shipped scenarios, run as a user would, where they fit in a test's time.

use std::path::Path;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, CryptoKind, EngineKind};

/// Regression: with nodes on 8 multicast segments, a node used to look itself up
/// among its own segment only (its beacons arrive before bootstrap's answers), so the
/// segments became islands joined only through the bootstrap nodes and 29 % of
/// lookups at 1,000 nodes missed their target.
#[test]
fn multicast_segments_do_not_become_islands() {
    let scenario = scenario::load(Path::new("../scenarios/bootstrap-multicast.toml")).unwrap();
    let mut scenario = scenario.with_nodes(1000).unwrap();
    scenario.engine = EngineKind::Direct;
    scenario.crypto = CryptoKind::Fast;
    let report = runner::run(&scenario, Options::default()).unwrap().report;
    println!("{}", report.summary());
    assert_eq!(report.lookups.issued, 1000);
    assert_eq!(
        report.lookups.succeeded, 1000,
        "every lookup finds its target"
    );
    assert!(
        report.tables.min >= 100,
        "every node knows its neighbours beyond its segment: {:?}",
        report.tables
    );
    assert!(report.pass);
}
