//! Mixed swarms: `network.ipv6` gives a seeded share of the nodes IPv6 addresses, each
//! in a /64 of its own, and lookups and records work across the two families on the
//! direct and turmoil engines; the run is the same at 1 and 2 threads.
//!
//! A failure prints the report and the scenario, which replays with
//! `dswarm run ipv6.toml --seed N --engine E`.

use std::collections::BTreeSet;
use std::path::Path;

use dswarm::harness::{Kind, Network};
use dswarm::proto::table::IpBlock;
use dswarm::proto::Event;
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options, Run as Outcome};
use dswarm_sim::scenario::{self, EngineKind, Scenario};
use dswarm_sim::world::World;

const MIXED: &str = r#"
name = "ipv6-mixed"
seed = 6
nodes = 200
engine = "direct"
crypto = "fast"
duration = "70s"

[network]
segments = 2
join_window = "5s"
ipv6 = 0.3

[[workload]]
from = "15s"
over = "15s"
lookups = 300
puts = 100
mutable_puts = 50

[[workload]]
from = "40s"
over = "15s"
gets = 150
mutable_gets = 80

[expect]
lookup_success = ">= 0.99"
get_success = ">= 0.99"
mutable_latest = ">= 0.99"
"#;

fn parse(text: &str) -> Scenario {
    scenario::parse(Path::new("ipv6.toml"), text).unwrap()
}

fn run_with(scenario: &Scenario, threads: usize) -> Outcome {
    let options = Options {
        keep_records: true,
        threads,
        ..Options::default()
    };
    runner::run(scenario, options).unwrap()
}

fn context(report: &Report, text: &str) -> String {
    format!(
        "reproduce: dswarm run ipv6.toml --seed {} --engine {}\n{}\n---\n{text}",
        report.seed,
        report.engine,
        report.summary()
    )
}

#[test]
fn a_share_of_the_nodes_get_ipv6_addresses_each_in_its_own_64() {
    let scenario = parse(MIXED);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let v6: Vec<usize> = (0..scenario.nodes).filter(|&i| world.is_ipv6(i)).collect();
    assert_eq!(v6.len(), 60, "30 % of 200");
    let blocks: BTreeSet<IpBlock> = v6
        .iter()
        .map(|&i| {
            let addr = world.addr_of(i);
            assert!(addr.is_ipv6(), "node {i} at {addr}");
            assert_eq!(world.index_of(addr, scenario.nodes), Some(i));
            IpBlock::of(&addr, 32, 64).unwrap()
        })
        .collect();
    assert_eq!(blocks.len(), 60, "a /64 for each IPv6 node");
    // A node is reachable only at its own family's address.
    let (four, six) = ((0..200).find(|i| !v6.contains(i)).unwrap(), v6[0]);
    assert!(world.addr_of(four).is_ipv4());
    assert_eq!(world.index_of(dswarm::harness::addr_of_v6(four), 200), None);
    assert_eq!(world.index_of(dswarm::harness::addr_of(six), 200), None);
    // The draw is the seed's, and another seed draws others.
    let again = World::new(scenario.seed, scenario.nodes, &scenario.network);
    assert!((0..200).all(|i| again.is_ipv6(i) == world.is_ipv6(i)));
    let other = World::new(scenario.seed + 1, scenario.nodes, &scenario.network);
    assert!((0..200).any(|i| other.is_ipv6(i) != world.is_ipv6(i)));
    // No share, no IPv6 node.
    let none = World::new(scenario.seed, 200, &Default::default());
    assert!((0..200).all(|i| !none.is_ipv6(i)));
}

/// Sessions verified, by the families of the two ends: (v4→v4, v4→v6, v6→v4, v6→v6).
fn sessions_by_family(outcome: &Outcome, world: &World) -> [usize; 4] {
    let mut counts = [0; 4];
    for record in &outcome.records {
        if record.kind != Kind::Event {
            continue;
        }
        if let Some(Event::PeerVerified { addr, .. }) = record.event.as_deref() {
            let from = usize::from(world.is_ipv6(record.node));
            counts[from * 2 + usize::from(addr.is_ipv6())] += 1;
        }
    }
    counts
}

#[test]
fn a_mixed_swarm_looks_up_and_keeps_records_on_both_engines() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = parse(MIXED).with_engine(engine).unwrap();
        let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
        let outcome = run_with(&scenario, 1);
        let report = &outcome.report;
        let why = context(report, MIXED);
        assert!(report.pass, "{why}");
        let sessions = sessions_by_family(&outcome, &world);
        eprintln!("{engine}: sessions v4→v4, v4→v6, v6→v4, v6→v6: {sessions:?}");
        assert!(
            sessions.iter().all(|&n| n > 0),
            "sessions between every pair of families ({sessions:?}): {why}"
        );
    }
}

#[test]
fn a_mixed_swarm_runs_the_same_at_one_and_two_threads() {
    let scenario = parse(MIXED);
    let one = run_with(&scenario, 1).report;
    let two = run_with(&scenario, 2).report;
    assert!(one.trace_hash.is_some());
    assert_eq!(one.trace_hash, two.trace_hash, "{}", context(&one, MIXED));
    assert_eq!(
        run_with(&scenario, 1).report.trace_hash,
        one.trace_hash,
        "the same seed, the same run"
    );
}

#[test]
fn ipv6_is_refused_with_a_nat() {
    let text = MIXED.replace("ipv6 = 0.3", "ipv6 = 0.3\nnat = { consistent = 0.2 }");
    let error = scenario::parse(Path::new("ipv6.toml"), &text).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("network.ipv6") && message.contains("NAT"),
        "{message}"
    );
}
