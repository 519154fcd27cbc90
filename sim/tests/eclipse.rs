//! The eclipse scenario: identities ground near the workload's keys, from two IP
//! addresses, that answer FIND_NODE with each other and drop what they are given.
//! With one lookup candidate per address block (the default), honest gets and lookups
//! survive; the same run without it loses most of them. Attackers with an address
//! for every identity pass that rule, and disjoint lookup paths save the gets and
//! lookups then.
//!
//! Every run names its scenario and seed: a failure replays with the `reproduce:` line
//! it prints.

use std::path::Path;

use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, HostileKind, Metric, Scenario};

const FILE: &str = "../scenarios/eclipse.toml";

/// `scenarios/eclipse.toml`, with the defence as `defence` says.
fn eclipse(defence: bool) -> Scenario {
    edited(&[(
        "lookup_one_per_block = true",
        &format!("lookup_one_per_block = {defence}"),
    )])
}

/// `scenarios/eclipse.toml` with each `(from, to)` edit made.
fn edited(edits: &[(&str, &str)]) -> Scenario {
    let mut text = std::fs::read_to_string(FILE).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    scenario::parse(Path::new(FILE), &text).unwrap()
}

fn run(scenario: &Scenario) -> Report {
    let report = runner::run(scenario, Options::default()).unwrap().report;
    println!(
        "reproduce: dswarm run {FILE} --seed {} (lookup_one_per_block = {})\n{}",
        scenario.seed,
        scenario.network.lookup_one_per_block,
        report.summary()
    );
    report
}

/// The share of honest lookups that found their target and of gets that got their
/// value.
fn survival(report: &Report) -> (f64, f64) {
    let lookups = report.metric(Metric::HonestLookupSuccess).unwrap();
    let gets = report.metric(Metric::GetSuccess).unwrap();
    (lookups, gets)
}

#[test]
fn honest_gets_and_lookups_survive_an_eclipse_only_with_one_candidate_per_block() {
    let defended = eclipse(true);
    assert_eq!(
        defended.hostile.count(HostileKind::Eclipse, defended.nodes),
        240
    );
    let report = run(&defended);
    assert!(report.pass, "{}", report.summary());
    let (lookups, gets) = survival(&report);
    assert!(lookups >= 0.95 && gets >= 0.95, "{lookups} {gets}");
    assert!(report.protocol.lookup_block_skips > 0);

    let open = run(&eclipse(false));
    let (lookups_open, gets_open) = survival(&open);
    assert!(
        lookups_open <= 0.5 && gets_open <= 0.5,
        "without the defence {lookups_open} of lookups and {gets_open} of gets survived"
    );
    assert_eq!(open.protocol.lookup_block_skips, 0);
}

#[test]
fn disjoint_paths_save_gets_and_lookups_from_attackers_with_an_address_each() {
    let spread = ("eclipse_addresses = 2", "eclipse_addresses = 240");
    let blocks_only = run(&edited(&[spread]));
    let (lookups, gets) = survival(&blocks_only);
    assert!(
        lookups <= 0.5 && gets <= 0.5,
        "one candidate per block alone: {lookups} of lookups and {gets} of gets survived"
    );
    let paths = ("bootstrap = 3", "bootstrap = 3\nlookup_disjoint_paths = 3");
    let disjoint = run(&edited(&[spread, paths]));
    let (lookups, gets) = survival(&disjoint);
    assert!(lookups >= 0.95 && gets >= 0.95, "{lookups} {gets}");
    assert!(disjoint.pass, "{}", disjoint.summary());
}
