use std::path::Path;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::*;

/// The example from DESIGN.md, "Scenario files (TOML)", verbatim.
const DESIGN_EXAMPLE: &str = r#"name = "bootstrap-2000"
seed = 7                      # --seed overrides
nodes = 2000
engine = "turmoil"            # or "direct"; --engine overrides
duration = "120s"

[network]
latency = { min = "5ms", max = "80ms" }
loss = 0.01
segments = 4                  # multicast reaches only a node's own segment
bootstrap = 3                 # nodes every other node knows at start

[[at]]
time = "30s"
partition = [0.5, 0.5]        # split the nodes into two halves
[[at]]
time = "60s"
heal = true

[[workload]]
from = "70s"
lookups = 1000                # FIND_NODE of random existing node IDs

[expect]
lookup_success = ">= 0.99"
lookup_hops_p95 = "<= 6"
"#;

const MINIMAL: &str = "name = \"tiny\"\nnodes = 50\nduration = \"60s\"\n";

fn path() -> &'static Path {
    Path::new("scenarios/x.toml")
}

fn ok(text: &str) -> Scenario {
    match parse(path(), text) {
        Ok(scenario) => scenario,
        Err(error) => panic!("expected the scenario to parse, got: {error}\n---\n{text}"),
    }
}

/// Parses `text`, expecting an error at `line` about `key` whose message contains
/// `needle`; returns it for further checks.
#[track_caller]
fn fails(text: &str, line: Option<usize>, key: Option<&str>, needle: &str) -> ScenarioError {
    let error = match parse(path(), text) {
        Ok(scenario) => panic!("expected an error, got {scenario:#?}\n---\n{text}"),
        Err(error) => error,
    };
    assert_eq!(error.line, line, "line of: {error}");
    assert_eq!(error.key.as_deref(), key, "key of: {error}");
    assert!(
        error.message.contains(needle),
        "{error:?} should mention {needle:?}"
    );
    error
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

#[test]
fn design_example_parses_as_written() {
    let scenario = ok(DESIGN_EXAMPLE);
    let expected = Scenario {
        churn: None,
        path: path().to_owned(),
        name: "bootstrap-2000".to_owned(),
        seed: 7,
        nodes: 2000,
        engine: EngineKind::Turmoil,
        crypto: CryptoKind::Auto,
        duration: secs(120),
        network_key: None,
        network: NetworkSpec {
            clock_skew: Default::default(),
            nat: Default::default(),
            ipv6: 0.0,
            mailbox: false,
            lookup_one_per_block: true,
            lookup_disjoint_paths: 1,
            latency_min: ms(5),
            latency_max: ms(80),
            loss: 0.01,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: ms(20),
            segments: 4,
            bootstrap: 3,
            join_window: secs(2),
        },
        at: vec![
            At {
                time: secs(30),
                action: Action::Partition {
                    shares: vec![0.5, 0.5],
                    one_way: false,
                },
            },
            At {
                time: secs(60),
                action: Action::Heal,
            },
        ],
        workload: vec![Workload {
            from: secs(70),
            over: secs(10),
            lookups: 1000,
            ping_closest: 0,
            ..Workload::default()
        }],
        hostile: HostileSpec::default(),
        compare: CompareSpec::default(),
        expect: vec![
            Expectation {
                metric: Metric::LookupSuccess,
                op: Op::Ge,
                value: 0.99,
                text: ">= 0.99".to_owned(),
            },
            Expectation {
                metric: Metric::LookupHopsP95,
                op: Op::Le,
                value: 6.0,
                text: "<= 6".to_owned(),
            },
        ],
    };
    assert_eq!(scenario, expected);
    assert_eq!(CryptoKind::Auto.resolve(scenario.nodes), CryptoKind::Fast);
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let scenario = ok(MINIMAL);
    assert_eq!(scenario.seed, 1);
    assert_eq!(scenario.engine, EngineKind::Turmoil);
    assert_eq!(scenario.crypto, CryptoKind::Auto);
    assert_eq!(scenario.crypto.resolve(scenario.nodes), CryptoKind::Real);
    assert_eq!(scenario.network_key, None);
    assert_eq!(scenario.network, NetworkSpec::default());
    assert_eq!(scenario.network.latency_min, ms(5));
    assert_eq!(scenario.network.latency_max, ms(50));
    assert_eq!(scenario.network.segments, 1);
    assert_eq!(scenario.network.bootstrap, 3);
    assert_eq!(scenario.network.join_window, secs(2));
    assert!(scenario.at.is_empty() && scenario.workload.is_empty() && scenario.expect.is_empty());

    let workload = ok(&format!(
        "{MINIMAL}[[workload]]\nfrom = \"5s\"\nping_closest = 20\n"
    ));
    assert_eq!(
        workload.workload,
        vec![Workload {
            from: secs(5),
            over: secs(10),
            lookups: 0,
            ping_closest: 20,
            ..Workload::default()
        }]
    );
}

#[test]
fn a_two_node_swarm_bootstraps_from_both_nodes_by_default() {
    let scenario = ok("name = \"pair\"\nnodes = 2\nduration = \"10s\"\n");
    assert_eq!(scenario.network.bootstrap, 2);
    fails(
        "name = \"pair\"\nnodes = 2\nduration = \"10s\"\n[network]\nbootstrap = 3\n",
        Some(5),
        Some("network.bootstrap"),
        "only 2 nodes",
    );
}

#[test]
fn every_key_can_be_set() {
    let scenario = ok(r#"
name = "everything"
seed = "18446744073709551615"   # above i64::MAX, so a string
nodes = 10_000
engine = "direct"
crypto = "fast"
duration = "1.5h"
network_key = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F"

[network]
latency = "20ms"
loss = 0.05
duplicate = 0.01
reorder = 1
reorder_delay = "250us"
segments = 0
bootstrap = 8
join_window = "0s"

[[at]]
time = "10m"
partition = [0.25, 0.25, 0.5]
one_way = true

[[workload]]
from = "1h"
over = "30m"
lookups = 10
ping_closest = 5

[expect]
ping_success = 0.9
delivered_ratio = "0.5"
lookup_latency_ms_p99 = "< 500"
lookup_hops_p50 = "== 3"
lookup_latency_ms_p50 = ">1"
"#);
    assert_eq!(scenario.seed, u64::MAX);
    assert_eq!(scenario.nodes, 10_000);
    assert_eq!(scenario.engine, EngineKind::Direct);
    assert_eq!(scenario.crypto, CryptoKind::Fast);
    assert_eq!(scenario.duration, secs(5400));
    let key = scenario.network_key.expect("a key");
    assert_eq!(key[0], 0);
    assert_eq!(key[31], 0x1f);
    assert_eq!(
        (scenario.network.latency_min, scenario.network.latency_max),
        (ms(20), ms(20))
    );
    assert_eq!(scenario.network.loss, 0.05);
    assert_eq!(scenario.network.duplicate, 0.01);
    assert_eq!(scenario.network.reorder, 1.0);
    assert_eq!(scenario.network.reorder_delay, Duration::from_micros(250));
    assert_eq!(
        (scenario.network.segments, scenario.network.bootstrap),
        (0, 8)
    );
    assert_eq!(scenario.network.join_window, Duration::ZERO);
    assert_eq!(
        scenario.at[0].action,
        Action::Partition {
            shares: vec![0.25, 0.25, 0.5],
            one_way: true
        }
    );
    assert_eq!(
        scenario.workload[0],
        Workload {
            from: secs(3600),
            over: secs(1800),
            lookups: 10,
            ping_closest: 5,
            ..Workload::default()
        }
    );
    let expect: Vec<(&str, Op, f64, &str)> = scenario
        .expect
        .iter()
        .map(|e| (e.metric.name(), e.op, e.value, e.text.as_str()))
        .collect();
    assert_eq!(
        expect,
        vec![
            ("ping_success", Op::Ge, 0.9, ">= 0.9"),
            ("delivered_ratio", Op::Ge, 0.5, ">= 0.5"),
            ("lookup_latency_ms_p99", Op::Lt, 500.0, "< 500"),
            ("lookup_hops_p50", Op::Eq, 3.0, "== 3"),
            ("lookup_latency_ms_p50", Op::Gt, 1.0, ">1"),
        ]
    );
}

#[test]
fn dotted_keys_and_sub_table_headers_work_like_inline_tables() {
    let dotted = ok(&format!(
        "{MINIMAL}network.loss = 0.5\nnetwork.latency.max = \"90ms\"\nexpect.lookup_success = \">= 0.9\"\n"
    ));
    assert_eq!(dotted.network.loss, 0.5);
    assert_eq!(dotted.network.latency_max, ms(90));
    assert_eq!(dotted.expect[0].metric, Metric::LookupSuccess);

    let header = ok(&format!(
        "{MINIMAL}[network.latency]\nmin = \"1ms\"\nmax = \"2ms\"\n"
    ));
    assert_eq!(
        (header.network.latency_min, header.network.latency_max),
        (ms(1), ms(2))
    );

    // Errors inside tables without a span of their own still name a line.
    fails(
        &format!("{MINIMAL}network.los = 0.5\n"),
        Some(4),
        Some("network.los"),
        "did you mean `loss`?",
    );
    fails(
        &format!("{MINIMAL}[network.latency]\nmin = \"9ms\"\nmax = \"2ms\"\n"),
        Some(5),
        Some("network.latency.min"),
        "min 9ms is above max 2ms",
    );
}

#[test]
fn events_are_sorted_by_time_keeping_file_order_on_ties() {
    let scenario = ok(&format!(
        "{MINIMAL}[[at]]\ntime = \"40s\"\nheal = true\n\
         [[at]]\ntime = \"20s\"\npartition = [0.5, 0.5]\n\
         [[at]]\ntime = \"20s\"\nheal = true\n\
         [[at]]\ntime = \"1s\"\npartition = [0.2, 0.8]\none_way = true\n"
    ));
    let order: Vec<(Duration, bool)> = scenario
        .at
        .iter()
        .map(|at| (at.time, matches!(at.action, Action::Heal)))
        .collect();
    assert_eq!(
        order,
        vec![
            (secs(1), false),
            (secs(20), false),
            (secs(20), true),
            (secs(40), true)
        ]
    );
}

#[test]
fn an_error_displays_as_file_line_key_message() {
    let text = DESIGN_EXAMPLE.replace("loss = 0.01", "loss = 1.5");
    let error = fails(&text, Some(9), Some("network.loss"), "not a probability");
    assert_eq!(
        error.to_string(),
        "scenarios/x.toml:9: `network.loss`: 1.5 is not a probability (between 0 and 1)"
    );
    let no_line = ScenarioError {
        path: path().to_owned(),
        line: None,
        key: None,
        message: "m".into(),
    };
    assert_eq!(no_line.to_string(), "scenarios/x.toml: m");
}

#[test]
fn unknown_keys_are_errors_with_suggestions() {
    fails(
        "nmae = \"x\"\nnodes = 5\n",
        Some(1),
        Some("nmae"),
        "did you mean `name`?",
    );
    let error = fails(
        &format!("{MINIMAL}color = \"blue\"\n"),
        Some(4),
        Some("color"),
        "unknown key `color` at the top level",
    );
    assert!(
        error.message.contains("`expect`"),
        "lists the known keys: {error}"
    );
    fails(
        &DESIGN_EXAMPLE.replace("segments = 4", "segmnts = 4"),
        Some(10),
        Some("network.segmnts"),
        "did you mean `segments`?",
    );
    fails(
        &DESIGN_EXAMPLE.replace("{ min = \"5ms\"", "{ mn = \"5ms\""),
        Some(8),
        Some("network.latency.mn"),
        "did you mean `min`?",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookup_success =", "lookup_sucess ="),
        Some(25),
        Some("expect.lookup_sucess"),
        "unknown metric `lookup_sucess`; did you mean `lookup_success`?",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookups = 1000", "lookup = 1000"),
        Some(22),
        Some("workload[0].lookup"),
        "did you mean `lookups`?",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true", "heel = true"),
        Some(18),
        Some("at[1].heel"),
        "did you mean `heal`?",
    );
}

#[test]
fn misplaced_keys_say_where_they_belong() {
    // TOML's trap: a top-level key written after a header belongs to that table.
    fails(
        "name = \"x\"\nnodes = 5\n[network]\nloss = 0.1\nduration = \"10s\"\n",
        Some(5),
        Some("network.duration"),
        "`duration` is a top-level key; move it above the first [table] header",
    );
    fails(
        &format!("{MINIMAL}loss = 0.1\n"),
        Some(4),
        Some("loss"),
        "belongs in the [network] table",
    );
    fails(
        &format!("{MINIMAL}lookup_success = \">= 1\"\n"),
        Some(4),
        Some("lookup_success"),
        "belongs in the [expect] table",
    );
}

#[test]
fn missing_required_keys_are_named() {
    fails(
        "nodes = 5\nduration = \"1m\"\n",
        None,
        Some("name"),
        "missing; a scenario needs `name`",
    );
    fails(
        "name = \"x\"\nduration = \"1m\"\n",
        None,
        Some("nodes"),
        "missing",
    );
    fails(
        "name = \"x\"\nnodes = 5\n",
        None,
        Some("duration"),
        "missing",
    );
    fails(
        &format!("{MINIMAL}\n[[workload]]\nlookups = 5\n"),
        Some(5),
        Some("workload[0].from"),
        "missing; `workload[0]` needs `from`",
    );
    fails(
        &format!("{MINIMAL}[[at]]\nheal = true\n"),
        Some(4),
        Some("at[0].time"),
        "missing",
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    fails(
        &DESIGN_EXAMPLE.replace("nodes = 2000", "nodes = \"2000\""),
        Some(3),
        Some("nodes"),
        "expected a whole number, found a string (\"2000\"); leave out the quotes",
    );
    fails(
        &DESIGN_EXAMPLE.replace("duration = \"120s\"", "duration = 120"),
        Some(5),
        Some("duration"),
        "found the number 120; write a unit in quotes, like \"120s\"",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true", "heal = \"yes\""),
        Some(18),
        Some("at[1].heal"),
        "expected true or false",
    );
    fails(
        &DESIGN_EXAMPLE.replace("[[workload]]", "[workload]"),
        Some(20),
        Some("workload"),
        "write each entry under its own [[workload]] header",
    );
    fails(
        &DESIGN_EXAMPLE.replace("partition = [0.5, 0.5]", "partition = [0.5, \"0.5\"]"),
        Some(15),
        Some("at[0].partition[1]"),
        "expected a number, found a string (\"0.5\"); leave out the quotes",
    );
    fails(
        &DESIGN_EXAMPLE.replace("engine = \"turmoil\"", "engine = \"turmiol\""),
        Some(4),
        Some("engine"),
        "unknown engine \"turmiol\"",
    );
    fails(
        &DESIGN_EXAMPLE.replace("seed = 7", "seed = -7"),
        Some(2),
        Some("seed"),
        "-7 is negative",
    );
    fails(
        &format!("{MINIMAL}network_key = \"abcd\"\n"),
        Some(4),
        Some("network_key"),
        "64 hex characters",
    );
    fails(
        &format!("{MINIMAL}network_key = \"{}\"\n", "g".repeat(64)),
        Some(4),
        Some("network_key"),
        "is not hex",
    );
}

#[test]
fn every_key_names_its_line() {
    // Replace each value of the example, in turn, by a date-time (which no key takes)
    // and check that the error points at that line and key.
    let expected_keys = [
        (1, "name"),
        (2, "seed"),
        (3, "nodes"),
        (4, "engine"),
        (5, "duration"),
        (8, "network.latency"),
        (9, "network.loss"),
        (10, "network.segments"),
        (11, "network.bootstrap"),
        (14, "at[0].time"),
        (15, "at[0].partition"),
        (17, "at[1].time"),
        (18, "at[1].heal"),
        (21, "workload[0].from"),
        (22, "workload[0].lookups"),
        (25, "expect.lookup_success"),
        (26, "expect.lookup_hops_p95"),
    ];
    for (line, key) in expected_keys {
        let text: String = DESIGN_EXAMPLE
            .lines()
            .enumerate()
            .map(|(index, text)| match text.split_once(" = ") {
                Some((name, _)) if index + 1 == line => format!("{name} = 1979-05-27\n"),
                _ => format!("{text}\n"),
            })
            .collect();
        let error = fails(
            &text,
            Some(line),
            Some(key),
            "found a date-time (1979-05-27)",
        );
        assert!(error
            .to_string()
            .starts_with(&format!("scenarios/x.toml:{line}: `{key}`: ")));
    }
}

#[test]
fn durations_are_checked() {
    fails(
        &DESIGN_EXAMPLE.replace("\"120s\"", "\"120\""),
        Some(5),
        Some("duration"),
        "has no unit; write a unit, like \"120s\"",
    );
    fails(
        &DESIGN_EXAMPLE.replace("\"120s\"", "\"0s\""),
        Some(5),
        Some("duration"),
        "is zero",
    );
    fails(
        &DESIGN_EXAMPLE.replace("\"120s\"", "\"101d\""),
        Some(5),
        Some("duration"),
        "longer than",
    );
    fails(
        &DESIGN_EXAMPLE.replace("from = \"70s\"", "from = \"70 sec\""),
        Some(21),
        Some("workload[0].from"),
        "unknown unit `sec`",
    );
    fails(
        &DESIGN_EXAMPLE.replace("max = \"80ms\"", "max = \"-80ms\""),
        Some(8),
        Some("network.latency.max"),
        "negative",
    );
}

#[test]
fn values_out_of_range_are_errors() {
    fails(
        &DESIGN_EXAMPLE.replace("nodes = 2000", "nodes = 1"),
        Some(3),
        Some("nodes"),
        "2 to 1,000,000",
    );
    fails(
        &DESIGN_EXAMPLE.replace("nodes = 2000", "nodes = -5"),
        Some(3),
        Some("nodes"),
        "-5 is out of range",
    );
    fails(
        &DESIGN_EXAMPLE.replace("nodes = 2000", "nodes = 1_000_001"),
        Some(3),
        Some("nodes"),
        "out of range",
    );
    fails(
        &DESIGN_EXAMPLE.replace("loss = 0.01", "loss = 1"),
        Some(9),
        Some("network.loss"),
        "below 1",
    );
    fails(
        &DESIGN_EXAMPLE.replace("loss = 0.01", "loss = nan"),
        Some(9),
        Some("network.loss"),
        "probability",
    );
    fails(
        &DESIGN_EXAMPLE.replace("loss = 0.01", "duplicate = -0.1"),
        Some(9),
        Some("network.duplicate"),
        "not a probability",
    );
    fails(
        &DESIGN_EXAMPLE.replace("max = \"80ms\"", "max = \"61s\""),
        Some(8),
        Some("network.latency.max"),
        "longer than the longest latency, 60s",
    );
    fails(
        &DESIGN_EXAMPLE.replace("segments = 4", "segments = 4000"),
        Some(10),
        Some("network.segments"),
        "only 2000 nodes",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookups = 1000", "lookups = -3"),
        Some(22),
        Some("workload[0].lookups"),
        "negative",
    );
}

#[test]
fn cross_field_rules_are_errors_at_the_right_key() {
    fails(
        &DESIGN_EXAMPLE.replace("min = \"5ms\"", "min = \"100ms\""),
        Some(8),
        Some("network.latency.min"),
        "min 100ms is above max 80ms",
    );
    fails(
        &format!("{MINIMAL}[network]\nlatency = {{ min = \"70ms\" }}\n"),
        Some(5),
        Some("network.latency.min"),
        "above max 50ms (the default)",
    );
    fails(
        &DESIGN_EXAMPLE.replace("time = \"60s\"", "time = \"120s\""),
        Some(17),
        Some("at[1].time"),
        "120s is not before the end of the run (duration = 120s)",
    );
    fails(
        &DESIGN_EXAMPLE.replace("from = \"70s\"", "from = \"115s\""),
        Some(21),
        Some("workload[0].from"),
        "from 115s plus over 10s (the default) ends at 125s",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookups = 1000", "lookups = 1000\nover = \"60s\""),
        Some(23),
        Some("workload[0].over"),
        "ends at 130s",
    );
    fails(
        &DESIGN_EXAMPLE
            .replace("segments = 4", "segments = 0")
            .replace("bootstrap = 3", "bootstrap = 0"),
        Some(11),
        Some("network.bootstrap"),
        "could never meet",
    );
    fails(
        &format!("{MINIMAL}[network]\njoin_window = \"60s\"\n"),
        Some(5),
        Some("network.join_window"),
        "not shorter than the run",
    );
    fails(
        "name = \"x\"\nnodes = 5\nduration = \"2s\"\n",
        Some(3),
        Some("duration"),
        "not longer than network.join_window (2s, the default)",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookups = 1000", "lookups = 0"),
        Some(20),
        Some("workload[0]"),
        "does nothing",
    );
}

#[test]
fn at_actions_are_checked() {
    fails(
        &DESIGN_EXAMPLE.replace("[0.5, 0.5]", "[0.5, 0.4]"),
        Some(15),
        Some("at[0].partition"),
        "the shares add up to 0.9, not 1",
    );
    fails(
        &DESIGN_EXAMPLE.replace("[0.5, 0.5]", "[1.0]"),
        Some(15),
        Some("at[0].partition"),
        "has 1 groups",
    );
    fails(
        &DESIGN_EXAMPLE.replace("[0.5, 0.5]", "[0, 1]"),
        Some(15),
        Some("at[0].partition[0]"),
        "not above 0",
    );
    fails(
        &DESIGN_EXAMPLE.replace("[0.5, 0.5]", "[0.0001, 0.9999]"),
        Some(15),
        Some("at[0].partition"),
        "less than one node",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true", "heal = false"),
        Some(18),
        Some("at[1].heal"),
        "heal = false does nothing",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true", "heal = true\npartition = [0.5, 0.5]"),
        Some(18),
        Some("at[1].heal"),
        "does one thing",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true", "one_way = true"),
        Some(18),
        Some("at[1].one_way"),
        "partition = [...], which is missing",
    );
    fails(
        &DESIGN_EXAMPLE.replace("heal = true\n", ""),
        Some(16),
        Some("at[1]"),
        "does nothing",
    );
    // Inline arrays of inline tables are arrays of tables too.
    let inline = ok(&format!(
        "{MINIMAL}at = [{{ time = \"5s\", heal = true }}]\n"
    ));
    assert_eq!(
        inline.at,
        vec![At {
            time: secs(5),
            action: Action::Heal
        }]
    );
}

#[test]
fn expectations_are_checked() {
    let replace = |with: &str| DESIGN_EXAMPLE.replace("\">= 0.99\"", with);
    fails(
        &replace("\"=> 0.99\""),
        Some(25),
        Some("expect.lookup_success"),
        "did you mean `>=`?",
    );
    fails(
        &replace("\"= 0.99\""),
        Some(25),
        Some("expect.lookup_success"),
        "did you mean `==`?",
    );
    fails(
        &replace("\"~ 0.99\""),
        Some(25),
        Some("expect.lookup_success"),
        "does not start with an operator",
    );
    fails(
        &replace("\">= lots\""),
        Some(25),
        Some("expect.lookup_success"),
        "not a finite number",
    );
    fails(
        &replace("\">= 99%\""),
        Some(25),
        Some("expect.lookup_success"),
        "0.99 rather than 99%",
    );
    fails(
        &replace("\">= 99\""),
        Some(25),
        Some("expect.lookup_success"),
        "a ratio between 0 and 1",
    );
    fails(
        &replace("\"\""),
        Some(25),
        Some("expect.lookup_success"),
        "is empty",
    );
    fails(
        &replace("true"),
        Some(25),
        Some("expect.lookup_success"),
        "expected a string",
    );
    fails(
        &DESIGN_EXAMPLE.replace("\"<= 6\"", "\"6\""),
        Some(26),
        Some("expect.lookup_hops_p95"),
        "a bare number means `>=` only for the ratio metrics",
    );
    fails(
        &DESIGN_EXAMPLE.replace("lookup_hops_p95", "hops_p95"),
        Some(26),
        Some("expect.hops_p95"),
        "unknown metric `hops_p95`",
    );
    let bare = ok(&replace("\"0.95\""));
    assert_eq!((bare.expect[0].op, bare.expect[0].value), (Op::Ge, 0.95));
    assert_eq!(bare.expect[0].text, ">= 0.95");
}

#[test]
fn syntax_errors_name_the_line_and_a_likely_key() {
    fails(
        &DESIGN_EXAMPLE.replace("loss = 0.01", "loss = 0.01.5"),
        Some(9),
        Some("network.loss"),
        "invalid TOML",
    );
    fails(
        &DESIGN_EXAMPLE.replace("from = \"70s\"", "from = \"70s"),
        Some(21),
        Some("workload[0].from"),
        "invalid TOML",
    );
    let duplicate = DESIGN_EXAMPLE.replace("nodes = 2000", "nodes = 2000\nnodes = 3000");
    let error = parse(path(), &duplicate).unwrap_err();
    assert_eq!(error.line, Some(4), "{error}");
    assert!(error.message.contains("duplicate"), "{error}");
    let header = parse(path(), &DESIGN_EXAMPLE.replace("[network]", "[network")).unwrap_err();
    assert_eq!((header.line, header.key), (Some(7), None));
}

#[test]
fn an_unreadable_file_is_an_error_without_a_line() {
    let missing = Path::new("scenarios/does-not-exist.toml");
    let error = load(missing).unwrap_err();
    assert_eq!(
        (error.path.as_path(), error.line, error.key.as_deref()),
        (missing, None, None)
    );
    assert!(
        error.message.starts_with("cannot read the scenario file"),
        "{error}"
    );
}

#[test]
fn parse_duration_reads_a_number_and_a_unit() {
    let accepted = [
        ("30s", secs(30)),
        ("5ms", ms(5)),
        ("250us", Duration::from_micros(250)),
        ("250µs", Duration::from_micros(250)),
        ("1.5s", ms(1500)),
        ("0.1s", ms(100)),
        (".5s", ms(500)),
        ("2m", secs(120)),
        ("1h", secs(3600)),
        ("1d", secs(86_400)),
        (" 10 ms ", ms(10)),
        ("0s", Duration::ZERO),
        ("0.5us", Duration::from_nanos(500)),
    ];
    for (text, expected) in accepted {
        assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
    }
    let rejected = [
        ("30", "write a unit, like \"30s\""),
        ("", "empty"),
        ("-5s", "negative"),
        ("+5s", "leave out the `+`"),
        ("NaN", "not a duration"),
        ("inf", "not a duration"),
        ("1e3s", "unknown unit"),
        ("5 sec", "unknown unit `sec`"),
        ("1.2.3s", "not a number and a unit"),
        (".s", "not a number and a unit"),
        ("0.0000000001s", "more precise than a nanosecond"),
        ("99999999999999999999999999d", "too long"),
        ("213503982335000000d", "too long"),
    ];
    for (text, needle) in rejected {
        let error = parse_duration(text).unwrap_err();
        assert!(
            error.contains(needle),
            "{text:?}: {error:?} should mention {needle:?}"
        );
    }
}

#[test]
fn format_duration_round_trips() {
    let cases = [
        (Duration::ZERO, "0s"),
        (secs(120), "120s"),
        (ms(1500), "1.5s"),
        (ms(80), "80ms"),
        (Duration::from_micros(1250), "1.25ms"),
        (Duration::from_micros(250), "250us"),
        (Duration::from_nanos(500), "0.5us"),
        (secs(7200), "2h"),
        (secs(3 * 86_400), "3d"),
        (Duration::new(5, 1), "5.000000001s"),
    ];
    for (duration, text) in cases {
        assert_eq!(format_duration(duration), text);
        assert_eq!(parse_duration(text), Ok(duration));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..1000 {
        let duration = Duration::from_nanos(rng.next_u64() >> (rng.next_u32() % 64));
        assert_eq!(
            parse_duration(&format_duration(duration)),
            Ok(duration),
            "{duration:?}"
        );
    }
}

#[test]
fn ops_compare_as_written() {
    assert!(Op::Ge.holds(0.99, 0.99) && !Op::Ge.holds(0.98, 0.99));
    assert!(Op::Le.holds(6.0, 6.0) && !Op::Le.holds(7.0, 6.0));
    assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
    assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
    assert!(Op::Eq.holds(0.1 + 0.2, 0.3) && !Op::Eq.holds(3.0, 4.0));
    for op in [Op::Ge, Op::Le, Op::Gt, Op::Lt, Op::Eq] {
        assert!(!op.holds(f64::NAN, 1.0), "{op} holds for NaN");
    }
    let symbols: Vec<&str> = [Op::Ge, Op::Le, Op::Gt, Op::Lt, Op::Eq]
        .map(Op::as_str)
        .to_vec();
    assert_eq!(symbols, [">=", "<=", ">", "<", "=="]);
}

#[test]
fn engine_and_crypto_names_round_trip() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        assert_eq!(engine.to_string().parse::<EngineKind>(), Ok(engine));
    }
    for crypto in [CryptoKind::Real, CryptoKind::Fast, CryptoKind::Auto] {
        assert_eq!(crypto.to_string().parse::<CryptoKind>(), Ok(crypto));
    }
    assert!("Turmoil".parse::<EngineKind>().is_err());
    assert_eq!(CryptoKind::Auto.resolve(1_999), CryptoKind::Real);
    assert_eq!(CryptoKind::Auto.resolve(2_000), CryptoKind::Fast);
    assert_eq!(CryptoKind::Real.resolve(100_000), CryptoKind::Real);
}

