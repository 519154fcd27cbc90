//! The turmoil engine as a user sees it: the live driver loop on simulated sockets
//! forms a swarm, answers lookups, replays bit for bit, feels partitions and heals, and
//! finds peers by multicast alone.
//!
//! Every test names its seed; a failure prints how to run it again.

use std::time::Duration;

use dswarm::harness::SwarmConfig;
use dswarm::proto::{Command, NodeId, QueryOutcome, Time};
use dswarm_sim::engine::turmoil::Turmoil;
use dswarm_sim::engine::{Done, Engine};
use dswarm_sim::scenario::NetworkSpec;
use dswarm_sim::world::World;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const REPRODUCE: &str = "reproduce: cargo test -p dswarm-sim --test turmoil_engine";

fn swarm(nodes: usize, seed: u64, segments: usize, bootstrap: usize) -> Turmoil {
    let spec = NetworkSpec {
        latency_min: Duration::from_millis(5),
        latency_max: Duration::from_millis(50),
        segments,
        bootstrap,
        join_window: Duration::from_secs(2),
        ..NetworkSpec::default()
    };
    let config = SwarmConfig {
        nodes,
        seed,
        segments,
        bootstrap_nodes: bootstrap,
        join_window: spec.join_window,
        ..SwarmConfig::default()
    };
    Turmoil::new(config, World::new(seed, nodes, &spec))
}

fn at(seconds: u64) -> Time {
    Time::ZERO + Duration::from_secs(seconds)
}

/// Starts one FIND_NODE per (asker, target) pair, runs until every one has ended
/// (within 30 simulated seconds), and returns how many found their target first.
fn lookups(engine: &mut Turmoil, pairs: &[(usize, usize)]) -> usize {
    let ids = engine.ids();
    for (tag, &(asker, target)) in pairs.iter().enumerate() {
        engine.start(asker, Command::FindNode(ids[target]), tag as u64);
    }
    let deadline = engine.now() + Duration::from_secs(30);
    let mut done: Vec<Done> = Vec::new();
    while done.len() < pairs.len() && engine.now() < deadline {
        let next = engine.now() + Duration::from_millis(100);
        engine.run_until(next);
        engine.drain_finished(&mut done);
    }
    assert_eq!(done.len(), pairs.len(), "every lookup ends; {REPRODUCE}");
    done.iter()
        .filter(|d| found(d, &ids[pairs[d.tag as usize].1]))
        .count()
}

fn found(done: &Done, target: &NodeId) -> bool {
    match &done.result {
        Ok((_, QueryOutcome::Found(result))) => {
            result.closest.first().map(|c| c.id) == Some(*target)
        }
        _ => false,
    }
}

/// `count` (asker, target) pairs of distinct nodes drawn from `seed`, kept when `keep`
/// says so.
fn pairs(
    nodes: usize,
    count: usize,
    seed: u64,
    keep: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    while out.len() < count {
        let asker = (rng.next_u64() % nodes as u64) as usize;
        let target = (rng.next_u64() % nodes as u64) as usize;
        if asker != target && keep(asker, target) {
            out.push((asker, target));
        }
    }
    out
}

#[test]
fn fifty_nodes_form_a_swarm_whose_lookups_find_their_targets() {
    let seed = 11;
    let mut engine = swarm(50, seed, 2, 3);
    assert_eq!(engine.name(), "turmoil");
    engine.run_until(at(20));
    assert_eq!(engine.now(), at(20));
    let tables = engine.table_sizes();
    assert_eq!(
        engine.now(),
        at(20),
        "asking for tables does not move the clock"
    );
    let thin: Vec<_> = tables.iter().enumerate().filter(|(_, &t)| t < 10).collect();
    assert!(
        thin.is_empty(),
        "nodes with < 10 peers: {thin:?}; seed {seed}; {REPRODUCE}"
    );

    let hits = lookups(&mut engine, &pairs(50, 50, seed, |_, _| true));
    assert_eq!(
        hits, 50,
        "lookups that found their target; seed {seed}; {REPRODUCE}"
    );
    let net = engine.net_stats();
    assert!(
        net.delivered > 0 && net.sent >= net.delivered + net.dropped,
        "{net:?}"
    );
    assert_eq!(
        engine.in_flight() as u64,
        net.sent - net.delivered - net.dropped
    );
}

#[test]
fn one_seed_one_trace_and_asking_for_tables_changes_nothing() {
    let run = |seed: u64, peek: bool| {
        let mut engine = swarm(30, seed, 2, 3);
        engine.run_until(at(1)); // amid the joins
        if peek {
            engine.table_sizes();
        }
        engine.run_until(at(4));
        if peek {
            let tables = engine.table_sizes();
            assert!(tables.iter().any(|&t| t > 0));
        }
        engine.run_until(at(6));
        let hits = lookups(&mut engine, &pairs(30, 10, seed, |_, _| true));
        let trace = engine.trace();
        (trace.hash_hex(), trace.len(), hits, engine.net_stats())
    };
    let first = run(5, false);
    let again = run(5, false);
    assert_eq!(first, again, "same seed, same trace; {REPRODUCE}");
    assert!(first.1 > 1000, "a trace of {} entries", first.1);
    assert_eq!(
        run(5, true),
        first,
        "a snapshot of the tables is not part of the run"
    );
    let other = run(6, false);
    assert_ne!(other.0, first.0, "another seed, another trace");
}

#[test]
fn a_partition_cuts_lookups_across_it_and_healing_restores_them() {
    let (seed, n) = (21, 40);
    let mut engine = swarm(n, seed, 2, 3);
    engine.run_until(at(15));
    engine.world_mut().partition(&[0.5, 0.5], false);
    let world = engine.world();
    let groups: Vec<u8> = (0..n)
        .map(|i| world.group(i).expect("partitioned"))
        .collect();
    let across = pairs(n, 20, seed, |a, t| groups[a] != groups[t]);
    let within = pairs(n, 20, seed + 1, |a, t| groups[a] == groups[t]);
    engine.run_until(at(20));
    assert_eq!(lookups(&mut engine, &across), 0, "seed {seed}; {REPRODUCE}");
    assert!(
        lookups(&mut engine, &within) >= 18,
        "seed {seed}; {REPRODUCE}"
    );
    assert!(engine.fates().partitioned > 0);

    engine.world_mut().heal();
    let resumed = engine.now() + Duration::from_secs(15);
    engine.run_until(resumed);
    let healed = lookups(&mut engine, &across);
    assert_eq!(
        healed,
        across.len(),
        "after the heal; seed {seed}; {REPRODUCE}"
    );
}

#[test]
fn multicast_alone_lets_twenty_nodes_find_each_other() {
    let seed = 3;
    let mut engine = swarm(20, seed, 1, 0);
    // Nobody to ask yet: the command is refused, and the refusal comes back as a Done.
    engine.start(0, Command::FindNode(engine.ids()[1]), 99);
    engine.run_until(at(1));
    let mut done = Vec::new();
    engine.drain_finished(&mut done);
    assert_eq!(done.len(), 1);
    assert!(done[0].result.is_err(), "{:?}", done[0].result);

    engine.run_until(at(15));
    let tables = engine.table_sizes();
    assert!(
        tables.iter().all(|&t| t == 19),
        "tables {tables:?}; seed {seed}; {REPRODUCE}"
    );
    let hits = lookups(&mut engine, &pairs(20, 10, seed, |_, _| true));
    assert_eq!(hits, 10, "seed {seed}; {REPRODUCE}");
}
