//! The same scenario on both engines: same verdicts, and lookup figures within a
//! stated tolerance. The engines differ in timing detail only — the turmoil engine
//! moves packets on 1 ms steps and starts commands at the next step, the direct
//! engine at the exact microsecond — so traces differ but what a user measures must
//! not.

use std::path::Path;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

#[test]
fn both_engines_agree_on_verdicts_and_lookup_figures() {
    let mut scenario = scenario::load(Path::new("../scenarios/quickstart.toml")).unwrap();
    scenario.engine = EngineKind::Direct;
    let direct = runner::run(&scenario, Options::default()).unwrap().report;
    scenario.engine = EngineKind::Turmoil;
    let turmoil = runner::run(&scenario, Options::default()).unwrap().report;
    println!("direct:\n{}", direct.summary());
    println!("turmoil:\n{}", turmoil.summary());

    assert!(direct.pass && turmoil.pass, "both pass quickstart");
    let verdicts = |r: &dswarm_sim::report::Report| {
        r.expectations
            .iter()
            .map(|v| (v.name.clone(), v.pass))
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&direct), verdicts(&turmoil));
    assert_eq!(direct.lookups.issued, turmoil.lookups.issued);

    // Tolerances: success within 2 points; hop percentiles within one hop; median
    // latency within 25 % (the turmoil engine rounds every delivery up to 1 ms).
    let success = |r: &dswarm_sim::report::Report| {
        r.metric(dswarm_sim::metric::Metric::LookupSuccess).unwrap()
    };
    assert!((success(&direct) - success(&turmoil)).abs() <= 0.02);
    for (a, b) in [
        (direct.lookups.hops_p50, turmoil.lookups.hops_p50),
        (direct.lookups.hops_p95, turmoil.lookups.hops_p95),
    ] {
        assert!(a.unwrap().abs_diff(b.unwrap()) <= 1, "hops {a:?} vs {b:?}");
    }
    let (a, b) = (
        direct.lookups.latency_ms_p50.unwrap(),
        turmoil.lookups.latency_ms_p50.unwrap(),
    );
    assert!(
        (a - b).abs() <= 0.25 * a.max(b),
        "latency p50 {a} vs {b} ms"
    );
    assert_ne!(
        direct.trace_hash, turmoil.trace_hash,
        "the engines time things differently"
    );
}

#[test]
fn both_engines_reach_peers_through_their_mailboxes() {
    let mut scenario = scenario::load(Path::new("tests/data/mailbox-small.toml")).unwrap();
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        scenario.engine = engine;
        let report = runner::run(&scenario, Options::default()).unwrap().report;
        assert!(report.pass, "{engine}:\n{}", report.summary());
        let total = &report.connect.total;
        assert!(
            total.mailbox > 0 && total.direct > 0,
            "{engine}: some connects go through a mailbox, most straight: {total:?}"
        );
    }
}