#[test]
fn with_nodes_rechecks_what_depends_on_the_count() {
    let scenario = ok(DESIGN_EXAMPLE);
    assert_eq!(
        scenario.clone().with_nodes(10_000).map(|s| s.nodes),
        Ok(10_000)
    );
    let error = scenario.clone().with_nodes(1).unwrap_err();
    assert_eq!((error.line, error.key.as_deref()), (None, Some("nodes")));
    assert!(error.message.starts_with("--nodes 1: "), "{error}");
    let error = scenario.clone().with_nodes(3).unwrap_err();
    assert_eq!(error.key.as_deref(), Some("network.segments"), "{error}");
    let partitioned = ok(&DESIGN_EXAMPLE
        .replace("[0.5, 0.5]", "[0.1, 0.9]")
        .replace("segments = 4", "segments = 1"));
    let error = partitioned.with_nodes(5).unwrap_err();
    assert!(error.message.contains("the partition at 30s"), "{error}");
}

#[test]
fn mangled_files_never_panic() {
    // Seeded, so a failure reproduces: every case prints its seed and iteration.
    const SEED: u64 = 0x5CE7_A210;
    const ALPHABET: &[u8] = b"[]{}=\"'.,#\n 0123456789-_+eE:tfsmhdx\\";
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for iteration in 0..3000 {
        let mut bytes = DESIGN_EXAMPLE.as_bytes().to_vec();
        let edits = 1 + rng.next_u32() % 4;
        for _ in 0..edits {
            let at = rng.next_u32() as usize % (bytes.len() + 1);
            let byte = if rng.next_u32() % 4 == 0 {
                rng.next_u32() as u8
            } else {
                ALPHABET[rng.next_u32() as usize % ALPHABET.len()]
            };
            match rng.next_u32() % 3 {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ if at < bytes.len() => bytes[at] = byte,
                _ => bytes.push(byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let lines = text.lines().count() + 1;
        let outcome = std::panic::catch_unwind(|| parse(path(), &text));
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                assert!(
                    error.line.is_none_or(|line| (1..=lines).contains(&line)),
                    "{error}"
                );
                assert!(!error.message.is_empty());
            }
            Err(_) => {
                panic!("parse panicked; seed {SEED:#x}, iteration {iteration}, input:\n{text}")
            }
        }
    }
}

/// Every ```toml block in the users' guide is a complete scenario that parses.
#[test]
fn the_readme_examples_parse() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("scenarios/README.md exists");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or(""))
        .collect();
    assert!(!blocks.is_empty(), "the README has examples");
    for block in blocks {
        ok(block);
    }
}

