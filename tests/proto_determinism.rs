//! Same seed, same run: every datagram (time, source, destination, bytes) and every
//! event, twice over. Another seed gives another run.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{Command, Event, Time};

/// A run that exercises beacons, bootstrap, loss, retries and lookups.
fn run(seed: u64) -> (String, Vec<(Time, usize, Event)>) {
    run_on(seed, 1)
}

/// [`run`] on `threads` threads.
fn run_on(seed: u64, threads: usize) -> (String, Vec<(Time, usize, Event)>) {
    let config = SwarmConfig {
        nodes: 200,
        seed,
        loss: 0.02,
        segments: 4,
        threads,
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(config);
    assert_eq!(swarm.threads(), threads);
    swarm.record_events();
    swarm.run_until(Time::ZERO + Duration::from_secs(10));
    let ids = swarm.ids();
    for i in 0..50 {
        let _ = swarm.start(i * 3 % 200, Command::FindNode(ids[(i * 7 + 1) % 200]));
        let _ = swarm.start(i * 5 % 200, Command::PingClosest(3));
        let next = swarm.now() + Duration::from_millis(20);
        swarm.run_until(next);
    }
    swarm.run_until(Time::ZERO + Duration::from_secs(20));
    (swarm.trace_hash(), swarm.events().to_vec())
}

#[test]
fn same_seed_same_datagrams_and_events() {
    let (hash_a, events_a) = run(42);
    let (hash_b, events_b) = run(42);
    assert!(
        events_a.len() > 1000,
        "the run did something: {} events",
        events_a.len()
    );
    assert_eq!(events_a, events_b, "reproduce: seed 42");
    assert_eq!(hash_a, hash_b, "reproduce: seed 42");
}

#[test]
fn another_seed_another_run() {
    let (hash_a, events_a) = run(42);
    let (hash_b, events_b) = run(43);
    assert_ne!(hash_a, hash_b);
    assert_ne!(events_a, events_b);
}

#[test]
fn one_thread_or_four_same_datagrams_and_events() {
    let (hash_one, events_one) = run_on(7, 1);
    let (hash_four, events_four) = run_on(7, 4);
    assert_eq!(hash_one, hash_four);
    assert_eq!(
        events_one, events_four,
        "the same events, in the same order"
    );
}

#[test]
fn a_network_without_a_smallest_latency_runs_on_one_thread_and_says_why() {
    let config = SwarmConfig {
        nodes: 20,
        latency_min: Duration::ZERO,
        threads: 2,
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(config);
    assert_eq!(swarm.threads(), 1);
    let why = swarm.serial().expect("a reason");
    assert!(why.contains("latency is 0"), "{why}");
    // It runs all the same, datagrams arriving in the moment they are sent.
    swarm.run_until(Time::ZERO + Duration::from_secs(5));
    assert!(swarm.net_stats().delivered > 100, "{:?}", swarm.net_stats());
}
