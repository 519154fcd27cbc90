//! Hostile nodes in the simulator: each kind alone shows its effect refused and
//! counted while honest lookups still succeed; the safety oracles catch a forged
//! record, a forged peer of a topic lookup and a session with the wrong key; hostile runs replay bit for bit; and the
//! hostile scenario (a smaller copy of `scenarios/hostile.toml`) passes.
//!
//! Every run names its scenario and seed: a failure replays with the `reproduce:` line
//! it prints (the scenario text is in this file; write it to a file to replay it).

use std::path::Path;

use dswarm::harness::{addr_of, seed_stream, Network, PORT};
use dswarm::proto::store::{immutable_key, MutableRecord, PeerRecord};
use dswarm::proto::{Command, CryptoSuite, Identity, Key, Time};
use dswarm_sim::engine::direct::Direct;
use dswarm_sim::engine::{Engine, Verified};
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::safety::{Owned, Safety};
use dswarm_sim::scenario::{self, Action, At, HostileKind, Scenario};
use dswarm_sim::world::World;

/// 200 nodes, fast crypto, two multicast segments (so that forged beacons are heard)
/// and the three bootstrap nodes; lookups and records from honest nodes.
fn kind_scenario(hostile: &str) -> String {
    format!(
        r#"name = "hostile-kind"
seed = 3
nodes = 200
engine = "direct"
crypto = "fast"
duration = "45s"

[network]
latency = {{ min = "5ms", max = "80ms" }}
segments = 2
bootstrap = 3
join_window = "5s"

[hostile]
{hostile}

[[workload]]
from = "15s"
over = "8s"
lookups = 200
puts = 40
mutable_puts = 20
announces = 16

[[workload]]
from = "25s"
over = "8s"
gets = 60
mutable_gets = 20
topic_lookups = 8

[expect]
honest_lookup_success = ">= 0.99"
forged_stored = "== 0"
unexpected_sessions = "== 0"
"#
    )
}

fn parse(text: &str) -> Scenario {
    scenario::parse(Path::new("tests/hostile.toml"), text).unwrap()
}

fn run(scenario: &Scenario) -> Report {
    runner::run(scenario, Options::default()).unwrap().report
}

/// Runs one kind alone and checks what holds for every kind: the report counts the
/// hostile nodes, honest lookups succeed, no safety oracle fires, the run passes.
fn run_kind(hostile: &str, kind: HostileKind, count: usize) -> Report {
    let scenario = parse(&kind_scenario(hostile));
    let report = run(&scenario);
    let context = format!(
        "[hostile] {hostile}: reproduce: dswarm run <this scenario> --seed {}\n{}",
        report.seed,
        report.summary()
    );
    println!("{context}");
    let counts = report.hostile;
    let by_kind = match kind {
        HostileKind::Liar => counts.liars,
        HostileKind::Dropper => counts.droppers,
        HostileKind::Forger => counts.forgers,
        HostileKind::Replayer => counts.replayers,
        HostileKind::Flooder => counts.flooders,
        HostileKind::Sybil => counts.sybils,
        HostileKind::Eclipse => counts.eclipsers,
    };
    assert_eq!((by_kind, counts.total()), (count, count), "{context}");
    let success = report
        .metric(dswarm_sim::metric::Metric::HonestLookupSuccess)
        .unwrap();
    assert!(success >= 0.99, "{context}");
    assert!(
        report.safety.records_checked && report.safety.scans > 0,
        "{context}"
    );
    assert!(report.safety.sessions_checked > 0, "{context}");
    assert!(report.safety.holds(), "{context}");
    assert!(report.pass, "{context}");
    report
}

#[test]
fn liars_invented_contacts_are_refused_and_lookups_still_find_their_targets() {
    let report = run_kind("liars = 0.2", HostileKind::Liar, 40);
    let r = report.hostile_refused;
    // An invented id at a real node's address: that node cannot prove the key, so it
    // rejects the handshake, and the honest dialler gives up on it.
    assert!(r.sessions.handshakes_rejected > 0, "{r:?}");
    assert!(r.sessions.handshakes_timed_out > 0, "{r:?}");
}

