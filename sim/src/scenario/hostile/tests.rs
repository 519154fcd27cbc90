//! `[hostile]`: what parses, and the error of each mistake.

use std::path::Path;

use super::super::{parse, EngineKind, HostileKind, Scenario, ScenarioError};

const HEAD: &str = "name = \"h\"\nnodes = 200\nengine = \"direct\"\nduration = \"60s\"\n";

fn ok(text: &str) -> Scenario {
    parse(Path::new("scenarios/x.toml"), text)
        .unwrap_or_else(|error| panic!("expected the scenario to parse, got: {error}\n{text}"))
}

#[track_caller]
fn fails(text: &str, line: Option<usize>, key: &str, needle: &str) -> ScenarioError {
    let error = match parse(Path::new("scenarios/x.toml"), text) {
        Ok(scenario) => panic!("expected an error, got {scenario:#?}\n---\n{text}"),
        Err(error) => error,
    };
    assert_eq!(error.line, line, "line of: {error}");
    assert_eq!(error.key.as_deref(), Some(key), "key of: {error}");
    assert!(
        error.message.contains(needle),
        "{error} should mention {needle:?}"
    );
    error
}

#[test]
fn shares_rates_and_counts_parse() {
    let s = ok(&format!(
        "{HEAD}[hostile]\nliars = 0.1\ndroppers = 0.05\nforgers = 0.02\nreplayers = 0.02\n\
         flooders = 0.01\nsybils = 0.1\nflood_rate = \"5/10s\"\nreplay_rate = \"30/m\"\n\
         forge_rate = \"2/s\"\nsybil_identities = 4\neclipsers = 0.1\neclipse_addresses = 3\n\
         eclipse_identities = 5\n"
    ));
    let h = &s.hostile;
    assert_eq!((h.liars, h.droppers, h.flooders), (0.1, 0.05, 0.01));
    assert_eq!((h.flood_rate, h.replay_rate, h.forge_rate), (0.5, 0.5, 2.0));
    assert_eq!(h.sybil_identities, 4);
    let counts: Vec<usize> = HostileKind::ALL.iter().map(|&k| h.count(k, 200)).collect();
    assert_eq!(counts, [20, 10, 4, 4, 2, 20, 20]);
    assert_eq!(h.total(200), 80);
    assert_eq!((h.eclipse_addresses, h.eclipse_identities), (3, 5));
    // No table: an honest swarm, with the defaults.
    let honest = ok(HEAD);
    assert!(honest.hostile.is_empty());
    assert_eq!(honest.hostile.flood_rate, 200.0);
}

#[test]
fn eclipse_keys_go_with_eclipsers_and_hold_their_range() {
    fails(
        &format!("{HEAD}[hostile]\neclipse_addresses = 2\n"),
        Some(6),
        "hostile.eclipse_addresses",
        "goes with eclipsers",
    );
    fails(
        &format!("{HEAD}[hostile]\neclipsers = 0.5\neclipse_identities = 0\n"),
        Some(7),
        "hostile.eclipse_identities",
        "write 1 to 1000",
    );
    let h = ok(&format!("{HEAD}[hostile]\neclipsers = 0.5\n")).hostile;
    assert_eq!((h.eclipse_addresses, h.eclipse_identities), (2, 20));
}

#[test]
fn bad_shares_are_refused_at_their_line() {
    fails(
        &format!("{HEAD}[hostile]\nliars = 1\n"),
        Some(6),
        "hostile.liars",
        "not at least 0 and below 1",
    );
    fails(
        &format!("{HEAD}[hostile]\nliars = -0.1\n"),
        Some(6),
        "hostile.liars",
        "not at least 0",
    );
    fails(
        &format!("{HEAD}[hostile]\nliars = \"10%\"\n"),
        Some(6),
        "hostile.liars",
        "expected a number",
    );
    fails(
        &format!("{HEAD}[hostile]\nflooders = 0.001\n"),
        Some(6),
        "hostile.flooders",
        "less than one node",
    );
    fails(
        &format!("{HEAD}[hostile]\nliars = 0.5\ndroppers = 0.499\n"),
        Some(5),
        "hostile",
        "not bootstrap nodes",
    );
}

