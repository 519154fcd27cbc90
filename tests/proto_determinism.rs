//! Same seed, same run: every datagram (time, source, destination, bytes) and every
//! event, twice over. Another seed gives another run.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{Command, Event, Time};

/// A run that exercises beacons, bootstrap, loss, retries and lookups.
fn run(seed: u64) -> (String, Vec<(Time, usize, Event)>) {
    let config = SwarmConfig {
        nodes: 200,
        seed,
        loss: 0.02,
        segments: 4,
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(config);
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
