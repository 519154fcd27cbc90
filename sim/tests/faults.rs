//! Hard networks, end to end and small: clock skew, crashes and restarts, churn and NAT
//! as a user sees them in a run's report, and what the engines do underneath.
//!
//! Every scenario here is a string with its seed; a failure prints the report and the
//! scenario, which replays with `dswarm run FILE --seed N`.

use std::path::Path;
use std::time::Duration;

use dswarm::harness::{Network, UNIX_START};
use dswarm::proto::Time;
use dswarm_sim::engine::direct::Direct;
use dswarm_sim::engine::{Engine, Verified};
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind, Scenario};
use dswarm_sim::world::nat::{node_of_public, NatKind};
use dswarm_sim::world::World;

fn parse(text: &str) -> Scenario {
    scenario::parse(Path::new("faults.toml"), text).unwrap()
}

fn run(scenario: &Scenario) -> Report {
    runner::run(scenario, Options::default()).unwrap().report
}

fn context(report: &Report, text: &str) -> String {
    format!(
        "reproduce: dswarm run faults.toml --seed {} --engine {}\n{}\n---\n{text}",
        report.seed,
        report.engine,
        report.summary()
    )
}

fn at(seconds: u64) -> Time {
    Time::ZERO + Duration::from_secs(seconds)
}

const CRASH: &str = r#"
name = "crash-small"
seed = 4
nodes = 150
engine = "direct"
crypto = "fast"
duration = "150s"

[network]
segments = 2
join_window = "5s"

[[at]]
time = "30s"
crash = 0.2

[[at]]
time = "50s"
restart = true

[[workload]]
from = "20s"
over = "120s"
lookups = 600
"#;

#[test]
fn crashed_nodes_come_back_and_rejoin_the_tables() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = parse(CRASH).with_engine(engine).unwrap();
        let report = run(&scenario);
        let why = context(&report, CRASH);
        let churn = report.churn;
        // 20 % of the 150 nodes in the swarm; bootstrap nodes never crash.
        assert_eq!((churn.crashed, churn.restarted), (30, 30), "{why}");
        assert_eq!((churn.left, churn.joined), (0, 0), "{why}");
        assert_eq!(churn.restarted_here, 30, "{why}");
        assert_eq!(
            churn.restarted_listable, 30,
            "no NATs: all can be listed: {why}"
        );
        assert_eq!(
            churn.restarted_known, 30,
            "every restarted node is back in a table: {why}"
        );
        assert_eq!(report.departed, 0, "a crash is no departure: {why}");
        // Lookups from 110 s (60 s after the restart) count for the liveness check.
        assert_eq!(report.lookups_after_faults.from_seconds, 110.0, "{why}");
        assert_eq!(report.lookups_after_faults.issued, 150, "{why}");
        assert!(report.lookups_after_faults.succeeded > 0, "{why}");
        assert!(report.lookups.succeeded > 0, "{why}");
        // Same seed, same run.
        assert_eq!(run(&scenario).trace_hash, report.trace_hash, "{why}");
    }
}

const NAT_CRASH: &str = r#"
name = "nat-crash-small"
seed = 5
nodes = 120
engine = "direct"
crypto = "fast"
duration = "130s"

[network]
segments = 0
nat = { open = 0.4, consistent = 0.4, random = 0.2 }

[[at]]
time = "30s"
crash = 0.2

[[at]]
time = "40s"
restart = true

[[workload]]
from = "20s"
over = "100s"
lookups = 400

[expect]
restarted_known = ">= 0.99"
lookup_success_after_faults = ">= 0.99"
"#;

/// Issue 25: restarted nodes behind NATs are in no routing table, by design, so
/// `restarted_known` counts only those that can be listed, and lookups find the
/// others by their declaration once they are back.
#[test]
fn restarted_nodes_behind_nats_are_found_but_not_counted_as_missing_from_tables() {
    let scenario = parse(NAT_CRASH);
    let report = run(&scenario);
    let why = context(&report, NAT_CRASH);
    let churn = report.churn;
    assert_eq!((churn.crashed, churn.restarted_here), (24, 24), "{why}");
    // Some of them are behind NATs: counted among those here, not those that can be
    // listed (the share, 10 of 24, was the whole `restarted_known` once).
    assert!(
        churn.restarted_listable > 0 && churn.restarted_listable < churn.restarted_here,
        "{why}"
    );
    assert_eq!(churn.restarted_known, churn.restarted_listable, "{why}");
    assert!(report.lookups.declared > 0, "{why}");
    assert!(report.pass, "{why}");
}