#[test]
fn droppers_go_unanswered_and_lookups_still_succeed() {
    let report = run_kind("droppers = 0.1", HostileKind::Dropper, 20);
    assert!(report.hostile_refused.requests_timed_out > 0);
    assert_eq!(
        report.records.get_ok, report.records.get,
        "every get finds its record"
    );
}

#[test]
fn forgers_beacons_writes_and_answers_are_refused_and_never_stored() {
    let report = run_kind(
        "forgers = 0.05\nforge_rate = \"1/s\"",
        HostileKind::Forger,
        10,
    );
    let r = report.hostile_refused;
    assert!(r.beacons_forged > 0, "forged beacons are counted: {r:?}");
    assert!(
        r.store.refused_signature > 0,
        "forged writes are refused: {r:?}"
    );
    assert!(r.records_rejected > 0, "forged answers are rejected: {r:?}");
    assert!(
        r.announcements_forged > 0 && r.announcements_stale > 0,
        "forged and stale announcements in topic answers are dropped: {r:?}"
    );
    assert!(report.hostile_activity.forged_writes >= 10 * 40);
    assert!(report.safety.topic_peers_checked > 0);
    assert_eq!(report.safety.forged_stored, 0);
    assert_eq!(report.topics.recall_mean, Some(1.0));
    assert_eq!(
        report.records.get_wrong, 0,
        "no get returns a forged record"
    );
}

#[test]
fn replayed_handshakes_and_frames_are_refused() {
    let report = run_kind("replayers = 0.05", HostileKind::Replayer, 10);
    let r = report.hostile_refused;
    assert!(
        report.hostile_activity.replays > 5_000,
        "{:?}",
        report.hostile_activity
    );
    assert!(
        r.sessions.frames_replayed > 0,
        "a frame replayed into its session: {r:?}"
    );
    assert!(
        r.sessions.frames_unknown_session > 0,
        "a frame replayed elsewhere: {r:?}"
    );
    assert!(
        r.sessions.handshake_unmatched > 0,
        "handshake messages replayed: {r:?}"
    );
    assert_eq!(report.safety.unexpected_sessions, 0);
}

#[test]
fn floods_of_hellos_and_requests_are_throttled() {
    let report = run_kind("flooders = 0.02", HostileKind::Flooder, 4);
    let (a, r) = (report.hostile_activity, report.hostile_refused);
    assert!(a.flood_hellos > 4 * 200 * 40, "{a:?}");
    assert!(
        r.sessions.half_open_refused > a.flood_hellos / 2,
        "most hellos refused: {r:?}"
    );
    assert!(
        r.requests_rate_limited > 0,
        "requests over the rate refused: {r:?}"
    );
}

#[test]
fn sybils_share_addresses_and_fill_no_bucket() {
    let report = run_kind("sybils = 0.1\nsybil_identities = 5", HostileKind::Sybil, 20);
    assert!(report.hostile_refused.contacts_refused_block > 0);
    // Twenty identities behind four addresses, each on its own port.
    let scenario = parse(&kind_scenario("sybils = 0.1\nsybil_identities = 5"));
    let roster = runner::roster(&scenario);
    let groups = roster.sybil_groups();
    assert_eq!(groups.len(), 4);
    let mut world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    world.share_hosts(groups);
    for group in groups {
        let host = addr_of(group[0]);
        for (k, &node) in group.iter().enumerate() {
            let addr = world.addr_of(node);
            assert_eq!((addr.ip(), addr.port()), (host.ip(), PORT + k as u16));
            assert_eq!(world.index_of(addr, scenario.nodes), Some(node));
        }
        // Nobody lives any more at a moved sybil's own address.
        assert_eq!(world.index_of(addr_of(group[1]), scenario.nodes), None);
        assert!(group
            .iter()
            .all(|&n| roster.kind(n) == Some(HostileKind::Sybil)));
        assert!(group.iter().all(|&n| n >= 3), "never a bootstrap node");
    }
}