/// The scenarios shipped in scenarios/ parse (when there are any yet).
#[test]
fn the_shipped_scenarios_parse() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let Ok(entries) = std::fs::read_dir(&directory) else {
        return;
    };
    let mut files: Vec<_> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    for file in files {
        if let Err(error) = load(&file) {
            panic!("{error}");
        }
    }
}

#[test]
fn record_workloads_leaves_and_record_metrics_parse() {
    let scenario = ok(&format!(
        "{MINIMAL}[[at]]\ntime = \"20s\"\nleave = 0.2\n\n[[workload]]\nfrom = \"5s\"\nputs = 10\ngets = 9\n\
         mutable_puts = 8\nmutable_gets = 7\nannounces = 6\ntopic_lookups = 5\n\n\
         [expect]\nget_success = 0.99\nmutable_latest = \">= 0.9\"\ntopic_recall = \"== 1\"\n"
    ));
    assert_eq!(scenario.at[0].action, Action::Leave { share: 0.2 });
    assert_eq!(Action::leave_count(0.2, scenario.nodes), 10);
    assert_eq!(
        scenario.workload[0],
        Workload {
            from: secs(5),
            over: secs(10),
            puts: 10,
            gets: 9,
            mutable_puts: 8,
            mutable_gets: 7,
            announces: 6,
            topic_lookups: 5,
            ..Workload::default()
        }
    );
    let names: Vec<&str> = scenario.expect.iter().map(|e| e.metric.name()).collect();
    assert_eq!(names, ["get_success", "mutable_latest", "topic_recall"]);
    assert_eq!(scenario.expect[0].text, ">= 0.99");

    let leave = |share: &str| format!("{MINIMAL}[[at]]\ntime = \"20s\"\nleave = {share}\n");
    fails(
        &leave("0"),
        Some(6),
        Some("at[0].leave"),
        "not above 0 and below 1",
    );
    fails(
        &leave("1"),
        Some(6),
        Some("at[0].leave"),
        "not above 0 and below 1",
    );
    fails(
        &leave("0.001"),
        Some(6),
        Some("at[0].leave"),
        "less than one node",
    );
    fails(
        &leave("0.97"),
        Some(6),
        Some("at[0].leave"),
        "at least 2 of the 50 nodes must stay",
    );
    fails(
        &leave("true"),
        Some(6),
        Some("at[0].leave"),
        "expected a number",
    );
    fails(
        &format!("{}one_way = true\n", leave("0.2")),
        Some(7),
        Some("at[0].one_way"),
        "goes with partition, not leave",
    );
    fails(
        &format!("{MINIMAL}[[workload]]\nfrom = \"5s\"\nputs = -1\n"),
        Some(6),
        Some("workload[0].puts"),
        "negative",
    );
    // --nodes rechecks the leaves: 0.2 of 4 nodes is 1 node, of 2 nodes none.
    let small = ok(&format!("{}[network]\nbootstrap = 2\n", leave("0.2")));
    assert!(small.clone().with_nodes(5).is_ok());
    let error = small.with_nodes(2).unwrap_err();
    assert!(error.message.contains("the leave at 20s"), "{error}");
}

