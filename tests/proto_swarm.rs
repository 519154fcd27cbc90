//! A 1,000-node swarm on the in-process harness: bootstrap from 3 seed nodes, then
//! 1,000 FIND_NODE lookups of existing ids, which must find their node, and 1,000 of
//! random points, checked against a global brute-force oracle of the k closest.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{CryptoSuite, Time};

#[path = "support/swarm.rs"]
mod swarm;

const SEED: u64 = 20261123;

fn percentile(sorted: &[u8], p: f64) -> u8 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn thousand_nodes_find_each_other_exactly() {
    let config = SwarmConfig {
        nodes: 1000,
        seed: SEED,
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(config);
    swarm.run_until(Time::ZERO + Duration::from_secs(30));

    let tally = swarm::run_lookups(&mut swarm, 1000, SEED);
    let hops = &tally.hops;
    let hops_mean = hops.iter().map(|&h| f64::from(h)).sum::<f64>() / hops.len() as f64;
    let exact_rate = tally.exact() as f64 / tally.lookups as f64;
    let recall = tally.recall_hits as f64 / tally.recall_total as f64;
    let net = swarm.net_stats();
    println!(
        "1000 nodes, 1000 + 1000 lookups: exact {exact_rate:.4}, recall {recall:.4}, hops mean {hops_mean:.2} p50 {} p95 {} max {}, \
         datagrams sent {} delivered {} dropped {}, trace {}",
        percentile(hops, 0.50),
        percentile(hops, 0.95),
        hops.last().unwrap(),
        net.sent,
        net.delivered,
        net.dropped,
        &swarm.trace_hash()[..16],
    );
    assert!(
        exact_rate >= 0.999,
        "exact {exact_rate}; reproduce: seed {SEED}"
    );
    assert!(recall >= 0.99, "recall {recall}; reproduce: seed {SEED}");
}

/// Half an hour on, after two rounds of periodic bucket refreshes (the far, full buckets'
/// ending once the alpha closest answered) and with the sessions of table contacts
/// kept: lookups still find every node and the exact k closest.
#[test]
fn after_two_rounds_of_refreshes_lookups_stay_exact() {
    let mut config = SwarmConfig {
        nodes: 1000,
        seed: SEED + 1,
        ..SwarmConfig::default()
    };
    // What is checked is routing, not crypto: the fast suite keeps the test short.
    config.crypto = CryptoSuite::Fast;
    let mut swarm = Swarm::new(config);
    swarm.run_until(Time::ZERO + Duration::from_secs(1800));
    let tally = swarm::run_lookups(&mut swarm, 1000, SEED + 1);
    let exact_rate = tally.exact() as f64 / tally.lookups as f64;
    let recall = tally.recall_hits as f64 / tally.recall_total as f64;
    assert!(
        exact_rate >= 0.999,
        "exact {exact_rate}; reproduce: seed {}",
        SEED + 1
    );
    assert!(
        recall >= 0.99,
        "recall {recall}; reproduce: seed {}",
        SEED + 1
    );
}