#[test]
fn liars_and_droppers_run_on_the_turmoil_engine_too() {
    let text = r#"name = "hostile-turmoil"
seed = 5
nodes = 60
duration = "40s"

[network]
segments = 1
bootstrap = 3

[hostile]
liars = 0.05
droppers = 0.05

[[workload]]
from = "8s"
over = "4s"
lookups = 40

[expect]
honest_lookup_success = ">= 0.9"
unexpected_sessions = "== 0"
"#;
    let report = run(&parse(text));
    println!("{}", report.summary());
    assert_eq!(report.engine, "turmoil");
    assert_eq!((report.hostile.liars, report.hostile.droppers), (3, 3));
    assert!(
        !report.safety.records_checked,
        "turmoil keeps the stores to its nodes"
    );
    assert!(report.safety.sessions_checked > 0);
    assert!(report.pass, "{}", report.summary());
}

#[test]
fn same_seed_same_trace_with_every_kind_of_hostile_node() {
    let hostile = "liars = 0.05\ndroppers = 0.05\nforgers = 0.03\nreplayers = 0.03\n\
                   flooders = 0.02\nsybils = 0.05\nsybil_identities = 5\neclipsers = 0.1\n\
                   eclipse_identities = 4";
    let mut scenario = parse(&kind_scenario(hostile));
    scenario.nodes = 120;
    scenario.duration = std::time::Duration::from_secs(30);
    scenario.workload.truncate(1);
    // Hostile nodes leave too: a flooder or forger that left sends nothing more.
    scenario.at.push(At {
        time: std::time::Duration::from_secs(20),
        action: Action::Leave { share: 0.2 },
    });
    let (a, b) = (run(&scenario), run(&scenario));
    assert_eq!(a.departed, 24);
    assert!(a.safety.holds(), "{}", a.summary());
    assert_eq!(
        a.trace_hash, b.trace_hash,
        "reproduce: seed {}",
        scenario.seed
    );
    assert_eq!(a.trace_entries, b.trace_entries);
    assert_eq!(a.hostile_activity, b.hostile_activity);
    scenario.seed += 1;
    let c = run(&scenario);
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another run");
}

/// Two nodes' worth of oracle input: ids of real identities, node 1 hostile.
fn oracle() -> (Safety, Vec<Identity>) {
    let mut rng = seed_stream(9, 0);
    let identities: Vec<Identity> = (0..3).map(|_| Identity::from_rng(&mut rng)).collect();
    let ids = identities.iter().map(Identity::id).collect();
    let crypto = CryptoSuite::Real.implementation();
    (
        Safety::new(ids, vec![true, false, true], crypto),
        identities,
    )
}

#[test]
fn the_safety_oracle_catches_forged_records() {
    let (mut safety, identities) = oracle();
    let crypto = CryptoSuite::Real.implementation();
    let owner = &identities[0];
    let genuine = MutableRecord::sign(crypto, owner, b"salt".to_vec(), 3, b"value".to_vec());
    safety.note_command(
        0,
        &Command::MutablePut {
            salt: b"salt".to_vec(),
            value: b"value".to_vec(),
            seq: None,
        },
    );
    // What an honest owner wrote, and a hostile node's own record: both fine.
    safety.check_record(2, &Owned::Mutable(genuine.clone()));
    let own = MutableRecord::sign(crypto, &identities[1], vec![1], 1, vec![2]);
    safety.check_record(2, &Owned::Mutable(own));
    let value = b"immutable".to_vec();
    let key = immutable_key(&value);
    safety.check_record(2, &Owned::Immutable { key, value });
    // Broken inputs: a bad signature, a validly signed record its honest owner never
    // wrote, a value under another key.
    let mut bad_signature = genuine.clone();
    bad_signature.signature[0] ^= 1;
    safety.check_record(2, &Owned::Mutable(bad_signature.clone()));
    safety.check_record(2, &Owned::Mutable(bad_signature)); // counted once
    let unwritten = MutableRecord::sign(crypto, owner, b"salt".to_vec(), 4, b"other".to_vec());
    safety.check_record(2, &Owned::Mutable(unwritten));
    let forged_value = Owned::Immutable {
        key: Key([7; 32]),
        value: b"not that".to_vec(),
    };
    safety.check_record(0, &forged_value);
    // A hostile node's store is none of the oracle's business.
    safety.check_record(1, &forged_value);
    let report = finish(safety);
    assert_eq!(report.forged_stored, 3, "{report:#?}");
    assert!(!report.holds());
    assert!(report.violations[0].contains("node 2 (honest) stores a forged record"));
    assert!(report.violations[0].contains("signature does not verify"));
    assert!(report.violations[1].contains("its owner never wrote"));
    assert!(report.violations[2].contains("does not hash to it"));
}