#[test]
fn the_pings_workload_parses() {
    let direct = format!("{MINIMAL}engine = \"direct\"\n");
    let scenario = ok(&format!(
        "{direct}[[workload]]\nfrom = \"5s\"\nover = \"20s\"\npings = 500\n\n\
         [expect]\ncontact_ping_success = 0.99\n"
    ));
    assert_eq!(
        scenario.workload[0],
        Workload {
            from: secs(5),
            over: secs(20),
            pings: 500,
            ..Workload::default()
        }
    );
    assert_eq!(scenario.expect[0].metric, Metric::ContactPingSuccess);
    assert_eq!(scenario.expect[0].text, ">= 0.99");

    // Alone, `pings` is work enough for a workload.
    let workload = |value: &str| format!("{direct}[[workload]]\nfrom = \"5s\"\npings = {value}\n");
    assert_eq!(ok(&workload("1")).workload[0].pings, 1);
    fails(
        &workload("-3"),
        Some(7),
        Some("workload[0].pings"),
        "negative",
    );
    fails(
        &workload("\"10\""),
        Some(7),
        Some("workload[0].pings"),
        "leave out the quotes",
    );
    fails(
        &workload("100_000_001"),
        Some(7),
        Some("workload[0].pings"),
        "more than one workload may issue",
    );
    fails(
        &format!("{direct}[[workload]]\nfrom = \"5s\"\npings = 0\n"),
        Some(5),
        Some("workload[0]"),
        "`pings`",
    );
    fails(
        &format!("{direct}[[workload]]\nfrom = \"5s\"\nping = 10\n"),
        Some(7),
        Some("workload[0].ping"),
        "did you mean `pings`?",
    );
    fails(
        &format!("{direct}[expect]\ncontact_ping_success = 1.5\n"),
        Some(6),
        Some("expect.contact_ping_success"),
        "ratio between 0 and 1",
    );

    // Both engines run it.
    let turmoil = ok(&format!(
        "{MINIMAL}[[workload]]\nfrom = \"5s\"\npings = 10\n"
    ));
    assert_eq!(turmoil.engine, EngineKind::Turmoil);
    assert!(scenario.with_engine(EngineKind::Turmoil).is_ok());
}