/// The HTML report shows the faults beside the expectations.
#[test]
fn the_html_report_has_a_faults_table() {
    let scenario = parse(CRASH);
    let run = runner::run(&scenario, Options::default()).unwrap();
    let page = dswarm_sim::html::render(&run.report, &run.series, "dswarm run faults.toml");
    assert!(page.contains("<table id=\"faults\">"), "{page}");
    assert!(page.contains("<tr><td>nodes that crashed</td><td>30</td></tr>"));
    assert!(page.contains("lookups from 110 s on (after faults)"));
}

/// The engine underneath: a crashed node is off the network with its old state; a
/// restart builds a new process with the same key that bootstraps again, from the
/// bootstrap nodes or, with `keep_table`, from the contacts it had.
#[test]
fn a_restart_is_a_new_process_with_the_same_key() {
    let scenario = parse(CRASH);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Direct::new(runner::swarm_config(&scenario), world);
    engine.run_until(at(20));
    let (a, b) = (100, 101);
    let ids = engine.ids();
    let old_tables = [a, b].map(|node| engine.swarm().nodes()[node].table().len());
    for (node, old_table) in [a, b].into_iter().zip(old_tables) {
        assert!(
            old_table > 10,
            "node {node} knows {old_table} peers before the crash"
        );
    }
    engine.crash(&[a, b]);
    engine.run_until(at(25));
    assert!(engine.swarm().is_down(a) && engine.swarm().is_down(b));
    let received = engine.swarm().nodes()[a].stats().datagrams_received;
    engine.run_until(at(30));
    assert_eq!(
        engine.swarm().nodes()[a].stats().datagrams_received,
        received,
        "a crashed node receives nothing"
    );

    engine.restart(&[a], false);
    engine.restart(&[b], true);
    for node in [a, b] {
        assert!(!engine.swarm().is_down(node));
        assert_eq!(engine.swarm().nodes()[node].id(), ids[node], "same key");
        assert_eq!(
            engine.swarm().nodes()[node].table().len(),
            0,
            "an empty table"
        );
        assert_eq!(engine.swarm().nodes()[node].stats().datagrams_received, 0);
    }
    let bootstrap = |node: usize| engine.swarm().nodes()[node].config().bootstrap.len();
    assert_eq!(bootstrap(a), 3, "the bootstrap nodes");
    // (It used to be compared with a's old table, which was as full as b's while
    // the join filled every far bucket.)
    assert!(
        bootstrap(b) >= old_tables[1],
        "its {} old contacts: {}",
        old_tables[1],
        bootstrap(b)
    );
    engine.run_until(at(45));
    for node in [a, b] {
        let peers = engine.swarm().nodes()[node].table().len();
        assert!(peers > 10, "node {node} bootstrapped again: {peers} peers");
    }
}

const CHURN: &str = r#"
name = "churn-small"
seed = 2
nodes = 200
engine = "direct"
crypto = "fast"
duration = "400s"
churn = { leave = "3%/min", join = "3%/min", from = "30s", until = "300s" }

[network]
segments = 0
join_window = "10s"

[[workload]]
from = "20s"
over = "370s"
lookups = 1000

[expect]
lookup_success = ">= 0.99"
lookup_success_after_faults = ">= 0.999"
"#;

#[test]
fn churn_swaps_nodes_and_lookups_follow_the_live_swarm() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = parse(CHURN).with_engine(engine).unwrap();
        let report = run(&scenario);
        let why = context(&report, CHURN);
        // 3 % of 200 nodes a minute for 270 s: 27 each way.
        assert_eq!((report.churn.left, report.churn.joined), (27, 27), "{why}");
        assert_eq!(report.departed, 27, "{why}");
        assert_eq!(report.lookups.issued, 1000, "{why}");
        assert_eq!(report.lookups_after_faults.from_seconds, 360.0, "{why}");
        assert!(report.pass, "{why}");
        // The joiners are in the swarm at the end, with tables of their own: the
        // smallest table of the nodes still here is a joined node's or an old one's.
        assert!(report.tables.min > 20, "{why}");
        assert_eq!(run(&scenario).trace_hash, report.trace_hash, "{why}");
    }
}