#[test]
fn the_safety_oracle_catches_forged_peers_of_a_topic_lookup() {
    let (mut safety, identities) = oracle();
    let ids: Vec<_> = identities.iter().map(Identity::id).collect();
    let topic = Key([3; 32]);
    safety.note_command(
        0,
        &Command::Announce {
            topic,
            relays: Vec::new(),
        },
    );
    let peer = |id, relays: Vec<std::net::SocketAddr>| PeerRecord {
        public_key: id,
        relays,
    };
    let relay = addr_of(1);
    // What node 0 announced, the hostile node's own announcement, and node 2's own
    // declaration of its relays: all fine.
    safety.check_topic_peers(2, topic, &[peer(ids[0], vec![]), peer(ids[1], vec![relay])]);
    safety.check_topic_peers(0, Key(*ids[2].as_bytes()), &[peer(ids[2], vec![relay])]);
    // An announcer no node is, node 0 with relays it never gave, node 2 under a topic
    // it never announced.
    let invented = peer(dswarm::proto::NodeId([9; 32]), vec![]);
    safety.check_topic_peers(
        2,
        topic,
        &[
            invented.clone(),
            peer(ids[0], vec![relay]),
            peer(ids[2], vec![]),
        ],
    );
    // Counted once.
    safety.check_topic_peers(2, topic, std::slice::from_ref(&invented));
    // What a hostile node's lookup returns is its own business.
    safety.check_topic_peers(1, topic, &[invented]);
    let report = finish(safety);
    assert_eq!(report.topic_peers_checked, 7, "{report:#?}");
    assert_eq!(report.forged_stored, 3, "{report:#?}");
    assert!(!report.holds());
    assert!(report.violations[0].contains("node 2 (honest) accepted a forged announcement"));
    assert!(report.violations[0].contains("nobody could sign"));
    assert!(report.violations[1].contains("honest node 0"));
    assert!(report.violations[2].contains("it never made"));
}

#[test]
fn the_safety_oracle_catches_a_session_with_the_wrong_key() {
    let (mut safety, identities) = oracle();
    let at = Time::ZERO;
    let (a, b) = (identities[0].id(), identities[2].id());
    // Node 0 proved node 2's key at node 2's address: expected.
    let ok = Verified {
        at,
        node: 0,
        peer: b,
        addr: addr_of(2),
    };
    safety.check_session(ok, Some(2));
    // Node 2 proved node 0's key at node 1's address, and a key at nobody's.
    let wrong = Verified {
        at,
        node: 2,
        peer: a,
        addr: addr_of(1),
    };
    safety.check_session(wrong, Some(1));
    safety.check_session(
        Verified {
            addr: addr_of(99),
            ..wrong
        },
        None,
    );
    // Node 1 is hostile: what it opens is its own business.
    safety.check_session(Verified { node: 1, ..wrong }, Some(1));
    let report = finish(safety);
    assert_eq!(
        (report.sessions_checked, report.unexpected_sessions),
        (3, 2)
    );
    assert!(report.violations[0].contains("node 2 (honest) opened a session"));
    assert!(report.violations[0].contains("the key of node 0"));
    assert!(report.violations[1].contains("no node lives at 10.0.0.100:7000"));
}

