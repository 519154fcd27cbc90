//! `Node::handle_datagram` takes any bytes without panicking: random bytes, and real
//! traffic (beacons, handshakes, sealed frames) captured from a swarm and mutated.
//! Afterwards the node still answers an honest lookup.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{Command, QueryOutcome, Time};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

#[path = "support/seeded.rs"]
mod seeded;

const SEED: u64 = 0x5EED_0004;

#[test]
fn random_and_mutated_datagrams_never_panic_a_node() {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 20,
        seed: 11,
        segments: 1,
        ..SwarmConfig::default()
    });
    swarm.capture(3);
    swarm.run_until(Time::ZERO + Duration::from_secs(8));
    let corpus: Vec<_> = swarm.captured().to_vec();
    assert!(
        corpus.len() > 100,
        "a corpus of real traffic: {}",
        corpus.len()
    );

    // Each case: pick a captured datagram, flip, cut, extend or replace bytes.
    let mutated = (
        0..corpus.len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        0usize..4,
        proptest::collection::vec(any::<u8>(), 0..1300),
    );
    let mut runner = TestRunner::new(seeded::config(
        SEED,
        4000,
        "proptest-regressions/prop_node.txt",
    ));
    let fed = std::cell::RefCell::new(Vec::new());
    runner
        .run(&mutated, |(pick, flips, how, random)| {
            let (from, original) = &corpus[pick];
            let mut bytes = original.clone();
            match how {
                0 => bytes = random,
                1 => bytes.truncate(flips.len() * 7 % (bytes.len() + 1)),
                2 => bytes.extend_from_slice(&random[..random.len().min(64)]),
                _ => {}
            }
            for (at, value) in flips {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= value | 1;
                }
            }
            fed.borrow_mut().push((*from, bytes));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}; {}", seeded::reproduce(SEED, "prop_node")));

    let fed = fed.into_inner();
    let before = swarm.nodes()[3].stats().datagrams_received;
    for (from, bytes) in &fed {
        swarm.inject(*from, 3, bytes.clone());
    }
    swarm.run_until(Time::ZERO + Duration::from_secs(15));
    let after = swarm.nodes()[3].stats();
    assert!(
        after.datagrams_received - before >= fed.len() as u64,
        "every datagram was counted"
    );

    // The node still serves: another node's lookup of it finds it.
    let target = swarm.nodes()[3].id();
    let finished = swarm
        .run_command(7, Command::FindNode(target), Duration::from_secs(10))
        .expect("the lookup ends");
    let QueryOutcome::Found(result) = finished.outcome else {
        panic!("{:?}", finished.outcome);
    };
    assert_eq!(result.closest[0].id, target);
}