#[test]
fn joiners_have_keys_of_their_own() {
    let scenario = parse(CHURN);
    let config = runner::swarm_config(&scenario);
    assert_eq!(config.nodes, 227);
    assert_eq!(config.dormant, 27);
    let world = World::new(scenario.seed, config.nodes, &scenario.network);
    let mut engine = Direct::new(config, world);
    let mut ids = engine.ids();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 227, "every node, joiners too, has its own key");
    engine.run_until(at(20));
    assert!(engine.swarm().is_down(210), "a joiner waits for its moment");
    assert_eq!(engine.swarm().nodes()[210].table().len(), 0);
    engine.join(&[210]);
    engine.run_until(at(30));
    assert!(engine.swarm().nodes()[210].table().len() > 20);
}

/// A partition while churn brings new nodes: `tests/data/partition-churn.toml`.
const PARTITION_CHURN: &str = "tests/data/partition-churn.toml";

#[test]
fn a_partition_holds_nodes_that_join_while_it_lasts() {
    // Nodes that join mid-run sit past the scenario's `nodes`; a partition once drew
    // groups for the first `nodes` only, and the first datagram of a joiner while it
    // held panicked (`index out of bounds` in `World::cut`).
    let scenario = scenario::load(Path::new(PARTITION_CHURN)).unwrap();
    let text = std::fs::read_to_string(PARTITION_CHURN).unwrap();
    let churn = scenario.churn.as_ref().unwrap();
    let joins = churn.joins(scenario.nodes);
    let during = (0..joins)
        .map(|k| churn.moment(k, joins))
        .filter(|t| (Duration::from_secs(20)..Duration::from_secs(60)).contains(t))
        .count();
    assert!(during >= 4, "joiners come in while the partition holds");
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = scenario.clone().with_engine(engine).unwrap();
        let report = run(&scenario);
        let why = context(&report, &text);
        assert_eq!(report.churn.joined, joins, "{why}");
        assert_eq!(report.sim_seconds, 150.0, "the run reaches its end: {why}");
        assert!(report.faults.partitioned > 0, "{why}");
        assert!(report.pass, "{why}");
        assert_eq!(run(&scenario).trace_hash, report.trace_hash, "{why}");
    }
    // Every node of the run is in a group, the joiners (the last ones) too.
    let config = runner::swarm_config(&scenario);
    let mut world = World::new(scenario.seed, config.nodes, &scenario.network);
    world.partition(&[0.5, 0.5], false);
    assert!((0..config.nodes).all(|node| world.group(node).is_some()));
}

const SKEW: &str = r#"
name = "skew-small"
seed = 5
nodes = 80
engine = "direct"
crypto = "real"
duration = "100s"

[network]
segments = 2
clock_skew = { offset = "30s", drift = 0.01 }

[[workload]]
from = "20s"
over = "20s"
puts = 40
announces = 16

[[workload]]
from = "45s"
over = "40s"
lookups = 200
gets = 100
topic_lookups = 20

[expect]
lookup_success = ">= 0.99"
get_success = ">= 0.99"
topic_recall = ">= 0.99"
"#;

#[test]
fn skewed_clocks_still_find_and_fetch() {
    let scenario = parse(SKEW);
    let report = run(&scenario);
    let why = context(&report, SKEW);
    assert!(report.pass, "{why}");
    assert_eq!(run(&scenario).trace_hash, report.trace_hash, "{why}");
    // The turmoil engine runs the offsets (its nodes share one clock: no drift).
    let text = SKEW.replace(", drift = 0.01", "");
    let scenario = parse(&text).with_engine(EngineKind::Turmoil).unwrap();
    let report = run(&scenario);
    assert!(report.pass, "{}", context(&report, &text));
}