/// The oracle's report without an engine: what [`Safety::finish`] gives, less the
/// last scan.
fn finish(safety: Safety) -> dswarm_sim::safety::SafetyReport {
    safety.report().clone()
}

#[test]
fn a_tampered_copy_of_a_record_an_honest_node_holds_fails_the_run() {
    // A real swarm, a real record in a real honest store; the oracle is handed a copy
    // with one byte of its signature changed, as a broken store would hold it.
    let scenario = parse(&kind_scenario("liars = 0.05"));
    let roster = runner::roster(&scenario);
    let config = runner::swarm_config_with(&scenario, &roster);
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Direct::new(config, world);
    engine.run_until(Time::ZERO + std::time::Duration::from_secs(10));
    let writer = (0..scenario.nodes).find(|&n| roster.is_honest(n)).unwrap();
    let put = Command::MutablePut {
        salt: b"s".to_vec(),
        value: b"v".to_vec(),
        seq: None,
    };
    let mut safety = Safety::new(
        engine.ids(),
        roster.honest(),
        CryptoSuite::Fast.implementation(),
    );
    safety.note_command(writer, &put);
    engine.start(writer, put, 0);
    engine.run_until(Time::ZERO + std::time::Duration::from_secs(20));
    let mut held = Vec::new();
    engine.scan_stores(&mut |node, record| {
        if roster.is_honest(node) {
            held.push((node, record));
        }
    });
    let (holder, record) = held
        .into_iter()
        .find(|(_, r)| matches!(r, Owned::Mutable(_)))
        .expect("an honest node holds the record");
    safety.check_record(holder, &record);
    assert!(safety.report().holds(), "the record as held is genuine");
    let Owned::Mutable(mut tampered) = record else {
        unreachable!()
    };
    tampered.signature[5] ^= 0x40;
    safety.check_record(holder, &Owned::Mutable(tampered));
    let mut report = run(&parse(&kind_scenario("liars = 0.05")));
    assert!(report.pass);
    report.safety = safety.report().clone();
    report.check(&parse(&kind_scenario("liars = 0.05")).expect);
    assert!(!report.pass, "a violation fails the run");
    let summary = report.summary();
    assert!(
        summary.contains(&format!(
            "SAFETY VIOLATED: node {holder} (honest) stores a forged record"
        )),
        "{summary}"
    );
    assert!(
        summary.contains("FAIL forged_stored == 0 (measured 1)"),
        "{summary}"
    );
}

#[test]
fn the_hostile_scenario_passes_at_a_quarter_of_its_size() {
    // scenarios/hostile.toml itself: 2,000 nodes, about 100 s of release CPU time.
    let full = scenario::load(Path::new("../scenarios/hostile.toml")).unwrap();
    assert_eq!(full.nodes, 2000);
    let counts: Vec<usize> = HostileKind::ALL
        .iter()
        .map(|&k| full.hostile.count(k, full.nodes))
        .collect();
    assert_eq!(counts, [200, 100, 40, 40, 20, 0, 0]);
    let small = scenario::load(Path::new("tests/data/hostile-small.toml")).unwrap();
    assert_eq!(
        small.hostile, full.hostile,
        "the same hostile shares and rates"
    );
    let report = run(&small);
    println!(
        "reproduce: dswarm run tests/data/hostile-small.toml --seed {}\n{}",
        small.seed,
        report.summary()
    );
    assert!(report.pass, "{}", report.summary());
    assert!(report.hostile_refused.beacons_forged > 0);
    assert!(report.hostile_refused.store.refused_signature > 0);
    assert!(report.hostile_refused.sessions.half_open_refused > 0);
    assert!(report.hostile_refused.sessions.frames_replayed > 0);
}
