//! The `pings` workload end to end on both engines: single PINGs from random nodes
//! to random contacts of their routing tables are sent, answered, and counted in the
//! report; and a run replays bit for bit.
//!
//! A failure prints its reproduce line: the scenario is the TOML below, the seed is
//! in the message.

use std::path::Path;

use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

const SEED: u64 = 11;

/// 40 nodes, no loss: every contact is alive, so every ping must be answered.
const SCENARIO: &str = r#"
name = "pings-small"
seed = 11
nodes = 40
engine = "direct"
duration = "15s"

[network]
latency = { min = "5ms", max = "50ms" }
segments = 0
bootstrap = 3

[[workload]]
from = "4s"
over = "10s"
pings = 200

[expect]
contact_ping_success = 1
"#;

fn run_on(engine: EngineKind) -> Report {
    let scenario = scenario::parse(Path::new("tests/pings-small.toml"), SCENARIO)
        .unwrap()
        .with_engine(engine)
        .unwrap();
    assert_eq!(scenario.seed, SEED);
    runner::run(&scenario, Options::default()).unwrap().report
}

fn run() -> Report {
    run_on(EngineKind::Direct)
}

#[test]
fn contact_pings_are_sent_and_answered() {
    let report = run();
    let context = format!(
        "seed {SEED} (pings-small in sim/tests/pings.rs)\n{}",
        report.summary()
    );
    let p = &report.contact_pings;
    assert_eq!(p.issued, 200, "{context}");
    assert_eq!(p.answered, 200, "{context}");
    assert_eq!(
        (p.failed, p.not_started, p.unfinished),
        (0, 0, 0),
        "{context}"
    );
    // One-way latency is 5 to 50 ms, so a round trip is 10 to 100 ms.
    let (p50, p99) = (p.rtt_ms_p50.unwrap(), p.rtt_ms_p99.unwrap());
    assert!((10.0..=100.0).contains(&p50), "{context}");
    assert!((p50..=100.0).contains(&p99), "{context}");
    assert_eq!(
        report.metric(dswarm_sim::metric::Metric::ContactPingSuccess),
        Some(1.0),
        "{context}"
    );
    assert!(report.pass, "{context}");
    assert!(
        report
            .summary()
            .contains("contact pings: 200 issued, 200 answered"),
        "{context}"
    );
    // The ping_closest figures stay apart.
    assert_eq!(report.pings.issued, 0, "{context}");

    let again = run();
    assert_eq!(report.trace_hash, again.trace_hash, "{context}");
}

#[test]
fn the_turmoil_engine_runs_contact_pings_too() {
    let report = run_on(EngineKind::Turmoil);
    let context = format!(
        "seed {SEED} (pings-small in sim/tests/pings.rs, --engine turmoil)\n{}",
        report.summary()
    );
    let p = &report.contact_pings;
    assert_eq!((p.issued, p.answered), (200, 200), "{context}");
    assert!(report.pass, "{context}");
}