/// Each node reads its own clocks: its wall clock is off by its drawn offset and runs
/// at its drawn rate.
#[test]
fn each_node_keeps_its_own_time() {
    let scenario = parse(SKEW);
    let config = runner::swarm_config(&scenario);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Direct::new(config.clone(), world);
    engine.run_until(at(50));
    let mut offsets = Vec::new();
    for node in 0..scenario.nodes {
        let clock = config.clock(node);
        assert!(clock.offset_micros.abs() <= 30_000_000 && clock.drift.abs() <= 0.01);
        let local = clock.local(at(50));
        let wall = engine.swarm().nodes()[node].unix_secs(local);
        let expected = UNIX_START.as_secs() as f64
            + clock.offset_micros as f64 / 1e6
            + 50.0 * (1.0 + clock.drift);
        assert!(
            (wall as f64 - expected).abs() <= 1.0,
            "node {node}: {wall} vs {expected}"
        );
        offsets.push(clock.offset_micros);
    }
    let spread = offsets.iter().max().unwrap() - offsets.iter().min().unwrap();
    assert!(
        spread > 40_000_000,
        "offsets spread over the range: {spread} µs"
    );
}

const NAT: &str = r#"
name = "nat-small"
seed = 3
nodes = 60
crypto = "fast"
duration = "40s"

[network]
segments = 0
nat = { open = 0.4, consistent = 0.4, random = 0.2 }

[[workload]]
from = "20s"
over = "10s"
lookups = 100
"#;

/// On every engine, sessions with NATed nodes run at their public addresses, the
/// safety oracle finds the right node behind each, and NATs drop what their filters
/// refuse.
#[test]
fn natted_nodes_are_seen_at_public_addresses_on_every_engine() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil, EngineKind::Live] {
        // Live nodes run the real crypto suite only.
        let text = match engine {
            EngineKind::Live => NAT.replace("crypto = \"fast\"", "crypto = \"real\""),
            _ => NAT.to_owned(),
        };
        let scenario = parse(&text).with_engine(engine).unwrap();
        let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
        let kinds: Vec<NatKind> = (0..scenario.nodes).map(|n| world.nat_kind(n)).collect();
        assert_eq!(
            kinds.iter().filter(|&&k| k == NatKind::Consistent).count(),
            24
        );
        assert_eq!(kinds.iter().filter(|&&k| k == NatKind::Random).count(), 12);
        let config = runner::swarm_config(&scenario);
        let mut built: Box<dyn Engine> = match engine {
            EngineKind::Direct => Box::new(Direct::new(config, world)),
            EngineKind::Turmoil => {
                Box::new(dswarm_sim::engine::turmoil::Turmoil::new(config, world))
            }
            EngineKind::Live => Box::new(dswarm_sim::engine::live::Live::new(config, world, 2)),
        };
        built.watch_sessions();
        built.run_until(at(15));
        let mut sessions: Vec<Verified> = Vec::new();
        built.drain_verified(&mut sessions);
        let ids = built.ids();
        let mut public = 0;
        for v in &sessions {
            let peer = ids.iter().position(|id| *id == v.peer).unwrap();
            match kinds[peer] {
                NatKind::Open => assert_eq!(v.addr, dswarm::harness::addr_of(peer)),
                _ => {
                    assert_eq!(node_of_public(v.addr.ip()), Some(peer), "{engine}: {v:?}");
                    public += 1;
                }
            }
            assert_eq!(built.world().index_of(v.addr, ids.len()), Some(peer));
        }
        assert!(
            public > 50,
            "{engine}: {public} sessions at public addresses"
        );
        assert!(
            built.world().stats(built.fates()).nat_dropped > 0,
            "{engine}"
        );
        drop(built);
        let report = run(&scenario);
        assert_eq!(report.safety.unexpected_sessions, 0, "{}", report.summary());
        assert!(report.faults.nat_dropped > 0, "{}", report.summary());
    }
}

/// A graceful departure tells the node's peers at once: they drop it from their
/// tables, where a silent one lingers until timeouts find it out.
#[test]
fn a_goodbye_empties_the_peers_tables_at_once() {
    let scenario = parse(CRASH);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Direct::new(runner::swarm_config(&scenario), world);
    engine.run_until(at(20));
    let ids = engine.ids();
    let holders = |engine: &Direct, node: usize| {
        (0..ids.len())
            .filter(|&n| !engine.swarm().is_down(n))
            .filter(|&n| engine.swarm().nodes()[n].table().get(&ids[node]).is_some())
            .count()
    };
    let (polite, silent) = (90, 91);
    let before = (holders(&engine, polite), holders(&engine, silent));
    assert!(before.0 > 10 && before.1 > 10, "{before:?}");
    engine.leave_gracefully(&[polite]);
    engine.leave(&[silent]);
    engine.run_until(at(21));
    assert!(engine.swarm().is_down(polite));
    assert_eq!(
        holders(&engine, polite),
        0,
        "every peer dropped the node that said goodbye"
    );
    assert!(
        holders(&engine, silent) > before.1 / 2,
        "a silent leave lingers"
    );
}