#[test]
fn the_largest_swarm_fits_the_node_streams() {
    // Node `i` draws from stream `i`, hostile node `i` from `ACTOR + i`: the stream
    // registry sizes both ranges for at most `streams::NODES_MAX` nodes (churn's
    // joiners come on top of `nodes`, and `addr_of` refuses an index past that too).
    use dswarm::harness::streams;
    assert!(NODES_MAX as u64 <= streams::NODES_MAX);
}

#[test]
fn the_lookup_defences_default_on_and_off_and_hold_their_range() {
    let default = ok(MINIMAL).network;
    assert!(default.lookup_one_per_block);
    assert_eq!(default.lookup_disjoint_paths, 1);
    let set = ok(&format!(
        "{MINIMAL}[network]\nlookup_one_per_block = false\nlookup_disjoint_paths = 3\n"
    ))
    .network;
    assert!(!set.lookup_one_per_block);
    assert_eq!(set.lookup_disjoint_paths, 3);
    fails(
        &format!("{MINIMAL}[network]\nlookup_disjoint_paths = 9\n"),
        Some(5),
        Some("network.lookup_disjoint_paths"),
        "write 1",
    );
}

#[test]
fn the_compare_table_defaults_reads_and_refuses_what_it_should() {
    assert_eq!(ok(MINIMAL).compare, CompareSpec::default());
    let set = ok(&format!(
        "{MINIMAL}[compare]\nsuccess = 0.02\nhops_p95 = 0\nlatency_alpha = 0.05\n\
         latency_d = 0.1\nmin_lookups = 20\n"
    ))
    .compare;
    assert_eq!(
        set,
        CompareSpec {
            success: 0.02,
            hops_p95: 0,
            latency_alpha: 0.05,
            latency_d: Some(0.1),
            min_lookups: 20,
        }
    );
    fails(
        &format!("{MINIMAL}[compare]\nsucess = 0.02\n"),
        Some(5),
        Some("compare.sucess"),
        "did you mean `success`?",
    );
    fails(
        &format!("{MINIMAL}[compare]\nlatency_alpha = 0.6\n"),
        Some(5),
        Some("compare.latency_alpha"),
        "at most 0.5",
    );
    fails(
        &format!("{MINIMAL}[compare]\nlatency_alpha = 0\n"),
        Some(5),
        Some("compare.latency_alpha"),
        "above 0",
    );
    fails(
        &format!("{MINIMAL}[compare]\nlatency_d = 1.5\n"),
        Some(5),
        Some("compare.latency_d"),
        "not a probability",
    );
    fails(
        &format!("{MINIMAL}[compare]\nmin_lookups = 0\n"),
        Some(5),
        Some("compare.min_lookups"),
        "at least 1",
    );
    fails(
        &format!("{MINIMAL}[compare]\nhops_p95 = -1\n"),
        Some(5),
        Some("compare.hops_p95"),
        "negative",
    );
    // A key of another table says where it belongs.
    fails(
        &format!("{MINIMAL}[network]\nmin_lookups = 10\n"),
        Some(5),
        Some("network.min_lookups"),
        "belongs in the [compare] table",
    );
}