#[test]
fn two_honest_nodes_stay_after_the_leaves() {
    let text = format!(
        "{HEAD}[network]\nbootstrap = 1\nsegments = 1\n[[at]]\ntime = \"30s\"\nleave = 0.5\n\
         [hostile]\nliars = 0.495\n"
    );
    fails(&text, Some(11), "hostile", "at least 2 honest nodes");
}

#[test]
fn parameters_go_with_their_kind() {
    fails(
        &format!("{HEAD}[hostile]\nflood_rate = \"10/s\"\n"),
        Some(6),
        "hostile.flood_rate",
        "goes with flooders, which is missing",
    );
    fails(
        &format!("{HEAD}[hostile]\nsybils = 0\nsybil_identities = 3\n"),
        Some(7),
        "hostile.sybil_identities",
        "goes with sybils, which is 0",
    );
    fails(
        &format!("{HEAD}[hostile]\nsybils = 0.1\nsybil_identities = 1\n"),
        Some(7),
        "hostile.sybil_identities",
        "write 2 to 1000",
    );
}

#[test]
fn bad_rates_say_how_to_write_one() {
    for (rate, needle) in [
        ("200", "not a rate"),
        ("fast/s", "not a number above 0"),
        ("0/s", "not a number above 0"),
        ("10/parsec", "unknown unit"),
        ("1000000/s", "more than the most"),
    ] {
        fails(
            &format!("{HEAD}[hostile]\nflooders = 0.01\nflood_rate = \"{rate}\"\n"),
            Some(7),
            "hostile.flood_rate",
            needle,
        );
    }
    fails(
        &format!("{HEAD}[hostile]\nflooders = 0.01\nflood_rate = 200\n"),
        Some(7),
        "hostile.flood_rate",
        "a rate like",
    );
}

#[test]
fn keys_are_checked_and_placed() {
    fails(
        &format!("{HEAD}[hostile]\nlairs = 0.1\n"),
        Some(6),
        "hostile.lairs",
        "did you mean `liars`?",
    );
    fails(
        &format!("{HEAD}[network]\nliars = 0.1\n"),
        Some(6),
        "network.liars",
        "belongs in the [hostile] table",
    );
}

#[test]
fn turmoil_runs_liars_and_droppers_and_refuses_the_rest() {
    let turmoil = "name = \"h\"\nnodes = 200\nduration = \"60s\"\n";
    let s = ok(&format!(
        "{turmoil}[hostile]\nliars = 0.1\ndroppers = 0.1\n"
    ));
    assert_eq!(s.engine, EngineKind::Turmoil);
    for kind in ["forgers", "replayers", "flooders", "sybils"] {
        fails(
            &format!("{turmoil}[hostile]\n{kind} = 0.05\n"),
            Some(5),
            &format!("hostile.{kind}"),
            "set engine = \"direct\"",
        );
    }
    let direct = ok(&format!("{HEAD}[hostile]\nflooders = 0.05\n"));
    let error = direct.clone().with_engine(EngineKind::Turmoil).unwrap_err();
    assert_eq!(error.key.as_deref(), Some("hostile.flooders"));
    assert!(error.to_string().contains("--engine turmoil"), "{error}");
    assert!(direct.with_engine(EngineKind::Direct).is_ok());
}

#[test]
fn nodes_from_the_command_line_must_fit_the_hostile_nodes() {
    let s = ok(&format!("{HEAD}[hostile]\nliars = 0.1\n"));
    let error = s.clone().with_nodes(4).unwrap_err();
    assert_eq!(error.key.as_deref(), Some("hostile.liars"));
    assert!(error.message.contains("less than one node"), "{error}");
    assert_eq!(
        s.with_nodes(1000)
            .unwrap()
            .hostile
            .count(HostileKind::Liar, 1000),
        100
    );
}

#[test]
fn hostile_metrics_parse() {
    let s = ok(&format!(
        "{HEAD}[expect]\nhonest_lookup_success = 0.99\nforged_stored = \"== 0\"\n\
         unexpected_sessions = \"== 0\"\n"
    ));
    assert_eq!(s.expect[0].text, ">= 0.99");
    fails(
        &format!("{HEAD}[expect]\nforged_stored = 0\n"),
        Some(6),
        "expect.forged_stored",
        "a bare number means `>=` only for the ratio metrics",
    );
}