const CONNECT: &str = r#"
name = "connect-small"
seed = 6
nodes = 100
crypto = "fast"
duration = "90s"

[network]
segments = 0
nat = { open = 0.4, consistent = 0.4, random = 0.2 }

[[workload]]
from = "40s"
over = "20s"
connects = 150

[expect]
connect_success = ">= 0.99"
"#;

/// Random pairs connect by every path the NATs allow, on both engines, and the report
/// splits them by the NATs of the two ends.
#[test]
fn connects_find_a_path_between_every_kind_of_nat() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = parse(CONNECT).with_engine(engine).unwrap();
        let report = run(&scenario);
        let why = context(&report, CONNECT);
        let connect = &report.connect;
        assert_eq!(connect.total.attempts, 150, "{why}");
        let by_pair: u64 = connect.by_nat.values().map(|k| k.attempts).sum();
        assert_eq!(by_pair, 150, "{why}");
        assert_eq!(
            connect.by_nat.len(),
            9,
            "every pair of NATs is drawn: {why}"
        );
        let open = &connect.by_nat["open->open"];
        assert_eq!(
            open.direct, open.attempts,
            "open nodes connect directly: {why}"
        );
        assert_eq!(connect.by_nat["random->random"].punched, 0, "{why}");
        assert!(
            connect.total.punched > 0 && connect.total.relayed > 0,
            "{why}"
        );
        assert_eq!(
            report.safety.relay_readable, 0,
            "relays see ciphertext only: {why}"
        );
        assert!(report.pass, "{why}");
        if engine == EngineKind::Direct {
            assert_eq!(run(&scenario).trace_hash, report.trace_hash, "{why}");
        }
    }
}

const MAILBOX: &str = r#"
name = "mailbox-small"
seed = 3
nodes = 300
engine = "direct"
crypto = "fast"
duration = "80s"

[network]
segments = 2
mailbox = true

[[workload]]
from = "30s"
over = "20s"
connects = 200

[expect]
connect_success = ">= 0.99"
"#;

/// With mailboxes, a peer on the asker's segment that the asker does not know yet
/// answers at its mailbox; one on the other segment is found by FIND_PEER.
#[test]
fn peers_on_the_segment_answer_at_their_mailbox() {
    let report = run(&parse(MAILBOX));
    let why = context(&report, MAILBOX);
    let connect = &report.connect.total;
    assert_eq!(connect.attempts, 200, "{why}");
    assert!(connect.mailbox > 0, "some went through a mailbox: {why}");
    assert!(
        connect.direct > connect.mailbox,
        "the other segment's go straight: {why}"
    );
    assert!(report.pass, "{why}");
}

/// The same on the turmoil engine: the driver loop says goodbye in the next step, and
/// the node is off the network at the end of it.
#[test]
fn a_goodbye_reaches_the_peers_on_the_turmoil_engine_too() {
    use dswarm_sim::engine::turmoil::Turmoil;
    let scenario = parse(CRASH);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Turmoil::new(runner::swarm_config(&scenario), world);
    engine.run_until(at(20));
    let ids = engine.ids();
    let holders = |engine: &Turmoil, node: usize| {
        (0..ids.len())
            .filter(|&n| n != node && engine.contacts(n).contains(&ids[node]))
            .count()
    };
    let (polite, silent) = (90, 91);
    let before = (holders(&engine, polite), holders(&engine, silent));
    assert!(before.0 > 10 && before.1 > 10, "{before:?}");
    engine.leave_gracefully(&[polite]);
    engine.leave(&[silent]);
    engine.run_until(at(21));
    assert_eq!(
        holders(&engine, polite),
        0,
        "every peer dropped the node that said goodbye"
    );
    assert!(
        holders(&engine, silent) > before.1 / 2,
        "a silent leave lingers"
    );
}
